//! UDS (ISO 14229-1) request builders and response parsers: the services the
//! tool needs to read a body module (session, DTCs, DIDs), the I/O control
//! of the active test, routine control, tester present, and decoders for the
//! services it must recognise in captures but never sends (ECU reset is a
//! codec only; security access is decode-only: the tool never attempts it).
//!
//! Builders return the exact request bytes; parsers take the whole response
//! payload and check SID, echo and length.

use super::dtc::{Dtc, DtcRecord};
use super::{finish, need, positive_body, DecodeError, Reader, SPRMIB};

pub const DIAGNOSTIC_SESSION_CONTROL: u8 = 0x10;
pub const ECU_RESET: u8 = 0x11;
pub const CLEAR_DIAGNOSTIC_INFORMATION: u8 = 0x14;
pub const READ_DTC_INFORMATION: u8 = 0x19;
pub const READ_DATA_BY_IDENTIFIER: u8 = 0x22;
pub const SECURITY_ACCESS: u8 = 0x27;
pub const IO_CONTROL_BY_IDENTIFIER: u8 = 0x2F;
pub const ROUTINE_CONTROL: u8 = 0x31;
pub const TESTER_PRESENT: u8 = 0x3E;

/// Session types of 0x10.
pub mod session {
    pub const DEFAULT: u8 = 0x01;
    pub const PROGRAMMING: u8 = 0x02;
    pub const EXTENDED: u8 = 0x03;
    pub const SAFETY_SYSTEM: u8 = 0x04;
}

/// ReadDTCInformation sub-functions the tool uses.
pub mod dtc_report {
    pub const NUMBER_BY_STATUS_MASK: u8 = 0x01;
    pub const BY_STATUS_MASK: u8 = 0x02;
    pub const SUPPORTED: u8 = 0x0A;
}

/// InputOutputControlParameter values of 0x2F.
pub mod io_param {
    pub const RETURN_CONTROL_TO_ECU: u8 = 0x00;
    pub const RESET_TO_DEFAULT: u8 = 0x01;
    pub const FREEZE_CURRENT_STATE: u8 = 0x02;
    pub const SHORT_TERM_ADJUSTMENT: u8 = 0x03;
}

/// The ISO name of a UDS service.
pub fn service_name(sid: u8) -> &'static str {
    match sid & !0x40 {
        0x10 => "DiagnosticSessionControl",
        0x11 => "ECUReset",
        0x14 => "ClearDiagnosticInformation",
        0x19 => "ReadDTCInformation",
        0x22 => "ReadDataByIdentifier",
        0x23 => "ReadMemoryByAddress",
        0x24 => "ReadScalingDataByIdentifier",
        0x27 => "SecurityAccess",
        0x28 => "CommunicationControl",
        0x29 => "Authentication",
        0x2A => "ReadDataByPeriodicIdentifier",
        0x2C => "DynamicallyDefineDataIdentifier",
        0x2E => "WriteDataByIdentifier",
        0x2F => "InputOutputControlByIdentifier",
        0x31 => "RoutineControl",
        0x34 => "RequestDownload",
        0x35 => "RequestUpload",
        0x36 => "TransferData",
        0x37 => "RequestTransferExit",
        0x38 => "RequestFileTransfer",
        0x3D => "WriteMemoryByAddress",
        0x3E => "TesterPresent",
        0x3F => "NegativeResponse",
        _ => match sid {
            0x83 | 0xC3 => "AccessTimingParameter",
            0x84 | 0xC4 => "SecuredDataTransmission",
            0x85 | 0xC5 => "ControlDTCSetting",
            0x86 | 0xC6 => "ResponseOnEvent",
            0x87 | 0xC7 => "LinkControl",
            _ => "unknown service",
        },
    }
}

/// Whether a UDS service carries a sub-function byte whose bit 7 is the
/// suppress-positive-response bit. ReadDTCInformation has a sub-function but
/// a suppressed read makes no sense, so it is not listed.
pub fn has_sprmib(sid: u8) -> bool {
    matches!(
        sid,
        0x10 | 0x11 | 0x27 | 0x28 | 0x31 | 0x3E | 0x83 | 0x85 | 0x86 | 0x87
    )
}

/// Whether a UDS request asks the server not to send a positive response.
pub fn suppresses_positive_response(req: &[u8]) -> bool {
    match (req.first(), req.get(1)) {
        (Some(&sid), Some(&sub)) => has_sprmib(sid) && sub & SPRMIB != 0,
        _ => false,
    }
}

fn sub(value: u8, suppress: bool) -> u8 {
    if suppress {
        value | SPRMIB
    } else {
        value & !SPRMIB
    }
}

// ---------------------------------------------------------------- 0x10

/// `10 <session>` (with SPRMIB when `suppress`).
pub fn session_control(session: u8, suppress: bool) -> Vec<u8> {
    vec![DIAGNOSTIC_SESSION_CONTROL, sub(session, suppress)]
}

/// P2server_max when a session answer carries no timing (ISO 14229-2 default).
pub const DEFAULT_P2_MS: u16 = 50;
/// P2*server_max in units of 10 ms when a session answer carries no timing
/// (ISO 14229-2 default, 5 s).
pub const DEFAULT_P2_STAR_10MS: u16 = 500;

/// The positive response to 0x10: the session and the server's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTiming {
    pub session: u8,
    /// P2server_max in milliseconds.
    pub p2_ms: u16,
    /// P2*server_max in units of 10 ms.
    pub p2_star_10ms: u16,
    /// Whether the answer carried the timing; `false` for `50 <session>`
    /// alone (older ECUs answer so, and ISO 14229 of 2006 allowed it), and
    /// then P2 / P2* are the defaults [`DEFAULT_P2_MS`] / [`DEFAULT_P2_STAR_10MS`].
    pub announced: bool,
}

impl SessionTiming {
    pub fn p2_us(self) -> u64 {
        u64::from(self.p2_ms) * 1_000
    }
    pub fn p2_star_us(self) -> u64 {
        u64::from(self.p2_star_10ms) * 10_000
    }
}

/// `50 <session> <P2 hi lo> <P2* hi lo>`, or `50 <session>` alone (then the
/// default timing, `announced: false`); the echo must match `session`.
/// Part of the timing (2 or 3 bytes) is malformed.
pub fn parse_session_control(resp: &[u8], session: u8) -> Result<SessionTiming, DecodeError> {
    const S: &str = "DiagnosticSessionControl";
    let mut r = positive_body(S, DIAGNOSTIC_SESSION_CONTROL, resp)?;
    let total = resp.len();
    let got = need(&mut r, 1, S, "session type", total)?;
    let echoed = got.first().copied().unwrap_or_default() & !SPRMIB;
    check_echo(
        S,
        "session type",
        u32::from(session & !SPRMIB),
        u32::from(echoed),
    )?;
    if r.remaining() == 0 {
        return Ok(SessionTiming {
            session: echoed,
            p2_ms: DEFAULT_P2_MS,
            p2_star_10ms: DEFAULT_P2_STAR_10MS,
            announced: false,
        });
    }
    let p2 = need(&mut r, 2, S, "P2server_max", total)?;
    let p2s = need(&mut r, 2, S, "P2*server_max", total)?;
    finish(&r, S, "session parameter record")?;
    Ok(SessionTiming {
        session: echoed,
        p2_ms: be16(p2),
        p2_star_10ms: be16(p2s),
        announced: true,
    })
}

// ---------------------------------------------------------------- 0x11

/// `11 <type>`: codec only, the tool never resets a module by default.
pub fn ecu_reset(reset_type: u8, suppress: bool) -> Vec<u8> {
    vec![ECU_RESET, sub(reset_type, suppress)]
}

/// `51 <type> [powerDownTime]`; returns the power-down time if present
/// (only for enableRapidPowerShutDown, 0x04).
pub fn parse_ecu_reset(resp: &[u8], reset_type: u8) -> Result<Option<u8>, DecodeError> {
    const S: &str = "ECUReset";
    let mut r = positive_body(S, ECU_RESET, resp)?;
    let got = need(&mut r, 1, S, "reset type", resp.len())?;
    let echoed = got.first().copied().unwrap_or_default() & !SPRMIB;
    check_echo(
        S,
        "reset type",
        u32::from(reset_type & !SPRMIB),
        u32::from(echoed),
    )?;
    let time = r.u8();
    finish(&r, S, "power-down time")?;
    Ok(time)
}

// ---------------------------------------------------------------- 0x14

/// All DTC groups.
pub const ALL_DTC_GROUPS: u32 = 0xFF_FFFF;

/// `14 <group: 3 bytes>`.
pub fn clear_dtcs(group: u32) -> Vec<u8> {
    let [_, a, b, c] = group.to_be_bytes();
    vec![CLEAR_DIAGNOSTIC_INFORMATION, a, b, c]
}

/// `54`.
pub fn parse_clear_dtcs(resp: &[u8]) -> Result<(), DecodeError> {
    const S: &str = "ClearDiagnosticInformation";
    let r = positive_body(S, CLEAR_DIAGNOSTIC_INFORMATION, resp)?;
    finish(&r, S, "response SID")
}

// ---------------------------------------------------------------- 0x19

/// `19 01 <mask>`.
pub fn read_dtc_count(status_mask: u8) -> Vec<u8> {
    vec![
        READ_DTC_INFORMATION,
        dtc_report::NUMBER_BY_STATUS_MASK,
        status_mask,
    ]
}

/// `19 02 <mask>`.
pub fn read_dtcs_by_status(status_mask: u8) -> Vec<u8> {
    vec![
        READ_DTC_INFORMATION,
        dtc_report::BY_STATUS_MASK,
        status_mask,
    ]
}

/// `19 0A`.
pub fn read_supported_dtcs() -> Vec<u8> {
    vec![READ_DTC_INFORMATION, dtc_report::SUPPORTED]
}

/// Answer to `19 01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtcCount {
    pub availability_mask: u8,
    /// DTCFormatIdentifier (0x01 = ISO 14229-1 format).
    pub format: u8,
    pub count: u16,
}

/// Answer to `19 02` / `19 0A`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtcReport {
    pub availability_mask: u8,
    pub records: Vec<DtcRecord>,
}

/// `59 01 <avail> <format> <count hi lo>`.
pub fn parse_dtc_count(resp: &[u8]) -> Result<DtcCount, DecodeError> {
    const S: &str = "ReadDTCInformation";
    let mut r = dtc_body(resp, dtc_report::NUMBER_BY_STATUS_MASK)?;
    let b = need(
        &mut r,
        4,
        S,
        "availability mask, format and count",
        resp.len(),
    )?;
    finish(&r, S, "DTC count")?;
    Ok(DtcCount {
        availability_mask: b.first().copied().unwrap_or_default(),
        format: b.get(1).copied().unwrap_or_default(),
        count: be16(b.get(2..).unwrap_or_default()),
    })
}

/// `59 <02|0A> <avail> (<dtc 3 bytes> <status>)*` for sub-function `report`.
pub fn parse_dtc_report(resp: &[u8], report: u8) -> Result<DtcReport, DecodeError> {
    const S: &str = "ReadDTCInformation";
    let mut r = dtc_body(resp, report)?;
    let avail = need(&mut r, 1, S, "DTC status availability mask", resp.len())?;
    let body = r.rest();
    if !body.len().is_multiple_of(4) {
        return Err(DecodeError::Invalid {
            service: S,
            what: format!(
                "DTC records are 4 bytes (3-byte DTC + status); {} bytes leave {} over",
                body.len(),
                body.len() % 4
            ),
        });
    }
    let records = body
        .chunks_exact(4)
        .filter_map(|c| match *c {
            [hi, mid, ft, status] => Some(DtcRecord {
                dtc: Dtc::from_bytes3(hi, mid, ft),
                status,
            }),
            _ => None,
        })
        .collect();
    Ok(DtcReport {
        availability_mask: avail.first().copied().unwrap_or_default(),
        records,
    })
}

fn dtc_body(resp: &[u8], report: u8) -> Result<Reader<'_>, DecodeError> {
    const S: &str = "ReadDTCInformation";
    let mut r = positive_body(S, READ_DTC_INFORMATION, resp)?;
    let got = need(&mut r, 1, S, "report type", resp.len())?;
    let got = got.first().copied().unwrap_or_default();
    check_echo(S, "report type", u32::from(report), u32::from(got))?;
    Ok(r)
}

// ---------------------------------------------------------------- 0x22

/// `22 <did>...`.
pub fn read_dids(dids: &[u16]) -> Vec<u8> {
    let mut v = vec![READ_DATA_BY_IDENTIFIER];
    for d in dids {
        v.extend(d.to_be_bytes());
    }
    v
}

/// `62 (<did> <data>)*` for the DIDs of the request, in order. The length of
/// each record comes from `len_of`; the last DID may be unknown and takes the
/// rest (so a single-DID read never needs a length).
pub fn parse_read_dids(
    resp: &[u8],
    requested: &[u16],
    len_of: &dyn Fn(u16) -> Option<usize>,
) -> Result<Vec<(u16, Vec<u8>)>, DecodeError> {
    const S: &str = "ReadDataByIdentifier";
    let mut r = positive_body(S, READ_DATA_BY_IDENTIFIER, resp)?;
    let mut out = Vec::with_capacity(requested.len());
    for (i, &did) in requested.iter().enumerate() {
        let got = need(&mut r, 2, S, "data identifier", resp.len())?;
        check_echo(S, "data identifier", u32::from(did), u32::from(be16(got)))?;
        let last = i + 1 == requested.len();
        let data = match (len_of(did), last) {
            (Some(n), _) => need(&mut r, n, S, "data record", resp.len())?,
            (None, true) => r.rest(),
            (None, false) => return Err(DecodeError::UnknownDidLength { did }),
        };
        out.push((did, data.to_vec()));
    }
    if requested.is_empty() {
        return Err(DecodeError::Invalid {
            service: S,
            what: "no data identifier was requested".into(),
        });
    }
    finish(&r, S, "the last data record")?;
    Ok(out)
}

// ---------------------------------------------------------------- 0x27

/// A decoded SecurityAccess message (decode only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityAccess {
    /// Odd level: request for a seed, or the seed that answers it.
    Seed { level: u8, seed: Vec<u8> },
    /// Even level: the key sent, or its acceptance (empty key).
    Key { level: u8, key: Vec<u8> },
}

/// Decodes `27 <level> ...` or `67 <level> ...` (request or response).
pub fn decode_security_access(payload: &[u8]) -> Result<SecurityAccess, DecodeError> {
    const S: &str = "SecurityAccess";
    let mut r = Reader::new(payload);
    match r.u8() {
        Some(0x27) | Some(0x67) => {}
        Some(got) => {
            return Err(DecodeError::UnexpectedSid {
                service: S,
                expected: 0x67,
                got,
            })
        }
        None => return Err(DecodeError::Empty { service: S }),
    }
    let level = need(&mut r, 1, S, "security level", payload.len())?;
    let level = level.first().copied().unwrap_or_default() & !SPRMIB;
    let data = r.rest().to_vec();
    Ok(if level % 2 == 1 {
        SecurityAccess::Seed { level, seed: data }
    } else {
        SecurityAccess::Key { level, key: data }
    })
}

// ---------------------------------------------------------------- 0x2F

/// `2F <did> <param> <state...> <mask...>`.
pub fn io_control(did: u16, param: u8, state: &[u8], mask: &[u8]) -> Vec<u8> {
    let mut v = vec![IO_CONTROL_BY_IDENTIFIER];
    v.extend(did.to_be_bytes());
    v.push(param);
    v.extend_from_slice(state);
    v.extend_from_slice(mask);
    v
}

/// `2F <did> 03 <state>`: the active test takes the output over.
pub fn short_term_adjustment(did: u16, state: &[u8]) -> Vec<u8> {
    io_control(did, io_param::SHORT_TERM_ADJUSTMENT, state, &[])
}

/// `2F <did> 00`: hands the output back to the module.
pub fn return_control(did: u16) -> Vec<u8> {
    io_control(did, io_param::RETURN_CONTROL_TO_ECU, &[], &[])
}

/// Answer to 0x2F.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoControlResponse {
    pub did: u16,
    pub param: u8,
    pub state: Vec<u8>,
}

/// `6F <did> <param> <state...>`; DID and parameter must echo the request.
pub fn parse_io_control(
    resp: &[u8],
    did: u16,
    param: u8,
) -> Result<IoControlResponse, DecodeError> {
    const S: &str = "InputOutputControlByIdentifier";
    let mut r = positive_body(S, IO_CONTROL_BY_IDENTIFIER, resp)?;
    let got = need(&mut r, 2, S, "data identifier", resp.len())?;
    check_echo(S, "data identifier", u32::from(did), u32::from(be16(got)))?;
    let got = need(&mut r, 1, S, "control parameter", resp.len())?;
    let got = got.first().copied().unwrap_or_default();
    check_echo(S, "control parameter", u32::from(param), u32::from(got))?;
    Ok(IoControlResponse {
        did,
        param,
        state: r.rest().to_vec(),
    })
}

// ---------------------------------------------------------------- 0x31

/// Routine control types.
pub mod routine {
    pub const START: u8 = 0x01;
    pub const STOP: u8 = 0x02;
    pub const REQUEST_RESULTS: u8 = 0x03;
}

/// `31 <type> <rid> <option...>`.
pub fn routine_control(control: u8, rid: u16, option: &[u8], suppress: bool) -> Vec<u8> {
    let mut v = vec![ROUTINE_CONTROL, sub(control, suppress)];
    v.extend(rid.to_be_bytes());
    v.extend_from_slice(option);
    v
}

/// Answer to 0x31: routine info and status record, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutineResponse {
    pub control: u8,
    pub rid: u16,
    pub status: Vec<u8>,
}

/// `71 <type> <rid> <status...>`.
pub fn parse_routine_control(
    resp: &[u8],
    control: u8,
    rid: u16,
) -> Result<RoutineResponse, DecodeError> {
    const S: &str = "RoutineControl";
    let mut r = positive_body(S, ROUTINE_CONTROL, resp)?;
    let got = need(&mut r, 1, S, "routine control type", resp.len())?;
    let got = got.first().copied().unwrap_or_default() & !SPRMIB;
    check_echo(
        S,
        "routine control type",
        u32::from(control & !SPRMIB),
        u32::from(got),
    )?;
    let got = need(&mut r, 2, S, "routine identifier", resp.len())?;
    check_echo(
        S,
        "routine identifier",
        u32::from(rid),
        u32::from(be16(got)),
    )?;
    Ok(RoutineResponse {
        control: control & !SPRMIB,
        rid,
        status: r.rest().to_vec(),
    })
}

// ---------------------------------------------------------------- 0x3E

/// `3E 00`, or `3E 80` (suppressed: the usual keep-alive, no answer).
pub fn tester_present(suppress: bool) -> Vec<u8> {
    vec![TESTER_PRESENT, sub(0x00, suppress)]
}

/// `7E 00`.
pub fn parse_tester_present(resp: &[u8]) -> Result<(), DecodeError> {
    const S: &str = "TesterPresent";
    let mut r = positive_body(S, TESTER_PRESENT, resp)?;
    let got = need(&mut r, 1, S, "zero sub-function", resp.len())?;
    let got = got.first().copied().unwrap_or_default();
    check_echo(S, "sub-function", 0, u32::from(got & !SPRMIB))?;
    finish(&r, S, "sub-function")
}

// ---------------------------------------------------------------- helpers

pub(crate) fn be16(b: &[u8]) -> u16 {
    match b {
        [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
        _ => 0,
    }
}

pub(crate) fn check_echo(
    service: &'static str,
    what: &'static str,
    expected: u32,
    got: u32,
) -> Result<(), DecodeError> {
    if expected == got {
        Ok(())
    } else {
        Err(DecodeError::WrongEcho {
            service,
            what,
            expected,
            got,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Nrc;
    use proptest::prelude::*;

    #[test]
    fn session_control_round_trip_with_timing() {
        assert_eq!(session_control(session::EXTENDED, false), vec![0x10, 0x03]);
        assert_eq!(session_control(session::EXTENDED, true), vec![0x10, 0x83]);
        let t = parse_session_control(&[0x50, 0x03, 0x00, 0x32, 0x01, 0xF4], 0x03).unwrap();
        assert_eq!(t.p2_us(), 50_000);
        assert_eq!(t.p2_star_us(), 5_000_000);
        assert!(t.announced);
        // No timing bytes (older ECUs, a Hyundai Kona's among them): the
        // defaults, said to be so.
        let t = parse_session_control(&[0x50, 0x03], 0x03).unwrap();
        assert!(!t.announced);
        assert_eq!((t.p2_us(), t.p2_star_us()), (50_000, 5_000_000));
        // An answer to a suppressed request echoes the session with SPRMIB.
        assert_eq!(
            parse_session_control(&[0x50, 0x90], 0x90).unwrap().session,
            0x10
        );
        let err = parse_session_control(&[0x50, 0x03, 0x00], 0x03).unwrap_err();
        assert!(err.to_string().contains("P2server_max"), "{err}");
        let err = parse_session_control(&[0x50, 0x03, 0x00, 0x32], 0x03).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DiagnosticSessionControl: response too short for P2*server_max: expected 6 bytes, got 4"
        );
        let err = parse_session_control(&[0x50, 0x02, 0, 0x32, 1, 0xF4], 0x03).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::WrongEcho {
                    expected: 3,
                    got: 2,
                    ..
                }
            ),
            "{err}"
        );
        let err = parse_session_control(&[0x7F, 0x10, 0x22], 0x03).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Negative {
                service: "DiagnosticSessionControl",
                nrc: Nrc::ConditionsNotCorrect
            }
        );
    }

    #[test]
    fn ecu_reset_and_clear() {
        assert_eq!(ecu_reset(0x01, false), vec![0x11, 0x01]);
        assert_eq!(parse_ecu_reset(&[0x51, 0x01], 0x01).unwrap(), None);
        assert_eq!(
            parse_ecu_reset(&[0x51, 0x04, 0x0A], 0x04).unwrap(),
            Some(0x0A)
        );
        assert_eq!(clear_dtcs(ALL_DTC_GROUPS), vec![0x14, 0xFF, 0xFF, 0xFF]);
        parse_clear_dtcs(&[0x54]).unwrap();
        assert!(parse_clear_dtcs(&[0x54, 0x00]).is_err());
        assert!(parse_clear_dtcs(&[0x59]).is_err());
    }

    #[test]
    fn dtc_reports() {
        assert_eq!(read_dtcs_by_status(0xFF), vec![0x19, 0x02, 0xFF]);
        assert_eq!(read_dtc_count(0x09), vec![0x19, 0x01, 0x09]);
        assert_eq!(read_supported_dtcs(), vec![0x19, 0x0A]);
        let rep = parse_dtc_report(&[0x59, 0x02, 0xFF, 0xF0, 0x03, 0x16, 0x09], 0x02).unwrap();
        assert_eq!(rep.availability_mask, 0xFF);
        assert_eq!(rep.records.len(), 1);
        assert_eq!(rep.records[0].dtc.to_string(), "U3003:16");
        assert_eq!(rep.records[0].status, 0x09);
        let none = parse_dtc_report(&[0x59, 0x02, 0x7F], 0x02).unwrap();
        assert!(none.records.is_empty());
        let err = parse_dtc_report(&[0x59, 0x02, 0xFF, 0xF0, 0x03], 0x02).unwrap_err();
        assert!(err.to_string().contains("4 bytes"), "{err}");
        assert!(parse_dtc_report(&[0x59, 0x0A, 0xFF], 0x02).is_err());
        let c = parse_dtc_count(&[0x59, 0x01, 0xFF, 0x01, 0x00, 0x02]).unwrap();
        assert_eq!(c.count, 2);
        assert_eq!(c.format, 1);
    }

    #[test]
    fn read_dids_single_and_multi() {
        assert_eq!(
            read_dids(&[0xD100, 0xD102]),
            vec![0x22, 0xD1, 0x00, 0xD1, 0x02]
        );
        let none = |_| None;
        let one = parse_read_dids(&[0x62, 0xD1, 0x00, 0x05, 0x06], &[0xD100], &none).unwrap();
        assert_eq!(one, vec![(0xD100, vec![0x05, 0x06])]);
        let lens = |d: u16| (d == 0xD100).then_some(1);
        let two = parse_read_dids(
            &[0x62, 0xD1, 0x00, 0x05, 0xD1, 0x02, 0x7B],
            &[0xD100, 0xD102],
            &lens,
        )
        .unwrap();
        assert_eq!(two, vec![(0xD100, vec![0x05]), (0xD102, vec![0x7B])]);
        let err = parse_read_dids(
            &[0x62, 0xD1, 0x00, 0x05, 0xD1, 0x02, 0x7B],
            &[0xD102, 0xD100],
            &lens,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            DecodeError::WrongEcho {
                expected: 0xD102,
                got: 0xD100,
                ..
            }
        ));
        let err = parse_read_dids(
            &[0x62, 0xD1, 0x00, 0x05, 0xD1, 0x02],
            &[0xD102, 0xD100],
            &none,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            DecodeError::WrongEcho { .. } | DecodeError::UnknownDidLength { .. }
        ));
        let err = parse_read_dids(
            &[0x62, 0xD1, 0x02, 0x05, 0xD1, 0x00, 0x01],
            &[0xD102, 0xD100],
            &none,
        )
        .unwrap_err();
        assert_eq!(err, DecodeError::UnknownDidLength { did: 0xD102 });
        let err = parse_read_dids(&[0x62, 0xD1], &[0xD100], &none).unwrap_err();
        assert!(matches!(err, DecodeError::Truncated { .. }));
    }

    #[test]
    fn io_control_routine_tester_present_security() {
        assert_eq!(
            short_term_adjustment(0xD103, &[0x01]),
            vec![0x2F, 0xD1, 0x03, 0x03, 0x01]
        );
        assert_eq!(return_control(0xD103), vec![0x2F, 0xD1, 0x03, 0x00]);
        let r = parse_io_control(&[0x6F, 0xD1, 0x03, 0x03, 0x01], 0xD103, 0x03).unwrap();
        assert_eq!(r.state, vec![0x01]);
        assert!(matches!(
            parse_io_control(&[0x6F, 0xD1, 0x04, 0x03, 0x01], 0xD103, 0x03),
            Err(DecodeError::WrongEcho { .. })
        ));
        assert_eq!(
            routine_control(routine::START, 0x0203, &[0x01], false),
            vec![0x31, 0x01, 0x02, 0x03, 0x01]
        );
        let rr = parse_routine_control(&[0x71, 0x01, 0x02, 0x03, 0x00], 0x01, 0x0203).unwrap();
        assert_eq!(rr.status, vec![0x00]);
        assert_eq!(tester_present(false), vec![0x3E, 0x00]);
        assert_eq!(tester_present(true), vec![0x3E, 0x80]);
        assert!(suppresses_positive_response(&tester_present(true)));
        assert!(!suppresses_positive_response(&[0x19, 0x82, 0xFF]));
        parse_tester_present(&[0x7E, 0x00]).unwrap();
        assert_eq!(
            decode_security_access(&[0x67, 0x01, 0x12, 0x34]).unwrap(),
            SecurityAccess::Seed {
                level: 1,
                seed: vec![0x12, 0x34]
            }
        );
        assert_eq!(
            decode_security_access(&[0x67, 0x02]).unwrap(),
            SecurityAccess::Key {
                level: 2,
                key: vec![]
            }
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(resp in proptest::collection::vec(any::<u8>(), 0..40), sub: u8, id: u16) {
            let _ = parse_session_control(&resp, sub);
            let _ = parse_ecu_reset(&resp, sub);
            let _ = parse_clear_dtcs(&resp);
            let _ = parse_dtc_count(&resp);
            let _ = parse_dtc_report(&resp, sub);
            let _ = parse_read_dids(&resp, &[id], &|_| None);
            let _ = parse_read_dids(&resp, &[id, id ^ 1], &|d| Some(usize::from(d % 7)));
            let _ = decode_security_access(&resp);
            let _ = parse_io_control(&resp, id, sub);
            let _ = parse_routine_control(&resp, sub, id);
            let _ = parse_tester_present(&resp);
        }

        #[test]
        fn dtc_report_round_trips(recs in proptest::collection::vec((any::<u32>(), any::<u8>()), 0..20), avail: u8) {
            let mut resp = vec![0x59, 0x02, avail];
            for (d, s) in &recs {
                resp.extend(&d.to_be_bytes()[1..]);
                resp.push(*s);
            }
            let rep = parse_dtc_report(&resp, 0x02).unwrap();
            prop_assert_eq!(rep.records.len(), recs.len());
            for (rec, (d, s)) in rep.records.iter().zip(&recs) {
                prop_assert_eq!(rec.dtc.to_u24(), d & 0xFF_FFFF);
                prop_assert_eq!(rec.status, *s);
            }
        }
    }
}
