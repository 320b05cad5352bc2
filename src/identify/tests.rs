use super::*;
use crate::frame::{CanFrame, CanId};

fn std_id(raw: u32) -> CanId {
    CanId::standard(raw).unwrap()
}

fn frame(id: u32, data: &[u8], t_us: u64) -> CanFrame {
    CanFrame::classic(std_id(id), data).unwrap().at(t_us)
}

/// `n` rounds of these ids, 100 ms apart, 8 bytes each.
fn heard_of(ids: &[u32], n: u64) -> Heard {
    let mut h = Heard::default();
    for round in 0..n {
        for &id in ids {
            h.push(&frame(id, &[0; 8], round * 100_000));
        }
    }
    h
}

fn altima() -> Fingerprint {
    Fingerprint::of(&crate::profile::load("nissan-altima-2013-2018").unwrap())
}

#[test]
fn the_fingerprint_comes_from_the_profile() {
    let fp = altima();
    let labels: Vec<&str> = fp.buses[0].1.iter().map(|e| e.label.as_str()).collect();
    for id in ["0x358", "0x60D", "0x284"] {
        assert!(labels.contains(&id), "{labels:?}");
    }
    assert_eq!(fp.bcm.map(|b| b.0), Some(std_id(0x745)));
    assert!(fp.census_complete);
}

#[test]
fn steady_ids_with_fitting_lengths_match() {
    let fp = altima();
    let ids: Vec<u32> = fp.buses[0].1.iter().map(|e| e.id.raw()).collect();
    let c = score(&fp, &heard_of(&ids, 5));
    assert_eq!(c.score, 1.0, "{c:?}");
    assert!(c.missing.is_empty() && c.foreign.is_empty(), "{c:?}");
    // One frame each: not steady, nothing matches.
    let c = score(&fp, &heard_of(&ids, 1));
    assert_eq!(c.matched.len(), 0, "{c:?}");
}

#[test]
fn a_short_frame_is_another_length_not_a_match() {
    let fp = altima();
    let mut h = Heard::default();
    for round in 0..5 {
        h.push(&frame(0x358, &[0; 1], round * 100_000));
    }
    let c = score(&fp, &h);
    assert!(
        c.other_length
            .iter()
            .any(|s| s.starts_with("0x358 (1 byte")),
        "{c:?}"
    );
    assert!(!c.matched.contains(&"0x358".to_owned()), "{c:?}");
}

#[test]
fn foreign_ids_count_against_a_complete_census() {
    let fp = altima();
    let ids: Vec<u32> = fp.buses[0].1.iter().map(|e| e.id.raw()).collect();
    let mut with_foreign = ids.clone();
    with_foreign.extend([0x123, 0x124, 0x125, 0x126]);
    let clean = score(&fp, &heard_of(&ids, 5)).score;
    let c = score(&fp, &heard_of(&with_foreign, 5));
    assert!(c.score < clean, "{c:?}");
    assert_eq!(c.foreign.len(), 4, "{c:?}");
}

#[test]
fn a_kwp_request_on_the_bcm_id_is_diagnostic_evidence() {
    let fp = altima();
    let mut h = Heard::default();
    h.push(&frame(0x745, &[0x02, 0x10, 0xC0, 0, 0, 0, 0, 0], 0));
    h.push(&frame(0x745, &[0x02, 0x21, 0x44, 0, 0, 0, 0, 0], 50_000));
    let c = score(&fp, &h);
    assert_eq!(
        c.diagnostics,
        ["KWP2000 requests to 0x745 (10 21)"],
        "{c:?}"
    );
    // Random bytes on the id are no request.
    let mut h = Heard::default();
    h.push(&frame(0x745, &[0x9A, 0x10, 0xC0, 0, 0, 0, 0, 0], 0));
    assert!(score(&fp, &h).diagnostics.is_empty());
}

#[test]
fn the_window_is_the_opening_seconds() {
    let mut h = Heard::default();
    for i in 0..100u64 {
        h.push(&frame(0x100, &[0; 8], i * 100_000));
        if h.full() {
            assert_eq!(i, 50);
            return;
        }
    }
    panic!("never full");
}

#[test]
fn a_random_bus_matches_nothing() {
    // cangen's default: random 11-bit ids, random lengths, random bytes.
    let mut h = Heard::default();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in 0..10_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let id = (x & 0x7FF) as u32;
        let len = ((x >> 11) % 9) as usize;
        let data: Vec<u8> = (0..len).map(|k| (x >> (16 + k * 5)) as u8).collect();
        h.push(&frame(id, &data, i * 200));
    }
    let ident = identify(&fingerprints(), &h);
    assert_eq!(ident.decision, Decision::None, "{ident:#?}");
}

#[test]
fn the_opendbc_table_parses_and_round_trips() {
    let mut n = 0;
    for line in opendbc::TABLE.lines() {
        match opendbc::parse_line(line) {
            Ok(Some(p)) => {
                n += 1;
                assert!(!p.ids.is_empty(), "{line}");
                assert_eq!(opendbc::format_line(&p.name, &p.ids), line);
            }
            Ok(None) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(n >= 10, "{n} DBC lines");
}
