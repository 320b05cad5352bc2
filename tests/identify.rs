//! Which car is this, from the bus alone: every bundled capture replayed
//! without `--profile` against the same with it; real recordings without a
//! VIN named at the level they support; the opendbc table against the DBC
//! files it is generated from.

mod common;

use std::path::{Path, PathBuf};

use trunkdiag::capture::ReadOptions;
use trunkdiag::diagnose::{self, Report};
use trunkdiag::evidence::SeriesLimits;
use trunkdiag::identify::{self, Decision};
use trunkdiag::observation::Observations;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn replay(path: &Path, profile: &str) -> Report {
    diagnose::replay(
        &path.into(),
        ReadOptions::default(),
        profile,
        Observations::default(),
        SeriesLimits::BOUNDED,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    .1
}

fn top(r: &Report) -> String {
    r.verdicts
        .first()
        .map(|v| v.id.to_string())
        .unwrap_or_default()
}

/// Every bundled capture: its own profile (or a tie that holds it, said in
/// the reason), and the verdict it gets with `--profile`. The only ones
/// not named are those holding none of the car's frames and no request to
/// its body module (a broadcast-only car's wrong-bus capture: the other
/// bus's frames; a silent bus) — and there the tool says it matched
/// nothing, rather than guess.
#[test]
fn every_bundled_capture_names_its_car_and_keeps_its_verdict() {
    let mut checked = 0;
    let mut unnamed = Vec::new();
    let mut problems = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(root().join("captures"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let profile = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut logs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        for log in logs {
            checked += 1;
            let given = replay(&log, &profile);
            let auto = replay(&log, "auto");
            let name = format!("{profile}/{}", log.file_name().unwrap().to_string_lossy());
            let ident = auto.profile.identified.as_ref().expect("auto identifies");
            match &ident.decision {
                Decision::Profile { profile: p } if *p == profile => {}
                Decision::Tie { profiles } if profiles.contains(&profile) => {
                    if !auto
                        .profile
                        .reason
                        .contains("nothing heard tells them apart")
                    {
                        problems.push(format!("{name}: a tie not said: {}", auto.profile.reason));
                    }
                }
                Decision::None => {
                    unnamed.push(name.clone());
                    if ident
                        .candidates
                        .iter()
                        .any(|c| c.profile == profile && !c.matched.is_empty())
                    {
                        problems.push(format!("{name}: its own frames heard, yet not named"));
                    }
                    continue;
                }
                other => {
                    problems.push(format!("{name}: {other:?}: {}", auto.profile.reason));
                    continue;
                }
            }
            if top(&auto) != top(&given) {
                problems.push(format!(
                    "{name}: {} with auto ({}), {} with --profile",
                    top(&auto),
                    auto.profile.id,
                    top(&given)
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 200, "{checked} captures");
    // Broadcast-only cars (no body module to hear asked): their wrong-bus
    // and silent captures hold nothing of the car.
    for u in &unnamed {
        assert!(
            u.ends_with("/wrong-bus.log") || u.ends_with("/no-bus-activity.log"),
            "{u} not named"
        );
    }
    assert!(unnamed.len() <= 8, "{unnamed:?}");
}

fn identify_file(path: &Path) -> identify::Identification {
    diagnose::capture_identification(
        &path.into(),
        ReadOptions {
            lenient: true,
            ..ReadOptions::default()
        },
        &identify::fingerprints(),
    )
    .unwrap()
}

/// The real 2017 Fusion recordings carry no VIN: each is named the Fusion
/// profile from its body frames.
#[test]
fn the_real_fusion_recordings_are_named_the_fusion() {
    for name in [
        "acc_on_going_at_50km_per_hour.candump",
        "lane_keep_assist_on_red_lines.candump",
        "lkas-long.candump",
    ] {
        let Some(path) = common::shared_data(&format!("real/ford-fusion-2017/{name}")) else {
            return;
        };
        let i = identify_file(&path);
        assert_eq!(
            i.decision,
            Decision::Profile {
                profile: "ford-fusion-2013-2020".into()
            },
            "{name}: {}",
            i.words()
        );
    }
}

/// The GT350 (a Mustang) carries the Ford HS-CAN body frames the Fusion
/// profile decodes, but half its bus is ids a real Fusion never carried,
/// and half the Fusion's are not there: named at the make's level, with
/// what does not match said.
#[test]
fn the_real_gt350_is_named_ford_not_a_fusion() {
    let Some(path) = common::shared_data("real/ford-gt350/keyon.log") else {
        return;
    };
    let i = identify_file(&path);
    assert_eq!(
        i.decision,
        Decision::Make {
            make: "Ford".into()
        },
        "{}",
        i.words()
    );
    let words = i.words();
    assert!(
        words.contains("closest ford-fusion-2013-2020")
            && words.contains("neither its census nor the recorded car has"),
        "{words}"
    );
    // And auto falls back to the generic profile, saying so.
    let r = replay(&path, "auto");
    assert_eq!(r.profile.id, "generic-uds", "{}", r.profile.reason);
    assert!(
        r.profile.reason.contains("looks like a Ford"),
        "{}",
        r.profile.reason
    );
}

/// The real 2021 Kona Electric's body and powertrain buses carry no VIN,
/// and none of the three body frames the Kona profile takes from a related
/// model (0x4F1, 0x367, 0x372): named the Kona from 0x541 and the ids of
/// its recorded bus.
#[test]
fn the_real_kona_log_is_named_the_kona() {
    let path = common::repo_data("real/hyundai-kona/221217-1-2021-pcan-bcan-no-key.csv");
    let i = identify_file(&path);
    assert_eq!(
        i.decision,
        Decision::Profile {
            profile: "hyundai-kona-2018-2023".into()
        },
        "{}",
        i.words()
    );
    let kona = &i.candidates[0];
    assert_eq!(kona.matched, ["0x541"]);
    assert!(kona.recorded > 50, "{}", kona.words());
    // Its siblings share 0x541 and the layout, not the recorded bus.
    assert!(i.margin >= identify::MARGIN, "{}", i.words());
}

/// The 350Z and G35 share the pre-2019 Nissan body frames with the Altima
/// but not its whole bus: named at the make's level, with what does not
/// match said (ids the Altima's census does not list).
#[test]
fn the_real_350z_and_g35_are_named_nissan_not_an_altima() {
    for name in ["350z-turnonlog.log", "g35-noecu.trc", "g35-prndl.trc"] {
        let Some(path) = common::shared_data(&format!("real/nissan-350z-g35/{name}")) else {
            return;
        };
        let i = identify_file(&path);
        assert_eq!(
            i.decision,
            Decision::Make {
                make: "Nissan".into()
            },
            "{name}: {}",
            i.words()
        );
        assert!(i.words().contains("census does not list"), "{}", i.words());
    }
}

/// A battery-management trace of a Kona carries one id a Jeep profile
/// decodes among hundreds it does not know: a coincidence, not a Jeep.
#[test]
fn one_coincident_id_on_a_busy_bus_names_nothing() {
    let Some(path) = common::shared_data("real/hyundai-kona/bms_diagnostics_Main_Relay_____On.asc")
    else {
        return;
    };
    let i = identify_file(&path);
    assert!(
        !matches!(i.decision, Decision::Profile { .. } | Decision::Tie { .. }),
        "{}",
        i.words()
    );
}

/// The opendbc table in the repository is what the generator makes of the
/// DBC files (rebuilt by scripts/opendbc-fingerprints, never edited).
#[test]
fn the_opendbc_table_is_generated_from_the_dbc_files() {
    // A file only the outside folder has: the whole set, not the two the
    // repository keeps for its DBC import tests.
    let Some(one) = common::shared_data("dbc/vw_pq.dbc") else {
        return;
    };
    let dir = one.parent().unwrap();
    let made = identify::opendbc::generate(dir).unwrap();
    assert_eq!(
        made,
        identify::opendbc::TABLE,
        "run scripts/opendbc-fingerprints {}",
        dir.display()
    );
}

/// A bus from a car without a profile, named at an opendbc DBC's level: a
/// capture of an older Volkswagen's ids (PQ platform, from the table) is
/// named vw_pq; the bundled Volkswagens are MQB cars.
#[test]
fn a_car_without_a_profile_is_named_at_the_dbc_level() {
    let leaf = identify::opendbc::table()
        .into_iter()
        .find(|p| p.name == "vw_pq")
        .expect("vw_pq in the table");
    let mut heard = identify::Heard::default();
    for round in 0..10u64 {
        for (id, len) in &leaf.ids {
            let data = vec![0u8; *len];
            let f = trunkdiag::frame::CanFrame::classic(*id, &data)
                .unwrap()
                .at(round * 100_000);
            heard.push(&f);
        }
    }
    let i = identify::identify(&identify::fingerprints(), &heard);
    assert!(
        matches!(&i.decision, Decision::Opendbc { dbc, .. } if dbc == "vw_pq"),
        "{:?}: {}",
        i.decision,
        i.words()
    );
}

/// `auto` replays in one pass and watches for a VIN as it goes: a VIN read
/// after the opening window still wins over the bus's fingerprint (a second
/// pass with the VIN's profile), and one naming the same profile words the
/// choice. Either way the report is the one choosing with the capture's VIN
/// up front gives.
#[test]
fn a_vin_after_the_opening_window_still_wins() {
    let base = root().join("captures/nissan-altima-2013-2018/valet-lockout.log");
    let text = std::fs::read_to_string(&base).unwrap();
    let last = text
        .lines()
        .filter_map(|l| l.strip_prefix('(')?.split_once(')'))
        .filter_map(|(t, _)| t.parse::<f64>().ok())
        .fold(0.0, f64::max);
    let dir = tempfile::tempdir().unwrap();
    for (vin, expect) in [
        ("3FA6P0H7XHR123456", "ford-fusion-2013-2020"),
        // The profile the bus names (the L32/L33 tie is used as L32).
        ("1N4AL2AP5BC123456", "nissan-altima-2007-2012"),
    ] {
        let v = vin.as_bytes();
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
        // An OBD-II VIN read (mode 09 PID 02) a minute after the last frame.
        let t = last + 60.0;
        let frames = [
            (0.000, "7DF", "0209020000000000".to_owned()),
            (0.010, "7E8", format!("1014490201{}", hex(&v[..3]))),
            (0.011, "7E0", "3000000000000000".to_owned()),
            (0.020, "7E8", format!("21{}", hex(&v[3..10]))),
            (0.030, "7E8", format!("22{}", hex(&v[10..]))),
        ];
        let mut log = text.clone();
        for (dt, id, data) in frames {
            log.push_str(&format!("({:.6}) vcan0 {id}#{data}\n", t + dt));
        }
        let path = dir.path().join(format!("late-vin-{expect}.log"));
        std::fs::write(&path, &log).unwrap();

        // The bus alone names an Altima: the VIN is outside the window.
        let (opening_vin, ident) = diagnose::capture_opening(
            &path.as_path().into(),
            ReadOptions::default(),
            &identify::fingerprints(),
        )
        .unwrap();
        assert_eq!(opening_vin, None);
        assert_eq!(ident.profile(), Some("nissan-altima-2007-2012"));

        let got = replay(&path, "auto");
        assert_eq!(got.profile.id, expect, "{}", got.profile.reason);
        assert_eq!(got.profile.vin.as_deref(), Some(vin));
        assert!(
            got.profile
                .reason
                .starts_with(&format!("VIN {vin} matches profile {expect}")),
            "{}",
            got.profile.reason
        );
        if expect != "nissan-altima-2007-2012" {
            assert!(
                got.profile
                    .reason
                    .contains("the bus matches nissan-altima-2007-2012 instead"),
                "{}",
                got.profile.reason
            );
        }
        // What choosing with the whole capture's VIN up front gives.
        let whole_vin =
            diagnose::capture_vin(&path.as_path().into(), ReadOptions::default()).unwrap();
        assert_eq!(whole_vin.as_ref().map(|v| v.as_str()), Some(vin));
        let (profile, choice) = diagnose::choose_profile("auto", Some(vin), Some(&ident)).unwrap();
        let want = diagnose::replay_with(
            &path.as_path().into(),
            ReadOptions::default(),
            &profile,
            choice,
            Observations::default(),
            SeriesLimits::BOUNDED,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&got).unwrap(),
            serde_json::to_value(&want).unwrap()
        );
    }
}

/// `[census.recorded]` of a profile: every id, with its one length, of the
/// real recordings of that model kept in `tests/data/real/` (ids in the
/// diagnostic range left out). Generated from them, not hand-kept: on a
/// difference this prints the list to paste.
#[test]
fn recorded_buses_are_the_real_recordings() {
    use trunkdiag::frame::CanId;
    let cases = [
        (
            "ford-fusion-2013-2020",
            vec![
                "ford-fusion-2017/acc_on_going_at_50km_per_hour.candump",
                "ford-fusion-2017/lane_keep_assist_on_red_lines.candump",
                "ford-fusion-2017/lkas-long.candump",
            ],
        ),
        (
            "hyundai-kona-2018-2023",
            vec!["hyundai-kona/221217-1-2021-pcan-bcan-no-key.csv"],
        ),
    ];
    for (profile, files) in cases {
        let mut lens: std::collections::BTreeMap<CanId, std::collections::BTreeSet<usize>> =
            Default::default();
        for f in &files {
            let path = common::repo_data(&format!("real/{f}"));
            let mut r = trunkdiag::capture::CaptureReader::open(
                &path,
                ReadOptions {
                    lenient: true,
                    ..ReadOptions::default()
                },
            )
            .unwrap();
            while let Some(frame) = r.next_frame_ref().unwrap() {
                if frame.is_data() && !trunkdiag::diag::ids::is_diagnostic(frame.id) {
                    lens.entry(frame.id).or_default().insert(frame.len());
                }
            }
        }
        let want: Vec<(CanId, usize)> = lens
            .iter()
            .filter(|(_, l)| l.len() == 1)
            .map(|(id, l)| (*id, *l.iter().next().unwrap()))
            .collect();
        assert!(want.len() > 20, "{profile}: {} ids", want.len());
        let p = trunkdiag::profile::load(profile).unwrap();
        let got = p
            .recorded
            .as_ref()
            .map(|r| r.frames.clone())
            .unwrap_or_default();
        let toml: Vec<String> = want
            .iter()
            .map(|(id, n)| format!("[0x{id}, {n}]"))
            .collect();
        assert_eq!(
            got,
            want,
            "{profile}: [census.recorded] frames should be\nframes = [{}]",
            toml.join(", ")
        );
    }
}

/// `profiles show` says what a recorded bus is and what it is for.
#[test]
fn profiles_show_says_the_recorded_bus() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
        .args(["profiles", "show", "hyundai-kona-2018-2023"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("recorded bus (this model; for identifying the car only): 66 ids of a real car on c-can; public: a SavvyCAN log of a real 2021 Hyundai Kona Electric"),
        "{text}"
    );
}
