//! OBD-II on CAN (SAE J1979 / ISO 15031-5): the id conventions of ISO
//! 15765-4, mode 01 PIDs 0x00 (supported PIDs) and 0x42 (module voltage),
//! modes 03 / 07 (stored and pending DTCs) and mode 09 PID 0x02 (VIN).
//!
//! Used to check that the car answers at all and to read the battery voltage
//! the engine module sees; the body module is reached with UDS / KWP.

use std::ops::RangeInclusive;

use super::dtc::Dtc;
use super::uds::check_echo;
use super::{need, positive_body, DecodeError};

/// The functional (broadcast) request id every emissions ECU listens to.
pub const FUNCTIONAL_REQUEST_ID: u16 = 0x7DF;

pub const SHOW_CURRENT_DATA: u8 = 0x01;
pub const STORED_DTCS: u8 = 0x03;
pub const PENDING_DTCS: u8 = 0x07;
pub const VEHICLE_INFORMATION: u8 = 0x09;
pub const PERMANENT_DTCS: u8 = 0x0A;

pub const PID_SUPPORTED_01_20: u8 = 0x00;
pub const PID_CONTROL_MODULE_VOLTAGE: u8 = 0x42;
pub const INFOTYPE_VIN: u8 = 0x02;

/// Ids on which ECUs answer (11-bit): 0x7E8–0x7EF.
pub fn response_ids() -> RangeInclusive<u16> {
    0x7E8..=0x7EF
}

/// Physical request ids of the same ECUs: 0x7E0–0x7E7.
pub fn physical_request_ids() -> RangeInclusive<u16> {
    0x7E0..=0x7E7
}

/// The physical request id of the ECU that answered on `response_id`.
pub fn request_id_for(response_id: u16) -> Option<u16> {
    response_ids()
        .contains(&response_id)
        .then(|| response_id - 8)
}

/// True for the request SID of an OBD-II mode (0x01-0x0A), as a positive
/// answer `0x41`-`0x4A` names it.
pub fn is_obd_service(sid: u8) -> bool {
    (0x01..=0x0A).contains(&sid)
}

/// The J1979 name of a mode (request or response SID).
pub fn service_name(sid: u8) -> &'static str {
    let mode = if (0x41..=0x4A).contains(&sid) {
        sid - 0x40
    } else {
        sid
    };
    match mode {
        0x01 => "ShowCurrentData",
        0x02 => "ShowFreezeFrameData",
        0x03 => "ShowStoredDTCs",
        0x04 => "ClearDTCs",
        0x05 => "OxygenSensorMonitoring",
        0x06 => "OnBoardMonitoring",
        0x07 => "ShowPendingDTCs",
        0x08 => "ControlOnBoardSystem",
        0x09 => "RequestVehicleInformation",
        0x0A => "ShowPermanentDTCs",
        0x7F => "NegativeResponse",
        _ => "unknown service",
    }
}

/// `01 <pid>`.
pub fn current_data(pid: u8) -> Vec<u8> {
    vec![SHOW_CURRENT_DATA, pid]
}

/// `41 <pid> <data...>`: the data bytes.
pub fn parse_current_data(resp: &[u8], pid: u8) -> Result<Vec<u8>, DecodeError> {
    const S: &str = "ShowCurrentData";
    let mut r = positive_body(S, SHOW_CURRENT_DATA, resp)?;
    let got = need(&mut r, 1, S, "PID", resp.len())?;
    check_echo(
        S,
        "PID",
        u32::from(pid),
        u32::from(got.first().copied().unwrap_or_default()),
    )?;
    Ok(r.rest().to_vec())
}

/// The PIDs 0x01–0x20 flagged in the 4-byte answer to PID 0x00 (bit 7 of
/// byte A is PID 0x01).
pub fn supported_pids(data: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let bytes: [u8; 4] =
        data.get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or(DecodeError::Truncated {
                service: "ShowCurrentData",
                what: "PID 0x00 bitmap",
                expected: 4,
                got: data.len(),
            })?;
    let bits = u32::from_be_bytes(bytes);
    Ok((0u8..32)
        .filter(|i| bits & (1 << (31 - i)) != 0)
        .map(|i| i + 1)
        .collect())
}

/// PID 0x42: control module voltage in millivolts ((A*256+B)/1000 V).
pub fn control_module_voltage_mv(data: &[u8]) -> Result<u16, DecodeError> {
    match data {
        [a, b, ..] => Ok(u16::from_be_bytes([*a, *b])),
        _ => Err(DecodeError::Truncated {
            service: "ShowCurrentData",
            what: "PID 0x42 voltage (A, B)",
            expected: 2,
            got: data.len(),
        }),
    }
}

/// `03` / `07` / `0A`.
pub fn read_dtcs(mode: u8) -> Vec<u8> {
    vec![mode]
}

/// `43 <n> (<hi> <lo>)×n` (on CAN the count byte comes first). `0000`
/// entries are padding, not codes, and are dropped.
pub fn parse_dtcs(resp: &[u8], mode: u8) -> Result<Vec<Dtc>, DecodeError> {
    let service = service_name(mode);
    let mut r = positive_body(service, mode, resp)?;
    let n = need(&mut r, 1, service, "number of DTCs", resp.len())?;
    let n = usize::from(n.first().copied().unwrap_or_default());
    let body = need(&mut r, 2 * n, service, "the announced DTCs", resp.len())?;
    Ok(body
        .chunks_exact(2)
        .filter_map(|c| match *c {
            [0, 0] => None,
            [hi, lo] => Some(Dtc::from_bytes2(hi, lo)),
            _ => None,
        })
        .collect())
}

/// `09 02`.
pub fn read_vin() -> Vec<u8> {
    vec![VEHICLE_INFORMATION, INFOTYPE_VIN]
}

/// `49 02 01 <17 ASCII>`.
pub fn parse_vin(resp: &[u8]) -> Result<String, DecodeError> {
    const S: &str = "RequestVehicleInformation";
    let mut r = positive_body(S, VEHICLE_INFORMATION, resp)?;
    let got = need(&mut r, 1, S, "info type", resp.len())?;
    check_echo(
        S,
        "info type",
        u32::from(INFOTYPE_VIN),
        u32::from(got.first().copied().unwrap_or_default()),
    )?;
    let _items = need(&mut r, 1, S, "number of data items", resp.len())?;
    let vin = need(&mut r, 17, S, "17-character VIN", resp.len())?;
    if !vin.iter().all(|b| b.is_ascii_alphanumeric()) {
        return Err(DecodeError::Invalid {
            service: S,
            what: format!(
                "VIN must be 17 ASCII letters/digits, got {}",
                crate::hex::encode_upper(vin)
            ),
        });
    }
    Ok(String::from_utf8_lossy(vin).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids() {
        assert_eq!(response_ids().count(), 8);
        assert_eq!(request_id_for(0x7E8), Some(0x7E0));
        assert_eq!(request_id_for(0x7EF), Some(0x7E7));
        assert_eq!(request_id_for(0x7F0), None);
        assert!(physical_request_ids().contains(&0x7E0));
    }

    #[test]
    fn mode01() {
        assert_eq!(current_data(0x42), vec![0x01, 0x42]);
        let data = parse_current_data(&[0x41, 0x42, 0x31, 0x2D], 0x42).unwrap();
        assert_eq!(control_module_voltage_mv(&data).unwrap(), 12_589);
        assert!(parse_current_data(&[0x41, 0x0C, 0x31, 0x2D], 0x42).is_err());
        let data = parse_current_data(&[0x41, 0x00, 0xBE, 0x1F, 0xA8, 0x13], 0x00).unwrap();
        let pids = supported_pids(&data).unwrap();
        assert_eq!(pids[..6], [0x01, 0x03, 0x04, 0x05, 0x06, 0x07]);
        assert!(pids.contains(&0x20));
        assert!(!pids.contains(&0x02));
        assert!(supported_pids(&[0xBE]).is_err());
        assert!(control_module_voltage_mv(&[0x31]).is_err());
    }

    #[test]
    fn dtcs_and_vin() {
        assert_eq!(read_dtcs(STORED_DTCS), vec![0x03]);
        let d = parse_dtcs(&[0x43, 0x02, 0x01, 0x33, 0xD0, 0x00], STORED_DTCS).unwrap();
        assert_eq!(
            d.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            ["P0133", "U1000"]
        );
        assert!(parse_dtcs(&[0x47, 0x00], PENDING_DTCS).unwrap().is_empty());
        assert!(parse_dtcs(&[0x43, 0x02, 0x01], STORED_DTCS).is_err());
        assert!(parse_dtcs(&[0x47, 0x00], STORED_DTCS).is_err());
        assert_eq!(read_vin(), vec![0x09, 0x02]);
        let mut resp = vec![0x49, 0x02, 0x01];
        resp.extend(b"1N4AL3AP8DC123456");
        assert_eq!(parse_vin(&resp).unwrap(), "1N4AL3AP8DC123456");
        assert!(parse_vin(&resp[..10]).is_err());
        resp[5] = 0;
        assert!(parse_vin(&resp).is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(resp in proptest::collection::vec(any::<u8>(), 0..40), b: u8) {
            let _ = parse_current_data(&resp, b);
            let _ = supported_pids(&resp);
            let _ = control_module_voltage_mv(&resp);
            let _ = parse_dtcs(&resp, b);
            let _ = parse_vin(&resp);
        }
    }
}
