//! The Python binding's tests (`scripts/py-test`) follow the rule every
//! other test here follows (tests/common/skip.rs): where Python or PyPI is
//! missing they say so and skip, and under `CI=true` they fail instead, so
//! CI never passes Python tests that did not run. Checked with an
//! interpreter that does not exist, which stops the script before it
//! builds or installs anything.

use std::path::Path;
use std::process::{Command, Output};

fn py_test_without_python(ci: bool) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/py-test");
    let mut cmd = Command::new(script);
    cmd.env("TRUNKDIAG_PYTHON", "/nonexistent/python3");
    if ci {
        cmd.env("CI", "true");
    } else {
        cmd.env_remove("CI");
    }
    cmd.output().expect("scripts/py-test runs")
}

#[test]
fn python_tests_fail_under_ci_when_python_is_missing() {
    let out = py_test_without_python(true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit 0 under CI=true: {stderr}");
    assert!(
        stderr.contains("CI=true and the Python tests cannot run: no /nonexistent/python3"),
        "{stderr}"
    );
}

#[test]
fn python_tests_skip_visibly_outside_ci_when_python_is_missing() {
    let out = py_test_without_python(false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.starts_with("SKIPPED the Python tests (scripts/py-test): no /nonexistent/python3"),
        "{stderr}"
    );
}
