//! The one CAN frame type of the project.
//!
//! A [`CanFrame`] carries everything the Linux tools can say about a frame:
//! classic CAN (11- and 29-bit ids, 0–8 bytes, remote frames with their DLC,
//! the raw DLC 9–15 of an 8-byte frame), CAN FD (0–64 bytes, BRS and ESI
//! flags) and error frames, plus a timestamp and the interface name.
//!
//! The type is `Copy`-sized on purpose (no heap): capture readers, ISO-TP and
//! the analyzer pass millions of them and must not allocate per frame.

use std::fmt;

/// Largest classic CAN payload.
pub const CAN_MAX_DLEN: usize = 8;
/// Largest CAN FD payload.
pub const CANFD_MAX_DLEN: usize = 64;
/// The error-frame flag of a SocketCAN id (`CAN_ERR_FLAG`).
pub const CAN_ERR_FLAG: u32 = 0x2000_0000;
/// Mask of the error class bits of an error frame id (`CAN_ERR_MASK`).
pub const CAN_ERR_MASK: u32 = 0x1FFF_FFFF;
/// Largest 11-bit id.
pub const SFF_MAX: u32 = 0x7FF;
/// Largest 29-bit id.
pub const EFF_MAX: u32 = 0x1FFF_FFFF;
/// Longest interface name Linux allows (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// CAN FD flag: bit rate switch.
pub const CANFD_BRS: u8 = 0x01;
/// CAN FD flag: error state indicator.
pub const CANFD_ESI: u8 = 0x02;
/// CAN FD flag: marks a CAN FD frame (set by newer kernels, kept as read).
pub const CANFD_FDF: u8 = 0x04;

/// An identifier: 11-bit (standard) or 29-bit (extended).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CanId {
    Standard(u16),
    Extended(u32),
}

impl CanId {
    /// An 11-bit id; `None` above 0x7FF.
    pub fn standard(id: u32) -> Option<CanId> {
        (id <= SFF_MAX).then_some(CanId::Standard(id as u16))
    }

    /// A 29-bit id; `None` above 0x1FFFFFFF.
    pub fn extended(id: u32) -> Option<CanId> {
        (id <= EFF_MAX).then_some(CanId::Extended(id))
    }

    /// The numeric id without any flag.
    pub fn raw(self) -> u32 {
        match self {
            CanId::Standard(id) => u32::from(id),
            CanId::Extended(id) => id,
        }
    }

    pub fn is_extended(self) -> bool {
        matches!(self, CanId::Extended(_))
    }
}

impl fmt::Display for CanId {
    /// As candump prints it: 3 hex digits for 11-bit, 8 for 29-bit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CanId::Standard(id) => write!(f, "{id:03X}"),
            CanId::Extended(id) => write!(f, "{id:08X}"),
        }
    }
}

/// What kind of frame this is, with the fields that only that kind has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// Classic CAN data frame. `len8_dlc` is the raw DLC 9–15 of an 8-byte
    /// frame, `None` otherwise.
    Classic { len8_dlc: Option<u8> },
    /// Classic remote frame: no data, the requested DLC (0–8) and the optional
    /// raw DLC 9–15 when the requested length is 8.
    Remote { dlc: u8, len8_dlc: Option<u8> },
    /// CAN FD data frame; `flags` is the candump flags nibble (BRS, ESI, FDF).
    Fd { flags: u8 },
    /// Error frame; the id holds the error class bits (without the flag), the
    /// data holds the error details (8 bytes on Linux).
    Error,
}

/// The direction marker candump may append (` T` sent, ` R` received).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Tx,
    Rx,
}

/// An interface name stored inline (Linux limits it to 15 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IfName {
    len: u8,
    bytes: [u8; IFNAME_MAX],
}

impl IfName {
    /// `None` when the name is empty, longer than 15 bytes or contains
    /// whitespace or control characters.
    pub fn new(name: &str) -> Option<IfName> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() > IFNAME_MAX || b.iter().any(|c| *c <= b' ' || *c == 0x7F) {
            return None;
        }
        let mut bytes = [0u8; IFNAME_MAX];
        bytes[..b.len()].copy_from_slice(b);
        Some(IfName {
            len: b.len() as u8,
            bytes,
        })
    }

    pub fn as_str(&self) -> &str {
        // Only ever built from a &str cut at its own length: valid UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("?")
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// The bitrate of GM's single-wire CAN (SAE J2411 "33.3 kbit/s").
pub const SINGLE_WIRE_BITRATE: u32 = 33_333;

/// The kind of wire a CAN bus is, which decides the transceiver an adapter
/// needs to reach it. Profiles name it on each bus; adapters are opened
/// for it. Here because both `profile` and `transport` need it and
/// neither may know the other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BusKind {
    /// Two-wire CAN (ISO 11898-2; CAN FD too), e.g. OBD-II pins 6/14: what
    /// every CAN adapter's transceiver is for.
    #[default]
    HighSpeed,
    /// GM's single-wire CAN (LS-GMLAN, SAE J2411): one wire, OBD-II pin
    /// 1, 33.3 kbit/s. Needs a single-wire transceiver.
    SingleWire,
}

impl BusKind {
    pub const ALL: [BusKind; 2] = [BusKind::HighSpeed, BusKind::SingleWire];

    /// The name profiles and JSON use.
    pub fn as_str(self) -> &'static str {
        match self {
            BusKind::HighSpeed => "high-speed",
            BusKind::SingleWire => "single-wire",
        }
    }

    pub fn from_name(s: &str) -> Option<BusKind> {
        BusKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// In words: `high-speed CAN`, `single-wire CAN`.
    pub fn label(self) -> &'static str {
        match self {
            BusKind::HighSpeed => "high-speed CAN",
            BusKind::SingleWire => "single-wire CAN",
        }
    }
}

impl fmt::Display for BusKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a frame could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("{len} data bytes is too many for a classic CAN frame (at most 8)")]
    ClassicTooLong { len: usize },
    #[error("{len} data bytes is too many for a CAN FD frame (at most 64)")]
    FdTooLong { len: usize },
    #[error("{len} data bytes is not a valid CAN FD length (0-8, 12, 16, 20, 24, 32, 48 or 64)")]
    FdBadLength { len: usize },
    #[error("raw DLC {dlc:X} is only valid (9-F) on a classic frame with 8 data bytes")]
    BadLen8Dlc { dlc: u8 },
    #[error("remote frame DLC {dlc} is above 8")]
    BadRemoteDlc { dlc: u8 },
    #[error("error frame id {id:08X} has bits outside the error class mask")]
    BadErrorId { id: u32 },
}

/// One CAN frame with its timestamp and interface.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CanFrame {
    /// Microseconds; since the UNIX epoch for live and recorded frames, since
    /// an arbitrary origin on the virtual bus.
    pub timestamp_us: u64,
    pub iface: IfName,
    pub id: CanId,
    pub kind: FrameKind,
    /// Present when the capture said which way the frame went.
    pub direction: Option<Direction>,
    len: u8,
    data: [u8; CANFD_MAX_DLEN],
}

/// CAN FD payload lengths the DLC can express.
pub fn is_valid_fd_len(len: usize) -> bool {
    matches!(len, 0..=8 | 12 | 16 | 20 | 24 | 32 | 48 | 64)
}

/// The smallest valid CAN FD length that holds `len` bytes (for padding).
pub fn fd_len_for(len: usize) -> Option<usize> {
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64]
        .into_iter()
        .find(|l| *l >= len)
}

impl CanFrame {
    fn with(id: CanId, kind: FrameKind, data: &[u8]) -> CanFrame {
        let mut buf = [0u8; CANFD_MAX_DLEN];
        buf[..data.len()].copy_from_slice(data);
        CanFrame {
            timestamp_us: 0,
            iface: IfName::default(),
            id,
            kind,
            direction: None,
            len: data.len() as u8,
            data: buf,
        }
    }

    /// A classic data frame of 0–8 bytes.
    pub fn classic(id: CanId, data: &[u8]) -> Result<CanFrame, FrameError> {
        if data.len() > CAN_MAX_DLEN {
            return Err(FrameError::ClassicTooLong { len: data.len() });
        }
        Ok(CanFrame::with(
            id,
            FrameKind::Classic { len8_dlc: None },
            data,
        ))
    }

    /// A classic 8-byte frame with a raw DLC of 9–15.
    pub fn classic_len8_dlc(id: CanId, data: &[u8], dlc: u8) -> Result<CanFrame, FrameError> {
        if data.len() != CAN_MAX_DLEN || !(9..=15).contains(&dlc) {
            return Err(FrameError::BadLen8Dlc { dlc });
        }
        Ok(CanFrame::with(
            id,
            FrameKind::Classic {
                len8_dlc: Some(dlc),
            },
            data,
        ))
    }

    /// A remote frame asking for `dlc` bytes (0–8), with an optional raw DLC
    /// 9–15 when `dlc` is 8.
    pub fn remote(id: CanId, dlc: u8, len8_dlc: Option<u8>) -> Result<CanFrame, FrameError> {
        if dlc > 8 {
            return Err(FrameError::BadRemoteDlc { dlc });
        }
        if let Some(raw) = len8_dlc {
            if dlc != 8 || !(9..=15).contains(&raw) {
                return Err(FrameError::BadLen8Dlc { dlc: raw });
            }
        }
        Ok(CanFrame::with(id, FrameKind::Remote { dlc, len8_dlc }, &[]))
    }

    /// A CAN FD frame; `data.len()` must be a valid FD length.
    pub fn fd(id: CanId, data: &[u8], flags: u8) -> Result<CanFrame, FrameError> {
        if data.len() > CANFD_MAX_DLEN {
            return Err(FrameError::FdTooLong { len: data.len() });
        }
        if !is_valid_fd_len(data.len()) {
            return Err(FrameError::FdBadLength { len: data.len() });
        }
        Ok(CanFrame::with(
            id,
            FrameKind::Fd {
                flags: flags & 0x0F,
            },
            data,
        ))
    }

    /// An error frame; `class` is the id without `CAN_ERR_FLAG`.
    pub fn error(class: u32, data: &[u8]) -> Result<CanFrame, FrameError> {
        if class & !CAN_ERR_MASK != 0 {
            return Err(FrameError::BadErrorId { id: class });
        }
        if data.len() > CAN_MAX_DLEN {
            return Err(FrameError::ClassicTooLong { len: data.len() });
        }
        Ok(CanFrame::with(
            CanId::Extended(class),
            FrameKind::Error,
            data,
        ))
    }

    /// Sets the timestamp (builder style).
    pub fn at(mut self, timestamp_us: u64) -> CanFrame {
        self.timestamp_us = timestamp_us;
        self
    }

    /// Sets the interface (builder style).
    pub fn on(mut self, iface: IfName) -> CanFrame {
        self.iface = iface;
        self
    }

    /// The payload (empty for remote frames).
    pub fn data(&self) -> &[u8] {
        &self.data[..usize::from(self.len)]
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_fd(&self) -> bool {
        matches!(self.kind, FrameKind::Fd { .. })
    }

    pub fn is_remote(&self) -> bool {
        matches!(self.kind, FrameKind::Remote { .. })
    }

    pub fn is_error(&self) -> bool {
        matches!(self.kind, FrameKind::Error)
    }

    /// A data frame (classic or FD) that carries a payload protocols can read.
    pub fn is_data(&self) -> bool {
        matches!(self.kind, FrameKind::Classic { .. } | FrameKind::Fd { .. })
    }
}

impl fmt::Debug for CanFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CanFrame({} {} {}#",
            self.timestamp_us, self.iface, self.id
        )?;
        match self.kind {
            FrameKind::Remote { dlc, .. } => write!(f, "R{dlc}")?,
            FrameKind::Fd { flags } => write!(f, "#{flags:X}")?,
            _ => {}
        }
        for b in self.data() {
            write!(f, "{b:02X}")?;
        }
        if self.is_error() {
            f.write_str(" error")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_as_candump_does() {
        assert_eq!(CanId::Standard(0x7B6).to_string(), "7B6");
        assert_eq!(CanId::Extended(0x18DA_F110).to_string(), "18DAF110");
        assert_eq!(CanId::standard(0x800), None);
        assert_eq!(CanId::extended(0x2000_0000), None);
    }

    #[test]
    fn frame_constructors_enforce_lengths() {
        let id = CanId::Standard(0x123);
        assert!(CanFrame::classic(id, &[0; 9]).is_err());
        assert!(CanFrame::fd(id, &[0; 9], 0).is_err());
        assert!(CanFrame::fd(id, &[0; 65], 0).is_err());
        assert!(CanFrame::fd(id, &[0; 12], 0).is_ok());
        assert!(CanFrame::classic_len8_dlc(id, &[0; 8], 0xE).is_ok());
        assert!(CanFrame::classic_len8_dlc(id, &[0; 7], 0xE).is_err());
        assert!(CanFrame::remote(id, 9, None).is_err());
        assert!(CanFrame::remote(id, 8, Some(0xF)).is_ok());
        assert!(CanFrame::error(CAN_ERR_FLAG, &[]).is_err());
    }

    #[test]
    fn ifname_limits() {
        assert!(IfName::new("vcan0").is_some());
        assert!(IfName::new("a-very-long-name").is_none());
        assert!(IfName::new("").is_none());
        assert!(IfName::new("can 0").is_none());
        assert_eq!(
            IfName::new("can0").map(|n| n.to_string()),
            Some("can0".into())
        );
    }
}
