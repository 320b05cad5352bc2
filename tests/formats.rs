//! Capture formats at the boundary: the real recordings of `../shared/data/real`
//! read strictly with frame counts checked against an independent count,
//! malformed files of each format failing with the place and exit code 2,
//! and interop both ways with independent implementations: python-can
//! (installed by `scripts/py-peers` into `target/py-peers/venv` from PyPI)
//! writes ASC, BLF and TRC that trunkdiag reads, and reads the ASC and TRC
//! trunkdiag writes; the CSV trunkdiag writes is read back with Python's
//! `csv` module (python-can has no SavvyCAN reader) and the pcapng with the
//! pcap-file crate and a SocketCAN header decoder written here.
//!
//! The MIT and CC0 recordings are the repository's copies (`tests/data/real`);
//! a missing GPL-3.0 one or a failed Python setup is a `common::skip` (a
//! failure under `CI=true`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use trunkdiag::capture::candump::format_frame;
use trunkdiag::capture::{CaptureReader, ReadOptions};
use trunkdiag::frame::{CanFrame, CanId, Direction, FrameKind, IfName, CANFD_BRS, CANFD_ESI};

mod common;

fn real(rel: &str) -> Option<PathBuf> {
    common::shared_data(&format!("real/{rel}"))
}

/// The venv's python with python-can, set up by `scripts/py-peers`.
fn python() -> Option<PathBuf> {
    common::py_peers()
}

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

fn trunkdiag(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn frames_of(path: &Path) -> Vec<CanFrame> {
    CaptureReader::open(path, ReadOptions::default())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

// ---------------------------------------------------------------- real files

/// Frame lines counted the simple way, per format: every line that starts
/// like a frame of that format, nothing else parsed.
fn independent_count(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.to_string_lossy();
    let lines = text.lines();
    if name.ends_with(".trc") {
        // "     12)  ..." message lines; every one in these files is Rx.
        lines
            .filter(|l| {
                let mut w = l.split_whitespace();
                w.next().is_some_and(|n| n.ends_with(')')) && w.nth(1) == Some("Rx")
            })
            .count()
    } else if name.ends_with(".csv") {
        lines.skip(1).filter(|l| !l.trim().is_empty()).count()
    } else if name.ends_with(".asc") {
        // "<time> <channel> <id> Rx|Tx d <dlc> ..."
        lines
            .filter(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.len() > 4 && matches!(w[3], "Rx" | "Tx") && w[4] == "d"
            })
            .count()
    } else {
        lines.filter(|l| l.starts_with('(')).count()
    }
}

const REAL_FILES: &[&str] = &[
    "nissan-350z-g35/g35-noecu.trc",
    "nissan-350z-g35/g35-aconoff.trc",
    "nissan-350z-g35/g35-prndl.trc",
    "nissan-350z-g35/g35-revrev.trc",
    "nissan-350z-g35/350z-aclog.log",
    "nissan-350z-g35/350z-turnonlog.log",
    "hyundai-kona/221210-1-2021-dcan-car-scanner-elm327.csv",
    "hyundai-kona/221217-1-2021-pcan-bcan-no-key.csv",
    "hyundai-kona/bms_diagnostics_Main_Relay_____On.asc",
    "ford-fusion-2017/acc_on_going_at_50km_per_hour.candump",
    "ford-fusion-2017/lane_keep_assist_on_red_lines.candump",
    "ford-fusion-2017/lkas-long.candump",
    "ford-gt350/keyon.log",
];

#[test]
fn real_recordings_read_strictly_with_every_frame() {
    for rel in REAL_FILES {
        // A GPL-3.0 recording may be absent (a skip); the others are ours.
        let Some(path) = real(rel) else { continue };
        let run = trunkdiag(&["capture", "stats", "--json", path.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{rel}: {}", run.stderr);
        let stats: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(
            stats["frames"].as_u64().unwrap() as usize,
            independent_count(&path),
            "{rel}"
        );
        assert_eq!(stats["bad_lines"], 0, "{rel}");
    }
}

#[test]
fn real_recordings_agree_with_python_can_counts() {
    let Some(py) = python() else { return };
    for rel in REAL_FILES {
        // A GPL-3.0 recording may be absent (a skip); the others are ours.
        let Some(path) = real(rel) else { continue };
        // python-can has no SavvyCAN reader.
        if rel.ends_with(".csv") {
            continue;
        }
        let reader = match path.extension().and_then(|e| e.to_str()) {
            Some("trc") => "TRCReader",
            Some("asc") => "ASCReader",
            _ => "CanutilsLogReader",
        };
        let out = Command::new(&py)
            .args([
                "-c",
                &format!("import can,sys\nprint(sum(1 for _ in can.{reader}(sys.argv[1])))"),
                path.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let n: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(frames_of(&path).len(), n, "{rel}");
    }
}

/// The Fusion's candump variants: two-decimal timestamps, lower-case hex and
/// two interfaces in one file.
#[test]
fn fusion_candump_variants_keep_interfaces_and_times() {
    let path = common::repo_data("real/ford-fusion-2017/lkas-long.candump");
    let frames = frames_of(&path);
    let first = frames[0];
    assert_eq!(first.timestamp_us, 1_484_869_955_910_000);
    assert_eq!(first.iface.as_str(), "can1");
    assert_eq!(first.id, CanId::Standard(0x091));
    assert_eq!(
        first.data(),
        [0x7e, 0xf4, 0x7e, 0xf4, 0x24, 0xf1, 0xf0, 0x00]
    );
    let ifaces: std::collections::BTreeSet<&str> =
        frames.iter().map(|f| f.iface.as_str()).collect();
    assert_eq!(ifaces.into_iter().collect::<Vec<_>>(), ["can0", "can1"]);
}

/// `capture cat` of the G35 trace: 0x60D byte B (ignition) goes 00 -> 02
/// (accessory) at 1.339 s -> 06 (on) at 1.390 s of the trace's own time.
#[test]
fn g35_ignition_steps_at_the_trace_times() {
    let Some(path) = real("nissan-350z-g35/g35-noecu.trc") else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    // $STARTTIME: days since 1899-12-30, 25569 days before the UNIX epoch.
    let days: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(";$STARTTIME="))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let start_s = (days - 25_569.0) * 86_400.0;
    let run = trunkdiag(&["capture", "cat", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut steps = Vec::new();
    let mut last: Option<String> = None;
    for line in String::from_utf8(run.stdout).unwrap().lines() {
        let Some((ts, rest)) = line.split_once(' ') else {
            continue;
        };
        let Some(data) = rest.split_once(" 60D#").map(|(_, d)| d) else {
            continue;
        };
        let byte_b = data[2..4].to_string();
        if last.as_ref() != Some(&byte_b) {
            let t: f64 = ts.trim_matches(['(', ')']).parse().unwrap();
            steps.push((byte_b.clone(), ((t - start_s) * 1000.0).round() / 1000.0));
            last = Some(byte_b);
        }
    }
    let values: Vec<&str> = steps.iter().map(|(b, _)| b.as_str()).collect();
    assert_eq!(values, ["00", "02", "06"]);
    assert!((steps[1].1 - 1.339).abs() < 0.0015, "{steps:?}");
    assert!((steps[2].1 - 1.390).abs() < 0.0015, "{steps:?}");
}

// ---------------------------------------------------------------- malformed

fn fails_with(name: &str, bytes: &[u8], expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    for cmd in [&["capture", "cat"][..], &["capture", "stats"]] {
        let mut args = cmd.to_vec();
        args.push(path.to_str().unwrap());
        let run = trunkdiag(&args);
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        let want = format!("trunkdiag: error: {}{expected}", path.display());
        assert!(
            run.stderr.starts_with(&want),
            "{name}:\n{}\nwanted {want}",
            run.stderr
        );
    }
}

#[test]
fn malformed_files_of_each_format_fail_with_the_place() {
    fails_with(
        "unknown.trc",
        b";$FILEVERSION=3.0\n;$STARTTIME=45821.8\n     1)  16.4  Rx  0215  2  00 00\n",
        ":1: expected a PCAN trace file version 1.0, 1.1, 1.2, 1.3, 2.0 or 2.1, found \"3.0\"",
    );
    fails_with(
        "bad-dlc.asc",
        b"date Thu Nov 9 08:29:27.123 pm 2023\nbase hex  timestamps absolute\nBegin Triggerblock\n\
          0.1 1 123 Rx d 2 01 02\n0.2 1 123 Rx d Q 01\nEnd TriggerBlock\n",
        ":5: expected a DLC 0-15 after 'd', found \"Q\"",
    );
    fails_with(
        "short-data.asc",
        b"base hex  timestamps absolute\n0.2 1 123 Rx d 4 01\n",
        ":2: expected 4 data bytes, found 1",
    );
    fails_with(
        "no-extended.csv",
        b"Time Stamp,ID,Bus,LEN,D1,D2\n1,123,0,1,AA\n",
        ":1: expected a SavvyCAN header with the columns Time Stamp, ID, Extended, LEN, D1..D8 (Bus and Dir optional), missing Extended",
    );
    fails_with(
        "short-row.csv",
        b"Time Stamp,ID,Extended,Bus,LEN,D1,D2\n1,123,false,0,1,AA\n2,123,false,0\n",
        ":3: expected a LEN column (column 5), the line has 4",
    );
}

#[test]
fn truncated_blf_containers_fail_with_the_object() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.blf");
    let script = "import can,sys\nw=can.BLFWriter(sys.argv[1])\n\
        for i in range(3000): w.on_message_received(can.Message(timestamp=1.7e9+i/1000, arbitration_id=i%2048, data=bytes([i%256]*8)))\n\
        w.stop()\n";
    let out = Command::new(py)
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full = std::fs::read(&path).unwrap();
    assert_eq!(frames_of(&path).len(), 3000);
    // python-can writes several containers; the cut is in the last one.
    fails_with("cut.blf", &full[..full.len() - 100], ": object ");
    fails_with(
        "header.blf",
        &full[..100],
        ": expected a BLF file header of 144 bytes",
    );
    let mut corrupt = full.clone();
    for b in corrupt.iter_mut().skip(300).take(40) {
        *b ^= 0x5A;
    }
    fails_with("corrupt.blf", &corrupt, ": object 1: expected ");
}

// ---------------------------------------------------------------- interop

/// One frame as both sides describe it; times are microseconds since the
/// first frame of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Norm {
    dt_us: i64,
    id: u32,
    ext: bool,
    /// 'd' classic data, 'r' remote, 'f' CAN FD, 'e' error.
    kind: char,
    brs: bool,
    esi: bool,
    /// Requested length of a remote frame (0 otherwise).
    dlc: u8,
    data: Vec<u8>,
    channel: u32,
    rx: bool,
}

fn norm_of(frames: &[CanFrame], channel: impl Fn(&CanFrame) -> u32) -> Vec<Norm> {
    let t0 = frames.first().map_or(0, |f| f.timestamp_us);
    frames
        .iter()
        .map(|f| {
            let (kind, brs, esi, dlc) = match f.kind {
                FrameKind::Classic { .. } => ('d', false, false, 0),
                FrameKind::Remote { dlc, .. } => ('r', false, false, dlc),
                FrameKind::Fd { flags } => ('f', flags & CANFD_BRS != 0, flags & CANFD_ESI != 0, 0),
                FrameKind::Error => ('e', false, false, 0),
            };
            let error = kind == 'e';
            Norm {
                dt_us: f.timestamp_us as i64 - t0 as i64,
                id: if error { 0 } else { f.id.raw() },
                ext: !error && f.id.is_extended(),
                kind,
                brs,
                esi,
                dlc,
                data: if error { vec![] } else { f.data().to_vec() },
                channel: channel(f),
                rx: error || f.direction != Some(Direction::Tx),
            }
        })
        .collect()
}

/// Python's description of messages, one JSON object per line.
fn norm_of_json(text: &str) -> Vec<Norm> {
    let msgs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let t0 = msgs.first().map_or(0, |m| m["t_us"].as_i64().unwrap());
    msgs.iter()
        .map(|m| {
            let kind = if m["error"] == true {
                'e'
            } else if m["remote"] == true {
                'r'
            } else if m["fd"] == true {
                'f'
            } else {
                'd'
            };
            let error = kind == 'e';
            Norm {
                dt_us: m["t_us"].as_i64().unwrap() - t0,
                id: if error {
                    0
                } else {
                    m["id"].as_u64().unwrap() as u32
                },
                ext: !error && m["ext"] == true,
                kind,
                brs: m["brs"] == true,
                esi: m["esi"] == true,
                dlc: if kind == 'r' {
                    m["dlc"].as_u64().unwrap() as u8
                } else {
                    0
                },
                data: if error {
                    vec![]
                } else {
                    hex_bytes(m["data"].as_str().unwrap())
                },
                channel: m["ch"].as_u64().unwrap() as u32,
                rx: error || m["rx"] == true,
            }
        })
        .collect()
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// Compares frame by frame; times may differ by 1 us, as python-can
/// computes them in floating point seconds around 1.7e9 (0.24 us steps).
fn assert_same(what: &str, got: &[Norm], want: &[Norm]) {
    assert_eq!(got.len(), want.len(), "{what}: frame count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g.dt_us - w.dt_us).abs() <= 1,
            "{what}: frame {i} time: {g:?} vs {w:?}"
        );
        let mut g = g.clone();
        g.dt_us = w.dt_us;
        assert_eq!(&g, w, "{what}: frame {i}");
    }
}

fn run_python(py: &Path, script: &str, args: &[&str]) -> String {
    let out = Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Writes random messages with python-can's writer for argv[1] (asc, blf,
/// trc) to argv[2]; prints the messages written, one JSON line each. The
/// kinds are the ones python-can writes in that format.
const PY_WRITE: &str = r#"
import json, random, sys, can
fmt, path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
kinds = {"asc": "drfe", "blf": "drfe", "trc": "d"}[fmt]
writer = {"asc": can.ASCWriter, "blf": can.BLFWriter, "trc": can.TRCWriter}[fmt](path)
us = 1_700_000_000_000_000 + rng.randrange(10**6)
for _ in range(400):
    us += rng.randrange(1, 20000)
    k = rng.choice(kinds)
    ext = rng.random() < 0.5
    m = dict(timestamp=us / 1e6, arbitration_id=rng.randrange(1 << 29 if ext else 1 << 11),
             is_extended_id=ext, channel=rng.randrange(2), is_rx=rng.random() < 0.7)
    if k == "d":
        msg = can.Message(data=bytes(rng.randrange(256) for _ in range(rng.randrange(9))), **m)
    elif k == "r":
        msg = can.Message(is_remote_frame=True, dlc=rng.randrange(9), **m)
    elif k == "f":
        n = rng.choice([0, 1, 5, 8, 12, 16, 20, 24, 32, 48, 64])
        msg = can.Message(is_fd=True, bitrate_switch=rng.random() < 0.5,
                          error_state_indicator=rng.random() < 0.5,
                          data=bytes(rng.randrange(256) for _ in range(n)), **m)
    else:
        m.update(arbitration_id=0, is_extended_id=False)
        msg = can.Message(is_error_frame=True, **m)
    writer.on_message_received(msg)
    print(json.dumps(dict(t_us=us, id=msg.arbitration_id, ext=msg.is_extended_id,
        remote=msg.is_remote_frame, fd=msg.is_fd, brs=msg.bitrate_switch,
        esi=msg.error_state_indicator, error=msg.is_error_frame, dlc=msg.dlc,
        data=msg.data.hex(), ch=msg.channel + 1, rx=msg.is_rx)))
writer.stop()
"#;

#[test]
fn reads_what_python_can_writes() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (fmt, seeds) in [("asc", 3), ("blf", 3), ("trc", 3)] {
        for seed in 0..seeds {
            let path = dir.path().join(format!("py{seed}.{fmt}"));
            let written = run_python(
                &py,
                PY_WRITE,
                &[fmt, path.to_str().unwrap(), &seed.to_string()],
            );
            let want = norm_of_json(&written);
            let frames = frames_of(&path);
            let got = norm_of(&frames, |f| {
                f.iface
                    .as_str()
                    .strip_prefix(fmt)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(u32::MAX)
            });
            assert_same(&format!("python-can {fmt} seed {seed}"), &got, &want);
            let kinds: std::collections::BTreeSet<char> = want.iter().map(|n| n.kind).collect();
            let expected_kinds = if fmt == "trc" { "d" } else { "defr" };
            assert_eq!(kinds.into_iter().collect::<String>(), expected_kinds);
        }
    }
}

/// A deterministic mix of every frame kind on two interfaces.
fn random_frames(seed: u64, n: usize, fd_empty: bool) -> Vec<CanFrame> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move |m: u64| {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (s >> 33) % m
    };
    let ifaces = [IfName::new("can0").unwrap(), IfName::new("vcan1").unwrap()];
    let mut ts = 1_795_248_560_000_000 + next(1_000_000);
    (0..n)
        .map(|_| {
            ts += 1 + next(20_000);
            let ext = next(2) == 1;
            let id = if ext {
                CanId::Extended(next(1 << 29) as u32)
            } else {
                CanId::Standard(next(1 << 11) as u16)
            };
            let mut data = [0u8; 64];
            data.iter_mut().for_each(|b| *b = next(256) as u8);
            let mut f = match next(4) {
                0 => CanFrame::classic(id, &data[..next(9) as usize]).unwrap(),
                1 => CanFrame::remote(id, next(9) as u8, None).unwrap(),
                2 => {
                    let lens: &[usize] = if fd_empty {
                        &[0, 1, 7, 8, 12, 16, 20, 24, 32, 48, 64]
                    } else {
                        &[1, 7, 8, 12, 16, 20, 24, 32, 48, 64]
                    };
                    let len = lens[next(lens.len() as u64) as usize];
                    CanFrame::fd(id, &data[..len], next(4) as u8).unwrap()
                }
                _ => CanFrame::error(0x08, &[0; 8]).unwrap(),
            };
            f.direction = Some(if next(3) == 0 {
                Direction::Tx
            } else {
                Direction::Rx
            });
            f.at(ts).on(ifaces[next(2) as usize])
        })
        .collect()
}

/// Reads argv[2] of format argv[1] (asc, trc with python-can; csv with the
/// csv module) and prints one JSON line per message.
const PY_READ: &str = r#"
import csv, json, sys, can
fmt, path = sys.argv[1], sys.argv[2]
def out(**m):
    print(json.dumps(m))
if fmt == "csv":
    rows = csv.reader(open(path, newline=""))
    head = next(rows)
    col = {name: i for i, name in enumerate(head)}
    for r in rows:
        n = int(r[col["LEN"]])
        d1 = col["D1"]
        out(t_us=int(r[col["Time Stamp"]]), id=int(r[col["ID"]], 16), ext=r[col["Extended"]] == "true",
            remote=False, fd=n > 8, brs=False, esi=False, error=False, dlc=n,
            data="".join(r[d1:d1 + n]).lower(), ch=int(r[col["Bus"]]), rx=r[col["Dir"]] == "Rx")
else:
    reader = {"asc": can.ASCReader, "trc": can.TRCReader}[fmt](path)
    for m in reader:
        out(t_us=round(m.timestamp * 1e6), id=m.arbitration_id, ext=m.is_extended_id,
            remote=m.is_remote_frame, fd=m.is_fd, brs=m.bitrate_switch,
            esi=m.error_state_indicator, error=m.is_error_frame, dlc=m.dlc,
            data=m.data.hex(), ch=int(m.channel), rx=m.is_rx)
"#;

fn cat_to(input: &Path, to: &str, output: &Path) {
    let run = trunkdiag(&["capture", "cat", "--to", to, input.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{to}: {}", run.stderr);
    std::fs::write(output, &run.stdout).unwrap();
}

fn write_candump(path: &Path, frames: &[CanFrame]) {
    let mut log = Vec::new();
    for f in frames {
        format_frame(f, &mut log);
    }
    std::fs::write(path, log).unwrap();
}

/// Interfaces numbered in order of first appearance from `first`, as the
/// writers number channels.
fn channel_numbers(frames: &[CanFrame], first: u32) -> HashMap<IfName, u32> {
    let mut map = HashMap::new();
    for f in frames {
        let n = first + map.len() as u32;
        map.entry(f.iface).or_insert(n);
    }
    map
}

#[test]
fn python_reads_what_trunkdiag_writes() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for seed in 0..3 {
        // python-can reads an ASC CAN FD line without data as a remote frame.
        let frames = random_frames(seed, 500, false);
        let log = dir.path().join(format!("in{seed}.log"));
        write_candump(&log, &frames);
        // python-can numbers ASC channels from 0 (file channel - 1), TRC
        // buses as written (from 1); CSV buses are written from 0.
        for (to, first, keep) in [
            ("asc", 0, (|_: &CanFrame| true) as fn(&CanFrame) -> bool),
            // python-can's TRC reader skips error (ER) lines.
            ("trc", 1, |f: &CanFrame| !f.is_error()),
            // SavvyCAN CSV holds data frames only.
            ("csv", 0, |f: &CanFrame| f.is_data()),
        ] {
            let out = dir.path().join(format!("out{seed}.{to}"));
            cat_to(&log, to, &out);
            let kept: Vec<CanFrame> = frames.iter().copied().filter(keep).collect();
            let channels = channel_numbers(&frames, first);
            let mut want = norm_of(&kept, |f| channels[&f.iface]);
            let mut got = norm_of_json(&run_python(&py, PY_READ, &[to, out.to_str().unwrap()]));
            if to == "trc" {
                // python-can 4.6.1 reads BRS from the types FB and FE (its
                // bug: FE is ESI only, BI is both): BRS is compared on
                // frames without ESI only.
                for (g, w) in got.iter_mut().zip(&want) {
                    if w.esi {
                        g.brs = w.brs;
                    }
                }
            }
            if to == "csv" {
                as_csv_holds_them(&mut want);
            }
            assert_same(&format!("{to} seed {seed}"), &got, &want);
        }
    }
}

/// The pcapng `capture cat --to pcapng` writes, read with the pcap-file
/// crate and a SocketCAN header decoder written here, as Wireshark reads it.
#[test]
fn pcapng_written_is_socketcan_as_wireshark_reads_it() {
    use pcap_file::pcapng::{Block, PcapNgReader};
    let dir = tempfile::tempdir().unwrap();
    let frames = random_frames(7, 500, true);
    let log = dir.path().join("in.log");
    write_candump(&log, &frames);
    let out = dir.path().join("out.pcapng");
    cat_to(&log, "pcapng", &out);
    let bytes = std::fs::read(&out).unwrap();
    let mut reader = PcapNgReader::new(&bytes[..]).unwrap();
    let mut names = Vec::new();
    let mut got = Vec::new();
    while let Some(block) = reader.next_block() {
        match block.unwrap() {
            Block::InterfaceDescription(idb) => {
                assert_eq!(idb.linktype, pcap_file::DataLink::CAN_SOCKETCAN);
                let name = idb.options.iter().find_map(|o| match o {
                    pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption::IfName(n) => Some(n.to_string()),
                    _ => None,
                });
                names.push(name.unwrap());
            }
            Block::EnhancedPacket(epb) => {
                let p = &epb.data;
                let can_id = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                let (len, flags, len8) = (p[4] as usize, p[5], p[7]);
                let fd = p.len() == 72;
                assert!(p.len() == 16 || fd);
                let data = &p[8..8 + if can_id & 0x4000_0000 != 0 { 0 } else { len }];
                let id = if can_id & 0x8000_0000 != 0 {
                    CanId::Extended(can_id & 0x1FFF_FFFF)
                } else {
                    CanId::Standard((can_id & 0x7FF) as u16)
                };
                let f = if can_id & 0x2000_0000 != 0 {
                    CanFrame::error(can_id & 0x1FFF_FFFF, data).unwrap()
                } else if can_id & 0x4000_0000 != 0 {
                    CanFrame::remote(id, len as u8, None).unwrap()
                } else if fd {
                    assert_eq!(flags & 0x04, 0x04, "CANFD_FDF set");
                    CanFrame::fd(id, data, flags & 0x03).unwrap()
                } else {
                    assert_eq!(len8, 0);
                    CanFrame::classic(id, data).unwrap()
                };
                // Interface resolution 1 ns (if_tsresol 9).
                let ts_us = (epb.timestamp.as_nanos() / 1000) as u64;
                let iface = IfName::new(&names[epb.interface_id as usize]).unwrap();
                got.push(f.at(ts_us).on(iface));
            }
            _ => {}
        }
    }
    // pcapng keeps no direction.
    let want: Vec<CanFrame> = frames
        .iter()
        .map(|f| {
            let mut f = *f;
            f.direction = None;
            f
        })
        .collect();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "frame {i}");
    }
    // And trunkdiag's own reader gives the same frames back (with the
    // CANFD_FDF flag it keeps as read).
    let back = frames_of(&out);
    assert_eq!(back.len(), want.len());
    for (i, (b, w)) in back.iter().zip(&want).enumerate() {
        let mut w = *w;
        if let FrameKind::Fd { flags } = w.kind {
            w.kind = FrameKind::Fd {
                flags: flags | 0x04,
            };
        }
        assert_eq!(*b, w, "frame {i}");
    }
}

/// What SavvyCAN CSV keeps of a data frame: no BRS/ESI, and a CAN FD frame
/// of at most 8 bytes is a classic one (a length above 8 marks CAN FD).
fn as_csv_holds_them(frames: &mut [Norm]) {
    for w in frames {
        (w.brs, w.esi) = (false, false);
        if w.kind == 'f' && w.data.len() <= 8 {
            w.kind = 'd';
        }
    }
}

/// Every writer's output read back by trunkdiag gives the frames the format
/// can hold, at the format's resolution (all of them keep microseconds).
#[test]
fn written_files_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let frames = random_frames(11, 800, true);
    let log = dir.path().join("in.log");
    write_candump(&log, &frames);
    for (to, prefix, first) in [("asc", "asc", 1), ("trc", "trc", 1), ("csv", "csv", 0)] {
        let out = dir.path().join(format!("out.{to}"));
        cat_to(&log, to, &out);
        let keep = |f: &CanFrame| to != "csv" || f.is_data();
        let channels = channel_numbers(&frames, first);
        let kept: Vec<CanFrame> = frames.iter().copied().filter(keep).collect();
        let want = norm_of(&kept, |f| channels[&f.iface]);
        let back = frames_of(&out);
        let got = norm_of(&back, |f| {
            f.iface
                .as_str()
                .strip_prefix(prefix)
                .unwrap()
                .parse()
                .unwrap()
        });
        let mut want = want;
        if to == "csv" {
            as_csv_holds_them(&mut want);
        }
        assert_same(to, &got, &want);
        // Absolute times too, not only their differences.
        assert_eq!(back[0].timestamp_us, kept[0].timestamp_us, "{to}");
    }
}

/// `batch` over a folder: a SavvyCAN log named `.csv` is a capture job, a
/// `.csv` table beside it is not.
#[test]
fn batch_takes_savvycan_csv_and_skips_other_tables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("scan.csv"),
        "Time Stamp,ID,Extended,Bus,LEN,D1,D2\n1000,000007DF,false,0,2,01,0D\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("results.csv"), "job,verdict\n1,ok\n").unwrap();
    let run = trunkdiag(&[
        "batch",
        "--profile",
        "nissan-altima-2013-2018",
        dir.path().to_str().unwrap(),
    ]);
    let out = String::from_utf8(run.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}\n{}", run.stderr);
    assert!(lines[0].contains("scan.csv"), "{out}");
    assert!(lines[0].contains("\"error\":null"), "{out}");
}

/// Two buses merged into one log: times step back; the frames stay in file
/// order and one warning says so.
#[test]
fn merged_buses_stepping_back_warn_once_and_keep_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("merged.log");
    let log =
        "(100.50) can0 123#01\n(100.2) can1 456#02\n(100.3) can1 456#03\n(100.25) can0 123#04\n";
    std::fs::write(&path, log).unwrap();
    let run = trunkdiag(&["capture", "cat", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = String::from_utf8(run.stdout).unwrap();
    let data: Vec<&str> = out.lines().map(|l| &l[l.len() - 2..]).collect();
    assert_eq!(data, ["01", "02", "03", "04"]);
    assert_eq!(
        run.stderr.matches("steps back").count(),
        1,
        "{}",
        run.stderr
    );
}

/// The ranked causes and BCM message count of `diagnose --replay FILE`.
fn replay_outcome(path: &Path) -> (u64, Vec<String>) {
    let run = trunkdiag(&[
        "diagnose",
        "--replay",
        path.to_str().unwrap(),
        "--profile",
        "ford-fusion-2013-2020",
        "--json",
    ]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let messages = report["source"]["analyzer"]["bcm_messages"]
        .as_u64()
        .unwrap();
    let causes = report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    (messages, causes)
}

/// A replay read through the filtered path handed out an empty frame for
/// every wanted id of an ASC, TRC or CSV log: `bcm-fault.log` written as
/// ASC gave 0 BCM messages and "inconclusive". Every format a capture can
/// be written in now diagnoses as the candump log does.
#[test]
fn a_capture_written_in_any_format_diagnoses_as_the_candump_log() {
    let dir = tempfile::tempdir().unwrap();
    let log =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/ford-fusion-2013-2020/bcm-fault.log");
    let (messages, causes) = replay_outcome(&log);
    assert!(messages > 100, "{messages}");
    assert_eq!(causes.first().map(String::as_str), Some("bcm-fault"));
    for format in trunkdiag::capture::format::writable() {
        let out = dir
            .path()
            .join(format!("bcm-fault.{}", format.extensions[0]));
        cat_to(&log, format.name, &out);
        assert_eq!(
            replay_outcome(&out),
            (messages, causes.clone()),
            "{}",
            format.name
        );
    }
}
