//! A cause the rules found, before wording: what ranking merges and orders
//! and what `words` turns into a [`Verdict`](super::Verdict).

use std::cmp::Reverse;

use super::table::{Rule, Strength};
use super::Confidence;
use super::VerdictId;
use crate::profile::ItemRef;

/// A cause the rules found, before wording.
pub(in crate::verdict) struct Finding {
    pub(in crate::verdict) cause: VerdictId,
    pub(in crate::verdict) words: Option<(&'static str, &'static str)>,
    /// The row that found it: strength, name and questions come from it.
    pub(in crate::verdict) rule: &'static Rule,
    /// Rank key: strength (higher first), row, place in a set.
    pub(in crate::verdict) row: usize,
    pub(in crate::verdict) place: usize,
    pub(in crate::verdict) confidence: Confidence,
    pub(in crate::verdict) evidence: Vec<String>,
    pub(in crate::verdict) items: Vec<ItemRef>,
    pub(in crate::verdict) notes: Vec<String>,
}

impl Finding {
    pub(in crate::verdict) fn rank(&self) -> (Reverse<Strength>, usize, usize) {
        (Reverse(self.rule.strength), self.row, self.place)
    }

    /// Takes the better rank of the two and unites the rest.
    pub(in crate::verdict) fn merge(&mut self, x: Finding) {
        if x.rank() < self.rank() {
            (self.rule, self.row, self.place, self.words) = (x.rule, x.row, x.place, x.words);
        }
        self.confidence = self.confidence.max(x.confidence);
        for l in x.evidence {
            if !self.evidence.contains(&l) {
                self.evidence.push(l);
            }
        }
        self.items.extend(x.items);
        for n in x.notes {
            if !self.notes.contains(&n) {
                self.notes.push(n);
            }
        }
    }
}
