//! The scenarios: one per cause id of the cause table, as a table of how the
//! simulated car differs from a healthy one. The table is data; what each
//! column does to the car is code in [`super::vehicle`].

use std::fmt;

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

/// One row of the scenario table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScenarioSpec {
    /// The cause id (`crate::cause`) this scenario reproduces.
    pub id: &'static str,
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
    /// DTCs stored: the profile's codes whose `cause` is this id.
    pub dtcs_of_cause: Option<&'static str>,
    /// Identifiers of foreign nodes on the bus, with their periods in ms.
    pub foreign: &'static [(u16, u32)],
}

const HEALTHY: ScenarioSpec = ScenarioSpec {
    id: "no-fault-found",
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
};

/// Every scenario, in the cause table's order.
pub const SCENARIOS: &[ScenarioSpec] = &[
    HEALTHY,
    ScenarioSpec {
        id: "valet-lockout",
        summary: "trunk cancel switch OFF: requests seen, output never driven",
        lockout: true,
        ..HEALTHY
    },
    ScenarioSpec {
        id: "release-inhibited",
        summary: "vehicle moving at 20 km/h: the BCM ignores trunk requests by design",
        speed_kmh: 20.0,
        inhibited: true,
        ..HEALTHY
    },
    ScenarioSpec {
        id: "key-fob-battery",
        summary: "weak fob battery: the fob's press never reaches the bus, the cabin switch works",
        fob: FobPath::Lost,
        ..HEALTHY
    },
    ScenarioSpec {
        id: "key-fob-programming",
        summary: "fob trunk function not programmed: fob unlock reaches the bus, fob trunk never does",
        fob: FobPath::UnlockOnly,
        ..HEALTHY
    },
    ScenarioSpec {
        id: "trunk-fuse",
        summary: "blown trunk fuse: output driven, lid stays shut",
        lid: LidPath::StaysShut,
        ..HEALTHY
    },
    ScenarioSpec {
        id: "trunk-wiring",
        summary: "broken hinge wiring, intermittent: the first press fails, the second opens",
        lid: LidPath::FailsFirst,
        ..HEALTHY
    },
    ScenarioSpec {
        id: "trunk-actuator",
        summary: "failed actuator: output driven, lid stays shut",
        lid: LidPath::StaysShut,
        ..HEALTHY
    },
    ScenarioSpec {
        id: "trunk-latch",
        summary: "seized latch: output driven, lid stays shut",
        lid: LidPath::StaysShut,
        ..HEALTHY
    },
    ScenarioSpec {
        id: "low-battery",
        summary: "battery at 10.4 V with a low-voltage DTC: output driven, too weak to open the lid",
        battery_volts: 10.4,
        lid: LidPath::StaysShut,
        dtcs_of_cause: Some("low-battery"),
        ..HEALTHY
    },
    ScenarioSpec {
        id: "bcm-unreachable",
        summary: "broadcasts on, the BCM silent on diagnostics and not acting on requests",
        diag: DiagPath::Silent,
        bcm_acts: false,
        ..HEALTHY
    },
    ScenarioSpec {
        id: "bcm-fault",
        summary: "BCM internal fault DTC, general rejects to some reads, requests not acted on",
        diag: DiagPath::RejectsSomeReads,
        bcm_acts: false,
        dtcs_of_cause: Some("bcm-fault"),
        ..HEALTHY
    },
    ScenarioSpec {
        id: "aftermarket-interference",
        summary: "foreign nodes 0x3F0 and 0x5A0; the fob request is on the bus but never at the BCM input",
        fob: FobPath::BusOnly,
        foreign: &[(0x3F0, 100), (0x5A0, 500)],
        ..HEALTHY
    },
    ScenarioSpec {
        id: "no-bus-activity",
        summary: "nothing at all on the bus",
        bus_alive: false,
        ..HEALTHY
    },
];

/// A scenario chosen by id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scenario(&'static ScenarioSpec);

impl Scenario {
    /// The scenario with this id; the error lists the known ones.
    pub fn from_id(id: &str) -> Result<Scenario, super::SimError> {
        SCENARIOS
            .iter()
            .find(|s| s.id == id)
            .map(Scenario)
            .ok_or_else(|| super::SimError::UnknownScenario {
                id: id.to_owned(),
                known: SCENARIOS.iter().map(|s| s.id).collect(),
            })
    }

    pub(crate) fn from_spec(spec: &'static ScenarioSpec) -> Scenario {
        Scenario(spec)
    }

    pub fn all() -> impl Iterator<Item = Scenario> {
        SCENARIOS.iter().map(Scenario)
    }

    pub fn id(self) -> &'static str {
        self.0.id
    }

    pub fn spec(self) -> &'static ScenarioSpec {
        self.0
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Cause;

    #[test]
    fn one_scenario_per_cause_id_and_ids_are_causes() {
        let ids: Vec<&str> = SCENARIOS.iter().map(|s| s.id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "duplicate scenario id");
        assert_eq!(ids.len(), 14);
        for id in ids {
            assert!(
                id.parse::<Cause>().is_ok(),
                "{id} is not a cause id of the cause table"
            );
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
