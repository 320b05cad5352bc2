//! Signals from DBC files (the CAN database format Vector's tools and
//! opendbc use), read with the `can-dbc` crate: a profile item may name
//! `dbc = "file.dbc"`, `message` and `signal` instead of a bit position, and
//! `profiles import-dbc` writes such items. Position, byte order, sign,
//! scale and offset, unit, value table and the multiplexor are all taken
//! from the file.
//!
//! opendbc's generated files say `CM_ "IMPORT other.dbc";` where the
//! generator merges a common file in, and such fragments have no header:
//! both are handled here (the import is read from beside the file, and a
//! header is supplied when there is none).
//!
//! Owns: reading a DBC and turning one signal into core types. Must not
//! know about TOML, the loader's problems or the CLI.

use std::path::{Path, PathBuf};

use super::model::{NamedValue, Selector};
use super::signal::{BitField, ByteOrder, Mux};
use crate::frame::CanId;

/// Why a DBC signal could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbcError {
    #[error("{}: expected a readable DBC file: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a DBC file the parser accepts: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: IMPORT chain deeper than {MAX_IMPORTS} files (a loop?)", path.display())]
    ImportDepth { path: PathBuf },
    #[error("{}: no message `{message}`: expected a message name or id (e.g. 0x3B3) from the file", path.display())]
    NoMessage { path: PathBuf, message: String },
    #[error("{}: message {message} has no signal `{signal}`: expected one of {}", path.display(), known.join(", "))]
    NoSignal {
        path: PathBuf,
        message: String,
        signal: String,
        known: Vec<String>,
    },
    #[error("{}: signal {message}.{signal}: {why}", path.display())]
    Unsupported {
        path: PathBuf,
        message: String,
        signal: String,
        why: &'static str,
    },
}

/// How deep `CM_ "IMPORT ..."` chains are followed.
pub const MAX_IMPORTS: usize = 4;

/// A DBC file, parsed.
#[derive(Debug)]
pub struct DbcFile {
    pub path: PathBuf,
    dbc: can_dbc::Dbc,
    /// Messages written with an opendbc pseudo-id, by name: their real id
    /// and page (the DBC parser keeps only the id's low 16 bits).
    pages: std::collections::HashMap<String, (u16, Selector)>,
    /// The file says `BA_DEF_DEF_ "UseGMParameterIDs" 1`: its 29-bit ids
    /// are GMLAN parameter ids, matched by arbitration id.
    gm_parameter_ids: bool,
    /// Every message's id as the `BO_` line writes it, by name (the DBC
    /// parser keeps only 16 bits of an id without the extended flag).
    raw_ids: std::collections::HashMap<String, u32>,
}

/// One signal, in the profile's terms.
#[derive(Clone, Debug, PartialEq)]
pub struct DbcSignal {
    pub id: CanId,
    pub message: String,
    pub signal: String,
    /// The message's length in bytes.
    pub length: u64,
    pub bits: BitField,
    pub scale: f64,
    pub offset: f64,
    pub unit: Option<String>,
    pub values: Vec<NamedValue>,
    pub mux: Option<Mux>,
    /// The page of a multiplexed frame an opendbc pseudo-id names
    /// (`0x40100620`: CAN id 0x620 whose data byte 0 is 0x10).
    pub page: Option<Selector>,
    /// In a file of GMLAN parameter ids: the message's arbitration id
    /// (`(id >> 13) & 0x1FFF`), which any priority and source address share.
    pub gmlan: Option<u16>,
}

/// opendbc writes a frame multiplexed by data byte 0 (Toyota's body
/// frames) as a 29-bit pseudo-id: `0x40` in the top byte, the page value in
/// bits 16-23, the 11-bit CAN id below (`0x40100620` = 0x620, byte 0 =
/// 0x10). The real id and the page, or `None` for an ordinary id.
pub fn opendbc_page(raw: u32) -> Option<(u16, Selector)> {
    (raw & 0xFF00_F800 == 0x4000_0000).then_some((
        (raw & 0x7FF) as u16,
        Selector {
            byte: 0,
            value: (raw >> 16) as u8,
        },
    ))
}

fn import_of(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix("CM_")?.trim_start();
    let rest = rest
        .strip_prefix('"')?
        .trim_start()
        .strip_prefix("IMPORT")?;
    rest.trim()
        .strip_suffix(';')?
        .trim()
        .strip_suffix('"')
        .map(str::trim)
}

/// The text with its imports prepended, as opendbc's generator merges them.
fn text_with_imports(path: &Path, depth: usize) -> Result<String, DbcError> {
    if depth > MAX_IMPORTS {
        return Err(DbcError::ImportDepth {
            path: path.to_owned(),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| DbcError::Io {
        path: path.to_owned(),
        source,
    })?;
    // DBC files are often Windows-1252; non-UTF-8 bytes only occur in
    // comments and names the tool does not need exactly.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let mut out = String::new();
    for line in text.lines() {
        if let Some(name) = import_of(line) {
            let dir = path.parent().unwrap_or(Path::new("."));
            out.push_str(&text_with_imports(&dir.join(name), depth + 1)?);
            out.push('\n');
        }
    }
    out.push_str(&text);
    Ok(out)
}

/// The header a DBC fragment without one is given.
const HEADER: &str = "VERSION \"\"\n\nNS_ :\n\nBS_:\n\nBU_: XXX\n\n";

impl DbcFile {
    pub fn read(path: &Path) -> Result<DbcFile, DbcError> {
        let text = text_with_imports(path, 0)?;
        DbcFile::parse(path, text)
    }

    /// A DBC from its text (imports already resolved); `path` names it in
    /// errors. opendbc's header-less fragments get a header first.
    pub fn parse(path: &Path, mut text: String) -> Result<DbcFile, DbcError> {
        if !text.trim_start().starts_with("VERSION") {
            text.insert_str(0, HEADER);
        }
        let dbc = can_dbc::Dbc::try_from(text.as_str()).map_err(|e| DbcError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        // `BO_ <id> <name>: ...`: each message's whole id, and the pages of
        // opendbc pseudo-ids.
        let raw_ids: std::collections::HashMap<String, u32> = text
            .lines()
            .filter_map(|l| {
                let mut t = l.trim_start().strip_prefix("BO_ ")?.split_whitespace();
                let raw: u32 = t.next()?.parse().ok()?;
                let name = t.next()?.trim_end_matches(':');
                Some((name.to_owned(), raw))
            })
            .collect();
        let pages = raw_ids
            .iter()
            .filter_map(|(name, &raw)| Some((name.clone(), opendbc_page(raw)?)))
            .collect();
        let gm_parameter_ids = text.lines().any(|l| {
            let mut t = l.split_whitespace();
            t.next() == Some("BA_DEF_DEF_")
                && t.next() == Some("\"UseGMParameterIDs\"")
                && t.next().map(|v| v.trim_end_matches(';')) == Some("1")
        });
        Ok(DbcFile {
            path: path.to_owned(),
            dbc,
            pages,
            gm_parameter_ids,
            raw_ids,
        })
    }

    /// `message` is a name (`BodyInfo_3_FD1`) or an id (`0x3B3`, `947`).
    fn message(&self, message: &str) -> Option<&can_dbc::Message> {
        let id = message
            .strip_prefix("0x")
            .or_else(|| message.strip_prefix("0X"))
            .map(|h| u32::from_str_radix(h, 16))
            .or_else(|| message.parse::<u32>().ok().map(Ok))
            .and_then(Result::ok);
        self.dbc.messages.iter().find(|m| {
            m.name == message
                || id.is_some_and(|id| match m.id {
                    can_dbc::MessageId::Standard(s) => u32::from(s) == id,
                    can_dbc::MessageId::Extended(e) => e == id,
                })
        })
    }

    /// Every message's id on the bus and its length, in file order: an
    /// opendbc pseudo-id (a page of a multiplexed id) is its real id, once.
    pub fn message_lengths(&self) -> Vec<(CanId, usize)> {
        let mut out: Vec<(CanId, usize)> = Vec::new();
        for m in &self.dbc.messages {
            // `VECTOR__INDEPENDENT_SIG_MSG` (0xC0000000, no bytes) is no
            // message on any bus.
            let Some(&raw) = self.raw_ids.get(&m.name).filter(|&&r| r & 0x4000_0000 == 0) else {
                continue;
            };
            if m.size == 0 {
                continue;
            }
            let id = match self.pages.get(&m.name) {
                Some((real, _)) => CanId::standard(u32::from(*real)),
                None if raw & 0x8000_0000 != 0 => CanId::extended(raw & 0x1FFF_FFFF),
                None => CanId::standard(raw),
            };
            let (Some(id), Ok(len)) = (id, usize::try_from(m.size)) else {
                continue;
            };
            if !out.iter().any(|(i, _)| *i == id) {
                out.push((id, len));
            }
        }
        out
    }

    /// Every (message, signal) name pair in the file, in file order.
    pub fn signal_names(&self) -> Vec<(String, String)> {
        self.dbc
            .messages
            .iter()
            .flat_map(|m| m.signals.iter().map(|s| (m.name.clone(), s.name.clone())))
            .collect()
    }

    /// One signal of one message.
    pub fn signal(&self, message: &str, signal: &str) -> Result<DbcSignal, DbcError> {
        let m = self.message(message).ok_or_else(|| DbcError::NoMessage {
            path: self.path.clone(),
            message: message.to_owned(),
        })?;
        let s = m
            .signals
            .iter()
            .find(|s| s.name == signal)
            .ok_or_else(|| DbcError::NoSignal {
                path: self.path.clone(),
                message: m.name.clone(),
                signal: signal.to_owned(),
                known: m.signals.iter().map(|s| s.name.clone()).collect(),
            })?;
        let unsupported = |why| DbcError::Unsupported {
            path: self.path.clone(),
            message: m.name.clone(),
            signal: s.name.clone(),
            why,
        };
        let bits = bitfield(s).ok_or_else(|| {
            unsupported("its position is outside a 64-byte payload or longer than 64 bits")
        })?;
        let mux = match s.multiplexer_indicator {
            can_dbc::MultiplexIndicator::Plain | can_dbc::MultiplexIndicator::Multiplexor => None,
            can_dbc::MultiplexIndicator::MultiplexedSignal(value) => {
                let switch = self
                    .dbc
                    .message_multiplexor_switch(m.id)
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        unsupported(
                            "it is multiplexed, but its message has no single multiplexor switch",
                        )
                    })?;
                let bits = bitfield(switch).ok_or_else(|| {
                    unsupported("its multiplexor switch lies outside a 64-byte payload")
                })?;
                Some(Mux { bits, value })
            }
            can_dbc::MultiplexIndicator::MultiplexorAndMultiplexedSignal(_) => {
                return Err(unsupported(
                    "extended multiplexing (a multiplexed multiplexor) is not supported",
                ))
            }
        };
        let (id, page) = match (self.pages.get(&m.name), m.id) {
            (Some(&(id, page)), _) => (CanId::standard(u32::from(id)), Some(page)),
            (None, can_dbc::MessageId::Standard(x)) => (CanId::standard(u32::from(x)), None),
            (None, can_dbc::MessageId::Extended(x)) => (CanId::extended(x), None),
        };
        let id = id.ok_or_else(|| unsupported("its message id is out of range"))?;
        if page.is_some() && bits.bits().any(|b| b < 8) {
            return Err(unsupported(
                "it overlaps byte 0, which selects the page of its multiplexed frame",
            ));
        }
        let values = self
            .dbc
            .value_descriptions_for_signal(m.id, &s.name)
            .unwrap_or_default()
            .iter()
            .map(|v| NamedValue {
                raw: v.id,
                name: v.description.clone(),
            })
            .collect();
        Ok(DbcSignal {
            id,
            message: m.name.clone(),
            signal: s.name.clone(),
            length: m.size,
            bits,
            scale: s.factor,
            offset: s.offset,
            unit: (!s.unit.is_empty()).then(|| s.unit.clone()),
            values,
            mux,
            page,
            // The id without the DBC's extended flag (bit 31).
            gmlan: self
                .gm_parameter_ids
                .then(|| self.raw_ids.get(&m.name))
                .flatten()
                .and_then(|&raw| {
                    crate::profile::gmlan_arbitration_id(CanId::Extended(raw & 0x1FFF_FFFF))
                }),
        })
    }
}

impl DbcSignal {
    /// `BodyInfo_3_FD1.Ignition_Status 7|4@0+` (and the multiplexor, if any).
    pub fn location(&self) -> String {
        let mut s = format!("{}.{} {}", self.message, self.signal, self.bits);
        if let Some(m) = &self.mux {
            s.push_str(&format!(" when {m}"));
        }
        s
    }
}

fn bitfield(s: &can_dbc::Signal) -> Option<BitField> {
    let order = match s.byte_order {
        can_dbc::ByteOrder::LittleEndian => ByteOrder::Intel,
        can_dbc::ByteOrder::BigEndian => ByteOrder::Motorola,
    };
    let signed = s.value_type == can_dbc::ValueType::Signed;
    BitField::new(
        u16::try_from(s.start_bit).ok()?,
        u8::try_from(s.size).ok()?,
        order,
        signed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn imports_values_sign_scale_and_multiplexing() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "common.dbc",
            "BO_ 256 BASE: 8 XXX\n SG_ SPEED : 7|16@0- (0.01,-5) [0|0] \"km/h\" XXX\n",
        );
        let p = write(
            dir.path(),
            "car.dbc",
            "CM_ \"IMPORT common.dbc\";\n\
             BO_ 1108 DOORS: 8 XXX\n SG_ MUX M : 0|2@1+ (1,0) [0|3] \"\" XXX\n \
             SG_ BOOT m1 : 55|1@0+ (1,0) [0|1] \"\" XXX\n\n\
             VAL_ 1108 BOOT 1 \"open\" 0 \"closed\" ;\n",
        );
        let f = DbcFile::read(&p).unwrap();
        let boot = f.signal("DOORS", "BOOT").unwrap();
        assert_eq!(boot.id, CanId::standard(0x454).unwrap());
        assert_eq!(boot.bits.to_string(), "55|1@0+");
        assert_eq!(boot.mux.unwrap().value, 1);
        assert_eq!(boot.mux.unwrap().bits.to_string(), "0|2@1+");
        assert!(boot.values.iter().any(|v| v.raw == 1 && v.name == "open"));
        let speed = f.signal("0x100", "SPEED").unwrap();
        assert_eq!(speed.bits.to_string(), "7|16@0-");
        assert_eq!((speed.scale, speed.offset), (0.01, -5.0));
        assert_eq!(speed.unit.as_deref(), Some("km/h"));
        assert!(matches!(
            f.signal("DOORS", "NOPE"),
            Err(DbcError::NoSignal { .. })
        ));
        assert!(matches!(
            f.signal("NOPE", "X"),
            Err(DbcError::NoMessage { .. })
        ));
        let bad = write(dir.path(), "bad.dbc", "BO_ oops\n");
        assert!(matches!(DbcFile::read(&bad), Err(DbcError::Parse { .. })));
    }
}
