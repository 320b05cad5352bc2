//! The evidence record: everything a run (live, replay or simulator) saw that
//! the verdict rules need, with timestamps in microseconds. The analyzer fills
//! it with typed events ([`BcmEvent`], decoded values, counted frames) and
//! calls [`Evidence::finish`], which derives the release attempts from the
//! presses and the kept series ([`derive_attempts`], a pure function).
//!
//! Bounded: memory does not grow with the capture. Each item keeps every
//! change within the release window either side of a press (a rising request
//! edge) or of an accepted active test, and the value entering that window;
//! elsewhere a summary (changes seen, min / max, first / last value, the
//! first few changes as a sample). While streaming, the changes since the
//! last window wait in a small ring per item, committed when a press arrives.
//! Presses themselves are capped: a request bit toggling faster than a person
//! presses is noise, counted and not kept. [`SeriesSummary`] says in the
//! report what was summarised; [`SeriesLimits::FULL`] keeps all.
//!
//! Owns: the record, its bounds, the release-attempt derivation. Holds the
//! user's observations (`crate::observation`) for the rules. Must not know about ISO-TP, frames on the wire beyond
//! counting them, service bytes (the analyzer reads those and hands over
//! [`BcmEvent`]s) or verdict text.

use std::collections::{HashMap, VecDeque};

use serde::ser::SerializeStruct;
use serde::Serialize;

use crate::diag::ids::is_diagnostic;
use crate::diag::{Dtc, Nrc};
use crate::frame::{CanFrame, CanId};
pub use crate::observation::{FobRange, ObservationError, Observations};
use crate::profile::{ItemInfo, ItemRef, Level, Profile, ReleaseInput, Role};

/// How much of each item's series the evidence keeps (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SeriesLimits {
    /// Changes waiting per item for a press that may still come.
    pub ring: usize,
    /// Changes kept per item within press windows; beyond, counted.
    pub kept_per_item: usize,
    /// Presses kept in all; beyond, counted.
    pub presses: usize,
    /// Edges of one request item within one release window that still
    /// count as presses; more is a bit toggling by itself.
    pub edges_per_window: usize,
    /// Changes per item listed in the report (all with `--full-series`).
    pub listed_per_item: usize,
    /// Door lock changes listed.
    pub lock_changes: usize,
}

impl SeriesLimits {
    pub const BOUNDED: SeriesLimits = SeriesLimits {
        ring: 256,
        kept_per_item: 8192,
        presses: 64,
        edges_per_window: 4,
        listed_per_item: 24,
        lock_changes: 32,
    };
    /// Everything kept and listed (`diagnose --full-series`): memory and
    /// report grow with the capture.
    pub const FULL: SeriesLimits = SeriesLimits {
        ring: usize::MAX,
        kept_per_item: usize::MAX,
        presses: usize::MAX,
        edges_per_window: usize::MAX,
        listed_per_item: usize::MAX,
        lock_changes: usize::MAX,
    };
}

/// Was something seen, not seen, or not watched at all?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Seen {
    Yes,
    No,
    /// No item carrying it was read during the window: unknown.
    NotMonitored,
}

impl Seen {
    /// Combines two sources: any yes wins, then any no.
    fn or(self, other: Seen) -> Seen {
        match (self, other) {
            (Seen::Yes, _) | (_, Seen::Yes) => Seen::Yes,
            (Seen::No, _) | (_, Seen::No) => Seen::No,
            _ => Seen::NotMonitored,
        }
    }
}

/// Outcome of the session start request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "nrc", rename_all = "snake_case")]
pub enum SessionStart {
    NotTried,
    /// Requested, no reply seen.
    NoAnswer,
    Answered,
    /// Negative response with this code.
    Refused(Nrc),
}

/// Which of the profile's exchanges a request or reply belongs to (the
/// analyzer matches the profile's requests and answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    SessionStart,
    DtcRead,
    Other,
}

/// One thing the analyzer read in the conversation with the BCM.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BcmEvent {
    /// A request to the BCM.
    Request(Purpose),
    /// A positive answer.
    Positive(Purpose),
    /// A negative answer (never responsePending).
    Negative { sid: u8, nrc: Nrc, purpose: Purpose },
    /// responsePending: the real answer follows.
    Pending,
    /// A reply that is no diagnostic answer (empty, cut short).
    Unreadable,
    /// A request (sent at the event's time) left unanswered past P2 / P2*.
    Unanswered,
    /// A trouble code from a DTC read answer; `status` when the protocol
    /// carries one.
    Dtc { dtc: Dtc, status: Option<u8> },
}

/// Can the BCM be reached, and is the bus alive?
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reachability {
    /// Requests seen going to the BCM's request id.
    pub diag_requests: u32,
    /// Replies seen from the BCM's response id (positive or negative).
    pub diag_responses: u32,
    pub session_start: SessionStart,
    /// Frames outside the diagnostic ids ([`is_diagnostic`]): other ECUs alive.
    pub non_diag_frames: u64,
    /// Requests left without a reply past their deadline.
    pub unanswered: u32,
    /// Time of the BCM's last reply.
    pub last_response_us: Option<u64>,
    /// Requests left unanswered since the BCM's last reply: a BCM that
    /// answered and then stopped (dropped off the bus, lost power).
    pub unanswered_since_reply: u32,
    /// When the first of those went unanswered.
    pub silent_since_us: Option<u64>,
}

/// A DTC as read from the BCM.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DtcRecord {
    /// `B2562` or `U3003:16` in the report.
    pub code: Dtc,
    pub status: Option<u8>,
    pub t_us: u64,
}

/// Was a DTC read tried, and answered?
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DtcReadState {
    pub attempted: bool,
    pub answered: bool,
    pub t_us: Option<u64>,
}

/// A negative response; responsePending is not one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NegativeResponse {
    pub sid: u8,
    pub nrc: Nrc,
    pub t_us: u64,
}

/// At most this many negative responses are listed; beyond, counted.
pub const MAX_NEGATIVE_RESPONSES: usize = 64;

/// One value change of an item.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Change {
    pub t_us: u64,
    pub value: f64,
}

/// The values one item took: the changes kept near presses (all of them
/// with [`SeriesLimits::FULL`]) and a summary of the whole capture.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemSeries {
    pub item: ItemRef,
    pub role: Role,
    pub samples: u64,
    pub first_us: u64,
    pub last_us: u64,
    /// Kept changes, in time order: every change within a press window and
    /// the value entering it.
    pub changes: Vec<Change>,
    /// Value changes in the whole capture (the first reading is one).
    pub changes_seen: u64,
    /// Changes within a press window not kept (the per-item cap).
    pub dropped_changes: u64,
    pub min: f64,
    pub max: f64,
    pub first_value: f64,
    pub last_value: f64,
    /// The first changes of the capture, wherever they fell.
    pub sample: Vec<Change>,
    /// Recent changes outside any window, waiting for a press.
    ring: VecDeque<Change>,
    /// How many changes the report lists.
    listed: usize,
}

impl ItemSeries {
    fn new(item: ItemRef, role: Role, t_us: u64, value: f64, listed: usize) -> ItemSeries {
        ItemSeries {
            item,
            role,
            samples: 0,
            first_us: t_us,
            last_us: t_us,
            changes: Vec::new(),
            changes_seen: 0,
            dropped_changes: 0,
            min: value,
            max: value,
            first_value: value,
            last_value: f64::NAN,
            sample: Vec::new(),
            ring: VecDeque::new(),
            listed,
        }
    }

    /// A series from full changes (every change kept), for tests and
    /// callers that built the changes themselves.
    pub fn from_changes(item: ItemRef, role: Role, samples: &[Change]) -> Option<ItemSeries> {
        let first = samples.first()?;
        let mut s = ItemSeries::new(item, role, first.t_us, first.value, usize::MAX);
        for c in samples {
            s.sampled(c.t_us, c.value);
            if s.is_change(c.value) {
                s.changed(*c, &SeriesLimits::FULL);
                s.keep(*c, &SeriesLimits::FULL);
            }
        }
        Some(s)
    }

    /// Value at `t`: the last change at or before it.
    pub fn value_at(&self, t: u64) -> Option<f64> {
        let idx = self.changes.partition_point(|c| c.t_us <= t);
        idx.checked_sub(1)
            .and_then(|i| self.changes.get(i))
            .map(|c| c.value)
    }

    /// Was the item read at some time in `[from, to]`?
    pub fn monitored(&self, from: u64, to: u64) -> bool {
        self.samples > 0 && self.first_us <= to && self.last_us >= from
    }

    /// First time in `[from, to]` the value is non-zero (at `from` itself if it already is).
    pub fn first_set_in(&self, from: u64, to: u64) -> Option<u64> {
        if self.value_at(from).is_some_and(|v| v != 0.0) {
            return Some(from);
        }
        self.changes
            .iter()
            .find(|c| c.t_us > from && c.t_us <= to && c.value != 0.0)
            .map(|c| c.t_us)
    }

    /// Was every reading non-zero (a two-state item that never read 0)?
    pub fn never_zero(&self) -> bool {
        self.samples > 0 && (self.min > 0.0 || self.max < 0.0)
    }

    /// Was the value ever non-zero in the capture?
    pub fn ever_set(&self) -> bool {
        self.samples > 0 && (self.min != 0.0 || self.max != 0.0)
    }

    #[inline]
    fn sampled(&mut self, t_us: u64, value: f64) {
        self.samples += 1;
        self.first_us = self.first_us.min(t_us);
        self.last_us = self.last_us.max(t_us);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// (The first reading is a change: `last_value` starts as NaN.)
    #[inline]
    fn is_change(&self, value: f64) -> bool {
        self.last_value != value
    }

    fn changed(&mut self, c: Change, limits: &SeriesLimits) {
        self.last_value = c.value;
        self.changes_seen += 1;
        if self.sample.len() < limits.listed_per_item.min(SAMPLE_CHANGES) {
            self.sample.push(c);
        }
    }

    fn keep(&mut self, c: Change, limits: &SeriesLimits) {
        if self.changes.len() < limits.kept_per_item {
            self.changes.push(c);
        } else {
            self.dropped_changes += 1;
        }
    }

    fn wait(&mut self, c: Change, limits: &SeriesLimits) {
        if limits.ring == usize::MAX {
            // Full series: nothing waits, everything is kept.
            return self.keep(c, limits);
        }
        if self.ring.len() >= limits.ring {
            self.ring.pop_front();
        }
        self.ring.push_back(c);
    }

    /// A window opens at `from`: the waiting changes from `from` on, and the
    /// one before (the value entering the window), become kept.
    fn commit(&mut self, from: u64, limits: &SeriesLimits) {
        let start = self
            .ring
            .iter()
            .position(|c| c.t_us >= from)
            .unwrap_or(self.ring.len());
        let entering = start.saturating_sub(1);
        for c in self.ring.drain(..).skip(entering) {
            if self.changes.last().is_none_or(|l| l.t_us <= c.t_us) {
                if self.changes.len() < limits.kept_per_item {
                    self.changes.push(c);
                } else {
                    self.dropped_changes += 1;
                }
            }
        }
    }

    /// Kept changes in time order (a log of several interfaces is not).
    fn settle(&mut self) {
        if !self.changes.is_sorted_by_key(|c| c.t_us) {
            self.changes.sort_by_key(|c| c.t_us);
        }
    }
}

/// The first changes of each item kept as a sample, wherever they fell.
const SAMPLE_CHANGES: usize = 8;

impl Serialize for ItemSeries {
    /// The summary, and the kept changes up to the report's limit.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let listed = self.changes.get(..self.listed).unwrap_or(&self.changes);
        let mut st = s.serialize_struct("ItemSeries", 13)?;
        st.serialize_field("item", &self.item)?;
        st.serialize_field("role", &self.role)?;
        st.serialize_field("samples", &self.samples)?;
        st.serialize_field("first_us", &self.first_us)?;
        st.serialize_field("last_us", &self.last_us)?;
        st.serialize_field("min", &self.min)?;
        st.serialize_field("max", &self.max)?;
        st.serialize_field("first_value", &self.first_value)?;
        st.serialize_field("last_value", &self.last_value)?;
        st.serialize_field("changes_seen", &self.changes_seen)?;
        st.serialize_field("changes_kept", &self.changes.len())?;
        st.serialize_field("changes", listed)?;
        if listed.len() < self.changes.len() || self.changes.is_empty() {
            st.serialize_field("sample", &self.sample)?;
        } else {
            st.skip_field("sample")?;
        }
        st.end()
    }
}

/// What the record summarised instead of keeping, for the report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SeriesSummary {
    /// True when everything was kept (`--full-series`).
    pub full: bool,
    /// The window kept either side of each press.
    pub window_us: u64,
    /// Value changes seen, all items.
    pub changes_seen: u64,
    /// Changes kept (near presses): what the attempts rest on.
    pub changes_kept: u64,
    /// Changes near presses dropped by the per-item cap.
    pub changes_dropped: u64,
    /// Changes listed in the report's series.
    pub changes_listed: u64,
    /// Request edges seen, and those kept as presses.
    pub request_edges: u64,
    pub presses_kept: u64,
    /// Door lock changes seen (the report lists the first few).
    pub lock_changes_seen: u64,
    /// Negative responses seen (the report lists the first few).
    pub negative_responses_seen: u64,
    /// In plain words.
    pub note: String,
}

/// A rising request edge: someone pressed, or the bus says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Press {
    pub t_us: u64,
    pub input: ReleaseInput,
    pub item: ItemRef,
}

/// Battery voltage readings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BatteryStats {
    pub min_v: f64,
    pub min_at_us: u64,
    pub last_v: f64,
    pub last_at_us: u64,
    /// The item of the minimum reading.
    pub item: ItemRef,
}

/// State at the time of a press that can block the release by design.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PressContext {
    pub speed_kmh: Option<f64>,
    pub ignition_on: Option<bool>,
    pub doors_locked: Option<bool>,
    pub lockout: Option<bool>,
    /// The items these values came from (kept apart from the attempt's own
    /// items: a verdict rests on them only when it uses the context).
    pub items: Vec<ItemRef>,
}

/// One press of a trunk input and what followed within the window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReleaseAttempt {
    pub input: ReleaseInput,
    /// When the request was first seen (rising edge), or the active test was accepted.
    pub t_us: u64,
    pub request_seen: bool,
    /// A broadcast (undifferentiated) trunk request was seen with this press.
    pub bus_request_seen: bool,
    /// The BCM's own fob/cabin request input was set with this press.
    pub bcm_input_seen: Seen,
    pub output_driven: Seen,
    pub output_at_us: Option<u64>,
    /// The lid went from closed to open within the window.
    pub lid_changed: Seen,
    pub lid_open_at_us: Option<u64>,
    /// The lid was already open when the request came.
    pub lid_was_open: bool,
    pub context: PressContext,
    /// Every item this attempt rests on.
    pub items: Vec<ItemRef>,
}

impl ReleaseAttempt {
    /// Request seen, output driven and lid opened: the path works.
    pub fn worked(&self) -> bool {
        self.output_driven != Seen::No && self.lid_changed == Seen::Yes
    }
}

/// A change of a door-lock state after its first reading (the fob's
/// lock/unlock reaching the bus, or the cabin lock switch).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LockChange {
    pub t_us: u64,
    pub locked: bool,
    pub item: ItemRef,
}

/// The active test the tool ran (opt-in).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActiveTestRun {
    pub t_us: u64,
    /// The BCM gave the expected positive response.
    pub accepted: bool,
    /// Filled by `finish`: did the lid open within the window?
    pub lid_changed: Seen,
}

/// An identifier the profile does not know (diagnostic ids never counted).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnknownId {
    /// As candump prints it.
    pub id: String,
    pub count: u64,
    pub first_us: u64,
}

/// A profile item the evidence used, with its provenance level.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemUse {
    pub item: ItemRef,
    /// `TR CANCEL SW (KWP 21 44 A.7)`.
    pub label: String,
    pub level: Level,
    pub source: String,
}

/// Everything the rules look at. Build with [`Evidence::new`], feed it, then
/// call [`Evidence::finish`] before handing it to `verdict::diagnose`.
#[derive(Clone, Debug, Serialize)]
pub struct Evidence {
    pub profile_id: String,
    pub frames_seen: u64,
    pub first_us: Option<u64>,
    pub last_us: Option<u64>,
    pub reachability: Reachability,
    pub dtc_read: DtcReadState,
    pub dtcs: Vec<DtcRecord>,
    pub negative_responses: Vec<NegativeResponse>,
    /// Count of negative responses with NRC 0x10 generalReject.
    pub general_rejects: u32,
    pub battery: Option<BatteryStats>,
    pub series: Vec<ItemSeries>,
    pub series_summary: SeriesSummary,
    pub presses: Vec<Press>,
    pub release_attempts: Vec<ReleaseAttempt>,
    pub lock_changes: Vec<LockChange>,
    pub active_test: Option<ActiveTestRun>,
    pub observations: Observations,
    pub census: Vec<UnknownId>,
    pub items_used: Vec<ItemUse>,
    #[serde(skip)]
    ctx: ProfileFacts,
    /// `ItemRef` → index in `series` (`u32::MAX`: none yet).
    #[serde(skip)]
    series_index: Vec<u32>,
    #[serde(skip)]
    unknown: HashMap<CanId, (u64, u64)>,
    #[serde(skip)]
    limits: SeriesLimits,
    /// Changes up to this time are kept (the end of the last press window).
    #[serde(skip)]
    keep_until: Option<u64>,
    /// Per request item: the start of its current burst of edges and how
    /// many edges it had.
    #[serde(skip)]
    bursts: HashMap<ItemRef, (u64, usize)>,
}

/// What `Evidence` copies from the profile once, so it needs no borrow.
#[derive(Clone, Debug, Default)]
struct ProfileFacts {
    items: Vec<ItemInfo>,
    window_us: u64,
    session_item: Option<ItemRef>,
    dtc_read_item: Option<ItemRef>,
    addressing_item: Option<ItemRef>,
    active_test_item: Option<ItemRef>,
}

impl Evidence {
    /// An empty record for this profile.
    pub fn new(profile: &Profile) -> Evidence {
        let bcm = profile.bcm();
        let ctx = ProfileFacts {
            items: profile.items.clone(),
            window_us: profile.limits.release_window_us,
            session_item: bcm.session.as_ref().map(|s| s.item),
            dtc_read_item: bcm.dtc_read.as_ref().map(|s| s.item),
            addressing_item: Some(bcm.addressing_item),
            active_test_item: profile.active_test().map(|a| a.start.item),
        };
        Evidence {
            profile_id: profile.id.clone(),
            frames_seen: 0,
            first_us: None,
            last_us: None,
            reachability: Reachability {
                diag_requests: 0,
                diag_responses: 0,
                session_start: SessionStart::NotTried,
                non_diag_frames: 0,
                unanswered: 0,
                last_response_us: None,
                unanswered_since_reply: 0,
                silent_since_us: None,
            },
            dtc_read: DtcReadState::default(),
            dtcs: Vec::new(),
            negative_responses: Vec::new(),
            general_rejects: 0,
            battery: None,
            series: Vec::new(),
            series_summary: SeriesSummary::default(),
            presses: Vec::new(),
            release_attempts: Vec::new(),
            lock_changes: Vec::new(),
            active_test: None,
            observations: Observations::default(),
            census: Vec::new(),
            items_used: Vec::new(),
            series_index: vec![u32::MAX; profile.items.len()],
            ctx,
            unknown: HashMap::new(),
            limits: SeriesLimits::BOUNDED,
            keep_until: None,
            bursts: HashMap::new(),
        }
    }

    /// Sets the bounds ([`SeriesLimits::FULL`]: every change and press kept
    /// and listed, memory and report then grow with the capture). Call
    /// before feeding.
    pub fn set_limits(&mut self, limits: SeriesLimits) {
        self.limits = limits;
        for s in &mut self.series {
            s.listed = limits.listed_per_item;
        }
    }

    /// The bounds in force.
    pub fn limits(&self) -> SeriesLimits {
        self.limits
    }

    /// Counts one frame from the bus; `known` is `profile.is_known_id(frame.id)`.
    #[inline]
    pub fn frame(&mut self, frame: &CanFrame, known: bool) {
        let t = frame.timestamp_us;
        self.frames_counted(frame.id, known, 1, t, t);
    }

    /// Counts `frames` frames of one id at once, the earliest at `first_us`,
    /// the latest at `last_us`: the same record as [`frame`](Self::frame)
    /// called for each, for a reader that counted frames it did not build.
    pub fn frames_counted(
        &mut self,
        id: CanId,
        known: bool,
        frames: u64,
        first_us: u64,
        last_us: u64,
    ) {
        if frames == 0 {
            return;
        }
        self.frames_seen += frames;
        self.first_us = Some(self.first_us.map_or(first_us, |f| f.min(first_us)));
        self.last_us = Some(self.last_us.map_or(last_us, |l| l.max(last_us)));
        if !is_diagnostic(id) {
            self.reachability.non_diag_frames += frames;
            if !known {
                let e = self.unknown.entry(id).or_insert((0, first_us));
                e.0 += frames;
                e.1 = e.1.min(first_us);
            }
        }
    }

    /// One event of the conversation with the BCM, read by the analyzer.
    pub fn bcm(&mut self, t_us: u64, event: BcmEvent) {
        let r = &mut self.reachability;
        match event {
            BcmEvent::Request(purpose) => {
                r.diag_requests += 1;
                match purpose {
                    Purpose::SessionStart if r.session_start != SessionStart::Answered => {
                        r.session_start = SessionStart::NoAnswer
                    }
                    Purpose::DtcRead => {
                        self.dtc_read.attempted = true;
                        self.dtc_read.t_us.get_or_insert(t_us);
                    }
                    _ => {}
                }
                return;
            }
            BcmEvent::Unanswered => {
                r.unanswered += 1;
                if r.last_response_us.is_some() {
                    r.unanswered_since_reply += 1;
                    r.silent_since_us.get_or_insert(t_us);
                }
                return;
            }
            BcmEvent::Dtc { dtc, status } => return self.dtc(dtc, status, t_us),
            _ => {}
        }
        // Every other event is a reply.
        r.diag_responses += 1;
        r.last_response_us = Some(t_us);
        r.unanswered_since_reply = 0;
        r.silent_since_us = None;
        match event {
            BcmEvent::Positive(Purpose::SessionStart) => r.session_start = SessionStart::Answered,
            BcmEvent::Positive(Purpose::DtcRead) => self.dtc_read.answered = true,
            BcmEvent::Negative { sid, nrc, purpose } => {
                if purpose == Purpose::SessionStart && r.session_start != SessionStart::Answered {
                    r.session_start = SessionStart::Refused(nrc);
                }
                if nrc == Nrc::GeneralReject {
                    self.general_rejects += 1;
                }
                self.series_summary.negative_responses_seen += 1;
                if self.negative_responses.len() < MAX_NEGATIVE_RESPONSES {
                    self.negative_responses
                        .push(NegativeResponse { sid, nrc, t_us });
                }
            }
            _ => {}
        }
    }

    /// A DTC decoded from a DTC read reply.
    fn dtc(&mut self, code: Dtc, status: Option<u8>, t_us: u64) {
        self.dtc_read.answered = true;
        match self.dtcs.iter_mut().find(|d| d.code == code) {
            Some(d) => d.status = status.or(d.status),
            None => self.dtcs.push(DtcRecord { code, status, t_us }),
        }
    }

    /// One decoded value (from `Profile::decode_broadcast` / `decode_data`).
    /// Values should arrive in time order; only changes are stored.
    #[inline]
    pub fn record(&mut self, role: Role, value: f64, t_us: u64, item: ItemRef) {
        if !value.is_finite() {
            return;
        }
        let slot = usize::from(item.0);
        let idx = match self.series_index.get(slot) {
            Some(&i) if i != u32::MAX => i as usize,
            _ => self.new_series(item, role, t_us, value),
        };
        let Some(s) = self.series.get_mut(idx) else {
            return;
        };
        s.sampled(t_us, value);
        let changed = s.is_change(value);
        if role == Role::BatteryVoltage {
            self.battery_reading(value, t_us, item);
        }
        if changed {
            self.change(idx, Change { t_us, value });
        }
    }

    fn new_series(&mut self, item: ItemRef, role: Role, t_us: u64, value: f64) -> usize {
        let slot = usize::from(item.0);
        if self.series_index.len() <= slot {
            self.series_index.resize(slot + 1, u32::MAX);
        }
        let i = self.series.len();
        self.series.push(ItemSeries::new(
            item,
            role,
            t_us,
            value,
            self.limits.listed_per_item,
        ));
        if let Some(x) = self.series_index.get_mut(slot) {
            *x = u32::try_from(i).unwrap_or(u32::MAX);
        }
        i
    }

    /// A value change of series `idx`: kept, or waiting; a rising request
    /// edge is a press.
    fn change(&mut self, idx: usize, c: Change) {
        let limits = self.limits;
        let Some(s) = self.series.get_mut(idx) else {
            return;
        };
        let before = s.last_value;
        let first = s.changes_seen == 0;
        s.changed(c, &limits);
        let (item, role) = (s.item, s.role);
        if self.keep_until.is_some_and(|u| c.t_us <= u) {
            s.keep(c, &limits);
        } else {
            s.wait(c, &limits);
        }
        let rising = (first || before == 0.0) && c.value != 0.0;
        if role.is_request() && rising {
            self.request_edge(c.t_us, role, item);
        }
        if matches!(role, Role::DoorsLocked | Role::DriverDoorLocked) && !first {
            self.series_summary.lock_changes_seen += 1;
            if self.lock_changes.len() < limits.lock_changes {
                self.lock_changes.push(LockChange {
                    t_us: c.t_us,
                    locked: c.value != 0.0,
                    item,
                });
            }
        }
    }

    fn battery_reading(&mut self, value: f64, t_us: u64, item: ItemRef) {
        match &mut self.battery {
            Some(b) => {
                if value < b.min_v {
                    b.min_v = value;
                    b.min_at_us = t_us;
                    b.item = item;
                }
                b.last_v = value;
                b.last_at_us = t_us;
            }
            None => {
                self.battery = Some(BatteryStats {
                    min_v: value,
                    min_at_us: t_us,
                    last_v: value,
                    last_at_us: t_us,
                    item,
                })
            }
        }
    }

    /// A rising edge of a request item: a press, unless the item is
    /// toggling by itself or the presses are capped.
    fn request_edge(&mut self, t_us: u64, role: Role, item: ItemRef) {
        self.series_summary.request_edges += 1;
        let window = self.ctx.window_us.max(1);
        let burst = self.bursts.entry(item).or_insert((t_us, 0));
        if t_us.saturating_sub(burst.0) > window || t_us < burst.0 {
            *burst = (t_us, 0);
        }
        burst.1 += 1;
        if burst.1 > self.limits.edges_per_window || self.presses.len() >= self.limits.presses {
            return;
        }
        let input = match role {
            Role::FobTrunkRequest => ReleaseInput::Fob,
            Role::CabinTrunkRequest => ReleaseInput::Cabin,
            _ => ReleaseInput::Bus,
        };
        self.presses.push(Press { t_us, input, item });
        self.open_window(t_us);
    }

    /// Keeps every item's changes within the window either side of `t_us`.
    fn open_window(&mut self, t_us: u64) {
        let window = self.ctx.window_us.max(1);
        let from = t_us.saturating_sub(window);
        let limits = self.limits;
        for s in &mut self.series {
            s.commit(from, &limits);
        }
        let until = t_us.saturating_add(window);
        self.keep_until = Some(self.keep_until.map_or(until, |u| u.max(until)));
    }

    /// The tool sent the active test; `accepted` when the BCM gave the
    /// expected positive response.
    pub fn active_test_sent(&mut self, t_us: u64, accepted: bool) {
        self.active_test = Some(ActiveTestRun {
            t_us,
            accepted,
            lid_changed: Seen::NotMonitored,
        });
        if accepted {
            self.open_window(t_us);
        }
    }

    /// Series of all items with this role.
    pub fn series_of(&self, role: Role) -> impl Iterator<Item = &ItemSeries> + '_ {
        self.series.iter().filter(move |s| s.role == role)
    }

    /// The profile item behind a reference, as copied at `new`.
    pub fn item(&self, r: ItemRef) -> Option<&ItemInfo> {
        self.ctx.items.get(usize::from(r.0))
    }

    /// `TR CANCEL SW (KWP 21 44 A.7)`, or `item #n` for an unknown reference.
    pub fn label(&self, r: ItemRef) -> String {
        self.item(r)
            .map_or_else(|| format!("item #{}", r.0), ItemInfo::label)
    }

    /// Is this item a placeholder mapping?
    pub fn is_unverified(&self, r: ItemRef) -> bool {
        self.level(r) == Some(Level::Placeholder)
    }

    /// True when the item was decoded at least once (its frame or reply seen).
    pub fn item_seen(&self, r: ItemRef) -> bool {
        self.series_index
            .get(usize::from(r.0))
            .is_some_and(|&i| i != u32::MAX)
    }

    /// How much this item is known for the vehicle.
    pub fn level(&self, r: ItemRef) -> Option<Level> {
        self.item(r).map(|i| i.level)
    }

    /// The release window (from the profile).
    pub fn window_us(&self) -> u64 {
        self.ctx.window_us
    }

    /// The DTC read exchange item, when the profile has one.
    pub fn dtc_read_item(&self) -> Option<ItemRef> {
        self.ctx.dtc_read_item
    }

    /// Derives release attempts, the active-test outcome, the census, the
    /// series summary and `items_used`. Idempotent: call again after more
    /// input.
    pub fn finish(&mut self) {
        for s in &mut self.series {
            s.settle();
        }
        self.lock_changes.sort_by_key(|c| c.t_us);
        let active = self
            .active_test
            .as_ref()
            .filter(|a| a.accepted)
            .map(|a| (a.t_us, self.ctx.active_test_item));
        self.release_attempts =
            derive_attempts(&self.series, &self.presses, active, self.ctx.window_us);
        if let Some(at) = &mut self.active_test {
            at.lid_changed = self
                .release_attempts
                .iter()
                .find(|a| a.input == ReleaseInput::ActiveTest)
                .map_or(Seen::NotMonitored, |a| a.lid_changed);
        }
        let census: std::collections::BTreeMap<CanId, UnknownId> = self
            .unknown
            .iter()
            .map(|(&id, &(count, first_us))| {
                (
                    id,
                    UnknownId {
                        id: id.to_string(),
                        count,
                        first_us,
                    },
                )
            })
            .collect();
        self.census = census.into_values().collect();
        self.summarise();
        self.derive_items_used();
    }

    fn summarise(&mut self) {
        let full = self.limits == SeriesLimits::FULL;
        let sum = |f: fn(&ItemSeries) -> u64| self.series.iter().map(f).sum::<u64>();
        let seen = sum(|s| s.changes_seen);
        let kept = sum(|s| s.changes.len() as u64);
        let dropped = sum(|s| s.dropped_changes);
        let listed = sum(|s| s.changes.len().min(s.listed) as u64);
        let m = &mut self.series_summary;
        m.full = full;
        m.window_us = self.ctx.window_us;
        m.changes_seen = seen;
        m.changes_kept = kept;
        m.changes_dropped = dropped;
        m.changes_listed = listed;
        m.presses_kept = self.presses.len() as u64;
        let mut note = if full {
            format!("full series: all {seen} value change(s) kept and listed")
        } else {
            format!(
                "{kept} of {seen} value change(s) kept (those within {:.1} s of a press), {listed} listed; elsewhere each item keeps counts, min/max, first/last value and its first changes",
                self.ctx.window_us as f64 / 1e6
            )
        };
        if m.request_edges > m.presses_kept {
            note.push_str(&format!(
                "; {} of {} request edge(s) kept as presses (more than {} per window on one item is a bit toggling by itself)",
                m.presses_kept, m.request_edges, self.limits.edges_per_window
            ));
        }
        if dropped > 0 {
            note.push_str(&format!(
                "; {dropped} change(s) near presses over the cap of {} per item",
                self.limits.kept_per_item
            ));
        }
        m.note = note;
    }

    fn derive_items_used(&mut self) {
        let mut refs: Vec<ItemRef> = self.series.iter().map(|s| s.item).collect();
        if self.reachability.diag_requests > 0 || self.reachability.diag_responses > 0 {
            refs.extend(self.ctx.addressing_item);
        }
        if self.reachability.session_start != SessionStart::NotTried {
            refs.extend(self.ctx.session_item);
        }
        if self.dtc_read.attempted || self.dtc_read.answered || !self.dtcs.is_empty() {
            refs.extend(self.ctx.dtc_read_item);
        }
        if self.active_test.is_some() {
            refs.extend(self.ctx.active_test_item);
        }
        refs.sort();
        refs.dedup();
        self.items_used = refs
            .into_iter()
            .filter_map(|r| {
                self.item(r).map(|i| ItemUse {
                    item: r,
                    label: i.label(),
                    level: i.level,
                    source: i.source.clone(),
                })
            })
            .collect();
    }
}

/// The release attempts: one per press (presses of one input within the
/// window merge; a bus request merges with a fob or cabin press near it),
/// plus the accepted active test (`(time, item)`), each filled from the
/// series over its window. A pure function: the same series and presses
/// give the same attempts however the series were gathered.
pub fn derive_attempts(
    series: &[ItemSeries],
    presses: &[Press],
    active_test: Option<(u64, Option<ItemRef>)>,
    window_us: u64,
) -> Vec<ReleaseAttempt> {
    let window = window_us.max(1);
    let mut edges: Vec<Press> = presses.to_vec();
    edges.sort_by_key(|e| (e.input == ReleaseInput::Bus, e.t_us));
    let mut attempts: Vec<ReleaseAttempt> = Vec::new();
    for Press {
        t_us: t,
        input,
        item,
    } in edges
    {
        // One press shows as edges of several items (a broadcast and the
        // BCM's own input); a second edge of an item already in an
        // attempt is a second press. An edge joins the nearest attempt it
        // may join (a broadcast edge 7 ms after a fob press belongs to it,
        // not to a cabin press 2.99 s later).
        let near = |a: &ReleaseAttempt| a.t_us.abs_diff(t) <= window;
        let merge = attempts
            .iter_mut()
            .filter(|a| {
                near(a)
                    && (input == ReleaseInput::Bus
                        || (a.input == input && !a.items.contains(&item)))
            })
            .min_by_key(|a| a.t_us.abs_diff(t));
        match merge {
            Some(a) => {
                a.bus_request_seen |= input == ReleaseInput::Bus;
                a.t_us = a.t_us.min(t);
                if !a.items.contains(&item) {
                    a.items.push(item);
                }
            }
            None => attempts.push(new_attempt(input, t, Some(item))),
        }
    }
    if let Some((t, item)) = active_test {
        attempts.push(new_attempt(ReleaseInput::ActiveTest, t, item));
    }
    attempts.sort_by_key(|a| a.t_us);
    let starts: Vec<u64> = attempts.iter().map(|a| a.t_us).collect();
    for (i, a) in attempts.iter_mut().enumerate() {
        let next = starts.get(i + 1).copied().filter(|&n| n > a.t_us);
        let end = next.map_or(a.t_us + window, |n| {
            (a.t_us + window).min(n.saturating_sub(1))
        });
        fill_attempt(series, window_us, a, end);
    }
    attempts
}

fn fill_attempt(series: &[ItemSeries], window_us: u64, a: &mut ReleaseAttempt, end: u64) {
    let t = a.t_us;
    let of = |role: Role| series.iter().filter(move |s| s.role == role);
    let mut used: Vec<ItemRef> = Vec::new();
    // Output driven.
    let mut out = Seen::NotMonitored;
    for s in of(Role::OpenerOutput).filter(|s| s.monitored(t, end)) {
        used.push(s.item);
        match s.first_set_in(t, end) {
            Some(at) => {
                out = Seen::Yes;
                a.output_at_us = Some(a.output_at_us.map_or(at, |x: u64| x.min(at)));
            }
            None => out = out.or(Seen::No),
        }
    }
    a.output_driven = out;
    // Lid changed from closed to open.
    let mut lid = Seen::NotMonitored;
    for s in of(Role::LidOpen).filter(|s| s.monitored(t, end)) {
        used.push(s.item);
        if s.value_at(t).is_some_and(|v| v != 0.0) {
            a.lid_was_open = true;
            lid = lid.or(Seen::No);
            continue;
        }
        match s
            .changes
            .iter()
            .find(|c| c.t_us > t && c.t_us <= end && c.value != 0.0)
        {
            Some(c) => {
                lid = Seen::Yes;
                a.lid_open_at_us = Some(a.lid_open_at_us.map_or(c.t_us, |x| x.min(c.t_us)));
            }
            None => lid = lid.or(Seen::No),
        }
    }
    a.lid_changed = lid;
    if lid == Seen::Yes {
        a.lid_was_open = false;
    }
    // Did the BCM's own request input see this press?
    a.bcm_input_seen = match a.input {
        ReleaseInput::Fob | ReleaseInput::Cabin => Seen::Yes,
        ReleaseInput::ActiveTest => Seen::NotMonitored,
        ReleaseInput::Bus => {
            let from = t.saturating_sub(window_us);
            let mut seen = Seen::NotMonitored;
            for s in series
                .iter()
                .filter(|s| matches!(s.role, Role::FobTrunkRequest | Role::CabinTrunkRequest))
            {
                if s.monitored(from, end) {
                    used.push(s.item);
                    seen = seen.or(if s.first_set_in(from, end).is_some() {
                        Seen::Yes
                    } else {
                        Seen::No
                    });
                }
            }
            seen
        }
    };
    // Context at the press.
    let at_press = |s: &ItemSeries| -> Option<f64> {
        s.value_at(t)
            .or_else(|| s.changes.iter().find(|c| c.t_us <= end).map(|c| c.value))
    };
    for s in series {
        let Some(v) = at_press(s) else { continue };
        let set = v != 0.0;
        match s.role {
            Role::SpeedKmh => {
                a.context.speed_kmh = Some(a.context.speed_kmh.map_or(v, |x| x.max(v)))
            }
            Role::IgnitionOn => {
                a.context.ignition_on = Some(a.context.ignition_on.unwrap_or(false) || set)
            }
            Role::DoorsLocked | Role::DriverDoorLocked => {
                a.context.doors_locked = Some(a.context.doors_locked.unwrap_or(false) || set)
            }
            Role::Lockout => a.context.lockout = Some(a.context.lockout.unwrap_or(false) || set),
            _ => continue,
        }
        used.push(s.item);
    }
    for u in used {
        if !a.items.contains(&u) {
            a.items.push(u);
        }
    }
}

fn new_attempt(input: ReleaseInput, t: u64, item: Option<ItemRef>) -> ReleaseAttempt {
    ReleaseAttempt {
        input,
        t_us: t,
        request_seen: true,
        bus_request_seen: input == ReleaseInput::Bus,
        bcm_input_seen: Seen::NotMonitored,
        output_driven: Seen::NotMonitored,
        output_at_us: None,
        lid_changed: Seen::NotMonitored,
        lid_open_at_us: None,
        lid_was_open: false,
        context: PressContext::default(),
        items: item.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile;

    const S: u64 = 1_000_000;

    fn l33() -> Profile {
        profile::load("nissan-altima-2013-2018").unwrap()
    }

    fn item(p: &Profile, name: &str) -> (ItemRef, Role) {
        let f = p
            .fields()
            .find(|f| p.item(f.item).unwrap().name == name)
            .unwrap();
        (f.item, f.role)
    }

    /// Feeds `(time_s, item name, value)` samples, in order, then finishes.
    fn feed(p: &Profile, samples: &[(f64, &str, f64)]) -> Evidence {
        let mut ev = Evidence::new(p);
        for &(t, name, v) in samples {
            let (r, role) = item(p, name);
            ev.record(role, v, (t * S as f64) as u64, r);
        }
        ev.finish();
        ev
    }

    /// A polled data monitor every 0.2 s from 0 to `until` s with fields set at given spans.
    fn monitor(until: f64, set: &[(&'static str, f64, f64)]) -> Vec<(f64, &'static str, f64)> {
        let mut out = Vec::new();
        let mut t = 0.0;
        while t <= until + 1e-9 {
            for name in [
                "REQ SW -BD/TR",
                "KEYLESS TRUNK",
                "TRUNK OPENER OUTPUT",
                "TR/BD OPEN SW",
                "TR CANCEL SW",
            ] {
                let on = set
                    .iter()
                    .any(|&(n, a, b)| n == name && t >= a - 1e-9 && t < b - 1e-9);
                out.push((t, name, if on { 1.0 } else { 0.0 }));
            }
            t += 0.2;
        }
        out
    }

    #[test]
    fn press_with_output_and_lid_is_one_working_attempt() {
        let p = l33();
        let ev = feed(
            &p,
            &monitor(
                6.0,
                &[
                    ("KEYLESS TRUNK", 1.0, 1.4),
                    ("TRUNK OPENER OUTPUT", 1.2, 2.0),
                    ("TR/BD OPEN SW", 1.6, 9.0),
                ],
            ),
        );
        assert_eq!(ev.release_attempts.len(), 1);
        let a = &ev.release_attempts[0];
        assert_eq!(a.input, ReleaseInput::Fob);
        assert_eq!(a.t_us, S);
        assert_eq!(a.output_driven, Seen::Yes);
        assert_eq!(a.lid_changed, Seen::Yes);
        assert!(a.worked());
        assert!(a.lid_open_at_us.is_some_and(|t| t > a.t_us));
        let names: Vec<String> = a.items.iter().map(|&i| ev.label(i)).collect();
        assert!(
            names.iter().any(|n| n.contains("KEYLESS TRUNK")),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n.contains("TRUNK OPENER OUTPUT")),
            "{names:?}"
        );
        assert_eq!(a.context.lockout, Some(false));
    }

    #[test]
    fn press_without_output() {
        let p = l33();
        let ev = feed(
            &p,
            &monitor(
                6.0,
                &[("REQ SW -BD/TR", 1.0, 1.6), ("TR CANCEL SW", 0.0, 9.0)],
            ),
        );
        let a = &ev.release_attempts[0];
        assert_eq!(a.input, ReleaseInput::Cabin);
        assert_eq!(a.output_driven, Seen::No);
        assert_eq!(a.lid_changed, Seen::No);
        assert_eq!(a.context.lockout, Some(true));
    }

    #[test]
    fn two_presses_intermittent_lid() {
        let p = l33();
        let ev = feed(
            &p,
            &monitor(
                12.0,
                &[
                    ("REQ SW -BD/TR", 1.0, 1.4),
                    ("TRUNK OPENER OUTPUT", 1.2, 1.8),
                    ("REQ SW -BD/TR", 6.0, 6.4),
                    ("TRUNK OPENER OUTPUT", 6.2, 6.8),
                    ("TR/BD OPEN SW", 6.6, 8.0),
                ],
            ),
        );
        assert_eq!(ev.release_attempts.len(), 2);
        let (a, b) = (&ev.release_attempts[0], &ev.release_attempts[1]);
        assert_eq!((a.output_driven, a.lid_changed), (Seen::Yes, Seen::No));
        assert_eq!((b.output_driven, b.lid_changed), (Seen::Yes, Seen::Yes));
    }

    #[test]
    fn close_presses_do_not_borrow_the_next_output() {
        let p = l33();
        // Press 1 at 1.0 s gets nothing; press 2 at 2.0 s drives the output.
        let ev = feed(
            &p,
            &monitor(
                6.0,
                &[
                    ("KEYLESS TRUNK", 1.0, 1.2),
                    ("REQ SW -BD/TR", 2.0, 2.2),
                    ("TRUNK OPENER OUTPUT", 2.2, 2.6),
                ],
            ),
        );
        assert_eq!(ev.release_attempts.len(), 2);
        assert_eq!(ev.release_attempts[0].output_driven, Seen::No);
        assert_eq!(ev.release_attempts[1].output_driven, Seen::Yes);
    }

    #[test]
    fn bus_request_merges_with_bcm_input_or_stands_alone() {
        let p = l33();
        let mut s = monitor(10.0, &[("KEYLESS TRUNK", 1.0, 1.4)]);
        // 0x60D D.5 broadcast request with the fob press, and again at 6 s alone.
        s.extend([
            (0.0, "trunk open request", 0.0),
            (1.1, "trunk open request", 1.0),
            (1.5, "trunk open request", 0.0),
        ]);
        s.extend([
            (6.0, "trunk open request", 1.0),
            (6.5, "trunk open request", 0.0),
        ]);
        s.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        let ev = feed(&p, &s);
        assert_eq!(ev.release_attempts.len(), 2, "{:#?}", ev.release_attempts);
        let (a, b) = (&ev.release_attempts[0], &ev.release_attempts[1]);
        assert_eq!(a.input, ReleaseInput::Fob);
        assert!(a.bus_request_seen);
        assert_eq!(b.input, ReleaseInput::Bus);
        assert_eq!(b.bcm_input_seen, Seen::No);
    }

    #[test]
    fn unmonitored_output_and_lid_are_not_guessed() {
        let p = l33();
        let ev = feed(
            &p,
            &[
                (0.0, "trunk open request", 0.0),
                (1.0, "trunk open request", 1.0),
            ],
        );
        let a = &ev.release_attempts[0];
        assert_eq!(
            (a.output_driven, a.lid_changed, a.bcm_input_seen),
            (Seen::NotMonitored, Seen::NotMonitored, Seen::NotMonitored)
        );
    }

    #[test]
    fn context_lock_changes_battery_and_items_used() {
        let p = l33();
        let mut s = monitor(4.0, &[("REQ SW -BD/TR", 2.0, 2.2)]);
        s.extend([
            (0.0, "vehicle speed", 0.0),
            (1.9, "vehicle speed", 12.5),
            (0.0, "doors locked", 1.0),
            (0.5, "doors locked", 0.0),
            (0.7, "doors locked", 1.0),
            (0.1, "battery voltage", 12.4),
            (3.0, "battery voltage", 9.1),
            (3.5, "battery voltage", 11.9),
        ]);
        s.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        let ev = feed(&p, &s);
        let a = &ev.release_attempts[0];
        assert_eq!(a.context.speed_kmh, Some(12.5));
        assert_eq!(a.context.doors_locked, Some(true));
        assert_eq!(ev.lock_changes.len(), 2);
        assert!(!ev.lock_changes[0].locked && ev.lock_changes[1].locked);
        let b = ev.battery.as_ref().unwrap();
        assert_eq!((b.min_v, b.min_at_us, b.last_v), (9.1, 3 * S, 11.9));
        let cancel = ev
            .items_used
            .iter()
            .find(|u| u.label.contains("TR CANCEL SW"))
            .unwrap();
        assert_eq!(cancel.level, Level::Placeholder);
        assert!(cancel.label.contains("A.7"));
    }

    #[test]
    fn active_test_becomes_an_attempt() {
        let p = l33();
        let mut ev = Evidence::new(&p);
        let (lid, _) = item(&p, "TR/BD OPEN SW");
        let (out, _) = item(&p, "TRUNK OPENER OUTPUT");
        ev.record(Role::LidOpen, 0.0, 0, lid);
        ev.record(Role::OpenerOutput, 0.0, 0, out);
        ev.active_test_sent(S, true);
        ev.record(Role::OpenerOutput, 1.0, S + 100_000, out);
        ev.record(Role::LidOpen, 1.0, S + 500_000, lid);
        ev.finish();
        let a = &ev.release_attempts[0];
        assert_eq!(a.input, ReleaseInput::ActiveTest);
        assert_eq!(ev.active_test.as_ref().unwrap().lid_changed, Seen::Yes);
        ev.finish();
        assert_eq!(ev.release_attempts.len(), 1, "finish is idempotent");
    }

    fn negative(sid: u8, nrc: Nrc, purpose: Purpose) -> BcmEvent {
        BcmEvent::Negative { sid, nrc, purpose }
    }

    #[test]
    fn reachability_session_dtcs_and_negative_responses() {
        let p = l33();
        let mut ev = Evidence::new(&p);
        ev.bcm(10, BcmEvent::Request(Purpose::SessionStart));
        assert_eq!(ev.reachability.session_start, SessionStart::NoAnswer);
        ev.bcm(20, BcmEvent::Pending);
        assert!(
            ev.negative_responses.is_empty(),
            "responsePending is not a refusal"
        );
        ev.bcm(30, BcmEvent::Positive(Purpose::SessionStart));
        assert_eq!(ev.reachability.session_start, SessionStart::Answered);
        ev.bcm(40, BcmEvent::Request(Purpose::Other));
        ev.bcm(50, negative(0x21, Nrc::GeneralReject, Purpose::Other));
        ev.bcm(60, BcmEvent::Unreadable);
        ev.bcm(70, BcmEvent::Request(Purpose::DtcRead));
        ev.bcm(80, BcmEvent::Positive(Purpose::DtcRead));
        let dtc = BcmEvent::Dtc {
            dtc: "b2562".parse().unwrap(),
            status: Some(0x20),
        };
        ev.bcm(80, dtc);
        ev.finish();
        assert_eq!(ev.general_rejects, 1);
        assert_eq!(
            ev.negative_responses,
            vec![NegativeResponse {
                sid: 0x21,
                nrc: Nrc::GeneralReject,
                t_us: 50
            }]
        );
        assert!(ev.dtc_read.attempted && ev.dtc_read.answered);
        assert_eq!(ev.dtcs[0].code.to_string(), "B2562");
        assert_eq!(ev.reachability.diag_requests, 3);
        assert_eq!(ev.reachability.diag_responses, 5);
        assert!(ev
            .items_used
            .iter()
            .any(|u| u.label.starts_with("DTC read") && u.level == Level::Placeholder));
    }

    #[test]
    fn session_refusal_keeps_its_nrc() {
        let p = l33();
        let mut ev = Evidence::new(&p);
        ev.bcm(10, BcmEvent::Request(Purpose::SessionStart));
        ev.bcm(
            20,
            negative(0x10, Nrc::ConditionsNotCorrect, Purpose::SessionStart),
        );
        assert_eq!(
            ev.reachability.session_start,
            SessionStart::Refused(Nrc::ConditionsNotCorrect)
        );
    }

    #[test]
    fn census_counts_unknown_non_diagnostic_ids() {
        let p = l33();
        let mut ev = Evidence::new(&p);
        for (i, id) in [0x60D_u16, 0x123, 0x123, 0x7DF, 0x765, 0x5FF]
            .into_iter()
            .enumerate()
        {
            let f = CanFrame::classic(CanId::Standard(id), &[0])
                .unwrap()
                .at(100 + i as u64);
            ev.frame(&f, p.is_known_id(f.id));
        }
        ev.finish();
        assert_eq!(ev.frames_seen, 6);
        assert_eq!(ev.reachability.non_diag_frames, 4);
        let ids: Vec<(&str, u64, u64)> = ev
            .census
            .iter()
            .map(|u| (u.id.as_str(), u.count, u.first_us))
            .collect();
        assert_eq!(ids, vec![("123", 2, 101), ("5FF", 1, 105)]);
        assert_eq!((ev.first_us, ev.last_us), (Some(100), Some(105)));
    }

    // ------------------------------------------------------------ bounds

    /// Nissan items a dense capture carries, resolved once.
    struct Dense {
        p: Profile,
        items: Vec<(ItemRef, Role)>,
    }

    const FOB: usize = 0;
    const CABIN: usize = 1;
    const BUS: usize = 2;
    const OUTPUT: usize = 3;
    const LID: usize = 4;
    const SPEED: usize = 5;
    const DOOR: usize = 6;
    const VOLTS: usize = 7;
    const CANCEL: usize = 8;

    impl Dense {
        fn new() -> Dense {
            let p = l33();
            let items = [
                "KEYLESS TRUNK",
                "REQ SW -BD/TR",
                "trunk open request",
                "TRUNK OPENER OUTPUT",
                "TR/BD OPEN SW",
                "vehicle speed",
                "doors locked",
                "battery voltage",
                "TR CANCEL SW",
            ]
            .iter()
            .map(|n| item(&p, n))
            .collect();
            Dense { p, items }
        }

        /// `secs` of a bus whose broadcasts change on every 10 ms frame (periods
        /// of 2, 4 and 5 frames: any shift by whole seconds looks the same)
        /// (speed, a door lock bit, the voltage), the BCM monitor polled
        /// every 200 ms, and presses `(time s, input index, output fires,
        /// lid opens)`: the request held 0.4 s, the output 0.2-0.7 s after,
        /// the lid open 0.6-2.0 s after.
        fn run(
            &self,
            secs: u64,
            presses: &[(f64, usize, bool, bool)],
            limits: SeriesLimits,
        ) -> Evidence {
            let mut ev = Evidence::new(&self.p);
            ev.set_limits(limits);
            let held = |i: usize, t: f64, from: f64, to: f64| {
                presses.iter().any(|&(at, input, out, lid)| {
                    let on = match i {
                        OUTPUT => out,
                        LID => lid,
                        _ => input == i,
                    };
                    on && t >= at + from - 1e-9 && t < at + to - 1e-9
                })
            };
            for step in 0..secs * 100 {
                let t = step as f64 / 100.0;
                let t_us = step * 10_000;
                let mut put = |i: usize, v: f64| {
                    let (r, role) = self.items[i];
                    ev.record(role, v, t_us, r);
                };
                put(SPEED, (step % 4) as f64);
                put(DOOR, (step % 2) as f64);
                put(VOLTS, 12.0 + (step % 5) as f64 / 10.0);
                put(BUS, f64::from(u8::from(held(BUS, t, 0.0, 0.4))));
                if step % 20 == 0 {
                    for i in [FOB, CABIN] {
                        put(i, f64::from(u8::from(held(i, t, 0.0, 0.4))));
                    }
                    put(OUTPUT, f64::from(u8::from(held(OUTPUT, t, 0.2, 0.7))));
                    put(LID, f64::from(u8::from(held(LID, t, 0.6, 2.0))));
                    put(CANCEL, 0.0);
                }
            }
            ev.finish();
            ev
        }
    }

    /// The attempts with times made relative to `origin_us`.
    fn shifted(ev: &Evidence, origin_us: u64) -> serde_json::Value {
        let mut attempts = ev.release_attempts.clone();
        for a in &mut attempts {
            a.t_us -= origin_us;
            a.output_at_us = a.output_at_us.map(|t| t - origin_us);
            a.lid_open_at_us = a.lid_open_at_us.map(|t| t - origin_us);
        }
        serde_json::to_value(attempts).unwrap()
    }

    /// The case: presses at 40 s and 45 s of a 60 s dense capture
    /// give the attempts presses at 2 s and 5 s give, bounded or not.
    #[test]
    fn late_presses_in_a_dense_capture_give_the_early_attempts() {
        let d = Dense::new();
        let early = [(2.0, FOB, true, true), (5.0, CABIN, false, false)];
        let late = early.map(|(t, i, o, l)| (t + 38.0, i, o, l));
        let a = d.run(60, &early, SeriesLimits::BOUNDED);
        let b = d.run(60, &late, SeriesLimits::BOUNDED);
        let full = d.run(60, &late, SeriesLimits::FULL);
        assert_eq!(b.release_attempts, full.release_attempts);
        assert_eq!(a.release_attempts.len(), 2, "{:#?}", a.release_attempts);
        assert_eq!(shifted(&a, 0), shifted(&b, 38 * S));
        let fob = &b.release_attempts[0];
        assert!(fob.worked() && fob.context.speed_kmh.is_some());
        // Bounded: most of the dense changes were summarised, and the report
        // says so; full: everything kept.
        let m = &b.series_summary;
        assert!(m.changes_kept * 3 < m.changes_seen, "{m:?}");
        assert!(m.note.contains("kept"), "{}", m.note);
        assert_eq!(
            full.series_summary.changes_kept,
            full.series_summary.changes_seen
        );
        let size = |ev: &Evidence| serde_json::to_string(ev).unwrap().len();
        assert!(
            size(&b) * 5 < size(&full),
            "{} vs {}",
            size(&b),
            size(&full)
        );
    }

    /// A request bit toggling on every frame is noise: its edges are
    /// counted, a few kept as presses, and the record stays small.
    #[test]
    fn a_toggling_request_bit_is_capped_and_counted() {
        let p = l33();
        let (r, role) = item(&p, "trunk open request");
        let mut ev = Evidence::new(&p);
        for step in 0..200_000u64 {
            ev.record(role, (step % 2) as f64, step * 1_000, r);
        }
        ev.finish();
        let lim = SeriesLimits::BOUNDED;
        assert_eq!(ev.series_summary.request_edges, 100_000);
        assert!(ev.presses.len() <= lim.presses);
        assert!(ev
            .series
            .iter()
            .all(|s| s.changes.len() <= lim.kept_per_item));
        assert!(
            ev.series_summary.note.contains("toggling"),
            "{}",
            ev.series_summary.note
        );
        assert!(serde_json::to_string(&ev).unwrap().len() < 100_000);
    }

    /// Tiny limits, so that random streams reach every cap.
    const TINY: SeriesLimits = SeriesLimits {
        ring: 8,
        kept_per_item: 32,
        presses: 4,
        edges_per_window: 2,
        listed_per_item: 4,
        lock_changes: 4,
    };

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// However long and noisy the stream, what the record holds stays
        /// within its limits.
        #[test]
        fn memory_stays_bounded_on_random_long_streams(
            steps in proptest::collection::vec((0usize..9, 0u8..3, 1u64..400_000), 1..4_000),
        ) {
            let d = Dense::new();
            let mut ev = Evidence::new(&d.p);
            ev.set_limits(TINY);
            let mut t = 0u64;
            for &(i, v, dt) in &steps {
                t += dt;
                let (r, role) = d.items[i];
                ev.record(role, f64::from(v), t, r);
            }
            ev.finish();
            proptest::prop_assert!(ev.presses.len() <= TINY.presses);
            proptest::prop_assert!(ev.lock_changes.len() <= TINY.lock_changes);
            proptest::prop_assert!(ev.series.len() <= d.items.len());
            for s in &ev.series {
                proptest::prop_assert!(s.changes.len() <= TINY.kept_per_item);
                proptest::prop_assert!(s.ring.len() <= TINY.ring);
                proptest::prop_assert!(s.sample.len() <= SAMPLE_CHANGES);
            }
            let listed = serde_json::to_value(&ev.series).unwrap();
            for s in listed.as_array().unwrap() {
                proptest::prop_assert!(s["changes"].as_array().unwrap().len() <= TINY.listed_per_item);
            }
        }

        /// Presses anywhere in a dense capture: the attempts from the
        /// bounded series equal those from the full series.
        #[test]
        fn bounded_attempts_equal_full_attempts(
            first in 0.0f64..50.0,
            gap in 0.1f64..8.0,
            inputs in (0usize..3, 0usize..3),
            outcomes in proptest::collection::vec(proptest::prelude::any::<bool>(), 4),
        ) {
            let d = Dense::new();
            let presses = [
                (first, inputs.0, outcomes[0], outcomes[1]),
                (first + gap, inputs.1, outcomes[2], outcomes[3]),
            ];
            let bounded = d.run(60, &presses, SeriesLimits::BOUNDED);
            let full = d.run(60, &presses, SeriesLimits::FULL);
            proptest::prop_assert!(!full.release_attempts.is_empty());
            proptest::prop_assert_eq!(&bounded.presses, &full.presses);
            proptest::prop_assert_eq!(&bounded.release_attempts, &full.release_attempts);
        }
    }

    /// A broadcast request edge joins the press it came with, not a later
    /// press still within the window (the live run's timing once put the
    /// edge 2.99 s before the cabin press and the fob press lost it).
    #[test]
    fn a_broadcast_edge_joins_the_nearest_press() {
        let p = l33();
        let mut s = monitor(
            9.0,
            &[("KEYLESS TRUNK", 2.0, 2.4), ("REQ SW -BD/TR", 5.0, 5.4)],
        );
        s.extend([
            (0.0, "trunk open request", 0.0),
            (2.007, "trunk open request", 1.0),
            (2.3, "trunk open request", 0.0),
        ]);
        s.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        let ev = feed(&p, &s);
        // (milliseconds: the helper's times are sums of 0.2 s steps)
        let got: Vec<(ReleaseInput, u64, bool)> = ev
            .release_attempts
            .iter()
            .map(|a| (a.input, (a.t_us + 500) / 1000, a.bus_request_seen))
            .collect();
        assert_eq!(
            got,
            [
                (ReleaseInput::Fob, 2_000, true),
                (ReleaseInput::Cabin, 5_000, false)
            ]
        );
    }

    /// The derivation is a function of series and presses alone.
    #[test]
    fn attempts_derive_from_series_and_presses_alone() {
        let p = l33();
        let (req, _) = item(&p, "REQ SW -BD/TR");
        let (out, _) = item(&p, "TRUNK OPENER OUTPUT");
        let c = |t: u64, v: f64| Change { t_us: t, value: v };
        let series = [
            ItemSeries::from_changes(req, Role::CabinTrunkRequest, &[c(0, 0.0), c(S, 1.0)]),
            ItemSeries::from_changes(
                out,
                Role::OpenerOutput,
                &[c(0, 0.0), c(S + 100, 1.0), c(4 * S, 0.0)],
            ),
        ]
        .map(Option::unwrap);
        let presses = [Press {
            t_us: S,
            input: ReleaseInput::Cabin,
            item: req,
        }];
        let a = derive_attempts(&series, &presses, None, 3 * S);
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].output_driven, a[0].output_at_us),
            (Seen::Yes, Some(S + 100))
        );
        assert_eq!(a[0].lid_changed, Seen::NotMonitored);
        assert!(derive_attempts(&series, &[], None, 3 * S).is_empty());
    }
}
