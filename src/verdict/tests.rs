//! Every cause from a synthetic evidence record: a data-driven table.

use super::*;
use crate::diag::Nrc;
use crate::evidence::{BcmEvent, Evidence, Purpose};
use crate::frame::{CanFrame, CanId};
use crate::profile::{self, Profile};

const S: u64 = 1_000_000;

/// Builds evidence the way the analyzer would: frames counted, values recorded.
struct Sim {
    p: Profile,
    ev: Evidence,
}

/// A Fusion as an adapter at the OBD pins 6/14 hears it: the body gateway's
/// 0x3B3 (ignition Run, trunk bit clear) on HS-CAN, whatever else the case adds.
fn fusion() -> Sim {
    Sim::new("ford-fusion-2013-2020").bcast(0.0, 0x3B3, &[0x40, 0, 0, 0, 0, 0, 0, 0])
}

impl Sim {
    fn new(profile: &str) -> Sim {
        Sim::of(profile::load(profile).unwrap())
    }
    fn of(p: Profile) -> Sim {
        let ev = Evidence::new(&p);
        Sim { p, ev }
    }
    /// Background traffic: `n` frames of a known id, one every 0.1 s,
    /// decoded through the profile as the analyzer would.
    fn alive(mut self, id: u16, n: u64) -> Sim {
        for i in 0..n {
            self = self.bcast(i as f64 / 10.0, id, &[0; 8]);
        }
        self
    }
    /// A broadcast frame decoded through the profile at `t` seconds.
    fn bcast(mut self, t: f64, id: u16, data: &[u8]) -> Sim {
        let f = CanFrame::classic(CanId::Standard(id), data)
            .unwrap()
            .at((t * S as f64) as u64);
        self.ev.frame(&f, self.p.is_known_id(f.id));
        let ev = &mut self.ev;
        self.p
            .decode_broadcast(&f, |item, role, v| ev.record(role, v, f.timestamp_us, item));
        self
    }
    /// A data reply (whole payload) from the BCM at `t` seconds.
    fn reply(mut self, t: f64, payload: &[u8]) -> Sim {
        let t = (t * S as f64) as u64;
        self.ev
            .bcm(t.saturating_sub(1000), BcmEvent::Request(Purpose::Other));
        self.ev.bcm(t, BcmEvent::Positive(Purpose::Other));
        let ev = &mut self.ev;
        self.p
            .decode_response(payload, |item, role, v| ev.record(role, v, t, item));
        self
    }
    /// Nissan data monitor 0x44 polled every 0.2 s for `until` s; `a(t)` gives byte A.
    fn monitor(mut self, until: f64, a: impl Fn(f64) -> u8, b: impl Fn(f64) -> u8) -> Sim {
        let mut t = 0.0;
        while t <= until + 1e-9 {
            self = self.reply(t, &[0x61, 0x44, a(t), b(t)]);
            t += 0.2;
        }
        self
    }
    /// A request to the BCM at `t` µs answered 10 µs later with `nrc`.
    fn refused(mut self, t: u64, sid: u8, nrc: Nrc, purpose: Purpose) -> Sim {
        self.ev.bcm(t, BcmEvent::Request(purpose));
        self.ev
            .bcm(t + 10, BcmEvent::Negative { sid, nrc, purpose });
        self
    }
    fn observe(mut self, o: &str) -> Sim {
        self.ev.observations = o.parse().unwrap();
        self
    }
    fn run(mut self) -> Vec<Verdict> {
        self.ev.finish();
        diagnose(&self.p, &self.ev)
    }
}

/// A trouble code as the analyzer hands it over.
fn dtc(code: &str, status: Option<u8>) -> BcmEvent {
    BcmEvent::Dtc {
        dtc: code.parse().unwrap(),
        status,
    }
}

fn within(t: f64, a: f64, b: f64) -> bool {
    t >= a - 1e-9 && t < b - 1e-9
}

// Byte A bits of Nissan 0x44 (placeholder positions, vehicles/README.md).
const CANCEL: u8 = 0x80;
const CABIN: u8 = 0x40;
const FOB: u8 = 0x20;
const OUTPUT: u8 = 0x10;
// Byte B bit 5: lid open.
const LID: u8 = 0x20;

/// A Nissan L33 where each press at `presses` (s) uses input bits `req`, with
/// output `out` and lid opening if `opens(i)`.
fn nissan_presses(
    req: u8,
    presses: &[f64],
    out: bool,
    opens: impl Fn(usize) -> bool + Copy,
) -> Sim {
    let ps = presses.to_vec();
    let ps2 = ps.clone();
    Sim::new("nissan-altima-2013-2018")
        .alive(0x60D, 10)
        .monitor(
            ps.last().copied().unwrap_or(0.0) + 4.0,
            move |t| {
                let mut a = 0;
                for &p in &ps {
                    if within(t, p, p + 0.4) {
                        a |= req;
                    }
                    if out && within(t, p + 0.2, p + 0.8) {
                        a |= OUTPUT;
                    }
                }
                a
            },
            move |t| {
                let mut b = 0;
                for (i, &p) in ps2.iter().enumerate() {
                    if opens(i) && within(t, p + 0.6, p + 3.0) {
                        b |= LID;
                    }
                }
                b
            },
        )
}

/// Nissan: the lid bit reads open throughout; a cabin press at 1 s.
fn nissan_lid_open() -> Sim {
    Sim::new("nissan-altima-2013-2018")
        .alive(0x60D, 10)
        .monitor(
            6.0,
            |t| if within(t, 1.0, 1.4) { CABIN } else { 0 },
            |_| LID,
        )
}

/// Ford: a broadcast fob decklid request at 1 s, the decklid ajar at 1.5 s.
fn ford_fob_opens() -> Sim {
    fusion()
        .bcast(0.0, 0x110, &[0; 8])
        .bcast(0.0, 0x3B1, &[0; 8])
        .bcast(1.0, 0x110, &[0, 0, 0, 0x80, 0, 0, 0, 0])
        .bcast(1.1, 0x110, &[0; 8])
        .bcast(1.5, 0x3B1, &[0x08, 0, 0, 0, 0, 0, 0, 0])
}

/// A cause the profile adds and codes mapped to it and to a built-in
/// cause other than the battery and the BCM.
const PROFILE_DTCS: &str = r#"
[[cause]]
id = "remote-start-fault"
summary = "The remote-start module reports a fault."
next_steps = ["Have the installer check the remote-start module."]

[[dtc]]
code = "B1D00"
meaning = "remote start module fault"
cause = "remote-start-fault"
source = "test fixture"
level = "this-model"

[[dtc]]
code = "B1D01"
meaning = "trunk actuator circuit open"
cause = "trunk-actuator"
source = "test fixture"
level = "placeholder"
"#;

fn ids(v: &[Verdict]) -> Vec<&str> {
    v.iter().map(|x| x.id.id()).collect()
}

struct Case {
    name: &'static str,
    sim: fn() -> Sim,
    /// Expected ids, in order, at the start of the ranking.
    top: &'static [&'static str],
    confidence: Option<Confidence>,
    unverified: Option<bool>,
    /// Substrings expected in the top verdict's evidence or explanation.
    mentions: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "nothing heard",
            sim: || Sim::new("nissan-altima-2013-2018"),
            top: &["no-bus-activity"],
            confidence: Some(Confidence::High),
            unverified: Some(false),
            mentions: &["no frames"],
        },
        Case {
            name: "bcm silent, bus alive",
            sim: || {
                let mut s = Sim::new("nissan-altima-2013-2018").alive(0x60D, 20);
                for i in 0..3 {
                    s.ev.bcm(i * S, BcmEvent::Request(Purpose::SessionStart));
                }
                s
            },
            top: &["bcm-unreachable"],
            confidence: Some(Confidence::High),
            unverified: Some(false),
            mentions: &["0x745", "0x765"],
        },
        Case {
            name: "ford bcm silent: rests on the placeholder response id",
            sim: || {
                let mut s = Sim::new("ford-fusion-2013-2020").alive(0x3B3, 20);
                s.ev.bcm(S, BcmEvent::Request(Purpose::SessionStart));
                s
            },
            top: &["bcm-unreachable"],
            confidence: None,
            unverified: Some(true),
            mentions: &[
                "0x72E",
                "placeholder, confirm on the vehicle: Ford BCM diagnostic ids",
            ],
        },
        Case {
            name: "low battery outranks a stuck lid",
            sim: || nissan_presses(CABIN, &[1.0], true, |_| false).bcast(0.5, 0x6F6, &[85]),
            top: &["low-battery"],
            confidence: Some(Confidence::High),
            unverified: None,
            mentions: &["8.5 V"],
        },
        Case {
            name: "low battery from B2562",
            sim: || {
                let mut s = Sim::new("nissan-altima-2013-2018").alive(0x60D, 10);
                s.ev.bcm(S, BcmEvent::Request(Purpose::DtcRead));
                s.ev.bcm(S + 10, BcmEvent::Positive(Purpose::DtcRead));
                s.ev.bcm(S + 10, dtc("B2562", Some(0x20)));
                s
            },
            top: &["low-battery"],
            confidence: Some(Confidence::High),
            unverified: Some(true),
            mentions: &["B2562", "DTC read"],
        },
        Case {
            name: "bcm fault from U1010",
            sim: || {
                let mut s = Sim::new("nissan-altima-2013-2018").alive(0x60D, 10);
                s.ev.bcm(S, dtc("U1010", None));
                s
            },
            top: &["bcm-fault"],
            confidence: Some(Confidence::High),
            unverified: None,
            mentions: &["U1010"],
        },
        Case {
            name: "bcm fault from repeated general rejects",
            sim: || {
                let mut s = Sim::new("nissan-altima-2013-2018").alive(0x60D, 10);
                for i in 1..4 {
                    s = s.refused(i * S, 0x21, Nrc::GeneralReject, Purpose::Other);
                }
                s
            },
            top: &["bcm-fault"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["general reject"],
        },
        Case {
            name: "valet lockout on the placeholder A.7",
            sim: || nissan_presses(CABIN | CANCEL, &[1.0], false, |_| false),
            top: &["valet-lockout"],
            confidence: Some(Confidence::Medium),
            unverified: Some(true),
            mentions: &[
                "TR CANCEL SW",
                "A.7",
                "placeholder, confirm on the vehicle: TR CANCEL SW (KWP 21 44 A.7)",
            ],
        },
        Case {
            name: "release inhibited: moving",
            sim: || {
                nissan_presses(FOB, &[1.0], false, |_| false).bcast(
                    0.9,
                    0x284,
                    &[0, 0, 0, 0, 0x0B, 0xB8, 0, 0],
                )
            },
            top: &["release-inhibited"],
            confidence: Some(Confidence::Medium),
            unverified: Some(true),
            mentions: &["gate closed: vehicle moving at 30 km/h", "5 km/h"],
        },
        Case {
            name: "stuck lid, no observations: cheapest first",
            sim: || nissan_presses(CABIN, &[1.0], true, |_| false),
            top: &[
                "trunk-fuse",
                "trunk-wiring",
                "trunk-actuator",
                "trunk-latch",
            ],
            confidence: Some(Confidence::Low),
            unverified: Some(true),
            mentions: &["lid did not open", "opener output driven"],
        },
        Case {
            name: "stuck lid, no click",
            sim: || nissan_presses(CABIN, &[1.0], true, |_| false).observe("click=no"),
            top: &[
                "trunk-fuse",
                "trunk-wiring",
                "trunk-actuator",
                "trunk-latch",
            ],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["no click"],
        },
        Case {
            name: "stuck lid, click",
            sim: || nissan_presses(CABIN, &[1.0], true, |_| false).observe("click=yes"),
            top: &["trunk-latch", "trunk-actuator"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["click heard"],
        },
        Case {
            name: "stuck lid, click, key blade opens",
            sim: || {
                nissan_presses(CABIN, &[1.0], true, |_| false)
                    .observe("click=yes key-blade-opens=yes")
            },
            top: &["trunk-actuator"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["latch is fine"],
        },
        Case {
            name: "stuck lid, click, key blade fails",
            sim: || {
                nissan_presses(CABIN, &[1.0], true, |_| false)
                    .observe("click=yes key-blade-opens=no")
            },
            top: &["trunk-latch", "trunk-actuator"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["latch is jammed"],
        },
        Case {
            name: "stuck lid, key blade opens: electrical",
            sim: || nissan_presses(CABIN, &[1.0], true, |_| false).observe("key-blade-opens=yes"),
            top: &["trunk-fuse", "trunk-wiring", "trunk-actuator"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["electrical"],
        },
        Case {
            name: "lid opens on some presses only: wiring",
            sim: || nissan_presses(CABIN, &[1.0, 6.0], true, |i| i == 1),
            top: &["trunk-wiring"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["intermittent", "lid opened at"],
        },
        Case {
            name: "cabin works, fob pressed, not seen: fob battery",
            sim: || nissan_presses(CABIN, &[1.0], true, |_| true).observe("fob-pressed=yes"),
            top: &["key-fob-battery", "key-fob-programming"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["CR2032", "cabin switch opened the trunk"],
        },
        Case {
            name: "short fob range: battery first",
            sim: || {
                nissan_presses(CABIN, &[1.0], true, |_| true)
                    .observe("fob-pressed=yes fob-range=short")
            },
            top: &["key-fob-battery", "key-fob-programming"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["short fob range"],
        },
        Case {
            name: "short fob range reported: the fob was tried, battery first",
            sim: || nissan_presses(CABIN, &[1.0], true, |_| true).observe("fob-range=short"),
            top: &["key-fob-battery", "key-fob-programming"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["short fob range"],
        },
        Case {
            name: "short range but the fob was not pressed this time: what worked",
            sim: || {
                nissan_presses(CABIN, &[1.0], true, |_| true)
                    .observe("fob-pressed=no fob-range=short")
            },
            top: &["no-fault-found"],
            confidence: None,
            unverified: None,
            mentions: &[],
        },
        Case {
            name: "fob unlocks doors: programming first",
            sim: || {
                nissan_presses(CABIN, &[1.0], true, |_| true)
                    .observe("fob-pressed=yes fob-unlocks-doors=yes")
            },
            top: &["key-fob-programming", "key-fob-battery"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["not the fob battery alone"],
        },
        Case {
            name: "fob lock/unlock seen on the bus: programming first",
            sim: || {
                nissan_presses(CABIN, &[1.0], true, |_| true)
                    // The L33's lock bit: 0x60D C.4.
                    .bcast(0.1, 0x60D, &[0, 0, 0x10, 0, 0, 0, 0, 0])
                    .bcast(0.3, 0x60D, &[0, 0, 0x00, 0, 0, 0, 0, 0])
                    .observe("fob-pressed=yes")
            },
            top: &["key-fob-programming", "key-fob-battery"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["lock/unlock change"],
        },
        Case {
            name: "cabin works, fob not pressed: no fault, with a note",
            sim: || nissan_presses(CABIN, &[1.0], true, |_| true),
            top: &["no-fault-found"],
            confidence: Some(Confidence::Medium),
            unverified: Some(true),
            mentions: &["fob's trunk button was not seen pressed"],
        },
        Case {
            name: "unknown node and a refused press: aftermarket",
            sim: || nissan_presses(CABIN, &[1.0], false, |_| false).alive(0x5FF, 5),
            top: &["aftermarket-interference"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["unknown identifier 0x5FF"],
        },
        Case {
            name: "broadcast request never reaches the BCM input",
            sim: || {
                nissan_presses(CABIN, &[], false, |_| false)
                    .bcast(0.9, 0x60D, &[0, 0, 0, 0x00, 0, 0, 0, 0])
                    .bcast(1.0, 0x60D, &[0, 0, 0, 0x20, 0, 0, 0, 0])
                    .bcast(1.5, 0x60D, &[0, 0, 0, 0x00, 0, 0, 0, 0])
                    .alive(0x5FF, 3)
            },
            top: &["aftermarket-interference"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["never set"],
        },
        Case {
            name: "aftermarket alarm reported and a refused press",
            sim: || nissan_presses(FOB, &[1.0], false, |_| false).observe("aftermarket-alarm=yes"),
            top: &["aftermarket-interference"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["aftermarket alarm"],
        },
        Case {
            name: "fob press works end to end",
            sim: || nissan_presses(FOB, &[1.0], true, |_| true),
            top: &["no-fault-found"],
            confidence: Some(Confidence::Medium),
            unverified: Some(true),
            mentions: &["lid opened at"],
        },
        Case {
            name: "ford: broadcast fob request, verified lid, works",
            sim: ford_fob_opens,
            top: &["no-fault-found"],
            confidence: Some(Confidence::High),
            unverified: Some(false),
            mentions: &["Power_Decklid_Rqst", "Decklid_Ajar_Status"],
        },
        Case {
            name: "ford: inhibit signal set, press refused",
            sim: || {
                fusion()
                    .bcast(0.0, 0x384, &[0, 0, 0, 0, 0, 0, 0x10, 0])
                    .bcast(0.0, 0x110, &[0; 8])
                    .bcast(0.0, 0x3B1, &[0; 8])
                    .reply(0.2, &[0x62, 0xD1, 0x00, 0x00])
                    .bcast(1.0, 0x110, &[0, 0, 0, 0x80, 0, 0, 0, 0])
                    .reply(1.2, &[0x62, 0xD1, 0x00, 0x04])
                    .reply(2.0, &[0x62, 0xD1, 0x00, 0x00])
                    .reply(4.5, &[0x62, 0xD1, 0x00, 0x00])
            },
            top: &["valet-lockout"],
            confidence: Some(Confidence::Medium),
            unverified: Some(true),
            mentions: &["PE_Decklid_Inhibit_Rqst"],
        },
        Case {
            name: "ford: press refused and nothing readable explains it",
            sim: || {
                fusion()
                    .bcast(0.0, 0x384, &[0; 8])
                    .bcast(0.0, 0x110, &[0; 8])
                    .bcast(0.0, 0x3B1, &[0; 8])
                    .reply(0.2, &[0x62, 0xD1, 0x00, 0x00])
                    .bcast(1.0, 0x110, &[0, 0, 0, 0x80, 0, 0, 0, 0])
                    .reply(1.2, &[0x62, 0xD1, 0x00, 0x04])
                    .reply(2.0, &[0x62, 0xD1, 0x00, 0x00])
                    .reply(4.5, &[0x62, 0xD1, 0x00, 0x00])
            },
            top: &["release-inhibited", "bcm-fault"],
            confidence: Some(Confidence::Low),
            unverified: Some(true),
            mentions: &["nothing this profile can read explains it"],
        },
        Case {
            name: "ford: a fob request while driving at 47 km/h in Drive, output not watched: inhibited by design",
            sim: || {
                // 0x415 Veh_V_ActlBrk 4706 x 0.01 km/h and 0x230 gear 3
                // (Drive), as a real 2017 Fusion sends them at 47 km/h.
                fusion()
                    .bcast(0.0, 0x415, &[0x12, 0x62, 0, 0, 0, 0, 0, 0])
                    .bcast(0.0, 0x230, &[0x30, 0x06, 0, 0, 0, 0, 0, 0])
                    .bcast(0.5, 0x331, &[0; 8])
                    .bcast(1.0, 0x331, &[0x02, 0, 0, 0, 0, 0, 0, 0])
                    .bcast(1.3, 0x331, &[0; 8])
                    .bcast(4.5, 0x3B3, &[0x40, 0, 0, 0, 0, 0, 0, 0])
            },
            top: &["release-inhibited"],
            confidence: Some(Confidence::Medium),
            unverified: Some(true),
            mentions: &[
                "gate closed: vehicle moving at 47 km/h",
                "gate closed: in gear Drive",
                "opener output not monitored",
            ],
        },
        Case {
            name: "bcm stops answering before the press: unreachable first",
            sim: || {
                let mut s = Sim::new("nissan-altima-2013-2018")
                    .alive(0x60D, 40)
                    .reply(0.2, &[0x61, 0x44, 0, 0]);
                s.ev.bcm(S / 2, BcmEvent::Unanswered);
                s.ev.bcm(S, BcmEvent::Unanswered);
                s.bcast(2.0, 0x60D, &[0, 0, 0, 0x20, 0, 0, 0, 0])
            },
            top: &["bcm-unreachable"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["then stopped answering from 0.500 s"],
        },
        Case {
            name: "bcm stops answering after the presses were watched: they stand",
            sim: || {
                let mut s = nissan_presses(CABIN, &[1.0], true, |_| false);
                s.ev.bcm(6 * S, BcmEvent::Unanswered);
                s.ev.bcm(7 * S, BcmEvent::Unanswered);
                s
            },
            top: &[
                "trunk-fuse",
                "trunk-wiring",
                "trunk-actuator",
                "trunk-latch",
                "bcm-unreachable",
            ],
            confidence: Some(Confidence::Low),
            unverified: None,
            mentions: &[],
        },
        Case {
            name: "foreign node but the BCM drove the opener: electrical checks first",
            sim: || nissan_presses(CABIN, &[1.0], true, |_| false).alive(0x1A0, 20),
            top: &[
                "trunk-fuse",
                "trunk-wiring",
                "trunk-actuator",
                "trunk-latch",
                "aftermarket-interference",
            ],
            confidence: Some(Confidence::Low),
            unverified: None,
            mentions: &[],
        },
        Case {
            name: "ford: an unknown id is no evidence (few frames published), the unexplained refusal leads",
            sim: || {
                fusion()
                    .alive(0x1A0, 20)
                    .bcast(0.0, 0x384, &[0; 8])
                    .bcast(0.0, 0x110, &[0; 8])
                    .bcast(0.0, 0x3B1, &[0; 8])
                    .reply(0.2, &[0x62, 0xD1, 0x00, 0x00])
                    .bcast(1.0, 0x110, &[0, 0, 0, 0x80, 0, 0, 0, 0])
                    .reply(1.2, &[0x62, 0xD1, 0x00, 0x04])
                    .reply(2.0, &[0x62, 0xD1, 0x00, 0x00])
                    .reply(4.5, &[0x62, 0xD1, 0x00, 0x00])
            },
            top: &["release-inhibited"],
            confidence: None,
            unverified: None,
            mentions: &["nothing this profile can read explains it"],
        },
        Case {
            name: "generic-uds says what it could and could not check",
            sim: || {
                let mut s = Sim::new("generic-uds")
                    .alive(0x130, 10)
                    .reply(1.0, &[0x41, 0x42, 0x31, 0x38]);
                s.ev.bcm(S, dtc("P0562", Some(0x09)));
                s
            },
            top: &["inconclusive"],
            confidence: Some(Confidence::Low),
            unverified: Some(false),
            mentions: &["could not check the trunk request", "P0562"],
        },
        Case {
            name: "generic-uds with observations: electrical set, low",
            sim: || Sim::new("generic-uds").alive(0x130, 10).observe("click=no"),
            top: &["trunk-fuse"],
            confidence: Some(Confidence::Low),
            unverified: None,
            mentions: &["observed only"],
        },
        Case {
            name: "lockout flag read set, no press watched",
            sim: || {
                Sim::new("nissan-altima-2013-2018")
                    .alive(0x60D, 10)
                    .monitor(3.0, |_| CANCEL, |_| 0)
            },
            top: &["valet-lockout"],
            confidence: Some(Confidence::Low),
            unverified: None,
            mentions: &["no trunk press was seen to confirm"],
        },
        Case {
            name: "one general reject: a weak hint of a BCM fault",
            sim: || {
                Sim::new("nissan-altima-2013-2018").alive(0x60D, 10).refused(
                    S,
                    0x21,
                    Nrc::GeneralReject,
                    Purpose::Other,
                )
            },
            top: &["bcm-fault"],
            confidence: Some(Confidence::Low),
            unverified: None,
            mentions: &["1 general reject(s)"],
        },
        Case {
            name: "session start refused: a weak hint of a BCM fault",
            sim: || {
                Sim::new("nissan-altima-2013-2018").alive(0x60D, 10).refused(
                    S,
                    0x10,
                    Nrc::ConditionsNotCorrect,
                    Purpose::SessionStart,
                )
            },
            top: &["bcm-fault"],
            confidence: Some(Confidence::Low),
            unverified: None,
            mentions: &["refused the session start (NRC 0x22)"],
        },
        Case {
            name: "fob pressed, not heard, cabin not shown working: battery first, possible",
            sim: || {
                Sim::new("nissan-altima-2013-2018")
                    .alive(0x60D, 10)
                    .observe("fob-pressed=yes")
            },
            top: &["key-fob-battery", "key-fob-programming"],
            confidence: Some(Confidence::Low),
            unverified: None,
            mentions: &["no fob trunk request reached the bus"],
        },
        Case {
            name: "the profile maps codes to a cause it adds and to another built-in one",
            sim: || {
                let text = std::fs::read_to_string(
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("vehicles/nissan-altima-2013-2018.toml"),
                )
                .unwrap();
                let p = profile::parse("fixture.toml", &(text + PROFILE_DTCS)).unwrap();
                let mut s = Sim::of(p).alive(0x60D, 10);
                s.ev.bcm(S, dtc("B1D00", Some(0x08)));
                s.ev.bcm(S, dtc("B1D01", None));
                s
            },
            top: &["remote-start-fault", "trunk-actuator"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["B1D00", "remote start module"],
        },
        Case {
            name: "bus alive, no press watched: inconclusive",
            sim: || Sim::new("nissan-altima-2013-2018").alive(0x60D, 10),
            top: &["inconclusive"],
            confidence: Some(Confidence::Low),
            unverified: Some(false),
            mentions: &["no trunk press was seen"],
        },
        Case {
            name: "fob opens the lid, the cabin press finds it open: no fault",
            sim: || {
                Sim::new("nissan-altima-2013-2018")
                    .alive(0x60D, 10)
                    .monitor(
                        9.0,
                        |t| {
                            let mut a = 0;
                            if within(t, 1.0, 1.4) {
                                a |= FOB;
                            }
                            if within(t, 1.2, 1.8) {
                                a |= OUTPUT;
                            }
                            if within(t, 4.0, 4.4) {
                                a |= CABIN;
                            }
                            a
                        },
                        |t| if t >= 1.6 - 1e-9 { LID } else { 0 },
                    )
            },
            top: &["no-fault-found"],
            confidence: Some(Confidence::Medium),
            unverified: Some(true),
            mentions: &["lid was already open", "not a refusal"],
        },
        Case {
            name: "ford: lid opens, a second press finds it open: no fault",
            sim: || {
                ford_fob_opens()
                    .bcast(4.0, 0x110, &[0, 0, 0, 0x80, 0, 0, 0, 0])
                    .bcast(4.1, 0x110, &[0; 8])
                    .bcast(8.0, 0x3B1, &[0x08, 0, 0, 0, 0, 0, 0, 0])
            },
            top: &["no-fault-found"],
            confidence: Some(Confidence::High),
            unverified: Some(false),
            mentions: &["lid was already open"],
        },
        Case {
            name: "lid reads open throughout: no fault, the switch reads open",
            sim: nissan_lid_open,
            top: &["no-fault-found"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["reads open throughout", "lid-closed=yes"],
        },
        Case {
            name: "lid reads open throughout, owner says it is shut: latch",
            sim: || nissan_lid_open().observe("lid-closed=yes"),
            top: &["trunk-latch"],
            confidence: Some(Confidence::Medium),
            unverified: None,
            mentions: &["stuck or open-circuit"],
        },
        Case {
            name: "ford: decklid ajar throughout, owner says it is shut: latch",
            sim: || {
                // Both buses' ajar bits read open (0x3B3 A.0, 0x3B1 A.3).
                Sim::new("ford-fusion-2013-2020")
                    .bcast(0.0, 0x3B3, &[0x41, 0, 0, 0, 0, 0, 0, 0])
                    .bcast(0.0, 0x3B1, &[0x08, 0, 0, 0, 0, 0, 0, 0])
                    .bcast(0.0, 0x110, &[0; 8])
                    .bcast(1.0, 0x110, &[0, 0, 0, 0x80, 0, 0, 0, 0])
                    .bcast(1.1, 0x110, &[0; 8])
                    .bcast(5.0, 0x3B1, &[0x08, 0, 0, 0, 0, 0, 0, 0])
                    .bcast(5.0, 0x3B3, &[0x41, 0, 0, 0, 0, 0, 0, 0])
                    .observe("lid-closed=yes")
            },
            top: &["trunk-latch"],
            confidence: Some(Confidence::Medium),
            unverified: Some(false),
            mentions: &["Decklid_Ajar_Status", "stuck or open-circuit"],
        },
        Case {
            name: "lockout read, then the data monitor lost: a broadcast press under lockout",
            sim: || {
                // The monitor answered until 0.8 s (lockout set), then no
                // more: the press at 1 s comes on 0x60D D.5, the lid (0x358
                // C.0) stays shut, the opener output is never watched.
                let mut sim = Sim::new("nissan-altima-2013-2018")
                    .monitor(0.8, |_| CANCEL, |_| 0)
                    .bcast(1.0, 0x60D, &[0, 0, 0, 0x20, 0, 0, 0, 0]);
                for i in 0..40 {
                    let t = 1.1 + f64::from(i) * 0.1;
                    sim = sim
                        .bcast(t, 0x60D, &[0; 8])
                        .bcast(t, 0x358, &[0; 8]);
                }
                sim
            },
            top: &["valet-lockout"],
            confidence: Some(Confidence::Low),
            unverified: Some(true),
            mentions: &["gate closed at the press: lockout flag set", "not monitored"],
        },
        Case {
            name: "three fob presses and a cabin press under lockout",
            sim: || {
                Sim::new("nissan-altima-2013-2018")
                    .alive(0x60D, 10)
                    .monitor(
                        12.0,
                        |t| {
                            let fob = [1.0, 3.0, 5.0].iter().any(|&p| within(t, p, p + 0.4));
                            CANCEL
                                | if fob { FOB } else { 0 }
                                | if within(t, 8.0, 8.4) { CABIN } else { 0 }
                        },
                        |_| 0,
                    )
            },
            top: &["valet-lockout"],
            confidence: Some(Confidence::Medium),
            unverified: Some(true),
            mentions: &[
                "fob press at 1.000 s",
                "fob press at 5.000 s",
                "cabin press at 8.000 s",
            ],
        },
    ]
}

#[test]
fn every_cause_from_synthetic_evidence() {
    let mut failures = Vec::new();
    for c in cases() {
        let v = (c.sim)().run();
        let got = ids(&v);
        let ok_order = got.len() >= c.top.len() && got.iter().zip(c.top).all(|(a, b)| a == b);
        let top = v.first().unwrap();
        let rests_on: Vec<String> = top.rests_on.iter().map(RestsOn::line).collect();
        let text = format!(
            "{} {} | {}",
            top.explanation,
            top.evidence.join(" | "),
            rests_on.join(" | ")
        );
        let mut why = Vec::new();
        if !ok_order {
            why.push(format!(
                "ranking {got:?}, expected to start with {:?}",
                c.top
            ));
        }
        if let Some(conf) = c.confidence {
            if top.confidence != conf {
                why.push(format!(
                    "confidence {:?}, expected {conf:?}",
                    top.confidence
                ));
            }
        }
        if let Some(u) = c.unverified {
            if top.unverified != u {
                why.push(format!("unverified {}, expected {u}", top.unverified));
            }
        }
        for m in c.mentions {
            if !text.contains(m) && !top.next_steps.join(" ").contains(m) {
                why.push(format!("missing `{m}` in: {text}"));
            }
        }
        if top.safety.len() != text::SAFETY.len()
            || top.access_now.is_empty()
            || top.summary.is_empty()
        {
            why.push("safety / access_now / summary missing".to_owned());
        }
        if !why.is_empty() {
            failures.push(format!("{}: {}", c.name, why.join("; ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_builtin_cause_has_words() {
    for c in Cause::ALL {
        assert!(
            !text::summary(c).is_empty() && text::summary(c).ends_with('.'),
            "{c:?}"
        );
        assert!(!text::explanation(c).is_empty(), "{c:?}");
        assert!(!text::next_steps(c).is_empty(), "{c:?}");
    }
}

#[test]
fn valet_lockout_json_says_unverified_and_names_the_item() {
    let v = nissan_presses(CABIN | CANCEL, &[1.0], false, |_| false).run();
    let json = serde_json::to_value(&v[0]).unwrap();
    assert_eq!(json["id"], "valet-lockout");
    assert_eq!(json["unverified"], true);
    let ev = json["evidence"].to_string();
    assert!(ev.contains("TR CANCEL SW (KWP 21 44 A.7)"), "{ev}");
    // Grouped by level below "this model", strongest first.
    let groups = json["rests_on"].as_array().unwrap();
    let levels: Vec<&str> = groups
        .iter()
        .map(|g| g["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["related-model", "placeholder"], "{groups:?}");
    assert_eq!(groups[1]["words"], "placeholder, confirm on the vehicle");
    assert!(groups[1]["items"].to_string().contains("TR CANCEL SW"));
    assert!(groups[0]["items"]
        .to_string()
        .contains("TR/BD OPEN SW (KWP 21 44 B.5)"));
    assert!(ev.contains("from a related model: "), "{ev}");
    // The verdict keeps them apart; only the JSON's evidence list ends with them.
    assert!(v[0]
        .evidence
        .iter()
        .all(|l| !l.starts_with("from a related model") && !l.starts_with("placeholder")));
    assert_eq!(v[0].rests_on.len(), 2);
}

/// An adapter on the Fusion's MS-CAN: traffic, none of the HS-CAN frames
/// the profile expects, no BCM answer. The verdict names the bus, its pins
/// and bitrate, and the bus the frames heard belong to.
#[test]
fn traffic_without_the_expected_ids_names_the_bus_to_connect_to() {
    let mut s = Sim::new("ford-fusion-2013-2020");
    for i in 0..30 {
        let t = f64::from(i) * 0.1;
        s = s
            .bcast(t, 0x110, &[0; 8])
            .bcast(t, 0x3B1, &[0; 8])
            .bcast(t, 0x384, &[0; 8]);
    }
    s.ev.bcm(S, BcmEvent::Request(Purpose::SessionStart));
    let v = s.run();
    let top = &v[0];
    assert_eq!(
        (top.id.id(), top.rule),
        ("wrong-bus", RuleId::ExpectedIdsMissing)
    );
    // Not alone: what the MS-CAN frames show still follows it.
    assert!(v.len() > 1, "{:?}", ids(&v));
    let ev = top.evidence.join(" | ");
    assert!(ev.contains("no 0x3B3 or 0x331 or 0x415 or 0x230 from the Ford Fusion's hs-can bus after 3 s: is the adapter on pins 6/14 at 500 kbit/s?"), "{ev}");
    assert!(ev.contains("heard instead: 0x3B1, 0x110, 0x384, the Fusion's ms-can bus frames (pins 3/11 at 125 kbit/s)"), "{ev}");
    assert!(
        !top.summary.contains("Nothing was heard"),
        "{}",
        top.summary
    );
    // One HS-CAN frame heard: the rule stays quiet.
    let mut s = Sim::new("ford-fusion-2013-2020").bcast(0.0, 0x3B3, &[0x40, 0, 0, 0, 0, 0, 0, 0]);
    for i in 0..30 {
        s = s.bcast(f64::from(i) * 0.1, 0x110, &[0; 8]);
    }
    assert!(s.run().iter().all(|v| v.rule != RuleId::ExpectedIdsMissing));
}

#[test]
fn a_verdict_on_this_model_items_only_lists_nothing_below() {
    let v = Sim::new("nissan-altima-2013-2018").run();
    assert_eq!(v[0].id, VerdictId::Known(Cause::NoBusActivity));
    assert!(v[0].rests_on.is_empty() && !v[0].unverified);
}

#[test]
fn next_steps_leave_out_a_check_the_user_already_reported() {
    let steps = |obs: Option<&str>| {
        let mut s = nissan_presses(CABIN, &[1.0], true, |_| false);
        if let Some(o) = obs {
            s = s.observe(o);
        }
        let v = s.run();
        v.iter()
            .find(|v| v.id == VerdictId::Known(Cause::TrunkLatch))
            .map(|v| v.next_steps.clone())
            .unwrap()
    };
    assert!(steps(None).iter().any(|s| s == text::KEY_BLADE_STEP));
    assert!(!steps(Some("click=yes key-blade-opens=no"))
        .iter()
        .any(|s| s == text::KEY_BLADE_STEP));
}

/// docs/rules.md is generated from the rule table; `UPDATE_EXPECT=1`
/// rewrites it.
#[test]
fn rules_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md");
    let want = rules_document();
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/rules.md is stale: run `UPDATE_EXPECT=1 cargo test --lib rules_document`"
    );
}

#[test]
fn every_rule_is_named_once_and_documented() {
    let mut names: Vec<&str> = RULES.iter().map(|r| r.name()).collect();
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    assert_eq!(n, names.len(), "rule names must be unique");
    let doc = rules_document();
    for r in RULES {
        assert!(doc.contains(&format!("`{}`", r.name())), "{}", r.name());
        assert!(!r.when.is_empty());
    }
    // Every cause of the cause table is some row's (inconclusive: the fallback's).
    for c in Cause::ALL {
        let supported = RULES.iter().any(|r| match r.supports {
            Supports::One(x) => x == c,
            Supports::Set(xs) => xs.contains(&c),
            Supports::ProfileDtcCause => false,
        });
        assert!(supported, "no rule supports {}", c.id());
    }
    // The typed ids are the table's rows, in order.
    for (i, r) in RULES.iter().enumerate() {
        assert_eq!(RuleId::ALL.get(i), Some(&r.id), "{}", r.name());
    }
    // The fallback `diagnose` adds is the last row.
    assert_eq!(RULES.last().map(|r| r.name()), Some("nothing-located"));
    // Strengths only go down the table, so the table reads in rank order.
    for w in RULES.windows(2) {
        assert!(
            w[0].strength >= w[1].strength,
            "{} before {}",
            w[0].name(),
            w[1].name()
        );
    }
}

/// The rules that fire on a capture of the library, replayed through the
/// analyzer with `observations`.
fn fired_on_capture(
    profile: &Profile,
    log: &std::path::Path,
    observations: crate::observation::Observations,
) -> Vec<RuleId> {
    let mut reader = crate::capture::CaptureReader::open(log, Default::default())
        .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let mut analyzer = crate::analyzer::Analyzer::new(profile);
    let mut told = 0;
    while let Some(frame) = reader
        .next_frame()
        .unwrap_or_else(|e| panic!("{}: {e}", log.display()))
    {
        analyzer.feed(&frame);
        // `# press` lines: presses the person told of.
        for a in reader.annotations().get(told..).unwrap_or_default() {
            analyzer.comment(&a.text);
        }
        told = reader.annotations().len();
    }
    let (ev, _) = analyzer.finish(observations);
    fired(profile, &ev)
}

/// Every rule of the table fires somewhere: in a case of this file's table
/// or in the capture library (one scenario per cause, every bundled
/// profile, each case's observations). The table is enumerated, so a new
/// row that nothing makes fire fails here, naming it.
#[test]
fn every_rule_fires_in_a_case_or_a_capture() {
    let mut seen: std::collections::BTreeSet<RuleId> = std::collections::BTreeSet::new();
    for c in cases() {
        let mut s = (c.sim)();
        s.ev.finish();
        seen.extend(fired(&s.p, &s.ev));
    }
    let library = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut replayed = 0;
    for dir in std::fs::read_dir(&library).unwrap() {
        let dir = dir.unwrap().path();
        let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Ok(p) = profile::load(name) else {
            continue;
        };
        for cause in Cause::ALL {
            let expect = dir.join(format!("{}.expect.json", cause.id()));
            let text = std::fs::read_to_string(&expect)
                .unwrap_or_else(|e| panic!("{}: {e}", expect.display()));
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            for case in json["cases"].as_array().unwrap() {
                let obs: Vec<&str> = case["observations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o.as_str().unwrap())
                    .collect();
                let obs = obs.join(" ").parse().unwrap();
                let log = dir.join(format!("{}.log", cause.id()));
                seen.extend(fired_on_capture(&p, &log, obs));
                replayed += 1;
            }
        }
    }
    assert!(replayed >= Cause::COUNT, "only {replayed} capture cases");
    let never: Vec<&str> = RuleId::ALL
        .into_iter()
        .filter(|r| !seen.contains(r))
        .map(RuleId::name)
        .collect();
    assert!(
        never.is_empty(),
        "rules that no case or capture makes fire: {never:?}"
    );
}

#[test]
fn verdict_ids_are_typed_and_serialize_as_their_id() {
    for c in Cause::ALL {
        let id = VerdictId::of_id(c.id());
        assert_eq!(id, VerdictId::Known(c));
        assert_eq!(id.to_string(), c.id());
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            format!("\"{}\"", c.id())
        );
    }
    let extra = VerdictId::of_id("door-module");
    assert_eq!(extra, VerdictId::Profile("door-module".to_owned()));
    assert_eq!(serde_json::to_string(&extra).unwrap(), "\"door-module\"");
}
