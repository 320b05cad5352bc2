//! The rules: each looks at the evidence and adds findings with a score; the
//! findings are merged per cause, ranked and turned into verdicts.

use std::fmt::Write as _;

use super::text;
use super::{Cause, Confidence, Verdict};
use crate::diag::Nrc;
use crate::evidence::{Evidence, ReleaseAttempt, Seen, SessionStart};
use crate::profile::{ConditionTest, ItemRef, Profile, ReleaseInput, Role};

/// A cause the rules found, before wording.
#[derive(Clone, Debug)]
struct Finding {
    /// Built-in cause, or a profile-added cause id (DTC mapping).
    cause: Result<Cause, String>,
    score: u32,
    confidence: Confidence,
    evidence: Vec<String>,
    items: Vec<ItemRef>,
    notes: Vec<String>,
}

impl Finding {
    fn new(cause: Cause, score: u32, confidence: Confidence) -> Finding {
        Finding {
            cause: Ok(cause),
            score,
            confidence,
            evidence: Vec::new(),
            items: Vec::new(),
            notes: Vec::new(),
        }
    }
    fn line(mut self, l: impl Into<String>) -> Finding {
        self.evidence.push(l.into());
        self
    }
    fn lines(mut self, ls: impl IntoIterator<Item = String>) -> Finding {
        self.evidence.extend(ls);
        self
    }
    fn items(mut self, it: impl IntoIterator<Item = ItemRef>) -> Finding {
        self.items.extend(it);
        self
    }
    fn note(mut self, n: impl Into<String>) -> Finding {
        self.notes.push(n.into());
        self
    }
    fn id(&self) -> String {
        match &self.cause {
            Ok(c) => c.id().to_owned(),
            Err(s) => s.clone(),
        }
    }
}

/// Seconds since the first frame, for evidence lines.
struct Clock(u64);
impl Clock {
    fn at(&self, t: u64) -> String {
        let d = t.saturating_sub(self.0);
        format!("{}.{:03} s", d / 1_000_000, (d % 1_000_000) / 1000)
    }
}

/// Ranks the causes the evidence supports; the first is the most likely.
/// Call `evidence.finish()` first.
pub fn diagnose(profile: &Profile, ev: &Evidence) -> Vec<Verdict> {
    let clock = Clock(ev.first_us.unwrap_or(0));
    let mut f: Vec<Finding> = Vec::new();
    let trunk_data = [
        Role::LidOpen,
        Role::OpenerOutput,
        Role::FobTrunkRequest,
        Role::CabinTrunkRequest,
        Role::TrunkRequest,
    ]
    .into_iter()
    .any(|r| profile.has_role(r));

    // Reachability.
    let r = &ev.reachability;
    if ev.frames_seen == 0 && r.diag_responses == 0 {
        f.push(
            Finding::new(Cause::NoBusActivity, 1000, Confidence::High)
                .line("no frames at all were received"),
        );
        return finish(profile, ev, f, trunk_data);
    }
    if r.non_diag_frames == 0 && r.diag_responses == 0 {
        f.push(
            Finding::new(Cause::NoBusActivity, 990, Confidence::Medium).line(format!(
                "{} frame(s) seen, all diagnostic requests; no other module was heard",
                ev.frames_seen
            )),
        );
        return finish(profile, ev, f, trunk_data);
    }
    if r.diag_requests > 0 && r.diag_responses == 0 {
        let bcm = profile.bcm();
        f.push(
            Finding::new(Cause::BcmUnreachable, 900, Confidence::High)
                .line(format!(
                    "{} request(s) to the BCM on 0x{} and no reply on 0x{}",
                    r.diag_requests, bcm.request_id, bcm.response_id
                ))
                .line(format!(
                    "{} frame(s) from other modules: the bus is alive",
                    r.non_diag_frames
                ))
                .items([bcm.addressing_item]),
        );
    }

    // It answered, then stopped: dropped off the bus or lost power mid-run.
    // Two misses in a row, so one lost reply does not count.
    if r.diag_responses > 0 && r.unanswered_since_reply >= 2 {
        let bcm = profile.bcm();
        let since = r
            .silent_since_us
            .map(|t| format!(" from {}", clock.at(t)))
            .unwrap_or_default();
        // Silent only after every press had been watched to its end: what
        // the presses showed stands, and the drop-out is a side finding.
        let window = profile.limits.release_window_us;
        let after_presses = !ev.release_attempts.is_empty()
            && r.silent_since_us.is_some_and(|t| {
                ev.release_attempts
                    .iter()
                    .all(|a| a.t_us.saturating_add(window) <= t)
            });
        let (score, conf) = if after_presses {
            (450, Confidence::Low)
        } else {
            (880, Confidence::Medium)
        };
        f.push(
            Finding::new(Cause::BcmUnreachable, score, conf)
                .line(format!(
                    "the BCM answered {} request(s) on 0x{}, then stopped answering{since}: {} request(s) on 0x{} left without a reply",
                    r.diag_responses, bcm.response_id, r.unanswered_since_reply, bcm.request_id
                ))
                .line(format!(
                    "{} frame(s) from other modules: the bus is alive",
                    r.non_diag_frames
                ))
                .note("A module that drops out mid-session often lost power: check the battery and the BCM's fuses first.")
                .items([bcm.addressing_item]),
        );
    }

    battery_rules(profile, ev, &clock, &mut f);
    dtc_rules(profile, ev, &clock, &mut f);
    if ev.general_rejects > 0 {
        let (score, conf) = if ev.general_rejects >= 2 {
            (600, Confidence::Medium)
        } else {
            (300, Confidence::Low)
        };
        f.push(Finding::new(Cause::BcmFault, score, conf).line(format!(
            "{} general reject(s) (NRC 0x10) to normal requests{}",
            ev.general_rejects,
            ev.negative_responses
                .iter()
                .find(|n| n.nrc == Nrc::GeneralReject)
                .map(|n| format!(", first to service 0x{:02X} at {}", n.sid, clock.at(n.t_us)))
                .unwrap_or_default()
        )));
    }
    if let SessionStart::Refused(nrc) = r.session_start {
        f.push(
            Finding::new(Cause::BcmFault, 250, Confidence::Low).line(format!(
                "the BCM refused the session start (NRC 0x{:02X})",
                nrc.code()
            )),
        );
    }

    attempt_rules(profile, ev, &clock, &mut f);
    finish(profile, ev, f, trunk_data)
}

fn battery_rules(profile: &Profile, ev: &Evidence, clock: &Clock, f: &mut Vec<Finding>) {
    let limit = profile.limits.low_battery_volts;
    if let Some(b) = &ev.battery {
        if b.min_v < limit {
            let conf = if ev.is_unverified(b.item) {
                Confidence::Medium
            } else {
                Confidence::High
            };
            f.push(
                Finding::new(Cause::LowBattery, 950, conf)
                    .line(format!(
                        "battery {:.1} V at {} from {} (below {:.1} V); last reading {:.1} V",
                        b.min_v,
                        clock.at(b.min_at_us),
                        ev.label(b.item),
                        limit,
                        b.last_v
                    ))
                    .items([b.item]),
            );
        }
    }
}

fn dtc_rules(profile: &Profile, ev: &Evidence, clock: &Clock, f: &mut Vec<Finding>) {
    let read_item = ev.dtc_read_item();
    for d in &ev.dtcs {
        let Some(m) = profile.dtc_meaning_of(d.code) else {
            continue;
        };
        let Some(cause_id) = &m.cause else { continue };
        let status = d
            .status
            .map(|s| format!(" status 0x{s:02X}"))
            .unwrap_or_default();
        let line = format!(
            "DTC {}{status} read at {}: {}",
            d.code,
            clock.at(d.t_us),
            m.meaning
        );
        let conf = if m.verified {
            Confidence::High
        } else {
            Confidence::Medium
        };
        let mut finding = match Cause::from_id(cause_id) {
            Some(Cause::LowBattery) => Finding::new(Cause::LowBattery, 940, conf),
            Some(Cause::BcmFault) => Finding::new(Cause::BcmFault, 850, conf),
            Some(c) => Finding::new(c, 500, Confidence::Medium),
            None => Finding {
                cause: Err(cause_id.clone()),
                ..Finding::new(Cause::Inconclusive, 500, Confidence::Medium)
            },
        }
        .line(line)
        .items(read_item);
        if !m.verified {
            finding = finding.note(format!(
                "The meaning of DTC {} on this BCM is not confirmed ({}).",
                m.code, m.source
            ));
        }
        f.push(finding);
    }
}

fn describe(ev: &Evidence, clock: &Clock, a: &ReleaseAttempt) -> String {
    let mut s = format!(
        "{} press at {}: request seen",
        a.input.as_str().replace('_', " "),
        clock.at(a.t_us)
    );
    if a.bus_request_seen && a.input != ReleaseInput::Bus {
        s.push_str(" (also as a broadcast request)");
    }
    if a.input == ReleaseInput::Bus {
        match a.bcm_input_seen {
            Seen::No => s.push_str("; the BCM's own fob/cabin input was never set"),
            Seen::Yes => s.push_str("; the BCM's input was set"),
            Seen::NotMonitored => {}
        }
    }
    match (a.output_driven, a.output_at_us) {
        (Seen::Yes, Some(t)) => {
            let _ = write!(s, "; opener output driven at {}", clock.at(t));
        }
        (Seen::Yes, None) => s.push_str("; opener output driven"),
        (Seen::No, _) => s.push_str("; opener output never driven"),
        (Seen::NotMonitored, _) => s.push_str("; opener output not monitored"),
    }
    let w = ev.window_us() as f64 / 1e6;
    match (a.lid_changed, a.lid_was_open) {
        (Seen::Yes, _) => {
            let _ = write!(
                s,
                "; lid opened at {}",
                a.lid_open_at_us.map(|t| clock.at(t)).unwrap_or_default()
            );
        }
        (_, true) => s.push_str("; lid was already open"),
        (Seen::No, _) => {
            let _ = write!(s, "; lid did not open within {w:.1} s");
        }
        (Seen::NotMonitored, _) => s.push_str("; lid switch not monitored"),
    }
    let items: Vec<String> = a.items.iter().map(|&i| ev.label(i)).collect();
    if !items.is_empty() {
        let _ = write!(s, " [{}]", items.join("; "));
    }
    s
}

fn attempt_rules(profile: &Profile, ev: &Evidence, clock: &Clock, f: &mut Vec<Finding>) {
    let obs = &ev.observations;
    let attempts = &ev.release_attempts;
    let user: Vec<&ReleaseAttempt> = attempts
        .iter()
        .filter(|a| a.input != ReleaseInput::ActiveTest)
        .collect();

    // Requests seen, output never driven.
    for a in attempts.iter().filter(|a| a.output_driven == Seen::No) {
        let line = describe(ev, clock, a);
        if a.context.lockout == Some(true) {
            let lock_items: Vec<ItemRef> = ev.series_of(Role::Lockout).map(|s| s.item).collect();
            let verified = lock_items.iter().all(|&i| !ev.is_unverified(i));
            let conf = if verified {
                Confidence::High
            } else {
                Confidence::Medium
            };
            let names: Vec<String> = lock_items.iter().map(|&i| ev.label(i)).collect();
            f.push(
                Finding::new(Cause::ValetLockout, 800, conf)
                    .line(format!(
                        "lockout flag set at the press ({})",
                        names.join("; ")
                    ))
                    .line(line)
                    .items(a.items.iter().copied())
                    .items(lock_items),
            );
            continue;
        }
        let mut explained = false;
        for c in &profile.release_conditions {
            if c.role == Role::Lockout || !c.inputs.contains(&a.input) {
                continue;
            }
            let (blocks, what) = match (c.role, &c.test) {
                (Role::SpeedKmh, _) => match a.context.speed_kmh {
                    Some(v) => (c.blocks(v), format!("speed {v:.1} km/h")),
                    None => continue,
                },
                (Role::IgnitionOn, _) => match a.context.ignition_on {
                    Some(v) => (v, "ignition ON".to_owned()),
                    None => continue,
                },
                (Role::DoorsLocked | Role::DriverDoorLocked, _) => match a.context.doors_locked {
                    Some(v) => (v, "doors locked".to_owned()),
                    None => continue,
                },
                (_, ConditionTest::Above { .. } | ConditionTest::Set) => continue,
            };
            if blocks {
                explained = true;
                let conf = if ev.is_unverified(c.item) {
                    Confidence::Medium
                } else {
                    Confidence::High
                };
                let ctx_items: Vec<ItemRef> = ev.series_of(c.role).map(|s| s.item).collect();
                f.push(
                    Finding::new(Cause::ReleaseInhibited, 780, conf)
                        .line(format!("{what} at the press: {}", c.text))
                        .line(line.clone())
                        .items(a.items.iter().copied())
                        .items(ctx_items)
                        .items([c.item]),
                );
            }
        }
        let foreign = profile.census_complete && !ev.census.is_empty();
        if !explained {
            // Request seen, output never driven is the picture of a refusal by
            // design; without a fault DTC or general rejects that is likelier
            // than a BCM fault, and its checks (Park, ignition, locks) are the
            // cheapest. The profile just cannot show which state blocked it.
            // (A foreign node on the bus ranks aftermarket interference above.)
            f.push(
                Finding::new(Cause::ReleaseInhibited, 360, Confidence::Low)
                    .line(line.clone())
                    .line(
                        "the BCM saw the request and did not act, and nothing this profile can read \
                         explains it: it may refuse by design in a state this bus does not show \
                         (ignition ON, moving, not in Park, doors locked)",
                    )
                    .items(a.items.iter().copied()),
            );
            if !foreign && obs.aftermarket_alarm != Some(true) {
                f.push(
                    Finding::new(Cause::BcmFault, 350, Confidence::Low)
                        .line(line)
                        .line("no lockout, release condition or foreign device explains why the BCM did not act")
                        .items(a.items.iter().copied()),
                );
            }
        }
    }
    // Lockout set, no press seen.
    let lockout_set: Vec<ItemRef> = ev
        .series_of(Role::Lockout)
        .filter(|s| s.ever_set())
        .map(|s| s.item)
        .collect();
    if !lockout_set.is_empty() && user.is_empty() {
        let names: Vec<String> = lockout_set.iter().map(|&i| ev.label(i)).collect();
        f.push(
            Finding::new(Cause::ValetLockout, 600, Confidence::Low)
                .line(format!(
                    "lockout flag seen set ({}); no trunk press was seen to confirm",
                    names.join("; ")
                ))
                .items(lockout_set),
        );
    }

    // Output driven, lid stayed shut: the electrical / mechanical set.
    let driven: Vec<&ReleaseAttempt> = attempts
        .iter()
        .filter(|a| a.output_driven == Seen::Yes)
        .collect();
    let stuck: Vec<&ReleaseAttempt> = driven
        .iter()
        .copied()
        .filter(|a| a.lid_changed == Seen::No && !a.lid_was_open)
        .collect();
    let opened = driven.iter().any(|a| a.lid_changed == Seen::Yes);
    let stuck_unwatched: Vec<&ReleaseAttempt> = attempts
        .iter()
        .filter(|a| {
            a.output_driven == Seen::NotMonitored && a.lid_changed == Seen::No && !a.lid_was_open
        })
        .collect();
    let obs_only = attempts.is_empty()
        && (obs.click.is_some()
            || obs.key_blade_opens.is_some()
            || obs.cabin_switch_opens == Some(false));
    if !stuck.is_empty() || !stuck_unwatched.is_empty() || obs_only {
        let intermittent = !stuck.is_empty() && opened;
        use Cause::{TrunkActuator as A, TrunkFuse as F, TrunkLatch as L, TrunkWiring as W};
        let (order, narrowed, why): (&[Cause], bool, &str) = if intermittent {
            (&[W, F, A, L], true, "the lid opened on some presses and not on others: intermittent, typical of hinge wiring")
        } else {
            match (obs.click, obs.key_blade_opens) {
                (Some(true), Some(true)) => (&[A, W, F], true, "click heard and the key blade opens the lid: the latch is fine, the actuator is weak"),
                (Some(true), Some(false)) => (&[L, A], true, "click heard but the key blade does not open the lid either: the latch is jammed"),
                (Some(true), None) => (&[L, A], true, "click heard: the actuator gets power; latch or a weak actuator first"),
                (Some(false), Some(true)) => (&[F, W, A], true, "no click, and the key blade opens the lid: the latch is fine, the cause is electrical"),
                (Some(false), _) => (&[F, W, A, L], true, "no click: fuse, wiring and actuator power first"),
                (None, Some(true)) => (&[F, W, A], true, "the key blade opens the lid: the latch is fine, the cause is electrical"),
                (None, Some(false)) => (&[L, A, F, W], true, "the key blade does not open the lid either: the latch first"),
                (None, None) => (&[F, W, A, L], false, "no observations: cheapest check first"),
            }
        };
        let base = if !stuck.is_empty() { 700 } else { 450 };
        let lines: Vec<String> = stuck
            .iter()
            .chain(stuck_unwatched.iter())
            .map(|a| describe(ev, clock, a))
            .collect();
        let mut items: Vec<ItemRef> = stuck
            .iter()
            .chain(stuck_unwatched.iter())
            .flat_map(|a| a.items.iter().copied())
            .collect();
        let mut lines = lines;
        if intermittent {
            let ok: Vec<&&ReleaseAttempt> = driven
                .iter()
                .filter(|a| a.lid_changed == Seen::Yes)
                .collect();
            items.extend(ok.iter().flat_map(|a| a.items.iter().copied()));
            lines.extend(ok.iter().map(|a| describe(ev, clock, a)));
        }
        for (rank, &c) in order.iter().enumerate() {
            let conf = if rank == 0 && narrowed && !stuck.is_empty() {
                Confidence::Medium
            } else {
                Confidence::Low
            };
            let mut x = Finding::new(c, base - 10 * rank as u32, conf)
                .lines(lines.iter().cloned())
                .items(items.iter().copied())
                .line(why);
            if intermittent {
                x = x.line("the same output opened the lid on another press");
            }
            if stuck.is_empty() && !stuck_unwatched.is_empty() {
                x = x.note("The opener output was not monitored: the BCM may not have driven it.");
            }
            if obs_only {
                x = x.note(
                    "No trunk data was seen on the bus: this rests on what you observed only.",
                );
            }
            f.push(x);
        }
    }

    // Fob path: the cabin switch works, the fob's request never reaches the bus.
    let cabin_worked = user
        .iter()
        .any(|a| a.input == ReleaseInput::Cabin && a.worked())
        || obs.cabin_switch_opens == Some(true);
    let fob_seen = user.iter().any(|a| a.input == ReleaseInput::Fob);
    let fob_watchable = profile.has_role(Role::FobTrunkRequest);
    // Reporting the fob's range as short means the fob was tried, unless the
    // user said it was not pressed.
    let fob_tried = obs.fob_pressed == Some(true)
        || (obs.fob_pressed.is_none() && obs.fob_range == Some(crate::evidence::FobRange::Short));
    if !fob_seen && fob_tried {
        let lock_seen = !ev.lock_changes.is_empty();
        let programming_first = lock_seen || obs.fob_unlocks_doors == Some(true);
        let order = if programming_first {
            [Cause::KeyFobProgramming, Cause::KeyFobBattery]
        } else {
            [Cause::KeyFobBattery, Cause::KeyFobProgramming]
        };
        let base = if cabin_worked { 760 } else { 450 };
        let mut common = vec![
            "you pressed the fob's trunk button; no fob trunk request reached the bus".to_owned(),
        ];
        if cabin_worked {
            common
                .push("the cabin switch opened the trunk: BCM, actuator and latch work".to_owned());
        }
        if lock_seen {
            let l = &ev.lock_changes;
            common.push(format!(
                "{} door lock/unlock change(s) seen on the bus (first at {})",
                ev.series_summary.lock_changes_seen,
                l.first().map(|c| clock.at(c.t_us)).unwrap_or_default()
            ));
        }
        if obs.fob_unlocks_doors == Some(true) {
            common.push("you report the fob unlocks the doors".to_owned());
        }
        if obs.fob_range == Some(crate::evidence::FobRange::Short) {
            common.push("you report a short fob range".to_owned());
        }
        let fob_items: Vec<ItemRef> = profile
            .fields()
            .filter(|x| x.role == Role::FobTrunkRequest)
            .map(|x| x.item)
            .collect();
        let cabin_items: Vec<ItemRef> = user
            .iter()
            .filter(|a| a.input == ReleaseInput::Cabin)
            .flat_map(|a| a.items.iter().copied())
            .collect();
        for (rank, c) in order.into_iter().enumerate() {
            let conf = match (rank, cabin_worked && fob_watchable) {
                (0, true) => Confidence::Medium,
                _ => Confidence::Low,
            };
            let mut x = Finding::new(c, base - 20 * rank as u32, conf)
                .lines(common.iter().cloned())
                .items(fob_items.iter().copied())
                .items(cabin_items.iter().copied());
            if programming_first && c == Cause::KeyFobProgramming {
                x = x.note(
                    "The fob's lock/unlock reaches the car, so this is not the fob battery alone.",
                );
            }
            if !fob_watchable {
                x = x.note("This profile has no fob-request item: the tool could not watch for the fob's request.");
            }
            f.push(x);
        }
    }

    // Aftermarket interference.
    let unknown = profile.census_complete && !ev.census.is_empty();
    // The BCM did not act on a request it got.
    let refused = user.iter().any(|a| a.output_driven == Seen::No);
    // The BCM acted (or may have) and the lid stayed shut.
    let stuck = user
        .iter()
        .any(|a| a.output_driven != Seen::No && a.lid_changed == Seen::No && !a.lid_was_open);
    let failed = refused || stuck;
    let not_reaching: Vec<&&ReleaseAttempt> = user
        .iter()
        .filter(|a| a.input == ReleaseInput::Bus && a.bcm_input_seen == Seen::No)
        .collect();
    let alarm = ev.observations.aftermarket_alarm == Some(true);
    let census_lines: Vec<String> = ev
        .census
        .iter()
        .take(10)
        .map(|u| {
            format!(
                "unknown identifier 0x{}: {} frame(s), first at {}",
                u.id,
                u.count,
                clock.at(u.first_us)
            )
        })
        .collect();
    let reach_lines: Vec<String> = not_reaching
        .iter()
        .map(|a| describe(ev, clock, a))
        .collect();
    let reach_items: Vec<ItemRef> = not_reaching
        .iter()
        .flat_map(|a| a.items.iter().copied())
        .collect();
    let conf = if alarm {
        Confidence::High
    } else {
        Confidence::Medium
    };
    // A foreign node, and a request seen on the bus that never reached the
    // BCM's input: the picture only interference explains. A refusal with a
    // foreign node on the bus comes next. When the BCM did drive the opener,
    // a device in the circuit is possible but the cheaper electrical checks
    // (fuse, wiring, actuator, latch) come first.
    let aftermarket = if unknown && !not_reaching.is_empty() {
        Some((720, conf))
    } else if unknown && refused {
        Some((560, conf))
    } else if unknown && stuck {
        Some((640, Confidence::Low))
    } else if alarm {
        Some(if failed || unknown || !not_reaching.is_empty() {
            (650, Confidence::Medium)
        } else {
            (400, Confidence::Low)
        })
    } else if !not_reaching.is_empty() {
        Some((420, Confidence::Low))
    } else {
        None
    };
    if let Some((score, conf)) = aftermarket {
        let mut x = Finding::new(Cause::AftermarketInterference, score, conf)
            .lines(census_lines)
            .lines(reach_lines)
            .items(reach_items);
        if alarm {
            x = x.line("you report an aftermarket alarm / remote start is fitted");
        }
        if ev.census.len() > 10 {
            x = x.line(format!("{} more unknown identifiers", ev.census.len() - 10));
        }
        f.push(x);
    }

    // Everything watched worked.
    if !user.is_empty() && user.iter().all(|a| a.worked()) {
        let all_items: Vec<ItemRef> = user.iter().flat_map(|a| a.items.iter().copied()).collect();
        let verified = all_items.iter().all(|&i| !ev.is_unverified(i));
        let lids_seen = user.iter().all(|a| a.lid_changed == Seen::Yes);
        let conf = if verified && lids_seen {
            Confidence::High
        } else {
            Confidence::Medium
        };
        let mut x = Finding::new(Cause::NoFaultFound, 100, conf)
            .lines(user.iter().map(|a| describe(ev, clock, a)))
            .items(all_items);
        if !fob_seen && !fob_tried {
            x = x.note("The key fob's trunk button was not seen pressed: this covers the path that was tested only. To test the fob, press it while the tool watches and say fob-pressed=yes.");
        }
        f.push(x);
    }
}

/// Adds the generic-profile note and the inconclusive fallback, merges
/// findings per cause, ranks them and words them.
fn finish(profile: &Profile, ev: &Evidence, mut f: Vec<Finding>, trunk_data: bool) -> Vec<Verdict> {
    if !trunk_data {
        let could = format!(
            "Profile {} has no trunk data for this car: it could check reachability ({}), DTCs ({}) and battery voltage ({}); it could not check the trunk request, the opener output or the lid switch.",
            profile.id,
            if ev.reachability.diag_responses > 0 { "the ECU answered" } else { "no answer" },
            if ev.dtc_read.answered { format!("{} read", ev.dtcs.len()) } else { "not read".to_owned() },
            ev.battery.as_ref().map(|b| format!("lowest {:.1} V", b.min_v)).unwrap_or_else(|| "not read".to_owned()),
        );
        for x in f.iter_mut() {
            x.notes.push(could.clone());
        }
        f.push(Finding::new(Cause::Inconclusive, 50, Confidence::Low).note(could));
    } else if f.is_empty() {
        let mut x = Finding::new(Cause::Inconclusive, 50, Confidence::Low);
        if ev.release_attempts.is_empty() {
            x = x.line("no trunk press was seen while the tool watched");
        }
        f.push(x);
    }
    for d in &ev.dtcs {
        if profile.dtc_meaning_of(d.code).is_none() {
            let generic = d.code.system().word();
            for x in f.iter_mut() {
                x.evidence.push(format!(
                    "DTC {} ({generic} code, not in this profile)",
                    d.code
                ));
            }
        }
    }

    // Merge per cause id: keep the best score and confidence, union the rest.
    let mut merged: Vec<Finding> = Vec::new();
    for x in f {
        match merged.iter_mut().find(|m| m.id() == x.id()) {
            Some(m) => {
                m.score = m.score.max(x.score);
                m.confidence = m.confidence.max(x.confidence);
                for l in x.evidence {
                    if !m.evidence.contains(&l) {
                        m.evidence.push(l);
                    }
                }
                m.items.extend(x.items);
                for n in x.notes {
                    if !m.notes.contains(&n) {
                        m.notes.push(n);
                    }
                }
            }
            None => merged.push(x),
        }
    }
    merged.sort_by(|a, b| b.score.cmp(&a.score).then(b.confidence.cmp(&a.confidence)));
    merged.into_iter().map(|x| word(profile, ev, x)).collect()
}

fn word(profile: &Profile, ev: &Evidence, x: Finding) -> Verdict {
    let id = x.id();
    let (summary, explanation, steps): (String, String, Vec<String>) = match &x.cause {
        Ok(c) => (
            text::summary(*c).to_owned(),
            text::explanation(*c).to_owned(),
            text::next_steps(*c)
                .iter()
                // Do not ask for a check the user has already reported.
                .filter(|s| {
                    **s != text::KEY_BLADE_STEP || ev.observations.key_blade_opens.is_none()
                })
                .map(|s| (*s).to_owned())
                .collect(),
        ),
        Err(extra) => match profile.extra_cause(extra) {
            Some(e) => (e.summary.clone(), e.summary.clone(), e.next_steps.clone()),
            None => (
                format!("Cause `{extra}` (from the profile's DTC table)."),
                String::new(),
                Vec::new(),
            ),
        },
    };
    let mut items = x.items.clone();
    items.sort();
    items.dedup();
    let unverified_items: Vec<String> = items
        .iter()
        .filter(|&&i| ev.is_unverified(i))
        .map(|&i| ev.label(i))
        .collect();
    let mut explanation = explanation;
    for n in &x.notes {
        explanation.push(' ');
        explanation.push_str(n);
    }
    let mut evidence = x.evidence;
    if !unverified_items.is_empty() {
        evidence.push(format!(
            "{}: {}",
            text::UNVERIFIED_NOTE,
            unverified_items.join("; ")
        ));
    }
    Verdict {
        id,
        confidence: x.confidence,
        score: x.score,
        summary,
        explanation: explanation.trim().to_owned(),
        evidence,
        next_steps: steps,
        unverified: !unverified_items.is_empty(),
        unverified_items,
        access_now: profile.access_now.clone(),
        safety: text::SAFETY.iter().map(|s| (*s).to_owned()).collect(),
    }
}
