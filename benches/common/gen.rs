//! Deterministic generator of a large candump log for benchmarks and tests.
//!
//! Depends on `std` only and knows nothing about trunkdiag: the same file is
//! compiled into the criterion benches, into trunkdiag's capture tests and
//! into the `peers` tool (`benches/peers`) that `scripts/bench` uses to write
//! the 2-million-frame log. Same `frames` in, same bytes out, on any machine.
//!
//! What it writes, all on `can0`, one candump line per frame, timestamps
//! strictly increasing, no comment lines (the socketcan crate's reader, a
//! peer, rejects them):
//! - first, a BCM diagnosis of a Nissan Altima 2013-2018 as its profile
//!   describes it (tester 0x745, BCM 0x765, KWP2000 over ISO-TP): `10 C0` /
//!   `50 C0`, `21 44` answered by a multi-frame `61 44 ..` (first frame,
//!   flow control, consecutive frame), `18 02 FF 00` / `58 01 A5 62 ..`
//!   (B2562, low voltage), keep-alive `3E 01` / `7E 01`, interleaved with the
//!   body broadcasts 0x60D, 0x6F6, 0x284 and 0x358;
//! - then a saturated bus of the body and powertrain ids the profile lists for
//!   this family. Real periods (10-100 ms) give about 1,000 frames/s; the
//!   periods here are shortened so the bus carries about 4,000 frames/s, the
//!   most a 500 kbit/s bus holds, which is what a shop's worst capture looks
//!   like to a parser.
//!
//! [`Workload::Dense`] is the worst case for the decoding behind the parser:
//! the four ids the profile decodes (0x60D, 0x358, 0x284, 0x6F6) come about
//! every 2.5 ms (0x6F6 every 10 ms), a quarter of the frames, and every
//! signal bit they carry (lid, ignition, trunk request, door locks, speed,
//! voltage) takes a new random value on every frame.

use std::io::{self, Write};

/// First timestamp, microseconds since the epoch (10 digits of seconds, as
/// candump writes them).
pub const START_US: u64 = 1_700_000_000_000_000;

/// A periodic broadcast: id, period in microseconds, payload length.
struct Periodic {
    id: u16,
    period_us: u64,
    len: usize,
    next_us: u64,
    counter: u8,
}

/// The known ids of a pre-2019 Nissan of the Altima family, with the
/// (shortened) periods that fill the bus.
const SCHEDULE: &[(u16, u64, usize)] = &[
    (0x002, 2_500, 5),
    (0x160, 2_500, 8),
    (0x161, 2_500, 8),
    (0x180, 2_500, 8),
    (0x1F9, 2_500, 8),
    (0x19B, 5_000, 8),
    (0x215, 5_000, 6),
    (0x280, 5_000, 8),
    (0x284, 5_000, 8),
    (0x285, 5_000, 8),
    (0x2A0, 5_000, 8),
    (0x2DE, 10_000, 8),
    (0x354, 10_000, 8),
    (0x355, 10_000, 7),
    (0x358, 20_000, 8),
    (0x35D, 20_000, 8),
    (0x551, 20_000, 8),
    (0x5C5, 20_000, 4),
    (0x5DD, 20_000, 8),
    (0x5E1, 20_000, 8),
    (0x5E4, 20_000, 8),
    (0x60D, 20_000, 8),
    (0x625, 20_000, 6),
    (0x6F6, 100_000, 8),
];

/// Which capture to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// The profile's ids at their (shortened) real periods, signals steady:
    /// about 8 % of the frames, few changes.
    Sparse,
    /// The profile's ids about a quarter of the frames, their signal bits
    /// changing on every frame.
    Dense,
}

/// Periods of the profile's ids in the dense workload.
const DENSE_PERIODS: &[(u16, u64)] = &[
    (0x60D, 2_500),
    (0x358, 2_500),
    (0x284, 2_500),
    (0x6F6, 10_000),
];

/// The diagnosis at the start: (offset from START_US in µs, id, payload).
/// ISO-TP normal addressing, padded to 8 bytes with 0xFF by the caller.
const CONVERSATION: &[(u64, u16, &[u8])] = &[
    (150_000, 0x745, &[0x02, 0x10, 0xC0]),
    (162_000, 0x765, &[0x02, 0x50, 0xC0]),
    (300_000, 0x745, &[0x02, 0x21, 0x44]),
    // 61 44 + 8 data bytes: A = 0x80 (trunk cancel switch OFF), B = 0x00.
    (
        311_000,
        0x765,
        &[0x10, 0x0A, 0x61, 0x44, 0x80, 0x00, 0x00, 0x00],
    ),
    (312_000, 0x745, &[0x30, 0x00, 0x00]),
    (313_500, 0x765, &[0x21, 0x00, 0x00, 0x00, 0x00]),
    (450_000, 0x745, &[0x04, 0x18, 0x02, 0xFF, 0x00]),
    (461_000, 0x765, &[0x05, 0x58, 0x01, 0xA5, 0x62, 0x08]),
    (1_800_000, 0x745, &[0x02, 0x3E, 0x01]),
    (1_809_000, 0x765, &[0x02, 0x7E, 0x01]),
];

/// A small deterministic PRNG (xorshift64*): no dependency, stable output.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Time one 8-byte classic frame occupies a 500 kbit/s bus (with stuffing),
/// the least gap between two timestamps.
const FRAME_TIME_US: u64 = 230;

/// The payload of a periodic frame, with the signals the profile names held
/// at a consistent state: ignition ON, trunk closed, doors unlocked, car
/// standing, battery 11.8 V.
fn payload(p: &Periodic, rng: &mut Rng, out: &mut [u8; 8], workload: Workload) {
    let noise = rng.next().to_le_bytes();
    *out = noise;
    if workload == Workload::Dense && DENSE_PERIODS.iter().any(|&(id, _)| id == p.id) {
        // Every bit random: each decoded signal changes on (almost) every frame.
        return;
    }
    match p.id {
        // byte A bit 7 lid open = 0; B bit 2 ignition ON; D bit 5 request = 0.
        0x60D => *out = [0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
        // bytes E-F speed 0.
        0x284 => {
            out[4] = 0;
            out[5] = 0;
        }
        // byte F bits 0 and 1: doors unlocked.
        0x358 => out[5] &= !0x03,
        // byte A × 0.1 V.
        0x6F6 => out[0] = 118,
        _ => {}
    }
    // A rolling counter in the last byte, as most of these frames carry.
    if p.id != 0x60D {
        if let Some(last) = out.get_mut(p.len.saturating_sub(1)) {
            *last = p.counter;
        }
    }
}

fn push_line(line: &mut Vec<u8>, ts_us: u64, id: u16, data: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let sec = ts_us / 1_000_000;
    let us = ts_us % 1_000_000;
    line.extend_from_slice(format!("({sec:010}.{us:06}) can0 ").as_bytes());
    for shift in [8, 4, 0] {
        line.push(HEX[usize::from((id >> shift) & 0xF)]);
    }
    line.push(b'#');
    for b in data {
        line.push(HEX[usize::from(b >> 4)]);
        line.push(HEX[usize::from(b & 0xF)]);
    }
    line.push(b'\n');
}

/// Writes a log of exactly `frames` frames of the sparse workload (the
/// conversation is cut short when `frames` is smaller than it).
pub fn generate(frames: u64, out: &mut impl Write) -> io::Result<()> {
    generate_workload(frames, Workload::Sparse, out)
}

/// Writes a log of exactly `frames` frames of `workload`.
pub fn generate_workload(frames: u64, workload: Workload, out: &mut impl Write) -> io::Result<()> {
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    let period_of = |id: u16, period_us: u64| match workload {
        Workload::Sparse => period_us,
        Workload::Dense => DENSE_PERIODS
            .iter()
            .find(|&&(d, _)| d == id)
            .map_or(period_us, |&(_, p)| p),
    };
    let mut periodic: Vec<Periodic> = SCHEDULE
        .iter()
        .enumerate()
        .map(|(i, &(id, period_us, len))| Periodic {
            id,
            period_us: period_of(id, period_us),
            len,
            // Spread the phases so the ids do not all fall due together.
            next_us: START_US + (i as u64 * 397) % period_of(id, period_us),
            counter: 0,
        })
        .collect();
    let mut conversation = CONVERSATION.iter().peekable();
    let mut line = Vec::with_capacity(64 * 1024);
    let mut bus_free_us = START_US;
    let mut last_us = 0;
    for _ in 0..frames {
        // The earliest due periodic frame; a conversation frame due earlier
        // goes first.
        let (due, idx) = periodic
            .iter()
            .enumerate()
            .map(|(i, p)| (p.next_us, i))
            .min()
            .unwrap_or((u64::MAX, 0));
        let jitter = rng.next() % 40;
        let mut data = [0xFFu8; 8];
        let (t_due, id, len) = match conversation.peek() {
            Some(&&(at, id, bytes)) if START_US + at <= due => {
                conversation.next();
                if let Some(dst) = data.get_mut(..bytes.len()) {
                    dst.copy_from_slice(bytes);
                }
                (START_US + at, id, 8)
            }
            _ => match periodic.get_mut(idx) {
                Some(p) => {
                    payload(p, &mut rng, &mut data, workload);
                    p.next_us += p.period_us;
                    p.counter = p.counter.wrapping_add(1);
                    (due, p.id, p.len)
                }
                None => break,
            },
        };
        // Arbitration delays a frame while the bus is busy; timestamps stay
        // strictly increasing.
        let ts = (t_due + jitter).max(bus_free_us).max(last_us + 1);
        bus_free_us = ts + FRAME_TIME_US;
        last_us = ts;
        push_line(&mut line, ts, id, data.get(..len).unwrap_or(&data));
        if line.len() > 60 * 1024 {
            out.write_all(&line)?;
            line.clear();
        }
    }
    out.write_all(&line)
}
