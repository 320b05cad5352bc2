//! The candump log format, read and written exactly as can-utils does it.
//!
//! One frame per line: `(1795248560.598478) vcan0 7B6#01BCA4`, optionally
//! followed by ` T` (sent) or ` R` (received). The frame field follows
//! can-utils `lib.c` (`snprintf_canframe` / `parse_canframe`):
//!
//! | form                 | meaning                                              |
//! |----------------------|------------------------------------------------------|
//! | `123#0102`           | 11-bit id (3 digits), classic data                   |
//! | `12345678#0102`      | 29-bit id (8 digits)                                 |
//! | `123#R`, `123#R5`    | remote frame, DLC omitted when 0                     |
//! | `123#R8_E`           | remote frame with DLC 8 and raw DLC E                |
//! | `123#1122334455667788_E` | 8 data bytes with raw DLC 9–F                   |
//! | `123##5AABB`         | CAN FD, flags nibble (BRS 1, ESI 2, FDF 4), data     |
//! | `20000004#00...`     | error frame: `CAN_ERR_FLAG` plus the error class     |
//!
//! This module owns the line syntax only: no file handling, no format
//! detection (see [`super`]). [`parse_line`] never allocates on the success
//! path; [`format_frame`] appends to a caller's buffer so a writer can reuse
//! one allocation for a whole log.

use std::io::{self, Write};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::parse_error::Found;
use crate::frame::{
    is_valid_fd_len, CanFrame, CanId, Direction, FrameError, FrameKind, IfName, CANFD_MAX_DLEN,
    CAN_ERR_FLAG, CAN_ERR_MASK, CAN_MAX_DLEN, EFF_MAX, SFF_MAX,
};
use crate::hex;

/// Why one candump line could not be read. Each message names what was
/// expected and quotes the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    #[error("expected a timestamp \"(seconds.microseconds)\", found {found}")]
    BadTimestamp { found: Found },
    #[error("expected an interface name of 1-15 characters after the timestamp, found {found}")]
    BadInterface { found: Found },
    #[error("expected a frame like \"123#0102\" after the interface name, found end of line")]
    MissingFrame,
    #[error("expected '#' after a 3- or 8-digit id in {frame}")]
    MissingHash { frame: Found },
    #[error(
        "expected a 3-digit (11-bit) or 8-digit (29-bit) id, found {digits} digits in {frame}"
    )]
    IdLength { digits: usize, frame: Found },
    #[error("expected hex digits in the id, found {frame}")]
    BadIdHex { frame: Found },
    #[error("expected an 11-bit id of at most 7FF, found {id:03X} in {frame}")]
    SffTooLarge { id: u32, frame: Found },
    #[error("expected a 29-bit id of at most 1FFFFFFF (or 2xxxxxxx for an error frame), found {id:08X} in {frame}")]
    EffTooLarge { id: u32, frame: Found },
    #[error("expected 2 hex digits per data byte, found odd count {count} in {frame}")]
    OddDigits { count: usize, frame: Found },
    #[error("expected hex digits in the data, found {frame}")]
    BadDataHex { frame: Found },
    #[error("expected at most 8 data bytes on a classic frame, found {bytes} in {frame}")]
    ClassicTooLong { bytes: usize, frame: Found },
    #[error("expected at most 64 data bytes on a CAN FD frame, found {bytes} in {frame}")]
    FdTooLong { bytes: usize, frame: Found },
    #[error("expected a CAN FD length (0-8, 12, 16, 20, 24, 32, 48 or 64 bytes), found {bytes} in {frame}")]
    FdBadLength { bytes: usize, frame: Found },
    #[error("expected a hex flags digit after '##' in {frame}")]
    BadFdFlags { frame: Found },
    #[error(
        "expected 'R' then an optional DLC digit 0-8 (and '_' raw DLC 9-F after 8) in {frame}"
    )]
    BadRemote { frame: Found },
    #[error("expected '_' and one raw DLC digit 9-F after exactly 8 data bytes in {frame}")]
    BadRawDlc { frame: Found },
    #[error("expected plain data (no 'R', '##' or '_') on an error frame in {frame}")]
    BadErrorFrame { frame: Found },
    #[error("expected end of line or \" T\" / \" R\" after the frame, found {found}")]
    TrailingGarbage { found: Found },
}

/// Remembers the last interface name so a log of one interface validates
/// and copies the name once, not once per line.
#[derive(Default)]
pub(crate) struct IfaceCache {
    raw: [u8; crate::frame::IFNAME_MAX],
    len: usize,
    /// Valid when `len > 0`.
    name: IfName,
}

impl IfaceCache {
    /// Makes `self.name` the name spelled `raw`; `false` when `raw` is not a
    /// valid interface name. (Returning the name by value through `Option`
    /// cost a store-forwarding stall per line on the hot path.)
    #[inline]
    fn set(&mut self, raw: &[u8]) -> bool {
        // A byte loop: names are a few bytes, a memcmp call costs more.
        if self.len > 0 && raw.len() == self.len && raw.iter().zip(&self.raw).all(|(a, b)| a == b) {
            return true;
        }
        let Some(name) = std::str::from_utf8(raw).ok().and_then(IfName::new) else {
            return false;
        };
        // IfName::new accepted it, so it is at most IFNAME_MAX bytes.
        match self.raw.get_mut(..raw.len()) {
            Some(slot) => {
                slot.copy_from_slice(raw);
                self.len = raw.len();
                self.name = name;
                true
            }
            None => false,
        }
    }
}

/// Parses one line of a candump log (without its `\n`; a trailing `\r` is
/// ignored). `Ok(None)` for a line canplayer would skip: anything that does
/// not start with `(` (comments, blank lines, other text).
pub fn parse_line(line: &[u8]) -> Result<Option<CanFrame>, LineError> {
    let mut frame = empty_frame();
    Ok(parse_line_into(line, &mut IfaceCache::default(), &mut frame)?.then_some(frame))
}

/// A placeholder a frame is parsed into.
pub(crate) fn empty_frame() -> CanFrame {
    CanFrame::remote(CanId::Standard(0), 0, None)
        .unwrap_or_else(|_| unreachable!("DLC 0 without raw DLC is always valid"))
}

#[inline]
fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Index of the first byte at or after `from` that is not blank.
#[inline]
fn skip_blanks(line: &[u8], mut i: usize) -> usize {
    while line.get(i).is_some_and(|c| is_blank(*c)) {
        i += 1;
    }
    i
}

/// Index of the first blank at or after `from`, or the line length.
#[inline]
fn token_end(line: &[u8], mut i: usize) -> usize {
    while line.get(i).is_some_and(|c| !is_blank(*c)) {
        i += 1;
    }
    i
}

/// Parses `(sec.frac)` at the start of `line`; returns microseconds and the
/// index after `)`. The fraction may have 1–9 digits and is read as a decimal
/// fraction (candump always writes 6).
#[inline]
fn parse_timestamp(line: &[u8]) -> Option<(u64, usize)> {
    // candump's own layout, "(%010llu.%06llu)".
    if let Some(us) = fixed_timestamp(line) {
        return Some((us, 19));
    }
    let mut i = 1;
    let mut sec: u64 = 0;
    let sec_start = i;
    while let Some(&c) = line.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        sec = sec.checked_mul(10)?.checked_add(u64::from(d))?;
        i += 1;
    }
    if i == sec_start || line.get(i) != Some(&b'.') {
        return None;
    }
    i += 1;
    let frac_start = i;
    let mut frac: u64 = 0;
    while let Some(&c) = line.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        frac = frac * 10 + u64::from(d);
        i += 1;
        if i - frac_start > 9 {
            return None;
        }
    }
    let digits = i - frac_start;
    if digits == 0 || line.get(i) != Some(&b')') {
        return None;
    }
    let us = match digits {
        6 => frac,
        d if d < 6 => frac * 10u64.pow(6 - d as u32),
        d => frac / 10u64.pow(d as u32 - 6),
    };
    let ts = sec.checked_mul(1_000_000)?.checked_add(us)?;
    Some((ts, i + 1))
}

/// The value of a run of at most 19 decimal digits; `None` on a non-digit.
#[inline]
fn fixed_decimal(digits: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    let mut bad = false;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        bad |= d > 9;
        v = v.wrapping_mul(10).wrapping_add(u64::from(d));
    }
    (!bad).then_some(v)
}

/// [`parse_line`] writing into `out` (`Ok(true)` when a frame was read):
/// the frame is built once in its final place instead of being moved
/// through several `Result`s, which cost store-forwarding stalls per line.
#[inline]
pub(crate) fn parse_line_into(
    line: &[u8],
    cache: &mut IfaceCache,
    out: &mut CanFrame,
) -> Result<bool, LineError> {
    let line = match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    };
    if line.first() != Some(&b'(') {
        return Ok(false);
    }
    let (ts, after_ts) = parse_timestamp(line).ok_or_else(|| LineError::BadTimestamp {
        found: Found::of(line.get(..token_end(line, 0)).unwrap_or(line)),
    })?;
    let if_start = skip_blanks(line, after_ts);
    if if_start == after_ts {
        return Err(LineError::BadTimestamp {
            found: Found::of(line.get(..token_end(line, 0)).unwrap_or(line)),
        });
    }
    let if_end = token_end(line, if_start);
    let if_raw = line.get(if_start..if_end).unwrap_or_default();
    if !cache.set(if_raw) {
        return Err(LineError::BadInterface {
            found: Found::of(if_raw),
        });
    }
    let fr_start = skip_blanks(line, if_end);
    let fr_end = token_end(line, fr_start);
    let frame_tok = line.get(fr_start..fr_end).unwrap_or_default();
    if frame_tok.is_empty() {
        return Err(LineError::MissingFrame);
    }
    let rest_start = skip_blanks(line, fr_end);
    let rest = line.get(rest_start..).unwrap_or_default();
    let direction = match rest {
        [] => None,
        [b'T', tail @ ..] if tail.iter().all(|c| is_blank(*c)) => Some(Direction::Tx),
        [b'R', tail @ ..] if tail.iter().all(|c| is_blank(*c)) => Some(Direction::Rx),
        _ => {
            return Err(LineError::TrailingGarbage {
                found: Found::of(rest),
            })
        }
    };
    parse_frame(frame_tok, out)?;
    out.timestamp_us = ts;
    out.iface = cache.name;
    out.direction = direction;
    Ok(true)
}

/// Eight ASCII bytes, first one in the low byte.
#[inline]
fn load8(bytes: Option<&[u8]>) -> Option<u64> {
    Some(u64::from_le_bytes(bytes?.try_into().ok()?))
}

/// The value of 8 ASCII decimal digits packed little-endian (first digit in
/// the low byte), or `None` if any byte is not a digit. SWAR: three
/// multiply-adds instead of a chain of eight, which on the hot path cost more
/// than the rest of the timestamp.
#[inline]
fn swar_decimal8(chunk: u64) -> Option<u64> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // Every byte 0x30..=0x3F, and still 0x3_ after adding 6: 0x30..=0x39.
    let high = chunk & (0xF0 * ONES);
    let high6 = chunk.wrapping_add(6 * ONES) & (0xF0 * ONES);
    if high != 0x30 * ONES || high6 != 0x30 * ONES {
        return None;
    }
    let mut x = chunk - 0x30 * ONES;
    x = (x.wrapping_mul(10).wrapping_add(x >> 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x.wrapping_mul(100).wrapping_add(x >> 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x.wrapping_mul(10_000).wrapping_add(x >> 32)) & 0xFFFF_FFFF;
    Some(x)
}

/// candump's own timestamp layout `(dddddddddd.dddddd)` at the start of
/// `line`, in microseconds.
#[inline]
fn fixed_timestamp(line: &[u8]) -> Option<u64> {
    if line.get(11) != Some(&b'.') || line.get(18) != Some(&b')') {
        return None;
    }
    // Seconds: digits 1..3 and 3..11 (the high two, then eight).
    let high = fixed_decimal(line.get(1..3)?)?;
    let low = swar_decimal8(load8(line.get(3..11))?)?;
    // Microseconds: bytes 10..18 are "d.dddddd"; make the first two "00".
    let frac = load8(line.get(10..18))? & !0xFFFF | 0x3030;
    let us = swar_decimal8(frac)?;
    Some((high * 100_000_000 + low) * 1_000_000 + us)
}

/// A classic frame of the first `n` bytes of `data`. Each length is its
/// own constant-size copy: a copy of a run-time length is a `memmove` call,
/// which showed as a tenth of the whole replay.
#[inline]
pub(crate) fn classic_of_len(id: CanId, data: &[u8; 8], n: usize) -> Result<CanFrame, FrameError> {
    match n {
        8 => CanFrame::classic(id, data),
        7 => CanFrame::classic(id, data.first_chunk::<7>().unwrap_or(&[0; 7])),
        6 => CanFrame::classic(id, data.first_chunk::<6>().unwrap_or(&[0; 6])),
        5 => CanFrame::classic(id, data.first_chunk::<5>().unwrap_or(&[0; 5])),
        4 => CanFrame::classic(id, data.first_chunk::<4>().unwrap_or(&[0; 4])),
        3 => CanFrame::classic(id, data.first_chunk::<3>().unwrap_or(&[0; 3])),
        2 => CanFrame::classic(id, data.first_chunk::<2>().unwrap_or(&[0; 2])),
        1 => CanFrame::classic(id, data.first_chunk::<1>().unwrap_or(&[0; 1])),
        _ => CanFrame::classic(id, &[]),
    }
}

/// The fixed part of the most common line of all, in the exact shape
/// candump writes it: `(dddddddddd.dddddd) IFACE III#` with an 11-bit id and
/// the same interface as the line before, then an even count of at most 16
/// characters and nothing after. Returns the timestamp, the id and those
/// characters (not yet checked to be hex digits).
#[inline]
pub(crate) fn common_header<'a>(
    line: &'a [u8],
    cache: &IfaceCache,
) -> Option<(u64, u16, &'a [u8])> {
    let ts = fixed_timestamp(line)?;
    let n = cache.len;
    // A byte loop: names are a few bytes, a memcmp call costs more.
    let same_iface = line
        .get(20..20 + n)?
        .iter()
        .zip(&cache.raw)
        .all(|(a, b)| a == b);
    if n == 0 || !same_iface || line.get(19) != Some(&b' ') || line.get(20 + n) != Some(&b' ') {
        return None;
    }
    let tok = line.get(21 + n..)?;
    let (Some(&[a, b, c]), Some(b'#'), Some(digits)) = (tok.get(..3), tok.get(3), tok.get(4..))
    else {
        return None;
    };
    if digits.len() > 2 * CAN_MAX_DLEN || !digits.len().is_multiple_of(2) {
        return None;
    }
    let (a, b, c) = (nib(a), nib(b), nib(c));
    let raw_id = (u16::from(a) << 8) | (u16::from(b) << 4) | u16::from(c);
    if (a | b | c) > 0x0F || u32::from(raw_id) > SFF_MAX {
        return None;
    }
    Some((ts, raw_id, digits))
}

/// A hex digit's value, 0xFF for anything else.
#[inline]
fn nib(c: u8) -> u8 {
    hex::nibble(c).unwrap_or(0xFF)
}

/// The frame of the most common line of all, whose header [`common_header`]
/// read: `true` when the data digits are all hex, `false`, with `out`
/// untouched, otherwise (the line then goes to [`parse_line_into`], which
/// reads it or rejects it with its message). Gives exactly the frame
/// `parse_line_into` gives for the lines it takes.
#[inline]
pub(crate) fn common_frame(
    ts: u64,
    raw_id: u16,
    digits: &[u8],
    cache: &IfaceCache,
    out: &mut CanFrame,
) -> bool {
    // Each pair decodes on its own (no chain through one accumulator).
    let mut data = [0u8; CAN_MAX_DLEN];
    let mut bad = 0;
    for (pair, slot) in digits.chunks_exact(2).zip(data.iter_mut()) {
        if let [h, l] = pair {
            let (h, l) = (nib(*h), nib(*l));
            bad |= h | l;
            *slot = (h << 4) | (l & 0x0F);
        }
    }
    if bad > 0x0F {
        return false;
    }
    let Ok(mut frame) = classic_of_len(CanId::Standard(raw_id), &data, digits.len() / 2) else {
        return false;
    };
    frame.timestamp_us = ts;
    frame.iface = cache.name;
    *out = frame;
    true
}

/// True when the data digits of a line [`common_header`] read are all hex:
/// the line is then checked as fully as [`common_frame`] checks it, for
/// frames a consumer only counts.
#[inline]
pub(crate) fn common_digits_ok(digits: &[u8]) -> bool {
    digits.iter().all(|c| nib(*c) <= 0x0F)
}

/// Decodes data digits into `out`; tolerates lib.c's optional `.` between
/// bytes. Returns the byte count or the error for `frame`.
#[inline]
fn decode_data(
    digits: &[u8],
    max: usize,
    frame: &[u8],
    out: &mut [u8; CANFD_MAX_DLEN],
) -> Result<usize, LineError> {
    let bytes = digits.len() / 2;
    if digits.len().is_multiple_of(2) && bytes <= max {
        if let Some(n) = hex::decode_into(digits, out) {
            return Ok(n);
        }
    }
    // Off the hot path: separators, or an error to describe.
    if digits.contains(&b'.') {
        let mut packed = [0u8; 2 * CANFD_MAX_DLEN + 2];
        let mut n = 0;
        for &c in digits.iter().filter(|c| **c != b'.') {
            match packed.get_mut(n) {
                Some(slot) => *slot = c,
                // More digits than any frame holds: report the count.
                None => {
                    return Err(too_long(max, digits.len() / 2, frame));
                }
            }
            n += 1;
        }
        return decode_data(packed.get(..n).unwrap_or_default(), max, frame, out);
    }
    if !digits.len().is_multiple_of(2) {
        return Err(LineError::OddDigits {
            count: digits.len(),
            frame: Found::of(frame),
        });
    }
    if bytes > max {
        return Err(too_long(max, bytes, frame));
    }
    Err(LineError::BadDataHex {
        frame: Found::of(frame),
    })
}

fn too_long(max: usize, bytes: usize, frame: &[u8]) -> LineError {
    if max == CAN_MAX_DLEN {
        LineError::ClassicTooLong {
            bytes,
            frame: Found::of(frame),
        }
    } else {
        LineError::FdTooLong {
            bytes,
            frame: Found::of(frame),
        }
    }
}

/// Exactly 16 hex digits as 8 bytes; `None` otherwise.
#[inline]
fn decode8(digits: &[u8]) -> Option<[u8; 8]> {
    let digits: &[u8; 16] = digits.try_into().ok()?;
    let mut v = 0u64;
    let mut bad = 0u8;
    for &c in digits {
        let n = hex::nibble(c).unwrap_or(0xFF);
        bad |= n;
        v = (v << 4) | u64::from(n & 0x0F);
    }
    (bad <= 0x0F).then(|| v.to_be_bytes())
}

/// Parses the frame field (`123#0102`, `123##1AA`, `123#R`, ...).
#[inline]
fn parse_frame(tok: &[u8], out: &mut CanFrame) -> Result<(), LineError> {
    // The id is 3 or 8 digits, so '#' is at index 3 or 8.
    let hash = if tok.get(3) == Some(&b'#') {
        3
    } else if tok.get(8) == Some(&b'#') {
        8
    } else {
        return Err(match tok.iter().position(|c| *c == b'#') {
            Some(digits) => LineError::IdLength {
                digits,
                frame: Found::of(tok),
            },
            None => LineError::MissingHash {
                frame: Found::of(tok),
            },
        });
    };
    let raw_id = tok
        .get(..hash)
        .and_then(hex::parse_u32)
        .ok_or_else(|| LineError::BadIdHex {
            frame: Found::of(tok),
        })?;
    let body = tok.get(hash + 1..).unwrap_or_default();
    let mut is_error = false;
    let id = if hash == 3 {
        CanId::standard(raw_id).ok_or_else(|| LineError::SffTooLarge {
            id: raw_id,
            frame: Found::of(tok),
        })?
    } else if raw_id & !CAN_ERR_MASK == CAN_ERR_FLAG {
        is_error = true;
        CanId::Extended(raw_id & CAN_ERR_MASK)
    } else if raw_id <= EFF_MAX {
        CanId::Extended(raw_id)
    } else {
        return Err(LineError::EffTooLarge {
            id: raw_id,
            frame: Found::of(tok),
        });
    };
    let mut data = [0u8; CANFD_MAX_DLEN];
    match body.first() {
        Some(b'R' | b'r') => {
            if is_error {
                return Err(LineError::BadErrorFrame {
                    frame: Found::of(tok),
                });
            }
            let bad = || LineError::BadRemote {
                frame: Found::of(tok),
            };
            let (dlc, len8) = match body.get(1..).unwrap_or_default() {
                [] => (0, None),
                [d] => (hex::nibble(*d).filter(|v| *v <= 8).ok_or_else(bad)?, None),
                [b'8', b'_', raw] => {
                    let raw = hex::nibble(*raw).filter(|v| *v > 8).ok_or_else(bad)?;
                    (8, Some(raw))
                }
                _ => return Err(bad()),
            };
            *out = CanFrame::remote(id, dlc, len8).map_err(|_| bad())?;
            Ok(())
        }
        Some(b'#') => {
            if is_error {
                return Err(LineError::BadErrorFrame {
                    frame: Found::of(tok),
                });
            }
            let flags =
                body.get(1)
                    .and_then(|c| hex::nibble(*c))
                    .ok_or_else(|| LineError::BadFdFlags {
                        frame: Found::of(tok),
                    })?;
            let digits = body.get(2..).unwrap_or_default();
            let n = decode_data(digits, CANFD_MAX_DLEN, tok, &mut data)?;
            if !is_valid_fd_len(n) {
                return Err(LineError::FdBadLength {
                    bytes: n,
                    frame: Found::of(tok),
                });
            }
            *out = CanFrame::fd(id, data.get(..n).unwrap_or_default(), flags).map_err(|_| {
                LineError::FdBadLength {
                    bytes: n,
                    frame: Found::of(tok),
                }
            })?;
            Ok(())
        }
        _ => {
            let (digits, raw_dlc) = match body.iter().position(|c| *c == b'_') {
                Some(p) => (
                    body.get(..p).unwrap_or_default(),
                    Some(body.get(p + 1..).unwrap_or_default()),
                ),
                None => (body, None),
            };
            // The most common frame of all: 8 plain data bytes. Decoded in a
            // register so the frame is written with whole words (byte
            // stores read back as a word stall the store buffer).
            if let (None, false, Some(eight)) = (raw_dlc, is_error, decode8(digits)) {
                *out = CanFrame::classic(id, &eight).map_err(|_| too_long(CAN_MAX_DLEN, 8, tok))?;
                return Ok(());
            }
            let n = decode_data(digits, CAN_MAX_DLEN, tok, &mut data)?;
            let payload = data.get(..n).unwrap_or_default();
            *out = match raw_dlc {
                None if is_error => {
                    CanFrame::error(raw_id & CAN_ERR_MASK, payload).map_err(|_| {
                        LineError::BadErrorFrame {
                            frame: Found::of(tok),
                        }
                    })?
                }
                // The common 8-byte frame with a constant length lets the
                // copy into the frame compile to one move, not a memcpy call.
                None => match data.first_chunk::<CAN_MAX_DLEN>() {
                    Some(eight) if n == CAN_MAX_DLEN => CanFrame::classic(id, eight),
                    _ => CanFrame::classic(id, payload),
                }
                .map_err(|_| too_long(CAN_MAX_DLEN, n, tok))?,
                Some(_) if is_error => {
                    return Err(LineError::BadErrorFrame {
                        frame: Found::of(tok),
                    })
                }
                Some(raw) => {
                    let bad = || LineError::BadRawDlc {
                        frame: Found::of(tok),
                    };
                    let dlc = match raw {
                        [d] => hex::nibble(*d).filter(|v| *v > 8).ok_or_else(bad)?,
                        _ => return Err(bad()),
                    };
                    CanFrame::classic_len8_dlc(id, payload, dlc).map_err(|_| bad())?
                }
            };
            Ok(())
        }
    }
}

/// Appends `v` in decimal, zero-padded to at least `width` digits.
#[inline]
fn push_decimal(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut n = 0;
    while v > 0 || n < width {
        if let Some(slot) = digits.get_mut(n) {
            *slot = b'0' + (v % 10) as u8;
        }
        v /= 10;
        n += 1;
        if n == digits.len() {
            break;
        }
    }
    out.extend(digits.get(..n).unwrap_or_default().iter().rev());
}

/// Appends the frame field only (`7B6#01BCA4`), as `snprintf_canframe` does
/// with no separator.
pub fn format_frame_field(frame: &CanFrame, out: &mut Vec<u8>) {
    match (frame.kind, frame.id) {
        (FrameKind::Error, id) => push_hex_id(out, id.raw() | CAN_ERR_FLAG, 8),
        (_, CanId::Extended(id)) => push_hex_id(out, id, 8),
        (_, CanId::Standard(id)) => push_hex_id(out, u32::from(id), 3),
    }
    out.push(b'#');
    match frame.kind {
        FrameKind::Remote { dlc, len8_dlc } => {
            out.push(b'R');
            // lib.c prints the DLC only when it is not zero.
            if dlc > 0 {
                out.push(hex::upper_digit(dlc));
                if let (8, Some(raw)) = (dlc, len8_dlc) {
                    out.push(b'_');
                    out.push(hex::upper_digit(raw));
                }
            }
        }
        FrameKind::Fd { flags } => {
            out.push(b'#');
            out.push(hex::upper_digit(flags));
            hex::push_upper(out, frame.data());
        }
        FrameKind::Classic { len8_dlc } => {
            hex::push_upper(out, frame.data());
            if let (8, Some(raw)) = (frame.len(), len8_dlc) {
                out.push(b'_');
                out.push(hex::upper_digit(raw));
            }
        }
        FrameKind::Error => hex::push_upper(out, frame.data()),
    }
}

#[inline]
fn push_hex_id(out: &mut Vec<u8>, id: u32, digits: u32) {
    for shift in (0..digits).rev() {
        out.push(hex::upper_digit((id >> (shift * 4)) as u8));
    }
}

/// Interface name written for a frame that has none (built in code, not
/// read from a capture): candump needs a field there.
pub const NO_IFACE: &str = "-";

/// Appends one candump log line for `frame`, with its `\n`: the bytes
/// `candump -L` / `candump -l` writes, `(%010llu.%06llu) iface frame[ T| R]`.
pub fn format_frame(frame: &CanFrame, out: &mut Vec<u8>) {
    out.push(b'(');
    push_decimal(out, frame.timestamp_us / 1_000_000, 10);
    out.push(b'.');
    push_decimal(out, frame.timestamp_us % 1_000_000, 6);
    out.extend_from_slice(b") ");
    let iface = frame.iface.as_str();
    out.extend_from_slice(if iface.is_empty() { NO_IFACE } else { iface }.as_bytes());
    out.push(b' ');
    format_frame_field(frame, out);
    match frame.direction {
        Some(Direction::Tx) => out.extend_from_slice(b" T"),
        Some(Direction::Rx) => out.extend_from_slice(b" R"),
        None => {}
    }
    out.push(b'\n');
}

/// Writes a candump log: frames and `# ` comment lines. Buffers a line at a
/// time in one reused allocation; wrap `W` in a `BufWriter` for files.
pub struct CandumpWriter<W: Write> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write> CandumpWriter<W> {
    pub fn new(w: W) -> Self {
        CandumpWriter {
            out: w,
            line: Vec::with_capacity(256),
        }
    }

    /// Writes `# text`; a multi-line text becomes several comment lines so
    /// the log stays one record per line.
    pub fn comment(&mut self, text: &str) -> io::Result<()> {
        for part in text.split('\n') {
            let part = part.trim_end_matches('\r');
            // An empty comment is a bare "#", as a reader strips "# " or "#".
            self.out
                .write_all(if part.is_empty() { b"#" } else { b"# " })?;
            self.out.write_all(part.as_bytes())?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    pub fn frame(&mut self, f: &CanFrame) -> io::Result<()> {
        self.line.clear();
        format_frame(f, &mut self.line);
        self.out.write_all(&self.line)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The longest a frame handed to a [`LogThread`] waits before it is flushed
/// to the file while frames keep coming (on a quiet bus it is flushed at once).
pub const FLUSH_WITHIN: Duration = Duration::from_millis(100);
/// Frames a [`LogThread`] holds before `frame` waits for the file.
const LOG_QUEUE: usize = 16 * 1024;

/// A candump log written on its own thread, for a live run: `frame` only
/// hands the frame over, so the thread reading the bus never waits for the
/// disk. The writer thread writes whole lines, and flushes whenever it has
/// caught up with the frames handed to it, or after [`FLUSH_WITHIN`] while
/// they keep coming: the file lags the bus by at most that, a process
/// killed outright leaves only whole lines, and a saturated bus costs one
/// write per buffer of lines, not one per frame. Dropping it writes what is
/// left and waits for the thread.
pub struct LogThread {
    tx: Option<mpsc::SyncSender<LogLine>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// What the writer thread writes: a frame, or a `# ` comment line between
/// frames (a press the person told the tool about).
enum LogLine {
    Frame(CanFrame),
    Comment(String),
}

impl LogThread {
    pub fn spawn<W: Write + Send + 'static>(mut log: CandumpWriter<W>) -> LogThread {
        let (tx, rx) = mpsc::sync_channel::<LogLine>(LOG_QUEUE);
        let thread = std::thread::spawn(move || {
            let write = |log: &mut CandumpWriter<W>, line: LogLine| match line {
                LogLine::Frame(f) => log.frame(&f),
                LogLine::Comment(c) => log.comment(&c),
            };
            while let Ok(line) = rx.recv() {
                write(&mut log, line)?;
                let since = Instant::now();
                // What else is already queued, up to the flush bound.
                while since.elapsed() < FLUSH_WITHIN {
                    match rx.try_recv() {
                        Ok(line) => write(&mut log, line)?,
                        Err(_) => break,
                    }
                }
                log.flush()?;
            }
            log.flush()
        });
        LogThread {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Queues a frame; an error once the writer thread has stopped (a write
    /// failed: [`finish`](Self::finish) says why).
    pub fn frame(&self, f: &CanFrame) -> io::Result<()> {
        self.send(LogLine::Frame(*f))
    }

    /// Queues a `# text` line after the frames queued so far.
    pub fn comment(&self, text: &str) -> io::Result<()> {
        self.send(LogLine::Comment(text.to_owned()))
    }

    fn send(&self, line: LogLine) -> io::Result<()> {
        match &self.tx {
            Some(tx) => tx
                .send(line)
                .map_err(|_| io::Error::other("the recording's writer stopped")),
            None => Err(io::Error::other("the recording is closed")),
        }
    }

    /// Writes every frame queued, flushes, and returns the first write error.
    pub fn finish(mut self) -> io::Result<()> {
        self.close()
    }

    fn close(&mut self) -> io::Result<()> {
        self.tx = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("the recording's writer panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for LogThread {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!("the recording could not be completed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{CANFD_BRS, CANFD_ESI};
    use proptest::prelude::*;

    fn line_of(f: &CanFrame) -> String {
        let mut out = Vec::new();
        format_frame(f, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn parse(s: &str) -> CanFrame {
        parse_line(s.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn reads_and_writes_every_frame_form_as_lib_c_does() {
        // (line, what the reader must see) — data-driven from lib.c's forms.
        let cases = [
            "(1795248560.598478) vcan0 7B6#01BCA4\n",
            "(0000000001.000001) can0 123#\n",
            "(1795248560.598478) can0 18DAF110#0210030000000000\n",
            "(1795248560.598478) can0 123#R\n",
            "(1795248560.598478) can0 5E9#R8\n",
            "(1795248560.598478) can0 5E9#R8_F\n",
            "(1795248560.598478) can0 12345678#R3\n",
            "(1795248560.598478) can0 456##5AABBCCDDEEFF001122334455\n",
            "(1795248560.598478) can0 456##0\n",
            "(1795248560.598478) can0 456##4\n",
            "(1795248560.598478) can0 123#1122334455667788_E\n",
            "(1795248560.598478) can0 20000004#0004000000000000\n",
            "(1795248560.598478) can0 123#11 T\n",
            "(1795248560.598478) can0 123#11 R\n",
        ];
        for case in cases {
            let f = parse(case.trim_end());
            assert_eq!(line_of(&f), case, "round trip of {case:?}");
        }
        let f = parse("(1795248560.598478) vcan0 7B6#01BCA4");
        assert_eq!(f.timestamp_us, 1_795_248_560_598_478);
        assert_eq!(f.iface.as_str(), "vcan0");
        assert_eq!(f.id, CanId::Standard(0x7B6));
        assert_eq!(f.data(), &[0x01, 0xBC, 0xA4]);
        let f = parse("(1.0) can0 456##3AABB");
        assert_eq!(
            f.kind,
            FrameKind::Fd {
                flags: CANFD_BRS | CANFD_ESI
            }
        );
        let f = parse("(1.0) can0 20000004#0004000000000000");
        assert!(f.is_error());
        assert_eq!(f.id, CanId::Extended(4));
        let f = parse("(1.0) can0 5E9#R8_F");
        assert_eq!(
            f.kind,
            FrameKind::Remote {
                dlc: 8,
                len8_dlc: Some(0xF)
            }
        );
    }

    #[test]
    fn accepts_what_lib_c_accepts_and_normalises_it() {
        assert_eq!(
            line_of(&parse("(1.5) can0 7b6#01bca4")),
            "(0000000001.500000) can0 7B6#01BCA4\n"
        );
        assert_eq!(
            line_of(&parse("(1.000000)  can0  7B6#01.BC.A4\r")),
            "(0000000001.000000) can0 7B6#01BCA4\n"
        );
        assert_eq!(
            line_of(&parse("(1.000000) can0 7B6#R0")),
            "(0000000001.000000) can0 7B6#R\n"
        );
        assert_eq!(parse("(1.123456789) can0 7B6#").timestamp_us, 1_123_456);
    }

    #[test]
    fn skips_lines_canplayer_skips() {
        for line in ["", "# comment", "hello", " (1.0) can0 123#", "\r"] {
            assert_eq!(parse_line(line.as_bytes()), Ok(None), "{line:?}");
        }
    }

    #[test]
    fn malformed_lines_say_what_was_expected() {
        let cases: &[(&str, &str)] = &[
            (
                "(1.0) can0 123#1122334",
                "expected 2 hex digits per data byte, found odd count 7 in \"123#1122334\"",
            ),
            (
                "(1.0) can0 123#112233445566778899",
                "at most 8 data bytes on a classic frame, found 9",
            ),
            ("(1.0) can0 123##", "hex flags digit"),
            ("(1.0) can0 123##G00", "hex flags digit"),
            ("(1.0) can0 123##0112233445566778899", "CAN FD length"),
            (
                &format!("(1.0) can0 123##0{}", "00".repeat(65)),
                "at most 64 data bytes",
            ),
            (
                "(1.0) can0 1234#00",
                "3-digit (11-bit) or 8-digit (29-bit) id, found 4 digits",
            ),
            ("(1.0) can0 800#00", "at most 7FF, found 800"),
            ("(1.0) can0 40000000#00", "at most 1FFFFFFF"),
            ("(1.0) can0 12G#00", "hex digits in the id"),
            ("(1.0) can0 123#0G", "hex digits in the data"),
            ("(1.0) can0 1230011", "expected '#'"),
            ("(1.0) can0", "found end of line"),
            ("(1.0", "timestamp"),
            ("(1.0)can0 123#", "timestamp"),
            ("(x.0) can0 123#", "timestamp"),
            ("(1.0) can0 123#R9", "'R' then an optional DLC"),
            ("(1.0) can0 123#R7_F", "'R' then an optional DLC"),
            ("(1.0) can0 123#11_F", "after exactly 8 data bytes"),
            ("(1.0) can0 123#1122334455667788_8", "raw DLC digit 9-F"),
            ("(1.0) can0 20000004#R", "error frame"),
            ("(1.0) can0 123#00 X", "\" T\" / \" R\""),
            (
                "(1.0) a-very-long-interface 123#00",
                "interface name of 1-15",
            ),
        ];
        for (line, want) in cases {
            let err = parse_line(line.as_bytes()).expect_err(line).to_string();
            assert!(err.contains(want), "{line:?}: {err:?} lacks {want:?}");
        }
    }

    #[test]
    fn writer_writes_comments_and_frames() {
        let mut w = CandumpWriter::new(Vec::new());
        w.comment("session start\nsecond").unwrap();
        let f = CanFrame::classic(CanId::Standard(0x641), &[0x02, 0x10, 0x03])
            .unwrap()
            .at(5);
        w.frame(&f).unwrap();
        w.flush().unwrap();
        assert_eq!(
            String::from_utf8(w.into_inner()).unwrap(),
            "# session start\n# second\n(0000000000.000005) - 641#021003\n"
        );
    }

    fn arb_frame() -> impl Strategy<Value = CanFrame> {
        let id = prop_oneof![
            (0u32..=0x7FF).prop_map(|i| CanId::Standard(i as u16)),
            (0u32..=EFF_MAX).prop_map(CanId::Extended),
        ];
        let kind = prop_oneof![
            (proptest::collection::vec(any::<u8>(), 0..=8)).prop_map(|d| (0u8, d, None::<u8>)),
            (proptest::collection::vec(any::<u8>(), 8..=8), 9u8..=15).prop_map(|(d, r)| (
                1,
                d,
                Some(r)
            )),
            (0u8..=8, proptest::option::of(9u8..=15)).prop_map(|(dlc, r)| (2, vec![dlc], r)),
            (0usize..16, 0u8..16, any::<[u8; 64]>()).prop_map(|(li, fl, d)| {
                let len = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64][li];
                (3, d[..len].to_vec(), Some(fl))
            }),
            (
                0u32..=CAN_ERR_MASK,
                proptest::collection::vec(any::<u8>(), 0..=8)
            )
                .prop_map(|(c, d)| (4, [c.to_be_bytes().to_vec(), d].concat(), None)),
        ];
        (id, kind, any::<u64>(), 0usize..3, 0usize..3).prop_map(|(id, (k, d, x), ts, dir, ifc)| {
            let f = match k {
                0 => CanFrame::classic(id, &d).unwrap(),
                1 => CanFrame::classic_len8_dlc(id, &d, x.unwrap()).unwrap(),
                2 => CanFrame::remote(id, d[0], if d[0] == 8 { x } else { None }).unwrap(),
                3 => CanFrame::fd(id, &d, x.unwrap()).unwrap(),
                _ => {
                    let class = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
                    CanFrame::error(class, &d[4..]).unwrap()
                }
            };
            let mut f = f
                .at(ts % 100_000_000_000_000_000)
                .on(IfName::new(["can0", "vcan12", "x"][ifc]).unwrap());
            f.direction = [None, Some(Direction::Tx), Some(Direction::Rx)][dir];
            f
        })
    }

    proptest! {
        #[test]
        fn format_then_parse_gives_the_same_frame(f in arb_frame()) {
            let mut out = Vec::new();
            format_frame(&f, &mut out);
            prop_assert_eq!(out.last(), Some(&b'\n'));
            let back = parse_line(&out[..out.len() - 1]).unwrap().unwrap();
            prop_assert_eq!(back, f);
        }

        #[test]
        fn parse_line_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_line(&bytes);
        }

        #[test]
        fn parse_line_never_panics_on_near_misses(
            frame in "[0-9A-Fa-f#Rr_.]{0,40}", tail in "( [TRX ])?", ts in "\\([0-9]{0,12}\\.?[0-9]{0,10}\\)?"
        ) {
            let line = format!("{ts} can0 {frame}{tail}");
            let _ = parse_line(line.as_bytes());
        }
    }
}
