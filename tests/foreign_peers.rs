//! trunkdiag against diagnostic stacks it shares no code with, through the
//! built binary: foreign ECUs answering trunkdiag's client, and foreign
//! testers asking trunkdiag's simulated BCM.
//!
//! The bus: this kernel has no CAN, so each peer script
//! (`tests/peers/*.py`) holds the device side of an SLCAN adapter on a pty
//! (`tests/peers/slcan_device.py`) bridged onto a python-can `virtual` bus
//! in the same process, where the peer runs: can-isotp and udsoncan,
//! python-uds-server, scapy's own ISO-TP and answering machines, and gallia
//! through can-isotp (its own CAN transports need kernel ISO-TP or raw CAN
//! sockets). trunkdiag opens the pty as `--iface slcan:PTY`, as it opens a
//! CANable. Why this bus and not the VM's: README "Foreign peers".
//!
//! The peers come from PyPI through `scripts/py-peers`; without them a test
//! is a `common::skip` (a failure under CI=true). What each peer found that
//! our own tests had not is written beside the test that found it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};
use std::sync::Mutex;

use serde_json::Value;

mod common;

use common::pty::Reaped;

/// One peer at a time: the answers must come within P2 on a small machine
/// shared by the Python peer, its bridge and trunkdiag.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------
// Peers and trunkdiag as processes

/// A peer script running, its SLCAN device ready. Its output is read as
/// it comes (a peer that reports every message must never block on a full
/// pipe).
struct Peer {
    child: Reaped,
    lines: std::thread::JoinHandle<Vec<Value>>,
    stderr: std::thread::JoinHandle<String>,
    /// The pty trunkdiag opens with `--iface slcan:PTY`.
    iface: String,
}

fn peer(script: &str, args: &[&str]) -> Option<Peer> {
    let python = common::py_peers()?;
    let mut child = Command::new(python)
        .arg(root().join("tests/peers").join(script))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut text);
        text
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let Some(ready) = line.trim().strip_prefix("ready ") else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{script} did not start: {line:?}\n{}",
            stderr.join().unwrap_or_default()
        );
    };
    let ready: Value = serde_json::from_str(ready).unwrap();
    let iface = format!("slcan:{}", ready["pty"].as_str().unwrap());
    let lines = std::thread::spawn(move || read_json_lines(out));
    Some(Peer {
        child: Reaped(child),
        lines,
        stderr,
        iface,
    })
}

fn read_json_lines(mut out: BufReader<ChildStdout>) -> Vec<Value> {
    let mut lines = Vec::new();
    let mut line = String::new();
    while out.read_line(&mut line).unwrap_or(0) > 0 {
        if let Ok(v) = serde_json::from_str::<Value>(line.trim()) {
            lines.push(v);
        }
        line.clear();
    }
    lines
}

impl Peer {
    /// Stops a peer that runs until killed (an ECU) and returns the JSON
    /// lines it printed.
    fn stop(mut self) -> Vec<Value> {
        let _ = self.child.0.kill();
        self.finish().0
    }

    /// Every JSON line the peer prints until it exits, and its stderr.
    fn finish(mut self) -> (Vec<Value>, String) {
        let _ = self.child.0.wait();
        let lines = self.lines.join().unwrap_or_default();
        (lines, self.stderr.join().unwrap_or_default())
    }
}

fn trunkdiag(args: &[&str]) -> common::run::Run {
    common::run::trunkdiag(args)
}

/// trunkdiag in the background (the simulator), killed when dropped.
fn trunkdiag_spawn(args: &[&str]) -> Reaped {
    Reaped(
        Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
            .args(args)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

// ---------------------------------------------------------------------
// What a profile file declares, read from vehicles/*.toml (and the
// layouts it names), not through trunkdiag's loader

/// A profile's TOML with its layouts' sections merged in (the profile's
/// own first).
fn profile_toml(name: &str) -> toml::Table {
    let read = |p: PathBuf| -> toml::Table {
        let text = std::fs::read_to_string(&p).unwrap();
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let mut table = read(root().join("vehicles").join(format!("{name}.toml")));
    let layouts: Vec<String> = table
        .get("profile")
        .and_then(|p| p.get("layouts"))
        .and_then(Value2::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for layout in layouts {
        let extra = read(
            root()
                .join("vehicles/layouts")
                .join(format!("{layout}.toml")),
        );
        for (key, value) in extra {
            match (table.get_mut(&key), value) {
                (Some(toml::Value::Array(ours)), toml::Value::Array(more)) => ours.extend(more),
                (None, value) => {
                    table.insert(key, value);
                }
                _ => {}
            }
        }
    }
    table
}

type Value2 = toml::Value;

fn hex_bytes(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// What the profile says its body module is.
#[derive(Debug)]
struct Declared {
    request_id: u32,
    response_id: u32,
    protocol: String,
    /// `10 03`, `10 C0`.
    session: Vec<u8>,
    /// Each data item's DID (UDS) or local id (KWP) and whether it needs
    /// the session.
    data: Vec<(u16, bool)>,
    /// Every request the profile names ([bcm.*], the active test).
    requests: Vec<Vec<u8>>,
    /// The keep-alive request.
    keep_alive: Vec<u8>,
    /// Trouble codes (`U3003:16`) and the cause each points to, if any.
    dtcs: Vec<(String, Option<String>)>,
}

/// `None` for a profile without a body module's address.
fn declared(name: &str) -> Option<Declared> {
    let t = profile_toml(name);
    let bcm = t.get("bcm")?.as_table()?;
    let int = |v: &Value2| u32::try_from(v.as_integer().unwrap()).unwrap();
    let mut requests = Vec::new();
    for (_, v) in bcm.iter().filter(|(_, v)| v.is_table()) {
        if let Some(r) = v.get("request").and_then(Value2::as_str) {
            requests.push(hex_bytes(r));
        }
    }
    if let Some(at) = t.get("active_test") {
        for part in ["start", "stop"] {
            if let Some(r) = at.get(part).and_then(|p| p.get("request")) {
                requests.push(hex_bytes(r.as_str().unwrap()));
            }
        }
    }
    let data = t
        .get("data")
        .and_then(Value2::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|d| {
                    let id = d.get("did").or_else(|| d.get("lid"))?;
                    let needs = d
                        .get("needs_session")
                        .and_then(Value2::as_bool)
                        .unwrap_or(false);
                    Some((u16::try_from(id.as_integer()?).ok()?, needs))
                })
                .collect()
        })
        .unwrap_or_default();
    let dtcs = t
        .get("dtc")
        .and_then(Value2::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| {
                    let cause = d.get("cause").and_then(Value2::as_str).map(str::to_owned);
                    Some((d.get("code")?.as_str()?.to_owned(), cause))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Declared {
        request_id: int(bcm.get("request_id")?),
        response_id: int(bcm.get("response_id")?),
        protocol: bcm.get("protocol")?.as_str()?.to_owned(),
        // A module without a session of its own (OBD-II ECU #1): none.
        session: bcm
            .get("session")
            .and_then(|s| s.get("request")?.as_str())
            .map(hex_bytes)
            .unwrap_or_default(),
        keep_alive: bcm
            .get("keep_alive")
            .and_then(|k| k.get("request")?.as_str())
            .map(hex_bytes)
            .unwrap_or_default(),
        data,
        requests,
        dtcs,
    })
}

/// The bundled profiles (vehicles/*.toml), by name.
fn bundled() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("vehicles"))
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".toml").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// A KWP2000 trouble code as its two bytes in hex (`U1000` → `D000`).
fn kwp_dtc_hex(code: &str) -> String {
    uds_dtc_hex(code)[..4].to_owned()
}

/// A UDS trouble code as its three bytes in hex (`U3003:16` → `F00316`),
/// by SAE J2012's letter bits, written here apart from `diag::dtc`.
fn uds_dtc_hex(code: &str) -> String {
    let (name, failure) = code.split_once(':').unwrap_or((code, "00"));
    let letter = match name.as_bytes()[0] {
        b'P' => 0,
        b'C' => 1,
        b'B' => 2,
        b'U' => 3,
        other => panic!("{other}"),
    };
    let digits = u16::from_str_radix(&name[1..], 16).unwrap();
    format!("{:04X}{failure}", (letter << 14) | digits)
}

// ---------------------------------------------------------------------
// (i) udsoncan + can-isotp against `trunkdiag simulate`

/// The steps udsoncan took against the simulated BCM of `profile`, what it
/// saw, and the bridge's counts.
fn udsoncan_against_simulate(profile: &str, scenario: &str) -> Option<Vec<Value>> {
    let d = declared(profile).unwrap();
    let ours: Vec<u16> = d.data.iter().map(|(id, _)| *id).collect();
    // DIDs of every other bundled UDS body module, this one's not among
    // them: the simulated BCM must refuse them all.
    let mut probes: Vec<u16> = Vec::new();
    for other in bundled() {
        let Some(o) = declared(&other) else {
            continue;
        };
        if o.protocol != "uds" {
            continue;
        }
        let io = o
            .requests
            .iter()
            .filter(|r| r.first() == Some(&0x2F) && r.len() >= 3)
            .map(|r| u16::from_be_bytes([r[1], r[2]]));
        for did in o.data.iter().map(|(id, _)| *id).chain(io) {
            if !ours.contains(&did) && !probes.contains(&did) && !own_io_did(&d, did) {
                probes.push(did);
            }
        }
    }
    let list = |v: &[u16]| {
        v.iter()
            .map(|d| format!("{d:04X}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let session = format!("{:02X}", d.session[1]);
    let peer = peer(
        "udsoncan_client.py",
        &[
            &format!("{:03X}", d.request_id),
            &format!("{:03X}", d.response_id),
            &list(&ours),
            &list(&probes),
            &session,
        ],
    )?;
    let _sim = trunkdiag_spawn(&[
        "simulate",
        "--profile",
        profile,
        "--scenario",
        scenario,
        "--iface",
        &peer.iface,
        "--duration",
        "60",
    ]);
    let (lines, err) = peer.finish();
    assert!(
        lines.last().is_some_and(|l| l["step"] == "end"),
        "udsoncan did not finish: {lines:#?}\n{err}"
    );
    Some(lines)
}

/// Whether `did` is the IO-control target of this profile's active test.
fn own_io_did(d: &Declared, did: u16) -> bool {
    d.requests
        .iter()
        .any(|r| r.first() == Some(&0x2F) && r.get(1..3) == Some(&did.to_be_bytes()[..]))
}

fn outcome(v: &Value) -> String {
    match v["outcome"].as_str().unwrap() {
        "nrc" => format!("nrc {}", v["nrc"].as_str().unwrap()),
        other => other.to_owned(),
    }
}

/// The outcome of each step of one kind, by DID (or `-`).
fn steps<'a>(lines: &'a [Value], step: &str) -> Vec<(&'a str, String)> {
    lines
        .iter()
        .filter(|l| l["step"] == step)
        .map(|l| (l["did"].as_str().unwrap_or("-"), outcome(l)))
        .collect()
}

fn assert_udsoncan_sees_the_profile(profile: &str, scenario: &str) {
    let _one = one_at_a_time();
    let Some(lines) = udsoncan_against_simulate(profile, scenario) else {
        return;
    };
    let d = declared(profile).unwrap();
    let gated = |needs: bool| if needs { "nrc 31" } else { "positive" }.to_owned();
    let want_outside: Vec<(String, String)> = d
        .data
        .iter()
        .map(|(id, needs)| (format!("{id:04X}"), gated(*needs)))
        .collect();
    let got = |step: &str| -> Vec<(String, String)> {
        steps(&lines, step)
            .into_iter()
            .map(|(d, o)| (d.to_owned(), o))
            .collect()
    };
    assert!(!d.data.is_empty(), "{profile} declares no data");
    assert_eq!(
        got("read-default"),
        want_outside,
        "{profile}: before the session"
    );
    assert_eq!(got("session"), [("-".into(), "positive".into())]);
    assert_eq!(got("tester-present"), [("-".into(), "positive".into())]);
    let in_session: Vec<(String, String)> = d
        .data
        .iter()
        .map(|(id, _)| (format!("{id:04X}"), "positive".to_owned()))
        .collect();
    assert_eq!(got("read-session"), in_session, "{profile}: in the session");
    let undeclared = got("read-undeclared");
    assert!(!undeclared.is_empty(), "no DID of another profile to probe");
    for (did, o) in &undeclared {
        assert_eq!(
            o, "nrc 31",
            "{profile}: DID {did}, which it does not declare"
        );
    }
    // Several DIDs in one request (ISO 14229-1 allows it): the same data
    // as one by one.
    if d.data.len() > 1 {
        let several = lines.iter().find(|l| l["step"] == "read-several").unwrap();
        assert_eq!(outcome(several), "positive", "{several}");
        let singles: Vec<&Value> = lines
            .iter()
            .filter(|l| l["step"] == "read-session")
            .map(|l| &l["data"])
            .collect();
        let together: Vec<&Value> = several["data"].as_array().unwrap().iter().collect();
        assert_eq!(together, singles);
    }
    let dtc = lines.iter().find(|l| l["step"] == "dtc-read").unwrap();
    assert_eq!(outcome(dtc), "positive", "{dtc}");
    let declared_dtcs: Vec<String> = d.dtcs.iter().map(|(c, _)| uds_dtc_hex(c)).collect();
    for code in dtc["dtcs"].as_array().unwrap() {
        assert!(
            declared_dtcs.iter().any(|c| c == code),
            "{profile}: trouble code {code} is not among the profile's {declared_dtcs:?}"
        );
    }
    // No request of the profile is an ECU reset: the service is not there.
    assert!(!d.requests.iter().any(|r| r.first() == Some(&0x11)));
    assert_eq!(got("ecu-reset"), [("-".into(), "nrc 11".into())]);
    assert_eq!(got("default-session"), [("-".into(), "positive".into())]);
    assert_eq!(
        got("read-after"),
        want_outside,
        "{profile}: back in the default session"
    );
    let end = lines.last().unwrap();
    assert_eq!(end["bridge"]["refused"], 0, "{end}");
}

/// udsoncan found that the simulator stayed in the extended session after
/// `10 01` (`read-after`) and that it answered the Ford's IO-control DID
/// D103 for every UDS profile (the Kona's `read-undeclared`); both fixed.
#[test]
fn udsoncan_reads_what_the_ford_profile_declares_from_the_simulator() {
    assert_udsoncan_sees_the_profile("ford-fusion-2013-2020", "low-battery");
}

#[test]
fn udsoncan_reads_what_the_kona_profile_declares_from_the_simulator() {
    assert_udsoncan_sees_the_profile("hyundai-kona-2018-2023", "no-fault-found");
}

// ---------------------------------------------------------------------
// (ii) scapy's answering machines as the body module

const NISSAN: &str = "nissan-altima-2013-2018";
const FORD: &str = "ford-fusion-2013-2020";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// The requests the peer ECU heard, in order.
fn requests(heard: &[Value]) -> Vec<String> {
    heard
        .iter()
        .filter_map(|h| h["request"].as_str().map(str::to_owned))
        .collect()
}

/// scapy's KWP answering machine playing the Nissan BCM the profile
/// declares: its ids, its data monitor's local id, and these trouble codes.
fn scapy_nissan(codes: &[String], lockout: bool) -> Option<Peer> {
    let d = declared(NISSAN).unwrap();
    let codes: Vec<String> = codes.iter().map(|c| kwp_dtc_hex(c)).collect();
    let mut args = vec![
        "kwp".to_owned(),
        format!("{:03X}", d.request_id),
        format!("{:03X}", d.response_id),
        format!("{:02X}", d.data[0].0),
        codes.join(","),
    ];
    if lockout {
        args.push("--lockout".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    peer("scapy_ecu.py", &args)
}

/// The Nissan conversation against scapy's KWP answering machine: session
/// 10 C0, trouble codes 18 02 FF 00, the data monitor 21 44 polled, the
/// session left with 10 81; the verdict follows the monitor's lockout bit.
/// The module reports the profile's trouble codes that point to no cause.
#[test]
fn the_nissan_conversation_runs_against_scapys_kwp_answering_machine() {
    let _one = one_at_a_time();
    let d = declared(NISSAN).unwrap();
    let quiet: Vec<String> = d
        .dtcs
        .iter()
        .filter(|(_, cause)| cause.is_none())
        .map(|(c, _)| c.clone())
        .collect();
    assert!(!quiet.is_empty(), "{:?}", d.dtcs);
    for (lockout, want, code) in [(false, "no-fault-found", 0), (true, "valet-lockout", 1)] {
        let Some(ecu) = scapy_nissan(&quiet, lockout) else {
            return;
        };
        let run = trunkdiag(&[
            "diagnose",
            "--iface",
            &ecu.iface,
            "--profile",
            NISSAN,
            "--no-prompt",
            "--listen",
            "4",
            "--timeout",
            "3",
            "--json",
        ]);
        let heard = ecu.stop();
        let report: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
        assert_eq!(report["verdicts"][0]["id"], want, "{report:#}");
        assert_eq!(run.code, code, "{}", run.stderr);
        let asked = requests(&heard);
        let monitor = hex(&[0x21, u8::try_from(d.data[0].0).unwrap()]);
        assert_eq!(asked.first().map(String::as_str), Some(&*hex(&d.session)));
        let dtc_read = d
            .requests
            .iter()
            .find(|r| r.first() == Some(&0x18))
            .unwrap();
        assert!(asked.contains(&hex(dtc_read)), "{asked:?}");
        assert!(
            asked.iter().filter(|r| **r == monitor).count() >= 7,
            "{asked:?}"
        );
        assert_eq!(asked.last().map(String::as_str), Some("1081"), "{asked:?}");
        // Every answer trunkdiag got was scapy's, none a general reject.
        for h in &heard {
            assert!(!h["reply"][0].as_str().unwrap().starts_with("7F"), "{h}");
        }
        let read: Vec<&str> = report["dtcs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["code"].as_str())
            .collect();
        assert_eq!(read, quiet, "{report:#}");
    }
}

/// `dtc read` against scapy's KWP module: every code the profile declares.
#[test]
fn dtc_read_gets_the_nissan_codes_from_scapys_kwp_answering_machine() {
    let _one = one_at_a_time();
    let d = declared(NISSAN).unwrap();
    let all: Vec<String> = d.dtcs.iter().map(|(c, _)| c.clone()).collect();
    let Some(ecu) = scapy_nissan(&all, false) else {
        return;
    };
    let run = trunkdiag(&[
        "dtc",
        "read",
        "--iface",
        &ecu.iface,
        "--profile",
        NISSAN,
        "--json",
    ]);
    let heard = ecu.stop();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out: Value = serde_json::from_str(&run.stdout).unwrap();
    let read: Vec<&str> = out["dtcs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert_eq!(read, all, "{out:#}");
    assert_eq!(
        requests(&heard),
        [hex(&d.session), "1802FF00".into(), "1081".into()]
    );
}

/// The Nissan's keep-alive: a profile of the Nissan's body module alone
/// (its [bcm] from the profile's layout, no data item to poll), so the
/// session is held by `3E 01` alone through the listen; scapy's KWP_TPPR
/// answers `7E` without the echo byte (ISO 14230-3's form), which the
/// profile's `7E 01` does not show and trunkdiag takes.
#[test]
fn the_nissan_keep_alive_holds_scapys_kwp_session() {
    let _one = one_at_a_time();
    let d = declared(NISSAN).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("nissan-bcm-alone.toml");
    std::fs::write(&profile, bcm_alone(NISSAN)).unwrap();
    let Some(ecu) = scapy_nissan(&[], false) else {
        return;
    };
    let run = trunkdiag(&[
        "diagnose",
        "--iface",
        &ecu.iface,
        "--profile",
        profile.to_str().unwrap(),
        "--no-prompt",
        "--listen",
        "5",
        "--timeout",
        "3",
        "--json",
    ]);
    let heard = ecu.stop();
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let asked = requests(&heard);
    let keep_alive = hex(&d.keep_alive);
    assert_eq!(asked.first(), Some(&hex(&d.session)), "{asked:?}");
    assert!(
        asked.iter().filter(|r| **r == keep_alive).count() >= 2,
        "{asked:?}"
    );
    assert_eq!(asked.last().map(String::as_str), Some("1081"), "{asked:?}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        report["source"]["notes"],
        serde_json::json!([]),
        "{report:#}"
    );
}

/// A profile of `name`'s body module alone: its [profile] identity, its
/// buses and its [bcm] (from the profile or its layouts), nothing else.
fn bcm_alone(name: &str) -> String {
    let t = profile_toml(name);
    let mut out = toml::Table::new();
    let mut identity = t["profile"].as_table().unwrap().clone();
    identity.remove("layouts");
    identity.remove("vin");
    identity.insert("id".into(), format!("{name}-bcm-alone").into());
    out.insert("profile".into(), identity.into());
    out.insert("bus".into(), t["bus"].clone());
    out.insert("bcm".into(), t["bcm"].clone());
    toml::to_string(&out).unwrap()
}

/// trunkdiag's `request` and `dtc read` against scapy's UDS answering
/// machine playing the Ford's body module (its ids, DIDs and trouble codes
/// from the profile; scapy's own session states): a DID needs session 03,
/// `request --session 03` opens it and restores the default session after.
#[test]
fn request_and_dtc_read_against_scapys_uds_answering_machine() {
    let _one = one_at_a_time();
    let d = declared(FORD).unwrap();
    let dids: Vec<String> = d.data.iter().map(|(id, _)| format!("{id:04X}")).collect();
    let codes: Vec<String> = d.dtcs.iter().map(|(c, _)| uds_dtc_hex(c)).collect();
    let (tx, rx) = (
        format!("{:03X}", d.request_id),
        format!("{:03X}", d.response_id),
    );
    let Some(ecu) = peer(
        "scapy_ecu.py",
        &["uds", &tx, &rx, &dids.join(","), &codes.join(",")],
    ) else {
        return;
    };
    let link = ["request", "--iface", &ecu.iface, "--tx", &tx, "--rx", &rx];
    let did = &dids[1];
    // scapy's module answers a DID with the DID's two bytes reversed.
    let value = format!("{}{}", &did[2..], &did[..2]);
    let session = format!("{:02X}", d.session[1]);
    let read = format!("22{did}");
    let inside = trunkdiag(&[&link[..], &["--session", &session, &read, "--json"]].concat());
    assert_eq!(inside.code, 0, "{}", inside.stderr);
    assert!(
        inside.stdout.contains(&format!("62{did}{value}")),
        "{}",
        inside.stdout
    );
    let outside = trunkdiag(&[&link[..], &[read.as_str()]].concat());
    assert_eq!(outside.code, 0, "{}", outside.stderr);
    assert!(outside.stdout.contains("7F2231"), "{}", outside.stdout);
    assert!(
        outside.stdout.contains("requestOutOfRange"),
        "{}",
        outside.stdout
    );
    let dtcs = trunkdiag(&[
        "dtc",
        "read",
        "--iface",
        &ecu.iface,
        "--profile",
        FORD,
        "--json",
    ]);
    let heard = ecu.stop();
    assert_eq!(dtcs.code, 0, "{}", dtcs.stderr);
    let out: Value = serde_json::from_str(&dtcs.stdout).unwrap();
    let got: Vec<&str> = out["dtcs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    let want: Vec<&str> = d.dtcs.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(got, want);
    let session_req = hex(&d.session);
    assert_eq!(
        requests(&heard),
        [
            session_req.clone(),
            read.clone(),
            "1001".into(),
            read,
            session_req,
            hex(d
                .requests
                .iter()
                .find(|r| r.first() == Some(&0x19))
                .unwrap()),
            "1001".into()
        ]
    );
}

// ---------------------------------------------------------------------
// (iii) python-uds-server as the body module, its S3 of 5 s included

/// python-uds-server playing the Ford's body module: its ids, session,
/// DIDs (readable in that session only) and trouble codes from the
/// profile.
fn uds_server_ford() -> Option<(Peer, Declared)> {
    let d = declared(FORD).unwrap();
    let dids: Vec<String> = d.data.iter().map(|(id, _)| format!("{id:04X}")).collect();
    let codes: Vec<String> = d.dtcs.iter().map(|(c, _)| uds_dtc_hex(c)).collect();
    let peer = peer(
        "uds_server_ecu.py",
        &[
            &format!("{:03X}", d.request_id),
            &format!("{:03X}", d.response_id),
            &format!("{:02X}", d.session[1]),
            &dids.join(","),
            &codes.join(","),
        ],
    )?;
    Some((peer, d))
}

/// `request` reads a DID in the module's session and the VIN outside it,
/// `dtc read` the declared codes, each request in the session it needs.
#[test]
fn request_and_dtc_read_against_python_uds_server() {
    let _one = one_at_a_time();
    let Some((ecu, d)) = uds_server_ford() else {
        return;
    };
    let (tx, rx) = (
        format!("{:03X}", d.request_id),
        format!("{:03X}", d.response_id),
    );
    let link = ["request", "--iface", &ecu.iface, "--tx", &tx, "--rx", &rx];
    let did = format!("{:04X}", d.data[0].0);
    let value = format!("{}{}", &did[2..], &did[..2]);
    let session = format!("{:02X}", d.session[1]);
    let read = format!("22{did}");
    let inside = trunkdiag(&[&link[..], &["--session", &session, &read]].concat());
    assert_eq!(inside.code, 0, "{}", inside.stderr);
    assert!(
        inside.stdout.contains(&format!("62{did}{value}")),
        "{}",
        inside.stdout
    );
    let vin = trunkdiag(&[&link[..], &["22F190"]].concat());
    assert!(
        vin.stdout.contains(&hex(b"3FA6P0H79HR000001")),
        "{}",
        vin.stdout
    );
    let dtcs = trunkdiag(&[
        "dtc",
        "read",
        "--iface",
        &ecu.iface,
        "--profile",
        FORD,
        "--json",
    ]);
    let heard = ecu.stop();
    assert_eq!(dtcs.code, 0, "{}", dtcs.stderr);
    let out: Value = serde_json::from_str(&dtcs.stdout).unwrap();
    let got: Vec<&str> = out["dtcs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    let want: Vec<&str> = d.dtcs.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(got, want);
    // No request was refused: each came in the session it needs.
    for h in &heard {
        assert!(
            !h["reply"].as_str().unwrap().starts_with("7F"),
            "{heard:#?}"
        );
    }
}

/// `diagnose` with the Ford's body module alone (no data item to poll)
/// holds python-uds-server's extended session through a listen longer than
/// the server's S3 (5 s) with tester present alone: every request after
/// the session start, the last one more than S3 after it, finds the server
/// still in the session.
#[test]
fn diagnose_holds_python_uds_servers_session_past_its_s3_with_tester_present() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("ford-bcm-alone.toml");
    std::fs::write(&profile, bcm_alone(FORD)).unwrap();
    let Some((ecu, d)) = uds_server_ford() else {
        return;
    };
    let run = trunkdiag(&[
        "diagnose",
        "--iface",
        &ecu.iface,
        "--profile",
        profile.to_str().unwrap(),
        "--no-prompt",
        "--listen",
        "8",
        "--timeout",
        "3",
        "--json",
    ]);
    let heard = ecu.stop();
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let session = hex(&d.session);
    let start = heard
        .iter()
        .position(|h| h["request"] == *session)
        .unwrap_or_else(|| panic!("no session start: {heard:#?}"));
    let opened_at = heard[start]["t"].as_f64().unwrap();
    let keep_alive = hex(&d.keep_alive);
    let (last_request, held) = heard[start + 1..].split_last().unwrap();
    let kept: Vec<&Value> = held
        .iter()
        .filter(|h| h["request"] == *keep_alive)
        .collect();
    assert!(kept.len() >= 3, "{heard:#?}");
    let s3 = 5.0;
    let last = kept.last().unwrap()["t"].as_f64().unwrap();
    assert!(
        last - opened_at > s3,
        "the run did not outlast S3: {heard:#?}"
    );
    let in_session = format!("{:02X}", d.session[1]);
    for h in held {
        assert_eq!(h["session"], *in_session, "the session lapsed: {heard:#?}");
    }
    // Then the default session, asked for by trunkdiag, not fallen back to.
    assert_eq!(last_request["request"], "1001", "{heard:#?}");
}

// ---------------------------------------------------------------------
// (iv) gallia both ways, through tcp-lines linked to the bus

/// A free TCP port on loopback (bound, then let go for gallia to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The gallia command of the peers' venv.
fn gallia() -> Option<Command> {
    let python = common::py_peers()?;
    Some(Command::new(python.with_file_name("gallia")))
}

/// Waits until something listens on `port` (gallia's vecu starting).
fn wait_listening(port: u16, what: &mut Reaped) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = what.0.try_wait() {
            panic!("gallia's vecu exited: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("gallia's vecu never listened on {port}");
}

/// gallia's random virtual ECU (`gallia script vecu rng`), its seed fixed,
/// with the sessions 01 and 03 and the services a body module's client
/// needs, every DID readable; trunkdiag's `request` and `dtc read` reach
/// it through can-isotp on the bus. What trunkdiag printed is what the vecu
/// sent, as the link saw it; the sessions trunkdiag opened are the ones
/// the vecu reports (`22 F186`, its active session).
#[test]
fn trunkdiag_reads_dids_sessions_and_codes_from_gallias_vecu() {
    let _one = one_at_a_time();
    let Some(mut vecu) = gallia() else {
        return;
    };
    let port = free_port();
    let mut vecu = Reaped(
        vecu.args(["script", "vecu", "rng", "--seed", "7"])
            .args(["--mandatory-sessions", "1", "3", "--optional-sessions"])
            .args(["--mandatory-services", "DiagnosticSessionControl"])
            .args([
                "ReadDataByIdentifier",
                "TesterPresent",
                "ReadDTCInformation",
            ])
            .args(["--p-service", "0", "--p-identifier", "1"])
            .args(["--no-volatile-info", &format!("tcp://127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(port, &mut vecu);
    let port_s = port.to_string();
    let Some(link) = peer("gallia_link.py", &["ecu", &port_s, "7E0", "7E8"]) else {
        return;
    };
    let ask = [
        "request",
        "--iface",
        &link.iface,
        "--tx",
        "7E0",
        "--rx",
        "7E8",
    ];
    let runs = [
        trunkdiag(&[&ask[..], &["--session", "03", "22F186"]].concat()),
        trunkdiag(&[&ask[..], &["22F186"]].concat()),
        trunkdiag(&[&ask[..], &["--session", "03", "22F190"]].concat()),
        trunkdiag(&[&ask[..], &["1902FF"]].concat()),
    ];
    let carried = link.stop();
    for r in &runs {
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    }
    let response = |r: &common::run::Run| -> String {
        r.stdout
            .lines()
            .find_map(|l| l.strip_prefix("response: "))
            .unwrap_or_else(|| panic!("{}", r.stdout))
            .to_owned()
    };
    // The active session, as the vecu reports it.
    assert_eq!(response(&runs[0]), "62F18603");
    assert_eq!(response(&runs[1]), "62F18601");
    // Each answer trunkdiag printed is the one the vecu gave.
    let from_vecu: Vec<&str> = carried
        .iter()
        .filter(|c| c["to"] == "bus")
        .filter_map(|c| c["hex"].as_str())
        .collect();
    let to_vecu: Vec<&str> = carried
        .iter()
        .filter(|c| c["to"] == "gallia")
        .filter_map(|c| c["hex"].as_str())
        .collect();
    assert_eq!(
        to_vecu,
        ["1003", "22F186", "1001", "22F186", "1003", "22F190", "1001", "1902FF"]
    );
    for r in &runs {
        assert!(from_vecu.contains(&response(r).as_str()), "{from_vecu:?}");
    }
    // The trouble codes: as many as the vecu's report holds (3 bytes and a
    // status each, after 59 02 and the availability mask).
    let report = response(&runs[3]);
    let codes = runs[3]
        .stdout
        .lines()
        .filter(|l| l.starts_with("  ") && l.contains("status"))
        .count();
    assert_eq!(codes, (report.len() / 2 - 3) / 4, "{}", runs[3].stdout);
    assert!(codes > 0, "{}", runs[3].stdout);
}

/// gallia's findings, from its `[result]` log lines: per session, the
/// services (`[0x22] ReadDataByIdentifier: ...`) or the identifiers
/// (`0xd100: ReadDataByIdentifierResponse(...)`).
fn gallia_findings(log: &str) -> std::collections::BTreeMap<u8, Vec<u16>> {
    let mut found = std::collections::BTreeMap::new();
    let mut session = None;
    for line in log.lines() {
        let Some((_, result)) = line.split_once("[result]: ") else {
            continue;
        };
        let result = result.trim();
        let parse = |s: &str| u16::from_str_radix(s.trim_start_matches("0x"), 16).ok();
        if let Some(s) = result
            .strip_prefix("findings in session ")
            .or_else(|| result.strip_prefix("Starting scan in session: "))
        {
            session = parse(s.trim_end_matches(':')).and_then(|s| u8::try_from(s).ok());
            found.entry(session.unwrap()).or_insert_with(Vec::new);
        } else if let Some(rest) = result.strip_prefix('[') {
            let id = rest.split(']').next().and_then(parse);
            found.get_mut(&session.unwrap()).unwrap().extend(id);
        } else if result.contains("ReadDataByIdentifierResponse") {
            let id = result.split(':').next().and_then(parse);
            found.get_mut(&session.unwrap()).unwrap().extend(id);
        }
    }
    found
}

/// gallia's service scan and DID scan of the simulated Ford's body module,
/// in the default session and the profile's: they find exactly what the
/// profile names. Services: session control and tester present, and the
/// service of every request the profile names (in both sessions: the
/// simulator answers a named service outside the session with a negative
/// answer other than serviceNotSupported, which gallia counts as there).
/// DIDs (scanned around the profile's): the data items and the active
/// test's IO-control DID, in the session only.
///
/// gallia found that the simulator answered ClearDiagnosticInformation
/// (14), which the Ford profile does not name; fixed (a service the
/// profile names no request of is serviceNotSupported).
#[test]
fn gallias_scans_of_the_simulator_find_what_the_ford_profile_declares() {
    let _one = one_at_a_time();
    let d = declared(FORD).unwrap();
    let session = d.session[1];
    let (tx, rx) = (
        format!("{:03X}", d.request_id),
        format!("{:03X}", d.response_id),
    );
    let port = free_port().to_string();
    let Some(link) = peer("gallia_link.py", &["tester", &port, &tx, &rx]) else {
        return;
    };
    let _sim = trunkdiag_spawn(&[
        "simulate",
        "--profile",
        FORD,
        "--scenario",
        "no-fault-found",
        "--iface",
        &link.iface,
        "--p2-ms",
        "0",
        "--duration",
        "120",
    ]);
    let target = format!("tcp-lines://127.0.0.1:{port}");
    let sessions = ["1".to_owned(), session.to_string()];
    let mut services: Vec<u16> = d
        .requests
        .iter()
        .filter_map(|r| r.first().map(|&s| u16::from(s)))
        .chain(d.data.iter().map(|_| 0x22))
        .chain([0x10, 0x3E])
        .collect();
    services.sort_unstable();
    services.dedup();
    let mut dids: Vec<u16> = d.data.iter().map(|(id, _)| *id).collect();
    dids.extend(
        d.requests
            .iter()
            .filter(|r| r.first() == Some(&0x2F) && r.len() >= 3)
            .map(|r| u16::from_be_bytes([r[1], r[2]])),
    );
    dids.sort_unstable();
    dids.dedup();
    let (start, end) = (
        dids[0].saturating_sub(0x100),
        dids[dids.len() - 1].saturating_add(0x100),
    );
    let scan = |what: &[&str]| -> String {
        let out = gallia()
            .unwrap()
            .args(["scan", "uds"])
            .args(what)
            .args(["--target", &target, "--sessions"])
            .args(&sessions)
            .args(["--timeout", "1", "--no-volatile-info"])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{log}");
        log
    };
    let service_log = scan(&["services"]);
    let did_log = scan(&[
        "identifiers",
        "--start",
        &start.to_string(),
        "--end",
        &end.to_string(),
    ]);
    drop(link);
    let found = gallia_findings(&service_log);
    let want: std::collections::BTreeMap<u8, Vec<u16>> =
        [(1, services.clone()), (session, services)].into();
    assert_eq!(found, want, "{service_log}");
    let found = gallia_findings(&did_log);
    let want: std::collections::BTreeMap<u8, Vec<u16>> = [(1, vec![]), (session, dids)].into();
    assert_eq!(found, want, "{did_log}");
}
