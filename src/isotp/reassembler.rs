//! Passive reassembly of ISO-TP messages from captured traffic.
//!
//! Follows any number of ids (both directions of a tester/ECU pair are just
//! two ids) without taking part: it never sends flow control and does not
//! need to see any, it just collects consecutive frames by sequence number
//! after a first frame. Messages cut short (wrong SN, a new SF/FF, end of the
//! capture) come out too, marked incomplete, so a decoder can show them.
//!
//! Frames of ids nobody follows cost one table lookup and no allocation: this
//! sits on the replay path of multi-million-frame captures.

use super::pdu::{decode, Pdu};
use super::Addressing;
use crate::frame::{CanFrame, CanId};
use std::collections::HashMap;

/// Index value meaning "not followed" in the 11-bit table.
const NOT_FOLLOWED: u32 = u32::MAX;
/// Largest buffer reserved up front from a first frame's declared length;
/// a capture is untrusted, so a 4 GiB FF_DL must not reserve 4 GiB.
const MAX_PREALLOC: usize = 4096;

/// One message seen on the bus, whole or cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    pub id: CanId,
    /// Time of the last frame that belonged to the message (for a complete
    /// message, the frame that completed it).
    pub t_us: u64,
    /// Time of its first frame (SF or FF).
    pub start_us: u64,
    /// The bytes collected (all of them when `complete`).
    pub payload: Vec<u8>,
    /// The length the SF/FF announced.
    pub expected_len: u32,
    pub complete: bool,
    /// How many frames made it up (SF: 1; FF + CFs).
    pub frames: u32,
    /// The address byte (extended / mixed addressing).
    pub address: Option<u8>,
}

/// Passive ISO-TP reassembler for captures.
///
/// Call [`feed`](Self::feed) with every frame in capture order. One frame can
/// end two messages (a single frame cutting off an unfinished one): the
/// unfinished one is returned by `feed`, the new one by
/// [`next_pending`](Self::next_pending), so drain that after each `feed`.
/// At the end of the capture, [`finish`](Self::finish) returns what was still
/// in progress.
#[derive(Debug)]
pub struct Reassembler {
    /// 11-bit id → index in `followed`, [`NOT_FOLLOWED`] otherwise.
    std_index: Vec<u32>,
    ext_index: HashMap<u32, u32>,
    followed: Vec<Followed>,
    pending: Option<Reassembled>,
}

#[derive(Debug)]
struct Followed {
    id: CanId,
    with_address: bool,
    /// One stream per address byte seen (a single one without addresses):
    /// Toyota multiplexes several ECUs on one id by extended address.
    streams: Vec<Stream>,
}

#[derive(Debug)]
struct Stream {
    address: Option<u8>,
    partial: Option<Partial>,
}

#[derive(Debug)]
struct Partial {
    buf: Vec<u8>,
    len: u32,
    next_sn: u8,
    start_us: u64,
    last_us: u64,
    frames: u32,
}

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler::new()
    }
}

impl Reassembler {
    /// A reassembler following nothing yet.
    pub fn new() -> Self {
        Reassembler {
            std_index: vec![NOT_FOLLOWED; 0x800],
            ext_index: HashMap::new(),
            followed: Vec::new(),
            pending: None,
        }
    }

    /// Follows messages on `id`. With extended or mixed addressing, the first
    /// byte of each frame is taken as an address and every address gets its
    /// own stream. Following an id again changes its addressing.
    pub fn follow(&mut self, id: CanId, addressing: Addressing) {
        let with_address = addressing.has_address_byte();
        if let Some(i) = self.index_of(id) {
            if let Some(f) = self.followed.get_mut(i) {
                f.with_address = with_address;
                f.streams.clear();
            }
            return;
        }
        let i = self.followed.len() as u32;
        self.followed.push(Followed {
            id,
            with_address,
            streams: Vec::new(),
        });
        match id {
            CanId::Standard(raw) => {
                if let Some(slot) = self.std_index.get_mut(usize::from(raw)) {
                    *slot = i;
                }
            }
            CanId::Extended(raw) => {
                self.ext_index.insert(raw, i);
            }
        }
    }

    /// Follows both directions of a tester/ECU pair.
    pub fn follow_pair(&mut self, a: CanId, b: CanId, addressing: Addressing) {
        self.follow(a, addressing);
        self.follow(b, addressing);
    }

    /// Whether frames of `id` are followed.
    pub fn follows(&self, id: CanId) -> bool {
        self.index_of(id).is_some()
    }

    fn index_of(&self, id: CanId) -> Option<usize> {
        let i = match id {
            CanId::Standard(raw) => *self.std_index.get(usize::from(raw))?,
            CanId::Extended(raw) => *self.ext_index.get(&raw)?,
        };
        (i != NOT_FOLLOWED).then_some(i as usize)
    }

    /// Feeds one captured frame; returns a message it completed or cut off.
    pub fn feed(&mut self, frame: &CanFrame) -> Option<Reassembled> {
        let i = self.index_of(frame.id)?;
        if !frame.is_data() {
            return None;
        }
        let followed = self.followed.get_mut(i)?;
        let id = followed.id;
        let mut bytes = frame.data();
        let address = if followed.with_address {
            let (a, rest) = bytes.split_first()?;
            bytes = rest;
            Some(*a)
        } else {
            None
        };
        let stream = match followed.streams.iter().position(|s| s.address == address) {
            Some(s) => followed.streams.get_mut(s)?,
            None => {
                followed.streams.push(Stream {
                    address,
                    partial: None,
                });
                followed.streams.last_mut()?
            }
        };
        let t = frame.timestamp_us;
        // Malformed and unknown PDUs are skipped: a capture may hold anything
        // on a followed id, and skipping keeps a reception in progress alive.
        let pdu = decode(bytes).ok()?;
        let done = |p: Partial, complete: bool| Reassembled {
            id,
            t_us: p.last_us,
            start_us: p.start_us,
            payload: p.buf,
            expected_len: p.len,
            complete,
            frames: p.frames,
            address,
        };
        match pdu {
            Pdu::Single { data } => {
                let new = Reassembled {
                    id,
                    t_us: t,
                    start_us: t,
                    payload: data.to_vec(),
                    expected_len: data.len() as u32,
                    complete: true,
                    frames: 1,
                    address,
                };
                match stream.partial.take() {
                    Some(old) => {
                        self.pending = Some(new);
                        Some(done(old, false))
                    }
                    None => Some(new),
                }
            }
            Pdu::First { len, data } => {
                let old = stream.partial.take();
                let take = data.len().min(len as usize);
                let mut buf = Vec::with_capacity((len as usize).min(MAX_PREALLOC));
                buf.extend_from_slice(data.get(..take).unwrap_or(&[]));
                let p = Partial {
                    buf,
                    len,
                    next_sn: 1,
                    start_us: t,
                    last_us: t,
                    frames: 1,
                };
                // Lenient: an FF that already holds the whole message is one.
                if p.buf.len() >= len as usize {
                    let new = done(p, true);
                    return match old {
                        Some(old) => {
                            self.pending = Some(new);
                            Some(done(old, false))
                        }
                        None => Some(new),
                    };
                }
                stream.partial = Some(p);
                old.map(|o| done(o, false))
            }
            Pdu::Consecutive { sn, data } => {
                let mut p = stream.partial.take()?;
                if sn != p.next_sn {
                    return Some(done(p, false));
                }
                let remaining = (p.len as usize).saturating_sub(p.buf.len());
                let take = data.len().min(remaining);
                p.buf.extend_from_slice(data.get(..take).unwrap_or(&[]));
                p.next_sn = (p.next_sn + 1) & 0x0F;
                p.frames = p.frames.saturating_add(1);
                p.last_us = t;
                if p.buf.len() >= p.len as usize {
                    return Some(done(p, true));
                }
                stream.partial = Some(p);
                None
            }
            Pdu::FlowControl { .. } => None,
        }
    }

    /// The second message a frame ended, if it ended two.
    pub fn next_pending(&mut self) -> Option<Reassembled> {
        self.pending.take()
    }

    /// Ends the capture: every message still in progress, as incomplete, in
    /// the order their ids were followed.
    pub fn finish(&mut self) -> Vec<Reassembled> {
        let mut out = Vec::new();
        if let Some(p) = self.pending.take() {
            out.push(p);
        }
        for f in &mut self.followed {
            for s in &mut f.streams {
                if let Some(p) = s.partial.take() {
                    out.push(Reassembled {
                        id: f.id,
                        t_us: p.last_us,
                        start_us: p.start_us,
                        payload: p.buf,
                        expected_len: p.len,
                        complete: false,
                        frames: p.frames,
                        address: s.address,
                    });
                }
            }
        }
        out
    }
}
