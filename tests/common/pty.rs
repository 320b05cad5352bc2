//! Serial peers on pty pairs made by socat (tests/adapters.rs,
//! tests/interrupt.rs): socat is installed by `.ci/run`; a missing one is a
//! [`super::skip`] (a failure under CI=true).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills and reaps a child when dropped.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two linked ptys: trunkdiag opens `ours`, the peer `theirs`.
pub struct PtyPair {
    pub socat: Reaped,
    pub ours: PathBuf,
    pub theirs: PathBuf,
    pub dir: tempfile::TempDir,
}

pub fn pty_pair() -> Option<PtyPair> {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("trunkdiag");
    let theirs = dir.path().join("peer");
    let spawned = Command::new("socat")
        .arg(format!("pty,raw,echo=0,link={}", ours.display()))
        .arg(format!("pty,raw,echo=0,link={}", theirs.display()))
        .stderr(Stdio::null())
        .spawn();
    let socat = match spawned {
        Ok(c) => Reaped(c),
        Err(e) => {
            return super::skip(
                "socat (pty pairs for the serial adapters)",
                format!("cannot run socat: {e}"),
                ".ci/run installs it with apt-get",
            )
        }
    };
    let start = Instant::now();
    while !(ours.exists() && theirs.exists()) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "socat made no ptys"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(PtyPair {
        socat,
        ours,
        theirs,
        dir,
    })
}

/// The next CR-ended command from the tester; `None` when the pty closed.
pub fn read_command(reader: &mut std::fs::File) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if reader.read(&mut byte)? == 0 {
            return Ok(None);
        }
        if byte[0] == b'\r' {
            return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
        }
        line.push(byte[0]);
    }
}
