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
//! One job per file: the record and its finishing here; `limits` (the
//! bounds and their summary), `bcm` (the conversation's events), `series`
//! (the values each item took), `presses` (request edges and the windows
//! they open), `attempts` (the derivation), `census` (frames counted,
//! unknown ids), `items` (what the evidence rests on).
//!
//! Owns: the record, its bounds, the release-attempt derivation. Holds the
//! user's observations (`crate::observation`) for the rules. Must not know about ISO-TP, frames on the wire beyond
//! counting them, service bytes (the analyzer reads those and hands over
//! [`BcmEvent`]s) or verdict text.

use std::collections::HashMap;

use serde::Serialize;

use crate::frame::CanId;
pub use crate::observation::{FobRange, ObservationError, Observations};
use crate::profile::{ItemInfo, ItemRef, Level, Profile, ReleaseInput, Role};

mod attempts;
mod bcm;
mod census;
mod items;
mod limits;
mod presses;
mod series;
#[cfg(test)]
mod tests;

pub use attempts::{derive_attempts, PressContext, Reading, ReleaseAttempt, Seen};
pub use bcm::{
    BcmEvent, DtcReadState, DtcRecord, NegativeResponse, Purpose, Reachability, SessionStart,
    MAX_NEGATIVE_RESPONSES,
};
pub use census::UnknownId;
pub use items::ItemUse;
pub use limits::{SeriesLimits, SeriesSummary};
pub use presses::{parse_told_press, told_press_line, ActiveTestRun, Press};
pub use series::{BatteryStats, Change, ItemSeries, LockChange};

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
            session_item: bcm.and_then(|b| b.session.as_ref()).map(|s| s.item),
            dtc_read_item: bcm.and_then(|b| b.dtc_read.as_ref()).map(|s| s.item),
            addressing_item: bcm.map(|b| b.addressing_item),
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
        self.list_census();
        self.summarise();
        self.derive_items_used();
    }
}
