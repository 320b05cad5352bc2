//! GMLAN diagnostics (GM's diagnostic protocol, GMW3110 as public tools
//! such as scapy's automotive layer read it): services, the codes of its
//! negative answers that differ from UDS, and its UUDT answers.
//!
//! A GM module is asked on its USDT request id (the body control module:
//! 0x241) and answers through ISO-TP on the request id + 0x400 (0x641).
//! Some answers come instead as UUDT frames: single CAN frames without
//! ISO-TP framing on the request id + 0x300 (0x541). The trouble-code read
//! `A9 81 <mask>` is answered that way, one frame per code:
//! `81 <hi> <lo> <failure type> <status>`, the last one with code 0000 (the
//! end of the report). Device control `AE <CPID> <5 control bytes>` takes
//! an output over until `20` (ReturnToNormalOperation) hands every one back.

use super::dtc::{Dtc, DtcRecord};
use crate::frame::CanId;

/// ReturnToNormalOperation: ends device control and every diagnostic mode.
pub const RETURN_TO_NORMAL: u8 = 0x20;
/// ReadDataByIdentifier (one-byte identifier).
pub const READ_DATA_BY_IDENTIFIER: u8 = 0x1A;
/// ReadDiagnosticInformation (trouble codes, answered as UUDT frames).
pub const READ_DIAGNOSTIC_INFORMATION: u8 = 0xA9;
/// ReadDataByPacketIdentifier (answered as UUDT frames).
pub const READ_DATA_BY_PACKET_IDENTIFIER: u8 = 0xAA;
/// DeviceControl.
pub const DEVICE_CONTROL: u8 = 0xAE;
/// `A9 81`: the codes whose status matches a mask.
pub const REPORT_BY_STATUS_MASK: u8 = 0x81;
/// USDT answer id = request id + this (opendbc's `GM_RX_OFFSET`).
pub const USDT_RESPONSE_OFFSET: u32 = 0x400;
/// UUDT answer id = request id + this.
pub const UUDT_RESPONSE_OFFSET: u32 = 0x300;

/// The name of a GMLAN request service.
pub fn service_name(sid: u8) -> &'static str {
    match sid {
        0x04 => "ClearDiagnosticInformation",
        0x10 => "InitiateDiagnosticOperation",
        0x12 => "ReadFailureRecordData",
        0x1A => "ReadDataByIdentifier",
        0x20 => "ReturnToNormalOperation",
        0x22 => "ReadDataByParameterIdentifier",
        0x23 => "ReadMemoryByAddress",
        0x27 => "SecurityAccess",
        0x28 => "DisableNormalCommunication",
        0x2C => "DynamicallyDefineMessage",
        0x2D => "DefinePIDByAddress",
        0x34 => "RequestDownload",
        0x36 => "TransferData",
        0x3B => "WriteDataByIdentifier",
        0x3E => "TesterPresent",
        0xA2 => "ReportProgrammedState",
        0xA5 => "ProgrammingMode",
        0xA9 => "ReadDiagnosticInformation",
        0xAA => "ReadDataByPacketIdentifier",
        0xAE => "DeviceControl",
        _ => "unknown service",
    }
}

/// Whether `sid` is a GMLAN request service (those [`service_name`] names).
pub fn is_service(sid: u8) -> bool {
    service_name(sid) != "unknown service"
}

/// The negative-answer codes GMLAN gives another meaning than UDS
/// (`(name, words)`); the shared ones (0x11, 0x12, 0x22, 0x31, 0x78...)
/// read as in UDS.
pub fn nrc_words(code: u8) -> Option<(&'static str, &'static str)> {
    Some(match code {
        0x81 => (
            "schedulerFull",
            "the module cannot schedule more periodic answers",
        ),
        0x83 => (
            "voltageOutOfRange",
            "supply voltage out of range: check the battery",
        ),
        0x85 => (
            "generalProgrammingFailure",
            "writing the module's memory failed",
        ),
        0x89 => (
            "deviceTypeError",
            "the module's memory type does not fit the request",
        ),
        0x99 => (
            "readyForDownloadDtcStored",
            "ready for download, a trouble code is stored",
        ),
        0xE3 => (
            "deviceControlLimitsExceeded",
            "the module refuses to drive the output in the present vehicle conditions",
        ),
        _ => return None,
    })
}

/// True for a request whose positive answer does not come on the USDT
/// response id: the trouble-code read and the packet read answer as UUDT
/// frames (a refusal still comes as `7F` on USDT).
pub fn answer_is_uudt(req: &[u8]) -> bool {
    matches!(
        req.first(),
        Some(&(READ_DIAGNOSTIC_INFORMATION | READ_DATA_BY_PACKET_IDENTIFIER))
    )
}

/// `1A <did>`.
pub fn read_data_by_identifier(did: u8) -> Vec<u8> {
    vec![READ_DATA_BY_IDENTIFIER, did]
}

/// `A9 81 <mask>`.
pub fn read_dtcs_by_status(mask: u8) -> Vec<u8> {
    vec![READ_DIAGNOSTIC_INFORMATION, REPORT_BY_STATUS_MASK, mask]
}

/// `20`.
pub fn return_to_normal() -> Vec<u8> {
    vec![RETURN_TO_NORMAL]
}

/// Whether a device-control request takes an output over: any control
/// byte set (all zero is the same CPID left alone).
pub fn device_control_takes(req: &[u8]) -> bool {
    req.get(2..).is_some_and(|c| c.iter().any(|&b| b != 0))
}

/// The UUDT answer id of a module asked on `request_id` (11-bit ids only).
pub fn uudt_id(request_id: CanId) -> Option<CanId> {
    match request_id {
        CanId::Standard(r) => {
            let id = u32::from(r) + UUDT_RESPONSE_OFFSET;
            u16::try_from(id)
                .ok()
                .filter(|&id| id <= 0x7FF)
                .map(CanId::Standard)
        }
        CanId::Extended(_) => None,
    }
}

/// Whether an 11-bit id is one of GMLAN's diagnostic ids in the usual
/// ranges: functional requests 0x101, physical USDT requests 0x240-0x25F,
/// their UUDT answers 0x540-0x55F and USDT answers 0x640-0x65F.
pub fn is_diagnostic_id(id: CanId) -> bool {
    matches!(
        id,
        CanId::Standard(0x101 | 0x240..=0x25F | 0x540..=0x55F | 0x640..=0x65F)
    )
}

/// Whether `(request, response)` follow GMLAN's USDT rule (`+0x400`,
/// request ids 0x200-0x2FF, the physical request range of GM modules).
pub fn is_usdt_pair(request: CanId, response: CanId) -> bool {
    match (request, response) {
        (CanId::Standard(q), CanId::Standard(r)) => {
            (0x200..=0x2FF).contains(&q) && u32::from(r) == u32::from(q) + USDT_RESPONSE_OFFSET
        }
        _ => false,
    }
}

/// One UUDT frame read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uudt {
    /// A trouble code of an `A9 81` report.
    Dtc(DtcRecord),
    /// The frame that ends an `A9 81` report (code 0000).
    EndOfReport,
    /// A periodic packet (`AA`): its packet identifier and data.
    Packet { dpid: u8 },
}

/// Reads one UUDT frame's data; `None` for one too short to be any.
pub fn parse_uudt(data: &[u8]) -> Option<Uudt> {
    match data {
        [REPORT_BY_STATUS_MASK, hi, lo, ft, status, ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if code == 0 {
                Some(Uudt::EndOfReport)
            } else {
                Some(Uudt::Dtc(DtcRecord {
                    dtc: Dtc::with_failure_type(code, *ft),
                    status: *status,
                }))
            }
        }
        [dpid, _, ..] => Some(Uudt::Packet { dpid: *dpid }),
        _ => None,
    }
}

/// Whether a UUDT frame ends an `A9 81` report.
pub fn ends_report(data: &[u8]) -> bool {
    parse_uudt(data) == Some(Uudt::EndOfReport)
}

/// The trouble codes of an `A9 81` report's UUDT frames, up to its end
/// (frames that are not codes are passed over).
pub fn report_dtcs(frames: &[Vec<u8>]) -> Vec<DtcRecord> {
    frames
        .iter()
        .take_while(|f| !ends_report(f))
        .filter_map(|f| match parse_uudt(f) {
            Some(Uudt::Dtc(r)) => Some(r),
            _ => None,
        })
        .collect()
}

/// The UUDT frame data of one trouble code (`81 hi lo ft status`, padded).
pub fn uudt_dtc(dtc: Dtc, status: u8, padding: u8) -> [u8; 8] {
    let [_, hi, mid, ft] = dtc.to_u24().to_be_bytes();
    [
        REPORT_BY_STATUS_MASK,
        hi,
        mid,
        ft,
        status,
        padding,
        padding,
        padding,
    ]
}

/// The UUDT frame that ends a report.
pub fn uudt_end_of_report(padding: u8) -> [u8; 8] {
    [
        REPORT_BY_STATUS_MASK,
        0,
        0,
        0,
        0xFF,
        padding,
        padding,
        padding,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_body_module_ids() {
        assert_eq!(
            uudt_id(CanId::Standard(0x241)),
            Some(CanId::Standard(0x541))
        );
        assert!(is_usdt_pair(CanId::Standard(0x241), CanId::Standard(0x641)));
        assert!(!is_usdt_pair(
            CanId::Standard(0x7E0),
            CanId::Standard(0x7E8)
        ));
        assert!(!is_usdt_pair(
            CanId::Standard(0x241),
            CanId::Standard(0x541)
        ));
        assert_eq!(uudt_id(CanId::Standard(0x7FF)), None);
    }

    #[test]
    fn a_report_reads_back() {
        let dtc = Dtc::with_failure_type(0x9A14, 0x02);
        let f = uudt_dtc(dtc, 0x2F, 0xAA);
        assert_eq!(
            parse_uudt(&f),
            Some(Uudt::Dtc(DtcRecord { dtc, status: 0x2F }))
        );
        assert_eq!(parse_uudt(&uudt_end_of_report(0)), Some(Uudt::EndOfReport));
        let frames = vec![
            f.to_vec(),
            vec![0x07, 0x01],
            uudt_end_of_report(0).to_vec(),
            f.to_vec(),
        ];
        assert_eq!(report_dtcs(&frames), vec![DtcRecord { dtc, status: 0x2F }]);
        assert_eq!(parse_uudt(&[0x81]), None);
        assert_eq!(parse_uudt(&[]), None);
    }

    #[test]
    fn device_control_takes_only_with_a_control_byte_set() {
        assert!(device_control_takes(&[0xAE, 0x01, 0x10, 0x10, 0, 0, 0]));
        assert!(!device_control_takes(&[0xAE, 0x01, 0, 0, 0, 0, 0]));
        assert!(!device_control_takes(&[0xAE]));
    }

    proptest! {
        #[test]
        fn any_bytes_read_without_panic(data in proptest::collection::vec(any::<u8>(), 0..12)) {
            let _ = parse_uudt(&data);
            let _ = answer_is_uudt(&data);
            let _ = device_control_takes(&data);
        }
    }
}
