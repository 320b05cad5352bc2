//! The SocketCAN pseudo-header of pcap link type 227 (`LINKTYPE_CAN_SOCKETCAN`):
//! `can_id` (4 bytes, network order unless byte-swapped), payload length,
//! FD flags, two reserved bytes (the second is `len8_dlc` on classic frames),
//! then the payload (8 bytes classic / 64 FD, possibly cut to the length).
//!
//! Also the Linux "cooked" link type 113 (`LINKTYPE_LINUX_SLL`, what
//! `tcpdump -i any` writes): a 16-byte header whose ARPHRD type is CAN (280)
//! and protocol `ETH_P_CAN`/`ETH_P_CANFD`, then the same SocketCAN frame but
//! with `can_id` in the capturing host's order (little-endian on every host
//! this tool meets), as Wireshark's "can-hostendian" reads it. The packet
//! type says whether the frame was sent (outgoing) or received.
//!
//! Knows nothing of files or timestamps: one packet in, one frame out.

use super::parse_error::{IdRangeError, PacketError};
use crate::frame::{
    CanFrame, CanId, Direction, CANFD_FDF, CANFD_MAX_DLEN, CAN_ERR_FLAG, CAN_ERR_MASK,
    CAN_MAX_DLEN, EFF_MAX,
};

const CAN_EFF_FLAG: u32 = 0x8000_0000;
const CAN_RTR_FLAG: u32 = 0x4000_0000;
/// Set in byte 4 by CAN XL frames, whose header differs.
const CANXL_XLF: u8 = 0x80;
/// Size of a classic `struct can_frame`; a longer packet is a `canfd_frame`.
const CAN_MTU: usize = 16;

/// Link types this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// 227, `LINKTYPE_CAN_SOCKETCAN`.
    SocketCan,
    /// 113, `LINKTYPE_LINUX_SLL`; only its CAN packets are frames.
    LinuxSll,
}

impl Link {
    pub(crate) fn from_datalink(link: pcap_file::DataLink) -> Option<Link> {
        match link {
            pcap_file::DataLink::CAN_SOCKETCAN => Some(Link::SocketCan),
            pcap_file::DataLink::LINUX_SLL => Some(Link::LinuxSll),
            _ => None,
        }
    }
}

const ARPHRD_CAN: u16 = 280;
const ETH_P_CAN: u16 = 0x000C;
const ETH_P_CANFD: u16 = 0x000D;
const PACKET_OUTGOING: u16 = 4;
const SLL_HEADER: usize = 16;

/// Decodes one packet of link type `link`; `Ok(None)` for a packet that is
/// not a CAN frame (other traffic in a cooked capture).
pub(crate) fn decode_link(
    link: Link,
    packet: &[u8],
    byte_swapped_ids: bool,
) -> Result<Option<CanFrame>, PacketError> {
    match link {
        Link::SocketCan => decode(packet, byte_swapped_ids).map(Some),
        Link::LinuxSll => {
            let (sll, frame) = packet
                .split_at_checked(SLL_HEADER)
                .ok_or(PacketError::CookedHeader(packet.len()))?;
            let be16 = |at: usize| {
                sll.get(at..at + 2)
                    .map(|b| {
                        u16::from_be_bytes([
                            b.first().copied().unwrap_or(0),
                            b.get(1).copied().unwrap_or(0),
                        ])
                    })
                    .unwrap_or(0)
            };
            if be16(2) != ARPHRD_CAN || !matches!(be16(14), ETH_P_CAN | ETH_P_CANFD) {
                return Ok(None);
            }
            // Host order (little-endian) is the norm here, so the option
            // flips to network order.
            let mut f = decode(frame, !byte_swapped_ids)?;
            f.direction = Some(if be16(0) == PACKET_OUTGOING {
                Direction::Tx
            } else {
                Direction::Rx
            });
            Ok(Some(f))
        }
    }
}

/// Decodes one `LINKTYPE_CAN_SOCKETCAN` packet; the error says what was
/// expected.
pub(crate) fn decode(packet: &[u8], byte_swapped_ids: bool) -> Result<CanFrame, PacketError> {
    let (header, payload) = packet
        .split_at_checked(8)
        .ok_or(PacketError::SocketCanHeader(packet.len()))?;
    let id_bytes: [u8; 4] = header
        .first_chunk::<4>()
        .copied()
        .ok_or(PacketError::SocketCanHeader(packet.len()))?;
    let can_id = if byte_swapped_ids {
        u32::from_le_bytes(id_bytes)
    } else {
        u32::from_be_bytes(id_bytes)
    };
    let len_byte = header.get(4).copied().unwrap_or(0);
    let flags = header.get(5).copied().unwrap_or(0);
    let len8_dlc = header.get(7).copied().unwrap_or(0);
    if len_byte & CANXL_XLF != 0 {
        return Err(PacketError::CanXl);
    }
    let len = usize::from(len_byte);
    let is_fd = flags & CANFD_FDF != 0 || packet.len() > CAN_MTU;
    let max = if is_fd { CANFD_MAX_DLEN } else { CAN_MAX_DLEN };
    if len > max {
        return Err(PacketError::TooLong {
            max,
            fd: is_fd,
            len,
            byte_swapped: byte_swapped_ids,
        });
    }
    let data = payload.get(..len).ok_or(PacketError::Short {
        len,
        holds: payload.len(),
    })?;
    if can_id & CAN_ERR_FLAG != 0 {
        if is_fd || len > CAN_MAX_DLEN {
            return Err(PacketError::ErrorFrameLength(len));
        }
        return Ok(CanFrame::error(can_id & CAN_ERR_MASK, data)?);
    }
    let id = if can_id & CAN_EFF_FLAG != 0 {
        CanId::Extended(can_id & EFF_MAX)
    } else {
        let raw = can_id & EFF_MAX;
        CanId::standard(raw).ok_or(PacketError::Id {
            source: IdRangeError {
                raw,
                extended: false,
            },
            byte_swapped: byte_swapped_ids,
        })?
    };
    if is_fd {
        if can_id & CAN_RTR_FLAG != 0 {
            return Err(PacketError::FdRemote);
        }
        return Ok(CanFrame::fd(id, data, flags & 0x0F)?);
    }
    let raw_dlc = (len == CAN_MAX_DLEN && (9..=15).contains(&len8_dlc)).then_some(len8_dlc);
    if can_id & CAN_RTR_FLAG != 0 {
        return Ok(CanFrame::remote(id, len_byte, raw_dlc)?);
    }
    Ok(match raw_dlc {
        Some(dlc) => CanFrame::classic_len8_dlc(id, data, dlc),
        None => CanFrame::classic(id, data),
    }?)
}

/// Encodes `f` as a `LINKTYPE_CAN_SOCKETCAN` packet into `out` (cleared
/// first): `can_id` in network order with its flags, the payload padded to
/// 8 bytes (classic) or 64 (CAN FD, with `CANFD_FDF` set), as Linux hands
/// frames to libpcap.
pub(crate) fn encode(f: &CanFrame, out: &mut Vec<u8>) {
    use crate::frame::FrameKind;
    let mut can_id = match f.id {
        CanId::Standard(id) => u32::from(id),
        CanId::Extended(id) => id | CAN_EFF_FLAG,
    };
    let (len, flags, len8, pad) = match f.kind {
        FrameKind::Classic { len8_dlc } => (f.len() as u8, 0, len8_dlc.unwrap_or(0), CAN_MAX_DLEN),
        FrameKind::Remote { dlc, len8_dlc } => {
            can_id |= CAN_RTR_FLAG;
            (dlc, 0, len8_dlc.unwrap_or(0), CAN_MAX_DLEN)
        }
        FrameKind::Fd { flags } => (f.len() as u8, flags | CANFD_FDF, 0, CANFD_MAX_DLEN),
        FrameKind::Error => {
            can_id = f.id.raw() | CAN_ERR_FLAG;
            (f.len() as u8, 0, 0, CAN_MAX_DLEN)
        }
    };
    out.clear();
    out.extend_from_slice(&can_id.to_be_bytes());
    out.extend_from_slice(&[len, flags, 0, len8]);
    out.extend_from_slice(f.data());
    out.resize(8 + pad, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameKind;
    use proptest::prelude::*;

    fn classic(id: [u8; 4], len: u8, flags: u8, dlc: u8, data: &[u8]) -> Vec<u8> {
        let mut p = id.to_vec();
        p.extend_from_slice(&[len, flags, 0, dlc]);
        p.extend_from_slice(data);
        p
    }

    #[test]
    fn decodes_each_kind() {
        let f = decode(
            &classic([0, 0, 6, 0x41], 3, 0, 0, &[1, 2, 3, 0, 0, 0, 0, 0]),
            false,
        )
        .unwrap();
        assert_eq!((f.id, f.data()), (CanId::Standard(0x641), &[1u8, 2, 3][..]));
        let f = decode(&classic([0x41, 6, 0, 0], 3, 0, 0, &[1, 2, 3]), true).unwrap();
        assert_eq!(f.id, CanId::Standard(0x641));
        let err = decode(&classic([0x41, 6, 0, 0], 3, 0, 0, &[1, 2, 3]), false).unwrap_err();
        assert!(
            matches!(
                err,
                PacketError::Id {
                    source: IdRangeError {
                        raw: 0x0106_0000,
                        ..
                    },
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("little-endian"), "{err}");
        let f = decode(
            &classic([0x98, 0xDA, 0xF1, 0x10], 8, 0, 0xE, &[0; 8]),
            false,
        )
        .unwrap();
        assert_eq!(f.id, CanId::Extended(0x18DA_F110));
        assert_eq!(
            f.kind,
            FrameKind::Classic {
                len8_dlc: Some(0xE)
            }
        );
        let f = decode(&classic([0x40, 0, 1, 0x23], 8, 0, 0, &[0; 8]), false).unwrap();
        assert_eq!(
            f.kind,
            FrameKind::Remote {
                dlc: 8,
                len8_dlc: None
            }
        );
        let f = decode(
            &classic([0x20, 0, 0, 4], 8, 0, 0, &[0, 4, 0, 0, 0, 0, 0, 0]),
            false,
        )
        .unwrap();
        assert!(f.is_error());
        assert_eq!(f.id, CanId::Extended(4));
        let mut fd = classic([0, 0, 4, 0x56], 12, 0x05, 0, &[0xAA; 12]);
        fd.resize(72, 0);
        let f = decode(&fd, false).unwrap();
        assert_eq!(f.kind, FrameKind::Fd { flags: 0x05 });
        assert_eq!(f.len(), 12);
        // FD by length alone (older kernels leave FDF clear).
        let mut fd = classic([0, 0, 4, 0x56], 2, 0x01, 0, &[0xAA; 2]);
        fd.resize(72, 0);
        assert!(decode(&fd, false).unwrap().is_fd());
    }

    #[test]
    fn reads_linux_cooked_can_packets() {
        // An outgoing CAN FD frame as tcpdump -i any stores it (scapy's canfd.pcap).
        let mut p = vec![0, 4, 1, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0D];
        p.extend(classic([0x23, 1, 0, 0], 12, 1, 0, &[0x22; 12]));
        p.resize(88, 0);
        let f = decode_link(Link::LinuxSll, &p, false).unwrap().unwrap();
        assert_eq!(
            (f.id, f.kind, f.len()),
            (CanId::Standard(0x123), FrameKind::Fd { flags: 1 }, 12)
        );
        assert_eq!(f.direction, Some(Direction::Tx));
        p[15] = 0x00; // IPv4-ish protocol: not a CAN frame.
        p[14] = 0x08;
        assert!(matches!(decode_link(Link::LinuxSll, &p, false), Ok(None)));
        assert!(decode_link(Link::LinuxSll, &p[..10], false).is_err());
    }

    #[test]
    fn rejects_what_cannot_be_a_frame() {
        let msg = |p: &[u8]| decode(p, false).unwrap_err().to_string();
        assert!(matches!(
            decode(&[0; 7], false),
            Err(PacketError::SocketCanHeader(7))
        ));
        assert!(msg(&[0; 7]).contains("at least 8"));
        assert!(msg(&classic([0, 0, 1, 0x23], 9, 0, 0, &[0; 8])).contains("at most 8"));
        assert!(matches!(
            decode(&classic([0, 0, 1, 0x23], 8, 0, 0, &[0; 4]), false),
            Err(PacketError::Short { len: 8, holds: 4 })
        ));
        let mut fd = classic([0, 0, 1, 0x23], 9, 0x04, 0, &[0; 9]);
        fd.resize(72, 0);
        assert!(matches!(decode(&fd, false), Err(PacketError::Frame(_))));
        assert!(msg(&fd).contains("CAN FD length"));
        assert!(msg(&classic([0, 0, 1, 0x23], 0x80, 0, 0, &[0; 8])).contains("CAN XL"));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100), swapped: bool) {
            let _ = decode(&bytes, swapped);
            let _ = decode_link(Link::LinuxSll, &bytes, swapped);
        }
    }
}
