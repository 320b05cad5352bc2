//! The sets of causes the bus cannot separate (electrical, fob) and the
//! narrowing tables: how the owner's observations order the electrical set.

use super::facts::{Facts, Outcome};
use super::Cause;
use Cause::{TrunkActuator as ACT, TrunkFuse as FUSE, TrunkLatch as LATCH, TrunkWiring as WIRE};

/// The causes the bus cannot separate when the opener was driven and the
/// lid stayed shut, cheapest check first.
pub(in crate::verdict) const ELECTRICAL: &[Cause] = &[FUSE, WIRE, ACT, LATCH];
/// The causes of a lid that stayed shut at a press the person told of, on a
/// car that shows only the lid: a refusal by design, a lockout, or the
/// release itself; cheapest check first.
pub(in crate::verdict) const UNSEEN_PATH: &[Cause] = &[
    Cause::ReleaseInhibited,
    Cause::ValetLockout,
    FUSE,
    WIRE,
    ACT,
    LATCH,
];
/// The causes of a fob press that never reached the bus (the order when
/// the fob's lock/unlock is not seen reaching the car).
pub(in crate::verdict) const FOB: &[Cause] = &[Cause::KeyFobBattery, Cause::KeyFobProgramming];

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
pub(in crate::verdict) const INTERMITTENT: (&[Cause], &str) = (
    &[WIRE, FUSE, ACT, LATCH],
    "the lid opened on some presses and not on others: intermittent, typical of hinge wiring",
);

/// The electrical set's order, whether observations narrowed it, and why.
pub(in crate::verdict) fn narrowing(f: &Facts) -> (&'static [Cause], bool, &'static str) {
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
