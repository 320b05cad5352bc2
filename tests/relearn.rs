//! `trunkdiag relearn` end to end: the simulated power liftgate after a
//! power loss, walked step by step; a step that never happens; the report;
//! profiles without a procedure or with a bad one; a calibration routine.

mod common;

use common::run::{trunkdiag, Run};
use serde_json::Value;

const RAV4: &str = "toyota-rav4-2019-2025";

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

#[test]
fn the_relearned_liftgate_walks_every_step_and_ends_working() {
    let r = trunkdiag(&[
        "relearn",
        "--sim",
        "liftgate-needs-relearn",
        "--profile",
        RAV4,
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = json(&r);
    assert_eq!(v["result"], "working");
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    let watched = [
        ("lid_open becomes 0", 1.0, 0.0),
        ("driver_door_locked becomes 0", 1.0, 0.0),
    ];
    for (s, (confirm, from, to)) in steps.iter().zip(watched) {
        assert_eq!(s["status"], "confirmed", "{s}");
        assert_eq!(s["confirm"], confirm);
        let e = &s["evidence"];
        assert_eq!(e["kind"], "value", "{s}");
        assert_eq!(
            (e["from"].as_f64(), e["value"].as_f64()),
            (Some(from), Some(to)),
            "{s}"
        );
        assert!(e["frame"].as_str().unwrap().starts_with("0x6"), "{s}");
        assert!(e["at_s"].as_f64().unwrap() > 0.0, "{s}");
        assert!(s.get("if_not").is_none(), "{s}");
    }
    // Each step seen after the one before it.
    let t: Vec<f64> = steps
        .iter()
        .map(|s| s["evidence"]["at_s"].as_f64().unwrap())
        .collect();
    assert!(t[0] < t[1], "{t:?}");
    let check = &v["check"];
    assert_eq!(check["status"], "confirmed", "{check}");
    assert_eq!(check["evidence"]["value"].as_f64(), Some(1.0));
    assert!(check["evidence"]["at_s"].as_f64().unwrap() > t[1]);
    // What it rests on below this model: the procedure is Toyota's, not the RAV4's.
    let rests = v["rests_on"].as_array().unwrap();
    assert_eq!(rests[0]["level"], "related-model");
    assert!(rests[0]["items"]
        .to_string()
        .contains("Toyota power back door reset"));
    // The instructions went to stderr, for the person.
    assert!(
        r.stderr.contains("Step 1 of 2: Close the power back door"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_human_run_says_each_step_its_evidence_and_the_result() {
    let r = trunkdiag(&[
        "relearn",
        "--sim",
        "liftgate-needs-relearn",
        "--profile",
        RAV4,
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for line in [
        "Step 1 of 2: Close the power back door fully by hand",
        "confirmed: BCTY (back door courtesy switch) on 0x620 [byte 0 = 0x10]: 1 → 0 (closed) at ",
        "Step 2 of 2: Unlock the doors once",
        "Check: Open the liftgate with its switch",
        "Result: Every step was seen on the bus, and the liftgate opened: it works again.",
        "What it rests on, below \"this model\":",
    ] {
        assert!(r.stdout.contains(line), "{line}\n{}", r.stdout);
    }
}

#[test]
fn a_step_not_done_in_time_ends_with_what_to_check() {
    let r = trunkdiag(&["relearn", "--sim", "relearn-step-missed", "--profile", RAV4]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "Step 2 not confirmed within 120 s: check that the unlock side of the driver's door control switch was pressed once"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("driver_door_locked still reads 1"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("Check: "),
        "no lid check after a missed step"
    );

    let r = trunkdiag(&[
        "relearn",
        "--sim",
        "relearn-step-missed",
        "--profile",
        RAV4,
        "--json",
    ]);
    assert_eq!(r.code, 1);
    let v = json(&r);
    assert_eq!(v["result"], "step-not-confirmed");
    assert_eq!(v["steps"][0]["status"], "confirmed");
    let missed = &v["steps"][1];
    assert_eq!(missed["status"], "not-confirmed");
    assert!(missed["evidence"].is_null());
    assert!(missed["if_not"]
        .as_str()
        .unwrap()
        .contains("door control switch"));
    assert!(v["check"].is_null());
    assert_eq!(v["exit"], 1);
}

#[test]
fn the_report_shows_every_step() {
    let dir = tempfile::tempdir().unwrap();
    for (scenario, code, status) in [
        ("liftgate-needs-relearn", 0, "confirmed"),
        ("relearn-step-missed", 1, "not confirmed"),
    ] {
        let path = dir.path().join(format!("{scenario}.html"));
        let r = trunkdiag(&[
            "relearn",
            "--sim",
            scenario,
            "--profile",
            RAV4,
            "--report",
            path.to_str().unwrap(),
        ]);
        assert_eq!(r.code, code, "{}{}", r.stdout, r.stderr);
        let page = std::fs::read_to_string(&path).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
        for text in [
            "Close the power back door fully by hand",
            "Unlock the doors once with the door control switch",
            "lid_open becomes 0",
            "driver_door_locked becomes 0",
            status,
            "From a related model",
        ] {
            assert!(page.contains(text), "{scenario}: {text}");
        }
        assert!(!page.contains("<script"), "no scripts");
    }
}

#[test]
fn a_profile_without_a_procedure_is_refused() {
    let r = trunkdiag(&[
        "relearn",
        "--sim",
        "liftgate-needs-relearn",
        "--profile",
        "nissan-altima-2013-2018",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("profile nissan-altima-2013-2018 has no relearn procedure"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
    let r = trunkdiag(&[
        "relearn",
        "--sim",
        "liftgate-needs-relearn",
        "--profile",
        "auto",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("name the car's profile"), "{}", r.stderr);
    let r = trunkdiag(&["relearn", "--profile", RAV4]);
    assert_eq!(r.code, 2, "--iface or --sim is needed");
    let r = trunkdiag(&["relearn", "--sim", "flat-tyre", "--profile", RAV4]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("liftgate-needs-relearn"), "{}", r.stderr);
}

#[test]
fn the_relearn_scenarios_are_listed_apart() {
    let r = trunkdiag(&["simulate", "--list", "--relearn"]);
    assert_eq!(r.code, 0);
    let ids: Vec<&str> = r
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ids, ["liftgate-needs-relearn", "relearn-step-missed"]);
    let r = trunkdiag(&["simulate", "--list"]);
    assert!(
        !r.stdout.contains("relearn"),
        "the diagnosis list is the cause table"
    );
}

/// A profile file in a temp dir: the Hyundai/Kia layouts (a UDS body
/// module) with the given relearn.
fn profile_file(dir: &tempfile::TempDir, relearn: &str) -> String {
    let text = format!(
        "{}{relearn}",
        include_str!("data/profiles/kia-layouts.toml")
    );
    let path = dir.path().join("test-relearn.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

const CLOSE_THEN_CALIBRATE: &str = r#"
[relearn]
procedure = "close, then calibrate"
level = "placeholder"

[[relearn.step]]
do = "Close the gate by hand."
confirm = { role = "lid_open", becomes = 0 }
timeout_s = 30
if_not = "the gate's latch"
level = "placeholder"

[[relearn.step]]
do = "Nothing: the tool runs the calibration."
confirm = { routine = 0x0203, pass = "00", fail = "01" }
timeout_s = 10
if_not = "the module's calibration conditions"
level = "placeholder"
"#;

#[test]
fn bad_relearn_tables_give_exit_2_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = CLOSE_THEN_CALIBRATE.replace("\"lid_open\"", "\"boot_lid\"");
    let path = profile_file(&dir, &bad);
    let line = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .position(|l| l.contains("boot_lid"))
        .unwrap()
        + 1;
    let r = trunkdiag(&[
        "relearn",
        "--sim",
        "liftgate-needs-relearn",
        "--profile",
        &path,
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(&format!("test-relearn.toml:{line}:"))
            && r.stderr
                .contains("expected a role for relearn step 1, found \"boot_lid\""),
        "{}",
        r.stderr
    );
    let path = profile_file(
        &dir,
        &CLOSE_THEN_CALIBRATE.replace("timeout_s = 30", "timeout_s = -1"),
    );
    let r = trunkdiag(&["profiles", "check", &path]);
    assert_eq!(r.code, 2);
    assert!(
        r.stdout.contains("expected timeout_s of relearn step 1")
            || r.stderr.contains("expected timeout_s of relearn step 1"),
        "{}{}",
        r.stdout,
        r.stderr
    );
}

#[test]
fn a_calibration_routine_runs_only_when_allowed_and_its_pass_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(&dir, CLOSE_THEN_CALIBRATE);
    let r = trunkdiag(&[
        "relearn",
        "--sim",
        "liftgate-needs-relearn",
        "--profile",
        &path,
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("relearn step 2 runs UDS routine 0x0203")
            && r.stderr.contains("--run-routine"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "nothing started: {}", r.stdout);

    let r = trunkdiag(&[
        "relearn",
        "--sim",
        "liftgate-needs-relearn",
        "--profile",
        &path,
        "--run-routine",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = json(&r);
    let routine = &v["steps"][1]["evidence"];
    assert_eq!(routine["kind"], "routine", "{v}");
    assert_eq!(routine["request"], "31030203");
    assert_eq!(routine["answer"], "7103020300");
    assert_eq!(routine["result"], "pass");
    assert_eq!(v["check"]["status"], "confirmed", "and the gate opens: {v}");

    // The gate never closed: the routine is never reached.
    let r = trunkdiag(&[
        "relearn",
        "--sim",
        "relearn-step-missed",
        "--profile",
        &path,
        "--run-routine",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("Step 1 not confirmed within 30 s: check the gate's latch."),
        "{}",
        r.stdout
    );
}

#[test]
fn a_step_only_a_data_read_shows_is_polled_from_the_module() {
    let dir = tempfile::tempdir().unwrap();
    // The Hyundai/Kia layout reads the driver's door lock only from the
    // IGPM (UDS 22 BC04, in its extended session): no broadcast shows it.
    let relearn = CLOSE_THEN_CALIBRATE.replace(
        "{ routine = 0x0203, pass = \"00\", fail = \"01\" }",
        "{ role = \"driver_door_locked\", becomes = 0 }",
    );
    let path = profile_file(&dir, &relearn);
    let r = trunkdiag(&[
        "relearn",
        "--sim",
        "liftgate-needs-relearn",
        "--profile",
        &path,
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = json(&r);
    let polled = &v["steps"][1]["evidence"];
    assert_eq!(polled["frame"], "UDS 22 BC04", "{v}");
    assert_eq!(
        (polled["from"].as_f64(), polled["value"].as_f64()),
        (Some(1.0), Some(0.0))
    );
    assert_eq!(v["check"]["status"], "confirmed");
}

#[test]
fn profiles_show_lists_the_relearn_steps() {
    let r = trunkdiag(&["profiles", "show", RAV4]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .contains("relearn (trunkdiag relearn): Toyota power back door reset"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("2. Unlock the doors once"),
        "{}",
        r.stdout
    );
    assert!(r
        .stdout
        .contains("[confirmed by driver_door_locked becomes 0 within 120 s]"));
}

#[test]
fn every_step_seen_but_a_lid_that_stays_shut_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    // One step the parked car shows at once (the selector in P: code 0 on
    // these cars' gear lever, the sim's Park), then the healthy presses of
    // a diagnosis scenario whose opener fuse is blown: the lid never opens.
    let relearn = r#"
[relearn]
procedure = "park"
level = "placeholder"

[[relearn.step]]
do = "Put the selector in P."
confirm = { role = "gear", equals = 0 }
timeout_s = 30
if_not = "the selector"
level = "placeholder"
"#;
    let path = profile_file(&dir, relearn);
    let r = trunkdiag(&[
        "relearn",
        "--sim",
        "trunk-fuse",
        "--profile",
        &path,
        "--json",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v = json(&r);
    assert_eq!(v["steps"][0]["status"], "confirmed", "{v}");
    assert_eq!(
        v["steps"][0]["evidence"]["from"],
        Value::Null,
        "a reading, not a change"
    );
    assert_eq!(v["result"], "check-failed");
    assert_eq!(v["check"]["status"], "not-confirmed");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("did not open within 120 s"),
        "{v}"
    );
}
