//! Conditions on the lid: driven and stayed shut, shut with the output
//! unwatched, opened, or reading open throughout.

use super::super::facts::{Facts, Outcome, Support};
use super::super::narrowing::{narrowing, INTERMITTENT};
use crate::evidence::ReleaseAttempt;
use crate::profile::{ItemRef, ReleaseInput};

pub(in crate::verdict) fn driven_lid_shut(f: &Facts) -> Option<Support> {
    let stuck = f.all_with(Outcome::Stuck);
    if stuck.is_empty() {
        return None;
    }
    let (order, narrowed, why) = narrowing(f);
    let mut s = Support::default()
        .presses(f, &stuck)
        .ranked(order)
        .doubtful_if(!narrowed);
    if order == INTERMITTENT.0 {
        let ok: Vec<&ReleaseAttempt> = f.user_with(Outcome::Opened).collect();
        s = s
            .presses(f, &ok)
            .line("the same output opened the lid on another press");
    }
    Some(s.line(why))
}

pub(in crate::verdict) fn lid_shut_unwatched(f: &Facts) -> Option<Support> {
    let mut unwatched = f.all_with(Outcome::StuckUnwatched);
    // A press only the person told of is `lid_shut_told`'s.
    unwatched.retain(|a| !a.told);
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
        .presses(f, &unwatched)
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

/// The lid stayed shut at a press the person told of, on a car whose bus
/// shows neither the request nor the output: anything from a refusal by
/// design to the latch; the words say what cannot be seen.
pub(in crate::verdict) fn lid_shut_told(f: &Facts) -> Option<Support> {
    let mut told = f.all_with(Outcome::StuckUnwatched);
    told.retain(|a| a.told);
    if told.is_empty() {
        return None;
    }
    let (order, _, why) = narrowing(f);
    // A click heard at the lid: the opener was driven, so neither a refusal
    // nor a lockout stopped it.
    let mut ranked = if f.ev.observations.click == Some(true) {
        Vec::new()
    } else {
        vec![
            crate::cause::Cause::ReleaseInhibited,
            crate::cause::Cause::ValetLockout,
        ]
    };
    ranked.extend_from_slice(order);
    let mut s = Support::default()
        .presses(f, &told)
        .ranked(&ranked)
        .line(why);
    s.words = Some((
        "The trunk did not open at the press you made, and this car shows only the lid: the cause can be anywhere from a refusal by design to the latch.",
        "No body-module address is published for this car, so trunkdiag cannot see whether your press reached the body module, whether it refused by design (moving, locked, valet or trunk-lock switch) or whether it drove the opener. Check cheapest first: the car's state and any valet or trunk-lock switch, then the fuse, the wiring, the actuator and the latch.",
    ));
    Some(s)
}

pub(in crate::verdict) fn release_works(f: &Facts) -> Option<Support> {
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

pub(in crate::verdict) fn lid_switch_note(f: &Facts, lids: &[ItemRef]) -> String {
    let names: Vec<String> = lids.iter().map(|&i| f.ev.label(i)).collect();
    format!(
        "the lid-open switch reads open throughout ({}), so the BCM does not fire the opener",
        names.join("; ")
    )
}

pub(in crate::verdict) fn lid_reads_open(f: &Facts) -> Option<Support> {
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

pub(in crate::verdict) fn lid_switch_stuck_open(f: &Facts) -> Option<Support> {
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
pub(in crate::verdict) fn nothing_located(_: &Facts) -> Option<Support> {
    None
}
