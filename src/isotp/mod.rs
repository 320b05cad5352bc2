//! ISO-TP (ISO 15765-2): carrying messages of up to 4 GiB over CAN frames.
//!
//! This module owns the transport layer between CAN frames and diagnostic
//! messages:
//! - [`IsoTpChannel`]: a sans-IO state machine for one tester/ECU id pair
//!   (segmentation, reassembly, flow control, STmin, the N_As/N_Ar/N_Bs/N_Cr
//!   timers), driven by frames and `now_us` and driven on virtual time in tests;
//! - [`Reassembler`]: a passive follower of captured traffic for offline
//!   analysis, tolerant of missing flow control;
//! - the addressing modes (normal, normal fixed, extended, mixed) and the
//!   classic / CAN FD frame formats.
//!
//! It must NOT know about sockets, tokio, clocks, UDS/KWP services or
//! profiles: bytes in, bytes out, time only as the `now_us` it is given.

mod channel;
mod pdu;
mod reassembler;

pub use channel::IsoTpChannel;
pub use pdu::{shape, st_min_us, Shape, FF_DL_12BIT_MAX};
pub use reassembler::{Reassembled, Reassembler};

use crate::frame::{CanId, IfName};
use std::fmt;

/// How ISO-TP frames are addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Addressing {
    /// The CAN ids alone address the message (11- or 29-bit).
    Normal,
    /// 29-bit ids `0x18DA<target><source>` (physical) or `0x18DB<target><source>`
    /// (functional). [`IsoTpConfig::normal_fixed`] derives the ids; the
    /// channel uses `tx_id`/`rx_id` as configured.
    NormalFixed { source: u8, target: u8 },
    /// The first data byte of every frame is an address. `target` is the byte
    /// we put in front of frames we send, `source` the byte frames we receive
    /// must start with (Linux's `ext_address` / `rx_ext_address`). Toyota's
    /// BCM: request id 0x750 with `target: 0x40`, and its replies on 0x758
    /// also start with 0x40, so `source: 0x40` too.
    Extended { target: u8, source: u8 },
    /// The first data byte is an address extension, the same both ways.
    /// On 29-bit ids the ids are `0x18CE<target><source>` (physical) or
    /// `0x18CD<target><source>` (functional); see [`IsoTpConfig::mixed_29`].
    Mixed { ae: u8 },
}

impl Addressing {
    /// The address byte put in front of frames we send, if any.
    pub fn tx_address(self) -> Option<u8> {
        match self {
            Addressing::Normal | Addressing::NormalFixed { .. } => None,
            Addressing::Extended { target, .. } => Some(target),
            Addressing::Mixed { ae } => Some(ae),
        }
    }

    /// The address byte frames we receive must start with, if any.
    pub fn rx_address(self) -> Option<u8> {
        match self {
            Addressing::Normal | Addressing::NormalFixed { .. } => None,
            Addressing::Extended { source, .. } => Some(source),
            Addressing::Mixed { ae } => Some(ae),
        }
    }

    /// The same addressing seen from the other end (the module answering a
    /// tester): extended swaps the byte sent and the byte expected.
    pub fn peer(self) -> Addressing {
        match self {
            Addressing::Extended { target, source } => Addressing::Extended {
                target: source,
                source: target,
            },
            other => other,
        }
    }

    /// Whether the data of a frame on the receiving id is for us: it
    /// starts with our receive address byte, or there is none to check.
    pub fn accepts(self, data: &[u8]) -> bool {
        self.rx_address()
            .is_none_or(|want| data.first() == Some(&want))
    }

    /// Whether frames carry an address byte before the N_PCI.
    pub fn has_address_byte(self) -> bool {
        self.tx_address().is_some()
    }
}

/// Normal fixed addressing, physical: `0x18DA<target><source>`.
pub fn normal_fixed_physical_id(target: u8, source: u8) -> CanId {
    CanId::Extended(0x18DA_0000 | (u32::from(target) << 8) | u32::from(source))
}

/// Normal fixed addressing, functional: `0x18DB<target><source>`.
pub fn normal_fixed_functional_id(target: u8, source: u8) -> CanId {
    CanId::Extended(0x18DB_0000 | (u32::from(target) << 8) | u32::from(source))
}

/// Mixed addressing on 29-bit ids, physical: `0x18CE<target><source>`.
pub fn mixed_physical_id(target: u8, source: u8) -> CanId {
    CanId::Extended(0x18CE_0000 | (u32::from(target) << 8) | u32::from(source))
}

/// Mixed addressing on 29-bit ids, functional: `0x18CD<target><source>`.
pub fn mixed_functional_id(target: u8, source: u8) -> CanId {
    CanId::Extended(0x18CD_0000 | (u32::from(target) << 8) | u32::from(source))
}

/// Classic CAN (TX_DL 8) or CAN FD with a TX_DL of 8, 12, 16, 20, 24, 32, 48
/// or 64 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameFormat {
    Classic,
    Fd { tx_dl: u8, brs: bool },
}

impl FrameFormat {
    /// TX_DL in bytes, or `None` when the configured value is not one a CAN
    /// FD DLC can express (or is below 8).
    pub fn tx_dl(self) -> Option<usize> {
        match self {
            FrameFormat::Classic => Some(8),
            FrameFormat::Fd { tx_dl, .. } => {
                let len = usize::from(tx_dl);
                (len >= 8 && crate::frame::is_valid_fd_len(len)).then_some(len)
            }
        }
    }
}

/// Standard default of N_As, N_Ar, N_Bs and N_Cr (ISO 15765-2: 1000 ms).
pub const DEFAULT_TIMEOUT_US: u64 = 1_000_000;
/// Default limit on consecutive FC.WAIT frames we accept as a sender.
pub const DEFAULT_MAX_WFT: u8 = 10;
/// Default largest message we accept as a receiver.
pub const DEFAULT_MAX_RX_LEN: u32 = 65_535;

/// Everything an [`IsoTpChannel`] needs to know about its link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoTpConfig {
    /// Id of the frames we send (requests, and our flow control).
    pub tx_id: CanId,
    /// Id of the frames we receive (responses, and the peer's flow control).
    pub rx_id: CanId,
    pub addressing: Addressing,
    pub format: FrameFormat,
    /// Byte to pad frames with; `None` sends minimal-length frames (CAN FD
    /// frames longer than 8 bytes are still padded to a valid length, with
    /// 0xCC).
    pub tx_padding: Option<u8>,
    /// Block size we ask of a sender in our flow control (0: no limit).
    pub block_size: u8,
    /// Raw STmin byte we ask of a sender in our flow control.
    pub st_min: u8,
    /// Our frame must leave within this time (sender side).
    pub n_as_us: u64,
    /// Our flow control must leave within this time (receiver side).
    pub n_ar_us: u64,
    /// Wait at most this long for the receiver's flow control.
    pub n_bs_us: u64,
    /// Wait at most this long for the next consecutive frame.
    pub n_cr_us: u64,
    /// Most FC.WAIT in a row we accept before giving up (N_WFTmax).
    pub max_wft: u8,
    /// A first frame announcing more than this is answered with FC.OVFLW.
    pub max_rx_len: u32,
    /// Interface stamped on the frames we emit.
    pub iface: IfName,
}

impl IsoTpConfig {
    /// Normal addressing, classic CAN, standard timers, padding 0xCC
    /// (what most ECUs expect), BS 0 and STmin 0.
    pub fn new(tx_id: CanId, rx_id: CanId) -> IsoTpConfig {
        IsoTpConfig {
            tx_id,
            rx_id,
            addressing: Addressing::Normal,
            format: FrameFormat::Classic,
            tx_padding: Some(0xCC),
            block_size: 0,
            st_min: 0,
            n_as_us: DEFAULT_TIMEOUT_US,
            n_ar_us: DEFAULT_TIMEOUT_US,
            n_bs_us: DEFAULT_TIMEOUT_US,
            n_cr_us: DEFAULT_TIMEOUT_US,
            max_wft: DEFAULT_MAX_WFT,
            max_rx_len: DEFAULT_MAX_RX_LEN,
            iface: IfName::default(),
        }
    }

    /// Normal fixed addressing, physical, as the tester `source` talking to
    /// ECU `target`: we send on `0x18DA<target><source>` and listen on
    /// `0x18DA<source><target>`.
    pub fn normal_fixed(source: u8, target: u8) -> IsoTpConfig {
        IsoTpConfig {
            addressing: Addressing::NormalFixed { source, target },
            ..IsoTpConfig::new(
                normal_fixed_physical_id(target, source),
                normal_fixed_physical_id(source, target),
            )
        }
    }

    /// Mixed addressing on 29-bit ids, physical: we send on
    /// `0x18CE<target><source>` and listen on `0x18CE<source><target>`, every
    /// frame starting with the address extension `ae`.
    pub fn mixed_29(ae: u8, source: u8, target: u8) -> IsoTpConfig {
        IsoTpConfig {
            addressing: Addressing::Mixed { ae },
            ..IsoTpConfig::new(
                mixed_physical_id(target, source),
                mixed_physical_id(source, target),
            )
        }
    }

    /// Checks what [`IsoTpChannel::new`] would otherwise have to correct.
    pub fn validate(&self) -> Result<(), IsoTpError> {
        if self.format.tx_dl().is_none() {
            let FrameFormat::Fd { tx_dl, .. } = self.format else {
                return Ok(());
            };
            return Err(IsoTpError::BadConfig {
                reason: format!("CAN FD TX_DL {tx_dl} is not one of 8, 12, 16, 20, 24, 32, 48, 64"),
            });
        }
        Ok(())
    }
}

impl Default for IsoTpConfig {
    /// The OBD-II physical pair 0x7E0 / 0x7E8 with standard values.
    fn default() -> Self {
        IsoTpConfig::new(CanId::Standard(0x7E0), CanId::Standard(0x7E8))
    }
}

/// The ISO-TP timers. Names as in ISO 15765-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Sender: our SF/FF/CF was not handed to the bus in time.
    NAs,
    /// Receiver: our flow control was not handed to the bus in time.
    NAr,
    /// Sender: no flow control came from the receiver.
    NBs,
    /// Receiver: the next consecutive frame did not come.
    NCr,
}

impl Timer {
    pub(crate) const ALL: [Timer; 4] = [Timer::NAs, Timer::NAr, Timer::NBs, Timer::NCr];

    pub(crate) fn index(self) -> usize {
        match self {
            Timer::NAs => 0,
            Timer::NAr => 1,
            Timer::NBs => 2,
            Timer::NCr => 3,
        }
    }
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timer::NAs => "N_As",
            Timer::NAr => "N_Ar",
            Timer::NBs => "N_Bs",
            Timer::NCr => "N_Cr",
        })
    }
}

/// Which PDU came when it should not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PduKind {
    SingleFrame,
    FirstFrame,
}

impl fmt::Display for PduKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PduKind::SingleFrame => "single frame",
            PduKind::FirstFrame => "first frame",
        })
    }
}

/// What an ISO-TP channel reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsoTpEvent {
    /// A whole message arrived; `at_us` is the time of its last frame.
    Received { payload: Vec<u8>, at_us: u64 },
    /// Our message left completely; `at_us` is when its last frame was polled.
    Sent { at_us: u64 },
    /// Something went wrong; the error says what was aborted, if anything.
    Error(IsoTpError),
}

impl IsoTpError {
    /// For an incoming message lost part-way (N_Cr ran out, a consecutive
    /// frame out of sequence): the bytes received and the length announced.
    pub fn cut_short(&self) -> Option<(u32, u32)> {
        match *self {
            IsoTpError::CutShort { received, len, .. }
            | IsoTpError::WrongSn { received, len, .. } => Some((received, len)),
            _ => None,
        }
    }
}

/// What went wrong in ISO-TP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IsoTpError {
    #[error("a message is still being sent; expected the channel to be idle before send")]
    Busy,
    #[error("empty message: ISO-TP carries 1 byte or more")]
    Empty,
    #[error("message of {len} bytes is too long: ISO-TP carries at most {max} bytes")]
    TooLong { len: usize, max: u64 },
    #[error("{which} timeout at {at_us} µs; the {} was aborted", if matches!(which, Timer::NAs | Timer::NBs) { "transmission" } else { "reception" })]
    Timeout { which: Timer, at_us: u64 },
    /// N_Cr ran out during a reception: the message was cut short (a real
    /// ECU stopping after its first frame, a frame lost).
    #[error("N_Cr timeout at {at_us} µs: the incoming message was cut short after {received} of {len} bytes")]
    CutShort { received: u32, len: u32, at_us: u64 },
    #[error("consecutive frame with sequence number {got}, expected {expected}; reception aborted after {received} of {len} bytes")]
    WrongSn {
        expected: u8,
        got: u8,
        received: u32,
        len: u32,
    },
    #[error("the receiver answered flow control OVERFLOW; transmission aborted")]
    Overflow,
    #[error("more than {max_wft} flow control WAIT frames in a row; transmission aborted")]
    WaitLimit { max_wft: u8 },
    #[error("flow control with reserved flow status {fs:#x} (expected 0 CTS, 1 WAIT or 2 OVERFLOW); transmission aborted")]
    InvalidFlowStatus { fs: u8 },
    #[error(
        "{kind} during a reception; the old message was aborted after {received} of {len} bytes"
    )]
    UnexpectedPdu {
        kind: PduKind,
        received: u32,
        len: u32,
    },
    #[error("incoming message of {len} bytes is above the limit of {max}; answered flow control OVERFLOW")]
    RxOverflow { len: u32, max: u32 },
    #[error("ignored a malformed frame on {id}: {reason}")]
    Malformed { id: CanId, reason: &'static str },
    #[error("bad ISO-TP configuration: {reason}")]
    BadConfig { reason: String },
}
