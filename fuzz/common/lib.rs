//! What the capture targets share: read every frame of a byte buffer with
//! content detection, bounded so a compressed bomb ends by count.
use trunkdiag::capture::{CaptureReader, ReadOptions};

pub fn read_all(bytes: &[u8], lenient: bool) {
    let opts = ReadOptions {
        lenient,
        byte_swapped_ids: false,
    };
    let Ok(mut r) = CaptureReader::from_reader(
        "fuzz",
        Box::new(std::io::Cursor::new(bytes.to_vec())),
        opts,
    ) else {
        return;
    };
    for _ in 0..100_000 {
        match r.next_frame() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
}
