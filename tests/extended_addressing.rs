//! ISO-TP extended addressing end to end with the fixture profile
//! `tests/data/profiles/extended-bcm.toml` (a UDS BCM on 0x750 [40] →
//! 0x758 [40]): replay of a capture segmented here, independently of the
//! crate's ISO-TP code, and a live run against the simulated car.

use std::fmt::Write as _;
use std::path::PathBuf;

const PROFILE: &str = "tests/data/profiles/extended-bcm.toml";
const REQ: u16 = 0x750;
const RESP: u16 = 0x758;
/// The fixture BCM's address byte, both ways.
const OURS: u8 = 0x40;
/// Another module on the same ids (Toyota's driver door ECU is 0x750 [90]).
const OTHER: u8 = 0x90;

fn profile() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(PROFILE)
        .to_string_lossy()
        .into_owned()
}

mod common;

fn trunkdiag(args: &[&str]) -> (i32, String, String) {
    let r = common::run::trunkdiag(args);
    (r.code, r.stdout, r.stderr)
}

/// One message as extended-addressed classic CAN frames (ISO 15765-2:
/// address byte, then SF up to 6 bytes, else FF with 5 and CFs with 6),
/// padded with 0xCC.
fn segment(address: u8, payload: &[u8]) -> Vec<Vec<u8>> {
    let pad = |mut f: Vec<u8>| {
        f.resize(8, 0xCC);
        f
    };
    if payload.len() <= 6 {
        let mut f = vec![address, payload.len() as u8];
        f.extend_from_slice(payload);
        return vec![pad(f)];
    }
    let len = payload.len();
    let mut frames = vec![{
        let mut f = vec![address, 0x10 | (len >> 8) as u8, len as u8];
        f.extend_from_slice(&payload[..5]);
        f
    }];
    for (i, chunk) in payload[5..].chunks(6).enumerate() {
        let mut f = vec![address, 0x20 | ((i + 1) % 16) as u8];
        f.extend_from_slice(chunk);
        frames.push(pad(f));
    }
    frames
}

/// A candump log under construction; counts the whole messages of our BCM.
#[derive(Default)]
struct Log {
    text: String,
    t_ms: u64,
    ours: u32,
}

impl Log {
    fn frame(&mut self, id: u16, data: &[u8]) {
        self.t_ms += 5;
        let hex: String = data.iter().map(|b| format!("{b:02X}")).collect();
        let _ = writeln!(
            self.text,
            "({}.{:06}) vcan0 {id:03X}#{hex}",
            1_700_000_000 + self.t_ms / 1000,
            (self.t_ms % 1000) * 1000
        );
    }

    /// A request and its answer between the tester and module `address`,
    /// with the tester's flow control when the answer is segmented.
    fn exchange(&mut self, address: u8, req: &[u8], resp: &[u8]) {
        for f in segment(address, req) {
            self.frame(REQ, &f);
        }
        let frames = segment(address, resp);
        for (i, f) in frames.iter().enumerate() {
            self.frame(RESP, f);
            if i == 0 && frames.len() > 1 {
                self.frame(REQ, &[address, 0x30, 0, 0, 0xCC, 0xCC, 0xCC, 0xCC]);
            }
        }
        if address == OURS {
            self.ours += 2;
        }
    }

    /// The log in a file of a new temporary directory (kept while held).
    fn written(&self) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ext.log");
        std::fs::write(&path, &self.text).unwrap();
        let path = path.to_string_lossy().into_owned();
        (dir, path)
    }
}

/// Our BCM answers DID B001 with `ours` (segmented: 6 trailing bytes make
/// it 10 long), the other module on the same ids with `other`.
fn capture(ours: u8, other: u8) -> Log {
    let mut log = Log::default();
    log.exchange(OURS, &[0x10, 0x03], &[0x50, 0x03, 0x00, 0x32, 0x01, 0xF4]);
    for _ in 0..4 {
        log.frame(0x3B3, &[0x01, 0, 0, 0, 0, 0, 0, 0]);
        log.exchange(
            OURS,
            &[0x22, 0xB0, 0x01],
            &[0x62, 0xB0, 0x01, ours, 1, 2, 3, 4, 5, 6],
        );
        log.exchange(OTHER, &[0x22, 0xB0, 0x01], &[0x62, 0xB0, 0x01, other]);
    }
    log
}

fn replay(log: &Log) -> serde_json::Value {
    let (_dir, path) = log.written();
    let (code, out, err) = trunkdiag(&[
        "diagnose",
        "--replay",
        &path,
        "--profile",
        &profile(),
        "--no-prompt",
        "--json",
    ]);
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn segmenter_makes_a_first_frame_and_numbered_consecutive_frames() {
    let f = segment(0x40, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert_eq!(f[0], [0x40, 0x10, 12, 1, 2, 3, 4, 5]);
    assert_eq!(f[1], [0x40, 0x21, 6, 7, 8, 9, 10, 11]);
    assert_eq!(f[2], [0x40, 0x22, 12, 0xCC, 0xCC, 0xCC, 0xCC, 0xCC]);
    assert_eq!(
        segment(0x40, &[0x22, 0xB0, 0x01])[0][..5],
        [0x40, 3, 0x22, 0xB0, 0x01]
    );
}

#[test]
fn replay_reads_the_did_through_its_address_byte() {
    let log = capture(0x02, 0x00);
    let d = replay(&log);
    assert_eq!(d["verdicts"][0]["id"], "valet-lockout", "{d:#}");
    assert_eq!(d["source"]["analyzer"]["bcm_messages"], log.ours, "{d:#}");
    assert_eq!(d["source"]["analyzer"]["incomplete_messages"], 0, "{d:#}");
}

#[test]
fn another_sub_address_on_the_same_ids_is_not_the_bcm() {
    // Only the other module says "lockout": it must not become evidence.
    let log = capture(0x00, 0x02);
    let d = replay(&log);
    assert_ne!(d["verdicts"][0]["id"], "valet-lockout", "{d:#}");
    assert_eq!(d["source"]["analyzer"]["bcm_messages"], log.ours, "{d:#}");
    assert!(
        !d["evidence"].to_string().contains("lockout flag seen set"),
        "{d:#}"
    );
}

#[test]
fn live_diagnose_reaches_the_simulated_bcm_through_extended_addressing() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("live.log");
    let rec = rec.to_str().unwrap();
    let p = profile();
    let (code, out, err) = trunkdiag(&[
        "diagnose",
        "--sim",
        "valet-lockout",
        "--sim-car",
        &p,
        "--profile",
        &p,
        "--no-prompt",
        "--json",
        "--record",
        rec,
    ]);
    assert_eq!(code, 1, "{err}");
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["verdicts"][0]["id"], "valet-lockout", "{d:#}");
    // Every frame on the BCM's ids carries the address byte.
    let text = std::fs::read_to_string(rec).unwrap();
    let bcm: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" 750#") || l.contains(" 758#"))
        .collect();
    assert!(bcm.len() >= 4, "{text}");
    for l in &bcm {
        assert!(l.contains("#40"), "{l}");
    }
    // The recording replays to the same verdict.
    let (code, out, err) = trunkdiag(&[
        "diagnose",
        "--replay",
        rec,
        "--profile",
        &p,
        "--no-prompt",
        "--json",
    ]);
    assert_eq!(code, 1, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["verdicts"][0]["id"], "valet-lockout", "{r:#}");
}

#[test]
fn decode_follows_an_extended_pair_and_leaves_other_sub_addresses_out() {
    let log = capture(0x02, 0x00);
    let (_dir, path) = log.written();
    let path = path.as_str();
    let p = profile();
    for how in [
        vec!["--pair", "750/40:758/40"],
        vec!["--profile", p.as_str()],
    ] {
        let mut args = vec!["capture", "decode", path, "--json"];
        args.extend(&how);
        let (code, out, err) = trunkdiag(&args);
        assert_eq!(code, 0, "{how:?}: {err}");
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len() as u32, log.ours, "{how:?}: {out}");
        // Ours answered 02 in its segmented answer; the other module's 00
        // answers are not among them.
        let answers: Vec<&str> = lines
            .iter()
            .filter(|l| l["kind"] == "positive" && l["sid"] == "22")
            .filter_map(|l| l["payload"].as_str())
            .collect();
        assert_eq!(answers, ["62B00102010203040506"; 4], "{how:?}: {out}");
    }
    let (code, _, err) = trunkdiag(&["capture", "decode", path, "--pair", "750/40:758"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("REQ/AE:RESP/AE"), "{err}");
}

#[test]
fn decode_finds_an_extended_conversation_by_itself() {
    let log = capture(0x02, 0x00);
    let (_dir, path) = log.written();
    let path = path.as_str();
    let (code, out, err) = trunkdiag(&["capture", "decode", path]);
    assert_eq!(code, 0, "{err}");
    // Our module made 5 exchanges, the one at 0x90 made 4: ours is the pair.
    assert!(
        out.contains("750/40 → 758/40  physical, response = request + 8, extended addressing"),
        "{out}"
    );
    let (code, out, err) = trunkdiag(&["capture", "decode", path, "--json"]);
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    let found: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let c = &found["conversations"][0];
    assert_eq!(
        (&c["request"], &c["response"], &c["addresses"]),
        (
            &serde_json::json!("750"),
            &serde_json::json!("758"),
            &serde_json::json!(["40", "40"])
        ),
        "{found}"
    );
    assert_eq!(lines.count() as u32, log.ours, "{out}");
}
