//! The bundled profiles load cleanly and say what the vehicle notes say.

use super::*;
use crate::frame::CanFrame;

fn bundled(name: &str) -> Profile {
    match load_bundled(name) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn item_by_name<'a>(p: &'a Profile, name: &str) -> &'a ItemInfo {
    p.items
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no item {name}"))
}

#[test]
fn every_bundled_profile_and_layout_loads_cleanly() {
    for (name, _, _) in BUNDLED {
        let p = bundled(name);
        assert_eq!(p.id, *name);
        assert!(!p.access_now.is_empty(), "{name}: access_now");
    }
    for (name, path, text) in BUNDLED_LAYOUTS {
        let built = build(SourceFile {
            path: (*path).into(),
            text: (*text).into(),
            dir: None,
        });
        assert!(built.problems.is_empty(), "{name}: {:?}", built.problems);
    }
}

#[test]
fn nissan_l33_follows_the_vehicle_data() {
    let p = bundled("nissan-altima-2013-2018");
    assert_eq!(p.bcm().unwrap().request_id, CanId::Standard(0x745));
    assert_eq!(p.bcm().unwrap().response_id, CanId::Standard(0x765));
    assert_eq!(p.bcm().unwrap().protocol, Protocol::Kwp);
    assert_eq!(
        p.bcm().unwrap().session.as_ref().map(|s| s.request.clone()),
        Some(vec![0x10, 0xC0])
    );
    // Each item at the level its source supports.
    for name in [
        "TR CANCEL SW",
        "REQ SW -BD/TR",
        "KEYLESS TRUNK",
        "TRUNK OPENER OUTPUT",
        "keep-alive",
        "DTC read",
        "active test: stop",
    ] {
        assert_eq!(item_by_name(&p, name).level, Level::Placeholder, "{name}");
    }
    for name in ["TR/BD OPEN SW", "active test: fire the trunk opener"] {
        assert_eq!(item_by_name(&p, name).level, Level::RelatedModel, "{name}");
    }
    for name in ["session start", "trunk cancel switch"] {
        assert_eq!(item_by_name(&p, name).level, Level::ThisModel, "{name}");
    }
    assert_eq!(item_by_name(&p, "TR CANCEL SW").location, "KWP 21 44 A.7");
    // Data monitor 0x44: A.7 lockout, B.5 lid.
    let mut got = Vec::new();
    assert!(
        p.decode_data(DataKey::LocalId(0x44), &[0x80, 0x20], |_, r, v| got
            .push((r, v)))
    );
    assert!(got.contains(&(Role::Lockout, 1.0)));
    assert!(got.contains(&(Role::LidOpen, 1.0)));
    assert!(got.contains(&(Role::OpenerOutput, 0.0)));
    let mut got2 = Vec::new();
    assert!(p.decode_response(&[0x61, 0x44, 0x10, 0x00], |_, r, v| got2.push((r, v))));
    assert!(got2.contains(&(Role::OpenerOutput, 1.0)));
    // Broadcast: speed bytes E-F x 0.01, battery A x 0.1.
    let speed = CanFrame::classic(CanId::Standard(0x284), &[0, 0, 0, 0, 0x03, 0xE8, 0, 0]).unwrap();
    let mut v = None;
    assert!(
        p.decode_broadcast(&speed, |_, r, x| if r == Role::SpeedKmh {
            v = Some(x)
        })
    );
    assert!((v.unwrap() - 10.0).abs() < 1e-9);
    let batt = CanFrame::classic(CanId::Standard(0x6F6), &[124]).unwrap();
    let mut b = None;
    p.decode_broadcast(&batt, |_, _, x| b = Some(x));
    assert!((b.unwrap() - 12.4).abs() < 1e-9);
    // Short frame: no value, no panic.
    let short = CanFrame::classic(CanId::Standard(0x284), &[0, 0, 0]).unwrap();
    let mut n = 0;
    assert!(p.decode_broadcast(&short, |_, _, _| n += 1));
    assert_eq!(n, 0);
    // Census.
    assert!(p.is_known_id(CanId::Standard(0x60D)));
    assert!(p.is_known_id(CanId::Standard(0x6F6)));
    assert!(p.is_known_id(CanId::Standard(0x7DF)));
    assert!(!p.is_known_id(CanId::Standard(0x123)));
    assert!(p.census_complete);
    assert_eq!(
        p.dtc_meaning("B2562").and_then(|d| d.cause.as_deref()),
        Some("low-battery")
    );
    assert_eq!(
        p.dtc_meaning("U1010").and_then(|d| d.cause.as_deref()),
        Some("bcm-fault")
    );
    assert!(p.matches_vin("1N4AL3AP5DC123456"));
    assert!(!p.matches_vin("1N4AL2AP5CC123456"));
}

#[test]
fn a_question_mark_in_a_vds_prefix_is_any_character() {
    let mut p = bundled("nissan-altima-2013-2018");
    p.vin = vec![VinPattern {
        wmi: "3VW".into(),
        vds_prefixes: vec!["???BU".into()],
        year_chars: "K".into(),
    }];
    assert!(p.matches_vin("3VWC57BU5KM000001"));
    assert!(p.matches_vin("3vw2b7bu5km000001"));
    assert!(!p.matches_vin("3VWC57AU5KM000001"));
    assert!(!p.matches_vin("3VWC57BU5LM000001"));
}

#[test]
fn nissan_l34_assumes_the_bcm_layout_at_most_related() {
    let p = bundled("nissan-altima-2019");
    let bcm_items = p.items.iter().filter(|i| {
        matches!(
            i.kind,
            ItemKind::Exchange | ItemKind::Addressing | ItemKind::Data
        )
    });
    for i in bcm_items {
        assert!(
            i.level >= Level::RelatedModel,
            "{} should not be this-model on L34",
            i.name
        );
        assert!(
            i.source.starts_with("assumed for this model"),
            "{}",
            i.source
        );
    }
    assert!(p.dtcs.iter().all(|d| d.level >= Level::RelatedModel));
    assert_eq!(item_by_name(&p, "BOOT_OPEN").level, Level::ThisModel);
    let boot = CanFrame::classic(CanId::Standard(0x454), &[0, 0, 0, 0, 0, 0, 0x80, 0]).unwrap();
    let mut lid = None;
    p.decode_broadcast(&boot, |_, r, v| {
        if r == Role::LidOpen {
            lid = Some(v)
        }
    });
    assert_eq!(lid, Some(1.0));
    assert!(!p.census_complete);
}

#[test]
fn ford_follows_the_vehicle_data() {
    let p = bundled("ford-fusion-2013-2020");
    assert_eq!(p.bcm().unwrap().request_id, CanId::Standard(0x726));
    assert_eq!(p.bcm().unwrap().response_id, CanId::Standard(0x72E));
    assert!(
        p.item(p.bcm().unwrap().addressing_item).unwrap().level == Level::Placeholder,
        "0x72E is a placeholder"
    );
    for name in [
        "decklid ajar",
        "decklid inhibit",
        "battery voltage",
        "PE_Decklid_Inhibit_Rqst",
    ] {
        assert_eq!(item_by_name(&p, name).level, Level::Placeholder, "{name}");
    }
    assert_eq!(
        item_by_name(&p, "Decklid_Ajar_Status").level,
        Level::RelatedModel
    );
    let inh = CanFrame::classic(CanId::Standard(0x384), &[0, 0, 0, 0, 0, 0, 0x20, 0]).unwrap();
    let mut v = None;
    p.decode_broadcast(&inh, |_, r, x| {
        if r == Role::Lockout {
            v = Some(x)
        }
    });
    assert_eq!(v, Some(2.0));
    assert_eq!(
        p.dtc_meaning("U3003:16").and_then(|d| d.cause.as_deref()),
        Some("low-battery")
    );
    assert!(
        p.dtc_meaning("U3003:17").is_none(),
        "a listed failure type matches only itself"
    );
    assert!(p.dtc_meaning("u3003:16").is_some());
    assert!(!p.is_known_id(CanId::Standard(0x111)));
}

#[test]
fn generic_uds_has_no_trunk_roles() {
    let p = bundled("generic-uds");
    for r in Role::ALL.into_iter().filter(|r| r.is_trunk_path()) {
        assert!(!p.has_role(r));
    }
    let mut v = None;
    assert!(p.decode_response(&[0x41, 0x42, 0x30, 0xD4], |_, _, x| v = Some(x)));
    assert!((v.unwrap() - 12.5).abs() < 1e-9);
}

/// A small profile with two buses and the given extra text appended.
fn two_bus_profile(extra: &str) -> String {
    format!(
        r#"[profile]
id = "t"
make = "M"
model = "X"
years = [2010, 2012]

[[bus]]
name = "hs-can"
bitrate = 500000
pins = [6, 14]
level = "this-model"
source = "test"

[[bus]]
name = "ms-can"
bitrate = 125000
pins = [3, 11]
level = "placeholder"

[bcm]
protocol = "uds"
request_id = 0x726
response_id = 0x72E
level = "placeholder"

[[frame]]
id = 0x3B1
name = "Ajar"
bus = "ms-can"

[[frame.signal]]
name = "lid"
role = "lid_open"
bit = "A.3"
level = "related-model"
source = "a sibling"
{extra}"#
    )
}

fn problems_of(text: &str) -> Vec<String> {
    let built = build(SourceFile {
        path: "t.toml".into(),
        text: text.into(),
        dir: None,
    });
    built.problems.iter().map(|p| p.to_string()).collect()
}

#[test]
fn buses_and_levels_load() {
    let p = parse("t.toml", &two_bus_profile("")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = p.buses.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["hs-can", "ms-can"]);
    assert_eq!(p.buses[1].pins, [3, 11]);
    assert_eq!(
        (p.bitrate, p.default_bus().unwrap().pins_text()),
        (500_000, "pins 6/14".into())
    );
    // Signals inherit their frame's bus; the BCM is on the default bus.
    let lid = item_by_name(&p, "lid");
    assert_eq!(
        (lid.bus.as_str(), lid.level),
        ("ms-can", Level::RelatedModel)
    );
    assert_eq!(p.frames[0].bus, "ms-can");
    assert_eq!(p.bcm().unwrap().bus, "hs-can");
    assert_eq!(item_by_name(&p, "ms-can bus").level, Level::Placeholder);
    assert_eq!(Level::RelatedModel.label(), "from a related model");
    assert!(Level::ThisModel < Level::RelatedModel && Level::RelatedModel < Level::Placeholder);
}

#[test]
fn this_model_without_a_source_is_rejected_at_its_line() {
    let text = two_bus_profile(
        "\n[[frame]]\nid = 0x3B3\nname = \"BodyInfo_3\"\n\n[[frame.signal]]\nname = \"ajar\"\nrole = \"lid_open\"\nbit = \"A.0\"\nlevel = \"this-model\"\n",
    );
    let problems = problems_of(&text);
    // The second `this-model` line is the signal's (the first is the bus's).
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "level = \"this-model\"")
        .map(|(i, _)| i + 1)
        .nth(1)
        .unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(&format!("t.toml:{line}:")),
        "{problems:?}"
    );
    assert!(
        problems[0].contains("expected a `source` for `ajar`"),
        "{problems:?}"
    );
}

#[test]
fn unknown_levels_and_buses_are_named() {
    let text = two_bus_profile("bus = \"body\"\n").replace("\"related-model\"", "\"verified\"");
    let problems = problems_of(&text).join("\n");
    assert!(problems.contains("expected a level (this-model, related-model, placeholder, learned) for `lid`, found \"verified\""), "{problems}");
    assert!(
        problems.contains("expected a bus named in [[bus]] (hs-can, ms-can), found \"body\""),
        "{problems}"
    );
}

#[test]
fn the_old_single_bus_table_is_one_bus_named_hs_can() {
    let text = two_bus_profile("").replacen(
        "[[bus]]\nname = \"hs-can\"\nbitrate = 500000\npins = [6, 14]\nlevel = \"this-model\"\nsource = \"test\"\n\n[[bus]]\nname = \"ms-can\"\nbitrate = 125000\npins = [3, 11]\nlevel = \"placeholder\"\n",
        "[bus]\nbitrate = 250000\n",
        1,
    ).replace("bus = \"ms-can\"\n", "");
    let p = parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.buses.len(), 1);
    assert_eq!((p.buses[0].name.as_str(), p.bitrate), ("hs-can", 250_000));
}

/// `two_bus_profile` with its second bus turned into GM's single-wire CAN,
/// `bus` the text of that `[[bus]]` table's body.
fn single_wire_profile(bus: &str) -> String {
    two_bus_profile("").replace(
        "name = \"ms-can\"\nbitrate = 125000\npins = [3, 11]\nlevel = \"placeholder\"\n",
        &format!("name = \"ms-can\"\n{bus}level = \"placeholder\"\n"),
    )
}

#[test]
fn a_single_wire_bus_loads_at_33333_on_pin_1() {
    let text = single_wire_profile("kind = \"single-wire\"\nbitrate = 33333\npins = [1]\n");
    let p = parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let (hs, sw) = (&p.buses[0], &p.buses[1]);
    assert_eq!(
        (hs.kind, sw.kind),
        (BusKind::HighSpeed, BusKind::SingleWire)
    );
    assert_eq!(
        (sw.bitrate_text(), sw.pins_text()),
        ("33.3 kbit/s".into(), "pin 1".into())
    );
    assert_eq!(
        item_by_name(&p, "ms-can bus").location,
        "single-wire CAN, 33.3 kbit/s, pin 1"
    );
    assert!(p.bus_carries_items("ms-can") && p.bus_carries_items("hs-can"));
    let json = serde_json::to_value(&p.buses).unwrap();
    assert_eq!(json[0]["kind"], "high-speed");
    assert_eq!(json[1]["kind"], "single-wire");
    // Without pins (not at the connector) it loads too.
    let text = single_wire_profile("kind = \"single-wire\"\nbitrate = 33333\n");
    assert!(problems_of(&text).is_empty(), "{:?}", problems_of(&text));
}

#[test]
fn a_single_wire_bus_at_another_rate_or_pin_is_refused_at_its_line() {
    let line_of = |text: &str, want: &str| {
        text.lines()
            .collect::<Vec<_>>()
            .iter()
            .rposition(|l| l.starts_with(want))
            .unwrap()
            + 1
    };
    let text = single_wire_profile(
        "kind = \"single-wire\"\nbitrate = 500000\npins = [6, 14]\nfd = true\n",
    );
    let problems = problems_of(&text);
    assert_eq!(problems.len(), 3, "{problems:?}");
    let rate = format!(
        "t.toml:{}:11: expected bitrate = 33333 for a single-wire bus (GM LS-GMLAN runs at 33.3 kbit/s), found 500000",
        line_of(&text, "bitrate = 500000")
    );
    let pins = format!(
        "t.toml:{}:8: expected pins = [1] for a single-wire bus",
        line_of(&text, "pins = [6, 14]")
    );
    let fd = format!(
        "t.toml:{}:8: expected no `fd = true` on a single-wire bus",
        line_of(&text, "kind = \"single-wire\"")
    );
    for want in [rate, pins, fd] {
        assert!(
            problems.iter().any(|p| p.starts_with(&want)),
            "{want}\n{problems:?}"
        );
    }
    let text = single_wire_profile("kind = \"low-speed\"\nbitrate = 33333\n");
    let problems = problems_of(&text).join("\n");
    assert!(
        problems.contains(&format!(
            "t.toml:{}:8: expected a bus `kind` (high-speed, single-wire), found \"low-speed\"",
            line_of(&text, "kind = ")
        )),
        "{problems}"
    );
    // The old rule still holds for a high-speed bus, which 33333 is inside.
    let text = single_wire_profile("bitrate = 5000\n");
    assert!(
        problems_of(&text)
            .join("\n")
            .contains("expected a bitrate from 10000 to 1000000 bit/s, found 5000"),
        "{:?}",
        problems_of(&text)
    );
    assert!(problems_of(&single_wire_profile("bitrate = 33333\n")).is_empty());
}

/// The roles a frame's payload decodes to, by item name.
fn decoded(p: &Profile, id: u16, data: &[u8]) -> Vec<(String, f64)> {
    let f = CanFrame::classic(CanId::Standard(id), data).unwrap();
    let mut got = Vec::new();
    p.decode_broadcast(&f, |i, _, v| {
        got.push((p.item(i).unwrap().name.clone(), v));
    });
    got
}

#[test]
fn l33_reads_the_lid_on_0x358_and_the_locks_on_0x60d_the_l32_keeps_related_rows() {
    let l33 = bundled("nissan-altima-2013-2018");
    let lid = l33
        .fields()
        .find(|f| f.role == Role::LidOpen && p_item(&l33, f).kind == ItemKind::Signal)
        .unwrap();
    assert_eq!(p_item(&l33, lid).location, "0x358 C.0");
    assert_eq!(p_item(&l33, lid).level, Level::ThisModel);
    // 0x60D A.7 is not a lid signal on the L33; C.4 is the locks.
    let got = decoded(&l33, 0x60D, &[0x80, 0x06, 0x10, 0, 0, 0, 0, 0]);
    assert!(
        !got.iter().any(|(n, v)| n == "trunk lid open" && *v == 1.0),
        "{got:?}"
    );
    assert!(got.contains(&("doors locked".into(), 1.0)), "{got:?}");
    assert!(got.contains(&("ignition ON".into(), 1.0)), "{got:?}");
    assert!(got.contains(&("accessory ON".into(), 1.0)), "{got:?}");
    assert!(decoded(&l33, 0x358, &[0, 0, 0x01, 0, 0, 0, 0, 0])
        .contains(&("trunk lid open".into(), 1.0)));
    let l32 = bundled("nissan-altima-2007-2012");
    let lid = item_by_name(&l32, "trunk lid open");
    assert_eq!(
        (lid.location.as_str(), lid.level),
        ("0x60D 7|1@1+", Level::RelatedModel)
    );
    assert_eq!(
        item_by_name(&l32, "driver door locked").location,
        "0x358 F.0"
    );
}

fn p_item<'a>(p: &'a Profile, f: &Field) -> &'a ItemInfo {
    p.item(f.item).unwrap()
}

#[test]
fn ford_reads_0x3b3_and_0x331_on_hs_can_and_names_the_ms_can_items() {
    let p = bundled("ford-fusion-2013-2020");
    let buses: Vec<(&str, u32, &[u8])> = p
        .buses
        .iter()
        .map(|b| (b.name.as_str(), b.bitrate, b.pins.as_slice()))
        .collect();
    assert_eq!(
        buses,
        [
            ("hs-can", 500_000, &[6u8, 14][..]),
            ("ms-can", 125_000, &[3, 11][..])
        ]
    );
    for (id, bus) in [
        (0x3B3, "hs-can"),
        (0x331, "hs-can"),
        (0x110, "ms-can"),
        (0x384, "ms-can"),
        (0x3B1, "ms-can"),
    ] {
        let f = p
            .frames
            .iter()
            .find(|f| f.id == CanId::Standard(id))
            .unwrap();
        assert_eq!(f.bus, bus, "0x{id:X}");
    }
    // The real 2017 Fusion: byte A 0x40 -> 0x41 when the trunk is opened.
    let open = decoded(&p, 0x3B3, &[0x41, 0x80, 0, 0, 0xE6, 0x01, 0x80, 0x02]);
    assert!(
        open.contains(&("DrStatTgate_B_Actl".into(), 1.0)),
        "{open:?}"
    );
    assert!(open.contains(&("Ignition_Status".into(), 4.0)), "{open:?}");
    assert!(open.contains(&("ignition Run".into(), 1.0)), "{open:?}");
    let off = decoded(&p, 0x3B3, &[0x10, 0x80, 0, 0, 0xE6, 0x01, 0x80, 0x02]);
    assert!(off.contains(&("ignition Run".into(), 0.0)), "{off:?}");
    // 0x331 byte E 0x04: Veh_Lock_Status 2 (UNLOCK_ALL); 0x02: 1 (LOCK_ALL).
    let unlocked = decoded(&p, 0x331, &[0xC0, 0, 0x61, 0x10, 0x04, 0x98, 0x18, 0x02]);
    assert!(
        unlocked.contains(&("Veh_Lock_Status".into(), 2.0)),
        "{unlocked:?}"
    );
    assert!(
        unlocked.contains(&("driver door locked".into(), 0.0)),
        "{unlocked:?}"
    );
    let locked = decoded(&p, 0x331, &[0xC0, 0, 0x61, 0x10, 0x02, 0x98, 0x18, 0x02]);
    assert!(
        locked.contains(&("driver door locked".into(), 1.0)),
        "{locked:?}"
    );
    assert!(!p.census_complete);
}

/// `two_bus_profile` with `lines` added to its `[bcm]`.
fn with_bcm_addressing(lines: &str) -> String {
    two_bus_profile("").replacen(
        "response_id = 0x72E\n",
        &format!("response_id = 0x72E\n{lines}"),
        1,
    )
}

/// The 1-based line of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.starts_with(needle)).unwrap() + 1
}

#[test]
fn extended_addressing_carries_its_address_bytes() {
    let text = with_bcm_addressing("addressing = \"extended\"\ntarget_address = 0x40\n");
    let p = parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.bcm().unwrap().addressing,
        Addressing::Extended {
            target: 0x40,
            source: 0x40
        }
    );
    assert_eq!(
        crate::isotp::Addressing::from(p.bcm().unwrap().addressing),
        crate::isotp::Addressing::Extended {
            target: 0x40,
            source: 0x40
        }
    );
    let item = p.item(p.bcm().unwrap().addressing_item).unwrap();
    assert!(
        item.location.ends_with("[40] → 0x72E [40]"),
        "{}",
        item.location
    );
    let text = with_bcm_addressing(
        "addressing = \"extended\"\ntarget_address = 0x40\nsource_address = 0x58\n",
    );
    let p = parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.bcm().unwrap().addressing,
        Addressing::Extended {
            target: 0x40,
            source: 0x58
        }
    );
}

#[test]
fn bad_address_bytes_are_named_at_their_line() {
    for (lines, needle, says) in [
        (
            "addressing = \"extended\"\n",
            "addressing",
            "expected `target_address`",
        ),
        (
            "target_address = 0x40\n",
            "target_address",
            "expected no target_address with normal addressing",
        ),
        (
            "addressing = \"normal\"\nsource_address = 0x40\n",
            "source_address",
            "expected no source_address with normal addressing",
        ),
        (
            "addressing = \"extended\"\ntarget_address = 0x140\n",
            "target_address",
            "expected target_address from 0 to 255",
        ),
        (
            "addressing = \"extended\"\ntarget_address = 0x40\nsource_address = -1\n",
            "source_address",
            "expected source_address from 0 to 255",
        ),
    ] {
        let text = with_bcm_addressing(lines);
        let problems = problems_of(&text);
        let line = line_of(&text, needle);
        assert_eq!(problems.len(), 1, "{lines}: {problems:?}");
        assert!(
            problems[0].starts_with(&format!("t.toml:{line}:")) && problems[0].contains(says),
            "{lines}: {problems:?}"
        );
    }
}

/// A small profile with `bcm` and `frames` given as TOML text.
fn mini(bcm: &str, frames: &str) -> String {
    format!(
        "[profile]\nid = \"t\"\nmake = \"t\"\nmodel = \"t\"\nyears = [2020, 2020]\n\n\
         [[bus]]\nname = \"hs-can\"\nbitrate = 500000\nlevel = \"placeholder\"\n\n\
         [bcm]\nprotocol = \"kwp\"\nrequest_id = 0x750\nresponse_id = 0x758\nlevel = \"placeholder\"\n{bcm}\n{frames}"
    )
}

#[test]
fn extended_addressing_says_which_messages_are_the_bcms() {
    let p = parse(
        "t.toml",
        &mini("addressing = \"extended\"\ntarget_address = 0x40\n", ""),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(p.bcm().unwrap().owns(Some(0x40), true) && !p.bcm().unwrap().owns(Some(0x90), false));
    assert!(!p.bcm().unwrap().owns(None, false));
    let two = parse(
        "t.toml",
        &mini(
            "addressing = \"extended\"\ntarget_address = 0x40\nsource_address = 0x58\n",
            "",
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        two.bcm().unwrap().owns(Some(0x58), false) && !two.bcm().unwrap().owns(Some(0x40), false)
    );
}

#[test]
fn selector_pages_share_an_id_and_are_checked() {
    let page = |v: u8, bits: &str, extra: &str| {
        format!(
            "[[frame]]\nid = 0x620\nname = \"p{v:02X}\"\nselector = {{ byte = 0, value = 0x{v:02X} }}\n{extra}\n\
             [[frame.signal]]\nname = \"lid {v:02X}\"\nrole = \"lid_open\"\nbits = \"{bits}\"\nlevel = \"placeholder\"\n\n"
        )
    };
    let p = parse(
        "t.toml",
        &mini(
            "",
            &(page(0x10, "41|1@0+", "") + &page(0x11, "42|1@0+", "")),
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.broadcast_ids().count(), 1, "one id, two pages");
    let lid = |data: [u8; 8]| {
        let f = CanFrame::classic(CanId::Standard(0x620), &data).unwrap();
        let mut v = Vec::new();
        assert!(p.decode_broadcast(&f, |i, _, x| v.push((p.item(i).unwrap().name.clone(), x))));
        v
    };
    assert_eq!(
        lid([0x10, 0, 0, 0, 0, 0x06, 0, 0]),
        vec![("lid 10".to_owned(), 1.0)]
    );
    assert_eq!(
        lid([0x11, 0, 0, 0, 0, 0x02, 0, 0]),
        vec![("lid 11".to_owned(), 0.0)]
    );
    assert!(lid([0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).is_empty());
    let cases = [
        (page(0x10, "3|1@0+", ""), "to leave the selector byte 0 alone"),
        (page(0x10, "41|1@0+", "") + &page(0x10, "42|1@0+", ""), "is defined twice"),
        (
            page(0x10, "41|1@0+", "")
                + "[[frame]]\nid = 0x620\nname = \"plain\"\n\n[[frame.signal]]\nname = \"x\"\nrole = \"info\"\nbits = \"50|1@0+\"\nlevel = \"placeholder\"\n",
            "to have a selector (a multiplexed id), or none to",
        ),
        (
            "[[frame]]\nid = 0x620\nname = \"far\"\nselector = { byte = 9, value = 0x10 }\n".to_owned(),
            "expected a selector byte below the frame length (8)",
        ),
    ];
    for (frames, want) in cases {
        let problems = problems_of(&mini("", &frames));
        assert!(
            problems.iter().any(|p| p.contains(want)),
            "{want}: {problems:?}"
        );
    }
}

/// A GMLAN parameter-id frame (`gmlan = true`, the 13-bit arbitration id)
/// is every 29-bit id with that arbitration id, whatever its priority and
/// source address: 0x10630000 and 0x00630000 (opendbc's two GM low-speed
/// DBCs) and a sender's 0x0C630040 are all arbitration id 0x318.
#[test]
fn gmlan_parameter_id_frames_match_any_priority_and_source() {
    let text = mini(
        "",
        "[[frame]]\nid = 0x318\ngmlan = true\nname = \"Driver_Door_Status\"\n\n\
         [[frame.signal]]\nname = \"ajar\"\nrole = \"door_open\"\nbits = \"0|1@1+\"\nlevel = \"placeholder\"\n",
    );
    let p = parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.frames[0].label(), "GMLAN 0x318");
    let read = |raw: u32| {
        let f = CanFrame::classic(CanId::Extended(raw), &[1, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        let mut v = Vec::new();
        p.decode_broadcast(&f, |_, _, x| v.push(x));
        (v, p.is_known_id(f.id))
    };
    for raw in [0x1063_0000, 0x0063_0000, 0x0C63_0040, 0x1C63_00FF] {
        assert_eq!(read(raw), (vec![1.0], true), "{raw:08X}");
    }
    for raw in [0x1063_2000, 0x1062_E000] {
        assert_eq!(read(raw), (vec![], false), "{raw:08X}");
    }
    // An 11-bit 0x318 is another frame.
    let f = CanFrame::classic(CanId::Standard(0x318), &[1; 8]).unwrap();
    assert!(!p.decode_broadcast(&f, |_, _, _| {}));
    let problems = problems_of(&mini(
        "",
        "[[frame]]\nid = 0x2318\ngmlan = true\nname = \"too wide\"\n",
    ));
    assert!(
        problems
            .iter()
            .any(|m| m.contains("expected a GMLAN arbitration id of 13 bits")),
        "{problems:?}"
    );
}

#[test]
fn liftgate_words_keep_the_tools_name() {
    assert_eq!(
        Lid::Liftgate.words("trunkdiag cannot see the trunk lid or the Trunk"),
        "trunkdiag cannot see the liftgate or the Liftgate"
    );
    assert_eq!(Lid::Trunk.words("the trunk"), "the trunk");
}

#[test]
fn every_bundled_relearn_step_names_a_role_the_profile_reads() {
    let mut with = Vec::new();
    for (name, _, _) in BUNDLED {
        let p = bundled(name);
        let Some(r) = &p.relearn else { continue };
        with.push(*name);
        assert!(!r.steps.is_empty(), "{name}");
        assert!(
            p.has_role(Role::LidOpen),
            "{name}: the final check reads the lid"
        );
        for (i, s) in r.steps.iter().enumerate() {
            match s.confirm.role() {
                Some(role) => assert!(p.has_role(role), "{name} step {}: {role}", i + 1),
                None => assert!(p.bcm().is_some(), "{name} step {}: a routine", i + 1),
            }
            // A make's procedure is never more than its level says: the
            // step says where it comes from.
            let item = p.item(s.item).unwrap();
            assert!(!item.source.is_empty(), "{name} step {}", i + 1);
            assert_ne!(
                item.level,
                Level::ThisModel,
                "{name} step {}: a make's procedure",
                i + 1
            );
        }
    }
    assert_eq!(with, ["toyota-rav4-2019-2025"]);
}

#[test]
fn rav4_relearn_is_toyotas_back_door_reset_at_related_model() {
    let p = bundled("toyota-rav4-2019-2025");
    let r = p.relearn.as_ref().unwrap();
    assert_eq!(p.item(r.item).unwrap().level, Level::RelatedModel);
    let confirms: Vec<String> = r.steps.iter().map(|s| s.confirm.words()).collect();
    assert_eq!(
        confirms,
        ["lid_open becomes 0", "driver_door_locked becomes 0"]
    );
    assert_eq!(r.steps[0].timeout_us, 120_000_000);
    assert!(r.steps[1].if_not.contains("10 s"));
}

fn relearn_profile(relearn: &str) -> String {
    two_bus_profile(&format!("\n{relearn}"))
}

const GOOD_STEP: &str = r#"
[relearn]
procedure = "p"
level = "placeholder"

[[relearn.step]]
do = "close it"
confirm = { role = "lid_open", becomes = 0 }
timeout_s = 30
if_not = "the lid"
level = "placeholder"
"#;

#[test]
fn a_relearn_loads_with_its_items() {
    let routine = r#"
[[relearn.step]]
do = "nothing: the tool calibrates"
confirm = { routine = 0x0203, pass = "00", fail = "01 02" }
timeout_s = 5.5
if_not = "the module"
source = "a manual"
level = "related-model"
"#;
    let p = parse("t.toml", &relearn_profile(&format!("{GOOD_STEP}{routine}")))
        .unwrap_or_else(|e| panic!("{e}"));
    let r = p.relearn.as_ref().unwrap();
    assert_eq!(r.procedure, "p");
    assert_eq!(
        r.steps[0].confirm,
        Confirm::Becomes {
            role: Role::LidOpen,
            value: 0.0
        }
    );
    assert_eq!(
        r.steps[1].confirm,
        Confirm::Routine {
            id: 0x0203,
            pass: vec![0],
            fail: vec![1, 2]
        }
    );
    assert_eq!(r.steps[1].timeout_us, 5_500_000);
    let step2 = p.item(r.steps[1].item).unwrap();
    assert_eq!(
        (step2.name.as_str(), step2.kind, step2.level),
        ("relearn step 2", ItemKind::Relearn, Level::RelatedModel)
    );
}

/// The problems of a relearn section, each with the line it names.
fn relearn_problems(relearn: &str) -> Vec<(usize, String)> {
    let text = relearn_profile(relearn);
    problems_of(&text)
        .into_iter()
        .map(|p| {
            let line = p
                .strip_prefix("t.toml:")
                .and_then(|r| r.split(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let text_line = text.lines().nth(line.max(1) - 1).unwrap_or("").to_owned();
            (line, format!("{p} [{text_line}]"))
        })
        .collect()
}

#[test]
fn bad_relearn_tables_are_named_at_their_line() {
    let cases: [(&str, &str, &str); 8] = [
        (
            "role = \"lid_open\", becomes",
            "role = \"boot\", becomes",
            "expected a role for relearn step 1, found \"boot\"",
        ),
        (
            "role = \"lid_open\", becomes",
            "role = \"speed_kmh\", becomes",
            "expected a data field or signal with role `speed_kmh`",
        ),
        (
            "becomes = 0",
            "becomes = 0, equals = 1",
            "exactly one of `becomes` and `equals`",
        ),
        (
            "timeout_s = 30",
            "timeout_s = 0",
            "expected timeout_s of relearn step 1 above 0",
        ),
        ("timeout_s = 30", "timeout_s = 601", "at most 600"),
        (
            "if_not = \"the lid\"",
            "if_not = \" \"",
            "expected `if_not` of relearn step 1",
        ),
        (
            "level = \"placeholder\"\n\n[[",
            "level = \"thismodel\"\n\n[[",
            "expected a level",
        ),
        (
            "confirm = { role = \"lid_open\", becomes = 0 }",
            "confirm = { routine = 0x10203, pass = \"00\", fail = \"01\" }",
            "expected a routine identifier from 0x0000 to 0xFFFF",
        ),
    ];
    for (from, to, want) in cases {
        assert!(GOOD_STEP.contains(from), "{from}");
        let problems = relearn_problems(&GOOD_STEP.replacen(from, to, 1));
        assert!(
            problems
                .iter()
                .any(|(line, p)| *line > 0 && p.contains(want)),
            "{to}: {problems:?}"
        );
    }
    // Each points at the line it is about.
    let problems = relearn_problems(&GOOD_STEP.replace("\"lid_open\"", "\"boot\""));
    assert!(
        problems.iter().all(|(_, p)| p.contains("[confirm = ")),
        "{problems:?}"
    );
}

#[test]
fn a_routine_needs_a_uds_module_and_distinct_results() {
    let routine = GOOD_STEP.replace(
        "{ role = \"lid_open\", becomes = 0 }",
        "{ routine = 0x0203, pass = \"00\", fail = \"00 01\" }",
    );
    let problems = relearn_problems(&routine);
    assert!(
        problems
            .iter()
            .any(|(_, p)| p.contains("expected `fail` to differ from `pass`")),
        "{problems:?}"
    );
    let kwp = relearn_profile(&GOOD_STEP.replace(
        "{ role = \"lid_open\", becomes = 0 }",
        "{ routine = 0x0203, pass = \"00\", fail = \"01\" }",
    ))
    .replace("protocol = \"uds\"", "protocol = \"kwp\"");
    let problems = problems_of(&kwp);
    assert!(
        problems.iter().any(|p| p.contains("expected a UDS [bcm]")),
        "{problems:?}"
    );
    let empty = relearn_problems("[relearn]\nprocedure = \"p\"\nlevel = \"placeholder\"\n");
    assert!(
        empty
            .iter()
            .any(|(_, p)| p.contains("expected at least one [[relearn.step]]")),
        "{empty:?}"
    );
    let unknown = relearn_problems(&GOOD_STEP.replace("do = ", "does = "));
    assert!(
        unknown.iter().any(|(l, p)| *l > 0 && p.contains("does")),
        "{unknown:?}"
    );
}

fn with_active_test(keys: &str) -> String {
    two_bus_profile(&format!(
        "\n[active_test]\nmax_duration_ms = 500\n{keys}\n\n\
         [active_test.start]\nrequest = \"2F 01 02 03 01\"\nresponse = \"6F 01 02 03\"\nlevel = \"placeholder\"\n"
    ))
}

/// The cool-down and the most firings default to 3 s and one; values out
/// of range are named at their line.
#[test]
fn active_test_cooldown_and_firings_default_and_are_checked() {
    let p = parse("t.toml", &with_active_test("")).unwrap_or_else(|e| panic!("{e}"));
    let at = p.active_test().unwrap();
    assert_eq!((at.cooldown_ms, at.max_firings), (3000, 1));
    let p = parse(
        "t.toml",
        &with_active_test("cooldown_ms = 8000\nmax_firings = 2"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let at = p.active_test().unwrap();
    assert_eq!((at.cooldown_ms, at.max_firings), (8000, 2));
    for (keys, want) in [
        (
            "max_firings = 0",
            "expected max_firings from 1 to 5, found 0",
        ),
        (
            "max_firings = 9",
            "expected max_firings from 1 to 5, found 9",
        ),
        (
            "cooldown_ms = 70000",
            "expected cooldown_ms from 0 to 60000, found 70000",
        ),
    ] {
        let problems = problems_of(&with_active_test(keys));
        assert!(
            problems.iter().any(|p| p.contains(want)),
            "{keys}: {problems:?}"
        );
    }
}

#[test]
fn a_recorded_bus_loads_and_its_mistakes_are_named_at_their_line() {
    let good = two_bus_profile(
        "\n[census]\ncomplete = false\nknown_ids = []\n\n[census.recorded]\nbus = \"hs-can\"\nlevel = \"this-model\"\nsource = \"a recording\"\nframes = [[0x3B3, 8], [0x100, 3]]\n",
    );
    let p = parse("t.toml", &good).unwrap_or_else(|e| panic!("{e}"));
    let r = p.recorded.as_ref().expect("recorded");
    assert_eq!(
        (r.bus.as_str(), r.level, r.frames.clone()),
        (
            "hs-can",
            Level::ThisModel,
            vec![(CanId::Standard(0x100), 3), (CanId::Standard(0x3B3), 8)]
        )
    );
    // The diagnosis does not take it for a complete census.
    assert!(!p.census_complete);

    let bad = two_bus_profile(
        "\n[census]\ncomplete = false\nknown_ids = []\n\n[census.recorded]\nbus = \"lin\"\nlevel = \"this-model\"\nsource = \"a recording\"\nframes = [[0x3B3, 8], [0x3B3, 8], [0x100, 65], [0x20000000, 8]]\n",
    );
    let problems = problems_of(&bad).join("\n");
    let line = bad
        .lines()
        .position(|l| l.starts_with("frames = "))
        .unwrap()
        + 1;
    for want in [
        "expected one of the profile's buses (hs-can, ms-can) for [census.recorded], found \"lin\"",
        "expected each id once in [census.recorded], found 0x3B3 again",
        "expected a data length of 0 to 64 bytes, found 65",
        "expected a CAN id (at most 0x1FFFFFFF), found 0x20000000",
    ] {
        assert!(problems.contains(want), "{want} not in\n{problems}");
    }
    assert!(problems.contains(&format!("t.toml:{line}:")), "{problems}");
}
