//! Running the built binary: its exit code and output, with the caller's
//! environment kept out (no `RUST_LOG`, no extra profile directory, no
//! colour).

use std::process::Command;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn trunkdiag(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("TRUNKDIAG_PROFILES")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// JSON lines (`--json` of `capture decode`), blank lines skipped.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}
