//! The scenarios: one per cause of the cause table, keyed by the typed
//! [`Cause`] in one exhaustive `match` (a cause without a scenario does not
//! compile), as a table of how the simulated car differs from a healthy one.
//! The table is data; what each column does to the car is code in
//! [`super::vehicle`]. The scenario's id and words are the cause's.
//! Beside them, the relearn scenarios ([`RelearnPath`]): a power lid after a
//! power loss, for `trunkdiag relearn`; they are not causes, so a diagnosis
//! library (one capture per cause) does not hold them.

use std::fmt;

use crate::cause::Cause;

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

/// Whether the car's power lid needs its relearn (the profile's `[relearn]`
/// steps) before it acts on a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelearnPath {
    /// No relearn needed (every diagnosis scenario).
    NotNeeded,
    /// After a power loss: the lid ignores open requests until the steps
    /// have been seen in order; the simulated person does each one.
    Needed,
    /// As `Needed`, but the person never does one step (the last one
    /// confirmed by a value; a routine's result reads fail when no step is).
    StepMissed,
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
    /// A power lid waiting for its relearn.
    pub relearn: RelearnPath,
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
    relearn: RelearnPath::NotNeeded,
};

/// The relearn scenarios: (id, row). The person does the profile's steps
/// instead of the usual presses, then presses the fob once to open the lid.
const RELEARN: [(&str, ScenarioSpec); 2] = [
    (
        "liftgate-needs-relearn",
        ScenarioSpec {
            summary: "power lid after a power loss: ignores open requests until the profile's relearn steps are seen in order; the person does each, then presses the fob",
            presses: false,
            relearn: RelearnPath::Needed,
            ..HEALTHY
        },
    ),
    (
        "relearn-step-missed",
        ScenarioSpec {
            summary: "as liftgate-needs-relearn, but the person never does the last step the bus confirms: the lid stays disabled",
            presses: false,
            relearn: RelearnPath::StepMissed,
            ..HEALTHY
        },
    ),
];

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

/// A scenario: the cause it reproduces, or one of the relearn scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario(Kind);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Cause(Cause),
    /// Index into `RELEARN`.
    Relearn(usize),
}

impl Scenario {
    /// The scenario with this id (a cause id, or a relearn scenario's); the
    /// error lists the known ones.
    pub fn from_id(id: &str) -> Result<Scenario, super::SimError> {
        if let Ok(c) = id.parse::<Cause>() {
            return Ok(Scenario(Kind::Cause(c)));
        }
        RELEARN
            .iter()
            .position(|(r, _)| *r == id)
            .map(|i| Scenario(Kind::Relearn(i)))
            .ok_or_else(|| super::SimError::UnknownScenario { id: id.to_owned() })
    }

    /// The scenario of `cause`.
    pub fn of(cause: Cause) -> Scenario {
        Scenario(Kind::Cause(cause))
    }

    /// One scenario per cause, in the cause table's order (what a
    /// diagnosis library holds; `simulate --list`).
    pub fn all() -> impl Iterator<Item = Scenario> {
        Cause::ALL.into_iter().map(Scenario::of)
    }

    /// The relearn scenarios (`simulate --list --relearn`).
    pub fn relearn_all() -> impl Iterator<Item = Scenario> {
        (0..RELEARN.len()).map(|i| Scenario(Kind::Relearn(i)))
    }

    /// Every scenario id, causes first: what an unknown id is told.
    pub fn ids() -> Vec<&'static str> {
        Self::all()
            .chain(Self::relearn_all())
            .map(Scenario::id)
            .collect()
    }

    /// The cause it reproduces; `None` for a relearn scenario.
    pub fn cause(self) -> Option<Cause> {
        match self.0 {
            Kind::Cause(c) => Some(c),
            Kind::Relearn(_) => None,
        }
    }

    pub fn id(self) -> &'static str {
        match self.0 {
            Kind::Cause(c) => c.id(),
            Kind::Relearn(i) => RELEARN.get(i).map_or("", |(id, _)| *id),
        }
    }

    pub fn spec(self) -> &'static ScenarioSpec {
        match self.0 {
            Kind::Cause(c) => spec_of(c),
            Kind::Relearn(i) => RELEARN.get(i).map_or(&HEALTHY, |(_, s)| s),
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
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
    fn relearn_scenarios_are_not_causes_and_need_a_relearn() {
        let ids: Vec<&str> = Scenario::relearn_all().map(Scenario::id).collect();
        assert_eq!(ids, ["liftgate-needs-relearn", "relearn-step-missed"]);
        for s in Scenario::relearn_all() {
            assert_eq!(Scenario::from_id(s.id()).ok(), Some(s));
            assert_eq!(s.cause(), None);
            assert_ne!(s.spec().relearn, RelearnPath::NotNeeded, "{s}");
        }
        assert!(Scenario::all().all(|s| s.spec().relearn == RelearnPath::NotNeeded));
    }

    #[test]
    fn unknown_id_names_the_known_ones() {
        let e = Scenario::from_id("flat-tyre").unwrap_err().to_string();
        assert!(
            e.contains("flat-tyre")
                && e.contains("valet-lockout")
                && e.contains("relearn-step-missed"),
            "{e}"
        );
    }
}
