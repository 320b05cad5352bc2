use super::*;
use crate::frame::CanFrame;

fn frame(id: u32, t_us: u64, data: &[u8]) -> CanFrame {
    CanFrame::classic(CanId::standard(id).unwrap(), data)
        .unwrap()
        .at(t_us)
}

#[test]
fn parses_marks() {
    let m = Mark::parse("lid_open=Open@1.5", 1_000).unwrap();
    assert_eq!(
        (m.role, m.label.as_str(), m.at_us),
        (Role::LidOpen, "open", 1_501_000)
    );
    assert!(matches!(
        Mark::parse("lid=1@2", 0),
        Err(LearnError::UnknownRole { .. })
    ));
    assert!(matches!(
        Mark::parse("lid_open=1", 0),
        Err(LearnError::MarkSyntax { .. })
    ));
    assert!(matches!(
        Mark::parse("lid_open=1@-3", 0),
        Err(LearnError::Seconds { .. })
    ));
    assert!(matches!(
        Mark::parse("lid_open=@3", 0),
        Err(LearnError::EmptyValue { .. })
    ));
}

/// A bit that follows the marks beats a counter, a checksum and a noisy bit
/// in the same frame, and the counter and checksum are named as such.
#[test]
fn finds_the_bit_and_rejects_counter_and_checksum() {
    let mut l = Learner::new(LearnConfig::default());
    let mut noise = 0x1234_5678u32;
    let mut lid = false;
    for i in 0..600u64 {
        let t = i * 100_000;
        // The lid opens at 10 s, 30 s, 50 s and closes 5 s later.
        if matches!(t, 10_000_000 | 30_000_000 | 50_000_000) {
            lid = true;
        }
        if matches!(t, 15_000_000 | 35_000_000 | 55_000_000) {
            lid = false;
        }
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        let mut d = [0u8; 8];
        d[0] = (i % 16) as u8;
        d[2] = u8::from(lid) << 5;
        d[3] = u8::from(noise.is_multiple_of(7));
        d[7] = d[..7].iter().fold(0u8, |a, b| a.wrapping_add(*b));
        l.push(&frame(0x123, t, &d));
    }
    for (s, v) in [
        (10.0, "1"),
        (15.0, "0"),
        (30.0, "1"),
        (35.0, "0"),
        (50.0, "1"),
    ] {
        l.mark(Mark::parse(&format!("lid_open={v}@{s}"), 0).unwrap());
    }
    let out = l.finish();
    let r = out.role(Role::LidOpen).unwrap();
    let best = r.best().expect("learned");
    assert_eq!(best.place.dbc(), "21|1@1+", "{:#?}", r.candidates);
    assert_eq!(best.evidence.hits, 5);
    assert!(out
        .rejected
        .iter()
        .any(|x| x.kind == Kind::Counter && x.place.byte == 0));
    assert!(out
        .rejected
        .iter()
        .any(|x| x.kind == Kind::Checksum && x.place.byte == 7));
    // The draft loads.
    let info = DraftInfo {
        id: "learned-test".into(),
        vin: None,
        date: "2026-11-30".into(),
        year: 2026,
        bitrate: 500_000,
        from: "a test".into(),
    };
    let text = draft_profile(&out, &info);
    let p = crate::profile::parse("draft.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(p.has_role(Role::LidOpen));
}

#[test]
fn crc8_differs_from_the_j1850_standard_by_a_constant() {
    // CRC-8/SAE-J1850 has init 0xFF and final XOR 0xFF; its check value over
    // "123456789" is 0x4B. Ours starts at 0 with no final XOR: for inputs of
    // one length the two differ by one constant, which the detector absorbs.
    let standard = |data: &[u8]| {
        let mut c = 0xFFu8;
        for d in data {
            c ^= d;
            for _ in 0..8 {
                c = if c & 0x80 != 0 {
                    (c << 1) ^ 0x1D
                } else {
                    c << 1
                };
            }
        }
        c ^ 0xFF
    };
    assert_eq!(standard(b"123456789"), 0x4B);
    let k = standard(b"123456789") ^ frames::crc8_for_tests(b"123456789");
    assert_eq!(
        standard(b"ABCDEFGHI") ^ frames::crc8_for_tests(b"ABCDEFGHI"),
        k
    );
}

/// Two bits that both rise at the one key-on mark tie; the draft writes no
/// ignition item. A key-off and a second key-on that only one of them
/// follows tell them apart.
#[test]
fn one_mark_that_two_places_follow_is_a_tie_and_another_mark_separates() {
    let info = DraftInfo {
        id: "learned-tie".into(),
        vin: None,
        date: "2026-11-30".into(),
        year: 2026,
        bitrate: 500_000,
        from: "a test".into(),
    };
    // `until_s`: the capture's length, in seconds.
    let run = |until_s: u64, events: &[&str]| {
        let mut l = Learner::new(LearnConfig::default());
        for i in 0..until_s * 10 {
            let t = i * 100_000;
            // The ignition: on from 10 s to 20 s and from 30 s on.
            let on = (10_000_000..20_000_000).contains(&t) || t >= 30_000_000;
            // A wake-up flag on another module: set at 10 s, never cleared.
            let awake = t >= 10_000_000;
            l.push(&frame(0x200, t, &[0x40, u8::from(on) << 3, 0, 0]));
            l.push(&frame(0x300, t + 20_000, &[u8::from(awake), 0x11]));
        }
        for e in events {
            l.mark(Mark::parse(e, 0).unwrap());
        }
        l.finish()
    };
    let ignition = Place {
        id: CanId::standard(0x200).unwrap(),
        page: None,
        byte: 1,
        lo: 3,
        len: 1,
    };
    let wake = Place {
        id: CanId::standard(0x300).unwrap(),
        page: None,
        byte: 0,
        lo: 0,
        len: 1,
    };

    // A key-on log: the capture ends before the key-off.
    let one = run(19, &["ignition_on=1@10"]);
    let r = one.role(Role::IgnitionOn).unwrap();
    match &r.outcome {
        Outcome::Tied { places } => {
            assert!(places.contains(&ignition), "{places:?}");
            assert!(places.contains(&wake), "{places:?}");
        }
        other => panic!("expected a tie, got {other:?}: {:#?}", r.candidates),
    }
    assert!(r.best().is_none());
    let text = draft_profile(&one, &info);
    assert!(!text.contains("role = \"ignition_on\""), "{text}");
    assert!(
        text.contains("# ignition_on is not written: 2 places tie"),
        "{text}"
    );
    crate::profile::parse("draft.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));

    let three = run(
        40,
        &["ignition_on=1@10", "ignition_on=0@20", "ignition_on=1@30"],
    );
    let r = three.role(Role::IgnitionOn).unwrap();
    assert_eq!(r.outcome, Outcome::Learned, "{:#?}", r.candidates);
    assert_eq!(r.best().map(|c| c.place), Some(ignition));
    let text = draft_profile(&three, &info);
    assert!(text.contains("role = \"ignition_on\""), "{text}");
}

/// The live guide's "once more" for a tied role: every step of that role's
/// action, in order, one gap apart, and nothing for the other roles.
#[test]
fn again_asks_each_step_of_the_tied_roles_only() {
    let p = guide::again(&[Role::IgnitionOn, Role::FobTrunkRequest], 100, 6);
    let got: Vec<(Role, &str, u64)> = p.iter().map(|p| (p.role, p.label, p.at_us)).collect();
    assert_eq!(
        got,
        [
            (Role::FobTrunkRequest, "1", 100),
            (Role::IgnitionOn, "0", 106),
            (Role::IgnitionOn, "1", 112),
        ]
    );
    assert!(guide::again(&[], 0, 6).is_empty());
}

/// A frame multiplexed by byte 0 (Toyota's 0x620: page 0x10 the body
/// state, pages 0x11 and 0x12 other messages): the lid bit lives on page
/// 0x10 only, while page 0x11 carries an unrelated bit at the same place
/// that flips on its own. Learned page by page, the lid is found on its
/// page, and the draft names the selector; the same frames learned as one
/// stream would see that bit change on nearly every frame.
#[test]
fn learns_a_multiplexed_frame_page_by_page() {
    let mut l = Learner::new(LearnConfig::default());
    let mut noise = 0x9E37_79B9u32;
    let mut lid = false;
    for i in 0..900u64 {
        let t = i * 33_000;
        let s = t / 1_000_000;
        lid = match s {
            8 | 20 => true,
            12 | 24 => false,
            _ => lid,
        };
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        let page = [0x10u8, 0x11, 0x12][(i % 3) as usize];
        let mut d = [page, 0, 0, 0, 0, 0, 0, 0];
        match page {
            0x10 => d[5] = u8::from(lid) << 1,
            0x11 => d[5] = u8::from(noise.is_multiple_of(5)) << 1,
            _ => d[3] = (i / 3 % 256) as u8,
        }
        l.push(&frame(0x620, t, &d));
    }
    for (s, v) in [(8.0, "1"), (12.0, "0"), (20.0, "1"), (24.0, "0")] {
        l.mark(Mark::parse(&format!("lid_open={v}@{s}"), 0).unwrap());
    }
    let out = l.finish();
    let r = out.role(Role::LidOpen).unwrap();
    let best = r.best().unwrap_or_else(|| panic!("{:#?}", r));
    assert_eq!(best.place.page, Some(0x10), "{best:#?}");
    assert_eq!((best.place.byte, best.place.lo, best.place.len), (5, 1, 1));
    assert!(
        r.candidates
            .iter()
            .all(|c| c.place.page != Some(0x11) || c.score < best.score),
        "{:#?}",
        r.candidates
    );
    let text = draft_profile(
        &out,
        &DraftInfo {
            id: "learned-pages".into(),
            vin: None,
            date: "2026-12-06".into(),
            year: 2026,
            bitrate: 500_000,
            from: "a test".into(),
        },
    );
    assert!(
        text.contains("selector = { byte = 0, value = 0x10 }"),
        "{text}"
    );
    // The draft loads, and reads the lid only on its page.
    let p = crate::profile::parse("draft.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut v = Vec::new();
    for d in [[0x10u8, 0, 0, 0, 0, 2, 0, 0], [0x11, 0, 0, 0, 0, 2, 0, 0]] {
        p.decode_broadcast(&frame(0x620, 0, &d), |_, role, x| {
            if role == Role::LidOpen {
                v.push(x)
            }
        });
    }
    assert_eq!(v, vec![1.0]);
}

/// An ordinary frame whose byte 0 is a rolling counter is not taken for
/// pages.
#[test]
fn a_counter_in_byte_0_is_not_a_page_selector() {
    let series: Vec<(u64, u64)> = (0..200u64).map(|i| (i, i % 16)).collect();
    assert!(frames::pages(&series).is_none());
    let pages: Vec<(u64, u64)> = (0..200u64)
        .map(|i| (i, [0x10, 0x11][i as usize % 2]))
        .collect();
    assert_eq!(frames::pages(&pages).map(|p| p.len()), Some(2));
}
