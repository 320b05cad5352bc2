//! Conditions on an added device: foreign nodes on the bus, requests that
//! never reached the BCM's input, a reported alarm.

use super::super::facts::{fire, Facts, Outcome, Support};

pub(in crate::verdict) fn census_lines(f: &Facts) -> Vec<String> {
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
pub(in crate::verdict) fn aftermarket(f: &Facts) -> Support {
    let lost = f.requests_lost();
    let mut s = Support::default()
        .lines(if f.foreign {
            census_lines(f)
        } else {
            Vec::new()
        })
        .presses(f, &lost);
    if f.alarm {
        s = s.line("you report an aftermarket alarm / remote start is fitted");
    }
    s
}

pub(in crate::verdict) fn refused(f: &Facts) -> bool {
    f.any_user(Outcome::Refused)
}

/// The BCM acted (or may have) and the lid stayed shut.
pub(in crate::verdict) fn stuck(f: &Facts) -> bool {
    f.any_user(Outcome::Stuck) || f.any_user(Outcome::StuckUnwatched)
}

pub(in crate::verdict) fn foreign_request_lost(f: &Facts) -> Option<Support> {
    fire(f.foreign && !f.requests_lost().is_empty()).map(|_| aftermarket(f).doubtful_if(!f.alarm))
}

pub(in crate::verdict) fn alarm_and_failure(f: &Facts) -> Option<Support> {
    let any = refused(f) || stuck(f) || f.foreign || !f.requests_lost().is_empty();
    fire(f.alarm && any).map(|_| aftermarket(f))
}

pub(in crate::verdict) fn foreign_node_lid_shut(f: &Facts) -> Option<Support> {
    fire(f.foreign && stuck(f)).map(|_| aftermarket(f))
}

pub(in crate::verdict) fn foreign_node_refusal(f: &Facts) -> Option<Support> {
    fire(f.foreign && refused(f)).map(|_| aftermarket(f).doubtful_if(!f.alarm))
}

pub(in crate::verdict) fn request_lost(f: &Facts) -> Option<Support> {
    fire(!f.requests_lost().is_empty()).map(|_| aftermarket(f))
}

pub(in crate::verdict) fn alarm_reported(f: &Facts) -> Option<Support> {
    fire(f.alarm).map(|_| aftermarket(f))
}
