//! Release attempts as a pure function of the series and the presses
//! ([`derive_attempts`]): per press, was the request seen, the output
//! driven, the lid opened, and what state could block the release by design.

use serde::Serialize;

use super::{ItemSeries, Press};
use crate::profile::{ItemRef, ReleaseInput, Role};

/// Was something seen, not seen, or not watched at all?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Seen {
    Yes,
    No,
    /// No item carrying it was read during the window: unknown.
    NotMonitored,
}

impl Seen {
    /// Combines two sources: any yes wins, then any no.
    fn or(self, other: Seen) -> Seen {
        match (self, other) {
            (Seen::Yes, _) | (_, Seen::Yes) => Seen::Yes,
            (Seen::No, _) | (_, Seen::No) => Seen::No,
            _ => Seen::NotMonitored,
        }
    }
}

/// State at the time of a press that can block the release by design.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PressContext {
    pub speed_kmh: Option<f64>,
    /// The gear selector's code at the press (the profile's values name it).
    pub gear: Option<f64>,
    pub ignition_on: Option<bool>,
    pub doors_locked: Option<bool>,
    pub lockout: Option<bool>,
    /// Every state and lockout value at the press, with the item it was
    /// read from: what the profile's gates are checked against.
    pub readings: Vec<Reading>,
    /// The items these values came from (kept apart from the attempt's own
    /// items: a verdict rests on them only when it uses the context).
    pub items: Vec<ItemRef>,
}

/// One value at a press and where it was read.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Reading {
    pub role: Role,
    pub value: f64,
    pub item: ItemRef,
}

impl PressContext {
    /// The value of `role` at the press and its item, as the fields above
    /// combine a role read in several places: the highest (any "set"
    /// wins, the fastest speed), but the gear the last read, as `gear`.
    pub fn reading(&self, role: Role) -> Option<Reading> {
        let of = self.readings.iter().filter(|r| r.role == role).copied();
        if role == Role::Gear {
            return of.last();
        }
        of.max_by(|a, b| a.value.total_cmp(&b.value))
    }
}

/// One press of a trunk input and what followed within the window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReleaseAttempt {
    pub input: ReleaseInput,
    /// When the request was first seen (rising edge), or the active test was accepted.
    pub t_us: u64,
    pub request_seen: bool,
    /// The person told the tool about this press (the car's bus does not
    /// show the input): nothing is known of the request itself.
    pub told: bool,
    /// A told press came at the latest here (the person's answer); its
    /// window reaches past it. `None` for a press seen at one time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_us: Option<u64>,
    /// A broadcast (undifferentiated) trunk request was seen with this press.
    pub bus_request_seen: bool,
    /// The BCM's own fob/cabin request input was set with this press.
    pub bcm_input_seen: Seen,
    pub output_driven: Seen,
    pub output_at_us: Option<u64>,
    /// The lid went from closed to open within the window.
    pub lid_changed: Seen,
    pub lid_open_at_us: Option<u64>,
    /// The lid was already open when the request came.
    pub lid_was_open: bool,
    pub context: PressContext,
    /// Every item this attempt rests on.
    pub items: Vec<ItemRef>,
}

impl ReleaseAttempt {
    /// Request seen, output driven and lid opened: the path works.
    pub fn worked(&self) -> bool {
        self.output_driven != Seen::No && self.lid_changed == Seen::Yes
    }
}

/// The release attempts: one per press (presses of one input within the
/// window merge; a bus request merges with a fob or cabin press near it),
/// plus the accepted active test (`(time, item)`), each filled from the
/// series over its window. A pure function: the same series and presses
/// give the same attempts however the series were gathered.
pub fn derive_attempts(
    series: &[ItemSeries],
    presses: &[Press],
    active_test: Option<(u64, Option<ItemRef>)>,
    window_us: u64,
) -> Vec<ReleaseAttempt> {
    let window = window_us.max(1);
    let mut edges: Vec<Press> = presses.to_vec();
    edges.sort_by_key(|e| (e.input == ReleaseInput::Bus, e.t_us));
    let mut attempts: Vec<ReleaseAttempt> = Vec::new();
    for Press {
        t_us: t,
        input,
        item,
        until_us,
    } in edges
    {
        // One press shows as edges of several items (a broadcast and the
        // BCM's own input); a second edge of an item already in an
        // attempt is a second press. An edge joins the nearest attempt it
        // may join (a broadcast edge 7 ms after a fob press belongs to it,
        // not to a cabin press 2.99 s later).
        let near = |a: &ReleaseAttempt| a.t_us.abs_diff(t) <= window;
        let merge = attempts
            .iter_mut()
            .filter(|a| {
                near(a)
                    && (input == ReleaseInput::Bus
                        || (a.input == input
                            && item.is_some_and(|i| !a.items.contains(&i))
                            && !a.told))
            })
            .min_by_key(|a| a.t_us.abs_diff(t));
        match merge {
            Some(a) => {
                a.bus_request_seen |= input == ReleaseInput::Bus;
                a.t_us = a.t_us.min(t);
                if let Some(item) = item.filter(|i| !a.items.contains(i)) {
                    a.items.push(item);
                }
            }
            None => {
                let mut a = new_attempt(input, t, item);
                // A told press: the person's word, not a request on the bus,
                // made some time up to `until_us`.
                a.told = item.is_none();
                a.request_seen = item.is_some();
                a.until_us = (until_us > t).then_some(until_us);
                attempts.push(a);
            }
        }
    }
    if let Some((t, item)) = active_test {
        attempts.push(new_attempt(ReleaseInput::ActiveTest, t, item));
    }
    attempts.sort_by_key(|a| a.t_us);
    let starts: Vec<u64> = attempts.iter().map(|a| a.t_us).collect();
    for (i, a) in attempts.iter_mut().enumerate() {
        let next = starts.get(i + 1).copied().filter(|&n| n > a.t_us);
        // A told press may have come as late as its answer.
        let reach = a
            .t_us
            .max(a.until_us.unwrap_or(a.t_us))
            .saturating_add(window);
        let end = next.map_or(reach, |n| reach.min(n.saturating_sub(1)));
        fill_attempt(series, window_us, a, end);
    }
    attempts
}

/// Fills one attempt over `[a.t_us, end]`, a section per question; the
/// items each section read join `a.items` in that order.
fn fill_attempt(series: &[ItemSeries], window_us: u64, a: &mut ReleaseAttempt, end: u64) {
    let mut used: Vec<ItemRef> = Vec::new();
    output_driven(series, a, end, &mut used);
    lid_changed(series, a, end, &mut used);
    a.bcm_input_seen = bcm_input_seen(series, a, window_us, end, &mut used);
    context_at_press(series, a, end, &mut used);
    for u in used {
        if !a.items.contains(&u) {
            a.items.push(u);
        }
    }
}

/// Series of one role read at some time in `[t, end]`.
fn monitored<'s>(
    series: &'s [ItemSeries],
    role: Role,
    t: u64,
    end: u64,
) -> impl Iterator<Item = &'s ItemSeries> + 's {
    series
        .iter()
        .filter(move |s| s.role == role && s.monitored(t, end))
}

/// Was the opener output driven after the press, and when first?
fn output_driven(series: &[ItemSeries], a: &mut ReleaseAttempt, end: u64, used: &mut Vec<ItemRef>) {
    let t = a.t_us;
    let mut out = Seen::NotMonitored;
    for s in monitored(series, Role::OpenerOutput, t, end) {
        used.push(s.item);
        match s.first_set_in(t, end) {
            Some(at) => {
                out = Seen::Yes;
                a.output_at_us = Some(a.output_at_us.map_or(at, |x: u64| x.min(at)));
            }
            None => out = out.or(Seen::No),
        }
    }
    a.output_driven = out;
}

/// Did the lid go from closed to open (or was it open already)?
fn lid_changed(series: &[ItemSeries], a: &mut ReleaseAttempt, end: u64, used: &mut Vec<ItemRef>) {
    let t = a.t_us;
    let mut lid = Seen::NotMonitored;
    for s in monitored(series, Role::LidOpen, t, end) {
        used.push(s.item);
        if s.value_at(t).is_some_and(|v| v != 0.0) {
            a.lid_was_open = true;
            lid = lid.or(Seen::No);
            continue;
        }
        match s
            .changes
            .iter()
            .find(|c| c.t_us > t && c.t_us <= end && c.value != 0.0)
        {
            Some(c) => {
                lid = Seen::Yes;
                a.lid_open_at_us = Some(a.lid_open_at_us.map_or(c.t_us, |x| x.min(c.t_us)));
            }
            None => lid = lid.or(Seen::No),
        }
    }
    a.lid_changed = lid;
    if lid == Seen::Yes {
        a.lid_was_open = false;
    }
}

/// Did the BCM's own request input see this press? (A fob or cabin press
/// is one; a bus request is asked of the BCM's inputs over the window.)
fn bcm_input_seen(
    series: &[ItemSeries],
    a: &ReleaseAttempt,
    window_us: u64,
    end: u64,
    used: &mut Vec<ItemRef>,
) -> Seen {
    match a.input {
        ReleaseInput::Fob | ReleaseInput::Cabin if a.told => Seen::NotMonitored,
        ReleaseInput::Fob | ReleaseInput::Cabin => Seen::Yes,
        ReleaseInput::ActiveTest => Seen::NotMonitored,
        ReleaseInput::Bus => {
            let from = a.t_us.saturating_sub(window_us);
            let mut seen = Seen::NotMonitored;
            for s in series
                .iter()
                .filter(|s| matches!(s.role, Role::FobTrunkRequest | Role::CabinTrunkRequest))
            {
                if s.monitored(from, end) {
                    used.push(s.item);
                    seen = seen.or(if s.first_set_in(from, end).is_some() {
                        Seen::Yes
                    } else {
                        Seen::No
                    });
                }
            }
            seen
        }
    }
}

/// The state at the press that can block the release by design.
fn context_at_press(
    series: &[ItemSeries],
    a: &mut ReleaseAttempt,
    end: u64,
    used: &mut Vec<ItemRef>,
) {
    let t = a.t_us;
    let at_press = |s: &ItemSeries| -> Option<f64> {
        s.value_at(t)
            .or_else(|| s.changes.iter().find(|c| c.t_us <= end).map(|c| c.value))
    };
    for s in series {
        let Some(v) = at_press(s) else { continue };
        let set = v != 0.0;
        match s.role {
            Role::SpeedKmh => {
                a.context.speed_kmh = Some(a.context.speed_kmh.map_or(v, |x| x.max(v)))
            }
            Role::Gear => a.context.gear = Some(v),
            Role::IgnitionOn => {
                a.context.ignition_on = Some(a.context.ignition_on.unwrap_or(false) || set)
            }
            Role::DoorsLocked | Role::DriverDoorLocked => {
                a.context.doors_locked = Some(a.context.doors_locked.unwrap_or(false) || set)
            }
            Role::Lockout => a.context.lockout = Some(a.context.lockout.unwrap_or(false) || set),
            Role::BatteryVoltage => {}
            _ => continue,
        }
        a.context.readings.push(Reading {
            role: s.role,
            value: v,
            item: s.item,
        });
        // The battery is read for a gate on it only: the low-battery rules
        // read its series themselves, so a verdict does not rest on it here.
        if s.role != Role::BatteryVoltage {
            used.push(s.item);
        }
    }
}

fn new_attempt(input: ReleaseInput, t: u64, item: Option<ItemRef>) -> ReleaseAttempt {
    ReleaseAttempt {
        input,
        t_us: t,
        request_seen: true,
        told: false,
        until_us: None,
        bus_request_seen: input == ReleaseInput::Bus,
        bcm_input_seen: Seen::NotMonitored,
        output_driven: Seen::NotMonitored,
        output_at_us: None,
        lid_changed: Seen::NotMonitored,
        lid_open_at_us: None,
        lid_was_open: false,
        context: PressContext::default(),
        items: item.into_iter().collect(),
    }
}
