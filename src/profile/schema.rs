//! The TOML shape of `vehicles/*.toml` and `vehicles/layouts/*.toml`, as
//! serde types. Unknown keys are errors. Positions (`Spanned`) are kept on
//! every value a semantic check may point at.
//!
//! Owns: the file format only. These types are converted to the core types of
//! `model.rs` by the loader and go no further (ARCHITECTURE.md, invariants): no other module
//! may use them.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// One file: a profile (has `[profile]`) or a layout fragment merged into
/// profiles (has `[layout]`, no `[profile]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileFile {
    pub profile: Option<Spanned<Identity>>,
    pub layout: Option<Spanned<LayoutMeta>>,
    /// `[[bus]]` tables (or the old single `[bus]`, read as one bus named "hs-can").
    pub bus: Option<Spanned<Buses>>,
    pub bcm: Option<Spanned<Bcm>>,
    #[serde(default)]
    pub data: Vec<DataRead>,
    #[serde(default)]
    pub frame: Vec<Frame>,
    #[serde(default)]
    pub dtc: Vec<Dtc>,
    #[serde(default)]
    pub cause: Vec<Cause>,
    /// `[[gate]]`: the release's enable conditions.
    #[serde(default)]
    pub gate: Vec<Condition>,
    /// The older name of `[[gate]]`, still read.
    #[serde(default)]
    pub release_condition: Vec<Condition>,
    pub active_test: Option<Spanned<ActiveTest>>,
    pub limits: Option<Spanned<Limits>>,
    pub census: Option<Spanned<Census>>,
    pub owner: Option<Spanned<Owner>>,
    pub relearn: Option<Spanned<Relearn>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Identity {
    pub id: Spanned<String>,
    pub make: String,
    pub model: String,
    pub generation: Option<String>,
    /// What the car's rear lid is called: "trunk" (default) or "liftgate".
    pub lid: Option<Spanned<String>>,
    pub years: Spanned<Vec<u16>>,
    #[serde(default)]
    pub description: String,
    /// Layout fragments merged into this profile, by name.
    #[serde(default)]
    pub layouts: Vec<Spanned<String>>,
    /// Layouts merged like `layouts`, but only assumed for this model: every
    /// `this-model` item they bring in counts as `related-model` here.
    #[serde(default)]
    pub assumed_layouts: Vec<Spanned<String>>,
    #[serde(default)]
    pub vin: Vec<Vin>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LayoutMeta {
    pub name: Spanned<String>,
    /// For readers of the file.
    #[allow(dead_code)]
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Vin {
    pub wmi: Spanned<String>,
    pub vds_prefix: Vec<Spanned<String>>,
    pub year_chars: Spanned<String>,
    /// Where the facts come from: for readers of the file, not used by the rules.
    #[allow(dead_code)]
    pub source: Option<String>,
}

/// The buses of a profile: `[[bus]]` tables, or one old-style `[bus]` table.
#[derive(Debug)]
pub(crate) enum Buses {
    /// `[bus]`: one bus, named "hs-can" unless it says otherwise (boxed:
    /// a table is much larger than the list).
    One(Box<Bus>),
    /// `[[bus]]`: the first is the default bus.
    Many(Vec<Spanned<Bus>>),
}

impl<'de> Deserialize<'de> for Buses {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Buses;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[[bus]] tables (name, kind, bitrate, fd, pins, level, source)")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Buses, A::Error> {
                Bus::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|b| Buses::One(Box::new(b)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Buses, A::Error> {
                let mut v = Vec::new();
                while let Some(b) = seq.next_element()? {
                    v.push(b);
                }
                Ok(Buses::Many(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Bus {
    /// e.g. "hs-can", "ms-can", "body"; items name it with `bus = "..."`.
    pub name: Option<Spanned<String>>,
    /// `high-speed` (the default; a CAN FD bus too) or `single-wire`
    /// (GM LS-GMLAN: 33333 bit/s, OBD-II pin 1).
    pub kind: Option<Spanned<String>>,
    pub bitrate: Spanned<u32>,
    #[serde(default)]
    pub fd: bool,
    /// OBD-II connector pins the bus is on, e.g. `[6, 14]`.
    pub pins: Option<Spanned<Vec<u32>>>,
    pub level: Option<Spanned<String>>,
    pub source: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Bcm {
    pub name: Option<String>,
    pub protocol: Spanned<String>,
    pub request_id: Spanned<u32>,
    pub response_id: Spanned<u32>,
    pub addressing: Option<Spanned<String>>,
    /// Extended addressing: the byte before the N_PCI of every frame sent
    /// on `request_id`.
    pub target_address: Option<Spanned<i64>>,
    /// Extended addressing: the byte every frame on `response_id` starts
    /// with; `target_address` when absent.
    pub source_address: Option<Spanned<i64>>,
    #[serde(default = "yes")]
    pub answers: bool,
    pub source: Option<Spanned<String>>,
    /// `this-model`, `related-model`, `placeholder` or `learned`.
    pub level: Spanned<String>,
    /// The bus it is on, by `[[bus]]` name; the profile's first bus when absent.
    pub bus: Option<Spanned<String>>,
    pub keep_alive_period_ms: Option<Spanned<u32>>,
    pub dtc_format: Option<Spanned<String>>,
    pub session: Option<Exchange>,
    pub keep_alive: Option<Exchange>,
    pub dtc_read: Option<Exchange>,
    pub dtc_clear: Option<Exchange>,
    pub part_number: Option<Exchange>,
}

fn yes() -> bool {
    true
}

/// A request and its expected positive reply, as hex text (`"10 C0"`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Exchange {
    pub request: Spanned<String>,
    pub response: Option<Spanned<String>>,
    pub source: Option<Spanned<String>>,
    /// `this-model`, `related-model`, `placeholder` or `learned`.
    pub level: Spanned<String>,
    /// The bus it is on, by `[[bus]]` name; the profile's first bus when absent.
    pub bus: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataRead {
    pub name: Spanned<String>,
    pub lid: Option<Spanned<u32>>,
    pub did: Option<Spanned<u32>>,
    pub obd_pid: Option<Spanned<u32>>,
    /// GMLAN ReadDataByIdentifier `1A <did>` (one byte).
    pub gmlan_did: Option<Spanned<u32>>,
    #[serde(default)]
    pub needs_session: bool,
    #[serde(default)]
    pub field: Vec<Field>,
}

/// A value in a data reply or a broadcast frame: exactly one of `bits`
/// (DBC `start|length@order±`), `bit` (`A.7`) or `dbc` (a DBC file's signal).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Field {
    pub name: Spanned<String>,
    pub role: Spanned<String>,
    pub bits: Option<Spanned<String>>,
    pub bit: Option<Spanned<String>>,
    /// A DBC file (relative to this file) holding the signal: with `message`
    /// (name or id) and `signal`, instead of `bits` / `bit`.
    pub dbc: Option<Spanned<String>>,
    pub message: Option<Spanned<String>>,
    pub signal: Option<Spanned<String>>,
    pub scale: Option<f64>,
    pub offset: Option<f64>,
    pub unit: Option<String>,
    pub values: Option<Spanned<BTreeMap<String, String>>>,
    pub source: Option<Spanned<String>>,
    /// `this-model`, `related-model`, `placeholder` or `learned`.
    pub level: Spanned<String>,
    /// The bus it is on, by `[[bus]]` name; the profile's first bus when absent.
    pub bus: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Frame {
    pub id: Spanned<u32>,
    #[serde(default)]
    pub extended: bool,
    pub name: String,
    /// Payload length; default 8 (64 on a CAN FD bus).
    pub length: Option<Spanned<u32>>,
    /// The bus it is sent on; its signals inherit it.
    pub bus: Option<Spanned<String>>,
    /// A multiplexed frame's page: `{ byte = 0, value = 0x10 }`.
    pub selector: Option<Spanned<Selector>>,
    /// `id` is a GMLAN arbitration id (13 bits): the frame is any 29-bit id
    /// `priority << 26 | id << 13 | source address`, whatever the priority
    /// and source.
    #[serde(default)]
    pub gmlan: bool,
    #[serde(default)]
    pub signal: Vec<Field>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Selector {
    pub byte: u32,
    pub value: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Dtc {
    pub code: Spanned<String>,
    pub meaning: String,
    pub cause: Option<Spanned<String>>,
    pub advice: Option<String>,
    pub source: Option<Spanned<String>>,
    /// `this-model`, `related-model`, `placeholder` or `learned`.
    pub level: Spanned<String>,
    /// The bus it is on, by `[[bus]]` name; the profile's first bus when absent.
    pub bus: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Cause {
    pub id: Spanned<String>,
    pub summary: String,
    #[serde(default)]
    pub next_steps: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Condition {
    pub name: Spanned<String>,
    pub role: Spanned<String>,
    /// `above` or `below` (need `value`: closed above / below it), `not`
    /// (needs `value`: closed at any other value) or `set` (closed while
    /// non-zero).
    pub when: Spanned<String>,
    pub value: Option<Spanned<f64>>,
    pub inputs: Option<Vec<Spanned<String>>>,
    pub text: String,
    pub source: Option<Spanned<String>>,
    /// `this-model`, `related-model`, `placeholder` or `learned`.
    pub level: Spanned<String>,
    /// The bus it is on, by `[[bus]]` name; the profile's first bus when absent.
    pub bus: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActiveTest {
    pub start: Exchange,
    pub stop: Option<Exchange>,
    pub max_duration_ms: Spanned<u32>,
    pub cooldown_ms: Option<Spanned<u32>>,
    pub max_firings: Option<Spanned<u8>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limits {
    pub low_battery_volts: Option<Spanned<f64>>,
    pub release_window_ms: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Census {
    /// True when the list is the whole bus: then any other identifier is an
    /// unknown node. False when only a few frames are published.
    pub complete: bool,
    pub known_ids: Vec<Spanned<u32>>,
    /// Where the facts come from: for readers of the file, not used by the rules.
    #[allow(dead_code)]
    pub source: Option<String>,
    /// The ids a real car of this model carried, with their lengths: for
    /// identifying the car only.
    pub recorded: Option<Recorded>,
}

/// `[census.recorded]`: every id (and its one length) heard on a real car
/// of this model, from a recording. Identification uses it as the model's
/// bus (ids outside it are another model's); the diagnosis does not (other
/// years and trims carry other ids: not evidence of an unknown node).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Recorded {
    /// The profile bus the recording is of.
    pub bus: Spanned<String>,
    pub level: Spanned<String>,
    pub source: Option<Spanned<String>>,
    /// `[id, length]` pairs.
    pub frames: Vec<Spanned<[u32; 2]>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Owner {
    pub access_now: Vec<String>,
    /// Where the facts come from: for readers of the file, not used by the rules.
    #[allow(dead_code)]
    pub source: Option<String>,
}

/// `[relearn]`: the make's procedure to re-initialise a power lid.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Relearn {
    pub procedure: Spanned<String>,
    pub source: Option<Spanned<String>>,
    /// `this-model`, `related-model`, `placeholder` or `learned`.
    pub level: Spanned<String>,
    #[serde(default)]
    pub step: Vec<Spanned<RelearnStep>>,
}

/// `[[relearn.step]]`: what the person does and what confirms it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RelearnStep {
    #[serde(rename = "do")]
    pub action: Spanned<String>,
    pub confirm: Spanned<Confirm>,
    pub timeout_s: Spanned<f64>,
    pub if_not: Spanned<String>,
    pub source: Option<Spanned<String>>,
    /// `this-model`, `related-model`, `placeholder` or `learned`.
    pub level: Spanned<String>,
}

/// A step's confirmation: `{ role = "lid_open", becomes = 0 }`,
/// `{ role = "gear", equals = 32 }` or `{ routine = 0x0203, pass = "00",
/// fail = "01" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Confirm {
    pub role: Option<Spanned<String>>,
    pub becomes: Option<Spanned<f64>>,
    pub equals: Option<Spanned<f64>>,
    pub routine: Option<Spanned<i64>>,
    pub pass: Option<Spanned<String>>,
    pub fail: Option<Spanned<String>>,
}
