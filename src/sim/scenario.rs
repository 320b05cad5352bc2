//! The scenarios: one per cause of the cause table, keyed by the typed
//! [`Cause`] in one exhaustive `match` (a cause without a scenario does not
//! compile), as a table of how the simulated car differs from a healthy one.
//! The table is data; what each column does to the car is code in
//! [`super::vehicle`]. The scenario's id and words are the cause's.

use std::fmt;

use crate::cause::{Cause, ParseCauseError};

/// What happens to a press of the key fob's trunk button.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FobPath {
    /// The request reaches the bus and the BCM's input.
    Works,
    /// Weak battery: nothing at all reaches the car.
    Lost,
    /// Not programmed for the trunk: the fob's unlock reaches the car (the
    /// door lock state changes) but no trunk request ever does.
    UnlockOnly,
    /// Something on the bus announces the request, but the BCM's own input
    /// never sees it (an aftermarket module in the path).
    BusOnly,
}

/// What the lid does when the BCM drives the opener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LidPath {
    Opens,
    /// Fuse, actuator or latch: the output is driven, the lid stays shut.
    StaysShut,
    /// Intermittent wiring: the first drive fails, later ones open the lid.
    FailsFirst,
}

/// How the BCM answers diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiagPath {
    Answers,
    /// Silent: not even ISO-TP flow control.
    Silent,
    /// Every second data read is refused with generalReject (0x10).
    RejectsSomeReads,
}

/// What the adapter is wired to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// The bus the profile reads by default (its first `[[bus]]`).
    Car,
    /// Another bus: none of the default bus's frames and no BCM answer reach
    /// the adapter, only the frames of the profile's other buses and the
    /// scenario's `foreign` nodes (that bus's own modules).
    AnotherBus,
}

/// One row of the scenario table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScenarioSpec {
    /// One line for `simulate --list`.
    pub summary: &'static str,
    /// Anything at all on the bus (false: `no-bus-activity`).
    pub bus_alive: bool,
    pub diag: DiagPath,
    /// The trunk cancel (valet) switch is OFF.
    pub lockout: bool,
    pub speed_kmh: f64,
    /// The BCM refuses trunk requests by design (the car is moving), whether
    /// or not the profile knows the rule.
    pub inhibited: bool,
    pub battery_volts: f64,
    pub fob: FobPath,
    /// The BCM acts on requests that reach its inputs (false: hung BCM).
    pub bcm_acts: bool,
    pub lid: LidPath,
    /// DTCs stored: the profile's codes whose `cause` is this one.
    pub dtcs_of_cause: Option<Cause>,
    /// Identifiers of foreign nodes on the bus, with their periods in ms.
    pub foreign: &'static [(u16, u32)],
    pub wire: Wire,
    /// The simulated person presses the fob and the cabin switch (false:
    /// nobody touches the trunk release while the tool watches).
    pub presses: bool,
}

const HEALTHY: ScenarioSpec = ScenarioSpec {
    summary: "everything works: request, output 1 s, lid opens (closed again 2 s later)",
    bus_alive: true,
    diag: DiagPath::Answers,
    lockout: false,
    speed_kmh: 0.0,
    inhibited: false,
    battery_volts: 12.6,
    fob: FobPath::Works,
    bcm_acts: true,
    lid: LidPath::Opens,
    dtcs_of_cause: None,
    foreign: &[],
    wire: Wire::Car,
    presses: true,
};

/// The scenario of each cause: no wildcard arm, so a new cause row needs
/// its scenario here before the crate builds.
const fn spec_of(cause: Cause) -> &'static ScenarioSpec {
    match cause {
        Cause::NoFaultFound => &HEALTHY,
        Cause::ValetLockout => &ScenarioSpec {
            summary: "trunk cancel switch OFF: requests seen, output never driven",
            lockout: true,
            ..HEALTHY
        },
        Cause::ReleaseInhibited => &ScenarioSpec {
            summary: "vehicle moving at 20 km/h: the BCM ignores trunk requests by design",
            speed_kmh: 20.0,
            inhibited: true,
            ..HEALTHY
        },
        Cause::KeyFobBattery => &ScenarioSpec {
            summary: "weak fob battery: the fob's press never reaches the bus, the cabin switch works",
            fob: FobPath::Lost,
            ..HEALTHY
        },
        Cause::KeyFobProgramming => &ScenarioSpec {
            summary: "fob trunk function not programmed: fob unlock reaches the bus, fob trunk never does",
            fob: FobPath::UnlockOnly,
            ..HEALTHY
        },
        Cause::TrunkFuse => &ScenarioSpec {
            summary: "blown trunk fuse: output driven, lid stays shut",
            lid: LidPath::StaysShut,
            ..HEALTHY
        },
        Cause::TrunkWiring => &ScenarioSpec {
            summary: "broken hinge wiring, intermittent: the first press fails, the second opens",
            lid: LidPath::FailsFirst,
            ..HEALTHY
        },
        Cause::TrunkActuator => &ScenarioSpec {
            summary: "failed actuator: output driven, lid stays shut",
            lid: LidPath::StaysShut,
            ..HEALTHY
        },
        Cause::TrunkLatch => &ScenarioSpec {
            summary: "seized latch: output driven, lid stays shut",
            lid: LidPath::StaysShut,
            ..HEALTHY
        },
        Cause::LowBattery => &ScenarioSpec {
            summary: "battery at 10.4 V with a low-voltage DTC: output driven, too weak to open the lid",
            battery_volts: 10.4,
            lid: LidPath::StaysShut,
            dtcs_of_cause: Some(Cause::LowBattery),
            ..HEALTHY
        },
        Cause::BcmUnreachable => &ScenarioSpec {
            summary: "broadcasts on, the BCM silent on diagnostics and not acting on requests",
            diag: DiagPath::Silent,
            bcm_acts: false,
            ..HEALTHY
        },
        Cause::BcmFault => &ScenarioSpec {
            summary: "BCM internal fault DTC, general rejects to some reads, requests not acted on",
            diag: DiagPath::RejectsSomeReads,
            bcm_acts: false,
            dtcs_of_cause: Some(Cause::BcmFault),
            ..HEALTHY
        },
        Cause::AftermarketInterference => &ScenarioSpec {
            summary: "foreign nodes 0x3F0 and 0x5A0; the fob request is on the bus but never at the BCM input",
            fob: FobPath::BusOnly,
            foreign: &[(0x3F0, 100), (0x5A0, 500)],
            ..HEALTHY
        },
        Cause::NoBusActivity => &ScenarioSpec {
            summary: "nothing at all on the bus",
            bus_alive: false,
            ..HEALTHY
        },
        Cause::WrongBus => &ScenarioSpec {
            summary: "adapter on another bus: the profile's default-bus frames and the BCM never heard, other traffic is",
            diag: DiagPath::Silent,
            wire: Wire::AnotherBus,
            foreign: &[(0x1A0, 50), (0x2C4, 100)],
            ..HEALTHY
        },
        Cause::Inconclusive => &ScenarioSpec {
            summary: "a healthy car, but nobody presses the trunk release while the tool watches",
            presses: false,
            ..HEALTHY
        },
    }
}

/// A scenario: the cause it reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario(Cause);

impl Scenario {
    /// The scenario with this id (a cause id); the error lists the known ones.
    pub fn from_id(id: &str) -> Result<Scenario, super::SimError> {
        Ok(Scenario(id.parse::<Cause>()?))
    }

    /// The scenario of `cause`.
    pub fn of(cause: Cause) -> Scenario {
        Scenario(cause)
    }

    /// One scenario per cause, in the cause table's order.
    pub fn all() -> impl Iterator<Item = Scenario> {
        Cause::ALL.into_iter().map(Scenario)
    }

    pub fn cause(self) -> Cause {
        self.0
    }

    pub fn id(self) -> &'static str {
        self.0.id()
    }

    pub fn spec(self) -> &'static ScenarioSpec {
        spec_of(self.0)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl From<ParseCauseError> for super::SimError {
    fn from(e: ParseCauseError) -> Self {
        super::SimError::UnknownScenario(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_scenario_per_cause_and_ids_are_causes() {
        let ids: Vec<&str> = Scenario::all().map(Scenario::id).collect();
        assert_eq!(ids, crate::cause::CAUSE_IDS);
        for s in Scenario::all() {
            assert_eq!(Scenario::from_id(s.id()).ok(), Some(s));
            assert!(!s.spec().summary.is_empty(), "{s}");
        }
    }

    #[test]
    fn unknown_id_names_the_known_ones() {
        let e = Scenario::from_id("flat-tyre").unwrap_err().to_string();
        assert!(
            e.contains("flat-tyre") && e.contains("valet-lockout"),
            "{e}"
        );
    }
}
