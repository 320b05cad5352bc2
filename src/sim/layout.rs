//! A car with a random body-frame layout, for testing `learn`: the lid,
//! lock, ignition, fob-request, cabin-request and lockout bits sit at
//! seeded random positions in random broadcast frames, beside rolling
//! counters, checksums (sum, XOR or CRC-8 of the other bytes), noisy bits
//! and slowly moving values, as on real buses. A timeline of a person's
//! actions (the steps a guided `learn` asks for, each performed a little
//! after its prompt) drives the car; [`LayoutCar::frames`] yields every
//! frame in time order. Sans-IO and deterministic for a seed.

use crate::frame::{CanFrame, CanId};
use crate::profile::Role;

/// SplitMix64: small, seedable, good enough to place bits.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
}

/// How a checksum byte is computed from the frame's other bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumKind {
    Sum,
    Xor,
    /// CRC-8, polynomial 0x1D (SAE J1850), initial value 0xFF.
    Crc8,
}

/// Where a role's bit is: frame index, byte, bit (0 = least significant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleBit {
    pub role: Role,
    pub frame: usize,
    pub byte: u8,
    pub bit: u8,
    /// Active low: the bit is 0 when the role is on.
    pub inverted: bool,
}

impl RoleBit {
    /// DBC start bit (`byte * 8 + bit`).
    pub fn start(&self) -> u16 {
        u16::from(self.byte) * 8 + u16::from(self.bit)
    }
}

/// One broadcast frame of the layout.
#[derive(Clone, Debug, PartialEq)]
pub struct LayoutFrame {
    pub id: CanId,
    pub period_us: u64,
    /// `(byte, lo, len)` of a rolling counter.
    pub counter: Option<(u8, u8, u8)>,
    /// Byte and kind of a checksum (always beside a counter).
    pub checksum: Option<(u8, ChecksumKind, u8)>,
    /// Bytes that drift up and down by one now and then.
    pub drifting: Vec<u8>,
    /// `(byte, bit)` that flip at random moments.
    pub noisy_bits: Vec<(u8, u8)>,
    /// The payload's fixed bits.
    pub base: [u8; 8],
}

/// The roles a random layout places, in the order they are placed.
pub const LAYOUT_ROLES: [Role; 6] = [
    Role::LidOpen,
    Role::DoorsLocked,
    Role::IgnitionOn,
    Role::FobTrunkRequest,
    Role::CabinTrunkRequest,
    Role::Lockout,
];

/// A random layout.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomLayout {
    pub seed: u64,
    pub frames: Vec<LayoutFrame>,
    pub roles: Vec<RoleBit>,
}

impl RandomLayout {
    pub fn generate(seed: u64) -> RandomLayout {
        let mut rng = Rng::new(seed);
        let n = 5 + rng.below(6) as usize;
        let mut ids: Vec<u32> = Vec::new();
        while ids.len() < n {
            let id = 0x100 + rng.below(0x600) as u32;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        // Bits already used, per frame.
        let mut used = vec![0u64; n];
        let mut frames = Vec::with_capacity(n);
        for (i, &id) in ids.iter().enumerate() {
            let mut base = [0u8; 8];
            for b in &mut base {
                *b = if rng.chance(0.5) {
                    rng.below(256) as u8
                } else {
                    0
                };
            }
            let take_byte = |rng: &mut Rng, used: &mut u64| -> Option<u8> {
                for _ in 0..16 {
                    let b = rng.below(8) as u8;
                    let m = 0xFFu64 << (u32::from(b) * 8);
                    if *used & m == 0 {
                        *used |= m;
                        return Some(b);
                    }
                }
                None
            };
            let mut counter = None;
            let mut checksum = None;
            if rng.chance(0.7) {
                if let Some(b) = take_byte(&mut rng, &mut used[i]) {
                    let (lo, len) = if rng.chance(0.5) {
                        (0, 8)
                    } else {
                        (if rng.chance(0.5) { 0 } else { 4 }, 4)
                    };
                    counter = Some((b, lo, len));
                    if rng.chance(0.7) {
                        if let Some(c) = take_byte(&mut rng, &mut used[i]) {
                            let kind = match rng.below(3) {
                                0 => ChecksumKind::Sum,
                                1 => ChecksumKind::Xor,
                                _ => ChecksumKind::Crc8,
                            };
                            checksum = Some((c, kind, rng.below(256) as u8));
                        }
                    }
                }
            }
            let mut drifting = Vec::new();
            if rng.chance(0.3) {
                if let Some(b) = take_byte(&mut rng, &mut used[i]) {
                    drifting.push(b);
                }
            }
            frames.push(LayoutFrame {
                id: CanId::standard(id).unwrap_or(CanId::Standard(0x100)),
                period_us: [20_000, 50_000, 100_000, 200_000][rng.below(4) as usize],
                counter,
                checksum,
                drifting,
                noisy_bits: Vec::new(),
                base,
            });
        }
        let free_bit = |rng: &mut Rng, used: &mut [u64]| -> (usize, u8, u8) {
            loop {
                let f = rng.below(n as u64) as usize;
                let bit = rng.below(64) as u32;
                if let Some(u) = used.get_mut(f) {
                    if *u & (1 << bit) == 0 {
                        *u |= 1 << bit;
                        return (f, (bit / 8) as u8, (bit % 8) as u8);
                    }
                }
            }
        };
        let mut roles = Vec::new();
        for role in LAYOUT_ROLES {
            let (frame, byte, bit) = free_bit(&mut rng, &mut used);
            roles.push(RoleBit {
                role,
                frame,
                byte,
                bit,
                inverted: rng.chance(0.2),
            });
        }
        for _ in 0..1 + rng.below(3) {
            let (f, byte, bit) = free_bit(&mut rng, &mut used);
            if let Some(fr) = frames.get_mut(f) {
                fr.noisy_bits.push((byte, bit));
            }
        }
        RandomLayout {
            seed,
            frames,
            roles,
        }
    }

    pub fn role(&self, role: Role) -> Option<&RoleBit> {
        self.roles.iter().find(|r| r.role == role)
    }
}

/// An action the person takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Lock,
    Unlock,
    OpenLid,
    CloseLid,
    FobPress,
    CabinPress,
    IgnitionOff,
    IgnitionOn,
    LockoutOn,
    LockoutOff,
}

impl Act {
    /// The role it moves and the label a guide marks it with.
    pub fn mark(self) -> (Role, &'static str) {
        match self {
            Act::Lock => (Role::DoorsLocked, "1"),
            Act::Unlock => (Role::DoorsLocked, "0"),
            Act::OpenLid => (Role::LidOpen, "1"),
            Act::CloseLid => (Role::LidOpen, "0"),
            Act::FobPress => (Role::FobTrunkRequest, "1"),
            Act::CabinPress => (Role::CabinTrunkRequest, "1"),
            Act::IgnitionOff => (Role::IgnitionOn, "0"),
            Act::IgnitionOn => (Role::IgnitionOn, "1"),
            Act::LockoutOn => (Role::Lockout, "1"),
            Act::LockoutOff => (Role::Lockout, "0"),
        }
    }
}

/// One prompted action: the prompt's time (what a guide marks) and the
/// action, which the person performs a little later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub prompt_us: u64,
    pub act: Act,
}

impl Act {
    /// The action a guide's mark asks for, if the layout car can do it.
    pub fn from_mark(role: Role, label: &str) -> Option<Act> {
        const ALL: [Act; 10] = [
            Act::Lock,
            Act::Unlock,
            Act::OpenLid,
            Act::CloseLid,
            Act::FobPress,
            Act::CabinPress,
            Act::IgnitionOff,
            Act::IgnitionOn,
            Act::LockoutOn,
            Act::LockoutOff,
        ];
        ALL.into_iter().find(|a| a.mark() == (role, label))
    }
}

/// A request bit stays set this long after a press.
const PRESS_US: u64 = 500_000;
/// Press → lid open.
const OPENS_AFTER_US: u64 = 400_000;
/// The person closes a lid a press opened this long after it opened.
const CLOSES_AFTER_US: u64 = 1_200_000;

/// The car of a layout, driven by steps. Sans-IO: [`frames`](Self::frames)
/// yields every frame up to a time.
pub struct LayoutCar {
    layout: RandomLayout,
    /// Role bit changes: `(time, role, on)`, sorted.
    changes: Vec<(u64, Role, bool)>,
    rng: Rng,
}

impl LayoutCar {
    /// The car starts with the ignition on, everything else off. Each
    /// action lands 100-800 ms after its prompt (a person's reaction).
    pub fn new(layout: RandomLayout, steps: &[Step]) -> LayoutCar {
        let mut rng = Rng::new(layout.seed ^ 0x5EED);
        let mut changes = vec![(0, Role::IgnitionOn, true)];
        let mut lockout = false;
        for s in steps {
            let t = s.prompt_us + 100_000 + rng.below(700_000);
            let (role, label) = s.act.mark();
            match s.act {
                Act::FobPress | Act::CabinPress => {
                    changes.push((t, role, true));
                    changes.push((t + PRESS_US, role, false));
                    if !lockout {
                        changes.push((t + OPENS_AFTER_US, Role::LidOpen, true));
                        changes.push((t + OPENS_AFTER_US + CLOSES_AFTER_US, Role::LidOpen, false));
                    }
                }
                _ => {
                    if role == Role::Lockout {
                        lockout = label == "1";
                    }
                    changes.push((t, role, label == "1"));
                }
            }
        }
        changes.sort_by_key(|c| c.0);
        LayoutCar {
            layout,
            changes,
            rng,
        }
    }

    pub fn layout(&self) -> &RandomLayout {
        &self.layout
    }

    /// Every frame from time 0 to `end_us`, in time order.
    pub fn frames(&mut self, end_us: u64) -> Vec<CanFrame> {
        let layout = &self.layout;
        let mut next: Vec<u64> = layout
            .frames
            .iter()
            .enumerate()
            .map(|(i, _)| 1_000 + i as u64 * 3_000)
            .collect();
        let mut counters = vec![0u8; layout.frames.len()];
        let mut words: Vec<[u8; 8]> = layout.frames.iter().map(|f| f.base).collect();
        let mut on = [false; LAYOUT_ROLES.len()];
        let mut change = 0usize;
        let mut out = Vec::new();
        while let Some((i, &t)) = next.iter().enumerate().min_by_key(|(_, t)| **t) {
            if t > end_us {
                break;
            }
            while let Some(&(ct, role, value)) = self.changes.get(change) {
                if ct > t {
                    break;
                }
                if let Some(k) = LAYOUT_ROLES.iter().position(|r| *r == role) {
                    on[k] = value;
                }
                change += 1;
            }
            let (Some(frame), Some(word), Some(count)) =
                (layout.frames.get(i), words.get_mut(i), counters.get_mut(i))
            else {
                break;
            };
            for (k, rb) in layout.roles.iter().enumerate() {
                if rb.frame == i {
                    let set = on.get(k).copied().unwrap_or(false) != rb.inverted;
                    put_bit(word, rb.byte, rb.bit, set);
                }
            }
            for &(byte, bit) in &frame.noisy_bits {
                if self.rng.chance(0.03) {
                    let cur = word
                        .get(usize::from(byte))
                        .is_some_and(|b| b >> bit & 1 == 1);
                    put_bit(word, byte, bit, !cur);
                }
            }
            for &b in &frame.drifting {
                if let Some(x) = word.get_mut(usize::from(b)) {
                    if self.rng.chance(0.2) {
                        *x = if self.rng.chance(0.5) {
                            x.wrapping_add(1)
                        } else {
                            x.wrapping_sub(1)
                        };
                    }
                }
            }
            if let Some((b, lo, len)) = frame.counter {
                let mask = if len >= 8 {
                    0xFF
                } else {
                    ((1u8 << len) - 1) << lo
                };
                if let Some(x) = word.get_mut(usize::from(b)) {
                    *x = (*x & !mask) | ((*count << lo) & mask);
                }
                *count = count.wrapping_add(1);
            }
            if let Some((c, kind, k)) = frame.checksum {
                let others = word
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != usize::from(c))
                    .map(|(_, b)| *b);
                let sum = match kind {
                    ChecksumKind::Sum => others.fold(k, |a, b| a.wrapping_add(b)),
                    ChecksumKind::Xor => others.fold(k, |a, b| a ^ b),
                    ChecksumKind::Crc8 => crc8_j1850(others),
                };
                if let Some(x) = word.get_mut(usize::from(c)) {
                    *x = sum;
                }
            }
            if let Ok(f) = CanFrame::classic(frame.id, word) {
                out.push(f.at(t));
            }
            if let Some(n) = next.get_mut(i) {
                *n += frame.period_us;
            }
        }
        out
    }
}

fn put_bit(word: &mut [u8; 8], byte: u8, bit: u8, set: bool) {
    if let Some(b) = word.get_mut(usize::from(byte)) {
        if set {
            *b |= 1 << bit;
        } else {
            *b &= !(1 << bit);
        }
    }
}

/// CRC-8/SAE-J1850: polynomial 0x1D, initial value 0xFF, final XOR 0xFF.
fn crc8_j1850(data: impl Iterator<Item = u8>) -> u8 {
    let mut c = 0xFFu8;
    for d in data {
        c ^= d;
        for _ in 0..8 {
            c = if c & 0x80 != 0 {
                (c << 1) ^ 0x1D
            } else {
                c << 1
            };
        }
    }
    c ^ 0xFF
}

/// A layout car's frames on a bus, from `start_us` (bus time) on: a node
/// for [`run`](super::run). The frames are made up front.
pub struct LayoutNode {
    frames: std::collections::VecDeque<CanFrame>,
}

impl LayoutCar {
    /// The frames up to `end_us` (car time), shifted to start at `start_us`.
    pub fn into_node(mut self, start_us: u64, end_us: u64) -> LayoutNode {
        let frames = self
            .frames(end_us)
            .into_iter()
            .map(|f| {
                let t = f.timestamp_us + start_us;
                f.at(t)
            })
            .collect();
        LayoutNode { frames }
    }
}

impl super::SimNode for LayoutNode {
    fn handle_frame(&mut self, _now_us: u64, _frame: &CanFrame) {}
    fn handle_timeout(&mut self, _now_us: u64) {}
    fn poll_transmit(&mut self, now_us: u64) -> Option<CanFrame> {
        if self.frames.front()?.timestamp_us <= now_us {
            self.frames.pop_front()
        } else {
            None
        }
    }
    fn poll_timeout(&self) -> Option<u64> {
        self.frames.front().map(|f| f.timestamp_us)
    }
}
