//! Vector ASC logs (CANalyzer / CANoe "ASCII logging"), read and written.
//!
//! Header lines: `date <time>`, `base hex|dec  timestamps absolute|relative`,
//! `[no] internal events logged`, `// comment`, `Begin Triggerblock`, `End
//! TriggerBlock`. Events start with a timestamp in seconds (relative to the
//! `date` line; to the previous event with `timestamps relative`):
//!
//! | line                                                  | frame            |
//! |-------------------------------------------------------|------------------|
//! | `0.128 1 594 Rx d 8 34 21 34 21 A0 61 04 20 ...`      | classic, 11-bit  |
//! | `0.128 1 18DAF110x Tx d 3 01 02 03`                   | classic, 29-bit  |
//! | `0.128 1 123 Rx r [dlc]`                              | remote           |
//! | `0.128 1 ErrorFrame ...`                              | error frame      |
//! | `0.128 CANFD 1 Rx 123 [name] brs esi dlc len data.. ... flags ...` | CAN FD (classic when the EDL flag 0x1000 is clear) |
//!
//! With `base dec` ids, DLCs and data bytes are decimal (an FD line's data
//! length always is). Other events (statistics, `TxRq`, markers) are
//! skipped. The `date` is read as UTC (the file does not say its zone);
//! without a readable date, times are the offsets themselves. A date after
//! `Begin Triggerblock` replaces the `date` line's. Frames of
//! channel N are on interface `ascN`.

use std::io::{self, Write};

use super::parse_error::{Found, RecordError};
use super::text::{
    bad_field, can_id, classic_frame, data_bytes, days_from_civil, decimal, decimal_us, epoch_us,
    fd_dlc_len, fd_len_dlc, number, place, strip_cr, ChannelNames, Tokens, ERROR_CLASS, MONTHS,
    WEEKDAYS,
};
use crate::frame::{CanFrame, CanId, Direction, FrameKind, CANFD_BRS, CANFD_ESI};

/// An ASC reader's state: what the header said.
pub(crate) struct AscParser {
    hex: bool,
    relative: bool,
    start_us: u64,
    /// The previous event's absolute time (relative timestamps).
    last_us: u64,
    names: ChannelNames,
}

impl Default for AscParser {
    fn default() -> AscParser {
        AscParser {
            hex: true,
            relative: false,
            start_us: 0,
            last_us: 0,
            names: ChannelNames::new("asc"),
        }
    }
}

/// EDL, BRS, ESI and RTR in the flags column of a `CANFD` line.
const FD_EDL: u32 = 0x1000;
const FD_RTR: u32 = 0x0010;

impl AscParser {
    /// Reads one line into `out`; `Ok(true)` when it was a frame.
    #[inline]
    pub(crate) fn parse(&mut self, line: &[u8], out: &mut CanFrame) -> Result<bool, RecordError> {
        let line = strip_cr(line);
        let mut t = Tokens::new(line);
        let Some(first) = t.next() else {
            return Ok(false);
        };
        if !first.first().is_some_and(u8::is_ascii_digit) {
            self.header(first, &mut t);
            return Ok(false);
        }
        let offset = decimal_us(first, 1_000_000)
            .ok_or_else(|| bad_field("a timestamp in seconds like \"1.234567\"", first))?;
        let ts = if self.relative {
            self.last_us.saturating_add(offset)
        } else {
            self.start_us.saturating_add(offset)
        };
        self.last_us = ts;
        let second = t.next().unwrap_or_default();
        if second.eq_ignore_ascii_case(b"CANFD") {
            self.fd_line(&mut t, ts, out)
        } else if let Some(ch) = decimal(second) {
            self.classic_line(ch as u32, &mut t, ts, out)
        } else {
            // Other events (`SV:`, `J1939TP`, markers...).
            Ok(false)
        }
    }

    fn header(&mut self, first: &[u8], t: &mut Tokens<'_>) {
        if first.eq_ignore_ascii_case(b"base") {
            let base = t.next().unwrap_or_default();
            self.hex = !base.eq_ignore_ascii_case(b"dec");
            if t.next()
                .is_some_and(|w| w.eq_ignore_ascii_case(b"timestamps"))
            {
                self.relative = t
                    .next()
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"relative"));
            }
        } else if first.eq_ignore_ascii_case(b"date")
            || (first.eq_ignore_ascii_case(b"begin")
                && t.next()
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"triggerblock")))
        {
            // Times count from the trigger block's start when it names one
            // (python-can writes the file's creation time as `date`).
            if let Some(us) = parse_date(t.rest()) {
                self.start_us = us;
                self.last_us = us;
            }
        }
    }

    /// `ch id[x] Rx|Tx d|r ...` or `ch ErrorFrame`; `Ok(false)` for other
    /// events of the channel.
    fn classic_line(
        &mut self,
        ch: u32,
        t: &mut Tokens<'_>,
        ts: u64,
        out: &mut CanFrame,
    ) -> Result<bool, RecordError> {
        let iface = self.names.get(ch);
        let Some(id_tok) = t.next() else {
            return Ok(false);
        };
        if id_tok.eq_ignore_ascii_case(b"ErrorFrame") {
            return Ok(place(out, error_frame(), ts, iface, None));
        }
        let Some(dir_tok) = t.next() else {
            return Ok(false);
        };
        let direction = match dir_tok {
            b"Rx" => Direction::Rx,
            b"Tx" => Direction::Tx,
            // TxRq (a transmit request, not a frame on the bus), statistics...
            _ => return Ok(false),
        };
        let id = self.id(id_tok)?;
        const KIND: &str = "'d' (data) or 'r' (remote) after the direction";
        let kind = t.next().ok_or(RecordError::EndOfLine { expected: KIND })?;
        let frame = match kind {
            b"d" | b"D" => {
                let dlc_tok = t.next().unwrap_or_default();
                let dlc = number(dlc_tok, self.hex, 15)
                    .ok_or_else(|| bad_field("a DLC 0-15 after 'd'", dlc_tok))?;
                let len = (dlc as usize).min(8);
                let mut buf = [0u8; 64];
                data_bytes(t, len, self.hex, &mut buf)?;
                classic_frame(id, dlc, buf.get(..len).unwrap_or_default())?
            }
            b"r" | b"R" => {
                let dlc = t.next().and_then(|d| number(d, self.hex, 8)).unwrap_or(0);
                CanFrame::remote(id, dlc as u8, None)?
            }
            other => return Err(bad_field(KIND, other)),
        };
        Ok(place(out, frame, ts, iface, Some(direction)))
    }

    /// `ch Rx|Tx id[x] [name] brs esi dlc len data... dur bits flags ...`.
    fn fd_line(
        &mut self,
        t: &mut Tokens<'_>,
        ts: u64,
        out: &mut CanFrame,
    ) -> Result<bool, RecordError> {
        let ch_tok = t.next().unwrap_or_default();
        let ch =
            decimal(ch_tok).ok_or_else(|| bad_field("a channel number after CANFD", ch_tok))?;
        let iface = self.names.get(ch as u32);
        let dir_tok = t.next().unwrap_or_default();
        let direction = match dir_tok {
            b"Rx" => Direction::Rx,
            b"Tx" => Direction::Tx,
            _ => return Ok(false),
        };
        let id_tok = t.next().unwrap_or_default();
        if id_tok.eq_ignore_ascii_case(b"ErrorFrame") {
            return Ok(place(out, error_frame(), ts, iface, None));
        }
        let id = self.id(id_tok)?;
        let mut brs_tok = t.next().unwrap_or_default();
        if decimal(brs_tok).is_none() {
            // A symbolic name from a database.
            brs_tok = t.next().unwrap_or_default();
        }
        let esi_tok = t.next().unwrap_or_default();
        let (Some(brs), Some(esi)) = (decimal(brs_tok), decimal(esi_tok)) else {
            return Err(RecordError::BrsEsi {
                brs: Found::of(brs_tok),
                esi: Found::of(esi_tok),
            });
        };
        let dlc_tok = t.next().unwrap_or_default();
        let dlc = number(dlc_tok, self.hex, 15).ok_or_else(|| bad_field("a DLC 0-F", dlc_tok))?;
        let len_tok = t.next().unwrap_or_default();
        let len = decimal(len_tok)
            .filter(|l| *l as usize == fd_dlc_len(dlc) || (*l as usize) < fd_dlc_len(dlc))
            .ok_or_else(|| RecordError::FdLength {
                dlc,
                max: fd_dlc_len(dlc),
                found: Found::of(len_tok),
            })? as usize;
        let mut buf = [0u8; 64];
        data_bytes(t, len, self.hex, &mut buf)?;
        let data = buf.get(..len).unwrap_or_default();
        // Message duration, bit count, then the flags (hex).
        let flags = t.nth(2).and_then(super::text::hex_u32);
        let frame = match flags {
            Some(f) if f & FD_EDL == 0 && f & FD_RTR != 0 => {
                CanFrame::remote(id, dlc.min(8) as u8, None)?
            }
            Some(f) if f & FD_EDL == 0 => classic_frame(id, dlc.min(8), data)?,
            _ => {
                let flags =
                    if brs == 1 { CANFD_BRS } else { 0 } | if esi == 1 { CANFD_ESI } else { 0 };
                CanFrame::fd(id, data, flags)?
            }
        };
        Ok(place(out, frame, ts, iface, Some(direction)))
    }

    fn id(&self, tok: &[u8]) -> Result<CanId, RecordError> {
        let (digits, extended) = match tok.split_last() {
            Some((b'x' | b'X', d)) => (d, true),
            _ => (tok, false),
        };
        let raw = number(digits, self.hex, u32::MAX).ok_or_else(|| {
            let expected = if self.hex {
                "an id in hex (with 'x' after a 29-bit one)"
            } else {
                "an id in decimal (with 'x' after a 29-bit one)"
            };
            bad_field(expected, tok)
        })?;
        Ok(can_id(raw, extended)?)
    }
}

fn error_frame() -> CanFrame {
    CanFrame::error(ERROR_CLASS, &[0; 8]).unwrap_or_else(|_| super::candump::empty_frame())
}

/// A `date` line's time in UTC: Vector's `Thu Nov 9 08:29:27.123 pm 2023`
/// (German day and month names are not read), or the RFC 2822-like `Thu,
/// 09 Nov 2023 20:29:27 GMT`.
fn parse_date(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    let (mut year, mut month, mut day, mut hms, mut pm, mut am) =
        (None, None, None, None, false, false);
    for tok in text.split_ascii_whitespace() {
        let tok = tok.trim_end_matches(',');
        if let Some(m) = MONTHS.iter().position(|m| tok.eq_ignore_ascii_case(m)) {
            month = Some(m as u32 + 1);
        } else if tok.contains(':') {
            let mut parts = tok.split(':');
            let h: u32 = parts.next()?.parse().ok()?;
            let m: u32 = parts.next()?.parse().ok()?;
            let s = parts.next().unwrap_or("0");
            let us = decimal_us(s.as_bytes(), 1_000_000)?;
            hms = Some((h, m, (us / 1_000_000) as u32, (us % 1_000_000) as u32));
        } else if tok.eq_ignore_ascii_case("pm") {
            pm = true;
        } else if tok.eq_ignore_ascii_case("am") {
            am = true;
        } else if let Ok(n) = tok.parse::<u32>() {
            if tok.len() == 4 {
                year = Some(i64::from(n));
            } else {
                day = Some(n);
            }
        }
    }
    let (mut h, m, s, us) = hms?;
    if pm && h < 12 {
        h += 12;
    } else if am && h == 12 {
        h = 0;
    }
    epoch_us(year?, month?, day?, h, m, s, us)
}

/// `Thu Nov 9 08:29:27.123 pm 2023` of UTC microseconds (truncated to ms).
fn format_date(us: u64) -> String {
    let secs = us / 1_000_000;
    let days = (secs / 86_400) as i64;
    let (y, mo, d) = civil_from_days_checked(days);
    let rem = secs % 86_400;
    let (h, mi, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    let (h12, ampm) = match h {
        0 => (12, "am"),
        1..=11 => (h, "am"),
        12 => (12, "pm"),
        _ => (h - 12, "pm"),
    };
    format!(
        "{} {} {d} {h12:02}:{mi:02}:{s:02}.{:03} {ampm} {y}",
        WEEKDAYS.get(days.rem_euclid(7) as usize).unwrap_or(&"Thu"),
        MONTHS.get(mo as usize - 1).unwrap_or(&"Jan"),
        us / 1000 % 1000
    )
}

fn civil_from_days_checked(days: i64) -> (i64, u32, u32) {
    let (y, m, d) = super::text::civil_from_days(days);
    debug_assert_eq!(days_from_civil(y, m, d), days);
    (y, m, d)
}

/// Writes an ASC log: `base hex  timestamps absolute`, times relative to
/// the `date` line (the first frame's time cut to the millisecond), one
/// channel per interface in order of appearance (1, 2, ...).
pub struct AscWriter<W: Write> {
    out: W,
    start_us: Option<u64>,
    channels: super::sink::Channels,
    line: String,
}

impl<W: Write> AscWriter<W> {
    pub fn new(out: W) -> AscWriter<W> {
        AscWriter {
            out,
            start_us: None,
            channels: super::sink::Channels::new(1),
            line: String::with_capacity(256),
        }
    }

    fn start(&mut self, ts: u64) -> io::Result<u64> {
        if let Some(s) = self.start_us {
            return Ok(s);
        }
        let s = ts / 1000 * 1000;
        let date = format_date(s);
        write!(
            self.out,
            "date {date}\nbase hex  timestamps absolute\ninternal events logged\n\
             // version 9.0.0\nBegin Triggerblock {date}\n"
        )?;
        self.start_us = Some(s);
        Ok(s)
    }
}

impl<W: Write> super::sink::FrameSink for AscWriter<W> {
    fn comment(&mut self, text: &str) -> io::Result<()> {
        for part in text.lines() {
            writeln!(self.out, "// {part}")?;
        }
        Ok(())
    }

    fn frame(&mut self, f: &CanFrame) -> io::Result<()> {
        use std::fmt::Write as _;
        let start = self.start(f.timestamp_us)?;
        let off = f.timestamp_us.saturating_sub(start);
        let ch = self.channels.of(f.iface);
        let dir = if f.direction == Some(Direction::Tx) {
            "Tx"
        } else {
            "Rx"
        };
        let l = &mut self.line;
        l.clear();
        let _ = write!(l, "{:>4}.{:06} ", off / 1_000_000, off % 1_000_000);
        let id = match f.id {
            CanId::Standard(i) => format!("{i:X}"),
            CanId::Extended(i) => format!("{i:X}x"),
        };
        match f.kind {
            FrameKind::Error => {
                let _ = write!(l, "{ch}  ErrorFrame");
            }
            FrameKind::Classic { len8_dlc } => {
                let dlc = len8_dlc.unwrap_or(f.len() as u8);
                let _ = write!(l, "{ch}  {id:<15} {dir:<4} d {dlc:X}");
                for b in f.data() {
                    let _ = write!(l, " {b:02X}");
                }
            }
            FrameKind::Remote { dlc, .. } => {
                let _ = write!(l, "{ch}  {id:<15} {dir:<4} r {dlc:X}");
            }
            FrameKind::Fd { flags } => {
                let brs = u8::from(flags & CANFD_BRS != 0);
                let esi = u8::from(flags & CANFD_ESI != 0);
                let fl =
                    FD_EDL | if brs == 1 { 0x2000 } else { 0 } | if esi == 1 { 0x4000 } else { 0 };
                let _ = write!(
                    l,
                    "CANFD {ch:>3} {dir:<4} {id:>8} {:>32} {brs} {esi} {:x} {:>2}",
                    "",
                    fd_len_dlc(f.len()),
                    f.len()
                );
                for b in f.data() {
                    let _ = write!(l, " {b:02X}");
                }
                let _ = write!(
                    l,
                    " {:>8} {:>4} {fl:>8X} {:>8} {:>8} {:>8} {:>8} {:>8}",
                    0, 0, 0, 0, 0, 0, 0
                );
            }
        }
        l.push('\n');
        self.out.write_all(l.as_bytes())
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.start_us.is_none() {
            // An empty log still says what it is.
            self.start(0)?;
        }
        self.out.write_all(b"End TriggerBlock\n")?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(text: &str) -> Result<Vec<CanFrame>, RecordError> {
        let mut p = AscParser::default();
        super::super::text::parse_lines(text, |line, f| p.parse(line, f))
    }

    #[test]
    fn reads_classic_extended_remote_error_and_fd_lines() {
        let log = "date Thu Nov 9 08:29:27.123 pm 2023\nbase hex  timestamps absolute\n\
            internal events logged\nBegin Triggerblock Thu Nov 9 08:29:27.123 pm 2023\n\
            0.000000 Start of measurement\n\
            1.500000 1  7DFx  Rx   d 3 02 01 0D  Length = 0 BitCount = 0 ID = 2015x\n\
            1.600000 2  123 Tx r 4\n\
            1.700000 1  ErrorFrame\n\
            1.800000 CANFD 1 Rx 18DAF110x  1 0 9 12 00 01 02 03 04 05 06 07 08 09 0A 0B 0 0 3000 0 0 0 0 0\n\
            1.900000 CANFD 1 Rx 7E8 Name 0 1 2 2 AA BB 0 0 0 0 0 0 0 0\n\
            End TriggerBlock\n";
        let frames = parse_all(log).unwrap();
        assert_eq!(frames.len(), 5);
        let start = epoch_us(2023, 11, 9, 20, 29, 27, 123_000).unwrap();
        assert_eq!(frames[0].timestamp_us, start + 1_500_000);
        assert_eq!(frames[0].id, CanId::Extended(0x7DF));
        assert_eq!(frames[0].data(), &[2, 1, 0x0D]);
        assert_eq!(frames[0].iface.as_str(), "asc1");
        assert_eq!(
            frames[1].kind,
            FrameKind::Remote {
                dlc: 4,
                len8_dlc: None
            }
        );
        assert_eq!(frames[1].direction, Some(Direction::Tx));
        assert!(frames[2].is_error());
        assert_eq!(frames[3].kind, FrameKind::Fd { flags: CANFD_BRS });
        assert_eq!(frames[3].len(), 12);
        assert_eq!(frames[4].kind, FrameKind::Classic { len8_dlc: None });
    }

    #[test]
    fn decimal_base_and_relative_timestamps() {
        let log = "base dec  timestamps relative\n1.0 1 291 Rx d 2 10 255\n0.5 1 291 Rx d 1 7\n";
        let f = parse_all(log).unwrap();
        assert_eq!(f[0].id, CanId::Standard(291));
        assert_eq!(f[0].data(), &[10, 255]);
        assert_eq!(f[1].timestamp_us, 1_500_000);
    }

    #[test]
    fn bad_dlc_is_an_error_naming_what_was_expected() {
        let err = parse_all("0.1 1 123 Rx d G 00\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected a DLC 0-15 after 'd', found \"G\""
        );
        assert!(matches!(&err, RecordError::Field { found, .. } if found.bytes() == b"G"));
        let err = parse_all("0.1 1 123 Rx d 4 00 01\n").unwrap_err();
        assert_eq!(
            err,
            RecordError::DataBytes {
                expected: 4,
                found: 2
            }
        );
        assert_eq!(err.to_string(), "expected 4 data bytes, found 2");
        let err = parse_all("0.1 1 800 Rx d 0\n").unwrap_err();
        assert_eq!(
            err,
            RecordError::Id(crate::capture::IdRangeError {
                raw: 0x800,
                extended: false
            })
        );
        assert_eq!(
            err.to_string(),
            "expected an 11-bit id of at most 7FF, found 800"
        );
    }

    #[test]
    fn dates_read_and_written_alike() {
        let us = epoch_us(2026, 11, 30, 13, 5, 9, 42_000).unwrap();
        let text = format_date(us);
        assert_eq!(text, "Mon Nov 30 01:05:09.042 pm 2026");
        assert_eq!(parse_date(text.as_bytes()), Some(us));
        assert_eq!(
            parse_date(b"Thu, 09 Nov 2023 20:29:27 GMT"),
            epoch_us(2023, 11, 9, 20, 29, 27, 0)
        );
    }
}
