//! KWP2000 on CAN (ISO 14230-3 services over ISO 15765): the services the
//! Nissan BCM answers (`10 C0`, `21 <lid>`, `30 <lid> <ctrl> <state>`,
//! `18 02 FF 00`, `14 FF 00`, `3E 01`) and a few neighbours seen in captures.
//!
//! KWP2000 has no suppress-positive-response bit: `3E 02` ("response not
//! required") is its only way to ask for silence.

use super::dtc::{Dtc, DtcRecord};
use super::uds::{be16, check_echo};
use super::{finish, need, positive_body, DecodeError, Reader};

pub const START_DIAGNOSTIC_SESSION: u8 = 0x10;
pub const ECU_RESET: u8 = 0x11;
pub const CLEAR_DIAGNOSTIC_INFORMATION: u8 = 0x14;
pub const READ_STATUS_OF_DTC: u8 = 0x17;
pub const READ_DTC_BY_STATUS: u8 = 0x18;
pub const READ_ECU_IDENTIFICATION: u8 = 0x1A;
pub const READ_DATA_BY_LOCAL_ID: u8 = 0x21;
pub const IO_CONTROL_BY_LOCAL_ID: u8 = 0x30;
pub const TESTER_PRESENT: u8 = 0x3E;

/// Diagnostic session (mode) types of 0x10.
pub mod session {
    /// ISO 14230-3 standardDiagnosticSession: leaving any other session.
    pub const STANDARD: u8 = 0x81;
    /// ISO 14230-3 ECUProgrammingSession.
    pub const PROGRAMMING: u8 = 0x85;
    /// ISO 14230-3 ECUAdjustmentSession.
    pub const ADJUSTMENT: u8 = 0x87;
    /// Manufacturer range; commonly the extended diagnostic session.
    pub const EXTENDED_89: u8 = 0x89;
    /// Nissan CONSULT session: the BCM answers data reads only in it.
    pub const NISSAN_C0: u8 = 0xC0;
    /// Nissan session used by opendbc's firmware query.
    pub const NISSAN_DA: u8 = 0xDA;
}

/// `18 <status request>`: all identified DTCs with status (`18 02 FF 00`).
pub const DTC_STATUS_ALL_IDENTIFIED: u8 = 0x02;
/// Group of all DTCs (`FF 00`).
pub const ALL_DTC_GROUPS: u16 = 0xFF00;

/// The ISO 14230-3 name of a service (request or response SID).
pub fn service_name(sid: u8) -> &'static str {
    let req = if (0x50..=0x7F).contains(&sid) || (0xC1..=0xC6).contains(&sid) {
        sid - 0x40
    } else {
        sid
    };
    match req {
        0x10 => "StartDiagnosticSession",
        0x11 => "ECUReset",
        0x12 => "ReadFreezeFrameData",
        0x13 => "ReadDiagnosticTroubleCodes",
        0x14 => "ClearDiagnosticInformation",
        0x17 => "ReadStatusOfDiagnosticTroubleCodes",
        0x18 => "ReadDiagnosticTroubleCodesByStatus",
        0x1A => "ReadECUIdentification",
        0x20 => "StopDiagnosticSession",
        0x21 => "ReadDataByLocalIdentifier",
        0x22 => "ReadDataByCommonIdentifier",
        0x23 => "ReadMemoryByAddress",
        0x27 => "SecurityAccess",
        0x2C => "DynamicallyDefineLocalIdentifier",
        0x2E => "WriteDataByCommonIdentifier",
        0x2F => "InputOutputControlByCommonIdentifier",
        0x30 => "InputOutputControlByLocalIdentifier",
        0x31 => "StartRoutineByLocalIdentifier",
        0x32 => "StopRoutineByLocalIdentifier",
        0x33 => "RequestRoutineResultsByLocalIdentifier",
        0x34 => "RequestDownload",
        0x35 => "RequestUpload",
        0x36 => "TransferData",
        0x37 => "RequestTransferExit",
        0x3B => "WriteDataByLocalIdentifier",
        0x3D => "WriteMemoryByAddress",
        0x3E => "TesterPresent",
        0x3F => "NegativeResponse",
        0x81 => "StartCommunication",
        0x82 => "StopCommunication",
        0x83 => "AccessTimingParameters",
        0x85 => "ControlDTCSetting",
        0x86 => "ResponseOnEvent",
        _ => "unknown service",
    }
}

/// Whether a KWP request expects no answer at all (`3E 02`).
pub fn response_not_required(req: &[u8]) -> bool {
    req == [TESTER_PRESENT, 0x02]
}

// ---------------------------------------------------------------- 0x10

/// `10 <session>`.
pub fn start_session(session: u8) -> Vec<u8> {
    vec![START_DIAGNOSTIC_SESSION, session]
}

/// `50 <session> [timing...]`: returns any bytes after the echo.
pub fn parse_start_session(resp: &[u8], session: u8) -> Result<Vec<u8>, DecodeError> {
    const S: &str = "StartDiagnosticSession";
    let mut r = positive_body(S, START_DIAGNOSTIC_SESSION, resp)?;
    let got = need(&mut r, 1, S, "session type", resp.len())?;
    check_echo(S, "session type", u32::from(session), u32::from(first(got)))?;
    Ok(r.rest().to_vec())
}

// ---------------------------------------------------------------- 0x14

/// `14 <group hi lo>` (`14 FF 00`: all groups).
pub fn clear_dtcs(group: u16) -> Vec<u8> {
    let [hi, lo] = group.to_be_bytes();
    vec![CLEAR_DIAGNOSTIC_INFORMATION, hi, lo]
}

/// `54 <group hi lo>`; the group must echo the request.
pub fn parse_clear_dtcs(resp: &[u8], group: u16) -> Result<(), DecodeError> {
    const S: &str = "ClearDiagnosticInformation";
    let mut r = positive_body(S, CLEAR_DIAGNOSTIC_INFORMATION, resp)?;
    let got = need(&mut r, 2, S, "DTC group", resp.len())?;
    check_echo(S, "DTC group", u32::from(group), u32::from(be16(got)))?;
    finish(&r, S, "DTC group")
}

// ---------------------------------------------------------------- 0x17 / 0x18

/// `17 <dtc hi lo>`.
pub fn read_status_of_dtc(dtc: u16) -> Vec<u8> {
    let [hi, lo] = dtc.to_be_bytes();
    vec![READ_STATUS_OF_DTC, hi, lo]
}

/// `18 <status request> <group hi lo>`; the Nissan BCM is read with
/// `read_dtcs_by_status(DTC_STATUS_ALL_IDENTIFIED, ALL_DTC_GROUPS)`.
pub fn read_dtcs_by_status(status_request: u8, group: u16) -> Vec<u8> {
    let [hi, lo] = group.to_be_bytes();
    vec![READ_DTC_BY_STATUS, status_request, hi, lo]
}

/// `58 <n> (<hi> <lo> <status>)×n`. The count must match the bytes.
pub fn parse_dtcs_by_status(resp: &[u8]) -> Result<Vec<DtcRecord>, DecodeError> {
    const S: &str = "ReadDiagnosticTroubleCodesByStatus";
    let mut r = positive_body(S, READ_DTC_BY_STATUS, resp)?;
    let (records, rest) = counted_records(&mut r, S, resp.len())?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes {
            service: S,
            what: "the announced DTC records",
            extra: rest.len(),
        });
    }
    Ok(records)
}

/// `57 <n> (<hi> <lo> <status>)×n [environmental data]`: the records and
/// whatever data follows them (manufacturer-specific).
pub fn parse_status_of_dtc(resp: &[u8]) -> Result<(Vec<DtcRecord>, Vec<u8>), DecodeError> {
    const S: &str = "ReadStatusOfDiagnosticTroubleCodes";
    let mut r = positive_body(S, READ_STATUS_OF_DTC, resp)?;
    let (records, rest) = counted_records(&mut r, S, resp.len())?;
    Ok((records, rest.to_vec()))
}

fn counted_records<'a>(
    r: &mut Reader<'a>,
    service: &'static str,
    total: usize,
) -> Result<(Vec<DtcRecord>, &'a [u8]), DecodeError> {
    let n = usize::from(first(need(r, 1, service, "number of DTCs", total)?));
    let body = need(r, n * 3, service, "the announced DTC records", total)?;
    let records = body
        .chunks_exact(3)
        .filter_map(|c| match *c {
            [hi, lo, status] => Some(DtcRecord {
                dtc: Dtc::from_bytes2(hi, lo),
                status,
            }),
            _ => None,
        })
        .collect();
    Ok((records, r.rest()))
}

// ---------------------------------------------------------------- 0x1A

/// `1A <identification option>`.
pub fn read_ecu_identification(option: u8) -> Vec<u8> {
    vec![READ_ECU_IDENTIFICATION, option]
}

/// `5A <option> <data...>`.
pub fn parse_ecu_identification(resp: &[u8], option: u8) -> Result<Vec<u8>, DecodeError> {
    const S: &str = "ReadECUIdentification";
    let mut r = positive_body(S, READ_ECU_IDENTIFICATION, resp)?;
    let got = need(&mut r, 1, S, "identification option", resp.len())?;
    check_echo(
        S,
        "identification option",
        u32::from(option),
        u32::from(first(got)),
    )?;
    Ok(r.rest().to_vec())
}

// ---------------------------------------------------------------- 0x21

/// `21 <lid>`.
pub fn read_local_id(lid: u8) -> Vec<u8> {
    vec![READ_DATA_BY_LOCAL_ID, lid]
}

/// `61 <lid> <data...>`: the data record. A different lid is a wrong echo.
pub fn parse_read_local_id(resp: &[u8], lid: u8) -> Result<Vec<u8>, DecodeError> {
    const S: &str = "ReadDataByLocalIdentifier";
    let mut r = positive_body(S, READ_DATA_BY_LOCAL_ID, resp)?;
    let got = need(&mut r, 1, S, "local identifier", resp.len())?;
    check_echo(S, "local identifier", u32::from(lid), u32::from(first(got)))?;
    Ok(r.rest().to_vec())
}

// ---------------------------------------------------------------- 0x30

/// `30 <lid> <control> <state...>`; Nissan's active test is
/// `io_control_local(0x26, 0x00, &[0x01])` and its end `(0x26, 0x00, &[0x00])`.
pub fn io_control_local(lid: u8, control: u8, state: &[u8]) -> Vec<u8> {
    let mut v = vec![IO_CONTROL_BY_LOCAL_ID, lid, control];
    v.extend_from_slice(state);
    v
}

/// Answer to 0x30.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoControlLocalResponse {
    pub lid: u8,
    pub control: u8,
    pub state: Vec<u8>,
}

/// `70 <lid> <control> <state...>`; lid and control must echo the request.
pub fn parse_io_control_local(
    resp: &[u8],
    lid: u8,
    control: u8,
) -> Result<IoControlLocalResponse, DecodeError> {
    const S: &str = "InputOutputControlByLocalIdentifier";
    let mut r = positive_body(S, IO_CONTROL_BY_LOCAL_ID, resp)?;
    let got = need(&mut r, 1, S, "local identifier", resp.len())?;
    check_echo(S, "local identifier", u32::from(lid), u32::from(first(got)))?;
    let got = need(&mut r, 1, S, "control parameter", resp.len())?;
    check_echo(
        S,
        "control parameter",
        u32::from(control),
        u32::from(first(got)),
    )?;
    Ok(IoControlLocalResponse {
        lid,
        control,
        state: r.rest().to_vec(),
    })
}

// ---------------------------------------------------------------- 0x3E

/// `3E 01` (answered) or `3E 02` (no response).
pub fn tester_present(response_required: bool) -> Vec<u8> {
    vec![TESTER_PRESENT, if response_required { 0x01 } else { 0x02 }]
}

/// `7E` or `7E 01` (the Nissan BCM echoes the byte).
pub fn parse_tester_present(resp: &[u8]) -> Result<(), DecodeError> {
    const S: &str = "TesterPresent";
    let mut r = positive_body(S, TESTER_PRESENT, resp)?;
    if let Some(b) = r.u8() {
        check_echo(S, "response-required byte", 0x01, u32::from(b))?;
    }
    finish(&r, S, "response-required byte")
}

fn first(b: &[u8]) -> u8 {
    b.first().copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Nrc;
    use proptest::prelude::*;

    #[test]
    fn nissan_dtc_report_decodes() {
        assert_eq!(
            read_dtcs_by_status(DTC_STATUS_ALL_IDENTIFIED, ALL_DTC_GROUPS),
            vec![0x18, 0x02, 0xFF, 0x00]
        );
        let recs = parse_dtcs_by_status(&[
            0x58, 0x03, 0xA5, 0x62, 0x09, 0xD0, 0x00, 0x08, 0xD0, 0x10, 0x48,
        ])
        .unwrap();
        let got: Vec<(String, u8)> = recs.iter().map(|r| (r.dtc.to_string(), r.status)).collect();
        assert_eq!(
            got,
            vec![
                ("B2562".into(), 0x09),
                ("U1000".into(), 0x08),
                ("U1010".into(), 0x48)
            ]
        );
        assert!(parse_dtcs_by_status(&[0x58, 0x00]).unwrap().is_empty());
        let err = parse_dtcs_by_status(&[0x58, 0x02, 0xA5, 0x62, 0x09, 0xD0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ReadDiagnosticTroubleCodesByStatus: response too short for the announced DTC records: expected 8 bytes, got 6"
        );
        assert!(matches!(
            parse_dtcs_by_status(&[0x58, 0x01, 0xA5, 0x62, 0x09, 0x00]),
            Err(DecodeError::TrailingBytes { extra: 1, .. })
        ));
        let (recs, env) = parse_status_of_dtc(&[0x57, 0x01, 0xA5, 0x62, 0x09, 0x33]).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(env, vec![0x33]);
        assert_eq!(read_status_of_dtc(0xA562), vec![0x17, 0xA5, 0x62]);
    }

    #[test]
    fn nissan_session_reads_and_active_test() {
        assert_eq!(start_session(session::NISSAN_C0), vec![0x10, 0xC0]);
        assert!(parse_start_session(&[0x50, 0xC0], 0xC0).unwrap().is_empty());
        assert!(matches!(
            parse_start_session(&[0x50, 0x81], 0xC0),
            Err(DecodeError::WrongEcho { .. })
        ));
        assert_eq!(read_local_id(0x44), vec![0x21, 0x44]);
        assert_eq!(
            parse_read_local_id(&[0x61, 0x44, 0x80, 0x20], 0x44).unwrap(),
            vec![0x80, 0x20]
        );
        let err = parse_read_local_id(&[0x61, 0x45, 0x80], 0x44).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ReadDataByLocalIdentifier: response echoes local identifier 0x45, expected 0x44"
        );
        assert_eq!(
            parse_read_local_id(&[0x7F, 0x21, 0x80], 0x44).unwrap_err(),
            DecodeError::Negative {
                service: "ReadDataByLocalIdentifier",
                nrc: Nrc::ServiceNotSupportedInActiveDiagnosticSession
            }
        );
        assert_eq!(
            io_control_local(0x26, 0x00, &[0x01]),
            vec![0x30, 0x26, 0x00, 0x01]
        );
        let r = parse_io_control_local(&[0x70, 0x26, 0x00, 0x01], 0x26, 0x00).unwrap();
        assert_eq!(r.state, vec![0x01]);
        assert_eq!(clear_dtcs(ALL_DTC_GROUPS), vec![0x14, 0xFF, 0x00]);
        parse_clear_dtcs(&[0x54, 0xFF, 0x00], 0xFF00).unwrap();
        assert!(parse_clear_dtcs(&[0x54, 0xFF], 0xFF00).is_err());
        assert_eq!(tester_present(true), vec![0x3E, 0x01]);
        assert!(response_not_required(&tester_present(false)));
        parse_tester_present(&[0x7E, 0x01]).unwrap();
        parse_tester_present(&[0x7E]).unwrap();
        assert_eq!(read_ecu_identification(0x87), vec![0x1A, 0x87]);
        assert_eq!(
            parse_ecu_identification(&[0x5A, 0x87, b'2', b'8'], 0x87).unwrap(),
            b"28".to_vec()
        );
    }

    #[test]
    fn service_names() {
        assert_eq!(service_name(0x21), "ReadDataByLocalIdentifier");
        assert_eq!(service_name(0x61), "ReadDataByLocalIdentifier");
        assert_eq!(service_name(0x70), "InputOutputControlByLocalIdentifier");
        assert_eq!(service_name(0x7F), "NegativeResponse");
        assert_eq!(service_name(0x00), "unknown service");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(resp in proptest::collection::vec(any::<u8>(), 0..40), b: u8, w: u16) {
            let _ = parse_start_session(&resp, b);
            let _ = parse_clear_dtcs(&resp, w);
            let _ = parse_dtcs_by_status(&resp);
            let _ = parse_status_of_dtc(&resp);
            let _ = parse_ecu_identification(&resp, b);
            let _ = parse_read_local_id(&resp, b);
            let _ = parse_io_control_local(&resp, b, b);
            let _ = parse_tester_present(&resp);
        }

        #[test]
        fn dtc_report_round_trips(recs in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..=85)) {
            let mut resp = vec![0x58, recs.len() as u8];
            for (d, s) in &recs {
                resp.extend(d.to_be_bytes());
                resp.push(*s);
            }
            let got = parse_dtcs_by_status(&resp).unwrap();
            let want: Vec<DtcRecord> = recs.iter().map(|&(d, s)| DtcRecord { dtc: Dtc::new(d), status: s }).collect();
            prop_assert_eq!(got, want);
        }
    }
}
