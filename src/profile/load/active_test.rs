//! `[active_test]`: firing the trunk opener on request.

use super::*;

impl Builder {
    /// The start and stop exchanges and the longest drive allowed.
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
        ActiveTest {
            start,
            stop,
            max_duration_ms: ms,
        }
    }
}
