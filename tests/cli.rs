//! End-to-end tests of the `trunkdiag` binary: each runs the built command in
//! a temporary directory and checks stdout, stderr and the exit code.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A temp dir to run `trunkdiag` in, with helpers to put files there.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn run(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/capture")
        .join(name)
}

/// A shared scapy capture (see `common::shared_data`).
fn scapy(name: &str) -> Option<String> {
    common::shared_data(&format!("scapy/{name}")).map(|p| p.display().to_string())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn json(run: &Run) -> serde_json::Value {
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn cat_gives_back_logs_written_by_can_utils_byte_for_byte() {
    let sb = Sandbox::new();
    for name in ["asc2log.log", "handwritten.log"] {
        let path = fixture(name);
        let run = sb.run(&["capture", "cat", path.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert_eq!(
            run.stdout,
            std::fs::read_to_string(&path).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn cat_skips_what_canplayer_skips_and_keeps_comments() {
    let sb = Sandbox::new();
    let run = sb.run(&["capture", "cat", fixture("skipped.log").to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "(1795248560.598478) vcan0 7B6#01BCA4\n# note\n(1795248560.598479) vcan0 7B7#\n"
    );
}

#[test]
fn gzip_is_detected_by_content_not_by_name() {
    let sb = Sandbox::new();
    let log = std::fs::read(fixture("handwritten.log")).unwrap();
    sb.write("zipped.log", &gzip(&log));
    sb.write("plain.gz", &log);
    // Two gzip members one after the other are one log.
    sb.write(
        "two.log.gz",
        &[gzip(&log[..500]), gzip(&log[500..])].concat(),
    );
    for name in ["zipped.log", "plain.gz", "two.log.gz"] {
        let run = sb.run(&["capture", "cat", name]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert_eq!(run.stdout.as_bytes(), &log[..], "{name}");
    }
    let stats = json(&sb.run(&["capture", "stats", "--json", "zipped.log"]));
    assert_eq!(stats["compressed"], true);
    assert_eq!(stats["format"], "candump");
}

#[test]
fn stats_counts_kinds_ids_and_rates() {
    let sb = Sandbox::new();
    let run = sb.run(&[
        "capture",
        "stats",
        "--json",
        fixture("handwritten.log").to_str().unwrap(),
    ]);
    let s = json(&run);
    assert_eq!(s["frames"], 13);
    assert_eq!(s["classic"], 6);
    assert_eq!(s["remote"], 3);
    assert_eq!(s["fd"], 3);
    assert_eq!(s["error"], 1);
    assert_eq!(s["bad_lines"], 0);
    assert_eq!(s["annotations"], 3);
    assert_eq!(s["first_timestamp_us"], 1_795_248_560_598_478u64);
    // The last line is dated 12 s after the epoch: duration is last - first,
    // never negative.
    assert_eq!(s["last_timestamp_us"], 12_000_001u64);
    assert_eq!(s["duration_s"], 0.0);
    let ids = s["ids"].as_array().unwrap();
    let id_names: Vec<&str> = ids.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(
        id_names,
        ["000", "123", "456", "457", "458", "5E9", "641", "651", "7B6", "18DAF110", "1FFFFFFF"]
    );
    let five_e9 = ids.iter().find(|i| i["id"] == "5E9").unwrap();
    assert_eq!(five_e9["count"], 2);
    assert_eq!(five_e9["rate"], serde_json::Value::Null);

    let run = sb.run(&["capture", "stats", fixture("asc2log.log").to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("frames:      10\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains("4 classic, 2 fd, 3 remote, 1 error"),
        "{}",
        run.stdout
    );
}

#[test]
fn stats_rates_are_frames_per_second() {
    let sb = Sandbox::new();
    let mut log = String::new();
    for i in 0..=10u64 {
        let us = 100_000_000 + i * 100_000;
        let ts = format!("({:010}.{:06})", us / 1_000_000, us % 1_000_000);
        log.push_str(&format!("{ts} can0 641#00\n"));
        if i % 2 == 0 {
            log.push_str(&format!("{ts} can0 12345678#R\n"));
        }
    }
    sb.write("rates.log", log.as_bytes());
    let s = json(&sb.run(&["capture", "stats", "--json", "rates.log"]));
    assert_eq!(s["frames"], 17);
    assert_eq!(s["duration_s"], 1.0);
    assert_eq!(s["ids"][0]["id"], "641");
    assert_eq!(s["ids"][0]["rate"], 11.0);
    assert_eq!(s["ids"][1]["id"], "12345678");
    assert_eq!(s["ids"][1]["extended"], true);
    assert_eq!(s["ids"][1]["rate"], 6.0);
}

/// Every malformed form fails the run with `file:line: what was expected`.
#[test]
fn malformed_lines_fail_with_file_and_line() {
    let cases: &[(&str, &str)] = &[
        (
            "123#1122334",
            "expected 2 hex digits per data byte, found odd count 7 in \"123#1122334\"",
        ),
        ("123#ZZ", "expected hex digits in the data"),
        (
            "123#112233445566778899",
            "at most 8 data bytes on a classic frame, found 9",
        ),
        (
            "123##0112233445566778899",
            "CAN FD length (0-8, 12, 16, 20, 24, 32, 48 or 64 bytes), found 9",
        ),
        (
            "1234#00",
            "3-digit (11-bit) or 8-digit (29-bit) id, found 4 digits",
        ),
        ("12#00", "found 2 digits"),
        ("800#00", "11-bit id of at most 7FF, found 800"),
        ("1230011", "expected '#'"),
        ("123#R9", "DLC digit 0-8"),
    ];
    let sb = Sandbox::new();
    let fd65 = format!("123##0{}", "00".repeat(65));
    let all: Vec<(&str, &str)> = cases
        .iter()
        .copied()
        .chain([(
            fd65.as_str(),
            "at most 64 data bytes on a CAN FD frame, found 65",
        )])
        .collect();
    for (frame, want) in all {
        let log = format!("# header\n(1.000000) can0 123#00\n(1.000001) can0 {frame}\n");
        sb.write("x.log", log.as_bytes());
        let run = sb.run(&["capture", "cat", "x.log"]);
        assert_eq!(run.code, 2, "{frame}: {}", run.stderr);
        assert!(
            run.stderr
                .starts_with("trunkdiag: error: x.log:3: expected ")
                && run.stderr.contains(want),
            "{frame}: {:?} lacks {want:?}",
            run.stderr
        );
    }
    // Line-level faults outside the frame field.
    for (line, want) in [
        ("(1.000001) can0", "x.log:2: expected a frame"),
        ("(1.00000x) can0 123#", "x.log:2: expected a timestamp"),
        ("(1.000001 can0 123#", "x.log:2: expected a timestamp"),
        (
            "(1.000001) interface-too-long0 123#",
            "x.log:2: expected an interface name",
        ),
        ("(1.000001) can0 123#00 Q", "x.log:2: expected end of line"),
    ] {
        sb.write(
            "x.log",
            format!("(1.000000) can0 123#00\n{line}\n").as_bytes(),
        );
        let run = sb.run(&["capture", "stats", "x.log"]);
        assert_eq!(run.code, 2, "{line}");
        assert!(run.stderr.contains(want), "{line}: {:?}", run.stderr);
    }
}

#[test]
fn lenient_skips_and_counts_bad_lines() {
    let sb = Sandbox::new();
    sb.write(
        "x.log",
        b"(1.000000) can0 123#00\n(1.1) can0 123#0\n(1.2) can0 800#\n(2.000000) can0 124#01\n",
    );
    let run = sb.run(&["capture", "cat", "--lenient", "x.log"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "(0000000001.000000) can0 123#00\n(0000000002.000000) can0 124#01\n"
    );
    let s = json(&sb.run(&["capture", "stats", "--json", "--lenient", "x.log"]));
    assert_eq!(s["frames"], 2);
    assert_eq!(s["bad_lines"], 2);
}

#[test]
fn garbage_and_damaged_files_fail_cleanly() {
    let sb = Sandbox::new();
    sb.write(
        "garbage.bin",
        &[0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x00, 0xFF],
    );
    let run = sb.run(&["capture", "stats", "garbage.bin"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        format!(
            "trunkdiag: error: garbage.bin: unknown capture format: expected {}\n",
            trunkdiag::capture::format::expected_list()
        )
    );
    assert!(run
        .stderr
        .contains("expected a candump log, pcap, pcapng, Vector ASC"));
    let run = sb.run(&["capture", "cat", "missing.log"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .starts_with("trunkdiag: error: missing.log: cannot open"),
        "{}",
        run.stderr
    );

    let mut z = gzip(&std::fs::read(fixture("handwritten.log")).unwrap());
    z.truncate(z.len() - 30);
    sb.write("cut.log.gz", &z);
    let run = sb.run(&["capture", "stats", "cut.log.gz"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cut.log.gz: read failed at byte"),
        "{}",
        run.stderr
    );
}

#[test]
fn empty_file_is_zero_frames() {
    let sb = Sandbox::new();
    sb.write("empty.log", b"");
    let s = json(&sb.run(&["capture", "stats", "--json", "empty.log"]));
    assert_eq!(s["frames"], 0);
    assert_eq!(s["duration_s"], 0.0);
    assert_eq!(s["first_timestamp_us"], serde_json::Value::Null);
    let run = sb.run(&["capture", "cat", "empty.log"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""));
}

/// Counts cross-checked with scapy 2.6 (`rdpcap` with
/// `conf.contribs['CAN']['swap-bytes'] = True`, counting `identifier`).
#[test]
fn scapy_uds_scanner_pcap_with_byte_swapped_ids() {
    let Some(path) = scapy("candump_uds_scanner.pcap.gz") else {
        return;
    };
    let sb = Sandbox::new();
    let s = json(&sb.run(&["capture", "stats", "--json", "--byte-swapped-ids", &path]));
    assert_eq!(s["format"], "pcap");
    assert_eq!(s["compressed"], true);
    assert_eq!(s["frames"], 9434);
    assert_eq!(s["classic"], 9434);
    let count = |id: &str| {
        s["ids"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .map(|i| i["count"].as_u64().unwrap())
    };
    assert_eq!(count("641"), Some(2700));
    assert_eq!(count("651"), Some(2682));
    assert_eq!(count("201"), Some(3767));
    assert_eq!(count("00A"), Some(29));
    assert_eq!(s["first_timestamp_us"], 1_626_788_898_688_202u64);

    // Without the option the first id is nonsense, and the message says why.
    let run = sb.run(&["capture", "stats", &path]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(": packet 1: expected an 11-bit id"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("little-endian"), "{}", run.stderr);
}

#[test]
fn scapy_canfd_pcap_decodes_fd_frames() {
    let Some(path) = scapy("canfd.pcap.gz") else {
        return;
    };
    let sb = Sandbox::new();
    let run = sb.run(&["capture", "cat", &path]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "(1667650502.470855) pcap0 123##1223344556677889933000000 T\n\
         (1667650502.470861) pcap0 123##1223344556677889933000000 R\n\
         (1667650504.872909) pcap0 123##1223344556677889933000000 T\n\
         (1667650504.872915) pcap0 123##1223344556677889933000000 R\n"
    );
}

// ------------------------------------------------------------ capture decode

fn json_lines(run: &Run) -> Vec<serde_json::Value> {
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn tally<'a>(
    lines: &'a [serde_json::Value],
    keep: impl Fn(&serde_json::Value) -> bool,
    key: &str,
) -> std::collections::BTreeMap<&'a str, usize> {
    let mut m = std::collections::BTreeMap::new();
    for l in lines.iter().filter(|l| keep(l)) {
        *m.entry(l[key].as_str().unwrap()).or_default() += 1;
    }
    m
}

/// The counts of an independent judge: scapy 2.8.0's ISOTPMessageBuilder
/// (5,377 complete messages, the same bytes in the same order as ours) and
/// scapy's UDS layer for the service and NRC of each response.
#[test]
fn decode_scapy_uds_scan_agrees_with_scapy() {
    let Some(path) = scapy("candump_uds_scanner.pcap.gz") else {
        return;
    };
    let sb = Sandbox::new();
    let run = sb.run(&[
        "capture",
        "decode",
        &path,
        "--byte-swapped-ids",
        "--pair",
        "641:651",
        "--json",
    ]);
    let lines = json_lines(&run);
    let complete =
        |dir: &'static str| move |l: &serde_json::Value| l["dir"] == dir && l["complete"] == true;
    assert_eq!(
        lines.iter().filter(|l| complete("request")(l)).count(),
        2698
    );
    assert_eq!(
        lines.iter().filter(|l| complete("response")(l)).count(),
        2679
    );
    // Three first frames announcing 100 bytes never got their consecutive frames.
    let incomplete: Vec<_> = lines.iter().filter(|l| l["complete"] == false).collect();
    assert_eq!(incomplete.len(), 3);
    assert!(incomplete.iter().all(|l| l["len"] == 100));
    assert_eq!(
        tally(
            &lines,
            |l| complete("response")(l) && l["kind"] == "positive",
            "service"
        ),
        [
            ("DiagnosticSessionControl", 30),
            ("SecurityAccess", 26),
            ("TesterPresent", 104)
        ]
        .into()
    );
    assert_eq!(
        tally(&lines, |l| l["kind"] == "negative", "nrc"),
        [
            ("11", 585),
            ("12", 1749),
            ("13", 34),
            ("33", 2),
            ("35", 2),
            ("7F", 147)
        ]
        .into()
    );
    let by_service = tally(&lines, |l| l["kind"] == "negative", "service");
    assert_eq!(by_service["DiagnosticSessionControl"], 1250);
    assert_eq!(by_service["SecurityAccess"], 639);
    assert_eq!(by_service["TesterPresent"], 5);
    let names = tally(&lines, |l| l["nrc"] == "12", "nrc_name");
    assert_eq!(names, [("subFunctionNotSupported", 1749)].into());
    // Every line carries the fields scripts rely on, in time order.
    let mut last = 0.0;
    for l in &lines {
        for key in ["t", "id", "dir", "payload", "service", "sid"] {
            assert!(!l[key].is_null(), "{key} missing in {l}");
        }
        let t = l["t"].as_f64().unwrap();
        assert!(t >= last, "{l} out of order");
        last = t;
    }
    let first = lines
        .iter()
        .find(|l| l["payload"] == "5003003201F4")
        .unwrap();
    assert_eq!(
        (first["id"].as_str(), first["sid"].as_str()),
        (Some("651"), Some("10"))
    );
}

/// Multi-frame messages, counted by scapy's ISOTPMessageBuilder.
#[test]
fn decode_scapy_gmlan_captures_agree_with_scapy() {
    let sb = Sandbox::new();
    for (name, req, resp, multi) in [
        ("gmlan_trace.pcap.gz", 45, 50, 36),
        ("candump_gmlan_scanner.pcap.gz", 1904, 1691, 0),
    ] {
        let Some(path) = scapy(name) else {
            return;
        };
        let run = sb.run(&[
            "capture",
            "decode",
            &path,
            "--byte-swapped-ids",
            "--pair",
            "241:641",
            "--json",
        ]);
        let lines = json_lines(&run);
        let count = |id: &str| {
            lines
                .iter()
                .filter(|l| l["id"] == id && l["complete"] == true)
                .count()
        };
        assert_eq!((count("241"), count("641")), (req, resp), "{name}");
        let long: Vec<u64> = lines
            .iter()
            .filter(|l| l["frames"].as_u64().unwrap() > 1)
            .map(|l| l["payload"].as_str().unwrap().len() as u64 / 2)
            .collect();
        assert_eq!(long.len(), multi, "{name}");
        if multi > 0 {
            assert_eq!(long.iter().filter(|&&n| n == 51).count(), 35);
            assert_eq!(long.iter().filter(|&&n| n == 31).count(), 1);
        }
    }
}

/// A KWP2000 DTC report that arrives multi-frame after a responsePending,
/// then a UDS report with 3-byte codes on another module.
const DTC_LOG: &str = "\
(1700000000.000000) can0 7E0#041802FF00CCCCCC
(1700000000.010000) can0 7E8#037F1878CCCCCCCC
(1700000000.500000) can0 7E8#100E580492546091
(1700000000.501000) can0 7E0#300000CCCCCCCCCC
(1700000000.502000) can0 7E8#2160600100A0D000
(1700000000.503000) can0 7E8#2220CCCCCCCCCCCC
(1700000001.000000) can0 7E1#031902FFCCCCCCCC
(1700000001.010000) can0 7E9#100B5902FFD00316
(1700000001.011000) can0 7E1#300000CCCCCCCCCC
(1700000001.012000) can0 7E9#2109A5620008CCCC
";

#[test]
fn decode_names_nrcs_and_trouble_codes() {
    let sb = Sandbox::new();
    let log = sb.write("dtc.log", DTC_LOG.as_bytes());
    let log = log.to_str().unwrap();
    let run = sb.run(&[
        "capture",
        "decode",
        log,
        "--pair",
        "7E0:7E8",
        "--protocol",
        "kwp",
        "--json",
    ]);
    let lines = json_lines(&run);
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert_eq!(lines[0]["service"], "ReadDiagnosticTroubleCodesByStatus");
    assert_eq!(lines[1]["nrc"], "78");
    assert_eq!(
        lines[1]["nrc_name"],
        "requestCorrectlyReceivedResponsePending"
    );
    let codes: Vec<(&str, &str)> = lines[2]["dtcs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap(), d["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            ("B1254", "60"),
            ("B1160", "60"),
            ("P0100", "A0"),
            ("U1000", "20")
        ]
    );
    assert_eq!(lines[2]["t"], 1700000000.503);

    // No --pair: the OBD-II / UDS ids, UDS for a UDS service.
    let run = sb.run(&["capture", "decode", log]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text: Vec<&str> = run.stdout.lines().collect();
    assert!(
        text.contains(
            &"1700000001.000000 7E1 → 19 02 FF  ReadDTCInformation (report 0x02, status mask 0xFF)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        text.iter()
            .any(|l| l.trim_start().starts_with("U1003:16  status 09")),
        "{}",
        run.stdout
    );
    assert!(
        text.iter()
            .any(|l| l.trim_start().starts_with("B2562:00  status 08")),
        "{}",
        run.stdout
    );
}

#[test]
fn decode_rejects_bad_pairs() {
    let sb = Sandbox::new();
    let log = sb.write("dtc.log", DTC_LOG.as_bytes());
    let log = log.to_str().unwrap();
    for bad in ["7E0", "7E0:xyz", "7E0:7E8:7E9"] {
        let run = sb.run(&["capture", "decode", log, "--pair", bad]);
        assert_eq!(run.code, 2, "{bad}");
        assert!(
            run.stderr.contains("REQ:RESP") || run.stderr.contains("not a CAN id"),
            "{bad}: {}",
            run.stderr
        );
    }
    let run = sb.run(&[
        "capture", "decode", log, "--pair", "7E0:7E8", "--pair", "7E8:7E0",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("given twice"), "{}", run.stderr);
}

// ------------------------------------------------------------ live commands

#[test]
fn dtc_clear_refuses_without_yes() {
    let sb = Sandbox::new();
    let run = sb.run(&[
        "dtc", "clear", "--iface", "vcan0", "--tx", "7E0", "--rx", "7E8",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("add --yes to clear"), "{}", run.stderr);
}

#[test]
fn live_commands_fail_cleanly_without_the_interface() {
    let sb = Sandbox::new();
    for args in [
        &["dtc", "read", "--iface", "nosuchcan9", "--protocol", "kwp"][..],
        &[
            "request",
            "--iface",
            "nosuchcan9",
            "--tx",
            "7E0",
            "--rx",
            "7E8",
            "22F190",
        ][..],
    ] {
        let run = sb.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("nosuchcan9"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

#[test]
fn request_rejects_bad_hex_and_sessions() {
    let sb = Sandbox::new();
    let run = sb.run(&["request", "--iface", "vcan0", "22F19"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("expected hex bytes"), "{}", run.stderr);
    let run = sb.run(&["request", "--iface", "vcan0", "--session", "0301", "22F190"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("expected one hex byte"),
        "{}",
        run.stderr
    );
    let run = sb.run(&["request", "--iface", "vcan0", "--tx", "xyz", "22F190"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not a CAN id"), "{}", run.stderr);
}

/// A Nissan BCM conversation on 0x745/0x765 (vehicles/README.md): session C0, a
/// data read refused outside the session, a multi-frame KWP DTC report.
const NISSAN_KWP_LOG: &str = "\
(1700000000.000000) can0 745#0210C0
(1700000000.010000) can0 765#0250C0
(1700000000.100000) can0 745#022144
(1700000000.110000) can0 765#037F2180
(1700000000.200000) can0 745#041802FF00
(1700000000.210000) can0 765#100B5803A56209D0
(1700000000.211000) can0 745#300000
(1700000000.220000) can0 765#210008D01048
";

#[test]
fn decode_with_a_profile_follows_its_bcm_and_protocol() {
    let sb = Sandbox::new();
    let log = sb.write("nissan.log", NISSAN_KWP_LOG.as_bytes());
    let run = sb.run(&[
        "capture",
        "decode",
        log.to_str().unwrap(),
        "--profile",
        "nissan-altima-2013-2018",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = json_lines(&run);
    let services: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["id"].as_str().unwrap(), l["service"].as_str().unwrap()))
        .collect();
    assert_eq!(
        services,
        [
            ("745", "StartDiagnosticSession"),
            ("765", "StartDiagnosticSession"),
            ("745", "ReadDataByLocalIdentifier"),
            ("765", "ReadDataByLocalIdentifier"),
            ("745", "ReadDiagnosticTroubleCodesByStatus"),
            ("765", "ReadDiagnosticTroubleCodesByStatus"),
        ]
    );
    assert_eq!(lines[3]["nrc"], "80");
    let codes: Vec<&str> = lines[5]["dtcs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["B2562", "U1000", "U1010"]);

    // Without the profile the pair is found (Nissan's response = request +
    // 0x20), announced on the first line; --protocol names its services.
    let run = sb.run(&[
        "capture",
        "decode",
        log.to_str().unwrap(),
        "--protocol",
        "kwp",
        "--json",
    ]);
    let found = json_lines(&run);
    assert_eq!(
        found[0]["conversations"],
        serde_json::json!([{"request": "745", "response": "765", "relation": "request+0x20", "requests": 3, "answers": 3}])
    );
    let again: Vec<(&str, &str)> = found[1..]
        .iter()
        .map(|l| (l["id"].as_str().unwrap(), l["service"].as_str().unwrap()))
        .collect();
    assert_eq!(again, services);

    let run = sb.run(&[
        "capture",
        "decode",
        log.to_str().unwrap(),
        "--profile",
        "no-such-car",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no-such-car"), "{}", run.stderr);
}

#[test]
fn completions_and_man_page_come_from_the_same_definitions_as_help() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = sb.run(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        // Every subcommand of --help is offered.
        for cmd in ["diagnose", "capture", "batch", "simulate", "profiles"] {
            assert!(run.stdout.contains(cmd), "{shell} lacks {cmd}");
        }
    }
    let run = sb.run(&["man"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(".TH trunkdiag 1"), "{}", run.stdout);
    assert!(run.stdout.contains("Exit codes"), "{}", run.stdout);
    assert_eq!(sb.run(&["completions", "nosh"]).code, 2);
}

/// `--listen 1e20` panicked in Duration::from_secs_f64; seconds arguments
/// are now parsed and bounded once, for diagnose and batch alike.
#[test]
fn huge_or_bad_seconds_are_an_argument_error_not_a_panic() {
    let sb = Sandbox::new();
    for (cmd, flag, value) in [
        ("diagnose", "--listen", "1e20"),
        ("diagnose", "--timeout", "0"),
        ("diagnose", "--timeout", "NaN"),
        ("batch", "--listen", "1e20"),
        ("batch", "--timeout", "inf"),
    ] {
        let run = match cmd {
            "batch" => sb.run(&[cmd, flag, value, "x.log"]),
            _ => sb.run(&[cmd, "--sim", "valet-lockout", flag, value]),
        };
        assert_eq!(run.code, 2, "{cmd} {flag} {value}: {}", run.stderr);
        assert!(run.stderr.contains(flag), "{}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

// ------------------------------------------------------------ capture signals

/// Broadcast signals and the BCM's data answers, one line per change, with
/// the profile's value names and provenance levels.
#[test]
fn signals_follow_broadcasts_and_bcm_answers() {
    let sb = Sandbox::new();
    let log = sb.write(
        "signals.log",
        b"(1700000000.000000) can0 60D#0000000000000000
(1700000000.050000) can0 745#022144
(1700000000.060000) can0 765#1008614480200000
(1700000000.061000) can0 745#300000
(1700000000.070000) can0 765#2100000000000000
(1700000000.100000) can0 60D#0004000000000000
(1700000000.200000) can0 60D#0004000000000000
(1700000000.300000) can0 745#022144
(1700000000.310000) can0 765#1008614400000000
(1700000000.311000) can0 745#300000
(1700000000.320000) can0 765#2100000000000000
",
    );
    let args = [
        "capture",
        "signals",
        log.to_str().unwrap(),
        "--profile",
        "nissan-altima-2013-2018",
    ];
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let lines = json_lines(&sb.run(&json_args));
    let changes: Vec<(&str, &str, f64)> = lines
        .iter()
        .filter(|l| !l["previous"].is_null())
        .map(|l| {
            (
                l["id"].as_str().unwrap(),
                l["role"].as_str().unwrap(),
                l["t"].as_f64().unwrap(),
            )
        })
        .collect();
    // Ignition ON at 0.1 s; the lockout bit (byte A bit 7 of LID 0x44)
    // set at 0.07 s clears at 0.32 s.
    assert!(
        changes.contains(&("60D", "ignition_on", 0.1)),
        "{changes:?}"
    );
    let lockout: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["role"] == "lockout").collect();
    assert_eq!(lockout.len(), 2, "{lines:?}");
    assert_eq!(lockout[0]["id"], "765");
    assert_eq!(lockout[0]["value"], 1.0);
    assert!(lockout[0]["value_name"]
        .as_str()
        .unwrap()
        .contains("opener disabled"));
    assert_eq!(lockout[1]["value"], 0.0);
    assert!((lockout[1]["t"].as_f64().unwrap() - 0.32).abs() < 1e-9);
    for l in &lines {
        assert!(
            ["this-model", "related-model", "placeholder", "learned"]
                .contains(&l["level"].as_str().unwrap()),
            "{l}"
        );
    }
    let text = sb.run(&args);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout
            .contains("  0.100000       60D  ignition ON [ignition_on]  0 → 1  ("),
        "{}",
        text.stdout
    );
    // A profile that does not exist is the user's error, named.
    let bad = sb.run(&[
        "capture",
        "signals",
        log.to_str().unwrap(),
        "--profile",
        "no-such-car",
    ]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("no-such-car"), "{}", bad.stderr);
}

/// Finding the conversations reads the file twice: a pipe is refused with
/// what to do instead, and `--pair` reads it once.
#[test]
fn decode_from_a_pipe_needs_pairs() {
    use std::io::Write as _;
    use std::process::Stdio;
    let run = |extra: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
            .args(["capture", "decode", "/dev/stdin"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The tool may refuse before reading: a closed pipe is fine here.
        let _ = child
            .stdin
            .take()
            .unwrap()
            .write_all(NISSAN_KWP_LOG.as_bytes());
        child.wait_with_output().unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/dev/stdin: not a regular file") && stderr.contains("--pair"),
        "{stderr}"
    );
    let out = run(&["--pair", "745:765", "--protocol", "kwp"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let messages = stdout
        .lines()
        .filter(|l| l.contains(" → ") || l.contains(" ← "))
        .count();
    assert_eq!(messages, 6, "{stdout}");
}

/// `trunkdiag capture cat … | head` is normal use: a reader that stops early
/// ends the command quietly (exit 0), not with "error: Broken pipe".
#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
        .args(["capture", "cat", "--to", "csv"])
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/diagnose/nissan-lockout-many-presses.log"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe is closed here, with far more than a pipe buffer still to come.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("Broken pipe"), "{err}");
}

/// `check` refuses what it cannot use with a message naming what was
/// expected, and an interface that is not there is a report that cannot go
/// on (exit 2), in text and in JSON.
#[test]
fn check_names_bad_arguments_and_a_missing_interface() {
    let sb = Sandbox::new();
    let run = sb.run(&["check", "--iface", "usb:/dev/x"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("expected can0, vcan0"),
        "{}",
        run.stderr
    );
    let run = sb.run(&["check", "--iface", "vcan0", "--listen", "soon"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not a number of seconds"),
        "{}",
        run.stderr
    );
    let run = sb.run(&["check", "--iface", "vcan0", "--profile", "no-such-car"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no-such-car"), "{}", run.stderr);
    let run = sb.run(&[
        "check",
        "--iface",
        "nosuchcan7",
        "--listen",
        "0.1",
        "--json",
    ]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["can_go_on"], false);
    assert_eq!(report["adapter"]["kind"], "SocketCAN");
    let stop = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["severity"] == "stop")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert!(
        stop["text"].as_str().unwrap().contains("nosuchcan7"),
        "{report:#}"
    );
    let run = sb.run(&["check", "--iface", "nosuchcan7", "--listen", "0.1"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("STOP") && run.stdout.contains("The session cannot go on"),
        "{}",
        run.stdout
    );
}
