//! Any bytes as a capture file: compression and format are detected from the
//! content, as for a file a user hands over. The first byte picks the read
//! options. Every frame is read until the end or the first error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trunkdiag::capture::{CaptureReader, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let (opts, body) = match data.split_first() {
        Some((&b, rest)) => (
            ReadOptions {
                lenient: b & 1 != 0,
                byte_swapped_ids: b & 2 != 0,
            },
            rest,
        ),
        None => (ReadOptions::default(), data),
    };
    let Ok(mut r) = CaptureReader::from_reader("fuzz", Box::new(std::io::Cursor::new(body.to_vec())), opts)
    else {
        return;
    };
    // Bounded: a gzip bomb must end by the frame count, not by memory.
    for _ in 0..100_000 {
        match r.next_frame() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
});
