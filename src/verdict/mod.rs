//! Rules that turn an [`Evidence`] record and a [`Profile`] into ranked
//! verdicts (first = most likely). Every verdict carries its evidence lines,
//! next steps cheapest first, the model's `access_now` lines, the safety
//! lines, and what it rests on below "this model" (related-model,
//! placeholder and learned profile items).
//!
//! Owns, one idea per file: the rule table (`table`), what the conditions
//! share (`facts`), the conditions (`conditions/`), the narrowing tables
//! (`narrowing`), the ranking (`rank`), the wording of a verdict (`words`,
//! with the fixed lines in `text`) and `docs/rules.md` (`document`). Must
//! not know about frames, transports, TOML or output formatting (the CLI
//! prints; verdicts only `Serialize`).

mod conditions;
mod document;
mod facts;
mod finding;
mod narrowing;
mod rank;
mod table;
pub mod text;
mod words;

use serde::Serialize;

use crate::observation::ObservationKey;
use crate::profile::Level;

pub use crate::cause::{Cause, CAUSE_IDS};
pub use document::document as rules_document;
pub use facts::{outcome, Outcome};
pub use rank::{diagnose, fired};
pub use table::{Rule, RuleId, Strength, Supports, RULES};

/// How sure the tool is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

/// The cause a verdict names: one of the cause table, or one a profile
/// adds (`[[cause]]`, named by its DTC table). Profiles may not redefine a
/// built-in id, so build one from an id with [`VerdictId::of_id`], which
/// never puts a built-in id in the `Profile` arm.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VerdictId {
    /// A cause of the cause table.
    Known(Cause),
    /// A cause id the profile adds.
    Profile(String),
}

impl VerdictId {
    /// A cause id as a profile's DTC table gives it.
    pub fn of_id(id: &str) -> VerdictId {
        id.parse()
            .map_or_else(|_| VerdictId::Profile(id.to_owned()), VerdictId::Known)
    }

    /// The stable id (JSON, text, file names).
    pub fn id(&self) -> &str {
        match self {
            VerdictId::Known(c) => c.id(),
            VerdictId::Profile(id) => id,
        }
    }
}

impl From<Cause> for VerdictId {
    fn from(c: Cause) -> VerdictId {
        VerdictId::Known(c)
    }
}

impl std::fmt::Display for VerdictId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// The stable id, as a string.
impl Serialize for VerdictId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// One possible cause, with everything the user needs to act on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The cause: the cause table's, or a profile-added cause.
    pub id: VerdictId,
    pub confidence: Confidence,
    /// How strongly the evidence points here (ranks the verdicts).
    pub strength: Strength,
    /// The rule that ranked it (`docs/rules.md`).
    pub rule: RuleId,
    /// One plain sentence.
    pub summary: String,
    pub explanation: String,
    /// What it rests on: times, frames, DTCs, items (the items below "this
    /// model" are in `rests_on`, not here).
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
    pub fn asks(&self) -> &'static [ObservationKey] {
        self.rule.rule().asks
    }

    /// True when this verdict is a fault (exit code 1), false for `no-fault-found`.
    pub fn is_fault(&self) -> bool {
        self.id != VerdictId::Known(Cause::NoFaultFound)
    }
}

/// The JSON of a verdict. Its `evidence` list ends with one line per level
/// of `rests_on` (`placeholder, confirm on the vehicle: ...`), as it always
/// has, so scripts that read only `evidence` still see what it rests on;
/// the verdict itself keeps the two apart.
impl Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            id: &'a VerdictId,
            confidence: Confidence,
            strength: Strength,
            rule: RuleId,
            summary: &'a str,
            explanation: &'a str,
            evidence: Vec<std::borrow::Cow<'a, str>>,
            next_steps: &'a [String],
            unverified: bool,
            rests_on: &'a [RestsOn],
            access_now: &'a [String],
            safety: &'a [String],
        }
        let evidence = self
            .evidence
            .iter()
            .map(|l| std::borrow::Cow::Borrowed(l.as_str()))
            .chain(self.rests_on.iter().map(|r| r.line().into()))
            .collect();
        Json {
            id: &self.id,
            confidence: self.confidence,
            strength: self.strength,
            rule: self.rule,
            summary: &self.summary,
            explanation: &self.explanation,
            evidence,
            next_steps: &self.next_steps,
            unverified: self.unverified,
            rests_on: &self.rests_on,
            access_now: &self.access_now,
            safety: &self.safety,
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests;
