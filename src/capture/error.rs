//! Why a capture could not be read, as rustls's errors say it:
//! [`CaptureError`] names the file and the position (line, packet, block
//! or object) and keeps the reader's own cause as its `source` (a candump
//! [`LineError`], or one of `parse_error`'s per-reader enums, or an
//! `io::Error`). Its message repeats the source's after the position, so
//! a user reads `file:line: expected ..., found ...` in one line.

use std::fmt;
use std::io;

use super::candump::LineError;
use super::format::{self, Format};
use super::parse_error::{BlfError, HeaderError, PacketError, RecordError};

/// Why a capture could not be read. Every message starts with the file name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    #[error("{file}: cannot open: {source}")]
    Open {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("{file}: read failed at byte {offset}{}: {source}", if *.compressed { " of the decompressed data (corrupt or truncated gzip?)" } else { "" })]
    Read {
        file: String,
        offset: u64,
        compressed: bool,
        #[source]
        source: io::Error,
    },
    #[error("{file}: unknown capture format: expected {}", format::expected_list())]
    UnknownFormat { file: String },
    /// A malformed line of a text log other than candump.
    #[error("{file}:{line}: {source}")]
    Record {
        file: String,
        line: u64,
        format: Format,
        #[source]
        source: RecordError,
    },
    /// A malformed line of a candump log.
    #[error("{file}:{line}: {source}")]
    Line {
        file: String,
        line: u64,
        #[source]
        source: LineError,
    },
    #[error("{file}:{line}: expected a line of at most {max} bytes, found a longer one")]
    LineTooLong { file: String, line: u64, max: usize },
    /// The file header of a pcap, pcapng or BLF file.
    #[error("{file}: {source}")]
    Header {
        file: String,
        #[source]
        source: HeaderError,
    },
    /// A pcap packet or a pcapng block.
    #[error("{file}: {unit} {index}: {source}")]
    Packet {
        file: String,
        unit: PacketUnit,
        /// 1-based packet (pcap) or block (pcapng) index.
        index: u64,
        #[source]
        source: PacketError,
    },
    /// A BLF object; `index` is the 1-based outer object (a log container
    /// holds many inner ones).
    #[error("{file}: object {index}: {}{source}", if *.in_container { "in the log container: " } else { "" })]
    Object {
        file: String,
        index: u64,
        in_container: bool,
        #[source]
        source: BlfError,
    },
}

impl CaptureError {
    /// The file the error is in, as its message names it.
    pub fn file(&self) -> &str {
        match self {
            CaptureError::Open { file, .. }
            | CaptureError::Read { file, .. }
            | CaptureError::UnknownFormat { file }
            | CaptureError::Record { file, .. }
            | CaptureError::Line { file, .. }
            | CaptureError::LineTooLong { file, .. }
            | CaptureError::Header { file, .. }
            | CaptureError::Packet { file, .. }
            | CaptureError::Object { file, .. } => file,
        }
    }

    /// The 1-based line of a text capture the error is on, if it is on one.
    pub fn line(&self) -> Option<u64> {
        match self {
            CaptureError::Record { line, .. }
            | CaptureError::Line { line, .. }
            | CaptureError::LineTooLong { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// Where in the file, as the message's first part says it: `file:line`,
    /// `file: packet N`, `file: block N`, `file: object N`, or the file.
    pub fn place(&self) -> String {
        let file = self.file();
        match self {
            CaptureError::Packet { unit, index, .. } => format!("{file}: {unit} {index}"),
            CaptureError::Object { index, .. } => format!("{file}: object {index}"),
            _ => match self.line() {
                Some(line) => format!("{file}:{line}"),
                None => file.to_owned(),
            },
        }
    }
}

/// What a binary capture counts its records in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketUnit {
    /// A pcap record.
    Packet,
    /// A pcapng block (the section header is block 1).
    Block,
}

impl fmt::Display for PacketUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PacketUnit::Packet => "packet",
            PacketUnit::Block => "block",
        })
    }
}
