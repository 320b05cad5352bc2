//! The rules as one table: each row names the cause (or ranked set of
//! causes) it supports, how strongly its condition points there (a named
//! [`Strength`], which orders the verdicts), how sure the tool is when it
//! fires (a named [`Confidence`]), the condition (a function in
//! [`super::conditions`]), the observations that would change it and one
//! sentence saying when it fires, which `docs/rules.md` is generated from.

use serde::Serialize;

use super::conditions::*;
use super::facts::{Facts, Support};
use super::narrowing::{ELECTRICAL, FOB, UNSEEN_PATH};
use super::{Cause, Confidence};
use crate::observation::ObservationKey;

/// How strongly a row's condition points at its cause. Verdicts are ranked
/// by it (strongest first), then by the row's place in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strength {
    /// Nothing better: the evidence cannot locate the fault.
    Fallback,
    /// What worked: the release path shown working.
    Baseline,
    /// A hint on its own.
    Weak,
    /// Fits, but a link was not watched or it rests on observations only.
    Possible,
    /// A fault signature without a watched press to confirm it.
    Likely,
    /// A watched press failed, and this explains how.
    Strong,
    /// The vehicle's state at a press explains the refusal.
    Explains,
    /// Battery and BCM reachability: fix these before trusting anything else.
    Critical,
    /// Nothing to diagnose with: the bus is silent.
    Decisive,
}

impl Strength {
    pub fn as_str(self) -> &'static str {
        match self {
            Strength::Fallback => "fallback",
            Strength::Baseline => "baseline",
            Strength::Weak => "weak",
            Strength::Possible => "possible",
            Strength::Likely => "likely",
            Strength::Strong => "strong",
            Strength::Explains => "explains",
            Strength::Critical => "critical",
            Strength::Decisive => "decisive",
        }
    }
}

/// What a row supports.
#[derive(Clone, Copy, Debug)]
pub enum Supports {
    One(Cause),
    /// Causes the bus cannot separate, ranked by the row's condition (the
    /// narrowing tables below the rules).
    Set(&'static [Cause]),
    /// The cause a profile maps a trouble code to (built-in or profile-added).
    ProfileDtcCause,
}

/// One rule.
pub struct Rule {
    pub id: RuleId,
    pub supports: Supports,
    pub strength: Strength,
    pub confidence: Confidence,
    /// When it fires, in words (the generated document).
    pub when: &'static str,
    /// Observation keys whose answers would change or narrow it.
    pub asks: &'static [ObservationKey],
    /// When it fires, no other row is considered.
    pub alone: bool,
    check: fn(&Facts) -> Option<Support>,
}

impl Rule {
    /// Stable name, shown in the JSON (`rule`) and in `docs/rules.md`.
    pub fn name(&self) -> &'static str {
        self.id.name()
    }

    /// Its condition: what it found, if it fires.
    pub(in crate::verdict) fn check(&self, facts: &Facts) -> Option<Support> {
        (self.check)(facts)
    }
}

impl Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

const STUCK_ASKS: &[ObservationKey] = &[ObservationKey::Click, ObservationKey::KeyBladeOpens];
const FOB_ASKS: &[ObservationKey] = &[
    ObservationKey::FobUnlocksDoors,
    ObservationKey::FobRange,
    ObservationKey::CabinSwitchOpens,
];
const ALARM_ASKS: &[ObservationKey] = &[ObservationKey::AftermarketAlarm];

macro_rules! rules {
    ($( $id:ident = $name:literal : $supports:expr, $strength:ident, $conf:ident, $check:path, asks $asks:expr, alone $alone:literal, $when:literal; )*) => {
        /// A rule's typed id: one per row of [`RULES`], in table order.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RuleId {
            $( $id, )*
        }

        impl RuleId {
            /// Every rule, in table order.
            pub const ALL: [RuleId; [$($name),*].len()] = [$(RuleId::$id),*];

            /// The stable name, shown in the JSON (`rule`) and in `docs/rules.md`.
            pub fn name(self) -> &'static str {
                match self { $( RuleId::$id => $name, )* }
            }

            /// Its row of the table.
            pub const fn rule(self) -> &'static Rule {
                match self { $( RuleId::$id => &Rule {
                    id: RuleId::$id,
                    supports: $supports,
                    strength: Strength::$strength,
                    confidence: Confidence::$conf,
                    when: $when,
                    asks: $asks,
                    alone: $alone,
                    check: $check,
                }, )* }
            }
        }

        /// The rules in ranking order within each strength.
        pub static RULES: [&Rule; [$($name),*].len()] = [$( RuleId::$id.rule(), )*];
    };
}

use Supports::{One, ProfileDtcCause, Set};

rules! {
    // id = name: supports, strength, confidence, condition, asks, alone, when
    SilentBus = "silent-bus": One(Cause::NoBusActivity), Decisive, High, silent_bus, asks &[], alone true,
        "No frame at all was received.";
    RequestsOnly = "requests-only": One(Cause::NoBusActivity), Decisive, Medium, requests_only, asks &[], alone true,
        "Only diagnostic requests were seen: no other module was heard.";
    ExpectedIdsMissing = "expected-ids-missing": One(Cause::WrongBus), Decisive, Medium, expected_ids_missing, asks &[], alone false,
        "Traffic was heard for a second or more, but none of the frames the profile expects on its default bus and no answer from the BCM: the adapter is on another bus, other pins or another bitrate.";
    BatteryLow = "battery-low": One(Cause::LowBattery), Critical, High, battery_low, asks &[], alone false,
        "A battery-voltage reading fell below the profile's limit.";
    BatteryDtc = "battery-dtc": One(Cause::LowBattery), Critical, High, battery_dtc, asks &[], alone false,
        "The BCM reported a trouble code the profile maps to low battery.";
    BcmSilent = "bcm-silent": One(Cause::BcmUnreachable), Critical, High, bcm_silent, asks &[], alone false,
        "Requests went to the BCM and it never answered, while other modules were heard.";
    BcmDroppedOut = "bcm-dropped-out": One(Cause::BcmUnreachable), Critical, Medium, bcm_dropped_out, asks &[], alone false,
        "The BCM answered, then left two or more requests unanswered before a press was fully watched.";
    BcmFaultDtc = "bcm-fault-dtc": One(Cause::BcmFault), Critical, High, bcm_fault_dtc, asks &[], alone false,
        "The BCM reported a trouble code the profile maps to an internal fault.";
    LockoutAtPress = "lockout-at-press": One(Cause::ValetLockout), Explains, High, lockout_at_press, asks &[], alone false,
        "A press reached the BCM with the lid shut, the lockout flag was set and the opener was never driven.";
    ConditionAtPress = "condition-at-press": One(Cause::ReleaseInhibited), Explains, High, condition_at_press, asks &[], alone false,
        "A press reached the BCM with the lid shut, the opener was never driven, and a release condition of the profile (speed, ignition, locks) blocked it.";
    FobUnheardCabinWorks = "fob-unheard-cabin-works": Set(FOB), Explains, Medium, fob_unheard_cabin_works, asks FOB_ASKS, alone false,
        "The fob was pressed (or its range reported short), no fob trunk request reached the bus, and the cabin switch opened the trunk. Programming first when the fob's lock/unlock reaches the car.";
    ForeignNodeRequestLost = "foreign-node-request-lost": One(Cause::AftermarketInterference), Strong, High, foreign_request_lost, asks ALARM_ASKS, alone false,
        "Identifiers this model does not have are on the bus and a broadcast trunk request never reached the BCM's input (high with an alarm reported, else one step lower).";
    ConditionUnwatchedPress = "condition-unwatched-press": One(Cause::ReleaseInhibited), Strong, High, condition_unwatched_press, asks &[], alone false,
        "A press reached the BCM with the lid shut while a release condition of the profile, read at the press (moving at a speed, out of Park), blocked it, but the opener output was not monitored: the state was read, so the condition explains it by design; one rank below a watched refusal.";
    LockoutUnwatchedPress = "lockout-unwatched-press": One(Cause::ValetLockout), Strong, Medium, lockout_unwatched_press, asks &[], alone false,
        "A press reached the BCM with the lid shut and the lockout flag set, but the opener output was not monitored (the profile has none, or its reads were missed): the lockout explains it by design, one step below a watched refusal.";
    DrivenLidShut = "driven-lid-shut": Set(ELECTRICAL), Strong, Medium, driven_lid_shut, asks STUCK_ASKS, alone false,
        "A press drove the opener output and the lid stayed shut; ranked by the narrowing table (one step lower without observations).";
    LidSwitchStuckOpen = "lid-switch-stuck-open": One(Cause::TrunkLatch), Strong, Medium, lid_switch_stuck_open, asks &[], alone false,
        "The lid-open switch reads open throughout while the owner says the lid is shut: the BCM never fires because it believes the trunk is open.";
    AlarmAndFailure = "alarm-and-failure": One(Cause::AftermarketInterference), Strong, Medium, alarm_and_failure, asks &[], alone false,
        "An aftermarket alarm is reported and a press failed, a foreign node is on the bus, or a request never reached the BCM.";
    ForeignNodeLidShut = "foreign-node-lid-shut": One(Cause::AftermarketInterference), Strong, Low, foreign_node_lid_shut, asks ALARM_ASKS, alone false,
        "Identifiers this model does not have are on the bus and the lid stayed shut after the opener was (or may have been) driven.";
    GeneralRejects = "general-rejects": One(Cause::BcmFault), Likely, Medium, general_rejects, asks &[], alone false,
        "The BCM answered normal requests with two or more general rejects (NRC 0x10).";
    LockoutNoPress = "lockout-no-press": One(Cause::ValetLockout), Likely, Low, lockout_no_press, asks &[], alone false,
        "The lockout flag was seen set, but no press was watched to confirm it.";
    ForeignNodeRefusal = "foreign-node-refusal": One(Cause::AftermarketInterference), Likely, High, foreign_node_refusal, asks ALARM_ASKS, alone false,
        "Identifiers this model does not have are on the bus and the BCM did not act on a press (high with an alarm reported, else one step lower).";
    ProfileDtc = "profile-dtc": ProfileDtcCause, Likely, Medium, profile_dtc, asks &[], alone false,
        "The BCM reported a trouble code the profile maps to another cause.";
    LidShutUnwatched = "lid-shut-unwatched": Set(ELECTRICAL), Possible, Low, lid_shut_unwatched, asks STUCK_ASKS, alone false,
        "The lid stayed shut after a press whose opener output was not monitored, or there is no trunk data and the owner's observations point at the release.";
    LidShutTold = "lid-shut-told": Set(UNSEEN_PATH), Possible, Low, lid_shut_told, asks STUCK_ASKS, alone false,
        "The lid stayed shut at a press the person told of, on a car whose bus shows neither the request nor the output (no body module published): a refusal by design, a lockout or the release path, cheapest check first.";
    FobUnheard = "fob-unheard": Set(FOB), Possible, Low, fob_unheard, asks FOB_ASKS, alone false,
        "The fob was pressed (or its range reported short) and no fob trunk request reached the bus; the cabin switch was not shown to work.";
    BcmDroppedOutLate = "bcm-dropped-out-late": One(Cause::BcmUnreachable), Possible, Low, bcm_dropped_out_late, asks &[], alone false,
        "The BCM stopped answering only after every press had been watched.";
    RequestLost = "request-lost": One(Cause::AftermarketInterference), Possible, Low, request_lost, asks ALARM_ASKS, alone false,
        "A broadcast trunk request never reached the BCM's input, with no foreign node seen.";
    AlarmReported = "alarm-reported": One(Cause::AftermarketInterference), Possible, Low, alarm_reported, asks &[], alone false,
        "An aftermarket alarm is reported; nothing on the bus shows it interfering.";
    UnexplainedRefusal = "unexplained-refusal": One(Cause::ReleaseInhibited), Possible, Low, unexplained_refusal, asks &[], alone false,
        "A press reached the BCM with the lid shut and was refused, and nothing the profile reads explains it: a state the bus does not show.";
    UnexplainedRefusalBcm = "unexplained-refusal-bcm": One(Cause::BcmFault), Possible, Low, unexplained_refusal_bcm, asks ALARM_ASKS, alone false,
        "The same refusal, with no foreign node on the bus and no alarm reported.";
    OneGeneralReject = "one-general-reject": One(Cause::BcmFault), Weak, Low, one_general_reject, asks &[], alone false,
        "One general reject (NRC 0x10) to a normal request.";
    SessionRefused = "session-refused": One(Cause::BcmFault), Weak, Low, session_refused, asks &[], alone false,
        "The BCM refused the diagnostic session start.";
    ReleaseWorks = "release-works": One(Cause::NoFaultFound), Baseline, High, release_works, asks &[ObservationKey::FobPressed], alone false,
        "A press opened the lid and no press failed; a press that found the lid already open is neither (one step lower when a press was not seen end to end).";
    LidReadsOpen = "lid-reads-open": One(Cause::NoFaultFound), Baseline, Medium, lid_reads_open, asks &[ObservationKey::LidClosed], alone false,
        "The lid-open switch reads open throughout and the owner has not said the lid is shut: the BCM rightly does not fire.";
    NothingLocated = "nothing-located": One(Cause::Inconclusive), Fallback, Low, nothing_located, asks &[ObservationKey::FobPressed], alone false,
        "No other row fired, or the profile has no trunk data for this car.";
}
