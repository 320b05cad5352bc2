//! The record's bounds, the release-attempt derivation and the census,
//! on the bundled profiles.

use super::series::SAMPLE_CHANGES;
use super::*;
use crate::diag::Nrc;
use crate::frame::CanFrame;
use crate::profile;

const S: u64 = 1_000_000;

fn l33() -> Profile {
    profile::load("nissan-altima-2013-2018").unwrap()
}

fn item(p: &Profile, name: &str) -> (ItemRef, Role) {
    let f = p
        .fields()
        .find(|f| p.item(f.item).unwrap().name == name)
        .unwrap();
    (f.item, f.role)
}

/// Feeds `(time_s, item name, value)` samples, in order, then finishes.
fn feed(p: &Profile, samples: &[(f64, &str, f64)]) -> Evidence {
    let mut ev = Evidence::new(p);
    for &(t, name, v) in samples {
        let (r, role) = item(p, name);
        ev.record(role, v, (t * S as f64) as u64, r);
    }
    ev.finish();
    ev
}

/// A polled data monitor every 0.2 s from 0 to `until` s with fields set at given spans.
fn monitor(until: f64, set: &[(&'static str, f64, f64)]) -> Vec<(f64, &'static str, f64)> {
    let mut out = Vec::new();
    let mut t = 0.0;
    while t <= until + 1e-9 {
        for name in [
            "REQ SW -BD/TR",
            "KEYLESS TRUNK",
            "TRUNK OPENER OUTPUT",
            "TR/BD OPEN SW",
            "TR CANCEL SW",
        ] {
            let on = set
                .iter()
                .any(|&(n, a, b)| n == name && t >= a - 1e-9 && t < b - 1e-9);
            out.push((t, name, if on { 1.0 } else { 0.0 }));
        }
        t += 0.2;
    }
    out
}

#[test]
fn press_with_output_and_lid_is_one_working_attempt() {
    let p = l33();
    let ev = feed(
        &p,
        &monitor(
            6.0,
            &[
                ("KEYLESS TRUNK", 1.0, 1.4),
                ("TRUNK OPENER OUTPUT", 1.2, 2.0),
                ("TR/BD OPEN SW", 1.6, 9.0),
            ],
        ),
    );
    assert_eq!(ev.release_attempts.len(), 1);
    let a = &ev.release_attempts[0];
    assert_eq!(a.input, ReleaseInput::Fob);
    assert_eq!(a.t_us, S);
    assert_eq!(a.output_driven, Seen::Yes);
    assert_eq!(a.lid_changed, Seen::Yes);
    assert!(a.worked());
    assert!(a.lid_open_at_us.is_some_and(|t| t > a.t_us));
    let names: Vec<String> = a.items.iter().map(|&i| ev.label(i)).collect();
    assert!(
        names.iter().any(|n| n.contains("KEYLESS TRUNK")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.contains("TRUNK OPENER OUTPUT")),
        "{names:?}"
    );
    assert_eq!(a.context.lockout, Some(false));
}

#[test]
fn press_without_output() {
    let p = l33();
    let ev = feed(
        &p,
        &monitor(
            6.0,
            &[("REQ SW -BD/TR", 1.0, 1.6), ("TR CANCEL SW", 0.0, 9.0)],
        ),
    );
    let a = &ev.release_attempts[0];
    assert_eq!(a.input, ReleaseInput::Cabin);
    assert_eq!(a.output_driven, Seen::No);
    assert_eq!(a.lid_changed, Seen::No);
    assert_eq!(a.context.lockout, Some(true));
}

#[test]
fn two_presses_intermittent_lid() {
    let p = l33();
    let ev = feed(
        &p,
        &monitor(
            12.0,
            &[
                ("REQ SW -BD/TR", 1.0, 1.4),
                ("TRUNK OPENER OUTPUT", 1.2, 1.8),
                ("REQ SW -BD/TR", 6.0, 6.4),
                ("TRUNK OPENER OUTPUT", 6.2, 6.8),
                ("TR/BD OPEN SW", 6.6, 8.0),
            ],
        ),
    );
    assert_eq!(ev.release_attempts.len(), 2);
    let (a, b) = (&ev.release_attempts[0], &ev.release_attempts[1]);
    assert_eq!((a.output_driven, a.lid_changed), (Seen::Yes, Seen::No));
    assert_eq!((b.output_driven, b.lid_changed), (Seen::Yes, Seen::Yes));
}

#[test]
fn close_presses_do_not_borrow_the_next_output() {
    let p = l33();
    // Press 1 at 1.0 s gets nothing; press 2 at 2.0 s drives the output.
    let ev = feed(
        &p,
        &monitor(
            6.0,
            &[
                ("KEYLESS TRUNK", 1.0, 1.2),
                ("REQ SW -BD/TR", 2.0, 2.2),
                ("TRUNK OPENER OUTPUT", 2.2, 2.6),
            ],
        ),
    );
    assert_eq!(ev.release_attempts.len(), 2);
    assert_eq!(ev.release_attempts[0].output_driven, Seen::No);
    assert_eq!(ev.release_attempts[1].output_driven, Seen::Yes);
}

#[test]
fn bus_request_merges_with_bcm_input_or_stands_alone() {
    let p = l33();
    let mut s = monitor(10.0, &[("KEYLESS TRUNK", 1.0, 1.4)]);
    // 0x60D D.5 broadcast request with the fob press, and again at 6 s alone.
    s.extend([
        (0.0, "trunk open request", 0.0),
        (1.1, "trunk open request", 1.0),
        (1.5, "trunk open request", 0.0),
    ]);
    s.extend([
        (6.0, "trunk open request", 1.0),
        (6.5, "trunk open request", 0.0),
    ]);
    s.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    let ev = feed(&p, &s);
    assert_eq!(ev.release_attempts.len(), 2, "{:#?}", ev.release_attempts);
    let (a, b) = (&ev.release_attempts[0], &ev.release_attempts[1]);
    assert_eq!(a.input, ReleaseInput::Fob);
    assert!(a.bus_request_seen);
    assert_eq!(b.input, ReleaseInput::Bus);
    assert_eq!(b.bcm_input_seen, Seen::No);
}

#[test]
fn unmonitored_output_and_lid_are_not_guessed() {
    let p = l33();
    let ev = feed(
        &p,
        &[
            (0.0, "trunk open request", 0.0),
            (1.0, "trunk open request", 1.0),
        ],
    );
    let a = &ev.release_attempts[0];
    assert_eq!(
        (a.output_driven, a.lid_changed, a.bcm_input_seen),
        (Seen::NotMonitored, Seen::NotMonitored, Seen::NotMonitored)
    );
}

#[test]
fn context_lock_changes_battery_and_items_used() {
    let p = l33();
    let mut s = monitor(4.0, &[("REQ SW -BD/TR", 2.0, 2.2)]);
    s.extend([
        (0.0, "vehicle speed", 0.0),
        (1.9, "vehicle speed", 12.5),
        (0.0, "doors locked", 1.0),
        (0.5, "doors locked", 0.0),
        (0.7, "doors locked", 1.0),
        (0.1, "battery voltage", 12.4),
        (3.0, "battery voltage", 9.1),
        (3.5, "battery voltage", 11.9),
    ]);
    s.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    let ev = feed(&p, &s);
    let a = &ev.release_attempts[0];
    assert_eq!(a.context.speed_kmh, Some(12.5));
    assert_eq!(a.context.doors_locked, Some(true));
    assert_eq!(ev.lock_changes.len(), 2);
    assert!(!ev.lock_changes[0].locked && ev.lock_changes[1].locked);
    let b = ev.battery.as_ref().unwrap();
    assert_eq!((b.min_v, b.min_at_us, b.last_v), (9.1, 3 * S, 11.9));
    let cancel = ev
        .items_used
        .iter()
        .find(|u| u.label.contains("TR CANCEL SW"))
        .unwrap();
    assert_eq!(cancel.level, Level::Placeholder);
    assert!(cancel.label.contains("A.7"));
}

#[test]
fn active_test_becomes_an_attempt() {
    let p = l33();
    let mut ev = Evidence::new(&p);
    let (lid, _) = item(&p, "TR/BD OPEN SW");
    let (out, _) = item(&p, "TRUNK OPENER OUTPUT");
    ev.record(Role::LidOpen, 0.0, 0, lid);
    ev.record(Role::OpenerOutput, 0.0, 0, out);
    ev.active_test_sent(S, true);
    ev.record(Role::OpenerOutput, 1.0, S + 100_000, out);
    ev.record(Role::LidOpen, 1.0, S + 500_000, lid);
    ev.finish();
    let a = &ev.release_attempts[0];
    assert_eq!(a.input, ReleaseInput::ActiveTest);
    assert_eq!(ev.active_test.as_ref().unwrap().lid_changed, Seen::Yes);
    ev.finish();
    assert_eq!(ev.release_attempts.len(), 1, "finish is idempotent");
}

fn negative(sid: u8, nrc: Nrc, purpose: Purpose) -> BcmEvent {
    BcmEvent::Negative { sid, nrc, purpose }
}

#[test]
fn reachability_session_dtcs_and_negative_responses() {
    let p = l33();
    let mut ev = Evidence::new(&p);
    ev.bcm(10, BcmEvent::Request(Purpose::SessionStart));
    assert_eq!(ev.reachability.session_start, SessionStart::NoAnswer);
    ev.bcm(20, BcmEvent::Pending);
    assert!(
        ev.negative_responses.is_empty(),
        "responsePending is not a refusal"
    );
    ev.bcm(30, BcmEvent::Positive(Purpose::SessionStart));
    assert_eq!(ev.reachability.session_start, SessionStart::Answered);
    ev.bcm(40, BcmEvent::Request(Purpose::Other));
    ev.bcm(50, negative(0x21, Nrc::GeneralReject, Purpose::Other));
    ev.bcm(60, BcmEvent::Unreadable);
    ev.bcm(70, BcmEvent::Request(Purpose::DtcRead));
    ev.bcm(80, BcmEvent::Positive(Purpose::DtcRead));
    let dtc = BcmEvent::Dtc {
        dtc: "b2562".parse().unwrap(),
        status: Some(0x20),
    };
    ev.bcm(80, dtc);
    ev.finish();
    assert_eq!(ev.general_rejects, 1);
    assert_eq!(
        ev.negative_responses,
        vec![NegativeResponse {
            sid: 0x21,
            nrc: Nrc::GeneralReject,
            t_us: 50
        }]
    );
    assert!(ev.dtc_read.attempted && ev.dtc_read.answered);
    assert_eq!(ev.dtcs[0].code.to_string(), "B2562");
    assert_eq!(ev.reachability.diag_requests, 3);
    assert_eq!(ev.reachability.diag_responses, 5);
    assert!(ev
        .items_used
        .iter()
        .any(|u| u.label.starts_with("DTC read") && u.level == Level::Placeholder));
}

#[test]
fn session_refusal_keeps_its_nrc() {
    let p = l33();
    let mut ev = Evidence::new(&p);
    ev.bcm(10, BcmEvent::Request(Purpose::SessionStart));
    ev.bcm(
        20,
        negative(0x10, Nrc::ConditionsNotCorrect, Purpose::SessionStart),
    );
    assert_eq!(
        ev.reachability.session_start,
        SessionStart::Refused(Nrc::ConditionsNotCorrect)
    );
}

#[test]
fn census_counts_unknown_non_diagnostic_ids() {
    let p = l33();
    let mut ev = Evidence::new(&p);
    for (i, id) in [0x60D_u16, 0x123, 0x123, 0x7DF, 0x765, 0x5FF]
        .into_iter()
        .enumerate()
    {
        let f = CanFrame::classic(CanId::Standard(id), &[0])
            .unwrap()
            .at(100 + i as u64);
        ev.frame(&f, p.is_known_id(f.id));
    }
    ev.finish();
    assert_eq!(ev.frames_seen, 6);
    assert_eq!(ev.reachability.non_diag_frames, 4);
    let ids: Vec<(&str, u64, u64)> = ev
        .census
        .iter()
        .map(|u| (u.id.as_str(), u.count, u.first_us))
        .collect();
    assert_eq!(ids, vec![("123", 2, 101), ("5FF", 1, 105)]);
    assert_eq!((ev.first_us, ev.last_us), (Some(100), Some(105)));
}

// ------------------------------------------------------------ bounds

/// Nissan items a dense capture carries, resolved once.
struct Dense {
    p: Profile,
    items: Vec<(ItemRef, Role)>,
}

const FOB: usize = 0;
const CABIN: usize = 1;
const BUS: usize = 2;
const OUTPUT: usize = 3;
const LID: usize = 4;
const SPEED: usize = 5;
const DOOR: usize = 6;
const VOLTS: usize = 7;
const CANCEL: usize = 8;

impl Dense {
    fn new() -> Dense {
        let p = l33();
        let items = [
            "KEYLESS TRUNK",
            "REQ SW -BD/TR",
            "trunk open request",
            "TRUNK OPENER OUTPUT",
            "TR/BD OPEN SW",
            "vehicle speed",
            "doors locked",
            "battery voltage",
            "TR CANCEL SW",
        ]
        .iter()
        .map(|n| item(&p, n))
        .collect();
        Dense { p, items }
    }

    /// `secs` of a bus whose broadcasts change on every 10 ms frame (periods
    /// of 2, 4 and 5 frames: any shift by whole seconds looks the same)
    /// (speed, a door lock bit, the voltage), the BCM monitor polled
    /// every 200 ms, and presses `(time s, input index, output fires,
    /// lid opens)`: the request held 0.4 s, the output 0.2-0.7 s after,
    /// the lid open 0.6-2.0 s after.
    fn run(
        &self,
        secs: u64,
        presses: &[(f64, usize, bool, bool)],
        limits: SeriesLimits,
    ) -> Evidence {
        let mut ev = Evidence::new(&self.p);
        ev.set_limits(limits);
        let held = |i: usize, t: f64, from: f64, to: f64| {
            presses.iter().any(|&(at, input, out, lid)| {
                let on = match i {
                    OUTPUT => out,
                    LID => lid,
                    _ => input == i,
                };
                on && t >= at + from - 1e-9 && t < at + to - 1e-9
            })
        };
        for step in 0..secs * 100 {
            let t = step as f64 / 100.0;
            let t_us = step * 10_000;
            let mut put = |i: usize, v: f64| {
                let (r, role) = self.items[i];
                ev.record(role, v, t_us, r);
            };
            put(SPEED, (step % 4) as f64);
            put(DOOR, (step % 2) as f64);
            put(VOLTS, 12.0 + (step % 5) as f64 / 10.0);
            put(BUS, f64::from(u8::from(held(BUS, t, 0.0, 0.4))));
            if step % 20 == 0 {
                for i in [FOB, CABIN] {
                    put(i, f64::from(u8::from(held(i, t, 0.0, 0.4))));
                }
                put(OUTPUT, f64::from(u8::from(held(OUTPUT, t, 0.2, 0.7))));
                put(LID, f64::from(u8::from(held(LID, t, 0.6, 2.0))));
                put(CANCEL, 0.0);
            }
        }
        ev.finish();
        ev
    }
}

/// The attempts with times made relative to `origin_us`.
fn shifted(ev: &Evidence, origin_us: u64) -> serde_json::Value {
    let mut attempts = ev.release_attempts.clone();
    for a in &mut attempts {
        a.t_us -= origin_us;
        a.output_at_us = a.output_at_us.map(|t| t - origin_us);
        a.lid_open_at_us = a.lid_open_at_us.map(|t| t - origin_us);
    }
    serde_json::to_value(attempts).unwrap()
}

/// The case: presses at 40 s and 45 s of a 60 s dense capture
/// give the attempts presses at 2 s and 5 s give, bounded or not.
#[test]
fn late_presses_in_a_dense_capture_give_the_early_attempts() {
    let d = Dense::new();
    let early = [(2.0, FOB, true, true), (5.0, CABIN, false, false)];
    let late = early.map(|(t, i, o, l)| (t + 38.0, i, o, l));
    let a = d.run(60, &early, SeriesLimits::BOUNDED);
    let b = d.run(60, &late, SeriesLimits::BOUNDED);
    let full = d.run(60, &late, SeriesLimits::FULL);
    assert_eq!(b.release_attempts, full.release_attempts);
    assert_eq!(a.release_attempts.len(), 2, "{:#?}", a.release_attempts);
    assert_eq!(shifted(&a, 0), shifted(&b, 38 * S));
    let fob = &b.release_attempts[0];
    assert!(fob.worked() && fob.context.speed_kmh.is_some());
    // Bounded: most of the dense changes were summarised, and the report
    // says so; full: everything kept.
    let m = &b.series_summary;
    assert!(m.changes_kept * 3 < m.changes_seen, "{m:?}");
    assert!(m.note.contains("kept"), "{}", m.note);
    assert_eq!(
        full.series_summary.changes_kept,
        full.series_summary.changes_seen
    );
    let size = |ev: &Evidence| serde_json::to_string(ev).unwrap().len();
    assert!(
        size(&b) * 5 < size(&full),
        "{} vs {}",
        size(&b),
        size(&full)
    );
}

/// A request bit toggling on every frame is noise: its edges are
/// counted, a few kept as presses, and the record stays small.
#[test]
fn a_toggling_request_bit_is_capped_and_counted() {
    let p = l33();
    let (r, role) = item(&p, "trunk open request");
    let mut ev = Evidence::new(&p);
    for step in 0..200_000u64 {
        ev.record(role, (step % 2) as f64, step * 1_000, r);
    }
    ev.finish();
    let lim = SeriesLimits::BOUNDED;
    assert_eq!(ev.series_summary.request_edges, 100_000);
    assert!(ev.presses.len() <= lim.presses);
    assert!(ev
        .series
        .iter()
        .all(|s| s.changes.len() <= lim.kept_per_item));
    assert!(
        ev.series_summary.note.contains("toggling"),
        "{}",
        ev.series_summary.note
    );
    assert!(serde_json::to_string(&ev).unwrap().len() < 100_000);
}

/// Tiny limits, so that random streams reach every cap.
const TINY: SeriesLimits = SeriesLimits {
    ring: 8,
    kept_per_item: 32,
    presses: 4,
    edges_per_window: 2,
    listed_per_item: 4,
    lock_changes: 4,
};

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// However long and noisy the stream, what the record holds stays
    /// within its limits.
    #[test]
    fn memory_stays_bounded_on_random_long_streams(
        steps in proptest::collection::vec((0usize..9, 0u8..3, 1u64..400_000), 1..4_000),
    ) {
        let d = Dense::new();
        let mut ev = Evidence::new(&d.p);
        ev.set_limits(TINY);
        let mut t = 0u64;
        for &(i, v, dt) in &steps {
            t += dt;
            let (r, role) = d.items[i];
            ev.record(role, f64::from(v), t, r);
        }
        ev.finish();
        proptest::prop_assert!(ev.presses.len() <= TINY.presses);
        proptest::prop_assert!(ev.lock_changes.len() <= TINY.lock_changes);
        proptest::prop_assert!(ev.series.len() <= d.items.len());
        for s in &ev.series {
            proptest::prop_assert!(s.changes.len() <= TINY.kept_per_item);
            proptest::prop_assert!(s.ring.len() <= TINY.ring);
            proptest::prop_assert!(s.sample.len() <= SAMPLE_CHANGES);
        }
        let listed = serde_json::to_value(&ev.series).unwrap();
        for s in listed.as_array().unwrap() {
            proptest::prop_assert!(s["changes"].as_array().unwrap().len() <= TINY.listed_per_item);
        }
    }

    /// Presses anywhere in a dense capture: the attempts from the
    /// bounded series equal those from the full series.
    #[test]
    fn bounded_attempts_equal_full_attempts(
        first in 0.0f64..50.0,
        gap in 0.1f64..8.0,
        inputs in (0usize..3, 0usize..3),
        outcomes in proptest::collection::vec(proptest::prelude::any::<bool>(), 4),
    ) {
        let d = Dense::new();
        let presses = [
            (first, inputs.0, outcomes[0], outcomes[1]),
            (first + gap, inputs.1, outcomes[2], outcomes[3]),
        ];
        let bounded = d.run(60, &presses, SeriesLimits::BOUNDED);
        let full = d.run(60, &presses, SeriesLimits::FULL);
        proptest::prop_assert!(!full.release_attempts.is_empty());
        proptest::prop_assert_eq!(&bounded.presses, &full.presses);
        proptest::prop_assert_eq!(&bounded.release_attempts, &full.release_attempts);
    }
}

/// A broadcast request edge joins the press it came with, not a later
/// press still within the window (the live run's timing once put the
/// edge 2.99 s before the cabin press and the fob press lost it).
#[test]
fn a_broadcast_edge_joins_the_nearest_press() {
    let p = l33();
    let mut s = monitor(
        9.0,
        &[("KEYLESS TRUNK", 2.0, 2.4), ("REQ SW -BD/TR", 5.0, 5.4)],
    );
    s.extend([
        (0.0, "trunk open request", 0.0),
        (2.007, "trunk open request", 1.0),
        (2.3, "trunk open request", 0.0),
    ]);
    s.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    let ev = feed(&p, &s);
    // (milliseconds: the helper's times are sums of 0.2 s steps)
    let got: Vec<(ReleaseInput, u64, bool)> = ev
        .release_attempts
        .iter()
        .map(|a| (a.input, (a.t_us + 500) / 1000, a.bus_request_seen))
        .collect();
    assert_eq!(
        got,
        [
            (ReleaseInput::Fob, 2_000, true),
            (ReleaseInput::Cabin, 5_000, false)
        ]
    );
}

/// The derivation is a function of series and presses alone.
#[test]
fn attempts_derive_from_series_and_presses_alone() {
    let p = l33();
    let (req, _) = item(&p, "REQ SW -BD/TR");
    let (out, _) = item(&p, "TRUNK OPENER OUTPUT");
    let c = |t: u64, v: f64| Change { t_us: t, value: v };
    let series = [
        ItemSeries::from_changes(req, Role::CabinTrunkRequest, &[c(0, 0.0), c(S, 1.0)]),
        ItemSeries::from_changes(
            out,
            Role::OpenerOutput,
            &[c(0, 0.0), c(S + 100, 1.0), c(4 * S, 0.0)],
        ),
    ]
    .map(Option::unwrap);
    let presses = [Press {
        t_us: S,
        input: ReleaseInput::Cabin,
        item: Some(req),
        until_us: S,
    }];
    let a = derive_attempts(&series, &presses, None, 3 * S);
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].output_driven, a[0].output_at_us),
        (Seen::Yes, Some(S + 100))
    );
    assert_eq!(a[0].lid_changed, Seen::NotMonitored);
    assert!(derive_attempts(&series, &[], None, 3 * S).is_empty());
}
