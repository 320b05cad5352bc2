//! Wording a finding: the cause's words (or the row's own), the next steps
//! the user has not already answered, what it rests on by level, the
//! safety lines.

use super::finding::Finding;
use super::VerdictId;
use super::{text, RestsOn, Verdict};
use crate::evidence::Evidence;
use crate::profile::{ItemRef, Level, Profile};

pub(in crate::verdict) fn word(profile: &Profile, ev: &Evidence, x: Finding) -> Verdict {
    let (mut summary, mut explanation, steps) = cause_words(profile, ev, &x.cause);
    if let Some((sum, expl)) = x.words {
        (summary, explanation) = (sum.to_owned(), expl.to_owned());
    }
    let rests_on = rests_on(ev, &x.items);
    for n in &x.notes {
        explanation.push(' ');
        explanation.push_str(n);
    }
    let unverified = rests_on.iter().any(|r| r.level == Level::Placeholder);
    // The shared words say "trunk"; a liftgate car reads its own word (the
    // evidence quotes the car's data and stays as it is).
    let lid = profile.lid;
    let mut evidence = x.evidence;
    // A car whose body module is not published: every verdict says what
    // the tool cannot see.
    if profile.bcm().is_none() {
        evidence.push(lid.words(&format!(
            "not seen: no body-module address is published for the {} {}, so no trunk request, opener output or trouble code can be read; this rests on the broadcast frames only",
            profile.make, profile.model
        )));
    }
    Verdict {
        id: x.cause,
        confidence: x.confidence,
        strength: x.rule.strength,
        rule: x.rule.id,
        summary: lid.words(&summary),
        explanation: lid.words(explanation.trim()),
        evidence,
        next_steps: steps.iter().map(|s| lid.words(s)).collect(),
        unverified,
        rests_on,
        access_now: profile.access_now.clone(),
        safety: text::SAFETY.iter().map(|s| lid.words(s)).collect(),
    }
}

/// Summary, explanation and next steps: the cause table's, or the
/// profile's for a cause it adds.
fn cause_words(
    profile: &Profile,
    ev: &Evidence,
    cause: &VerdictId,
) -> (String, String, Vec<String>) {
    match cause {
        VerdictId::Known(c) => (
            c.summary().to_owned(),
            c.explanation().to_owned(),
            c.next_steps()
                .iter()
                // Do not ask for a check the user has already reported.
                .filter(|s| {
                    **s != text::KEY_BLADE_STEP || ev.observations.key_blade_opens.is_none()
                })
                .map(|s| (*s).to_owned())
                .collect(),
        ),
        VerdictId::Profile(extra) => match profile.extra_cause(extra) {
            Some(e) => (e.summary.clone(), e.summary.clone(), e.next_steps.clone()),
            None => (
                format!("Cause `{extra}` (from the profile's DTC table)."),
                String::new(),
                Vec::new(),
            ),
        },
    }
}

/// The items below "this model", grouped by level, strongest first.
fn rests_on(ev: &Evidence, items: &[ItemRef]) -> Vec<RestsOn> {
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    text::BELOW_THIS_MODEL
        .into_iter()
        .map(|level| RestsOn {
            level,
            words: level.label(),
            items: items
                .iter()
                .filter(|&&i| ev.level(i) == Some(level))
                .map(|&i| ev.label(i))
                .collect(),
        })
        .filter(|r| !r.items.is_empty())
        .collect()
}
