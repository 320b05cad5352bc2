//! Presses: a rising request edge is one unless its item toggles by itself
//! or the presses are capped; each opens the window the series keep, as an
//! accepted active test does.

use serde::Serialize;

use super::{Evidence, Seen};
use crate::profile::{ItemRef, ReleaseInput, Role};

/// A rising request edge: someone pressed, or the bus says so; or a press
/// the person told the tool about (`item` `None`) on a car whose bus does
/// not show that input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Press {
    pub t_us: u64,
    pub input: ReleaseInput,
    /// The request item whose edge it was; `None` for a told press.
    pub item: Option<ItemRef>,
    /// A told press happened between `t_us` and this (the question and the
    /// person's answer); `t_us` for a press seen on the bus.
    pub until_us: u64,
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

impl Evidence {
    /// A rising edge of a request item: a press, unless the item is
    /// toggling by itself or the presses are capped.
    pub(super) fn request_edge(&mut self, t_us: u64, role: Role, item: ItemRef) {
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
        self.presses.push(Press {
            t_us,
            input,
            item: Some(item),
            until_us: t_us,
        });
        self.open_window(t_us);
    }

    /// A press the person told the tool about (a prompt answered, a
    /// recording's `# press` line): when it happened, between `t_us` and
    /// `until_us` (the question and the answer; the same time for a press a
    /// simulated person makes), its input, no item. For a car whose bus
    /// does not show presses (no body module published).
    pub fn told_press(&mut self, t_us: u64, until_us: u64, input: ReleaseInput) {
        if self.presses.len() >= self.limits.presses {
            return;
        }
        let until_us = until_us.max(t_us);
        self.presses.push(Press {
            t_us,
            input,
            item: None,
            until_us,
        });
        self.open_window(t_us);
        self.open_window(until_us);
    }

    /// Keeps every item's changes within the window either side of `t_us`.
    pub(super) fn open_window(&mut self, t_us: u64) {
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
}

/// The recording line of a press the person told the tool about: `press
/// fob 1700000002.028000` (the input, then the time on the frames' clock,
/// seconds). Written after the frames heard up to then; read back by a
/// replay of the recording.
pub fn told_press_line(t_us: u64, until_us: u64, input: ReleaseInput) -> String {
    let secs = |t: u64| format!("{}.{:06}", t / 1_000_000, t % 1_000_000);
    if until_us > t_us {
        format!("press {} {} {}", input.as_str(), secs(t_us), secs(until_us))
    } else {
        format!("press {} {}", input.as_str(), secs(t_us))
    }
}

/// Reads a [`told_press_line`]: `(from, until, input)`; `None` for any
/// other comment.
pub fn parse_told_press(text: &str) -> Option<(u64, u64, ReleaseInput)> {
    let mut words = text.split_whitespace();
    if words.next()? != "press" {
        return None;
    }
    let input = match words.next()? {
        "fob" => ReleaseInput::Fob,
        "cabin" => ReleaseInput::Cabin,
        _ => return None,
    };
    let time = |w: &str| -> Option<u64> {
        let (secs, frac) = w.split_once('.')?;
        if frac.len() != 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let secs: u64 = secs.parse().ok()?;
        let frac: u64 = frac.parse().ok()?;
        secs.checked_mul(1_000_000)?.checked_add(frac)
    };
    let from = time(words.next()?)?;
    let until = match words.next() {
        Some(w) => time(w).filter(|&u| u >= from)?,
        None => from,
    };
    if words.next().is_some() {
        return None;
    }
    Some((from, until, input))
}
