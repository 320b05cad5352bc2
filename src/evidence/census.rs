//! The census: every frame counted, the ids the profile does not know
//! listed (diagnostic ids, [`is_diagnostic`], never are).

use serde::Serialize;

use super::Evidence;
use crate::diag::ids::is_diagnostic;
use crate::frame::{CanFrame, CanId};

/// An identifier the profile does not know (diagnostic ids never counted).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnknownId {
    /// As candump prints it.
    pub id: String,
    pub count: u64,
    pub first_us: u64,
}

impl Evidence {
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

    /// The unknown ids counted, in id order.
    pub(super) fn list_census(&mut self) {
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
    }
}
