//! What the serial adapters (SLCAN, ELM327) share: opening a serial port
//! (the `tokio-serial` crate, on every OS) or a TCP connection (WiFi
//! dongles), reading the adapter's text line by line with deadlines, and
//! listing the ports that look like adapters (`trunkdiag adapters`).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::AdapterError;

/// A byte stream to an adapter.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Opens a serial port at `baud`.
pub fn open_serial(port: &str, baud: u32) -> Result<Box<dyn Stream>, AdapterError> {
    let builder = tokio_serial::new(port, baud).timeout(Duration::from_millis(100));
    let stream = tokio_serial::SerialStream::open(&builder).map_err(|e| AdapterError::Open {
        port: port.to_owned(),
        message: open_hint(&e),
    })?;
    Ok(Box::new(stream))
}

fn open_hint(e: &tokio_serial::Error) -> String {
    use tokio_serial::ErrorKind;
    match e.kind() {
        ErrorKind::NoDevice => format!(
            "{e}: no such port (is the adapter plugged in? `trunkdiag adapters` lists the ports)"
        ),
        ErrorKind::Io(std::io::ErrorKind::PermissionDenied) => format!(
            "{e}: permission denied (on Linux, add yourself to the `dialout` group, or run as root)"
        ),
        _ => e.to_string(),
    }
}

/// Connects to a WiFi adapter.
pub async fn open_tcp(addr: &str) -> Result<Box<dyn Stream>, AdapterError> {
    let s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| AdapterError::Open {
            port: addr.to_owned(),
            message: "no answer within 5 s: are you on the dongle's WiFi network?".into(),
        })?
        .map_err(|e| AdapterError::Open {
            port: addr.to_owned(),
            message: e.to_string(),
        })?;
    let _ = s.set_nodelay(true);
    Ok(Box::new(s))
}

/// One unit of adapter output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A line without its terminator (never empty).
    Line(String),
    /// The ELM327's `>` prompt: it is ready for a command.
    Prompt,
    /// An SLCAN bell (0x07): the command failed.
    Bell,
    /// A bare carriage return (SLCAN's "OK").
    Ok,
}

/// Splits adapter output into [`Token`]s. Reading is cancel-safe: bytes
/// go into the buffer only once read, and a token is taken out only when
/// it is complete.
pub struct LineReader {
    buf: Vec<u8>,
    start: usize,
    /// ELM327: `>` is the prompt and empty lines are dropped; SLCAN: a bare
    /// CR is an OK and 0x07 a bell.
    elm: bool,
}

/// Adapter lines longer than this are garbage (a wrong serial speed).
const MAX_LINE: usize = 512;

impl LineReader {
    pub fn elm() -> LineReader {
        LineReader {
            buf: Vec::new(),
            start: 0,
            elm: true,
        }
    }

    pub fn slcan() -> LineReader {
        LineReader {
            buf: Vec::new(),
            start: 0,
            elm: false,
        }
    }

    /// The next complete token already buffered.
    pub fn take(&mut self) -> Option<Token> {
        loop {
            let rest = self.buf.get(self.start..).unwrap_or_default();
            let pos = rest.iter().position(|b| match b {
                b'\r' | b'\n' => true,
                b'>' => self.elm,
                0x07 => !self.elm,
                _ => false,
            })?;
            let line = String::from_utf8_lossy(rest.get(..pos).unwrap_or_default())
                .trim()
                .to_owned();
            let term = rest.get(pos).copied().unwrap_or(b'\r');
            let tail = match term {
                b'>' => Some(Token::Prompt),
                0x07 => Some(Token::Bell),
                _ => None,
            };
            if !line.is_empty() {
                // A `>` or a bell right after text ends the line; it is
                // then seen again, alone, on the next call.
                self.start += if tail.is_some() { pos } else { pos + 1 };
                self.compact();
                return Some(Token::Line(line));
            }
            self.start += pos + 1;
            self.compact();
            match tail {
                Some(t) => return Some(t),
                None if !self.elm && term == b'\r' => return Some(Token::Ok),
                None => continue,
            }
        }
    }

    fn compact(&mut self) {
        if self.start > 4096 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }

    /// Reads until a token is complete or `deadline`; `Ok(None)` on the
    /// deadline. End of stream or a read error is the adapter gone.
    pub async fn next<S: AsyncRead + Unpin + ?Sized>(
        &mut self,
        stream: &mut S,
        deadline: Instant,
    ) -> Result<Option<Token>, AdapterError> {
        loop {
            if let Some(t) = self.take() {
                return Ok(Some(t));
            }
            if self.buf.len() - self.start > MAX_LINE {
                let junk = String::from_utf8_lossy(self.buf.get(self.start..).unwrap_or_default())
                    .chars()
                    .take(40)
                    .collect::<String>();
                self.buf.clear();
                self.start = 0;
                return Err(AdapterError::Unexpected {
                    command: String::new(),
                    line: junk,
                    expected: "lines of text (is the serial speed right?)",
                });
            }
            let mut chunk = [0u8; 256];
            let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                Err(_) => return Ok(None),
                Ok(Ok(0)) => return Err(AdapterError::Unplugged("end of stream".into())),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(AdapterError::Unplugged(e.to_string())),
            };
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }

    /// Drops everything buffered.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }
}

/// Writes `text` and flushes; a failure is the adapter gone.
pub async fn write<S: AsyncWrite + Unpin + ?Sized>(
    stream: &mut S,
    text: &str,
) -> Result<(), AdapterError> {
    stream
        .write_all(text.as_bytes())
        .await
        .and(stream.flush().await)
        .map_err(|e| AdapterError::Unplugged(e.to_string()))
}

/// Aborts an adapter's driver task `after` this long unless it ended by
/// then (it ends by itself when its bus is dropped, unless stuck on a dead
/// port). Needs a runtime; without one (the runtime is going away) the
/// task goes with it.
pub fn abort_later(task: &tokio::task::JoinHandle<()>, after: Duration) {
    if task.is_finished() {
        return;
    }
    let task = task.abort_handle();
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            tokio::time::sleep(after).await;
            task.abort();
        });
    }
}

/// A serial port or CAN interface on this machine that may be an adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundAdapter {
    /// What to give `--iface`.
    pub iface: String,
    /// What it appears to be.
    pub what: String,
}

/// Serial ports that look like adapters (USB serial, Bluetooth serial) and
/// SocketCAN interfaces.
pub fn list_adapters() -> Vec<FoundAdapter> {
    let mut out = Vec::new();
    if let Ok(ports) = tokio_serial::available_ports() {
        for p in ports {
            let what = match &p.port_type {
                tokio_serial::SerialPortType::UsbPort(u) => {
                    let name = [u.manufacturer.as_deref(), u.product.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ");
                    format!(
                        "USB serial {:04x}:{:04x} {}{}",
                        u.vid,
                        u.pid,
                        name,
                        usb_guess(u.vid, u.pid)
                    )
                }
                tokio_serial::SerialPortType::BluetoothPort => {
                    "Bluetooth serial (ELM327/OBDLink dongles)".to_owned()
                }
                tokio_serial::SerialPortType::PciPort => continue,
                tokio_serial::SerialPortType::Unknown => {
                    if !looks_like_adapter(&p.port_name) {
                        continue;
                    }
                    "serial port".to_owned()
                }
            };
            out.push(FoundAdapter {
                iface: p.port_name.clone(),
                what,
            });
        }
    }
    out.extend(socketcan_interfaces());
    out
}

/// Names USB serial adapters get on each OS (when the port type is unknown).
fn looks_like_adapter(name: &str) -> bool {
    ["ttyUSB", "ttyACM", "rfcomm", "cu.", "COM"]
        .iter()
        .any(|p| name.rsplit('/').next().unwrap_or(name).starts_with(p))
}

/// Well-known USB ids of CAN adapters.
fn usb_guess(vid: u16, pid: u16) -> &'static str {
    match (vid, pid) {
        (0x0403, 0x6015) => " (FTDI: OBDLink SX/EX)",
        (0x0403, _) => " (FTDI: many ELM327 cables)",
        (0x1a86, _) => " (CH340: most ELM327 clones)",
        (0x10c4, _) => " (CP210x: some ELM327 cables)",
        (0xad50, 0x60c4) | (0x16d0, 0x117e) => " (CANable: slcan:)",
        _ => "",
    }
}

/// CAN interfaces in /sys/class/net (Linux); none elsewhere.
fn socketcan_interfaces() -> Vec<FoundAdapter> {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let mut v: Vec<FoundAdapter> = dir
        .flatten()
        .filter(|e| std::fs::read_to_string(e.path().join("type")).is_ok_and(|t| t.trim() == "280"))
        .map(|e| FoundAdapter {
            iface: e.file_name().to_string_lossy().into_owned(),
            what: "SocketCAN interface".to_owned(),
        })
        .collect();
    v.sort_by(|a, b| a.iface.cmp(&b.iface));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(reader: &mut LineReader, bytes: &[u8]) -> Vec<Token> {
        reader.buf.extend_from_slice(bytes);
        std::iter::from_fn(|| reader.take()).collect()
    }

    #[test]
    fn elm_output_splits_into_lines_and_prompts() {
        let mut r = LineReader::elm();
        assert_eq!(
            all(&mut r, b"ELM327 v1.5\r\r>765 02 50 C0\r\r>"),
            vec![
                Token::Line("ELM327 v1.5".into()),
                Token::Prompt,
                Token::Line("765 02 50 C0".into()),
                Token::Prompt
            ]
        );
        // A partial line waits for the rest.
        assert_eq!(all(&mut r, b"7E8 06 4"), vec![]);
        assert_eq!(
            all(&mut r, b"1 00\r>"),
            vec![Token::Line("7E8 06 41 00".into()), Token::Prompt]
        );
    }

    #[test]
    fn slcan_output_has_oks_and_bells() {
        let mut r = LineReader::slcan();
        assert_eq!(
            all(&mut r, b"\rz\r\x07t7650250C0\r"),
            vec![
                Token::Ok,
                Token::Line("z".into()),
                Token::Bell,
                Token::Line("t7650250C0".into())
            ]
        );
    }
}
