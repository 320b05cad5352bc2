//! What a serial port looks like (`trunkdiag adapters --probe`): two
//! identification queries that no adapter puts on the car's bus, each
//! answered within [`ANSWER_WITHIN`] or not at all.
//!
//! 1. `V\r`, SLCAN's version query (the channel is never opened: no `O`,
//!    no bitrate). An SLCAN adapter answers `V` and its version (`V1013`);
//!    an ELM327 answers `?` (no hex digits: nothing is sent on the bus).
//! 2. `ATI\r`, the ELM327's identification (`ELM327 v1.5`), asked only when
//!    the port did not answer as SLCAN. An SLCAN adapter refuses it (bell):
//!    its first letter is no command it knows that sends.
//!
//! Neither is an empty line (an ELM327 repeats its last request on one) or
//! starts with `t`, `T`, `r`, `R` (SLCAN transmits). The port is opened at
//! [`PROBE_BAUD`], the ELM327's usual speed; USB SLCAN adapters ignore it.
//! Reading the answers is [`classify_version`] and [`classify_ati`], pure;
//! [`probe`] does the I/O (blocking: `adapters` runs no runtime).

use std::time::{Duration, Instant};

/// How long each query's answer may take.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(400);
/// The speed the port is opened at.
pub const PROBE_BAUD: u32 = 38_400;

/// What a port turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Looks {
    /// Answered `V` with this version (`V1013`).
    Slcan { version: String },
    /// Answered `ATI` with this line (`ELM327 v1.5`).
    Elm327 { version: String },
    /// Opened, but answered neither query as an adapter would.
    Unknown { why: String },
    /// Another program has it open.
    Busy,
    /// Could not be opened for another reason.
    Failed { why: String },
}

impl Looks {
    /// The `--iface` for it, when it is an adapter.
    pub fn iface(&self, port: &str) -> String {
        match self {
            Looks::Slcan { .. } => format!("slcan:{port}"),
            Looks::Elm327 { .. } => format!("elm327:{port}"),
            _ => format!("elm327:{port} or slcan:{port}"),
        }
    }
}

impl std::fmt::Display for Looks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Looks::Slcan { version } => write!(f, "SLCAN adapter (version {version})"),
            Looks::Elm327 { version } => write!(f, "ELM327 adapter ({version})"),
            Looks::Unknown { why } => write!(f, "unknown: {why}"),
            Looks::Busy => write!(f, "busy: another program has it open"),
            Looks::Failed { why } => write!(f, "cannot be opened: {why}"),
        }
    }
}

/// The lines of an answer: split at CR or LF, trimmed, empty ones and the
/// prompt dropped.
fn lines(reply: &[u8]) -> impl Iterator<Item = String> + '_ {
    reply
        .split(|&b| b == b'\r' || b == b'\n' || b == b'>')
        .map(|l| String::from_utf8_lossy(l).trim().to_owned())
        .filter(|l| !l.is_empty())
}

/// The SLCAN version in the answer to `V\r`: a line of `V` and at least
/// two letters or digits (`V1013`). An echo (`V`) or `?` is none.
pub fn classify_version(reply: &[u8]) -> Option<String> {
    lines(reply).find(|l| {
        l.len() >= 3
            && (l.starts_with('V') || l.starts_with('v'))
            && l.bytes().skip(1).all(|b| b.is_ascii_alphanumeric())
    })
}

/// The ELM327's identification in the answer to `ATI\r`: the first line
/// that is not the echo, when the answer ends with the prompt `>` or names
/// an ELM327 (clones that skip the prompt). SLCAN's bell is none.
pub fn classify_ati(reply: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(reply);
    let prompt = text.trim_end().ends_with('>');
    let line = lines(reply).find(|l| !l.eq_ignore_ascii_case("ATI") && !l.contains('\u{7}'))?;
    (prompt || line.to_ascii_uppercase().contains("ELM327")).then_some(line)
}

/// Why a port that answered neither query is unknown, from what it sent.
fn unknown(heard: &[u8]) -> Looks {
    let why = if heard.is_empty() {
        format!("no answer to V or ATI at {PROBE_BAUD} baud")
    } else {
        let shown: String = String::from_utf8_lossy(heard)
            .chars()
            .take(40)
            .flat_map(char::escape_default)
            .collect();
        format!("answered V and ATI with \"{shown}\", which no SLCAN or ELM327 adapter sends")
    };
    Looks::Unknown { why }
}

/// Asks the port at `path` what it is (see the module doc). Blocks for at
/// most about two [`ANSWER_WITHIN`]s.
pub fn probe(path: &str) -> Looks {
    let builder = tokio_serial::new(path, PROBE_BAUD).timeout(Duration::from_millis(50));
    let mut port = match builder.open() {
        Ok(p) => p,
        Err(e) => return open_failed(path, e),
    };
    let _ = port.clear(tokio_serial::ClearBuffer::Input);
    let mut heard = Vec::new();
    let version = ask(&mut *port, b"V\r", |r| classify_version(r).is_some());
    if let Some(version) = classify_version(&version) {
        return Looks::Slcan { version };
    }
    heard.extend_from_slice(&version);
    let ati = ask(&mut *port, b"ATI\r", |r| {
        String::from_utf8_lossy(r).trim_end().ends_with('>')
    });
    if let Some(version) = classify_ati(&ati) {
        return Looks::Elm327 { version };
    }
    heard.extend_from_slice(&ati);
    unknown(&heard)
}

/// Writes `query`, then reads until `done` says the answer is whole or
/// [`ANSWER_WITHIN`] has passed; returns what was read.
fn ask(
    port: &mut dyn tokio_serial::SerialPort,
    query: &[u8],
    done: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    let mut reply = Vec::new();
    if port.write_all(query).and_then(|()| port.flush()).is_err() {
        return reply;
    }
    let until = Instant::now() + ANSWER_WITHIN;
    let mut chunk = [0u8; 256];
    while Instant::now() < until && !done(&reply) {
        match port.read(&mut chunk) {
            Ok(0) => std::thread::sleep(Duration::from_millis(10)),
            Ok(n) => reply.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    reply
}

/// Busy, or why the port cannot be opened. serialport says `NoDevice`
/// both for a port another program holds (EBUSY or its lock on Unix,
/// access denied on Windows) and, on Windows, for a missing one.
fn open_failed(path: &str, e: tokio_serial::Error) -> Looks {
    if e.kind() != tokio_serial::ErrorKind::NoDevice {
        return Looks::Failed { why: e.to_string() };
    }
    #[cfg(windows)]
    {
        // Ask Windows itself why: access denied or a sharing violation
        // is a port in use; anything else (not found) is no such port.
        use std::os::windows::fs::OpenOptionsExt;
        let device = if path.starts_with(r"\\") {
            path.to_owned()
        } else {
            format!(r"\\.\{path}")
        };
        let again = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .share_mode(0)
            .open(&device);
        match again {
            Err(e) if matches!(e.raw_os_error(), Some(5 | 32)) => Looks::Busy,
            Err(e) => Looks::Failed { why: e.to_string() },
            // Free a moment later: it was busy when probed.
            Ok(_) => Looks::Busy,
        }
    }
    #[cfg(not(windows))]
    {
        let _ = path;
        Looks::Busy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_slcan_version_is_read_and_an_echo_or_refusal_is_not() {
        assert_eq!(classify_version(b"V1013\r").as_deref(), Some("V1013"));
        assert_eq!(classify_version(b"\x07V0101\r").as_deref(), None);
        assert_eq!(classify_version(b"v1220\r").as_deref(), Some("v1220"));
        // An ELM327 echoing the query, then refusing it.
        assert_eq!(classify_version(b"V\r?\r\r>"), None);
        assert_eq!(classify_version(b"?\r\r>"), None);
        assert_eq!(classify_version(b"\x07"), None);
        assert_eq!(classify_version(b""), None);
    }

    #[test]
    fn an_elm327_identification_is_read_with_or_without_echo() {
        assert_eq!(
            classify_ati(b"ATI\rELM327 v1.5\r\r>").as_deref(),
            Some("ELM327 v1.5")
        );
        assert_eq!(
            classify_ati(b"ELM327 v2.1\r\r>").as_deref(),
            Some("ELM327 v2.1")
        );
        // A clone without the prompt still names itself.
        assert_eq!(
            classify_ati(b"ELM327 v1.5\r").as_deref(),
            Some("ELM327 v1.5")
        );
        // SLCAN's bell, an echo alone, silence.
        assert_eq!(classify_ati(b"\x07"), None);
        assert_eq!(classify_ati(b"ATI\r"), None);
        assert_eq!(classify_ati(b""), None);
    }

    #[test]
    fn an_unknown_port_says_what_it_sent() {
        assert_eq!(
            unknown(b"").to_string(),
            "unknown: no answer to V or ATI at 38400 baud"
        );
        assert_eq!(
            unknown(b"V\rATI\r").to_string(),
            "unknown: answered V and ATI with \"V\\rATI\\r\", which no SLCAN or ELM327 adapter sends"
        );
    }
}
