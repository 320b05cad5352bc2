//! The words of each verdict: summary, explanation and next steps per cause
//! (kept in the cause table, `crate::cause`), and the safety lines that
//! always apply. Kept apart from the rules so wording changes never touch
//! logic.

use super::Cause;
use crate::profile::Level;

/// Lines that come with every verdict, whatever the cause.
pub const SAFETY: [&str; 5] = [
    "Stop somewhere safe before working on the car.",
    "Do not pry or drill the trunk lid.",
    "If a person or pet may be inside the trunk, call emergency services at once.",
    "Do not keep firing the electric release on a weak battery.",
    "When items inside are urgent, prefer roadside assistance or a licensed locksmith.",
];

pub use crate::cause::KEY_BLADE_STEP;

/// The levels a verdict lists what it rests on by: those below "this model".
pub const BELOW_THIS_MODEL: [Level; 3] = [Level::RelatedModel, Level::Placeholder, Level::Learned];

/// `from a related model: TR/BD OPEN SW (KWP 21 44 B.5); …`: the line a
/// verdict carries per level below "this model".
pub fn rests_on_line(level: Level, items: &[String]) -> String {
    format!("{}: {}", level.label(), items.join("; "))
}

/// One plain sentence (the cause table in `crate::cause`).
pub fn summary(c: Cause) -> &'static str {
    c.summary()
}

/// What the bus picture means, in words a mechanic can check.
pub fn explanation(c: Cause) -> &'static str {
    c.explanation()
}

/// Next steps, cheapest first.
pub fn next_steps(c: Cause) -> &'static [&'static str] {
    c.next_steps()
}

/// The heading of a group of items a verdict rests on, by level.
pub fn level_heading(level: Level) -> &'static str {
    match level {
        Level::ThisModel => "Known for this model",
        Level::RelatedModel => "From a related model: likely, not shown on this one",
        Level::Placeholder => "Placeholder, confirm on the vehicle",
        Level::Learned => "Learned on this car",
    }
}
