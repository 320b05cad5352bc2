//! Observation keys end to end: `--observe` parsing and its errors, and the
//! `lid-closed` question, asked when every press found the lid already
//! reading open (only the owner can say whether it really is open).

use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn trunkdiag(args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trunkdiag"));
    cmd.args(args).env_remove("RUST_LOG");
    cmd.env_remove("TRUNKDIAG_PROFILES");
    let out = cmd.output().expect("run trunkdiag");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
    }
}

/// The Ford capture in which a fob press opens the lid, rewritten so the
/// lid switch reads open from the first frame to the last: on the bus
/// (0x3B1, byte 0 bit 3) and in the BCM's DID 0xD100 (byte A bit 0).
fn lid_open_throughout() -> tempfile::NamedTempFile {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/diagnose/ford-no-fault-found.log");
    let text = std::fs::read_to_string(base).expect("read the Ford capture");
    let mut out = String::new();
    let mut lid_frames = 0;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some((head, _)) = line.split_once("3B1#") {
            lid_frames += 1;
            out.push_str(&format!("{head}3B1#0800000000000000\n"));
        } else if let Some((head, _)) = line.split_once("3B3#") {
            // HS-CAN: ignition Run with the trunk-ajar bit (A.0) set.
            out.push_str(&format!("{head}3B3#4100000000000000\n"));
        } else if let Some((head, tail)) = line.split_once("72E#0462D100") {
            let a = u8::from_str_radix(tail.get(..2).expect("byte A"), 16).expect("hex");
            let rest = tail.get(2..).unwrap_or("");
            out.push_str(&format!("{head}72E#0462D100{:02X}{rest}\n", a | 1));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(lid_frames > 50, "the capture has the lid frame throughout");
    let file = tempfile::Builder::new()
        .suffix(".log")
        .tempfile()
        .expect("temp file");
    std::fs::write(file.path(), out).expect("write capture");
    file
}

fn diagnose_json(capture: &std::path::Path, observe: &[&str]) -> serde_json::Value {
    let path = capture.to_str().expect("utf-8 path");
    let mut args = vec![
        "diagnose",
        "--replay",
        path,
        "--profile",
        "ford-fusion-2013-2020",
        "--json",
    ];
    for o in observe {
        args.extend(["--observe", o]);
    }
    let run = trunkdiag(&args);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("one JSON object")
}

fn question_keys(json: &serde_json::Value) -> Vec<String> {
    json["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .map(|q| q["key"].as_str().expect("key").to_owned())
        .collect()
}

#[test]
fn lid_reading_open_at_every_press_asks_whether_it_is_closed() {
    let capture = lid_open_throughout();
    let json = diagnose_json(capture.path(), &[]);
    let attempts = json["evidence"]["release_attempts"]
        .as_array()
        .expect("release attempts");
    assert!(!attempts.is_empty(), "the press is in the capture");
    assert!(
        question_keys(&json).contains(&"lid-closed".to_owned()),
        "{:?}",
        question_keys(&json)
    );
    assert!(json["observations"]["lid_closed"].is_null());

    let json = diagnose_json(capture.path(), &["lid-closed=yes"]);
    assert_eq!(json["observations"]["lid_closed"], true);
    assert!(!question_keys(&json).contains(&"lid-closed".to_owned()));
}

#[test]
fn a_lid_that_opens_is_not_asked_about() {
    let capture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/diagnose/ford-no-fault-found.log");
    let json = diagnose_json(&capture, &[]);
    assert!(!question_keys(&json).contains(&"lid-closed".to_owned()));
}

#[test]
fn a_misspelt_or_bad_observation_fails_the_run_naming_the_keys() {
    let capture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/diagnose/ford-no-fault-found.log");
    let path = capture.to_str().expect("utf-8 path");
    let run = trunkdiag(&["diagnose", "--replay", path, "--observe", "lid-closd=yes"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--observe lid-closd=yes")
            && run.stderr.contains("lid-closed")
            && run.stderr.contains("aftermarket-alarm"),
        "{}",
        run.stderr
    );
    let run = trunkdiag(&[
        "diagnose",
        "--replay",
        path,
        "--observe",
        "lid-closed=maybe",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("yes or no"), "{}", run.stderr);
}
