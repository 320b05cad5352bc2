//! Opening a byte stream as a capture: gzip is detected from its magic
//! (multi-member files are one stream), then the first [`PEEK`] bytes of
//! the (decompressed) content decide the format; they are put back in
//! front of the stream, so no reader misses a byte.

use std::io::{self, Chain, Cursor, Read};

use super::error::CaptureError;
use super::format::{self, Format};

/// How to read a capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Skip malformed candump lines (counted in [`CaptureReader::bad_lines`])
    /// and undecodable pcap packets instead of failing.
    pub lenient: bool,
    /// The 4-byte SocketCAN `can_id` field of pcap/pcapng packets is stored
    /// little-endian (scapy writes it so) instead of network order.
    pub byte_swapped_ids: bool,
}

/// Bytes inspected to detect the format.
pub(crate) const PEEK: usize = 64 * 1024;

pub(crate) type Source = Box<dyn Read + Send>;
/// The peeked head, then the rest of the input.
pub(crate) type Peeked = Chain<Cursor<Vec<u8>>, Source>;

/// Reads up to `n` bytes (fewer only at end of input).
fn read_up_to(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The content of `r` (decompressed when it is gzip), whether it was
/// compressed, and its format.
pub(crate) fn open(name: &str, mut r: Source) -> Result<(Peeked, bool, Format), CaptureError> {
    let read_err = |compressed: bool| {
        move |source| CaptureError::Read {
            file: name.to_string(),
            offset: 0,
            compressed,
            source,
        }
    };
    let magic = read_up_to(&mut r, 2).map_err(read_err(false))?;
    let compressed = magic == [0x1F, 0x8B];
    let rejoined: Source = Box::new(Cursor::new(magic).chain(r));
    let mut source: Source = if compressed {
        // Multi-member: `cat a.gz b.gz` and bgzip-style files are one log.
        Box::new(flate2::read::MultiGzDecoder::new(rejoined))
    } else {
        rejoined
    };
    let head = read_up_to(&mut source, PEEK).map_err(read_err(compressed))?;
    let format = format::detect(&head, PEEK).ok_or_else(|| CaptureError::UnknownFormat {
        file: name.to_string(),
    })?;
    Ok((Cursor::new(head).chain(source), compressed, format))
}
