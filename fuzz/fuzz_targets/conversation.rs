//! The conversation finder over arbitrary frames on diagnostic-looking ids
//! (11-bit physical, functional and Nissan pairs, 29-bit normal fixed), with
//! time that may step backwards as merged captures do; every conversation
//! it reports must name ids that sent something.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use trunkdiag::conversation::Finder;
use trunkdiag::frame::{CanFrame, CanId};

#[derive(Arbitrary, Debug)]
struct Frame {
    which: u8,
    dt: i16,
    data: Vec<u8>,
}

fuzz_target!(|frames: Vec<Frame>| {
    let ids = [
        CanId::Standard(0x7DF),
        CanId::Standard(0x7E0),
        CanId::Standard(0x7E8),
        CanId::Standard(0x745),
        CanId::Standard(0x765),
        CanId::Standard(0x792),
        CanId::Extended(0x18DA_40F1),
        CanId::Extended(0x18DA_F140),
        CanId::Extended(0x18DB_33F1),
    ];
    let mut finder = Finder::new();
    let mut seen = Vec::new();
    let mut t = 1_000_000_000u64;
    for f in frames.into_iter().take(5_000) {
        t = t.saturating_add_signed(i64::from(f.dt) * 100);
        let id = ids[usize::from(f.which) % ids.len()];
        let data: Vec<u8> = f.data.into_iter().take(64).collect();
        let frame = if data.len() <= 8 {
            CanFrame::classic(id, &data)
        } else {
            CanFrame::fd(id, &data, 0)
        };
        if let Ok(frame) = frame {
            finder.feed(&frame.at(t));
            seen.push(id);
        }
    }
    for c in finder.finish() {
        assert!(seen.contains(&c.request));
        assert!(c.response.is_none_or(|r| seen.contains(&r) && r != c.request));
    }
});
