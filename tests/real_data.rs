//! `capture decode` and `capture signals` on recordings made by other people
//! on real cars (the CC0 Kona scan is the repository's copy in
//! `tests/data/real`; the GPL-3.0 G35 and GT350 logs are read beside the
//! repository through `common::shared_data`, a skip when absent):
//! a Hyundai Kona scanned by a phone app through an ELM327, and an Infiniti
//! G35 body bus whose 0x791 / 0x792 / 0x794 carry periodic frames that are
//! not ISO-TP. The expected numbers were counted independently of the
//! tool, as each test says.

use std::collections::BTreeMap;
use std::process::Command;

mod common;

const KONA: &str = "real/hyundai-kona/221210-1-2021-dcan-car-scanner-elm327.csv";
const G35: [&str; 6] = [
    "real/nissan-350z-g35/g35-noecu.trc",
    "real/nissan-350z-g35/g35-aconoff.trc",
    "real/nissan-350z-g35/g35-prndl.trc",
    "real/nissan-350z-g35/g35-revrev.trc",
    "real/nissan-350z-g35/350z-turnonlog.log",
    "real/nissan-350z-g35/350z-aclog.log",
];

fn trunkdiag(args: &[&str]) -> (u8, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(255) as u8,
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `capture signals FILE --profile P --json`: its lines, and its output for
/// assertion messages.
fn signals_json(path: &std::path::Path, profile: &str) -> (Vec<serde_json::Value>, String) {
    let (code, stdout, stderr) = trunkdiag(&[
        "capture",
        "signals",
        path.to_str().unwrap(),
        "--profile",
        profile,
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    (json_lines(&stdout), stdout)
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn count_by_id<'a>(lines: &'a [serde_json::Value], dir: &str) -> BTreeMap<&'a str, usize> {
    let mut m = BTreeMap::new();
    for l in lines.iter().filter(|l| l["dir"] == dir) {
        *m.entry(l["id"].as_str().unwrap()).or_default() += 1;
    }
    m
}

/// Counted with awk over the CSV (columns: time, id, extended, bus, len,
/// D1..D8), a message being a single or first frame (PCI nibble 0 or 1)
/// and a request one whose service byte is below 0x40:
///
/// ```text
/// awk -F, 'NR>1 { pci=substr($6,1,1); if (pci!="0" && pci!="1") next;
///   sid = (pci=="0") ? $7 : $8; id=substr($2,6);
///   if (sid < "40") r[id]++; else a[id]++ }
///   END { for (k in r) print "req", k, r[k]; for (k in a) print "ans", k, a[k] }'
/// ```
///
/// 869 requests on 51 ids (0x7DF and physical ids 0x725–0x7E7, answered or
/// not) and 947 answers from 21 ids. Two first frames never got their
/// consecutive frames (0x7CC, 19 bytes announced; 0x778, 23 bytes): the
/// tester sent flow control to neither. 22 answers are `50 03` without
/// timing bytes (`awk -F, '$6=="02" && $7=="50" && $8=="03"'`).
const KONA_REQUESTS: [(&str, usize); 51] = [
    ("725", 6),
    ("730", 7),
    ("73E", 8),
    ("740", 19),
    ("751", 7),
    ("752", 6),
    ("755", 8),
    ("757", 19),
    ("760", 8),
    ("770", 6),
    ("771", 11),
    ("776", 6),
    ("777", 11),
    ("780", 15),
    ("783", 19),
    ("791", 7),
    ("793", 10),
    ("794", 10),
    ("796", 15),
    ("7A0", 13),
    ("7A1", 6),
    ("7A2", 8),
    ("7A3", 10),
    ("7A4", 7),
    ("7A5", 11),
    ("7A6", 7),
    ("7A7", 7),
    ("7B1", 7),
    ("7B3", 6),
    ("7B6", 15),
    ("7B7", 6),
    ("7C1", 7),
    ("7C4", 9),
    ("7C5", 7),
    ("7C6", 6),
    ("7C7", 21),
    ("7D0", 7),
    ("7D1", 6),
    ("7D2", 11),
    ("7D3", 7),
    ("7D4", 6),
    ("7D5", 9),
    ("7D6", 10),
    ("7DF", 375),
    ("7E0", 7),
    ("7E1", 6),
    ("7E2", 19),
    ("7E3", 15),
    ("7E4", 15),
    ("7E5", 15),
    ("7E7", 10),
];
const KONA_ANSWERS: [(&str, usize); 21] = [
    ("72D", 7),
    ("73B", 3),
    ("778", 7),
    ("77E", 6),
    ("788", 16),
    ("78B", 20),
    ("79E", 17),
    ("7A8", 18),
    ("7AD", 13),
    ("7BB", 12),
    ("7BE", 14),
    ("7BF", 9),
    ("7CC", 4),
    ("7CE", 8),
    ("7D9", 5),
    ("7DA", 9),
    ("7DC", 11),
    ("7EA", 31),
    ("7EB", 355),
    ("7EC", 354),
    ("7ED", 28),
];

#[test]
fn kona_scan_decodes_every_request_and_answer_without_pairs() {
    let path = common::repo_data(KONA);
    let (code, stdout, stderr) =
        trunkdiag(&["capture", "decode", path.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let lines = json_lines(&stdout);
    let (found, messages) = lines.split_first().unwrap();
    let messages = messages.to_vec();
    assert_eq!(count_by_id(&messages, "request"), KONA_REQUESTS.into());
    assert_eq!(count_by_id(&messages, "response"), KONA_ANSWERS.into());
    assert_eq!(messages.len(), 869 + 947);

    // The conversations: 0x7DF answered by every module that answered
    // anything; physical pairs on request + 8.
    let convs = found["conversations"].as_array().unwrap();
    let functional: Vec<&str> = convs
        .iter()
        .filter(|c| c["request"] == "7DF")
        .map(|c| c["response"].as_str().unwrap())
        .collect();
    assert_eq!(functional.len(), 17, "{functional:?}");
    for c in convs.iter().filter(|c| c["request"] != "7DF") {
        match c["response"].as_str() {
            Some(r) => {
                assert_eq!(c["relation"], "request+8", "{c}");
                let q = u16::from_str_radix(c["request"].as_str().unwrap(), 16).unwrap();
                assert_eq!(u16::from_str_radix(r, 16).unwrap(), q + 8, "{c}");
            }
            None => assert_eq!(c["answers"], 0, "{c}"),
        }
    }
    let pairs: Vec<(&str, &str)> = convs
        .iter()
        .filter(|c| c["relation"] == "request+8")
        .map(|c| {
            (
                c["request"].as_str().unwrap(),
                c["response"].as_str().unwrap(),
            )
        })
        .collect();
    for want in [
        ("7E2", "7EA"),
        ("7E3", "7EB"),
        ("7E4", "7EC"),
        ("7E5", "7ED"),
    ] {
        assert!(pairs.contains(&want), "{want:?} not in {pairs:?}");
    }

    // Real-ECU answers read as they are: the two cut-short answers are
    // reported, not failed; `50 03` without timing bytes is no malformed answer.
    let incomplete: Vec<(&str, u64)> = messages
        .iter()
        .filter(|l| l["complete"] == false)
        .map(|l| (l["id"].as_str().unwrap(), l["len"].as_u64().unwrap()))
        .collect();
    assert_eq!(incomplete, [("7CC", 19), ("778", 23)]);
    let bare_session: Vec<&serde_json::Value> =
        messages.iter().filter(|l| l["payload"] == "5003").collect();
    assert_eq!(bare_session.len(), 22);
    for l in bare_session {
        assert_eq!(l["malformed"], false, "{l}");
        assert!(l["detail"].as_str().unwrap().contains("defaults"), "{l}");
    }
    // The suppress-bit session (`10 90`) is answered `50 90`, and read.
    assert!(messages
        .iter()
        .any(|l| l["payload"] == "5090" && l["kind"] == "positive" && l["malformed"] == false));

    // The text output says the same in words.
    let (code, text, _) = trunkdiag(&["capture", "decode", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(text.starts_with("conversations found"), "{text}");
    assert!(
        text.contains(
            "  7E2 → 7EA  physical, response = request + 8: 19 requests, 19 answers matched"
        ),
        "{text}"
    );
    assert!(
        text.contains("  740 → nobody  19 requests, never answered"),
        "{text}"
    );
    assert!(
        text.contains("[incomplete: cut short after 6 of 23 bytes]"),
        "{text}"
    );

    // --pair still overrides: only the pair given is followed.
    let (_, only, _) = trunkdiag(&[
        "capture",
        "decode",
        path.to_str().unwrap(),
        "--pair",
        "7E2:7EA",
        "--json",
    ]);
    let only = json_lines(&only);
    assert_eq!(only.len(), 19 + 31);
    assert!(only.iter().all(|l| l["id"] == "7E2" || l["id"] == "7EA"));
}

/// The G35 and 350Z body buses carry 0x791 (`00 00 00 00 xx 00 00`), 0x792
/// (`01 9A …`, `02 00 FF …`) and 0x794 (`00 00 0x`) every 10–20 ms, and no
/// diagnostic conversation at all: nothing is decoded from them.
#[test]
fn g35_periodic_79x_frames_are_not_diagnostics() {
    for rel in G35 {
        let Some(path) = common::shared_data(rel) else {
            return;
        };
        let (code, stdout, stderr) =
            trunkdiag(&["capture", "decode", path.to_str().unwrap(), "--json"]);
        assert_eq!(code, 0, "{rel}: {stderr}");
        let lines = json_lines(&stdout);
        assert_eq!(
            lines,
            [serde_json::json!({"conversations": []})],
            "{rel}: {stdout}"
        );
    }
}

/// `$STARTTIME` of a PCAN trace (days since 1899-12-30) in microseconds
/// since the UNIX epoch, computed here rather than by the tool's reader.
fn trc_start_us(path: &std::path::Path) -> f64 {
    let text = std::fs::read_to_string(path).unwrap();
    let days: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(";$STARTTIME="))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (days - 25_569.0) * 86_400e6
}

/// The trace's own time (its "Time Offset (ms)" column) of a signal line.
fn trace_ms(line: &serde_json::Value, start_us: f64) -> f64 {
    (line["at"].as_f64().unwrap() * 1e6 - start_us) / 1e3
}

/// In `g35-noecu.trc` 0x60D byte B goes 00 → 02 (accessory) at 1338.9 ms and
/// → 06 (ON) at 1389.5 ms, by the trace's own millisecond column
/// (`awk '$4=="060D" {print $2, $7}' g35-noecu.trc | uniq -f1`).
const ACCESSORY_MS: f64 = 1338.9;
const ON_MS: f64 = 1389.5;

/// Through the L33 profile (nissan-altima-2013-2018), which reads accessory
/// on 0x60D byte B bit 1 and ignition ON on bit 2: OFF, then accessory at
/// 1.339 s and ON at 1.390 s of the trace.
#[test]
fn g35_ignition_through_the_l33_profile() {
    let Some(path) = common::shared_data(G35[0]) else {
        return;
    };
    let (lines, stdout) = signals_json(&path, "nissan-altima-2013-2018");
    let start = trc_start_us(&path);
    let ignition: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["role"] == "ignition_on")
        .collect();
    assert_eq!(ignition.len(), 2, "{stdout}");
    assert_eq!(
        (ignition[0]["value"].as_f64(), &ignition[0]["previous"]),
        (Some(0.0), &serde_json::Value::Null)
    );
    assert_eq!(
        (
            ignition[1]["value"].as_f64(),
            ignition[1]["previous"].as_f64()
        ),
        (Some(1.0), Some(0.0))
    );
    assert!(
        (trace_ms(ignition[1], start) - ON_MS).abs() < 0.05,
        "{}",
        ignition[1]
    );
    assert_eq!(ignition[1]["id"], "60D");
    assert!(ignition[1]["level"].is_string());
    // `t` counts from the capture's first frame (16.4 ms into the trace).
    let t = ignition[1]["t"].as_f64().unwrap();
    assert!((t - (ON_MS - 16.4) / 1e3).abs() < 5e-5, "{t}");
    // Accessory came first, at 1.339 s.
    let accessory: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["signal"] == "accessory ON" && !l["previous"].is_null())
        .collect();
    assert_eq!(accessory.len(), 1, "{stdout}");
    assert_eq!(accessory[0]["value"].as_f64(), Some(1.0));
    assert!(
        (trace_ms(accessory[0], start) - ACCESSORY_MS).abs() < 0.05,
        "{}",
        accessory[0]
    );

    let (_, text, _) = trunkdiag(&[
        "capture",
        "signals",
        path.to_str().unwrap(),
        "--profile",
        "nissan-altima-2013-2018",
    ]);
    assert!(
        text.lines()
            .any(|l| l.contains("60D  ignition ON [ignition_on]  0 → 1  (")),
        "{text}"
    );
}

/// A profile of the test's own that reads 0x60D byte B bits 1–2 as the key
/// position, with names for its values: OFF → accessory → ON, at the
/// trace's 1.339 s and 1.390 s.
const KEY_POSITION_PROFILE: &str = r#"
[profile]
id = "g35-key-position"
make = "Infiniti"
model = "G35 (test)"
years = [2003, 2007]
description = "test profile: the key position on 0x60D byte B"

[[bus]]
name = "hs-can"
bitrate = 500000
fd = false
pins = [6, 14]
level = "placeholder"
source = "test"

[bcm]
name = "none"
protocol = "uds"
request_id = 0x7E0
response_id = 0x7E8
addressing = "normal"
level = "placeholder"
source = "test"

[[frame]]
id = 0x60D
name = "BCM body status"

[[frame.signal]]
name = "key position"
role = "info"
bits = "9|2@1+"
values = { "0" = "OFF", "1" = "accessory", "3" = "ON" }
level = "this-model"
source = "test: the G35 trace's own bytes"

[census]
complete = false
known_ids = []
"#;

#[test]
fn g35_key_position_off_accessory_on() {
    let Some(path) = common::shared_data(G35[0]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("g35-key-position.toml");
    std::fs::write(&profile, KEY_POSITION_PROFILE).unwrap();
    let (lines, _) = signals_json(&path, profile.to_str().unwrap());
    let start = trc_start_us(&path);
    let seen: Vec<(&str, i64)> = lines
        .iter()
        .map(|l| {
            (
                l["value_name"].as_str().unwrap(),
                (trace_ms(l, start) * 10.0).round() as i64,
            )
        })
        .collect();
    assert_eq!(seen[0].0, "OFF");
    // Tenths of a millisecond: 1338.9 ms and 1389.5 ms, the 1.339 s and
    // 1.390 s of the trace.
    let tenths = |ms: f64| (ms * 10.0).round() as i64;
    assert_eq!(
        &seen[1..],
        [("accessory", tenths(ACCESSORY_MS)), ("ON", tenths(ON_MS))]
    );
    assert!(lines.iter().all(|l| l["level"] == "this-model"));
}

/// The GT350's key-on log through the Fusion profile's HS-CAN items: 0x3B3
/// Ignition_Status goes Off → Run, named as such, and the rules' ignition
/// bit follows it.
#[test]
fn gt350_ignition_run_through_the_ford_profile() {
    let Some(path) = common::shared_data("real/ford-gt350/keyon.log") else {
        return;
    };
    let (lines, stdout) = signals_json(&path, "ford-fusion-2013-2020");
    let status: Vec<&str> = lines
        .iter()
        .filter(|l| l["signal"] == "Ignition_Status")
        .filter_map(|l| l["value_name"].as_str())
        .collect();
    assert_eq!(status.first(), Some(&"Off"), "{stdout}");
    assert_eq!(status.last(), Some(&"Run"), "{stdout}");
    let run = lines
        .iter()
        .rev()
        .find(|l| l["role"] == "ignition_on")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(run["value"].as_f64(), Some(1.0), "{run}");
    assert_eq!(run["id"], "3B3");
}
