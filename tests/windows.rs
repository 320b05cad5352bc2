//! The Windows build (`scripts/windows-build`) run under Wine: it must
//! give what the Linux binary gives. See `tests/common/wine.rs`.

mod common;

use common::wine::Wine;

#[test]
fn the_exe_runs_the_readme_simulation() {
    let Some(wine) = Wine::get() else { return };
    let out = wine.run(&[
        "diagnose",
        "--sim",
        "valet-lockout",
        "--profile",
        "nissan-altima-2013-2018",
        "--no-prompt",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("Verdict: valet-lockout"), "{stdout}");
}
