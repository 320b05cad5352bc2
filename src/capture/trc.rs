//! PEAK PCAN trace files (`.trc`, PCAN-View / PCAN-Explorer), file versions
//! 1.0, 1.1, 1.2, 1.3, 2.0 and 2.1, read; 2.1 written.
//!
//! Header lines start with `;`: `;$FILEVERSION=2.1` (absent in 1.0 files),
//! `;$STARTTIME=<days since 1899-12-30, fractional>`, `;$COLUMNS=N,O,T,...`
//! (2.1). Frame lines, after the header, per version (PEAK's "PCAN-Trace
//! file format" description):
//!
//! | version | columns                                                     |
//! |---------|-------------------------------------------------------------|
//! | 1.0     | `N) offset-ms id dlc data...`                               |
//! | 1.1     | `N) offset-ms Rx\|Tx\|Warng\|Error id dlc data...\|RTR`      |
//! | 1.2/1.3 | `N) offset-ms bus Rx\|Tx id [-] dlc data...\|RTR`            |
//! | 2.0     | `N offset-ms type id Rx\|Tx length data...`                 |
//! | 2.1     | as `$COLUMNS` says, by default `N O T B I d R L D`          |
//!
//! 2.x types: `DT` data, `FD` / `FB` (BRS) / `FE` (ESI) / `BI` (both) CAN FD,
//! `RR` remote, `ER` error frame; status and event lines (`ST`, `EC`, `EV`,
//! 1.x `Warng`) are skipped. An id of more than 4 digits is 29-bit. Times
//! are `$STARTTIME` plus the offset; frames of bus N are on `trcN`.

use std::io::{self, Write};

use super::parse_error::RecordError;
use super::text::{
    bad_field, can_id, classic_frame, data_bytes, decimal, decimal_us, fd_dlc_len, fd_len_dlc,
    hex_u32, place, strip_cr, ChannelNames, Tokens, ERROR_CLASS,
};
use crate::frame::{CanFrame, CanId, Direction, FrameKind, CANFD_BRS, CANFD_ESI};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    V1_0,
    V1_1,
    V1_2,
    V1_3,
    V2_0,
    V2_1,
}

/// Days between 1899-12-30 (the `$STARTTIME` origin) and 1970-01-01.
const EPOCH_DAYS: u64 = 25_569;
const MAX_COLUMNS: usize = 16;

pub(crate) struct TrcParser {
    version: Version,
    start_us: u64,
    /// 2.x column letters in order; `D` (data) is last.
    columns: [u8; MAX_COLUMNS],
    ncols: usize,
    names: ChannelNames,
}

impl Default for TrcParser {
    fn default() -> TrcParser {
        let mut p = TrcParser {
            version: Version::V1_0,
            start_us: 0,
            columns: [0; MAX_COLUMNS],
            ncols: 0,
            names: ChannelNames::new("trc"),
        };
        p.set_columns(b"N,O,T,B,I,d,R,L,D");
        p
    }
}

impl TrcParser {
    fn set_columns(&mut self, list: &[u8]) -> bool {
        let mut n = 0;
        for col in list.split(|c| *c == b',') {
            let [c] = col.trim_ascii() else { return false };
            if !b"NOTBIdRLlD".contains(c) || n == MAX_COLUMNS {
                return false;
            }
            if let Some(slot) = self.columns.get_mut(n) {
                *slot = *c;
            }
            n += 1;
        }
        self.ncols = n;
        n > 0 && self.columns.get(n - 1) == Some(&b'D') && list.contains(&b'O')
    }

    /// Reads one line into `out`; `Ok(true)` when it was a frame.
    #[inline]
    pub(crate) fn parse(&mut self, line: &[u8], out: &mut CanFrame) -> Result<bool, RecordError> {
        let line = strip_cr(line);
        let trimmed = line.trim_ascii_start();
        if trimmed.is_empty() {
            return Ok(false);
        }
        if trimmed.first() == Some(&b';') {
            return self.header(trimmed).map(|()| false);
        }
        if self.version >= Version::V2_0 {
            self.line_v2(trimmed, out)
        } else {
            self.line_v1(trimmed, out)
        }
    }

    fn header(&mut self, line: &[u8]) -> Result<(), RecordError> {
        let Some(rest) = line.strip_prefix(b";$") else {
            return Ok(());
        };
        let (key, value) = match rest.iter().position(|c| *c == b'=') {
            Some(p) => (
                rest.get(..p).unwrap_or_default(),
                rest.get(p + 1..).unwrap_or_default().trim_ascii(),
            ),
            None => return Ok(()),
        };
        match key {
            b"FILEVERSION" => {
                self.version = match value {
                    b"1.0" => Version::V1_0,
                    b"1.1" => Version::V1_1,
                    b"1.2" => Version::V1_2,
                    b"1.3" => Version::V1_3,
                    b"2.0" => {
                        self.set_columns(b"N,O,T,I,d,l,D");
                        Version::V2_0
                    }
                    b"2.1" => Version::V2_1,
                    other => {
                        return Err(bad_field(
                            "a PCAN trace file version 1.0, 1.1, 1.2, 1.3, 2.0 or 2.1",
                            other,
                        ))
                    }
                }
            }
            b"STARTTIME" => {
                self.start_us = start_time(value).ok_or_else(|| {
                    bad_field(
                        "$STARTTIME as days since 1899-12-30 like 45821.83488",
                        value,
                    )
                })?;
            }
            b"COLUMNS" if !self.set_columns(value) => {
                return Err(bad_field(
                    "$COLUMNS as letters of N,O,T,B,I,d,R,L,l,D ending in D",
                    value,
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn offset(&self, tok: &[u8]) -> Result<u64, RecordError> {
        decimal_us(tok, 1000)
            .map(|us| self.start_us.saturating_add(us))
            .ok_or_else(|| bad_field("a time offset in ms like 16.4", tok))
    }

    fn line_v1(&mut self, line: &[u8], out: &mut CanFrame) -> Result<bool, RecordError> {
        let mut t = Tokens::new(line);
        let n = t.next().unwrap_or_default();
        if n.last() != Some(&b')') {
            return Err(bad_field("a message number like \"12)\"", n));
        }
        let ts = self.offset(t.next().unwrap_or_default())?;
        let mut tok = t.next().unwrap_or_default();
        let mut bus = 1;
        if self.version >= Version::V1_2 {
            bus = decimal(tok).ok_or_else(|| bad_field("a bus number", tok))?;
            tok = t.next().unwrap_or_default();
        }
        let mut direction = None;
        let mut error = false;
        if self.version >= Version::V1_1 {
            match tok {
                b"Rx" => direction = Some(Direction::Rx),
                b"Tx" => direction = Some(Direction::Tx),
                b"Error" => error = true,
                // Warng (bus state) and other status lines.
                _ => return Ok(false),
            }
            tok = t.next().unwrap_or_default();
        }
        let iface = self.names.get(bus as u32);
        if error {
            return Ok(place(out, error_frame(), ts, iface, None));
        }
        let id = parse_id(tok)?;
        let Some(id) = id else {
            // 1.0 writes bus status as id FFFFFFFF.
            return Ok(false);
        };
        let mut len_tok = t.next().unwrap_or_default();
        if len_tok == b"-" {
            len_tok = t.next().unwrap_or_default();
        }
        let dlc = decimal(len_tok)
            .filter(|d| *d <= 8)
            .ok_or_else(|| bad_field("a data length 0-8", len_tok))? as usize;
        let mut rest = t;
        let frame = if rest.rest().starts_with(b"RTR") {
            CanFrame::remote(id, dlc as u8, None)?
        } else {
            let mut buf = [0u8; 64];
            data_bytes(&mut rest, dlc, true, &mut buf)?;
            classic_frame(id, dlc as u32, buf.get(..dlc).unwrap_or_default())?
        };
        Ok(place(out, frame, ts, iface, direction))
    }

    fn line_v2(&mut self, line: &[u8], out: &mut CanFrame) -> Result<bool, RecordError> {
        let mut t = Tokens::new(line);
        let (mut ts, mut kind, mut bus, mut id, mut dir, mut len) =
            (None, &b""[..], 1, &b""[..], None, None);
        let mut dlc_col = None;
        for i in 0..self.ncols {
            let col = self.columns.get(i).copied().unwrap_or(b'D');
            if col == b'D' {
                break;
            }
            let tok = t.next().ok_or(RecordError::TrcColumns {
                expected: self.ncols.saturating_sub(1),
                found: i,
            })?;
            match col {
                b'O' => ts = Some(self.offset(tok)?),
                b'T' => kind = tok,
                b'B' => bus = decimal(tok).ok_or_else(|| bad_field("a bus number", tok))?,
                b'I' => id = tok,
                b'd' => {
                    dir = match tok {
                        b"Rx" => Some(Direction::Rx),
                        b"Tx" => Some(Direction::Tx),
                        _ => None,
                    }
                }
                b'L' => dlc_col = Some(tok),
                b'l' => len = Some(tok),
                _ => {}
            }
        }
        let ts = ts.unwrap_or(self.start_us);
        let iface = self.names.get(bus as u32);
        let fd_flags = match kind {
            b"DT" | b"RR" | b"ER" => None,
            b"FD" => Some(0),
            b"FB" => Some(CANFD_BRS),
            b"FE" => Some(CANFD_ESI),
            b"BI" => Some(CANFD_BRS | CANFD_ESI),
            // ST, EC, EV and other status lines.
            _ => return Ok(false),
        };
        if kind == b"ER" {
            return Ok(place(out, error_frame(), ts, iface, None));
        }
        let id = parse_id(id)?.ok_or_else(|| bad_field("a CAN id", id))?;
        // The DLC (L) or the byte count (l).
        let (dlc, bytes) = match (dlc_col, len) {
            (Some(tok), _) => {
                let dlc = decimal(tok)
                    .filter(|d| *d <= 15)
                    .ok_or_else(|| bad_field("a DLC 0-15", tok))? as u32;
                let bytes = if fd_flags.is_some() {
                    fd_dlc_len(dlc)
                } else {
                    (dlc as usize).min(8)
                };
                (dlc, bytes)
            }
            (None, Some(tok)) => {
                let bytes = decimal(tok)
                    .filter(|l| *l <= 64)
                    .ok_or_else(|| bad_field("a data length 0-64", tok))?
                    as usize;
                (u32::from(fd_len_dlc(bytes)), bytes)
            }
            (None, None) => return Err(RecordError::TrcNoLength),
        };
        let frame = if kind == b"RR" {
            CanFrame::remote(id, dlc.min(8) as u8, None)?
        } else {
            let mut buf = [0u8; 64];
            data_bytes(&mut t, bytes, true, &mut buf)?;
            let data = buf.get(..bytes).unwrap_or_default();
            match fd_flags {
                Some(flags) => CanFrame::fd(id, data, flags)?,
                None => classic_frame(id, dlc, data)?,
            }
        };
        Ok(place(out, frame, ts, iface, dir))
    }
}

/// A hex id, 29-bit when written with more than 4 digits; `Ok(None)` for
/// 1.0's status id FFFFFFFF.
fn parse_id(tok: &[u8]) -> Result<Option<CanId>, RecordError> {
    let raw = hex_u32(tok).ok_or_else(|| bad_field("a hex CAN id", tok))?;
    if raw == 0xFFFF_FFFF {
        return Ok(None);
    }
    Ok(Some(can_id(raw, tok.len() > 4)?))
}

fn error_frame() -> CanFrame {
    CanFrame::error(ERROR_CLASS, &[0; 8]).unwrap_or_else(|_| super::candump::empty_frame())
}

/// `$STARTTIME` (days since 1899-12-30 with a fraction) in microseconds
/// since the UNIX epoch, rounded to the nearest microsecond.
fn start_time(value: &[u8]) -> Option<u64> {
    let (int, frac) = match value.iter().position(|c| *c == b'.') {
        Some(p) => (value.get(..p)?, value.get(p + 1..)?),
        None => (value, &[][..]),
    };
    let days = decimal(int)?;
    let frac = frac.get(..frac.len().min(18))?;
    let f = if frac.is_empty() { 0 } else { decimal(frac)? };
    let scale = 10u128.pow(frac.len() as u32);
    let day_us = 86_400_000_000u128;
    let frac_us = (u128::from(f) * day_us + scale / 2) / scale;
    let total = u128::from(days.checked_sub(EPOCH_DAYS)?) * day_us + frac_us;
    u64::try_from(total).ok()
}

/// `$STARTTIME` of a whole second since the UNIX epoch, exact enough (12
/// decimals) that [`start_time`] gives the second back.
fn format_start_time(secs: u64) -> String {
    let days = secs / 86_400 + EPOCH_DAYS;
    let frac = u128::from(secs % 86_400) * 1_000_000_000_000 / 86_400;
    format!("{days}.{frac:012}")
}

/// Writes a PCAN trace, file version 2.1: `$STARTTIME` at the first
/// frame's second, offsets in ms with microseconds, one bus per interface
/// in order of appearance (1, 2, ...).
pub struct TrcWriter<W: Write> {
    out: W,
    start_us: Option<u64>,
    n: u64,
    channels: super::sink::Channels,
    line: String,
}

impl<W: Write> TrcWriter<W> {
    pub fn new(out: W) -> TrcWriter<W> {
        TrcWriter {
            out,
            start_us: None,
            n: 0,
            channels: super::sink::Channels::new(1),
            line: String::with_capacity(256),
        }
    }

    fn start(&mut self, ts: u64) -> io::Result<u64> {
        if let Some(s) = self.start_us {
            return Ok(s);
        }
        let secs = ts / 1_000_000;
        write!(
            self.out,
            ";$FILEVERSION=2.1\n;$STARTTIME={}\n;$COLUMNS=N,O,T,B,I,d,R,L,D\n;\n\
             ;   Generated by trunkdiag\n;\n\
             ;   Message   Time    Type Bus ID       Rx/Tx\n\
             ;   Number    Offset  |    |   [hex]    |  Reserved\n\
             ;   |         [ms]    |    |   |        |  |  Data Length Code\n\
             ;   |         |       |    |   |        |  |  |    Data [hex] ...\n\
             ;---+-- ------+------ +- --+-- ----+--- +- +- +--- +- -- -- -- -- -- -- --\n",
            format_start_time(secs)
        )?;
        let s = secs * 1_000_000;
        self.start_us = Some(s);
        Ok(s)
    }
}

impl<W: Write> super::sink::FrameSink for TrcWriter<W> {
    fn comment(&mut self, text: &str) -> io::Result<()> {
        for part in text.lines() {
            writeln!(self.out, ";   {part}")?;
        }
        Ok(())
    }

    fn frame(&mut self, f: &CanFrame) -> io::Result<()> {
        use std::fmt::Write as _;
        let start = self.start(f.timestamp_us)?;
        let off = f.timestamp_us.saturating_sub(start);
        let bus = self.channels.of(f.iface);
        self.n += 1;
        let dir = if f.direction == Some(Direction::Tx) {
            "Tx"
        } else {
            "Rx"
        };
        let id = match f.id {
            CanId::Standard(i) => format!("{i:04X}"),
            CanId::Extended(i) => format!("{i:08X}"),
        };
        let (kind, dlc) = match f.kind {
            FrameKind::Classic { len8_dlc } => ("DT", len8_dlc.unwrap_or(f.len() as u8)),
            FrameKind::Remote { dlc, .. } => ("RR", dlc),
            FrameKind::Error => ("ER", 0),
            FrameKind::Fd { flags } => (
                match (flags & CANFD_BRS != 0, flags & CANFD_ESI != 0) {
                    (false, false) => "FD",
                    (true, false) => "FB",
                    (false, true) => "FE",
                    (true, true) => "BI",
                },
                fd_len_dlc(f.len()),
            ),
        };
        let l = &mut self.line;
        l.clear();
        let _ = write!(
            l,
            "{:>7} {:>9}.{:03} {kind} {bus:>2} {:>8} {dir} -  {dlc:<4}",
            self.n,
            off / 1000,
            off % 1000,
            if f.is_error() { "-" } else { &id }
        );
        if f.is_data() {
            for b in f.data() {
                let _ = write!(l, " {b:02X}");
            }
        }
        l.push('\n');
        self.out.write_all(l.as_bytes())
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.start_us.is_none() {
            self.start(0)?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(text: &str) -> Result<Vec<CanFrame>, RecordError> {
        let mut p = TrcParser::default();
        super::super::text::parse_lines(text, |line, f| p.parse(line, f))
    }

    #[test]
    fn reads_every_version() {
        let v10 = parse_all("     1)      1059.9  0300  8  00 00 00 00 04 00 00 00\n     2)  1060.0  FFFFFFFF  4  00 00 00 08\n").unwrap();
        assert_eq!(v10.len(), 1);
        assert_eq!(v10[0].timestamp_us, 1_059_900);
        let v11 = parse_all(";$FILEVERSION=1.1\n;$STARTTIME=25569.5\n     1)        16.4  Rx         0215  2  00 00 \n     2)  17.0  Tx  18DAF110  3  RTR\n     3)  18.0  Warng  FFFFFFFF  4  00 00 00 08 BUSHEAVY\n").unwrap();
        assert_eq!(v11.len(), 2);
        assert_eq!(v11[0].timestamp_us, 43_200_000_000 + 16_400);
        assert_eq!(
            v11[1].kind,
            FrameKind::Remote {
                dlc: 3,
                len8_dlc: None
            }
        );
        assert_eq!(v11[1].id, CanId::Extended(0x18DA_F110));
        let v13 =
            parse_all(";$FILEVERSION=1.3\n     1)      1841.321 2  Rx        0001 -  2    AA BB\n")
                .unwrap();
        assert_eq!(v13[0].iface.as_str(), "trc2");
        assert_eq!(v13[0].data(), &[0xAA, 0xBB]);
        let v20 = parse_all(";$FILEVERSION=2.0\n      1      1059.900 FB     0300 Rx 12   00 01 02 03 04 05 06 07 08 09 0A 0B\n      2      1060.000 ST  Rx 00 00 00 08\n").unwrap();
        assert_eq!(v20.len(), 1);
        assert_eq!(v20[0].kind, FrameKind::Fd { flags: CANFD_BRS });
        let v21 = parse_all(";$FILEVERSION=2.1\n;$COLUMNS=N,O,T,B,I,d,R,L,D\n      1      1.001 DT 1     0300 Rx -  2    01 02\n      2      2.000 BI 1 18DAF110 Tx -  9    00 01 02 03 04 05 06 07 08 09 0A 0B\n      3      3.000 RR 1     0123 Rx -  4\n      4      4.000 ER 1        - Rx -  0\n").unwrap();
        assert_eq!(v21.len(), 4);
        assert_eq!(v21[0].timestamp_us, 1001);
        assert_eq!(v21[1].len(), 12);
        assert_eq!(v21[1].direction, Some(Direction::Tx));
        assert!(v21[2].is_remote());
        assert!(v21[3].is_error());
    }

    #[test]
    fn unknown_version_and_bad_lines_are_errors() {
        let err = parse_all(";$FILEVERSION=3.0\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "expected a PCAN trace file version 1.0, 1.1, 1.2, 1.3, 2.0 or 2.1, found \"3.0\""
        );
        let err = parse_all(";$FILEVERSION=1.1\n     1)  16.4  Rx  0215  9  00\n").unwrap_err();
        assert!(matches!(&err, RecordError::Field { found, .. } if found.bytes() == b"9"));
        assert_eq!(err.to_string(), "expected a data length 0-8, found \"9\"");
    }

    #[test]
    fn start_time_round_trips_whole_seconds() {
        for secs in [0, 1, 1_749_844_933, 1_795_248_560] {
            let text = format_start_time(secs);
            assert_eq!(
                start_time(text.as_bytes()),
                Some(secs * 1_000_000),
                "{text}"
            );
        }
    }
}
