//! Ranking: runs every row's condition, turns what fired into findings,
//! adds the fallback, merges the findings of one cause and orders them.
//!
//! Strength first, then the row's place in the table, then the place within
//! a ranked set; findings of one cause merge (the best rank and confidence
//! win, evidence lines are united). Confidence policy: a finding that rests
//! on a placeholder mapping, or that a row marks as doubtful, drops one
//! step; in a ranked set only the first keeps the row's confidence.

use std::cmp::Reverse;

use super::facts::{Facts, Support};
use super::finding::Finding;
use super::table::{Rule, RuleId, Strength, Supports, RULES};
use super::words::word;
use super::{Cause, Confidence, Verdict, VerdictId};
use crate::evidence::Evidence;
use crate::profile::Profile;

fn lower(c: Confidence) -> Confidence {
    match c {
        Confidence::High => Confidence::Medium,
        _ => Confidence::Low,
    }
}

/// Ranks the causes the evidence supports; the first is the most likely.
/// Call `evidence.finish()` first.
pub fn diagnose(profile: &Profile, ev: &Evidence) -> Vec<Verdict> {
    let mut merged: Vec<Finding> = Vec::new();
    for x in collect(&Facts::new(profile, ev)) {
        match merged.iter_mut().find(|m| m.cause == x.cause) {
            Some(m) => m.merge(x),
            None => merged.push(x),
        }
    }
    merged.sort_by_key(|x| (x.rank(), Reverse(x.confidence)));
    merged.into_iter().map(|x| word(profile, ev, x)).collect()
}

/// The rules that found something, in table order (the fallback row
/// included when [`diagnose`] adds it): every rule that took part in a
/// diagnosis, not only those that ranked a verdict after merging. Call
/// `evidence.finish()` first.
pub fn fired(profile: &Profile, ev: &Evidence) -> Vec<RuleId> {
    let mut ids: Vec<RuleId> = collect(&Facts::new(profile, ev))
        .iter()
        .map(|x| x.rule.id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Every finding before merging: the rows that fired, the fallback, the
/// trouble codes the profile does not know.
fn collect(facts: &Facts) -> Vec<Finding> {
    let mut found: Vec<Finding> = Vec::new();
    for (row, rule, s) in firing(facts) {
        findings(facts, row, rule, s, &mut found);
    }
    add_fallback(facts, &mut found);
    add_unmapped_dtcs(facts, &mut found);
    found
}

/// Each row whose condition holds, with its support, up to the first that
/// fires `alone`.
fn firing<'f>(facts: &'f Facts) -> impl Iterator<Item = (usize, &'static Rule, Support)> + 'f {
    let mut stop = false;
    RULES.iter().enumerate().filter_map(move |(row, &rule)| {
        if stop {
            return None;
        }
        let s = rule.check(facts)?;
        stop = rule.alone;
        Some((row, rule, s))
    })
}

/// The findings one fired row adds: its cause, each member of its ranked
/// set, or each cause the profile maps a trouble code to.
fn findings(f: &Facts, row: usize, rule: &'static Rule, s: Support, out: &mut Vec<Finding>) {
    let doubted = s.doubtful || s.doubted_items.iter().any(|&i| f.ev.is_unverified(i));
    // (ProfileDtcCause: each further cause carries its own doubt.)
    let conf = if doubted {
        lower(rule.confidence)
    } else {
        rule.confidence
    };
    let causes: Vec<(VerdictId, &Support)> = match rule.supports {
        Supports::One(c) => vec![(VerdictId::Known(c), &s)],
        Supports::Set(_) => s
            .ranked
            .iter()
            .map(|&c| (VerdictId::Known(c), &s))
            .collect(),
        Supports::ProfileDtcCause => std::iter::once(&s)
            .chain(s.also.iter())
            .filter_map(|x| Some((x.cause.clone()?, x)))
            .collect(),
    };
    for (place, (cause, x)) in causes.into_iter().enumerate() {
        let in_set = matches!(rule.supports, Supports::Set(_)) && place > 0;
        out.push(Finding {
            cause,
            words: x.words,
            rule,
            row,
            place,
            confidence: if in_set { lower(conf) } else { conf },
            evidence: x.evidence.clone(),
            items: x.items.clone(),
            notes: x.notes.clone(),
        });
    }
}

/// The fallback finding: the table's last row (a test keeps it there).
fn fallback(evidence: Vec<String>, notes: Vec<String>) -> Finding {
    let rule = RuleId::NothingLocated.rule();
    Finding {
        cause: VerdictId::Known(Cause::Inconclusive),
        words: None,
        rule,
        row: RULES.len().saturating_sub(1),
        place: 0,
        confidence: rule.confidence,
        evidence,
        items: Vec::new(),
        notes,
    }
}

fn silent(found: &[Finding]) -> bool {
    found.iter().any(|x| x.rule.strength == Strength::Decisive)
}

/// A profile without trunk data says what it could check, on every
/// finding, and adds the fallback; with trunk data, the fallback comes
/// only when nothing fired.
fn add_fallback(f: &Facts, found: &mut Vec<Finding>) {
    let (profile, ev) = (f.profile, f.ev);
    if !f.trunk_data && !silent(found) {
        let could = format!(
            "Profile {} has no trunk data for this car: it could check reachability ({}), DTCs ({}) and battery voltage ({}); it could not check the trunk request, the opener output or the lid switch.",
            profile.id,
            if ev.reachability.diag_responses > 0 { "the ECU answered" } else { "no answer" },
            if ev.dtc_read.answered { format!("{} read", ev.dtcs.len()) } else { "not read".to_owned() },
            ev.battery.as_ref().map(|b| format!("lowest {:.1} V", b.min_v)).unwrap_or_else(|| "not read".to_owned()),
        );
        for x in found.iter_mut() {
            x.notes.push(could.clone());
        }
        found.push(fallback(Vec::new(), vec![could]));
    } else if found.is_empty() {
        let lines = if ev.release_attempts.is_empty() {
            vec!["no trunk press was seen while the tool watched".to_owned()]
        } else {
            Vec::new()
        };
        found.push(fallback(lines, Vec::new()));
    }
}

/// Trouble codes the profile does not know go on every finding.
fn add_unmapped_dtcs(f: &Facts, found: &mut [Finding]) {
    if silent(found) {
        return;
    }
    for d in &f.ev.dtcs {
        if f.profile.dtc_meaning_of(d.code).is_none() {
            let generic = d.code.system().word();
            for x in found.iter_mut() {
                x.evidence.push(format!(
                    "DTC {} ({generic} code, not in this profile)",
                    d.code
                ));
            }
        }
    }
}
