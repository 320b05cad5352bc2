//! elmulator (PyPI, MIT; installed by `scripts/py-peers`): a scripted
//! ELM327 over TCP, written by others, whose bundled scenarios play the
//! adapters users meet: a clean one, one whose answers arrive in 7-byte
//! pieces, a clone that keeps echoing and ignores `ATH1`, garbled answers,
//! and one that stalls and then drops the connection.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use super::pty::Reaped;

/// One scenario served on a free loopback port until dropped.
pub struct Elmulator {
    _server: Reaped,
    pub port: u16,
}

impl Elmulator {
    /// `--iface` for it.
    pub fn iface(&self) -> String {
        format!("elm327:tcp:127.0.0.1:{}", self.port)
    }
}

/// Serves the bundled scenario `name`; a [`super::skip`] without the peers.
pub fn serve(name: &str) -> Option<Elmulator> {
    let python = super::py_peers()?;
    let mut child = Command::new(python)
        .args(["-m", "elmulator", "serve", name])
        .args(["--host", "127.0.0.1", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let stdout = child.stdout.take().unwrap();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    let server = Reaped(child);
    // `LISTENING <port>` once bound.
    let port = first
        .trim()
        .strip_prefix("LISTENING ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("elmulator serve {name} did not start: {first:?}"));
    Some(Elmulator {
        _server: server,
        port,
    })
}

/// The names of the scenarios elmulator bundles.
pub fn bundled() -> Option<Vec<String>> {
    let python = super::py_peers()?;
    let out = Command::new(python)
        .args([
            "-c",
            "import elmulator; print(' '.join(elmulator.bundled_names()))",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    )
}
