//! The N_PCI codec: what one frame's bytes mean (after any address byte), and
//! how to lay out the frames we send. Pure functions, no state: the channel
//! and the passive reassembler share them.

use crate::frame::{fd_len_for, CanFrame, CanId, Direction, IfName, CANFD_BRS};

/// Largest FF_DL the 12-bit first-frame length can carry.
pub const FF_DL_12BIT_MAX: u32 = 4095;

/// One decoded protocol data unit, borrowing the frame's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pdu<'a> {
    Single { data: &'a [u8] },
    First { len: u32, data: &'a [u8] },
    Consecutive { sn: u8, data: &'a [u8] },
    FlowControl { fs: u8, bs: u8, st: u8 },
}

/// Why a frame's bytes are not a valid PDU. `None`-like outcomes that are
/// not errors (a PCI type ISO 15765-2 does not define) are `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PduError {
    /// An N_PCI type 4..=15: not ours to interpret.
    Unknown,
    Malformed(&'static str),
}

/// Reads one PDU from `bytes` (the frame data after the address byte).
///
/// Lenient where the standard lets a receiver be (padding of any value and
/// length after the payload); strict where a wrong guess would corrupt a
/// message (declared lengths the frame cannot hold).
pub(crate) fn decode(bytes: &[u8]) -> Result<Pdu<'_>, PduError> {
    let pci = *bytes.first().ok_or(PduError::Malformed("empty frame"))?;
    match pci >> 4 {
        0 => {
            let low = usize::from(pci & 0x0F);
            if low != 0 {
                let data = bytes
                    .get(1..1 + low)
                    .ok_or(PduError::Malformed("single frame shorter than its SF_DL"))?;
                return Ok(Pdu::Single { data });
            }
            // SF_DL 0: the CAN FD escape, the length is in the next byte.
            // Only frames longer than 8 bytes may use it: on classic CAN a
            // frame starting 0x00 is no ISO-TP frame (periodic broadcasts on
            // diagnostic-looking ids often start so).
            if bytes.len() <= 8 {
                return Err(PduError::Malformed(
                    "single frame with SF_DL 0 in a frame of 8 bytes or less",
                ));
            }
            let len = usize::from(*bytes.get(1).ok_or(PduError::Malformed(
                "single frame with SF_DL 0 and no length byte",
            ))?);
            if len == 0 {
                return Err(PduError::Malformed("single frame of length 0"));
            }
            let data = bytes
                .get(2..2 + len)
                .ok_or(PduError::Malformed("single frame shorter than its SF_DL"))?;
            Ok(Pdu::Single { data })
        }
        1 => {
            let second = *bytes
                .get(1)
                .ok_or(PduError::Malformed("first frame without its length byte"))?;
            let len12 = (u32::from(pci & 0x0F) << 8) | u32::from(second);
            if len12 != 0 {
                return Ok(Pdu::First {
                    len: len12,
                    data: bytes.get(2..).unwrap_or(&[]),
                });
            }
            let len_bytes = bytes.get(2..6).ok_or(PduError::Malformed(
                "first frame with FF_DL 0 and no 32-bit length",
            ))?;
            let mut be = [0u8; 4];
            be.copy_from_slice(len_bytes);
            let len = u32::from_be_bytes(be);
            if len <= FF_DL_12BIT_MAX {
                return Err(PduError::Malformed(
                    "32-bit first frame length at most 4095 (must use the 12-bit form)",
                ));
            }
            Ok(Pdu::First {
                len,
                data: bytes.get(6..).unwrap_or(&[]),
            })
        }
        2 => Ok(Pdu::Consecutive {
            sn: pci & 0x0F,
            data: bytes.get(1..).unwrap_or(&[]),
        }),
        3 => {
            let bs = *bytes
                .get(1)
                .ok_or(PduError::Malformed("flow control shorter than 3 bytes"))?;
            let st = *bytes
                .get(2)
                .ok_or(PduError::Malformed("flow control shorter than 3 bytes"))?;
            Ok(Pdu::FlowControl {
                fs: pci & 0x0F,
                bs,
                st,
            })
        }
        _ => Err(PduError::Unknown),
    }
}

/// What one frame's bytes (after any address byte) are, strictly, for
/// telling ISO-TP traffic from anything else in a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape<'a> {
    /// A single frame, or a first frame: the start of a message of `len`
    /// bytes, whose first bytes are `head`.
    Start {
        len: u32,
        head: &'a [u8],
    },
    Consecutive,
    FlowControl,
    /// Not a frame ISO 15765-2 allows: a reserved PCI, a declared length
    /// the frame cannot hold, a first frame a single frame could have
    /// carried or that does not fill its frame, a reserved flow status.
    NotIsoTp,
}

/// Reads `bytes` as [`decode`] does, and rejects what a receiver could let
/// through but a sender never makes (see [`Shape::NotIsoTp`]).
pub fn shape(bytes: &[u8]) -> Shape<'_> {
    match decode(bytes) {
        Ok(Pdu::Single { data }) => Shape::Start {
            len: data.len() as u32,
            head: data,
        },
        Ok(Pdu::First { len, data }) => {
            // A first frame fills its frame (8 bytes on classic CAN) and
            // announces more than that frame could carry as a single frame.
            let n = bytes.len();
            let sf_max = if n > 8 { n - 2 } else { n.saturating_sub(1) };
            if n >= 7 && len as usize > sf_max {
                Shape::Start { len, head: data }
            } else {
                Shape::NotIsoTp
            }
        }
        Ok(Pdu::Consecutive { data, .. }) if !data.is_empty() => Shape::Consecutive,
        Ok(Pdu::FlowControl { fs, .. }) if fs <= 2 => Shape::FlowControl,
        _ => Shape::NotIsoTp,
    }
}

/// STmin as the standard defines it: 0x00–0x7F milliseconds, 0xF1–0xF9
/// 100–900 µs, everything else reserved and read as the longest value
/// (127 ms) so a sender never goes faster than the receiver meant.
pub fn st_min_us(raw: u8) -> u64 {
    match raw {
        0x00..=0x7F => u64::from(raw) * 1000,
        0xF1..=0xF9 => u64::from(raw - 0xF0) * 100,
        _ => 127_000,
    }
}

/// How the frames we send are laid out: sizes, the address byte, padding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub id: CanId,
    pub iface: IfName,
    /// Address byte put in front of every frame (extended / mixed addressing).
    pub address: Option<u8>,
    /// TX_DL: 8 for classic CAN, 8 or 12..=64 for CAN FD.
    pub tx_dl: usize,
    pub fd: Option<u8>,
    pub padding: Option<u8>,
}

/// Padding used when CAN FD forces bytes after the payload and the
/// configuration asked for none (the value ISO 15765-2 recommends).
const FD_FORCED_PADDING: u8 = 0xCC;

impl Layout {
    fn ae(&self) -> usize {
        usize::from(self.address.is_some())
    }

    /// Largest payload of a single frame.
    pub fn sf_capacity(&self) -> usize {
        if self.tx_dl > 8 {
            self.tx_dl - 2 - self.ae()
        } else {
            7 - self.ae()
        }
    }

    /// Payload bytes carried by a first frame for a message of `len` bytes.
    pub fn ff_capacity(&self, len: usize) -> usize {
        let header = if len as u64 > u64::from(FF_DL_12BIT_MAX) {
            6
        } else {
            2
        };
        self.tx_dl - header - self.ae()
    }

    /// Payload bytes carried by a consecutive frame.
    pub fn cf_capacity(&self) -> usize {
        self.tx_dl - 1 - self.ae()
    }

    /// A frame of this layout's id whose data starts with the address byte
    /// (if any), then `pci`, then `payload`, padded as configured.
    fn frame(&self, now_us: u64, pci: &[u8], payload: &[u8]) -> Option<CanFrame> {
        let mut buf = [0u8; 64];
        let mut len = 0;
        let mut put = |bytes: &[u8]| -> Option<()> {
            buf.get_mut(len..len + bytes.len())?.copy_from_slice(bytes);
            len += bytes.len();
            Some(())
        };
        if let Some(a) = self.address {
            put(&[a])?;
        }
        put(pci)?;
        put(payload)?;
        let (target, pad) = match (self.fd, self.padding) {
            (None, Some(p)) => (8, p),
            (None, None) => (len, 0),
            (Some(_), Some(p)) => (fd_len_for(len.max(8))?, p),
            (Some(_), None) => (fd_len_for(len)?, FD_FORCED_PADDING),
        };
        buf.get_mut(len..target)?.fill(pad);
        let data = buf.get(..target)?;
        let frame = match self.fd {
            None => CanFrame::classic(self.id, data),
            Some(flags) => CanFrame::fd(self.id, data, flags),
        }
        .ok()?;
        let mut frame = frame.at(now_us).on(self.iface);
        frame.direction = Some(Direction::Tx);
        Some(frame)
    }

    /// The single frame for `payload` (which must fit `sf_capacity`).
    pub fn single(&self, now_us: u64, payload: &[u8]) -> Option<CanFrame> {
        let n = payload.len();
        if n <= 7 - self.ae() {
            self.frame(now_us, &[n as u8], payload)
        } else {
            let n = u8::try_from(n).ok()?;
            self.frame(now_us, &[0x00, n], payload)
        }
    }

    /// The first frame of a `total`-byte message carrying `chunk`.
    pub fn first(&self, now_us: u64, total: usize, chunk: &[u8]) -> Option<CanFrame> {
        if total as u64 > u64::from(FF_DL_12BIT_MAX) {
            let l = u32::try_from(total).ok()?.to_be_bytes();
            self.frame(now_us, &[0x10, 0x00, l[0], l[1], l[2], l[3]], chunk)
        } else {
            let pci = [0x10 | (total >> 8) as u8, (total & 0xFF) as u8];
            self.frame(now_us, &pci, chunk)
        }
    }

    pub fn consecutive(&self, now_us: u64, sn: u8, chunk: &[u8]) -> Option<CanFrame> {
        self.frame(now_us, &[0x20 | (sn & 0x0F)], chunk)
    }

    pub fn flow_control(&self, now_us: u64, fs: u8, bs: u8, st: u8) -> Option<CanFrame> {
        self.frame(now_us, &[0x30 | (fs & 0x0F), bs, st], &[])
    }
}

/// The CAN FD flags byte: BRS when `brs`, otherwise 0.
pub(crate) fn fd_flags(brs: bool) -> u8 {
    if brs {
        CANFD_BRS
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn st_min_table() {
        let cases = [
            (0x00, 0),
            (0x01, 1000),
            (0x7F, 127_000),
            (0x80, 127_000),
            (0xF0, 127_000),
            (0xF1, 100),
            (0xF3, 300),
            (0xF9, 900),
            (0xFA, 127_000),
            (0xFF, 127_000),
        ];
        for (raw, us) in cases {
            assert_eq!(st_min_us(raw), us, "STmin {raw:#04x}");
        }
    }

    #[test]
    fn shapes_are_strict() {
        assert_eq!(
            shape(&[0x02, 0x10, 0x03, 0, 0, 0, 0, 0]),
            Shape::Start {
                len: 2,
                head: &[0x10, 0x03]
            }
        );
        assert!(matches!(
            shape(&[0x10, 0x17, 0x59, 0x02, 0x09, 0x96, 0x03, 0x00]),
            Shape::Start { len: 23, .. }
        ));
        assert_eq!(shape(&[0x21, 1, 2, 3]), Shape::Consecutive);
        assert_eq!(shape(&[0x30, 0, 0, 0, 0, 0, 0, 0]), Shape::FlowControl);
        for bad in [
            // FF_DL 7 fits a single frame; an FF that does not fill its frame.
            &[0x10, 0x07, 1, 2, 3, 4, 5, 6][..],
            &[0x10, 0x20, 1, 2],
            &[0x33, 0, 0],
            &[0x20],
            &[0x7F, 0x9A, 0xE0, 0x00, 0x70],
            &[0x00, 0x00, 0x03],
        ] {
            assert_eq!(shape(bad), Shape::NotIsoTp, "{bad:02X?}");
        }
    }

    #[test]
    fn decode_each_pci() {
        assert_eq!(
            decode(&[0x03, 1, 2, 3, 0xCC]),
            Ok(Pdu::Single { data: &[1, 2, 3] })
        );
        assert_eq!(
            decode(&[0x00, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xCC]),
            Ok(Pdu::Single {
                data: &[1, 2, 3, 4, 5, 6, 7, 8, 9]
            })
        );
        assert_eq!(
            decode(&[0x10, 0x14, 1, 2, 3, 4, 5, 6]),
            Ok(Pdu::First {
                len: 20,
                data: &[1, 2, 3, 4, 5, 6]
            })
        );
        assert_eq!(
            decode(&[0x10, 0x00, 0x00, 0x00, 0x13, 0x88, 1, 2]),
            Ok(Pdu::First {
                len: 5000,
                data: &[1, 2]
            })
        );
        assert_eq!(
            decode(&[0x2F, 9]),
            Ok(Pdu::Consecutive { sn: 15, data: &[9] })
        );
        assert_eq!(
            decode(&[0x31, 8, 0xF3]),
            Ok(Pdu::FlowControl {
                fs: 1,
                bs: 8,
                st: 0xF3
            })
        );
        assert_eq!(decode(&[0x40]), Err(PduError::Unknown));
        for bad in [
            &[][..],
            &[0x05, 1, 2],
            &[0x00],
            &[0x00, 0x00],
            // The escape on classic frames: what a G35's 0x791 / 0x794 send.
            &[0x00, 0x03, 1, 2, 3],
            &[0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00],
            &[0x00, 0x07, 1, 2, 3, 4, 5, 6],
            &[0x10],
            &[0x10, 0x00, 0x00],
            &[0x10, 0x00, 0x00, 0x00, 0x0F, 0xFF],
            &[0x30, 0],
        ] {
            assert!(
                matches!(decode(bad), Err(PduError::Malformed(_))),
                "{bad:02X?}"
            );
        }
    }
}
