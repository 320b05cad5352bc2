//! Any text as a DBC file: parsed, then every signal it names is turned
//! into a profile field (position, byte order, sign, scale, value table,
//! multiplexor), as `profiles import-dbc` and `dbc =` items do.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trunkdiag::profile::dbc::DbcFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(dbc) = DbcFile::parse(std::path::Path::new("fuzz.dbc"), text.to_owned()) else {
        return;
    };
    for (message, signal) in dbc.signal_names().into_iter().take(256) {
        if let Ok(s) = dbc.signal(&message, &signal) {
            let _ = s.location();
        }
    }
});
