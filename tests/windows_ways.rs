//! Where Windows differs, checked on Linux and with the Windows build under
//! Wine (`scripts/windows-build`, `tests/common/wine.rs`):
//!
//! - `adapters --probe` names what is on each serial port: ELM327-emulator
//!   as an ELM327 (with its `ATI` line), its SLCAN mode as SLCAN (with its
//!   version), a silent port as unknown and (on Linux: Wine does not refuse
//!   a second open of a COM port as Windows does) a port another program
//!   holds as busy; on Linux the ptys are named on the command line, under Wine they
//!   are COM ports registered the way Wine maps ports
//!   (`HKLM\Software\Wine\Ports`), so the exe finds them in the list
//!   Windows keeps (`HKLM\HARDWARE\DEVICEMAP\SERIALCOMM`);
//! - Ctrl-C in the middle of a live diagnosis ends it the same way on both:
//!   the same exit code and `interrupted` message, the session left (the
//!   adapter hears `10 81`), the recording kept. Under Wine the interrupt is
//!   a SIGINT to the exe's process, which Wine turns into the console's
//!   CTRL_C_EVENT;
//! - `completions powershell` registers a completer for `trunkdiag` naming
//!   every subcommand, the same text from the exe as from the Linux binary.
//!
//! Without Wine, socat or the Python peers a test is a `common::skip`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::elm::{tcp_elm, Heard};
use common::emulated::emulated_car;
use common::pty::{pty_pair, Reaped};
use common::wine::Wine;

const PROFILE: &str = "nissan-altima-2013-2018";

fn linux(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The line of the listing for `port`.
fn line_of<'a>(listing: &'a str, port: &str) -> &'a str {
    listing
        .lines()
        .find(|l| l.split_whitespace().next() == Some(port))
        .unwrap_or_else(|| panic!("no line for {port} in:\n{listing}"))
}

/// Holds `path` the way another serial program does (an exclusive flock,
/// what serialport takes; TIOCEXCL does not stop root) until dropped.
fn hold(path: &Path) -> Reaped {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import fcntl, os, sys, time\n\
             fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)\n\
             fcntl.flock(fd, fcntl.LOCK_EX)\n\
             print('held', flush=True)\n\
             time.sleep(120)",
        ])
        .arg(path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready.trim(), "held");
    Reaped(child)
}

#[test]
fn adapters_probe_names_each_port_on_linux() {
    let Some(elm) = emulated_car("elm", false) else {
        return;
    };
    let Some(slcan) = emulated_car("slcan", false) else {
        return;
    };
    let Some(silent) = pty_pair() else { return };
    let Some(held) = pty_pair() else { return };
    let _holder = hold(&held.ours);
    let ports: Vec<String> = [&elm.pty.ours, &slcan.pty.ours, &silent.ours, &held.ours]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec!["adapters"];
    args.extend(ports.iter().map(String::as_str));
    let started = Instant::now();
    let out = linux(&args);
    let took = started.elapsed();
    let listing = text(&out.stdout);
    assert!(out.status.success(), "{listing}{}", text(&out.stderr));
    let elm_line = line_of(&listing, &ports[0]);
    assert!(
        elm_line.contains("ELM327 adapter (ELM327 v1.5)")
            && elm_line.contains(&format!("(--iface elm327:{})", ports[0])),
        "{listing}"
    );
    let slcan_line = line_of(&listing, &ports[1]);
    assert!(
        slcan_line.contains("SLCAN adapter (version V1013)")
            && slcan_line.contains(&format!("(--iface slcan:{})", ports[1])),
        "{listing}"
    );
    assert!(
        line_of(&listing, &ports[2]).contains("unknown: no answer to V or ATI at 38400 baud"),
        "{listing}"
    );
    assert!(
        line_of(&listing, &ports[3]).contains("busy: another program has it open"),
        "{listing}"
    );
    // Side by side, each within its time limit.
    assert!(took < Duration::from_secs(5), "the probes took {took:?}");
}

/// A prefix of this test's own, copied from the tests' prefix (hard links,
/// the registry files copied), so that its wineserver can be restarted
/// without stopping the other tests' Wine processes.
struct OwnPrefix {
    dir: tempfile::TempDir,
}

impl OwnPrefix {
    fn new(wine: &Wine) -> OwnPrefix {
        let dir = tempfile::Builder::new()
            .prefix("wine-ports")
            .tempdir_in(wine.prefix.parent().unwrap())
            .unwrap();
        let copy = dir.path().join("prefix");
        let status = Command::new("cp")
            .arg("-al")
            .arg(&wine.prefix)
            .arg(&copy)
            .status()
            .unwrap();
        assert!(status.success(), "cp -al of the Wine prefix");
        for reg in ["system.reg", "user.reg", "userdef.reg"] {
            let p = copy.join(reg);
            let bytes = std::fs::read(&p).unwrap();
            std::fs::remove_file(&p).unwrap();
            std::fs::write(&p, bytes).unwrap();
        }
        OwnPrefix { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("prefix")
    }

    fn wine(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("WINEPREFIX", self.path()).env("WINEDEBUG", "-all");
        c
    }

    /// COM`n` on `device`, as a Wine user maps a port: the registry's
    /// `Software\Wine\Ports`, read by Wine's mount manager when the
    /// wineserver starts (so it is restarted).
    fn map_ports(&self, ports: &[(u32, &Path)]) {
        for (n, device) in ports {
            let device = std::fs::canonicalize(device).unwrap();
            let out = self
                .wine("wine")
                .args(["reg", "add", r"HKLM\Software\Wine\Ports", "/f", "/v"])
                .arg(format!("COM{n}"))
                .arg("/d")
                .arg(&device)
                .output()
                .unwrap();
            assert!(out.status.success(), "reg add: {}", text(&out.stderr));
        }
        let _ = self.wine("wineserver").arg("-k").status();
        let _ = self.wine("wineserver").arg("-w").status();
    }

    fn run(&self, wine: &Wine, args: &[&str]) -> Output {
        self.wine("wine")
            .arg(&wine.exe)
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for OwnPrefix {
    fn drop(&mut self) {
        let _ = self.wine("wineserver").arg("-k").status();
    }
}

#[test]
fn adapters_lists_and_probes_com_ports_under_wine() {
    let Some(wine) = Wine::get() else { return };
    let Some(elm) = emulated_car("elm", false) else {
        return;
    };
    let Some(slcan) = emulated_car("slcan", false) else {
        return;
    };
    let Some(silent) = pty_pair() else { return };
    let prefix = OwnPrefix::new(&wine);
    prefix.map_ports(&[(5, &elm.pty.ours), (6, &slcan.pty.ours), (7, &silent.ours)]);

    // The list: every mapped port, no probe.
    let out = prefix.run(&wine, &["adapters"]);
    let listing = text(&out.stdout);
    assert!(out.status.success(), "{listing}{}", text(&out.stderr));
    for port in ["COM5", "COM6", "COM7"] {
        assert!(
            line_of(&listing, port).contains(&format!("(--iface elm327:{port} or slcan:{port})")),
            "{listing}"
        );
    }
    assert!(
        text(&out.stderr).contains("--probe"),
        "{}",
        text(&out.stderr)
    );

    // The probe: what each one is.
    let out = prefix.run(&wine, &["adapters", "--probe"]);
    let listing = text(&out.stdout);
    assert!(out.status.success(), "{listing}{}", text(&out.stderr));
    assert!(
        line_of(&listing, "COM5").contains("ELM327 adapter (ELM327 v1.5)  (--iface elm327:COM5)"),
        "{listing}"
    );
    assert!(
        line_of(&listing, "COM6").contains("SLCAN adapter (version V1013)  (--iface slcan:COM6)"),
        "{listing}"
    );
    assert!(
        line_of(&listing, "COM7").contains("unknown: no answer to V or ATI at 38400 baud"),
        "{listing}"
    );
    // Busy is checked on Linux only: Wine lets a second Windows process
    // open a COM port another holds (Windows refuses it, access denied).
}

// ---------------------------------------------------------------------
// Ctrl-C

/// The scripted WiFi ELM327 in front of the Nissan BCM: session, codes,
/// the data monitor (no press), leaving the session.
const BCM: &[(&str, &str)] = &[
    ("10C0", "765 02 50 C0"),
    ("1081", "765 02 50 81"),
    ("3E01", "765 02 7E 01"),
    ("1802FF00", "765 02 58 00"),
    ("2144", "765 04 61 44 00 00"),
];

fn diagnose_args(port: u16, record: &str) -> Vec<String> {
    [
        "diagnose",
        "--iface",
        &format!("elm327:tcp:127.0.0.1:{port}"),
        "--no-prompt",
        "--profile",
        PROFILE,
        "--listen",
        "60",
        "--record",
        record,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Waits (bounded) until the adapter has heard the BCM's data monitor
/// twice: the diagnosis is listening.
fn wait_monitoring(heard: &Heard, child: &mut Child) {
    let start = Instant::now();
    while heard
        .lock()
        .unwrap()
        .iter()
        .filter(|c| *c == "2144")
        .count()
        < 2
    {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the diagnosis ended ({status}) before it listened");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the diagnosis never monitored: {:?}",
            heard.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What an interrupted run left: exit code, its `interrupted` line, what
/// the adapter heard after the interrupt, the recording's frames.
#[derive(Debug)]
struct Interrupted {
    code: Option<i32>,
    message: String,
    after: Vec<String>,
    recorded: usize,
}

fn sigint(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -INT {pid}");
}

fn finish(mut child: Child, heard: &Heard, at: usize, record: &Path) -> Interrupted {
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the interrupted run did not end within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    // The error line trunkdiag ends with (the log line before it carries
    // a time).
    let message = err
        .lines()
        .find(|l| l.starts_with("trunkdiag: error:") && l.contains("interrupted"))
        .unwrap_or_else(|| panic!("no `interrupted` error line in: {err}"))
        .trim()
        .to_owned();
    let after = heard.lock().unwrap()[at..].to_vec();
    let cat = linux(&["capture", "cat", &record.display().to_string()]);
    assert!(
        cat.status.success(),
        "the recording does not read: {}",
        text(&cat.stderr)
    );
    let recorded = text(&cat.stdout)
        .lines()
        .filter(|l| l.starts_with('('))
        .count();
    Interrupted {
        code: status.code(),
        message,
        after,
        recorded,
    }
}

/// The pid of the Windows process running `exe` under Wine: `wine` execs
/// its loader in place, so the child's own pid once it runs the exe; found
/// by the exe's name among processes otherwise.
fn exe_pid(child: &Child) -> u32 {
    let own = std::fs::read_to_string(format!("/proc/{}/cmdline", child.id())).unwrap_or_default();
    if own.contains("trunkdiag.exe") {
        return child.id();
    }
    let out = Command::new("pgrep")
        .args(["-f", "trunkdiag.exe diagnose"])
        .output()
        .unwrap();
    text(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no process runs trunkdiag.exe ({own:?})"))
}

#[test]
fn ctrl_c_ends_a_live_diagnosis_the_same_under_wine_as_on_linux() {
    let Some(wine) = Wine::get() else { return };
    let dir = tempfile::tempdir().unwrap();

    // Linux: SIGINT, as Ctrl-C in a terminal sends.
    let (port, heard) = tcp_elm(BCM);
    let record = dir.path().join("linux.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
        .args(diagnose_args(port, &record.display().to_string()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_monitoring(&heard, &mut child);
    let at = heard.lock().unwrap().len();
    sigint(child.id());
    let on_linux = finish(child, &heard, at, &record);

    // The exe under Wine: the same SIGINT to its process.
    let (port, heard) = tcp_elm(BCM);
    let record = dir.path().join("wine.log");
    let mut child = wine
        .command()
        .args(diagnose_args(
            port,
            &(wine.windows_path(dir.path()) + "\\wine.log"),
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_monitoring(&heard, &mut child);
    let at = heard.lock().unwrap().len();
    sigint(exe_pid(&child));
    let under_wine = finish(child, &heard, at, &record);

    for run in [&on_linux, &under_wine] {
        assert!(
            run.after.iter().any(|c| c == "1081"),
            "the session was not left: {run:?}"
        );
        assert!(run.recorded > 0, "nothing recorded: {run:?}");
    }
    assert_eq!(
        on_linux.code, under_wine.code,
        "{on_linux:?}\n{under_wine:?}"
    );
    assert_eq!(
        on_linux.message, under_wine.message,
        "{on_linux:?}\n{under_wine:?}"
    );
}

// ---------------------------------------------------------------------
// PowerShell completions

/// The subcommands `trunkdiag --help` lists.
fn subcommands() -> Vec<String> {
    let help = text(&linux(&["--help"]).stdout);
    let names: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_owned)
        .collect();
    assert!(names.len() >= 10, "{help}");
    names
}

#[test]
fn powershell_completions_register_a_completer_naming_every_subcommand() {
    let script = linux(&["completions", "powershell"]);
    assert!(script.status.success(), "{}", text(&script.stderr));
    let script = text(&script.stdout);
    assert!(
        script.contains("Register-ArgumentCompleter -Native -CommandName 'trunkdiag'"),
        "{script}"
    );
    for name in subcommands() {
        assert!(
            script.contains(&format!("[CompletionResult]::new('{name}'")),
            "{name} is not completed:\n{script}"
        );
    }
    // The exe prints the same script (what the Windows archive ships).
    let Some(wine) = Wine::get() else { return };
    let out = wine.run(&["completions", "powershell"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), script);
}
