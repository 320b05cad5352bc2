//! The draft profile: what `learn` found, as profile TOML that the loader
//! and `profiles check` accept. Every learned item is at the provenance
//! level "learned on this car", with the VIN (when known), the date and the
//! score as its source; nothing learned is ever written as a fact of the
//! model.

use std::collections::BTreeMap;

use crate::frame::CanId;
use crate::profile::write::{ProfileWriter, SignalAt, SignalItem};
use crate::profile::Level;

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
    // By frame, and by page of a multiplexed frame.
    type ByFrame<'a> = BTreeMap<(CanId, Option<u8>), Vec<(&'a RoleResult, &'a Candidate)>>;
    let mut by_frame = ByFrame::new();
    for r in &learned.roles {
        if let Some(best) = r.best() {
            by_frame
                .entry((best.place.id, best.place.page))
                .or_default()
                .push((r, best));
        }
    }
    let vin = info.vin.as_deref().unwrap_or("not read");
    let mut w = ProfileWriter::new();
    w.comment(&format!(
        "Draft profile written by `trunkdiag learn` from {}.\n\
         Every signal below was learned on one car (VIN {vin}, {}); none is a fact of the model.\n\
         Confirm each on the car, name the make and model, then use it with --profile FILE.",
        info.from, info.date
    ))
    .blank()
    .table("[profile]")
    .str("id", &info.id)
    .str("make", "unknown")
    .str(
        "model",
        &match &info.vin {
            Some(v) => format!("car with VIN {v}"),
            None => "learned car".to_owned(),
        },
    )
    .years(info.year, info.year)
    .str(
        "description",
        &format!("learned on this car on {} from {}", info.date, info.from),
    )
    .blank()
    .table("[[bus]]")
    .str("name", "hs-can")
    .int("bitrate", info.bitrate)
    .bool("fd", false)
    .provenance(
        Level::Learned,
        &format!(
            "learned on this car: VIN {vin}, {}: the bus the frames were read on",
            info.date
        ),
    )
    .blank();
    // No body-module address was learned: the OBD-II engine ECU's, which
    // every car on CAN has, keeps the draft loadable.
    w.table("[bcm]")
        .str(
            "name",
            "OBD-II ECU #1 (the body module's address was not learned)",
        )
        .str("protocol", "uds")
        .id("request_id", CanId::Standard(0x7E0))
        .id("response_id", CanId::Standard(0x7E8))
        .str("addressing", "normal")
        .provenance(
            Level::Placeholder,
            "not learned: the physical ids of OBD-II ECU #1 (ISO 15765-4) stand in for the body module's",
        )
        .blank();
    for r in &learned.roles {
        if let Outcome::Tied { places } = &r.outcome {
            let first: Vec<String> = places.iter().take(3).map(|p| p.to_string()).collect();
            w.comment(&format!(
                "{} is not written: {} places tie at {} mark(s) ({}{}); mark it again and learn again.",
                r.role,
                places.len(),
                r.marks,
                first.join(", "),
                if places.len() > first.len() { ", ..." } else { "" }
            ))
            .blank();
        }
    }
    for (&(id, page), items) in &by_frame {
        let selector = items.first().and_then(|(_, c)| c.place.selector());
        let name = match page {
            Some(p) => format!("learned 0x{id} page 0x{p:02X}"),
            None => format!("learned 0x{id}"),
        };
        match crate::profile::gmlan_arbitration_id(id).filter(|_| learned.gmlan) {
            Some(arb) => {
                let name = format!("learned GMLAN 0x{arb:03X}");
                w.gmlan_frame(arb, &name)
            }
            None => w.frame_page(id, &name, selector),
        };
        for (r, c) in items {
            let (scale, note) = scaling(c);
            let source = format!(
                "learned on this car: VIN {vin}, {}, score {:.2}; {}",
                info.date,
                c.score,
                c.evidence.words()
            );
            // Raw values of at most 8 bits: each fits an i64.
            let mut values: BTreeMap<i64, String> = BTreeMap::new();
            for (label, raw) in &c.evidence.values {
                let word = match label_binary(label) {
                    Some(true) => "on",
                    Some(false) => "off",
                    None => label.as_str(),
                };
                if let Ok(raw) = i64::try_from(*raw) {
                    values.entry(raw).or_insert_with(|| word.to_owned());
                }
            }
            if let Ok(raw) = i64::try_from(c.evidence.baseline) {
                values.entry(raw).or_insert_with(|| "off".to_owned());
            }
            let (scale, offset) = scale.unwrap_or((1.0, 0.0));
            w.signal(&SignalItem {
                name: &format!("learned {}", r.role),
                role: r.role,
                at: SignalAt::Bits {
                    bits: c.place.dbc(),
                    scale,
                    offset,
                    unit: None,
                    values,
                },
                level: Level::Learned,
                source: &source,
                note: note.as_deref(),
            });
        }
    }
    let mut ids: Vec<CanId> = by_frame.keys().map(|k| k.0).collect();
    ids.dedup();
    w.comment("Only the frames learned from are listed: other identifiers are not unknown nodes.")
        .table("[census]")
        .bool("complete", false)
        .ids("known_ids", &ids);
    w.finish()
}
