//! `[active_test]`: firing the trunk opener on request.

use super::*;

impl Builder {
    /// The start and stop exchanges, the longest drive allowed, the BCM's
    /// cool-down after a pulse and the most firings per run (defaults
    /// [`ActiveTest::DEFAULT_COOLDOWN_MS`], [`ActiveTest::DEFAULT_MAX_FIRINGS`]).
    pub(super) fn active_test(&mut self, fi: usize, a: schema::ActiveTest) -> ActiveTest {
        let start = self.exchange(fi, "active test: fire the trunk opener", &a.start);
        let stop = a
            .stop
            .as_ref()
            .map(|s| self.exchange(fi, "active test: stop", s));
        let ms = *a.max_duration_ms.get_ref();
        if ms == 0 || ms > 10_000 {
            self.at(
                fi,
                a.max_duration_ms.span(),
                format!("expected max_duration_ms from 1 to 10000, found {ms}"),
            );
        }
        let cooldown_ms = match &a.cooldown_ms {
            Some(c) if *c.get_ref() > 60_000 => {
                self.at(
                    fi,
                    c.span(),
                    format!(
                        "expected cooldown_ms from 0 to 60000, found {}",
                        c.get_ref()
                    ),
                );
                ActiveTest::DEFAULT_COOLDOWN_MS
            }
            Some(c) => *c.get_ref(),
            None => ActiveTest::DEFAULT_COOLDOWN_MS,
        };
        let max_firings = match &a.max_firings {
            Some(n) if !(1..=5).contains(n.get_ref()) => {
                self.at(
                    fi,
                    n.span(),
                    format!("expected max_firings from 1 to 5, found {}", n.get_ref()),
                );
                ActiveTest::DEFAULT_MAX_FIRINGS
            }
            Some(n) => *n.get_ref(),
            None => ActiveTest::DEFAULT_MAX_FIRINGS,
        };
        ActiveTest {
            start,
            stop,
            max_duration_ms: ms,
            cooldown_ms,
            max_firings,
        }
    }
}
