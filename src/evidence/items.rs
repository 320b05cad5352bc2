//! The profile items the evidence rests on, with their provenance.

use serde::Serialize;

use super::{Evidence, SessionStart};
use crate::profile::{ItemRef, Level};

/// A profile item the evidence used, with its provenance level.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemUse {
    pub item: ItemRef,
    /// `TR CANCEL SW (KWP 21 44 A.7)`.
    pub label: String,
    pub level: Level,
    pub source: String,
}

impl Evidence {
    pub(super) fn derive_items_used(&mut self) {
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
                    level: i.level,
                    source: i.source.clone(),
                })
            })
            .collect();
    }
}
