//! The actions a person takes so each role can be learned: what to do, the
//! labels of the states it moves through, and how to mark them offline.
//! The live guide walks through them; `learn` names them for every role it
//! could not learn.

use crate::profile::Role;

/// One action for one role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action {
    pub role: Role,
    /// What the person does for each label, in order, e.g. `[("1", "lock the doors with the fob"), ...]`.
    pub steps: &'static [(&'static str, &'static str)],
    /// A momentary action (a button press): the value falls back by itself,
    /// so only the press is marked.
    pub momentary: bool,
}

/// The actions, in the order the live guide asks for them.
pub const ACTIONS: &[Action] = &[
    Action {
        role: Role::DoorsLocked,
        steps: &[
            ("1", "lock the doors (fob lock button or door switch)"),
            ("0", "unlock the doors"),
        ],
        momentary: false,
    },
    Action {
        role: Role::LidOpen,
        steps: &[
            ("1", "open the trunk lid by hand or with the key blade"),
            ("0", "close the trunk lid"),
        ],
        momentary: false,
    },
    Action {
        role: Role::FobTrunkRequest,
        steps: &[(
            "1",
            "press the fob's trunk button (close the lid again after)",
        )],
        momentary: true,
    },
    Action {
        role: Role::CabinTrunkRequest,
        steps: &[(
            "1",
            "press the cabin trunk-release switch (close the lid again after)",
        )],
        momentary: true,
    },
    Action {
        role: Role::IgnitionOn,
        steps: &[
            ("0", "turn the ignition off"),
            ("1", "turn the ignition on (engine off)"),
        ],
        momentary: false,
    },
    Action {
        role: Role::Lockout,
        steps: &[
            (
                "1",
                "switch the valet / trunk-cancel switch to cancel (skip if the car has none)",
            ),
            ("0", "switch it back"),
        ],
        momentary: false,
    },
];

/// The action for a role, if the guide has one.
pub fn action(role: Role) -> Option<&'static Action> {
    ACTIONS.iter().find(|a| a.role == role)
}

/// How to learn a role that was not learned, in one line.
pub fn how_to(role: Role) -> String {
    match action(role) {
        Some(a) => {
            let marks: Vec<String> = a
                .steps
                .iter()
                .map(|(label, what)| format!("{what} (--event {role}={label}@SECONDS)"))
                .collect();
            format!(
                "record a capture while you {}; mark each moment, at least twice; or run `trunkdiag learn --iface IF` and follow the prompts",
                marks.join(", then ")
            )
        }
        None => format!("mark the moments {role} changes with --event {role}=VALUE@SECONDS"),
    }
}

/// One prompt of a guided session: at `at_us` the person is told "now".
#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    pub at_us: u64,
    pub role: Role,
    pub label: &'static str,
    pub what: &'static str,
}

/// The guided session: after `start_us` (the end of the baseline), every
/// step of every action `rounds` times, one "now" every `gap_us`.
pub fn plan(start_us: u64, gap_us: u64, rounds: usize) -> Vec<Prompt> {
    let steps: Vec<Step> = ACTIONS.iter().flat_map(steps_of).collect();
    let steps = (0..rounds).flat_map(|_| steps.iter().copied());
    timed(steps, start_us, gap_us)
}

/// Once more for `roles` (the ones whose best places tie): every step of
/// each one's action, in the guide's order, from `start_us`, one "now"
/// every `gap_us`.
pub fn again(roles: &[Role], start_us: u64, gap_us: u64) -> Vec<Prompt> {
    let steps = ACTIONS
        .iter()
        .filter(|a| roles.contains(&a.role))
        .flat_map(steps_of);
    timed(steps, start_us, gap_us)
}

type Step = (Role, &'static str, &'static str);

fn steps_of(a: &'static Action) -> impl Iterator<Item = Step> {
    a.steps.iter().map(move |(l, w)| (a.role, *l, *w))
}

fn timed(steps: impl Iterator<Item = Step>, start_us: u64, gap_us: u64) -> Vec<Prompt> {
    steps
        .enumerate()
        .map(|(i, (role, label, what))| Prompt {
            at_us: start_us + i as u64 * gap_us,
            role,
            label,
            what,
        })
        .collect()
}
