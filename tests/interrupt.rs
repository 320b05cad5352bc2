//! A recording survives SIGKILL: `trunkdiag record` and `diagnose --record`
//! killed outright while frames keep coming leave a log that `capture cat`
//! reads whole, every frame whole, none missing in between; and once the bus
//! has been quiet for a moment, every frame received is on disk.
//!
//! The bus is a scripted SLCAN adapter on a pty pair (socat), streaming
//! numbered frames the way a car's body bus does (no SocketCAN needed). The
//! BCM behind it never answers: the diagnosis goes on listening, recording
//! all the while. (SIGTERM and Ctrl-C, which end a run cleanly, are tested
//! with the tester and in the VM.)

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::pty::{pty_pair, read_command};

/// The id of the streamed frames; the data is the frame's number (u64, BE).
const ID: &str = "3A5";
/// Frames streamed per 10 ms: 2000 frames/s, a body bus's rate.
const PER_TICK: u64 = 20;

/// One test at a time: a starved recorder is not what is tested.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The adapter's side: answers every command with a bare CR (the tester's
/// sends included: they are acknowledged, the BCM just never answers); once
/// the channel is open, streams numbered frames, `PER_TICK` every 10 ms,
/// until `limit` frames have gone out (then the bus is quiet) or the pty
/// closes.
fn stream_frames(path: &Path, limit: u64) {
    let open = |p: &Path| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(p)
            .unwrap()
    };
    let mut reader = open(path);
    let port = Arc::new(Mutex::new(open(path)));
    let streaming = Arc::clone(&port);
    std::thread::spawn(move || {
        let mut started = false;
        while let Ok(Some(cmd)) = read_command(&mut reader) {
            let mut w = port.lock().unwrap();
            if w.write_all(b"\r").is_err() {
                return;
            }
            if cmd.starts_with('O') && !started {
                started = true;
                let port = Arc::clone(&streaming);
                std::thread::spawn(move || feed(&port, limit));
            }
        }
    });
}

fn feed(port: &Mutex<std::fs::File>, limit: u64) {
    let mut n = 0u64;
    while n < limit {
        let mut chunk = String::new();
        for _ in 0..PER_TICK.min(limit - n) {
            chunk.push_str(&format!("t{ID}8{n:016X}\r"));
            n += 1;
        }
        // One write per tick, whole lines only, never interleaved with an
        // acknowledgement.
        if port.lock().unwrap().write_all(chunk.as_bytes()).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The streamed frames' numbers in a candump log (other lines skipped).
fn numbers(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.starts_with('('))
        .filter_map(|l| l.split(' ').nth(2)?.strip_prefix(&format!("{ID}#")[..]))
        .map(|d| u64::from_str_radix(d, 16).unwrap())
        .collect()
}

/// Waits (bounded) until `log` holds at least `n` streamed frames.
fn wait_frames(log: &Path, n: usize, child: &mut Child) {
    let start = Instant::now();
    loop {
        let got = numbers(&std::fs::read_to_string(log).unwrap_or_default()).len();
        if got >= n {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("trunkdiag ended ({status}) with {got} frames recorded: {err}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} holds {got} of {n} frames after 30 s",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILLs `child` and checks what it left in `log`: only whole lines,
/// read whole by `capture cat`, the streamed frames numbered 0, 1, 2, ...
/// with none missing or damaged. Returns how many there are.
fn kill_and_check(mut child: Child, log: &Path) -> usize {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let text = std::fs::read_to_string(log).unwrap();
    assert!(
        text.ends_with('\n'),
        "the log ends in a cut line: {:?}",
        text.lines().last()
    );
    let cat = Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
        .args(["capture", "cat"])
        .arg(log)
        .output()
        .unwrap();
    assert!(
        cat.status.success(),
        "capture cat: {}",
        String::from_utf8_lossy(&cat.stderr)
    );
    let frames_in_file = text.lines().filter(|l| l.starts_with('(')).count();
    let catted = String::from_utf8_lossy(&cat.stdout);
    let frames_catted = catted.lines().filter(|l| l.starts_with('(')).count();
    assert_eq!(frames_catted, frames_in_file, "{catted}");
    let got = numbers(&text);
    let want: Vec<u64> = (0..got.len() as u64).collect();
    assert!(got == want, "frames missing or out of order: {got:?}");
    got.len()
}

/// Runs the command `args(iface, log)` on a streaming bus twice: killed
/// while frames keep coming, and killed after the bus went quiet, once every
/// frame sent is on disk (a recorder that holds frames back fails here).
fn sigkill_keeps_every_whole_line(name: &str, args: impl Fn(&str, &str) -> Vec<String>) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    for quiet_after in [None, Some(300)] {
        let Some(pty) = pty_pair() else {
            return;
        };
        stream_frames(&pty.theirs, quiet_after.unwrap_or(u64::MAX));
        let log = pty.dir.path().join(format!("{name}.log"));
        let iface = format!("slcan:{}", pty.ours.display());
        let mut child = spawn(&args(&iface, log.to_str().unwrap()));
        wait_frames(&log, quiet_after.unwrap_or(500) as usize, &mut child);
        let n = kill_and_check(child, &log);
        if let Some(q) = quiet_after {
            assert_eq!(
                n as u64, q,
                "frames recorded of those sent before the bus went quiet"
            );
        }
    }
}

#[test]
fn sigkill_during_record_keeps_every_whole_line() {
    sigkill_keeps_every_whole_line("record", |iface, log| {
        ["record", "--iface", iface, "-o", log]
            .map(String::from)
            .to_vec()
    });
}

/// `diagnose --record`: the BCM never answers, so it listens on.
#[test]
fn sigkill_during_diagnose_record_keeps_every_whole_line() {
    sigkill_keeps_every_whole_line("diagnose", |iface, log| {
        [
            "diagnose",
            "--iface",
            iface,
            "--profile",
            "nissan-altima-2013-2018",
            "--no-prompt",
            "--json",
            "--listen",
            "60",
            "--timeout",
            "0.5",
            "--record",
            log,
        ]
        .map(String::from)
        .to_vec()
    });
}
