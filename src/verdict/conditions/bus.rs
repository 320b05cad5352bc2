//! Conditions on the bus as a whole: nothing heard, only requests heard,
//! traffic without any of the frames the profile expects.

use super::super::facts::{fire, Facts, Support};
use crate::profile::BroadcastFrame;

pub(in crate::verdict) fn silent_bus(f: &Facts) -> Option<Support> {
    let r = &f.ev.reachability;
    fire(f.ev.frames_seen == 0 && r.diag_responses == 0)
        .map(|s| s.line("no frames at all were received"))
}

pub(in crate::verdict) fn requests_only(f: &Facts) -> Option<Support> {
    let r = &f.ev.reachability;
    fire(r.non_diag_frames == 0 && r.diag_responses == 0).map(|s| {
        s.line(format!(
            "{} frame(s) seen, all diagnostic requests; no other module was heard",
            f.ev.frames_seen
        ))
    })
}

/// How long traffic must have been heard before the absence of every
/// expected frame means something (the profiles' frames come every 100 ms
/// or so; a battery frame once a second).
pub(in crate::verdict) const EXPECTED_IDS_LISTEN_US: u64 = 1_000_000;

/// Traffic, but none of the frames the profile expects on its default bus
/// and no BCM answer: the adapter hears some other bus (Ford's MS-CAN at
/// pins 3/11 instead of the HS-CAN at 6/14, or another car). Says which bus
/// to connect to, and which of the profile's other buses was heard instead.
pub(in crate::verdict) fn expected_ids_missing(f: &Facts) -> Option<Support> {
    let bus = f.profile.default_bus()?;
    let r = &f.ev.reachability;
    if r.non_diag_frames == 0 || r.diag_responses > 0 {
        return None;
    }
    let heard_for = f.ev.last_us?.saturating_sub(f.ev.first_us?);
    if heard_for < EXPECTED_IDS_LISTEN_US {
        return None;
    }
    let seen = |fr: &BroadcastFrame| fr.signals.iter().any(|s| f.ev.item_seen(s.item));
    let (expected, elsewhere): (Vec<&BroadcastFrame>, Vec<&BroadcastFrame>) = f
        .profile
        .frames
        .iter()
        .filter(|fr| !fr.signals.is_empty())
        .partition(|fr| fr.bus == bus.name);
    if expected.is_empty() || expected.iter().any(|fr| seen(fr)) {
        return None;
    }
    let ids = |frames: &[&BroadcastFrame], sep: &str| {
        frames
            .iter()
            .map(|fr| format!("0x{}", fr.id))
            .collect::<Vec<_>>()
            .join(sep)
    };
    let at = |b: &crate::profile::Bus| match b.pins_text() {
        p if p.is_empty() => b.bitrate_text(),
        p => format!("{p} at {}", b.bitrate_text()),
    };
    let question = format!(
        "no {} from the {} {}'s {} bus after {:.0} s: is the adapter on {}?",
        ids(&expected, " or "),
        f.profile.make,
        f.profile.model,
        bus.name,
        heard_for as f64 / 1e6,
        at(bus)
    );
    let mut s = Support::default().line(question).line(format!(
        "{} frame(s) heard, none of them one this profile reads on {}",
        r.non_diag_frames, bus.name
    ));
    let heard: Vec<&BroadcastFrame> = elsewhere.into_iter().filter(|fr| seen(fr)).collect();
    if let Some(other) = heard.first().and_then(|fr| f.profile.bus(&fr.bus)) {
        s = s.line(format!(
            "heard instead: {}, the {}'s {} bus frames ({}): the adapter is on that bus",
            ids(&heard, ", "),
            f.profile.model,
            other.name,
            at(other)
        ));
    }
    s.notes.push(format!(
        "Connect the adapter to the {} bus ({}) to read the items the profile keeps there.",
        bus.name,
        at(bus)
    ));
    Some(s)
}
