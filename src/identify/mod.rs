//! Which car is this: a fingerprint of every profile, derived from what the
//! profile already says (its decoded broadcast frames and the bytes their
//! signals need, its census of the bus, its body module's diagnostic ids),
//! scored against the opening seconds of a bus. Sans-IO: frames in
//! ([`Heard::push`]), ranked candidates out ([`identify`]).
//!
//! What counts:
//! - a profile frame **matches** when its id was heard at least twice with
//!   one length, long enough for every signal the profile reads in it (a
//!   real node sends an id with one length, again and again; a random bus
//!   does not);
//! - with a complete census, a steady id the profile does not list is
//!   **foreign** and counts against the profile;
//! - a request in the profile's diagnostic protocol on its body module's
//!   request id, and anything on its response id, is diagnostic evidence
//!   (a tester spoke to that module), worth less than the body frames.
//!
//! Candidates whose evidence is the same are a **tie**: nothing heard tells
//! them apart, and the choice says so. A VIN always wins over a fingerprint
//! (the caller decides; see `diagnose::choose_profile`).

pub mod opendbc;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::diag::Protocol;
use crate::frame::{CanFrame, CanId};
use crate::profile::{gmlan_arbitration_id, Profile};

/// How much of the bus identification reads: the opening seconds (bus
/// time from the first frame) or this many frames, whichever comes first.
pub const WINDOW_US: u64 = 5_000_000;
pub const WINDOW_FRAMES: u64 = 50_000;
/// Distinct ids kept; more are counted, not kept (a random bus).
const MAX_IDS: usize = 4096;

/// A clear winner scores at least this much...
pub const CLEAR: f64 = 0.6;
/// ...and this much more than the next candidate that is not tied with it.
pub const MARGIN: f64 = 0.1;
/// Below this, a candidate is not named at all.
pub const AT_ALL: f64 = 0.05;

/// One id as heard: how often, with which lengths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub frames: u32,
    /// Frames that read as ISO-TP (a single, first, consecutive or flow
    /// control frame, with or without an address byte first).
    isotp: u32,
    /// Bit n set: a frame of n bytes was heard (0..=64; FD lengths too).
    lens: u128,
}

impl Seen {
    /// The one length the id was heard with, if only one.
    pub fn steady_len(&self) -> Option<usize> {
        (self.lens.count_ones() == 1).then(|| self.lens.trailing_zeros() as usize)
    }

    /// Heard at least twice, always with the same length.
    pub fn is_steady(&self) -> bool {
        self.frames >= 2 && self.steady_len().is_some()
    }

    fn lens_text(&self) -> String {
        (0..=64u32)
            .filter(|n| self.lens & (1u128 << n) != 0)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// What the opening seconds of a bus held, bounded.
#[derive(Clone, Debug, Default)]
pub struct Heard {
    pub ids: BTreeMap<CanId, Seen>,
    /// Frames on ids past [`MAX_IDS`] (counted, not kept).
    pub overflow: u64,
    pub frames: u64,
    first_us: Option<u64>,
    last_us: u64,
    /// Single frames seen, per id and extended address byte (`None`:
    /// normal addressing): the service bytes (a bit per service id in 4
    /// words). Bounded like `ids`.
    requests: BTreeMap<(CanId, Option<u8>), [u64; 4]>,
}

impl Heard {
    /// Takes one frame; error and remote frames are skipped.
    pub fn push(&mut self, f: &CanFrame) {
        if !f.is_data() {
            return;
        }
        self.frames += 1;
        let first = *self.first_us.get_or_insert(f.timestamp_us);
        self.last_us = self.last_us.max(f.timestamp_us).max(first);
        let len = f.len().min(64);
        let room = self.ids.len() < MAX_IDS;
        let isotp = u32::from(reads_as_isotp(f.data(), 0) || reads_as_isotp(f.data(), 1));
        match self.ids.get_mut(&f.id) {
            Some(s) => {
                s.frames = s.frames.saturating_add(1);
                s.isotp = s.isotp.saturating_add(isotp);
                s.lens |= 1u128 << len;
            }
            None if room => {
                self.ids.insert(
                    f.id,
                    Seen {
                        frames: 1,
                        isotp,
                        lens: 1u128 << len,
                    },
                );
            }
            None => self.overflow += 1,
        }
        // A single frame (PCI 0x0N, N in 1..=7) and the service id after
        // it: a tester's request or a module's answer; with extended
        // addressing the address byte comes first.
        if !room && !self.requests.contains_key(&(f.id, None)) {
            return;
        }
        let d = f.data();
        for (at, address) in [(0usize, None), (1, d.first().copied())] {
            let (Some(&pci), Some(&sid)) = (d.get(at), d.get(at + 1)) else {
                continue;
            };
            let n = usize::from(pci & 0x0F);
            if pci >> 4 == 0 && (1..=7).contains(&n) && at + n < d.len() {
                let words = self.requests.entry((f.id, address)).or_insert([0; 4]);
                if let Some(w) = words.get_mut(usize::from(sid >> 6)) {
                    *w |= 1u64 << (sid & 0x3F);
                }
            }
        }
    }

    /// True once the window is read: stop feeding.
    pub fn full(&self) -> bool {
        self.frames >= WINDOW_FRAMES
            || self
                .first_us
                .is_some_and(|f| self.last_us.saturating_sub(f) >= WINDOW_US)
    }

    /// Seconds of bus time heard.
    pub fn seconds(&self) -> f64 {
        self.first_us
            .map_or(0.0, |f| self.last_us.saturating_sub(f) as f64 / 1e6)
    }

    fn seen(&self, id: CanId) -> Option<&Seen> {
        self.ids.get(&id)
    }

    /// A 29-bit id heard whose GMLAN arbitration id is `arb`.
    fn seen_gmlan(&self, arb: u16) -> Option<&Seen> {
        self.ids
            .iter()
            .filter(|(id, _)| gmlan_arbitration_id(**id) == Some(arb))
            .map(|(_, s)| s)
            .max_by_key(|s| s.frames)
    }

    /// Every frame on `id` read as ISO-TP: a diagnostic conversation, not
    /// a random or broadcast id.
    fn is_isotp(&self, id: CanId) -> bool {
        self.seen(id)
            .is_some_and(|s| s.frames > 0 && s.isotp == s.frames)
    }

    fn services(&self, id: CanId, address: Option<u8>) -> impl Iterator<Item = u8> + '_ {
        let words = self.requests.get(&(id, address)).copied().unwrap_or([0; 4]);
        (0u16..=255).filter_map(move |sid| {
            let w = words.get(usize::from(sid >> 6)).copied().unwrap_or(0);
            (w & (1u64 << (sid & 0x3F)) != 0).then_some(sid as u8)
        })
    }

    /// Steady ids outside the diagnostic range.
    fn steady_body_ids(&self) -> impl Iterator<Item = (CanId, &Seen)> + '_ {
        self.ids
            .iter()
            .filter(|(id, s)| s.is_steady() && !crate::diag::ids::is_diagnostic(**id))
            .map(|(id, s)| (*id, s))
    }

    /// Whether diagnostic traffic was heard (a tester here): an id in the
    /// diagnostic range whose every frame reads as ISO-TP.
    fn has_diagnostics(&self) -> bool {
        self.requests
            .keys()
            .any(|(id, _)| crate::diag::ids::is_diagnostic(*id) && self.is_isotp(*id))
    }
}

/// A frame a profile decodes, as the fingerprint expects it on the bus.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expected {
    /// `0x358`, or `GMLAN 0x0F1` for a parameter-id frame.
    pub label: String,
    #[serde(skip)]
    id: CanId,
    #[serde(skip)]
    gmlan: Option<u16>,
    /// The bytes the profile's signals in it need.
    pub min_len: usize,
}

/// A profile's fingerprint, derived from the profile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fingerprint {
    pub profile: String,
    pub make: String,
    /// `Nissan Altima 2013-2018`.
    pub name: String,
    /// Per bus name: the decoded frames sent on it.
    pub buses: Vec<(String, Vec<Expected>)>,
    /// Every id the profile lists on its bus (census and frames).
    #[serde(skip)]
    known: Vec<CanId>,
    pub census_complete: bool,
    /// The body module's request and response ids, and the service ids a
    /// tester of its protocol sends.
    #[serde(skip)]
    bcm: Option<(CanId, CanId, Protocol, Option<u8>)>,
    /// The address byte its answers carry (extended addressing).
    #[serde(skip)]
    resp_address: Option<u8>,
    /// `[census.recorded]`: the bus it is of and the ids (with lengths) a
    /// real car of this model carried there, sorted.
    #[serde(skip)]
    recorded: Option<(String, Vec<(CanId, usize)>)>,
}

impl Fingerprint {
    pub fn of(p: &Profile) -> Fingerprint {
        let mut buses: Vec<(String, Vec<Expected>)> = Vec::new();
        for f in &p.frames {
            let min_len = f
                .signals
                .iter()
                .map(|s| s.bits.min_payload_len())
                .chain(f.selector.map(|s| usize::from(s.byte) + 1))
                .max()
                .unwrap_or(1);
            let label = crate::profile::frame_label(f.id, f.gmlan_arbitration_id, None);
            let e = Expected {
                label,
                id: f.id,
                gmlan: f.gmlan_arbitration_id,
                min_len,
            };
            match buses.iter_mut().find(|(b, _)| *b == f.bus) {
                Some((_, v)) => {
                    // Pages of one multiplexed id are one frame on the bus.
                    match v.iter_mut().find(|x| x.id == e.id && x.gmlan == e.gmlan) {
                        Some(x) => x.min_len = x.min_len.max(e.min_len),
                        None => v.push(e),
                    }
                }
                None => buses.push((f.bus.clone(), vec![e])),
            }
        }
        let mut known: Vec<CanId> = p.known_ids.iter().copied().collect();
        known.sort();
        Fingerprint {
            profile: p.id.clone(),
            make: p.make.clone(),
            name: format!("{} {} {}-{}", p.make, p.model, p.years.0, p.years.1),
            buses,
            known,
            census_complete: p.census_complete,
            recorded: p
                .recorded
                .as_ref()
                .map(|r| (r.bus.clone(), r.frames.clone())),
            resp_address: p.bcm().and_then(|b| match b.addressing {
                crate::profile::Addressing::Extended { source, .. } => Some(source),
                crate::profile::Addressing::Normal => None,
            }),
            bcm: p.bcm().filter(|b| b.answers).map(|b| {
                let address = match b.addressing {
                    crate::profile::Addressing::Extended { target, .. } => Some(target),
                    crate::profile::Addressing::Normal => None,
                };
                (b.request_id, b.response_id, b.protocol, address)
            }),
        }
    }
}

/// How one profile matched.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    pub profile: String,
    pub make: String,
    pub name: String,
    /// 0..=1.
    pub score: f64,
    /// The bus of the profile this matched best.
    pub bus: String,
    /// Decoded frames heard steadily with a fitting length.
    pub matched: Vec<String>,
    /// Decoded frames not heard (or not steadily).
    pub missing: Vec<String>,
    /// Heard, but with another length than the profile needs.
    pub other_length: Vec<String>,
    /// Steady ids a complete census does not list, or that another make's
    /// profile decodes.
    pub foreign: Vec<String>,
    /// What the diagnostic traffic said: `requests to 0x745`, `answers on 0x765`.
    pub diagnostics: Vec<String>,
    /// Steady ids heard that the profile does not know at all.
    pub unknown_ids: usize,
    /// Steady ids heard, with their length, that a real car of this model
    /// carried (`[census.recorded]`), beside the frames in `matched`; and
    /// how many ids that recording holds (0: the profile has none).
    pub recorded: usize,
    pub recorded_of: usize,
}

impl Candidate {
    /// `4 of 4 frames (0x60D, 0x358, 0x284, 0x6F6), requests to 0x745`.
    pub fn words(&self) -> String {
        let total = self.matched.len() + self.missing.len() + self.other_length.len();
        let mut parts = vec![format!(
            "{} of {} frames{}",
            self.matched.len(),
            total,
            if self.matched.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.matched.join(", "))
            }
        )];
        if !self.missing.is_empty() {
            parts.push(format!("missing {}", self.missing.join(", ")));
        }
        if !self.other_length.is_empty() {
            parts.push(format!("other length {}", self.other_length.join(", ")));
        }
        if self.recorded > 0 {
            parts.push(format!(
                "{} of the {} other ids a recorded car of this model carried",
                self.recorded, self.recorded_of
            ));
        }
        if !self.foreign.is_empty() {
            let shown: Vec<&str> = self.foreign.iter().take(6).map(String::as_str).collect();
            let more = self.foreign.len().saturating_sub(shown.len());
            parts.push(format!(
                "{} id(s) {} ({}{})",
                self.foreign.len(),
                if self.recorded > 0 {
                    "neither its census nor the recorded car has"
                } else {
                    "its census does not list"
                },
                shown.join(", "),
                if more > 0 { ", ..." } else { "" }
            ));
        }
        parts.extend(self.diagnostics.iter().cloned());
        parts.join("; ")
    }
}

/// What identification decided.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Decision {
    /// One profile, clearly ahead.
    Profile { profile: String },
    /// Candidates whose evidence is the same: the first is used, the tie said.
    Tie { profiles: Vec<String> },
    /// The best candidates share a make but none fits well: the make only.
    Make { make: String },
    /// No bundled profile; an opendbc database's ids fit the bus.
    Opendbc {
        dbc: String,
        matched: usize,
        of: usize,
    },
    /// Nothing fits.
    None,
}

/// The ranked candidates and the decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Identification {
    /// Seconds of bus time and frames the decision rests on.
    pub seconds: f64,
    pub frames: u64,
    pub decision: Decision,
    /// The winner's score minus the next candidate's not tied with it.
    pub margin: f64,
    /// Best first; those scoring at least [`AT_ALL`].
    pub candidates: Vec<Candidate>,
}

impl Identification {
    /// The profile to use, when the decision names one (or a tie's first).
    pub fn profile(&self) -> Option<&str> {
        match &self.decision {
            Decision::Profile { profile } => Some(profile),
            Decision::Tie { profiles } => profiles.first().map(String::as_str),
            _ => None,
        }
    }

    /// One sentence: what the bus matched and how sure that is.
    pub fn words(&self) -> String {
        let best = self.candidates.first();
        match (&self.decision, best) {
            (Decision::Profile { profile }, Some(c)) => format!(
                "the bus matches {profile}: {} (score {:.2}, {:.2} ahead of the next)",
                c.words(),
                c.score,
                self.margin
            ),
            (Decision::Tie { profiles }, Some(c)) => format!(
                "the bus matches {} equally: {}; nothing heard tells them apart, so {} is used \
                 (name the car with --profile to choose)",
                profiles.join(" and "),
                c.words(),
                profiles.first().map_or("", String::as_str)
            ),
            (Decision::Make { make }, Some(_)) => {
                // The make's closest profile, not a lone frame of another.
                let c = self
                    .candidates
                    .iter()
                    .find(|c| c.make == *make && !c.matched.is_empty())
                    .or(best)
                    .expect("a candidate");
                format!(
                    "the bus looks like a {make}, but no bundled {make} profile fits it: closest \
                 {} ({}; score {:.2})",
                    c.profile,
                    c.words(),
                    c.score
                )
            }
            (Decision::Opendbc { dbc, matched, of }, _) => format!(
                "looks like opendbc's {dbc} ({matched} of {of} steady ids with its lengths): no \
                 trunkdiag profile yet; `learn` or `profiles import-dbc` can start one"
            ),
            _ => format!(
                "the bus matches no profile ({} frame(s) in {:.1} s)",
                self.frames, self.seconds
            ),
        }
    }
}

/// Scores one fingerprint against what was heard, on its best bus.
pub fn score(fp: &Fingerprint, heard: &Heard) -> Candidate {
    score_among(fp, heard, &[])
}

/// [`score`], with the frames other makes' profiles decode (`others`: id
/// and make): one of those heard steadily, which this profile does not
/// know, counts against it even when its census is incomplete (a Ford
/// body frame on the bus is evidence against a Nissan).
pub fn score_among(fp: &Fingerprint, heard: &Heard, others: &[(CanId, String)]) -> Candidate {
    let body: Vec<(CanId, &Seen)> = heard.steady_body_ids().collect();
    let diagnostics = diagnostic_evidence(fp, heard);
    let diag_points = diagnostics.len() as f64;
    // Diagnostic traffic here (GM's body module asks on 0x241, outside
    // the usual range): its presence or absence is evidence.
    let diag_here = fp.bcm.is_some() && (heard.has_diagnostics() || !diagnostics.is_empty());
    let own_ids: Vec<CanId> = fp.bcm.map(|b| vec![b.0, b.1]).unwrap_or_default();
    let mut best: Option<Candidate> = None;
    // A profile decoding no frame still has its body module to score.
    let none = [(String::new(), Vec::new())];
    let buses: &[(String, Vec<Expected>)] = if fp.buses.is_empty() {
        &none
    } else {
        &fp.buses
    };
    for (bus, expected) in buses {
        // A recording of a real car of this model on this bus: its ids are
        // the model's (evidence for), others another model's (against).
        let recorded: &[(CanId, usize)] = match &fp.recorded {
            Some((b, r)) if b == bus => r,
            _ => &[],
        };
        let in_recording = |id: &CanId| recorded.binary_search_by(|(r, _)| r.cmp(id)).ok();
        let (mut matched, mut missing, mut other_length) = (Vec::new(), Vec::new(), Vec::new());
        // Missing frames the recorded car did not carry either: a related
        // model's frame this model lacks is no evidence against it.
        let mut missing_expected = 0usize;
        for e in expected {
            let seen = match e.gmlan {
                Some(arb) => heard.seen_gmlan(arb),
                None => heard.seen(e.id),
            };
            match seen {
                Some(s) if s.is_steady() && s.steady_len().is_some_and(|n| n >= e.min_len) => {
                    matched.push(e.label.clone())
                }
                Some(s) if s.frames >= 2 => {
                    other_length.push(format!("{} ({} byte(s))", e.label, s.lens_text()))
                }
                _ => {
                    if recorded.is_empty() || in_recording(&e.id).is_some() {
                        missing_expected += 1;
                    }
                    missing.push(e.label.clone())
                }
            }
        }
        let is_expected = |id: &CanId| {
            expected
                .iter()
                .any(|e| e.id == *id || e.gmlan.is_some() && gmlan_arbitration_id(*id) == e.gmlan)
        };
        let recorded_heard = body
            .iter()
            .filter(|(id, s)| {
                !is_expected(id)
                    && in_recording(id)
                        .and_then(|i| recorded.get(i))
                        .is_some_and(|(_, len)| s.steady_len() == Some(*len))
            })
            .count();
        // The recording speaks only for a bus that carries some of its ids
        // (a real car's): then ids it lacks are another model's, and its
        // ids not heard count against (the share of the two buses). A bus
        // of the profile's frames alone (the simulator's) is judged by them.
        let applies = recorded_heard > 0;
        let foreign: Vec<String> = body
            .iter()
            .filter(|(id, _)| {
                fp.known.binary_search(id).is_err()
                    && !own_ids.contains(id)
                    && !is_expected(id)
                    && (!applies || in_recording(id).is_none())
                    && (fp.census_complete
                        || applies
                        || others.iter().any(|(o, make)| o == id && *make != fp.make))
            })
            .map(|(id, _)| format!("0x{id}"))
            .collect();
        let unknown_ids = body
            .iter()
            .filter(|(id, _)| {
                fp.known.binary_search(id).is_err()
                    && !own_ids.contains(id)
                    && in_recording(id).is_none()
            })
            .count();
        // The recorded car's ids not heard (steadily, with their length):
        // against, once the recording applies.
        let recorded_missing = if applies {
            recorded
                .iter()
                .filter(|(id, len)| {
                    !is_expected(id)
                        && !body
                            .iter()
                            .any(|(b, s)| b == id && s.steady_len() == Some(*len))
                })
                .count()
        } else {
            0
        };
        let counted = matched.len() + other_length.len() + missing_expected;
        let body_score = if expected.is_empty() || counted == 0 {
            0.0
        } else {
            (matched.len() + recorded_heard) as f64
                / (counted + recorded_heard + recorded_missing + foreign.len()) as f64
        };
        let score = if diag_here {
            0.8 * body_score + 0.2 * diag_points / 2.0
        } else {
            body_score
        };
        let c = Candidate {
            profile: fp.profile.clone(),
            make: fp.make.clone(),
            name: fp.name.clone(),
            score: (score * 1000.0).round() / 1000.0,
            bus: bus.clone(),
            matched,
            missing,
            other_length,
            foreign,
            diagnostics: diagnostics.clone(),
            unknown_ids,
            recorded: recorded_heard,
            recorded_of: recorded.iter().filter(|(id, _)| !is_expected(id)).count(),
        };
        // The best bus; at the same score, the one with more frames heard.
        if best.as_ref().is_none_or(|b| {
            c.score > b.score || c.score == b.score && c.matched.len() > b.matched.len()
        }) {
            best = Some(c);
        }
    }
    best.unwrap_or_else(|| Candidate {
        profile: fp.profile.clone(),
        make: fp.make.clone(),
        name: fp.name.clone(),
        score: 0.0,
        bus: String::new(),
        matched: Vec::new(),
        missing: Vec::new(),
        other_length: Vec::new(),
        foreign: Vec::new(),
        diagnostics,
        unknown_ids: 0,
        recorded: 0,
        recorded_of: 0,
    })
}

/// Requests in the profile's protocol on its body module's request id, and
/// traffic on its response id.
fn diagnostic_evidence(fp: &Fingerprint, heard: &Heard) -> Vec<String> {
    let Some((req, resp, protocol, address)) = fp.bcm else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let services: Vec<u8> = if heard.is_isotp(req) {
        heard
            .services(req, address)
            .filter(|&sid| is_request_of(protocol, sid))
            .collect()
    } else {
        Vec::new()
    };
    if !services.is_empty() {
        out.push(format!(
            "{} requests to 0x{req}{} ({})",
            protocol_name(protocol),
            address.map_or(String::new(), |a| format!(" address 0x{a:02X}")),
            services
                .iter()
                .map(|s| format!("{s:02X}"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    // An answer: a positive response (service + 0x40) or a refusal (7F).
    let answer_address = address.map(|_| fp.resp_address.unwrap_or(0));
    let answered = heard.is_isotp(resp)
        && heard
            .services(resp, answer_address)
            .any(|sid| sid == 0x7F || sid >= 0x50);
    if answered {
        out.push(format!("answers on 0x{resp}"));
    }
    out
}

/// Whether `data` reads as an ISO-TP frame with its PCI at `at`.
fn reads_as_isotp(data: &[u8], at: usize) -> bool {
    let Some(&pci) = data.get(at) else {
        return false;
    };
    let rest = data.len().saturating_sub(at + 1);
    match pci >> 4 {
        0 => {
            let n = usize::from(pci & 0x0F);
            (1..=7).contains(&n) && n <= rest
        }
        1 => rest >= 6,
        2 => rest >= 1,
        3 => pci & 0x0F <= 2 && rest >= 2,
        _ => false,
    }
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Kwp => "KWP2000",
        Protocol::Uds => "UDS",
        Protocol::Gmlan => "GMLAN",
        Protocol::Obd => "OBD-II",
    }
}

/// Whether a service id is a request a tester of this protocol sends.
fn is_request_of(protocol: Protocol, sid: u8) -> bool {
    match protocol {
        // KWP2000: session, ECU reset, read by local id / common id, DTCs,
        // tester present, IO control by local id, routines.
        Protocol::Kwp => matches!(
            sid,
            0x10 | 0x11 | 0x14 | 0x17 | 0x18 | 0x1A | 0x21 | 0x22 | 0x30 | 0x31 | 0x3E
        ),
        // UDS (and GMLAN's own services on UDS framing).
        _ => matches!(
            sid,
            0x10 | 0x11 | 0x14 | 0x19 | 0x1A | 0x22 | 0x2F | 0x31 | 0x3E | 0xA9 | 0xAA
        ),
    }
}

/// Ranks every fingerprint and decides.
pub fn identify(fingerprints: &[Fingerprint], heard: &Heard) -> Identification {
    let others: Vec<(CanId, String)> = fingerprints
        .iter()
        .flat_map(|fp| {
            fp.buses
                .iter()
                .flat_map(|(_, v)| v.iter().filter(|e| e.gmlan.is_none()))
                .map(|e| (e.id, fp.make.clone()))
        })
        .collect();
    let mut all: Vec<Candidate> = fingerprints
        .iter()
        .map(|fp| score_among(fp, heard, &others))
        .collect();
    // At the same score, more frames heard is more specific evidence.
    all.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| b.matched.len().cmp(&a.matched.len()))
            .then_with(|| a.profile.cmp(&b.profile))
    });
    let candidates: Vec<Candidate> = all.into_iter().filter(|c| c.score >= AT_ALL).collect();
    let (decision, margin) = decide(&candidates, heard);
    Identification {
        seconds: (heard.seconds() * 1000.0).round() / 1000.0,
        frames: heard.frames,
        decision,
        margin: (margin * 1000.0).round() / 1000.0,
        candidates,
    }
}

fn decide(candidates: &[Candidate], heard: &Heard) -> (Decision, f64) {
    let Some(top) = candidates.first() else {
        return (opendbc_or_none(heard), 0.0);
    };
    // The same score on as many frames: nothing heard puts one ahead.
    let tied: Vec<&Candidate> = candidates
        .iter()
        .take_while(|c| (c.score - top.score).abs() < 1e-9 && c.matched.len() == top.matched.len())
        .collect();
    let next = candidates.get(tied.len());
    let margin = top.score - next.map_or(0.0, |c| c.score);
    // Ahead on frames heard at the same score: decided by them.
    let ahead_on_frames = next
        .is_some_and(|n| (n.score - top.score).abs() < 1e-9 && n.matched.len() < top.matched.len());
    // Diagnostic evidence alone (no body frame of any profile here) names
    // the module a tester spoke to: enough when nobody else fits.
    let by_diagnostics = top.matched.is_empty() && !top.diagnostics.is_empty();
    // One frame alone on a busy bus of ids the profile does not know is
    // a coincidence as often as a car (a Jeep id in a Kona's battery
    // trace): it needs a second frame or the body module's traffic.
    let clear = top.score >= CLEAR && (margin >= MARGIN || ahead_on_frames) && !is_weak(top);
    if clear || (by_diagnostics && margin > 0.0) {
        let decision = if tied.len() > 1 {
            Decision::Tie {
                profiles: tied.iter().map(|c| c.profile.clone()).collect(),
            }
        } else {
            Decision::Profile {
                profile: top.profile.clone(),
            }
        };
        return (decision, margin);
    }
    // Not one profile: the make, when the candidates above the line share
    // it (a lone coincident frame is not a candidate for this).
    let strong: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !c.matched.is_empty() && !is_weak(c))
        .collect();
    if let Some(lead) = strong.first() {
        let near = strong.iter().filter(|c| c.score >= lead.score - MARGIN);
        if lead.matched.len() >= 2 && near.clone().all(|c| c.make == lead.make) {
            return (
                Decision::Make {
                    make: lead.make.clone(),
                },
                margin,
            );
        }
    }
    (opendbc_or_none(heard), margin)
}

/// One frame alone on a busy bus of ids the profile does not know is a
/// coincidence as often as a car (a Jeep id in a Kona's battery trace): it
/// needs a second frame, ids a recorded car of the model carried, or the
/// body module's traffic.
fn is_weak(c: &Candidate) -> bool {
    c.matched.len() + c.recorded < 2
        && c.diagnostics.is_empty()
        && c.unknown_ids > 2 * (c.matched.len() + c.missing.len()).max(1)
}

fn opendbc_or_none(heard: &Heard) -> Decision {
    match opendbc::best(heard) {
        Some((dbc, matched, of)) => Decision::Opendbc { dbc, matched, of },
        None => Decision::None,
    }
}

/// The fingerprints of every loadable profile but the generic fallback.
pub fn fingerprints() -> Vec<Fingerprint> {
    crate::profile::candidates()
        .iter()
        .filter_map(|source| crate::profile::load(source).ok())
        .map(|p| Fingerprint::of(&p))
        .collect()
}

/// Steady body ids heard, with their one length: what the opendbc tables
/// are matched against.
pub(crate) fn steady_lengths(heard: &Heard) -> Vec<(CanId, usize)> {
    heard
        .steady_body_ids()
        .filter_map(|(id, s)| s.steady_len().map(|n| (id, n)))
        .collect()
}

#[cfg(test)]
mod tests;
