//! The one way a test says it could not run here (a missing tool, Python
//! peer or recording), so that a skip is never mistaken for a pass.
//!
//! Under `CI=true` a skip is a failure naming what is missing and how CI
//! provides it. Elsewhere the test prints one line at once, on the process's
//! own stderr (libtest captures `eprintln!` of passing tests, not that), and
//! leaves a record in `target/tmp/test-skips/RUN/`, where RUN names the
//! `cargo test` process that runs the binaries (its pid and, on Linux, its
//! start time), so a record of an earlier run is never read as one of this
//! run. `tests/zz_skipped.rs`, the last test binary cargo runs (binaries run
//! in name order), prints one line per skipped group at the end and removes
//! the records.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::in_ci;

/// Ends the running test's attempt to run: under CI a panic, elsewhere a
/// visible line and a record (then `None`, for `let ... else { return }`).
///
/// `group` is what is missing, the same for every test it stops (one line
/// each at the end); `why` is this test's reason; `ci` says how CI has it.
pub fn skip<T>(group: &str, why: impl Display, ci: &str) -> Option<T> {
    let test = test_name();
    assert!(
        !in_ci(),
        "CI=true and {test} cannot run: {why} ({ci}); a skip under CI is a failure"
    );
    // Once per test and group: a loop over recordings says it once.
    static SAID: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());
    let first = SAID
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((test.clone(), group.to_owned()));
    if first {
        let why = why.to_string().replace(['\n', '\t'], " ");
        // Not eprintln!: libtest would capture it and show it only on failure.
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
        record(group, &test, &why);
    }
    None
}

/// `binary::test`, as the summary names it.
fn test_name() -> String {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    format!("{}::{test}", env!("CARGO_CRATE_NAME"))
}

fn records_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-skips")
}

/// The `cargo test` this binary runs under: its parent process.
pub fn run_id() -> String {
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        // Field 22 of /proc/PID/stat, the start time: a reused pid is another run.
        let started = std::fs::read_to_string(format!("/proc/{parent}/stat"))
            .ok()
            .and_then(|stat| {
                let (_, after_name) = stat.rsplit_once(')')?;
                after_name.split_whitespace().nth(19).map(str::to_owned)
            })
            .unwrap_or_default();
        format!("{parent}-{started}")
    }
    #[cfg(not(unix))]
    {
        String::from("run")
    }
}

/// Appends `group \t test \t why` to this run's records; best effort (a
/// read-only target directory, as in the VM, loses the record, not the
/// printed line).
fn record(group: &str, test: &str, why: &str) {
    write_record(&records_root().join(run_id()), group, test, why);
}

/// Appends one skip to the records in `dir` (see [`read_groups`]).
pub fn write_record(dir: &Path, group: &str, test: &str, why: &str) {
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let line = format!("{}\t{test}\t{why}\n", group.replace(['\n', '\t'], " "));
    // One file per binary: each write is one short line in append mode.
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(env!("CARGO_CRATE_NAME")));
    if let Ok(mut file) = file {
        let _ = file.write_all(line.as_bytes());
    }
}

/// One skipped group: what is missing, the tests it stopped, the first reason.
#[derive(Debug, PartialEq)]
pub struct Group {
    pub name: String,
    pub tests: Vec<String>,
    pub why: String,
}

/// The skips recorded in `dir`, grouped, in the order the groups were
/// first met.
pub fn read_groups(dir: &Path) -> Vec<Group> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut groups: Vec<Group> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for line in text.lines() {
            let mut fields = line.splitn(3, '\t');
            let (Some(name), Some(test), Some(why)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            match groups.iter_mut().find(|g| g.name == name) {
                Some(g) if g.tests.iter().any(|t| t == test) => {}
                Some(g) => g.tests.push(test.to_owned()),
                None => groups.push(Group {
                    name: name.to_owned(),
                    tests: vec![test.to_owned()],
                    why: why.to_owned(),
                }),
            }
        }
    }
    groups
}

/// The lines the end of `cargo test` shows, one per skipped group.
pub fn summary_lines(groups: &[Group]) -> Vec<String> {
    groups
        .iter()
        .map(|g| {
            let shown: Vec<&str> = g.tests.iter().take(3).map(String::as_str).collect();
            let more = match g.tests.len().saturating_sub(shown.len()) {
                0 => String::new(),
                n => format!(", {n} more"),
            };
            format!(
                "SKIPPED {} test(s) for want of {}: {}{more}: {}",
                g.tests.len(),
                g.name,
                shown.join(", "),
                g.why
            )
        })
        .collect()
}

/// Prints this run's skips (one line per group) on stderr, then removes
/// them and any record left by a run that ended over a day ago. Returns the
/// number of groups.
pub fn print_summary() -> usize {
    let this_run = records_root().join(run_id());
    let groups = read_groups(&this_run);
    let mut err = std::io::stderr().lock();
    if !groups.is_empty() {
        let _ = writeln!(
            err,
            "\nNot run in this `cargo test` (CI=true fails on these instead):"
        );
    }
    for line in summary_lines(&groups) {
        let _ = writeln!(err, "{line}");
    }
    let _ = std::fs::remove_dir_all(&this_run);
    remove_stale_records(Duration::from_secs(24 * 3600));
    groups.len()
}

fn remove_stale_records(age: Duration) {
    let Ok(runs) = std::fs::read_dir(records_root()) else {
        return;
    };
    let now = SystemTime::now();
    for run in runs.flatten() {
        let old = run
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|d| d > age);
        if old {
            let _ = std::fs::remove_dir_all(run.path());
        }
    }
}
