//! What a request does to the module, read from its bytes before anything
//! is sent: a read, a change of one class (each allowed by its own flag),
//! or something trunkdiag never sends. Pure: payload in, class out.
//!
//! Reads are the sessions that only widen what can be read (UDS `10 01`,
//! `10 03`, Nissan's `10 C0`; KWP2000 `10 81`, `10 89`, `10 92`, `10 C0`),
//! the trouble-code and data reads, tester present and the OBD-II modes.
//! Security access, programming sessions, memory transfers, communication
//! control and DTC-setting control are refused whatever the flags: they
//! unlock, reflash, silence or blind a module, none of which a trunk
//! diagnosis needs. A service id this table does not know is refused too,
//! so a typo is never a guess about what the module will do.

use std::fmt;

use super::Protocol;

/// A change to the module, allowed only by its own flag (`--allow CLASS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// Erases stored trouble codes (evidence).
    Clear,
    /// Writes data or memory (a configuration, a coding).
    Write,
    /// Drives an output or runs a routine (motors, relays, tests).
    Actuate,
    /// Restarts the module.
    Reset,
}

impl Change {
    /// Every class, in the order the flag's help lists them.
    pub const ALL: [Change; 4] = [Change::Clear, Change::Write, Change::Actuate, Change::Reset];

    /// The class's name in `--allow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Clear => "clear",
            Change::Write => "write",
            Change::Actuate => "actuate",
            Change::Reset => "reset",
        }
    }

    /// What a change of this class does, for the question and the refusal.
    pub fn words(self) -> &'static str {
        match self {
            Change::Clear => "erases the module's trouble codes",
            Change::Write => "writes data into the module",
            Change::Actuate => "drives an output or runs a routine in the module",
            Change::Reset => "restarts the module",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request is never sent, whatever the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `27`: unlocks protected services.
    SecurityAccess,
    /// `10 02` (UDS), `10 85` (KWP2000), GMLAN `A5`: reflash mode.
    ProgrammingSession,
    /// `34`–`38` (GMLAN `34`, `36`): memory download and upload.
    Transfer,
    /// `28`: silences the module's normal messages.
    CommunicationControl,
    /// `85` (GMLAN `10 02`): stops the module recording trouble codes.
    DtcSetting,
    /// A session this table does not know to be harmless.
    UnknownSession { session: u8 },
    /// A service this table does not know.
    UnknownService { sid: u8 },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::SecurityAccess => f.write_str(
                "security access (27) unlocks protected services; trunkdiag never attempts it",
            ),
            Refusal::ProgrammingSession => f.write_str(
                "a programming session puts the module in reflash mode; trunkdiag never opens one",
            ),
            Refusal::Transfer => f.write_str(
                "download/upload (34-38) moves memory in or out of the module; trunkdiag never does",
            ),
            Refusal::CommunicationControl => f.write_str(
                "communication control (28) silences the module's messages; trunkdiag never sends it",
            ),
            Refusal::DtcSetting => f.write_str(
                "DTC-setting control stops the module recording trouble codes; trunkdiag never sends it",
            ),
            Refusal::UnknownSession { session } => write!(
                f,
                "session 0x{session:02X} is not one trunkdiag knows to be harmless: not sent"
            ),
            Refusal::UnknownService { sid } => write!(f, "unknown service 0x{sid:02X}: not sent"),
        }
    }
}

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    /// Reads, or opens a session that only reads: sent.
    Read,
    /// Changes the module: sent only when its class is allowed.
    Change(Change),
    /// Never sent.
    Refused(Refusal),
}

/// A request that cannot be classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClassifyError {
    #[error("an empty request has no service id: expected at least one byte")]
    Empty,
}

/// Why a request may not go out with the classes allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    /// A change whose class was not allowed.
    #[error("this request {} ({} 0x{sid:02X}): add --allow {class} to send it", class.words(), protocol.label())]
    NotAllowed {
        class: Change,
        sid: u8,
        protocol: Protocol,
    },
    /// Never sent.
    #[error("{refusal}")]
    Refused { refusal: Refusal },
}

/// Reads the request's class from its service id (and sub-function where
/// that decides it). OBD-II modes `01`–`0A` are read the same under every
/// protocol (they share the engine's ids): `04` clears, `08` drives a test.
pub fn classify(protocol: Protocol, payload: &[u8]) -> Result<RequestClass, ClassifyError> {
    let (&sid, rest) = payload.split_first().ok_or(ClassifyError::Empty)?;
    let sub = rest.first().map(|s| s & 0x7F);
    let change = RequestClass::Change;
    let refused = RequestClass::Refused;
    Ok(match (protocol, sid) {
        (_, 0x04) => change(Change::Clear),
        (_, 0x08) => change(Change::Actuate),
        (_, 0x01..=0x0A) => RequestClass::Read,
        (Protocol::Gmlan, _) => gmlan(sid, sub),
        (Protocol::Kwp, 0x10) => match rest.first().copied() {
            Some(0x81 | 0x89 | 0x92 | 0xC0) => RequestClass::Read,
            Some(0x85) => refused(Refusal::ProgrammingSession),
            Some(session) => refused(Refusal::UnknownSession { session }),
            None => refused(Refusal::UnknownSession { session: 0 }),
        },
        // UDS sub-functions carry the suppress bit; KWP2000 session
        // numbers have bit 7 set themselves (hence the raw byte above).
        (_, 0x10) if rest.first() == Some(&0xC0) => RequestClass::Read,
        (_, 0x10) => match sub {
            Some(0x01 | 0x03) => RequestClass::Read,
            Some(0x02) => refused(Refusal::ProgrammingSession),
            Some(session) => refused(Refusal::UnknownSession {
                session: rest.first().copied().unwrap_or(session),
            }),
            None => refused(Refusal::UnknownSession { session: 0 }),
        },
        (_, 0x11) => change(Change::Reset),
        (_, 0x14) => change(Change::Clear),
        (_, 0x12 | 0x13 | 0x17 | 0x18 | 0x19 | 0x1A | 0x20 | 0x21 | 0x22 | 0x23 | 0x33 | 0x3E) => {
            RequestClass::Read
        }
        (_, 0x27) => refused(Refusal::SecurityAccess),
        (_, 0x28) => refused(Refusal::CommunicationControl),
        (_, 0x2C | 0x2E | 0x3B | 0x3D) => change(Change::Write),
        (_, 0x2F | 0x30 | 0x31 | 0x32 | 0x38 | 0x39) if protocol == Protocol::Kwp => {
            change(Change::Actuate)
        }
        (_, 0x2F | 0x31) => change(Change::Actuate),
        (_, 0x34..=0x38) => refused(Refusal::Transfer),
        (_, 0x85) => refused(Refusal::DtcSetting),
        _ => refused(Refusal::UnknownService { sid }),
    })
}

/// GMLAN's own table (GMW3110 service ids).
fn gmlan(sid: u8, sub: Option<u8>) -> RequestClass {
    match sid {
        // InitiateDiagnosticOperation: 02 disables every DTC.
        0x10 => match sub {
            Some(0x03 | 0x04) => RequestClass::Read,
            Some(0x02) => RequestClass::Refused(Refusal::DtcSetting),
            Some(session) => RequestClass::Refused(Refusal::UnknownSession { session }),
            None => RequestClass::Refused(Refusal::UnknownSession { session: 0 }),
        },
        0x12 | 0x1A | 0x20 | 0x22 | 0x23 | 0x3E | 0xA2 | 0xA9 | 0xAA => RequestClass::Read,
        0x2C | 0x2D | 0x3B => RequestClass::Change(Change::Write),
        0xAE => RequestClass::Change(Change::Actuate),
        0x27 => RequestClass::Refused(Refusal::SecurityAccess),
        0x28 => RequestClass::Refused(Refusal::CommunicationControl),
        0xA5 => RequestClass::Refused(Refusal::ProgrammingSession),
        0x34 | 0x36 => RequestClass::Refused(Refusal::Transfer),
        _ => RequestClass::Refused(Refusal::UnknownService { sid }),
    }
}

/// Whether the request may go out with these classes allowed: reads
/// always, a change only with its class, a refusal never.
pub fn permit(
    protocol: Protocol,
    payload: &[u8],
    allowed: &[Change],
) -> Result<RequestClass, PermitError> {
    let class = classify(protocol, payload)?;
    match class {
        RequestClass::Read => Ok(class),
        RequestClass::Change(c) if allowed.contains(&c) => Ok(class),
        RequestClass::Change(c) => Err(PermitError::Denied(Denied::NotAllowed {
            class: c,
            sid: payload.first().copied().unwrap_or_default(),
            protocol,
        })),
        RequestClass::Refused(refusal) => Err(PermitError::Denied(Denied::Refused { refusal })),
    }
}

/// Why [`permit`] said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PermitError {
    #[error(transparent)]
    Empty(#[from] ClassifyError),
    #[error(transparent)]
    Denied(#[from] Denied),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn class(p: Protocol, hex: &str) -> RequestClass {
        classify(p, &crate::hex::decode(hex).unwrap()).unwrap()
    }

    #[test]
    fn reads_go() {
        for (p, hex) in [
            (Protocol::Uds, "1001"),
            (Protocol::Uds, "1003"),
            (Protocol::Uds, "1083"),
            (Protocol::Uds, "10C0"),
            (Protocol::Uds, "1902FF"),
            (Protocol::Uds, "22F190"),
            (Protocol::Uds, "3E80"),
            (Protocol::Kwp, "10C0"),
            (Protocol::Kwp, "1081"),
            (Protocol::Kwp, "1089"),
            (Protocol::Kwp, "1092"),
            (Protocol::Kwp, "2144"),
            (Protocol::Kwp, "1A90"),
            (Protocol::Kwp, "1802FF00"),
            (Protocol::Obd, "0100"),
            (Protocol::Obd, "0902"),
            (Protocol::Obd, "03"),
            (Protocol::Obd, "0A"),
            (Protocol::Gmlan, "1A90"),
            (Protocol::Gmlan, "A981FF"),
            (Protocol::Gmlan, "1004"),
        ] {
            assert_eq!(class(p, hex), RequestClass::Read, "{p:?} {hex}");
        }
    }

    #[test]
    fn changes_name_their_class() {
        for (p, hex, want) in [
            (Protocol::Uds, "1101", Change::Reset),
            (Protocol::Kwp, "1101", Change::Reset),
            (Protocol::Uds, "14FFFFFF", Change::Clear),
            (Protocol::Kwp, "14FF00", Change::Clear),
            (Protocol::Gmlan, "04", Change::Clear),
            (Protocol::Obd, "04", Change::Clear),
            (Protocol::Uds, "2EF19000", Change::Write),
            (Protocol::Uds, "3D14", Change::Write),
            (Protocol::Kwp, "3B9000", Change::Write),
            (Protocol::Gmlan, "3B90", Change::Write),
            (Protocol::Uds, "2FD10003FF", Change::Actuate),
            (Protocol::Uds, "3101FF00", Change::Actuate),
            (Protocol::Kwp, "30130701", Change::Actuate),
            (Protocol::Kwp, "3101", Change::Actuate),
            (Protocol::Gmlan, "AE0101", Change::Actuate),
            (Protocol::Obd, "0801", Change::Actuate),
        ] {
            assert_eq!(class(p, hex), RequestClass::Change(want), "{p:?} {hex}");
        }
    }

    #[test]
    fn harmful_services_are_refused() {
        for (p, hex, want) in [
            (Protocol::Uds, "2701", Refusal::SecurityAccess),
            (Protocol::Kwp, "2701", Refusal::SecurityAccess),
            (Protocol::Gmlan, "2701", Refusal::SecurityAccess),
            (Protocol::Uds, "1002", Refusal::ProgrammingSession),
            (Protocol::Uds, "1082", Refusal::ProgrammingSession),
            (Protocol::Kwp, "1085", Refusal::ProgrammingSession),
            (Protocol::Gmlan, "A501", Refusal::ProgrammingSession),
            (Protocol::Uds, "3400", Refusal::Transfer),
            (Protocol::Uds, "3601", Refusal::Transfer),
            (Protocol::Uds, "37", Refusal::Transfer),
            (Protocol::Gmlan, "3600", Refusal::Transfer),
            (Protocol::Uds, "280301", Refusal::CommunicationControl),
            (Protocol::Gmlan, "28", Refusal::CommunicationControl),
            (Protocol::Uds, "8502", Refusal::DtcSetting),
            (Protocol::Kwp, "8502", Refusal::DtcSetting),
            (Protocol::Gmlan, "1002", Refusal::DtcSetting),
            (
                Protocol::Uds,
                "1060",
                Refusal::UnknownSession { session: 0x60 },
            ),
            (
                Protocol::Uds,
                "1040",
                Refusal::UnknownSession { session: 0x40 },
            ),
            (
                Protocol::Kwp,
                "1087",
                Refusal::UnknownSession { session: 0x87 },
            ),
            (Protocol::Uds, "BA", Refusal::UnknownService { sid: 0xBA }),
            (Protocol::Gmlan, "2F", Refusal::UnknownService { sid: 0x2F }),
        ] {
            assert_eq!(class(p, hex), RequestClass::Refused(want), "{p:?} {hex}");
        }
        assert_eq!(
            Refusal::UnknownService { sid: 0xBA }.to_string(),
            "unknown service 0xBA: not sent"
        );
    }

    #[test]
    fn an_empty_request_is_an_error() {
        assert_eq!(classify(Protocol::Uds, &[]), Err(ClassifyError::Empty));
        assert!(matches!(
            permit(Protocol::Uds, &[], &Change::ALL),
            Err(PermitError::Empty(_))
        ));
    }

    #[test]
    fn a_denial_names_the_flag() {
        let e = permit(Protocol::Uds, &[0x11, 0x01], &[Change::Clear]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "this request restarts the module (UDS 0x11): add --allow reset to send it"
        );
        assert!(permit(Protocol::Uds, &[0x11, 0x01], &[Change::Reset]).is_ok());
    }

    fn protocol() -> impl Strategy<Value = Protocol> {
        prop::sample::select(Protocol::ALL.to_vec())
    }

    fn allowed() -> impl Strategy<Value = Vec<Change>> {
        prop::sample::subsequence(Change::ALL.to_vec(), 0..=4)
    }

    proptest! {
        /// Only a read, or a change whose class was allowed, is permitted;
        /// the refused services never are, whatever is allowed.
        #[test]
        fn nothing_but_a_read_goes_without_its_flag(
            p in protocol(),
            payload in prop::collection::vec(any::<u8>(), 1..12),
            allowed in allowed(),
        ) {
            let class = classify(p, &payload).unwrap();
            let verdict = permit(p, &payload, &allowed);
            match class {
                RequestClass::Read => prop_assert!(verdict.is_ok()),
                RequestClass::Change(c) => prop_assert_eq!(verdict.is_ok(), allowed.contains(&c)),
                RequestClass::Refused(_) => prop_assert!(verdict.is_err()),
            }
            if matches!(payload[0], 0x27 | 0x34..=0x37 | 0x85) {
                prop_assert!(permit(p, &payload, &Change::ALL).is_err());
            }
            if p != Protocol::Gmlan && payload[0] == 0x28 {
                prop_assert!(permit(p, &payload, &Change::ALL).is_err());
            }
        }

        /// With no class allowed, what goes out is a read.
        #[test]
        fn with_nothing_allowed_only_reads_go(
            p in protocol(),
            payload in prop::collection::vec(any::<u8>(), 1..12),
        ) {
            if permit(p, &payload, &[]).is_ok() {
                prop_assert_eq!(classify(p, &payload).unwrap(), RequestClass::Read);
            }
        }
    }
}
