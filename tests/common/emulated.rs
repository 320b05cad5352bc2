//! ELM327-emulator (PyPI, installed by `scripts/py-peers`) playing the car
//! of `tests/peers/emulated_car.py`: its engine ECU (OBD-II 01 00, the VIN
//! 09 02) and a Nissan BCM, behind an ELM327 or a CANable-style SLCAN
//! adapter on one end of a socat pty pair, or behind a WiFi ELM327 on a
//! loopback TCP port. Each run gets its own emulator: it keeps state
//! between connections.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use super::pty::{pty_pair, PtyPair, Reaped};

/// The emulated car behind an emulated serial adapter.
pub struct EmulatedCar {
    _emulator: Reaped,
    /// trunkdiag opens `pty.ours`.
    pub pty: PtyPair,
}

/// The car behind a serial adapter: `mode` is `elm` (`elm327:`) or
/// `slcan` (`slcan:`); `lockout` sets the valet lockout bit.
pub fn emulated_car(mode: &str, lockout: bool) -> Option<EmulatedCar> {
    let python = super::py_peers()?;
    let pty = pty_pair()?;
    let emulator = start(
        &python,
        mode,
        pty.theirs.as_os_str(),
        lockout,
        pty.dir.path(),
    );
    Some(EmulatedCar {
        _emulator: emulator,
        pty,
    })
}

/// The emulated car behind a WiFi ELM327 on a loopback port.
pub struct EmulatedTcp {
    _emulator: Reaped,
    _dir: tempfile::TempDir,
    pub port: u16,
}

impl EmulatedTcp {
    /// `--iface` for it.
    pub fn iface(&self) -> String {
        format!("elm327:tcp:127.0.0.1:{}", self.port)
    }
}

/// The car behind a WiFi ELM327 on a free loopback port.
pub fn emulated_car_tcp(lockout: bool) -> Option<EmulatedTcp> {
    let python = super::py_peers()?;
    // A port free a moment ago: the emulator binds it by number.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let emulator = start(
        &python,
        "tcp",
        port.to_string().as_ref(),
        lockout,
        dir.path(),
    );
    Some(EmulatedTcp {
        _emulator: emulator,
        _dir: dir,
        port,
    })
}

fn start(python: &Path, mode: &str, port: &std::ffi::OsStr, lockout: bool, dir: &Path) -> Reaped {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/emulated_car.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).arg(mode).arg(port);
    if lockout {
        cmd.arg("--lockout");
    }
    // The emulator writes elm.log into its working directory.
    let mut child = cmd
        .current_dir(dir)
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
    assert!(ready, "the emulator ({mode}) did not start: {seen:?}");
    Reaped(child)
}
