//! How much of each item's series the record keeps ([`SeriesLimits`]) and
//! what it summarised instead, in words for the report ([`SeriesSummary`]).

use serde::Serialize;

use super::{Evidence, ItemSeries};

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

impl Evidence {
    pub(super) fn summarise(&mut self) {
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
}
