//! What several test binaries share: the real recordings (the repository's
//! copies in `tests/data/`, the rest beside the repository in
//! `../shared/data/`), the Python peers, and [`skip`], the one way a test
//! that cannot run here says so.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod elm;
pub mod elmulator;
pub mod emulated;
pub mod pty;
pub mod run;
pub mod skip;
pub mod wine;

pub use skip::skip;

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A recording kept in the repository (`tests/data/<rel>`: the MIT and CC0
/// ones, see `tests/data/real/README.md`); always there.
pub fn repo_data(rel: &str) -> PathBuf {
    let path = root().join("tests/data").join(rel);
    assert!(
        path.is_file(),
        "{} is not in the repository",
        path.display()
    );
    path
}

/// The folders of `../shared/data` and why each stays outside the repository.
const OUTSIDE: &[(&str, &str)] = &[
    (
        "real/ford-gt350",
        "a GPL-3.0 recording, kept outside the repository",
    ),
    (
        "real/nissan-350z-g35",
        "a GPL-3.0 recording, kept outside the repository",
    ),
    (
        "scapy",
        "a GPL-2.0 capture from scapy's tests, kept outside the repository",
    ),
    (
        "dbc",
        "an opendbc DBC (MIT), read from beside the repository",
    ),
];

/// `<rel>` from the repository's copies (`tests/data/<rel>`) when it has one,
/// else from `../shared/data/<rel>` beside the crate root; when neither has
/// it, a [`skip`] of the folder's group (a failure under `CI=true`).
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let ours = root().join("tests/data").join(rel);
    if ours.is_file() {
        return Some(ours);
    }
    let path = root().join("../shared/data").join(rel);
    if path.exists() {
        return Some(path);
    }
    let (folder, kept) = OUTSIDE
        .iter()
        .find(|(folder, _)| rel.starts_with(&format!("{folder}/")))
        .copied()
        .unwrap_or_else(|| {
            (
                rel.rsplit_once('/').map_or(rel, |(dir, _)| dir),
                "shared test data",
            )
        });
    skip(
        &format!("../shared/data/{folder} ({kept})"),
        format!(
            "../shared/data/{rel} is missing beside {}",
            root().display()
        ),
        "CI runs on a clone with ../shared/data beside it",
    )
}

/// The Python of the interop peers' venv (python-can, ELM327-emulator,
/// elmulator, the foreign diagnostic stacks of tests/foreign_peers.rs),
/// made by `scripts/py-peers`; a [`skip`] when it cannot be made.
pub fn py_peers() -> Option<PathBuf> {
    let script = root().join("scripts/py-peers");
    let why = match Command::new(&script).output() {
        Ok(out) if out.status.success() => {
            return Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
        Ok(out) => format!(
            "scripts/py-peers failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => format!("cannot run scripts/py-peers: {e}"),
    };
    skip(
        "the Python peers (scripts/py-peers: python3-venv, PyPI)",
        why,
        ".ci/run installs python3-venv and runs scripts/py-peers",
    )
}
