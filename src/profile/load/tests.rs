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
fn nissan_l33_follows_vehicles_md() {
    let p = bundled("nissan-altima-2013-2018");
    assert_eq!(p.bcm.request_id, CanId::Standard(0x745));
    assert_eq!(p.bcm.response_id, CanId::Standard(0x765));
    assert_eq!(p.bcm.protocol, Protocol::Kwp);
    assert_eq!(
        p.bcm.session.as_ref().map(|s| s.request.clone()),
        Some(vec![0x10, 0xC0])
    );
    // Placeholders are unverified, public items verified.
    for name in [
        "TR CANCEL SW",
        "REQ SW -BD/TR",
        "KEYLESS TRUNK",
        "TRUNK OPENER OUTPUT",
        "keep-alive",
        "DTC read",
        "active test: stop",
    ] {
        assert!(
            !item_by_name(&p, name).verified,
            "{name} must be unverified"
        );
    }
    for name in [
        "TR/BD OPEN SW",
        "trunk lid open",
        "session start",
        "active test: fire the trunk opener",
    ] {
        assert!(item_by_name(&p, name).verified, "{name} must be verified");
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
fn nissan_l34_assumes_the_bcm_layout_unverified() {
    let p = bundled("nissan-altima-2019");
    for i in p.items.iter().filter(|i| i.kind != ItemKind::Signal) {
        assert!(!i.verified, "{} should be unverified on L34", i.name);
    }
    assert!(p.dtcs.iter().all(|d| !d.verified));
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
fn ford_follows_vehicles_md() {
    let p = bundled("ford-fusion-2013-2020");
    assert_eq!(p.bcm.request_id, CanId::Standard(0x726));
    assert_eq!(p.bcm.response_id, CanId::Standard(0x72E));
    assert!(
        !p.item(p.bcm.addressing_item).unwrap().verified,
        "0x72E is a placeholder"
    );
    for name in [
        "decklid ajar",
        "decklid inhibit",
        "battery voltage",
        "PE_Decklid_Inhibit_Rqst",
    ] {
        assert!(!item_by_name(&p, name).verified, "{name}");
    }
    assert!(item_by_name(&p, "Decklid_Ajar_Status").verified);
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
