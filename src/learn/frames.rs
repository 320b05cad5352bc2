//! One identifier's series on its own, before any mark is looked at: which
//! bits ever change, which bytes are rolling counters, checksums or busy,
//! and the candidate places left to score.

use std::collections::BTreeMap;

use crate::frame::CanId;

use super::{Kind, Place, Rejected};

/// What one identifier's series says about itself.
#[derive(Debug)]
pub(crate) struct Analysis {
    /// Bits that change at least once (payload word, little-endian).
    pub active: u64,
    pub rejected: Vec<Rejected>,
    /// Runs of bits inside one byte, both end bits active, none excluded.
    pub candidates: Vec<Place>,
}

/// A counter must count on at least this share of frame-to-frame steps.
const COUNTER_SHARE: f64 = 0.9;
/// A checksum formula must hold on at least this share of frames.
const CHECKSUM_SHARE: f64 = 0.95;
/// Busy: changes on at least this share of the frames where another byte changes.
const BUSY_SHARE: f64 = 0.9;
/// Fewer steps than this tell nothing about counting or checksums.
const MIN_STEPS: usize = 8;

fn byte(word: u64, i: u8) -> u8 {
    (word >> (u32::from(i) * 8)) as u8
}

/// One page of a multiplexed frame: its byte-0 value and its frames.
pub(crate) type Page = (u8, Vec<(u64, u64)>);

/// The pages of a frame multiplexed by data byte 0, each with its own
/// frames; `None` for an ordinary frame. Byte 0 is a page selector when it
/// takes 2 to 16 values, switches on at least 30 % of frame-to-frame steps,
/// every value recurs (at least 3 times and 2 % of the frames), and it does
/// not count up by one like a rolling counter.
pub(crate) fn pages(series: &[(u64, u64)]) -> Option<Vec<Page>> {
    if series.len() < 20 {
        return None;
    }
    let mut counts: BTreeMap<u8, usize> = BTreeMap::new();
    for &(_, w) in series {
        *counts.entry(byte(w, 0)).or_default() += 1;
    }
    let steps = series.len() - 1;
    let switches = series
        .windows(2)
        .filter(|w| matches!(w, [(_, a), (_, b)] if byte(*a, 0) != byte(*b, 0)))
        .count();
    let least = 3.max(series.len() / 50);
    let is_pages = (2..=16).contains(&counts.len())
        && switches * 10 >= steps * 3
        && counts.values().all(|&n| n >= least)
        && counter_in(series, 0).is_none_or(|(_, _, share)| share < 0.9);
    if !is_pages {
        return None;
    }
    Some(
        counts
            .keys()
            .map(|&v| {
                let part = series
                    .iter()
                    .copied()
                    .filter(|&(_, w)| byte(w, 0) == v)
                    .collect();
                (v, part)
            })
            .collect(),
    )
}

pub(crate) fn analyse(id: CanId, page: Option<u8>, series: &[(u64, u64)]) -> Analysis {
    let mut active = 0u64;
    for w in series.windows(2) {
        if let [(_, a), (_, b)] = w {
            active |= a ^ b;
        }
    }
    let mut excluded = 0u64;
    let mut rejected = Vec::new();
    let whole = |b: u8| Place {
        id,
        page,
        byte: b,
        lo: 0,
        len: 8,
    };
    let mut counters: Vec<(u8, u8, u8, f64)> = (0..8u8)
        .filter(|&b| byte(active, b) != 0)
        .filter_map(|b| counter_in(series, b).map(|(lo, len, share)| (b, lo, len, share)))
        .collect();
    // A checksum beside a counter can itself look like one (a sum moves with
    // the counter), so the checksum is decided first and owns its byte.
    if let Some((b, why)) = checksum_of(series, active, &counters) {
        counters.retain(|c| c.0 != b);
        excluded |= whole(b).mask();
        rejected.push(Rejected {
            place: whole(b),
            kind: Kind::Checksum,
            why,
        });
    }
    for (b, lo, len, share) in counters {
        let p = Place {
            id,
            page,
            byte: b,
            lo,
            len,
        };
        excluded |= p.mask();
        rejected.push(Rejected {
            place: p,
            kind: Kind::Counter,
            why: format!(
                "counts up by one (mod {}) on {:.0}% of frame-to-frame steps",
                1u32 << len,
                share * 100.0
            ),
        });
    }
    for b in 0..8u8 {
        let p = whole(b);
        if byte(active, b) == 0 || p.mask() & excluded != 0 {
            continue;
        }
        if let Some(why) = busy(series, b) {
            excluded |= p.mask();
            rejected.push(Rejected {
                place: p,
                kind: Kind::Busy,
                why,
            });
        }
    }
    rejected.sort_by_key(|r| r.place);
    let mut candidates = Vec::new();
    for b in 0..8u8 {
        for lo in 0..8u8 {
            for len in 1..=(8 - lo) {
                let p = Place {
                    id,
                    page,
                    byte: b,
                    lo,
                    len,
                };
                let bit = |i: u8| 1u64 << (u32::from(b) * 8 + u32::from(i));
                let ends_active = active & bit(lo) != 0 && active & bit(lo + len - 1) != 0;
                if ends_active && p.mask() & excluded == 0 {
                    candidates.push(p);
                }
            }
        }
    }
    Analysis {
        active,
        rejected,
        candidates,
    }
}

/// The best run of 2..8 bits in byte `b` that counts up by one mod 2^len on
/// most steps: `(lo, len, share)`. Of runs within 2 points of the best share,
/// the longest (an 8-bit counter's low 7 bits count too, but less often).
fn counter_in(series: &[(u64, u64)], b: u8) -> Option<(u8, u8, f64)> {
    if series.len() <= MIN_STEPS {
        return None;
    }
    let steps = (series.len() - 1) as f64;
    let mut runs = Vec::new();
    for lo in 0..8u8 {
        for len in 2..=(8 - lo) {
            let mask = (1u16 << len) - 1;
            let counted = series
                .windows(2)
                .filter(|w| {
                    let (a, c) = match w {
                        [(_, a), (_, c)] => (*a, *c),
                        _ => return false,
                    };
                    let va = (u16::from(byte(a, b)) >> lo) & mask;
                    let vc = (u16::from(byte(c, b)) >> lo) & mask;
                    vc == (va + 1) & mask
                })
                .count() as f64;
            runs.push((lo, len, counted / steps));
        }
    }
    let best = runs.iter().map(|r| r.2).fold(0.0, f64::max);
    if best < COUNTER_SHARE {
        return None;
    }
    runs.into_iter()
        .filter(|r| r.2 >= best - 0.02)
        .max_by_key(|r| r.1)
}

/// CRC-8 with the SAE J1850 polynomial (0x1D), initial value 0, over `data`.
fn crc8(data: impl Iterator<Item = u8>) -> u8 {
    let mut crc = 0u8;
    for d in data {
        crc ^= d;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x1D
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The checksum byte, if one is, on nearly every distinct payload, a fixed
/// offset from the sum, or a fixed XOR of the XOR or of the CRC-8 of the
/// other bytes (a CRC's initial value and final XOR only add a constant for
/// a given length, which the fixed XOR absorbs): `(byte, how)`.
///
/// Every byte of a frame with an XOR checksum is the XOR of the others, so
/// of the bytes that fit one is chosen: see the order below.
fn checksum_of(
    series: &[(u64, u64)],
    active: u64,
    counters: &[(u8, u8, u8, f64)],
) -> Option<(u8, String)> {
    // Judged over distinct payloads, so a frame that repeats one payload
    // (all zeros, say) most of the time does not "match" by repetition; and
    // the byte itself must take several values, or any constant matches.
    let mut words: Vec<u64> = series.iter().map(|s| s.1).collect();
    words.sort_unstable();
    words.dedup();
    if words.len() < MIN_STEPS {
        return None;
    }
    type Formula = (
        &'static str,
        fn(u8, u8) -> u8,
        fn(&mut dyn Iterator<Item = u8>) -> u8,
    );
    let formulas: [Formula; 3] = [
        (
            "sum",
            |c, s| c.wrapping_sub(s),
            |it| it.fold(0u8, |a, x| a.wrapping_add(x)),
        ),
        ("XOR", |c, s| c ^ s, |it| it.fold(0u8, |a, x| a ^ x)),
        ("CRC-8 (SAE J1850)", |c, s| c ^ s, |it| crc8(it)),
    ];
    // Steps on which the bits of byte `b` under `mask` change.
    let changes = |b: u8, mask: u8| {
        series
            .windows(2)
            .filter(|w| matches!(w, [(_, x), (_, y)] if (byte(*x, b) ^ byte(*y, b)) & mask != 0))
            .count()
    };
    for (name, combine, reduce) in formulas {
        let mut fits = Vec::new();
        for b in (0..8u8).filter(|&b| byte(active, b) != 0) {
            let mut values: Vec<u8> = words.iter().map(|&w| byte(w, b)).collect();
            values.sort_unstable();
            values.dedup();
            if values.len() < 4 {
                continue;
            }
            let mut counts = std::collections::HashMap::<u8, usize>::new();
            for &w in &words {
                let others = (0..8u8).filter(|&i| i != b).map(|i| byte(w, i));
                let s = reduce(&mut others.into_iter());
                *counts.entry(combine(byte(w, b), s)).or_default() += 1;
            }
            let (k, n) = counts.into_iter().max_by_key(|e| e.1).unwrap_or_default();
            if n as f64 >= CHECKSUM_SHARE * words.len() as f64 {
                // A counter seen in this byte: its length and its bits.
                let (len, bits) = counters
                    .iter()
                    .find(|c| c.0 == b)
                    .map_or((0, 0), |c| (c.2, (((1u16 << c.2) - 1) << c.1) as u8));
                fits.push((b, k, n, len, changes(b, !bits), changes(b, 0xFF)));
            }
        }
        // Bytes with no counter first; else the one whose "counter" is the
        // shortest (a few bits of an XOR moving with the real counter); then
        // the one whose other bits move most (an XOR's bits outside the
        // counter move with every signal, a counter byte's do not).
        let best = fits
            .into_iter()
            .max_by_key(|f| (std::cmp::Reverse(f.3), f.4, f.5, f.0));
        if let Some((b, k, n, ..)) = best {
            return Some((
                b,
                format!(
                    "a checksum: the {name} of the other bytes, combined with 0x{k:02X}, on {n} of {} distinct payloads",
                    words.len()
                ),
            ));
        }
    }
    None
}

/// `Some(how)` when byte `b` changes on nearly every step where another byte
/// changes and moves at least three of its bits.
fn busy(series: &[(u64, u64)], b: u8) -> Option<String> {
    let mask = 0xFFu64 << (u32::from(b) * 8);
    let (mut other, mut both, mut bits) = (0usize, 0usize, 0u8);
    for w in series.windows(2) {
        if let [(_, x), (_, y)] = w {
            let d = x ^ y;
            bits |= byte(d, b);
            if d & !mask != 0 {
                other += 1;
                if d & mask != 0 {
                    both += 1;
                }
            }
        }
    }
    if other >= MIN_STEPS && both as f64 >= BUSY_SHARE * other as f64 && bits.count_ones() >= 3 {
        Some(format!(
            "changes on {both} of the {other} frames where another byte changes"
        ))
    } else {
        None
    }
}

#[cfg(test)]
pub(crate) fn crc8_for_tests(data: &[u8]) -> u8 {
    crc8(data.iter().copied())
}
