//! The replay harness over the capture library in `captures/`: the tool's
//! own recordings of the built-in simulator (scripts/record-captures), one
//! per scenario and profile, each with `<scenario>.expect.json` beside it.
//!
//! - Every capture is replayed through the binary and each expected case
//!   (observations → top verdict, acceptable set, exit code) checked.
//!   `UPDATE_EXPECT=1` rewrites the observed parts (top, exit, recorded_by);
//!   the acceptable sets are written by hand and are never rewritten, so a
//!   verdict outside them fails even when updating.
//! - Every scenario is also diagnosed live on the virtual bus with
//!   `--record`, the recording replayed, and both verdicts (full ranked id
//!   list, exit code) must agree: a recording carries all the evidence.
//! - Every recording must be what can-utils expects: `# ` header saying what
//!   produced it, then frames on the bus clock (never going back), with no
//!   ` T`/` R` direction flags (candump -l writes none).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use trunkdiag::capture::candump::parse_line;

const BIN: &str = env!("CARGO_BIN_EXE_trunkdiag");

/// The car profiles the library holds captures of: every bundled profile
/// that names a car (VIN patterns), read from the one bundled list.
fn car_profiles() -> Vec<&'static str> {
    trunkdiag::profile::bundled()
        .filter(|id| !trunkdiag::profile::load(id).unwrap().vin.is_empty())
        .collect()
}

#[derive(Serialize, Deserialize, Debug, Clone)]
struct Expect {
    profile: String,
    scenario: String,
    /// The `command:` line of the capture's header.
    recorded_by: String,
    cases: Vec<Case>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
struct Case {
    observations: Vec<String>,
    /// The top verdict the tool gave when the expectation was last updated.
    top: String,
    /// Verdicts a diagnosis of this scenario may honestly put first.
    acceptable: Vec<String>,
    exit: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// What one `diagnose --json` run gave.
#[derive(Debug, PartialEq)]
struct Outcome {
    ranked: Vec<String>,
    exit: i32,
}

impl Outcome {
    fn top(&self) -> &str {
        self.ranked.first().map(String::as_str).unwrap_or("")
    }
}

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

fn scenarios() -> Vec<String> {
    let out = Command::new(BIN)
        .args(["simulate", "--list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn diagnose(source: &[&str], profile: &str, observations: &[String]) -> Outcome {
    let mut cmd = Command::new(BIN);
    cmd.arg("diagnose")
        .args(source)
        .args(["--profile", profile, "--json", "--no-prompt"]);
    for o in observations {
        cmd.args(["--observe", o]);
    }
    let out = cmd.output().unwrap();
    let exit = out.status.code().unwrap_or(-1);
    assert!(
        exit == 0 || exit == 1,
        "{cmd:?} failed with {exit}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ranked = json["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    Outcome { ranked, exit }
}

/// Checks a recording's shape; returns its header's `command:` line.
fn check_recording(path: &Path, problems: &mut Vec<String>) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.display();
    let header: Vec<&str> = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim_start())
        .collect();
    if !header
        .first()
        .is_some_and(|l| l.starts_with("recorded by trunkdiag "))
    {
        problems.push(format!("{name}: header does not start with the tool"));
    }
    for want in ["profile: ", "source: ", "started: "] {
        if !header.iter().any(|l| l.starts_with(want)) {
            problems.push(format!("{name}: header has no `{want}` line"));
        }
    }
    if !header
        .iter()
        .any(|l| l.starts_with("recorded on the virtual bus (in-process simulator)"))
    {
        problems.push(format!(
            "{name}: header does not say it was recorded on the simulator's virtual bus"
        ));
    }
    let mut last = 0u64;
    for (n, line) in text.lines().enumerate().skip(header.len()) {
        match parse_line(line.as_bytes()) {
            Ok(Some(f)) => {
                if f.direction.is_some() {
                    problems.push(format!("{name}:{}: direction flag on `{line}`", n + 1));
                }
                if f.timestamp_us < last {
                    problems.push(format!("{name}:{}: timestamp goes back", n + 1));
                }
                last = f.timestamp_us;
            }
            // A press the person told of (a car whose bus shows none).
            _ if line
                .strip_prefix("# ")
                .and_then(trunkdiag::diagnose::parse_told_press)
                .is_some() => {}
            other => problems.push(format!("{name}:{}: not a frame: {other:?}", n + 1)),
        }
    }
    header
        .iter()
        .find_map(|l| l.strip_prefix("command: "))
        .unwrap_or_default()
        .to_owned()
}

/// Checks one case's outcome against its expectation.
fn check_case(what: &str, case: &Case, got: &Outcome, exact: bool, problems: &mut Vec<String>) {
    if !case.acceptable.iter().any(|a| a == got.top()) {
        problems.push(format!(
            "{what}: top {} is not acceptable (expected one of {:?}; ranked {:?})",
            got.top(),
            case.acceptable,
            got.ranked
        ));
    }
    if exact && (got.top() != case.top || got.exit != case.exit) {
        problems.push(format!(
            "{what}: got top {} exit {}, expected top {} exit {} (ranked {:?}; if intended, UPDATE_EXPECT=1)",
            got.top(),
            got.exit,
            case.top,
            case.exit,
            got.ranked
        ));
    }
}

fn expectation_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(library()).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.to_string_lossy().ends_with(".expect.json") {
                files.push(f);
            }
        }
    }
    files.sort();
    files
}

fn load(path: &Path) -> Expect {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `f` over `items` on a few threads (each item is a few process runs).
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = 4.min(items.len().max(1));
    let chunk = items.len().div_ceil(workers).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

#[test]
fn the_library_covers_every_scenario_of_every_profile() {
    // One scenario per cause of the cause table, in its order.
    let listed = scenarios();
    assert_eq!(
        listed,
        trunkdiag::cause::CAUSE_IDS,
        "simulate --list is not the cause table"
    );
    let want: BTreeSet<String> = listed.into_iter().collect();
    let mut problems = Vec::new();
    let cars = car_profiles();
    assert!(cars.len() >= 4, "{cars:?}");
    for p in cars {
        for s in &want {
            for ext in ["log", "expect.json"] {
                let f = library().join(p).join(format!("{s}.{ext}"));
                if !f.is_file() {
                    problems.push(format!("missing {}", f.display()));
                }
            }
        }
    }
    for f in expectation_files() {
        let e = load(&f);
        let log = f.with_file_name(format!("{}.log", e.scenario));
        if !log.is_file() || f.parent().and_then(|d| d.file_name()) != Some(e.profile.as_ref()) {
            problems.push(format!(
                "{}: no {} beside it, or the wrong profile directory",
                f.display(),
                log.display()
            ));
        }
        for c in &e.cases {
            if c.acceptable.is_empty() {
                problems.push(format!(
                    "{}: a case with no acceptable verdict",
                    f.display()
                ));
            }
        }
        // Every scenario is pinned down exactly by at least one case.
        if !e.cases.iter().any(|c| c.acceptable.len() == 1) {
            problems.push(format!("{}: no narrowed case", f.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_capture_replays_to_its_expected_verdict() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v == "1");
    let files = expectation_files();
    assert!(!files.is_empty(), "no captures in {}", library().display());
    let results = par_map(&files, |f| {
        let mut problems = Vec::new();
        let mut e = load(f);
        let log = f.with_file_name(format!("{}.log", e.scenario));
        let command = check_recording(&log, &mut problems);
        let mut changed = false;
        if command != e.recorded_by {
            if update {
                e.recorded_by = command;
                changed = true;
            } else {
                problems.push(format!(
                    "{}: recorded_by {:?} is not the header's command {command:?}",
                    f.display(),
                    e.recorded_by
                ));
            }
        }
        let log_arg = log.to_string_lossy().into_owned();
        for i in 0..e.cases.len() {
            let case = e.cases[i].clone();
            let got = diagnose(&["--replay", &log_arg], &e.profile, &case.observations);
            let what = format!("{} {:?}", log.display(), case.observations);
            check_case(&what, &case, &got, !update, &mut problems);
            if update && (case.top != got.top() || case.exit != got.exit) {
                e.cases[i].top = got.top().to_owned();
                e.cases[i].exit = got.exit;
                changed = true;
            }
        }
        if update && changed {
            std::fs::write(f, serde_json::to_string_pretty(&e).unwrap() + "\n").unwrap();
        }
        problems
    });
    let problems: Vec<String> = results.into_iter().flatten().collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_live_run_on_the_virtual_bus_and_the_replay_of_its_recording_agree() {
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<(Expect, usize)> = expectation_files()
        .iter()
        .map(|f| load(f))
        .flat_map(|e| (0..e.cases.len()).map(move |i| (e.clone(), i)))
        .collect();
    let results = par_map(&runs, |(e, i)| {
        let mut problems = Vec::new();
        let case = &e.cases[*i];
        let log = dir
            .path()
            .join(format!("{}-{}-{i}.log", e.profile, e.scenario));
        let log_arg = log.to_string_lossy().into_owned();
        let live = diagnose(
            &["--sim", &e.scenario, "--record", &log_arg],
            &e.profile,
            &case.observations,
        );
        let replayed = diagnose(&["--replay", &log_arg], &e.profile, &case.observations);
        let what = format!("{} {} {:?}", e.profile, e.scenario, case.observations);
        if live != replayed {
            problems.push(format!(
                "{what}: live {live:?} but the replay of its recording {replayed:?}"
            ));
        }
        check_case(&format!("{what} (live)"), case, &live, true, &mut problems);
        check_recording(&log, &mut problems);
        problems
    });
    let problems: Vec<String> = results.into_iter().flatten().collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn simulate_record_writes_the_same_honest_header_and_clean_frames() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sim.log");
    let out = Command::new(BIN)
        .args(["simulate", "--scenario", "trunk-latch", "--profile"])
        .args(["ford-fusion-2013-2020", "--duration", "3", "--record"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut problems = Vec::new();
    let command = check_recording(&log, &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        command.starts_with("trunkdiag simulate --scenario trunk-latch"),
        "{command}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("# source: scenario trunk-latch on profile ford-fusion-2013-2020"));
    assert!(text.lines().filter(|l| l.starts_with('(')).count() > 20);
}

#[test]
fn record_on_a_missing_interface_fails_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("rec.log");
    let out = Command::new(BIN)
        .args(["record", "--iface", "nosuchcan7", "--duration", "0.1", "-o"])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchcan7"));
    assert!(!log.exists());
}
