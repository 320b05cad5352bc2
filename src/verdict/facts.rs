//! What the conditions share, computed once per diagnosis ([`Facts`]): each
//! press's [`Outcome`], the presses by a person, the foreign-node and fob
//! flags; what a condition hands back when it fires ([`Support`]); and the
//! one way a press is described in an evidence line.

use std::fmt::Write as _;

use super::{Cause, VerdictId};
use crate::evidence::{Evidence, FobRange, ReleaseAttempt, Seen};
use crate::profile::{ItemRef, Profile, ReleaseInput, Role};

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
pub(in crate::verdict) struct Facts<'a> {
    pub(in crate::verdict) profile: &'a Profile,
    pub(in crate::verdict) ev: &'a Evidence,
    pub(in crate::verdict) clock: Clock,
    /// Presses by a person (not the active test), with their outcome.
    pub(in crate::verdict) user: Vec<(&'a ReleaseAttempt, Outcome)>,
    /// Every attempt, the active test included.
    pub(in crate::verdict) all: Vec<(&'a ReleaseAttempt, Outcome)>,
    /// The profile lists every identifier of the model and some other was heard.
    pub(in crate::verdict) foreign: bool,
    pub(in crate::verdict) alarm: bool,
    pub(in crate::verdict) fob_tried: bool,
    pub(in crate::verdict) cabin_worked: bool,
    pub(in crate::verdict) trunk_data: bool,
}

impl<'a> Facts<'a> {
    pub(in crate::verdict) fn new(profile: &'a Profile, ev: &'a Evidence) -> Facts<'a> {
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

    pub(in crate::verdict) fn user_with(
        &self,
        o: Outcome,
    ) -> impl Iterator<Item = &'a ReleaseAttempt> + '_ {
        self.user.iter().filter(move |x| x.1 == o).map(|x| x.0)
    }

    /// Every attempt (the active test included) with outcome `o`.
    pub(in crate::verdict) fn all_with(&self, o: Outcome) -> Vec<&'a ReleaseAttempt> {
        self.all.iter().filter(|x| x.1 == o).map(|x| x.0).collect()
    }

    pub(in crate::verdict) fn any_user(&self, o: Outcome) -> bool {
        self.user.iter().any(|x| x.1 == o)
    }

    pub(in crate::verdict) fn describe(&self, a: &ReleaseAttempt) -> String {
        describe(self.ev, &self.clock, a)
    }

    /// Broadcast requests that never set the BCM's own input.
    pub(in crate::verdict) fn requests_lost(&self) -> Vec<&'a ReleaseAttempt> {
        self.user
            .iter()
            .map(|x| x.0)
            .filter(|a| a.input == ReleaseInput::Bus && a.bcm_input_seen == Seen::No)
            .collect()
    }

    /// Lid series that were read and never read closed.
    pub(in crate::verdict) fn lid_open_throughout(&self) -> Vec<ItemRef> {
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
pub(in crate::verdict) struct Support {
    pub(in crate::verdict) evidence: Vec<String>,
    pub(in crate::verdict) items: Vec<ItemRef>,
    pub(in crate::verdict) notes: Vec<String>,
    /// Lower the row's confidence one step.
    pub(in crate::verdict) doubtful: bool,
    /// Items whose placeholder status lowers the confidence one step.
    pub(in crate::verdict) doubted_items: Vec<ItemRef>,
    /// For a set row: the members in rank order.
    pub(in crate::verdict) ranked: Vec<Cause>,
    /// For `ProfileDtcCause`: the cause the profile maps the code to.
    pub(in crate::verdict) cause: Option<VerdictId>,
    /// For `ProfileDtcCause`: the findings for further cause ids.
    pub(in crate::verdict) also: Vec<Support>,
    /// Words of this row that replace the cause's own (summary, explanation).
    pub(in crate::verdict) words: Option<(&'static str, &'static str)>,
}

impl Support {
    pub(in crate::verdict) fn line(mut self, l: impl Into<String>) -> Support {
        self.evidence.push(l.into());
        self
    }
    pub(in crate::verdict) fn lines(mut self, ls: impl IntoIterator<Item = String>) -> Support {
        self.evidence.extend(ls);
        self
    }
    /// A line per press and the items each was read from.
    pub(in crate::verdict) fn presses(self, f: &Facts, presses: &[&ReleaseAttempt]) -> Support {
        self.lines(presses.iter().map(|a| f.describe(a)))
            .items(presses.iter().flat_map(|a| a.items.iter().copied()))
    }
    pub(in crate::verdict) fn items(mut self, it: impl IntoIterator<Item = ItemRef>) -> Support {
        self.items.extend(it);
        self
    }
    /// Items that are also what the confidence depends on.
    pub(in crate::verdict) fn resting_on(
        mut self,
        it: impl IntoIterator<Item = ItemRef> + Clone,
    ) -> Support {
        self.doubted_items.extend(it.clone());
        self.items.extend(it);
        self
    }
    pub(in crate::verdict) fn note(mut self, n: impl Into<String>) -> Support {
        self.notes.push(n.into());
        self
    }
    pub(in crate::verdict) fn doubtful_if(mut self, yes: bool) -> Support {
        self.doubtful |= yes;
        self
    }
    pub(in crate::verdict) fn ranked(mut self, order: &[Cause]) -> Support {
        self.ranked = order.to_vec();
        self
    }
}

pub(in crate::verdict) fn fire(yes: bool) -> Option<Support> {
    yes.then(Support::default)
}

/// Seconds since the first frame, for evidence lines.
pub(in crate::verdict) struct Clock(u64);
impl Clock {
    pub(in crate::verdict) fn at(&self, t: u64) -> String {
        let d = t.saturating_sub(self.0);
        format!("{}.{:03} s", d / 1_000_000, (d % 1_000_000) / 1000)
    }
}

pub(in crate::verdict) fn describe(ev: &Evidence, clock: &Clock, a: &ReleaseAttempt) -> String {
    let mut s = format!(
        "{} press at {}: {}",
        a.input.as_str().replace('_', " "),
        clock.at(a.t_us),
        if a.told {
            "told by the person (the request is not visible on this car)"
        } else {
            "request seen"
        }
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
