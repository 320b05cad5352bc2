//! No harm by default, through the built binary: `request` classifies a
//! request before anything is opened or sent, and `diagnose --listen-only`
//! sends nothing.
//!
//! The bus is watched by a scripted WiFi ELM327 on a loopback TCP port: it
//! writes down every command it is given, so a request that reached the
//! bus is a line in its list (an ELM327 sends a request as one frame,
//! exactly the hex it was given).

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use common::run::{json_lines, trunkdiag, Run};

type Heard = Arc<Mutex<Vec<String>>>;

/// A WiFi ELM327 on a loopback port answering a module at 7E0/7E8;
/// returns the port and every command it heard.
fn tcp_elm() -> (u16, Heard) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heard: Heard = Arc::default();
    let log = Arc::clone(&heard);
    std::thread::spawn(move || -> std::io::Result<()> {
        let (mut conn, _) = listener.accept()?;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while conn.read(&mut byte)? == 1 {
            if byte[0] != b'\r' {
                line.push(byte[0]);
                continue;
            }
            let cmd = String::from_utf8_lossy(&line).trim().to_uppercase();
            line.clear();
            log.lock().unwrap().push(cmd.clone());
            let answer = match cmd.as_str() {
                "" => String::new(),
                "ATZ" | "ATI" => "ELM327 v1.5".into(),
                "ATRV" => "12.4V".into(),
                "ATMA" => "?".into(),
                c if c.starts_with("ST") => "?".into(),
                c if c.starts_with("AT") => "OK".into(),
                "1101" => "7E8 02 51 01".into(),
                "14FFFFFF" => "7E8 01 54".into(),
                "2701" => "7E8 06 67 01 11 22 33 44".into(),
                _ => "NO DATA".into(),
            };
            let reply = if answer.is_empty() {
                ">".to_owned()
            } else {
                format!("{answer}\r\r>")
            };
            conn.write_all(reply.as_bytes())?;
        }
        Ok(())
    });
    (port, heard)
}

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
        let (port, heard) = tcp_elm();
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
    let (port, heard) = tcp_elm();
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
    let (port, heard) = tcp_elm();
    let run = request(port, &["--session", "02"], "22F190");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("programming session"), "{}", run.stderr);
    assert!(heard.lock().unwrap().is_empty(), "{:?}", heard);
}

#[test]
fn with_the_flag_and_yes_exactly_the_request_goes() {
    for (req, class, answer) in [("1101", "reset", "5101"), ("14FFFFFF", "clear", "54")] {
        let (port, heard) = tcp_elm();
        let run = request(port, &["--allow", class, "--yes", "--json"], req);
        assert_eq!(run.code, 0, "{req}: {}", run.stderr);
        let out = &json_lines(&run.stdout)[0];
        assert_eq!(out["response"], answer, "{req}: {out}");
        assert_eq!(sent_to_the_bus(&heard), [req], "{req}");
    }
}

#[test]
fn without_a_terminal_a_change_needs_yes() {
    let (port, heard) = tcp_elm();
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
