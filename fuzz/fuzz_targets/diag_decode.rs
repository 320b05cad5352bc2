//! Any payload through every diagnostic decoder: `describe` for each
//! protocol and direction, and the UDS, KWP2000 and OBD-II reply parsers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trunkdiag::diag::{describe, kwp, obd, uds, Dir, Protocol};

fuzz_target!(|data: &[u8]| {
    for p in [Protocol::Uds, Protocol::Kwp, Protocol::Obd] {
        for d in [Dir::Request, Dir::Response] {
            let _ = describe(p, data, d);
        }
    }
    let b = data.first().copied().unwrap_or(0);
    let _ = uds::parse_session_control(data, b);
    let _ = uds::parse_dtc_report(data, b);
    let _ = uds::parse_dtc_count(data);
    let _ = uds::decode_security_access(data);
    let _ = uds::parse_tester_present(data);
    let _ = uds::parse_ecu_reset(data, b);
    let _ = kwp::parse_start_session(data, b);
    let _ = kwp::parse_dtcs_by_status(data);
    let _ = kwp::parse_status_of_dtc(data);
    let _ = kwp::parse_read_local_id(data, b);
    let _ = kwp::parse_ecu_identification(data, b);
    let _ = obd::parse_current_data(data, b);
    let _ = obd::parse_dtcs(data, b);
    let _ = obd::parse_vin(data);
});
