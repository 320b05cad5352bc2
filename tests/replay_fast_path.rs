//! The replay fast path ([`diagnose::feed_capture`]: the reader builds only
//! the frames the analyzer wants whole and counts the rest per id) gives
//! exactly the evidence, analyzer counters and verdicts of the simple path
//! (every frame built and fed), on every bundled capture, on generated large
//! ones, and on random logs made to hit what the shortcut could get wrong:
//! timestamps out of order (several interfaces), requests whose deadline
//! passes only in counted frames, unknown and diagnostic ids, 29-bit ids,
//! error / remote / FD frames, comments, malformed lines.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use trunkdiag::analyzer::Analyzer;
use trunkdiag::capture::candump::format_frame;
use trunkdiag::capture::{CaptureReader, ReadOptions};
use trunkdiag::diagnose::feed_capture;
use trunkdiag::evidence::Observations;
use trunkdiag::frame::{CanFrame, CanId, IfName};
use trunkdiag::profile::{self, Profile};

#[path = "../benches/common/gen.rs"]
mod gen;

/// Evidence, counters and verdicts as JSON (the types compare through what
/// the report prints), or the error text.
type Outcome = Result<(serde_json::Value, serde_json::Value, serde_json::Value), String>;

fn reader(bytes: &[u8], opts: ReadOptions) -> CaptureReader {
    CaptureReader::from_reader("test.log", Box::new(Cursor::new(bytes.to_vec())), opts).unwrap()
}

fn outcome(profile: &Profile, analyzer: Analyzer<'_>) -> Outcome {
    let (ev, stats) = analyzer.finish(Observations::default());
    let verdicts = trunkdiag::verdict::diagnose(profile, &ev);
    Ok((
        serde_json::to_value(&ev).unwrap(),
        serde_json::to_value(&stats).unwrap(),
        serde_json::to_value(&verdicts).unwrap(),
    ))
}

fn simple_path(profile: &Profile, bytes: &[u8], opts: ReadOptions) -> Outcome {
    let mut r = reader(bytes, opts);
    let mut a = Analyzer::new(profile);
    let mut told = 0;
    loop {
        match r.next_frame() {
            Ok(Some(f)) => a.feed(&f),
            Ok(None) => break,
            Err(e) => return Err(e.to_string()),
        }
        // `# press` lines, presses the person told of, as they come.
        for n in r.annotations().get(told..).unwrap_or_default() {
            a.comment(&n.text);
        }
        told = r.annotations().len();
    }
    outcome(profile, a)
}

fn fast_path(profile: &Profile, bytes: &[u8], opts: ReadOptions) -> Outcome {
    let mut r = reader(bytes, opts);
    let mut a = Analyzer::new(profile);
    feed_capture(&mut r, &mut a).map_err(|e| e.to_string())?;
    outcome(profile, a)
}

fn profiles() -> Vec<Profile> {
    profile::list()
        .iter()
        .filter(|s| s.problems.is_empty())
        .map(|s| profile::load(&s.id).unwrap())
        .collect()
}

fn assert_same(profile: &Profile, bytes: &[u8], what: &str) {
    for lenient in [false, true] {
        let opts = ReadOptions {
            lenient,
            ..ReadOptions::default()
        };
        let simple = simple_path(profile, bytes, opts);
        let fast = fast_path(profile, bytes, opts);
        assert!(
            simple == fast,
            "{what}, profile {}, lenient {lenient}: fast path differs\nsimple: {simple:#?}\nfast: {fast:#?}",
            profile.id
        );
    }
}

/// The `.log` files under `dir`, subdirectories included (captures/ has
/// one per vehicle).
fn logs_in(dir: &Path) -> Vec<PathBuf> {
    let mut logs = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            logs.extend(logs_in(&path));
        } else if path.extension().is_some_and(|e| e == "log") {
            logs.push(path);
        }
    }
    logs.sort();
    logs
}

#[test]
fn same_evidence_and_verdict_on_every_bundled_capture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let profiles = profiles();
    assert!(profiles.len() >= 3, "expected the bundled profiles");
    let mut seen = 0;
    for dir in ["tests/data/diagnose", "tests/data/capture", "captures"] {
        let dir = root.join(dir);
        if !dir.is_dir() {
            continue;
        }
        for path in logs_in(&dir) {
            let bytes = std::fs::read(&path).unwrap();
            // Every profile, not only the one the capture was made for: the
            // others see its BCM traffic as plain diagnostic frames.
            for p in &profiles {
                assert_same(p, &bytes, &path.display().to_string());
            }
            seen += 1;
        }
    }
    assert!(seen >= 40, "expected the bundled captures, found {seen}");
}

#[test]
fn same_evidence_and_verdict_on_a_generated_large_capture() {
    let mut log = Vec::new();
    gen::generate(100_000, &mut log).unwrap();
    let altima = profile::load("nissan-altima-2013-2018").unwrap();
    let simple = simple_path(&altima, &log, ReadOptions::default()).unwrap();
    // Not vacuous: the capture's diagnosis and broadcasts are in it.
    assert_eq!(simple.0["frames_seen"], 100_000);
    assert_eq!(simple.1["bcm_messages"], 8);
    assert!(simple.0["battery"].is_object(), "{:#}", simple.0["battery"]);
    for p in profiles() {
        assert_same(&p, &log, "generated 100k-frame capture");
    }
}

/// The dense workload: a quarter of the frames on the profile's ids, every
/// signal bit changing on every frame (the decoding's worst case).
#[test]
fn same_evidence_and_verdict_on_a_generated_dense_capture() {
    let mut log = Vec::new();
    gen::generate_workload(100_000, gen::Workload::Dense, &mut log).unwrap();
    let altima = profile::load("nissan-altima-2013-2018").unwrap();
    let simple = simple_path(&altima, &log, ReadOptions::default()).unwrap();
    assert_eq!(simple.0["frames_seen"], 100_000);
    let changes = simple.0["series_summary"]["changes_seen"].as_u64().unwrap();
    assert!(changes > 20_000, "{changes} changes");
    for p in profiles() {
        assert_same(&p, &log, "generated 100k-frame dense capture");
    }
}

/// Frames a random log is made of: the BCM pairs of the bundled profiles
/// with meaningful payloads, their broadcasts, known, unknown and
/// diagnostic ids, 29-bit ids, and the other frame kinds.
fn arb_frame() -> impl Strategy<Value = CanFrame> {
    let bcm_ids = prop_oneof![
        Just(0x745u16),
        Just(0x765u16),
        Just(0x726u16),
        Just(0x72Eu16),
        Just(0x7E0u16),
        Just(0x7E8u16),
    ];
    let payloads = prop_oneof![
        Just(vec![0x02, 0x10, 0xC0]),
        Just(vec![0x02, 0x10, 0x03]),
        Just(vec![0x02, 0x50, 0xC0]),
        Just(vec![0x02, 0x21, 0x44]),
        Just(vec![0x04, 0x61, 0x44, 0x40, 0x20]),
        Just(vec![0x03, 0x7F, 0x21, 0x78]),
        Just(vec![0x03, 0x7F, 0x10, 0x78]),
        Just(vec![0x03, 0x7F, 0x21, 0x22]),
        Just(vec![0x04, 0x18, 0x02, 0xFF, 0x00]),
        Just(vec![0x05, 0x58, 0x01, 0xA5, 0x62, 0x08]),
        Just(vec![0x02, 0x3E, 0x01]),
        Just(vec![0x04, 0x30, 0x26, 0x00, 0x01]),
        Just(vec![0x04, 0x70, 0x26, 0x00, 0x01]),
        proptest::collection::vec(any::<u8>(), 0..=8),
    ];
    let other_ids = prop_oneof![
        Just(0x60Du16),
        Just(0x6F6u16),
        Just(0x284u16),
        Just(0x358u16),
        Just(0x3B1u16),
        Just(0x110u16),
        Just(0x384u16),
        Just(0x454u16),
        Just(0x160u16),
        Just(0x123u16),
        Just(0x7DFu16),
        0u16..0x800,
    ];
    let time = 1_700_000_000_000_000u64..1_700_000_000_000_000 + 20_000_000;
    let iface = prop_oneof![3 => Just("can0"), 1 => Just("can1")];
    prop_oneof![
        6 => (bcm_ids, payloads, time.clone(), iface.clone()).prop_map(|(id, d, t, i)| {
            CanFrame::classic(CanId::Standard(id), &d).unwrap().at(t).on(IfName::new(i).unwrap())
        }),
        10 => (other_ids, proptest::collection::vec(any::<u8>(), 0..=8), time.clone(), iface.clone())
            .prop_map(|(id, d, t, i)| {
                CanFrame::classic(CanId::Standard(id), &d).unwrap().at(t).on(IfName::new(i).unwrap())
            }),
        1 => (0u32..0x2000_0000, time.clone()).prop_map(|(id, t)| {
            CanFrame::classic(CanId::Extended(id), &[1, 2]).unwrap().at(t)
        }),
        1 => (0u16..0x800, 0u8..=8, time.clone()).prop_map(|(id, dlc, t)| {
            CanFrame::remote(CanId::Standard(id), dlc, None).unwrap().at(t)
        }),
        1 => (0u16..0x800, time.clone()).prop_map(|(id, t)| {
            CanFrame::fd(CanId::Standard(id), &[0x55; 12], 0).unwrap().at(t)
        }),
        1 => time.prop_map(|t| CanFrame::error(0x04, &[0; 8]).unwrap().at(t)),
    ]
}

/// A log line: a frame, a comment, or a malformed line.
#[derive(Debug, Clone)]
enum Line {
    Frame(CanFrame),
    Comment,
    Bad,
}

fn arb_log() -> impl Strategy<Value = Vec<Line>> {
    let line = prop_oneof![
        40 => arb_frame().prop_map(Line::Frame),
        1 => Just(Line::Comment),
        1 => Just(Line::Bad),
    ];
    // Mostly in time order, as a capture is; sorting a prefix only keeps
    // some disorder.
    (proptest::collection::vec(line, 0..300), any::<bool>()).prop_map(|(mut lines, sort)| {
        if sort {
            let cut = lines.len() * 3 / 4;
            lines.get_mut(..cut).unwrap().sort_by_key(|l| match l {
                Line::Frame(f) => f.timestamp_us,
                _ => 0,
            });
        }
        lines
    })
}

fn render(lines: &[Line]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        match l {
            Line::Frame(f) => format_frame(f, &mut out),
            Line::Comment => out.extend_from_slice(b"# pressed the fob\n"),
            Line::Bad => out.extend_from_slice(b"(1700000000.000000) can0 123#1G\n"),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn same_evidence_and_verdict_on_random_logs(lines in arb_log()) {
        let log = render(&lines);
        for p in profiles() {
            for lenient in [false, true] {
                let opts = ReadOptions { lenient, ..ReadOptions::default() };
                let simple = simple_path(&p, &log, opts);
                let fast = fast_path(&p, &log, opts);
                prop_assert!(simple == fast, "profile {}, lenient {}\nsimple: {:#?}\nfast: {:#?}",
                    p.id, lenient, simple, fast);
            }
        }
    }
}
