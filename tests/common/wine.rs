//! The Windows build run under Wine: `scripts/windows-build` cross-compiles
//! `trunkdiag.exe` (x86_64-pc-windows-gnu, mingw-w64) and the test-only
//! `bcryptprimitives.dll` stand-in Wine 8 lacks; [`Wine::get`] finds both
//! and a Wine prefix of the tests' own under `target/wine/prefix`, made once
//! (`wineboot`, under a lock: test binaries and threads run in parallel),
//! with the stand-in in its `system32`, never beside the exe.
//!
//! Without the exe or Wine, a [`skip`] naming what to run (a failure under
//! `CI=true`: `.ci/run` runs `scripts/windows-build` first).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::skip;

const GROUP: &str = "Windows build under Wine";
const HOW: &str = ".ci/run runs scripts/windows-build before the tests";

pub struct Wine {
    /// `target/x86_64-pc-windows-gnu/release/trunkdiag.exe`.
    pub exe: PathBuf,
    /// The tests' Wine prefix (`WINEPREFIX`).
    pub prefix: PathBuf,
}

fn target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target")
}

impl Wine {
    /// The exe and a ready prefix, or a skip saying what is missing.
    pub fn get() -> Option<Wine> {
        let exe = target().join("x86_64-pc-windows-gnu/release/trunkdiag.exe");
        let shim = target().join("x86_64-pc-windows-gnu/wine-shim/bcryptprimitives.dll");
        if !exe.is_file() || !shim.is_file() {
            return skip(
                GROUP,
                format!(
                    "{} or the Wine stand-in is not built (run scripts/windows-build)",
                    exe.display()
                ),
                HOW,
            );
        }
        if Command::new("wine").arg("--version").output().is_err() {
            return skip(
                GROUP,
                "wine is not installed (scripts/windows-build installs it)",
                HOW,
            );
        }
        // An exe older than the sources would test yesterday's code.
        if let Some(stale) = newer_source(&exe) {
            return skip(
                GROUP,
                format!(
                    "{} is older than {} (run scripts/windows-build)",
                    exe.display(),
                    stale.display()
                ),
                HOW,
            );
        }
        let prefix = target().join("wine/prefix");
        ready_prefix(&prefix, &shim);
        // A wineserver that outlives its last client by 30 s, not Wine's
        // default 3: one shutting down just as the next run connects
        // fails that run ("wine client error: ... Connection reset by
        // peer"). Starting it when one already runs changes nothing.
        let _ = Command::new("wineserver")
            .arg("-p30")
            .env("WINEPREFIX", &prefix)
            .status();
        Some(Wine { exe, prefix })
    }

    /// A `wine trunkdiag.exe` command in the tests' prefix, Wine's own
    /// messages off. Its working directory is the crate root.
    pub fn command(&self) -> Command {
        let mut c = Command::new("wine");
        c.arg(&self.exe)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        c
    }

    /// Runs `trunkdiag.exe ARGS` to the end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .expect("wine could not be started")
    }

    /// The Windows path Wine gives a Linux path (`Z:\work\...`).
    pub fn windows_path(&self, path: &Path) -> String {
        let abs = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        format!("Z:{}", abs.display()).replace('/', "\\")
    }

    /// `dosdevices/comN` in the prefix pointing at `device` (a pty): the
    /// exe then opens it as `COMN`.
    pub fn map_com_port(&self, n: u32, device: &Path) {
        let link = self.prefix.join(format!("dosdevices/com{n}"));
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(device, &link).expect("dosdevices link");
    }
}

/// The newest file under `src/` or `vehicles/` newer than `exe`, if any.
fn newer_source(exe: &Path) -> Option<PathBuf> {
    let built = fs::metadata(exe).and_then(|m| m.modified()).ok()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![
        root.join("src"),
        root.join("vehicles"),
        root.join("Cargo.toml"),
    ];
    while let Some(p) = stack.pop() {
        let Ok(meta) = fs::metadata(&p) else { continue };
        if meta.is_dir() {
            if let Ok(rd) = fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else if meta.modified().is_ok_and(|m| m > built) {
            return Some(p);
        }
    }
    None
}

/// Makes the prefix once (`wineboot -i`), under a file lock, and puts the
/// stand-in DLL in its system32.
fn ready_prefix(prefix: &Path, shim: &Path) {
    fs::create_dir_all(prefix.parent().unwrap()).unwrap();
    let lock = fs::File::create(prefix.with_extension("lock")).unwrap();
    lock.lock().expect("lock the Wine prefix");
    let system32 = prefix.join("drive_c/windows/system32");
    if !prefix.join("system.reg").is_file() {
        let status = Command::new("wineboot")
            .arg("-i")
            .env("WINEPREFIX", prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .status()
            .expect("wineboot could not be started");
        assert!(
            status.success(),
            "wineboot -i failed in {}",
            prefix.display()
        );
        // wineboot returns before the prefix is written out.
        let _ = Command::new("wineserver")
            .arg("-w")
            .env("WINEPREFIX", prefix)
            .status();
    }
    let dll = system32.join("bcryptprimitives.dll");
    if fs::read(&dll).ok() != fs::read(shim).ok() {
        fs::copy(shim, &dll).expect("copy the stand-in DLL into system32");
    }
    let _ = lock.unlock();
}
