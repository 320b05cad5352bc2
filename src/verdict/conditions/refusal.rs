//! Conditions on presses the BCM refused: the lockout flag, the profile's
//! release conditions, refusals nothing explains.

use super::super::facts::{fire, Facts, Outcome, Support};
use crate::evidence::ReleaseAttempt;
use crate::profile::{ConditionTest, ItemRef, Role};

pub(in crate::verdict) fn lockout_items(f: &Facts) -> Vec<ItemRef> {
    f.ev.series_of(Role::Lockout).map(|s| s.item).collect()
}

pub(in crate::verdict) fn lockout_at_press(f: &Facts) -> Option<Support> {
    lockout_presses(f, Outcome::Refused)
}

/// Presses with the lid shut, the opener output unwatched, and the lockout
/// flag set at the press: the BCM does not fire while it is set, so this
/// is the lockout, not the electrical path, until a watch says otherwise.
pub(in crate::verdict) fn lockout_unwatched_press(f: &Facts) -> Option<Support> {
    lockout_presses(f, Outcome::StuckUnwatched).map(|s| {
        s.note(
            "The opener output was not monitored: the lockout explains the shut lid; \
             a watch of the output would confirm it.",
        )
    })
}

/// The presses with `outcome` that found the lockout flag set.
pub(in crate::verdict) fn lockout_presses(f: &Facts, outcome: Outcome) -> Option<Support> {
    let presses: Vec<&ReleaseAttempt> = f
        .all
        .iter()
        .filter(|(a, o)| *o == outcome && a.context.lockout == Some(true))
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
            .presses(f, &presses)
            .resting_on(lock),
    )
}

/// The release conditions that blocked a refused press: (what, condition text, item, role).
pub(in crate::verdict) fn blocking(
    f: &Facts,
    a: &ReleaseAttempt,
) -> Vec<(String, String, ItemRef, Role)> {
    let mut out = Vec::new();
    for c in &f.profile.release_conditions {
        if c.role == Role::Lockout || !c.inputs.contains(&a.input) {
            continue;
        }
        let (blocks, what) = match (c.role, &c.test) {
            (Role::SpeedKmh, _) => match a.context.speed_kmh {
                Some(v) => (c.blocks(v), format!("moving at {v:.0} km/h")),
                None => continue,
            },
            (Role::Gear, _) => match a.context.gear {
                Some(v) => (
                    c.blocks(v),
                    format!("in gear {}", f.profile.value_name(Role::Gear, v)),
                ),
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
            (_, ConditionTest::Above { .. } | ConditionTest::Set | ConditionTest::Not { .. }) => {
                continue
            }
        };
        if blocks {
            out.push((what, c.text.clone(), c.item, c.role));
        }
    }
    out
}

/// Refused presses that neither the lockout flag nor a release condition explains.
pub(in crate::verdict) fn unexplained_refusals<'a>(f: &Facts<'a>) -> Vec<&'a ReleaseAttempt> {
    f.all
        .iter()
        .filter(|(a, o)| {
            *o == Outcome::Refused && a.context.lockout != Some(true) && blocking(f, a).is_empty()
        })
        .map(|x| x.0)
        .collect()
}

pub(in crate::verdict) fn condition_at_press(f: &Facts) -> Option<Support> {
    condition_presses(f, Outcome::Refused)
}

pub(in crate::verdict) fn condition_unwatched_press(f: &Facts) -> Option<Support> {
    condition_presses(f, Outcome::StuckUnwatched).map(|s| {
        s.note(
            "The opener output was not monitored: the release condition explains the shut lid; \
             a watch of the output would confirm it.",
        )
    })
}

/// The presses with `outcome` that a release condition read at the press blocked.
fn condition_presses(f: &Facts, outcome: Outcome) -> Option<Support> {
    let mut s: Option<Support> = None;
    for (a, o) in &f.all {
        if *o != outcome || a.context.lockout == Some(true) {
            continue;
        }
        let blocked = blocking(f, a);
        if blocked.is_empty() {
            continue;
        }
        let mut sup = s.take().unwrap_or_default();
        for (what, text, item, role) in blocked {
            let ctx: Vec<ItemRef> = f.ev.series_of(role).map(|x| x.item).collect();
            sup = sup
                .line(format!("{what} at the press: {text}"))
                .items(ctx)
                .resting_on([item]);
        }
        s = Some(sup.line(f.describe(a)).items(a.items.iter().copied()));
    }
    s
}

pub(in crate::verdict) fn lockout_no_press(f: &Facts) -> Option<Support> {
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

pub(in crate::verdict) fn unexplained_refusal(f: &Facts) -> Option<Support> {
    let presses = unexplained_refusals(f);
    fire(!presses.is_empty()).map(|_| {
        // Request seen, output never driven is the picture of a refusal by
        // design; without a fault DTC or general rejects that is likelier
        // than a BCM fault, and its checks (Park, ignition, locks) are the
        // cheapest. The profile just cannot show which state blocked it.
        Support::default().presses(f, &presses).line(
            "the BCM saw the request and did not act, and nothing this profile can read \
             explains it: it may refuse by design in a state this bus does not show \
             (ignition ON, moving, not in Park, doors locked)",
        )
    })
}

pub(in crate::verdict) fn unexplained_refusal_bcm(f: &Facts) -> Option<Support> {
    let presses = unexplained_refusals(f);
    fire(!presses.is_empty() && !f.foreign && !f.alarm).map(|_| {
        Support::default().presses(f, &presses).line(
            "no lockout, release condition or foreign device explains why the BCM did not act",
        )
    })
}
