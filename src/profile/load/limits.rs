//! `[limits]`: the low-battery threshold and the release window.

use super::*;

impl Builder {
    /// The limits, defaults where not given.
    pub(super) fn limits(&mut self, limits: &Section<schema::Limits>) -> Limits {
        let mut lim = Limits {
            low_battery_volts: DEFAULT_LOW_BATTERY_VOLTS,
            release_window_us: u64::from(DEFAULT_RELEASE_WINDOW_MS) * 1000,
        };
        if let Some((fi, l)) = limits {
            let l = l.get_ref();
            if let Some(v) = &l.low_battery_volts {
                if !(5.0..=30.0).contains(v.get_ref()) {
                    self.at(*fi, v.span(), "expected low_battery_volts from 5.0 to 30.0");
                }
                lim.low_battery_volts = *v.get_ref();
            }
            if let Some(w) = &l.release_window_ms {
                if !(100..=60_000).contains(w.get_ref()) {
                    self.at(
                        *fi,
                        w.span(),
                        "expected release_window_ms from 100 to 60000",
                    );
                }
                lim.release_window_us = u64::from(*w.get_ref()) * 1000;
            }
        }
        lim
    }
}
