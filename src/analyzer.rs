//! The analyzer: the one path from CAN frames to [`Evidence`], for every
//! source (a live run's tap of frames seen and sent, a replayed capture, the
//! simulator). A replay of a live recording therefore gives the same evidence
//! and the same verdict as the live run, by construction.
//!
//! Per frame ([`Analyzer::feed`], the hot path of multi-million-frame
//! captures) one table lookup picks the frame's class:
//! - the BCM's request / response ids → the passive ISO-TP [`Reassembler`] →
//!   the diagnostic codecs ([`diag::Reply`], [`diag::describe`]) → typed
//!   [`BcmEvent`]s: requests (session start, DTC read), positive answers,
//!   negative ones with their [`Nrc`](diag::Nrc), responsePending, requests
//!   left unanswered past P2 / P2*, trouble codes as [`Dtc`](diag::Dtc)
//!   values; data items decoded through the profile; the active test;
//! - the profile's broadcast frames → signal decoding → evidence;
//! - anything else → the census counters inside [`Evidence::frame`] only.
//!
//! Owns: frame dispatch, the one reading of diagnostic bytes above `diag`
//! (nothing after it sees a service byte), pairing BCM requests with replies
//! on the client's timing ([`Timing`]: the defaults, then what a UDS module
//! announces in its session answer), the VIN found in a conversation. Must
//! NOT know where frames come from (files, sockets, the simulator), nor
//! terminals, JSON or verdict rules.

use std::collections::HashMap;

use serde::Serialize;

use crate::diag::{self, describe, Dir, Protocol, Reply, Timing};
use crate::evidence::{BcmEvent, Evidence, Observations, Purpose, SeriesLimits};
use crate::frame::{CanFrame, CanId};
use crate::isotp::{self, Reassembled, Reassembler};
use crate::profile::Profile;

/// Frame classes of the dispatch table; `BROADCAST + i` is the profile's
/// broadcast frame `i` (its index from `Profile::broadcast_entries`), so decoding
/// needs no second lookup.
const OTHER: u16 = 0;
const KNOWN: u16 = 1;
const BCM_REQUEST: u16 = 2;
const BCM_RESPONSE: u16 = 3;
/// GMLAN: the BCM's UUDT answers (single frames on request id + 0x300).
const BCM_UUDT: u16 = 4;
const BROADCAST: u16 = 5;

/// What the analyzer counted besides the evidence record.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AnalyzerStats {
    /// Whole ISO-TP messages on the BCM's ids (requests and replies).
    pub bcm_messages: u64,
    /// Messages cut short (missing consecutive frames, end of capture).
    pub incomplete_messages: u64,
    /// Replies that did not decode as what their service promises.
    pub malformed_replies: u64,
    /// Requests to the BCM with no reply within P2 (or P2* after a
    /// responsePending) while the capture went on past the deadline.
    pub unanswered_requests: u64,
    /// responsePending (0x78) answers seen.
    pub response_pending: u64,
    /// The VIN, if the conversation on the BCM's ids carried one.
    pub vin: Option<Vin>,
    /// Messages on the BCM's ids from another extended address (another
    /// module sharing the ids), left out of the evidence.
    pub other_address_messages: u64,
}

/// A request the BCM has not answered yet.
#[derive(Clone, Debug)]
struct Pending {
    sid: u8,
    t_us: u64,
    deadline_us: u64,
    /// The request started the profile's active test.
    active_test: bool,
}

/// Turns frames into evidence for one profile. Feed frames in time order.
pub struct Analyzer<'p> {
    profile: &'p Profile,
    ev: Evidence,
    reassembler: Reassembler,
    protocol: Protocol,
    /// 11-bit id → class.
    std_class: Vec<u16>,
    /// 29-bit ids with a class other than [`OTHER`] (a handful at most).
    ext_class: HashMap<u32, u16>,
    pending: Option<Pending>,
    /// P2 / P2* in force: the defaults until a UDS session answer announces others.
    timing: Timing,
    exchanges: Exchanges,
    stats: AnalyzerStats,
}

/// The profile's own requests and the answers it expects, to tell which
/// exchange a message belongs to.
struct Exchanges {
    session_request: Option<Vec<u8>>,
    session_response: Option<Vec<u8>>,
    dtc_read_request: Option<Vec<u8>>,
    active_test_request: Option<Vec<u8>>,
    active_test_response: Option<Vec<u8>>,
}

impl Exchanges {
    fn new(profile: &Profile) -> Exchanges {
        let bcm = profile.bcm();
        let active = profile.active_test();
        let session = bcm.and_then(|b| b.session.as_ref());
        Exchanges {
            session_request: session.map(|s| s.request.clone()),
            session_response: session.and_then(|s| s.response_prefix.clone()),
            dtc_read_request: bcm
                .and_then(|b| b.dtc_read.as_ref())
                .map(|s| s.request.clone()),
            active_test_request: active.map(|a| a.start.request.clone()),
            active_test_response: active.and_then(|a| a.start.response_prefix.clone()),
        }
    }

    fn request(&self, payload: &[u8]) -> Purpose {
        let starts = |r: &Option<Vec<u8>>| r.as_deref().is_some_and(|r| payload.starts_with(r));
        if starts(&self.session_request) {
            Purpose::SessionStart
        } else if starts(&self.dtc_read_request) {
            Purpose::DtcRead
        } else {
            Purpose::Other
        }
    }

    /// The exchange a reply about `sid` belongs to; a positive session
    /// answer must also start as the profile expects.
    fn reply(&self, reply: Reply, payload: &[u8]) -> Purpose {
        let sid_of = |r: &Option<Vec<u8>>| r.as_deref().and_then(<[u8]>::first).copied();
        let sid = reply.sid();
        let session = match reply {
            Reply::Positive { .. } => self
                .session_response
                .as_deref()
                .is_some_and(|r| payload.starts_with(r)),
            _ => sid_of(&self.session_request) == Some(sid),
        };
        if session {
            Purpose::SessionStart
        } else if sid_of(&self.dtc_read_request) == Some(sid) {
            Purpose::DtcRead
        } else {
            Purpose::Other
        }
    }
}

impl<'p> Analyzer<'p> {
    /// An analyzer for this profile's BCM, broadcast frames and census.
    pub fn new(profile: &'p Profile) -> Analyzer<'p> {
        let bcm = profile.bcm();
        let mut std_class = vec![OTHER; 0x800];
        let mut ext_class = HashMap::new();
        let mut set = |id: CanId, class: u16| match id {
            CanId::Standard(raw) => {
                if let Some(slot) = std_class.get_mut(usize::from(raw)) {
                    *slot = class;
                }
            }
            CanId::Extended(raw) => {
                ext_class.insert(raw, class);
            }
        };
        for id in profile.known_ids_sorted() {
            set(id, KNOWN);
        }
        for raw in diag::ids::STANDARD {
            set(CanId::Standard(raw), KNOWN);
        }
        for (i, id) in profile.broadcast_entries() {
            let class = u16::try_from(i).ok().and_then(|i| BROADCAST.checked_add(i));
            set(id, class.unwrap_or(KNOWN));
        }
        // The BCM's ids last: a diagnostic id is never also decoded as a signal.
        let mut reassembler = Reassembler::new();
        if let Some(bcm) = bcm {
            set(bcm.request_id, BCM_REQUEST);
            set(bcm.response_id, BCM_RESPONSE);
            if bcm.protocol == diag::Protocol::Gmlan {
                if let Some(u) = diag::gmlan::uudt_id(bcm.request_id) {
                    set(u, BCM_UUDT);
                }
            }
            reassembler.follow_pair(bcm.request_id, bcm.response_id, bcm.addressing.into());
        }
        let protocol = bcm.map_or(diag::Protocol::Uds, |b| b.protocol);
        Analyzer {
            profile,
            ev: Evidence::new(profile),
            reassembler,
            protocol,
            std_class,
            ext_class,
            pending: None,
            timing: Timing::DEFAULT,
            exchanges: Exchanges::new(profile),
            stats: AnalyzerStats::default(),
        }
    }

    /// How much of each series the evidence keeps (see [`SeriesLimits`]).
    /// Call before feeding.
    pub fn set_series_limits(&mut self, limits: SeriesLimits) {
        self.ev.set_limits(limits);
    }

    /// The profile this analyzer reads frames with.
    pub fn profile(&self) -> &'p Profile {
        self.profile
    }

    /// Feeds one frame (seen on the bus or sent by the tool).
    pub fn feed(&mut self, frame: &CanFrame) {
        let class = self.class(frame.id);
        let t = frame.timestamp_us;
        self.expire(t);
        self.ev.frame(frame, class != OTHER);
        match class {
            BCM_REQUEST | BCM_RESPONSE => {
                if let Some(m) = self.reassembler.feed(frame) {
                    self.message(m);
                }
                while let Some(m) = self.reassembler.next_pending() {
                    self.message(m);
                }
            }
            BCM_UUDT => self.uudt(t, frame.data()),
            OTHER | KNOWN => {}
            broadcast => {
                let ev = &mut self.ev;
                let index = usize::from(broadcast - BROADCAST);
                self.profile
                    .decode_broadcast_at(index, frame, |item, role, v| ev.record(role, v, t, item));
            }
        }
    }

    /// A press the person told the tool about (the car's bus does not show
    /// that input).
    pub fn told_press(&mut self, t_us: u64, until_us: u64, input: crate::profile::ReleaseInput) {
        self.ev.told_press(t_us, until_us, input);
    }

    /// A recording's comment line, in its place between the frames: a
    /// `# press` line is a told press; any other comment says nothing.
    pub fn comment(&mut self, text: &str) {
        if let Some((t, until, input)) = crate::evidence::parse_told_press(text) {
            self.told_press(t, until, input);
        }
    }

    /// The 11-bit ids whose frames [`feed`](Self::feed) needs whole: the
    /// BCM's pair and the broadcasts. Every other frame only counts, so a
    /// reader may count those per id instead of building them and hand the
    /// counts to [`counted`](Self::counted), with
    /// [`time_seen`](Self::time_seen) before each frame it does feed: the
    /// evidence is then exactly what feeding every frame gives.
    pub fn wanted_standard_ids(&self) -> impl Iterator<Item = u16> + '_ {
        (0u16..)
            .zip(&self.std_class)
            .filter(|(_, c)| **c >= BCM_REQUEST)
            .map(|(id, _)| id)
    }

    /// The bus reached `t_us` in frames that were counted, not fed: a
    /// request open past its deadline is unanswered. (Between two fed
    /// frames the deadline does not move, so the latest such time stands
    /// for all of them.)
    #[inline]
    pub fn time_seen(&mut self, t_us: u64) {
        self.expire(t_us);
    }

    /// `frames` frames of `id` counted and not fed, the earliest at
    /// `first_us`, the latest at `last_us`; for ids outside
    /// [`wanted_standard_ids`](Self::wanted_standard_ids) (the frames of a
    /// wanted id would lose their content: they are only counted).
    pub fn counted(&mut self, id: CanId, frames: u64, first_us: u64, last_us: u64) {
        let known = self.class(id) != OTHER;
        self.ev.frames_counted(id, known, frames, first_us, last_us);
    }

    #[inline]
    fn class(&self, id: CanId) -> u16 {
        match id {
            CanId::Standard(raw) => self
                .std_class
                .get(usize::from(raw))
                .copied()
                .unwrap_or(OTHER),
            CanId::Extended(raw) => match self.ext_class.get(&raw) {
                Some(&class) => class,
                None if diag::ids::is_diagnostic(id) => KNOWN,
                // A GMLAN parameter id at another priority or source address.
                None => match self.profile.gmlan_frame(id) {
                    Some(i) => u16::try_from(i)
                        .ok()
                        .and_then(|i| BROADCAST.checked_add(i))
                        .unwrap_or(KNOWN),
                    None => OTHER,
                },
            },
        }
    }

    /// The evidence so far (not finished).
    pub fn evidence(&self) -> &Evidence {
        &self.ev
    }

    /// Counters and the VIN found so far.
    pub fn stats(&self) -> &AnalyzerStats {
        &self.stats
    }

    /// Ends the analysis: flushes messages still in progress, applies the
    /// user's observations and derives the release attempts.
    pub fn finish(mut self, observations: Observations) -> (Evidence, AnalyzerStats) {
        for m in self.reassembler.finish() {
            self.message(m);
        }
        self.ev.observations = observations;
        self.ev.finish();
        (self.ev, self.stats)
    }

    /// Counts a request as unanswered once time has passed its deadline.
    fn expire(&mut self, now_us: u64) {
        if self
            .pending
            .as_ref()
            .is_some_and(|p| now_us > p.deadline_us)
        {
            self.stats.unanswered_requests += 1;
            if let Some(p) = self.pending.take() {
                self.ev.bcm(p.t_us, BcmEvent::Unanswered);
                if p.active_test {
                    self.ev.active_test_sent(p.t_us, false);
                }
            }
        }
    }

    fn message(&mut self, m: Reassembled) {
        // Messages are only reassembled on a profile BCM's ids.
        let Some(bcm) = self.profile.bcm() else {
            return;
        };
        let is_request = m.id == bcm.request_id;
        if !bcm.owns(m.address, is_request) {
            self.stats.other_address_messages += 1;
            return;
        }
        if !m.complete {
            self.stats.incomplete_messages += 1;
            return;
        }
        self.stats.bcm_messages += 1;
        let t = m.t_us;
        let payload = m.payload.as_slice();
        if is_request {
            self.request(t, m.start_us, payload);
        } else {
            self.response(t, payload);
        }
    }

    /// A GMLAN UUDT frame of the BCM: a trouble code of its report is the
    /// DTC read's answer.
    fn uudt(&mut self, t: u64, data: &[u8]) {
        self.stats.bcm_messages += 1;
        match diag::gmlan::parse_uudt(data) {
            Some(diag::gmlan::Uudt::Dtc(rec)) => {
                self.ev.bcm(t, BcmEvent::Positive(Purpose::DtcRead));
                self.ev.bcm(
                    t,
                    BcmEvent::Dtc {
                        dtc: rec.dtc,
                        status: Some(rec.status),
                    },
                );
            }
            Some(diag::gmlan::Uudt::EndOfReport) => {
                self.ev.bcm(t, BcmEvent::Positive(Purpose::DtcRead));
            }
            Some(diag::gmlan::Uudt::Packet { .. }) => {}
            None => self.stats.malformed_replies += 1,
        }
    }

    fn request(&mut self, t: u64, start_us: u64, payload: &[u8]) {
        self.ev
            .bcm(t, BcmEvent::Request(self.exchanges.request(payload)));
        let Some(&sid) = payload.first() else { return };
        if diag::no_response_expected(self.protocol, payload) {
            return;
        }
        let active_test = self
            .exchanges
            .active_test_request
            .as_deref()
            .is_some_and(|r| payload.starts_with(r));
        // A new request while one is open: the tester gave up on the old one
        // (or never expected a reply); it counts as unanswered only if its
        // deadline passed, which `expire` already handled.
        self.pending = Some(Pending {
            sid,
            t_us: start_us,
            deadline_us: t.saturating_add(self.timing.p2_us),
            active_test,
        });
    }

    fn response(&mut self, t: u64, payload: &[u8]) {
        let Some(reply) = Reply::parse(payload) else {
            self.ev.bcm(t, BcmEvent::Unreadable);
            return;
        };
        let purpose = self.exchanges.reply(reply, payload);
        let sid = reply.sid();
        match reply {
            Reply::Pending { .. } => {
                self.ev.bcm(t, BcmEvent::Pending);
                self.stats.response_pending += 1;
                let p2_star = self.timing.p2_star_us;
                if let Some(p) = self.pending.as_mut().filter(|p| p.sid == sid) {
                    p.deadline_us = t.saturating_add(p2_star);
                }
                return;
            }
            Reply::Negative { nrc, .. } => {
                self.ev.bcm(t, BcmEvent::Negative { sid, nrc, purpose });
                if let Some(p) = self.pending.take_if(|p| p.sid == sid) {
                    if p.active_test {
                        self.ev.active_test_sent(p.t_us, false);
                    }
                }
                return;
            }
            Reply::Positive { .. } => self.ev.bcm(t, BcmEvent::Positive(purpose)),
        }
        if purpose == Purpose::SessionStart && self.protocol == Protocol::Uds {
            self.timing = Timing::announced(payload).unwrap_or(Timing::DEFAULT);
        }
        let answered = self.pending.take_if(|p| reply.is_positive_to(p.sid));
        if let Some(p) = answered.filter(|p| p.active_test) {
            let accepted = self
                .exchanges
                .active_test_response
                .as_deref()
                .is_none_or(|r| payload.starts_with(r));
            self.ev.active_test_sent(p.t_us, accepted);
        }
        if self.stats.vin.is_none() {
            self.stats.vin = vin_in_reply(payload);
        }
        // Data items: matched by the echo (`61 44`, `62 D1 00`, `41 42`).
        let ev = &mut self.ev;
        if self
            .profile
            .decode_response(payload, |item, role, v| ev.record(role, v, t, item))
        {
            return;
        }
        // Trouble codes: OBD-II answers (`43 …`) come on the same ids as UDS
        // on an OBD ECU, so the reply SID picks the codec.
        let protocol = if diag::obd::is_obd_service(sid) {
            Protocol::Obd
        } else {
            self.protocol
        };
        let d = describe(protocol, payload, Dir::Response);
        if d.malformed {
            self.stats.malformed_replies += 1;
        }
        // OBD-II lists codes without a status byte (describe gives 0).
        let with_status = protocol != Protocol::Obd;
        for rec in &d.dtcs {
            let status = with_status.then_some(rec.status);
            self.ev.bcm(
                t,
                BcmEvent::Dtc {
                    dtc: rec.dtc,
                    status,
                },
            );
        }
    }
}

/// A vehicle identification number read from the bus: 17 ASCII letters
/// and digits, upper case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Vin(String);

impl Vin {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Vin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Vin> for String {
    fn from(v: Vin) -> String {
        v.0
    }
}

/// The VIN in a positive reply: UDS `62 F1 90`, KWP `5A 90`, OBD `49 02 01`.
pub fn vin_in_reply(payload: &[u8]) -> Option<Vin> {
    let rest = payload
        .strip_prefix(&[0x62, 0xF1, 0x90][..])
        .or_else(|| payload.strip_prefix(&[0x5A, 0x90][..]))
        .or_else(|| payload.strip_prefix(&[0x49, 0x02, 0x01][..]))?;
    let vin = rest.get(..17)?;
    vin.iter()
        .all(u8::is_ascii_alphanumeric)
        .then(|| Vin(String::from_utf8_lossy(vin).to_ascii_uppercase()))
}

/// Looks for a VIN anywhere in the diagnostic traffic of a frame stream
/// (11-bit [`diag::ids::STANDARD`], 29-bit OBD-II answers `18DAF1xx`), for
/// `--profile auto` before the profile is known.
#[derive(Debug)]
pub struct VinScanner {
    reassembler: Reassembler,
    vin: Option<Vin>,
}

impl Default for VinScanner {
    fn default() -> Self {
        VinScanner::new()
    }
}

impl VinScanner {
    pub fn new() -> VinScanner {
        let mut reassembler = Reassembler::new();
        for raw in diag::ids::STANDARD {
            reassembler.follow(CanId::Standard(raw), isotp::Addressing::Normal);
        }
        VinScanner {
            reassembler,
            vin: None,
        }
    }

    /// Feeds one frame; returns true once a VIN has been found.
    pub fn feed(&mut self, frame: &CanFrame) -> bool {
        if self.vin.is_some() {
            return true;
        }
        // OBD-II on 29-bit ids answers the tester on 18DAF1xx: each ECU's
        // answer id is followed once it appears (256 at most).
        if let Some(n) = diag::ids::NormalFixed::parse(frame.id) {
            if n.kind == diag::ids::TargetKind::Physical
                && n.target == diag::ids::OBD_TESTER
                && !self.reassembler.follows(frame.id)
            {
                self.reassembler.follow(frame.id, isotp::Addressing::Normal);
            }
        }
        let mut found = None;
        if let Some(m) = self.reassembler.feed(frame) {
            found = found.or_else(|| vin_in_reply(&m.payload));
        }
        while let Some(m) = self.reassembler.next_pending() {
            found = found.or_else(|| vin_in_reply(&m.payload));
        }
        self.vin = found;
        self.vin.is_some()
    }

    pub fn vin(&self) -> Option<&Vin> {
        self.vin.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{Seen, SessionStart};
    use crate::profile::{self, ReleaseInput};

    const S: u64 = 1_000_000;

    fn f(id: u16, data: &[u8], t: u64) -> CanFrame {
        CanFrame::classic(CanId::Standard(id), data).unwrap().at(t)
    }

    fn l33() -> Profile {
        profile::load("nissan-altima-2013-2018").unwrap()
    }

    /// Single-frame request then single-frame reply, padded with 0x55.
    fn sf(id: u16, payload: &[u8], t: u64) -> CanFrame {
        let mut d = vec![payload.len() as u8];
        d.extend_from_slice(payload);
        d.resize(8, 0x55);
        f(id, &d, t)
    }

    #[test]
    fn session_dtcs_and_monitor_reads_become_evidence() {
        let p = l33();
        let mut a = Analyzer::new(&p);
        a.feed(&sf(0x745, &[0x10, 0xC0], 0));
        a.feed(&sf(0x765, &[0x7F, 0x10, 0x78], 10_000));
        a.feed(&sf(0x765, &[0x50, 0xC0], 400_000));
        a.feed(&sf(0x745, &[0x18, 0x02, 0xFF, 0x00], 500_000));
        // 58 02 A5 62 09 D0 00 08: two DTCs, 8 bytes: FF + CF.
        a.feed(&f(
            0x765,
            &[0x10, 0x08, 0x58, 0x02, 0xA5, 0x62, 0x09, 0xD0],
            510_000,
        ));
        a.feed(&f(0x745, &[0x30, 0, 0, 0, 0, 0, 0, 0], 511_000));
        a.feed(&f(0x765, &[0x21, 0x00, 0x08, 0xAA, 0xAA], 512_000));
        // Monitor: cabin press at 1 s, output at 1.2 s, lid at 1.4 s.
        for (i, (a0, b0)) in [
            (0x00, 0x00),
            (0x40, 0x00),
            (0x50, 0x00),
            (0x10, 0x20),
            (0x00, 0x20),
        ]
        .into_iter()
        .enumerate()
        {
            let t = S - 200_000 + 200_000 * i as u64;
            a.feed(&sf(0x745, &[0x21, 0x44], t));
            a.feed(&sf(0x765, &[0x61, 0x44, a0, b0], t + 5_000));
        }
        let (ev, stats) = a.finish(Observations::default());
        assert_eq!(ev.reachability.session_start, SessionStart::Answered);
        let codes: Vec<(String, Option<u8>)> = ev
            .dtcs
            .iter()
            .map(|d| (d.code.to_string(), d.status))
            .collect();
        assert_eq!(
            codes,
            vec![("B2562".into(), Some(0x09)), ("U1000".into(), Some(0x08))]
        );
        assert_eq!(ev.release_attempts.len(), 1, "{:#?}", ev.release_attempts);
        let r = &ev.release_attempts[0];
        assert_eq!(r.input, ReleaseInput::Cabin);
        assert_eq!((r.output_driven, r.lid_changed), (Seen::Yes, Seen::Yes));
        assert_eq!(stats.response_pending, 1);
        assert_eq!(stats.unanswered_requests, 0);
        assert_eq!(stats.incomplete_messages, 0);
    }

    /// OBD-II mode 03 lists codes without a status byte: the evidence must
    /// not invent one (the describer fills 0).
    #[test]
    fn obd_trouble_codes_carry_no_status() {
        let p = profile::load("generic-uds").unwrap();
        let (req, resp) = (
            p.bcm().unwrap().request_id.raw() as u16,
            p.bcm().unwrap().response_id.raw() as u16,
        );
        let mut a = Analyzer::new(&p);
        a.feed(&sf(req, &[0x03], 0));
        a.feed(&sf(resp, &[0x43, 0x02, 0x05, 0x62, 0xD0, 0x00], 10_000));
        let (ev, _) = a.finish(Observations::default());
        let codes: Vec<(String, Option<u8>)> = ev
            .dtcs
            .iter()
            .map(|d| (d.code.to_string(), d.status))
            .collect();
        assert_eq!(codes, [("P0562".into(), None), ("U1000".into(), None)]);
    }

    #[test]
    fn unanswered_requests_are_counted_after_the_deadline_only() {
        let p = l33();
        let mut a = Analyzer::new(&p);
        a.feed(&sf(0x745, &[0x10, 0xC0], 0));
        a.feed(&f(0x60D, &[0; 8], Timing::DEFAULT.p2_us)); // at the deadline: not yet late
        assert_eq!(a.stats().unanswered_requests, 0);
        a.feed(&f(0x60D, &[0; 8], Timing::DEFAULT.p2_us + 1));
        assert_eq!(a.stats().unanswered_requests, 1);
        // responsePending moves the deadline to P2*.
        a.feed(&sf(0x745, &[0x21, 0x44], S));
        a.feed(&sf(0x765, &[0x7F, 0x21, 0x78], S + 1000));
        a.feed(&f(0x60D, &[0; 8], S + 1000 + Timing::DEFAULT.p2_star_us));
        a.feed(&sf(
            0x765,
            &[0x61, 0x44, 0, 0],
            S + 1000 + Timing::DEFAULT.p2_star_us,
        ));
        let (ev, stats) = a.finish(Observations::default());
        assert_eq!(stats.unanswered_requests, 1);
        assert_eq!(ev.reachability.session_start, SessionStart::NoAnswer);
    }

    fn ford() -> Profile {
        profile::load("ford-fusion-2013-2020").unwrap()
    }

    /// Ford BCM: tester 0x726, BCM 0x72E (UDS).
    fn ford_unanswered_after(a: &mut Analyzer<'_>, t: u64, wait: u64) -> u64 {
        a.feed(&sf(0x726, &[0x22, 0xD1, 0x00], t));
        a.feed(&f(0x3B1, &[0; 8], t + wait));
        a.stats().unanswered_requests
    }

    /// A Ford BCM session whose answer announces P2 10 ms, P2* 1 s.
    fn announced_10ms_1s(p: &Profile) -> Analyzer<'_> {
        let mut a = Analyzer::new(p);
        a.feed(&sf(0x726, &[0x10, 0x03], 0));
        a.feed(&sf(0x72E, &[0x50, 0x03, 0x00, 0x0A, 0x00, 0x64], 5_000));
        a
    }

    /// `50 03 00 0A 00 64`: P2 10 ms, P2* 1 s; the analyzer waits those
    /// plus the transport margin, not the defaults.
    #[test]
    fn announced_p2_and_p2_star_replace_the_defaults() {
        let p = ford();
        let mut a = announced_10ms_1s(&p);
        let t = Timing::announced(&[0x50, 0x03, 0x00, 0x0A, 0x00, 0x64]).unwrap();
        assert_eq!(t.p2_us, 10_000 + Timing::MARGIN_US);
        assert_eq!(t.p2_star_us, 1_000_000 + Timing::MARGIN_US);
        assert!(t.p2_us < Timing::DEFAULT.p2_us);
        // Late by the announced P2, early by the default one.
        assert_eq!(ford_unanswered_after(&mut a, S, t.p2_us + 1), 1);
        // responsePending: P2* as announced.
        a.feed(&sf(0x726, &[0x22, 0xD1, 0x00], 2 * S));
        a.feed(&sf(0x72E, &[0x7F, 0x22, 0x78], 2 * S + 1_000));
        a.feed(&f(0x3B1, &[0; 8], 2 * S + 1_000 + t.p2_star_us));
        assert_eq!(a.stats().unanswered_requests, 1);
        a.feed(&f(0x3B1, &[0; 8], 2 * S + 1_001 + t.p2_star_us));
        assert_eq!(a.stats().unanswered_requests, 2);
        assert_eq!(a.stats().response_pending, 1);
    }

    /// A session answer without timing bytes (`50 03`) means the defaults,
    /// also after a module announced others.
    #[test]
    fn session_answer_without_timing_uses_the_defaults() {
        let p = ford();
        let mut a = announced_10ms_1s(&p);
        a.feed(&sf(0x726, &[0x10, 0x03], S));
        a.feed(&sf(0x72E, &[0x50, 0x03], S + 5_000));
        assert_eq!(Timing::announced(&[0x50, 0x03]), None);
        assert_eq!(ford_unanswered_after(&mut a, 2 * S, 100_000), 0);
        a.feed(&sf(0x72E, &[0x62, 0xD1, 0x00, 0x00], 2 * S + 120_000));
        assert_eq!(
            ford_unanswered_after(&mut a, 3 * S, Timing::DEFAULT.p2_us + 1),
            1
        );
        let (ev, _) = a.finish(Observations::default());
        assert_eq!(ev.reachability.session_start, SessionStart::Answered);
    }

    /// Replies become typed events: a refusal keeps its `Nrc`, a negative
    /// answer is listed with it, responsePending is neither.
    #[test]
    fn replies_become_typed_events() {
        let p = ford();
        let mut a = Analyzer::new(&p);
        let conversation: [(u16, &[u8], u64); 6] = [
            (0x726, &[0x10, 0x03], 0),
            (0x72E, &[0x7F, 0x10, 0x78], 5_000),
            (0x72E, &[0x7F, 0x10, 0x22], 50_000),
            (0x726, &[0x22, 0xD1, 0x00], S),
            (0x72E, &[0x7F, 0x22, 0x31], S + 5_000),
            (0x72E, &[0x7F], S + 6_000),
        ];
        for (id, payload, t) in conversation {
            a.feed(&sf(id, payload, t));
        }
        let (ev, stats) = a.finish(Observations::default());
        assert_eq!(
            ev.reachability.session_start,
            SessionStart::Refused(diag::Nrc::ConditionsNotCorrect)
        );
        let negs: Vec<(u8, diag::Nrc)> = ev
            .negative_responses
            .iter()
            .map(|n| (n.sid, n.nrc))
            .collect();
        assert_eq!(
            negs,
            [
                (0x10, diag::Nrc::ConditionsNotCorrect),
                (0x22, diag::Nrc::RequestOutOfRange)
            ]
        );
        assert_eq!(stats.response_pending, 1);
        assert_eq!(stats.unanswered_requests, 0);
        assert_eq!(ev.reachability.diag_responses, 4);
    }

    #[test]
    fn wanted_ids_are_the_bcm_pair_and_the_broadcasts() {
        let p = l33();
        let a = Analyzer::new(&p);
        let wanted: Vec<u16> = a.wanted_standard_ids().collect();
        assert_eq!(wanted, vec![0x284, 0x358, 0x60D, 0x6F6, 0x745, 0x765]);
    }

    /// Counted frames land in the evidence as fed ones do.
    #[test]
    fn counted_frames_are_the_census_of_fed_ones() {
        let p = l33();
        let mut fed = Analyzer::new(&p);
        for (id, t) in [(0x123, 50), (0x123, 10), (0x160, 30), (0x7DF, 5)] {
            fed.feed(&f(id, &[0], t));
        }
        let mut counted = Analyzer::new(&p);
        counted.counted(CanId::Standard(0x123), 2, 10, 50);
        counted.counted(CanId::Standard(0x160), 1, 30, 30);
        counted.counted(CanId::Standard(0x7DF), 1, 5, 5);
        let (a, _) = fed.finish(Observations::default());
        let (b, _) = counted.finish(Observations::default());
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::to_value(&b).unwrap()
        );
        assert_eq!(
            (b.frames_seen, b.first_us, b.last_us),
            (4, Some(5), Some(50))
        );
        assert_eq!(b.census.len(), 1);
    }

    /// A GMLAN parameter-id frame is dispatched at every priority and
    /// source address, and counts as a known id in the census.
    #[test]
    fn gmlan_parameter_ids_are_dispatched_by_arbitration_id() {
        let p = crate::profile::parse(
            "t.toml",
            "[profile]\nid = \"t\"\nmake = \"t\"\nmodel = \"t\"\nyears = [2020, 2020]\n\n\
             [[bus]]\nname = \"sw-can\"\nbitrate = 33333\nlevel = \"placeholder\"\n\n\
             [bcm]\nprotocol = \"uds\"\nrequest_id = 0x241\nresponse_id = 0x641\nlevel = \"placeholder\"\n\n\
             [[frame]]\nid = 0x318\ngmlan = true\nname = \"door\"\n\n\
             [[frame.signal]]\nname = \"ajar\"\nrole = \"door_open\"\nbits = \"0|1@1+\"\nlevel = \"placeholder\"\n",
        )
        .unwrap();
        let mut a = Analyzer::new(&p);
        for (k, raw) in [0x1063_0000u32, 0x0C63_0040, 0x1063_0013]
            .into_iter()
            .enumerate()
        {
            let f = CanFrame::classic(CanId::Extended(raw), &[k as u8 % 2, 0, 0, 0, 0, 0, 0, 0])
                .unwrap()
                .at(k as u64 * 100_000);
            a.feed(&f);
        }
        let samples: u64 = a
            .evidence()
            .series_of(crate::profile::Role::DoorOpen)
            .map(|s| s.samples)
            .sum();
        assert_eq!(samples, 3);
        assert_eq!(a.class(CanId::Extended(0x1063_2000)), OTHER);
    }

    #[test]
    fn broadcast_and_census() {
        let p = l33();
        let mut a = Analyzer::new(&p);
        a.feed(&f(0x6F6, &[0x5A], 0)); // 9.0 V
        a.feed(&f(0x123, &[1, 2], 10));
        a.feed(&f(0x7DF, &[2, 1, 0], 20)); // diagnostic: never unknown

        // 29-bit: OBD-II (ISO 15765-4) is diagnostic, J1939-style is a node.
        for (raw, t) in [(0x18DB33F1, 30), (0x18DAF110, 31), (0x18FEF100, 40)] {
            a.feed(&CanFrame::classic(CanId::Extended(raw), &[1]).unwrap().at(t));
        }
        let (ev, _) = a.finish(Observations::default());
        assert_eq!(ev.battery.as_ref().map(|b| b.min_v), Some(9.0));
        let ids: Vec<&str> = ev.census.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, vec!["123", "18FEF100"]);
    }

    #[test]
    fn active_test_from_the_conversation() {
        let p = l33();
        let mut a = Analyzer::new(&p);
        a.feed(&sf(0x745, &[0x30, 0x26, 0x00, 0x01], S));
        a.feed(&sf(0x765, &[0x70, 0x26, 0x00, 0x01], S + 20_000));
        let (ev, _) = a.finish(Observations::default());
        let at = ev.active_test.as_ref().unwrap();
        assert!(at.accepted);
        assert_eq!(at.t_us, S);
        // Refused.
        let mut a = Analyzer::new(&p);
        a.feed(&sf(0x745, &[0x30, 0x26, 0x00, 0x01], S));
        a.feed(&sf(0x765, &[0x7F, 0x30, 0x22], S + 20_000));
        let (ev, _) = a.finish(Observations::default());
        assert!(!ev.active_test.unwrap().accepted);
    }

    #[test]
    fn vin_from_uds_kwp_and_obd_replies() {
        let vin = b"1N4AL3AP5DC123456";
        for prefix in [&[0x62, 0xF1, 0x90][..], &[0x5A, 0x90], &[0x49, 0x02, 0x01]] {
            let mut p = prefix.to_vec();
            p.extend_from_slice(vin);
            assert_eq!(
                vin_in_reply(&p).as_ref().map(Vin::as_str),
                Some("1N4AL3AP5DC123456")
            );
        }
        assert_eq!(vin_in_reply(&[0x62, 0xF1, 0x90, b'1']), None);
        // Through the scanner: FF + 2 CFs on 0x7E8.
        let mut payload = vec![0x49, 0x02, 0x01];
        payload.extend_from_slice(vin);
        let mut s = VinScanner::new();
        let mut frames = vec![f(
            0x7E8,
            &[&[0x10, payload.len() as u8][..], payload.get(..6).unwrap()].concat(),
            0,
        )];
        for (i, chunk) in payload.get(6..).unwrap().chunks(7).enumerate() {
            frames.push(f(
                0x7E8,
                &[&[0x21 + i as u8][..], chunk].concat(),
                1 + i as u64,
            ));
        }
        let found = frames.iter().any(|fr| s.feed(fr));
        assert!(found);
        assert_eq!(s.vin().map(Vin::as_str), Some("1N4AL3AP5DC123456"));
        // The same answer from ECU 0x10 on 29-bit ids (ISO 15765-4).
        let mut s = VinScanner::new();
        let on_29_bit = |fr: &CanFrame| {
            CanFrame::classic(CanId::Extended(0x18DA_F110), fr.data())
                .unwrap()
                .at(fr.timestamp_us)
        };
        let found = frames.iter().map(on_29_bit).any(|fr| s.feed(&fr));
        assert!(found);
        assert_eq!(s.vin().map(Vin::as_str), Some("1N4AL3AP5DC123456"));
    }

    proptest::proptest! {
        /// Any frames, in any order, on the BCM's ids and elsewhere: no panic,
        /// and every frame is counted.
        #[test]
        fn random_frames_never_panic(
            frames in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        proptest::prelude::Just(0x745u16),
                        proptest::prelude::Just(0x765u16),
                        proptest::prelude::Just(0x60Du16),
                        proptest::prelude::Just(0x6F6u16),
                        0u16..0x800,
                    ],
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=8),
                    0u64..10_000_000,
                ),
                0..200,
            ),
            profile_name in proptest::prop_oneof![
                proptest::prelude::Just("nissan-altima-2013-2018"),
                proptest::prelude::Just("ford-fusion-2013-2020"),
                proptest::prelude::Just("generic-uds"),
            ],
        ) {
            let p = profile::load(profile_name).unwrap();
            let mut a = Analyzer::new(&p);
            for (id, data, t) in &frames {
                a.feed(&f(*id, data, *t));
            }
            let (ev, _) = a.finish(Observations::default());
            proptest::prop_assert_eq!(ev.frames_seen, frames.len() as u64);
            let _ = crate::verdict::diagnose(&p, &ev);
        }
    }
}
