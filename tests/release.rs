//! The release archives `scripts/release` leaves in `dist/` (CI runs it
//! before the tests): SHA256SUMS matches them, each holds what the README
//! says and no DLL, and the binaries unpacked from them run: the Windows
//! zip's exe under Wine (in the tests' prefix, nothing beside the exe but
//! what the zip holds), the Linux tarballs' binaries here. Without `dist/`
//! (or with one older than the sources) a visible `common::skip`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::wine::Wine;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// What every archive's folder holds besides the binary.
const SHARED: &[&str] = &[
    "LICENSE-APACHE",
    "LICENSE-MIT",
    "NOTICE",
    "README.md",
    "completions/_trunkdiag",
    "completions/_trunkdiag.ps1",
    "completions/trunkdiag.bash",
    "completions/trunkdiag.fish",
    "trunkdiag.1",
];

const SIM: &[&str] = &[
    "diagnose",
    "--sim",
    "valet-lockout",
    "--profile",
    "nissan-altima-2013-2018",
    "--no-prompt",
];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn dist() -> PathBuf {
    Path::new(ROOT).join("dist")
}

/// `dist/`, when scripts/release made it after the last change to the
/// sources; a skip otherwise.
fn archives() -> Option<PathBuf> {
    let sums = dist().join("SHA256SUMS");
    let how = ".ci/run runs scripts/release before the tests";
    let Ok(made) = fs::metadata(&sums).and_then(|m| m.modified()) else {
        return common::skip(
            "release archives (scripts/release)",
            "dist/SHA256SUMS is missing (run scripts/release)",
            how,
        );
    };
    let mut stack = vec![
        Path::new(ROOT).join("src"),
        Path::new(ROOT).join("vehicles"),
        Path::new(ROOT).join("Cargo.toml"),
        Path::new(ROOT).join("README.md"),
    ];
    while let Some(p) = stack.pop() {
        let Ok(meta) = fs::metadata(&p) else { continue };
        if meta.is_dir() {
            stack.extend(fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else if meta.modified().is_ok_and(|m| m > made) {
            return common::skip(
                "release archives (scripts/release)",
                format!("dist/ is older than {} (run scripts/release)", p.display()),
                how,
            );
        }
    }
    Some(dist())
}

fn folder(target: &str) -> String {
    format!("trunkdiag-{VERSION}-{target}")
}

/// The files (not folders) an archive holds, in its order.
fn listing(archive: &Path) -> Vec<String> {
    let out = if archive.extension().is_some_and(|e| e == "zip") {
        Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile\nfor n in zipfile.ZipFile(sys.argv[1]).namelist(): print(n)",
            ])
            .arg(archive)
            .output()
            .unwrap()
    } else {
        Command::new("tar")
            .arg("-tzf")
            .arg(archive)
            .output()
            .unwrap()
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter(|l| !l.ends_with('/'))
        .map(str::to_owned)
        .collect()
}

fn unpack(archive: &Path, into: &Path) {
    let out = if archive.extension().is_some_and(|e| e == "zip") {
        Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(archive)
            .arg(into)
            .output()
            .unwrap()
    } else {
        Command::new("tar")
            .arg("-xzf")
            .arg(archive)
            .arg("-C")
            .arg(into)
            .output()
            .unwrap()
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The simulated valet lockout's verdict and exit code, and `--version`.
fn check_runs(run: impl Fn(&[&str]) -> Output, what: &str) {
    let out = run(SIM);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: {stdout}{}",
        text(&out.stderr)
    );
    assert!(
        stdout.starts_with("Verdict: valet-lockout"),
        "{what}: {stdout}"
    );
    let out = run(&["--version"]);
    assert_eq!(
        text(&out.stdout).trim(),
        format!("trunkdiag {VERSION}"),
        "{what}"
    );
}

#[test]
fn sha256sums_match_the_archives_and_name_each_one() {
    let Some(dist) = archives() else { return };
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&dist)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
    let sums = fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    let mut listed: Vec<&str> = sums
        .lines()
        .map(|l| {
            let (hash, name) = l.split_once("  ").expect("sha256sum format");
            assert!(
                hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                "{l}"
            );
            name
        })
        .collect();
    listed.sort_unstable();
    let mut files: Vec<String> = fs::read_dir(&dist)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SHA256SUMS")
        .collect();
    files.sort();
    assert_eq!(
        listed, files,
        "SHA256SUMS names every archive, nothing else"
    );
    for needed in [
        format!("{}.tar.gz", folder("x86_64-unknown-linux-gnu")),
        format!("{}.zip", folder("x86_64-pc-windows-gnu")),
    ] {
        assert!(files.contains(&needed), "no {needed} in {files:?}");
    }
}

#[test]
fn each_archive_holds_the_binary_docs_licenses_man_page_and_completions_and_no_dll() {
    let Some(dist) = archives() else { return };
    let mut seen = 0;
    for (target, binary) in [
        ("x86_64-unknown-linux-gnu", "trunkdiag"),
        ("x86_64-unknown-linux-musl", "trunkdiag"),
        ("x86_64-pc-windows-gnu", "trunkdiag.exe"),
    ] {
        let ext = if binary.ends_with(".exe") {
            "zip"
        } else {
            "tar.gz"
        };
        let archive = dist.join(format!("{}.{ext}", folder(target)));
        if !archive.exists() {
            // scripts/release says when the musl target did not install.
            assert!(target.ends_with("musl"), "no {}", archive.display());
            continue;
        }
        seen += 1;
        let files = listing(&archive);
        let mut want: Vec<String> = SHARED
            .iter()
            .chain([&binary])
            .map(|f| format!("{}/{f}", folder(target)))
            .collect();
        want.sort();
        assert_eq!(files, want, "{}", archive.display());
        assert!(
            files.iter().all(|f| !f.to_lowercase().ends_with(".dll")),
            "{files:?}"
        );
    }
    assert!(seen >= 2);
}

#[test]
fn the_linux_binaries_unpacked_from_their_tarballs_run() {
    let Some(dist) = archives() else { return };
    for target in ["x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl"] {
        let archive = dist.join(format!("{}.tar.gz", folder(target)));
        if target.ends_with("musl") && !archive.exists() {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        unpack(&archive, dir.path());
        let bin = dir.path().join(folder(target)).join("trunkdiag");
        check_runs(
            |args| Command::new(&bin).args(args).output().unwrap(),
            target,
        );
        // The man page is the binary's own.
        let man = Command::new(&bin).arg("man").output().unwrap();
        let packed = fs::read(dir.path().join(folder(target)).join("trunkdiag.1")).unwrap();
        assert_eq!(text(&man.stdout), text(&packed), "{target}: trunkdiag.1");
    }
}

#[test]
fn the_exe_unpacked_from_the_zip_runs_under_wine() {
    let Some(dist) = archives() else { return };
    let Some(wine) = Wine::get() else { return };
    let dir = tempfile::tempdir().unwrap();
    let target = "x86_64-pc-windows-gnu";
    unpack(&dist.join(format!("{}.zip", folder(target))), dir.path());
    let unpacked = dir.path().join(folder(target));
    // Only what the zip holds beside the exe: the stand-in DLL Wine 8
    // needs is in the tests' prefix, not here.
    assert!(!unpacked.join("bcryptprimitives.dll").exists());
    let from_zip = Wine {
        exe: unpacked.join("trunkdiag.exe"),
        prefix: wine.prefix.clone(),
    };
    check_runs(|args| from_zip.run(args), "the zip's exe under Wine");
    // Its completions are the ones the zip ships (made by the Linux binary).
    for (shell, file) in [("powershell", "_trunkdiag.ps1"), ("bash", "trunkdiag.bash")] {
        let out = from_zip.run(&["completions", shell]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let packed = fs::read_to_string(unpacked.join("completions").join(file)).unwrap();
        assert_eq!(text(&out.stdout), packed, "{file}");
    }
}
