//! ELM327 and OBDLink (STN) adapters over a serial port (USB, Bluetooth
//! serial) or TCP (WiFi dongles).
//!
//! An ELM327 is not a raw CAN interface: it does ISO-TP itself (`ATCAF1`:
//! it adds the PCI byte to our requests and sends the flow control for
//! multi-frame answers) and it listens only while it waits for an answer,
//! or while monitoring (`ATMA`, `STMA` on an STN chip). It is still
//! presented as a [`CanBus`], honestly:
//!
//! - `send` takes single frames (requests of up to 7 bytes, what a trunk
//!   diagnosis sends) and has the adapter send them; multi-frame requests
//!   are refused with a clear error. The tester sends no flow control of
//!   its own ([`CanBus::adapter_flow_control`]): the adapter does, as
//!   configured from the link (`ATFCSH`/`ATFCSD`/`ATFCSM1`), or with its
//!   default when a clone refuses those commands (named in the notes).
//! - `recv` delivers the frames the adapter printed (`ATH1`: id and every
//!   data byte, PCI included), stamped when they arrived: the answers to
//!   our requests, and between requests whatever the monitor heard. So the
//!   analyzer and the recording see what the adapter delivered, and a
//!   replay of the recording gives the same verdict.
//! - What it could not do goes into [`CanBus::notes`]: broadcasts are
//!   heard only between requests (how long, of how long), or not at all
//!   when the adapter cannot monitor; the flow-control fallback; the
//!   commands a clone refused.
//!
//! `BUFFER FULL`, `CAN ERROR`, `?` to a request, `STOPPED` and a silent
//! adapter are errors (`BusError::Adapter`); the adapter stays usable after
//! the first three, so the tester can still leave the session. `NO DATA`
//! before any answer of the run is an error too (no module answers at that
//! address: wrong profile, ignition off, another bus); after one, it is a
//! missed answer, noted in the report, and the client sees no answer.
//!
//! One task owns the connection and serialises commands, requests and the
//! monitor; `recv` reads a channel, so it is cancel-safe.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::serial::{self, LineReader, Stream, Token};
use super::{AdapterError, BusClock, BusError, CanBus, LinkHint};
use crate::frame::{CanFrame, CanId, IfName};
use crate::hex;

/// Serial speeds tried, in this order, when none is given.
pub const PROBE_BAUDS: [u32; 5] = [38_400, 9_600, 115_200, 230_400, 500_000];
/// How long a probe waits for the prompt at one speed.
const PROBE_WAIT: Duration = Duration::from_millis(500);
/// How long a refusal of `ATMA` / `STMA` may take to come back.
const MONITOR_CONFIRM: Duration = Duration::from_millis(100);
/// How long `ATZ` may take.
const RESET_WAIT: Duration = Duration::from_secs(5);
/// How long any other command may take.
const COMMAND_WAIT: Duration = Duration::from_secs(2);
/// How long a request may take until the prompt (the adapter's own
/// timeout, response-pending waits included).
const REQUEST_WAIT: Duration = Duration::from_secs(10);

/// Where the adapter is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElmEndpoint {
    /// A serial port; `baud` None: probe [`PROBE_BAUDS`].
    Serial { port: String, baud: Option<u32> },
    /// `HOST:PORT` of a WiFi adapter.
    Tcp(String),
}

impl fmt::Display for ElmEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElmEndpoint::Serial { port, baud } => {
                write!(f, "elm327:{port}")?;
                baud.map_or(Ok(()), |b| write!(f, "@{b}"))
            }
            ElmEndpoint::Tcp(a) => write!(f, "elm327:tcp:{a}"),
        }
    }
}

/// What the driver learnt, for [`CanBus::notes`].
#[derive(Default, Debug)]
struct Shared {
    notes: Vec<String>,
    /// Why the driver ended, once it has.
    ended: Option<String>,
    first_request_us: Option<u64>,
    monitored_us: u64,
    monitor_since_us: Option<u64>,
    /// The monitor ran at all / the adapter cannot monitor.
    monitored: bool,
    cannot_monitor: bool,
}

impl Shared {
    fn note(&mut self, n: String) {
        if !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }
}

enum Cmd {
    Link(LinkHint),
    /// Stop monitoring and address the module, then hold until a request.
    Prepare(oneshot::Sender<Result<(), BusError>>),
    Request {
        tx: CanId,
        payload: Vec<u8>,
        done: oneshot::Sender<Result<(), BusError>>,
    },
}

/// An open ELM327 / STN adapter. See the module documentation.
pub struct Elm327Bus {
    name: String,
    clock: BusClock,
    frames: mpsc::UnboundedReceiver<Result<CanFrame, BusError>>,
    cmds: mpsc::UnboundedSender<Cmd>,
    shared: Arc<Mutex<Shared>>,
    hint: Option<LinkHint>,
    task: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for Elm327Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Elm327Bus")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for Elm327Bus {
    fn drop(&mut self) {
        // The driver stops the monitor and ends when the command queue
        // closes; if it is stuck on a dead port, stop it.
        serial::abort_later(&self.task, COMMAND_WAIT * 2);
    }
}

impl Elm327Bus {
    /// Opens the adapter (a serial port is opened at once, so a wrong port
    /// fails here) and starts the driver, which initialises it for the
    /// protocol of a bus at `bitrate`. Must be called inside a tokio
    /// runtime. Start-up errors come with the first `send` or `recv`.
    pub fn open(endpoint: ElmEndpoint, bitrate: u32, iface: IfName) -> Result<Elm327Bus, BusError> {
        let name = endpoint.to_string();
        let conn = match &endpoint {
            ElmEndpoint::Serial { port, baud } => {
                let first = baud.unwrap_or(PROBE_BAUDS[0]);
                let builder = tokio_serial::new(port.as_str(), first);
                let s =
                    tokio_serial::SerialStream::open(&builder).map_err(|e| BusError::Adapter {
                        adapter: name.clone(),
                        error: AdapterError::Open {
                            port: port.clone(),
                            message: e.to_string(),
                        },
                    })?;
                Conn::Serial(s, *baud)
            }
            ElmEndpoint::Tcp(addr) => Conn::Tcp(addr.clone()),
        };
        let clock = BusClock::start();
        let (frame_tx, frames) = mpsc::unbounded_channel();
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let driver = Driver {
            name: name.clone(),
            stream: None,
            reader: LineReader::elm(),
            frames: frame_tx,
            clock,
            iface,
            shared: Arc::clone(&shared),
            bitrate,
            link: None,
            applied: None,
            stn: false,
            can_monitor: true,
            monitoring: false,
            hold: false,
            filter_open: false,
            answered: false,
        };
        let task = tokio::spawn(driver.run(conn, cmd_rx));
        Ok(Elm327Bus {
            name,
            clock,
            frames,
            cmds,
            shared,
            hint: None,
            task,
        })
    }

    fn gone(&self) -> BusError {
        let why = self
            .shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ended
            .clone()
            .unwrap_or_else(|| "the adapter's connection is closed".to_owned());
        BusError::Closed(format!("{}: {why}", self.name))
    }
}

impl CanBus for Elm327Bus {
    async fn send(&mut self, frame: &CanFrame) -> Result<(), BusError> {
        let data = frame.data();
        let pci = data.first().copied().unwrap_or(0xFF);
        if self.hint.is_some_and(|h| h.address_byte) {
            return Err(BusError::Unsupported(format!(
                "{}: extended ISO-TP addressing through an ELM327 is not supported",
                self.name
            )));
        }
        let payload = match pci >> 4 {
            0 => {
                let len = usize::from(pci & 0x0F);
                match data.get(1..1 + len) {
                    Some(p) if len > 0 => p.to_vec(),
                    _ => {
                        return Err(BusError::Unsupported(format!(
                            "{}: malformed single frame {}",
                            self.name,
                            hex::encode_upper(data)
                        )))
                    }
                }
            }
            // The adapter sends its own flow control.
            3 => return Ok(()),
            _ => {
                return Err(BusError::Unsupported(format!(
                    "{}: an ELM327 sends requests of at most 7 bytes (one frame); this one needs several",
                    self.name
                )))
            }
        };
        let (done, wait) = oneshot::channel();
        let cmd = Cmd::Request {
            tx: frame.id,
            payload,
            done,
        };
        if self.cmds.send(cmd).is_err() {
            return Err(self.gone());
        }
        match wait.await {
            Ok(r) => r,
            Err(_) => Err(self.gone()),
        }
    }

    async fn recv(&mut self) -> Result<CanFrame, BusError> {
        match self.frames.recv().await {
            Some(r) => r,
            None => Err(self.gone()),
        }
    }

    fn now_us(&self) -> u64 {
        self.clock.now_us()
    }

    async fn prepare(&mut self) -> Result<(), BusError> {
        let (done, wait) = oneshot::channel();
        if self.cmds.send(Cmd::Prepare(done)).is_err() {
            return Err(self.gone());
        }
        match wait.await {
            Ok(r) => r,
            Err(_) => Err(self.gone()),
        }
    }

    fn configure_link(&mut self, hint: &LinkHint) {
        self.hint = Some(*hint);
        let _ = self.cmds.send(Cmd::Link(*hint));
    }

    fn adapter_flow_control(&self) -> bool {
        true
    }

    fn notes(&self) -> Vec<String> {
        let now = self.clock.now_us();
        let s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let mut notes = s.notes.clone();
        if let Some(first) = s.first_request_us {
            let total = now.saturating_sub(first);
            let open = s.monitor_since_us.map_or(0, |t| now.saturating_sub(t));
            let heard = s.monitored_us + open;
            if s.cannot_monitor {
                notes.push(format!(
                    "{}: this adapter cannot monitor the bus, so no broadcast frame was watched: \
                     presses and the lid were judged from the BCM's answers alone",
                    self.name
                ));
            } else if s.monitored {
                notes.push(format!(
                    "{}: an ELM327 hears broadcasts only while it monitors between requests, \
                     never while it waits for an answer: the bus was watched {:.1} s of the {:.1} s \
                     since the first request",
                    self.name,
                    heard as f64 / 1e6,
                    total as f64 / 1e6
                ));
            }
        }
        notes
    }
}

enum Conn {
    Serial(tokio_serial::SerialStream, Option<u32>),
    Tcp(String),
}

/// The ELM327's protocol number for a bus.
pub fn protocol_for(bitrate: u32, extended: bool) -> Option<char> {
    match (bitrate, extended) {
        (500_000, false) => Some('6'),
        (500_000, true) => Some('7'),
        (250_000, false) => Some('8'),
        (250_000, true) => Some('9'),
        _ => None,
    }
}

/// A frame line as printed with `ATH1 ATS1` (`765 02 50 C0`, or
/// `18DAF140 03 7F 22 31`); `None` if it is not one.
pub fn parse_frame(line: &str) -> Option<CanFrame> {
    let mut parts = line.split_ascii_whitespace();
    let head = parts.next()?;
    let raw = u32::from_str_radix(head, 16).ok()?;
    let id = match head.len() {
        3 => CanId::standard(raw)?,
        8 => CanId::extended(raw)?,
        _ => return None,
    };
    let mut data = Vec::with_capacity(8);
    for p in parts {
        if p.len() != 2 || data.len() == 8 {
            return None;
        }
        data.push(u8::from_str_radix(p, 16).ok()?);
    }
    CanFrame::classic(id, &data).ok()
}

/// What an error line of the adapter means; `None` for other lines.
fn error_line(line: &str) -> Option<(&'static str, bool)> {
    // (hint, the adapter stays usable)
    let l = line.trim_start_matches('<');
    Some(match l {
        "BUFFER FULL" => ("", true),
        "CAN ERROR" => (
            ": it cannot talk on the bus (wrong bitrate, or not connected to the car's CAN pins?)",
            true,
        ),
        "BUS ERROR" | "BUS BUSY" | "FB ERROR" => (": a wiring or bus fault", true),
        "DATA ERROR" | "RX ERROR" => (": a garbled answer", true),
        "STOPPED" => (": it stopped waiting (a byte reached it mid-request)", true),
        "UNABLE TO CONNECT" => (": no module answered at this protocol", true),
        "LV RESET" | "ACT ALERT" => (
            ": the adapter reset itself (low voltage or inactivity)",
            false,
        ),
        _ if l.starts_with("ERR") && l.len() == 5 => (": an internal error", true),
        _ => return None,
    })
}

struct Driver {
    name: String,
    stream: Option<Box<dyn Stream>>,
    reader: LineReader,
    frames: mpsc::UnboundedSender<Result<CanFrame, BusError>>,
    clock: BusClock,
    iface: IfName,
    shared: Arc<Mutex<Shared>>,
    bitrate: u32,
    link: Option<LinkHint>,
    /// The header / filter / flow control the adapter has now.
    applied: Option<(CanId, CanId)>,
    stn: bool,
    can_monitor: bool,
    monitoring: bool,
    /// A request is about to come: do not start the monitor.
    hold: bool,
    /// The receive filter was opened for the monitor (`ATCRA` reset).
    filter_open: bool,
    /// Some request of this run was answered: a later `NO DATA` is one
    /// missed answer (evidence), not a module that is not there.
    answered: bool,
}

impl Driver {
    fn err(&self, error: AdapterError) -> BusError {
        BusError::Adapter {
            adapter: self.name.clone(),
            error,
        }
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run(mut self, conn: Conn, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        let why = match self.serve(conn, &mut cmds).await {
            Ok(()) => "closed".to_owned(),
            Err(e) => {
                let why = e.to_string();
                let _ = self.frames.send(Err(e));
                why
            }
        };
        self.end_monitor_time();
        self.shared().ended = Some(why.clone());
        cmds.close();
        while let Some(c) = cmds.recv().await {
            if let Cmd::Request { done, .. } = c {
                let _ = done.send(Err(BusError::Closed(format!("{}: {why}", self.name))));
            }
        }
    }

    async fn serve(
        &mut self,
        conn: Conn,
        cmds: &mut mpsc::UnboundedReceiver<Cmd>,
    ) -> Result<(), BusError> {
        self.connect(conn).await?;
        self.init().await?;
        loop {
            let cmd = if self.should_monitor() {
                match self.monitor(cmds).await {
                    Ok(c) => c,
                    Err(e) if is_fatal(&e) => return Err(e),
                    // BUFFER FULL, CAN ERROR: the monitor is over, the
                    // adapter still answers (the session can be left).
                    Err(e) => {
                        let _ = self.frames.send(Err(e));
                        continue;
                    }
                }
            } else {
                cmds.recv().await
            };
            match cmd {
                None => {
                    if self.monitoring {
                        self.stop_monitor().await?;
                    }
                    return Ok(());
                }
                Some(Cmd::Link(h)) => self.link = Some(h),
                Some(Cmd::Prepare(done)) => {
                    let r = self.prepare().await;
                    match r {
                        Err(e) if is_fatal(&e) => {
                            let _ = done.send(Err(BusError::Closed(e.to_string())));
                            return Err(e);
                        }
                        r => {
                            self.hold = r.is_ok();
                            let _ = done.send(r);
                        }
                    }
                }
                Some(Cmd::Request { tx, payload, done }) => {
                    self.hold = false;
                    match self.request(tx, &payload, done).await {
                        Ok(()) => {}
                        Err(e) if is_fatal(&e) => return Err(e),
                        Err(e) => {
                            let _ = self.frames.send(Err(e));
                        }
                    }
                }
            }
        }
    }

    fn stream(&mut self) -> Result<&mut Box<dyn Stream>, BusError> {
        match self.stream.as_mut() {
            Some(s) => Ok(s),
            None => Err(BusError::Closed("not connected".into())),
        }
    }

    async fn connect(&mut self, conn: Conn) -> Result<(), BusError> {
        match conn {
            Conn::Tcp(addr) => {
                let mut s = serial::open_tcp(&addr).await.map_err(|e| self.err(e))?;
                if !probe(&mut self.reader, &mut s)
                    .await
                    .map_err(|e| self.err(e))?
                {
                    return Err(self.err(AdapterError::NotFound { tried: addr }));
                }
                self.stream = Some(s);
                Ok(())
            }
            Conn::Serial(mut port, baud) => {
                use tokio_serial::SerialPort;
                let speeds: Vec<u32> = match baud {
                    Some(b) => vec![b],
                    None => PROBE_BAUDS.to_vec(),
                };
                for b in &speeds {
                    port.set_baud_rate(*b).map_err(|e| {
                        self.err(AdapterError::Open {
                            port: self.name.clone(),
                            message: format!("setting {b} baud: {e}"),
                        })
                    })?;
                    if probe(&mut self.reader, &mut port)
                        .await
                        .map_err(|e| self.err(e))?
                    {
                        if baud.is_none() {
                            tracing::info!("{}: answers at {b} baud", self.name);
                        }
                        self.stream = Some(Box::new(port));
                        return Ok(());
                    }
                }
                let tried = speeds
                    .iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                Err(self.err(AdapterError::NotFound {
                    tried: format!("{tried} baud"),
                }))
            }
        }
    }

    /// Reads lines until the prompt, within `wait`; frames met on the way
    /// are passed on.
    async fn lines_until_prompt(
        &mut self,
        cmd: &str,
        wait: Duration,
    ) -> Result<Vec<String>, BusError> {
        let until = Instant::now() + wait;
        let mut lines = Vec::new();
        loop {
            let s = self
                .stream
                .as_mut()
                .ok_or(BusError::Closed("no port".into()))?;
            match self.reader.next(s, until).await.map_err(|e| self.err(e))? {
                Some(Token::Prompt) => return Ok(lines),
                Some(Token::Line(l)) => {
                    // The echo, before ATE0 took effect.
                    if l != cmd {
                        lines.push(l);
                    }
                }
                Some(_) => {}
                None => {
                    return Err(self.err(AdapterError::Silent {
                        command: cmd.to_owned(),
                        waited_ms: wait.as_millis() as u64,
                    }))
                }
            }
        }
    }

    /// Writes to the adapter; a failure is the adapter gone.
    async fn write(&mut self, text: &str) -> Result<(), BusError> {
        let name = self.name.clone();
        serial::write(self.stream()?, text)
            .await
            .map_err(|error| BusError::Adapter {
                adapter: name,
                error,
            })
    }

    /// Passes a frame the adapter printed on, stamped now.
    fn deliver(&self, frame: CanFrame) {
        let _ = self
            .frames
            .send(Ok(frame.at(self.clock.now_us()).on(self.iface)));
    }

    /// An AT/ST command: its answer lines (without the prompt).
    async fn at(&mut self, cmd: &str, wait: Duration) -> Result<Vec<String>, BusError> {
        self.write(&format!("{cmd}\r")).await?;
        self.lines_until_prompt(cmd, wait).await
    }

    /// A command that must be accepted (`OK`).
    async fn must(&mut self, cmd: &str) -> Result<(), BusError> {
        let lines = self.at(cmd, COMMAND_WAIT).await?;
        if lines.iter().any(|l| l == "OK") {
            return Ok(());
        }
        if lines.iter().any(|l| l == "?") {
            return Err(self.err(AdapterError::Refused {
                command: cmd.to_owned(),
            }));
        }
        Err(self.err(AdapterError::Unexpected {
            command: cmd.to_owned(),
            line: lines.join(" / "),
            expected: "OK",
        }))
    }

    /// A command a clone may refuse: false (and a note) if it did.
    async fn may(&mut self, cmd: &str) -> Result<bool, BusError> {
        let lines = self.at(cmd, COMMAND_WAIT).await?;
        let ok = lines.iter().any(|l| l == "OK");
        if !ok {
            self.shared().note(format!(
                "{}: the adapter refused {cmd} (answered {:?}): probably a clone",
                self.name,
                lines.join(" / ")
            ));
        }
        Ok(ok)
    }

    async fn init(&mut self) -> Result<(), BusError> {
        let reset = self.at("ATZ", RESET_WAIT).await?;
        let version = reset
            .iter()
            .find(|l| l.contains("ELM327") || l.contains("STN") || l.contains("OBDLink"))
            .cloned();
        self.must("ATE0").await?;
        self.may("ATL0").await?;
        self.must("ATS1").await?;
        self.must("ATH1").await?;
        let proto = protocol_for(self.bitrate, false).ok_or_else(|| {
            BusError::Unsupported(format!(
                "{}: an ELM327 talks ISO 15765 at 500 or 250 kbit/s only, not {} bit/s",
                self.name, self.bitrate
            ))
        })?;
        self.must(&format!("ATSP{proto}")).await?;
        self.must("ATCAF1").await?;
        self.may("ATCFC1").await?;
        let ati = self.at("ATI", COMMAND_WAIT).await?.join(" ");
        let sti = self.at("STI", COMMAND_WAIT).await?.join(" ");
        self.stn = !sti.is_empty() && sti != "?";
        let volts = self.at("ATRV", COMMAND_WAIT).await?.join(" ");
        let id = if self.stn {
            format!("{ati}, {sti} (OBDLink/STN)")
        } else {
            version.unwrap_or(ati)
        };
        let note = format!("{}: adapter {id}; battery {volts} (ATRV)", self.name);
        tracing::info!("{note}");
        self.shared().note(note);
        Ok(())
    }

    /// Before a request: the monitor stopped, the module addressed.
    async fn prepare(&mut self) -> Result<(), BusError> {
        if self.monitoring {
            self.stop_monitor().await?;
        }
        match self.link {
            Some(h) => self.apply_link(h.tx).await,
            None => Ok(()),
        }
    }

    fn should_monitor(&self) -> bool {
        !self.hold
            && self.can_monitor
            && self.applied.is_some()
            && self.shared().first_request_us.is_some()
    }

    /// Points the adapter at the module: header, answer filter, flow
    /// control (or the named fallback).
    async fn apply_link(&mut self, tx: CanId) -> Result<(), BusError> {
        let rx = self.link.map(|h| h.rx);
        let Some(rx) = rx else {
            return Err(BusError::Unsupported(format!(
                "{}: no ISO-TP link configured before the first request",
                self.name
            )));
        };
        if self.applied == Some((tx, rx)) && !self.filter_open {
            return Ok(());
        }
        if self.applied.map(|a| a.0) != Some(tx) {
            let proto = protocol_for(self.bitrate, tx.is_extended()).unwrap_or('6');
            self.must(&format!("ATSP{proto}")).await?;
            match tx {
                CanId::Standard(id) => self.must(&format!("ATSH{id:03X}")).await?,
                CanId::Extended(id) => {
                    self.must(&format!("ATCP{:02X}", id >> 24)).await?;
                    self.must(&format!("ATSH{:06X}", id & 0xFF_FFFF)).await?;
                }
            }
            self.flow_control(tx).await?;
        }
        self.must(&format!("ATCRA{}", id_hex(rx))).await?;
        self.filter_open = false;
        self.applied = Some((tx, rx));
        Ok(())
    }

    async fn flow_control(&mut self, tx: CanId) -> Result<(), BusError> {
        let (bs, st) = self.link.map_or((0, 0), |h| (h.block_size, h.st_min));
        let set = self.may(&format!("ATFCSH{}", id_hex(tx))).await?
            && self.may(&format!("ATFCSD30{bs:02X}{st:02X}")).await?
            && self.may("ATFCSM1").await?;
        if !set {
            let _ = self.at("ATFCSM0", COMMAND_WAIT).await?;
            self.shared().note(format!(
                "{}: flow control fallback: the adapter's default (ATFCSM0), because it refused \
                 to set its own; the default addresses the module right for 7E0-7E7 only, so \
                 multi-frame answers from other modules may not arrive",
                self.name
            ));
        }
        Ok(())
    }

    async fn request(
        &mut self,
        tx: CanId,
        payload: &[u8],
        done: oneshot::Sender<Result<(), BusError>>,
    ) -> Result<(), BusError> {
        if self.monitoring {
            self.stop_monitor().await?;
        }
        if let Err(e) = self.apply_link(tx).await {
            let _ = done.send(Err(BusError::Closed(e.to_string())));
            return Err(e);
        }
        let cmd = hex::encode_upper(payload);
        self.write(&format!("{cmd}\r")).await?;
        {
            let now = self.clock.now_us();
            let mut s = self.shared();
            s.first_request_us.get_or_insert(now);
        }
        let _ = done.send(Ok(()));
        let lines = self.lines_until_prompt(&cmd, REQUEST_WAIT).await?;
        for l in lines {
            if let Some(f) = parse_frame(&l) {
                self.answered = true;
                self.deliver(f);
            } else if l == "NO DATA" && !self.answered {
                // Nothing has answered through this adapter yet: waiting out
                // the client's timeouts would only hide that.
                return Err(self.err(AdapterError::NoData {
                    command: cmd,
                    module: id_hex(tx),
                }));
            } else if l == "NO DATA" {
                tracing::debug!("{}: NO DATA after {cmd}", self.name);
                self.shared().note(format!(
                    "{}: NO DATA to {cmd}: the module answered earlier requests, not this one",
                    self.name
                ));
            } else if l == "?" {
                return Err(self.err(AdapterError::Refused { command: cmd }));
            } else if l == "BUFFER FULL" {
                return Err(self.err(AdapterError::BufferFull));
            } else if let Some((hint, _)) = error_line(&l) {
                return Err(self.err(AdapterError::Reported {
                    report: l,
                    command: cmd,
                    hint,
                }));
            } else {
                tracing::warn!("{}: ignored {l:?} in the answer to {cmd}", self.name);
            }
        }
        Ok(())
    }

    /// Monitors the bus until a command arrives (returned) or the monitor
    /// ends; frames heard are passed on.
    async fn monitor(
        &mut self,
        cmds: &mut mpsc::UnboundedReceiver<Cmd>,
    ) -> Result<Option<Cmd>, BusError> {
        // A monitor just started may be refused (`?`) at once: wait for that
        // before taking commands, since stopping a monitor that is not
        // running would send a bare CR, which repeats the last command.
        let mut confirm_at = None;
        if !self.monitoring {
            confirm_at = Some(Instant::now() + MONITOR_CONFIRM);
            // Hear every id, not only the module's answers.
            self.must("ATCRA").await?;
            self.filter_open = true;
            let cmd = if self.stn { "STMA" } else { "ATMA" };
            self.write(&format!("{cmd}\r")).await?;
            self.monitoring = true;
            let now = self.clock.now_us();
            {
                let mut s = self.shared();
                s.monitor_since_us = Some(now);
                s.monitored = true;
            }
        }
        loop {
            let s = self
                .stream
                .as_mut()
                .ok_or(BusError::Closed("no port".into()))?;
            let until = confirm_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                c = cmds.recv(), if confirm_at.is_none() => return Ok(c),
                t = self.reader.next(s, until) => {
                    match t.map_err(|e| self.err(e))? {
                        Some(Token::Line(l)) => {
                            if let Some(f) = parse_frame(&l) {
                                self.deliver(f);
                                continue;
                            }
                            match l.as_str() {
                                "?" => {
                                    self.can_monitor = false;
                                    self.monitor_ended();
                                    {
                                        let mut s = self.shared();
                                        s.cannot_monitor = true;
                                        s.monitored = false;
                                    }
                                    self.lines_until_prompt("", COMMAND_WAIT).await?;
                                    return cmds.recv().await.map_or(Ok(None), |c| Ok(Some(c)));
                                }
                                "BUFFER FULL" => {
                                    // Stops by itself; no more monitoring.
                                    self.can_monitor = false;
                                    self.monitor_ended();
                                    self.lines_until_prompt("", COMMAND_WAIT).await.ok();
                                    return Err(self.err(AdapterError::BufferFull));
                                }
                                _ => match error_line(&l) {
                                    Some((hint, _)) => {
                                        self.can_monitor = false;
                                        self.monitor_ended();
                                        self.lines_until_prompt("", COMMAND_WAIT).await.ok();
                                        return Err(self.err(AdapterError::Reported {
                                            report: l,
                                            command: "ATMA".into(),
                                            hint,
                                        }));
                                    }
                                    None => tracing::debug!("{}: ignored {l:?} while monitoring", self.name),
                                },
                            }
                        }
                        Some(Token::Prompt) => {
                            // It stopped by itself: do not restart it in a loop.
                            self.can_monitor = false;
                            self.monitor_ended();
                            self.shared().note(format!(
                                "{}: the adapter stopped monitoring by itself; broadcasts after that were not watched",
                                self.name
                            ));
                            return cmds.recv().await.map_or(Ok(None), |c| Ok(Some(c)));
                        }
                        Some(_) => {}
                        None => confirm_at = None,
                    }
                }
            }
        }
    }

    fn monitor_ended(&mut self) {
        self.monitoring = false;
        self.end_monitor_time();
    }

    fn end_monitor_time(&mut self) {
        let now = self.clock.now_us();
        let mut s = self.shared();
        if let Some(t) = s.monitor_since_us.take() {
            s.monitored_us += now.saturating_sub(t);
        }
    }

    /// Stops the monitor: any byte does; then the adapter prints what it
    /// had, `STOPPED` and the prompt. The byte is a space, not a CR: if the
    /// monitor ended by itself just before (BUFFER FULL), a CR at the prompt
    /// would repeat the last command and start it again, while a space is
    /// only a leading blank of the next command, which the adapter ignores.
    async fn stop_monitor(&mut self) -> Result<(), BusError> {
        self.write(" ").await?;
        self.monitor_ended();
        let lines = self.lines_until_prompt("", COMMAND_WAIT).await?;
        for l in lines {
            if let Some(f) = parse_frame(&l) {
                self.deliver(f);
            } else if l == "BUFFER FULL" {
                self.can_monitor = false;
                return Err(self.err(AdapterError::BufferFull));
            }
        }
        Ok(())
    }
}

/// A CR (which also stops a monitor left running), then `ATI` and a wait
/// for `>`; false when nothing sensible comes back (another serial speed).
async fn probe(reader: &mut LineReader, s: &mut dyn Stream) -> Result<bool, AdapterError> {
    reader.clear();
    serial::write(s, "\r").await?;
    // Whatever a CR gives (a prompt, STOPPED, the last command again, or
    // nothing just after power-up) is dropped.
    let settle = Instant::now() + PROBE_WAIT / 2;
    loop {
        match reader.next(s, settle).await {
            Ok(Some(_)) => {}
            Ok(None) | Err(AdapterError::Unexpected { .. }) => break,
            Err(e) => return Err(e),
        }
    }
    reader.clear();
    serial::write(s, "ATI\r").await?;
    let until = Instant::now() + PROBE_WAIT;
    loop {
        match reader.next(s, until).await {
            Ok(Some(Token::Prompt)) => {
                reader.clear();
                return Ok(true);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(AdapterError::Unexpected { .. }) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

fn id_hex(id: CanId) -> String {
    match id {
        CanId::Standard(i) => format!("{i:03X}"),
        CanId::Extended(i) => format!("{i:08X}"),
    }
}

/// Errors after which the adapter cannot be used any more.
fn is_fatal(e: &BusError) -> bool {
    matches!(
        e,
        BusError::Closed(_)
            | BusError::Adapter {
                error: AdapterError::Unplugged(_)
                    | AdapterError::Silent { .. }
                    | AdapterError::Open { .. }
                    | AdapterError::NotFound { .. },
                ..
            }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frame_lines() {
        assert_eq!(
            parse_frame("765 02 50 C0").unwrap(),
            CanFrame::classic(CanId::Standard(0x765), &[0x02, 0x50, 0xC0]).unwrap()
        );
        assert_eq!(
            parse_frame("18DAF140 03 7F 22 31").unwrap().id,
            CanId::Extended(0x18DAF140)
        );
        for bad in [
            "NO DATA",
            "OK",
            "?",
            "765 1",
            "765 02 50 C0 00 00 00 00 00 00",
            "ELM327 v1.5",
            "12.6V",
            "800 00",
        ] {
            assert_eq!(parse_frame(bad), None, "{bad}");
        }
    }

    #[test]
    fn errors_and_protocols() {
        assert!(error_line("CAN ERROR").is_some());
        assert!(error_line("<DATA ERROR").is_some());
        assert!(error_line("ERR94").is_some());
        assert!(error_line("765 02 50 C0").is_none());
        assert_eq!(protocol_for(500_000, false), Some('6'));
        assert_eq!(protocol_for(125_000, false), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "[0-9A-F ]{0,40}") {
            let _ = parse_frame(&s);
        }
    }
}
