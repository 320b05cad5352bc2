//! Conditions on presses the BCM refused: the lockout flag, the profile's
//! release conditions, refusals nothing explains.

use super::super::facts::{fire, Facts, Outcome, Support};
use crate::evidence::{PressContext, Reading, ReleaseAttempt};
use crate::profile::{ItemRef, ReleaseCondition, Role};

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
    // The profile's own lockout gate, when it has one, says what the
    // flag means for this car (and rests on its source).
    let gates: Vec<_> = f
        .profile
        .release_conditions
        .iter()
        .filter(|c| c.role == Role::Lockout && presses.iter().any(|a| c.inputs.contains(&a.input)))
        .collect();
    let said: Vec<&str> = gates.iter().map(|c| c.text.as_str()).collect();
    let line = if said.is_empty() {
        format!(
            "gate closed at the press: lockout flag set (read from {})",
            names.join("; ")
        )
    } else {
        format!(
            "gate closed at the press: lockout flag set (read from {}): {}",
            names.join("; "),
            said.join("; ")
        )
    };
    Some(
        Support::default()
            .line(line)
            .presses(f, &presses)
            .resting_on(lock)
            .resting_on(gates.iter().map(|c| c.item)),
    )
}

/// A gate (release condition) that read closed at a press.
pub(in crate::verdict) struct ClosedGate {
    /// The value in words: "vehicle moving at 23 km/h".
    pub what: String,
    /// Where it was read: the item's label (frame or DID).
    pub read_from: String,
    /// The gate's own words.
    pub text: String,
    /// The gate (its level and source) and the item the value came from.
    pub gate: ItemRef,
    pub reading: ItemRef,
    pub role: Role,
}

impl ClosedGate {
    /// The evidence line: "fob press at 2.014 s: gate closed: vehicle
    /// moving at 23 km/h (read from ...): the BCM ignores ...".
    pub fn line(&self, f: &Facts, a: &ReleaseAttempt) -> String {
        format!(
            "{} press at {}: gate closed: {} (read from {}): {}",
            a.input.as_str().replace('_', " "),
            f.clock.at(a.t_us),
            self.what,
            self.read_from,
            self.text
        )
    }
}

/// The value a gate on `role` reads at a press: either lock role reads
/// the locks (a car may publish only one of them).
pub(crate) fn gate_reading(ctx: &PressContext, role: Role) -> Option<Reading> {
    match role {
        Role::DoorsLocked | Role::DriverDoorLocked => ctx
            .reading(Role::DoorsLocked)
            .into_iter()
            .chain(ctx.reading(Role::DriverDoorLocked))
            .max_by(|a, b| a.value.total_cmp(&b.value)),
        r => ctx.reading(r),
    }
}

/// The gates other than the lockout that read closed at a press of their
/// input (a gate whose value was not heard at the press is not judged).
pub(in crate::verdict) fn blocking(f: &Facts, a: &ReleaseAttempt) -> Vec<ClosedGate> {
    gates_read(f, a)
        .filter(|(c, r)| c.role != Role::Lockout && c.blocks(r.value))
        .map(|(c, r)| ClosedGate {
            what: f.profile.state_words(c.role, r.value),
            read_from: f.ev.label(r.item),
            text: c.text.clone(),
            gate: c.item,
            reading: r.item,
            role: c.role,
        })
        .collect()
}

/// The gates of a press's input whose value was heard at the press, with
/// that value.
fn gates_read<'f>(
    f: &'f Facts,
    a: &'f ReleaseAttempt,
) -> impl Iterator<Item = (&'f ReleaseCondition, Reading)> + 'f {
    f.profile
        .release_conditions
        .iter()
        .filter(|c| c.inputs.contains(&a.input))
        .filter_map(|c| Some((c, gate_reading(&a.context, c.role)?)))
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
        for g in blocked {
            let ctx: Vec<ItemRef> = f.ev.series_of(g.role).map(|x| x.item).collect();
            sup = sup
                .line(g.line(f, a))
                .items(ctx)
                .resting_on([g.gate, g.reading]);
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
        let mut s = Support::default().presses(f, &presses).line(
            "the BCM saw the request and did not act, and nothing this profile can read \
             explains it: it may refuse by design in a state this bus does not show \
             (ignition ON, moving, not in Park, doors locked)",
        );
        // The gates this profile does read, open at the press: what the
        // refusal is not.
        for a in &presses {
            let open = open_gates(f, a);
            if !open.is_empty() {
                s = s.line(format!(
                    "{} press at {}: the gates this profile reads were open: {}",
                    a.input.as_str().replace('_', " "),
                    f.clock.at(a.t_us),
                    open.join(", ")
                ));
            }
        }
        s
    })
}

/// The gates of a press's input that read open at it, in words with where
/// they were read.
fn open_gates(f: &Facts, a: &ReleaseAttempt) -> Vec<String> {
    gates_read(f, a)
        .filter(|(c, r)| !c.blocks(r.value))
        .map(|(c, r)| {
            format!(
                "{} (read from {})",
                f.profile.state_words(c.role, r.value),
                f.ev.label(r.item)
            )
        })
        .collect()
}

pub(in crate::verdict) fn unexplained_refusal_bcm(f: &Facts) -> Option<Support> {
    let presses = unexplained_refusals(f);
    fire(!presses.is_empty() && !f.foreign && !f.alarm).map(|_| {
        Support::default().presses(f, &presses).line(
            "no lockout, release condition or foreign device explains why the BCM did not act",
        )
    })
}
