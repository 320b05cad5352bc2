//! `docs/rules.md`, generated from the rule table and the narrowing tables.

use std::fmt::Write as _;

use super::narrowing::{ELECTRICAL_NARROWING, INTERMITTENT};
use super::table::{Supports, RULES};
use Supports::{One, ProfileDtcCause, Set};

pub(in crate::verdict) fn supports_words(s: Supports) -> String {
    match s {
        One(c) => format!("`{}`", c.id()),
        Set(cs) => {
            cs.iter()
                .map(|c| format!("`{}`", c.id()))
                .collect::<Vec<_>>()
                .join(", ")
                + " (ranked set)"
        }
        ProfileDtcCause => "the cause the profile maps the code to".to_owned(),
    }
}

pub(in crate::verdict) fn opt(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not said",
    }
}

/// `docs/rules.md`: the rule table in words, generated from [`RULES`] and
/// the narrowing tables. A test keeps the committed file current.
pub fn document() -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# How trunkdiag ranks causes\n\n\
         Generated from `src/verdict/table.rs` and `src/verdict/narrowing.rs` (`UPDATE_EXPECT=1 cargo test --lib rules_document` \
         rewrites it; a test fails when it is stale). Each row is one rule: the cause it \
         supports, how strongly its condition points there, how sure the tool is when it \
         fires, and when it fires.\n\n\
         Ranking: strength first (decisive, critical, explains, strong, likely, possible, \
         weak, baseline, fallback), then the row's place in this table, then the place in a \
         ranked set. Findings for one cause merge: the best rank and the highest confidence \
         win and their evidence is united.\n\n\
         Confidence: a finding that rests on a placeholder mapping (an item not confirmed \
         for this model) or that its row marks doubtful drops one step; in a ranked set only \
         the first cause keeps the row's confidence, the others are one step lower.\n\n\
         A press's outcome: **opened** (the lid opened), **already open** (the lid read open \
         at the press, so the BCM rightly did nothing: neither a refusal nor a failure), \
         **refused** (lid shut, opener never driven), **stuck** (opener driven, lid stayed \
         shut), **stuck, unwatched** (lid stayed shut, opener output not monitored), \
         **unknown** (lid switch not monitored).\n"
    );
    let _ = writeln!(
        s,
        "| # | rule | supports | strength | confidence | when it fires | questions |\n|---|---|---|---|---|---|---|"
    );
    for (i, r) in RULES.iter().enumerate() {
        let conf = format!("{:?}", r.confidence).to_lowercase();
        let asks = r
            .asks
            .iter()
            .map(|a| format!("`{}`", a.key()))
            .collect::<Vec<_>>()
            .join(", ");
        let alone = if r.alone {
            " Nothing else is considered."
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {} | {} | {}{} | {} |",
            i + 1,
            r.name(),
            supports_words(r.supports),
            r.strength.as_str(),
            conf,
            r.when,
            alone,
            asks
        );
    }
    let _ = writeln!(
        s,
        "\n## Narrowing the electrical set\n\n\
         `trunk-fuse`, `trunk-wiring`, `trunk-actuator` and `trunk-latch` share one bus \
         picture (output driven, lid stayed shut). The owner's observations order them; a \
         lid that opened on some presses and not on others puts wiring first \
         ({}).\n\n| click heard | key blade opens | order | why |\n|---|---|---|---|",
        INTERMITTENT
            .0
            .iter()
            .map(|c| c.id())
            .collect::<Vec<_>>()
            .join(" > ")
    );
    for (click, blade, order, why) in ELECTRICAL_NARROWING {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            opt(*click),
            opt(*blade),
            order.iter().map(|c| c.id()).collect::<Vec<_>>().join(" > "),
            why
        );
    }
    let _ = writeln!(
        s,
        "\n## Narrowing the fob set\n\n\
         `key-fob-battery` comes first, unless the fob's lock/unlock reaches the car (a lock \
         change on the bus, or `fob-unlocks-doors=yes`): then `key-fob-programming` leads, \
         since a fob that works the doors has a battery strong enough to be heard."
    );
    s
}
