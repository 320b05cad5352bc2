//! Finding the diagnostic conversations in a capture without being told the
//! ids: which ids ask, which answer, and whom.
//!
//! A pair is believed from structure, never from an id alone: the frames on
//! both ids are ISO-TP (valid PCI, lengths the frames can hold), the asking
//! id sends requests (a service some protocol defines), the answering id
//! sends answers to those services (`sid + 0x40` or `7F sid nrc`), and the
//! answers come after the requests, within P2* of one. The usual id
//! relations (response = request + 8, Nissan's request + 0x20, 29-bit normal
//! fixed `18DA<target><source>` answered on `18DA<source><target>`, the
//! functional 0x7DF / `18DB33F1` answered by many) need one answer; any
//! other pair needs two, and most of the answering id's answers must be to
//! that request id. Periodic broadcasts that happen to sit on diagnostic
//! ids (a Nissan body bus's 0x791 / 0x792 / 0x794) fail the first test.
//!
//! Every frame is also read as ISO-TP extended addressing (byte 0 an
//! address, the N_PCI after it): an id whose frames are ISO-TP only that
//! way (Toyota's 0x750 [40] → 0x758 [40]) pairs the same way, and the
//! conversation names the address bytes of the pair answered most (other
//! modules share the ids under their own byte).
//!
//! Above [`crate::isotp`] (the frame shapes) and [`crate::diag`] (what a
//! request and an answer are); one pass over the frames, no allocation per
//! frame, memory bounded by the number of ids.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::diag::ids::{is_usual_request, NormalFixed, TargetKind};
use crate::diag::{answered_sid, is_request_sid, Timing};
use crate::frame::{CanFrame, CanId};
use crate::isotp::{shape, Shape};

/// Why a request id and an answering id were paired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Relation {
    /// 11-bit physical: response id = request id + 8 (OBD-II, most makes).
    RequestPlus8,
    /// 11-bit physical: response id = request id + 0x20 (Nissan).
    RequestPlus20,
    /// GMLAN USDT: a GM module asked on 0x2xx answers on request id + 0x400
    /// (its UUDT single frames come on request id + 0x300).
    GmlanUsdt,
    /// 29-bit normal fixed: `18DA<target><source>` answered on `18DA<source><target>`.
    NormalFixed,
    /// A functional request (0x7DF, `18DB<target><source>`) answered by one of many.
    Functional,
    /// No usual relation: the answering id answered this request id consistently.
    Observed,
}

impl Relation {
    /// A stable name for scripts.
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::RequestPlus8 => "request+8",
            Relation::RequestPlus20 => "request+0x20",
            Relation::GmlanUsdt => "gmlan-usdt",
            Relation::NormalFixed => "normal-fixed",
            Relation::Functional => "functional",
            Relation::Observed => "observed",
        }
    }

    /// Words for a person.
    pub fn label(self) -> &'static str {
        match self {
            Relation::RequestPlus8 => "physical, response = request + 8",
            Relation::RequestPlus20 => "physical, response = request + 0x20",
            Relation::GmlanUsdt => "GMLAN, response = request + 0x400 (UUDT on + 0x300)",
            Relation::NormalFixed => "29-bit normal fixed",
            Relation::Functional => "functional",
            Relation::Observed => "answers this request id consistently",
        }
    }

    /// The usual relation between two ids, if any.
    pub fn between(request: CanId, response: CanId) -> Option<Relation> {
        match (request, response) {
            (CanId::Standard(q), CanId::Standard(r)) => {
                if q == crate::diag::obd::FUNCTIONAL_REQUEST_ID {
                    Some(Relation::Functional)
                } else if r == q.wrapping_add(8) {
                    Some(Relation::RequestPlus8)
                } else if r == q.wrapping_add(0x20) {
                    Some(Relation::RequestPlus20)
                } else if crate::diag::gmlan::is_usdt_pair(request, response) {
                    Some(Relation::GmlanUsdt)
                } else {
                    None
                }
            }
            (CanId::Extended(_), CanId::Extended(_)) => {
                let (q, r) = (NormalFixed::parse(request)?, NormalFixed::parse(response)?);
                if r.kind != TargetKind::Physical || r.target != q.source {
                    return None;
                }
                match q.kind {
                    TargetKind::Physical if r.source == q.target => Some(Relation::NormalFixed),
                    TargetKind::Functional => Some(Relation::Functional),
                    TargetKind::Physical => None,
                }
            }
            _ => None,
        }
    }
}

/// One conversation found: a request id and the id that answered it, or
/// `None` for requests nobody answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub request: CanId,
    pub response: Option<CanId>,
    /// `None` when nobody answered.
    pub relation: Option<Relation>,
    /// Requests seen on the request id (all of them, whoever answered).
    pub requests: u32,
    /// Answers on the response id matched to a request on the request id.
    pub answers: u32,
    /// ISO-TP extended addressing: the address byte every request starts
    /// with and the one every answer starts with (`None`: normal addressing).
    pub addresses: Option<Addresses>,
}

impl Conversation {
    /// The request id as `--pair` takes it: `750/40` with an address byte.
    pub fn request_text(&self) -> String {
        match self.addresses {
            Some((ae, _)) => format!("{}/{ae:02X}", self.request),
            None => self.request.to_string(),
        }
    }

    /// The answering id as `--pair` takes it, if anyone answered.
    pub fn response_text(&self) -> Option<String> {
        let r = self.response?;
        Some(match self.addresses {
            Some((_, Some(ae))) => format!("{r}/{ae:02X}"),
            _ => r.to_string(),
        })
    }
}

/// What one id sent.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    frames: u32,
    not_iso_tp: u32,
    /// Single and first frames.
    starts: u32,
    requests: u32,
    answers: u32,
}

impl Tally {
    /// ISO-TP nearly throughout (a quarter of odd frames is tolerated: a
    /// tester's garbage, a frame cut by the logger).
    fn is_iso_tp(&self) -> bool {
        u64::from(self.not_iso_tp) * 4 <= u64::from(self.frames)
    }

    /// Three quarters or more of its messages are requests (or answers).
    fn mostly(&self, n: u32) -> bool {
        u64::from(n) * 4 >= u64::from(self.starts) * 3
    }
}

/// Extended addressing: the requests' address byte, and the answers' (if
/// anyone answered).
pub type Addresses = (u8, Option<u8>);

/// An id, and the address byte its frames start with when read as
/// extended addressing.
type Endpoint = (CanId, Option<u8>);

/// Requests kept for matching answers at most (a bus full of request-like
/// broadcasts must not make matching quadratic).
const MAX_RECENT: usize = 1024;

/// The conversation finder: feed it every frame in capture order, then
/// [`finish`](Self::finish).
#[derive(Debug)]
pub struct Finder {
    /// 11-bit ids by value (no hashing on the per-frame path).
    std_ids: Vec<Tally>,
    ext_ids: HashMap<u32, Tally>,
    /// What each id sent read as extended addressing (byte 0 an address,
    /// the N_PCI after it).
    ae_ids: HashMap<CanId, Tally>,
    /// Recent requests: (time of its first frame, id and address byte, SID),
    /// oldest first.
    recent: VecDeque<(u64, Endpoint, u8)>,
    /// (request, response) → answers matched.
    links: HashMap<(Endpoint, Endpoint), u32>,
    /// How long after a request an answer may come (P2*, margin included).
    window_us: u64,
}

impl Default for Finder {
    fn default() -> Self {
        Finder::new()
    }
}

impl Finder {
    pub fn new() -> Finder {
        Finder {
            std_ids: vec![Tally::default(); 0x800],
            ext_ids: HashMap::new(),
            ae_ids: HashMap::new(),
            recent: VecDeque::new(),
            links: HashMap::new(),
            window_us: Timing::DEFAULT.p2_star_us,
        }
    }

    /// One captured frame, read both ways: normal addressing (the PCI is
    /// the first byte) and extended (an address byte, then the PCI).
    pub fn feed(&mut self, frame: &CanFrame) {
        if !frame.is_data() {
            return;
        }
        let id = frame.id;
        let data = frame.data();
        let tally = match id {
            CanId::Standard(raw) => match self.std_ids.get_mut(usize::from(raw)) {
                Some(t) => t,
                None => return,
            },
            CanId::Extended(raw) => self.ext_ids.entry(raw).or_default(),
        };
        let normal = Self::count(tally, data);
        if let Some((&ae, rest)) = data.split_first() {
            let extended = Self::count(self.ae_ids.entry(id).or_default(), rest);
            self.link(frame.timestamp_us, (id, Some(ae)), extended);
        }
        self.link(frame.timestamp_us, (id, None), normal);
    }

    /// Counts one frame's bytes (after any address byte) in `tally`; the
    /// SID of a request (`Ok`) or the service an answer answers (`Err`).
    fn count(tally: &mut Tally, data: &[u8]) -> Option<Result<u8, u8>> {
        tally.frames = tally.frames.saturating_add(1);
        let (len, head) = match shape(data) {
            Shape::Start { len, head } => (len, head),
            Shape::Consecutive | Shape::FlowControl => return None,
            Shape::NotIsoTp => {
                tally.not_iso_tp = tally.not_iso_tp.saturating_add(1);
                return None;
            }
        };
        tally.starts = tally.starts.saturating_add(1);
        let &first = head.first()?;
        if is_request_sid(first) {
            tally.requests = tally.requests.saturating_add(1);
            return Some(Ok(first));
        }
        let sid = answered_sid(head, len)?;
        tally.answers = tally.answers.saturating_add(1);
        Some(Err(sid))
    }

    /// Keeps a request for matching, or matches an answer to the newest
    /// request for its service from another id read the same way.
    fn link(&mut self, t: u64, at: Endpoint, what: Option<Result<u8, u8>>) {
        let sid = match what {
            None => return,
            Some(Ok(sid)) => {
                if self.recent.len() == MAX_RECENT {
                    self.recent.pop_front();
                }
                self.recent.push_back((t, at, sid));
                return;
            }
            Some(Err(sid)) => sid,
        };
        while self
            .recent
            .front()
            .is_some_and(|&(tq, _, _)| tq.saturating_add(self.window_us) < t)
        {
            self.recent.pop_front();
        }
        // The newest request for this service from another id that came
        // before; one with a usual relation to this id first.
        let mut newest = None;
        let mut related = None;
        for &(tq, q, s) in self.recent.iter().rev() {
            if s != sid || q.0 == at.0 || tq > t || q.1.is_some() != at.1.is_some() {
                continue;
            }
            newest = newest.or(Some(q));
            if Relation::between(q.0, at.0).is_some() {
                related = Some(q);
                break;
            }
        }
        if let Some(q) = related.or(newest) {
            *self.links.entry((q, at)).or_default() += 1;
        }
    }

    /// The conversations, by request id then response id; requests nobody
    /// answered last for each request id.
    /// Every id that sent anything, with its tally.
    fn tallies(&self) -> impl Iterator<Item = (CanId, &Tally)> + '_ {
        let std = self
            .std_ids
            .iter()
            .enumerate()
            .filter(|(_, t)| t.frames > 0)
            .filter_map(|(raw, t)| Some((CanId::standard(u32::try_from(raw).ok()?)?, t)));
        std.chain(
            self.ext_ids
                .iter()
                .filter_map(|(&raw, t)| Some((CanId::extended(raw)?, t))),
        )
    }

    pub fn finish(self) -> Vec<Conversation> {
        let normal = |id: CanId| {
            let t = match id {
                CanId::Standard(raw) => self.std_ids.get(usize::from(raw)),
                CanId::Extended(raw) => self.ext_ids.get(&raw),
            };
            t.copied().unwrap_or_default()
        };
        // An id whose frames are ISO-TP only after an address byte is read
        // that way; every other id as normal addressing.
        let extended = |id: CanId| {
            let e = self.ae_ids.get(&id).copied().unwrap_or_default();
            !normal(id).is_iso_tp() && e.is_iso_tp()
        };
        let tally = |id: CanId| {
            if extended(id) {
                self.ae_ids.get(&id).copied().unwrap_or_default()
            } else {
                normal(id)
            }
        };
        // Links read the way their ids are: both extended or both normal.
        let read_as = |(id, ae): Endpoint| ae.is_some() == extended(id);
        let asks = |id: CanId| {
            let t = tally(id);
            t.is_iso_tp() && t.mostly(t.requests)
        };
        let answers = |id: CanId| {
            let t = tally(id);
            t.is_iso_tp() && t.mostly(t.answers)
        };
        let mut found: BTreeMap<(CanId, CanId), Conversation> = BTreeMap::new();
        // Pairs without a usual relation: the request id each answering id
        // answered most, if that is most of what it answered.
        let mut observed: BTreeMap<CanId, (CanId, u32, Option<Addresses>)> = BTreeMap::new();
        // With extended addressing several modules share an id by address
        // byte: the address pair answered most is the conversation's.
        let mut links: BTreeMap<(CanId, CanId), (u32, Option<Addresses>)> = BTreeMap::new();
        for (&(qe, re), &n) in &self.links {
            if !read_as(qe) || !read_as(re) {
                continue;
            }
            let addresses = qe.1.map(|a| (a, re.1));
            let e = links.entry((qe.0, re.0)).or_insert((0, addresses));
            if n > e.0 || (n == e.0 && addresses < e.1) {
                *e = (n, addresses);
            }
        }
        // A GMLAN scan asks services this reader does not know: its ids
        // need only not be mostly the other side (the +0x400 relation on
        // 0x2xx ids is specific enough).
        let asks_loosely = |id: CanId| {
            let t = tally(id);
            t.is_iso_tp() && !t.mostly(t.answers)
        };
        let answers_loosely = |id: CanId| {
            let t = tally(id);
            t.is_iso_tp() && !t.mostly(t.requests)
        };
        for (&(q, r), &(n, addresses)) in &links {
            let gmlan = Relation::between(q, r) == Some(Relation::GmlanUsdt);
            let paired = if gmlan {
                asks_loosely(q) && answers_loosely(r)
            } else {
                asks(q) && answers(r)
            };
            if !paired {
                continue;
            }
            match Relation::between(q, r) {
                Some(relation) => {
                    found.insert(
                        (q, r),
                        Conversation {
                            request: q,
                            response: Some(r),
                            relation: Some(relation),
                            requests: tally(q).requests,
                            answers: n,
                            addresses,
                        },
                    );
                }
                None => {
                    let best = observed.entry(r).or_insert((q, 0, addresses));
                    if n > best.1 || (n == best.1 && q < best.0) {
                        *best = (q, n, addresses);
                    }
                }
            }
        }
        for (r, (q, n, addresses)) in observed {
            if n >= 2 && u64::from(n) * 2 > u64::from(tally(r).answers) {
                found.insert(
                    (q, r),
                    Conversation {
                        request: q,
                        response: Some(r),
                        relation: Some(Relation::Observed),
                        requests: tally(q).requests,
                        answers: n,
                        addresses,
                    },
                );
            }
        }
        // An id both asking and answering in what was found: its role is
        // unclear, and its pairs are dropped.
        let responders: Vec<CanId> = found.keys().map(|&(_, r)| r).collect();
        found.retain(|&(q, _), _| !responders.contains(&q));
        let mut out: Vec<Conversation> = found.into_values().collect();
        // Requests nobody answered, on ids where requests are usual, from
        // ids that sent nothing but well-formed requests.
        let mut unanswered: Vec<Conversation> = self
            .tallies()
            .filter(|&(id, t)| {
                t.requests > 0
                    && t.requests == t.starts
                    && t.not_iso_tp == 0
                    && is_usual_request(id)
                    && !out
                        .iter()
                        .any(|c| c.request == id || c.response == Some(id))
            })
            .map(|(id, t)| Conversation {
                request: id,
                response: None,
                relation: None,
                requests: t.requests,
                answers: 0,
                addresses: None,
            })
            .collect();
        out.append(&mut unanswered);
        out.sort_by_key(|c| (c.request, c.response.is_none(), c.response));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(t_ms: u64, id: CanId, data: &[u8]) -> CanFrame {
        let mut f = CanFrame::classic(id, data).unwrap();
        f.timestamp_us = t_ms * 1000;
        f
    }

    fn std(id: u16) -> CanId {
        CanId::Standard(id)
    }

    fn find(frames: &[CanFrame]) -> Vec<Conversation> {
        let mut f = Finder::new();
        for fr in frames {
            f.feed(fr);
        }
        f.finish()
    }

    fn pairs(found: &[Conversation]) -> Vec<(CanId, Option<CanId>, Option<Relation>)> {
        found
            .iter()
            .map(|c| (c.request, c.response, c.relation))
            .collect()
    }

    #[test]
    fn the_usual_relations_need_one_answer() {
        let found = find(&[
            frame(0, std(0x7DF), &[0x02, 0x01, 0x00, 0, 0, 0, 0, 0]),
            frame(
                5,
                std(0x7E8),
                &[0x06, 0x41, 0x00, 0xBE, 0x3E, 0xB8, 0x13, 0],
            ),
            frame(
                6,
                std(0x7EB),
                &[0x06, 0x41, 0x00, 0x80, 0x00, 0x00, 0x01, 0],
            ),
            frame(100, std(0x745), &[0x02, 0x10, 0xC0, 0, 0, 0, 0, 0]),
            frame(110, std(0x765), &[0x02, 0x50, 0xC0, 0, 0, 0, 0, 0]),
            frame(200, std(0x7A0), &[0x02, 0x10, 0x03, 0, 0, 0, 0, 0]),
            frame(210, std(0x7A8), &[0x03, 0x7F, 0x10, 0x12, 0, 0, 0, 0]),
            frame(300, CanId::Extended(0x18DA_40F1), &[0x03, 0x22, 0xF1, 0x90]),
            frame(
                305,
                CanId::Extended(0x18DA_F140),
                &[0x10, 0x14, 0x62, 0xF1, 0x90, 0x31, 0x4E, 0x34],
            ),
            frame(
                306,
                CanId::Extended(0x18DA_40F1),
                &[0x30, 0, 0, 0, 0, 0, 0, 0],
            ),
            frame(
                307,
                CanId::Extended(0x18DA_F140),
                &[0x21, 1, 2, 3, 4, 5, 6, 7],
            ),
            frame(400, CanId::Extended(0x18DB_33F1), &[0x02, 0x09, 0x02]),
            frame(
                405,
                CanId::Extended(0x18DA_F110),
                &[0x10, 0x14, 0x49, 0x02, 0x01, 0x31, 0x4E, 0x34],
            ),
        ]);
        assert_eq!(
            pairs(&found),
            [
                (std(0x745), Some(std(0x765)), Some(Relation::RequestPlus20)),
                (std(0x7A0), Some(std(0x7A8)), Some(Relation::RequestPlus8)),
                (std(0x7DF), Some(std(0x7E8)), Some(Relation::Functional)),
                (std(0x7DF), Some(std(0x7EB)), Some(Relation::Functional)),
                (
                    CanId::Extended(0x18DA_40F1),
                    Some(CanId::Extended(0x18DA_F140)),
                    Some(Relation::NormalFixed)
                ),
                (
                    CanId::Extended(0x18DB_33F1),
                    Some(CanId::Extended(0x18DA_F110)),
                    Some(Relation::Functional)
                ),
            ]
        );
    }

    #[test]
    fn other_pairs_need_consistent_answers() {
        let exchange = |t: u64| {
            [
                frame(t, std(0x640), &[0x02, 0x21, 0x44, 0, 0, 0, 0, 0]),
                frame(t + 5, std(0x6C0), &[0x03, 0x61, 0x44, 0x80, 0, 0, 0, 0]),
            ]
        };
        assert!(find(&exchange(0)).is_empty(), "one answer is not enough");
        let frames: Vec<CanFrame> = (0..3).flat_map(|i| exchange(i * 100)).collect();
        assert_eq!(
            pairs(&find(&frames)),
            [(std(0x640), Some(std(0x6C0)), Some(Relation::Observed))]
        );
    }

    #[test]
    fn answers_must_follow_requests() {
        // The "answer" comes first, or after P2*: no pair, and the
        // requests alone are reported unanswered.
        let found = find(&[
            frame(0, std(0x7EA), &[0x02, 0x50, 0x03, 0, 0, 0, 0, 0]),
            frame(10, std(0x7E2), &[0x02, 0x10, 0x03, 0, 0, 0, 0, 0]),
            frame(6_000, std(0x7EA), &[0x02, 0x50, 0x03, 0, 0, 0, 0, 0]),
        ]);
        assert_eq!(pairs(&found), [(std(0x7E2), None, None)]);
        assert_eq!(found[0].requests, 1);
    }

    /// What a Nissan body bus sends on 0x791 / 0x792 / 0x794, every 20 ms.
    #[test]
    fn periodic_broadcasts_on_diagnostic_ids_are_not_conversations() {
        let mut frames = Vec::new();
        for i in 0..200u64 {
            let t = i * 20;
            frames.push(frame(t, std(0x791), &[0, 0, 0, 0, 0x10, 0, 0]));
            frames.push(frame(
                t,
                std(0x792),
                &[0x01, 0x9A, 0xE0, 0x00, (i & 0xFF) as u8],
            ));
            frames.push(frame(t, std(0x794), &[0x00, 0x00, (i & 3) as u8]));
            frames.push(frame(t, std(0x792), &[0x02, 0x00, 0xFF, 0xFF, 0xB0]));
        }
        assert!(find(&frames).is_empty());
    }

    proptest! {
        /// A conversation on request / request + 8 ids is found whatever
        /// other traffic surrounds it on ids below 0x600. (Not on the
        /// functional 0x7DF: any id may answer that, noise shaped as an
        /// answer included.)
        #[test]
        fn a_conversation_is_found_among_noise(
            q in (0x700u16..=0x7F7).prop_filter("physical", |&q| q != 0x7DF),
            services in proptest::collection::vec((0x10u8..=0x3E, any::<bool>()), 1..10),
            noise in proptest::collection::vec((0u16..0x600, proptest::collection::vec(any::<u8>(), 0..=8)), 0..200),
        ) {
            let r = q + 8;
            let mut frames = Vec::new();
            for (i, (id, data)) in noise.iter().enumerate() {
                frames.push(frame(i as u64, std(*id), data));
            }
            for (i, &(sid, positive)) in services.iter().enumerate() {
                let t = i as u64 * 50 + 3;
                frames.push(frame(t, std(q), &[0x02, sid, 0x01, 0, 0, 0, 0, 0]));
                let answer = if positive { [0x02, sid + 0x40, 0x01, 0] } else { [0x03, 0x7F, sid, 0x11] };
                frames.push(frame(t + 2, std(r), &answer));
            }
            frames.sort_by_key(|f| f.timestamp_us);
            let found = find(&frames);
            let ours = found.iter().find(|c| c.request == std(q)).unwrap();
            prop_assert_eq!(ours.response, Some(std(r)));
            prop_assert_eq!(ours.answers as usize, services.len());
            prop_assert_eq!(ours.requests as usize, services.len());
            prop_assert!(found.iter().all(|c| c.request != std(r) && c.response != Some(std(q))));
        }

        /// Frames that are not ISO-TP (reserved PCI, or a classic frame
        /// starting 0x00) never make a conversation, whatever their ids.
        #[test]
        fn non_iso_tp_frames_make_no_conversation(
            frames in proptest::collection::vec((0x700u16..=0x7FF, 0x4u8..=0xF, proptest::collection::vec(any::<u8>(), 0..=7), any::<bool>()), 0..300),
        ) {
            let frames: Vec<CanFrame> = frames
                .iter()
                .enumerate()
                .map(|(i, (id, pci, rest, zero))| {
                    let mut data = vec![if *zero { 0 } else { pci << 4 }];
                    data.extend(rest);
                    frame(i as u64, std(*id), &data)
                })
                .collect();
            prop_assert!(find(&frames).is_empty());
        }
    }
}
