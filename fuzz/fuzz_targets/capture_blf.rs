//! Vector BLF after the `LOGG` file signature (header and objects fuzzed).
//! The input follows a header that makes content detection pick this reader,
//! so the fuzzer spends its time inside it rather than in detection.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes: Vec<u8> = b"LOGG".to_vec();
    bytes.extend_from_slice(data);
    trunkdiag_fuzz_common::read_all(&bytes, false);
    trunkdiag_fuzz_common::read_all(&bytes, true);
});
