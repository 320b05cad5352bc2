//! The errors of each reader, below [`super::CaptureError`] (which adds
//! the file and the position): a [`RecordError`] of a text line other
//! than candump, a [`PacketError`] of a pcap or pcapng packet, a
//! [`BlfError`] of a BLF object, a [`HeaderError`] of a file header. Each
//! says what was expected and carries what was found.

use std::fmt;
use std::io;

use crate::frame::{FrameError, EFF_MAX, SFF_MAX};

/// A field as it was found on a line, kept for a message: at most 160
/// bytes (a CAN FD frame's token whole), quoted when shown (lossy UTF-8, `...` after a cut).
#[derive(Clone, PartialEq, Eq)]
pub struct Found {
    bytes: Box<[u8]>,
    cut: bool,
}

impl Found {
    const MAX: usize = 160;

    pub(crate) fn of(field: &[u8]) -> Found {
        let kept = field.get(..Found::MAX).unwrap_or(field);
        Found {
            bytes: kept.into(),
            cut: kept.len() < field.len(),
        }
    }

    /// The bytes kept (the first 160 of the field).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.bytes))?;
        if self.cut {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An id above what its width holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected {} id of at most {:X}, found {raw:X}", if *.extended { "a 29-bit" } else { "an 11-bit" }, if *.extended { EFF_MAX } else { SFF_MAX })]
pub struct IdRangeError {
    pub raw: u32,
    pub extended: bool,
}

/// A column of a SavvyCAN CSV line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvColumn {
    Named(&'static str),
    /// `D<n>`, 1-based.
    Data(usize),
}

impl fmt::Display for CsvColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsvColumn::Named(name) => f.write_str(name),
            CsvColumn::Data(n) => write!(f, "D{n}"),
        }
    }
}

/// A malformed line of a text log other than candump (the reader that found it
/// is [`CaptureError::Record`]'s `format`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A field that does not hold what its place on the line holds.
    #[error("expected {expected}, found {found}")]
    Field {
        expected: &'static str,
        found: Found,
    },
    /// The line ends where a field was expected.
    #[error("expected {expected}, found end of line")]
    EndOfLine { expected: &'static str },
    #[error(transparent)]
    Id(#[from] IdRangeError),
    #[error("expected {expected} data bytes, found {found}")]
    DataBytes { expected: usize, found: usize },
    /// An ASC `CANFD` line's data length beyond what its DLC holds.
    #[error("expected the data length of DLC {dlc:X} ({max} or less), found {found}")]
    FdLength { dlc: u32, max: usize, found: Found },
    #[error("expected BRS and ESI (0 or 1) after the id, found {brs} {esi}")]
    BrsEsi { brs: Found, esi: Found },
    #[error("expected a {column} column (column {index}), the line has {fields}")]
    CsvMissingColumn {
        column: CsvColumn,
        /// 1-based.
        index: usize,
        fields: usize,
    },
    #[error("expected a hex data byte in D{column}, found {found}")]
    CsvDataByte { column: usize, found: Found },
    #[error(
        "expected a SavvyCAN header with the columns Time Stamp, ID, Extended, LEN, D1..D8 \
         (Bus and Dir optional), missing {}",
        .missing.join(", ")
    )]
    CsvHeader { missing: Vec<&'static str> },
    /// A TRC 2.x line with fewer fields than `$COLUMNS` names before `D`.
    #[error("expected {expected} columns before the data, found {found}")]
    TrcColumns { expected: usize, found: usize },
    #[error("expected an L or l column (data length)")]
    TrcNoLength,
    #[error("{0}")]
    Frame(#[from] FrameError),
}

/// The file header of a binary capture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    #[error("expected a pcap file header: {0}")]
    Pcap(#[source] pcap_file::PcapError),
    #[error("expected a pcapng section header block: {0}")]
    PcapNg(#[source] pcap_file::PcapError),
    #[error("expected link type 227 (SocketCAN) or 113 (Linux cooked), found {0}")]
    LinkType(u32),
    #[error("{0}")]
    Blf(#[from] BlfError),
}

/// A pcap packet or pcapng block that holds no frame this tool reads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    #[error("expected more bytes, the file ends inside this record (truncated?)")]
    Truncated(#[source] io::Error),
    #[error("read failed (corrupt gzip?): {0}")]
    Read(#[source] io::Error),
    #[error("expected a well-formed record: {0}")]
    Malformed(#[source] pcap_file::PcapError),
    #[error("expected a sub-second timestamp part below one second, found {0}")]
    SubSecond(u32),
    #[error("expected an if_tsresol of at most 10^19 or 2^63, found {0:#04X}")]
    TsResol(u8),
    #[error("expected a packet of one of the {described} interfaces described so far, found interface {found}")]
    Interface { described: usize, found: usize },
    #[error("expected a 16-byte Linux cooked header, found {0} bytes")]
    CookedHeader(usize),
    #[error("expected a SocketCAN frame of at least 8 header bytes, found {0} bytes")]
    SocketCanHeader(usize),
    #[error("expected a CAN or CAN FD frame, found a CAN XL frame (not supported)")]
    CanXl,
    #[error("expected at most {max} data bytes on {} frame, found {len}{}", if *.fd { "a CAN FD" } else { "a classic" }, swap_hint(*.byte_swapped))]
    TooLong {
        max: usize,
        fd: bool,
        len: usize,
        byte_swapped: bool,
    },
    #[error("expected {len} data bytes as the header says, the packet holds {holds}")]
    Short { len: usize, holds: usize },
    #[error("expected an error frame of at most 8 classic data bytes, found {0} bytes")]
    ErrorFrameLength(usize),
    #[error("{source}{}", swap_hint(*.byte_swapped))]
    Id {
        #[source]
        source: IdRangeError,
        byte_swapped: bool,
    },
    #[error("expected no RTR flag on a CAN FD frame")]
    FdRemote,
    #[error("{0}")]
    Frame(#[from] FrameError),
}

/// The hint after a message an id stored in the other byte order explains.
fn swap_hint(byte_swapped: bool) -> &'static str {
    if byte_swapped {
        ""
    } else {
        " (ids stored little-endian? see the byte-swapped ids option)"
    }
}

/// A BLF file header, object or log container that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlfError {
    #[error("read failed: {0}")]
    Read(#[source] io::Error),
    #[error(
        "expected a BLF file header of at least {min} bytes starting \"LOGG\", found {found} bytes"
    )]
    FileHeader { min: usize, found: usize },
    #[error("expected a BLF header size of {min}-{max} bytes, found {found}")]
    HeaderSize {
        min: usize,
        max: usize,
        found: usize,
    },
    #[error("expected a BLF file header of {0} bytes, the file is shorter")]
    HeaderCut(usize),
    #[error("expected a {expected}-byte object header at byte {at}, the file ends after {found} (truncated?)")]
    ObjectHeaderCut {
        expected: usize,
        at: u64,
        found: usize,
    },
    /// No `LOBJ` where an object starts (`at` is unknown inside a container).
    #[error("expected an object starting \"LOBJ\"{}", .at.map(|a| format!(" at byte {a}")).unwrap_or_default())]
    NoObject { at: Option<u64> },
    #[error("expected an object size of {min} bytes to 64 MiB at byte {at}, found {found}")]
    ObjectSize { min: usize, at: u64, found: usize },
    #[error("expected {expected} bytes of object (type {kind}) at byte {at}, the file ends after {found} (truncated?)")]
    ObjectCut {
        expected: usize,
        kind: u32,
        at: u64,
        found: usize,
    },
    #[error("expected a 16-byte log container header at byte {at}, found {found} bytes")]
    ContainerHeader { at: u64, found: usize },
    #[error("expected zlib-compressed objects in the log container at byte {at}: {source} (truncated or corrupt?)")]
    Zlib {
        at: u64,
        #[source]
        source: io::Error,
    },
    #[error("expected {expected} bytes in the log container at byte {at}, it holds {found} (truncated or corrupt?)")]
    ContainerSize {
        expected: usize,
        at: u64,
        found: usize,
    },
    #[error("expected compression method 0 (none) or 2 (zlib) in the log container at byte {at}, found {found}")]
    Compression { at: u64, found: u16 },
    #[error("expected an object header of at least 32 bytes within the object, found header {header}, object {size}")]
    InnerHeader { header: usize, size: usize },
    #[error("expected the rest of an object, the file ends {0} bytes into it (truncated?)")]
    EndsInside(usize),
    #[error("expected a {object} body of at least {min} bytes, found {found} bytes")]
    Body {
        object: &'static str,
        min: usize,
        found: usize,
    },
    #[error("expected {len} data bytes, the object holds {holds}")]
    Data { len: usize, holds: usize },
    #[error(transparent)]
    Id(#[from] IdRangeError),
    #[error("{0}")]
    Frame(#[from] FrameError),
}
