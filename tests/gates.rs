//! Gates (the release's enable conditions) at the boundary: every bundled
//! profile's simulated refusal names the gate that was closed, with its
//! value and where it was read; a "conditions not correct" answer to the
//! active test names the closed gate; the older table name and the
//! `below` test load.

mod common;

use common::run::trunkdiag;

use std::path::PathBuf;

use trunkdiag::profile::{self, ConditionTest, Role};

fn verdict(profile: &str, scenario: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "diagnose",
        "--sim",
        scenario,
        "--profile",
        profile,
        "--no-prompt",
        "--json",
    ];
    args.extend_from_slice(extra);
    let run = trunkdiag(&args);
    assert!(
        run.code == 0 || run.code == 1,
        "{profile} {scenario}: exit {}: {}",
        run.code,
        run.stderr
    );
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn top_evidence(v: &serde_json::Value) -> (String, Vec<String>) {
    let top = &v["verdicts"][0];
    let ev = top["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    (top["id"].as_str().unwrap().to_owned(), ev)
}

/// For each bundled profile with a gate the scenario closes (a speed gate
/// for the moving car, a lockout gate or lockout item for the valet
/// lockout), the top verdict's evidence names it: "gate closed", the
/// value, "read from" an item of that role. The profiles are counted, so
/// the test cannot pass on none.
#[test]
fn every_simulated_refusal_names_its_gate_with_value_and_source() {
    let mut checked = 0;
    for name in profile::bundled() {
        let p = profile::load(name).unwrap();
        let speed_gate = p.release_conditions.iter().any(|c| {
            c.role == Role::SpeedKmh
                && matches!(c.test, ConditionTest::Above { value } if value < 20.0)
        });
        if speed_gate {
            let (id, ev) = top_evidence(&verdict(name, "release-inhibited", &[]));
            assert_eq!(id, "release-inhibited", "{name}");
            assert!(
                ev.iter().any(|l| l.contains("press at ")
                    && l.contains(": gate closed: vehicle moving at 20 km/h (read from ")),
                "{name}: {ev:#?}"
            );
            checked += 1;
        }
        if p.has_role(Role::Lockout) {
            let (id, ev) = top_evidence(&verdict(name, "valet-lockout", &[]));
            assert_eq!(id, "valet-lockout", "{name}");
            assert!(
                ev.iter().any(
                    |l| l.starts_with("gate closed at the press: lockout flag set (read from ")
                ),
                "{name}: {ev:#?}"
            );
            checked += 1;
        }
    }
    // Ford, Hyundai/Kia (3), Toyota (2), Nissan L32/L33 speed gates;
    // Nissan (3), Ford, GM (2), VW (2) lockouts.
    assert!(
        checked >= 16,
        "only {checked} profile/scenario pairs had a gate"
    );
}

/// The Fusion's gear gate and speed gate both read closed in the moving
/// scenario, each with its own signal.
#[test]
fn a_moving_car_names_each_closed_gate_with_its_signal() {
    let (_, ev) = top_evidence(&verdict("ford-fusion-2013-2020", "release-inhibited", &[]));
    let has = |s: &str| ev.iter().any(|l| l.contains(s));
    assert!(
        has("gate closed: vehicle moving at 20 km/h (read from Veh_V_ActlBrk (0x415"),
        "{ev:#?}"
    );
    assert!(
        has("gate closed: in gear Drive (read from GearLvrPos_D_Actl (0x230"),
        "{ev:#?}"
    );
}

/// The Fusion with its decklid-inhibit gate applied to the active test
/// (a test profile): the simulated BCM answers `7F 2F 22`, and the report
/// turns it into the closed gate and where it was read. The answer is
/// checked in the recording too.
#[test]
fn conditions_not_correct_to_the_active_test_names_the_closed_gate() {
    let dir = tempdir("gated");
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vehicles/ford-fusion-2013-2020.toml"),
    )
    .unwrap();
    let gated = text.replacen(
        "[[gate]]\nname = \"decklid inhibit\"\n",
        "[[gate]]\nname = \"decklid inhibit\"\ninputs = [\"cabin\", \"fob\", \"bus\", \"active_test\"]\n",
        1,
    );
    assert_ne!(gated, text, "the Fusion's decklid inhibit gate moved");
    let path = dir.join("ford-gated.toml");
    std::fs::write(&path, gated).unwrap();
    let log = dir.join("run.log");
    let html = dir.join("run.html");
    let v = verdict(
        path.to_str().unwrap(),
        "valet-lockout",
        &[
            "--actuate",
            "--yes",
            "--record",
            log.to_str().unwrap(),
            "--report",
            html.to_str().unwrap(),
        ],
    );
    // The page a mechanic hands over carries the same note.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Notes on this run")
            && page.contains("conditions not correct (NRC 0x22): gate closed: lockout flag set"),
        "the report page lacks the active test's note"
    );
    let notes: Vec<&str> = v["source"]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert!(
        notes.iter().any(|n| n.starts_with(
            "the BCM refused the active test: conditions not correct (NRC 0x22): \
             gate closed: lockout flag set (read from "
        )),
        "{notes:#?}"
    );
    let rec = std::fs::read_to_string(&log).unwrap();
    assert!(
        rec.lines().any(|l| l.contains("#037F2F22")),
        "no 7F 2F 22 answer in the recording"
    );
    // Without the gate on the active test, the same BCM fires.
    let plain = verdict(
        "ford-fusion-2013-2020",
        "valet-lockout",
        &["--actuate", "--yes"],
    );
    let refused = plain["source"]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap_or("").contains("NRC 0x22"));
    assert!(!refused, "{:#?}", plain["source"]["notes"]);
}

/// `[[release_condition]]` is still read; `when = "below"` needs a value
/// and closes below it.
#[test]
fn the_older_table_name_and_a_below_gate_load() {
    let dir = tempdir("below");
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vehicles/ford-fusion-2013-2020.toml"),
    )
    .unwrap();
    let old = text.replace("[[gate]]", "[[release_condition]]");
    assert_ne!(old, text);
    let battery = "\n[[gate]]\nname = \"battery\"\nrole = \"battery_voltage\"\nwhen = \"below\"\n\
                   value = 11.5\ntext = \"the BCM does not release below 11.5 V\"\nlevel = \"placeholder\"\n";
    let path = dir.join("old.toml");
    std::fs::write(&path, format!("{old}{battery}")).unwrap();
    let p = profile::load(path.to_str().unwrap()).unwrap();
    let below: Vec<_> = p
        .release_conditions
        .iter()
        .filter(|c| c.role == Role::BatteryVoltage)
        .collect();
    assert_eq!(below.len(), 1);
    assert!(below[0].blocks(10.4) && !below[0].blocks(12.6));
    assert!(p.release_conditions.len() >= 4);

    let broken = dir.join("broken.toml");
    let no_value = battery.replace("value = 11.5\n", "");
    std::fs::write(&broken, format!("{text}{no_value}")).unwrap();
    let run = trunkdiag(&["profiles", "check", broken.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let line = text.lines().count() + 5;
    assert!(
        run.stderr.contains(&format!("broken.toml:{line}:"))
            && run
                .stderr
                .contains("expected `value` with when = \"below\""),
        "{}",
        run.stderr
    );
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("trunkdiag-gates-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
