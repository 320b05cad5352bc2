//! The simulated vehicle: a BCM that answers the profile's diagnostic
//! protocol (KWP2000 for the Nissan profiles, UDS for Ford) with realistic
//! timing, the profile's broadcast frames at their usual periods, and a
//! simulated user who presses the fob trunk button and then the cabin switch
//! while the car reacts as a scenario (one per cause id of the cause table)
//! dictates. Also an ECU clone that answers from a capture.
//!
//! Owns: the vehicle state, the scenario table, the BCM's answers, the
//! sans-IO [`SimVehicle`] and [`CaptureClone`], and the async runner that
//! drives them over any [`CanBus`](crate::transport::CanBus).
//!
//! Everything the car shows goes out through the profile: data replies and
//! broadcast frames are encoded from the state with the profile's item
//! definitions (`Field::encode`), so a profile change moves the simulator
//! with it. It must NOT know about verdicts, evidence, the analyzer or the
//! CLI: a scenario says what the car does, never what the tool should
//! conclude.

mod clone;
mod ecm;
pub mod layout;
mod record;
mod relearn;
mod reply;
mod responder;
mod runner;
mod scenario;
mod state;
mod vehicle;

pub use clone::{CaptureClone, LearnedPairs};
pub use record::RecordingBus;
pub use runner::{run, spawn_on, spawn_virtual, SimNode, DEFAULT_EPOCH_US};
pub use scenario::{DiagPath, FobPath, LidPath, RelearnPath, Scenario, ScenarioSpec, Wire};
pub use state::{Source, VehicleState};
pub use vehicle::{Press, SimVehicle};

use crate::frame::IfName;
use std::sync::{Arc, Mutex};

/// How the simulated car behaves apart from its scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Delay between a request and the BCM's answer (P2 on the ECU side).
    pub p2_us: u64,
    /// For slow services (the DTC read): a responsePending (`7F xx 78`)
    /// after `p2_us`, then the answer this much later. 0: answer directly.
    pub pending_us: u64,
    /// ISO-TP padding byte of the BCM's frames; `None`: minimal length.
    pub padding: Option<u8>,
    /// The user's presses, as offsets from the anchor: the first request a
    /// tester sends to the BCM (or `tester_wait_us` after start).
    pub presses: Vec<(u64, Press)>,
    /// Without a tester, the presses start this long after the car does;
    /// `None`: wait for a tester for ever.
    pub tester_wait_us: Option<u64>,
    /// The diagnostic session lapses after this long without a request (S3).
    pub s3_us: u64,
    /// Interface name stamped on the frames the car sends.
    pub iface: IfName,
    /// Send only what this bus of the profile carries, as an adapter wired
    /// to that bus alone hears the car: its broadcast frames, and the BCM's
    /// (or the engine ECU's) answers only when they are on it. `None`:
    /// every bus at the OBD connector on the one wire (a bus the profile
    /// gives no connector pins, such as one behind a gateway, is left out).
    pub only_bus: Option<String>,
    /// The simulated person tells the tool of each press here (bus time,
    /// input) when the profile's bus does not show that input: the word a
    /// person gives at a car whose body module is not published.
    pub told: ToldSink,
    /// Added to the scenario's resting battery voltage (a real car's
    /// battery is never exactly the scenario's 12.6 V).
    pub battery_offset_volts: f64,
}

/// Where the simulated person's told presses go (shared with the run that
/// watches the car); two sinks are equal when they are the same list.
#[derive(Clone, Debug, Default)]
pub struct ToldSink(pub Option<ToldList>);

/// Told presses as (bus time, input), oldest first.
pub type ToldList = Arc<Mutex<Vec<(u64, crate::profile::ReleaseInput)>>>;

impl PartialEq for ToldSink {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            p2_us: 20_000,
            pending_us: 250_000,
            padding: Some(0xCC),
            presses: vec![
                (2_000_000, Press::FobTrunk),
                (5_000_000, Press::CabinSwitch),
            ],
            tester_wait_us: Some(10_000_000),
            s3_us: 5_000_000,
            iface: IfName::new("vcan0").unwrap_or_default(),
            only_bus: None,
            told: ToldSink::default(),
            battery_offset_volts: 0.0,
        }
    }
}

impl SimConfig {
    /// The same car and scenario with what differs from one real recording
    /// to the next, drawn from `seed`: the BCM's answer delay (-10 to +15 ms
    /// around `p2_us`), its responsePending delay (-100 to +100 ms), each
    /// press's moment (within half a second either side) and the battery's
    /// resting voltage (within 0.2 V). Small enough that the scenario stays
    /// what it is (answers within P2, presses within the listen window, a
    /// healthy battery above any profile's low mark); the same seed gives
    /// the same car. Without a seed the car is the one the capture library
    /// was recorded with.
    pub fn varied(mut self, seed: u64) -> SimConfig {
        let mut rng = layout::Rng::new(seed);
        let mut around = |base: u64, below: u64, above: u64| {
            base.saturating_sub(below)
                .saturating_add(rng.below(below + above + 1))
                .max(1_000)
        };
        self.p2_us = around(self.p2_us, 10_000, 15_000);
        if self.pending_us > 0 {
            self.pending_us = around(self.pending_us, 100_000, 100_000);
        }
        for (at, _) in &mut self.presses {
            *at = around(*at, 500_000, 500_000);
        }
        self.battery_offset_volts = (rng.below(41) as f64 - 20.0) / 100.0;
        self
    }
}

/// Why a simulation could not be set up or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Scenarios are the causes and the relearn scenarios: the error names them.
    #[error("no scenario `{id}`: expected one of {}", Scenario::ids().join(", "))]
    UnknownScenario { id: String },
    #[error("reading the capture to clone: {0}")]
    Capture(#[from] crate::capture::CaptureError),
    #[error("the capture has no request/response pair between 0x{request} and 0x{response}: expected a recorded diagnostic session with this BCM")]
    NothingLearned { request: String, response: String },
    #[error(transparent)]
    Bus(#[from] crate::transport::BusError),
    #[error("profile {profile} has no bus `{name}`: expected one of {}", known.join(", "))]
    UnknownBus {
        profile: String,
        name: String,
        known: Vec<String>,
    },
}

/// Checks that `cfg.only_bus`, when given, names a bus of the profile.
pub fn check_only_bus(profile: &crate::profile::Profile, cfg: &SimConfig) -> Result<(), SimError> {
    match &cfg.only_bus {
        Some(name) if profile.bus(name).is_none() => Err(SimError::UnknownBus {
            profile: profile.id.clone(),
            name: name.clone(),
            known: profile.buses.iter().map(|b| b.name.clone()).collect(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
