//! Capture files, any of them gzip-compressed, read as a stream of
//! [`CanFrame`](crate::frame::CanFrame)s, and written in the formats other
//! tools open. The formats are the rows of [`format::FORMATS`].
//!
//! This module owns format detection (from content, never from the file
//! name), decompression, buffering, and turning file positions into error
//! messages (`file:line: ...`, `file: packet N: ...`). It reads in large
//! chunks with constant memory whatever the file size.
//!
//! It does not know what the frames mean (ISO-TP, UDS) nor how they are
//! printed for a user (that is `cli`).
//!
//! Interface names: a candump log names its interfaces; a pcapng interface
//! block may (`if_name`), and frames then carry that name. Packets of a pcap,
//! or of a pcapng interface without a usable name, are given `pcap<N>` where
//! N is the pcapng interface index (0 for pcap), so they are never mistaken
//! for a real `can0`.
//!
//! Where things are: the format table and detection in `format`, opening
//! (gzip, the peek) in `open`, the reader dispatch in `reader`, text lines
//! in `lines` (per-format line syntax in `candump`, `asc`, `trc`, `csv`,
//! shared tokens in `text`), pcap and pcapng in `pcap` (the SocketCAN
//! pseudo-header in `socketcan`), BLF in `blf`, the errors with their
//! positions in `error` and each reader's own in `parse_error`, filtered
//! reading in `census`, the writers in `write`.

mod asc;
mod blf;
pub mod candump;
mod census;
mod csv;
mod error;
pub mod format;
mod lines;
mod open;
mod parse_error;
mod pcap;
mod reader;
mod sink;
mod socketcan;
mod text;
mod trc;
pub mod write;

pub use census::{Census, CensusEntry, IdSet};
pub use error::{CaptureError, PacketUnit};
pub use format::{Format, FormatInfo, FORMATS};
pub use lines::Annotation;
pub use open::ReadOptions;
pub use parse_error::{
    BlfError, CsvColumn, Found, HeaderError, IdRangeError, PacketError, RecordError,
};
pub use reader::CaptureReader;
/// Calendar date of a day count since 1970-01-01 (for dates in logs and reports).
pub use text::civil_from_days;

/// The deterministic benchmark capture generator, for tests comparing the
/// fast path with the simple one on a large realistic log.
#[cfg(test)]
#[path = "../../benches/common/gen.rs"]
mod bench_gen;

#[cfg(test)]
mod tests;
