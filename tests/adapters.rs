//! The serial adapters end to end, through the built binary, on pty pairs
//! made by socat:
//!
//! - against ELM327-emulator (an independent implementation, installed from
//!   PyPI by `scripts/py-peers`; the car it emulates is
//!   `tests/peers/emulated_car.py`), playing an ELM327 (`elm327:`) and a
//!   CANable-style SLCAN adapter (`slcan:`): OBD-II 01 00 and the VIN, and a
//!   Nissan BCM whose data monitor shows a fob press, with and without the
//!   valet lockout bit; each run's recording replays to the same verdict;
//! - against a scripted ELM327 written here (a thread on the other end of
//!   the pty): a clone refusing a flow-control command, `BUFFER FULL` while
//!   monitoring, and the adapter unplugged mid-session;
//! - a scripted WiFi ELM327 on loopback TCP, and a missing port, which both
//!   adapters name with the same hint (no socat needed for these);
//! - every scenario elmulator bundles (another independent ELM327 over TCP,
//!   from PyPI): OBD-II 09 02 and 03 read where the scenario carries them,
//!   the clone without headers included, and a clear exit 2 naming what the
//!   adapter did where it does not.
//!
//! Without socat or the emulator a test is a `common::skip`: a visible line
//! and one at the end of `cargo test`, or a failure under CI=true (`.ci/run`
//! installs them).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PROFILE: &str = "nissan-altima-2013-2018";

/// One test at a time: the BCM answers within its P2 (150 ms) only when the
/// emulator, the scripted adapters and trunkdiag do not starve each other of
/// a small machine's cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

mod common;

use common::elm::{tcp_elm, Heard};
use common::emulated::emulated_car;
use common::pty::{pty_pair, read_command};

fn trunkdiag(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------
// ELM327-emulator

fn iface(mode: &str, pty: &Path) -> String {
    match mode {
        "elm" => format!("elm327:{}", pty.display()),
        _ => format!("slcan:{}", pty.display()),
    }
}

#[test]
fn obd_requests_through_each_emulated_adapter() {
    let _serial = one_at_a_time();
    for mode in ["elm", "slcan"] {
        let Some(car) = emulated_car(mode, false) else {
            return;
        };
        let i = iface(mode, &car.pty.ours);
        let link = ["request", "--iface", &i, "--tx", "7E0", "--rx", "7E8"];
        let vin = trunkdiag(&[&link[..], &["--protocol", "obd", "0902"]].concat());
        assert!(vin.status.success(), "{mode}: {}", text(&vin.stderr));
        assert!(
            text(&vin.stdout).contains("VIN WP0ZZZ99ZTS390000"),
            "{mode}: {}",
            text(&vin.stdout)
        );
        let pids = trunkdiag(&[&link[..], &["--protocol", "obd", "0100"]].concat());
        assert!(pids.status.success(), "{mode}: {}", text(&pids.stderr));
        assert!(
            text(&pids.stdout).contains("response: 4100BE3FA813"),
            "{mode}: {}",
            text(&pids.stdout)
        );
    }
}

fn verdict(out: &Output) -> (String, serde_json::Value) {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
    (
        v["verdicts"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        v,
    )
}

#[test]
fn the_emulated_bcm_gives_the_verdict_through_each_adapter_and_replays_to_it() {
    let _serial = one_at_a_time();
    for mode in ["elm", "slcan"] {
        for (lockout, want, code) in [(true, "valet-lockout", 1), (false, "no-fault-found", 0)] {
            let Some(car) = emulated_car(mode, lockout) else {
                return;
            };
            let i = iface(mode, &car.pty.ours);
            let rec = car.pty.dir.path().join("run.log");
            let rec_s = rec.to_str().unwrap();
            let live = trunkdiag(&[
                "diagnose",
                "--iface",
                &i,
                "--no-prompt",
                "--profile",
                PROFILE,
                "--listen",
                "3",
                "--timeout",
                "2",
                "--json",
                "--record",
                rec_s,
            ]);
            let (got, json) = verdict(&live);
            assert_eq!(got, want, "{mode} lockout={lockout}: {json:#}");
            assert_eq!(live.status.code(), Some(code), "{mode}");
            let notes = json["source"]["notes"].to_string();
            if mode == "elm" {
                // The emulator's ATMA is replaced by `?`: no watch happened,
                // and the report says so.
                assert!(notes.contains("cannot monitor the bus"), "{notes}");
            }
            let log = std::fs::read_to_string(&rec).unwrap();
            let which = if mode == "elm" {
                "ELM327/STN adapter"
            } else {
                "SLCAN serial adapter"
            };
            assert!(log.contains(which), "{log}");
            let replay = trunkdiag(&[
                "diagnose",
                "--replay",
                rec_s,
                "--profile",
                PROFILE,
                "--json",
            ]);
            assert_eq!(verdict(&replay).0, want, "{mode} replay of {log}");
        }
    }
}

// ---------------------------------------------------------------------
// A scripted ELM327

/// What the scripted adapter does besides answering the Nissan BCM.
#[derive(Clone, Default)]
struct Script {
    /// AT commands (prefixes) answered with `?`, as a clone does.
    refuse: Vec<&'static str>,
    /// `ATMA` prints this many body frames, then `BUFFER FULL`; `None`:
    /// `ATMA` is refused (unless `monitor`).
    buffer_full_after: Option<usize>,
    /// `ATMA` prints one body frame and monitors until a byte comes, then
    /// says `STOPPED`, as an ELM327 does.
    monitor: bool,
    /// What that monitor prints instead of the body frame.
    monitor_lines: Option<&'static str>,
    /// The BCM answers this many requests, then the adapter says `NO DATA`
    /// to every one; `None`: it always answers.
    bcm_answers: Option<usize>,
}

/// Runs the scripted ELM327 on `path` until the pty closes.
fn scripted_elm(path: &Path, script: Script) -> Heard {
    let heard: Heard = Arc::default();
    let log = Arc::clone(&heard);
    let port = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    std::thread::spawn(move || {
        let _ = serve(port, &script, &log);
    });
    heard
}

fn serve(mut port: std::fs::File, script: &Script, heard: &Heard) -> std::io::Result<()> {
    let mut reader = port.try_clone()?;
    let mut byte = [0u8; 1];
    let mut bcm_left = script.bcm_answers.unwrap_or(usize::MAX);
    while let Some(cmd) = read_command(&mut reader)? {
        let cmd = cmd.trim().to_uppercase();
        heard.lock().unwrap().push(cmd.clone());
        let is_request = !cmd.is_empty() && !cmd.starts_with("AT") && !cmd.starts_with("ST");
        if is_request && bcm_left == 0 {
            write!(port, "NO DATA\r\r>")?;
            continue;
        }
        if is_request {
            bcm_left -= 1;
        }
        let answer = match cmd.as_str() {
            "" => String::new(),
            "ATZ" | "ATI" => "ELM327 v1.5".into(),
            "ATRV" => "12.4V".into(),
            "ATMA" if script.monitor => {
                let lines = script.monitor_lines.unwrap_or("6F6 7D 00 00 00\r");
                port.write_all(lines.as_bytes())?;
                // Any byte stops the monitor.
                if reader.read(&mut byte)? == 0 {
                    return Ok(());
                }
                "STOPPED".into()
            }
            "ATMA" => match script.buffer_full_after {
                Some(n) => {
                    for k in 0..n {
                        write!(port, "6F6 7{} 00 00 00\r", k % 10)?;
                        std::thread::sleep(Duration::from_millis(30));
                    }
                    "BUFFER FULL".into()
                }
                None => "?".into(),
            },
            c if c.starts_with("AT") || c.starts_with("ST") => {
                if c.starts_with("ST") || script.refuse.iter().any(|r| c.starts_with(r)) {
                    "?".into()
                } else {
                    "OK".into()
                }
            }
            "10C0" => "765 02 50 C0".into(),
            "1081" => "765 02 50 81".into(),
            "3E01" => "765 02 7E 01".into(),
            "1802FF00" => "765 02 58 00".into(),
            "2144" => "765 04 61 44 00 00".into(),
            _ => "NO DATA".into(),
        };
        if answer.is_empty() {
            port.write_all(b"\r>")?;
        } else {
            write!(port, "{answer}\r\r>")?;
        }
    }
    Ok(())
}

fn diagnose_args<'a>(i: &'a str, rec: &'a str, listen: &'a str) -> Vec<&'a str> {
    vec![
        "diagnose",
        "--iface",
        i,
        "--no-prompt",
        "--profile",
        PROFILE,
        "--listen",
        listen,
        "--timeout",
        "2",
        "--json",
        "--record",
        rec,
    ]
}

#[test]
fn a_clone_refusing_flow_control_gets_the_named_fallback() {
    let _serial = one_at_a_time();
    let Some(pty) = pty_pair() else {
        return;
    };
    let heard = scripted_elm(
        &pty.theirs,
        Script {
            refuse: vec!["ATFCSH"],
            ..Script::default()
        },
    );
    let i = format!("elm327:{}", pty.ours.display());
    let rec = pty.dir.path().join("run.log");
    let out = trunkdiag(&diagnose_args(&i, rec.to_str().unwrap(), "2"));
    let (_, json) = verdict(&out);
    let notes = json["source"]["notes"].to_string();
    assert!(notes.contains("refused ATFCSH745"), "{notes}");
    assert!(notes.contains("flow control fallback"), "{notes}");
    let heard = heard.lock().unwrap();
    assert!(heard.iter().any(|c| c == "ATFCSM0"), "{heard:?}");
    // The session was opened and read through the fallback.
    assert!(heard.iter().any(|c| c == "2144"), "{heard:?}");
}

#[test]
fn monitoring_between_requests_is_recorded_and_reported_as_partial() {
    let _serial = one_at_a_time();
    let Some(pty) = pty_pair() else {
        return;
    };
    let heard = scripted_elm(
        &pty.theirs,
        Script {
            monitor: true,
            ..Script::default()
        },
    );
    let i = format!("elm327:{}", pty.ours.display());
    let rec = pty.dir.path().join("run.log");
    let out = trunkdiag(&diagnose_args(&i, rec.to_str().unwrap(), "2"));
    let (_, json) = verdict(&out);
    let notes = json["source"]["notes"].to_string();
    assert!(
        notes.contains("hears broadcasts only while it monitors between requests")
            && notes.contains("the bus was watched"),
        "{notes}"
    );
    // The monitor was stopped before each request and its filter opened
    // (ATCRA) and closed again (ATCRA765) around it.
    let heard = heard.lock().unwrap();
    let monitors = heard.iter().filter(|c| *c == "ATMA").count();
    assert!(monitors >= 3, "{heard:?}");
    assert!(heard.iter().any(|c| c == "ATCRA"), "{heard:?}");
    // Frames heard while monitoring are in the recording, as delivered.
    let log = std::fs::read_to_string(&rec).unwrap();
    assert!(log.contains("elm327 6F6#7D000000"), "{log}");
}

#[test]
fn buffer_full_while_monitoring_is_a_clear_error_and_the_session_is_left() {
    let _serial = one_at_a_time();
    let Some(pty) = pty_pair() else {
        return;
    };
    let heard = scripted_elm(
        &pty.theirs,
        Script {
            buffer_full_after: Some(3),
            ..Script::default()
        },
    );
    let i = format!("elm327:{}", pty.ours.display());
    let rec = pty.dir.path().join("run.log");
    let out = trunkdiag(&diagnose_args(&i, rec.to_str().unwrap(), "2"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("BUFFER FULL"), "{err}");
    let heard = heard.lock().unwrap();
    let full = heard.iter().position(|c| c == "ATMA").unwrap();
    assert!(
        heard[full..].iter().any(|c| c == "1081"),
        "the session was not left after BUFFER FULL: {heard:?}"
    );
    // The monitored frames are in the recording.
    let log = std::fs::read_to_string(&rec).unwrap();
    assert!(log.contains("elm327 6F6#70000000"), "{log}");
}

/// `NO DATA` before any answer: no module at that address. A clear error
/// at the first request, not a run of timeouts; the recording is kept.
#[test]
fn no_data_from_the_start_is_a_clear_error() {
    let _serial = one_at_a_time();
    let Some(pty) = pty_pair() else {
        return;
    };
    let heard = scripted_elm(
        &pty.theirs,
        Script {
            bcm_answers: Some(0),
            ..Script::default()
        },
    );
    let i = format!("elm327:{}", pty.ours.display());
    let rec = pty.dir.path().join("run.log");
    let out = trunkdiag(&diagnose_args(&i, rec.to_str().unwrap(), "2"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("NO DATA") && err.contains("10C0") && err.contains("ignition"),
        "{err}"
    );
    // It stopped at the first request rather than trying every read.
    let heard = heard.lock().unwrap();
    assert!(!heard.iter().any(|c| c == "2144"), "{heard:?}");
    assert!(rec.exists(), "the recording is kept");
}

/// `NO DATA` after the BCM has answered is a missed answer: the run goes on
/// to a verdict and the report says what was missed.
#[test]
fn no_data_after_answers_is_a_missed_answer_not_an_error() {
    let _serial = one_at_a_time();
    let Some(pty) = pty_pair() else {
        return;
    };
    let _heard = scripted_elm(
        &pty.theirs,
        Script {
            bcm_answers: Some(4),
            ..Script::default()
        },
    );
    let i = format!("elm327:{}", pty.ours.display());
    let rec = pty.dir.path().join("run.log");
    let out = trunkdiag(&diagnose_args(&i, rec.to_str().unwrap(), "2"));
    let (top, json) = verdict(&out);
    assert_eq!(top, "bcm-unreachable", "{json}");
    let notes = json["source"]["notes"].to_string();
    assert!(notes.contains("NO DATA to"), "{notes}");
}

#[test]
fn an_adapter_unplugged_mid_session_fails_the_run_and_keeps_the_recording() {
    let _serial = one_at_a_time();
    let Some(mut pty) = pty_pair() else {
        return;
    };
    let heard = scripted_elm(&pty.theirs, Script::default());
    let i = format!("elm327:{}", pty.ours.display());
    let rec = pty.dir.path().join("run.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
        .args(diagnose_args(&i, rec.to_str().unwrap(), "30"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Unplug once the data monitor has been read a few times.
    let start = Instant::now();
    while heard
        .lock()
        .unwrap()
        .iter()
        .filter(|c| *c == "2144")
        .count()
        < 3
    {
        if let Some(s) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("trunkdiag ended before the unplugging: {s}: {err}");
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no reads");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = pty.socat.0.kill();
    let _ = pty.socat.0.wait();
    // A bound against hanging, not a timing measurement.
    let unplugged = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            unplugged.elapsed() < Duration::from_secs(20),
            "trunkdiag still runs 20 s after the adapter was unplugged"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("unplugged") || err.contains("closed"), "{err}");
    // The recording up to the unplugging is complete and readable.
    let cat = trunkdiag(&["capture", "cat", rec.to_str().unwrap()]);
    assert!(cat.status.success(), "{}", text(&cat.stderr));
    let frames = text(&cat.stdout)
        .lines()
        .filter(|l| l.contains("765#046144"))
        .count();
    assert!(frames >= 3, "{}", text(&cat.stdout));
}

// ---------------------------------------------------------------------
// The preflight (`trunkdiag check`) through these adapters

/// `check --json` on `iface` for the Nissan profile: its report and exit code.
fn check(iface: &str, extra: &[&str]) -> (serde_json::Value, Option<i32>) {
    let args = [
        &["check", "--iface", iface, "--profile", PROFILE, "--json"][..],
        extra,
    ]
    .concat();
    let out = trunkdiag(&args);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
    (v, out.status.code())
}

/// The support found for capability `name`.
fn capability<'a>(report: &'a serde_json::Value, name: &str) -> &'a str {
    report["adapter"]["capabilities"]
        .as_array()
        .and_then(|caps| caps.iter().find(|c| c["name"] == name))
        .and_then(|c| c["support"].as_str())
        .unwrap_or_else(|| panic!("no capability {name}: {report:#}"))
}

fn findings(report: &serde_json::Value) -> String {
    report["findings"].to_string()
}

#[test]
fn check_names_each_emulated_adapter_and_what_it_cannot_do() {
    let _serial = one_at_a_time();
    for mode in ["elm", "slcan"] {
        let Some(car) = emulated_car(mode, false) else {
            return;
        };
        let i = iface(mode, &car.pty.ours);
        let (r, code) = check(&i, &[]);
        assert_eq!(code, Some(0), "{mode}: {r:#}");
        assert_eq!(r["body_module"]["answered"], "yes", "{mode}: {r:#}");
        assert_eq!(r["body_module"]["request"], "3E 01", "{mode}");
        assert_eq!(r["can_go_on"], true);
        if mode == "elm" {
            // The emulator answers STI as an STN1100 does: the kind comes
            // from what it answered, not from its ELM327 version string.
            assert_eq!(r["adapter"]["kind"], "STN (OBDLink)", "{r:#}");
            let firmware = r["adapter"]["firmware"].as_str().unwrap_or_default();
            assert!(firmware.starts_with("STN"), "{r:#}");
            assert_eq!(capability(&r, "STN commands"), "ok");
            assert_eq!(capability(&r, "echo off"), "ok");
            assert_eq!(capability(&r, "headers"), "ok");
            assert_eq!(capability(&r, "protocol and CAN speed"), "ok");
            // The emulated adapter answers ATMA with `?` (tests/peers).
            assert_eq!(capability(&r, "monitor"), "absent");
            // It refuses a command no adapter has, so its OKs count: it
            // sends frames as given (ATCAF0) and sets another bitrate
            // (STPBR, as an STN chip).
            assert_eq!(capability(&r, "refuses unknown commands"), "ok");
            assert_eq!(capability(&r, "multi-frame send"), "ok");
            assert_eq!(capability(&r, "CAN speed switching"), "ok");
            assert_eq!(r["topology"]["port"], "not-watched", "{r:#}");
            assert!(findings(&r).contains("STMA answered `?`"), "{r:#}");
            // It never monitored: how many frames it would drop is unknown.
            assert_eq!(r["bus"]["dropped"], serde_json::Value::Null);
        } else {
            assert_eq!(r["adapter"]["kind"], "SLCAN", "{r:#}");
            let firmware = r["adapter"]["firmware"].as_str().unwrap_or_default();
            assert!(firmware.starts_with('V'), "{r:#}");
            assert_eq!(capability(&r, "listen-only"), "ok");
            assert_eq!(capability(&r, "CAN FD"), "absent");
            // The emulated car sends no broadcast: only the BCM's answer.
            assert_eq!(r["topology"]["port"], "gatewayed", "{r:#}");
        }
    }
}

#[test]
fn check_finds_the_frames_an_elm327_dropped_with_buffer_full() {
    let _serial = one_at_a_time();
    let Some(pty) = pty_pair() else {
        return;
    };
    let heard = scripted_elm(
        &pty.theirs,
        Script {
            buffer_full_after: Some(3),
            ..Script::default()
        },
    );
    let i = format!("elm327:{}", pty.ours.display());
    let (r, _) = check(&i, &[]);
    // A plain ELM327: `?` to STI, whatever its version says.
    assert_eq!(r["adapter"]["kind"], "ELM327", "{r:#}");
    assert_eq!(capability(&r, "STN commands"), "absent");
    let dropped = &r["bus"]["dropped"];
    // One overflow report, of an unknown number of frames: no frame count.
    assert_eq!(dropped["overflows"], 1, "{r:#}");
    assert_eq!(dropped["count"], 0, "{r:#}");
    assert_eq!(dropped["exact"], false);
    assert!(
        dropped["source"].to_string().contains("BUFFER FULL"),
        "{r:#}"
    );
    assert_eq!(capability(&r, "monitor"), "limited");
    let f = findings(&r);
    assert!(
        f.contains("frames were dropped") && f.contains("silence is not proof"),
        "{f}"
    );
    // The three frames before it were heard and counted.
    assert!(r["bus"]["frames"].as_u64().unwrap() >= 4, "{r:#}");
    // One question, read-only: no session opened.
    let heard = heard.lock().unwrap();
    assert!(heard.iter().any(|c| c == "3E01"), "{heard:?}");
    assert!(!heard.iter().any(|c| c.starts_with("10")), "{heard:?}");
}

#[test]
fn check_calls_a_port_with_only_diagnostic_traffic_gatewayed() {
    let _serial = one_at_a_time();
    let Some(pty) = pty_pair() else {
        return;
    };
    scripted_elm(
        &pty.theirs,
        Script {
            monitor: true,
            // A scan tool's OBD-II question, an engine's answer and a
            // gateway's heartbeat: no body frame.
            monitor_lines: Some("7DF 02 01 00\r7E8 06 41 00 BE 3F A8 13\r3E8 01 00\r"),
            ..Script::default()
        },
    );
    let i = format!("elm327:{}", pty.ours.display());
    let (r, code) = check(&i, &[]);
    assert_eq!(r["topology"]["port"], "gatewayed", "{r:#}");
    assert_eq!(capability(&r, "monitor"), "ok");
    let f = findings(&r);
    assert!(
        f.contains("the body frames are behind the gateway: reading the body module over its diagnostics instead"),
        "{f}"
    );
    // The body module answered: the session can go on, over diagnostics.
    assert_eq!(code, Some(0), "{r:#}");
}

#[test]
fn check_with_a_silent_body_module_says_it_may_be_asleep() {
    let _serial = one_at_a_time();
    let Some(pty) = pty_pair() else {
        return;
    };
    scripted_elm(
        &pty.theirs,
        Script {
            bcm_answers: Some(0),
            ..Script::default()
        },
    );
    let i = format!("elm327:{}", pty.ours.display());
    let (r, code) = check(&i, &["--listen", "0.5"]);
    assert_eq!(code, Some(2), "{r:#}");
    assert_eq!(r["body_module"]["answered"], "no", "{r:#}");
    assert!(
        findings(&r)
            .contains("it may be asleep: open a door or switch to accessory, then run again"),
        "{r:#}"
    );
}

// ---------------------------------------------------------------------
// A scripted SLCAN adapter

/// Runs a scripted SLCAN adapter with the Nissan BCM behind it on `path`:
/// it acknowledges transmits with `z` and answers the BCM's requests, and
/// after `refuse_after` transmits rings the bell instead (status `F20`,
/// error passive: nobody acknowledges on the bus). Its status read (`F`)
/// answers `status`.
fn scripted_slcan(path: &Path, refuse_after: usize, status: &'static str) {
    let port = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    std::thread::spawn(move || {
        let _ = serve_slcan(port, refuse_after, status);
    });
}

fn serve_slcan(
    mut port: std::fs::File,
    refuse_after: usize,
    status: &'static str,
) -> std::io::Result<()> {
    let mut reader = port.try_clone()?;
    let mut sent = 0;
    while let Some(cmd) = read_command(&mut reader)? {
        let Some(frame) = cmd.strip_prefix("t745") else {
            if cmd == "F" {
                write!(port, "{status}\r")?;
            } else {
                port.write_all(b"\r")?;
            }
            continue;
        };
        sent += 1;
        if sent > refuse_after {
            port.write_all(b"\x07")?;
            continue;
        }
        // Acknowledged as can-utils' slcanpty does (a bare CR), every other
        // time as Lawicel's `z`.
        port.write_all(if sent % 2 == 0 { b"\r" } else { b"z\r" })?;
        let answer = match frame.get(1..7) {
            Some("0210C0") => "02 50 C0",
            Some("0210" | "021081") => "02 50 81",
            Some("023E01") => "02 7E 01",
            Some("041802") => "02 58 00",
            Some("022144") => "04 61 44 00 00",
            _ => continue,
        };
        let data: String = answer.split(' ').collect();
        let len = data.len() / 2;
        write!(port, "t765{len}{data}\r")?;
    }
    Ok(())
}

#[test]
fn slcan_frames_are_stamped_in_bus_order_and_a_refused_send_names_the_flags() {
    let _serial = one_at_a_time();
    let Some(pty) = pty_pair() else {
        return;
    };
    scripted_slcan(&pty.theirs, 6, "F20");
    let i = format!("slcan:{}", pty.ours.display());
    let rec = pty.dir.path().join("run.log");
    let out = trunkdiag(&diagnose_args(&i, rec.to_str().unwrap(), "2"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("refused to send a frame (bell); status flags 20 (error passive)"),
        "{err}"
    );
    // Each answer is stamped after the request it answers.
    let log = std::fs::read_to_string(&rec).unwrap();
    let stamps: Vec<(f64, bool)> = log
        .lines()
        .filter_map(|l| {
            let (ts, rest) = l.strip_prefix('(')?.split_once(')')?;
            Some((ts.parse().ok()?, rest.contains(" 765#")))
        })
        .collect();
    assert!(stamps.len() >= 6, "{log}");
    for w in stamps.windows(2) {
        if w[1].1 && !w[0].1 {
            assert!(w[1].0 >= w[0].0, "answer stamped before its request: {log}");
        }
    }
}

/// `request` of the supported PIDs (OBD-II 01 00) from the engine on `iface`.
fn obd_pids(iface: &str) -> Output {
    let args = ["--tx", "7E0", "--rx", "7E8", "--protocol", "obd", "0100"];
    trunkdiag(&[&["request", "--iface", iface][..], &args].concat())
}

/// The TCP path of the one port driver (WiFi dongles) end to end: probe,
/// initialisation, addressing and a request, with no serial port at all.
#[test]
fn a_wifi_elm327_answers_over_tcp() {
    let _serial = one_at_a_time();
    // The engine answers OBD-II 01 00.
    let (port, heard) = tcp_elm(&[("0100", "7E8 06 41 00 BE 3F A8 13")]);
    let i = format!("elm327:tcp:127.0.0.1:{port}");
    let out = obd_pids(&i);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("response: 4100BE3FA813"),
        "{}",
        text(&out.stdout)
    );
    let heard = heard.lock().unwrap();
    for want in ["ATI", "ATZ", "ATE0", "ATSH7E0", "ATCRA7E8", "0100"] {
        assert!(heard.iter().any(|c| c == want), "{want} not in {heard:?}");
    }
}

/// Both adapters open their port through the one driver, so a port that is
/// not there gets the same hint through either.
#[test]
fn a_missing_port_gets_the_same_hint_through_either_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let port = dir.path().join("ttyUSB9");
    let port = port.to_str().unwrap();
    let mut hints = Vec::new();
    for kind in ["elm327", "slcan"] {
        let i = format!("{kind}:{port}");
        let out = obd_pids(&i);
        assert_eq!(out.status.code(), Some(2), "{kind}");
        let err = text(&out.stderr);
        let hint = err
            .split_once(&format!("cannot open {port}: "))
            .map(|(_, h)| h.trim().to_owned())
            .unwrap_or_else(|| panic!("{kind}: {err}"));
        assert!(
            hint.contains("no such port") && hint.contains("trunkdiag adapters"),
            "{err}"
        );
        hints.push(hint);
    }
    assert_eq!(hints[0], hints[1]);
}

#[test]
fn adapters_lists_what_it_finds_or_says_how_to_connect() {
    let _serial = one_at_a_time();
    let out = trunkdiag(&["adapters"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert!(
        listing.starts_with("no adapter found") || listing.lines().all(|l| l.contains("(--iface ")),
        "{listing}"
    );
}

/// An SLCAN adapter whose status flags report a data overrun: the live
/// diagnosis still gives its verdict, and its notes say frames were
/// dropped (so silence is not proof); its adapter facts are in the JSON.
#[test]
fn a_diagnosis_whose_adapter_overran_says_frames_were_dropped() {
    let _serial = one_at_a_time();
    let Some(pty) = pty_pair() else {
        return;
    };
    scripted_slcan(&pty.theirs, usize::MAX, "F08");
    let i = format!("slcan:{}", pty.ours.display());
    let rec = pty.dir.path().join("run.log");
    let out = trunkdiag(&diagnose_args(&i, rec.to_str().unwrap(), "2"));
    let (_, json) = verdict(&out);
    let notes = json["source"]["notes"].to_string();
    assert!(
        notes.contains("preflight: frames were dropped on the way in")
            && notes.contains("silence is not proof"),
        "{notes}"
    );
    // Said once, not again by another layer.
    assert_eq!(notes.matches("dropped").count(), 1, "{notes}");
    let adapter = &json["source"]["adapter"];
    assert_eq!(adapter["kind"], "SLCAN", "{json:#}");
    // Overflow reports, each of an unknown number of frames: not counted
    // as frames.
    assert!(
        adapter["dropped"]["overflows"].as_u64().unwrap() >= 1,
        "{adapter:#}"
    );
    assert_eq!(adapter["dropped"]["count"], 0, "{adapter:#}");
    // A status of no overrun: no such note.
    let Some(pty) = pty_pair() else {
        return;
    };
    scripted_slcan(&pty.theirs, usize::MAX, "F00");
    let i = format!("slcan:{}", pty.ours.display());
    let rec = pty.dir.path().join("run.log");
    let out = trunkdiag(&diagnose_args(&i, rec.to_str().unwrap(), "2"));
    let (_, json) = verdict(&out);
    let notes = json["source"]["notes"].to_string();
    assert!(!notes.contains("frames were dropped"), "{notes}");
    assert_eq!(
        json["source"]["adapter"]["dropped"]["overflows"], 0,
        "{json:#}"
    );
}

// ---------------------------------------------------------------------
// elmulator's bundled scenarios

/// What `request` must make of one OBD-II request in a scenario.
enum Outcome {
    /// Exit 0, and stdout says this.
    Reads(&'static str),
    /// Exit 2, and stderr names what the adapter did.
    Fails(&'static str),
}

use Outcome::{Fails, Reads};

const VIN: Outcome = Reads("VIN 1C4RJFBG8FC123456");

/// Each bundled scenario: what 09 02 (the VIN) and 03 (stored trouble
/// codes) come to.
const ELMULATOR: &[(&str, Outcome, Outcome)] = &[
    ("no_codes_basic", VIN, Reads("0 DTC(s)")),
    // The answers come in 7-byte pieces.
    ("chunked_stream", VIN, Reads("0 DTC(s)")),
    // A clone that echoes every command and ignores ATH1: `43 00`, and the
    // VIN as `014` / `0: ...` / `1: ...` / `2: ...`.
    ("headers_off_echo_on", VIN, Reads("0 DTC(s)")),
    ("p0301_basic", VIN, Reads("P0301")),
    ("p0420_basic", VIN, Reads("P0420")),
    (
        "malformed",
        Fails("the adapter does not know \"0902\" (it answered `?`)"),
        Fails("the adapter answered \"43 ZZ\" to \"03\""),
    ),
    // It has no VIN (NO DATA), and drops the connection at 03.
    (
        "adapter_disconnect",
        Fails("NO DATA: no module answered \"0902\""),
        Fails("the adapter was unplugged or its connection closed"),
    ),
];

#[test]
fn every_elmulator_scenario_reads_the_vin_and_codes_or_names_what_the_adapter_did() {
    let _serial = one_at_a_time();
    let Some(bundled) = common::elmulator::bundled() else {
        return;
    };
    let mut ours: Vec<&str> = ELMULATOR.iter().map(|(name, ..)| *name).collect();
    ours.sort_unstable();
    let mut bundled: Vec<&str> = bundled.iter().map(String::as_str).collect();
    bundled.sort_unstable();
    assert_eq!(ours, bundled, "a bundled scenario without its expectation");
    for (name, vin, codes) in ELMULATOR {
        for (request, want) in [("0902", vin), ("03", codes)] {
            // A fresh adapter each time: a scenario's cursor is per connection.
            let Some(adapter) = common::elmulator::serve(name) else {
                return;
            };
            let i = adapter.iface();
            let link = ["request", "--iface", &i, "--tx", "7E0", "--rx", "7E8"];
            let out = trunkdiag(&[&link[..], &["--protocol", "obd", request]].concat());
            let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
            match want {
                Reads(what) => {
                    assert!(out.status.success(), "{name} {request}: {stderr}");
                    assert!(stdout.contains(what), "{name} {request}: {stdout}");
                }
                Fails(what) => {
                    assert_eq!(out.status.code(), Some(2), "{name} {request}: {stdout}");
                    assert!(stderr.contains(what), "{name} {request}: {stderr}");
                    // Said once, with the adapter named once.
                    assert_eq!(stderr.matches("elm327:tcp:").count(), 1, "{stderr}");
                    assert!(!stderr.contains("panicked"), "{stderr}");
                }
            }
        }
    }
}

/// The clone without headers, seen by `check`: its echo and the ids it
/// leaves out are named, and its OKs to a command no adapter has make no
/// STN chip and prove no capability.
#[test]
fn check_names_what_the_headerless_echoing_clone_does() {
    let _serial = one_at_a_time();
    let Some(adapter) = common::elmulator::serve("headers_off_echo_on") else {
        return;
    };
    let i = adapter.iface();
    let out = trunkdiag(&[
        "check",
        "--iface",
        &i,
        "--profile",
        "generic-uds",
        "--json",
        "--listen",
        "0.5",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
    assert_eq!(r["adapter"]["kind"], "ELM327", "{r:#}");
    assert_eq!(capability(&r, "STN commands"), "absent");
    assert_eq!(capability(&r, "refuses unknown commands"), "limited");
    assert_eq!(capability(&r, "echo off"), "limited");
    assert_eq!(capability(&r, "multi-frame send"), "limited");
    assert_eq!(capability(&r, "CAN speed switching"), "limited");
    let f = findings(&r);
    assert!(
        f.contains("ATQQ (no such command) answered \\\"OK\\\""),
        "{f}"
    );
}

/// A clone that refuses what a multi-frame send and another bitrate need
/// (and, as a genuine ELM327 does, a command it does not have): both
/// absent, each with its answer, and the adapter left on the bus's
/// protocol.
#[test]
fn check_reports_a_clone_refusing_raw_frames_and_other_bitrates() {
    let _serial = one_at_a_time();
    let Some(pty) = pty_pair() else {
        return;
    };
    let heard = scripted_elm(
        &pty.theirs,
        Script {
            refuse: vec!["ATQQ", "ATCAF0", "ATPB"],
            ..Script::default()
        },
    );
    let i = format!("elm327:{}", pty.ours.display());
    let (r, _) = check(&i, &[]);
    assert_eq!(capability(&r, "refuses unknown commands"), "ok", "{r:#}");
    assert_eq!(capability(&r, "multi-frame send"), "absent", "{r:#}");
    assert_eq!(capability(&r, "CAN speed switching"), "absent", "{r:#}");
    let f = findings(&r);
    assert!(f.contains("ATCAF0 answered \\\"?\\\""), "{f}");
    assert!(f.contains("ATPB8104 answered \\\"?\\\""), "{f}");
    let heard = heard.lock().unwrap();
    // Protocol B was never selected after its bitrate was refused, and a
    // refused ATCAF0 needs no ATCAF1 to undo it.
    assert!(!heard.iter().any(|c| c == "ATSPB"), "{heard:?}");
    let caf0 = heard.iter().position(|c| c == "ATCAF0").unwrap();
    assert_eq!(
        heard.get(caf0 + 1).map(String::as_str),
        Some("ATPB8104"),
        "{heard:?}"
    );
}

/// A clone that takes protocol B: the probe selects it for a moment and
/// puts the bus's protocol back before anything is sent.
#[test]
fn the_speed_probe_puts_the_bus_protocol_back() {
    let _serial = one_at_a_time();
    let Some(pty) = pty_pair() else {
        return;
    };
    let heard = scripted_elm(
        &pty.theirs,
        Script {
            refuse: vec!["ATQQ"],
            ..Script::default()
        },
    );
    let i = format!("elm327:{}", pty.ours.display());
    let (r, _) = check(&i, &[]);
    assert_eq!(capability(&r, "CAN speed switching"), "ok", "{r:#}");
    assert_eq!(capability(&r, "multi-frame send"), "ok", "{r:#}");
    let heard = heard.lock().unwrap();
    let b = heard.iter().position(|c| c == "ATSPB").unwrap();
    assert_eq!(
        heard.get(b + 1).map(String::as_str),
        Some("ATSP6"),
        "{heard:?}"
    );
    let caf0 = heard.iter().position(|c| c == "ATCAF0").unwrap();
    assert_eq!(
        heard.get(caf0 + 1).map(String::as_str),
        Some("ATCAF1"),
        "{heard:?}"
    );
}
