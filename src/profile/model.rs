//! The core vehicle profile: what the analyzer, the diagnostic client, the
//! rules and the simulator read. Built only by the loader from the TOML
//! schema types, which go no further.
//!
//! Owns: roles, items (every data field, broadcast signal, BCM exchange and
//! release condition, each with its source and provenance `Level`), buses, fast decoding
//! of broadcast frames and data replies. Must not know about TOML, files,
//! ISO-TP, the CLI or verdict text.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use super::signal::{BitField, Mux};
use crate::frame::{CanFrame, CanId};

/// What part a role plays in the release path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RoleKind {
    /// Someone asked for the trunk (fob, cabin switch, or unknown origin).
    Request,
    /// The opener is disabled by a switch.
    Lockout,
    /// The BCM drives the opener.
    Output,
    /// The lid's own switch.
    Lid,
    /// Vehicle state the BCM may refuse a release in (ignition, speed, locks, battery).
    State,
    /// Census and context only.
    Context,
    /// Shown to the user, used by no rule.
    Info,
}

macro_rules! role_table {
    ($( $variant:ident = $name:literal, $kind:ident, $words:literal; )*) => {
        /// What a value means to the rules. A fixed set: adding a vehicle is a data
        /// change, adding a role is one row here (and the rules that read it).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[non_exhaustive]
        pub enum Role {
            $( #[doc = $words] #[serde(rename = $name)] $variant, )*
        }

        impl Role {
            /// Every role, in table order.
            pub const ALL: [Role; [$($name),*].len()] = [$(Role::$variant),*];

            /// The name used in profiles and JSON.
            pub fn as_str(self) -> &'static str {
                match self { $( Role::$variant => $name, )* }
            }

            /// What the value means, in plain words.
            pub fn description(self) -> &'static str {
                match self { $( Role::$variant => $words, )* }
            }

            /// What part it plays in the release path.
            pub fn kind(self) -> RoleKind {
                match self { $( Role::$variant => RoleKind::$kind, )* }
            }
        }
    };
}

role_table! {
    Lockout = "lockout", Lockout, "Non-zero: the trunk opener is disabled (valet / trunk cancel switch).";
    FobTrunkRequest = "fob_trunk_request", Request, "Non-zero: the BCM's key-fob trunk request input is set.";
    CabinTrunkRequest = "cabin_trunk_request", Request, "Non-zero: the BCM's cabin trunk switch input is set.";
    TrunkRequest = "trunk_request", Request, "Non-zero: a trunk request on the bus whose origin (fob or cabin) is not known.";
    OpenerOutput = "opener_output", Output, "Non-zero: the BCM drives the trunk opener actuator.";
    LidOpen = "lid_open", Lid, "Non-zero: the trunk lid is open.";
    IgnitionOn = "ignition_on", State, "Non-zero: ignition ON.";
    SpeedKmh = "speed_kmh", State, "Vehicle speed in km/h.";
    Gear = "gear", State, "The gear selector position: a code the item's values name (a release condition says which code is Park).";
    BatteryVoltage = "battery_voltage", State, "Vehicle battery voltage in volts.";
    DoorsLocked = "doors_locked", State, "Non-zero: (other) doors locked.";
    DriverDoorLocked = "driver_door_locked", State, "Non-zero: driver door locked.";
    DoorOpen = "door_open", Context, "Non-zero: a door is open (census and context only).";
    AlarmArmed = "alarm_armed", State, "Non-zero: the anti-theft alarm is armed; the live run pauses its polling then (requests to a locked car can set the alarm off).";
    Info = "info", Info, "Shown to the user, not used by any rule (e.g. part number).";
}

impl Role {
    /// A word or two for a person: the lid, the ignition, the locks...
    pub fn short_word(self) -> &'static str {
        match self {
            Role::Lockout => "valet/lockout",
            Role::FobTrunkRequest => "fob request",
            Role::CabinTrunkRequest => "cabin switch",
            Role::TrunkRequest => "release request",
            Role::OpenerOutput => "opener",
            Role::LidOpen => "lid",
            Role::IgnitionOn => "ignition",
            Role::SpeedKmh => "speed",
            Role::Gear => "gear",
            Role::BatteryVoltage => "battery",
            Role::DoorsLocked | Role::DriverDoorLocked => "lock",
            Role::DoorOpen => "door",
            Role::AlarmArmed => "alarm",
            Role::Info => "other",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Roles that mean "someone asked for the trunk".
    pub fn is_request(self) -> bool {
        self.kind() == RoleKind::Request
    }

    /// Roles that show the release path itself (requests, the opener
    /// output, the lid): a profile without any has no trunk data.
    pub fn is_trunk_path(self) -> bool {
        matches!(
            self.kind(),
            RoleKind::Request | RoleKind::Output | RoleKind::Lid
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Index of an item in [`Profile::items`]; cheap to copy into evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ItemRef(pub u16);

/// What kind of thing an item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A field in a data read reply (KWP local id, UDS DID, OBD PID).
    Data,
    /// A signal in a broadcast frame.
    Signal,
    /// A request/response exchange with the BCM (session, DTC read, active test...).
    Exchange,
    /// A release condition (what the BCM refuses by design).
    Condition,
    /// The BCM's addressing (request / response ids).
    Addressing,
    /// A bus of the vehicle (name, bitrate, connector pins).
    Bus,
    /// A relearn procedure or one of its steps (what the person does and
    /// what confirms it): a make's published words, not CAN data.
    Relearn,
}

/// What kind of wire a bus is (high-speed or GM's single-wire CAN): the
/// one type `transport` opens adapters for.
pub use crate::frame::BusKind;

/// A CAN bus of the vehicle, and where to reach it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bus {
    /// e.g. "hs-can", "ms-can", "body".
    pub name: String,
    /// High-speed (two wires) or single-wire (GM LS-GMLAN, 33.3 kbit/s).
    pub kind: BusKind,
    pub bitrate: u32,
    pub fd: bool,
    /// OBD-II connector pins (e.g. `[6, 14]`); empty when not given.
    pub pins: Vec<u8>,
    /// The profile says the bus is not at the connector (`pins = []`:
    /// behind a gateway, reached only by a tap).
    pub off_connector: bool,
    pub item: ItemRef,
}

impl Bus {
    /// `pins 6/14`, `pin 1`, or `""` when the profile gives none.
    pub fn pins_text(&self) -> String {
        match self.pins.as_slice() {
            [] => String::new(),
            [one] => format!("pin {one}"),
            many => {
                let p: Vec<String> = many.iter().map(u8::to_string).collect();
                format!("pins {}", p.join("/"))
            }
        }
    }

    /// `500 kbit/s`; `33.3 kbit/s` for single-wire CAN's 33333 bit/s.
    pub fn bitrate_text(&self) -> String {
        match self.bitrate {
            b if b.is_multiple_of(1000) => format!("{} kbit/s", b / 1000),
            crate::frame::SINGLE_WIRE_BITRATE => "33.3 kbit/s".to_owned(),
            b => format!("{b} bit/s"),
        }
    }
}

/// How much a profile item is known for the vehicle the profile is for.
/// Ordered strongest first: `ThisModel < RelatedModel < Placeholder <
/// Learned` in `Ord`, so sorting items puts the best-founded first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Published for this model (read off one, or from its service manual).
    ThisModel,
    /// Published for a sibling model of the same family: likely, not proven.
    RelatedModel,
    /// Not published: a reference choice so that profile, simulator and
    /// captures agree. Never presented as fact.
    Placeholder,
    /// Learned by the tool on this very car.
    Learned,
}

impl Level {
    /// Every level, strongest first.
    pub const ALL: [Level; 4] = [
        Level::ThisModel,
        Level::RelatedModel,
        Level::Placeholder,
        Level::Learned,
    ];

    /// The name used in profiles and JSON (`this-model`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::ThisModel => "this-model",
            Level::RelatedModel => "related-model",
            Level::Placeholder => "placeholder",
            Level::Learned => "learned",
        }
    }

    pub fn from_name(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// The user's words: "this model", "from a related model", ...
    pub fn label(self) -> &'static str {
        match self {
            Level::ThisModel => "this model",
            Level::RelatedModel => "from a related model",
            Level::Placeholder => "placeholder, confirm on the vehicle",
            Level::Learned => "learned on this car",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One profile fact and where it comes from: the unit of provenance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemInfo {
    /// Human name, e.g. `TR CANCEL SW`.
    pub name: String,
    /// Where it is, e.g. `KWP 21 44 A.7` or `0x60D 7|1@1+`.
    pub location: String,
    pub kind: ItemKind,
    pub role: Option<Role>,
    pub level: Level,
    pub source: String,
    /// The bus it is on (a [`Bus::name`]).
    pub bus: String,
}

impl ItemInfo {
    /// `TR CANCEL SW (KWP 21 44 A.7)`: how verdicts name an item.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.location)
    }
}

/// The ids a real car of this model carried on its bus, from a recording
/// (`[census.recorded]`): what identification compares a bus against.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordedBus {
    /// The profile bus it is of (a [`Bus::name`]).
    pub bus: String,
    /// `(id, length)`, sorted by id, each id once.
    #[serde(serialize_with = "serialize_recorded")]
    pub frames: Vec<(CanId, usize)>,
    pub level: Level,
    pub source: String,
}

/// `[["0x3B3", 8], ...]`: ids as the rest of the JSON writes them.
fn serialize_recorded<S: serde::Serializer>(
    frames: &[(CanId, usize)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(frames.len()))?;
    for (id, len) in frames {
        seq.serialize_element(&(format!("0x{id}"), len))?;
    }
    seq.end()
}

/// Diagnostic protocol spoken by the BCM: `diag`'s, of which a profile
/// loads `kwp` and `uds` (a body module is not reached with OBD-II).
pub use crate::diag::Protocol;

/// ISO-TP addressing of the BCM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Addressing {
    Normal,
    /// ISO 15765-2 extended addressing: `target` is the byte put before
    /// the N_PCI of every frame sent on the request id, `source` the byte
    /// every frame of this module on the response id starts with.
    Extended {
        target: u8,
        source: u8,
    },
}

impl Addressing {
    /// The address bytes as `profiles show` prints them after the ids:
    /// `(" [40]", " [40]")`, empty for normal addressing.
    pub fn labels(self) -> (String, String) {
        match self {
            Addressing::Normal => (String::new(), String::new()),
            Addressing::Extended { target, source } => {
                (format!(" [{target:02X}]"), format!(" [{source:02X}]"))
            }
        }
    }
}

impl From<Addressing> for crate::isotp::Addressing {
    fn from(a: Addressing) -> crate::isotp::Addressing {
        match a {
            Addressing::Normal => crate::isotp::Addressing::Normal,
            Addressing::Extended { target, source } => {
                crate::isotp::Addressing::Extended { target, source }
            }
        }
    }
}

/// A request and the reply the BCM gives when it agrees.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Exchange {
    pub request: Vec<u8>,
    /// The positive reply starts with these bytes; `None` when the request
    /// asks for no reply (e.g. UDS `3E 80`).
    pub response_prefix: Option<Vec<u8>>,
    pub item: ItemRef,
}

/// How DTCs come back from a DTC read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DtcFormat {
    /// KWP2000 readDTCByStatus: `58 <n> (<hi> <lo> <status>)×n`.
    Kwp2Byte,
    /// UDS 19 02: `59 02 <mask> (<hi> <mid> <failure type> <status>)×n`.
    Uds3Byte,
    /// OBD-II mode 03: `43 (<hi> <lo>)×n` (some ECUs put a count first on CAN).
    Obd,
    /// GMLAN `A9 81`: one UUDT frame per code, `81 <hi> <lo> <failure
    /// type> <status>`, ended by code 0000.
    GmlanUudt,
}

/// The body control module as a diagnostic target.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bcm {
    pub name: String,
    pub protocol: Protocol,
    #[serde(serialize_with = "ser_display")]
    pub request_id: CanId,
    #[serde(serialize_with = "ser_display")]
    pub response_id: CanId,
    pub addressing: Addressing,
    /// False when the module is known not to answer diagnostics at all.
    pub answers: bool,
    pub addressing_item: ItemRef,
    /// The bus it answers on.
    pub bus: String,
    pub session: Option<Exchange>,
    pub keep_alive: Option<Exchange>,
    pub keep_alive_period_ms: Option<u32>,
    pub dtc_read: Option<Exchange>,
    pub dtc_format: Option<DtcFormat>,
    pub dtc_clear: Option<Exchange>,
    pub part_number: Option<Exchange>,
}

impl Bcm {
    /// Whether a message with this extended address byte (`None`: none) on
    /// the request id (`request`) or the response id is this module's. With
    /// extended addressing several modules share the ids (Toyota's 0x750
    /// carries the body ECU at 0x40 and the door ECUs at 0x90..).
    pub fn owns(&self, address: Option<u8>, request: bool) -> bool {
        match self.addressing {
            Addressing::Normal => true,
            Addressing::Extended { target, source } => {
                address == Some(if request { target } else { source })
            }
        }
    }
}

/// A named raw value, e.g. `1 = inhibited`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NamedValue {
    pub raw: i64,
    pub name: String,
}

/// A value inside a payload: position, scaling and meaning.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Field {
    pub item: ItemRef,
    pub role: Role,
    #[serde(serialize_with = "ser_display")]
    pub bits: BitField,
    pub scale: f64,
    pub offset: f64,
    pub unit: Option<String>,
    pub values: Vec<NamedValue>,
    /// A multiplexed value (from a DBC): present only when the switch holds its value.
    #[serde(
        serialize_with = "ser_opt_display",
        skip_serializing_if = "Option::is_none"
    )]
    pub mux: Option<Mux>,
}

impl Field {
    /// Physical value (`raw × scale + offset`), or `None` if the payload is
    /// too short or (multiplexed) carries another value.
    #[inline]
    pub fn decode(&self, data: &[u8]) -> Option<f64> {
        if self.mux.is_some_and(|m| !m.holds(data)) {
            return None;
        }
        let raw = self.bits.extract_f64(data)?;
        Some(raw * self.scale + self.offset)
    }

    /// The inverse of [`decode`](Self::decode): writes the physical value
    /// `(value - offset) / scale`, rounded to the nearest raw step, into
    /// `data`. `None` if the payload is too short or the scale is zero.
    pub fn encode(&self, data: &mut [u8], value: f64) -> Option<()> {
        if self.scale == 0.0 || !value.is_finite() {
            return None;
        }
        let raw = ((value - self.offset) / self.scale).round();
        if let Some(m) = self.mux {
            m.bits.insert_raw(data, m.value)?;
        }
        // `as` saturates for floats far outside i128; `insert` clamps further.
        self.bits.insert(data, raw as i128)
    }

    /// The name of a raw value, if the profile gives one.
    pub fn value_name(&self, raw: i64) -> Option<&str> {
        self.values
            .iter()
            .find(|v| v.raw == raw)
            .map(|v| v.name.as_str())
    }
}

fn ser_display<S: serde::Serializer, T: fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn ser_opt_display<S: serde::Serializer, T: fmt::Display>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// Which data read a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum DataKey {
    /// KWP2000 readDataByLocalIdentifier `21 <lid>` → `61 <lid> …`.
    LocalId(u8),
    /// UDS readDataByIdentifier `22 <did>` → `62 <did> …`.
    Did(u16),
    /// OBD-II mode 01 PID `01 <pid>` → `41 <pid> …`.
    ObdPid(u8),
    /// GMLAN readDataByIdentifier `1A <did>` → `5A <did> …`.
    GmlanDid(u8),
}

impl DataKey {
    pub fn request(self) -> Vec<u8> {
        match self {
            DataKey::LocalId(l) => vec![0x21, l],
            DataKey::Did(d) => vec![0x22, (d >> 8) as u8, d as u8],
            DataKey::ObdPid(p) => vec![0x01, p],
            DataKey::GmlanDid(d) => vec![0x1A, d],
        }
    }
    /// The start of a positive reply, which [`Profile::decode_data`] strips.
    pub fn echo(self) -> Vec<u8> {
        match self {
            DataKey::LocalId(l) => vec![0x61, l],
            DataKey::Did(d) => vec![0x62, (d >> 8) as u8, d as u8],
            DataKey::ObdPid(p) => vec![0x41, p],
            DataKey::GmlanDid(d) => vec![0x5A, d],
        }
    }
}

impl fmt::Display for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataKey::LocalId(l) => write!(f, "KWP 21 {l:02X}"),
            DataKey::Did(d) => write!(f, "UDS 22 {d:04X}"),
            DataKey::ObdPid(p) => write!(f, "OBD 01 {p:02X}"),
            DataKey::GmlanDid(d) => write!(f, "GMLAN 1A {d:02X}"),
        }
    }
}

/// One data read to poll and the fields in its reply (after the echo).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataRead {
    pub name: String,
    pub key: DataKey,
    /// Needs the session start first (KWP C0 on Nissan).
    pub needs_session: bool,
    pub fields: Vec<Field>,
}

/// A broadcast frame and its signals.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BroadcastFrame {
    pub name: String,
    #[serde(serialize_with = "ser_display")]
    pub id: CanId,
    /// The bus it is sent on.
    pub bus: String,
    /// A multiplexed frame: decoded only when this byte has this value
    /// (Toyota's 0x620 with byte 0 = 0x10); other pages on the same id are
    /// other messages.
    pub selector: Option<Selector>,
    pub signals: Vec<Field>,
    /// The next frame on the same id (another selector), if any.
    #[serde(skip)]
    pub(crate) next_same_id: Option<usize>,
    /// A GMLAN parameter-id frame: `id` holds the arbitration id at GM's
    /// usual priority and source 0, and any 29-bit frame with this
    /// arbitration id is this frame.
    pub gmlan_arbitration_id: Option<u16>,
}

/// The GMLAN arbitration id of a 29-bit id: `(id >> 13) & 0x1FFF` (GMLAN
/// parameter ids put a priority above it and the sender's address below).
pub fn gmlan_arbitration_id(id: CanId) -> Option<u16> {
    match id {
        CanId::Extended(raw) => Some(((raw >> 13) & 0x1FFF) as u16),
        CanId::Standard(_) => None,
    }
}

/// The id a GMLAN parameter-id frame is written with: priority 4 (GM's usual
/// body-bus priority), the arbitration id, source address 0.
pub fn gmlan_canonical_id(arbitration_id: u16) -> CanId {
    CanId::Extended(0x1000_0000 | (u32::from(arbitration_id & 0x1FFF) << 13))
}

/// Which page of a multiplexed frame a [`BroadcastFrame`] is: data byte
/// `byte` equals `value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Selector {
    pub byte: u8,
    pub value: u8,
}

impl Selector {
    /// Whether a payload is this page.
    pub fn matches(self, data: &[u8]) -> bool {
        data.get(usize::from(self.byte)) == Some(&self.value)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {} = 0x{:02X}", self.byte, self.value)
    }
}

impl BroadcastFrame {
    /// `0x620`, `0x620 [byte 0 = 0x10]`, or `GMLAN 0x318` for a GMLAN
    /// parameter-id frame.
    pub fn label(&self) -> String {
        frame_label(self.id, self.gmlan_arbitration_id, self.selector)
    }
}

/// How a broadcast frame is named in items and messages: `0x620`,
/// `0x620 [byte 0 = 0x10]` for a page, `GMLAN 0x318` for a parameter id.
pub fn frame_label(id: CanId, gmlan: Option<u16>, selector: Option<Selector>) -> String {
    let id = match gmlan {
        Some(arb) => format!("GMLAN 0x{arb:03X}"),
        None => format!("0x{id}"),
    };
    match selector {
        None => id,
        Some(s) => format!("{id} [{s}]"),
    }
}

/// What a DTC means on this vehicle.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DtcMeaning {
    /// `B2562` or `U3003:16` (a code without a failure type matches every
    /// failure type).
    pub code: crate::diag::Dtc,
    pub meaning: String,
    pub cause: Option<String>,
    pub advice: Option<String>,
    pub source: String,
    pub level: Level,
}

/// A cause id a profile adds to the built-in set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExtraCause {
    pub id: String,
    pub summary: String,
    pub next_steps: Vec<String>,
}

/// What blocks the release by design.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "when", rename_all = "snake_case")]
pub enum ConditionTest {
    /// Blocked while the role's value is above this.
    Above { value: f64 },
    /// Blocked while the role's value is below this (battery voltage).
    Below { value: f64 },
    /// Blocked while the role's value is non-zero.
    Set,
    /// Blocked while the role's value is anything but this (a gear other
    /// than Park).
    Not { value: f64 },
}

/// Which press a release condition applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseInput {
    Fob,
    Cabin,
    /// A broadcast trunk request of unknown origin.
    Bus,
    /// The BCM told to fire the opener by the tool.
    ActiveTest,
}

impl ReleaseInput {
    pub const ALL: [ReleaseInput; 4] = [
        ReleaseInput::Fob,
        ReleaseInput::Cabin,
        ReleaseInput::Bus,
        ReleaseInput::ActiveTest,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseInput::Fob => "fob",
            ReleaseInput::Cabin => "cabin",
            ReleaseInput::Bus => "bus",
            ReleaseInput::ActiveTest => "active_test",
        }
    }
    pub fn from_name(s: &str) -> Option<ReleaseInput> {
        ReleaseInput::ALL.into_iter().find(|i| i.as_str() == s)
    }
}

/// One thing the BCM refuses by design.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReleaseCondition {
    pub role: Role,
    pub test: ConditionTest,
    pub inputs: Vec<ReleaseInput>,
    /// Plain words, e.g. "the BCM ignores trunk requests above 5 km/h".
    pub text: String,
    pub item: ItemRef,
}

impl ReleaseCondition {
    /// Does this value block the release?
    pub fn blocks(&self, value: f64) -> bool {
        match self.test {
            ConditionTest::Above { value: limit } => value > limit,
            ConditionTest::Below { value: limit } => value < limit,
            ConditionTest::Set => value != 0.0,
            ConditionTest::Not { value: want } => value != want,
        }
    }
}

/// Telling the BCM to fire the opener (opt-in only).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActiveTest {
    pub start: Exchange,
    pub stop: Option<Exchange>,
    pub max_duration_ms: u32,
    /// How long after a pulse the BCM blocks another release (body modules
    /// protect the actuator for seconds): a second firing waits it out.
    pub cooldown_ms: u32,
    /// The most firings in one run (a second only when the lid did not
    /// open, after the cool-down).
    pub max_firings: u8,
}

impl ActiveTest {
    /// The cool-down when a profile gives none.
    pub const DEFAULT_COOLDOWN_MS: u32 = 3_000;
    /// The firings per run when a profile gives none.
    pub const DEFAULT_MAX_FIRINGS: u8 = 1;
}

/// What confirms a relearn step: a value the profile already reads, or a
/// calibration routine's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Confirm {
    /// The role's value changes to `value` while the step is watched (the
    /// module must see the change, as "close the gate by hand" needs).
    Becomes { role: Role, value: f64 },
    /// The role reads `value` at some moment while the step is watched (a
    /// state, such as the selector in P).
    Equals { role: Role, value: f64 },
    /// A UDS routine: `31 01 <id>` starts it, `31 03 <id>` reads its result,
    /// whose status bytes (after `71 03 <id>`) start with `pass` or `fail`.
    /// An actuation: run only when asked to.
    Routine {
        id: u16,
        pass: Vec<u8>,
        fail: Vec<u8>,
    },
}

impl Confirm {
    /// The role the step watches, if it watches one.
    pub fn role(&self) -> Option<Role> {
        match self {
            Confirm::Becomes { role, .. } | Confirm::Equals { role, .. } => Some(*role),
            Confirm::Routine { .. } => None,
        }
    }

    /// Plain words: `lid_open becomes 0`, `UDS routine 0x0203 passes`.
    pub fn words(&self) -> String {
        match self {
            Confirm::Becomes { role, value } => format!("{role} becomes {value}"),
            Confirm::Equals { role, value } => format!("{role} reads {value}"),
            Confirm::Routine { id, .. } => format!("UDS routine 0x{id:04X} passes"),
        }
    }
}

/// One step of a relearn: what the person does, and what on the bus says
/// it was done.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RelearnStep {
    /// What the person does, in plain words (`do` in the profile).
    pub action: String,
    pub confirm: Confirm,
    /// How long the step is watched before it counts as not done.
    pub timeout_us: u64,
    /// What to check when the step is not confirmed in time.
    pub if_not: String,
    pub item: ItemRef,
}

/// A make's procedure to re-initialise a power liftgate or trunk (after a
/// battery disconnect, a fuse change): steps confirmed one by one on the bus.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Relearn {
    pub procedure: String,
    /// The procedure's own level and source.
    pub item: ItemRef,
    pub steps: Vec<RelearnStep>,
}

/// VIN pattern: WMI, VDS prefix and model-year characters (VIN position 10).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VinPattern {
    pub wmi: String,
    pub vds_prefixes: Vec<String>,
    pub year_chars: String,
}

/// Thresholds the rules use.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Limits {
    /// Below this the battery is `low-battery`.
    pub low_battery_volts: f64,
    /// How long after a request the output and the lid are looked for.
    pub release_window_us: u64,
}

/// Where a profile was loaded from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "snake_case")]
pub enum ProfileOrigin {
    Bundled,
    File(String),
}

/// What a car's rear opening is, for the words a person reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lid {
    /// A sedan's trunk (decklid).
    #[default]
    Trunk,
    /// A hatch, SUV or crossover's liftgate (tailgate, back door).
    Liftgate,
}

impl Lid {
    pub const ALL: [Lid; 2] = [Lid::Trunk, Lid::Liftgate];

    /// The name profiles use.
    pub fn as_str(self) -> &'static str {
        match self {
            Lid::Trunk => "trunk",
            Lid::Liftgate => "liftgate",
        }
    }

    /// `text` as a person with this car reads it: the shared words say
    /// "trunk"; a liftgate car gets "liftgate" instead (and "liftgate" for
    /// "trunk lid"). Names quoted from the car's data are not passed here.
    pub fn words(self, text: &str) -> String {
        match self {
            Lid::Trunk => text.to_owned(),
            // The tool's own name stays as it is.
            Lid::Liftgate => text
                .replace("trunkdiag", "\u{0}")
                .replace("trunk lid", "liftgate")
                .replace("Trunk lid", "Liftgate")
                .replace("trunk", "liftgate")
                .replace("Trunk", "Liftgate")
                .replace('\u{0}', "trunkdiag"),
        }
    }
}

/// One vehicle family, ready for the analyzer and the rules.
#[derive(Clone, Debug, Serialize)]
pub struct Profile {
    pub id: String,
    pub make: String,
    pub model: String,
    pub generation: Option<String>,
    /// Trunk or liftgate: the words of its reports.
    pub lid: Lid,
    pub years: (u16, u16),
    pub description: String,
    pub vin: Vec<VinPattern>,
    /// The default bus's bitrate and CAN FD flag (`buses[0]`).
    pub bitrate: u32,
    pub fd: bool,
    /// Every bus, the default first.
    pub buses: Vec<Bus>,
    /// `None` for a car whose body module's address is not published.
    pub bcm: Option<Bcm>,
    pub reads: Vec<DataRead>,
    pub frames: Vec<BroadcastFrame>,
    pub dtcs: Vec<DtcMeaning>,
    pub causes: Vec<ExtraCause>,
    pub release_conditions: Vec<ReleaseCondition>,
    pub active_test: Option<ActiveTest>,
    /// The make's relearn procedure, when the car has a power lid and the
    /// procedure is published.
    pub relearn: Option<Relearn>,
    pub limits: Limits,
    pub access_now: Vec<String>,
    /// True when `known_ids` lists the whole bus (unknown ids are evidence);
    /// false when only some frames are published.
    pub census_complete: bool,
    /// `[census.recorded]`: ids and lengths a real car of this model
    /// carried (sorted), with how much that is known; for identification.
    pub recorded: Option<RecordedBus>,
    pub items: Vec<ItemInfo>,
    pub origin: ProfileOrigin,
    #[serde(skip)]
    pub(crate) frame_index: HashMap<CanId, usize>,
    /// GMLAN arbitration id → its frame's index (parameter-id frames).
    #[serde(skip)]
    pub(crate) gmlan_index: HashMap<u16, usize>,
    #[serde(skip)]
    pub(crate) known_ids: HashSet<CanId>,
}

impl Profile {
    /// Broadcast frame ids this profile decodes, each once (the pages of a
    /// multiplexed id share it).
    pub fn broadcast_ids(&self) -> impl Iterator<Item = CanId> + '_ {
        self.broadcast_entries().map(|(_, id)| id)
    }

    /// Each broadcast id once with the index
    /// [`decode_broadcast_at`](Self::decode_broadcast_at) takes for it.
    pub fn broadcast_entries(&self) -> impl Iterator<Item = (usize, CanId)> + '_ {
        self.frames
            .iter()
            .enumerate()
            .filter(|(i, f)| self.frame_index.get(&f.id) == Some(i))
            .map(|(i, f)| (i, f.id))
    }

    /// Decodes every signal of a broadcast frame the profile knows, calling
    /// `sink(item, role, value)` per signal that fits in the frame. Returns
    /// false when the frame is not a profile broadcast frame. One hash
    /// lookup, no allocation.
    pub fn decode_broadcast(&self, frame: &CanFrame, sink: impl FnMut(ItemRef, Role, f64)) -> bool {
        match self.broadcast_index(frame.id) {
            Some(i) => self.decode_broadcast_at(i, frame, sink),
            None => false,
        }
    }

    /// [`decode_broadcast`](Self::decode_broadcast) for a caller that
    /// already knows the frame's place in [`broadcast_ids`](Self::broadcast_ids)
    /// (no hash lookup); false when `index` is out of range or the frame
    /// is not a data frame.
    #[inline]
    pub fn decode_broadcast_at(
        &self,
        index: usize,
        frame: &CanFrame,
        mut sink: impl FnMut(ItemRef, Role, f64),
    ) -> bool {
        if !frame.is_data() {
            return false;
        }
        let data = frame.data();
        // The page of a multiplexed id whose selector matches (a frame
        // without a selector is the id's only one).
        let mut at = Some(index);
        while let Some(f) = at.and_then(|i| self.frames.get(i)) {
            if f.selector.is_none_or(|s| s.matches(data)) {
                for s in &f.signals {
                    if let Some(v) = s.decode(data) {
                        sink(s.item, s.role, v);
                    }
                }
                return true;
            }
            at = f.next_same_id;
        }
        // Another page of a multiplexed id: a known frame, nothing to read.
        self.frames.get(index).is_some()
    }

    /// Decodes a data reply for `key`; `data` is the payload after the echo
    /// (`61 44` / `62 D1 00` / `41 42` stripped). Returns false for a key the
    /// profile does not read.
    pub fn decode_data(
        &self,
        key: DataKey,
        data: &[u8],
        mut sink: impl FnMut(ItemRef, Role, f64),
    ) -> bool {
        let Some(read) = self.reads.iter().find(|r| r.key == key) else {
            return false;
        };
        for field in &read.fields {
            if let Some(v) = field.decode(data) {
                sink(field.item, field.role, v);
            }
        }
        true
    }

    /// Decodes a whole positive reply payload (`61 44 …`) by matching its echo
    /// against the profile's reads. Returns false if no read matches.
    pub fn decode_response(&self, payload: &[u8], sink: impl FnMut(ItemRef, Role, f64)) -> bool {
        let found = self.reads.iter().find_map(|r| {
            let echo = r.key.echo();
            payload
                .strip_prefix(echo.as_slice())
                .map(|rest| (r.key, rest))
        });
        match found {
            Some((key, rest)) => self.decode_data(key, rest, sink),
            None => false,
        }
    }

    /// Is this identifier expected on this vehicle's bus? O(1). Diagnostic
    /// ids ([`diag::ids::is_diagnostic`](crate::diag::ids::is_diagnostic))
    /// are always known.
    pub fn is_known_id(&self, id: CanId) -> bool {
        crate::diag::ids::is_diagnostic(id)
            || self.known_ids.contains(&id)
            || self.gmlan_frame(id).is_some()
    }

    /// The index of the broadcast frame a frame with this id is (its first
    /// page): by exact id, else by GMLAN arbitration id.
    #[inline]
    pub fn broadcast_index(&self, id: CanId) -> Option<usize> {
        self.frame_index
            .get(&id)
            .copied()
            .or_else(|| self.gmlan_frame(id))
    }

    /// The GMLAN parameter-id frame a 29-bit id is, whatever its priority
    /// and source address.
    #[inline]
    pub fn gmlan_frame(&self, id: CanId) -> Option<usize> {
        if self.gmlan_index.is_empty() {
            return None;
        }
        self.gmlan_index.get(&gmlan_arbitration_id(id)?).copied()
    }

    /// The known identifiers (census list and decoded frames), sorted.
    pub fn known_ids_sorted(&self) -> Vec<CanId> {
        let mut v: Vec<CanId> = self.known_ids.iter().copied().collect();
        v.sort();
        v
    }

    /// The BCM as a diagnostic target; `None` when the profile names none
    /// (no address is published for the car: broadcasts only).
    pub fn bcm(&self) -> Option<&Bcm> {
        self.bcm.as_ref()
    }

    /// The data reads to poll, in profile order.
    pub fn data_reads(&self) -> &[DataRead] {
        &self.reads
    }

    /// What the profile says about a DTC: exact match first (`U3003:16`), then
    /// the code without failure type (`U3003`).
    /// Text that is not a DTC has none.
    pub fn dtc_meaning(&self, code: &str) -> Option<&DtcMeaning> {
        self.dtc_meaning_of(code.trim().parse().ok()?)
    }

    /// [`dtc_meaning`](Self::dtc_meaning) of a decoded code, matched as a
    /// value: the same code and failure type, else the same code with none.
    pub fn dtc_meaning_of(&self, dtc: crate::diag::Dtc) -> Option<&DtcMeaning> {
        self.dtcs.iter().find(|d| d.code == dtc).or_else(|| {
            self.dtcs
                .iter()
                .find(|d| d.code.failure_type.is_none() && d.code.code == dtc.code)
        })
    }

    pub fn active_test(&self) -> Option<&ActiveTest> {
        self.active_test.as_ref()
    }

    pub fn item(&self, r: ItemRef) -> Option<&ItemInfo> {
        self.items.get(usize::from(r.0))
    }

    /// Items whose mapping is a placeholder (`level = "placeholder"`).
    pub fn placeholder_items(&self) -> impl Iterator<Item = &ItemInfo> + '_ {
        self.items.iter().filter(|i| i.level == Level::Placeholder)
    }

    /// The default bus (the first `[[bus]]`).
    pub fn default_bus(&self) -> Option<&Bus> {
        self.buses.first()
    }

    /// The bus of this name.
    pub fn bus(&self, name: &str) -> Option<&Bus> {
        self.buses.iter().find(|b| b.name == name)
    }

    /// Whether anything the profile reads is on the bus of this name: a
    /// broadcast frame, or any item (a signal, a data field, the BCM's
    /// addressing or exchanges) but the bus's own.
    pub fn bus_carries_items(&self, name: &str) -> bool {
        self.frames.iter().any(|f| f.bus == name)
            || self
                .items
                .iter()
                .any(|i| i.kind != ItemKind::Bus && i.bus == name)
    }

    /// True when some data field or signal carries this role.
    pub fn has_role(&self, role: Role) -> bool {
        self.fields().any(|f| f.role == role)
    }

    /// What a value of a role reads as: the name the first item with that
    /// role gives it (`Drive`), else the number itself.
    pub fn value_name(&self, role: Role, value: f64) -> String {
        self.fields()
            .filter(|f| f.role == role)
            .find_map(|f| f.value_name(value as i64))
            .map_or_else(|| format!("{value}"), str::to_owned)
    }

    /// A state value in words, as a gate reads it: "vehicle moving at
    /// 23 km/h", "in gear Drive", "doors locked", "battery at 10.4 V".
    pub fn state_words(&self, role: Role, v: f64) -> String {
        match role {
            Role::SpeedKmh if v < 0.5 => "vehicle stopped (0 km/h)".to_owned(),
            Role::SpeedKmh => format!("vehicle moving at {v:.0} km/h"),
            Role::Gear => format!("in gear {}", self.value_name(Role::Gear, v)),
            Role::IgnitionOn if v != 0.0 => "ignition ON".to_owned(),
            Role::IgnitionOn => "ignition OFF".to_owned(),
            Role::DoorsLocked | Role::DriverDoorLocked if v != 0.0 => "doors locked".to_owned(),
            Role::DoorsLocked | Role::DriverDoorLocked => "doors unlocked".to_owned(),
            Role::BatteryVoltage => format!("battery at {v:.1} V"),
            Role::Lockout if v != 0.0 => "lockout flag set".to_owned(),
            Role::Lockout => "lockout flag clear".to_owned(),
            other => format!("{} = {}", other.short_word(), self.value_name(other, v)),
        }
    }

    /// Every data field and broadcast signal.
    pub fn fields(&self) -> impl Iterator<Item = &Field> + '_ {
        self.reads
            .iter()
            .flat_map(|r| r.fields.iter())
            .chain(self.frames.iter().flat_map(|f| f.signals.iter()))
    }

    /// The profile-added cause with this id, if any.
    pub fn extra_cause(&self, id: &str) -> Option<&ExtraCause> {
        self.causes.iter().find(|c| c.id == id)
    }

    /// The buses carrying some of this profile's frames that are not at the
    /// OBD connector (no pins: behind a gateway), each with the words of
    /// the roles its frames carry ("lid", "ignition").
    pub fn buses_off_connector(&self) -> Vec<(&Bus, Vec<&'static str>)> {
        self.buses
            .iter()
            .filter(|b| b.off_connector)
            .filter_map(|b| {
                let mut words: Vec<&'static str> = Vec::new();
                for f in self.frames.iter().filter(|f| f.bus == b.name) {
                    for s in &f.signals {
                        let w = s.role.short_word();
                        if !words.contains(&w) {
                            words.push(w);
                        }
                    }
                }
                (!words.is_empty()).then_some((b, words))
            })
            .collect()
    }

    /// Whether the bus shows presses at all: the profile has a request
    /// item of some kind. A car without one (a lid-only car) learns of each
    /// press from the person; a car that shows some presses is not told of
    /// the others, so its evidence stays what its bus shows.
    pub fn sees_presses(&self) -> bool {
        Role::ALL
            .into_iter()
            .any(|r| r.is_request() && self.has_role(r))
    }

    /// Whether the person is asked to tell of presses: a lid-only car (no
    /// body module published, no request on its bus). A car with a body
    /// module keeps to what its bus and its module show.
    pub fn takes_told_presses(&self) -> bool {
        self.bcm.is_none() && !self.sees_presses()
    }

    /// True when this VIN matches one of the profile's patterns.
    pub fn matches_vin(&self, vin: &str) -> bool {
        let vin = vin.trim().to_ascii_uppercase();
        if vin.len() != 17 || !vin.is_ascii() {
            return false;
        }
        let (Some(wmi), Some(vds), Some(year)) = (vin.get(0..3), vin.get(3..9), vin.get(9..10))
        else {
            return false;
        };
        self.vin.iter().any(|p| {
            p.wmi == wmi
                && p.vds_prefixes.iter().any(|v| vds_matches(vds, v))
                && p.year_chars.contains(year)
        })
    }
}

/// Whether VIN positions 4-9 (`vds`) start with `prefix`, where `?` in the
/// prefix stands for any character (Volkswagen puts its model code in
/// positions 7-8: `???BU`).
fn vds_matches(vds: &str, prefix: &str) -> bool {
    prefix.len() <= vds.len()
        && prefix
            .bytes()
            .zip(vds.bytes())
            .all(|(p, v)| p == b'?' || p == v)
}
