//! Any text as a vehicle profile: parsed, converted and checked; a profile
//! that loads must also pass the checker without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = trunkdiag::profile::parse("fuzz.toml", text);
});
