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

use crate::frame::{CanFrame, CanId};

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The interface does not exist, is down, was removed, or the kernel has
    /// no CAN support; the message says which and what to do.
    #[error("{iface}: {message}")]
    Interface { iface: String, message: String },
    /// The source has no more frames (end of a replayed capture, or every
    /// other endpoint of a virtual bus is gone).
    #[error("the bus is closed: {0}")]
    Closed(String),
    /// A frame this bus cannot carry (for example CAN FD on a classic bus).
    #[error("cannot send this frame: {0}")]
    Unsupported(String),
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
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    #[error("cannot open {port}: {message}")]
    Open { port: String, message: String },
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
    NoData { command: String, module: String },
    #[error("the adapter was unplugged or its connection closed ({0})")]
    Unplugged(String),
    #[error("no ELM327 answered at {tried}: check the port and that the adapter is powered (the car's OBD socket or a 12 V supply)")]
    NotFound { tried: String },
    #[error("{bitrate} bit/s is not a bitrate SLCAN can set (S0-S8: 10k, 20k, 50k, 100k, 125k, 250k, 500k, 800k, 1M)")]
    Bitrate { bitrate: u32 },
    #[error("the adapter refused to send a frame (bell); status flags {flags}")]
    SendRefused { flags: String },
    #[error("the adapter answered {line:?} to {command:?}, expected {expected}")]
    Unexpected {
        command: String,
        line: String,
        expected: &'static str,
    },
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
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub mod elm327;
pub mod iface;
pub mod replay;
pub mod serial;
pub mod slcan;
#[cfg(all(target_os = "linux", feature = "socketcan"))]
pub mod socketcan;
pub mod virtual_bus;

#[cfg(all(target_os = "linux", feature = "socketcan"))]
pub use self::socketcan::SocketCanBus;
pub use iface::{AnyBus, IfaceError, IfaceSpec};
pub use replay::{Pace, ReplayBus};
pub use virtual_bus::{BusHold, VirtualBus, VirtualEndpoint};
