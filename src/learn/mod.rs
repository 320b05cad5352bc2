//! Learning a car's body signals from the car itself: frames and labelled
//! moments ("the lid was opened at 12.3 s") in, ranked candidate bits and
//! small fields of broadcast frames out, each with its score and evidence.
//! What experienced people do by hand with a sniffer and a notepad — press
//! the button, watch which bit flips — done carefully, with counters,
//! checksums and noisy bits recognised and set aside.
//!
//! Sans-IO: [`Learner`] takes frames (with their timestamps) and
//! [`Mark`]s, and [`Learner::finish`] ranks. No clock, no sockets, no files;
//! the CLI feeds it from a capture or a live bus, and `draft` turns the
//! result into profile TOML text.
//!
//! Owns: per-identifier series, counter and checksum detection (`frames`),
//! the scoring (`score`), the draft profile text (`draft`). Must not know
//! about transports, the analyzer, verdicts or the CLI.

mod draft;
mod frames;
pub mod guide;
mod score;

pub use draft::{draft_profile, DraftInfo};
pub use score::{Evidence, ScoreLevel};

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::frame::{CanFrame, CanId};
use crate::{diag::ids::is_diagnostic as is_diagnostic_id, profile::Role};

/// Why a mark could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LearnError {
    #[error("{text:?}: expected ROLE=VALUE@SECONDS, e.g. lid_open=1@12.5")]
    MarkSyntax { text: String },
    #[error("{text:?}: no role `{role}`: expected one of {}", Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "))]
    UnknownRole { text: String, role: String },
    #[error("{text:?}: `{seconds}` is not a number of seconds from the first frame: {source}")]
    Seconds {
        text: String,
        seconds: String,
        #[source]
        source: crate::seconds::SecondsError,
    },
    #[error("{text:?}: expected a value such as 1, 0, on, off, open, closed, locked, unlocked or accessory")]
    EmptyValue { text: String },
    #[error("{what}: no broadcast frames to learn from")]
    NoFrames { what: String },
}

/// A labelled moment: at `at_us` the person made `role` take `label`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mark {
    pub role: Role,
    /// As the person gave it, lower-cased (`1`, `on`, `accessory`).
    pub label: String,
    /// Microseconds, on the same clock as the frames.
    pub at_us: u64,
}

impl Mark {
    /// Parses `ROLE=VALUE@SECONDS`; the seconds count from `origin_us`
    /// (the capture's first frame).
    pub fn parse(text: &str, origin_us: u64) -> Result<Mark, LearnError> {
        let syntax = || LearnError::MarkSyntax {
            text: text.to_owned(),
        };
        let (role, rest) = text.trim().split_once('=').ok_or_else(syntax)?;
        let (label, secs) = rest.rsplit_once('@').ok_or_else(syntax)?;
        let role = Role::from_name(role.trim()).ok_or_else(|| LearnError::UnknownRole {
            text: text.to_owned(),
            role: role.trim().to_owned(),
        })?;
        let label = label.trim().to_ascii_lowercase();
        if label.is_empty() {
            return Err(LearnError::EmptyValue {
                text: text.to_owned(),
            });
        }
        let offset_us = crate::seconds::parse_us(secs).map_err(|source| LearnError::Seconds {
            text: text.to_owned(),
            seconds: secs.trim().to_owned(),
            source,
        })?;
        Ok(Mark {
            role,
            label,
            at_us: origin_us.saturating_add(offset_us),
        })
    }

    /// The label as 0 or 1 when it says on/off in some words; `None` for
    /// other labels (`accessory`, `start`, numbers above 1).
    pub fn binary(&self) -> Option<bool> {
        label_binary(&self.label)
    }
}

/// `on`/`off` in the words people use for the roles' states.
pub fn label_binary(label: &str) -> Option<bool> {
    match label {
        "1" | "on" | "open" | "opened" | "locked" | "lock" | "set" | "pressed" | "press"
        | "true" | "yes" | "active" | "inhibited" => Some(true),
        "0" | "off" | "closed" | "close" | "shut" | "unlocked" | "unlock" | "clear"
        | "released" | "release" | "false" | "no" | "inactive" => Some(false),
        _ => None,
    }
}

/// Settings of the scoring.
#[derive(Clone, Debug, PartialEq)]
pub struct LearnConfig {
    /// A change this long before a mark still belongs to it.
    pub before_us: u64,
    /// A change this long after a mark still belongs to it.
    pub after_us: u64,
    /// Candidates kept per role.
    pub keep: usize,
    /// GMLAN parameter ids: 29-bit frames are grouped by their 13-bit
    /// arbitration id, whatever their priority and sender (a GM body bus).
    pub gmlan: bool,
}

impl Default for LearnConfig {
    fn default() -> Self {
        LearnConfig {
            before_us: 300_000,
            after_us: 3_000_000,
            keep: 5,
            gmlan: false,
        }
    }
}

/// Why a group of bits was set aside before any mark was looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Counts up by one (mod 2^n) frame after frame: a rolling counter.
    Counter,
    /// A function (sum, XOR or CRC-8) of the other bytes.
    Checksum,
    /// Changes with nearly every frame that changes anything: a checksum of
    /// an unknown kind, or a value that moves all the time.
    Busy,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Checksum => "checksum",
            Kind::Busy => "changes with every frame (checksum or moving value)",
        }
    }
}

/// A bit or a small field of a broadcast frame: bits `lo..lo+len` of
/// byte `byte` (bit 0 least significant), on one page of a multiplexed id
/// (data byte 0 = `page`) when the frame is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Place {
    #[serde(serialize_with = "ser_display")]
    pub id: CanId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u8>,
    pub byte: u8,
    pub lo: u8,
    pub len: u8,
}

fn ser_display<S: serde::Serializer, T: fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl Place {
    /// DBC position `start|length@1+` (within one byte both byte orders agree).
    pub fn dbc(&self) -> String {
        format!(
            "{}|{}@1+",
            u16::from(self.byte) * 8 + u16::from(self.lo),
            self.len
        )
    }

    /// The field's mask over the payload read as a little-endian word.
    pub fn mask(&self) -> u64 {
        let m = if self.len >= 8 {
            0xFF
        } else {
            (1u64 << self.len) - 1
        };
        m << (u32::from(self.byte) * 8 + u32::from(self.lo))
    }

    /// The raw value in a payload word.
    pub fn value(&self, word: u64) -> u64 {
        (word & self.mask()) >> (u32::from(self.byte) * 8 + u32::from(self.lo))
    }

    /// True when the two share a bit (of the same page).
    pub fn overlaps(&self, other: &Place) -> bool {
        self.id == other.id && self.page == other.page && self.mask() & other.mask() != 0
    }

    /// The page as a profile selector (data byte 0 = the page value).
    pub fn selector(&self) -> Option<crate::profile::Selector> {
        self.page
            .map(|value| crate::profile::Selector { byte: 0, value })
    }

    /// `byte B bits 1-2`, with the byte letter of service manuals.
    pub fn words(&self) -> String {
        let letter = char::from(b'A' + self.byte);
        if self.len == 1 {
            format!("byte {letter} bit {}", self.lo)
        } else if self.len == 8 {
            format!("byte {letter}")
        } else {
            format!("byte {letter} bits {}-{}", self.lo, self.lo + self.len - 1)
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.page {
            None => write!(f, "0x{} {} ({})", self.id, self.words(), self.dbc()),
            Some(p) => write!(
                f,
                "0x{} [byte 0 = 0x{p:02X}] {} ({})",
                self.id,
                self.words(),
                self.dbc()
            ),
        }
    }
}

/// One ranked candidate for a role.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    pub place: Place,
    /// 0 to 1: coverage × consistency × purity × timing.
    pub score: f64,
    pub evidence: Evidence,
}

/// A group of bits set aside before scoring, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rejected {
    pub place: Place,
    pub kind: Kind,
    /// How it was recognised, in words.
    pub why: String,
}

/// What the marks said about one role.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// The best candidate reaches [`ScoreLevel::LEARNED`] and stands
    /// clear of every other place by [`ScoreLevel::TIE`] or more.
    Learned,
    /// Places that do not share a bit score within [`ScoreLevel::TIE`] of
    /// the best: these marks cannot tell which one is the role. Each place
    /// stands for its overlapping variants (a bit inside a field); best
    /// first.
    Tied { places: Vec<Place> },
    /// The best candidate scores below [`ScoreLevel::LEARNED`].
    Weak,
    /// Nothing changed in the marked moments.
    NothingChanged,
}

/// What was found for one role.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoleResult {
    pub role: Role,
    pub marks: usize,
    /// Best first.
    pub candidates: Vec<Candidate>,
    pub outcome: Outcome,
}

impl RoleResult {
    /// The learned place: the best candidate when it stands clear.
    pub fn best(&self) -> Option<&Candidate> {
        self.candidates
            .first()
            .filter(|_| self.outcome == Outcome::Learned)
    }
}

/// Everything [`Learner::finish`] found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Learned {
    pub frames: u64,
    /// Broadcast identifiers looked at.
    pub identifiers: usize,
    pub roles: Vec<RoleResult>,
    /// Counters, checksums and busy bytes set aside, per identifier.
    pub rejected: Vec<Rejected>,
    /// First and last frame time.
    pub span_us: Option<(u64, u64)>,
    /// 29-bit ids were grouped as GMLAN parameter ids (the draft names
    /// their frames by arbitration id).
    pub gmlan: bool,
}

impl Learned {
    pub fn role(&self, role: Role) -> Option<&RoleResult> {
        self.roles.iter().find(|r| r.role == role)
    }
}

/// Collects frames and marks; ranks when finished. Sans-IO.
#[derive(Debug, Default)]
pub struct Learner {
    cfg: LearnConfig,
    series: BTreeMap<CanId, Vec<(u64, u64)>>,
    marks: Vec<Mark>,
    frames: u64,
    span: Option<(u64, u64)>,
}

impl Learner {
    pub fn new(cfg: LearnConfig) -> Learner {
        Learner {
            cfg,
            ..Learner::default()
        }
    }

    /// One frame from the bus or a capture. Diagnostic identifiers
    /// (0x700-0x7FF), remote, error and empty frames are not broadcasts and
    /// are skipped; only the first 8 bytes are looked at.
    pub fn push(&mut self, frame: &CanFrame) {
        self.frames += 1;
        let t = frame.timestamp_us;
        self.span = Some(match self.span {
            None => (t, t),
            Some((a, b)) => (a.min(t), b.max(t)),
        });
        let gm_diagnostic = self.cfg.gmlan && crate::diag::gmlan::is_diagnostic_id(frame.id);
        if !frame.is_data() || frame.is_empty() || is_diagnostic_id(frame.id) || gm_diagnostic {
            return;
        }
        let mut word = [0u8; 8];
        for (w, b) in word.iter_mut().zip(frame.data()) {
            *w = *b;
        }
        // One frame of a GM body bus comes under several 29-bit ids.
        let id = match crate::profile::gmlan_arbitration_id(frame.id) {
            Some(arb) if self.cfg.gmlan => crate::profile::gmlan_canonical_id(arb),
            _ => frame.id,
        };
        self.series
            .entry(id)
            .or_default()
            .push((t, u64::from_le_bytes(word)));
    }

    /// A labelled moment.
    pub fn mark(&mut self, mark: Mark) {
        self.marks.push(mark);
    }

    pub fn marks(&self) -> &[Mark] {
        &self.marks
    }

    /// Time of the first frame seen, the origin of `@SECONDS` marks.
    pub fn first_frame_us(&self) -> Option<u64> {
        self.span.map(|s| s.0)
    }

    /// Ranks the candidates of every marked role, in role-table order.
    pub fn finish(&self) -> Learned {
        let mut marks = self.marks.clone();
        marks.sort_by_key(|m| m.at_us);
        let windows = score::Windows::new(&marks, &self.cfg);
        let mut rejected = Vec::new();
        let mut per_id = Vec::new();
        for (&id, series) in &self.series {
            // A frame multiplexed by byte 0 is learned page by page: a
            // role bit lives on one page, other pages carry other things.
            match frames::pages(series) {
                Some(pages) => {
                    for (page, part) in pages {
                        let analysis = frames::analyse(id, Some(page), &part);
                        rejected.extend(analysis.rejected.iter().cloned());
                        per_id.push((std::borrow::Cow::Owned(part), analysis));
                    }
                }
                None => {
                    let analysis = frames::analyse(id, None, series);
                    rejected.extend(analysis.rejected.iter().cloned());
                    per_id.push((std::borrow::Cow::Borrowed(series.as_slice()), analysis));
                }
            }
        }
        let mut roles: Vec<Role> = marks.iter().map(|m| m.role).collect();
        roles.sort();
        roles.dedup();
        let roles = roles
            .into_iter()
            .map(|role| {
                let mut candidates = Vec::new();
                for (series, analysis) in &per_id {
                    for place in &analysis.candidates {
                        if let Some(c) = score::score(role, *place, series, analysis, &windows) {
                            candidates.push(c);
                        }
                    }
                }
                score::rank(&mut candidates);
                let outcome = score::outcome(&candidates);
                candidates.truncate(self.cfg.keep);
                RoleResult {
                    role,
                    marks: marks.iter().filter(|m| m.role == role).count(),
                    candidates,
                    outcome,
                }
            })
            .collect();
        Learned {
            frames: self.frames,
            identifiers: self.series.len(),
            roles,
            rejected,
            span_us: self.span,
            gmlan: self.cfg.gmlan,
        }
    }
}

#[cfg(test)]
mod tests;
