//! The draft profile: what `learn` found, as profile TOML that the loader
//! and `profiles check` accept. Every learned item is at the provenance
//! level "learned on this car", with the VIN (when known), the date and the
//! score as its source; nothing learned is ever written as a fact of the
//! model.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::frame::CanId;

use super::{label_binary, Candidate, Learned, Outcome, RoleResult};

/// What the draft says about where it was learned.
#[derive(Clone, Debug, PartialEq)]
pub struct DraftInfo {
    /// Profile id, e.g. `learned-1fa6p8th`.
    pub id: String,
    pub vin: Option<String>,
    /// `2026-11-30`.
    pub date: String,
    /// Model year written in `years` (the learning date's year when unknown).
    pub year: u16,
    pub bitrate: u32,
    /// Where the frames came from, e.g. `capture keyon.log` or `live on can0`.
    pub from: String,
}

/// TOML string literal.
fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The provenance lines every learned item carries.
fn provenance(source: &str) -> String {
    format!("level = \"learned\"\nsource = {}\n", q(source))
}

/// How a role's raw value maps to the physical value the rules read
/// (non-zero = the state is on): `(scale, offset)` when the labels name both
/// states with different raw values, and a note when they cannot.
fn scaling(c: &Candidate) -> (Option<(f64, f64)>, Option<String>) {
    let mut on = None;
    let mut off = None;
    let mut other = Vec::new();
    for (label, &raw) in &c.evidence.values {
        match label_binary(label) {
            Some(true) => on = Some(raw),
            Some(false) => off = Some(raw),
            None => other.push(label.clone()),
        }
    }
    // A momentary press names only "on": the value before it is "off".
    let off = off.or_else(|| on.map(|_| c.evidence.baseline).filter(|b| Some(*b) != on));
    let note = (!other.is_empty()).then(|| {
        format!(
            "values named {} are neither on nor off; the rules read any value other than the off value as on",
            other.join(", ")
        )
    });
    match (on, off) {
        (Some(1), Some(0)) => (None, note),
        (Some(on), Some(off)) if on != off => {
            let span = on as f64 - off as f64;
            (Some((1.0 / span, -(off as f64) / span)), note)
        }
        _ => (
            None,
            Some("no on and off values were both seen; the raw value is used as is".to_owned()),
        ),
    }
}

/// The draft profile TOML.
pub fn draft_profile(learned: &Learned, info: &DraftInfo) -> String {
    let mut by_frame: BTreeMap<CanId, Vec<(&RoleResult, &Candidate)>> = BTreeMap::new();
    for r in &learned.roles {
        if let Some(best) = r.best() {
            by_frame.entry(best.place.id).or_default().push((r, best));
        }
    }
    let vin = info.vin.as_deref().unwrap_or("not read");
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Draft profile written by `trunkdiag learn` from {}.\n\
         # Every signal below was learned on one car (VIN {vin}, {}); none is a fact of the model.\n\
         # Confirm each on the car, name the make and model, then use it with --profile FILE.\n",
        info.from, info.date
    );
    let _ = writeln!(
        t,
        "[profile]\nid = {}\nmake = \"unknown\"\nmodel = {}\nyears = [{y}, {y}]\ndescription = {}\n",
        q(&info.id),
        q(&match &info.vin {
            Some(v) => format!("car with VIN {v}"),
            None => "learned car".to_owned(),
        }),
        q(&format!("learned on this car on {} from {}", info.date, info.from)),
        y = info.year
    );
    let _ = writeln!(
        t,
        "[[bus]]\nname = \"hs-can\"\nbitrate = {}\nfd = false\n{}",
        info.bitrate,
        provenance(&format!(
            "learned on this car: VIN {vin}, {}: the bus the frames were read on",
            info.date
        ))
    );
    // No body-module address was learned: the OBD-II engine ECU's, which
    // every car on CAN has, keeps the draft loadable.
    let _ = writeln!(
        t,
        "[bcm]\nname = \"OBD-II ECU #1 (the body module's address was not learned)\"\n\
         protocol = \"uds\"\nrequest_id = 0x7E0\nresponse_id = 0x7E8\naddressing = \"normal\"\n\
         level = \"placeholder\"\n\
         source = \"not learned: the physical ids of OBD-II ECU #1 (ISO 15765-4) stand in for the body module's\"\n"
    );
    for r in &learned.roles {
        if let Outcome::Tied { places } = &r.outcome {
            let first: Vec<String> = places.iter().take(3).map(|p| p.to_string()).collect();
            let _ = writeln!(
                t,
                "# {} is not written: {} places tie at {} mark(s) ({}{}); mark it again and learn again.\n",
                r.role,
                places.len(),
                r.marks,
                first.join(", "),
                if places.len() > first.len() { ", ..." } else { "" }
            );
        }
    }
    for (id, items) in &by_frame {
        let extended = if id.is_extended() {
            "extended = true\n"
        } else {
            ""
        };
        let _ = writeln!(
            t,
            "[[frame]]\nid = 0x{:X}\n{extended}name = {}\n",
            id.raw(),
            q(&format!("learned 0x{id}"))
        );
        for (r, c) in items {
            let (scale, note) = scaling(c);
            let source = format!(
                "learned on this car: VIN {vin}, {}, score {:.2}; {}",
                info.date,
                c.score,
                c.evidence.words()
            );
            let _ = writeln!(t, "[[frame.signal]]");
            if let Some(n) = &note {
                let _ = writeln!(t, "# {n}");
            }
            let _ = write!(
                t,
                "name = {}\nrole = {}\nbits = {}\n",
                q(&format!("learned {}", r.role)),
                q(r.role.as_str()),
                q(&c.place.dbc())
            );
            if let Some((s, o)) = scale {
                let _ = writeln!(t, "scale = {s}");
                if o != 0.0 {
                    let _ = writeln!(t, "offset = {o}");
                }
            }
            let mut names: BTreeMap<u64, String> = BTreeMap::new();
            for (label, raw) in &c.evidence.values {
                let word = match label_binary(label) {
                    Some(true) => "on",
                    Some(false) => "off",
                    None => label.as_str(),
                };
                names.entry(*raw).or_insert_with(|| word.to_owned());
            }
            names
                .entry(c.evidence.baseline)
                .or_insert_with(|| "off".to_owned());
            let values: Vec<String> = names
                .iter()
                .map(|(raw, word)| format!("{} = {}", q(&raw.to_string()), q(word)))
                .collect();
            let _ = writeln!(t, "values = {{ {} }}", values.join(", "));
            let _ = writeln!(t, "{}", provenance(&source));
        }
    }
    let mut ids: Vec<String> = by_frame
        .keys()
        .map(|id| format!("0x{:X}", id.raw()))
        .collect();
    ids.dedup();
    let _ = writeln!(
        t,
        "# Only the frames learned from are listed: other identifiers are not unknown nodes.\n\
         [census]\ncomplete = false\nknown_ids = [{}]",
        ids.join(", ")
    );
    t
}
