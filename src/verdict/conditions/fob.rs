//! Conditions on a fob press that never reached the bus.

use super::super::facts::{Facts, Support};
use super::super::narrowing::FOB;
use super::super::Cause;
use crate::evidence::FobRange;
use crate::profile::{ItemRef, ReleaseInput, Role};

pub(in crate::verdict) fn fob_common(f: &Facts) -> Option<Support> {
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

pub(in crate::verdict) fn fob_unheard_cabin_works(f: &Facts) -> Option<Support> {
    fob_common(f).filter(|_| f.cabin_worked)
}

pub(in crate::verdict) fn fob_unheard(f: &Facts) -> Option<Support> {
    fob_common(f).filter(|_| !f.cabin_worked)
}
