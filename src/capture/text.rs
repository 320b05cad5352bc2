//! Pieces the text capture readers and writers (ASC, TRC, CSV) share:
//! blank-separated tokens, decimal times, hex and decimal fields, calendar
//! dates, channel names. No allocation on the success path.

use super::parse_error::{Found, IdRangeError, RecordError};
use crate::frame::{CanFrame, CanId, FrameError, IfName};

/// The error class given to error frames of formats that do not carry one
/// (ASC `ErrorFrame`, TRC `ER`, BLF `CAN_ERROR_EXT`): SocketCAN's
/// "protocol violation" (`CAN_ERR_PROT`).
pub(crate) const ERROR_CLASS: u32 = 0x0000_0008;

/// A line without a trailing `\r`.
#[inline]
pub(crate) fn strip_cr(line: &[u8]) -> &[u8] {
    match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    }
}

/// Splits a line on spaces and tabs.
pub(crate) struct Tokens<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Tokens<'a> {
    #[inline]
    pub(crate) fn new(line: &'a [u8]) -> Tokens<'a> {
        Tokens { line, pos: 0 }
    }

    /// The rest of the line after the blanks that follow the last token.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        while self
            .line
            .get(self.pos)
            .is_some_and(|c| *c == b' ' || *c == b'\t')
        {
            self.pos += 1;
        }
        self.line.get(self.pos..).unwrap_or_default()
    }
}

impl Tokens<'_> {
    /// The common layout of data bytes, `HH HH HH` (one blank between
    /// pairs), read in one pass into `buf`: `false`, with nothing consumed,
    /// for anything else (the token-by-token path then reads it or says what
    /// is wrong).
    #[inline]
    fn hex_pairs(&mut self, n: usize, buf: &mut [u8; 64]) -> bool {
        let start = self.rest_start();
        let Some(rest) = self.line.get(start..) else {
            return false;
        };
        let mut bad = 0u8;
        for (i, slot) in buf.iter_mut().take(n).enumerate() {
            let (Some(&h), Some(&l)) = (rest.get(3 * i), rest.get(3 * i + 1)) else {
                return false;
            };
            // Each pair ends the line or is followed by one blank.
            if rest
                .get(3 * i + 2)
                .is_some_and(|c| *c != b' ' && *c != b'\t')
            {
                return false;
            }
            let (h, l) = (nib(h), nib(l));
            bad |= h | l;
            *slot = (h << 4) | (l & 0x0F);
        }
        if bad > 0x0F {
            return false;
        }
        self.pos = start + (3 * n).saturating_sub(1);
        true
    }

    /// Where the next token (or the end) starts.
    #[inline]
    fn rest_start(&self) -> usize {
        let mut i = self.pos;
        while self.line.get(i).is_some_and(|c| *c == b' ' || *c == b'\t') {
            i += 1;
        }
        i
    }
}

/// A hex digit's value, 0xFF for anything else.
#[inline]
fn nib(c: u8) -> u8 {
    crate::hex::nibble(c).unwrap_or(0xFF)
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let mut i = self.pos;
        while self.line.get(i).is_some_and(|c| *c == b' ' || *c == b'\t') {
            i += 1;
        }
        let start = i;
        while self.line.get(i).is_some_and(|c| *c != b' ' && *c != b'\t') {
            i += 1;
        }
        self.pos = i;
        (i > start).then(|| self.line.get(start..i).unwrap_or_default())
    }
}

/// The error of a field that does not hold what was `expected`.
#[cold]
pub(crate) fn bad_field(expected: &'static str, found: &[u8]) -> RecordError {
    RecordError::Field {
        expected,
        found: Found::of(found),
    }
}

/// A decimal `I` or `I.F` (at most 9 fraction digits) in units of
/// `unit_us` microseconds, as whole microseconds (the fraction below a
/// microsecond is dropped).
#[inline]
pub(crate) fn decimal_us(tok: &[u8], unit_us: u64) -> Option<u64> {
    let (int, frac) = match tok.iter().position(|c| *c == b'.') {
        Some(p) => (tok.get(..p)?, tok.get(p + 1..)?),
        None => (tok, &[][..]),
    };
    if int.is_empty() || frac.len() > 9 {
        return None;
    }
    let whole = decimal(int)?;
    let mut f: u64 = 0;
    for &c in frac {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        f = f * 10 + u64::from(d);
    }
    // f < 10^9, so f * unit_us stays in u64 for units up to 10^9 us.
    const POW10: [u64; 10] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
        1_000_000_000,
    ];
    let scale = *POW10.get(frac.len())?;
    let part = f.checked_mul(unit_us)? / scale;
    whole.checked_mul(unit_us)?.checked_add(part)
}

/// A run of decimal digits (at most 19), nothing else.
#[inline]
pub(crate) fn decimal(tok: &[u8]) -> Option<u64> {
    if tok.is_empty() || tok.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in tok {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    Some(v)
}

/// A run of 1-8 hex digits, nothing else.
#[inline]
pub(crate) fn hex_u32(tok: &[u8]) -> Option<u32> {
    if tok.is_empty() || tok.len() > 8 {
        return None;
    }
    let mut v: u32 = 0;
    for &c in tok {
        v = (v << 4) | u32::from(crate::hex::nibble(c)?);
    }
    Some(v)
}

/// A number in base 16 or 10 that fits `max`.
#[inline]
pub(crate) fn number(tok: &[u8], hex: bool, max: u32) -> Option<u32> {
    let v = if hex {
        hex_u32(tok)?
    } else {
        u32::try_from(decimal(tok)?).ok()?
    };
    (v <= max).then_some(v)
}

/// The id `raw` as 29-bit when `extended`, else 11-bit.
pub(crate) fn can_id(raw: u32, extended: bool) -> Result<CanId, IdRangeError> {
    if extended {
        CanId::extended(raw)
    } else {
        CanId::standard(raw)
    }
    .ok_or(IdRangeError { raw, extended })
}

/// The payload length of CAN FD DLC `dlc` (0-15).
pub(crate) fn fd_dlc_len(dlc: u32) -> usize {
    match dlc {
        0..=8 => dlc as usize,
        9 => 12,
        10 => 16,
        11 => 20,
        12 => 24,
        13 => 32,
        14 => 48,
        _ => 64,
    }
}

/// The CAN FD DLC of a valid FD payload length.
pub(crate) fn fd_len_dlc(len: usize) -> u8 {
    match len {
        0..=8 => len as u8,
        9..=12 => 9,
        13..=16 => 10,
        17..=20 => 11,
        21..=24 => 12,
        25..=32 => 13,
        33..=48 => 14,
        _ => 15,
    }
}

/// The classic frame of DLC `dlc` (0-15; 9-15 mean 8 bytes with that raw
/// DLC kept) and its bytes.
pub(crate) fn classic_frame(id: CanId, dlc: u32, data: &[u8]) -> Result<CanFrame, FrameError> {
    let frame = match data.first_chunk::<8>() {
        Some(eight) if dlc > 8 => CanFrame::classic_len8_dlc(id, eight, dlc as u8),
        // Constant-size copies (see candump's reader): a run-time length
        // is a memmove call per frame.
        _ if data.len() <= 8 => {
            let mut eight = [0u8; 8];
            for (slot, b) in eight.iter_mut().zip(data) {
                *slot = *b;
            }
            super::candump::classic_of_len(id, &eight, data.len())
        }
        _ => CanFrame::classic(id, data),
    };
    frame
}

/// Reads exactly `n` data bytes (each a token in base 16 or 10) into `buf`.
pub(crate) fn data_bytes(
    tokens: &mut Tokens<'_>,
    n: usize,
    hex: bool,
    buf: &mut [u8; 64],
) -> Result<(), RecordError> {
    if hex && tokens.hex_pairs(n, buf) {
        return Ok(());
    }
    for i in 0..n {
        let tok = tokens.next().ok_or(RecordError::DataBytes {
            expected: n,
            found: i,
        })?;
        let b = number(tok, hex, 0xFF).ok_or_else(|| bad_field("a data byte", tok))?;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b as u8;
        }
    }
    Ok(())
}

/// Puts `frame` into `out` with its time, interface and direction, set in
/// place (each copy of a whole frame is a measurable share of a line).
#[inline]
pub(crate) fn place(
    out: &mut CanFrame,
    frame: CanFrame,
    ts: u64,
    iface: IfName,
    direction: Option<crate::frame::Direction>,
) -> bool {
    *out = frame;
    out.timestamp_us = ts;
    out.iface = iface;
    out.direction = direction;
    true
}

/// Days from 1970-01-01 to the proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count from 1970-01-01 (`civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Microseconds since the UNIX epoch of a UTC calendar time; `None`
/// before 1970 or for fields out of range.
pub(crate) fn epoch_us(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> Option<u64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s);
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(u64::from(us))
}

pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
pub(crate) const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// Names frames of channel `n` of a file in format `prefix` (`asc1`,
/// `trc2`...), built once per channel: like `pcap<N>`, never mistaken for a
/// real interface.
pub(crate) struct ChannelNames {
    prefix: &'static str,
    names: Vec<Option<IfName>>,
}

impl ChannelNames {
    pub(crate) fn new(prefix: &'static str) -> ChannelNames {
        ChannelNames {
            prefix,
            names: Vec::new(),
        }
    }

    #[inline]
    pub(crate) fn get(&mut self, n: u32) -> IfName {
        let i = n as usize;
        if let Some(Some(name)) = self.names.get(i) {
            return *name;
        }
        let name = IfName::new(&format!("{}{n}", self.prefix)).unwrap_or_default();
        if i < 256 {
            if self.names.len() <= i {
                self.names.resize(i + 1, None);
            }
            if let Some(slot) = self.names.get_mut(i) {
                *slot = Some(name);
            }
        }
        name
    }
}

/// The frames `parse` reads from the lines of `text` (tests of the line
/// readers).
#[cfg(test)]
pub(crate) fn parse_lines(
    text: &str,
    mut parse: impl FnMut(&[u8], &mut CanFrame) -> Result<bool, RecordError>,
) -> Result<Vec<CanFrame>, RecordError> {
    let mut out = Vec::new();
    let mut f = super::candump::empty_frame();
    for line in text.lines() {
        if parse(line.as_bytes(), &mut f)? {
            out.push(f);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_to_microseconds() {
        assert_eq!(decimal_us(b"0.128080", 1_000_000), Some(128_080));
        assert_eq!(decimal_us(b"16.4", 1000), Some(16_400));
        assert_eq!(decimal_us(b"1059.900", 1000), Some(1_059_900));
        assert_eq!(decimal_us(b"3", 1_000_000), Some(3_000_000));
        assert_eq!(decimal_us(b"1.5x", 1000), None);
        assert_eq!(decimal_us(b".5", 1000), None);
    }

    #[test]
    fn calendar_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2023, 11, 9), 19_670);
        for z in [-1000, 0, 19_670, 60_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(
            epoch_us(2023, 11, 9, 20, 29, 27, 0),
            Some(1_699_561_767_000_000)
        );
    }
}
