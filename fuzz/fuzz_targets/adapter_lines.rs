//! Lines an adapter sends back: SLCAN frames and status, and ELM327
//! monitor / answer lines (headers on, spaces on or off). A frame that
//! decodes from SLCAN must encode back to the same line's frame.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trunkdiag::transport::{elm327, slcan};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(frame) = slcan::decode(line) {
        if let Ok(again) = slcan::encode(&frame) {
            let back = slcan::decode(again.trim_end_matches('\r')).expect("an encoded frame decodes");
            assert_eq!(back.id, frame.id);
            assert_eq!(back.data(), frame.data());
        }
    }
    if let Some(&b) = data.first() {
        let _ = slcan::status_error(b);
    }
    let _ = elm327::parse_frame(line);
});
