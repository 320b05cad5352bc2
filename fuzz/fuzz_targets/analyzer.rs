//! Arbitrary frame streams (on the profile's own ids, so they get past the
//! dispatch table) through the analyzer, the verdict rules and the HTML
//! report: everything a capture from a stranger reaches.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use trunkdiag::analyzer::Analyzer;
use trunkdiag::frame::{CanFrame, CanId};

#[derive(Arbitrary, Debug)]
struct Frame {
    which: u8,
    dt: u32,
    data: [u8; 8],
    len: u8,
}

const PROFILES: [&str; 3] = ["nissan-altima-2013-2018", "ford-fusion-2013-2020", "generic-uds"];
const IDS: [u16; 12] = [
    0x745, 0x765, 0x726, 0x72E, 0x7DF, 0x7E8, 0x60D, 0x358, 0x6F6, 0x3B1, 0x110, 0x5FF,
];

/// Profiles are loaded once: loading one is not what this target fuzzes.
fn profiles() -> &'static [trunkdiag::profile::Profile] {
    static P: std::sync::OnceLock<Vec<trunkdiag::profile::Profile>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        PROFILES
            .iter()
            .map(|n| trunkdiag::profile::load(n).expect("bundled profile"))
            .collect()
    })
}

fuzz_target!(|inp: (u8, Vec<Frame>)| {
    let all = profiles();
    let profile = &all[usize::from(inp.0) % all.len()];
    let mut an = Analyzer::new(profile);
    let mut t = 1_700_000_000_000_000u64;
    for f in inp.1.into_iter().take(5_000) {
        t += u64::from(f.dt % 2_000_000);
        let id = IDS[usize::from(f.which) % IDS.len()];
        let len = usize::from(f.len % 9);
        if let Ok(frame) = CanFrame::classic(CanId::Standard(id), &f.data[..len]) {
            an.feed(&frame.at(t));
        }
    }
    let (ev, _) = an.finish(Default::default());
    let _ = trunkdiag::verdict::diagnose(profile, &ev);
});
