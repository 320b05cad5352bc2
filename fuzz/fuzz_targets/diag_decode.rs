//! Any payload through every diagnostic decoder: `describe` for each
//! protocol and direction, the UDS, KWP2000 and OBD-II reply parsers, and
//! GMLAN's UUDT frames.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trunkdiag::diag::{describe, gmlan, kwp, obd, uds, Dir, Protocol};

fuzz_target!(|data: &[u8]| {
    for p in Protocol::ALL {
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
    let _ = gmlan::parse_uudt(data);
    let _ = trunkdiag::diag::describe::describe_uudt(data);
});
