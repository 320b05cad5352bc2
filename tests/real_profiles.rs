//! The bundled profiles against real recordings of real cars (the MIT
//! Fusion logs from `tests/data/real`, the GPL-3.0 ones from beside the
//! repository through `common::shared_data`, a skip when absent): each
//! profile decodes what the car did as the vehicle data (vehicles/README.md)
//! says, through the profile API.

mod common;

use std::path::{Path, PathBuf};

use trunkdiag::capture::{CaptureReader, ReadOptions};
use trunkdiag::frame::CanId;
use trunkdiag::profile::{self, Profile};

fn real(rel: &str) -> Option<PathBuf> {
    common::shared_data(&format!("real/{rel}"))
}

/// Every change of the named signals of `id` in the capture:
/// (time in µs, signal name, value), the first reading of each included.
fn changes(p: &Profile, path: &Path, id: u16, names: &[&str]) -> Vec<(u64, String, f64)> {
    let mut reader = CaptureReader::open(path, ReadOptions::default()).unwrap();
    let want = CanId::Standard(id);
    let mut last: Vec<(String, f64)> = Vec::new();
    let mut out = Vec::new();
    while let Some(f) = reader.next_frame().unwrap() {
        if f.id != want {
            continue;
        }
        let t = f.timestamp_us;
        assert!(p.decode_broadcast(&f, |item, _, v| {
            let name = p.item(item).unwrap().name.clone();
            if !names.contains(&name.as_str()) {
                return;
            }
            match last.iter_mut().find(|(n, _)| *n == name) {
                Some((_, old)) if *old == v => {}
                Some((_, old)) => {
                    *old = v;
                    out.push((t, name, v));
                }
                None => {
                    last.push((name.clone(), v));
                    out.push((t, name, v));
                }
            }
        }));
    }
    out
}

/// The G35 trace through the L33 profile: 0x60D ignition OFF → accessory
/// (1.339 s) → ON (1.390 s), the trace's own times (its `$STARTTIME` plus
/// the millisecond column).
#[test]
fn l33_profile_reads_the_g35_ignition_off_accessory_on() {
    let Some(path) = real("nissan-350z-g35/g35-noecu.trc") else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let days: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(";$STARTTIME="))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Days since 1899-12-30, 25569 days before the UNIX epoch.
    let start_s = (days - 25_569.0) * 86_400.0;
    let p = profile::load("nissan-altima-2013-2018").unwrap();
    let got = changes(&p, &path, 0x60D, &["accessory ON", "ignition ON"]);
    let steps: Vec<(f64, &str, f64)> = got
        .iter()
        .map(|(t, n, v)| {
            let s = *t as f64 / 1e6 - start_s;
            ((s * 1000.0).round() / 1000.0, n.as_str(), *v)
        })
        .collect();
    let seq: Vec<(&str, f64)> = steps.iter().map(|(_, n, v)| (*n, *v)).collect();
    // OFF (both clear), then accessory, then ignition ON.
    assert_eq!(
        seq,
        [
            ("accessory ON", 0.0),
            ("ignition ON", 0.0),
            ("accessory ON", 1.0),
            ("ignition ON", 1.0)
        ],
        "{steps:?}"
    );
    assert!((steps[2].0 - 1.339).abs() < 0.0015, "{steps:?}");
    assert!((steps[3].0 - 1.390).abs() < 0.0015, "{steps:?}");
    // No lid on the L33's 0x358 C.0 in this trace (no trunk event in it).
    let lid = changes(&p, &path, 0x358, &["trunk lid open"]);
    assert_eq!(
        lid.iter().map(|c| c.2).collect::<Vec<_>>(),
        [0.0],
        "{lid:?}"
    );
}

/// The GT350 key-on log through the Fusion profile: 0x3B3 Ignition_Status
/// goes Off (1) → Run (4), and the rules' ignition bit follows it.
#[test]
fn ford_profile_reads_the_gt350_ignition_as_run() {
    let Some(path) = real("ford-gt350/keyon.log") else {
        return;
    };
    let p = profile::load("ford-fusion-2013-2020").unwrap();
    let got = changes(&p, &path, 0x3B3, &["Ignition_Status", "ignition Run"]);
    let status: Vec<f64> = got
        .iter()
        .filter(|c| c.1 == "Ignition_Status")
        .map(|c| c.2)
        .collect();
    assert_eq!(status.first(), Some(&1.0), "{got:?}");
    assert_eq!(status.last(), Some(&4.0), "{got:?}");
    let named = p
        .fields()
        .find(|f| p.item(f.item).unwrap().name == "Ignition_Status")
        .and_then(|f| f.value_name(4))
        .unwrap();
    assert_eq!(named, "Run");
    let run: Vec<f64> = got
        .iter()
        .filter(|c| c.1 == "ignition Run")
        .map(|c| c.2)
        .collect();
    assert_eq!(run.last(), Some(&1.0), "{got:?}");
    // 0x331 lock status on the same HS-CAN: UNLOCK_ALL (2) throughout.
    let locks = changes(&p, &path, 0x331, &["Veh_Lock_Status", "driver door locked"]);
    assert!(
        locks.contains(&(locks[0].0, "Veh_Lock_Status".into(), 2.0)),
        "{locks:?}"
    );
}

/// The 2017 Fusion's HS-CAN logs through the Fusion profile: 0x3B3 is there
/// with the trunk bit clear (byte A 0x40 / 0x44) and the ignition in Run.
#[test]
fn ford_profile_reads_the_fusion_trunk_bit_clear_and_ignition_run() {
    let mut seen = 0;
    for name in [
        "acc_on_going_at_50km_per_hour.candump",
        "lane_keep_assist_on_red_lines.candump",
        "lkas-long.candump",
    ] {
        let path = common::repo_data(&format!("real/ford-fusion-2017/{name}"));
        let p = profile::load("ford-fusion-2013-2020").unwrap();
        let got = changes(&p, &path, 0x3B3, &["DrStatTgate_B_Actl", "Ignition_Status"]);
        assert!(!got.is_empty(), "{name}: no 0x3B3");
        for (_, n, v) in &got {
            match n.as_str() {
                "DrStatTgate_B_Actl" => assert_eq!(*v, 0.0, "{name}: trunk bit set"),
                _ => assert_eq!(*v, 4.0, "{name}: ignition not Run"),
            }
        }
        seen += got.len();
    }
    assert!(seen >= 6, "{seen}");
}
