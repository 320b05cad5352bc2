//! "A CAN bus" as the rest of the program sees it: send a frame, receive
//! frames. Implementations: the in-process virtual bus (deterministic, on
//! tokio's clock, so paused time makes tests and `diagnose --sim` run on
//! virtual time), SocketCAN (raw CAN and CAN FD on a Linux interface) and
//! replay (a capture file as a source).
//!
//! This module knows nothing about ISO-TP, diagnostics or profiles.

use crate::frame::CanFrame;

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
}

pub mod replay;
pub mod socketcan;
pub mod virtual_bus;

pub use self::socketcan::SocketCanBus;
pub use replay::{Pace, ReplayBus};
pub use virtual_bus::{VirtualBus, VirtualEndpoint};
