//! DBC import at its boundaries: `profiles import-dbc` on opendbc files
//! (tests/data/dbc, or ../shared/data/dbc beside the repository), the items it writes loaded into a
//! profile, and real recordings decoded through them.

mod common;

use std::path::Path;

use trunkdiag::capture::CaptureReader;
use trunkdiag::profile::{self, Profile, Role};

fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
}

/// A loadable profile: a header and the imported items.
fn profile_with(dir: &Path, items: &str) -> Profile {
    let text = format!(
        "[profile]\nid = \"dbc-test\"\nmake = \"test\"\nmodel = \"test\"\nyears = [2020, 2020]\n\n\
         [[bus]]\nname = \"hs-can\"\nbitrate = 500000\nlevel = \"placeholder\"\n\n\
         [bcm]\nprotocol = \"uds\"\nrequest_id = 0x7E0\nresponse_id = 0x7E8\nlevel = \"placeholder\"\n\n{items}"
    );
    let path = dir.join("profile.toml");
    std::fs::write(&path, text).unwrap();
    let check = bin()
        .args(["profiles", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    profile::load(path.to_str().unwrap()).unwrap()
}

fn import(dbc: &Path, roles: &[&str], extra: &[&str]) -> String {
    let mut cmd = bin();
    cmd.args(["profiles", "import-dbc"]).arg(dbc);
    for r in roles {
        cmd.args(["--role", r]);
    }
    let out = cmd.args(extra).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every value the profile decodes for `role` on frames of `id`, in order.
fn decoded(p: &Profile, frames: &[trunkdiag::frame::CanFrame], role: Role) -> Vec<f64> {
    let mut v = Vec::new();
    for f in frames {
        p.decode_broadcast(f, |_, r, x| {
            if r == role {
                v.push(x)
            }
        });
    }
    v
}

#[test]
fn ford_items_decode_real_fusion_and_gt350_frames_as_the_ford_profile_does() {
    let Some(dbc) = common::shared_data("dbc/ford_lincoln_base_pt.dbc") else {
        return;
    };
    let files = [
        "real/ford-gt350/keyon.log",
        "real/ford-fusion-2017/acc_on_going_at_50km_per_hour.candump",
        "real/ford-fusion-2017/lane_keep_assist_on_red_lines.candump",
        "real/ford-fusion-2017/lkas-long.candump",
    ];
    let mut frames = Vec::new();
    for rel in files {
        let Some(path) = common::shared_data(rel) else {
            return;
        };
        for f in CaptureReader::open(&path, Default::default()).unwrap() {
            let f = f.unwrap();
            if matches!(f.id.raw(), 0x3B3 | 0x331) {
                frames.push(f);
            }
        }
    }
    let roles = [
        "ignition_on=BodyInfo_3_FD1.Ignition_Status",
        "doors_locked=Locking_Systems_2_FD1.Veh_Lock_Status",
        "fob_trunk_request=0x331.Power_Decklid_Rqst",
        "lid_open=BodyInfo_3_FD1.DrStatTgate_B_Actl",
    ];
    let dir = tempfile::tempdir().unwrap();
    // Both ways of writing the items: naming the DBC, and inline.
    let items = dir.path().join("items.toml");
    import(&dbc, &roles, &["--write", items.to_str().unwrap()]);
    let named = profile_with(dir.path(), &std::fs::read_to_string(&items).unwrap());
    let inline = profile_with(dir.path(), &import(&dbc, &roles, &["--inline"]));
    // An independent reading of the same bits, by hand.
    let by_hand = |role: Role| -> Vec<f64> {
        frames
            .iter()
            .filter_map(|f| {
                let d = f.data();
                let raw = match (f.id.raw(), role) {
                    (0x3B3, Role::IgnitionOn) => d.first()? >> 4,
                    (0x331, Role::DoorsLocked) => (d.get(4)? >> 1) & 3,
                    (0x331, Role::FobTrunkRequest) => (d.first()? >> 1) & 1,
                    (0x3B3, Role::LidOpen) => d.first()? & 1,
                    _ => return None,
                };
                Some(f64::from(raw))
            })
            .collect()
    };
    for role in [
        Role::IgnitionOn,
        Role::DoorsLocked,
        Role::FobTrunkRequest,
        Role::LidOpen,
    ] {
        let want = by_hand(role);
        assert!(!want.is_empty(), "no frames for {role}");
        assert_eq!(decoded(&named, &frames, role), want, "{role} (dbc = ...)");
        assert_eq!(decoded(&inline, &frames, role), want, "{role} (inline)");
    }
    // Signals both have (same frame, same signal name), whatever role each
    // profile gives them: the same value from every frame.
    let ford = profile::load("ford-fusion-2013-2020").unwrap();
    let mut compared = Vec::new();
    for f in &named.frames {
        let Some(theirs) = ford.frames.iter().find(|x| x.id == f.id) else {
            continue;
        };
        for s in &f.signals {
            let Some(t) = theirs.signals.iter().find(|t| {
                ford.item(t.item)
                    .is_some_and(|i| i.name == named.item(s.item).unwrap().name)
            }) else {
                continue;
            };
            let of = |field: &trunkdiag::profile::Field| -> Vec<Option<f64>> {
                frames
                    .iter()
                    .filter(|x| x.id == f.id)
                    .map(|x| field.decode(x.data()))
                    .collect()
            };
            assert_eq!(of(s), of(t), "{}", named.item(s.item).unwrap().name);
            compared.push(named.item(s.item).unwrap().name.clone());
        }
    }
    // Once the Ford profile reads the HS-CAN status frames, the three
    // signals it shares with the DBC must all have been compared.
    if ford.frames.iter().any(|f| f.id.raw() == 0x3B3) {
        assert!(
            compared.len() >= 3,
            "expected Ignition_Status, Veh_Lock_Status and DrStatTgate_B_Actl in both: {compared:?}"
        );
    }
    let compared_with_profile = compared.len();
    println!(
        "{} frames of 0x3B3/0x331 decoded; {compared_with_profile} signal(s) also compared with the bundled Ford profile",
        frames.len()
    );
}

#[test]
fn x_trail_dbc_gives_the_altima_2019_boot_open_item() {
    let Some(dbc) = common::shared_data("dbc/nissan_x_trail_2017.dbc") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let items = import(&dbc, &["lid_open=DOORS_LIGHTS.BOOT_OPEN"], &[]);
    assert!(items.contains("id = 0x454"), "{items}");
    assert!(items.contains("source = \"DBC nissan_x_trail_2017.dbc: message DOORS_LIGHTS (0x454), signal BOOT_OPEN\""), "{items}");
    let imported = profile_with(dir.path(), &items);
    let altima = profile::load("nissan-altima-2019").unwrap();
    let pos = |p: &Profile| {
        p.frames
            .iter()
            .find(|f| f.id.raw() == 0x454)
            .and_then(|f| f.signals.iter().find(|s| s.role == Role::LidOpen))
            .map(|s| (s.bits.to_string(), s.scale, s.offset))
    };
    assert_eq!(pos(&imported), Some(("55|1@0+".to_owned(), 1.0, 0.0)));
    assert_eq!(pos(&imported), pos(&altima));
    // And it reads the bit: byte 6, bit 7.
    let f = trunkdiag::frame::CanFrame::classic(
        trunkdiag::frame::CanId::standard(0x454).unwrap(),
        &[0, 0, 0, 0, 0, 0, 0x80, 0],
    )
    .unwrap();
    assert_eq!(decoded(&imported, &[f], Role::LidOpen), vec![1.0]);
}

#[test]
fn a_missing_signal_or_file_is_named_and_exits_2() {
    let Some(dbc) = common::shared_data("dbc/nissan_x_trail_2017.dbc") else {
        return;
    };
    let out = bin()
        .args(["profiles", "import-dbc"])
        .arg(&dbc)
        .args(["--role", "lid_open=DOORS_LIGHTS.NOPE"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no signal `NOPE`"));
    // A profile naming a DBC that is not there: file:line and exit 2.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        "[profile]\nid = \"x\"\nmake = \"x\"\nmodel = \"x\"\nyears = [2020, 2020]\n\
         [[bus]]\nname = \"hs-can\"\nbitrate = 500000\nlevel = \"placeholder\"\n\
         [bcm]\nprotocol = \"uds\"\nrequest_id = 0x7E0\nresponse_id = 0x7E8\nlevel = \"placeholder\"\n\
         [[frame]]\nid = 0x454\nname = \"D\"\n[[frame.signal]]\nname = \"B\"\nrole = \"lid_open\"\n\
         dbc = \"missing.dbc\"\nmessage = \"D\"\nsignal = \"B\"\nlevel = \"related-model\"\nsource = \"x\"\n",
    )
    .unwrap();
    let out = bin().args(["profiles", "check"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("p.toml:21:") && err.contains("missing.dbc"),
        "{err}"
    );
}
