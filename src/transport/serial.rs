//! The one driver of serial adapters (SLCAN, ELM327): it opens a serial
//! port (the `tokio-serial` crate, on every OS) or a TCP connection (WiFi
//! dongles), owns it in one task, and runs an adapter's sans-IO [`Core`]
//! on it: bytes read go into the core, what the core writes goes out, its
//! frames and errors wait in a bounded inbox for `recv`. [`AdapterBus`] is
//! the [`CanBus`] every adapter is. Also: listing the ports that look like
//! adapters (`trunkdiag adapters`).
//!
//! Queues: commands wait in a bounded channel (each `send` waits for its
//! own completion, so it never holds more than a few); received frames wait
//! in an inbox of [`INBOX_FRAMES`], and a frame that finds it full is
//! dropped and counted, the count named in the notes.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Notify};

use super::adapter::{Core, Output, Ticket};
use super::elm327::{self, ElmCore, ElmEndpoint};
use super::slcan::{self, SlcanCore};
use super::{
    AdapterError, BusClock, BusError, CanBus, CloseReason, LinkHint, OpenError, PhysicalBus,
};
use crate::frame::{CanFrame, IfName};

/// Frames a bus holds for `recv` before it drops (and counts) new ones.
pub const INBOX_FRAMES: usize = 8192;
/// Errors held for `recv`; more are dropped (and counted) with the frames.
const INBOX_ERRORS: usize = 64;
/// Commands queued to the driver.
const COMMANDS: usize = 8;

/// Where an adapter is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A serial port, opened at this speed (a core may change it).
    Serial { port: String, baud: u32 },
    /// `HOST:PORT` of a WiFi adapter.
    Tcp(String),
}

/// An open port or connection.
enum Port {
    Serial(tokio_serial::SerialStream),
    Tcp(tokio::net::TcpStream),
}

/// Opens a serial port at `baud`, with the hints people need when it fails
/// (no such port, the `dialout` group).
fn open_serial(port: &str, baud: u32) -> Result<tokio_serial::SerialStream, AdapterError> {
    let builder = tokio_serial::new(port, baud).timeout(Duration::from_millis(100));
    tokio_serial::SerialStream::open(&builder).map_err(|e| AdapterError::Open {
        port: port.to_owned(),
        reason: open_error(e),
    })
}

fn open_error(e: tokio_serial::Error) -> OpenError {
    use tokio_serial::ErrorKind;
    let kind = e.kind();
    let source = Arc::new(e);
    match kind {
        ErrorKind::NoDevice => OpenError::NoSuchPort { source },
        ErrorKind::Io(std::io::ErrorKind::NotFound) => OpenError::NoSuchPort { source },
        ErrorKind::Io(std::io::ErrorKind::PermissionDenied) => {
            OpenError::PermissionDenied { source }
        }
        _ => OpenError::Serial { source },
    }
}

/// Connects to a WiFi adapter.
async fn open_tcp(addr: &str) -> Result<tokio::net::TcpStream, AdapterError> {
    let open = |reason| AdapterError::Open {
        port: addr.to_owned(),
        reason,
    };
    let s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| open(OpenError::TcpTimeout))?
        .map_err(|e| {
            open(OpenError::Tcp {
                source: Arc::new(e),
            })
        })?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

impl Port {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Port::Serial(s) => s.read(buf).await,
            Port::Tcp(s) => s.read(buf).await,
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        async fn all<S: AsyncWrite + Unpin>(s: &mut S, b: &[u8]) -> std::io::Result<()> {
            s.write_all(b).await?;
            s.flush().await
        }
        match self {
            Port::Serial(s) => all(s, bytes).await,
            Port::Tcp(s) => all(s, bytes).await,
        }
    }

    fn set_baud(&mut self, port: &str, baud: u32) -> Result<(), AdapterError> {
        use tokio_serial::SerialPort;
        match self {
            Port::Serial(s) => s.set_baud_rate(baud).map_err(|e| AdapterError::Open {
                port: port.to_owned(),
                reason: OpenError::SetBaud {
                    baud,
                    source: Arc::new(e),
                },
            }),
            Port::Tcp(_) => Ok(()),
        }
    }
}

/// An open SLCAN adapter.
pub type SlcanBus = AdapterBus<SlcanCore>;
/// An open ELM327 / STN adapter.
pub type Elm327Bus = AdapterBus<ElmCore>;

/// Opens an SLCAN adapter's port and starts it at the bus's bitrate (a
/// bitrate SLCAN has no code for, or single-wire CAN, fails here). Must be
/// called inside a tokio runtime. Errors of the adapter's start-up (silent,
/// a bitrate refused) come with the first `send` or `recv`.
pub fn open_slcan(
    port: &str,
    bus: PhysicalBus,
    iface: IfName,
    listen_only: bool,
) -> Result<SlcanBus, BusError> {
    let name = format!("slcan:{port}");
    let core = SlcanCore::new(&name, bus).map_err(|error| BusError::Adapter {
        adapter: name.clone(),
        error,
    })?;
    let core = if listen_only {
        core.listen_only()
    } else {
        core
    };
    let endpoint = Endpoint::Serial {
        port: port.to_owned(),
        baud: slcan::SERIAL_BAUD,
    };
    AdapterBus::open(
        &endpoint,
        core,
        BusClock::start(),
        iface,
        slcan::ANSWER_WITHIN * 2,
    )
}

/// Opens an ELM327 (a serial port at once, so a wrong port fails here,
/// with the same hints as SLCAN) and starts the core, which probes the
/// serial speed and initialises it for the protocol of `bus` (single-wire
/// CAN only on an STN chip with SW-CAN). Must be called inside a tokio
/// runtime. Start-up errors (a plain ELM327 on single-wire CAN among them)
/// come with the first `send` or `recv`.
pub fn open_elm327(
    endpoint: &ElmEndpoint,
    bus: PhysicalBus,
    iface: IfName,
) -> Result<Elm327Bus, BusError> {
    let core = ElmCore::new(endpoint, bus)?;
    let endpoint = match endpoint {
        ElmEndpoint::Serial { port, baud } => Endpoint::Serial {
            port: port.clone(),
            baud: baud.unwrap_or(elm327::PROBE_BAUDS[0]),
        },
        ElmEndpoint::Tcp(addr) => Endpoint::Tcp(addr.clone()),
    };
    AdapterBus::open(
        &endpoint,
        core,
        BusClock::start(),
        iface,
        elm327::COMMAND_WAIT * 2,
    )
}

/// What the driver hands `recv`, bounded (see the module doc).
#[derive(Default)]
struct Inbox {
    queue: Mutex<InboxState>,
    ready: Notify,
    /// Frames and errors dropped because the queue was full.
    dropped: AtomicU64,
}

#[derive(Default)]
struct InboxState {
    items: VecDeque<Result<CanFrame, BusError>>,
    errors: usize,
    /// Set once the driver has ended: why.
    ended: Option<CloseReason>,
}

impl Inbox {
    fn state(&self) -> std::sync::MutexGuard<'_, InboxState> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, item: Result<CanFrame, BusError>) {
        {
            let mut s = self.state();
            let full = match item {
                Ok(_) => s.items.len() - s.errors >= INBOX_FRAMES,
                Err(_) => s.errors >= INBOX_ERRORS,
            };
            if full {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            s.errors += usize::from(item.is_err());
            s.items.push_back(item);
        }
        self.ready.notify_one();
    }

    /// What was dropped, for the report; `None` when nothing was.
    fn overflow_note(&self, name: &str) -> Option<String> {
        let dropped = self.dropped.load(Ordering::Relaxed);
        (dropped > 0).then(|| {
            format!(
                "{name}: {dropped} received frames or errors were dropped because {INBOX_FRAMES} \
                 frames were already waiting to be read (the reader fell behind the adapter)"
            )
        })
    }

    fn end(&self, why: CloseReason) {
        self.state().ended.get_or_insert(why);
        self.ready.notify_one();
    }

    /// The next item, or why there will be none. Cancel-safe: an item is
    /// taken only when it is returned.
    async fn next(&self) -> Result<CanFrame, BusError> {
        loop {
            {
                let mut s = self.state();
                if let Some(item) = s.items.pop_front() {
                    s.errors -= usize::from(item.is_err());
                    return item;
                }
                if let Some(why) = &s.ended {
                    return Err(BusError::closed(why.clone()));
                }
            }
            self.ready.notified().await;
        }
    }
}

type Request<C> = (<C as Core>::Command, oneshot::Sender<Result<(), BusError>>);

/// A serial adapter as a [`CanBus`]: the handle of one driver task that
/// owns the port and runs the core.
pub struct AdapterBus<C: Core> {
    name: String,
    clock: BusClock,
    core: Arc<Mutex<C>>,
    inbox: Arc<Inbox>,
    commands: mpsc::Sender<Request<C>>,
    link: Option<LinkHint>,
    task: tokio::task::JoinHandle<()>,
    /// How long the core may take to leave the adapter as it found it.
    close_within: Duration,
}

impl<C: Core> std::fmt::Debug for AdapterBus<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterBus")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<C: Core> Drop for AdapterBus<C> {
    fn drop(&mut self) {
        // The driver lets the core close the adapter when the command queue
        // closes; if it is stuck on a dead port, stop it.
        abort_later(&self.task, self.close_within);
    }
}

impl<C: Core> AdapterBus<C> {
    /// Opens the endpoint (a serial port at once, so a wrong port fails
    /// here; a TCP connection in the driver) and starts the driver. Must be
    /// called inside a tokio runtime. Errors of the adapter's start-up come
    /// with the first `send` or `recv`.
    pub(crate) fn open(
        endpoint: &Endpoint,
        core: C,
        clock: BusClock,
        iface: IfName,
        close_within: Duration,
    ) -> Result<AdapterBus<C>, BusError> {
        let name = core.name().to_owned();
        let port = match endpoint {
            Endpoint::Serial { port, baud } => {
                Some(Port::Serial(open_serial(port, *baud).map_err(|error| {
                    BusError::Adapter {
                        adapter: name.clone(),
                        error,
                    }
                })?))
            }
            Endpoint::Tcp(_) => None,
        };
        let core = Arc::new(Mutex::new(core));
        let inbox = Arc::new(Inbox::default());
        let (commands, rx) = mpsc::channel(COMMANDS);
        let driver = Driver {
            name: name.clone(),
            endpoint: endpoint.clone(),
            core: Arc::clone(&core),
            inbox: Arc::clone(&inbox),
            clock,
            iface,
            waiting: HashMap::new(),
            next_ticket: 0,
        };
        let task = tokio::spawn(driver.run(port, rx));
        Ok(AdapterBus {
            name,
            clock,
            core,
            inbox,
            commands,
            link: None,
            task,
            close_within,
        })
    }

    fn gone(&self) -> BusError {
        let why = self.inbox.state().ended.clone();
        BusError::closed(why.unwrap_or(CloseReason::AdapterClosed {
            adapter: self.name.clone(),
        }))
    }

    /// Hands a command to the driver and waits until the core is done with it.
    async fn ask(&self, command: C::Command) -> Result<(), BusError> {
        let (done, wait) = oneshot::channel();
        if self.commands.send((command, done)).await.is_err() {
            return Err(self.gone());
        }
        wait.await.unwrap_or_else(|_| Err(self.gone()))
    }
}

impl<C: Core> CanBus for AdapterBus<C> {
    async fn send(&mut self, frame: &CanFrame) -> Result<(), BusError> {
        let core_command = self
            .core
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .command_for_frame(frame, self.link.as_ref())?;
        match core_command {
            Some(c) => self.ask(c).await,
            None => Ok(()),
        }
    }

    async fn recv(&mut self) -> Result<CanFrame, BusError> {
        // drain() named each frame's interface when it queued it.
        self.inbox.next().await
    }

    fn now_us(&self) -> u64 {
        self.clock.now_us()
    }

    fn configure_link(&mut self, hint: &LinkHint) {
        self.link = Some(*hint);
    }

    async fn prepare(&mut self) -> Result<(), BusError> {
        let core_command = self
            .core
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .command_for_prepare(self.link.as_ref());
        match core_command {
            Some(c) => self.ask(c).await,
            None => Ok(()),
        }
    }

    fn adapter_flow_control(&self) -> bool {
        C::ADAPTER_FLOW_CONTROL
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = self
            .core
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .notes(self.clock.now_us());
        notes.extend(self.inbox.overflow_note(&self.name));
        notes
    }

    fn facts(&self) -> super::AdapterFacts {
        let mut facts = self
            .core
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .facts(self.clock.now_us());
        facts.add_dropped(
            self.inbox.dropped.load(Ordering::Relaxed),
            "trunkdiag's inbox was full (the reader fell behind the adapter)",
        );
        facts
    }
}

/// The task that owns the port.
struct Driver<C: Core> {
    name: String,
    endpoint: Endpoint,
    core: Arc<Mutex<C>>,
    inbox: Arc<Inbox>,
    clock: BusClock,
    iface: IfName,
    /// Commands handed to the core, waiting for their `Done`.
    waiting: HashMap<Ticket, oneshot::Sender<Result<(), BusError>>>,
    next_ticket: u64,
}

/// What the driver must do with the port, taken from the core's outputs.
enum PortAction {
    Write(Vec<u8>),
    SetBaud(u32),
}

impl<C: Core> Driver<C> {
    fn core(&self) -> std::sync::MutexGuard<'_, C> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run(mut self, port: Option<Port>, mut commands: mpsc::Receiver<Request<C>>) {
        let why = match self.serve(port, &mut commands).await {
            Ok(()) => CloseReason::AdapterClosed {
                adapter: self.name.clone(),
            },
            Err(error) => {
                self.inbox.push(Err(BusError::Adapter {
                    adapter: self.name.clone(),
                    error: error.clone(),
                }));
                CloseReason::AdapterFailed {
                    adapter: self.name.clone(),
                    error: Box::new(error),
                }
            }
        };
        self.inbox.end(why.clone());
        // Callers still waiting get the reason.
        for (_, done) in self.waiting.drain() {
            let _ = done.send(Err(BusError::closed(why.clone())));
        }
        commands.close();
        while let Some((_, done)) = commands.recv().await {
            let _ = done.send(Err(BusError::closed(why.clone())));
        }
    }

    /// Runs the core on the port until it finishes; an error is why the
    /// adapter is unusable.
    async fn serve(
        &mut self,
        port: Option<Port>,
        commands: &mut mpsc::Receiver<Request<C>>,
    ) -> Result<(), AdapterError> {
        let mut port = match (port, &self.endpoint) {
            (Some(p), _) => p,
            (None, Endpoint::Tcp(addr)) => Port::Tcp(open_tcp(addr).await?),
            (None, Endpoint::Serial { port, baud }) => Port::Serial(open_serial(port, *baud)?),
        };
        let port_name = match &self.endpoint {
            Endpoint::Serial { port, .. } => port.clone(),
            Endpoint::Tcp(addr) => addr.clone(),
        };
        let clock = self.clock;
        self.core().handle_open(clock.now_us());
        let mut chunk = [0u8; 512];
        let mut closing = false;
        loop {
            for action in self.drain() {
                match action {
                    PortAction::Write(bytes) => {
                        port.write(&bytes).await.map_err(AdapterError::unplugged)?
                    }
                    PortAction::SetBaud(baud) => port.set_baud(&port_name, baud)?,
                }
            }
            let (finished, deadline) = {
                let core = self.core();
                (core.finished(), core.poll_timeout())
            };
            if let Some(end) = finished {
                return end;
            }
            let sleep = async {
                match deadline {
                    Some(at) => {
                        let wait = at.saturating_sub(clock.now_us());
                        tokio::time::sleep(Duration::from_micros(wait)).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                biased;
                read = port.read(&mut chunk) => {
                    let n = match read {
                        Ok(0) => Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "end of stream",
                        )),
                        r => r,
                    }
                    .map_err(AdapterError::unplugged)?;
                    let now = clock.now_us();
                    self.core().handle_bytes(chunk.get(..n).unwrap_or_default(), now);
                }
                () = sleep => {
                    let now = clock.now_us();
                    self.core().handle_timeout(now);
                }
                c = commands.recv(), if !closing => {
                    let now = clock.now_us();
                    match c {
                        Some((command, done)) => {
                            let ticket = Ticket(self.next_ticket);
                            self.next_ticket += 1;
                            self.waiting.insert(ticket, done);
                            self.core().handle_command(ticket, command, now);
                        }
                        None => {
                            closing = true;
                            self.core().handle_close(now);
                        }
                    }
                }
            }
        }
    }

    /// Takes the core's outputs: frames and errors to the inbox, completions
    /// to their callers, port actions returned in order.
    fn drain(&mut self) -> Vec<PortAction> {
        let mut actions = Vec::new();
        loop {
            let Some(out) = self.core().poll_output() else {
                return actions;
            };
            match out {
                Output::Write(b) => actions.push(PortAction::Write(b)),
                Output::SetBaud(b) => actions.push(PortAction::SetBaud(b)),
                Output::Frame(f) => self.inbox.push(Ok(f.on(self.iface))),
                Output::Error(e) => self.inbox.push(Err(e)),
                Output::Done(ticket, result) => {
                    if let Some(done) = self.waiting.remove(&ticket) {
                        let _ = done.send(result);
                    }
                }
            }
        }
    }
}

/// Aborts an adapter's driver task `after` this long unless it ended by
/// then (it ends by itself when its bus is dropped, unless stuck on a dead
/// port). Needs a runtime; without one (the runtime is going away) the
/// task goes with it.
fn abort_later(task: &tokio::task::JoinHandle<()>, after: Duration) {
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
mod inbox_tests {
    use super::*;
    use crate::frame::CanId;
    use crate::transport::Unsupported;

    fn frame(n: u16) -> CanFrame {
        CanFrame::classic(CanId::Standard(n & 0x7FF), &[]).unwrap()
    }

    #[tokio::test]
    async fn a_full_inbox_drops_and_counts_and_keeps_order() {
        let inbox = Inbox::default();
        assert_eq!(inbox.overflow_note("slcan:x"), None);
        for n in 0..INBOX_FRAMES + 3 {
            inbox.push(Ok(frame(n as u16)));
        }
        // An error still finds room: it is not a frame.
        inbox.push(Err(BusError::unsupported(Unsupported::ErrorFrame)));
        assert_eq!(inbox.dropped.load(Ordering::Relaxed), 3);
        let note = inbox.overflow_note("slcan:x").unwrap();
        assert!(
            note.starts_with("slcan:x: 3 received frames or errors were dropped"),
            "{note}"
        );
        for n in 0..INBOX_FRAMES {
            assert_eq!(inbox.next().await.unwrap(), frame(n as u16));
        }
        assert!(inbox.next().await.is_err());
        // Room again.
        inbox.push(Ok(frame(1)));
        inbox.end(CloseReason::EndOfCapture);
        assert_eq!(inbox.next().await.unwrap(), frame(1));
        let end = inbox.next().await.unwrap_err();
        assert!(matches!(end, BusError::Closed { .. }), "{end}");
    }
}

#[cfg(test)]
mod sans_io {
    /// ARCHITECTURE.md says the adapter cores know no tokio, ports or
    /// clocks; this holds it (code, not comments).
    #[test]
    fn the_adapter_cores_know_no_tokio_ports_or_clocks() {
        let cores = [
            ("adapter.rs", include_str!("adapter.rs")),
            ("slcan.rs", include_str!("slcan.rs")),
            ("elm327.rs", include_str!("elm327.rs")),
        ];
        for (file, text) in cores {
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for banned in [
                    "tokio",
                    "Instant",
                    "SystemTime",
                    "std::net",
                    "std::io",
                    "serial::",
                ] {
                    assert!(
                        !code.contains(banned),
                        "{file}:{}: {banned} in {line:?}",
                        n + 1
                    );
                }
            }
        }
    }
}
