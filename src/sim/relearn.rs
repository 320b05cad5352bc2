//! The simulated power lid's relearn: which of the profile's `[relearn]`
//! steps the car has seen, in order, what the simulated person does for
//! each, and the answers of a calibration routine. Sans-IO, read by
//! [`super::vehicle`]; like the rest of the simulator it knows what the car
//! does, never what the tool should conclude.

use crate::profile::{Confirm, Profile, RelearnStep};

use super::scenario::RelearnPath;
use super::state::{Source, VehicleState};

/// The person's first step comes this long after the car starts, and each
/// next one this long after the last (long enough for a tool watching
/// 100 ms frames to see each before the next).
pub(super) const FIRST_STEP_US: u64 = 2_000_000;
pub(super) const STEP_GAP_US: u64 = 3_000_000;

/// A power lid waiting for its relearn.
#[derive(Debug)]
pub(super) struct RelearnCar {
    steps: Vec<RelearnStep>,
    /// How many steps the car has seen, in order.
    seen: usize,
    /// The step the person never does.
    missed: Option<usize>,
    /// A routine was started (`31 01`) and not yet read.
    started: Option<u16>,
}

impl RelearnCar {
    /// The relearn the scenario asks for, when the profile has a procedure.
    pub fn new(profile: &Profile, path: RelearnPath) -> Option<RelearnCar> {
        if path == RelearnPath::NotNeeded {
            return None;
        }
        let steps = profile.relearn.as_ref()?.steps.clone();
        let missed = match path {
            RelearnPath::StepMissed => steps
                .iter()
                .rposition(|s| matches!(s.confirm, Confirm::Becomes { .. }))
                .or_else(|| {
                    steps
                        .iter()
                        .rposition(|s| matches!(s.confirm, Confirm::Routine { .. }))
                }),
            _ => None,
        };
        Some(RelearnCar {
            steps,
            seen: 0,
            missed,
            started: None,
        })
    }

    /// The car as the power loss left it: every value a step waits to
    /// change reads otherwise (the gate open, the doors locked).
    pub fn power_lost(&self, state: &mut VehicleState) {
        for s in self.steps.iter().rev() {
            if let Confirm::Becomes { role, value } = s.confirm {
                state.set(role, if value == 0.0 { 1.0 } else { 0.0 });
            }
        }
    }

    /// What the person does and when (offsets from the anchor): step `k`'s
    /// value, for each step a person does, in order; `None` when the step
    /// is the tool's (a routine) or the missed one.
    pub fn actions(&self) -> Vec<(u64, usize)> {
        let mut at = FIRST_STEP_US;
        let mut out = Vec::new();
        for (k, s) in self.steps.iter().enumerate() {
            if s.confirm.role().is_some() && self.missed != Some(k) {
                out.push((at, k));
            }
            at = at.saturating_add(STEP_GAP_US);
        }
        out
    }

    /// When the person presses the fob to see the lid work: after the last step.
    pub fn check_at(&self) -> u64 {
        FIRST_STEP_US
            .saturating_add(STEP_GAP_US.saturating_mul(self.steps.len() as u64))
            .saturating_add(1_000_000)
    }

    /// The person does step `k`: its role now reads its value.
    pub fn act(&self, k: usize, state: &mut VehicleState) {
        if let Some(Confirm::Becomes { role, value } | Confirm::Equals { role, value }) =
            self.steps.get(k).map(|s| &s.confirm)
        {
            state.set(*role, *value);
        }
    }

    /// Advances over every next step the state now shows.
    pub fn observe(&mut self, state: &VehicleState) {
        while let Some(s) = self.steps.get(self.seen) {
            let shown = match s.confirm {
                Confirm::Becomes { role, value } | Confirm::Equals { role, value } => {
                    state.value(role, Source::Broadcast) == value
                }
                Confirm::Routine { .. } => false,
            };
            if !shown {
                return;
            }
            self.seen += 1;
        }
    }

    /// Every step seen: the lid works again.
    pub fn done(&self) -> bool {
        self.seen >= self.steps.len()
    }

    /// The answer to a routine request of the profile's (`31 01 id`, `31 03
    /// id`); `None` for any other request. The result passes when every
    /// step before the routine was seen and the routine is not the missed one.
    pub fn routine(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let [0x31, sub, hi, lo, ..] = *payload else {
            return None;
        };
        let id = u16::from_be_bytes([hi, lo]);
        let (k, pass, fail) =
            self.steps
                .iter()
                .enumerate()
                .find_map(|(k, s)| match &s.confirm {
                    Confirm::Routine { id: r, pass, fail } if *r == id => {
                        Some((k, pass.clone(), fail.clone()))
                    }
                    _ => None,
                })?;
        match sub {
            0x01 => {
                self.started = Some(id);
                Some(vec![0x71, 0x01, hi, lo])
            }
            0x03 => {
                let ok = self.started == Some(id) && self.seen == k && self.missed != Some(k);
                let mut reply = vec![0x71, 0x03, hi, lo];
                if ok {
                    self.seen += 1;
                    self.started = None;
                    reply.extend(pass);
                } else {
                    reply.extend(fail);
                }
                Some(reply)
            }
            _ => None,
        }
    }
}
