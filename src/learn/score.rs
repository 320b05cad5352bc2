//! Scoring one place against one role's marks.
//!
//! Each mark owns a window of time around it (from `before_us` before to
//! `after_us` after, cut halfway to the neighbouring marks of any role). A
//! place scores by:
//! - coverage: the share of the role's marks in whose window it changes;
//! - consistency: the value it changes to is the same for every mark with
//!   the same label, and different for different labels;
//! - purity: its changes fall in the role's windows; a change in another
//!   role's window counts a quarter against it (an action often moves more
//!   than one thing: a fob press opens the lid), a change where nothing was
//!   marked counts fully;
//! - timing: `1 / (1 + mean delay / 5 s)`, so of two otherwise equal places
//!   the one that moved closer to the marks goes first.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::profile::Role;

use super::frames::Analysis;
use super::{Candidate, LearnConfig, Mark, Outcome, Place};

/// The score levels that decide what a role's ranking means.
#[derive(Clone, Copy, Debug)]
pub struct ScoreLevel;

impl ScoreLevel {
    /// The best candidate is written as learned from this score up: it
    /// followed at least half of what a perfect place would.
    pub const LEARNED: f64 = 0.5;
    /// Two places whose scores differ by less than this cannot be told
    /// apart. One missed mark of up to ten (coverage 0.9) or a quarter of
    /// a second more mean delay (timing 0.95) separates two places; the
    /// milliseconds by which modules relaying one event follow each other
    /// do not, and with one mark every place that moved at it scores
    /// within a few thousandths of 1.
    pub const TIE: f64 = 0.05;
}

// What TIE's words claim, checked when the crate builds: one missed mark of
// ten separates, 30 ms more mean delay (timing below) does not.
const _: () = assert!(1.0 - 9.0 / 10.0 >= ScoreLevel::TIE);
const _: () = assert!(1.0 - 1.0 / (1.0 + 30.0 / 5000.0) < ScoreLevel::TIE);

/// Where each mark's window lies.
pub(crate) struct Windows<'m> {
    marks: &'m [Mark],
    spans: Vec<(u64, u64)>,
}

impl<'m> Windows<'m> {
    /// `marks` sorted by time.
    pub fn new(marks: &'m [Mark], cfg: &LearnConfig) -> Windows<'m> {
        let spans = marks
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let prev = i.checked_sub(1).and_then(|p| marks.get(p));
                let next = marks.get(i + 1);
                let mut lo = m.at_us.saturating_sub(cfg.before_us);
                let mut hi = m.at_us.saturating_add(cfg.after_us);
                if let Some(p) = prev {
                    lo = lo.max(p.at_us + (m.at_us - p.at_us) / 2);
                }
                if let Some(n) = next {
                    hi = hi.min(m.at_us + (n.at_us - m.at_us) / 2);
                }
                (lo, hi)
            })
            .collect();
        Windows { marks, spans }
    }

    /// The mark whose window holds `t`, if any.
    fn owner(&self, t: u64) -> Option<usize> {
        // Windows are ordered and do not overlap (cut at midpoints).
        let i = self.spans.partition_point(|s| s.1 < t);
        self.spans.get(i).filter(|s| s.0 <= t).map(|_| i)
    }
}

/// Why a candidate scored as it did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evidence {
    /// Marks of the role in whose window the place changed.
    pub hits: usize,
    pub marks: usize,
    /// The value the place took for each label (the most common one).
    pub values: BTreeMap<String, u64>,
    /// Hits whose value agreed with its label's value.
    pub agreeing: usize,
    /// Different labels gave different values.
    pub distinct: bool,
    /// The value before the first mark.
    pub baseline: u64,
    pub changes_in_windows: usize,
    pub changes_in_other_windows: usize,
    pub changes_unmarked: usize,
    pub mean_delay_ms: f64,
    /// Bits of the place that change somewhere in the capture, and that never do.
    pub moving_bits: u32,
    pub still_bits: u32,
}

impl Evidence {
    /// One line for a person.
    pub fn words(&self) -> String {
        let values: Vec<String> = self
            .values
            .iter()
            .map(|(l, v)| format!("{l}={v}"))
            .collect();
        format!(
            "changed at {}/{} marks ({}), {} change(s) in its windows, {} in other roles' windows, {} unmarked; mean delay {:.0} ms",
            self.hits,
            self.marks,
            if values.is_empty() {
                "no values".to_owned()
            } else {
                values.join(" ")
            },
            self.changes_in_windows,
            self.changes_in_other_windows,
            self.changes_unmarked,
            self.mean_delay_ms
        )
    }
}

/// The score of `place` for `role`, or `None` when it never changes in the
/// role's windows, or is noisy (three or more unmarked changes, and more
/// of them than in the role's windows).
pub(crate) fn score(
    role: Role,
    place: Place,
    series: &[(u64, u64)],
    analysis: &Analysis,
    w: &Windows<'_>,
) -> Option<Candidate> {
    let mut first_change: Vec<Option<(u64, u64)>> = vec![None; w.marks.len()];
    let (mut own, mut other, mut unmarked) = (0usize, 0usize, 0usize);
    let mut prev = series.first().map(|s| place.value(s.1))?;
    let first_window = w.spans.first().map(|s| s.0).unwrap_or(u64::MAX);
    let baseline = series
        .iter()
        .take_while(|s| s.0 < first_window)
        .last()
        .map_or(prev, |s| place.value(s.1));
    for &(t, word) in series.iter().skip(1) {
        let v = place.value(word);
        if v == prev {
            continue;
        }
        prev = v;
        match w.owner(t) {
            Some(i) if w.marks.get(i).is_some_and(|m| m.role == role) => {
                own += 1;
                if let Some(slot @ None) = first_change.get_mut(i) {
                    *slot = Some((t, v));
                }
            }
            Some(_) => other += 1,
            None => unmarked += 1,
        }
    }
    if own == 0 || (unmarked >= 3 && unmarked > own) {
        return None;
    }
    let role_marks: Vec<(usize, &Mark)> = w
        .marks
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == role)
        .collect();
    let mut per_label: BTreeMap<String, BTreeMap<u64, usize>> = BTreeMap::new();
    let (mut hits, mut delay_us) = (0usize, 0u64);
    for &(i, m) in &role_marks {
        if let Some(Some((t, v))) = first_change.get(i) {
            hits += 1;
            delay_us += t.abs_diff(m.at_us);
            *per_label
                .entry(m.label.clone())
                .or_default()
                .entry(*v)
                .or_default() += 1;
        }
    }
    let mut values = BTreeMap::new();
    let mut agreeing = 0;
    for (label, counts) in &per_label {
        if let Some((&v, &n)) = counts
            .iter()
            .max_by_key(|(v, n)| (**n, std::cmp::Reverse(**v)))
        {
            values.insert(label.clone(), v);
            agreeing += n;
        }
    }
    let mut distinct_values: Vec<u64> = values.values().copied().collect();
    distinct_values.dedup();
    distinct_values.sort_unstable();
    distinct_values.dedup();
    let distinct = distinct_values.len() == values.len();
    let marks = role_marks.len();
    let coverage = hits as f64 / marks as f64;
    let consistency = agreeing as f64 / hits as f64 * if distinct { 1.0 } else { 0.5 };
    let purity = own as f64 / (own as f64 + 0.25 * other as f64 + unmarked as f64);
    let mean_delay_ms = delay_us as f64 / hits as f64 / 1000.0;
    let timing = 1.0 / (1.0 + mean_delay_ms / 5000.0);
    let moving_bits = (place.mask() & analysis.active).count_ones();
    Some(Candidate {
        place,
        score: coverage * consistency * purity * timing,
        evidence: Evidence {
            hits,
            marks,
            values,
            agreeing,
            distinct,
            baseline,
            changes_in_windows: own,
            changes_in_other_windows: other,
            changes_unmarked: unmarked,
            mean_delay_ms,
            moving_bits,
            still_bits: u32::from(place.len) - moving_bits,
        },
    })
}

/// What a ranking (best first, all candidates) says: learned, tied with
/// places that share no bit with the best, weak, or nothing.
pub(crate) fn outcome(ranked: &[Candidate]) -> Outcome {
    let Some(best) = ranked.first() else {
        return Outcome::NothingChanged;
    };
    if best.score < ScoreLevel::LEARNED {
        return Outcome::Weak;
    }
    // The places within the margin, each standing for the ones it overlaps
    // (ranked first, so the widest moving field of each group names it).
    let mut places: Vec<Place> = Vec::new();
    for c in ranked
        .iter()
        .take_while(|c| best.score - c.score < ScoreLevel::TIE)
    {
        if !places.iter().any(|p| p.overlaps(&c.place)) {
            places.push(c.place);
        }
    }
    if places.len() > 1 {
        Outcome::Tied { places }
    } else {
        Outcome::Learned
    }
}

/// Best first: score; then the place that takes in more of the bits moving
/// with it; then fewer bits that never move; then the shorter, then the
/// lower place (for a stable order).
pub(crate) fn rank(candidates: &mut [Candidate]) {
    let key = |c: &Candidate| (c.score * 1e6).round() as i64;
    candidates.sort_by(|a, b| {
        key(b)
            .cmp(&key(a))
            .then(b.evidence.moving_bits.cmp(&a.evidence.moving_bits))
            .then(a.evidence.still_bits.cmp(&b.evidence.still_bits))
            .then(a.place.len.cmp(&b.place.len))
            .then(a.place.cmp(&b.place))
    });
}
