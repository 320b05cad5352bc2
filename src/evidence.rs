//! The evidence record: everything a run (live, replay or simulator) saw that
//! the verdict rules need, with timestamps in microseconds. The analyzer fills
//! it through a small builder API and calls [`Evidence::finish`], which derives
//! the release attempts (one per press) from the time series of request,
//! output and lid values.
//!
//! Owns: the record, the release-attempt derivation. Holds the user's
//! observations (`crate::observation`) for the rules.
//! Must not know about ISO-TP, frames on the wire beyond counting them, the
//! diagnostic codecs (DTCs arrive as letter-code strings) or verdict text.

use std::collections::HashMap;

use serde::Serialize;

use crate::frame::{CanFrame, CanId};
pub use crate::observation::{FobRange, ObservationError, Observations};
use crate::profile::{is_diagnostic_id, ItemInfo, ItemRef, Profile, ReleaseInput, Role};

/// At most this many value changes are kept per item; beyond it changes are
/// counted, not stored (a noisy analog signal must not eat memory).
pub const MAX_CHANGES_PER_ITEM: usize = 200_000;

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
    Refused(u8),
}

/// Can the BCM be reached, and is the bus alive?
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reachability {
    /// Requests seen going to the BCM's request id.
    pub diag_requests: u32,
    /// Replies seen from the BCM's response id (positive or negative).
    pub diag_responses: u32,
    pub session_start: SessionStart,
    /// Frames outside the diagnostic range 0x700–0x7FF: other ECUs alive.
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
    /// Letter code, `B2562` or `U3003:16`.
    pub code: String,
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

/// A negative response (`7F sid nrc`); 0x78 responsePending is not one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NegativeResponse {
    pub sid: u8,
    pub nrc: u8,
    pub t_us: u64,
}

/// One value change of an item.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Change {
    pub t_us: u64,
    pub value: f64,
}

/// The values one item took, stored as changes only.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemSeries {
    pub item: ItemRef,
    pub role: Role,
    pub samples: u64,
    pub first_us: u64,
    pub last_us: u64,
    pub changes: Vec<Change>,
    /// Changes not stored because of [`MAX_CHANGES_PER_ITEM`].
    pub dropped_changes: u64,
}

impl ItemSeries {
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

/// An identifier the profile does not know (0x700–0x7FF never counted).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnknownId {
    /// As candump prints it.
    pub id: String,
    pub count: u64,
    pub first_us: u64,
}

/// A profile item the evidence used, with its verified flag.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemUse {
    pub item: ItemRef,
    /// `TR CANCEL SW (KWP 21 44 A.7)`.
    pub label: String,
    pub verified: bool,
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
    pub release_attempts: Vec<ReleaseAttempt>,
    pub lock_changes: Vec<LockChange>,
    pub active_test: Option<ActiveTestRun>,
    pub observations: Observations,
    pub census: Vec<UnknownId>,
    pub items_used: Vec<ItemUse>,
    #[serde(skip)]
    ctx: ProfileFacts,
    #[serde(skip)]
    series_index: HashMap<ItemRef, usize>,
    #[serde(skip)]
    unknown: HashMap<CanId, (u64, u64)>,
}

/// What `Evidence` copies from the profile once, so it needs no borrow.
#[derive(Clone, Debug, Default)]
struct ProfileFacts {
    items: Vec<ItemInfo>,
    window_us: u64,
    session_request: Option<Vec<u8>>,
    session_response: Option<Vec<u8>>,
    session_item: Option<ItemRef>,
    dtc_read_request: Option<Vec<u8>>,
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
            session_request: bcm.session.as_ref().map(|s| s.request.clone()),
            session_response: bcm.session.as_ref().and_then(|s| s.response_prefix.clone()),
            session_item: bcm.session.as_ref().map(|s| s.item),
            dtc_read_request: bcm.dtc_read.as_ref().map(|s| s.request.clone()),
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
            release_attempts: Vec::new(),
            lock_changes: Vec::new(),
            active_test: None,
            observations: Observations::default(),
            census: Vec::new(),
            items_used: Vec::new(),
            ctx,
            series_index: HashMap::new(),
            unknown: HashMap::new(),
        }
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
        if !is_diagnostic_id(id) {
            self.reachability.non_diag_frames += frames;
            if !known {
                let e = self.unknown.entry(id).or_insert((0, first_us));
                e.0 += frames;
                e.1 = e.1.min(first_us);
            }
        }
    }

    /// A diagnostic request to the BCM (whole ISO-TP payload).
    pub fn bcm_request(&mut self, t_us: u64, payload: &[u8]) {
        self.reachability.diag_requests += 1;
        if self
            .ctx
            .session_request
            .as_deref()
            .is_some_and(|r| payload.starts_with(r))
            && self.reachability.session_start != SessionStart::Answered
        {
            self.reachability.session_start = SessionStart::NoAnswer;
        }
        if self
            .ctx
            .dtc_read_request
            .as_deref()
            .is_some_and(|r| payload.starts_with(r))
        {
            self.dtc_read.attempted = true;
            self.dtc_read.t_us.get_or_insert(t_us);
        }
    }

    /// A request (sent at `t_us`) that got no reply before its deadline.
    pub fn bcm_unanswered(&mut self, t_us: u64) {
        let r = &mut self.reachability;
        r.unanswered += 1;
        if r.last_response_us.is_some() {
            r.unanswered_since_reply += 1;
            r.silent_since_us.get_or_insert(t_us);
        }
    }

    /// A reply from the BCM (whole ISO-TP payload).
    pub fn bcm_response(&mut self, t_us: u64, payload: &[u8]) {
        self.reachability.diag_responses += 1;
        self.reachability.last_response_us = Some(t_us);
        self.reachability.unanswered_since_reply = 0;
        self.reachability.silent_since_us = None;
        let first = payload.first().copied();
        let session_sid = self
            .ctx
            .session_request
            .as_ref()
            .and_then(|r| r.first().copied());
        let dtc_sid = self
            .ctx
            .dtc_read_request
            .as_ref()
            .and_then(|r| r.first().copied());
        if first == Some(0x7F) {
            let (Some(&sid), Some(&nrc)) = (payload.get(1), payload.get(2)) else {
                return;
            };
            if nrc == 0x78 {
                return; // responsePending: the real answer follows
            }
            self.negative_responses
                .push(NegativeResponse { sid, nrc, t_us });
            if nrc == 0x10 {
                self.general_rejects += 1;
            }
            if Some(sid) == session_sid && self.reachability.session_start != SessionStart::Answered
            {
                self.reachability.session_start = SessionStart::Refused(nrc);
            }
            return;
        }
        if self
            .ctx
            .session_response
            .as_deref()
            .is_some_and(|r| payload.starts_with(r))
        {
            self.reachability.session_start = SessionStart::Answered;
        }
        if let (Some(sid), Some(f)) = (dtc_sid, first) {
            if f == sid.wrapping_add(0x40) {
                self.dtc_read.answered = true;
            }
        }
    }

    /// A DTC decoded from a DTC read reply.
    pub fn dtc(&mut self, code: &str, status: Option<u8>, t_us: u64) {
        self.dtc_read.answered = true;
        let code = code.trim().to_ascii_uppercase();
        match self.dtcs.iter_mut().find(|d| d.code == code) {
            Some(d) => d.status = status.or(d.status),
            None => self.dtcs.push(DtcRecord { code, status, t_us }),
        }
    }

    /// One decoded value (from `Profile::decode_broadcast` / `decode_data`).
    /// Values should arrive in time order; only changes are stored.
    pub fn record(&mut self, role: Role, value: f64, t_us: u64, item: ItemRef) {
        if !value.is_finite() {
            return;
        }
        let idx = match self.series_index.get(&item) {
            Some(&i) => i,
            None => {
                self.series.push(ItemSeries {
                    item,
                    role,
                    samples: 0,
                    first_us: t_us,
                    last_us: t_us,
                    changes: Vec::new(),
                    dropped_changes: 0,
                });
                let i = self.series.len() - 1;
                self.series_index.insert(item, i);
                i
            }
        };
        if let Some(s) = self.series.get_mut(idx) {
            s.samples += 1;
            s.first_us = s.first_us.min(t_us);
            s.last_us = s.last_us.max(t_us);
            if s.changes.last().map(|c| c.value) != Some(value) {
                if s.changes.len() < MAX_CHANGES_PER_ITEM {
                    s.changes.push(Change { t_us, value });
                } else {
                    s.dropped_changes += 1;
                }
            }
        }
        if role == Role::BatteryVoltage {
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
    }

    /// The tool sent the active test; `accepted` when the BCM gave the
    /// expected positive response.
    pub fn active_test_sent(&mut self, t_us: u64, accepted: bool) {
        self.active_test = Some(ActiveTestRun {
            t_us,
            accepted,
            lid_changed: Seen::NotMonitored,
        });
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
        self.item(r).is_some_and(|i| !i.verified)
    }

    /// The release window (from the profile).
    pub fn window_us(&self) -> u64 {
        self.ctx.window_us
    }

    /// The DTC read exchange item, when the profile has one.
    pub fn dtc_read_item(&self) -> Option<ItemRef> {
        self.ctx.dtc_read_item
    }

    /// Derives release attempts, lock changes, the active-test outcome, the
    /// census and `items_used`. Idempotent: call again after more input.
    pub fn finish(&mut self) {
        self.derive_attempts();
        self.derive_lock_changes();
        let census: Vec<UnknownId> = self
            .unknown
            .iter()
            .map(|(id, (count, first))| (*id, *count, *first))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|(id, count, first_us)| {
                (
                    id,
                    UnknownId {
                        id: id.to_string(),
                        count,
                        first_us,
                    },
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_values()
            .collect();
        self.census = census;
        self.derive_items_used();
    }

    fn derive_attempts(&mut self) {
        let window = self.ctx.window_us.max(1);
        // Rising edges of every request role.
        let mut edges: Vec<(u64, ReleaseInput, ItemRef)> = Vec::new();
        for s in self.series.iter().filter(|s| s.role.is_request()) {
            let input = match s.role {
                Role::FobTrunkRequest => ReleaseInput::Fob,
                Role::CabinTrunkRequest => ReleaseInput::Cabin,
                _ => ReleaseInput::Bus,
            };
            let mut prev = 0.0;
            for c in &s.changes {
                if prev == 0.0 && c.value != 0.0 {
                    edges.push((c.t_us, input, s.item));
                }
                prev = c.value;
            }
        }
        edges.sort_by_key(|e| (e.1 == ReleaseInput::Bus, e.0));
        let mut attempts: Vec<ReleaseAttempt> = Vec::new();
        for (t, input, item) in edges {
            // One press shows as edges of several items (a broadcast and the
            // BCM's own input); a second edge of an item already in an
            // attempt is a second press.
            let near = |a: &ReleaseAttempt| a.t_us.abs_diff(t) <= window;
            let merge = if input == ReleaseInput::Bus {
                attempts.iter_mut().rev().find(|a| near(a))
            } else {
                attempts
                    .iter_mut()
                    .rev()
                    .find(|a| a.input == input && near(a) && !a.items.contains(&item))
            };
            match merge {
                Some(a) => {
                    a.bus_request_seen |= input == ReleaseInput::Bus;
                    a.t_us = a.t_us.min(t);
                    if !a.items.contains(&item) {
                        a.items.push(item);
                    }
                }
                None => attempts.push(new_attempt(input, t, item)),
            }
        }
        if let Some(at) = &self.active_test {
            if at.accepted {
                let mut a = new_attempt(ReleaseInput::ActiveTest, at.t_us, ItemRef(u16::MAX));
                a.items.clear();
                if let Some(i) = self.ctx.active_test_item {
                    a.items.push(i);
                }
                attempts.push(a);
            }
        }
        attempts.sort_by_key(|a| a.t_us);
        let starts: Vec<u64> = attempts.iter().map(|a| a.t_us).collect();
        for (i, a) in attempts.iter_mut().enumerate() {
            let next = starts.get(i + 1).copied().filter(|&n| n > a.t_us);
            let end = next.map_or(a.t_us + window, |n| {
                (a.t_us + window).min(n.saturating_sub(1))
            });
            self.fill_attempt(a, end);
        }
        if let Some(at) = &mut self.active_test {
            at.lid_changed = attempts
                .iter()
                .find(|a| a.input == ReleaseInput::ActiveTest)
                .map_or(Seen::NotMonitored, |a| a.lid_changed);
        }
        self.release_attempts = attempts;
    }

    fn fill_attempt(&self, a: &mut ReleaseAttempt, end: u64) {
        let t = a.t_us;
        let mut used: Vec<ItemRef> = Vec::new();
        // Output driven.
        let mut out = Seen::NotMonitored;
        for s in self
            .series_of(Role::OpenerOutput)
            .filter(|s| s.monitored(t, end))
        {
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
        for s in self
            .series_of(Role::LidOpen)
            .filter(|s| s.monitored(t, end))
        {
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
        a.bcm_input_seen =
            match a.input {
                ReleaseInput::Fob | ReleaseInput::Cabin => Seen::Yes,
                ReleaseInput::ActiveTest => Seen::NotMonitored,
                ReleaseInput::Bus => {
                    let from = t.saturating_sub(self.ctx.window_us);
                    let mut seen = Seen::NotMonitored;
                    for s in self.series.iter().filter(|s| {
                        matches!(s.role, Role::FobTrunkRequest | Role::CabinTrunkRequest)
                    }) {
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
        for s in &self.series {
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
                Role::Lockout => {
                    a.context.lockout = Some(a.context.lockout.unwrap_or(false) || set)
                }
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

    fn derive_lock_changes(&mut self) {
        let mut out = Vec::new();
        for s in self
            .series
            .iter()
            .filter(|s| matches!(s.role, Role::DoorsLocked | Role::DriverDoorLocked))
        {
            for c in s.changes.iter().skip(1) {
                out.push(LockChange {
                    t_us: c.t_us,
                    locked: c.value != 0.0,
                    item: s.item,
                });
            }
        }
        out.sort_by_key(|c| c.t_us);
        self.lock_changes = out;
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
                    verified: i.verified,
                    source: i.source.clone(),
                })
            })
            .collect();
    }
}

fn new_attempt(input: ReleaseInput, t: u64, item: ItemRef) -> ReleaseAttempt {
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
        items: vec![item],
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
            (0.0, "driver door locked", 1.0),
            (0.5, "driver door locked", 0.0),
            (0.7, "driver door locked", 1.0),
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
        assert!(!cancel.verified);
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

    #[test]
    fn reachability_session_dtcs_and_negative_responses() {
        let p = l33();
        let mut ev = Evidence::new(&p);
        ev.bcm_request(10, &[0x10, 0xC0]);
        assert_eq!(ev.reachability.session_start, SessionStart::NoAnswer);
        ev.bcm_response(20, &[0x7F, 0x10, 0x78]);
        assert!(
            ev.negative_responses.is_empty(),
            "responsePending is not a refusal"
        );
        ev.bcm_response(30, &[0x50, 0xC0]);
        assert_eq!(ev.reachability.session_start, SessionStart::Answered);
        ev.bcm_request(40, &[0x21, 0x44]);
        ev.bcm_response(50, &[0x7F, 0x21, 0x10]);
        ev.bcm_response(60, &[0x7F]); // truncated: ignored, no panic
        ev.bcm_request(70, &[0x18, 0x02, 0xFF, 0x00]);
        ev.bcm_response(80, &[0x58, 0x01, 0xA5, 0x62, 0x20]);
        ev.dtc("b2562", Some(0x20), 80);
        ev.finish();
        assert_eq!(ev.general_rejects, 1);
        assert_eq!(
            ev.negative_responses,
            vec![NegativeResponse {
                sid: 0x21,
                nrc: 0x10,
                t_us: 50
            }]
        );
        assert!(ev.dtc_read.attempted && ev.dtc_read.answered);
        assert_eq!(ev.dtcs[0].code, "B2562");
        assert_eq!(ev.reachability.diag_requests, 3);
        assert_eq!(ev.reachability.diag_responses, 5);
        assert!(ev
            .items_used
            .iter()
            .any(|u| u.label.starts_with("DTC read") && !u.verified));
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
}
