//! Bit extraction for DBC-style signal positions (`start|length@order±`),
//! the convention of commaai/opendbc: bit `n` is byte `n / 8`, bit `n % 8`
//! (bit 0 least significant); `@1` is Intel (little-endian, `start` is the
//! least significant bit), `@0` is Motorola (big-endian, `start` is the most
//! significant bit and the signal continues into the following bytes).
//!
//! Owns: parsing the position text, reading raw values out of a payload and
//! writing them back in (the simulator encodes its state this way).
//! Must not know about roles, profiles or frames: it sees only bytes.

use std::fmt;

/// Byte order of a signal, as DBC writes it after `@`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    /// `@1`: little-endian; `start` is the least significant bit.
    Intel,
    /// `@0`: big-endian; `start` is the most significant bit.
    Motorola,
}

/// Where a value sits in a payload: `start|length@order` plus signedness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BitField {
    start: u16,
    length: u8,
    order: ByteOrder,
    signed: bool,
    /// Highest byte index the field touches, precomputed for the bounds check.
    last_byte: u16,
}

/// Why a position text was rejected; the message names what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BitFieldError {
    #[error("expected `start|length@order` with order 0 or 1 and sign + or - (e.g. `7|1@1+`), found `{0}`")]
    Syntax(String),
    #[error("signal length must be 1 to 64 bits, found {0}")]
    Length(u32),
    #[error("start bit {0} is beyond a 64-byte payload (last bit is 511)")]
    Start(u32),
    #[error("expected a byte letter and bit like `A.7` (byte A-Z, bit 0-7), found `{0}`")]
    ByteBit(String),
}

impl BitField {
    /// Largest payload a position may address: a CAN FD frame, or a
    /// diagnostic reply read as up to 4095 bytes.
    pub const MAX_BYTES: u16 = 4095;

    /// A field from its parts; `None` when the field would not fit in
    /// [`Self::MAX_BYTES`] or the length is not 1..=64.
    pub fn new(start: u16, length: u8, order: ByteOrder, signed: bool) -> Option<BitField> {
        if !(1..=64).contains(&length) || start / 8 >= Self::MAX_BYTES {
            return None;
        }
        let last_bit = match order {
            ByteOrder::Intel => u32::from(start) + u32::from(length) - 1,
            ByteOrder::Motorola => {
                let seq = motorola_seq(start) + u32::from(length) - 1;
                // Back from sequential (big-endian) index to DBC bit number.
                (seq / 8) * 8 + (7 - seq % 8)
            }
        };
        let last_byte = u16::try_from(last_bit / 8).ok()?;
        if last_byte >= Self::MAX_BYTES {
            return None;
        }
        Some(BitField {
            start,
            length,
            order,
            signed,
            last_byte,
        })
    }

    /// Parses DBC text `start|length@order±`, e.g. `55|1@0+`.
    pub fn parse_dbc(text: &str) -> Result<BitField, BitFieldError> {
        let syntax = || BitFieldError::Syntax(text.to_owned());
        let t = text.trim();
        let (start, rest) = t.split_once('|').ok_or_else(syntax)?;
        let (length, rest) = rest.split_once('@').ok_or_else(syntax)?;
        let mut chars = rest.chars();
        let order = match chars.next() {
            Some('0') => ByteOrder::Motorola,
            Some('1') => ByteOrder::Intel,
            _ => return Err(syntax()),
        };
        let signed = match (chars.next(), chars.next()) {
            (Some('+'), None) => false,
            (Some('-'), None) => true,
            _ => return Err(syntax()),
        };
        let start: u32 = start.trim().parse().map_err(|_| syntax())?;
        let length: u32 = length.trim().parse().map_err(|_| syntax())?;
        if !(1..=64).contains(&length) {
            return Err(BitFieldError::Length(length));
        }
        if start >= 512 {
            return Err(BitFieldError::Start(start));
        }
        // Both checked above: start < 512, length <= 64.
        BitField::new(start as u16, length as u8, order, signed).ok_or(BitFieldError::Start(start))
    }

    /// Parses the service-manual notation `A.7` (byte A = data byte 0, bit 7):
    /// one unsigned bit.
    pub fn parse_byte_bit(text: &str) -> Result<BitField, BitFieldError> {
        let err = || BitFieldError::ByteBit(text.to_owned());
        let t = text.trim();
        let (byte, bit) = t.split_once('.').ok_or_else(err)?;
        let mut bc = byte.chars();
        let b = match (bc.next(), bc.next()) {
            (Some(c), None) if c.is_ascii_uppercase() => u16::from(c as u8 - b'A'),
            _ => return Err(err()),
        };
        let bit: u16 = bit.parse().map_err(|_| err())?;
        if bit > 7 {
            return Err(err());
        }
        BitField::new(b * 8 + bit, 1, ByteOrder::Intel, false).ok_or_else(err)
    }

    pub fn start(&self) -> u16 {
        self.start
    }
    pub fn length(&self) -> u8 {
        self.length
    }
    pub fn order(&self) -> ByteOrder {
        self.order
    }
    pub fn signed(&self) -> bool {
        self.signed
    }
    /// Payload length the field needs: a shorter payload yields no value.
    pub fn min_payload_len(&self) -> usize {
        usize::from(self.last_byte) + 1
    }

    /// Absolute DBC bit numbers the field covers (for overlap checks).
    pub fn bits(&self) -> impl Iterator<Item = u32> + '_ {
        let mut pos = u32::from(self.start);
        (0..self.length).map(move |_| {
            let here = pos;
            pos = next_bit(self.order, pos);
            here
        })
    }

    /// The raw bits as an unsigned number; `None` if the payload is too short.
    #[inline]
    pub fn extract_raw(&self, data: &[u8]) -> Option<u64> {
        if data.len() <= usize::from(self.last_byte) {
            return None;
        }
        // Fields within the first 8 bytes of an 8-byte payload (every
        // classic frame's signals): one shift of the payload read as a word.
        if let Some(word) = data.get(..8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
            let len = u32::from(self.length);
            let mask = u64::MAX >> (64 - len);
            match self.order {
                ByteOrder::Intel if u32::from(self.start) + len <= 64 => {
                    return Some((u64::from_le_bytes(word) >> self.start) & mask)
                }
                ByteOrder::Motorola if motorola_seq(self.start) + len <= 64 => {
                    let shift = 64 - motorola_seq(self.start) - len;
                    return Some((u64::from_be_bytes(word) >> shift) & mask);
                }
                _ => {}
            }
        }
        let mut value: u64 = 0;
        let mut pos = u32::from(self.start);
        for i in 0..u32::from(self.length) {
            let byte = *data.get((pos / 8) as usize)?;
            let bit = u64::from((byte >> (pos % 8)) & 1);
            match self.order {
                ByteOrder::Intel => value |= bit << i,
                ByteOrder::Motorola => value = (value << 1) | bit,
            }
            pos = next_bit(self.order, pos);
        }
        Some(value)
    }

    /// The inverse of [`extract_raw`](Self::extract_raw): writes the low
    /// `length` bits of `raw` into `data` at this position, leaving every
    /// other bit alone. `None` (and `data` untouched) if the payload is too
    /// short. Bits of `raw` above `length` are ignored.
    pub fn insert_raw(&self, data: &mut [u8], raw: u64) -> Option<()> {
        if data.len() <= usize::from(self.last_byte) {
            return None;
        }
        let mut pos = u32::from(self.start);
        let len = u32::from(self.length);
        for i in 0..len {
            // Intel walks up from the least significant bit; Motorola from
            // the most significant one (see `extract_raw`).
            let shift = match self.order {
                ByteOrder::Intel => i,
                ByteOrder::Motorola => len - 1 - i,
            };
            let bit = (raw >> shift) & 1 == 1;
            let byte = data.get_mut((pos / 8) as usize)?;
            let mask = 1u8 << (pos % 8);
            if bit {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
            pos = next_bit(self.order, pos);
        }
        Some(())
    }

    /// Writes a signed or unsigned integer: the inverse of
    /// [`extract`](Self::extract). Values that do not fit are clamped to the
    /// field's range, so an out-of-range physical value saturates like a
    /// real sensor instead of wrapping.
    pub fn insert(&self, data: &mut [u8], value: i128) -> Option<()> {
        let len = u32::from(self.length);
        let (min, max) = if self.signed {
            (-(1i128 << (len - 1)), (1i128 << (len - 1)) - 1)
        } else {
            (0, (1i128 << len) - 1)
        };
        let v = value.clamp(min, max);
        // Two's complement in `len` bits; the mask drops the sign extension.
        let raw = (v as u128 & ((1u128 << len) - 1)) as u64;
        self.insert_raw(data, raw)
    }

    /// The value as a float, sign-extended for `-` fields: what
    /// [`extract`](Self::extract) gives, without 128-bit arithmetic (the
    /// decoding hot path).
    #[inline]
    pub fn extract_f64(&self, data: &[u8]) -> Option<f64> {
        let raw = self.extract_raw(data)?;
        let len = u32::from(self.length);
        Some(if self.signed && raw >> (len - 1) & 1 == 1 {
            // Sign-extend: the bits above the field all set.
            (raw | !(u64::MAX >> (64 - len))) as i64 as f64
        } else {
            raw as f64
        })
    }

    /// The value as an integer, sign-extended for `-` fields.
    pub fn extract(&self, data: &[u8]) -> Option<i128> {
        let raw = self.extract_raw(data)?;
        if self.signed && self.length < 64 && raw >> (self.length - 1) & 1 == 1 {
            Some(i128::from(raw) - (1i128 << self.length))
        } else if self.signed && self.length == 64 {
            Some(i128::from(raw as i64))
        } else {
            Some(i128::from(raw))
        }
    }
}

/// The DBC bit that follows `pos` in a signal of this order.
fn next_bit(order: ByteOrder, pos: u32) -> u32 {
    match order {
        ByteOrder::Intel => pos + 1,
        // Motorola walks down within a byte, then to the top bit of the next byte.
        ByteOrder::Motorola if pos.is_multiple_of(8) => pos + 15,
        ByteOrder::Motorola => pos - 1,
    }
}

/// Index of DBC bit `start` when the payload is read as one big-endian bit
/// string (byte 0 bit 7 = index 0).
fn motorola_seq(start: u16) -> u32 {
    let s = u32::from(start);
    (s / 8) * 8 + (7 - s % 8)
}

/// A multiplexed value is present only when the payload's multiplexor
/// switch (`bits`) holds `value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mux {
    pub bits: BitField,
    pub value: u64,
}

impl Mux {
    /// True when the payload carries this multiplexed value.
    #[inline]
    pub fn holds(&self, data: &[u8]) -> bool {
        self.bits.extract_raw(data) == Some(self.value)
    }
}

impl fmt::Display for Mux {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.bits, self.value)
    }
}

impl fmt::Display for BitField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = match self.order {
            ByteOrder::Intel => 1,
            ByteOrder::Motorola => 0,
        };
        let sign = if self.signed { '-' } else { '+' };
        write!(f, "{}|{}@{}{}", self.start, self.length, order, sign)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(s: &str) -> BitField {
        BitField::parse_dbc(s).unwrap()
    }

    /// Straightforward reference: the payload as a list of bits, read the
    /// way the DBC definition describes each order, with no shared helper.
    fn reference(data: &[u8], start: u32, len: u32, motorola: bool) -> Option<u64> {
        let bit = |byte: usize, b: u32| data.get(byte).map(|x| (x >> b) & 1 == 1);
        let mut v: u64 = 0;
        if motorola {
            // Big-endian bit string: index i = byte i/8, bit 7 - i%8.
            let msb = (start / 8) * 8 + (7 - start % 8);
            for i in msb..msb + len {
                let set = bit((i / 8) as usize, 7 - i % 8)?;
                v = (v << 1) | u64::from(set);
            }
        } else {
            for k in 0..len {
                let i = start + k;
                let set = bit((i / 8) as usize, i % 8)?;
                v |= u64::from(set) << k;
            }
        }
        Some(v)
    }

    #[test]
    fn vehicle_data_examples() {
        // 0x60D A.7: trunk lid open, Intel bit 7.
        let lid = f("7|1@1+");
        assert_eq!(lid.extract_raw(&[0x80, 0, 0, 0, 0, 0, 0, 0]), Some(1));
        assert_eq!(lid.extract_raw(&[0x7F, 0xFF]), Some(0));
        assert_eq!(lid, BitField::parse_byte_bit("A.7").unwrap());
        // 0x454 BOOT_OPEN 55|1@0+: byte 6 bit 7.
        let boot = f("55|1@0+");
        assert_eq!(boot.extract_raw(&[0, 0, 0, 0, 0, 0, 0x80, 0]), Some(1));
        assert_eq!(
            boot.extract_raw(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF]),
            Some(0)
        );
        // Ford Decklid_Ajar_Status 3|1@0+: byte 0 bit 3.
        assert_eq!(f("3|1@0+").extract_raw(&[0x08]), Some(1));
        assert_eq!(f("3|1@0+").extract_raw(&[0xF7]), Some(0));
        // PE_Decklid_Inhibit_Rqst 53|2@0+: byte 6 bits 5 (MSB) and 4.
        let inh = f("53|2@0+");
        assert_eq!(inh.extract_raw(&[0, 0, 0, 0, 0, 0, 0x20, 0]), Some(2));
        assert_eq!(inh.extract_raw(&[0, 0, 0, 0, 0, 0, 0x10, 0]), Some(1));
        assert_eq!(inh.extract_raw(&[0, 0, 0, 0, 0, 0, 0x30, 0]), Some(3));
        // Power_Decklid_Rqst 31|1@0+: byte 3 bit 7.
        assert_eq!(f("31|1@0+").extract_raw(&[0, 0, 0, 0x80]), Some(1));
        // Speed: bytes E-F big-endian x 0.01 = Motorola start at byte 4 bit 7.
        let speed = f("39|16@0+");
        assert_eq!(
            speed.extract_raw(&[0, 0, 0, 0, 0x12, 0x34, 0, 0]),
            Some(0x1234)
        );
        assert_eq!(speed.min_payload_len(), 6);
        // Byte D bit 5 of 0x60D.
        assert_eq!(BitField::parse_byte_bit("D.5").unwrap().start(), 29);
    }

    #[test]
    fn insert_vehicle_data_examples() {
        let mut d = [0u8; 8];
        f("39|16@0+").insert(&mut d, 2000).unwrap(); // 20.00 km/h
        assert_eq!(d, [0, 0, 0, 0, 0x07, 0xD0, 0, 0]);
        let mut d = [0u8; 8];
        f("53|2@0+").insert(&mut d, 2).unwrap();
        assert_eq!(d[6], 0x20);
        let mut d = [0xFFu8; 8];
        f("55|1@0+").insert(&mut d, 0).unwrap();
        assert_eq!(d[6], 0x7F);
        f("0|8@1+").insert(&mut d, 300).unwrap(); // clamped
        assert_eq!(d[0], 0xFF);
        assert_eq!(f("55|1@0+").insert(&mut [0u8; 6], 1), None);
    }

    #[test]
    fn short_payload_gives_no_value() {
        assert_eq!(f("55|1@0+").extract_raw(&[0; 6]), None);
        assert_eq!(f("39|16@0+").extract_raw(&[0; 5]), None);
        assert_eq!(f("0|8@1+").extract_raw(&[]), None);
    }

    #[test]
    fn signed_values() {
        assert_eq!(f("0|8@1-").extract(&[0xFF]), Some(-1));
        assert_eq!(f("0|8@1-").extract(&[0x7F]), Some(127));
        assert_eq!(f("7|16@0-").extract(&[0x80, 0x00]), Some(-32768));
        assert_eq!(f("0|64@1-").extract(&[0xFF; 8]), Some(-1));
        assert_eq!(f("0|64@1+").extract(&[0xFF; 8]), Some(i128::from(u64::MAX)));
    }

    #[test]
    fn parse_errors_name_what_was_expected() {
        for bad in [
            "", "7|1", "7|1@2+", "7|1@1", "7|1@1+x", "a|1@1+", "7|0@1+", "7|65@1+", "512|1@1+",
        ] {
            let e = BitField::parse_dbc(bad).unwrap_err().to_string();
            assert!(
                e.contains("expected") || e.contains("must be") || e.contains("beyond"),
                "{bad}: {e}"
            );
        }
        for bad in ["A", "A.8", "a.1", "AA.1", "A.x"] {
            assert!(BitField::parse_byte_bit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["7|1@1+", "55|1@0+", "39|16@0-", "0|64@1+"] {
            assert_eq!(f(s).to_string(), s);
        }
    }

    proptest! {
        #[test]
        fn matches_reference(data in proptest::collection::vec(any::<u8>(), 0..64),
                             start in 0u16..512, len in 1u8..=64, motorola: bool) {
            let order = if motorola { ByteOrder::Motorola } else { ByteOrder::Intel };
            if let Some(field) = BitField::new(start, len, order, false) {
                let want = reference(&data, u32::from(start), u32::from(len), motorola);
                prop_assert_eq!(field.extract_raw(&data), want);
                // The bounds the field reports agree with where the value stops existing.
                prop_assert_eq!(want.is_some(), data.len() >= field.min_payload_len());
            }
        }

        /// The word fast path (8-byte payloads, fields in the first 64
        /// bits) against the reference, and the float form against the
        /// integer one.
        #[test]
        fn classic_payloads_match_reference(data in proptest::collection::vec(any::<u8>(), 0..=8),
                             start in 0u16..64, len in 1u8..=64, motorola: bool, signed: bool) {
            let order = if motorola { ByteOrder::Motorola } else { ByteOrder::Intel };
            if let Some(field) = BitField::new(start, len, order, signed) {
                let want = reference(&data, u32::from(start), u32::from(len), motorola);
                prop_assert_eq!(field.extract_raw(&data), want);
                prop_assert_eq!(field.extract_f64(&data), field.extract(&data).map(|v| v as f64));
            }
        }

        #[test]
        fn insert_is_the_inverse_of_extract(data in proptest::collection::vec(any::<u8>(), 0..64),
                             start in 0u16..512, len in 1u8..=64, motorola: bool, signed: bool,
                             value: i64) {
            let order = if motorola { ByteOrder::Motorola } else { ByteOrder::Intel };
            if let Some(field) = BitField::new(start, len, order, signed) {
                let mut out = data.clone();
                let wrote = field.insert(&mut out, i128::from(value));
                prop_assert_eq!(wrote.is_some(), data.len() >= field.min_payload_len());
                if wrote.is_none() {
                    prop_assert_eq!(&out, &data);
                } else {
                    let l = u32::from(len);
                    let (min, max) = if signed {
                        (-(1i128 << (l - 1)), (1i128 << (l - 1)) - 1)
                    } else {
                        (0, (1i128 << l) - 1)
                    };
                    prop_assert_eq!(field.extract(&out), Some(i128::from(value).clamp(min, max)));
                    // Only the field's own bits changed.
                    let own: std::collections::BTreeSet<u32> = field.bits().collect();
                    for (i, (a, b)) in data.iter().zip(&out).enumerate() {
                        for bit in 0..8u32 {
                            if !own.contains(&(i as u32 * 8 + bit)) {
                                prop_assert_eq!((a >> bit) & 1, (b >> bit) & 1);
                            }
                        }
                    }
                }
            }
        }

        #[test]
        fn bits_cover_length_distinct(start in 0u16..512, len in 1u8..=64, motorola: bool) {
            let order = if motorola { ByteOrder::Motorola } else { ByteOrder::Intel };
            if let Some(field) = BitField::new(start, len, order, false) {
                let bits: std::collections::BTreeSet<u32> = field.bits().collect();
                prop_assert_eq!(bits.len(), usize::from(len));
                let max = bits.iter().max().copied().unwrap_or(0);
                prop_assert_eq!(max / 8 + 1, field.min_payload_len() as u32);
            }
        }
    }
}
