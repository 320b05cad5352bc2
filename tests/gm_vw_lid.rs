//! GM (GMLAN diagnostics, 29-bit parameter-id body frames), Volkswagen
//! behind its gateway, at the boundaries: scapy's real GMLAN captures
//! (read from beside the repository), opendbc's GM body DBC, and runs of
//! the simulator, each checked against counts made in the test.

mod common;

use common::run::{json_lines, trunkdiag};

use std::collections::BTreeSet;

use trunkdiag::frame::CanId;
use trunkdiag::profile::{self, gmlan_arbitration_id};

/// scapy's real GMLAN trace (a module reprogrammed through 0x241/0x641):
/// found without `--pair` by the +0x400 relation, read as GMLAN. The
/// identifier reads are counted in the candump text of the same capture.
#[test]
fn a_real_gmlan_trace_decodes_without_pair() {
    let Some(pcap) = common::shared_data("scapy/gmlan_trace.pcap.gz") else {
        return;
    };
    let pcap = pcap.to_str().unwrap();
    let cat = trunkdiag(&["capture", "cat", "--byte-swapped-ids", pcap]);
    assert_eq!(cat.code, 0, "{}", cat.stderr);
    // Single-frame ReadDataByIdentifier requests `02 1A xx` on 0x241.
    let reads_in_text = cat
        .stdout
        .lines()
        .filter(|l| l.contains(" 241#021A"))
        .count();
    assert!(reads_in_text >= 5, "{reads_in_text}");
    let run = trunkdiag(&["capture", "decode", "--byte-swapped-ids", "--json", pcap]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = json_lines(&run.stdout);
    let found = &lines[0]["conversations"];
    let pair = found
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["request"] == "241")
        .unwrap_or_else(|| panic!("{found}"));
    assert_eq!(pair["response"], "641");
    assert_eq!(pair["relation"], "gmlan-usdt");
    let reads: Vec<&serde_json::Value> = lines[1..]
        .iter()
        .filter(|l| l["protocol"] == "gmlan" && l["service"] == "ReadDataByIdentifier")
        .collect();
    let requests = reads.iter().filter(|l| l["dir"] == "request").count();
    assert_eq!(requests, reads_in_text);
    // Every read was answered positively, `5A <did> ...`.
    let answers: Vec<&&serde_json::Value> = reads
        .iter()
        .filter(|l| l["dir"] == "response" && l["kind"] == "positive")
        .collect();
    assert_eq!(answers.len(), requests);
    assert!(answers
        .iter()
        .any(|l| l["payload"] == "5AB040" && l["detail"] == "DID 0xB0 data 40"));
    // responsePending to RequestDownload is GMLAN's 7F 34 78.
    assert!(lines
        .iter()
        .any(|l| l["service"] == "RequestDownload" && l["nrc"] == "78" && l["kind"] == "negative"));
}

/// scapy's real GMLAN service scan: every single-byte service asked on
/// 0x241; the module's refusals `7F <sid> 11` are counted in the text.
#[test]
fn a_real_gmlan_service_scan_pairs_by_the_gmlan_relation() {
    let Some(pcap) = common::shared_data("scapy/candump_gmlan_scanner.pcap.gz") else {
        return;
    };
    let pcap = pcap.to_str().unwrap();
    let cat = trunkdiag(&["capture", "cat", "--byte-swapped-ids", pcap]);
    let refusals = cat
        .stdout
        .lines()
        .filter(|l| {
            l.contains(" 641#037F")
                && l.get(l.find("#037F").unwrap() + 7..)
                    .is_some_and(|r| r.starts_with("11"))
        })
        .count();
    assert!(refusals > 50, "{refusals}");
    let run = trunkdiag(&["capture", "decode", "--byte-swapped-ids", "--json", pcap]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines[0]["conversations"][0]["relation"], "gmlan-usdt");
    let decoded = lines[1..]
        .iter()
        .filter(|l| l["id"] == "641" && l["kind"] == "negative" && l["nrc"] == "11")
        .count();
    assert_eq!(decoded, refusals);
}

/// opendbc's GM body DBC (`UseGMParameterIDs`): every body frame of the GM
/// profiles is a message of the DBC with the same arbitration id, and each
/// signal's name and bits are the DBC's.
#[test]
fn gm_profiles_match_the_opendbc_body_dbc_by_arbitration_id() {
    let Some(dbc) = common::shared_data("dbc/gm_global_a_lowspeed_1818125.dbc") else {
        return;
    };
    let text = std::fs::read_to_string(dbc).unwrap();
    // BO_ <id> <name>: ... and its SG_ lines, by arbitration id.
    let mut messages: Vec<(u16, String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("BO_ ") {
            let mut parts = rest.split_whitespace();
            let id: u32 = parts.next().unwrap().parse().unwrap();
            let name = parts.next().unwrap().trim_end_matches(':').to_owned();
            let arb = gmlan_arbitration_id(CanId::Extended(id & 0x1FFF_FFFF)).unwrap();
            messages.push((arb, name, Vec::new()));
        } else if let Some(rest) = t.strip_prefix("SG_ ") {
            if let Some(m) = messages.last_mut() {
                m.2.push(
                    rest.split_whitespace()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            }
        }
    }
    let mut matched = BTreeSet::new();
    for id in ["chevrolet-malibu-2016-2024", "chevrolet-equinox-2018-2024"] {
        let p = profile::load(id).unwrap();
        for f in p.frames.iter().filter(|f| f.gmlan_arbitration_id.is_some()) {
            let arb = f.gmlan_arbitration_id.unwrap();
            let (_, name, signals) = messages
                .iter()
                .find(|m| m.0 == arb)
                .unwrap_or_else(|| panic!("{id}: arbitration id 0x{arb:03X} is not in the DBC"));
            assert_eq!(&f.name, name, "{id} 0x{arb:03X}");
            for s in &f.signals {
                let item = p.item(s.item).unwrap();
                let sg = format!("{} : {}", item.name, s.bits);
                assert!(
                    signals.contains(&sg),
                    "{id} 0x{arb:03X}: {sg} not among {signals:?}"
                );
            }
            matched.insert(arb);
        }
    }
    assert!(matched.len() >= 6, "{matched:?}");
}

/// A GM scenario through GMLAN: the trouble codes come back as UUDT frames
/// on 0x541 and the body frames carry several priorities and senders for
/// one arbitration id; replaying the recording gives the same verdict.
#[test]
fn gm_scenarios_read_uudt_codes_and_varied_parameter_ids() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fault.log");
    let log_s = log.to_str().unwrap();
    let run = trunkdiag(&[
        "diagnose",
        "--sim",
        "low-battery",
        "--sim-car",
        "chevrolet-malibu-2016-2024",
        "--profile",
        "auto",
        "--no-prompt",
        "--json",
        "--record",
        log_s,
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let live: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(live["verdicts"][0]["id"], "low-battery");
    // The run names the bus the body frames need and what reaches it.
    let notes = live["source"]["notes"].to_string();
    assert!(
        notes.contains("single-wire bus sw-gmlan (LS-GMLAN, pin 1, 33.3 kbit/s)")
            && notes.contains("a plain ELM327 cannot reach it"),
        "{notes}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    // The DTC read and its UUDT end-of-report frame.
    assert!(text.contains(" 241#03A981FF"), "no GMLAN DTC read");
    assert!(text.lines().any(|l| l.contains(" 541#81000000FF")));
    // The lid frame (arbitration id 0x355) under several 29-bit ids.
    let ids: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .nth(2)?
                .split_once('#')
                .map(|(id, _)| id)
        })
        .filter(|id| {
            id.len() == 8
                && u32::from_str_radix(id, 16)
                    .is_ok_and(|raw| gmlan_arbitration_id(CanId::Extended(raw)) == Some(0x355))
        })
        .collect();
    assert!(ids.len() >= 2, "{ids:?}");
    let replay = trunkdiag(&["diagnose", "--replay", log_s, "--profile", "auto", "--json"]);
    let again: serde_json::Value = serde_json::from_str(&replay.stdout).unwrap();
    assert_eq!(
        again["verdicts"][0]["id"], "low-battery",
        "{}",
        replay.stderr
    );
    // decode names the GMLAN pair and its UUDT frames without --pair.
    let dec = trunkdiag(&["capture", "decode", log_s, "--json"]);
    let lines = json_lines(&dec.stdout);
    assert_eq!(lines[0]["conversations"][0]["relation"], "gmlan-usdt");
    assert!(lines
        .iter()
        .any(|l| l["service"] == "UUDT" && l["detail"] == "UUDT end of the trouble-code report"));
}

/// The GMLAN device control the active test takes is handed back with
/// ReturnToNormalOperation `20` at the end of the run. The profile reads no
/// vehicle speed, so the test fires only with `--assume-stopped`.
#[test]
fn gm_active_test_is_handed_back_with_return_to_normal() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("actuate.log");
    let args = |log: &std::path::Path, stopped: bool| {
        let mut a = vec![
            "diagnose".to_owned(),
            "--sim".into(),
            "no-fault-found".into(),
            "--profile".into(),
            "chevrolet-equinox-2018-2024".into(),
            "--no-prompt".into(),
            "--actuate".into(),
            "--yes".into(),
            "--record".into(),
            log.to_str().unwrap().into(),
        ];
        if stopped {
            a.push("--assume-stopped".into());
        }
        a
    };
    let refused = dir.path().join("refused.log");
    let a = args(&refused, false);
    let run = trunkdiag(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(run.code <= 1, "{}", run.stderr);
    let text = std::fs::read_to_string(&refused).unwrap();
    assert!(!text.contains(" 241#07AE"), "fired at an unknown speed");
    let a = args(&log, true);
    let run = trunkdiag(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(run.code <= 1, "{}", run.stderr);
    let text = std::fs::read_to_string(&log).unwrap();
    let start = text.find(" 241#07AE011010").expect("device control sent");
    let back = text[start..].find(" 241#0120").expect("20 sent after it");
    assert!(text[start + back..].contains(" 641#0160"), "60 answered");
}

/// Volkswagen at the OBD port: only diagnostics on the bus. The run says the
/// lid and ignition frames are behind the J533 gateway, reads J519 over
/// UDS, and still names the scenario's cause.
#[test]
fn vw_at_the_obd_port_says_the_gateway_and_reads_j519() {
    if profile::load("vw-jetta-2019-2024").is_err() {
        panic!("vw-jetta-2019-2024 is not bundled");
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("vw.log");
    let run = trunkdiag(&[
        "diagnose",
        "--sim",
        "trunk-fuse",
        "--profile",
        "vw-jetta-2019-2024",
        "--no-prompt",
        "--json",
        "--record",
        log.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let notes = report["source"]["notes"].to_string();
    assert!(
        notes.contains("lid, ignition")
            && notes.contains("behind J533")
            && notes.contains("over UDS instead"),
        "{notes}"
    );
    let top = report["verdicts"][0]["id"].as_str().unwrap();
    assert!(
        [
            "trunk-fuse",
            "trunk-wiring",
            "trunk-actuator",
            "trunk-latch"
        ]
        .contains(&top),
        "{top}"
    );
    // Nothing but the diagnostic ids (and the engine ECU's OBD answers).
    let text = std::fs::read_to_string(&log).unwrap();
    let ids: BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with('('))
        .filter_map(|l| {
            l.split_whitespace()
                .nth(2)?
                .split_once('#')
                .map(|(id, _)| id)
        })
        .collect();
    assert!(ids.contains("70E") && ids.contains("778"), "{ids:?}");
    for id in ["3DB", "3C0", "583", "3D0", "65A"] {
        assert!(!ids.contains(id), "{id} heard at the OBD port: {ids:?}");
    }
}

const LID_ONLY: [&str; 4] = [
    "honda-civic-2016-2021",
    "subaru-global-2017-2024",
    "mazda-cx5-2017-2021",
    "jeep-cherokee-2019-2023",
];

/// Every line of every verdict of a report.
fn all_evidence(report: &serde_json::Value) -> Vec<String> {
    report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["evidence"].as_array().unwrap().iter())
        .map(|e| e.as_str().unwrap().to_owned())
        .collect()
}

/// A lid-only car (no body module published): the simulated person tells
/// of each press, the lid opens at it, and the verdict is no-fault-found;
/// every verdict says what the car does not show, and none claims a request
/// or an output.
#[test]
fn lid_only_cars_find_no_fault_when_the_lid_opens_at_a_told_press() {
    for car in LID_ONLY {
        assert!(profile::load(car).unwrap().bcm().is_none(), "{car}");
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("ok.log");
        let run = trunkdiag(&[
            "diagnose",
            "--sim",
            "no-fault-found",
            "--profile",
            car,
            "--no-prompt",
            "--json",
            "--record",
            log.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{car}: {}", run.stderr);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(report["verdicts"][0]["id"], "no-fault-found", "{car}");
        let lines = all_evidence(&report);
        let told = lines
            .iter()
            .filter(|l| l.contains("told by the person"))
            .count();
        assert_eq!(told, 2, "{car}: {lines:?}");
        for v in report["verdicts"].as_array().unwrap() {
            let ev = v["evidence"].to_string();
            assert!(
                ev.contains("not seen: no body-module address is published"),
                "{car}: {ev}"
            );
        }
        assert!(
            !lines
                .iter()
                .any(|l| l.contains("request seen") || l.contains("opener output driven")),
            "{car}: {lines:?}"
        );
        // The recording carries the told presses; its replay agrees.
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            text.lines().filter(|l| l.starts_with("# press ")).count(),
            2,
            "{car}"
        );
        let replay = trunkdiag(&[
            "diagnose",
            "--replay",
            log.to_str().unwrap(),
            "--profile",
            car,
            "--json",
        ]);
        let again: serde_json::Value = serde_json::from_str(&replay.stdout).unwrap();
        assert_eq!(again["verdicts"][0]["id"], "no-fault-found", "{car}");
        // Without the told presses, the same frames show no press at all.
        let bare = dir.path().join("bare.log");
        let frames: String = text
            .lines()
            .filter(|l| !l.starts_with("# press "))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&bare, frames).unwrap();
        let bare = trunkdiag(&[
            "diagnose",
            "--replay",
            bare.to_str().unwrap(),
            "--profile",
            car,
            "--json",
        ]);
        let bare: serde_json::Value = serde_json::from_str(&bare.stdout).unwrap();
        assert_eq!(bare["verdicts"][0]["id"], "inconclusive", "{car}");
    }
}

/// The lid stays shut at the told presses: the verdict is the ranked set
/// from a refusal by design to the latch, in words that say the car shows
/// only the lid, never that the body module drove anything.
#[test]
fn lid_only_cars_name_what_they_cannot_see_when_the_lid_stays_shut() {
    for car in LID_ONLY {
        let run = trunkdiag(&[
            "diagnose",
            "--sim",
            "trunk-latch",
            "--profile",
            car,
            "--no-prompt",
            "--json",
        ]);
        assert_eq!(run.code, 1, "{car}: {}", run.stderr);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let ids: Vec<&str> = report["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "release-inhibited",
                "valet-lockout",
                "trunk-fuse",
                "trunk-wiring",
                "trunk-actuator",
                "trunk-latch"
            ],
            "{car}"
        );
        let top = &report["verdicts"][0];
        assert_eq!(top["rule"], "lid-shut-told");
        assert!(top["summary"]
            .as_str()
            .unwrap()
            .contains("shows only the lid"));
        assert!(top["explanation"].as_str().unwrap().contains("cannot see"));
        let lines = all_evidence(&report);
        assert!(
            !lines
                .iter()
                .any(|l| l.contains("request seen") || l.contains("output driven")),
            "{car}: {lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("lid did not open")),
            "{car}"
        );
    }
}

/// A told press reads back from a `# press` line, and a malformed one is
/// just a comment.
#[test]
fn told_press_lines_read_back() {
    use trunkdiag::diagnose::{parse_told_press, told_press_line};
    use trunkdiag::profile::ReleaseInput;
    for (t, until, input) in [
        (
            1_700_000_002_028_000u64,
            1_700_000_002_028_000,
            ReleaseInput::Fob,
        ),
        (5, 5, ReleaseInput::Cabin),
        // Asked at one time, answered at another.
        (
            1_700_000_002_000_000,
            1_700_000_009_500_000,
            ReleaseInput::Fob,
        ),
    ] {
        let line = told_press_line(t, until, input);
        assert_eq!(parse_told_press(&line), Some((t, until, input)), "{line}");
    }
    assert_eq!(
        told_press_line(2_000_000, 9_500_000, ReleaseInput::Cabin),
        "press cabin 2.000000 9.500000"
    );
    for bad in [
        "press",
        "press fob",
        "press bus 1.000000",
        "press fob 1.5",
        "press fob x.000000",
        "pressed fob 1.000000",
        "press fob 1.000000 extra",
        "press fob 2.000000 1.000000",
        "press fob 1.000000 2.000000 3.000000",
        "press fob 1.00000x",
    ] {
        assert_eq!(parse_told_press(bad), None, "{bad}");
    }
}

/// `learn --gmlan` groups a GM body bus's 29-bit frames by arbitration id:
/// the lid bit the simulator sends under three ids is learned once, as
/// GMLAN 0x355, and the draft loads and reads it.
#[test]
fn learn_groups_gmlan_parameter_ids_by_arbitration_id() {
    let dir = tempfile::tempdir().unwrap();
    let draft = dir.path().join("draft.toml");
    let log = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/captures/chevrolet-equinox-2018-2024/no-fault-found.log"
    );
    let marks = [
        "lid_open=1@2.4",
        "lid_open=0@4.4",
        "lid_open=1@5.4",
        "lid_open=0@7.4",
    ];
    let mut args = vec!["learn", "--replay", log, "--gmlan", "--json", "--write"];
    let draft_s = draft.to_str().unwrap().to_owned();
    args.push(&draft_s);
    for m in &marks {
        args.push("--event");
        args.push(m);
    }
    let run = trunkdiag(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&draft).unwrap();
    assert!(text.contains("id = 0x355\ngmlan = true\n"), "{text}");
    let check = trunkdiag(&["profiles", "check", &draft_s]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    // Without --gmlan the same bit is three identifiers, none named 0x355.
    let mut plain: Vec<&str> = vec!["learn", "--replay", log, "--json"];
    for m in &marks {
        plain.push("--event");
        plain.push(m);
    }
    let plain = trunkdiag(&plain);
    let j: serde_json::Value = serde_json::from_str(&plain.stdout).unwrap();
    let grouped: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        j["learned"]["identifiers"].as_u64().unwrap()
            > grouped["learned"]["identifiers"].as_u64().unwrap(),
        "{} vs {}",
        j["learned"]["identifiers"],
        grouped["learned"]["identifiers"]
    );
}

/// A script that reads only the first JSON line and closes the pipe gets a
/// quiet exit, not an error (serde_json keeps the broken pipe inside).
#[test]
fn decode_json_into_a_closed_pipe_exits_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let Some(pcap) = common::shared_data("scapy/candump_gmlan_scanner.pcap.gz") else {
        return;
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
        .args(["capture", "decode", "--byte-swapped-ids", "--json"])
        .arg(&pcap)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("gmlan-usdt"), "{first}");
    // The reader is dropped here: the rest (more than a pipe holds) has
    // nowhere to go.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("error"), "{err}");
    assert_ne!(out.status.code(), Some(2), "{err}");
}

/// A GM body module that never answers: the DTC read's empty UUDT window is
/// said, with the adapter that could never hear the answers.
#[test]
fn a_silent_gm_module_leaves_a_note_about_its_uudt_answers() {
    let run = trunkdiag(&[
        "diagnose",
        "--sim",
        "bcm-unreachable",
        "--profile",
        "chevrolet-malibu-2016-2024",
        "--no-prompt",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let notes = report["source"]["notes"].to_string();
    assert!(notes.contains("no UUDT answer heard on 0x541"), "{notes}");
    // A module that answers leaves no such note.
    let ok = trunkdiag(&[
        "diagnose",
        "--sim",
        "no-fault-found",
        "--profile",
        "chevrolet-malibu-2016-2024",
        "--no-prompt",
        "--json",
    ]);
    let ok: serde_json::Value = serde_json::from_str(&ok.stdout).unwrap();
    assert!(
        !ok["source"]["notes"].to_string().contains("UUDT"),
        "{}",
        ok["source"]["notes"]
    );
}
