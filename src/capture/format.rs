//! The capture formats, declared once by `format_table!` (the [`Format`]
//! enum and its rows in [`FORMATS`]): name, file extensions, how the
//! content announces itself, the writer (if any) and a line of description. Detection, the `--to` argument, help texts, the
//! unknown-format message and the writers all read this table; a test
//! checks that the README lists every row and that no other source file
//! keeps a list of its own.
//!
//! A format is detected from the content, never from the file name: a
//! binary format by its magic bytes, a text format by its first line that
//! is not blank, and anything else whose first frame line starts with `(`
//! (or that holds only comments) as a candump log.

use std::io::{self, Write};

use super::write::{self, FrameSink};

/// Builds the writer of a format over any byte sink.
pub type NewSink = for<'a> fn(Box<dyn Write + 'a>) -> io::Result<Box<dyn FrameSink + 'a>>;

/// One row of [`FORMATS`].
pub struct FormatInfo {
    pub format: Format,
    /// As `--to` and `capture stats` name it.
    pub name: &'static str,
    /// As a person calls it (the README's table says it so).
    pub title: &'static str,
    /// Extensions files of this format usually have (never used to detect
    /// it; a directory scan uses them to tell a capture from a sidecar).
    pub extensions: &'static [&'static str],
    /// Leading bytes that announce a binary format.
    pub magic: &'static [&'static [u8]],
    /// Starts (ASCII, any case) of the first non-blank line of a text format.
    pub first_line: &'static [&'static str],
    /// The writer of `capture cat --to`, if the format is written.
    pub writer: Option<NewSink>,
    pub description: &'static str,
}

/// Declares the formats once: the `Format` enum, its rows in [`FORMATS`]
/// and [`Format::info`] come from one list, so a variant without a row
/// cannot be written.
macro_rules! format_table {
    ($( $(#[$doc:meta])* $variant:ident { $($field:ident: $value:expr),* $(,)? } )*) => {
        /// The container format of a capture.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Format {
            $( $(#[$doc])* $variant, )*
        }

        /// Every capture format, in the order help texts list them.
        pub const FORMATS: &[FormatInfo] = &[
            $( FormatInfo { format: Format::$variant, $($field: $value),* }, )*
        ];

        impl Format {
            /// This format's row of [`FORMATS`].
            pub fn info(self) -> &'static FormatInfo {
                match self {
                    $( Format::$variant => {
                        const ROW: FormatInfo = FormatInfo { format: Format::$variant, $($field: $value),* };
                        &ROW
                    } )*
                }
            }
        }
    };
}

format_table! {
    Candump {
        name: "candump",
        title: "candump log",
        extensions: &["log"],
        magic: &[],
        first_line: &[],
        writer: Some(write::candump),
        description: "candump -l/-L log, what `record` writes",
    }
    Pcap {
        name: "pcap",
        title: "pcap",
        extensions: &["pcap", "cap"],
        magic: &[
            &[0xA1, 0xB2, 0xC3, 0xD4],
            &[0xD4, 0xC3, 0xB2, 0xA1],
            &[0xA1, 0xB2, 0x3C, 0x4D],
            &[0x4D, 0x3C, 0xB2, 0xA1],
        ],
        first_line: &[],
        writer: None,
        description: "libpcap, SocketCAN (227) or Linux cooked (113) link type",
    }
    PcapNg {
        name: "pcapng",
        title: "pcapng",
        extensions: &["pcapng"],
        magic: &[&[0x0A, 0x0D, 0x0D, 0x0A]],
        first_line: &[],
        writer: Some(write::pcapng),
        description: "pcapng with the SocketCAN link type, for Wireshark (binary: redirect it)",
    }
    /// Vector ASC.
    Asc {
        name: "asc",
        title: "Vector ASC",
        extensions: &["asc"],
        magic: &[],
        first_line: &["date ", "base ", "//", "begin triggerblock"],
        writer: Some(write::asc),
        description: "Vector ASCII log (CANalyzer, CANoe)",
    }
    /// Vector BLF.
    Blf {
        name: "blf",
        title: "Vector BLF",
        extensions: &["blf"],
        magic: &[b"LOGG"],
        first_line: &[],
        writer: None,
        description: "Vector binary log",
    }
    /// PEAK PCAN trace.
    Trc {
        name: "trc",
        title: "PCAN TRC",
        extensions: &["trc"],
        magic: &[],
        first_line: &[";"],
        writer: Some(write::trc),
        description: "PEAK PCAN trace (written as version 2.1)",
    }
    /// SavvyCAN / GVRET CSV.
    Csv {
        name: "csv",
        title: "SavvyCAN CSV",
        extensions: &["csv"],
        magic: &[],
        first_line: &["Time Stamp,"],
        writer: Some(write::csv),
        description: "SavvyCAN / GVRET CSV (remote and error frames have no CSV form)",
    }
}

impl Format {
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The format named `name` (as `--to` takes it).
    pub fn from_name(name: &str) -> Option<Format> {
        FORMATS
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.format)
    }

    /// Whether files of this format usually end in `.ext` (any case).
    pub fn uses_extension(self, ext: &str) -> bool {
        self.info()
            .extensions
            .iter()
            .any(|e| e.eq_ignore_ascii_case(ext))
    }
}

/// A writer of `format` over `out`; an error for a format that is read
/// but not written (its row has no writer).
pub fn sink<'a, W: Write + 'a>(format: Format, out: W) -> io::Result<Box<dyn FrameSink + 'a>> {
    let new = format.info().writer.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{} captures are read, not written", format.info().title),
        )
    })?;
    new(Box::new(out))
}

/// Whether some capture format uses the file extension `ext`.
pub fn is_capture_extension(ext: &str) -> bool {
    FORMATS.iter().any(|f| f.format.uses_extension(ext))
}

/// "a, b, c or d" of the titles of `rows`.
fn titles<'a>(rows: impl Iterator<Item = &'a FormatInfo>) -> String {
    let titles: Vec<&str> = rows.map(|f| f.title).collect();
    match titles.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => titles.concat(),
    }
}

/// What the unknown-format message says was expected.
pub fn expected_list() -> String {
    format!("a {} file", titles(FORMATS.iter()))
}

/// The formats a capture argument takes, for its help.
pub fn reads_help(what: &str) -> String {
    format!(
        "{what}: {}, plain or gzip-compressed (the format is detected from the content, \
         not from the name)",
        titles(FORMATS.iter())
    )
}

/// The about line of `capture`.
pub fn capture_about() -> String {
    format!(
        "Read capture files ({}; gzip or not)",
        titles(FORMATS.iter())
    )
}

/// The formats `--to` writes, with their descriptions.
pub fn writable() -> impl Iterator<Item = &'static FormatInfo> {
    FORMATS.iter().filter(|f| f.writer.is_some())
}

/// The parser of `--to`: the names of the formats that have a writer.
pub fn writable_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(writable().map(|f| PossibleValue::new(f.name).help(f.description)))
        .try_map(|name| {
            Format::from_name(&name).ok_or_else(|| format!("no capture format is named {name}"))
        })
}

/// What the first bytes say the content is; `peek_len` is how many bytes
/// the caller tried to read (a full peek may end inside a line).
pub(crate) fn detect(head: &[u8], peek_len: usize) -> Option<Format> {
    if let Some(f) = FORMATS
        .iter()
        .find(|f| f.magic.iter().any(|m| head.starts_with(m)))
    {
        return Some(f.format);
    }
    if let Some(text) = detect_text(head) {
        return Some(text);
    }
    // A candump log: the first line that is neither blank nor a comment
    // decides. A head of only comments and blank lines is an (empty so
    // far) log.
    let mut lines = head.split(|c| *c == b'\n').peekable();
    while let Some(line) = lines.next() {
        let is_last = lines.peek().is_none();
        let trimmed: &[u8] = match line.iter().position(|c| !c.is_ascii_whitespace()) {
            Some(p) => line.get(p..).unwrap_or_default(),
            None => continue,
        };
        if trimmed.starts_with(b"#") {
            continue;
        }
        // A cut-off last line of a full peek may still be a comment or a
        // frame; only a leading '(' counts as evidence either way.
        if line.first() == Some(&b'(') {
            return Some(Format::Candump);
        }
        if is_last && head.len() == peek_len && !line.contains(&0) {
            return Some(Format::Candump);
        }
        return None;
    }
    Some(Format::Candump)
}

/// A text format from its first line that is not blank.
fn detect_text(head: &[u8]) -> Option<Format> {
    let first = head
        .split(|c| *c == b'\n')
        .map(<[u8]>::trim_ascii)
        .find(|l| !l.is_empty())?;
    let starts = |p: &str| {
        first
            .get(..p.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(p.as_bytes()))
    };
    FORMATS
        .iter()
        .find(|f| f.first_line.iter().any(|p| starts(p)))
        .map(|f| f.format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_its_format_s_and_names_round_trip() {
        assert!(FORMATS.len() >= 7);
        for row in FORMATS {
            let f = row.format;
            assert_eq!(FORMATS.iter().filter(|r| r.format == f).count(), 1);
            assert_eq!(f.info().name, row.name);
            assert_eq!(Format::from_name(row.name), Some(f));
            assert!(!row.extensions.is_empty(), "{f:?}");
            // Each format is announced by its content, but candump, the
            // fallback for text whose first frame line starts with '('.
            assert_eq!(
                row.magic.is_empty() && row.first_line.is_empty(),
                f == Format::Candump,
                "{f:?}"
            );
        }
    }

    #[test]
    fn every_writer_writes_what_the_reader_of_its_format_reads() {
        use crate::capture::{CaptureReader, ReadOptions};
        use crate::frame::{CanFrame, CanId};
        let frame = CanFrame::classic(CanId::Standard(0x7E0), &[2, 0x10, 3])
            .expect("a valid frame")
            .at(1_700_000_000_000_000);
        let mut written = 0;
        for row in writable() {
            let mut out = Vec::new();
            let mut sink = sink(row.format, &mut out).expect("a writer");
            sink.frame(&frame).expect("in memory");
            sink.finish().expect("in memory");
            drop(sink);
            let reader = CaptureReader::from_reader(
                "mem",
                Box::new(io::Cursor::new(out)),
                ReadOptions::default(),
            )
            .expect("reads back");
            assert_eq!(reader.format(), row.format, "{}", row.name);
            let frames: Vec<CanFrame> = reader.collect::<Result<_, _>>().expect("reads back");
            assert_eq!(frames.len(), 1, "{}", row.name);
            assert_eq!(frames[0].data(), frame.data(), "{}", row.name);
            written += 1;
        }
        assert_eq!(written, writable().count());
        assert!(
            written >= 5,
            "the candump, ASC, TRC, CSV and pcapng writers"
        );
        let mut out = Vec::new();
        assert!(sink(Format::Blf, &mut out).is_err());
    }

    /// The README's "Capture formats" table has a row per format whose
    /// write column names `--to`'s value exactly when the format is written.
    #[test]
    fn the_readme_lists_every_format() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md");
        let section = readme
            .split("\n## Capture formats\n")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("a Capture formats section");
        let rows: Vec<Vec<&str>> = section
            .lines()
            .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
            .skip(1)
            .map(|l| l.split('|').map(str::trim).collect())
            .collect();
        assert_eq!(rows.len(), FORMATS.len(), "one README row per format");
        for f in FORMATS {
            let row = rows
                .iter()
                .find(|r| r.get(1).is_some_and(|c| c.starts_with(f.title)))
                .unwrap_or_else(|| panic!("README lists no row for {}", f.title));
            let write = row.get(3).copied().unwrap_or_default();
            match f.writer {
                Some(_) => assert!(write.contains(&format!("`{}`", f.name)), "{}", f.title),
                None => assert_eq!(write, "no", "{}", f.title),
            }
        }
    }

    /// No source file but this one keeps its own list of formats: a line
    /// naming four or more of them is a copy that goes stale (a module
    /// naming the few it shares code with is not).
    #[test]
    fn no_other_source_lists_the_formats() {
        let names = ["ASC", "BLF", "TRC", "CSV", "pcap", "pcapng", "candump"];
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut files = vec![std::path::PathBuf::from(root)];
        let mut stale = Vec::new();
        let mut seen = 0;
        while let Some(path) = files.pop() {
            if path.is_dir() {
                for e in std::fs::read_dir(&path).expect("src is readable") {
                    files.push(e.expect("a directory entry").path());
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("capture/format.rs") {
                continue;
            }
            seen += 1;
            let text = std::fs::read_to_string(&path).expect("a source file");
            for (i, line) in text.lines().enumerate() {
                let words: Vec<&str> = line.split(|c: char| !c.is_ascii_alphanumeric()).collect();
                let named = names.iter().filter(|n| words.contains(n)).count();
                if named >= 4 {
                    stale.push(format!("{}:{}: {line}", path.display(), i + 1));
                }
            }
        }
        assert!(seen > 50, "expected the source tree, found {seen} files");
        assert!(
            stale.is_empty(),
            "lists of formats outside FORMATS:\n{}",
            stale.join("\n")
        );
    }

    #[test]
    fn help_and_messages_name_every_format() {
        for text in [expected_list(), reads_help("Capture file"), capture_about()] {
            for f in FORMATS {
                assert!(text.contains(f.title), "{text} lacks {}", f.title);
            }
        }
    }
}
