//! Arguments more than one command reads a capture with. Below the
//! commands that flatten them (`capture`, `capture decode`).

use std::path::PathBuf;

use clap::Args;

use crate::capture::{CaptureError, CaptureReader, ReadOptions};

/// The capture a command reads; shared by every `capture` subcommand.
#[derive(Args, Debug, Clone)]
pub struct CaptureInput {
    #[arg(help = crate::capture::format::reads_help("Capture file"))]
    pub file: PathBuf,
    /// Skip malformed lines/packets (and count them) instead of failing.
    #[arg(long)]
    pub lenient: bool,
    /// pcap/pcapng CAN ids were stored little-endian (scapy writes them so).
    #[arg(long)]
    pub byte_swapped_ids: bool,
}

impl CaptureInput {
    pub fn options(&self) -> ReadOptions {
        ReadOptions {
            lenient: self.lenient,
            byte_swapped_ids: self.byte_swapped_ids,
        }
    }

    pub fn open(&self) -> Result<CaptureReader, CaptureError> {
        CaptureReader::open(&self.file, self.options())
    }
}

/// The one warning for lines or packets `--lenient` skipped.
pub fn warn_bad_lines(reader: &CaptureReader) {
    if reader.bad_lines() > 0 {
        tracing::warn!(
            "{}: skipped {} malformed lines/packets",
            reader.name(),
            reader.bad_lines()
        );
    }
}
