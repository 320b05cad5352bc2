//! The Hyundai/Kia and Toyota profiles, ISO-TP extended addressing,
//! multiplexed body frames, and speed read off a real bus, at the
//! boundaries: real recordings (the CC0 Kona logs, the MIT Fusion logs),
//! opendbc's DBCs (read from beside the repository), and captures built
//! here frame by frame, each checked against a count made in the test.

mod common;

use common::run::{json_lines, trunkdiag};

use std::path::Path;
use std::process::Command;

use trunkdiag::frame::{CanFrame, CanId};
use trunkdiag::profile::{self, Role};

const BIN: &str = env!("CARGO_BIN_EXE_trunkdiag");

/// `profiles import-dbc DBC [--inline] --role R=M.S ...`: the items it prints.
fn import_dbc(dbc: &Path, inline: bool, roles: &[&str]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(["profiles", "import-dbc"]).arg(dbc);
    if inline {
        cmd.arg("--inline");
    }
    for r in roles {
        cmd.args(["--role", r]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A test profile: a header, one bus, the BCM lines given, then `items`
/// (imported inline, so no DBC file is needed to load it).
fn profile_with(bus: &str, bcm: &str, items: &str) -> profile::Profile {
    let text = format!(
        "[profile]\nid = \"t\"\nmake = \"test\"\nmodel = \"test\"\nyears = [2020, 2020]\n\n\
         [[bus]]\n{bus}\nlevel = \"placeholder\"\n\n[bcm]\n{bcm}\nlevel = \"placeholder\"\n\n{items}"
    );
    profile::parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Every value `p` decodes for `role` from one frame.
fn decoded(p: &profile::Profile, id: CanId, data: &[u8], role: Role) -> Vec<f64> {
    let f = CanFrame::classic(id, data).unwrap();
    let mut v = Vec::new();
    p.decode_broadcast(&f, |_, r, x| {
        if r == role {
            v.push(x)
        }
    });
    v
}

/// One candump line.
fn line(t_us: u64, id: u16, data: &[u8]) -> String {
    let hex: String = data.iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "({}.{:06}) vcan0 {id:03X}#{hex}\n",
        t_us / 1_000_000,
        t_us % 1_000_000
    )
}

/// An ISO-TP message as frames, segmented here (independently of the
/// tool's own segmenter), with an optional extended address byte first and
/// a flow control from the other side after a first frame.
fn isotp(
    t_us: &mut u64,
    id: u16,
    fc_id: u16,
    addr: Option<u8>,
    fc_addr: Option<u8>,
    payload: &[u8],
) -> String {
    let pre: Vec<u8> = addr.into_iter().collect();
    let room = 7 - pre.len();
    let mut out = String::new();
    let mut frame = |t: &mut u64, id: u16, bytes: Vec<u8>| {
        *t += 2_000;
        let mut b = bytes;
        b.resize(8, 0xCC);
        out.push_str(&line(*t, id, &b));
    };
    if payload.len() <= room {
        let mut b = pre.clone();
        b.push(payload.len() as u8);
        b.extend_from_slice(payload);
        frame(t_us, id, b);
        return out;
    }
    let first = room - 1;
    let mut b = pre.clone();
    b.extend_from_slice(&[0x10 | (payload.len() >> 8) as u8, payload.len() as u8]);
    b.extend_from_slice(&payload[..first]);
    frame(t_us, id, b);
    let mut fc: Vec<u8> = fc_addr.into_iter().collect();
    fc.extend_from_slice(&[0x30, 0, 0]);
    frame(t_us, fc_id, fc);
    let mut sn = 1u8;
    for chunk in payload[first..].chunks(room) {
        let mut b = pre.clone();
        b.push(0x20 | (sn & 0x0F));
        b.extend_from_slice(chunk);
        frame(t_us, id, b);
        sn = sn.wrapping_add(1);
    }
    out
}

// ---------------------------------------------------------------- Hyundai --

/// The real Kona Electric log (CC0) through the Kona profile: 0x541 reads
/// ignition Off, the driver's door open and closed, the hood open, the
/// tailgate closed, as many times as a count of the CSV's own rows says.
#[test]
fn kona_profile_reads_the_real_kona_body_frame() {
    let path = common::repo_data("real/hyundai-kona/221217-1-2021-pcan-bcan-no-key.csv");
    // Independent count: the CSV's rows for 0x541 on bus 0, their data bytes.
    let text = std::fs::read_to_string(&path).unwrap();
    let rows: Vec<Vec<u8>> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.get(1) == Some(&"00000541") && f.get(3) == Some(&"0")).then(|| {
                f[5..13]
                    .iter()
                    .map(|h| u8::from_str_radix(h, 16).unwrap())
                    .collect()
            })
        })
        .collect();
    assert_eq!(rows.len(), 281, "the folder's README counts 281");
    let door_changes = rows
        .windows(2)
        .filter(|w| (w[0][1] & 0x03) != (w[1][1] & 0x03))
        .count();
    assert!(door_changes >= 1, "the driver's door toggles in this log");
    assert!(
        rows.iter().all(|r| r[0] & 0x07 == 0),
        "ignition Off throughout"
    );
    assert!(
        rows.iter().all(|r| (r[2] >> 1) & 0x03 == 1),
        "hood open throughout"
    );
    assert!(
        rows.iter().all(|r| (r[1] >> 4) & 0x03 == 0),
        "tailgate closed throughout"
    );

    let run = trunkdiag(&[
        "capture",
        "signals",
        "--profile",
        "hyundai-kona-2018-2023",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = json_lines(&run.stdout);
    let of = |name: &str| -> Vec<f64> {
        lines
            .iter()
            .filter(|l| l["signal"] == name)
            .map(|l| l["value"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(of("CF_Gway_IGNSw"), vec![0.0], "ignition Off, once");
    assert_eq!(of("ignition On"), vec![0.0]);
    assert_eq!(of("CF_Gway_HoodSw"), vec![1.0], "hood open, once");
    assert_eq!(of("CF_Gway_TrunkTgSw"), vec![0.0], "tailgate closed, once");
    let door = of("CF_Gway_DrvDrSw");
    assert_eq!(door.len(), door_changes + 1, "{door:?}");
    assert!(
        door.contains(&1.0),
        "the driver's door reads open: {door:?}"
    );
}

/// The real scan of a Kona Electric through an ELM327 asked the IGPM
/// (0x770 → 0x778) for its trouble codes: the Kona profile reads the five
/// codes out of that real answer, decoded here by hand.
#[test]
fn kona_profile_reads_the_igpm_trouble_codes_of_a_real_scan() {
    let path = common::repo_data("real/hyundai-kona/221210-1-2021-dcan-car-scanner-elm327.csv");
    // The answer to 19 02 08 as the CSV holds it: first frame 10 17 59 02 09
    // + 3 bytes, then 21.., 22.., 23.. (23 bytes in all).
    let text = std::fs::read_to_string(&path).unwrap();
    let mut payload: Vec<u8> = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split(',').collect();
        if f.get(1) != Some(&"00000778") {
            continue;
        }
        let b: Vec<u8> = f[5..13]
            .iter()
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect();
        if b[0] == 0x10 && b[2] == 0x59 {
            payload = b[2..].to_vec();
        } else if (0x21..=0x2F).contains(&b[0]) && !payload.is_empty() && payload.len() < 23 {
            payload.extend_from_slice(&b[1..]);
        }
    }
    payload.truncate(23);
    assert_eq!(&payload[..3], &[0x59, 0x02, 0x09]);
    let letter = |b: u8| ['P', 'C', 'B', 'U'][usize::from(b >> 6)];
    let codes: Vec<String> = payload[3..]
        .chunks(4)
        .map(|c| format!("{}{:X}{:02X}{:02X}", letter(c[0]), c[0] & 0x3F, c[1], c[2]))
        .collect();
    assert_eq!(codes.len(), 5, "{codes:?}");

    let run = trunkdiag(&[
        "diagnose",
        "--replay",
        path.to_str().unwrap(),
        "--profile",
        "hyundai-kona-2018-2023",
        "--no-prompt",
        "--json",
    ]);
    assert!(run.code <= 1, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let text = json.to_string();
    for c in &codes {
        // B1603-00 is written B1603 with failure type 00.
        assert!(text.contains(&c[..5]), "{c} not in the report: {text}");
    }
}

/// opendbc's hyundai_can.dbc imports CGW1's bits exactly as the layout
/// writes them by hand.
#[test]
fn cgw1_imported_from_opendbc_matches_the_hand_written_items() {
    let Some(dbc) = common::shared_data("dbc/hyundai_can.dbc") else {
        return;
    };
    let items = import_dbc(
        &dbc,
        false,
        &[
            "lid_open=CGW1.CF_Gway_TrunkTgSw",
            "door_open=CGW1.CF_Gway_DrvDrSw",
            "info=CGW1.CF_Gway_IGNSw",
        ],
    );
    assert!(items.contains("id = 0x541"), "{items}");
    let kona = profile::load("hyundai-kona-2018-2023").unwrap();
    let hand = |name: &str| {
        kona.frames
            .iter()
            .filter(|f| f.id.raw() == 0x541)
            .flat_map(|f| f.signals.iter())
            .find(|s| kona.item(s.item).unwrap().name == name)
            .map(|s| s.bits.to_string())
            .unwrap()
    };
    for name in ["CF_Gway_TrunkTgSw", "CF_Gway_DrvDrSw", "CF_Gway_IGNSw"] {
        let want = format!("# CGW1.{name} {}, ", hand(name));
        let block = items
            .split("[[frame.signal]]")
            .find(|b| b.contains(&format!("name = \"{name}\"")))
            .unwrap_or_else(|| panic!("{name} not imported: {items}"));
        assert!(block.contains(&want), "{name}: {want} not in {block}");
    }
}

// ------------------------------------------------------------------ Ford --

/// The real 2017 Fusion drive (about 50 km/h): the Fusion profile reads
/// the ABS speed and the gear selector off the real bus.
#[test]
fn fusion_profile_reads_speed_and_gear_on_a_real_drive() {
    let path = common::repo_data("real/ford-fusion-2017/acc_on_going_at_50km_per_hour.candump");
    // Independent count: 0x415 rows and their bytes 0-1 × 0.01 km/h.
    let text = std::fs::read_to_string(&path).unwrap();
    let speeds: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split_once(" 415#").map(|(_, d)| d.to_string()))
        .map(|d| u16::from_str_radix(&d[..4], 16).unwrap() as f64 * 0.01)
        .collect();
    assert_eq!(speeds.len(), 269);
    assert!(
        speeds.iter().all(|v| (44.0..=52.0).contains(v)),
        "{speeds:?}"
    );

    let run = trunkdiag(&[
        "capture",
        "signals",
        "--profile",
        "ford-fusion-2013-2020",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = json_lines(&run.stdout);
    let read: Vec<f64> = lines
        .iter()
        .filter(|l| l["role"] == "speed_kmh")
        .map(|l| l["value"].as_f64().unwrap())
        .collect();
    assert!(!read.is_empty());
    assert!(read.iter().all(|v| (44.0..=52.0).contains(v)), "{read:?}");
    let gear: Vec<&str> = lines
        .iter()
        .filter(|l| l["role"] == "gear")
        .map(|l| l["value_name"].as_str().unwrap_or(""))
        .collect();
    assert!(gear.iter().all(|g| g.contains("Drive")), "{gear:?}");
}

/// A fob press written into that real drive: the press is
/// release-inhibited because of the speed read at it, not by elimination.
#[test]
fn a_press_while_the_real_fusion_drives_is_release_inhibited_on_its_speed() {
    let path = common::repo_data("real/ford-fusion-2017/acc_on_going_at_50km_per_hour.candump");
    let text = std::fs::read_to_string(&path).unwrap();
    let t0: f64 = text[1..text.find(')').unwrap()].parse().unwrap();
    let mut rows: Vec<(f64, String)> = text
        .lines()
        .map(|l| {
            (
                l[1..l.find(')').unwrap()].parse().unwrap(),
                format!("{l}\n"),
            )
        })
        .collect();
    // 0x331 every 100 ms from 1.5 s, Power_Decklid_Rqst (bit 1) set for 300 ms.
    for i in 0..20u64 {
        let t = t0 + 1.5 + i as f64 * 0.1;
        let data = if (5..8).contains(&i) {
            [2u8, 0, 0, 0, 0, 0, 0, 0]
        } else {
            [0; 8]
        };
        rows.push((t, line((t * 1e6).round() as u64, 0x331, &data)));
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("press.log");
    std::fs::write(&log, rows.into_iter().map(|r| r.1).collect::<String>()).unwrap();
    let run = trunkdiag(&[
        "diagnose",
        "--replay",
        log.to_str().unwrap(),
        "--profile",
        "ford-fusion-2013-2020",
        "--no-prompt",
        "--json",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let top = &json["verdicts"][0];
    assert_eq!(top["id"], "release-inhibited", "{top}");
    assert_ne!(top["confidence"], "low", "{top}");
    let evidence = top["evidence"].to_string();
    assert!(
        evidence.contains("gate closed: vehicle moving at 47 km/h"),
        "{evidence}"
    );
    assert!(
        evidence.contains("gate closed: in gear Drive"),
        "{evidence}"
    );
}

// ---------------------------------------------------------------- Toyota --

/// 0x620 pages other than 0x10 carry other messages: a capture of page
/// 0x11 frames with bit 41 set never reads as the back door; the same bit
/// on page 0x10 does.
#[test]
fn toyota_reads_the_lid_from_page_0x10_only() {
    let camry = profile::load("toyota-camry-2018-2024").unwrap();
    let lid = |data: [u8; 8]| decoded(&camry, CanId::Standard(0x620), &data, Role::LidOpen);
    assert_eq!(lid([0x10, 0, 0, 0, 0, 0x02, 0, 0]), vec![1.0]);
    assert_eq!(lid([0x10, 0, 0, 0, 0, 0x00, 0, 0]), vec![0.0]);
    assert!(lid([0x11, 0, 0, 0, 0, 0x02, 0, 0]).is_empty());
    assert!(lid([0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).is_empty());

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pages.log");
    let mut text = String::new();
    for i in 0..30u64 {
        text.push_str(&line(i * 100_000, 0x620, &[0x11, 0, 0, 0, 0, 0x02, 0, 0]));
    }
    std::fs::write(&log, &text).unwrap();
    let run = trunkdiag(&[
        "capture",
        "signals",
        "--profile",
        "toyota-camry-2018-2024",
        "--json",
        log.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(json_lines(&run.stdout).is_empty(), "{}", run.stdout);
}

/// Requests to 0x750 with the body ECU's byte 0x40 and answers on 0x758
/// with 0x40 are the body ECU's; the same ids with the driver's-door ECU's
/// byte 0x90 are another module: a data answer from it is not evidence.
#[test]
fn toyota_body_ecu_is_told_apart_from_other_sub_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = 0u64;
    let mut text = String::new();
    for i in 0..20u64 {
        text.push_str(&line(i * 100_000, 0x620, &[0x10, 0, 0, 0, 0x20, 0, 0, 0]));
    }
    t += 2_100_000;
    // The door ECU (0x90) answers 21 A2 with every bit set, multi-frame.
    text.push_str(&isotp(
        &mut t,
        0x750,
        0x758,
        Some(0x90),
        Some(0x90),
        &[0x21, 0xA2],
    ));
    text.push_str(&isotp(
        &mut t,
        0x758,
        0x750,
        Some(0x90),
        Some(0x90),
        &[0x61, 0xA2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
    ));
    let other = dir.path().join("other.log");
    std::fs::write(&other, &text).unwrap();
    // The body ECU (0x40) answers it with the opener output bit (A.2) set.
    text.push_str(&isotp(
        &mut t,
        0x750,
        0x758,
        Some(0x40),
        Some(0x40),
        &[0x21, 0xA2],
    ));
    text.push_str(&isotp(
        &mut t,
        0x758,
        0x750,
        Some(0x40),
        Some(0x40),
        &[0x61, 0xA2, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ));
    let body = dir.path().join("body.log");
    std::fs::write(&body, &text).unwrap();
    let output_values = |log: &Path| -> Vec<f64> {
        let run = trunkdiag(&[
            "capture",
            "signals",
            "--profile",
            "toyota-camry-2018-2024",
            "--json",
            log.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        json_lines(&run.stdout)
            .iter()
            .filter(|l| l["role"] == "opener_output")
            .map(|l| l["value"].as_f64().unwrap())
            .collect()
    };
    assert!(
        output_values(&other).is_empty(),
        "0x90's answer read as the body ECU's"
    );
    assert_eq!(output_values(&body), vec![1.0]);
}

// ------------------------------------------------------------- all five --

/// `profiles list` names the five new cars and `profiles show` gives each
/// item's level and source; the Camry's body ECU shows its address bytes.
#[test]
fn profiles_list_and_show_the_new_cars() {
    let list = trunkdiag(&["profiles", "list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    for car in [
        "hyundai-kona-2018-2023",
        "hyundai-sonata-2018-2023",
        "kia-optima-2016-2020",
        "toyota-camry-2018-2024",
        "toyota-rav4-2019-2025",
    ] {
        assert!(list.stdout.contains(car), "{car}: {}", list.stdout);
        let show = trunkdiag(&["profiles", "show", car]);
        assert_eq!(show.code, 0, "{}", show.stderr);
        assert!(
            show.stdout.contains("c-can") || show.stdout.contains("hs-can"),
            "{}",
            show.stdout
        );
    }
    let camry = trunkdiag(&["profiles", "show", "toyota-camry-2018-2024"]);
    assert!(
        camry.stdout.contains("0x750 [40] → 0x758 [40]"),
        "{}",
        camry.stdout
    );
    assert!(
        camry.stdout.contains("0x620 [byte 0 = 0x10]"),
        "{}",
        camry.stdout
    );
}

/// opendbc's Toyota reference DBC writes the body frames as pseudo-ids
/// (0x40100620: 0x620 with byte 0 = 0x10); `profiles import-dbc` turns
/// them into pages of 0x620 / 0x638 with the bits the Toyota layout writes
/// by hand, and the imported profile reads the lid only on its page.
#[test]
fn toyota_pseudo_ids_import_as_pages_with_the_hand_written_bits() {
    let Some(dbc) = common::shared_data("dbc/toyota_2017_ref_pt.dbc") else {
        return;
    };
    let items = import_dbc(
        &dbc,
        true,
        &[
            "lid_open=BDB1S01_10.BCTY",
            "ignition_on=BDB1S01_10.IG_BDB",
            "info=BDB1S05_13.LSWD",
        ],
    );
    assert!(
        items.contains("id = 0x620\nname = \"BDB1S01_10\"\nselector = { byte = 0, value = 0x10 }"),
        "{items}"
    );
    assert!(
        items.contains("id = 0x638\nname = \"BDB1S05_13\"\nselector = { byte = 0, value = 0x13 }"),
        "{items}"
    );
    let camry = profile::load("toyota-camry-2018-2024").unwrap();
    for (name, hand) in [
        ("BCTY", "BCTY (back door courtesy switch)"),
        ("IG_BDB", "IG_BDB"),
        ("LSWD", "LOCK_STATUS"),
    ] {
        let bits = camry
            .frames
            .iter()
            .flat_map(|f| f.signals.iter())
            .find(|s| camry.item(s.item).unwrap().name == hand)
            .map(|s| s.bits.to_string())
            .unwrap();
        let block = items
            .split("[[frame.signal]]")
            .find(|b| b.contains(&format!("name = \"{name}\"")))
            .unwrap();
        assert!(
            block.contains(&format!("bits = \"{bits}\"")),
            "{name}: {bits} not in {block}"
        );
    }
    // The imported items load, and read the lid on page 0x10 only.
    let p = profile_with(
        "name = \"hs-can\"\nbitrate = 500000",
        "protocol = \"kwp\"\nrequest_id = 0x750\nresponse_id = 0x758\naddressing = \"extended\"\ntarget_address = 0x40",
        &items,
    );
    let lid = |data: [u8; 8]| decoded(&p, CanId::Standard(0x620), &data, Role::LidOpen);
    assert_eq!(lid([0x10, 0, 0, 0, 0, 0x02, 0, 0]), vec![1.0]);
    assert!(lid([0x11, 0, 0, 0, 0, 0x02, 0, 0]).is_empty());
}

/// The RAV4 and the Kona have a liftgate: their reports' own words say so
/// (verdict ids and names quoted from the car's data stay as they are),
/// while a Camry's say trunk.
#[test]
fn a_liftgate_car_reads_liftgate_in_its_report() {
    for (car, word, other) in [
        ("toyota-rav4-2019-2025", "liftgate", "trunk"),
        ("hyundai-kona-2018-2023", "liftgate", "trunk"),
        ("toyota-camry-2018-2024", "trunk", "liftgate"),
    ] {
        let run = trunkdiag(&[
            "diagnose",
            "--sim",
            "trunk-actuator",
            "--profile",
            car,
            "--no-prompt",
            "--json",
            "--observe",
            "click=yes",
            "--observe",
            "key-blade-opens=yes",
        ]);
        assert_eq!(run.code, 1, "{car}: {}", run.stderr);
        let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let top = &json["verdicts"][0];
        let mut words = vec![
            top["summary"].as_str().unwrap().to_owned(),
            top["explanation"].as_str().unwrap().to_owned(),
        ];
        for key in ["next_steps", "safety"] {
            words.extend(
                top[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_owned()),
            );
        }
        let text = words.join(" | ").to_lowercase();
        assert!(text.contains(word), "{car}: {text}");
        assert!(!text.contains(other), "{car}: {text}");
        // The questions a terminal would ask, as the JSON lists them.
        let asked = trunkdiag(&[
            "diagnose",
            "--sim",
            "trunk-actuator",
            "--profile",
            car,
            "--no-prompt",
            "--json",
        ]);
        let asked: serde_json::Value = serde_json::from_str(&asked.stdout).unwrap();
        let questions: Vec<String> = asked["questions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["text"].as_str().unwrap().to_lowercase())
            .collect();
        assert!(!questions.is_empty(), "{car}: no question asked");
        assert!(
            questions.iter().all(|q| !q.contains(other)),
            "{car}: {questions:?}"
        );
        let human = trunkdiag(&[
            "diagnose",
            "--sim",
            "trunk-actuator",
            "--profile",
            car,
            "--no-prompt",
        ]);
        assert!(
            human
                .stdout
                .contains(&format!("How to get into the {word} now:")),
            "{car}: {}",
            human.stdout
        );
    }
}

// -------------------------------------------------------------------- GM --

/// opendbc's two GM low-speed DBCs write the driver's-door frame as
/// 0x10630000 and 0x80630000 (GMLAN parameter ids: `UseGMParameterIDs`);
/// both import as arbitration id 0x318 with `gmlan = true`, and the items
/// read the frame at any priority and source address.
#[test]
fn gm_parameter_id_dbcs_import_by_arbitration_id() {
    for (file, role) in [
        (
            "dbc/gm_global_a_lowspeed.dbc",
            "door_open=DriverDoorStatus.DriverDoorOpened",
        ),
        (
            "dbc/gm_global_a_lowspeed_1818125.dbc",
            "door_open=Driver_Door_Status.DDAjrSwAtv",
        ),
    ] {
        let Some(dbc) = common::shared_data(file) else {
            return;
        };
        let items = import_dbc(&dbc, true, &[role]);
        assert!(
            items.contains("id = 0x318\ngmlan = true\n"),
            "{file}: {items}"
        );
        let p = profile_with(
            "name = \"sw-can\"\nbitrate = 33333",
            "protocol = \"uds\"\nrequest_id = 0x241\nresponse_id = 0x641",
            &items,
        );
        for raw in [0x1063_0000u32, 0x0063_0040, 0x0C63_0013] {
            // Bit 0 of byte 0 in DBC Motorola numbering `0|1@0+`.
            let v = decoded(&p, CanId::Extended(raw), &[0x01], Role::DoorOpen);
            assert_eq!(v, vec![1.0], "{file} {raw:08X}");
        }
    }
}
