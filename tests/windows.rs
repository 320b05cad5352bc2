//! The Windows build (`scripts/windows-build`) run under Wine: it must
//! give what the Linux binary gives. See `tests/common/wine.rs`.
//!
//! - every simulator scenario (`simulate --list`, and `--list --relearn`
//!   for `relearn --sim`) with every car profile: the same exit code,
//!   `--json` document and messages;
//! - every capture of `captures/` replayed, each case of its expectation:
//!   the same JSON; `batch` over `captures/`: the same JSON lines;
//! - `request` of the VIN and `diagnose` through ELM327-emulator as an
//!   ELM327 and as an SLCAN adapter on ptys mapped as COM ports, and as a
//!   WiFi ELM327 over `elm327:tcp:`: the emulator's VIN, the verdict the
//!   Linux binary gets through the same peers;
//! - bad input: exit 2 and the Linux message, naming file and line;
//! - Windows paths: drive letters, backslashes and spaces for `--replay`,
//!   `--record`, `--report` and `batch`; `TRUNKDIAG_PROFILES` split on `;`
//!   and `%APPDATA%\trunkdiag\profiles`;
//! - a console: colour codes only after the console was told to show them,
//!   none into a pipe or file (what Wine can and cannot show is said at
//!   [`a_console_gets_colour_only_after_turning_it_on`]).
//!
//! Each test holds [`one_at_a_time`]: the bulk runs use a few threads of
//! their own, and the emulated adapters keep their timing only when they
//! do not share a small machine's cores with them.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use common::emulated::{emulated_car, emulated_car_tcp};
use common::wine::Wine;

const BIN: &str = env!("CARGO_BIN_EXE_trunkdiag");
const PROFILE: &str = "nissan-altima-2013-2018";
/// The VIN the emulated engine ECU answers 09 02 with.
const EMULATED_VIN: &str = "WP0ZZZ99ZTS390000";

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// The text of the bundled valet-lockout capture, to break a line of.
fn valet_lockout_capture() -> String {
    std::fs::read_to_string(
        root()
            .join("captures")
            .join(PROFILE)
            .join("valet-lockout.log"),
    )
    .unwrap()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One run's exit code and output.
#[derive(Clone, Debug, PartialEq)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The caller's environment kept out of either binary: no log filter, no
/// extra profile directory, no colour switch.
fn clean(mut c: Command) -> Command {
    for var in [
        "RUST_LOG",
        "TRUNKDIAG_PROFILES",
        "NO_COLOR",
        "CLICOLOR_FORCE",
    ] {
        c.env_remove(var);
    }
    c
}

fn linux() -> Command {
    let mut c = clean(Command::new(BIN));
    c.current_dir(root());
    c
}

fn windows(wine: &Wine) -> Command {
    clean(wine.command())
}

fn run<S: AsRef<std::ffi::OsStr>>(mut c: Command, args: &[S]) -> Run {
    c.args(args);
    let mut out = c.output().expect("start the binary");
    // Wine's own failure to reach its server (the exe never ran, nothing
    // on stdout): run again, twice at most. Never a message of trunkdiag's.
    for _ in 0..2 {
        let wine_failed = out.stdout.is_empty()
            && String::from_utf8_lossy(&out.stderr).starts_with("wine client error");
        if !wine_failed {
            break;
        }
        out = c.output().expect("start the binary");
    }
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The wall clock taken out of a run's messages: the time stamp opening
/// each log line and the seconds `batch` took, which differ from run to
/// run on either system.
fn without_clock(mut r: Run) -> Run {
    let lines: Vec<String> = r
        .stderr
        .lines()
        .map(|l| {
            // `2026-12-07T02:58:04.390347Z  WARN ...`
            let l = match l.split_once("Z ") {
                Some((t, rest)) if t.len() >= 20 && t.as_bytes()[10] == b'T' => rest.trim_start(),
                _ => l,
            };
            // `batch: 272 job(s) in 1.01 s, 2 at once`
            if let Some(("", rest)) = l.split_once("batch: ") {
                if let Some((jobs, took)) = rest.split_once(" in ") {
                    if let Some((_, after)) = took.split_once(" s") {
                        return format!("batch: {jobs} in _ s{after}");
                    }
                }
            }
            l.to_owned()
        })
        .collect();
    r.stderr = lines.join("\n");
    r
}

/// What differs between the two runs, line by line (the first few lines).
fn differences(what: &str, linux: &Run, windows: &Run) -> Option<String> {
    if linux == windows {
        return None;
    }
    let mut out = format!(
        "{what}: linux exit {:?}, windows exit {:?}; stdout {} and {} bytes, stderr {} and {}",
        linux.code,
        windows.code,
        linux.stdout.len(),
        windows.stdout.len(),
        linux.stderr.len(),
        windows.stderr.len()
    );
    for (name, l, w) in [
        ("stdout", &linux.stdout, &windows.stdout),
        ("stderr", &linux.stderr, &windows.stderr),
    ] {
        let mut shown = 0;
        for (i, pair) in l
            .lines()
            .map(Some)
            .chain(std::iter::repeat(None))
            .zip(w.lines().map(Some).chain(std::iter::repeat(None)))
            .take_while(|(a, b)| a.is_some() || b.is_some())
            .enumerate()
        {
            if pair.0 != pair.1 && shown < 3 {
                out.push_str(&format!(
                    "\n  {name} line {}:\n    linux:   {:?}\n    windows: {:?}",
                    i + 1,
                    pair.0.unwrap_or("<none>"),
                    pair.1.unwrap_or("<none>")
                ));
                shown += 1;
            }
        }
    }
    Some(out)
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

/// The first word of each line `simulate --list [--relearn]` prints.
fn scenarios(relearn: bool) -> Vec<String> {
    let mut args = vec!["simulate", "--list"];
    if relearn {
        args.push("--relearn");
    }
    let out = run(linux(), &args);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let names: Vec<String> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    assert!(!names.is_empty(), "simulate {args:?} listed nothing");
    names
}

/// Every bundled profile that names a car (VIN patterns), as the capture
/// library has them.
fn car_profiles() -> Vec<&'static str> {
    trunkdiag::profile::bundled()
        .filter(|id| !trunkdiag::profile::load(id).unwrap().vin.is_empty())
        .collect()
}

/// Compares the two binaries over `runs` on a few threads; each Linux run
/// must also pass `sane` (so two identical failures are no pass).
fn compare_all(
    wine: &Wine,
    runs: &[Vec<String>],
    sane: impl Fn(&Run) -> Result<(), String> + Sync,
) {
    let problems: Vec<String> = par_map(runs, |args| {
        let l = without_clock(run(linux(), args));
        let w = without_clock(run(windows(wine), args));
        let mut p = Vec::new();
        if let Err(why) = sane(&l) {
            p.push(format!("{args:?} on Linux: {why}: {l:?}"));
        }
        p.extend(differences(&format!("{args:?}"), &l, &w));
        p
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(
        problems.is_empty(),
        "{} of {} runs:\n{}",
        problems.len(),
        runs.len(),
        problems.join("\n")
    );
}

/// A `diagnose --json` document with at least one verdict, exit 0 or 1.
fn a_diagnosis(r: &Run) -> Result<(), String> {
    if !matches!(r.code, Some(0 | 1)) {
        return Err("exit not 0 or 1".into());
    }
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).map_err(|e| format!("not JSON: {e}"))?;
    match v["verdicts"].as_array() {
        Some(a) if !a.is_empty() => Ok(()),
        _ => Err("no verdicts".into()),
    }
}

#[test]
fn the_exe_runs_the_readme_simulation() {
    let Some(wine) = Wine::get() else { return };
    let out = wine.run(&[
        "diagnose",
        "--sim",
        "valet-lockout",
        "--profile",
        "nissan-altima-2013-2018",
        "--no-prompt",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("Verdict: valet-lockout"), "{stdout}");
}

/// Every scenario with every car profile, and every relearn scenario with
/// every profile that has a relearn procedure: the same exit code, JSON
/// and messages as on Linux.
#[test]
fn every_simulator_scenario_gives_what_linux_gives() {
    let Some(wine) = Wine::get() else { return };
    let _one = one_at_a_time();
    let start = Instant::now();
    let cars = car_profiles();
    let mut runs: Vec<Vec<String>> = Vec::new();
    for s in scenarios(false) {
        for p in &cars {
            runs.push(
                [
                    "diagnose",
                    "--sim",
                    &s,
                    "--profile",
                    p,
                    "--no-prompt",
                    "--json",
                ]
                .map(String::from)
                .to_vec(),
            );
        }
    }
    let relearn: Vec<&str> = trunkdiag::profile::bundled()
        .filter(|id| trunkdiag::profile::load(id).unwrap().relearn.is_some())
        .collect();
    assert!(!relearn.is_empty(), "no bundled profile has a relearn");
    let diagnoses = runs.len();
    for s in scenarios(true) {
        for p in &relearn {
            runs.push(
                ["relearn", "--sim", &s, "--profile", p, "--json"]
                    .map(String::from)
                    .to_vec(),
            );
        }
    }
    let (d, r) = runs.split_at(diagnoses);
    compare_all(&wine, d, a_diagnosis);
    compare_all(&wine, r, |r| {
        let v: serde_json::Value =
            serde_json::from_str(&r.stdout).map_err(|e| format!("not JSON: {e}"))?;
        if v["steps"].as_array().is_some_and(|s| !s.is_empty()) {
            Ok(())
        } else {
            Err("no relearn steps".into())
        }
    });
    eprintln!(
        "{} simulator runs on each binary in {:.1} s",
        runs.len(),
        start.elapsed().as_secs_f64()
    );
}

/// The capture library's expectations: (profile, capture, observations of
/// each case).
fn library() -> Vec<(String, String, Vec<Vec<String>>)> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root().join("captures")).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            let Some(name) = f.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(scenario) = name.strip_suffix(".expect.json") else {
                continue;
            };
            let e: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            let profile = e["profile"].as_str().unwrap().to_owned();
            let cases = e["cases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    c["observations"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|o| o.as_str().unwrap().to_owned())
                        .collect()
                })
                .collect();
            let dir_name = dir.file_name().unwrap().to_string_lossy();
            out.push((
                profile,
                format!("captures/{dir_name}/{scenario}.log"),
                cases,
            ));
        }
    }
    out.sort();
    out
}

/// Every bundled capture, each case of its expectation, replayed with the
/// profile it names (as tests/captures.rs does): the same JSON.
#[test]
fn every_bundled_capture_replays_to_the_same_json() {
    let Some(wine) = Wine::get() else { return };
    let _one = one_at_a_time();
    let start = Instant::now();
    let lib = library();
    assert!(lib.len() >= 100, "{} captures", lib.len());
    let mut runs = Vec::new();
    for (profile, log, cases) in &lib {
        for observations in cases {
            let mut args: Vec<String> = ["diagnose", "--replay", log, "--profile", profile]
                .map(String::from)
                .to_vec();
            args.extend(["--json".into(), "--no-prompt".into()]);
            for o in observations {
                args.extend(["--observe".into(), o.clone()]);
            }
            runs.push(args);
        }
    }
    compare_all(&wine, &runs, a_diagnosis);
    eprintln!(
        "{} captures, {} replays on each binary in {:.1} s",
        lib.len(),
        runs.len(),
        start.elapsed().as_secs_f64()
    );
}

/// `batch --profile auto captures`: the same JSON lines. Lines come as
/// jobs finish, so both outputs are put in job order first. The exe names
/// each job with Windows separators (`captures\ford-...\x.log`): what a
/// Windows user types and can paste back; only that field is normalised.
#[test]
fn batch_over_the_capture_library_gives_the_same_json_lines() {
    let Some(wine) = Wine::get() else { return };
    let _one = one_at_a_time();
    let args = ["batch", "--profile", "auto", "captures"];
    let l = run(linux(), &args);
    let w = run(windows(&wine), &args);
    assert_eq!(l.code, Some(1), "{}", l.stderr);
    assert_eq!(w.code, l.code, "{}", w.stderr);
    let in_order = |text: &str| {
        let mut lines: Vec<(u64, String)> = text
            .lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                (v["index"].as_u64().unwrap(), line.to_owned())
            })
            .collect();
        lines.sort();
        lines
    };
    let l = in_order(&l.stdout);
    let w = in_order(&w.stdout);
    assert_eq!(l.len(), library().len(), "one line per capture");
    assert_eq!(w.len(), l.len());
    for ((_, l), (_, w)) in l.iter().zip(&w) {
        let v: serde_json::Value = serde_json::from_str(w).unwrap();
        let job = v["job"].as_str().unwrap();
        assert!(
            job.starts_with("captures\\") && !job.contains('/'),
            "not a Windows path: {job}"
        );
        let as_given = serde_json::to_string(job).unwrap();
        let unix = serde_json::to_string(&job.replace('\\', "/")).unwrap();
        assert_eq!(w.matches(&as_given).count(), 1, "{w}");
        assert_eq!(&w.replacen(&as_given, &unix, 1), l);
    }
}

// ---------------------------------------------------------------------
// Adapters: ELM327-emulator on COM ports and over TCP

/// `dosdevices/comN` removed again: other tests list the prefix's ports.
struct ComPort<'a> {
    wine: &'a Wine,
    n: u32,
}

impl<'a> ComPort<'a> {
    fn map(wine: &'a Wine, n: u32, device: &Path) -> ComPort<'a> {
        // To the pty itself, not socat's link to it.
        wine.map_com_port(n, &std::fs::canonicalize(device).unwrap());
        ComPort { wine, n }
    }
}

impl Drop for ComPort<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.wine.prefix.join(format!("dosdevices/com{}", self.n)));
    }
}

fn vin_request(iface: &str) -> Vec<String> {
    ["request", "--iface", iface, "--tx", "7E0", "--rx", "7E8"]
        .into_iter()
        .chain(["--protocol", "obd", "0902"])
        .map(String::from)
        .collect()
}

fn live_diagnosis(iface: &str) -> Vec<String> {
    [
        "diagnose",
        "--iface",
        iface,
        "--no-prompt",
        "--profile",
        PROFILE,
        "--listen",
        "3",
        "--timeout",
        "2",
        "--json",
    ]
    .map(String::from)
    .to_vec()
}

/// The ranked verdict ids and the exit code of a live diagnosis: what
/// must agree (frame counts and the adapter's battery reading change from
/// run to run).
fn verdict(r: &Run) -> (Vec<String>, Option<i32>) {
    let v: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
    let ids = v["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, r.code)
}

/// Through each emulated adapter, the exe reads the emulator's VIN and
/// gets the valet-lockout verdict from its BCM, as the Linux binary does
/// through the same peer (a fresh emulator for each run: it keeps state
/// between connections).
#[test]
fn the_vin_and_the_verdict_through_com_ports_and_tcp() {
    let Some(wine) = Wine::get() else { return };
    let _one = one_at_a_time();
    for (mode, kind, n) in [("elm", "elm327", 7u32), ("slcan", "slcan", 8)] {
        for lockout in [false, true] {
            let args = |iface: &str| {
                if lockout {
                    live_diagnosis(iface)
                } else {
                    vin_request(iface)
                }
            };
            let Some(car) = emulated_car(mode, lockout) else {
                return;
            };
            let port = ComPort::map(&wine, n, &car.pty.ours);
            let w = run(windows(&wine), &args(&format!("{kind}:COM{n}")));
            drop((port, car));
            let Some(car) = emulated_car(mode, lockout) else {
                return;
            };
            let l = run(
                linux(),
                &args(&format!("{kind}:{}", car.pty.ours.display())),
            );
            check_live(&format!("{kind}:COM{n}"), lockout, &l, &w);
        }
    }
    for lockout in [false, true] {
        let args = |iface: &str| {
            if lockout {
                live_diagnosis(iface)
            } else {
                vin_request(iface)
            }
        };
        let Some(car) = emulated_car_tcp(lockout) else {
            return;
        };
        let w = run(windows(&wine), &args(&car.iface()));
        drop(car);
        let Some(car) = emulated_car_tcp(lockout) else {
            return;
        };
        let l = run(linux(), &args(&car.iface()));
        check_live("elm327:tcp:", lockout, &l, &w);
    }
}

fn check_live(what: &str, diagnosis: bool, l: &Run, w: &Run) {
    if diagnosis {
        let want = (vec!["valet-lockout".to_owned()], Some(1));
        let (ids, code) = verdict(w);
        assert_eq!(
            (ids.first().cloned().into_iter().collect::<Vec<_>>(), code),
            want,
            "{what} windows: {}",
            w.stderr
        );
        assert_eq!(verdict(l), verdict(w), "{what}: linux against windows");
    } else {
        assert_eq!(w.code, Some(0), "{what} windows: {}", w.stderr);
        assert!(
            w.stdout.contains(&format!("VIN {EMULATED_VIN}")),
            "{what} windows: {}",
            w.stdout
        );
        assert_eq!(l.code, Some(0), "{what} linux: {}", l.stderr);
        assert_eq!(l.stdout, w.stdout, "{what}: linux against windows");
    }
}

// ---------------------------------------------------------------------
// Bad input

/// A malformed capture line, a bad profile and a bad argument: exit 2 and
/// the Linux message, naming the file and line, from a working directory
/// the relative names are in.
#[test]
fn bad_input_exits_2_with_the_linux_message() {
    let Some(wine) = Wine::get() else { return };
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let good = valet_lockout_capture();
    let mut lines: Vec<&str> = good.lines().collect();
    let at = lines.iter().position(|l| !l.starts_with('#')).unwrap() + 5;
    lines.insert(at, "(1700000000.315000) vcan0 745#02214");
    std::fs::write(dir.path().join("bad.log"), lines.join("\n") + "\n").unwrap();
    let bundled =
        std::fs::read_to_string(root().join("vehicles").join(format!("{PROFILE}.toml"))).unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        bundled.replacen("bitrate = 500000", "bitrate = \"fast\"", 1),
    )
    .unwrap();
    let line = at + 1;
    let cases: &[(&[&str], &str)] = &[
        (
            &["diagnose", "--replay", "bad.log", "--profile", PROFILE],
            &format!("bad.log:{line}: expected 2 hex digits per data byte"),
        ),
        (
            &["batch", "--profile", PROFILE, "bad.log"],
            &format!("bad.log:{line}: expected 2 hex digits per data byte"),
        ),
        (&["profiles", "check", "bad.toml"], "bad.toml:"),
        (
            &[
                "diagnose",
                "--sim",
                "valet-lockout",
                "--profile",
                "bad.toml",
            ],
            "bad.toml:",
        ),
        (
            &["diagnose", "--sim", "valet-lockout", "--listen", "soon"],
            "invalid value 'soon' for '--listen <SECONDS>'",
        ),
        (
            &["diagnose", "--sim", "no-such-scenario"],
            "no scenario `no-such-scenario`",
        ),
        (&["diagnose", "--bogus"], "unexpected argument '--bogus'"),
    ];
    for (args, want) in cases {
        let mut l = linux();
        l.current_dir(dir.path());
        let mut w = windows(&wine);
        w.current_dir(dir.path());
        let l = without_clock(run(l, args));
        let mut w = without_clock(run(w, args));
        assert_eq!(l.code, Some(2), "{args:?}: {l:?}");
        let said = format!("{}{}", l.stdout, l.stderr);
        assert!(said.contains(want), "{args:?}: {want:?} not in {said}");
        // clap names the program as it was started: `trunkdiag.exe` in
        // its usage line on Windows, what a Windows user typed.
        w.stderr = w
            .stderr
            .replace("Usage: trunkdiag.exe ", "Usage: trunkdiag ");
        if let Some(d) = differences(&format!("{args:?}"), &l, &w) {
            panic!("{d}");
        }
    }
}

// ---------------------------------------------------------------------
// Windows paths

#[test]
fn drive_letters_backslashes_and_spaces_in_paths() {
    let Some(wine) = Wine::get() else { return };
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let bay = dir.path().join("bay 3 captures");
    std::fs::create_dir(&bay).unwrap();
    let capture = bay.join("valet lockout.log");
    std::fs::copy(
        root()
            .join("captures")
            .join(PROFILE)
            .join("valet-lockout.log"),
        &capture,
    )
    .unwrap();
    let win = |p: &Path| wine.windows_path(p);
    // `windows_path` gives `Z:\...`: a drive letter and backslashes.
    assert!(win(&capture).starts_with("Z:\\") && win(&capture).contains("\\bay 3 captures\\"));

    // --replay and --report.
    let report = bay.join("report 1.html");
    let report_w = format!("{}\\report 1.html", win(&bay));
    let w = run(
        windows(&wine),
        &[
            "diagnose",
            "--replay",
            &win(&capture),
            "--profile",
            PROFILE,
            "--json",
            "--report",
            &report_w,
        ],
    );
    let l = run(
        linux(),
        &[
            "diagnose",
            "--replay",
            capture.to_str().unwrap(),
            "--profile",
            PROFILE,
            "--json",
        ],
    );
    assert_eq!(w.code, Some(1), "{}", w.stderr);
    let (mut wj, lj) = (json(&w), json(&l));
    // The capture's name, as each was given it: the one field that differs.
    assert_eq!(wj["source"]["name"], win(&capture));
    wj["source"]["name"] = lj["source"]["name"].clone();
    assert_eq!(wj, lj);
    let html = std::fs::read_to_string(&report).expect("the report at the Windows path");
    assert!(html.contains("valet-lockout"), "{html}");

    // --record: the recording the Linux binary replays to the same verdict.
    let rec = bay.join("run 1.log");
    let w = run(
        windows(&wine),
        &[
            "diagnose",
            "--sim",
            "valet-lockout",
            "--profile",
            PROFILE,
            "--json",
            "--no-prompt",
            "--record",
            &format!("{}\\run 1.log", win(&bay)),
        ],
    );
    assert_eq!(w.code, Some(1), "{}", w.stderr);
    let text = std::fs::read_to_string(&rec).expect("the recording at the Windows path");
    assert!(
        !text.contains('\r'),
        "candump lines end in LF on every system"
    );
    let l = run(
        linux(),
        &[
            "diagnose",
            "--replay",
            rec.to_str().unwrap(),
            "--profile",
            PROFILE,
            "--json",
        ],
    );
    assert_eq!(json(&l)["verdicts"], json(&w)["verdicts"]);

    // A relative path with backslashes, from the crate root.
    let rel = format!("captures\\{PROFILE}\\valet-lockout.log");
    let w = run(
        windows(&wine),
        &["diagnose", "--replay", &rel, "--profile", PROFILE, "--json"],
    );
    assert_eq!(w.code, Some(1), "{}", w.stderr);
    assert_eq!(json(&w)["source"]["name"], rel);

    // --profile: a Windows path to a profile file, and a relative one with
    // a backslash, which is a path (not a name) on Windows.
    let car = dir.path().join("my car.toml");
    std::fs::write(&car, altima_as("wine-test-path", "a profile by its path")).unwrap();
    let w = run(
        windows(&wine),
        &[
            "diagnose",
            "--sim",
            "valet-lockout",
            "--profile",
            &win(&car),
            "--json",
        ],
    );
    assert_eq!(w.code, Some(1), "{}", w.stderr);
    assert_eq!(json(&w)["profile"]["id"], "wine-test-path");
    let w = run(
        windows(&wine),
        &[
            "diagnose",
            "--sim",
            "valet-lockout",
            "--profile",
            "no-such\\car",
        ],
    );
    assert_eq!(w.code, Some(2), "{w:?}");
    assert!(
        w.stderr
            .contains("no-such\\car: expected a readable profile file"),
        "{}",
        w.stderr
    );

    // batch: a directory with a space in, its JSON lines to a file there.
    let out = format!("{}\\out 1.jsonl", win(&bay));
    let w = run(
        windows(&wine),
        &["batch", "--profile", PROFILE, &win(&bay), "--output", &out],
    );
    assert_eq!(w.code, Some(1), "{}", w.stderr);
    let jsonl = std::fs::read_to_string(bay.join("out 1.jsonl")).expect("batch --output");
    let jobs: Vec<String> = jsonl
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["verdicts"][0]["id"], "valet-lockout", "{l}");
            v["job"].as_str().unwrap().to_owned()
        })
        .collect();
    let mut want = vec![win(&rec), win(&capture)];
    want.sort();
    let mut jobs_sorted = jobs.clone();
    jobs_sorted.sort();
    assert_eq!(jobs_sorted, want, "{jsonl}");
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

// ---------------------------------------------------------------------
// Profile folders

/// A bundled profile's text with another id and description.
fn altima_as(id: &str, description: &str) -> String {
    let text =
        std::fs::read_to_string(root().join("vehicles").join(format!("{PROFILE}.toml"))).unwrap();
    let (head, rest) = text.split_once("\ndescription = ").unwrap();
    let rest = rest.split_once('\n').unwrap().1;
    format!("{head}\ndescription = \"{description}\"\n{rest}")
        .replace(&format!("id = \"{PROFILE}\""), &format!("id = \"{id}\""))
}

/// The user's profile folder inside the prefix, removed again when
/// dropped: other tests run the exe in the same prefix.
struct UserFolder(std::path::PathBuf);

impl Drop for UserFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `TRUNKDIAG_PROFILES` with `;` between Windows paths (one with a space),
/// then `%APPDATA%\trunkdiag\profiles`, then the bundled profiles. Wine
/// sets `%APPDATA%` itself (to the prefix's `C:\users\NAME\AppData\
/// Roaming`, whatever the Unix environment says), so the folder is made
/// there, with profile names no other test uses.
#[test]
fn profiles_env_splits_on_semicolons_and_appdata_is_the_users_folder() {
    let Some(wine) = Wine::get() else { return };
    let _one = one_at_a_time();
    let exe = |list: Option<&str>, args: &[&str]| {
        let mut c = windows(&wine);
        if let Some(list) = list {
            c.env("TRUNKDIAG_PROFILES", list);
        }
        run(c, args)
    };
    // Where the exe looks: the line naming the user's folder.
    let r = exe(None, &["profiles", "list"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let shown = r
        .stdout
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_suffix(" (your profile folder; not made yet)")
        })
        .unwrap_or_else(|| panic!("no user folder listed: {}", r.stdout))
        .to_owned();
    let rel = shown
        .strip_prefix("C:\\users\\")
        .and_then(|r| r.strip_suffix("\\trunkdiag\\profiles"))
        .unwrap_or_else(|| panic!("not under %APPDATA%: {shown}"));
    let (user_name, roaming) = rel.split_once('\\').unwrap();
    assert_eq!(roaming, "AppData\\Roaming", "{shown}");
    let user = wine
        .prefix
        .join("drive_c/users")
        .join(user_name)
        .join("AppData/Roaming/trunkdiag/profiles");
    std::fs::create_dir_all(&user).unwrap();
    let _made = UserFolder(user.parent().unwrap().to_owned());

    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let second = dir.path().join("second dir");
    for d in [&first, &second] {
        std::fs::create_dir_all(d).unwrap();
    }
    let put = |dir: &Path, id: &str, description: &str| {
        std::fs::write(dir.join(format!("{id}.toml")), altima_as(id, description)).unwrap();
    };
    put(&second, "wine-test-second", "from the second directory");
    put(&first, PROFILE, "from the first directory");
    put(&second, PROFILE, "from the second directory");
    put(&user, "wine-test-user", "from APPDATA");
    put(&user, "wine-test-both", "from APPDATA");
    put(&second, "wine-test-both", "from the second directory");
    let win = |p: &Path| wine.windows_path(p);
    let list = format!("{};{}", win(&first), win(&second));
    let description = |list: Option<&str>, name: &str| {
        let r = exe(list, &["profiles", "show", name, "--json"]);
        assert_eq!(r.code, Some(0), "{name}: {}", r.stderr);
        json(&r)["description"].as_str().unwrap().to_owned()
    };
    let env = Some(list.as_str());
    assert_eq!(
        description(env, "wine-test-second"),
        "from the second directory"
    );
    assert_eq!(description(env, PROFILE), "from the first directory");
    assert_eq!(description(env, "wine-test-user"), "from APPDATA");
    assert_eq!(
        description(env, "wine-test-both"),
        "from the second directory"
    );
    assert_eq!(description(None, "wine-test-both"), "from APPDATA");
    assert_ne!(description(None, PROFILE), "from the first directory");
    // Found by name, it diagnoses.
    let r = exe(
        env,
        &[
            "diagnose",
            "--sim",
            "valet-lockout",
            "--profile",
            "wine-test-second",
            "--json",
        ],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(json(&r)["verdicts"][0]["id"], "valet-lockout");
    // The list names the folders in order.
    let r = exe(env, &["profiles", "list"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let folders: Vec<&str> = r
        .stdout
        .split_once("\n\n")
        .unwrap()
        .1
        .lines()
        .skip(1)
        .collect();
    assert_eq!(
        folders,
        [
            format!("  {} (from TRUNKDIAG_PROFILES)", win(&first)),
            format!("  {} (from TRUNKDIAG_PROFILES)", win(&second)),
            format!("  {shown} (your profile folder)"),
            format!(
                "  bundled ({} profiles)",
                trunkdiag::profile::bundled().count()
            ),
        ],
        "{}",
        r.stdout
    );
}

// ---------------------------------------------------------------------
// The console

/// Runs `wine trunkdiag.exe ARGS` with a pseudo-terminal as its standard
/// input, output and error (util-linux `script`), as from a terminal:
/// Wine then gives the exe a console (its conhost drawing on the
/// terminal). Returns what the terminal got; `None` without `script`.
fn on_a_console(wine: &Wine, args: &[&str], debug: &str) -> Option<String> {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = format!("wine {}", quote(&wine.exe.to_string_lossy()));
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let out = clean(Command::new("script"))
        .args(["-qec", &line, "/dev/null"])
        .env("WINEPREFIX", &wine.prefix)
        .env("WINEDEBUG", debug)
        .env("TERM", "xterm")
        .current_dir(root())
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Ok(out) => {
            // `script -e` exits with the exe's code: a verdict with a fault is 1.
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "script {line}: {out:?}"
            );
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Err(e) => common::skip(
            "Windows build under Wine",
            format!("cannot run util-linux script for a terminal: {e}"),
            "Debian's bsdutils (essential) has it",
        ),
    }
}

/// The text without its escape sequences (CSI `ESC [ ... final`, OSC
/// `ESC ] ... BEL`, two-byte `ESC x`); `Err` at an ESC that starts none.
fn without_escapes(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                // Parameters and intermediates, then a final byte.
                loop {
                    match chars.next() {
                        Some('\x20'..='\x3f') => continue,
                        Some('\x40'..='\x7e') => break,
                        other => return Err(format!("bad CSI ending in {other:?}: {out}")),
                    }
                }
            }
            Some(']') => {
                for c in chars.by_ref() {
                    if c == '\x07' {
                        break;
                    }
                }
            }
            Some('\x40'..='\x5f') => {}
            other => return Err(format!("stray ESC before {other:?}: {out}")),
        }
    }
    Ok(out)
}

/// What Wine can show, and what not. Wine gives an exe started from a
/// terminal a console (its conhost, drawing the console on the terminal),
/// and its console trace (`WINEDEBUG=+console`) records each
/// `SetConsoleMode` and `WriteConsoleW`. So this test shows: the exe finds
/// it is on a console and colours its report and warnings; it turns on the
/// console's virtual terminal processing (ENABLE_VIRTUAL_TERMINAL_PROCESSING,
/// 0x4) before writing the first colour code to it, which a Windows 10 or
/// 11 console needs to show colour instead of `←[1;31m`; what reaches the
/// terminal is the text with well-formed escape sequences only; and into a
/// pipe (the other tests) no code at all. It cannot show how a real
/// Windows console draws them: Wine's conhost passes escape codes through
/// to the Unix terminal whether or not the mode is on, and it accepts the
/// mode, so the fallback for consoles without it (the console API, through
/// anstream) never runs here.
#[test]
fn a_console_gets_colour_only_after_turning_it_on() {
    let Some(wine) = Wine::get() else { return };
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let good = valet_lockout_capture();
    // One malformed line: `--lenient` skips it with a warning on stderr.
    let bad = dir.path().join("one bad line.log");
    std::fs::write(&bad, format!("{good}(1700000099.000000) vcan0 745#02214\n")).unwrap();
    let bad = wine.windows_path(&bad);
    let report = [
        "diagnose",
        "--sim",
        "valet-lockout",
        "--profile",
        PROFILE,
        "--no-prompt",
    ];
    let warning = ["capture", "stats", "--lenient", &bad];

    // Drawn on the terminal: the verdict in colour, every code well formed.
    let Some(screen) = on_a_console(&wine, &report, "-all") else {
        return;
    };
    assert!(
        screen.contains("\x1b[1;31m"),
        "no colour on a console: {screen:?}"
    );
    let text = without_escapes(&screen).unwrap();
    assert!(text.contains("Verdict: valet-lockout"), "{text}");
    assert!(
        !text.contains("[0m") && !text.contains('\u{2190}'),
        "{text}"
    );
    let Some(screen) = on_a_console(&wine, &warning, "-all") else {
        return;
    };
    let text = without_escapes(&screen).unwrap();
    assert!(
        text.contains("WARN") && text.contains("skipped 1 malformed"),
        "{text}"
    );
    assert!(!text.contains("[0m"), "{text}");

    // The trace: for each console handle, the mode with 0x4 set before
    // the first write holding an escape (Wine shows ESC as `\001b`).
    for args in [&report[..], &warning[..]] {
        let Some(trace) = on_a_console(&wine, args, "+console") else {
            return;
        };
        let mut on: Vec<String> = Vec::new();
        let mut coloured = 0;
        for line in trace.lines() {
            if let Some(rest) = line.split_once(":SetConsoleMode (").map(|(_, r)| r) {
                let (handle, mode) = rest.trim_end_matches(['\r', ')']).split_once(',').unwrap();
                let mode = u32::from_str_radix(mode.trim_start_matches("0x"), 16).unwrap();
                if mode & 0x4 != 0 {
                    on.push(handle.to_owned());
                }
            } else if let Some(rest) = line.split_once(":WriteConsoleW (").map(|(_, r)| r) {
                let (handle, text) = rest.split_once(',').unwrap();
                if text.contains("\\001b[") {
                    coloured += 1;
                    assert!(
                        on.iter().any(|h| h == handle),
                        "{args:?}: an escape code written to console {handle} before \
                         virtual terminal processing was turned on:\n{trace}"
                    );
                }
            }
        }
        assert!(coloured > 0, "{args:?}: nothing coloured:\n{trace}");
    }
}

/// Into a pipe or a file, neither binary writes an escape code: not in
/// the report, not in a warning (the log's colour codes once went into
/// redirected stderr on every system).
#[test]
fn no_escape_codes_into_a_pipe() {
    let Some(wine) = Wine::get() else { return };
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let good = valet_lockout_capture();
    std::fs::write(
        dir.path().join("bad.log"),
        format!("{good}(1700000099.000000) vcan0 745#02214\n"),
    )
    .unwrap();
    for args in [
        &[
            "diagnose",
            "--sim",
            "valet-lockout",
            "--profile",
            PROFILE,
            "--no-prompt",
        ][..],
        &["capture", "stats", "--lenient", "bad.log"][..],
    ] {
        let mut l = linux();
        l.current_dir(dir.path());
        let mut w = windows(&wine);
        w.current_dir(dir.path());
        let l = run(l, args);
        let w = run(w, args);
        for (who, r) in [("linux", &l), ("windows", &w)] {
            assert!(matches!(r.code, Some(0 | 1)), "{who} {args:?}: {r:?}");
            assert!(
                !r.stdout.is_empty() || !r.stderr.is_empty(),
                "{who} {args:?}"
            );
            assert!(
                !r.stdout.contains('\x1b') && !r.stderr.contains('\x1b'),
                "{who} {args:?}: {r:?}"
            );
        }
        if args[0] == "capture" {
            assert!(
                w.stderr.contains("WARN") && w.stderr.contains("skipped 1 malformed"),
                "{w:?}"
            );
        }
        assert_eq!(l.stdout, w.stdout, "{args:?}");
    }
}
