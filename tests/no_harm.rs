//! No harm by default, through the built binary: `request` classifies a
//! request before anything is opened or sent, and `diagnose --listen-only`
//! sends nothing.
//!
//! The bus is watched by a scripted WiFi ELM327 on a loopback TCP port: it
//! writes down every command it is given, so a request that reached the
//! bus is a line in its list (an ELM327 sends a request as one frame,
//! exactly the hex it was given). The terminal question and the SLCAN
//! adapter's listen-only opening run on pty pairs made by socat (a
//! `common::skip` without it).

mod common;

use common::elm::{tcp_elm, Heard};
use common::run::{json_lines, trunkdiag, Run};
use std::io::Write;
use std::sync::Arc;

/// The module at 7E0/7E8 behind the scripted adapter: a reset, a clear and
/// a security-access seed, so that a request let through gets an answer.
const MODULE: &[(&str, &str)] = &[
    ("1101", "7E8 02 51 01"),
    ("14FFFFFF", "7E8 01 54"),
    ("2701", "7E8 06 67 01 11 22 33 44"),
];

/// What reached the bus: every command but the adapter's own (AT, ST).
fn sent_to_the_bus(heard: &Heard) -> Vec<String> {
    heard
        .lock()
        .unwrap()
        .iter()
        .filter(|c| !c.is_empty() && !c.starts_with("AT") && !c.starts_with("ST"))
        .cloned()
        .collect()
}

fn request(port: u16, extra: &[&str], req: &str) -> Run {
    let iface = format!("elm327:tcp:127.0.0.1:{port}");
    let mut args = vec!["request", "--iface", &iface, "--tx", "7E0", "--rx", "7E8"];
    args.extend_from_slice(extra);
    args.push(req);
    trunkdiag(&args)
}

#[test]
fn changes_without_their_flag_exit_2_before_anything_is_sent() {
    for (req, flag) in [
        ("1101", "--allow reset"),
        ("14FFFFFF", "--allow clear"),
        ("2EF19001", "--allow write"),
        ("2FD10003FF", "--allow actuate"),
    ] {
        let (port, heard) = tcp_elm(MODULE);
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("run.log");
        let run = request(port, &["--record", rec.to_str().unwrap()], req);
        assert_eq!(run.code, 2, "{req}: {}", run.stderr);
        assert!(run.stderr.contains(flag), "{req}: {}", run.stderr);
        assert!(heard.lock().unwrap().is_empty(), "{req}: {:?}", heard);
        assert!(!rec.exists(), "{req}: the interface was opened");
    }
}

#[test]
fn security_access_is_refused_with_every_flag() {
    let (port, heard) = tcp_elm(MODULE);
    let every = [
        "--allow", "clear", "--allow", "write", "--allow", "actuate", "--allow", "reset", "--yes",
    ];
    for req in ["2701", "1002", "3400", "280301", "8502", "BA"] {
        let run = request(port, &every, req);
        assert_eq!(run.code, 2, "{req}: {}", run.stderr);
        assert!(
            run.stderr.contains("not") || run.stderr.contains("never"),
            "{}",
            run.stderr
        );
    }
    let run = request(port, &[], "2701");
    assert!(
        run.stderr.contains("security access (27)"),
        "{}",
        run.stderr
    );
    assert!(heard.lock().unwrap().is_empty(), "{:?}", heard);
}

#[test]
fn a_programming_session_is_refused_before_the_request() {
    let (port, heard) = tcp_elm(MODULE);
    let run = request(port, &["--session", "02"], "22F190");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("programming session"), "{}", run.stderr);
    assert!(heard.lock().unwrap().is_empty(), "{:?}", heard);
}

#[test]
fn with_the_flag_and_yes_exactly_the_request_goes() {
    for (req, class, answer) in [("1101", "reset", "5101"), ("14FFFFFF", "clear", "54")] {
        let (port, heard) = tcp_elm(MODULE);
        let run = request(port, &["--allow", class, "--yes", "--json"], req);
        assert_eq!(run.code, 0, "{req}: {}", run.stderr);
        let out = &json_lines(&run.stdout)[0];
        assert_eq!(out["response"], answer, "{req}: {out}");
        assert_eq!(sent_to_the_bus(&heard), [req], "{req}");
    }
}

#[test]
fn without_a_terminal_a_change_needs_yes() {
    let (port, heard) = tcp_elm(MODULE);
    let run = request(port, &["--allow", "reset"], "1101");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("no terminal to confirm it, so add --yes"),
        "{}",
        run.stderr
    );
    assert!(heard.lock().unwrap().is_empty(), "{:?}", heard);
}

/// The ids a tester would ask on: the diagnostic range of 11-bit ids and
/// 29-bit physical/functional addressing.
fn is_request_id(id: &str) -> bool {
    match u32::from_str_radix(id, 16) {
        Ok(v) if id.len() <= 3 => (0x700..=0x7FF).contains(&v),
        Ok(v) => (v >> 16) & 0xFFFE == 0x18DA,
        Err(_) => true,
    }
}

/// The ids of every frame in a candump log.
fn ids_in(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let frame = l.split_whitespace().nth(2).unwrap_or_default();
            frame.split('#').next().unwrap_or_default().to_owned()
        })
        .collect()
}

fn listen_only_sim(scenario: &str, profile: &str, rec: &std::path::Path) -> serde_json::Value {
    let run = trunkdiag(&[
        "diagnose",
        "--sim",
        scenario,
        "--profile",
        profile,
        "--listen-only",
        "--no-prompt",
        "--json",
        "--listen",
        "6",
        "--record",
        rec.to_str().unwrap(),
    ]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// A listen-only run against the simulated car sends nothing (its
/// recording, which holds every frame seen and sent, has no frame on a
/// diagnostic id: the simulated BCM answers only what is asked), and
/// still gives the verdict the broadcasts carry, saying what it did not read.
#[test]
fn a_listen_only_diagnosis_sends_nothing_and_decides_from_broadcasts() {
    for (scenario, profile) in [
        ("low-battery", "nissan-altima-2013-2018"),
        ("valet-lockout", "ford-fusion-2013-2020"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("run.log");
        let report = listen_only_sim(scenario, profile, &rec);
        assert_eq!(report["verdicts"][0]["id"], scenario, "{profile}: {report}");
        let ids = ids_in(&rec);
        assert!(
            ids.len() > 20,
            "{profile}: the broadcasts were not heard: {ids:?}"
        );
        let asked: Vec<&String> = ids.iter().filter(|i| is_request_id(i)).collect();
        assert!(asked.is_empty(), "{profile}: {asked:?}");
        let notes = report["source"]["notes"].to_string();
        assert!(
            notes.contains("listen-only: nothing was sent, so the BCM's trouble codes"),
            "{profile}: {notes}"
        );
    }
    // The same scenario without the flag asks the BCM: the check above can
    // see a request when there is one.
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("asked.log");
    let run = trunkdiag(&[
        "diagnose",
        "--sim",
        "low-battery",
        "--profile",
        "nissan-altima-2013-2018",
        "--no-prompt",
        "--json",
        "--listen",
        "2",
        "--record",
        rec.to_str().unwrap(),
    ]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    assert!(ids_in(&rec).iter().any(|i| i == "745"), "no request seen");
}

#[test]
fn listen_only_refuses_what_would_send() {
    let run = trunkdiag(&[
        "diagnose",
        "--sim",
        "no-fault-found",
        "--profile",
        "nissan-altima-2013-2018",
        "--listen-only",
        "--actuate",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--actuate"), "{}", run.stderr);
    // Without a profile and without asking for the VIN: the bus alone
    // names the car (its broadcast frames), and the run goes on.
    let run = trunkdiag(&[
        "diagnose",
        "--sim",
        "no-fault-found",
        "--listen-only",
        "--json",
    ]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let reason = out["profile"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("no VIN; the bus matches nissan-altima"),
        "{reason}"
    );
    assert_eq!(out["profile"]["vin"], serde_json::Value::Null);
    // An ELM327 cannot listen without talking: refused before it is opened.
    let (port, heard) = tcp_elm(MODULE);
    let iface = format!("elm327:tcp:127.0.0.1:{port}");
    let run = trunkdiag(&[
        "diagnose",
        "--iface",
        &iface,
        "--profile",
        "nissan-altima-2013-2018",
        "--listen-only",
        "--no-prompt",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot run listen-only"),
        "{}",
        run.stderr
    );
    assert!(heard.lock().unwrap().is_empty(), "{:?}", heard);
}

/// At a terminal (a pty on stdin), a change asks first: no sends nothing,
/// yes sends exactly the request.
#[test]
fn at_a_terminal_a_change_asks_first() {
    for (answer, code, sent) in [("n\n", 2, 0usize), ("y\n", 0, 1)] {
        let Some(pty) = common::pty::pty_pair() else {
            return;
        };
        let (port, heard) = tcp_elm(MODULE);
        let iface = format!("elm327:tcp:127.0.0.1:{port}");
        let stdin = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&pty.ours)
            .unwrap();
        let mut person = std::fs::OpenOptions::new()
            .write(true)
            .open(&pty.theirs)
            .unwrap();
        person.write_all(answer.as_bytes()).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
            .args([
                "request", "--iface", &iface, "--tx", "7E0", "--rx", "7E8", "--allow", "reset",
                "1101",
            ])
            .env_remove("RUST_LOG")
            .stdin(stdin)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{answer:?}: {stderr}");
        assert!(
            stderr.contains("Send 1101 to the module at 7E0")
                && stderr.contains("restarts the module"),
            "{stderr}"
        );
        assert_eq!(sent_to_the_bus(&heard).len(), sent, "{answer:?}");
    }
}

/// A scripted SLCAN adapter on a pty: answers every command with a CR,
/// and once its channel is open (`O` or `L`) puts a body frame on the line
/// every 50 ms; returns every command it was given.
fn scripted_slcan(path: &std::path::Path) -> Heard {
    let port = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let heard: Heard = Arc::default();
    let log = Arc::clone(&heard);
    std::thread::spawn(move || -> std::io::Result<()> {
        let mut reader = port.try_clone()?;
        let mut writer = port.try_clone()?;
        let mut port = port;
        while let Some(cmd) = common::pty::read_command(&mut reader)? {
            log.lock().unwrap().push(cmd.clone());
            port.write_all(b"\r")?;
            if cmd == "O" || cmd == "L" {
                let mut w = writer.try_clone()?;
                std::thread::spawn(move || loop {
                    // 0x6F6: the Nissan body frame with the battery byte.
                    if w.write_all(b"t6F647C000000\r").is_err() {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                });
            }
            writer.flush()?;
        }
        Ok(())
    });
    heard
}

/// Through an SLCAN adapter, `--listen-only` opens the channel with `L`
/// and no transmit command ever reaches the adapter, for `diagnose` and
/// `record` (`learn` opens its adapter the same way, but its guided
/// session takes half a minute of real time).
#[test]
fn listen_only_opens_an_slcan_adapter_with_l_and_transmits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec.log");
    let out = out.to_str().unwrap();
    for args in [
        &[
            "diagnose",
            "--profile",
            "nissan-altima-2013-2018",
            "--listen-only",
            "--no-prompt",
            "--listen",
            "1",
            "--json",
        ][..],
        &["record", "--listen-only", "--duration", "1", "-o", out][..],
    ] {
        let Some(pty) = common::pty::pty_pair() else {
            return;
        };
        let heard = scripted_slcan(&pty.theirs);
        let iface = format!("slcan:{}", pty.ours.display());
        let mut a = args.to_vec();
        a.splice(1..1, ["--iface", iface.as_str()]);
        let run = trunkdiag(&a);
        assert!(run.code <= 1, "{args:?}: {}", run.stderr);
        let heard = heard.lock().unwrap();
        assert!(heard.iter().any(|c| c == "L"), "{args:?}: {heard:?}");
        assert!(
            !heard
                .iter()
                .any(|c| c == "O" || c.starts_with('t') || c.starts_with('T')),
            "{args:?}: {heard:?}"
        );
    }
}
