//! The passive ISO-TP reassembler following two pairs (normal and extended
//! addressing) over arbitrary frames on those ids and others.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use trunkdiag::frame::{CanFrame, CanId};
use trunkdiag::isotp::{Addressing, Reassembler};

#[derive(Arbitrary, Debug)]
struct Frame {
    which: u8,
    dt: u16,
    data: Vec<u8>,
}

fuzz_target!(|frames: Vec<Frame>| {
    let mut r = Reassembler::new();
    r.follow_pair(CanId::Standard(0x745), CanId::Standard(0x765), Addressing::Normal);
    r.follow_pair(
        CanId::Standard(0x750),
        CanId::Standard(0x758),
        Addressing::Extended { target: 0x40, source: 0x40 },
    );
    let ids = [0x745, 0x765, 0x750, 0x758, 0x123];
    let mut t = 0u64;
    for f in frames.into_iter().take(5_000) {
        t += u64::from(f.dt);
        let id = ids[usize::from(f.which) % ids.len()];
        let data: Vec<u8> = f.data.into_iter().take(64).collect();
        let frame = if data.len() <= 8 {
            CanFrame::classic(CanId::Standard(id), &data)
        } else {
            CanFrame::fd(CanId::Standard(id), &data, 0)
        };
        if let Ok(frame) = frame {
            let _ = r.feed(&frame.at(t));
            while r.next_pending().is_some() {}
        }
    }
    let _ = r.finish();
});
