//! Rules that turn an [`Evidence`] record and a [`Profile`] into ranked
//! verdicts (first = most likely). Every verdict carries its evidence lines,
//! next steps cheapest first, the model's `access_now` lines, the safety
//! lines, and what it rests on below "this model" (related-model,
//! placeholder and learned profile items).
//!
//! Owns: the rules as one table and the ranking (`rules.rs`) and the words (`text.rs`). Must
//! not know about frames, transports, TOML or output formatting (the CLI
//! prints; verdicts only `Serialize`).

mod rules;
pub mod text;

use serde::Serialize;

use crate::profile::Level;

pub use crate::cause::{Cause, CAUSE_IDS};
pub use rules::{diagnose, document as rules_document, outcome, Outcome, Rule, Strength, RULES};

/// How sure the tool is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

/// One possible cause, with everything the user needs to act on it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// Stable id (diagnosis.md, or a profile-added cause id).
    pub id: String,
    pub confidence: Confidence,
    /// How strongly the evidence points here (ranks the verdicts).
    pub strength: Strength,
    /// The rule that ranked it (`docs/rules.md`).
    pub rule: &'static str,
    /// One plain sentence.
    pub summary: String,
    pub explanation: String,
    /// What it rests on: times, frames, DTCs, items.
    pub evidence: Vec<String>,
    /// Cheapest first.
    pub next_steps: Vec<String>,
    /// True when any evidence it rests on comes from a placeholder item
    /// (`level = "placeholder"`): confirm on the vehicle.
    pub unverified: bool,
    /// The items it rests on below "this model", grouped by level
    /// (related model, placeholder, learned), strongest first.
    pub rests_on: Vec<RestsOn>,
    /// How to get into this model's trunk now.
    pub access_now: Vec<String>,
    pub safety: Vec<String>,
}

/// The items of one level a verdict rests on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RestsOn {
    pub level: Level,
    /// The level in the user's words ("from a related model").
    pub words: &'static str,
    /// Item labels, e.g. `TR CANCEL SW (KWP 21 44 A.7)`.
    pub items: Vec<String>,
}

impl RestsOn {
    /// `placeholder, confirm on the vehicle: TR CANCEL SW (KWP 21 44 A.7)`.
    pub fn line(&self) -> String {
        text::rests_on_line(self.level, &self.items)
    }
}

impl Verdict {
    /// Observation keys whose answers would change or narrow this verdict:
    /// those of the rule that ranked it.
    pub fn asks(&self) -> &'static [&'static str] {
        RULES
            .iter()
            .find(|r| r.name == self.rule)
            .map_or(&[], |r| r.asks)
    }

    /// True when this verdict is a fault (exit code 1), false for `no-fault-found`.
    pub fn is_fault(&self) -> bool {
        self.id != Cause::NoFaultFound.id()
    }
}

#[cfg(test)]
mod tests;
