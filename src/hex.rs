//! The one hex codec of the project: table-driven, no allocation on decode.

/// Value of an ASCII hex digit, or 0xFF.
const DECODE: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'A' as usize + i] = 10 + i as u8;
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

const UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// The value of one hex digit.
#[inline]
pub fn nibble(c: u8) -> Option<u8> {
    match DECODE[usize::from(c)] {
        0xFF => None,
        v => Some(v),
    }
}

/// Parses up to 8 hex digits as a number; `None` on any non-hex digit, on
/// an empty slice or on more than 8 digits.
#[inline]
pub fn parse_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let mut v = 0u32;
    for &c in digits {
        v = (v << 4) | u32::from(nibble(c)?);
    }
    Some(v)
}

/// Decodes pairs of hex digits into `out`; returns the number of bytes.
/// `None` on an odd digit count, a non-hex digit or when `out` is too small.
#[inline]
pub fn decode_into(digits: &[u8], out: &mut [u8]) -> Option<usize> {
    if !digits.len().is_multiple_of(2) || digits.len() / 2 > out.len() {
        return None;
    }
    for (pair, slot) in digits.chunks_exact(2).zip(out.iter_mut()) {
        let hi = nibble(pair.first().copied()?)?;
        let lo = nibble(pair.get(1).copied()?)?;
        *slot = (hi << 4) | lo;
    }
    Some(digits.len() / 2)
}

/// Decodes a hex string (spaces, dots and colons between bytes allowed) into
/// a vector: for command-line arguments and test fixtures, not hot paths.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|c| !matches!(c, b' ' | b'.' | b':' | b'_'))
        .collect();
    let mut out = vec![0u8; digits.len() / 2];
    let n = decode_into(&digits, &mut out)?;
    out.truncate(n);
    Some(out)
}

/// Appends `bytes` as upper-case hex digits.
#[inline]
pub fn push_upper(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(UPPER[usize::from(b >> 4)]);
        out.push(UPPER[usize::from(b & 0x0F)]);
    }
}

/// Upper-case hex digit of the low nibble of `v`.
#[inline]
pub fn upper_digit(v: u8) -> u8 {
    UPPER[usize::from(v & 0x0F)]
}

/// `bytes` as an upper-case hex string, no separators.
pub fn encode_upper(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_upper(&mut out, bytes);
    // Only ASCII digits were pushed.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_and_rejects() {
        assert_eq!(decode("01 bc:A4"), Some(vec![0x01, 0xBC, 0xA4]));
        assert_eq!(decode("0"), None);
        assert_eq!(decode("0g"), None);
        assert_eq!(parse_u32(b"7B6"), Some(0x7B6));
        assert_eq!(parse_u32(b"123456789"), None);
        assert_eq!(parse_u32(b""), None);
        let mut out = [0u8; 1];
        assert_eq!(decode_into(b"0102", &mut out), None);
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let s = encode_upper(&bytes);
            prop_assert_eq!(decode(&s), Some(bytes));
        }
    }
}
