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

const PROFILES: [&str; 5] = [
    "nissan-altima-2013-2018",
    "ford-fusion-2013-2020",
    "chevrolet-equinox-2018-2024",
    "honda-civic-2016-2021",
    "generic-uds",
];
/// Ids every profile gets besides its own: OBD-II functional and ECM
/// answer, and two ids no profile knows (unknown-node evidence).
const COMMON_IDS: [u16; 4] = [0x7DF, 0x7E8, 0x6F6, 0x5FF];

/// Profiles are loaded once, each with the ids it reads (its broadcast
/// frames and its BCM's request and answer, taken from the profile so a
/// profile change cannot leave this target feeding ids nobody reads):
/// loading a profile is not what this target fuzzes.
fn profiles() -> &'static [(trunkdiag::profile::Profile, Vec<CanId>)] {
    type Loaded = Vec<(trunkdiag::profile::Profile, Vec<CanId>)>;
    static P: std::sync::OnceLock<Loaded> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        PROFILES
            .iter()
            .map(|n| {
                let p = trunkdiag::profile::load(n).expect("bundled profile");
                let mut ids: Vec<CanId> = p.broadcast_ids().collect();
                if let Some(b) = p.bcm() {
                    ids.push(b.request_id);
                    ids.push(b.response_id);
                    ids.extend(trunkdiag::diag::gmlan::uudt_id(b.request_id));
                }
                ids.extend(COMMON_IDS.iter().map(|&x| CanId::Standard(x)));
                (p, ids)
            })
            .collect()
    })
}

fuzz_target!(|inp: (u8, Vec<Frame>)| {
    let all = profiles();
    let (profile, ids) = &all[usize::from(inp.0) % all.len()];
    let mut an = Analyzer::new(profile);
    let mut t = 1_700_000_000_000_000u64;
    for f in inp.1.into_iter().take(5_000) {
        t += u64::from(f.dt % 2_000_000);
        let id = ids[usize::from(f.which) % ids.len()];
        let len = usize::from(f.len % 9);
        if let Ok(frame) = CanFrame::classic(id, &f.data[..len]) {
            an.feed(&frame.at(t));
        }
    }
    let (ev, _) = an.finish(Default::default());
    let _ = trunkdiag::verdict::diagnose(profile, &ev);
});
