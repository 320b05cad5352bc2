//! Vector BLF (binary logging format) captures, read.
//!
//! No crate on crates.io reads BLF with the object types below and is
//! kept up, so this module reads it itself. There is no public
//! specification; the layout is the one of Toby Lorenz's "Vector BLF"
//! library as python-can's `can/io/blf.py` implements it (all integers
//! little-endian):
//!
//! - File header: `"LOGG"`, header size u32 (144), application and
//!   version bytes, file size u64, uncompressed size u64, object counts
//!   u32 x2, then the start time as a Windows `SYSTEMTIME` at byte 40 (eight
//!   u16: year, month, weekday, day, hour, minute, second, milliseconds).
//! - Then objects. Each starts with a base header `"LOBJ"`, header size
//!   u16, header version u16, object size u32 (header included), object
//!   type u32, and is followed by 0-3 padding bytes (object size % 4).
//! - `LOG_CONTAINER` (type 10) objects hold the others: compression method
//!   u16 (0 none, 2 zlib), 6 reserved, uncompressed size u32, 4 reserved,
//!   then the (compressed) objects. An object may continue in the next
//!   container.
//! - Inner objects have a v1 header (flags u32, client index u16, object
//!   version u16, timestamp u64) or v2 (flags u32, timestamp status u8,
//!   reserved u8, object version u16, timestamp u64, original timestamp
//!   u64); flags 1 = timestamp in 10 us, 2 = in ns, since the start time.
//!
//! Object bodies read here:
//!
//! | type | name              | body                                                                  |
//! |------|-------------------|-----------------------------------------------------------------------|
//! | 1, 86| CAN_MESSAGE(2)    | channel u16, flags u8 (0x01 Tx, 0x80 remote), dlc u8, id u32 (0x80000000 = 29-bit), data 8 |
//! | 100  | CAN_FD_MESSAGE    | channel u16, flags u8, dlc u8, id u32, frame length u32, bit count u8, FD flags u8 (EDL 1, BRS 2, ESI 4), valid bytes u8, 5 reserved, data 64 |
//! | 101  | CAN_FD_MESSAGE_64 | channel u8, dlc u8, valid bytes u8, tx count u8, id u32, frame length u32, flags u32 (0x10 remote, 0x1000 EDL, 0x2000 BRS, 0x4000 ESI), 4 x u32 timing, bit count u16, direction u8, ext data offset u8, crc u32, then data |
//! | 73   | CAN_ERROR_EXT     | channel u16, length u16, flags u32, ecc u8, position u8, dlc u8, reserved, frame length u32, id u32, ext flags u16, 2 reserved, data 8 |
//! | 2    | CAN_ERROR         | channel u16, length u16                                               |
//!
//! Other objects are skipped. Frames of channel N are on interface `blfN`;
//! the start time is read as UTC (python-can writes it so).

use std::io::{self, Read};

use super::error::CaptureError;
use super::open::Peeked;
use super::open::ReadOptions;
use super::parse_error::BlfError;
use super::text::{epoch_us, fd_dlc_len, ChannelNames, ERROR_CLASS};
use crate::frame::{CanFrame, CanId, Direction, CANFD_BRS, CANFD_ESI};

const FILE_HEADER_MIN: usize = 72;
/// The largest file header accepted.
const MAX_FILE_HEADER: usize = 4096;
const BASE_HEADER: usize = 16;
const LOG_CONTAINER: u32 = 10;
const CAN_MESSAGE: u32 = 1;
const CAN_ERROR: u32 = 2;
const CAN_ERROR_EXT: u32 = 73;
const CAN_MESSAGE2: u32 = 86;
const CAN_FD_MESSAGE: u32 = 100;
const CAN_FD_MESSAGE_64: u32 = 101;
const CAN_MSG_EXT: u32 = 0x8000_0000;
/// Largest object or uncompressed container accepted (Vector writes 128 KiB).
const MAX_OBJECT: usize = 64 * 1024 * 1024;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Reads into `buf` until it is full or the input ends; the count read.
fn read_full(src: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(crate) struct BlfStream {
    src: Peeked,
    start_us: u64,
    /// Uncompressed inner objects not read yet start at `pos`.
    buf: Vec<u8>,
    pos: usize,
    /// Outer objects read (the 1-based index of the last one).
    object: u64,
    /// Bytes of the file read so far.
    offset: u64,
    names: ChannelNames,
    pub(crate) bad: u64,
}

impl BlfStream {
    /// Reads the file header.
    pub(crate) fn new(mut src: Peeked) -> Result<BlfStream, BlfError> {
        let mut head = [0u8; FILE_HEADER_MIN];
        let n = read_full(&mut src, &mut head).map_err(BlfError::Read)?;
        if n < FILE_HEADER_MIN || head.get(..4) != Some(b"LOGG") {
            return Err(BlfError::FileHeader {
                min: FILE_HEADER_MIN,
                found: n,
            });
        }
        let size = u32_at(&head, 4).unwrap_or(0) as usize;
        if !(FILE_HEADER_MIN..=MAX_FILE_HEADER).contains(&size) {
            return Err(BlfError::HeaderSize {
                min: FILE_HEADER_MIN,
                max: MAX_FILE_HEADER,
                found: size,
            });
        }
        let mut rest = vec![0u8; size - FILE_HEADER_MIN];
        if read_full(&mut src, &mut rest).map_err(BlfError::Read)? < rest.len() {
            return Err(BlfError::HeaderCut(size));
        }
        let st = |i: usize| u32::from(u16_at(&head, 40 + 2 * i).unwrap_or(0));
        let start_us = epoch_us(
            i64::from(st(0)),
            st(1),
            st(3),
            st(4),
            st(5),
            st(6),
            st(7).min(999) * 1000,
        )
        .unwrap_or(0);
        Ok(BlfStream {
            src,
            start_us,
            buf: Vec::new(),
            pos: 0,
            object: 0,
            offset: size as u64,
            names: ChannelNames::new("blf"),
            bad: 0,
        })
    }

    pub(crate) fn next_frame(
        &mut self,
        name: &str,
        opts: ReadOptions,
    ) -> Result<Option<CanFrame>, CaptureError> {
        let err = |index: u64, in_container: bool, source: BlfError| CaptureError::Object {
            file: name.to_string(),
            index,
            in_container,
            source,
        };
        loop {
            match self.inner_object() {
                Ok(Some(Some(frame))) => return Ok(Some(frame)),
                Ok(Some(None)) => continue,
                Ok(None) => {}
                Err(e) if !opts.lenient => return Err(err(self.object, true, e)),
                Err(_) => {
                    // The container's remaining objects cannot be found.
                    self.bad += 1;
                    self.buf.clear();
                    self.pos = 0;
                }
            }
            match self.next_container() {
                Ok(true) => {}
                Ok(false) => {
                    let left = self.buf.get(self.pos..).unwrap_or_default();
                    if left.iter().any(|b| *b != 0) {
                        return Err(err(self.object, false, BlfError::EndsInside(left.len())));
                    }
                    return Ok(None);
                }
                Err(e) => return Err(err(self.object, false, e)),
            }
        }
    }

    /// Reads the next outer object; `Ok(false)` at the end of the file.
    /// A log container's objects are appended to `buf`.
    fn next_container(&mut self) -> Result<bool, BlfError> {
        let mut base = [0u8; BASE_HEADER];
        let n = read_full(&mut self.src, &mut base).map_err(BlfError::Read)?;
        if n == 0 {
            return Ok(false);
        }
        self.object += 1;
        let at = self.offset;
        if n < BASE_HEADER {
            return Err(BlfError::ObjectHeaderCut {
                expected: BASE_HEADER,
                at,
                found: n,
            });
        }
        if base.get(..4) != Some(b"LOBJ") {
            return Err(BlfError::NoObject { at: Some(at) });
        }
        let size = u32_at(&base, 8).unwrap_or(0) as usize;
        let kind = u32_at(&base, 12).unwrap_or(0);
        if !(BASE_HEADER..=MAX_OBJECT).contains(&size) {
            return Err(BlfError::ObjectSize {
                min: BASE_HEADER,
                at,
                found: size,
            });
        }
        let mut body = vec![0u8; size - BASE_HEADER];
        let got = read_full(&mut self.src, &mut body).map_err(BlfError::Read)?;
        if got < body.len() {
            return Err(BlfError::ObjectCut {
                expected: body.len(),
                kind,
                at,
                found: got,
            });
        }
        let mut pad = [0u8; 3];
        let padding = pad.get_mut(..size % 4).unwrap_or_default();
        let padded = read_full(&mut self.src, padding).map_err(BlfError::Read)?;
        self.offset += (size + padded) as u64;
        if kind != LOG_CONTAINER {
            return Ok(true);
        }
        let method = u16_at(&body, 0).unwrap_or(u16::MAX);
        let expected = u32_at(&body, 8).unwrap_or(0) as usize;
        let data = body
            .get(16..)
            .ok_or(BlfError::ContainerHeader { at, found: size })?;
        // Drop what was read, keep a partial object for the next container.
        self.buf.drain(..self.pos.min(self.buf.len()));
        self.pos = 0;
        match method {
            0 => self.buf.extend_from_slice(data),
            2 => {
                let before = self.buf.len();
                let mut z = flate2::read::ZlibDecoder::new(data).take(MAX_OBJECT as u64 + 1);
                z.read_to_end(&mut self.buf)
                    .map_err(|source| BlfError::Zlib { at, source })?;
                let got = self.buf.len() - before;
                if got > MAX_OBJECT || (expected != 0 && got != expected) {
                    return Err(BlfError::ContainerSize {
                        expected,
                        at,
                        found: got,
                    });
                }
            }
            m => return Err(BlfError::Compression { at, found: m }),
        }
        Ok(true)
    }

    /// The next inner object of `buf`: `Ok(None)` when more data is needed,
    /// `Ok(Some(None))` for an object that is not a frame.
    fn inner_object(&mut self) -> Result<Option<Option<CanFrame>>, BlfError> {
        let data = self.buf.get(self.pos..).unwrap_or_default();
        // Objects are followed by 0-7 padding bytes (python-can searches the same way).
        let Some(skip) = data.windows(4).take(8).position(|w| w == b"LOBJ") else {
            if data.len() >= 12 {
                return Err(BlfError::NoObject { at: None });
            }
            return Ok(None);
        };
        let obj = data.get(skip..).unwrap_or_default();
        let (Some(header_size), Some(version), Some(size), Some(kind)) = (
            u16_at(obj, 4),
            u16_at(obj, 6),
            u32_at(obj, 8),
            u32_at(obj, 12),
        ) else {
            return Ok(None);
        };
        let (header_size, size) = (usize::from(header_size), size as usize);
        if header_size < 32 || size < header_size || size > MAX_OBJECT {
            return Err(BlfError::InnerHeader {
                header: header_size,
                size,
            });
        }
        if obj.len() < size {
            return Ok(None);
        }
        self.pos += skip + size;
        if version != 1 && version != 2 {
            return Ok(Some(None));
        }
        let flags = u32_at(obj, 16).unwrap_or(0);
        let raw_ts = u64_at(obj, 24).unwrap_or(0);
        let offset_us = if flags == 1 {
            raw_ts.saturating_mul(10)
        } else {
            raw_ts.saturating_add(500) / 1000
        };
        let ts = self.start_us.saturating_add(offset_us);
        let body = obj.get(header_size..size).unwrap_or_default();
        let frame = match kind {
            CAN_MESSAGE | CAN_MESSAGE2 => Some(can_message(body, &mut self.names)?),
            CAN_FD_MESSAGE => Some(can_fd_message(body, &mut self.names)?),
            CAN_FD_MESSAGE_64 => Some(can_fd_message_64(body, header_size, &mut self.names)?),
            CAN_ERROR_EXT => {
                let short = || BlfError::Body {
                    object: "CAN_ERROR_EXT",
                    min: 11,
                    found: body.len(),
                };
                let ch = u16_at(body, 0).ok_or_else(short)?;
                let dlc = usize::from(*body.get(10).ok_or_else(short)?);
                let data = body.get(24..24 + dlc.min(8)).unwrap_or_default();
                Some(error_frame(data).on(self.names.get(u32::from(ch))))
            }
            CAN_ERROR => {
                let ch = u16_at(body, 0).ok_or(BlfError::Body {
                    object: "CAN_ERROR",
                    min: 2,
                    found: body.len(),
                })?;
                Some(error_frame(&[0; 8]).on(self.names.get(u32::from(ch))))
            }
            _ => None,
        };
        Ok(Some(frame.map(|f| f.at(ts))))
    }
}

fn error_frame(data: &[u8]) -> CanFrame {
    CanFrame::error(ERROR_CLASS, data).unwrap_or_else(|_| super::candump::empty_frame())
}

fn id_of(raw: u32) -> Result<CanId, BlfError> {
    Ok(super::text::can_id(
        raw & !CAN_MSG_EXT,
        raw & CAN_MSG_EXT != 0,
    )?)
}

/// A classic data or remote frame of DLC `dlc` (9-15 kept as the raw DLC).
fn classic(id: CanId, dlc: u8, remote: bool, data: &[u8]) -> Result<CanFrame, BlfError> {
    let len = usize::from(dlc.min(8));
    let raw = (dlc > 8).then_some(dlc);
    if remote {
        return Ok(CanFrame::remote(id, dlc.min(8), raw)?);
    }
    let data = data.get(..len).ok_or(BlfError::Data {
        len,
        holds: data.len(),
    })?;
    Ok(super::text::classic_frame(id, u32::from(dlc), data)?)
}

fn direction(tx: bool) -> Option<Direction> {
    Some(if tx { Direction::Tx } else { Direction::Rx })
}

fn can_message(b: &[u8], names: &mut ChannelNames) -> Result<CanFrame, BlfError> {
    let (Some(ch), Some(&flags), Some(&dlc), Some(id), Some(data)) =
        (u16_at(b, 0), b.get(2), b.get(3), u32_at(b, 4), b.get(8..16))
    else {
        return Err(BlfError::Body {
            object: "CAN_MESSAGE",
            min: 16,
            found: b.len(),
        });
    };
    let mut f = classic(id_of(id)?, dlc.min(15), flags & 0x80 != 0, data)?;
    f.direction = direction(flags & 0x01 != 0);
    Ok(f.on(names.get(u32::from(ch))))
}

fn can_fd_message(b: &[u8], names: &mut ChannelNames) -> Result<CanFrame, BlfError> {
    let (Some(ch), Some(&flags), Some(&dlc), Some(id), Some(&fd_flags), Some(&valid)) = (
        u16_at(b, 0),
        b.get(2),
        b.get(3),
        u32_at(b, 4),
        b.get(13),
        b.get(14),
    ) else {
        return Err(BlfError::Body {
            object: "CAN_FD_MESSAGE",
            min: 15,
            found: b.len(),
        });
    };
    let data = b.get(20..).unwrap_or_default();
    fd_or_classic(
        id_of(id)?,
        dlc,
        valid,
        fd_flags & 1 != 0,
        flags & 0x80 != 0,
        (fd_flags & 2 != 0, fd_flags & 4 != 0),
        data,
    )
    .map(|mut f| {
        f.direction = direction(flags & 0x01 != 0);
        f.on(names.get(u32::from(ch)))
    })
}

fn can_fd_message_64(
    b: &[u8],
    header_size: usize,
    names: &mut ChannelNames,
) -> Result<CanFrame, BlfError> {
    let (Some(&ch), Some(&dlc), Some(&valid), Some(id), Some(flags), Some(&dir), Some(&ext)) = (
        b.first(),
        b.get(1),
        b.get(2),
        u32_at(b, 4),
        u32_at(b, 12),
        b.get(34),
        b.get(35),
    ) else {
        return Err(BlfError::Body {
            object: "CAN_FD_MESSAGE_64",
            min: 36,
            found: b.len(),
        });
    };
    // The data ends where extended data starts (an offset from the object start).
    let end = if ext == 0 {
        b.len()
    } else {
        usize::from(ext).saturating_sub(header_size).min(b.len())
    };
    let data = b.get(40..end.max(40)).unwrap_or_default();
    fd_or_classic(
        id_of(id)?,
        dlc,
        valid,
        flags & 0x1000 != 0,
        flags & 0x10 != 0,
        (flags & 0x2000 != 0, flags & 0x4000 != 0),
        data,
    )
    .map(|mut f| {
        f.direction = direction(dir != 0);
        f.on(names.get(u32::from(ch)))
    })
}

fn fd_or_classic(
    id: CanId,
    dlc: u8,
    valid: u8,
    edl: bool,
    remote: bool,
    (brs, esi): (bool, bool),
    data: &[u8],
) -> Result<CanFrame, BlfError> {
    if !edl {
        return classic(id, dlc.min(15), remote, data);
    }
    let len = usize::from(valid).min(fd_dlc_len(u32::from(dlc.min(15))));
    // A short data field is zero-padded, as Vector's tools read it.
    let mut buf = [0u8; 64];
    for (slot, b) in buf.iter_mut().zip(data.iter().take(len)) {
        *slot = *b;
    }
    let flags = if brs { CANFD_BRS } else { 0 } | if esi { CANFD_ESI } else { 0 };
    Ok(CanFrame::fd(id, buf.get(..len).unwrap_or_default(), flags)?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    /// A CAN_MESSAGE object (v1 header, ns timestamps).
    pub(crate) fn can_message_object(ts_ns: u64, channel: u16, id: u32, data: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(channel.to_le_bytes());
        body.push(0);
        body.push(data.len() as u8);
        body.extend(id.to_le_bytes());
        let mut d = [0u8; 8];
        d.iter_mut().zip(data).for_each(|(s, b)| *s = *b);
        body.extend(d);
        object(CAN_MESSAGE, ts_ns, &body)
    }

    fn object(kind: u32, ts_ns: u64, body: &[u8]) -> Vec<u8> {
        let size = 32 + body.len() as u32;
        let mut o = b"LOBJ".to_vec();
        o.extend(32u16.to_le_bytes());
        o.extend(1u16.to_le_bytes());
        o.extend(size.to_le_bytes());
        o.extend(kind.to_le_bytes());
        o.extend(2u32.to_le_bytes());
        o.extend([0u8; 4]);
        o.extend(ts_ns.to_le_bytes());
        o.extend(body);
        o.resize(o.len() + size as usize % 4, 0);
        o
    }

    /// A BLF file of one zlib log container per element of `containers`,
    /// starting 2023-11-09 20:29:27.123 UTC.
    pub(crate) fn blf_file(containers: &[Vec<u8>]) -> Vec<u8> {
        let mut f = b"LOGG".to_vec();
        f.extend(144u32.to_le_bytes());
        f.resize(40, 0);
        for v in [2023u16, 11, 4, 9, 20, 29, 27, 123] {
            f.extend(v.to_le_bytes());
        }
        f.resize(144, 0);
        for objects in containers {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(objects).unwrap();
            let z = z.finish().unwrap();
            let size = 32 + z.len() as u32;
            f.extend(b"LOBJ");
            f.extend(16u16.to_le_bytes());
            f.extend(1u16.to_le_bytes());
            f.extend(size.to_le_bytes());
            f.extend(LOG_CONTAINER.to_le_bytes());
            f.extend(2u16.to_le_bytes());
            f.extend([0u8; 6]);
            f.extend((objects.len() as u32).to_le_bytes());
            f.extend([0u8; 4]);
            f.extend(z);
            f.resize(f.len() + size as usize % 4, 0);
        }
        f
    }

    fn read(bytes: Vec<u8>) -> Result<Vec<CanFrame>, CaptureError> {
        super::super::CaptureReader::from_reader(
            "mem.blf",
            Box::new(Cursor::new(bytes)),
            ReadOptions::default(),
        )?
        .collect()
    }

    #[test]
    fn reads_objects_split_across_containers() {
        let a = can_message_object(1_000_000, 1, 0x123, &[1, 2]);
        let b = can_message_object(2_500_000, 2, 0x18DA_F110 | CAN_MSG_EXT, &[9; 8]);
        let both = [a.clone(), b].concat();
        let (first, second) = both.split_at(a.len() + 10);
        let frames = read(blf_file(&[first.to_vec(), second.to_vec()])).unwrap();
        let start = epoch_us(2023, 11, 9, 20, 29, 27, 123_000).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].timestamp_us, start + 1000);
        assert_eq!(frames[0].id, CanId::Standard(0x123));
        assert_eq!(frames[0].iface.as_str(), "blf1");
        assert_eq!(frames[1].id, CanId::Extended(0x18DA_F110));
        assert_eq!(frames[1].timestamp_us, start + 2500);
    }

    #[test]
    fn truncated_container_names_the_object() {
        let objects: Vec<u8> = (0..200)
            .flat_map(|i| can_message_object(i * 1000, 1, 0x100 + i as u32, &[i as u8; 8]))
            .collect();
        let mut file = blf_file(&[objects]);
        file.truncate(file.len() - 40);
        let err = read(file).unwrap_err().to_string();
        assert!(
            err.starts_with("mem.blf: object 1: expected ") && err.contains("truncated"),
            "{err}"
        );
        let err = read(b"LOGG\x90\0\0\0".to_vec()).unwrap_err().to_string();
        assert!(
            err.starts_with("mem.blf: expected a BLF file header"),
            "{err}"
        );
    }
}
