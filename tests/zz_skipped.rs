//! The last test binary `cargo test` runs (binaries run in name order): it
//! prints one line per group of tests that skipped in this run (what was
//! missing, which tests, why), where the run's output ends. See
//! `tests/common/skip.rs`.

mod common;

use common::skip::{read_groups, summary_lines, write_record, Group};

#[test]
fn tests_skipped_in_this_run() {
    let groups = common::skip::print_summary();
    // A skip under CI panics in the test itself; a record here means one
    // did not.
    assert!(
        !(common::in_ci() && groups > 0),
        "CI=true but {groups} group(s) of tests skipped"
    );
}

#[test]
fn records_group_by_what_is_missing_and_name_every_test() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    write_record(&run, "socat", "adapters::a", "cannot run socat: not found");
    write_record(&run, "../shared/data/scapy", "cli::b", "x is missing");
    write_record(&run, "socat", "adapters::c", "cannot run socat: not found");
    // The same test twice (a loop over files) is one test.
    write_record(&run, "socat", "adapters::c", "cannot run socat: not found");
    let groups = read_groups(&run);
    assert_eq!(
        groups,
        [
            Group {
                name: "socat".into(),
                tests: vec!["adapters::a".into(), "adapters::c".into()],
                why: "cannot run socat: not found".into(),
            },
            Group {
                name: "../shared/data/scapy".into(),
                tests: vec!["cli::b".into()],
                why: "x is missing".into(),
            },
        ]
    );
    let lines = summary_lines(&groups);
    assert_eq!(
        lines,
        [
            "SKIPPED 2 test(s) for want of socat: adapters::a, adapters::c: cannot run socat: not found",
            "SKIPPED 1 test(s) for want of ../shared/data/scapy: cli::b: x is missing",
        ]
    );
}

/// A run is the `cargo test` process: its pid and (Linux) start time, so a
/// record left by an earlier run under a reused pid is not read as this
/// run's; the records of two runs live in two directories.
#[test]
fn a_run_is_the_parent_process_and_its_start() {
    let id = common::skip::run_id();
    assert_eq!(id, common::skip::run_id());
    let (pid, started) = id.split_once('-').unwrap();
    assert_eq!(pid, std::os::unix::process::parent_id().to_string());
    if cfg!(target_os = "linux") {
        assert!(started.parse::<u64>().is_ok(), "{id}");
    }
    let dir = tempfile::tempdir().unwrap();
    write_record(&dir.path().join("earlier"), "socat", "adapters::a", "gone");
    assert_eq!(read_groups(&dir.path().join(&id)), []);
}

#[test]
fn a_long_group_names_three_tests_and_counts_the_rest() {
    let group = Group {
        name: "tidy".into(),
        tests: (1..=5).map(|i| format!("report::t{i}")).collect(),
        why: "none on PATH".into(),
    };
    assert_eq!(
        summary_lines(&[group]),
        ["SKIPPED 5 test(s) for want of tidy: report::t1, report::t2, report::t3, 2 more: none on PATH"]
    );
}
