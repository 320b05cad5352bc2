//! What several test binaries share: the data made by others that lives
//! beside the repository (`../shared/data/`, read in place, never copied in).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub mod pty;

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `../shared/data/<rel>` relative to the crate root, or `None` with a
/// printed note; under `CI=true` a missing file fails the test instead.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel);
    if path.exists() {
        return Some(path);
    }
    assert!(!in_ci(), "CI=true but {} is missing", path.display());
    eprintln!("note: {} absent, test skipped", path.display());
    None
}
