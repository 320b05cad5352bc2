//! SavvyCAN / GVRET CSV logs: a header line naming the columns, then one
//! frame per line.
//!
//! `Time Stamp,ID,Extended,Bus,LEN,D1,D2,...,D8` (older files), `Time
//! Stamp,ID,Extended,Dir,Bus,LEN,D1...` (newer ones) or without the `Bus`
//! column. The time is in microseconds (a value with a `.` is read as
//! seconds), the id and data in hex, `Extended` is `true`/`false`, `Dir`
//! `Rx`/`Tx`. A length above 8 is a CAN FD frame. Columns are found by
//! their header names, so their order does not matter; frames of bus N are
//! on `csvN` (`csv0` without a bus column).

use super::parse_error::{CsvColumn, Found, RecordError};
use super::text::{bad_field, can_id, decimal, decimal_us, hex_u32, strip_cr, ChannelNames};
use crate::frame::{is_valid_fd_len, CanFrame, Direction};

/// Column positions, from the header.
#[derive(Default)]
struct Columns {
    time: usize,
    id: usize,
    extended: usize,
    dir: Option<usize>,
    bus: Option<usize>,
    len: usize,
    /// `D1`.
    data: usize,
}

pub(crate) struct CsvParser {
    columns: Option<Columns>,
    names: ChannelNames,
}

impl Default for CsvParser {
    fn default() -> CsvParser {
        CsvParser {
            columns: None,
            names: ChannelNames::new("csv"),
        }
    }
}

/// At most this many fields are looked at on a line (D64 of a CAN FD frame
/// after seven other columns).
const MAX_FIELDS: usize = 80;

impl CsvParser {
    /// Reads one line into `out`; `Ok(true)` when it was a frame.
    #[inline]
    pub(crate) fn parse(&mut self, line: &[u8], out: &mut CanFrame) -> Result<bool, RecordError> {
        let line = strip_cr(line);
        if line.trim_ascii().is_empty() {
            return Ok(false);
        }
        let Some(cols) = &self.columns else {
            self.columns = Some(header(line)?);
            return Ok(false);
        };
        let mut fields: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
        let mut n = 0;
        for (slot, f) in fields.iter_mut().zip(line.split(|c| *c == b',')) {
            *slot = f.trim_ascii();
            n += 1;
        }
        let missing = |i: usize, column: CsvColumn| RecordError::CsvMissingColumn {
            column,
            index: i + 1,
            fields: n,
        };
        let field = |i: usize, name: &'static str| -> Result<&[u8], RecordError> {
            if i < n {
                Ok(fields.get(i).copied().unwrap_or_default())
            } else {
                Err(missing(i, CsvColumn::Named(name)))
            }
        };
        let t = field(cols.time, "Time Stamp")?;
        let ts = if t.contains(&b'.') {
            decimal_us(t, 1_000_000)
        } else {
            decimal(t)
        }
        .ok_or_else(|| bad_field("a time stamp in microseconds", t))?;
        let id_tok = field(cols.id, "ID")?;
        let raw = hex_u32(id_tok).ok_or_else(|| bad_field("a hex ID", id_tok))?;
        let ext_tok = field(cols.extended, "Extended")?;
        let extended = if ext_tok.eq_ignore_ascii_case(b"true") {
            true
        } else if ext_tok.eq_ignore_ascii_case(b"false") {
            false
        } else {
            return Err(bad_field("Extended true or false", ext_tok));
        };
        let id = can_id(raw, extended)?;
        let bus = match cols.bus {
            Some(i) => {
                let b = field(i, "Bus")?;
                decimal(b).ok_or_else(|| bad_field("a bus number", b))?
            }
            None => 0,
        };
        let direction = match cols.dir {
            Some(i) => match field(i, "Dir")? {
                b"Tx" | b"tx" | b"TX" => Some(Direction::Tx),
                _ => Some(Direction::Rx),
            },
            None => None,
        };
        let len_tok = field(cols.len, "LEN")?;
        let len = decimal(len_tok)
            .filter(|l| *l <= 64 && is_valid_fd_len(*l as usize))
            .ok_or_else(|| bad_field("LEN 0-8 (or a CAN FD length up to 64)", len_tok))?
            as usize;
        let mut buf = [0u8; 64];
        for (i, slot) in buf.iter_mut().enumerate().take(len) {
            let col = cols.data + i;
            let d = match fields.get(col) {
                Some(d) if col < n => *d,
                _ => return Err(missing(col, CsvColumn::Data(i + 1))),
            };
            *slot = hex_u32(d)
                .filter(|b| *b <= 0xFF)
                .ok_or_else(|| RecordError::CsvDataByte {
                    column: i + 1,
                    found: Found::of(d),
                })? as u8;
        }
        let data = buf.get(..len).unwrap_or_default();
        let frame = if len > 8 {
            CanFrame::fd(id, data, 0)
        } else {
            CanFrame::classic(id, data)
        }?;
        let mut frame = frame.at(ts).on(self.names.get(bus as u32));
        frame.direction = direction;
        *out = frame;
        Ok(true)
    }
}

/// The column positions a header names; an error names the missing ones.
fn header(line: &[u8]) -> Result<Columns, RecordError> {
    let mut c = Columns::default();
    let mut found = [false; 5];
    for (i, name) in line.split(|c| *c == b',').enumerate() {
        let name = name.trim_ascii();
        let eq = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
        if eq("Time Stamp") {
            (c.time, found[0]) = (i, true);
        } else if eq("ID") {
            (c.id, found[1]) = (i, true);
        } else if eq("Extended") {
            (c.extended, found[2]) = (i, true);
        } else if eq("LEN") {
            (c.len, found[3]) = (i, true);
        } else if eq("D1") {
            (c.data, found[4]) = (i, true);
        } else if eq("Bus") {
            c.bus = Some(i);
        } else if eq("Dir") {
            c.dir = Some(i);
        }
    }
    let missing: Vec<&str> = ["Time Stamp", "ID", "Extended", "LEN", "D1"]
        .into_iter()
        .zip(found)
        .filter_map(|(name, f)| (!f).then_some(name))
        .collect();
    if missing.is_empty() {
        Ok(c)
    } else {
        Err(RecordError::CsvHeader { missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::CanId;

    fn parse_all(text: &str) -> Result<Vec<CanFrame>, RecordError> {
        let mut p = CsvParser::default();
        super::super::text::parse_lines(text, |line, f| p.parse(line, f))
    }

    #[test]
    fn reads_with_and_without_bus_and_dir() {
        let f = parse_all(
            "Time Stamp,ID,Extended,Bus,LEN,D1,D2,D3,D4,D5,D6,D7,D8\n\
            7254438300,000007DF,false,1,8,02,01,00,00,00,00,00,00\n",
        )
        .unwrap();
        assert_eq!(f[0].timestamp_us, 7_254_438_300);
        assert_eq!(f[0].id, CanId::Standard(0x7DF));
        assert_eq!(f[0].iface.as_str(), "csv1");
        let f = parse_all("Time Stamp,ID,Extended,LEN,D1,D2\n5,18DAF110,true,2,AA,BB\n").unwrap();
        assert_eq!(f[0].id, CanId::Extended(0x18DA_F110));
        assert_eq!(f[0].iface.as_str(), "csv0");
        let f =
            parse_all("Time Stamp,ID,Extended,Dir,Bus,LEN,D1\n5,123,false,Tx,0,1,AA,,,\n").unwrap();
        assert_eq!(f[0].direction, Some(Direction::Tx));
    }

    #[test]
    fn missing_columns_are_named() {
        let err = parse_all("Time Stamp,ID,Bus,LEN,D1\n")
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("missing Extended"), "{err}");
        let err =
            parse_all("Time Stamp,ID,Extended,Bus,LEN,D1,D2\n1,123,false,0,2,AA\n").unwrap_err();
        assert_eq!(
            err,
            RecordError::CsvMissingColumn {
                column: CsvColumn::Data(2),
                index: 7,
                fields: 6
            }
        );
        assert_eq!(
            err.to_string(),
            "expected a D2 column (column 7), the line has 6"
        );
    }
}
