//! An ECU clone: answers each request with the response recorded for it in
//! a capture. Pairs are learnt by reassembling the ISO-TP traffic between the
//! BCM's request and response ids; a request the capture never shows gets
//! `7F <sid> 11` (service never seen) or `7F <sid> 31` (service seen, not
//! this request).

use std::collections::{HashMap, HashSet};

use super::reply::ReplyQueue;
use std::path::Path;

use crate::capture::{CaptureReader, ReadOptions};
use crate::diag::{negative, Nrc, Reply};
use crate::frame::{CanFrame, CanId, IfName};
use crate::isotp::{Addressing, IsoTpChannel, IsoTpConfig, IsoTpEvent, Reassembler};

use super::SimError;

/// Request → response pairs learnt from a capture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LearnedPairs {
    /// `None`: the request was recorded with no answer (e.g. `3E 80`).
    pub answers: HashMap<Vec<u8>, Option<Vec<u8>>>,
    pub services: HashSet<u8>,
}

impl LearnedPairs {
    /// Learns from frames in capture order. The first answer recorded for a
    /// request wins; responsePending (`7F xx 78`) is skipped for the answer
    /// that follows it.
    pub fn learn(
        frames: impl IntoIterator<Item = CanFrame>,
        request: CanId,
        response: CanId,
    ) -> LearnedPairs {
        let mut re = Reassembler::new();
        re.follow_pair(request, response, Addressing::Normal);
        let mut pairs = LearnedPairs::default();
        let mut last: Option<Vec<u8>> = None;
        let mut on = |m: crate::isotp::Reassembled, pairs: &mut LearnedPairs| {
            if !m.complete {
                return;
            }
            if m.id == request {
                if let Some(prev) = last.replace(m.payload.clone()) {
                    pairs.answers.entry(prev).or_insert(None);
                }
                if let Some(&sid) = m.payload.first() {
                    pairs.services.insert(sid);
                }
            } else if m.id == response {
                if matches!(Reply::parse(&m.payload), Some(Reply::Pending { .. })) {
                    return;
                }
                if let Some(req) = last.take() {
                    let slot = pairs.answers.entry(req).or_insert(None);
                    if slot.is_none() {
                        *slot = Some(m.payload);
                    }
                }
            }
        };
        for f in frames {
            if let Some(m) = re.feed(&f) {
                on(m, &mut pairs);
            }
            while let Some(m) = re.next_pending() {
                on(m, &mut pairs);
            }
        }
        for m in re.finish() {
            on(m, &mut pairs);
        }
        if let Some(prev) = last {
            pairs.answers.entry(prev).or_insert(None);
        }
        pairs
    }

    /// Reads a capture file and learns from it.
    pub fn from_file(
        path: &Path,
        request: CanId,
        response: CanId,
    ) -> Result<LearnedPairs, SimError> {
        let mut reader = CaptureReader::open(
            path,
            ReadOptions {
                lenient: true,
                ..ReadOptions::default()
            },
        )?;
        let mut frames = Vec::new();
        while let Some(f) = reader.next_frame()? {
            frames.push(f);
        }
        let pairs = LearnedPairs::learn(frames, request, response);
        if pairs.answers.values().all(Option::is_none) {
            return Err(SimError::NothingLearned {
                request: request.to_string(),
                response: response.to_string(),
            });
        }
        Ok(pairs)
    }

    /// What the clone answers to `req`: `None` for no answer.
    pub fn answer(&self, req: &[u8]) -> Option<Vec<u8>> {
        let sid = *req.first()?;
        match self.answers.get(req) {
            Some(a) => a.clone(),
            None if self.services.contains(&sid) => Some(negative(sid, Nrc::RequestOutOfRange)),
            None => Some(negative(sid, Nrc::ServiceNotSupported)),
        }
    }
}

/// A sans-IO ECU answering from [`LearnedPairs`], driven like
/// [`SimVehicle`](super::SimVehicle).
pub struct CaptureClone {
    pairs: LearnedPairs,
    isotp: IsoTpChannel,
    p2_us: u64,
    replies: ReplyQueue,
}

impl CaptureClone {
    /// `request` / `response`: the ECU's ids (the clone listens on `request`).
    pub fn new(
        pairs: LearnedPairs,
        request: CanId,
        response: CanId,
        p2_us: u64,
        padding: Option<u8>,
        iface: IfName,
    ) -> CaptureClone {
        let mut cfg = IsoTpConfig::new(response, request);
        cfg.tx_padding = padding;
        cfg.iface = iface;
        CaptureClone {
            pairs,
            isotp: IsoTpChannel::new(cfg),
            p2_us,
            replies: ReplyQueue::default(),
        }
    }

    pub fn handle_frame(&mut self, now_us: u64, frame: &CanFrame) {
        self.isotp.handle_frame(now_us, frame);
        self.after(now_us);
    }

    pub fn handle_timeout(&mut self, now_us: u64) {
        self.isotp.handle_timeout(now_us);
        self.after(now_us);
    }

    pub fn poll_transmit(&mut self, now_us: u64) -> Option<CanFrame> {
        // See SimVehicle::poll_transmit: no direction on the wire.
        self.isotp.poll_transmit(now_us).map(|f| {
            let mut f = f.at(now_us);
            f.direction = None;
            f
        })
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        let reply = self.replies.next_due();
        [reply, self.isotp.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    fn after(&mut self, now_us: u64) {
        while let Some(ev) = self.isotp.poll_event() {
            match ev {
                IsoTpEvent::Received { payload, .. } => {
                    if let Some(a) = self.pairs.answer(&payload) {
                        self.replies.push(now_us.saturating_add(self.p2_us), a);
                    }
                }
                IsoTpEvent::Sent { .. } | IsoTpEvent::Error(_) => self.replies.channel_free(),
            }
        }
        self.replies.send_due(now_us, &mut self.isotp);
    }
}
