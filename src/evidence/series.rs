//! The values each item took ([`ItemSeries`]): every change near a press,
//! a summary elsewhere, changes waiting in a ring for a press that may come;
//! the battery readings and door-lock changes seen on the way.

use std::collections::VecDeque;

use serde::ser::SerializeStruct;
use serde::Serialize;

use super::{Evidence, SeriesLimits};
use crate::profile::{ItemRef, Role};

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
    pub(super) ring: VecDeque<Change>,
    /// How many changes the report lists.
    pub(super) listed: usize,
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
    pub(super) fn commit(&mut self, from: u64, limits: &SeriesLimits) {
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
    pub(super) fn settle(&mut self) {
        if !self.changes.is_sorted_by_key(|c| c.t_us) {
            self.changes.sort_by_key(|c| c.t_us);
        }
    }
}

/// The first changes of each item kept as a sample, wherever they fell.
pub(super) const SAMPLE_CHANGES: usize = 8;

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

/// A change of a door-lock state after its first reading (the fob's
/// lock/unlock reaching the bus, or the cabin lock switch).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LockChange {
    pub t_us: u64,
    pub locked: bool,
    pub item: ItemRef,
}

impl Evidence {
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
}
