//! "A CAN bus" as the rest of the program sees it: send a frame, receive
//! frames. Implementations: the in-process virtual bus (deterministic, on
//! tokio's clock, so paused time makes tests and `diagnose --sim` run on
//! virtual time), SocketCAN (raw CAN and CAN FD on a Linux interface; Linux
//! only, behind the `socketcan` feature), SLCAN serial adapters (`slcan`),
//! ELM327 / STN adapters (`elm327`, which do ISO-TP themselves: see there
//! what they can and cannot do) and replay (a capture file as a source).
//! `iface` parses the one `--iface` grammar and opens the bus it names.
//!
//! This module knows nothing about ISO-TP, diagnostics or profiles.

use std::sync::Arc;

use crate::frame::{CanFrame, CanId, IfName};

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The interface does not exist, is down, was removed, or the kernel has
    /// no CAN support; the message says which and what to do.
    #[error("{iface}: {}", problem.words(iface))]
    Interface {
        iface: String,
        problem: InterfaceProblem,
    },
    /// The source has no more frames, or the adapter behind it is gone.
    #[error("the bus is closed: {reason}")]
    Closed { reason: CloseReason },
    /// A frame or a request this bus cannot carry.
    #[error("cannot send this frame: {what}")]
    Unsupported { what: Unsupported },
    /// The capture being replayed could not be read at this point.
    #[error("reading the capture: {0}")]
    Capture(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A serial adapter (SLCAN, ELM327) failed or reported an error.
    #[error("{adapter}: {error}")]
    Adapter {
        adapter: String,
        #[source]
        error: AdapterError,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl BusError {
    pub(crate) fn closed(reason: CloseReason) -> BusError {
        BusError::Closed { reason }
    }

    pub(crate) fn unsupported(what: Unsupported) -> BusError {
        BusError::Unsupported { what }
    }
}

/// What is wrong with a SocketCAN interface ([`BusError::Interface`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InterfaceProblem {
    /// Not 1 to 15 characters without spaces.
    BadName,
    /// The interface exists but is not up.
    Down,
    /// It went down while the bus was in use.
    WentDown { doing: Doing },
    /// It disappeared (adapter unplugged) while the bus was in use.
    Removed { doing: Doing },
    /// Frames stay in the transmit queue: nobody acknowledges them.
    TxQueueFull,
    /// It exists but is not a CAN interface.
    NotCan,
    /// There is no interface of that name.
    NoSuchInterface,
    /// The kernel cannot make CAN sockets.
    NoKernelSupport,
    /// This build or OS has no SocketCAN.
    NotCompiled,
}

/// What the bus was doing when its interface failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doing {
    Sending,
    Receiving,
}

impl std::fmt::Display for Doing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Doing::Sending => "sending",
            Doing::Receiving => "receiving",
        })
    }
}

impl InterfaceProblem {
    /// The problem in words for interface `iface`, with what to do.
    pub fn words(self, iface: &str) -> String {
        let down = || {
            if iface.starts_with("vcan") {
                format!("is down: `sudo ip link set {iface} up`")
            } else {
                format!("is down: `sudo ip link set {iface} up type can bitrate 500000`")
            }
        };
        match self {
            InterfaceProblem::BadName => {
                "is not a valid interface name (1 to 15 characters, no spaces)".to_owned()
            }
            InterfaceProblem::Down => down(),
            InterfaceProblem::WentDown { doing } => format!("went down while {doing}: {}", down()),
            InterfaceProblem::Removed { doing } => format!(
                "was removed while {doing} (adapter unplugged?): check `ip link show` and reopen"
            ),
            InterfaceProblem::TxQueueFull => "transmit queue stays full: no node acknowledges our \
                 frames (is the adapter connected to the car's bus, at the right bitrate?)"
                .to_owned(),
            InterfaceProblem::NotCan => {
                format!("is not a CAN interface (check `ip -details link show {iface}`)")
            }
            InterfaceProblem::NoSuchInterface => format!(
                "no CAN interface named {iface}: check the adapter is plugged in and `ip link show`"
            ),
            InterfaceProblem::NoKernelSupport => "this kernel has no SocketCAN support \
                 (socket(AF_CAN) is not supported): load the `can` and `can_raw` modules, or use \
                 a kernel built with CONFIG_CAN"
                .to_owned(),
            InterfaceProblem::NotCompiled => "SocketCAN exists on Linux only (and this build has \
                 it compiled out): use slcan:PORT or elm327:PORT"
                .to_owned(),
        }
    }
}

/// Why a bus is closed ([`BusError::Closed`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// A replayed capture has no more frames.
    #[error("end of the capture")]
    EndOfCapture,
    /// Every other endpoint of a virtual bus has left.
    #[error("no other endpoint is left on the virtual bus {iface}")]
    NoPeers { iface: IfName },
    /// The virtual bus itself is gone.
    #[error("the virtual bus {iface} is gone")]
    VirtualBusGone { iface: IfName },
    /// The adapter's driver stopped after this failure.
    #[error("{adapter}: {error}")]
    AdapterFailed {
        adapter: String,
        error: Box<AdapterError>,
    },
    /// The adapter's port was closed (the bus is being dropped, or its
    /// driver was stopped).
    #[error("{adapter}: the adapter's connection is closed")]
    AdapterClosed { adapter: String },
}

/// What a bus cannot carry ([`BusError::Unsupported`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unsupported {
    /// A CAN FD frame on a SocketCAN interface without FD (MTU 16).
    #[error("{iface} carries classic CAN only (MTU 16), not CAN FD: enable FD on the adapter \
             (`ip link set {iface} type can bitrate 500000 dbitrate 2000000 fd on`, or `mtu 72` on vcan)")]
    FdOnClassicInterface { iface: IfName },
    /// A CAN FD frame through an SLCAN adapter.
    #[error("SLCAN adapters carry classic CAN only, not CAN FD")]
    FdThroughSlcan,
    /// An error frame handed to `send`.
    #[error("an error frame cannot be sent")]
    ErrorFrame,
    /// Anything sent into a replayed capture.
    #[error("a replayed capture is receive-only: nothing can be sent into it")]
    ReceiveOnly,
    /// Extended or mixed ISO-TP addressing through an ELM327.
    #[error("{adapter}: extended ISO-TP addressing through an ELM327 is not supported")]
    ElmAddressByte { adapter: String },
    /// A frame whose PCI says single frame but whose length does not fit.
    #[error("{adapter}: malformed single frame {}", crate::hex::encode_upper(data))]
    ElmMalformedSingleFrame { adapter: String, data: Vec<u8> },
    /// A request of more than one frame through an ELM327.
    #[error("{adapter}: an ELM327 sends requests of at most 7 bytes (one frame); this one needs several")]
    ElmMultiFrameRequest { adapter: String },
    /// A bus bitrate an ELM327 has no protocol for.
    #[error("{adapter}: an ELM327 talks ISO 15765 at 500 or 250 kbit/s only, not {bitrate} bit/s")]
    ElmBitrate { adapter: String, bitrate: u32 },
    /// A request before `configure_link` told the ELM327 where to send it.
    #[error("{adapter}: no ISO-TP link configured before the first request")]
    ElmNoLink { adapter: String },
    /// Single-wire CAN (GM LS-GMLAN) through an ELM327-family adapter that
    /// cannot reach it: a plain ELM327, or an STN chip without SW-CAN.
    #[error(
        "{why}, so it cannot reach single-wire CAN (GM LS-GMLAN, OBD-II pin 1, 33.3 kbit/s): \
             use an OBDLink/STN adapter with SW-CAN (such as the OBDLink MX+), or a SocketCAN \
             interface with a single-wire transceiver at 33333 bit/s"
    )]
    ElmSingleWire { why: SingleWireRefusal },
    /// A send on a bus opened listen-only ([`ListenOnly`]): nothing went
    /// out.
    #[error("listen-only: nothing is sent to the bus, and frame 0x{id} was not")]
    ListenOnly { id: CanId },
    /// Listen-only through an ELM327.
    #[error(
        "{adapter}: an ELM327 hears the bus only between requests it is told to send, so it \
             cannot run listen-only; use SocketCAN or slcan: (opened with L, listen-only)"
    )]
    ElmListenOnly { adapter: String },
    /// Single-wire CAN through an SLCAN adapter.
    #[error(
        "SLCAN adapters cannot reach single-wire CAN (GM LS-GMLAN, OBD-II pin 1, 33.3 kbit/s): \
             the Lawicel bitrates S0-S8 have no 33.3 kbit/s, the `s` bit-timing registers that \
             could set it differ from one adapter's CAN controller to the next (so trunkdiag does \
             not guess them), and the adapter's transceiver is for two-wire CAN; use a SocketCAN \
             interface with a single-wire transceiver at 33333 bit/s, or an OBDLink with SW-CAN"
    )]
    SingleWireThroughSlcan,
}

/// Why an ELM327-family adapter cannot reach single-wire CAN
/// ([`Unsupported::ElmSingleWire`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SingleWireRefusal {
    /// No STN chip answered `STI`: a plain ELM327 or a clone (`version`:
    /// what it said at reset).
    PlainElm { version: String },
    /// An STN chip (`sti`: its `STI` line) answered `?` to its single-wire
    /// protocol `command`.
    StnWithoutSingleWire { sti: String, command: String },
}

impl std::fmt::Display for SingleWireRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SingleWireRefusal::PlainElm { version } => write!(
                f,
                "a plain ELM327 ({version}; no STN chip answered STI) has no single-wire \
                 transceiver on pin 1"
            ),
            SingleWireRefusal::StnWithoutSingleWire { sti, command } => write!(
                f,
                "this STN adapter ({sti}) answered `?` to {command}: it has no single-wire \
                 CAN transceiver"
            ),
        }
    }
}

/// What kind of wire the bus is (high-speed, or GM's single-wire CAN).
pub use crate::frame::BusKind;

/// The bus an adapter is opened for: its bitrate and its kind of wire.
/// SocketCAN takes the interface as it was set up (the kernel cannot tell
/// which transceiver is behind it); SLCAN sets the bitrate and refuses
/// single-wire CAN; an ELM327 picks its protocol from both, and reaches
/// single-wire CAN only as an STN chip with SW-CAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysicalBus {
    pub bitrate: u32,
    pub kind: BusKind,
}

impl PhysicalBus {
    pub fn new(bitrate: u32, kind: BusKind) -> PhysicalBus {
        PhysicalBus { bitrate, kind }
    }

    /// A two-wire bus at `bitrate` (what `--bitrate` alone describes).
    pub fn high_speed(bitrate: u32) -> PhysicalBus {
        PhysicalBus::new(bitrate, BusKind::HighSpeed)
    }
}

/// A CAN bus endpoint.
///
/// `recv` must be cancel-safe (it is used inside `tokio::select!` with
/// deadlines): dropping its future must not lose a frame. Frames this
/// endpoint sent are not received back. Received frames carry a timestamp
/// (microseconds) and the interface name.
#[allow(async_fn_in_trait)]
pub trait CanBus {
    /// Sends one frame; returns once the frame is handed to the bus.
    async fn send(&mut self, frame: &CanFrame) -> Result<(), BusError>;
    /// Waits for the next frame from the bus.
    async fn recv(&mut self) -> Result<CanFrame, BusError>;
    /// The bus's notion of "now" in microseconds, in the same time base as
    /// the timestamps of received frames.
    fn now_us(&self) -> u64;
    /// The ISO-TP link the tester is about to run over this bus. Adapters
    /// that do ISO-TP themselves (ELM327) address their requests, filter
    /// answers and send flow control from it; a raw bus ignores it.
    fn configure_link(&mut self, _hint: &LinkHint) {}
    /// Called before each request: an adapter that must switch modes
    /// (stop monitoring, address the module) does it now, so that the
    /// request's timers start when it can really go out.
    async fn prepare(&mut self) -> Result<(), BusError> {
        Ok(())
    }
    /// True when the adapter answers first frames with its own flow
    /// control: the tester must then not send one (it would be a second
    /// FC on the bus, and a frame the adapter never transmitted).
    fn adapter_flow_control(&self) -> bool {
        false
    }
    /// What this bus could not do or did differently, for the report (e.g.
    /// "broadcasts were heard only between requests").
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// What the adapter is and what it was found to do so far (its
    /// start-up probe, the monitor, its drop counters); a bus that is no
    /// adapter (virtual, replay) says nothing.
    fn facts(&self) -> AdapterFacts {
        AdapterFacts::default()
    }
}

/// How far an adapter can do one thing, as found by trying it (not as its
/// version string claims).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Support {
    /// Tried, and it works.
    Ok,
    /// Tried: it works only in part (the detail says how).
    Limited,
    /// Tried, and refused or missing.
    Absent,
    /// Not tried in this run (the detail says why).
    NotProbed,
}

/// One capability of the adapter, probed ([`AdapterFacts::capabilities`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Capability {
    pub name: &'static str,
    pub support: Support,
    pub detail: String,
}

impl Capability {
    pub fn new(name: &'static str, support: Support, detail: impl Into<String>) -> Capability {
        Capability {
            name,
            support,
            detail: detail.into(),
        }
    }
}

/// Frames lost on the way in, as the adapter or the kernel counts them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DropCount {
    /// Frames known to be lost: the kernel's counter, trunkdiag's own inbox.
    pub count: u64,
    /// Overflows the adapter reported (ELM327 `BUFFER FULL`, SLCAN overrun
    /// flags), each of an unknown number of frames: never added to `count`.
    pub overflows: u64,
    /// The adapter counts every frame it drops (so `count` is the whole
    /// story); false when it only reports that an overflow happened.
    pub exact: bool,
    /// Where the number comes from (`SO_RXQ_OVFL`, `BUFFER FULL`...).
    pub source: String,
}

/// What an adapter is and what it was found to do: the raw material of
/// `trunkdiag check` and of the adapter part of every live report.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AdapterFacts {
    /// `SocketCAN`, `SLCAN`, `ELM327`, `STN (OBDLink)`.
    pub kind: &'static str,
    /// The version or driver it gave; `None` when it gave none.
    pub firmware: Option<String>,
    pub capabilities: Vec<Capability>,
    /// Frames dropped on the way in; `None` when this adapter does not say
    /// (which is not the same as none dropped).
    pub dropped: Option<DropCount>,
}

impl AdapterFacts {
    /// Adds frames counted elsewhere (trunkdiag's own inbox) to the frames
    /// known lost; the adapter's overflow reports stay apart.
    pub fn add_dropped(&mut self, count: u64, source: &str) {
        if count == 0 {
            return;
        }
        match &mut self.dropped {
            Some(d) => {
                d.count += count;
                d.source = format!("{}; {source}", d.source);
            }
            None => {
                self.dropped = Some(DropCount {
                    count,
                    overflows: 0,
                    exact: true,
                    source: source.to_owned(),
                })
            }
        }
    }
}

/// The ISO-TP link a tester runs over a bus (see [`CanBus::configure_link`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkHint {
    /// Requests and our flow control go out on this id.
    pub tx: CanId,
    /// Answers come on this id.
    pub rx: CanId,
    /// The link puts an address byte before the PCI (extended/mixed).
    pub address_byte: bool,
    /// Block size and raw STmin of our flow control.
    pub block_size: u8,
    pub st_min: u8,
}

/// Why a serial adapter (SLCAN, ELM327) failed. Messages say what to do.
/// Clone, so the reason a driver stopped can be given to every later call
/// (the I/O errors below are shared).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    #[error("cannot open {port}: {reason}")]
    Open { port: String, reason: OpenError },
    #[error("no answer to {command:?} within {waited_ms} ms: is the adapter powered (plugged into the car), and the serial speed right?")]
    Silent { command: String, waited_ms: u64 },
    #[error("the adapter does not know {command:?} (it answered `?`)")]
    Refused { command: String },
    #[error("BUFFER FULL: the adapter could not pass frames on fast enough and dropped some; use a faster serial speed or an adapter with a larger buffer (OBDLink)")]
    BufferFull,
    #[error("the adapter reports {report:?} after {command:?}{hint}")]
    Reported {
        report: String,
        command: String,
        hint: &'static str,
    },
    #[error("NO DATA: no module answered {command:?} sent to {module} through the adapter; is the ignition on, and is this the car's bus (the profile's BCM address, OBD pins 6/14)?")]
    NoData { command: String, module: CanId },
    #[error("the adapter was unplugged or its connection closed ({source})")]
    Unplugged {
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("no ELM327 answered at {tried}: check the port and that the adapter is powered (the car's OBD socket or a 12 V supply)")]
    NotFound { tried: Probed },
    #[error("{bitrate} bit/s is not a bitrate SLCAN can set (S0-S8: 10k, 20k, 50k, 100k, 125k, 250k, 500k, 800k, 1M)")]
    Bitrate { bitrate: u32 },
    #[error("the adapter refused to send a frame (bell); status flags {}", slcan::flags_words(*flags))]
    SendRefused { flags: Option<u8> },
    #[error("the adapter answered {line:?} to {command:?}, expected {expected}")]
    Unexpected {
        command: String,
        line: String,
        expected: &'static str,
    },
    /// Setting the adapter up showed it cannot reach the bus.
    #[error("{what}")]
    Unsupported { what: Unsupported },
}

impl AdapterError {
    /// The port or connection failed under us.
    pub(crate) fn unplugged(source: std::io::Error) -> AdapterError {
        AdapterError::Unplugged {
            source: Arc::new(source),
        }
    }
}

/// Why a port or a connection to an adapter could not be opened; each says
/// what to check.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error(
        "{source}: no such port (is the adapter plugged in? `trunkdiag adapters` lists the ports)"
    )]
    NoSuchPort {
        #[source]
        source: Arc<tokio_serial::Error>,
    },
    #[error("{source}: permission denied (on Linux, add yourself to the `dialout` group, or run as root)")]
    PermissionDenied {
        #[source]
        source: Arc<tokio_serial::Error>,
    },
    #[error("{source}")]
    Serial {
        #[source]
        source: Arc<tokio_serial::Error>,
    },
    #[error("setting {baud} baud: {source}")]
    SetBaud {
        baud: u32,
        #[source]
        source: Arc<tokio_serial::Error>,
    },
    #[error("no answer within 5 s: are you on the dongle's WiFi network?")]
    TcpTimeout,
    #[error("{source}")]
    Tcp {
        #[source]
        source: Arc<std::io::Error>,
    },
}

/// Where an ELM327 was looked for ([`AdapterError::NotFound`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probed {
    /// These serial speeds of a port.
    Bauds(Vec<u32>),
    /// This `HOST:PORT`.
    Tcp(String),
}

impl std::fmt::Display for Probed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probed::Bauds(b) => {
                let list = b.iter().map(u32::to_string).collect::<Vec<_>>();
                write!(f, "{} baud", list.join(", "))
            }
            Probed::Tcp(addr) => f.write_str(addr),
        }
    }
}

/// The bus clock: microseconds since the UNIX epoch, read from the wall
/// clock once at open and advanced by the monotonic clock from then on.
/// Protocol deadlines (P2, N_Bs...) are computed from it, so a step of the
/// wall clock (NTP, a suspended laptop, an emulated machine) must not fire
/// or stall them; recordings still carry epoch timestamps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BusClock {
    wall_at_open_us: u64,
    opened: std::time::Instant,
}

impl BusClock {
    pub(crate) fn start() -> BusClock {
        BusClock {
            wall_at_open_us: system_now_us(),
            opened: std::time::Instant::now(),
        }
    }

    pub(crate) fn now_us(&self) -> u64 {
        let elapsed = u64::try_from(self.opened.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.wall_at_open_us.saturating_add(elapsed)
    }
}

fn system_now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(crate::seconds::us)
        .unwrap_or(0)
}

pub mod adapter;
pub mod elm327;
pub mod iface;
pub mod listen_only;
pub mod probe;
pub mod replay;
pub mod serial;
pub mod slcan;
#[cfg(all(target_os = "linux", feature = "socketcan"))]
pub mod socketcan;
pub mod virtual_bus;

#[cfg(all(target_os = "linux", feature = "socketcan"))]
pub use self::socketcan::SocketCanBus;
pub use iface::{AnyBus, BusUse, IfaceError, IfaceSpec};
pub use listen_only::ListenOnly;
pub use replay::{Pace, ReplayBus};
pub use virtual_bus::{BusHold, VirtualBus, VirtualEndpoint};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_problems_say_what_to_do_for_that_interface() {
        let e = BusError::Interface {
            iface: "vcan0".into(),
            problem: InterfaceProblem::WentDown {
                doing: Doing::Receiving,
            },
        };
        assert_eq!(
            e.to_string(),
            "vcan0: went down while receiving: is down: `sudo ip link set vcan0 up`"
        );
        let down = InterfaceProblem::Down.words("can1");
        assert!(
            down.ends_with("`sudo ip link set can1 up type can bitrate 500000`"),
            "{down}"
        );
        let none = InterfaceProblem::NoSuchInterface.words("nosuchcan0");
        assert!(
            none.contains("no CAN interface named nosuchcan0") && none.contains("ip link show")
        );
        let removed = InterfaceProblem::Removed {
            doing: Doing::Sending,
        }
        .words("can0");
        assert!(
            removed.starts_with("was removed while sending"),
            "{removed}"
        );
    }

    #[test]
    fn a_driver_that_stopped_says_why_to_every_later_call() {
        let why = CloseReason::AdapterFailed {
            adapter: "slcan:/dev/ttyACM0".into(),
            error: Box::new(AdapterError::Silent {
                command: "O".into(),
                waited_ms: 1000,
            }),
        };
        let e = BusError::closed(why.clone());
        let again = BusError::closed(why);
        assert_eq!(e.to_string(), again.to_string());
        assert!(e.to_string().starts_with(
            "the bus is closed: slcan:/dev/ttyACM0: no answer to \"O\" within 1000 ms"
        ));
    }
}
