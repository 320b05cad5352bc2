//! The rules, as one table. Each row names the cause (or ranked set of
//! causes) it supports, how strongly its condition points there (a named
//! [`Strength`], which orders the verdicts), how sure the tool is when it
//! fires (a named [`Confidence`]), the condition (a function over the
//! evidence, below the table) and one sentence saying when it fires, which
//! `docs/rules.md` is generated from (a test fails when that file is stale).
//!
//! Ranking: strength first, then the row's place in the table, then the
//! place within a ranked set; findings of one cause merge (the best rank and
//! confidence win, evidence lines are united). Confidence policy: a finding
//! that rests on a placeholder mapping, or that a row marks as doubtful,
//! drops one step; in a ranked set only the first keeps the row's confidence.

use std::fmt::Write as _;

use serde::Serialize;

use super::text;
use super::{Cause, Confidence, Verdict};
use crate::diag::Nrc;
use crate::evidence::{Evidence, FobRange, ReleaseAttempt, Seen, SessionStart};
use crate::profile::{ConditionTest, ItemRef, Level, Profile, ReleaseInput, Role};

/// How strongly a row's condition points at its cause. Verdicts are ranked
/// by it (strongest first), then by the row's place in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strength {
    /// Nothing better: the evidence cannot locate the fault.
    Fallback,
    /// What worked: the release path shown working.
    Baseline,
    /// A hint on its own.
    Weak,
    /// Fits, but a link was not watched or it rests on observations only.
    Possible,
    /// A fault signature without a watched press to confirm it.
    Likely,
    /// A watched press failed, and this explains how.
    Strong,
    /// The vehicle's state at a press explains the refusal.
    Explains,
    /// Battery and BCM reachability: fix these before trusting anything else.
    Critical,
    /// Nothing to diagnose with: the bus is silent.
    Decisive,
}

impl Strength {
    pub fn as_str(self) -> &'static str {
        match self {
            Strength::Fallback => "fallback",
            Strength::Baseline => "baseline",
            Strength::Weak => "weak",
            Strength::Possible => "possible",
            Strength::Likely => "likely",
            Strength::Strong => "strong",
            Strength::Explains => "explains",
            Strength::Critical => "critical",
            Strength::Decisive => "decisive",
        }
    }
}

/// What a row supports.
#[derive(Clone, Copy, Debug)]
pub enum Supports {
    One(Cause),
    /// Causes the bus cannot separate, ranked by the row's condition (the
    /// narrowing tables below the rules).
    Set(&'static [Cause]),
    /// The cause a profile maps a trouble code to (built-in or profile-added).
    ProfileDtcCause,
}

/// One rule.
pub struct Rule {
    /// Stable name, shown in the JSON (`rule`) and in `docs/rules.md`.
    pub name: &'static str,
    pub supports: Supports,
    pub strength: Strength,
    pub confidence: Confidence,
    /// When it fires, in words (the generated document).
    pub when: &'static str,
    /// Observation keys whose answers would change or narrow it.
    pub asks: &'static [&'static str],
    /// When it fires, no other row is considered.
    pub alone: bool,
    check: fn(&Facts) -> Option<Support>,
}

use Cause::{TrunkActuator as ACT, TrunkFuse as FUSE, TrunkLatch as LATCH, TrunkWiring as WIRE};
const ELECTRICAL: &[Cause] = &[FUSE, WIRE, ACT, LATCH];
const FOB: &[Cause] = &[Cause::KeyFobBattery, Cause::KeyFobProgramming];
const STUCK_ASKS: &[&str] = &["click", "key-blade-opens"];
const FOB_ASKS: &[&str] = &["fob-unlocks-doors", "fob-range", "cabin-switch-opens"];

macro_rules! rules {
    ($( $name:literal : $supports:expr, $strength:ident, $conf:ident, $check:path, asks $asks:expr, alone $alone:literal, $when:literal; )*) => {
        /// The rules in ranking order within each strength.
        pub static RULES: &[Rule] = &[$(
            Rule {
                name: $name,
                supports: $supports,
                strength: Strength::$strength,
                confidence: Confidence::$conf,
                when: $when,
                asks: $asks,
                alone: $alone,
                check: $check,
            },
        )*];
    };
}

use Supports::{One, ProfileDtcCause, Set};

rules! {
    // name: supports, strength, confidence, condition, asks, alone, when
    "silent-bus": One(Cause::NoBusActivity), Decisive, High, silent_bus, asks &[], alone true,
        "No frame at all was received.";
    "requests-only": One(Cause::NoBusActivity), Decisive, Medium, requests_only, asks &[], alone true,
        "Only diagnostic requests were seen: no other module was heard.";
    "battery-low": One(Cause::LowBattery), Critical, High, battery_low, asks &[], alone false,
        "A battery-voltage reading fell below the profile's limit.";
    "battery-dtc": One(Cause::LowBattery), Critical, High, battery_dtc, asks &[], alone false,
        "The BCM reported a trouble code the profile maps to low battery.";
    "bcm-silent": One(Cause::BcmUnreachable), Critical, High, bcm_silent, asks &[], alone false,
        "Requests went to the BCM and it never answered, while other modules were heard.";
    "bcm-dropped-out": One(Cause::BcmUnreachable), Critical, Medium, bcm_dropped_out, asks &[], alone false,
        "The BCM answered, then left two or more requests unanswered before a press was fully watched.";
    "bcm-fault-dtc": One(Cause::BcmFault), Critical, High, bcm_fault_dtc, asks &[], alone false,
        "The BCM reported a trouble code the profile maps to an internal fault.";
    "lockout-at-press": One(Cause::ValetLockout), Explains, High, lockout_at_press, asks &[], alone false,
        "A press reached the BCM with the lid shut, the lockout flag was set and the opener was never driven.";
    "condition-at-press": One(Cause::ReleaseInhibited), Explains, High, condition_at_press, asks &[], alone false,
        "A press reached the BCM with the lid shut, the opener was never driven, and a release condition of the profile (speed, ignition, locks) blocked it.";
    "fob-unheard-cabin-works": Set(FOB), Explains, Medium, fob_unheard_cabin_works, asks FOB_ASKS, alone false,
        "The fob was pressed (or its range reported short), no fob trunk request reached the bus, and the cabin switch opened the trunk. Programming first when the fob's lock/unlock reaches the car.";
    "foreign-node-request-lost": One(Cause::AftermarketInterference), Strong, High, foreign_request_lost, asks &["aftermarket-alarm"], alone false,
        "Identifiers this model does not have are on the bus and a broadcast trunk request never reached the BCM's input (high with an alarm reported, else one step lower).";
    "driven-lid-shut": Set(ELECTRICAL), Strong, Medium, driven_lid_shut, asks STUCK_ASKS, alone false,
        "A press drove the opener output and the lid stayed shut; ranked by the narrowing table (one step lower without observations).";
    "lid-switch-stuck-open": One(LATCH), Strong, Medium, lid_switch_stuck_open, asks &[], alone false,
        "The lid-open switch reads open throughout while the owner says the lid is shut: the BCM never fires because it believes the trunk is open.";
    "alarm-and-failure": One(Cause::AftermarketInterference), Strong, Medium, alarm_and_failure, asks &[], alone false,
        "An aftermarket alarm is reported and a press failed, a foreign node is on the bus, or a request never reached the BCM.";
    "foreign-node-lid-shut": One(Cause::AftermarketInterference), Strong, Low, foreign_node_lid_shut, asks &["aftermarket-alarm"], alone false,
        "Identifiers this model does not have are on the bus and the lid stayed shut after the opener was (or may have been) driven.";
    "general-rejects": One(Cause::BcmFault), Likely, Medium, general_rejects, asks &[], alone false,
        "The BCM answered normal requests with two or more general rejects (NRC 0x10).";
    "lockout-no-press": One(Cause::ValetLockout), Likely, Low, lockout_no_press, asks &[], alone false,
        "The lockout flag was seen set, but no press was watched to confirm it.";
    "foreign-node-refusal": One(Cause::AftermarketInterference), Likely, High, foreign_node_refusal, asks &["aftermarket-alarm"], alone false,
        "Identifiers this model does not have are on the bus and the BCM did not act on a press (high with an alarm reported, else one step lower).";
    "profile-dtc": ProfileDtcCause, Likely, Medium, profile_dtc, asks &[], alone false,
        "The BCM reported a trouble code the profile maps to another cause.";
    "lid-shut-unwatched": Set(ELECTRICAL), Possible, Low, lid_shut_unwatched, asks STUCK_ASKS, alone false,
        "The lid stayed shut after a press whose opener output was not monitored, or there is no trunk data and the owner's observations point at the release.";
    "fob-unheard": Set(FOB), Possible, Low, fob_unheard, asks FOB_ASKS, alone false,
        "The fob was pressed (or its range reported short) and no fob trunk request reached the bus; the cabin switch was not shown to work.";
    "bcm-dropped-out-late": One(Cause::BcmUnreachable), Possible, Low, bcm_dropped_out_late, asks &[], alone false,
        "The BCM stopped answering only after every press had been watched.";
    "request-lost": One(Cause::AftermarketInterference), Possible, Low, request_lost, asks &["aftermarket-alarm"], alone false,
        "A broadcast trunk request never reached the BCM's input, with no foreign node seen.";
    "alarm-reported": One(Cause::AftermarketInterference), Possible, Low, alarm_reported, asks &[], alone false,
        "An aftermarket alarm is reported; nothing on the bus shows it interfering.";
    "unexplained-refusal": One(Cause::ReleaseInhibited), Possible, Low, unexplained_refusal, asks &[], alone false,
        "A press reached the BCM with the lid shut and was refused, and nothing the profile reads explains it: a state the bus does not show.";
    "unexplained-refusal-bcm": One(Cause::BcmFault), Possible, Low, unexplained_refusal_bcm, asks &["aftermarket-alarm"], alone false,
        "The same refusal, with no foreign node on the bus and no alarm reported.";
    "one-general-reject": One(Cause::BcmFault), Weak, Low, one_general_reject, asks &[], alone false,
        "One general reject (NRC 0x10) to a normal request.";
    "session-refused": One(Cause::BcmFault), Weak, Low, session_refused, asks &[], alone false,
        "The BCM refused the diagnostic session start.";
    "release-works": One(Cause::NoFaultFound), Baseline, High, release_works, asks &["fob-pressed"], alone false,
        "A press opened the lid and no press failed; a press that found the lid already open is neither (one step lower when a press was not seen end to end).";
    "lid-reads-open": One(Cause::NoFaultFound), Baseline, Medium, lid_reads_open, asks &["lid-closed"], alone false,
        "The lid-open switch reads open throughout and the owner has not said the lid is shut: the BCM rightly does not fire.";
    "nothing-located": One(Cause::Inconclusive), Fallback, Low, nothing_located, asks &["fob-pressed"], alone false,
        "No other row fired, or the profile has no trunk data for this car.";
}

/// One row of the electrical narrowing table: click heard, key blade opens
/// the lid, the order, why.
pub type Narrowing = (Option<bool>, Option<bool>, &'static [Cause], &'static str);

/// How observations rank the electrical set (first match wins): a click
/// means the actuator gets power; a key blade that opens the lid clears the
/// latch.
pub static ELECTRICAL_NARROWING: &[Narrowing] = &[
    (
        Some(true),
        Some(true),
        &[ACT, WIRE, FUSE],
        "click heard and the key blade opens the lid: the latch is fine, the actuator is weak",
    ),
    (
        Some(true),
        Some(false),
        &[LATCH, ACT],
        "click heard but the key blade does not open the lid either: the latch is jammed",
    ),
    (
        Some(true),
        None,
        &[LATCH, ACT],
        "click heard: the actuator gets power; latch or a weak actuator first",
    ),
    (
        Some(false),
        Some(true),
        &[FUSE, WIRE, ACT],
        "no click, and the key blade opens the lid: the latch is fine, the cause is electrical",
    ),
    (
        Some(false),
        None,
        &[FUSE, WIRE, ACT, LATCH],
        "no click: fuse, wiring and actuator power first",
    ),
    (
        Some(false),
        Some(false),
        &[FUSE, WIRE, ACT, LATCH],
        "no click: fuse, wiring and actuator power first",
    ),
    (
        None,
        Some(true),
        &[FUSE, WIRE, ACT],
        "the key blade opens the lid: the latch is fine, the cause is electrical",
    ),
    (
        None,
        Some(false),
        &[LATCH, ACT, FUSE, WIRE],
        "the key blade does not open the lid either: the latch first",
    ),
    (
        None,
        None,
        &[FUSE, WIRE, ACT, LATCH],
        "no observations: cheapest check first",
    ),
];

/// A lid that opened on some presses and not on others.
const INTERMITTENT: (&[Cause], &str) = (
    &[WIRE, FUSE, ACT, LATCH],
    "the lid opened on some presses and not on others: intermittent, typical of hinge wiring",
);

// ------------------------------------------------------------------ facts

/// What happened at one press, as the rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The lid opened: the strongest evidence that the release path works.
    Opened,
    /// The lid already read open: the BCM rightly did nothing. Neither a
    /// refusal nor a failure.
    AlreadyOpen,
    /// The BCM never drove the opener, the lid was shut.
    Refused,
    /// The opener was driven and the lid stayed shut.
    Stuck,
    /// The lid stayed shut; the opener output was not monitored.
    StuckUnwatched,
    /// The lid switch was not monitored.
    Unknown,
}

pub fn outcome(a: &ReleaseAttempt) -> Outcome {
    match (a.lid_changed, a.output_driven) {
        (Seen::Yes, _) => Outcome::Opened,
        _ if a.lid_was_open => Outcome::AlreadyOpen,
        (_, Seen::No) => Outcome::Refused,
        (Seen::No, Seen::Yes) => Outcome::Stuck,
        (Seen::No, Seen::NotMonitored) => Outcome::StuckUnwatched,
        (Seen::NotMonitored, _) => Outcome::Unknown,
    }
}

/// Everything the conditions share, computed once.
struct Facts<'a> {
    profile: &'a Profile,
    ev: &'a Evidence,
    clock: Clock,
    /// Presses by a person (not the active test), with their outcome.
    user: Vec<(&'a ReleaseAttempt, Outcome)>,
    /// Every attempt, the active test included.
    all: Vec<(&'a ReleaseAttempt, Outcome)>,
    /// The profile lists every identifier of the model and some other was heard.
    foreign: bool,
    alarm: bool,
    fob_tried: bool,
    cabin_worked: bool,
    trunk_data: bool,
}

impl<'a> Facts<'a> {
    fn new(profile: &'a Profile, ev: &'a Evidence) -> Facts<'a> {
        let all: Vec<(&ReleaseAttempt, Outcome)> = ev
            .release_attempts
            .iter()
            .map(|a| (a, outcome(a)))
            .collect();
        let user: Vec<(&ReleaseAttempt, Outcome)> = all
            .iter()
            .copied()
            .filter(|(a, _)| a.input != ReleaseInput::ActiveTest)
            .collect();
        let obs = &ev.observations;
        // Reporting the fob's range as short means the fob was tried, unless
        // the user said it was not pressed.
        let fob_tried = obs.fob_pressed == Some(true)
            || (obs.fob_pressed.is_none() && obs.fob_range == Some(FobRange::Short));
        let cabin_worked = user
            .iter()
            .any(|(a, o)| a.input == ReleaseInput::Cabin && *o == Outcome::Opened)
            || obs.cabin_switch_opens == Some(true);
        let trunk_data = Role::ALL
            .into_iter()
            .any(|r| r.is_trunk_path() && profile.has_role(r));
        Facts {
            profile,
            ev,
            clock: Clock(ev.first_us.unwrap_or(0)),
            user,
            all,
            foreign: profile.census_complete && !ev.census.is_empty(),
            alarm: obs.aftermarket_alarm == Some(true),
            fob_tried,
            cabin_worked,
            trunk_data,
        }
    }

    fn user_with(&self, o: Outcome) -> impl Iterator<Item = &'a ReleaseAttempt> + '_ {
        self.user.iter().filter(move |x| x.1 == o).map(|x| x.0)
    }

    fn any_user(&self, o: Outcome) -> bool {
        self.user.iter().any(|x| x.1 == o)
    }

    fn describe(&self, a: &ReleaseAttempt) -> String {
        describe(self.ev, &self.clock, a)
    }

    /// Broadcast requests that never set the BCM's own input.
    fn requests_lost(&self) -> Vec<&'a ReleaseAttempt> {
        self.user
            .iter()
            .map(|x| x.0)
            .filter(|a| a.input == ReleaseInput::Bus && a.bcm_input_seen == Seen::No)
            .collect()
    }

    /// Lid series that were read and never read closed.
    fn lid_open_throughout(&self) -> Vec<ItemRef> {
        let lids: Vec<_> = self.ev.series_of(Role::LidOpen).collect();
        let open = !lids.is_empty() && lids.iter().all(|s| s.samples > 1 && s.never_zero());
        if open {
            lids.iter().map(|s| s.item).collect()
        } else {
            Vec::new()
        }
    }
}

/// What a fired condition hands back.
#[derive(Default)]
struct Support {
    evidence: Vec<String>,
    items: Vec<ItemRef>,
    notes: Vec<String>,
    /// Lower the row's confidence one step.
    doubtful: bool,
    /// Items whose placeholder status lowers the confidence one step.
    doubted_items: Vec<ItemRef>,
    /// For a set row: the members in rank order.
    ranked: Vec<Cause>,
    /// For `ProfileDtcCause`: the cause id.
    cause_id: Option<String>,
    /// For `ProfileDtcCause`: the findings for further cause ids.
    also: Vec<Support>,
    /// Words of this row that replace the cause's own (summary, explanation).
    words: Option<(&'static str, &'static str)>,
}

impl Support {
    fn line(mut self, l: impl Into<String>) -> Support {
        self.evidence.push(l.into());
        self
    }
    fn lines(mut self, ls: impl IntoIterator<Item = String>) -> Support {
        self.evidence.extend(ls);
        self
    }
    fn items(mut self, it: impl IntoIterator<Item = ItemRef>) -> Support {
        self.items.extend(it);
        self
    }
    /// Items that are also what the confidence depends on.
    fn resting_on(mut self, it: impl IntoIterator<Item = ItemRef> + Clone) -> Support {
        self.doubted_items.extend(it.clone());
        self.items.extend(it);
        self
    }
    fn note(mut self, n: impl Into<String>) -> Support {
        self.notes.push(n.into());
        self
    }
    fn doubtful_if(mut self, yes: bool) -> Support {
        self.doubtful |= yes;
        self
    }
    fn ranked(mut self, order: &[Cause]) -> Support {
        self.ranked = order.to_vec();
        self
    }
}

fn fire(yes: bool) -> Option<Support> {
    yes.then(Support::default)
}

// ------------------------------------------------------------- conditions

fn silent_bus(f: &Facts) -> Option<Support> {
    let r = &f.ev.reachability;
    fire(f.ev.frames_seen == 0 && r.diag_responses == 0)
        .map(|s| s.line("no frames at all were received"))
}

fn requests_only(f: &Facts) -> Option<Support> {
    let r = &f.ev.reachability;
    fire(r.non_diag_frames == 0 && r.diag_responses == 0).map(|s| {
        s.line(format!(
            "{} frame(s) seen, all diagnostic requests; no other module was heard",
            f.ev.frames_seen
        ))
    })
}

fn battery_low(f: &Facts) -> Option<Support> {
    let limit = f.profile.limits.low_battery_volts;
    let b = f.ev.battery.as_ref().filter(|b| b.min_v < limit)?;
    Some(
        Support::default()
            .line(format!(
                "battery {:.1} V at {} from {} (below {:.1} V); last reading {:.1} V",
                b.min_v,
                f.clock.at(b.min_at_us),
                f.ev.label(b.item),
                limit,
                b.last_v
            ))
            .resting_on([b.item]),
    )
}

/// Trouble codes the profile maps to a cause id, with their evidence.
fn mapped_dtcs(f: &Facts, want: impl Fn(&str) -> bool) -> Option<Support> {
    let mut s: Option<Support> = None;
    for d in &f.ev.dtcs {
        let Some(m) = f.profile.dtc_meaning_of(d.code) else {
            continue;
        };
        let Some(cause_id) = m.cause.as_deref().filter(|c| want(c)) else {
            continue;
        };
        let status = d
            .status
            .map(|st| format!(" status 0x{st:02X}"))
            .unwrap_or_default();
        let mut x = s.take().unwrap_or_default().line(format!(
            "DTC {}{status} read at {}: {}",
            d.code,
            f.clock.at(d.t_us),
            m.meaning
        ));
        let placeholder = m.level == Level::Placeholder;
        x = x.items(f.ev.dtc_read_item()).doubtful_if(placeholder);
        if placeholder {
            x = x.note(format!(
                "The meaning of DTC {} on this BCM is not confirmed ({}).",
                m.code, m.source
            ));
        }
        x.cause_id.get_or_insert_with(|| cause_id.to_owned());
        s = Some(x);
    }
    s
}

fn battery_dtc(f: &Facts) -> Option<Support> {
    mapped_dtcs(f, |c| c == Cause::LowBattery.id())
}

fn bcm_fault_dtc(f: &Facts) -> Option<Support> {
    mapped_dtcs(f, |c| c == Cause::BcmFault.id())
}

fn profile_dtc(f: &Facts) -> Option<Support> {
    // One finding per other cause id, in the order their codes were read.
    let mut ids: Vec<String> = Vec::new();
    for d in &f.ev.dtcs {
        let Some(c) = f
            .profile
            .dtc_meaning_of(d.code)
            .and_then(|m| m.cause.clone())
        else {
            continue;
        };
        if c != Cause::LowBattery.id() && c != Cause::BcmFault.id() && !ids.contains(&c) {
            ids.push(c);
        }
    }
    let mut each = ids.iter().filter_map(|id| mapped_dtcs(f, |c| c == id));
    let mut first = each.next()?;
    first.also = each.collect();
    Some(first)
}

fn bus_alive_line(f: &Facts) -> String {
    format!(
        "{} frame(s) from other modules: the bus is alive",
        f.ev.reachability.non_diag_frames
    )
}

fn bcm_silent(f: &Facts) -> Option<Support> {
    let r = &f.ev.reachability;
    let bcm = f.profile.bcm();
    fire(r.diag_requests > 0 && r.diag_responses == 0).map(|s| {
        s.line(format!(
            "{} request(s) to the BCM on 0x{} and no reply on 0x{}",
            r.diag_requests, bcm.request_id, bcm.response_id
        ))
        .line(bus_alive_line(f))
        .resting_on([bcm.addressing_item])
    })
}

/// It answered, then stopped (two misses in a row, so one lost reply does
/// not count); `late` when that was after every press had been watched.
fn dropped_out(f: &Facts, late: bool) -> Option<Support> {
    let r = &f.ev.reachability;
    if !(r.diag_responses > 0 && r.unanswered_since_reply >= 2) {
        return None;
    }
    let window = f.profile.limits.release_window_us;
    let after_presses = !f.all.is_empty()
        && r.silent_since_us.is_some_and(|t| {
            f.all
                .iter()
                .all(|(a, _)| a.t_us.saturating_add(window) <= t)
        });
    if after_presses != late {
        return None;
    }
    let bcm = f.profile.bcm();
    let since = r
        .silent_since_us
        .map(|t| format!(" from {}", f.clock.at(t)))
        .unwrap_or_default();
    Some(
        Support::default()
            .line(format!(
                "the BCM answered {} request(s) on 0x{}, then stopped answering{since}: {} request(s) on 0x{} left without a reply",
                r.diag_responses, bcm.response_id, r.unanswered_since_reply, bcm.request_id
            ))
            .line(bus_alive_line(f))
            .note("A module that drops out mid-session often lost power: check the battery and the BCM's fuses first.")
            .resting_on([bcm.addressing_item]),
    )
}

fn bcm_dropped_out(f: &Facts) -> Option<Support> {
    dropped_out(f, false)
}

fn bcm_dropped_out_late(f: &Facts) -> Option<Support> {
    dropped_out(f, true)
}

fn lockout_items(f: &Facts) -> Vec<ItemRef> {
    f.ev.series_of(Role::Lockout).map(|s| s.item).collect()
}

fn lockout_at_press(f: &Facts) -> Option<Support> {
    let presses: Vec<&ReleaseAttempt> = f
        .all
        .iter()
        .filter(|(a, o)| *o == Outcome::Refused && a.context.lockout == Some(true))
        .map(|x| x.0)
        .collect();
    if presses.is_empty() {
        return None;
    }
    let lock = lockout_items(f);
    let names: Vec<String> = lock.iter().map(|&i| f.ev.label(i)).collect();
    Some(
        Support::default()
            .line(format!(
                "lockout flag set at the press ({})",
                names.join("; ")
            ))
            .lines(presses.iter().map(|a| f.describe(a)))
            .items(presses.iter().flat_map(|a| a.items.iter().copied()))
            .resting_on(lock),
    )
}

/// The release conditions that blocked a refused press: (what, condition text, item, role).
fn blocking(f: &Facts, a: &ReleaseAttempt) -> Vec<(String, String, ItemRef, Role)> {
    let mut out = Vec::new();
    for c in &f.profile.release_conditions {
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
            out.push((what, c.text.clone(), c.item, c.role));
        }
    }
    out
}

/// Refused presses that neither the lockout flag nor a release condition explains.
fn unexplained_refusals<'a>(f: &Facts<'a>) -> Vec<&'a ReleaseAttempt> {
    f.all
        .iter()
        .filter(|(a, o)| {
            *o == Outcome::Refused && a.context.lockout != Some(true) && blocking(f, a).is_empty()
        })
        .map(|x| x.0)
        .collect()
}

fn condition_at_press(f: &Facts) -> Option<Support> {
    let mut s: Option<Support> = None;
    for (a, o) in &f.all {
        if *o != Outcome::Refused || a.context.lockout == Some(true) {
            continue;
        }
        for (what, text, item, role) in blocking(f, a) {
            let ctx: Vec<ItemRef> = f.ev.series_of(role).map(|x| x.item).collect();
            s = Some(
                s.take()
                    .unwrap_or_default()
                    .line(format!("{what} at the press: {text}"))
                    .line(f.describe(a))
                    .items(a.items.iter().copied())
                    .items(ctx)
                    .resting_on([item]),
            );
        }
    }
    s
}

fn fob_common(f: &Facts) -> Option<Support> {
    let fob_seen = f.user.iter().any(|(a, _)| a.input == ReleaseInput::Fob);
    if fob_seen || !f.fob_tried {
        return None;
    }
    let obs = &f.ev.observations;
    let locks = &f.ev.lock_changes;
    let programming_first = !locks.is_empty() || obs.fob_unlocks_doors == Some(true);
    let mut s = Support::default()
        .line("you pressed the fob's trunk button; no fob trunk request reached the bus")
        .ranked(if programming_first {
            &[Cause::KeyFobProgramming, Cause::KeyFobBattery]
        } else {
            FOB
        });
    if f.cabin_worked {
        s = s.line("the cabin switch opened the trunk: BCM, actuator and latch work");
    }
    if !locks.is_empty() {
        s = s.line(format!(
            "{} door lock/unlock change(s) seen on the bus (first at {})",
            f.ev.series_summary.lock_changes_seen,
            locks
                .first()
                .map(|c| f.clock.at(c.t_us))
                .unwrap_or_default()
        ));
    }
    if obs.fob_unlocks_doors == Some(true) {
        s = s.line("you report the fob unlocks the doors");
    }
    if obs.fob_range == Some(FobRange::Short) {
        s = s.line("you report a short fob range");
    }
    if programming_first {
        s = s.note("The fob's lock/unlock reaches the car, so this is not the fob battery alone.");
    }
    let watchable = f.profile.has_role(Role::FobTrunkRequest);
    if !watchable {
        s = s.note(
            "This profile has no fob-request item: the tool could not watch for the fob's request.",
        );
    }
    let fob_items: Vec<ItemRef> = f
        .profile
        .fields()
        .filter(|x| x.role == Role::FobTrunkRequest)
        .map(|x| x.item)
        .collect();
    let cabin_items = f
        .user
        .iter()
        .filter(|(a, _)| a.input == ReleaseInput::Cabin)
        .flat_map(|(a, _)| a.items.iter().copied());
    Some(
        s.items(fob_items)
            .items(cabin_items)
            .doubtful_if(!watchable),
    )
}

fn fob_unheard_cabin_works(f: &Facts) -> Option<Support> {
    fob_common(f).filter(|_| f.cabin_worked)
}

fn fob_unheard(f: &Facts) -> Option<Support> {
    fob_common(f).filter(|_| !f.cabin_worked)
}

fn census_lines(f: &Facts) -> Vec<String> {
    let mut lines: Vec<String> =
        f.ev.census
            .iter()
            .take(10)
            .map(|u| {
                format!(
                    "unknown identifier 0x{}: {} frame(s), first at {}",
                    u.id,
                    u.count,
                    f.clock.at(u.first_us)
                )
            })
            .collect();
    if f.ev.census.len() > 10 {
        lines.push(format!(
            "{} more unknown identifiers",
            f.ev.census.len() - 10
        ));
    }
    lines
}

/// The aftermarket evidence: foreign nodes, requests that never reached the
/// BCM, the reported alarm.
fn aftermarket(f: &Facts) -> Support {
    let lost = f.requests_lost();
    let mut s = Support::default()
        .lines(if f.foreign {
            census_lines(f)
        } else {
            Vec::new()
        })
        .lines(lost.iter().map(|a| f.describe(a)))
        .items(lost.iter().flat_map(|a| a.items.iter().copied()));
    if f.alarm {
        s = s.line("you report an aftermarket alarm / remote start is fitted");
    }
    s
}

fn refused(f: &Facts) -> bool {
    f.any_user(Outcome::Refused)
}

/// The BCM acted (or may have) and the lid stayed shut.
fn stuck(f: &Facts) -> bool {
    f.any_user(Outcome::Stuck) || f.any_user(Outcome::StuckUnwatched)
}

fn foreign_request_lost(f: &Facts) -> Option<Support> {
    fire(f.foreign && !f.requests_lost().is_empty()).map(|_| aftermarket(f).doubtful_if(!f.alarm))
}

fn alarm_and_failure(f: &Facts) -> Option<Support> {
    let any = refused(f) || stuck(f) || f.foreign || !f.requests_lost().is_empty();
    fire(f.alarm && any).map(|_| aftermarket(f))
}

fn foreign_node_lid_shut(f: &Facts) -> Option<Support> {
    fire(f.foreign && stuck(f)).map(|_| aftermarket(f))
}

fn foreign_node_refusal(f: &Facts) -> Option<Support> {
    fire(f.foreign && refused(f)).map(|_| aftermarket(f).doubtful_if(!f.alarm))
}

fn request_lost(f: &Facts) -> Option<Support> {
    fire(!f.requests_lost().is_empty()).map(|_| aftermarket(f))
}

fn alarm_reported(f: &Facts) -> Option<Support> {
    fire(f.alarm).map(|_| aftermarket(f))
}

/// The electrical set's order and reason from the observations.
fn narrowing(f: &Facts) -> (&'static [Cause], bool, &'static str) {
    let obs = &f.ev.observations;
    if f.any_user(Outcome::Stuck) && f.any_user(Outcome::Opened) {
        return (INTERMITTENT.0, true, INTERMITTENT.1);
    }
    let row = ELECTRICAL_NARROWING
        .iter()
        .find(|r| r.0 == obs.click && r.1 == obs.key_blade_opens);
    match row {
        Some(&(click, blade, order, why)) => (order, click.is_some() || blade.is_some(), why),
        None => (ELECTRICAL, false, "no observations: cheapest check first"),
    }
}

fn driven_lid_shut(f: &Facts) -> Option<Support> {
    let stuck: Vec<&ReleaseAttempt> = f
        .all
        .iter()
        .filter(|(_, o)| *o == Outcome::Stuck)
        .map(|x| x.0)
        .collect();
    if stuck.is_empty() {
        return None;
    }
    let (order, narrowed, why) = narrowing(f);
    let mut s = Support::default()
        .lines(stuck.iter().map(|a| f.describe(a)))
        .items(stuck.iter().flat_map(|a| a.items.iter().copied()))
        .ranked(order)
        .doubtful_if(!narrowed);
    if order == INTERMITTENT.0 {
        let ok: Vec<&ReleaseAttempt> = f.user_with(Outcome::Opened).collect();
        s = s
            .lines(ok.iter().map(|a| f.describe(a)))
            .items(ok.iter().flat_map(|a| a.items.iter().copied()))
            .line("the same output opened the lid on another press");
    }
    Some(s.line(why))
}

fn lid_shut_unwatched(f: &Facts) -> Option<Support> {
    let unwatched: Vec<&ReleaseAttempt> = f
        .all
        .iter()
        .filter(|(_, o)| *o == Outcome::StuckUnwatched)
        .map(|x| x.0)
        .collect();
    let obs = &f.ev.observations;
    let obs_only = f.all.is_empty()
        && (obs.click.is_some()
            || obs.key_blade_opens.is_some()
            || obs.cabin_switch_opens == Some(false));
    if unwatched.is_empty() && !obs_only {
        return None;
    }
    let (order, _, why) = narrowing(f);
    let mut s = Support::default()
        .lines(unwatched.iter().map(|a| f.describe(a)))
        .items(unwatched.iter().flat_map(|a| a.items.iter().copied()))
        .ranked(order)
        .line(why);
    if !unwatched.is_empty() {
        s = s.note("The opener output was not monitored: the BCM may not have driven it.");
    }
    if obs_only {
        s = s.note("No trunk data was seen on the bus: this rests on what you observed only.");
    }
    Some(s)
}

fn lockout_no_press(f: &Facts) -> Option<Support> {
    let set: Vec<ItemRef> =
        f.ev.series_of(Role::Lockout)
            .filter(|s| s.ever_set())
            .map(|s| s.item)
            .collect();
    if set.is_empty() || !f.user.is_empty() {
        return None;
    }
    let names: Vec<String> = set.iter().map(|&i| f.ev.label(i)).collect();
    Some(
        Support::default()
            .line(format!(
                "lockout flag seen set ({}); no trunk press was seen to confirm",
                names.join("; ")
            ))
            .items(set),
    )
}

fn general_reject_line(f: &Facts) -> String {
    format!(
        "{} general reject(s) (NRC 0x10) to normal requests{}",
        f.ev.general_rejects,
        f.ev.negative_responses
            .iter()
            .find(|n| n.nrc == Nrc::GeneralReject)
            .map(|n| format!(
                ", first to service 0x{:02X} at {}",
                n.sid,
                f.clock.at(n.t_us)
            ))
            .unwrap_or_default()
    )
}

fn general_rejects(f: &Facts) -> Option<Support> {
    fire(f.ev.general_rejects >= 2).map(|s| s.line(general_reject_line(f)))
}

fn one_general_reject(f: &Facts) -> Option<Support> {
    fire(f.ev.general_rejects == 1).map(|s| s.line(general_reject_line(f)))
}

fn session_refused(f: &Facts) -> Option<Support> {
    match f.ev.reachability.session_start {
        SessionStart::Refused(nrc) => Some(Support::default().line(format!(
            "the BCM refused the session start (NRC 0x{:02X})",
            nrc.code()
        ))),
        _ => None,
    }
}

fn refusal_support(f: &Facts, presses: &[&ReleaseAttempt]) -> Support {
    Support::default()
        .lines(presses.iter().map(|a| f.describe(a)))
        .items(presses.iter().flat_map(|a| a.items.iter().copied()))
}

fn unexplained_refusal(f: &Facts) -> Option<Support> {
    let presses = unexplained_refusals(f);
    fire(!presses.is_empty()).map(|_| {
        // Request seen, output never driven is the picture of a refusal by
        // design; without a fault DTC or general rejects that is likelier
        // than a BCM fault, and its checks (Park, ignition, locks) are the
        // cheapest. The profile just cannot show which state blocked it.
        refusal_support(f, &presses).line(
            "the BCM saw the request and did not act, and nothing this profile can read \
             explains it: it may refuse by design in a state this bus does not show \
             (ignition ON, moving, not in Park, doors locked)",
        )
    })
}

fn unexplained_refusal_bcm(f: &Facts) -> Option<Support> {
    let presses = unexplained_refusals(f);
    fire(!presses.is_empty() && !f.foreign && !f.alarm).map(|_| {
        refusal_support(f, &presses).line(
            "no lockout, release condition or foreign device explains why the BCM did not act",
        )
    })
}

fn release_works(f: &Facts) -> Option<Support> {
    let opened: Vec<&ReleaseAttempt> = f.user_with(Outcome::Opened).collect();
    let failed = f.user.iter().any(|(_, o)| {
        matches!(
            o,
            Outcome::Refused | Outcome::Stuck | Outcome::StuckUnwatched
        )
    });
    if opened.is_empty() || failed {
        return None;
    }
    let seen: Vec<&ReleaseAttempt> = f.user.iter().map(|x| x.0).collect();
    let end_to_end = f
        .user
        .iter()
        .all(|(a, o)| *o == Outcome::AlreadyOpen || a.worked());
    let mut s = Support::default()
        .lines(seen.iter().map(|a| f.describe(a)))
        .resting_on(
            seen.iter()
                .flat_map(|a| a.items.iter().copied())
                .collect::<Vec<_>>(),
        )
        .doubtful_if(!end_to_end);
    if f.any_user(Outcome::AlreadyOpen) {
        s = s.line(
            "a later press found the lid already open, so the BCM rightly did nothing: \
             that is not a refusal",
        );
    }
    let fob_seen = f.user.iter().any(|(a, _)| a.input == ReleaseInput::Fob);
    if !fob_seen && !f.fob_tried {
        s = s.note("The key fob's trunk button was not seen pressed: this covers the path that was tested only. To test the fob, press it while the tool watches and say fob-pressed=yes.");
    }
    Some(s)
}

fn lid_switch_note(f: &Facts, lids: &[ItemRef]) -> String {
    let names: Vec<String> = lids.iter().map(|&i| f.ev.label(i)).collect();
    format!(
        "the lid-open switch reads open throughout ({}), so the BCM does not fire the opener",
        names.join("; ")
    )
}

fn lid_reads_open(f: &Facts) -> Option<Support> {
    let lids = f.lid_open_throughout();
    if lids.is_empty() || f.ev.observations.lid_closed == Some(true) {
        return None;
    }
    let mut s = Support::default()
        .line(lid_switch_note(f, &lids))
        .lines(f.user.iter().map(|(a, _)| f.describe(a)))
        .resting_on(lids);
    s.words = Some((
        "The lid-open switch reads open, so the BCM rightly does not fire the opener: as far as the car knows, the trunk is open.",
        "The lid-open switch read open the whole time, and a BCM does not drive the opener of a trunk it believes is open. If the lid is in fact open, nothing is wrong. If it is shut, the latch's lid switch is stuck or open-circuit and the latch is the fault: answer lid-closed=yes.",
    ));
    Some(s)
}

fn lid_switch_stuck_open(f: &Facts) -> Option<Support> {
    let lids = f.lid_open_throughout();
    if lids.is_empty() || f.ev.observations.lid_closed != Some(true) {
        return None;
    }
    Some(
        Support::default()
            .line(lid_switch_note(f, &lids))
            .line(
                "you report the lid is shut: the latch's lid-open switch is stuck or open-circuit",
            )
            .lines(f.user.iter().map(|(a, _)| f.describe(a)))
            .resting_on(lids),
    )
}

/// Added by `finish` when nothing else fired (it is the table's last row);
/// listed so the table shows the whole policy.
fn nothing_located(_: &Facts) -> Option<Support> {
    None
}

// ----------------------------------------------------------------- ranking

/// A cause the rules found, before wording.
struct Finding {
    cause: Result<Cause, String>,
    words: Option<(&'static str, &'static str)>,
    /// Rank key: strength (higher first), row, place in a set.
    /// The row that found it: strength, name and questions come from it.
    rule: &'static Rule,
    row: usize,
    place: usize,
    confidence: Confidence,
    evidence: Vec<String>,
    items: Vec<ItemRef>,
    notes: Vec<String>,
}

impl Finding {
    fn id(&self) -> String {
        match &self.cause {
            Ok(c) => c.id().to_owned(),
            Err(s) => s.clone(),
        }
    }
    fn rank(&self) -> (std::cmp::Reverse<Strength>, usize, usize) {
        (std::cmp::Reverse(self.rule.strength), self.row, self.place)
    }
}

fn lower(c: Confidence) -> Confidence {
    match c {
        Confidence::High => Confidence::Medium,
        _ => Confidence::Low,
    }
}

/// Ranks the causes the evidence supports; the first is the most likely.
/// Call `evidence.finish()` first.
pub fn diagnose(profile: &Profile, ev: &Evidence) -> Vec<Verdict> {
    let facts = Facts::new(profile, ev);
    let mut found: Vec<Finding> = Vec::new();
    for (row, rule) in RULES.iter().enumerate() {
        let Some(s) = (rule.check)(&facts) else {
            continue;
        };
        let doubted = s.doubtful || s.doubted_items.iter().any(|&i| ev.is_unverified(i));
        // (ProfileDtcCause: each further cause carries its own doubt.)
        let conf = if doubted {
            lower(rule.confidence)
        } else {
            rule.confidence
        };
        let mut causes: Vec<(Result<Cause, String>, &Support)> = match rule.supports {
            One(c) => vec![(Ok(c), &s)],
            Set(_) => s.ranked.iter().map(|&c| (Ok(c), &s)).collect(),
            ProfileDtcCause => std::iter::once(&s)
                .chain(s.also.iter())
                .map(|x| {
                    let id = x.cause_id.clone().unwrap_or_default();
                    (Cause::from_id(&id).ok_or(id), x)
                })
                .collect(),
        };
        for (place, (cause, x)) in causes.drain(..).enumerate() {
            let in_set = matches!(rule.supports, Set(_)) && place > 0;
            found.push(Finding {
                cause,
                words: x.words,
                rule,
                row,
                place,
                confidence: if in_set { lower(conf) } else { conf },
                evidence: x.evidence.clone(),
                items: x.items.clone(),
                notes: x.notes.clone(),
            });
        }
        if rule.alone {
            break;
        }
    }
    finish(&facts, found)
}

/// Adds the generic-profile note and the inconclusive fallback, merges
/// findings per cause, ranks them and words them.
fn finish(f: &Facts, mut found: Vec<Finding>) -> Vec<Verdict> {
    let (profile, ev) = (f.profile, f.ev);
    // The table's last row (a test keeps it there).
    let (fallback_row, fallback_rule) = RULES
        .iter()
        .enumerate()
        .next_back()
        .expect("the rule table is not empty");
    let fallback = |evidence: Vec<String>, notes: Vec<String>| Finding {
        cause: Ok(Cause::Inconclusive),
        words: None,
        rule: fallback_rule,
        row: fallback_row,
        place: 0,
        confidence: fallback_rule.confidence,
        evidence,
        items: Vec::new(),
        notes,
    };
    let silent = found.iter().any(|x| x.rule.strength == Strength::Decisive);
    if !f.trunk_data && !silent {
        let could = format!(
            "Profile {} has no trunk data for this car: it could check reachability ({}), DTCs ({}) and battery voltage ({}); it could not check the trunk request, the opener output or the lid switch.",
            profile.id,
            if ev.reachability.diag_responses > 0 { "the ECU answered" } else { "no answer" },
            if ev.dtc_read.answered { format!("{} read", ev.dtcs.len()) } else { "not read".to_owned() },
            ev.battery.as_ref().map(|b| format!("lowest {:.1} V", b.min_v)).unwrap_or_else(|| "not read".to_owned()),
        );
        for x in found.iter_mut() {
            x.notes.push(could.clone());
        }
        found.push(fallback(Vec::new(), vec![could]));
    } else if found.is_empty() {
        let lines = if ev.release_attempts.is_empty() {
            vec!["no trunk press was seen while the tool watched".to_owned()]
        } else {
            Vec::new()
        };
        found.push(fallback(lines, Vec::new()));
    }
    if !silent {
        for d in &ev.dtcs {
            if profile.dtc_meaning_of(d.code).is_none() {
                let generic = d.code.system().word();
                for x in found.iter_mut() {
                    x.evidence.push(format!(
                        "DTC {} ({generic} code, not in this profile)",
                        d.code
                    ));
                }
            }
        }
    }

    // Merge per cause id: keep the best rank and confidence, union the rest.
    let mut merged: Vec<Finding> = Vec::new();
    for x in found {
        match merged.iter_mut().find(|m| m.id() == x.id()) {
            Some(m) => {
                if x.rank() < m.rank() {
                    (m.rule, m.row, m.place, m.words) = (x.rule, x.row, x.place, x.words);
                }
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
    merged.sort_by_key(|x| (x.rank(), std::cmp::Reverse(x.confidence)));
    merged.into_iter().map(|x| word(profile, ev, x)).collect()
}

fn word(profile: &Profile, ev: &Evidence, x: Finding) -> Verdict {
    let id = x.id();
    let (mut summary, mut explanation, steps): (String, String, Vec<String>) = match &x.cause {
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
    if let Some((sum, expl)) = x.words {
        (summary, explanation) = (sum.to_owned(), expl.to_owned());
    }
    let mut items = x.items.clone();
    items.sort();
    items.dedup();
    let unverified_items: Vec<String> = items
        .iter()
        .filter(|&&i| ev.is_unverified(i))
        .map(|&i| ev.label(i))
        .collect();
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
        strength: x.rule.strength,
        rule: x.rule.name,
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

/// Seconds since the first frame, for evidence lines.
struct Clock(u64);
impl Clock {
    fn at(&self, t: u64) -> String {
        let d = t.saturating_sub(self.0);
        format!("{}.{:03} s", d / 1_000_000, (d % 1_000_000) / 1000)
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

// ---------------------------------------------------------------- document

fn supports_words(s: Supports) -> String {
    match s {
        One(c) => format!("`{}`", c.id()),
        Set(cs) => {
            cs.iter()
                .map(|c| format!("`{}`", c.id()))
                .collect::<Vec<_>>()
                .join(", ")
                + " (ranked set)"
        }
        ProfileDtcCause => "the cause the profile maps the code to".to_owned(),
    }
}

fn opt(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not said",
    }
}

/// `docs/rules.md`: the rule table in words, generated from [`RULES`] and
/// the narrowing tables. A test keeps the committed file current.
pub fn document() -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# How trunkdiag ranks causes\n\n\
         Generated from `src/verdict/rules.rs` (`UPDATE_EXPECT=1 cargo test --lib rules_document` \
         rewrites it; a test fails when it is stale). Each row is one rule: the cause it \
         supports, how strongly its condition points there, how sure the tool is when it \
         fires, and when it fires.\n\n\
         Ranking: strength first (decisive, critical, explains, strong, likely, possible, \
         weak, baseline, fallback), then the row's place in this table, then the place in a \
         ranked set. Findings for one cause merge: the best rank and the highest confidence \
         win and their evidence is united.\n\n\
         Confidence: a finding that rests on a placeholder mapping (an item not confirmed \
         for this model) or that its row marks doubtful drops one step; in a ranked set only \
         the first cause keeps the row's confidence, the others are one step lower.\n\n\
         A press's outcome: **opened** (the lid opened), **already open** (the lid read open \
         at the press, so the BCM rightly did nothing: neither a refusal nor a failure), \
         **refused** (lid shut, opener never driven), **stuck** (opener driven, lid stayed \
         shut), **stuck, unwatched** (lid stayed shut, opener output not monitored), \
         **unknown** (lid switch not monitored).\n"
    );
    let _ = writeln!(
        s,
        "| # | rule | supports | strength | confidence | when it fires | questions |\n|---|---|---|---|---|---|---|"
    );
    for (i, r) in RULES.iter().enumerate() {
        let conf = format!("{:?}", r.confidence).to_lowercase();
        let asks = r
            .asks
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let alone = if r.alone {
            " Nothing else is considered."
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {} | {} | {}{} | {} |",
            i + 1,
            r.name,
            supports_words(r.supports),
            r.strength.as_str(),
            conf,
            r.when,
            alone,
            asks
        );
    }
    let _ = writeln!(
        s,
        "\n## Narrowing the electrical set\n\n\
         `trunk-fuse`, `trunk-wiring`, `trunk-actuator` and `trunk-latch` share one bus \
         picture (output driven, lid stayed shut). The owner's observations order them; a \
         lid that opened on some presses and not on others puts wiring first \
         ({}).\n\n| click heard | key blade opens | order | why |\n|---|---|---|---|",
        INTERMITTENT
            .0
            .iter()
            .map(|c| c.id())
            .collect::<Vec<_>>()
            .join(" > ")
    );
    for (click, blade, order, why) in ELECTRICAL_NARROWING {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            opt(*click),
            opt(*blade),
            order.iter().map(|c| c.id()).collect::<Vec<_>>().join(" > "),
            why
        );
    }
    let _ = writeln!(
        s,
        "\n## Narrowing the fob set\n\n\
         `key-fob-battery` comes first, unless the fob's lock/unlock reaches the car (a lock \
         change on the bus, or `fob-unlocks-doors=yes`): then `key-fob-programming` leads, \
         since a fob that works the doors has a battery strong enough to be heard."
    );
    s
}
