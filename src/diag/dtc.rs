//! Diagnostic trouble codes: the 2-byte code of ISO 15031-6 / SAE J2012
//! (`A5 62` → `B2562`), the 3-byte UDS form with a failure-type byte
//! (`30 03 16` → `U3003:16`), the status byte, and short descriptions.
//!
//! Letter mapping: top two bits 00 P, 01 C, 10 B, 11 U; the next two bits are
//! the first digit (0-3); the low 12 bits are three hex digits.
//!
//! Status bytes. UDS (ISO 14229-1 D.2) defines eight flags ([`UdsStatus`]).
//! KWP2000 (ISO 14230-3 / SSF 14230) defines a different layout
//! ([`KwpStatus`]: fault symptom, readiness, storage state, warning lamp).
//! The Nissan BCM's status semantics are not public; the project's reference
//! data and simulator give its statuses in the UDS layout (0x09 = testFailed and
//! confirmedDTC), so [`DtcRecord::status`] keeps the raw byte and callers
//! choose the interpretation through the profile.
//!
//! This module must NOT know which vehicle a code came from: profile-specific
//! meanings live in the profiles; the table here covers only the codes the
//! bundled profiles use plus the generic class of any code.

use std::fmt;
use std::str::FromStr;

use super::DecodeError;

/// A trouble code: 16-bit code plus, for 3-byte UDS codes, the failure type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dtc {
    /// The 2-byte code (`0xA562` for B2562).
    pub code: u16,
    /// The failure-type byte of a 3-byte UDS code (`0x16` in U3003:16).
    pub failure_type: Option<u8>,
}

/// A code with the status byte that came with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct DtcRecord {
    pub dtc: Dtc,
    pub status: u8,
}

/// The system letter of a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum System {
    Powertrain,
    Chassis,
    Body,
    Network,
}

impl System {
    pub fn letter(self) -> char {
        match self {
            System::Powertrain => 'P',
            System::Chassis => 'C',
            System::Body => 'B',
            System::Network => 'U',
        }
    }

    fn from_letter(c: u8) -> Option<System> {
        match c.to_ascii_uppercase() {
            b'P' => Some(System::Powertrain),
            b'C' => Some(System::Chassis),
            b'B' => Some(System::Body),
            b'U' => Some(System::Network),
            _ => None,
        }
    }

    fn bits(self) -> u16 {
        match self {
            System::Powertrain => 0,
            System::Chassis => 1,
            System::Body => 2,
            System::Network => 3,
        }
    }

    /// The system in words: `body`, `network communication`.
    pub fn word(self) -> &'static str {
        match self {
            System::Powertrain => "powertrain",
            System::Chassis => "chassis",
            System::Body => "body",
            System::Network => "network communication",
        }
    }
}

impl Dtc {
    /// A 2-byte code.
    pub fn new(code: u16) -> Dtc {
        Dtc {
            code,
            failure_type: None,
        }
    }

    /// A 3-byte UDS code.
    pub fn with_failure_type(code: u16, failure_type: u8) -> Dtc {
        Dtc {
            code,
            failure_type: Some(failure_type),
        }
    }

    /// From the two bytes of a KWP2000 / OBD-II code.
    pub fn from_bytes2(hi: u8, lo: u8) -> Dtc {
        Dtc::new(u16::from_be_bytes([hi, lo]))
    }

    /// From the three bytes of a UDS code.
    pub fn from_bytes3(hi: u8, mid: u8, ft: u8) -> Dtc {
        Dtc::with_failure_type(u16::from_be_bytes([hi, mid]), ft)
    }

    /// From a 24-bit UDS DTC number (`0x300316`).
    pub fn from_u24(v: u32) -> Dtc {
        let [_, hi, mid, ft] = v.to_be_bytes();
        Dtc::from_bytes3(hi, mid, ft)
    }

    /// The 24-bit number of a UDS code (failure type 0 for 2-byte codes).
    pub fn to_u24(self) -> u32 {
        (u32::from(self.code) << 8) | u32::from(self.failure_type.unwrap_or(0))
    }

    /// The wire bytes: 2 or 3.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut v = self.code.to_be_bytes().to_vec();
        v.extend(self.failure_type);
        v
    }

    pub fn system(self) -> System {
        match self.code >> 14 {
            0 => System::Powertrain,
            1 => System::Chassis,
            2 => System::Body,
            _ => System::Network,
        }
    }

    /// The first digit after the letter (0-3).
    pub fn first_digit(self) -> u8 {
        ((self.code >> 12) & 0x3) as u8
    }

    /// The code without the failure type (`B2562`).
    pub fn base(self) -> Dtc {
        Dtc::new(self.code)
    }

    /// What the code means: the specific meaning for the codes the bundled
    /// profiles use, otherwise the generic meaning of its class; the failure
    /// type, when present, is appended.
    pub fn description(self) -> String {
        let base =
            known_description(self.code).map_or_else(|| class_description(self), str::to_owned);
        match self.failure_type {
            Some(ft) => format!("{base}; {}", failure_type_description(ft)),
            None => base,
        }
    }
}

impl fmt::Display for Dtc {
    /// `B2562`, or `U3003:16` with a failure type.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{:03X}",
            self.system().letter(),
            self.first_digit(),
            self.code & 0x0FFF
        )?;
        if let Some(ft) = self.failure_type {
            write!(f, ":{ft:02X}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Dtc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for Dtc {
    type Err = DecodeError;

    /// Parses `B2562`, `U3003:16`, `U300316` (letters in either case).
    fn from_str(text: &str) -> Result<Dtc, DecodeError> {
        let bad = |expected| DecodeError::BadDtcText {
            text: text.to_owned(),
            expected,
        };
        let b = text.trim().as_bytes();
        let (&letter, rest) = b.split_first().ok_or(bad("a letter P, C, B or U"))?;
        let system = System::from_letter(letter).ok_or(bad("a letter P, C, B or U"))?;
        let (digits, ft) = match rest.len() {
            4 => (rest, None),
            6 => (rest.get(..4).unwrap_or_default(), rest.get(4..)),
            7 if rest.get(4) == Some(&b':') => (rest.get(..4).unwrap_or_default(), rest.get(5..)),
            _ => {
                return Err(bad(
                    "4 digits after the letter, optionally 2 more (`:16` or `16`)",
                ))
            }
        };
        let (&first, low) = digits
            .split_first()
            .ok_or(bad("4 digits after the letter"))?;
        let first = match first {
            b'0'..=b'3' => u16::from(first - b'0'),
            _ => return Err(bad("first digit 0-3")),
        };
        let low =
            crate::hex::parse_u32(low).ok_or(bad("three hex digits after the first digit"))?;
        let code = (system.bits() << 14) | (first << 12) | (low as u16 & 0x0FFF);
        let failure_type = match ft {
            None => None,
            Some(ft) => {
                let v = crate::hex::parse_u32(ft).ok_or(bad("a 2-hex-digit failure type"))?;
                Some(v as u8)
            }
        };
        Ok(Dtc { code, failure_type })
    }
}

/// Specific meanings of the codes the bundled profiles use.
fn known_description(code: u16) -> Option<&'static str> {
    Some(match code {
        0xD000 => "U1000 CAN communication circuit: a module on the bus was not heard (Nissan)",
        0xD010 => "U1010 control unit (CAN): the BCM's internal CAN controller failed (Nissan): replace BCM",
        0xA562 => "B2562 low voltage: battery below about 8.8 V seen by the BCM (Nissan)",
        0xF003 => "U3003 battery voltage",
        _ => return None,
    })
}

/// The generic meaning of a code's letter and first digit (SAE J2012).
pub fn class_description(dtc: Dtc) -> String {
    let sys = dtc.system();
    let owner = match (sys, dtc.first_digit()) {
        (_, 0) => "SAE/ISO-defined generic",
        (System::Powertrain, 1) => "manufacturer-specific",
        (System::Powertrain, 2) => "SAE/ISO-defined generic",
        (System::Powertrain, _) => "manufacturer-specific or jointly defined (P3xxx)",
        (_, 1) | (_, 2) => "manufacturer-specific",
        (_, _) => "SAE/ISO-reserved or jointly defined",
    };
    format!(
        "{}{}xxx: {owner} {} code",
        sys.letter(),
        dtc.first_digit(),
        sys.word()
    )
}

/// The meaning of a failure-type byte (ISO 15031-6 / SAE J2012 category in
/// the high nibble, a few common subtypes named).
pub fn failure_type_description(ft: u8) -> String {
    let specific = match ft {
        0x00 => Some("no subtype information"),
        0x11 => Some("circuit short to ground"),
        0x12 => Some("circuit short to battery"),
        0x13 => Some("circuit open"),
        0x14 => Some("circuit short to ground or open"),
        0x15 => Some("circuit short to battery or open"),
        0x16 => Some("circuit voltage below threshold"),
        0x17 => Some("circuit voltage above threshold"),
        0x18 => Some("circuit current below threshold"),
        0x19 => Some("circuit current above threshold"),
        0x1C => Some("circuit voltage out of range"),
        0x1F => Some("circuit intermittent"),
        0x29 => Some("signal invalid"),
        0x81 => Some("invalid serial data received"),
        0x82 => Some("alive / sequence counter incorrect"),
        0x86 => Some("signal invalid"),
        0x87 => Some("missing message"),
        0x88 => Some("bus off"),
        _ => None,
    };
    let category = match ft >> 4 {
        0x0 => "general failure information",
        0x1 => "general electrical failure",
        0x2 => "general signal failure",
        0x3 => "FM / PWM failure",
        0x4 => "system internal failure",
        0x5 => "system programming failure",
        0x6 => "algorithm-based failure",
        0x7 => "mechanical failure",
        0x8 => "bus signal / message failure",
        0x9 => "component failure",
        0xF => "manufacturer-specific failure type",
        _ => "ISO/SAE-reserved failure type",
    };
    match specific {
        Some(s) => format!("failure type {ft:02X}: {s} ({category})"),
        None => format!("failure type {ft:02X}: {category}"),
    }
}

/// The UDS DTC status byte (ISO 14229-1 D.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdsStatus(pub u8);

impl UdsStatus {
    pub const TEST_FAILED: u8 = 0x01;
    pub const TEST_FAILED_THIS_OPERATION_CYCLE: u8 = 0x02;
    pub const PENDING: u8 = 0x04;
    pub const CONFIRMED: u8 = 0x08;
    pub const TEST_NOT_COMPLETED_SINCE_LAST_CLEAR: u8 = 0x10;
    pub const TEST_FAILED_SINCE_LAST_CLEAR: u8 = 0x20;
    pub const TEST_NOT_COMPLETED_THIS_OPERATION_CYCLE: u8 = 0x40;
    pub const WARNING_INDICATOR_REQUESTED: u8 = 0x80;

    const NAMES: [&'static str; 8] = [
        "testFailed",
        "testFailedThisOperationCycle",
        "pendingDTC",
        "confirmedDTC",
        "testNotCompletedSinceLastClear",
        "testFailedSinceLastClear",
        "testNotCompletedThisOperationCycle",
        "warningIndicatorRequested",
    ];

    pub fn test_failed(self) -> bool {
        self.0 & Self::TEST_FAILED != 0
    }
    pub fn pending(self) -> bool {
        self.0 & Self::PENDING != 0
    }
    pub fn confirmed(self) -> bool {
        self.0 & Self::CONFIRMED != 0
    }
    pub fn warning_indicator(self) -> bool {
        self.0 & Self::WARNING_INDICATOR_REQUESTED != 0
    }

    /// The names of the set bits, lowest bit first.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .enumerate()
            .filter(|(bit, _)| self.0 & (1 << bit) != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

impl fmt::Display for UdsStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X}", self.0)?;
        let names = self.names();
        if !names.is_empty() {
            write!(f, " ({})", names.join(", "))?;
        }
        Ok(())
    }
}

/// KWP2000 DTC storage state (bits 5-6 of the ISO 14230-3 status byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KwpStorageState {
    NoFault,
    NotPresentAtTimeOfRequest,
    MaturingIntermittent,
    PresentAtTimeOfRequest,
}

/// The KWP2000 DTC status byte (ISO 14230-3 / SSF 14230): bits 0-3 fault
/// symptom, bit 4 test not complete, bits 5-6 storage state, bit 7 warning
/// lamp. Offered for ECUs that follow the standard layout; see the module
/// doc for why Nissan statuses are read in the UDS layout by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KwpStatus(pub u8);

impl KwpStatus {
    pub fn fault_symptom(self) -> u8 {
        self.0 & 0x0F
    }
    pub fn test_not_complete(self) -> bool {
        self.0 & 0x10 != 0
    }
    pub fn storage(self) -> KwpStorageState {
        match (self.0 >> 5) & 0x3 {
            0 => KwpStorageState::NoFault,
            1 => KwpStorageState::NotPresentAtTimeOfRequest,
            2 => KwpStorageState::MaturingIntermittent,
            _ => KwpStorageState::PresentAtTimeOfRequest,
        }
    }
    pub fn warning_lamp(self) -> bool {
        self.0 & 0x80 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn letter_codes_from_bytes() {
        let cases = [
            ([0xA5, 0x62], "B2562"),
            ([0xD0, 0x00], "U1000"),
            ([0xD0, 0x10], "U1010"),
            ([0x01, 0x33], "P0133"),
            ([0x41, 0x23], "C0123"),
            ([0x3F, 0xFF], "P3FFF"),
            ([0xFF, 0xFF], "U3FFF"),
            ([0x00, 0x00], "P0000"),
        ];
        for (b, text) in cases {
            let dtc = Dtc::from_bytes2(b[0], b[1]);
            assert_eq!(dtc.to_string(), text);
            assert_eq!(text.parse::<Dtc>().unwrap(), dtc);
        }
    }

    #[test]
    fn three_byte_codes_print_and_parse() {
        let dtc = Dtc::from_bytes3(0xF0, 0x03, 0x16);
        assert_eq!(dtc.to_string(), "U3003:16");
        assert_eq!("U3003:16".parse::<Dtc>().unwrap(), dtc);
        assert_eq!("U300316".parse::<Dtc>().unwrap(), dtc);
        assert_eq!("u3003:16".parse::<Dtc>().unwrap(), dtc);
        assert_eq!(dtc.to_u24(), 0xF00316);
        assert_eq!(Dtc::from_u24(0xF00316), dtc);
        assert_eq!(dtc.to_bytes(), vec![0xF0, 0x03, 0x16]);
    }

    #[test]
    fn bad_text_names_what_was_expected() {
        for (text, expected) in [
            ("", "a letter"),
            ("X1000", "a letter"),
            ("B4562", "first digit 0-3"),
            ("B25G2", "three hex digits"),
            ("B256", "4 digits"),
            ("U3003:1G", "failure type"),
            ("U3003-16", "4 digits"),
        ] {
            let err = text.parse::<Dtc>().unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn descriptions_cover_known_codes_and_classes() {
        assert!(Dtc::new(0xA562).description().contains("low voltage"));
        assert!(Dtc::new(0xD000).description().contains("CAN communication"));
        let u3003 = "U3003:16".parse::<Dtc>().unwrap().description();
        assert!(
            u3003.contains("battery voltage") && u3003.contains("circuit voltage below threshold"),
            "{u3003}"
        );
        assert_eq!(
            Dtc::new(0x9234).description(),
            "B1xxx: manufacturer-specific body code"
        );
        assert_eq!(
            Dtc::new(0x0100).description(),
            "P0xxx: SAE/ISO-defined generic powertrain code"
        );
        assert!(failure_type_description(0x87).contains("missing message"));
        assert!(failure_type_description(0xA1).contains("reserved"));
    }

    #[test]
    fn uds_status_bits() {
        let s = UdsStatus(0x09);
        assert!(s.test_failed() && s.confirmed() && !s.pending());
        assert_eq!(s.names(), vec!["testFailed", "confirmedDTC"]);
        assert_eq!(s.to_string(), "0x09 (testFailed, confirmedDTC)");
        assert_eq!(UdsStatus(0xFF).names().len(), 8);
    }

    #[test]
    fn kwp_status_layout() {
        let s = KwpStatus(0xE3);
        assert_eq!(s.fault_symptom(), 3);
        assert!(!s.test_not_complete());
        assert_eq!(s.storage(), KwpStorageState::PresentAtTimeOfRequest);
        assert!(s.warning_lamp());
        assert_eq!(
            KwpStatus(0x20).storage(),
            KwpStorageState::NotPresentAtTimeOfRequest
        );
    }

    proptest! {
        #[test]
        fn text_round_trips(code: u16, ft: Option<u8>) {
            let dtc = Dtc { code, failure_type: ft };
            let text = dtc.to_string();
            prop_assert_eq!(text.parse::<Dtc>().unwrap(), dtc);
            prop_assert_eq!(text.replace(':', "").parse::<Dtc>().unwrap(), dtc);
        }

        #[test]
        fn bytes_round_trip(code: u16, ft: Option<u8>) {
            let dtc = Dtc { code, failure_type: ft };
            let b = dtc.to_bytes();
            let back = match ft {
                Some(_) => Dtc::from_bytes3(b[0], b[1], b[2]),
                None => Dtc::from_bytes2(b[0], b[1]),
            };
            prop_assert_eq!(back, dtc);
        }

        #[test]
        fn any_text_parses_or_errors(text in "\\PC{0,12}") {
            let _ = text.parse::<Dtc>();
        }
    }
}
