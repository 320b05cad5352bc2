//! The one writer of profile TOML text: `learn`'s draft profile and
//! `profiles import-dbc`'s items are both written through [`ProfileWriter`],
//! so what they write is what the loader reads (a test loads it back).
//!
//! Scalars are written by the `toml` crate (quoting, escapes, floats such
//! as `1e-5` or `inf`); the writer only knows the order of keys and the
//! tables a profile has. It does not check a profile: the loader does.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::frame::CanId;

use super::{Addressing, Level, Role, Selector};

/// Where a signal item's bits come from.
#[derive(Clone, Debug, PartialEq)]
pub enum SignalAt<'a> {
    /// Written out: DBC position `start|length@order±`, scale, offset, unit
    /// and value names (`raw = name`).
    Bits {
        bits: String,
        scale: f64,
        offset: f64,
        unit: Option<&'a str>,
        values: BTreeMap<i64, String>,
    },
    /// Named in a DBC file (path relative to the profile), with a comment
    /// saying what the file holds for it.
    Dbc {
        file: &'a str,
        message: &'a str,
        signal: &'a str,
        comment: String,
    },
}

/// One `[[frame.signal]]` item.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalItem<'a> {
    pub name: &'a str,
    pub role: Role,
    pub at: SignalAt<'a>,
    pub level: Level,
    pub source: &'a str,
    /// A comment written above the item.
    pub note: Option<&'a str>,
}

/// Profile TOML text, table by table, in the order written.
#[derive(Debug, Default)]
pub struct ProfileWriter {
    text: String,
}

fn string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn float(x: f64) -> String {
    toml::Value::Float(x).to_string()
}

impl ProfileWriter {
    pub fn new() -> ProfileWriter {
        ProfileWriter::default()
    }

    /// `# text`, one comment line per line of `text`.
    pub fn comment(&mut self, text: &str) -> &mut Self {
        for line in text.lines() {
            let _ = writeln!(self.text, "# {line}");
        }
        self
    }

    /// An empty line between tables.
    pub fn blank(&mut self) -> &mut Self {
        self.text.push('\n');
        self
    }

    /// A table header, `[profile]` or `[[bus]]`: `name` as written.
    pub fn table(&mut self, header: &str) -> &mut Self {
        let _ = writeln!(self.text, "{header}");
        self
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        let _ = writeln!(self.text, "{key} = {}", string(value));
        self
    }

    pub fn int(&mut self, key: &str, value: impl Into<i64>) -> &mut Self {
        let _ = writeln!(self.text, "{key} = {}", value.into());
        self
    }

    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        let _ = writeln!(self.text, "{key} = {value}");
        self
    }

    /// A CAN id as hex, `0x7E0`.
    pub fn id(&mut self, key: &str, id: CanId) -> &mut Self {
        let _ = writeln!(self.text, "{key} = 0x{:X}", id.raw());
        self
    }

    /// A `[bcm]`'s `addressing`, with its address bytes when extended.
    pub fn addressing(&mut self, a: Addressing) -> &mut Self {
        match a {
            Addressing::Normal => self.str("addressing", "normal"),
            Addressing::Extended { target, source } => {
                let _ = writeln!(
                    self.text,
                    "addressing = \"extended\"\ntarget_address = 0x{target:02X}\nsource_address = 0x{source:02X}"
                );
                self
            }
        }
    }

    /// A list of CAN ids as hex, `[0x3B3, 0x331]`.
    pub fn ids(&mut self, key: &str, ids: &[CanId]) -> &mut Self {
        let ids: Vec<String> = ids.iter().map(|id| format!("0x{:X}", id.raw())).collect();
        let _ = writeln!(self.text, "{key} = [{}]", ids.join(", "));
        self
    }

    /// `years = [first, last]`.
    pub fn years(&mut self, first: u16, last: u16) -> &mut Self {
        let _ = writeln!(self.text, "years = [{first}, {last}]");
        self
    }

    /// The two provenance keys every item carries.
    pub fn provenance(&mut self, level: Level, source: &str) -> &mut Self {
        self.str("level", level.as_str()).str("source", source)
    }

    /// A `[[frame]]` table: id (and `extended` for a 29-bit one), name.
    pub fn frame(&mut self, id: CanId, name: &str) -> &mut Self {
        self.frame_page(id, name, None)
    }

    /// A `[[frame]]` named by its GMLAN arbitration id (`gmlan = true`).
    pub fn gmlan_frame(&mut self, arbitration_id: u16, name: &str) -> &mut Self {
        let _ = writeln!(
            self.text,
            "[[frame]]\nid = 0x{arbitration_id:03X}\ngmlan = true"
        );
        self.str("name", name).blank()
    }

    /// A `[[frame]]` table that may be one page of a multiplexed id
    /// (`selector = { byte = 0, value = 0x10 }`).
    pub fn frame_page(&mut self, id: CanId, name: &str, page: Option<Selector>) -> &mut Self {
        self.table("[[frame]]").id("id", id);
        if id.is_extended() {
            self.bool("extended", true);
        }
        self.str("name", name);
        if let Some(p) = page {
            let _ = writeln!(
                self.text,
                "selector = {{ byte = {}, value = 0x{:02X} }}",
                p.byte, p.value
            );
        }
        self.blank()
    }

    /// A `[[frame.signal]]` item of the frame written last.
    pub fn signal(&mut self, s: &SignalItem<'_>) -> &mut Self {
        self.table("[[frame.signal]]");
        if let Some(note) = s.note {
            self.comment(note);
        }
        self.str("name", s.name).str("role", s.role.as_str());
        match &s.at {
            SignalAt::Bits {
                bits,
                scale,
                offset,
                unit,
                values,
            } => {
                self.str("bits", bits);
                if *scale != 1.0 {
                    let _ = writeln!(self.text, "scale = {}", float(*scale));
                }
                if *offset != 0.0 {
                    let _ = writeln!(self.text, "offset = {}", float(*offset));
                }
                if let Some(u) = unit {
                    self.str("unit", u);
                }
                if !values.is_empty() {
                    let v: Vec<String> = values
                        .iter()
                        .map(|(raw, name)| {
                            format!("{} = {}", string(&raw.to_string()), string(name))
                        })
                        .collect();
                    let _ = writeln!(self.text, "values = {{ {} }}", v.join(", "));
                }
            }
            SignalAt::Dbc {
                file,
                message,
                signal,
                comment,
            } => {
                self.comment(comment)
                    .str("dbc", file)
                    .str("message", message)
                    .str("signal", signal);
            }
        }
        self.provenance(s.level, s.source).blank()
    }

    pub fn finish(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::CanFrame;

    /// A profile written with every table and key the writer knows loads
    /// back, and its signal decodes as written (scale, offset, a 29-bit id,
    /// a value name with quotes in it).
    #[test]
    fn a_written_profile_loads_back_and_decodes_as_written() {
        let lid = CanId::extended(0x18FF_1234).unwrap();
        let mut w = ProfileWriter::new();
        w.comment("written by a test\nsecond line")
            .blank()
            .table("[profile]")
            .str("id", "written-test")
            .str("make", "unknown")
            .str("model", "a \"quoted\" car")
            .years(2020, 2021)
            .blank()
            .table("[[bus]]")
            .str("name", "hs-can")
            .int("bitrate", 500_000)
            .bool("fd", false)
            .provenance(Level::Placeholder, "a test")
            .blank()
            .table("[bcm]")
            .str("protocol", "uds")
            .id("request_id", CanId::standard(0x7E0).unwrap())
            .id("response_id", CanId::standard(0x7E8).unwrap())
            .addressing(Addressing::Extended {
                target: 0x40,
                source: 0x41,
            })
            .provenance(Level::Placeholder, "a test")
            .blank()
            .frame(lid, "body");
        w.signal(&SignalItem {
            name: "lid",
            role: Role::LidOpen,
            at: SignalAt::Bits {
                bits: "8|2@1+".into(),
                scale: 0.5,
                offset: -0.5,
                unit: Some("state"),
                values: BTreeMap::from([(1, "closed".into()), (3, "open \"wide\"".into())]),
            },
            level: Level::Learned,
            source: "learned: a test",
            note: Some("a note"),
        });
        w.table("[census]")
            .bool("complete", false)
            .ids("known_ids", &[lid]);
        let text = w.finish();
        let p =
            crate::profile::parse("written.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(p.model, "a \"quoted\" car");
        assert_eq!(
            p.bcm().unwrap().addressing,
            Addressing::Extended {
                target: 0x40,
                source: 0x41
            },
            "{text}"
        );
        let frame = CanFrame::classic(lid, &[0, 3, 0, 0, 0, 0, 0, 0])
            .unwrap()
            .at(1);
        let mut got = Vec::new();
        assert!(p.decode_broadcast(&frame, |_, role, v| got.push((role, v))));
        assert_eq!(got, [(Role::LidOpen, 1.0)], "{text}");
    }
}
