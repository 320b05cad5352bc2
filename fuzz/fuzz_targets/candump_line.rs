//! One candump line: parsed, and when it parses, written back and parsed
//! again to the same frame (the writer is the reader's inverse).
#![no_main]
use libfuzzer_sys::fuzz_target;
use trunkdiag::capture::candump::{format_frame, parse_line};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(frame)) = parse_line(data) {
        let mut out = Vec::new();
        format_frame(&frame, &mut out);
        // The reader hands parse_line a line without its newline.
        let line = out.strip_suffix(b"\n").unwrap_or(&out);
        let again = parse_line(line).expect("a written line parses").expect("a frame");
        assert_eq!(frame, again, "{}", String::from_utf8_lossy(&out));
    }
});
