//! The emulated car of `tests/peers/emulated_car.py` behind ELM327-emulator
//! (PyPI, installed by `scripts/py-peers`) on one end of a socat pty pair,
//! playing an ELM327 (`elm`) or a CANable-style SLCAN adapter (`slcan`):
//! trunkdiag opens `pty.ours`. A [`super::skip`] without socat or the peers.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use super::pty::{pty_pair, PtyPair, Reaped};

/// The emulated car behind an emulated adapter (`elm` or `slcan`).
pub struct EmulatedCar {
    pub _emulator: Reaped,
    pub pty: PtyPair,
}

pub fn emulated_car(mode: &str, lockout: bool) -> Option<EmulatedCar> {
    let python = super::py_peers()?;
    let pty = pty_pair()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/emulated_car.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).arg(mode).arg(&pty.theirs);
    if lockout {
        cmd.arg("--lockout");
    }
    // The emulator writes elm.log into its working directory.
    let mut child = cmd
        .current_dir(pty.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The emulator's own log lines share its stdout: skip them (a few at
    // most) until the peer says it is ready.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let ready = (0..20).any(|_| {
        let mut line = String::new();
        let n = out.read_line(&mut line).unwrap_or(0);
        seen.push(line.trim().to_owned());
        n > 0 && line.trim() == "ready"
    });
    assert!(ready, "the emulator did not start: {seen:?}");
    Some(EmulatedCar {
        _emulator: Reaped(child),
        pty,
    })
}
