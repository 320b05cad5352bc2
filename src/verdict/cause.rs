//! The stable cause ids of diagnosis.md. They are an interface (JSON output,
//! expected results of captures, scripts): never rename one.

use serde::Serialize;

/// A cause the rules can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Cause {
    NoFaultFound,
    ValetLockout,
    ReleaseInhibited,
    KeyFobBattery,
    KeyFobProgramming,
    TrunkFuse,
    TrunkWiring,
    TrunkActuator,
    TrunkLatch,
    LowBattery,
    BcmUnreachable,
    BcmFault,
    AftermarketInterference,
    NoBusActivity,
    /// Added by trunkdiag (not in diagnosis.md's table): the evidence at hand
    /// cannot locate the fault; the verdict says what was and was not checked.
    Inconclusive,
}

impl Cause {
    pub const ALL: [Cause; 15] = [
        Cause::NoFaultFound,
        Cause::ValetLockout,
        Cause::ReleaseInhibited,
        Cause::KeyFobBattery,
        Cause::KeyFobProgramming,
        Cause::TrunkFuse,
        Cause::TrunkWiring,
        Cause::TrunkActuator,
        Cause::TrunkLatch,
        Cause::LowBattery,
        Cause::BcmUnreachable,
        Cause::BcmFault,
        Cause::AftermarketInterference,
        Cause::NoBusActivity,
        Cause::Inconclusive,
    ];

    /// The stable id.
    pub fn id(self) -> &'static str {
        match self {
            Cause::NoFaultFound => "no-fault-found",
            Cause::ValetLockout => "valet-lockout",
            Cause::ReleaseInhibited => "release-inhibited",
            Cause::KeyFobBattery => "key-fob-battery",
            Cause::KeyFobProgramming => "key-fob-programming",
            Cause::TrunkFuse => "trunk-fuse",
            Cause::TrunkWiring => "trunk-wiring",
            Cause::TrunkActuator => "trunk-actuator",
            Cause::TrunkLatch => "trunk-latch",
            Cause::LowBattery => "low-battery",
            Cause::BcmUnreachable => "bcm-unreachable",
            Cause::BcmFault => "bcm-fault",
            Cause::AftermarketInterference => "aftermarket-interference",
            Cause::NoBusActivity => "no-bus-activity",
            Cause::Inconclusive => "inconclusive",
        }
    }

    pub fn from_id(id: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.id() == id)
    }
}

/// Every built-in cause id (profiles may add more, never redefine these).
pub const CAUSE_IDS: [&str; 15] = [
    "no-fault-found",
    "valet-lockout",
    "release-inhibited",
    "key-fob-battery",
    "key-fob-programming",
    "trunk-fuse",
    "trunk-wiring",
    "trunk-actuator",
    "trunk-latch",
    "low-battery",
    "bcm-unreachable",
    "bcm-fault",
    "aftermarket-interference",
    "no-bus-activity",
    "inconclusive",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_table_matches_enum() {
        let from_enum: Vec<&str> = Cause::ALL.iter().map(|c| c.id()).collect();
        assert_eq!(from_enum, CAUSE_IDS.to_vec());
        for c in Cause::ALL {
            assert_eq!(Cause::from_id(c.id()), Some(c));
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.id())
            );
        }
    }
}
