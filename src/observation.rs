//! What the user saw, as `KEY=VALUE` observations (`--observe click=no`,
//! a jobs file's `observe`, or answers at a terminal). One table, one row
//! per key: the key, its values, the question asked at a terminal and what
//! the answer does to the ranking. Adding a key is one row here (and the
//! rule that reads it).
//!
//! Owns: the keys, parsing and printing them, the questions. Must not know
//! evidence, profiles, verdict rules or terminals (the CLI asks; the
//! `diagnose` layer picks which questions matter).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A value an observation can take: its words and how they parse.
pub trait ObservationValue: Copy + Sized {
    /// Accepted answers, first = the usual one.
    const ANSWERS: &'static [&'static str];
    /// The accepted answers in words, for messages.
    const EXPECTED: &'static str;
    fn parse(text: &str) -> Option<Self>;
    fn word(self) -> &'static str;
}

impl ObservationValue for bool {
    const ANSWERS: &'static [&'static str] = &["yes", "no"];
    const EXPECTED: &'static str = "yes or no";
    fn parse(text: &str) -> Option<bool> {
        match text {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        }
    }
    fn word(self) -> &'static str {
        if self {
            "yes"
        } else {
            "no"
        }
    }
}

/// How far the fob works from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FobRange {
    Normal,
    Short,
}

impl ObservationValue for FobRange {
    const ANSWERS: &'static [&'static str] = &["normal", "short"];
    const EXPECTED: &'static str = "normal or short";
    fn parse(text: &str) -> Option<FobRange> {
        match text {
            "normal" => Some(FobRange::Normal),
            "short" => Some(FobRange::Short),
            _ => None,
        }
    }
    fn word(self) -> &'static str {
        match self {
            FobRange::Normal => "normal",
            FobRange::Short => "short",
        }
    }
}

/// A question whose answer could change the ranking.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Question {
    /// The `--observe` key.
    pub key: &'static str,
    /// The shared words; a liftgate car's report words them its way.
    pub text: std::borrow::Cow<'static, str>,
    /// Accepted answers, first = the usual one.
    pub answers: &'static [&'static str],
}

macro_rules! observation_table {
    ($(
        $variant:ident, $field:ident: $ty:ty = $key:literal,
        question: $question:literal,
        effect: $effect:literal;
    )*) => {
        /// What the user saw, from flags (`--observe click=no`) or prompts.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct Observations {
            $( #[doc = $effect] pub $field: Option<$ty>, )*
        }

        /// One observation key.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ObservationKey {
            $( $variant, )*
        }

        impl ObservationKey {
            /// Every key, in table order.
            pub const ALL: [ObservationKey; [$($key),*].len()] = [$(ObservationKey::$variant),*];

            /// The `--observe` key.
            pub fn key(self) -> &'static str {
                match self { $( ObservationKey::$variant => $key, )* }
            }

            /// The question asked at a terminal.
            pub fn question(self) -> Question {
                match self {
                    $( ObservationKey::$variant => Question {
                        key: $key,
                        text: std::borrow::Cow::Borrowed($question),
                        answers: <$ty as ObservationValue>::ANSWERS,
                    }, )*
                }
            }

            /// What the answer does to the ranking, in words.
            pub fn effect(self) -> &'static str {
                match self { $( ObservationKey::$variant => $effect, )* }
            }

            /// True when `observations` already has an answer for this key.
            pub fn is_answered(self, observations: &Observations) -> bool {
                match self { $( ObservationKey::$variant => observations.$field.is_some(), )* }
            }
        }

        impl Observations {
            /// Every key, in table order.
            pub const KEYS: [&'static str; [$($key),*].len()] = [$($key),*];

            /// Applies one `KEY=VALUE` observation.
            pub fn apply(&mut self, text: &str) -> Result<(), ObservationError> {
                let (key, value) = text
                    .split_once('=')
                    .ok_or_else(|| ObservationError::Syntax(text.to_owned()))?;
                let (key, value) = (key.trim(), value.trim());
                match key {
                    $( $key => self.$field = Some(parse_value::<$ty>(key, value)?), )*
                    _ => return Err(ObservationError::UnknownKey(key.to_owned())),
                }
                Ok(())
            }

            /// `key=value` for every answered key, in table order.
            fn answered(&self) -> Vec<String> {
                let mut parts = Vec::new();
                $( if let Some(v) = self.$field {
                    parts.push(format!("{}={}", $key, v.word()));
                } )*
                parts
            }

            /// The accepted keys and values, one per line, for `--help`.
            pub fn help() -> String {
                let mut lines = Vec::new();
                $( lines.push(format!(
                    "  {}={}: {}",
                    $key,
                    <$ty as ObservationValue>::ANSWERS.join("|"),
                    $question
                )); )*
                lines.join("\n")
            }
        }
    };
}

observation_table! {
    FobPressed, fob_pressed: bool = "fob-pressed",
        question: "Did you press the trunk button on the key fob while the tool watched?",
        effect: "yes with no fob request on the bus brings in the key-fob causes (fob battery, fob programming)";
    Click, click: bool = "click",
        question: "When you pressed the trunk button, did you hear the trunk actuator click?",
        effect: "yes: the actuator gets power, so latch (or a weak actuator) first; no: fuse, wiring and actuator power first";
    KeyBladeOpens, key_blade_opens: bool = "key-blade-opens",
        question: "Does the mechanical key blade open the trunk?",
        effect: "yes: the latch is fine, the cause is electrical; no: the latch first";
    CabinSwitchOpens, cabin_switch_opens: bool = "cabin-switch-opens",
        question: "Does the trunk switch inside the car open it?",
        effect: "yes: BCM, actuator and latch work, so a fob request that never arrives points at the fob; no: the mechanical causes stay in";
    FobUnlocksDoors, fob_unlocks_doors: bool = "fob-unlocks-doors",
        question: "Does the key fob lock and unlock the doors?",
        effect: "yes: fob programming ranks before the fob battery";
    FobRange, fob_range: FobRange = "fob-range",
        question: "Does the fob work from a normal distance, or only very close (short)?",
        effect: "short: counts as a fob press and is named in the key-fob verdicts";
    AftermarketAlarm, aftermarket_alarm: bool = "aftermarket-alarm",
        question: "Is an aftermarket alarm or remote start fitted?",
        effect: "yes: aftermarket interference ranks higher, even without foreign identifiers on the bus";
    LidClosed, lid_closed: bool = "lid-closed",
        question: "Is the trunk lid fully closed right now?",
        effect: "yes while the lid switch reads open throughout: trunk-latch first (the latch switch misreads); no: the lid is simply open";
}

fn parse_value<T: ObservationValue>(key: &str, value: &str) -> Result<T, ObservationError> {
    T::parse(value).ok_or_else(|| ObservationError::BadValue {
        key: key.to_owned(),
        value: value.to_owned(),
        expected: T::EXPECTED,
    })
}

/// Why an observation was rejected; the message lists what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ObservationError {
    #[error("expected KEY=VALUE (e.g. click=no), found `{0}`")]
    Syntax(String),
    #[error("unknown observation `{name}`: expected one of {keys}", name = .0, keys = Observations::KEYS.join(", "))]
    UnknownKey(String),
    #[error("`{key}` expects {expected}, found `{value}`")]
    BadValue {
        key: String,
        value: String,
        expected: &'static str,
    },
}

impl Observations {
    /// True when the user gave no observation at all.
    pub fn is_empty(&self) -> bool {
        *self == Observations::default()
    }
}

impl FromStr for Observations {
    type Err = ObservationError;
    /// Comma- or whitespace-separated `KEY=VALUE` list.
    fn from_str(s: &str) -> Result<Observations, ObservationError> {
        let mut o = Observations::default();
        for part in s.split([',', ' ', '\n']).filter(|p| !p.trim().is_empty()) {
            o.apply(part)?;
        }
        Ok(o)
    }
}

impl fmt::Display for Observations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.answered().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_parse_and_reject_clearly() {
        let o: Observations = "fob-pressed=yes,click=no fob-range=short aftermarket-alarm=no"
            .parse()
            .unwrap();
        assert_eq!(o.fob_pressed, Some(true));
        assert_eq!(o.click, Some(false));
        assert_eq!(o.fob_range, Some(FobRange::Short));
        assert_eq!(
            o.to_string(),
            "fob-pressed=yes click=no fob-range=short aftermarket-alarm=no"
        );
        let e = "clik=no".parse::<Observations>().unwrap_err().to_string();
        assert!(
            e.contains("unknown observation `clik`") && e.contains("click"),
            "{e}"
        );
        let e = "click=maybe"
            .parse::<Observations>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("yes or no"), "{e}");
        let e = "fob-range=far"
            .parse::<Observations>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("normal or short"), "{e}");
        assert!("click".parse::<Observations>().is_err());
        assert!(Observations::default().is_empty());
    }

    #[test]
    fn lid_closed_is_a_yes_no_key() {
        let o: Observations = "lid-closed=yes".parse().unwrap();
        assert_eq!(o.lid_closed, Some(true));
        assert_eq!(o.to_string(), "lid-closed=yes");
        let q = ObservationKey::LidClosed.question();
        assert_eq!(q.key, "lid-closed");
        assert_eq!(q.answers, &["yes", "no"]);
        assert!(ObservationKey::LidClosed.is_answered(&o));
        assert!(!ObservationKey::Click.is_answered(&o));
    }

    #[test]
    fn every_key_has_words_and_round_trips() {
        for k in ObservationKey::ALL {
            let q = k.question();
            assert_eq!(q.key, k.key());
            assert!(q.text.ends_with('?'), "{}", q.key);
            assert!(!k.effect().is_empty(), "{}", q.key);
            let mut o = Observations::default();
            o.apply(&format!("{}={}", q.key, q.answers[0])).unwrap();
            assert!(k.is_answered(&o));
            assert_eq!(o.to_string(), format!("{}={}", q.key, q.answers[0]));
            assert!(Observations::help().contains(q.key));
        }
    }
}
