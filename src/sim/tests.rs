//! The simulator driven by a tester-side ISO-TP channel on virtual time.

use std::collections::{BTreeSet, HashMap};

use super::*;
use crate::diag::{kwp, uds, Dtc};
use crate::frame::{CanFrame, CanId};
use crate::isotp::{IsoTpChannel, IsoTpConfig, IsoTpEvent};
use crate::profile::{self, DataKey, Profile, Role};

const NISSAN: &str = "nissan-altima-2013-2018";
const FORD: &str = "ford-fusion-2013-2020";

/// A tester channel and the vehicle, joined by a perfect bus, on virtual time.
struct Pair {
    profile: Profile,
    car: SimVehicle,
    tester: IsoTpChannel,
    now: u64,
    /// Every frame on the bus, in order.
    log: Vec<CanFrame>,
    /// Whole replies the tester received, with their time.
    replies: Vec<(u64, Vec<u8>)>,
}

impl Pair {
    fn new(profile: &str, scenario: &str, cfg: SimConfig) -> Pair {
        let profile = profile::load(profile).unwrap();
        let bcm = profile.bcm().unwrap();
        let mut iso = IsoTpConfig::new(bcm.request_id, bcm.response_id);
        iso.addressing = bcm.addressing.into();
        let tester = IsoTpChannel::new(iso);
        let car = SimVehicle::new(&profile, Scenario::from_id(scenario).unwrap(), cfg);
        Pair {
            profile,
            car,
            tester,
            now: 1_000,
            log: Vec::new(),
            replies: Vec::new(),
        }
    }

    /// Moves frames until both sides are quiet, then advances time to the
    /// next deadline, up to `until`.
    fn run_until(&mut self, until: u64) {
        loop {
            self.exchange();
            let next = [self.car.poll_timeout(), self.tester.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.car.handle_timeout(self.now);
                    self.tester.handle_timeout(self.now);
                }
                _ => {
                    self.now = until;
                    self.exchange();
                    return;
                }
            }
        }
    }

    fn exchange(&mut self) {
        loop {
            let mut moved = false;
            while let Some(f) = self.car.poll_transmit(self.now) {
                self.log.push(f);
                self.tester.handle_frame(self.now, &f);
                moved = true;
            }
            while let Some(f) = self.tester.poll_transmit(self.now) {
                self.log.push(f.at(self.now));
                self.car.handle_frame(self.now, &f.at(self.now));
                moved = true;
            }
            while let Some(ev) = self.tester.poll_event() {
                if let IsoTpEvent::Received { payload, at_us } = ev {
                    self.replies.push((at_us, payload));
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Sends a request and returns every reply within 300 ms (P2 plus a
    /// responsePending's delay).
    fn ask(&mut self, req: &[u8]) -> Vec<Vec<u8>> {
        let from = self.replies.len();
        self.tester.send(self.now, req).unwrap();
        let until = self.now + 300_000;
        self.run_until(until);
        self.replies[from..].iter().map(|r| r.1.clone()).collect()
    }

    /// The last reply to `req` (after any responsePending).
    fn ask1(&mut self, req: &[u8]) -> Vec<u8> {
        self.ask(req).pop().unwrap_or_default()
    }

    /// Values by role from the broadcast frames in the log.
    fn broadcast_values(&self) -> HashMap<Role, Vec<f64>> {
        let mut out: HashMap<Role, Vec<f64>> = HashMap::new();
        for f in &self.log {
            self.profile
                .decode_broadcast(f, |_, role, v| out.entry(role).or_default().push(v));
        }
        out
    }
}

fn hex(s: &str) -> Vec<u8> {
    crate::hex::decode(s).unwrap()
}

#[test]
fn kwp_bcm_answers_as_the_nissan_profile_describes() {
    let cfg = SimConfig {
        presses: Vec::new(),
        ..SimConfig::default()
    };
    let mut p = Pair::new(NISSAN, "no-fault-found", cfg);
    p.run_until(100_000);
    assert_eq!(
        p.ask1(&hex("21 44")),
        hex("7F 21 80"),
        "read outside session C0"
    );
    assert_eq!(p.ask1(&hex("10 C0")), hex("50 C0"));
    let r = p.ask1(&hex("21 44"));
    assert_eq!(r.get(..2), Some(&[0x61, 0x44][..]));
    let mut seen = Vec::new();
    assert!(p
        .profile
        .decode_data(DataKey::LocalId(0x44), &r[2..], |_, role, v| seen
            .push((role, v))));
    assert!(seen.iter().all(|&(_, v)| v == 0.0), "{seen:?}");
    assert_eq!(seen.len(), 5);
    assert_eq!(p.ask1(&hex("3E 01")), hex("7E 01"));
    assert_eq!(p.ask1(&hex("21 99")), hex("7F 21 31"));
    assert_eq!(p.ask1(&hex("22 D1 00")), hex("7F 22 11"));
    assert_eq!(p.ask1(&hex("10 55")), hex("7F 10 12"));
    assert_eq!(p.ask1(&hex("3E 07")), hex("7F 3E 12"));
    // Part number: longer than a single frame.
    let pn = p.ask1(&hex("21 83"));
    assert_eq!(pn.get(..2), Some(&[0x61, 0x83][..]));
    assert!(pn.len() > 7);
    // DTC read: responsePending first, then the (empty) list.
    let dtc = p.ask(&hex("18 02 FF 00"));
    assert_eq!(dtc, vec![hex("7F 18 78"), hex("58 00")]);
}

#[test]
fn replies_come_after_p2_and_pending_after_its_delay() {
    let cfg = SimConfig {
        p2_us: 37_000,
        pending_us: 210_000,
        ..SimConfig::default()
    };
    let mut p = Pair::new(NISSAN, "no-fault-found", cfg);
    p.run_until(50_000);
    let t0 = p.now;
    p.ask(&hex("10 C0"));
    assert_eq!(p.replies.last().unwrap().0, t0 + 37_000);
    let t1 = p.now;
    p.ask(&hex("18 02 FF 00"));
    let n = p.replies.len();
    assert_eq!(p.replies[n - 2].0, t1 + 37_000);
    assert_eq!(p.replies[n - 1].0, t1 + 37_000 + 210_000);
}

#[test]
fn session_lapses_after_s3_without_requests() {
    let mut p = Pair::new(NISSAN, "no-fault-found", SimConfig::default());
    p.ask(&hex("10 C0"));
    let t = p.now;
    p.run_until(t + 4_000_000);
    assert_eq!(p.ask1(&hex("21 44")).first(), Some(&0x61), "within S3");
    let t = p.now;
    p.run_until(t + 5_500_000);
    assert_eq!(p.ask1(&hex("21 44")), hex("7F 21 80"), "after S3");
}

#[test]
fn uds_bcm_answers_as_the_ford_profile_describes() {
    let mut p = Pair::new(FORD, "low-battery", SimConfig::default());
    assert_eq!(p.ask1(&hex("22 D1 00")), hex("7F 22 31"), "outside session");
    assert_eq!(p.ask1(&hex("2F D1 03 03 01")), hex("7F 2F 7F"));
    let s = p.ask1(&hex("10 03"));
    assert_eq!(
        uds::parse_session_control(&s, 0x03).unwrap().p2_us(),
        50_000
    );
    assert!(
        p.ask(&hex("3E 80")).is_empty(),
        "3E 80 suppresses the reply"
    );
    assert_eq!(p.ask1(&hex("3E 00")), hex("7E 00"));
    let v = p.ask1(&hex("22 D1 02"));
    let mut volts = None;
    p.profile.decode_response(&v, |_, role, x| {
        if role == Role::BatteryVoltage {
            volts = Some(x);
        }
    });
    assert!((volts.unwrap() - 10.4).abs() < 1e-9, "{v:?}");
    assert_eq!(p.ask1(&hex("22 F1 90")), hex("7F 22 31"));
    assert_eq!(p.ask1(&hex("19 0A")), hex("7F 19 12"));
    assert_eq!(p.ask1(&hex("31 01 02 03")), hex("7F 31 11"));
    let dtcs = p.ask(&hex("19 02 FF"));
    assert_eq!(dtcs.first(), Some(&hex("7F 19 78")));
    let report = uds::parse_dtc_report(dtcs.last().unwrap(), 0x02).unwrap();
    let codes: Vec<Dtc> = report.records.iter().map(|r| r.dtc).collect();
    assert_eq!(codes, vec!["U3003:16".parse::<Dtc>().unwrap()]);
    // A mask that matches no status: no codes.
    let none = p.ask1(&hex("19 02 40"));
    assert!(uds::parse_dtc_report(&none, 0x02)
        .unwrap()
        .records
        .is_empty());
    // Active test on, output readable, then off.
    assert_eq!(p.ask1(&hex("2F D1 03 03 01")), hex("6F D1 03 03 01"));
    assert_eq!(p.ask1(&hex("22 D1 03")), hex("62 D1 03 01"));
    assert_eq!(p.ask1(&hex("2F D1 03 00")), hex("6F D1 03 00"));
    assert_eq!(p.ask1(&hex("22 D1 03")), hex("62 D1 03 00"));
}

#[test]
fn nissan_low_battery_and_bcm_fault_dtcs_come_from_the_profile() {
    for (scenario, want) in [("low-battery", "B2562"), ("bcm-fault", "U1010")] {
        let mut p = Pair::new(NISSAN, scenario, SimConfig::default());
        let r = p.ask1(&hex("18 02 FF 00"));
        let recs = kwp::parse_dtcs_by_status(&r).unwrap();
        let codes: Vec<String> = recs.iter().map(|r| r.dtc.to_string()).collect();
        assert_eq!(codes, vec![want.to_owned()], "{scenario}");
        // Clearing empties the list.
        assert_eq!(p.ask1(&hex("14 FF 00")), hex("54 FF 00"));
        assert_eq!(p.ask1(&hex("18 02 FF 00")), hex("58 00"));
    }
}

#[test]
fn bcm_fault_rejects_every_second_read() {
    let mut p = Pair::new(NISSAN, "bcm-fault", SimConfig::default());
    p.ask(&hex("10 C0"));
    let answers: Vec<u8> = (0..4).map(|_| p.ask1(&hex("21 44"))[0]).collect();
    assert_eq!(answers, vec![0x61, 0x7F, 0x61, 0x7F]);
}

#[test]
fn silent_bcm_and_dead_bus() {
    let mut p = Pair::new(NISSAN, "bcm-unreachable", SimConfig::default());
    assert!(p.ask(&hex("10 C0")).is_empty());
    p.run_until(3_000_000);
    let resp = p.profile.bcm().unwrap().response_id;
    assert!(p.log.iter().all(|f| f.id != resp), "not even flow control");
    assert!(
        p.log.iter().any(|f| f.id == CanId::Standard(0x60D)),
        "broadcasts go on"
    );

    let mut p = Pair::new(FORD, "no-bus-activity", SimConfig::default());
    assert!(p.ask(&hex("10 03")).is_empty());
    p.run_until(30_000_000);
    let tester = p.profile.bcm().unwrap().request_id;
    assert!(p.log.iter().all(|f| f.id == tester), "{:?}", p.log.first());
}

#[test]
fn only_one_bus_sends_that_bus_alone() {
    let ms = SimConfig {
        only_bus: Some("ms-can".into()),
        ..SimConfig::default()
    };
    let mut p = Pair::new(FORD, "no-fault-found", ms);
    assert!(p.ask(&hex("10 03")).is_empty(), "the BCM is on hs-can");
    p.run_until(3_000_000);
    let ids: BTreeSet<u32> = p.log.iter().map(|f| f.id.raw()).collect();
    let tester = p.profile.bcm().unwrap().request_id.raw();
    assert_eq!(
        ids,
        BTreeSet::from([0x110, 0x384, 0x3B1, tester]),
        "{ids:x?}"
    );
    let hs = SimConfig {
        only_bus: Some("hs-can".into()),
        ..SimConfig::default()
    };
    let mut p = Pair::new(FORD, "no-fault-found", hs.clone());
    assert!(
        !p.ask(&hex("10 03")).is_empty(),
        "the BCM answers on hs-can"
    );
    p.run_until(3_000_000);
    assert!(p.log.iter().any(|f| f.id == CanId::Standard(0x3B3)));
    assert!(!p.log.iter().any(|f| f.id == CanId::Standard(0x3B1)));
    let profile = crate::profile::load(FORD).unwrap();
    assert!(crate::sim::check_only_bus(&profile, &hs).is_ok());
    let body = SimConfig {
        only_bus: Some("body".into()),
        ..SimConfig::default()
    };
    let err = crate::sim::check_only_bus(&profile, &body)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("has no bus `body`: expected one of hs-can, ms-can"),
        "{err}"
    );
}

#[test]
fn broadcast_periods() {
    let mut p = Pair::new(NISSAN, "no-fault-found", SimConfig::default());
    p.run_until(10_000_000);
    let count = |id: u16| p.log.iter().filter(|f| f.id == CanId::Standard(id)).count();
    assert!((99..=101).contains(&count(0x60D)), "{}", count(0x60D));
    assert!((99..=101).contains(&count(0x358)));
    assert!((99..=101).contains(&count(0x284)));
    assert!((9..=11).contains(&count(0x6F6)), "{}", count(0x6F6));
    let l34 = Pair::new("nissan-altima-2019", "no-fault-found", SimConfig::default());
    let mut l34 = l34;
    l34.run_until(1_000_000);
    assert!(l34.log.iter().any(|f| f.id == CanId::Standard(0x454)));
}

/// What the bus and the data monitor show over a run where a tester opens
/// the session at 0.5 s and polls every data read every 200 ms.
struct Observed {
    /// Role → every value seen, from data replies and broadcast frames.
    values: HashMap<Role, BTreeSet<i64>>,
    foreign: BTreeSet<u32>,
    general_rejects: usize,
}

fn observe(profile: &str, scenario: &str) -> Observed {
    let mut p = Pair::new(profile, scenario, SimConfig::default());
    p.run_until(500_000);
    let session = p.profile.bcm().unwrap().session.clone().unwrap().request;
    p.ask(&session);
    let reads: Vec<Vec<u8>> = p
        .profile
        .data_reads()
        .iter()
        .map(|r| r.key.request())
        .collect();
    let mut general_rejects = 0;
    let mut values: HashMap<Role, BTreeSet<i64>> = HashMap::new();
    while p.now < 10_000_000 {
        for r in &reads {
            let from = p.replies.len();
            p.tester.send(p.now, r).unwrap();
            let t = p.now + 200_000 / reads.len() as u64;
            p.run_until(t);
            for (_, reply) in &p.replies[from..] {
                if reply.len() == 3 && reply[0] == 0x7F && reply[2] == 0x10 {
                    general_rejects += 1;
                }
                p.profile.decode_response(reply, |_, role, v| {
                    values
                        .entry(role)
                        .or_default()
                        .insert((v * 10.0).round() as i64);
                });
            }
        }
    }
    for (role, vs) in p.broadcast_values() {
        let e = values.entry(role).or_default();
        e.extend(vs.iter().map(|v| (v * 10.0).round() as i64));
    }
    let foreign = p
        .log
        .iter()
        .filter(|f| !p.profile.is_known_id(f.id))
        .map(|f| f.id.raw())
        .collect();
    Observed {
        values,
        foreign,
        general_rejects,
    }
}

impl Observed {
    /// Was the role ever non-zero?
    fn set(&self, role: Role) -> bool {
        self.values
            .get(&role)
            .is_some_and(|v| v.iter().any(|&x| x != 0))
    }
    fn min(&self, role: Role) -> Option<f64> {
        self.values
            .get(&role)
            .and_then(|v| v.first())
            .map(|&x| x as f64 / 10.0)
    }
}

#[test]
fn every_scenario_shows_its_picture_on_nissan_and_ford() {
    use Role::*;
    // scenario, fob request at the BCM, cabin request, output, lid, lockout,
    // speed above 5, battery below 11, foreign ids, general rejects
    #[rustfmt::skip]
    type Row = (&'static str, bool, bool, bool, bool, bool, bool, bool, bool, bool);
    let table: &[Row] = &[
        (
            "no-fault-found",
            true,
            true,
            true,
            true,
            false,
            false,
            false,
            false,
            false,
        ),
        (
            "valet-lockout",
            true,
            true,
            false,
            false,
            true,
            false,
            false,
            false,
            false,
        ),
        (
            "release-inhibited",
            true,
            true,
            false,
            false,
            false,
            true,
            false,
            false,
            false,
        ),
        (
            "key-fob-battery",
            false,
            true,
            true,
            true,
            false,
            false,
            false,
            false,
            false,
        ),
        (
            "key-fob-programming",
            false,
            true,
            true,
            true,
            false,
            false,
            false,
            false,
            false,
        ),
        (
            "trunk-fuse",
            true,
            true,
            true,
            false,
            false,
            false,
            false,
            false,
            false,
        ),
        (
            "trunk-wiring",
            true,
            true,
            true,
            true,
            false,
            false,
            false,
            false,
            false,
        ),
        (
            "trunk-actuator",
            true,
            true,
            true,
            false,
            false,
            false,
            false,
            false,
            false,
        ),
        (
            "trunk-latch",
            true,
            true,
            true,
            false,
            false,
            false,
            false,
            false,
            false,
        ),
        (
            "low-battery",
            true,
            true,
            true,
            false,
            false,
            false,
            true,
            false,
            false,
        ),
        (
            "bcm-fault",
            true,
            true,
            false,
            false,
            false,
            false,
            false,
            false,
            true,
        ),
        (
            "aftermarket-interference",
            false,
            true,
            true,
            true,
            false,
            false,
            false,
            true,
            false,
        ),
        // Nobody presses: nothing moves.
        (
            "inconclusive",
            false,
            false,
            false,
            false,
            false,
            false,
            false,
            false,
            false,
        ),
    ];
    for profile in [NISSAN, FORD] {
        let prof = profile::load(profile).unwrap();
        for &(s, fob, cabin, out, lid, lockout, fast, low, foreign, rejects) in table {
            let o = observe(profile, s);
            let ctx = format!("{profile} {s}: {:?}", o.values);
            assert_eq!(o.set(CabinTrunkRequest), cabin, "{ctx}");
            assert_eq!(o.set(OpenerOutput), out, "{ctx}");
            assert_eq!(o.set(LidOpen), lid, "{ctx}");
            assert_eq!(o.set(Lockout), lockout, "{ctx}");
            if prof.has_role(SpeedKmh) {
                assert_eq!(o.min(SpeedKmh).unwrap() > 5.0, fast, "{ctx}");
            }
            assert_eq!(o.min(BatteryVoltage).unwrap() < 11.0, low, "{ctx}");
            assert_eq!(!o.foreign.is_empty(), foreign, "{ctx}");
            assert_eq!(o.general_rejects >= 2, rejects, "{ctx}");
            // The BCM's fob input (data read) vs. the request on the bus.
            let fob_data = {
                let mut p = Pair::new(profile, s, SimConfig::default());
                let req = p.profile.bcm().unwrap().session.clone().unwrap().request;
                p.ask(&req);
                let read = p
                    .profile
                    .data_reads()
                    .iter()
                    .find(|r| r.fields.iter().any(|f| f.role == FobTrunkRequest))
                    .unwrap()
                    .key
                    .request();
                let mut any = false;
                while p.now < 4_000_000 {
                    let r = p.ask1(&read);
                    p.profile.decode_response(&r, |_, role, v| {
                        any |= role == FobTrunkRequest && v != 0.0
                    });
                    p.ask(&hex("3E 00"));
                }
                any
            };
            assert_eq!(fob_data, fob, "{ctx}: fob request at the BCM");
        }
    }
}

#[test]
fn fob_unlock_and_bus_only_requests() {
    // Programming: the doors unlock at the fob press, no trunk request.
    let o = observe(NISSAN, "key-fob-programming");
    assert_eq!(o.values[&Role::DoorsLocked], BTreeSet::from([0, 10]));
    // Aftermarket: the request is on the bus (0x60D D.5), the BCM never sees the fob.
    let o = observe(NISSAN, "aftermarket-interference");
    assert!(o.set(Role::TrunkRequest));
    assert_eq!(o.foreign, BTreeSet::from([0x3F0, 0x5A0]));
    // Ford: the fob request shows in Keyfob_Pad_Stat but not in DID D100.
    let mut p = Pair::new(FORD, "aftermarket-interference", SimConfig::default());
    p.ask(&hex("10 03"));
    p.run_until(2_500_000);
    assert!(p.car.state().fob_on_bus && !p.car.state().fob_input);
    assert!(p.broadcast_values()[&Role::FobTrunkRequest]
        .iter()
        .any(|&v| v != 0.0));
}

#[test]
fn active_test_drives_the_output_and_the_lid_follows_the_scenario() {
    for (s, opens) in [
        ("no-fault-found", true),
        ("trunk-fuse", false),
        ("valet-lockout", true),
    ] {
        let cfg = SimConfig {
            presses: Vec::new(),
            ..SimConfig::default()
        };
        let mut p = Pair::new(NISSAN, s, cfg);
        assert_eq!(
            p.ask1(&hex("30 26 00 01")),
            hex("7F 30 80"),
            "outside the session"
        );
        p.ask(&hex("10 C0"));
        assert_eq!(p.ask1(&hex("30 26 00 01")), hex("70 26 00 01"));
        assert!(p.car.state().output);
        let t = p.now;
        p.run_until(t + 500_000);
        assert_eq!(p.car.state().lid_open, opens, "{s}");
        assert_eq!(p.ask1(&hex("30 26 00 00")), hex("70 26 00 00"));
        assert!(!p.car.state().output);
    }
}

#[test]
fn presses_wait_for_the_tester_or_the_fallback() {
    let mut p = Pair::new(NISSAN, "no-fault-found", SimConfig::default());
    p.run_until(3_000_000);
    assert_eq!(p.car.presses_anchored_at(), None);
    p.ask(&hex("10 C0"));
    let anchor = p.car.presses_anchored_at().unwrap();
    p.run_until(anchor + 2_050_000);
    assert!(p.car.state().fob_input && !p.car.state().output);
    p.run_until(anchor + 2_150_000);
    assert!(p.car.state().output);
    p.run_until(anchor + 2_350_000);
    assert!(p.car.state().lid_open);
    p.run_until(anchor + 4_350_000);
    assert!(!p.car.state().lid_open, "the user closed it 2 s later");

    let cfg = SimConfig {
        tester_wait_us: Some(1_000_000),
        ..SimConfig::default()
    };
    let mut p = Pair::new(NISSAN, "no-fault-found", cfg);
    p.run_until(1_500_000);
    assert_eq!(p.car.presses_anchored_at(), Some(1_000 + 1_000_000));
}

#[test]
fn clone_answers_what_the_capture_recorded() {
    let mut p = Pair::new(NISSAN, "low-battery", SimConfig::default());
    p.ask(&hex("10 C0"));
    let mon = p.ask1(&hex("21 44"));
    p.ask(&hex("18 02 FF 00"));
    let pn = p.ask1(&hex("21 83"));
    let bcm = p.profile.bcm().unwrap().clone();
    let pairs = LearnedPairs::learn(p.log.clone(), bcm.request_id, bcm.response_id);
    assert_eq!(pairs.answer(&hex("10 C0")), Some(hex("50 C0")));
    assert_eq!(pairs.answer(&hex("21 44")), Some(mon));
    assert_eq!(
        pairs.answer(&hex("18 02 FF 00")),
        Some(hex("58 01 A5 62 09"))
    );
    assert_eq!(pairs.answer(&hex("21 83")), Some(pn.clone()));
    assert_eq!(pairs.answer(&hex("21 45")), Some(hex("7F 21 31")));
    assert_eq!(pairs.answer(&hex("27 01")), Some(hex("7F 27 11")));
    // The clone on an ISO-TP link: multi-frame answers too.
    let clone = CaptureClone::new(
        pairs,
        bcm.request_id,
        bcm.response_id,
        10_000,
        Some(0xAA),
        Default::default(),
    );
    let mut tester = IsoTpChannel::new(IsoTpConfig::new(bcm.request_id, bcm.response_id));
    let mut clone = clone;
    let mut now = 0;
    tester.send(now, &hex("21 83")).unwrap();
    let mut got = None;
    for _ in 0..1000 {
        loop {
            let mut moved = false;
            while let Some(f) = tester.poll_transmit(now) {
                clone.handle_frame(now, &f);
                moved = true;
            }
            while let Some(f) = clone.poll_transmit(now) {
                assert_eq!(f.data().len(), 8, "padded");
                tester.handle_frame(now, &f);
                moved = true;
            }
            if !moved {
                break;
            }
        }
        while let Some(ev) = tester.poll_event() {
            if let IsoTpEvent::Received { payload, .. } = ev {
                got = Some(payload);
            }
        }
        if got.is_some() {
            break;
        }
        match [clone.poll_timeout(), tester.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        {
            Some(t) => {
                now = now.max(t);
                clone.handle_timeout(now);
                tester.handle_timeout(now);
            }
            None => break,
        }
    }
    assert_eq!(got, Some(pn));
}

/// An adapter on another bus hears none of the default bus's frames and no
/// BCM answer, only the profile's other buses and that bus's own modules.
#[test]
fn wrong_bus_sends_nothing_of_the_default_bus() {
    for profile in [NISSAN, FORD] {
        let mut p = Pair::new(profile, "wrong-bus", SimConfig::default());
        p.run_until(3_000_000);
        let default = p.profile.default_bus().unwrap().name.clone();
        let on_default: Vec<u32> = p
            .profile
            .frames
            .iter()
            .filter(|f| f.bus == default)
            .map(|f| f.id.raw())
            .collect();
        let bcm = p.profile.bcm().unwrap().response_id;
        assert!(p.log.len() > 20, "{profile}: {} frames", p.log.len());
        for f in &p.log {
            assert!(
                !on_default.contains(&f.id.raw()) && f.id != bcm,
                "{profile}: 0x{:X} is a frame of the default bus",
                f.id.raw()
            );
        }
    }
}

const RAV4: &str = "toyota-rav4-2019-2025";

/// The lid's values on the bus, in order, with repeats dropped.
fn changes(p: &Pair, role: Role) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    for v in p.broadcast_values().remove(&role).unwrap_or_default() {
        if out.last() != Some(&v) {
            out.push(v);
        }
    }
    out
}

#[test]
fn relearned_liftgate_opens_after_the_steps_in_order() {
    let mut p = Pair::new(RAV4, "liftgate-needs-relearn", SimConfig::default());
    p.run_until(20_000_000);
    // The power loss left the gate open and the doors locked; the person
    // closes the gate, unlocks, then presses the fob: the gate opens.
    assert_eq!(changes(&p, Role::LidOpen), [1.0, 0.0, 1.0, 0.0]);
    assert_eq!(changes(&p, Role::DriverDoorLocked), [1.0, 0.0]);
}

#[test]
fn a_missed_step_leaves_the_liftgate_disabled() {
    let mut p = Pair::new(RAV4, "relearn-step-missed", SimConfig::default());
    p.run_until(20_000_000);
    // Closed by hand, never unlocked: the fob's press is ignored.
    assert_eq!(changes(&p, Role::LidOpen), [1.0, 0.0]);
    assert_eq!(changes(&p, Role::DriverDoorLocked), [1.0]);
    let requests = p.broadcast_values().remove(&Role::TrunkRequest).unwrap();
    assert!(requests.contains(&1.0), "the press reached the bus");
}

/// A UDS profile whose relearn is a calibration routine (a test profile:
/// no bundled car publishes a routine id).
fn routine_profile() -> &'static str {
    concat!(
        include_str!("../../tests/data/profiles/kia-layouts.toml"),
        r#"
[relearn]
procedure = "close, then calibrate"
level = "placeholder"

[[relearn.step]]
do = "Close the gate by hand."
confirm = { role = "lid_open", becomes = 0 }
timeout_s = 30
if_not = "the gate"
level = "placeholder"

[[relearn.step]]
do = "Nothing: the tool runs the calibration."
confirm = { routine = 0x0203, pass = "00", fail = "01" }
timeout_s = 10
if_not = "the module"
level = "placeholder"
"#
    )
}

#[test]
fn the_calibration_routine_passes_only_after_the_steps_before_it() {
    let profile = profile::parse("test-routine.toml", routine_profile()).unwrap();
    let run = |scenario: &str, wait_us: u64| {
        let bcm = profile.bcm().unwrap();
        let iso = IsoTpConfig::new(bcm.request_id, bcm.response_id);
        let mut p = Pair {
            profile: profile.clone(),
            car: SimVehicle::new(
                &profile,
                Scenario::from_id(scenario).unwrap(),
                SimConfig::default(),
            ),
            tester: IsoTpChannel::new(iso),
            now: 1_000,
            log: Vec::new(),
            replies: Vec::new(),
        };
        p.run_until(wait_us);
        let started = p.ask1(&hex("31 01 02 03"));
        (started, p.ask1(&hex("31 03 02 03")))
    };
    // Before the gate was closed: the result reads fail.
    assert_eq!(
        run("liftgate-needs-relearn", 100_000),
        (hex("71 01 02 03"), hex("71 03 02 03 01"))
    );
    // After it: pass.
    assert_eq!(
        run("liftgate-needs-relearn", 4_000_000),
        (hex("71 01 02 03"), hex("71 03 02 03 00"))
    );
    // The person never closes the gate (the last step a value confirms):
    // the routine after it fails however long the tool waits.
    assert_eq!(
        run("relearn-step-missed", 10_000_000),
        (hex("71 01 02 03"), hex("71 03 02 03 01"))
    );
}

/// Found by udsoncan (tests/foreign_peers.rs): after `10 01` the simulated
/// BCM went on answering the DIDs that need the extended session.
#[test]
fn back_in_the_default_session_the_session_data_is_refused_again() {
    let mut p = Pair::new(FORD, "no-fault-found", SimConfig::default());
    p.ask1(&hex("10 03"));
    assert_eq!(p.ask1(&hex("22 D1 00")).first(), Some(&0x62));
    assert_eq!(p.ask1(&hex("10 01")).get(..2), Some(&hex("50 01")[..]));
    assert_eq!(p.ask1(&hex("22 D1 00")), hex("7F 22 31"), "UDS 10 01");
    let mut p = Pair::new(NISSAN, "no-fault-found", SimConfig::default());
    p.ask1(&hex("10 C0"));
    assert_eq!(p.ask1(&hex("21 44")).first(), Some(&0x61));
    assert_eq!(p.ask1(&hex("10 81")), hex("50 81"));
    assert_eq!(p.ask1(&hex("21 44")), hex("7F 21 80"), "KWP 10 81");
}

/// Found by udsoncan: every simulated UDS body module answered the Ford's
/// IO-control DID D103, the Kona's IGPM too; the readable IO target is the
/// profile's own (`2F BC 09 ...` on the Kona).
#[test]
fn the_io_control_did_read_is_the_profiles_own() {
    let mut p = Pair::new(
        "hyundai-kona-2018-2023",
        "no-fault-found",
        SimConfig::default(),
    );
    p.ask1(&hex("10 03"));
    assert_eq!(p.ask1(&hex("22 D1 03")), hex("7F 22 31"));
    assert_eq!(p.ask1(&hex("22 BC 09")), hex("62 BC 09 00"));
}

/// Found by udsoncan: `22` with several DIDs (ISO 14229-1 allows it) was
/// refused with requestOutOfRange; it answers each record in turn.
#[test]
fn several_dids_in_one_read_answer_each_record() {
    let mut p = Pair::new(FORD, "low-battery", SimConfig::default());
    assert_eq!(
        p.ask1(&hex("22 D1 00 D1 02")),
        hex("7F 22 31"),
        "outside session"
    );
    p.ask1(&hex("10 03"));
    let one = [p.ask1(&hex("22 D1 00")), p.ask1(&hex("22 D1 02"))];
    let both = p.ask1(&hex("22 D1 00 D1 02"));
    assert_eq!(both, [&one[0][..], &one[1][1..]].concat());
    assert_eq!(p.ask1(&hex("22 D1 00 F1 90")), hex("7F 22 31"));
    assert_eq!(p.ask1(&hex("22 D1 00 D1")), hex("7F 22 13"));
}

/// Found by gallia's service scan: the simulated Ford answered
/// ClearDiagnosticInformation (14) with requestOutOfRange, as a module
/// that has the service, though its profile names no request of it; a
/// service the profile does not name is serviceNotSupported.
#[test]
fn a_uds_service_the_profile_does_not_name_is_not_supported() {
    let mut p = Pair::new(FORD, "no-fault-found", SimConfig::default());
    assert_eq!(p.ask1(&hex("14 FF FF FF")), hex("7F 14 11"));
    assert_eq!(p.ask1(&hex("19 0A")), hex("7F 19 12"), "19 is named");
    assert_eq!(p.ask1(&hex("2F F0 00 03")), hex("7F 2F 31"), "2F is named");
    assert_eq!(p.ask1(&hex("3E 00")), hex("7E 00"));
}

/// A seed varies the car within the bounds that keep its scenario (answers
/// within P2, presses half a second either side, the battery within 0.2 V),
/// the same seed gives the same car, and different seeds different cars.
#[test]
fn a_seed_varies_the_car_within_its_bounds() {
    let base = SimConfig::default();
    let mut seen = BTreeSet::new();
    for seed in 0..200u64 {
        let cfg = SimConfig::default().varied(seed);
        let again = SimConfig::default().varied(seed);
        assert_eq!(
            (cfg.p2_us, cfg.pending_us, &cfg.presses),
            (again.p2_us, again.pending_us, &again.presses)
        );
        assert_eq!(cfg.battery_offset_volts, again.battery_offset_volts);
        assert!((10_000..=35_000).contains(&cfg.p2_us), "{}", cfg.p2_us);
        assert!((150_000..=350_000).contains(&cfg.pending_us));
        for ((at, press), (base_at, base_press)) in cfg.presses.iter().zip(&base.presses) {
            assert_eq!(press, base_press);
            assert!(at.abs_diff(*base_at) <= 500_000);
        }
        assert!(cfg.battery_offset_volts.abs() <= 0.2 + 1e-9);
        seen.insert((cfg.p2_us, cfg.presses[0].0));
    }
    assert!(seen.len() > 150, "seeds should give different cars");
}
