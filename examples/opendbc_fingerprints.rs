//! Writes the opendbc fingerprint table (`src/identify/opendbc.tsv`) from a
//! folder of opendbc DBC files: each file's message ids and lengths, one
//! line per file, sorted by name. `scripts/opendbc-fingerprints DIR` runs it.
//!
//!     cargo run --example opendbc_fingerprints -- DIR > src/identify/opendbc.tsv

use std::path::PathBuf;

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: opendbc_fingerprints DIR (a folder of opendbc .dbc files)");
        std::process::exit(2);
    };
    match trunkdiag::identify::opendbc::generate(&dir) {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("opendbc_fingerprints: {e}");
            std::process::exit(2);
        }
    }
}
