//! `trunkdiag relearn`: walks a person through the profile's relearn of a
//! power liftgate or trunk (after battery work), confirming each step on
//! the bus before the next, and checks at the end that the lid works.
//!
//! Reading only, but for a step that runs a calibration routine (UDS 0x31):
//! an actuation, run only with `--run-routine` (and a yes at a terminal).
//! Every live run goes through [`Tester::run`], so whatever ends it, the
//! session is left. The watching itself is [`crate::relearn`]'s.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use tokio::time::Instant;

use super::{exit, CliError, CliResult};
use crate::diag::client::ClientConfig;
use crate::diag::safety::{self, Change, PermitError};
use crate::diag::{uds, Protocol};
use crate::frame::{CanFrame, CanId, IfName};
use crate::isotp::IsoTpConfig;
use crate::profile::{Confirm, Level, Profile, Relearn, RelearnStep, Role};
use crate::relearn::{polled_read, routine_result, RoutineResult, Sighting, Watch};
use crate::tester::{Response, Shutdown, Tester, TesterError};
use crate::transport::CanBus;

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["iface", "sim"]))]
pub struct RelearnArgs {
    #[arg(long, help = format!(
        "The adapter on the car: {}.",
        crate::transport::BusUse::Tester.forms()
    ))]
    pub iface: Option<String>,
    /// The built-in simulated car instead, in this scenario (on virtual
    /// time, it takes milliseconds): `trunkdiag simulate --list --relearn`.
    #[arg(long, value_name = "SCENARIO")]
    pub sim: Option<String>,
    /// The car's profile, by name or path: its [relearn] is the procedure.
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: String,
    /// Print JSON for scripts (the instructions go to stderr).
    #[arg(long)]
    pub json: bool,
    /// Also write a self-contained HTML page of the steps and their evidence.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Allow the procedure's calibration routine (UDS 31 01) on the body
    /// module: it makes the module act.
    #[arg(long)]
    pub run_routine: bool,
    /// With --run-routine: do not ask at the terminal before running it.
    #[arg(long, requires = "run_routine")]
    pub yes: bool,
}

/// How often the bus is looked at while a step is watched, and a data
/// read polled when the bus does not show the step's value by itself.
const POLL: Duration = Duration::from_millis(100);
const DATA_POLL: Duration = Duration::from_millis(250);
/// How often a routine's result is asked for while it runs.
const ROUTINE_POLL: Duration = Duration::from_millis(500);
/// How long the final check waits for the lid to open.
const CHECK_TIMEOUT_US: u64 = 120_000_000;
/// Frames kept between two looks (a bounded buffer whatever the bus load).
const FRAMES_MAX: usize = 20_000;

/// What happened to one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Status {
    Confirmed,
    NotConfirmed,
    NotReached,
}

/// A step's evidence.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Evidence {
    /// A value the profile reads, seen on the bus.
    Value {
        /// Seconds from the first frame heard.
        at_s: f64,
        #[serde(flatten)]
        seen: Sighting,
        words: String,
    },
    /// A routine's answer.
    Routine {
        at_s: f64,
        request: String,
        answer: String,
        result: Option<RoutineResult>,
        words: String,
    },
}

impl Evidence {
    fn words(&self) -> &str {
        match self {
            Evidence::Value { words, .. } | Evidence::Routine { words, .. } => words,
        }
    }
    fn at_s(&self) -> f64 {
        match self {
            Evidence::Value { at_s, .. } | Evidence::Routine { at_s, .. } => *at_s,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
struct StepOut {
    /// 1-based; the final check is not numbered.
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<usize>,
    #[serde(rename = "do")]
    action: String,
    confirm: String,
    timeout_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<Level>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    status: Status,
    evidence: Option<Evidence>,
    /// The last value of the watched role, when the step was not confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_value: Option<f64>,
    /// What to check: present when the step was not confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    if_not: Option<String>,
}

#[derive(Debug, Serialize)]
struct RestsOn {
    level: Level,
    heading: &'static str,
    items: Vec<String>,
}

/// The whole run: what `--json` prints and the report shows.
#[derive(Debug, Serialize)]
struct Outcome {
    profile: String,
    vehicle: String,
    source: String,
    procedure: String,
    level: Level,
    procedure_source: String,
    steps: Vec<StepOut>,
    check: Option<StepOut>,
    /// `working`, `step-not-confirmed` or `check-failed`.
    result: &'static str,
    summary: String,
    /// What the run rests on below "this model".
    rests_on: Vec<RestsOn>,
    notes: Vec<String>,
    exit: u8,
}

pub fn run(args: RelearnArgs) -> CliResult<u8> {
    if args.profile == "auto" {
        return Err(CliError::Usage(
            "relearn --profile auto: a relearn is the make's own procedure, so name the car's profile (trunkdiag profiles list)",
        ));
    }
    let profile = crate::profile::load(&args.profile)?;
    let Some(relearn) = profile.relearn.clone() else {
        return Err(CliError::NoRelearn {
            profile: profile.id.clone(),
        });
    };
    let routines: Vec<(usize, u16)> = relearn
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s.confirm {
            Confirm::Routine { id, .. } => Some((i + 1, id)),
            _ => None,
        })
        .collect();
    if let Some(&(step, id)) = routines.first() {
        if !args.run_routine {
            return Err(CliError::RoutineNotAllowed { step, routine: id });
        }
        // `--run-routine` allows this one class, actuation; each start
        // request still goes through the classifier every command uses.
        for &(_, id) in &routines {
            let start = uds::routine_control(uds::routine::START, id, &[], false);
            if let Err(PermitError::Denied(denied)) =
                safety::permit(Protocol::Uds, &start, &[Change::Actuate])
            {
                return Err(CliError::Denied {
                    request: crate::hex::encode_upper(&start),
                    denied,
                });
            }
        }
        if !args.yes && io::stdin().is_terminal() && !confirm_routine(&routines)? {
            return Err(CliError::Usage(
                "the routine was not allowed: nothing was sent",
            ));
        }
    }
    let mut ui = Ui {
        out: if args.json {
            Box::new(io::stderr())
        } else {
            Box::new(io::stdout())
        },
    };
    let source = match (&args.sim, &args.iface) {
        (Some(s), _) => format!("simulator, scenario {s}"),
        (None, Some(i)) => format!("interface {i}"),
        (None, None) => String::new(),
    };
    ui.intro(&profile, &relearn)?;
    let (walk, notes) = match (&args.sim, &args.iface) {
        (Some(scenario), _) => on_sim(&profile, &relearn, scenario, &mut ui)?,
        (None, Some(iface)) => on_iface(&profile, &relearn, iface, &mut ui)?,
        (None, None) => return Err(CliError::Usage("give --iface or --sim")),
    };
    let outcome = outcome(&profile, &relearn, source, walk, notes);
    ui.end(&outcome)?;
    if args.json {
        let mut out = io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &outcome)?;
        writeln!(out)?;
    }
    if let Some(path) = &args.report {
        let page = page(&outcome, &super::html::now());
        std::fs::write(path, page).map_err(|source| CliError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(outcome.exit)
}

/// At a terminal: may the routine(s) run? Anything but y/yes is a no.
fn confirm_routine(routines: &[(usize, u16)]) -> CliResult<bool> {
    let list: Vec<String> = routines
        .iter()
        .map(|(s, id)| format!("step {s}: UDS routine 0x{id:04X}"))
        .collect();
    Ok(super::request::ask_yes(&format!(
        "This relearn makes the body module run a calibration routine ({}), which moves the lid. Run it when its step comes? [y/N] ",
        list.join(", ")
    ))?)
}

/// The steps as watched, and the final check (when every step was seen).
struct Walk {
    steps: Vec<StepOut>,
    check: Option<StepOut>,
}

/// `--sim`: the simulated car on the in-process virtual bus, on tokio's
/// paused clock.
fn on_sim(
    profile: &Profile,
    relearn: &Relearn,
    scenario: &str,
    ui: &mut Ui,
) -> CliResult<(Walk, Vec<String>)> {
    let scenario = crate::sim::Scenario::from_id(scenario)?;
    let cfg = crate::sim::SimConfig::default();
    let name = cfg.iface;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    let walk = rt.block_on(async {
        let bus = crate::transport::VirtualBus::new(crate::sim::DEFAULT_EPOCH_US);
        let _ignition_on = bus.hold();
        drop(crate::sim::spawn_on(&bus, profile, scenario, cfg));
        walk(
            bus.endpoint(name),
            name,
            profile,
            relearn,
            ui,
            Shutdown::new(),
        )
        .await
    })?;
    Ok((walk, Vec::new()))
}

/// `--iface`: the car.
fn on_iface(
    profile: &Profile,
    relearn: &Relearn,
    iface: &str,
    ui: &mut Ui,
) -> CliResult<(Walk, Vec<String>)> {
    let spec = super::iface_spec(iface)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let walk = rt.block_on(async {
        let bus = spec.open(crate::diagnose::physical_bus(profile))?;
        let notes = bus.notes();
        let w = walk(
            bus,
            spec.name(),
            profile,
            relearn,
            ui,
            Shutdown::on_signals(),
        )
        .await?;
        Ok::<_, CliError>((w, notes))
    })?;
    Ok(walk)
}

/// What the frame tap keeps for the step loop.
#[derive(Default)]
struct Heard {
    /// Profile broadcast frames since the last look.
    frames: Vec<CanFrame>,
    /// Bus time of the first and the last frame heard (any frame).
    first_us: Option<u64>,
    last_us: u64,
}

type Shared = Arc<Mutex<Heard>>;

fn take(heard: &Shared) -> (Vec<CanFrame>, u64) {
    let mut h = heard.lock().unwrap_or_else(|p| p.into_inner());
    (std::mem::take(&mut h.frames), h.last_us)
}

fn t0(heard: &Shared) -> u64 {
    let h = heard.lock().unwrap_or_else(|p| p.into_inner());
    h.first_us.unwrap_or(h.last_us)
}

/// Runs the steps over `bus` under [`Tester::run`].
async fn walk<B: CanBus>(
    bus: B,
    iface: IfName,
    profile: &Profile,
    relearn: &Relearn,
    ui: &mut Ui,
    shutdown: Shutdown,
) -> CliResult<Walk> {
    let (mut isotp, client) = match profile.bcm() {
        Some(bcm) => {
            let mut isotp = IsoTpConfig::new(bcm.request_id, bcm.response_id);
            isotp.addressing = bcm.addressing.into();
            let mut client = ClientConfig::for_protocol(bcm.protocol);
            if let Some(k) = &bcm.keep_alive {
                client.keepalive = k.request.clone();
            }
            if let Some(ms) = bcm.keep_alive_period_ms {
                client.s3_keepalive_us = Some(u64::from(ms) * 1000);
            }
            (isotp, client)
        }
        // No body module: nothing is ever sent (steps read broadcasts).
        None => (
            IsoTpConfig::new(CanId::Standard(0x7E0), CanId::Standard(0x7E8)),
            ClientConfig::uds(),
        ),
    };
    isotp.iface = iface;
    let mut tester = Tester::new(bus, isotp, client, shutdown);
    let heard: Shared = Arc::default();
    let tap_heard = Arc::clone(&heard);
    let tap_profile = profile.clone();
    tester.set_tap(Box::new(move |frame, _dir| {
        let mut h = tap_heard.lock().unwrap_or_else(|p| p.into_inner());
        h.first_us.get_or_insert(frame.timestamp_us);
        h.last_us = h.last_us.max(frame.timestamp_us);
        if h.frames.len() < FRAMES_MAX && tap_profile.broadcast_index(frame.id).is_some() {
            h.frames.push(*frame);
        }
    }));
    let walk = tester
        .run(async |t| {
            let mut steps = Vec::new();
            let mut session_open = false;
            let mut all = true;
            for (i, step) in relearn.steps.iter().enumerate() {
                if !all {
                    steps.push(step_out(
                        profile,
                        Some(i + 1),
                        step,
                        Status::NotReached,
                        None,
                        None,
                    ));
                    continue;
                }
                ui.step(i + 1, relearn.steps.len(), step);
                let (status, evidence, last) = match &step.confirm {
                    Confirm::Routine { id, pass, fail } => {
                        open_session(t, profile, &mut session_open).await?;
                        routine(t, &heard, *id, pass, fail, step.timeout_us).await?
                    }
                    _ => {
                        let Some(mut w) = Watch::new(profile, &step.confirm) else {
                            continue;
                        };
                        watch(
                            t,
                            &heard,
                            profile,
                            &mut w,
                            step.timeout_us,
                            ui,
                            &mut session_open,
                        )
                        .await?
                    }
                };
                ui.seen(status, evidence.as_ref(), last, step);
                all &= status == Status::Confirmed;
                steps.push(step_out(profile, Some(i + 1), step, status, evidence, last));
            }
            let check = if all && profile.has_role(Role::LidOpen) {
                let check = final_check(profile);
                ui.check(&check);
                let mut w = Watch::lid_opens(profile);
                let (status, evidence, last) = watch(
                    t,
                    &heard,
                    profile,
                    &mut w,
                    CHECK_TIMEOUT_US,
                    ui,
                    &mut session_open,
                )
                .await?;
                let mut out = step_out(profile, None, &check, status, evidence, last);
                out.level = None;
                out.source = None;
                Some(out)
            } else {
                None
            };
            Ok(Walk { steps, check })
        })
        .await;
    walk.map_err(CliError::from)
}

/// The end of the procedure: the lid opens when asked.
fn final_check(profile: &Profile) -> RelearnStep {
    RelearnStep {
        action: profile.lid.words(
            "Open the trunk with its switch or the key fob's trunk button: it should now open by itself.",
        ),
        confirm: Confirm::Becomes {
            role: Role::LidOpen,
            value: 1.0,
        },
        timeout_us: CHECK_TIMEOUT_US,
        if_not: profile.lid.words(
            "every step was seen, but the trunk did not open: do the procedure again from the start (disconnect the battery's negative terminal for 10 s first if the make says so), then run trunkdiag diagnose to see where the release stops",
        ),
        item: relearn_item(profile),
    }
}

fn relearn_item(profile: &Profile) -> crate::profile::ItemRef {
    profile
        .relearn
        .as_ref()
        .map_or(crate::profile::ItemRef(0), |r| r.item)
}

/// The session a data read or a routine needs, opened once.
async fn open_session<B: CanBus>(
    t: &mut Tester<B>,
    profile: &Profile,
    open: &mut bool,
) -> Result<(), TesterError> {
    if *open {
        return Ok(());
    }
    *open = true;
    let session = profile
        .bcm()
        .and_then(|b| b.session.as_ref())
        .and_then(|s| match s.request.as_slice() {
            [0x10, s] => Some(*s),
            _ => None,
        });
    if let Some(s) = session {
        t.open_session(s).await?;
    }
    Ok(())
}

type StepResult = (Status, Option<Evidence>, Option<f64>);

/// Watches the bus (and polls the data read that carries the role, when
/// the bus does not show it) until the step is seen or its time is up.
#[allow(clippy::too_many_arguments)]
async fn watch<B: CanBus>(
    t: &mut Tester<B>,
    heard: &Shared,
    profile: &Profile,
    w: &mut Watch<'_>,
    timeout_us: u64,
    ui: &mut Ui,
    session_open: &mut bool,
) -> Result<StepResult, TesterError> {
    let deadline = Instant::now() + Duration::from_micros(timeout_us);
    let poll = polled_read(profile, w.role());
    let mut next_poll = Instant::now();
    let mut hinted = false;
    // Frames heard before the step began are not its evidence.
    take(heard);
    loop {
        let (frames, last_us) = take(heard);
        for f in &frames {
            if let Some(seen) = w.frame(f) {
                return Ok((Status::Confirmed, Some(value_evidence(heard, seen)), None));
            }
        }
        if let Some(key) = poll.filter(|_| Instant::now() >= next_poll) {
            next_poll = Instant::now() + DATA_POLL;
            let needs = profile
                .data_reads()
                .iter()
                .any(|r| r.key == key && r.needs_session);
            if needs {
                open_session(t, profile, session_open).await?;
            }
            if let Response::Positive { payload } = t.request(&key.request()).await? {
                let at = heard.lock().map_or(last_us, |h| h.last_us.max(last_us));
                if let Some(rest) = payload.strip_prefix(key.echo().as_slice()) {
                    if let Some(seen) = w.data(at, key, rest) {
                        return Ok((Status::Confirmed, Some(value_evidence(heard, seen)), None));
                    }
                }
            }
        }
        if !hinted && w.already() == Some(true) {
            hinted = true;
            ui.already(w.role(), profile);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok((Status::NotConfirmed, None, w.last_value()));
        }
        t.idle(POLL.min(deadline - now)).await?;
    }
}

fn value_evidence(heard: &Shared, seen: Sighting) -> Evidence {
    let at_s = seen.at_us.saturating_sub(t0(heard)) as f64 / 1e6;
    Evidence::Value {
        at_s,
        words: format!("{} at {at_s:.3} s", seen.words()),
        seen,
    }
}

/// Starts the routine and asks for its result until it passes, fails or
/// its time is up.
async fn routine<B: CanBus>(
    t: &mut Tester<B>,
    heard: &Shared,
    id: u16,
    pass: &[u8],
    fail: &[u8],
    timeout_us: u64,
) -> Result<StepResult, TesterError> {
    let deadline = Instant::now() + Duration::from_micros(timeout_us);
    let at = |heard: &Shared| {
        let (_, last) = take(heard);
        last.saturating_sub(t0(heard)) as f64 / 1e6
    };
    let start = uds::routine_control(uds::routine::START, id, &[], false);
    let evidence = |req: &[u8], answer: &[u8], result: Option<RoutineResult>, at_s: f64| {
        let what = match &result {
            Some(RoutineResult::Pass) => "passed".to_owned(),
            Some(RoutineResult::Fail) => "failed".to_owned(),
            Some(RoutineResult::Other) => "still running or an unnamed status".to_owned(),
            None => {
                crate::diag::describe::describe(
                    crate::diag::Protocol::Uds,
                    answer,
                    crate::diag::Dir::Response,
                )
                .detail
            }
        };
        Evidence::Routine {
            at_s,
            request: crate::hex::encode_upper(req),
            answer: crate::hex::encode_upper(answer),
            words: format!(
                "routine 0x{id:04X}: {} → {} ({what}) at {at_s:.3} s",
                crate::hex::encode_upper(req),
                crate::hex::encode_upper(answer)
            ),
            result,
        }
    };
    match t.request(&start).await? {
        Response::Positive { .. } | Response::Suppressed => {}
        Response::Negative { payload, .. } => {
            let e = evidence(&start, &payload, None, at(heard));
            return Ok((Status::NotConfirmed, Some(e), None));
        }
    }
    let results = uds::routine_control(uds::routine::REQUEST_RESULTS, id, &[], false);
    loop {
        let answer = match t.request(&results).await? {
            Response::Positive { payload } => payload,
            Response::Suppressed => Vec::new(),
            Response::Negative { payload, .. } => payload,
        };
        let result = routine_result(id, pass, fail, &answer);
        let e = evidence(&results, &answer, result.clone(), at(heard));
        match result {
            Some(RoutineResult::Pass) => return Ok((Status::Confirmed, Some(e), None)),
            Some(RoutineResult::Fail) => return Ok((Status::NotConfirmed, Some(e), None)),
            _ => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok((Status::NotConfirmed, Some(e), None));
        }
        t.idle(ROUTINE_POLL.min(deadline - now)).await?;
    }
}

fn step_out(
    profile: &Profile,
    n: Option<usize>,
    step: &RelearnStep,
    status: Status,
    evidence: Option<Evidence>,
    last_value: Option<f64>,
) -> StepOut {
    let item = profile.item(step.item);
    StepOut {
        step: n,
        action: step.action.clone(),
        confirm: step.confirm.words(),
        timeout_s: step.timeout_us as f64 / 1e6,
        level: item.map(|i| i.level),
        source: item.map(|i| i.source.clone()),
        status,
        evidence,
        last_value,
        if_not: (status == Status::NotConfirmed).then(|| step.if_not.clone()),
    }
}

fn outcome(
    profile: &Profile,
    relearn: &Relearn,
    source: String,
    walk: Walk,
    notes: Vec<String>,
) -> Outcome {
    let used: Vec<crate::profile::ItemRef> = walk
        .steps
        .iter()
        .chain(walk.check.iter())
        .filter_map(|s| match &s.evidence {
            Some(Evidence::Value { seen, .. }) => Some(seen.item_ref),
            _ => None,
        })
        .collect();
    let rests_on = crate::relearn::rests_on(profile, &used)
        .into_iter()
        .map(|(level, items)| RestsOn {
            level,
            heading: crate::verdict::text::level_heading(level),
            items,
        })
        .collect();
    let missed = walk.steps.iter().find(|s| s.status == Status::NotConfirmed);
    let lid = profile.lid.as_str();
    let (result, summary, code) = match (missed, &walk.check) {
        (Some(s), _) => (
            "step-not-confirmed",
            format!(
                "Step {} not confirmed within {} s: check {}.",
                s.step.unwrap_or(0),
                s.timeout_s,
                s.if_not.as_deref().unwrap_or("the step")
            ),
            exit::FAULT,
        ),
        (None, Some(c)) if c.status != Status::Confirmed => (
            "check-failed",
            format!(
                "Every step was seen, but the {lid} did not open within {} s: {}.",
                c.timeout_s,
                c.if_not.as_deref().unwrap_or_default()
            ),
            exit::FAULT,
        ),
        (None, Some(_)) => (
            "working",
            format!("Every step was seen on the bus, and the {lid} opened: it works again."),
            exit::OK,
        ),
        (None, None) => (
            "working",
            format!(
                "Every step was seen on the bus, the last one the module's own result: the {lid} is relearned."
            ),
            exit::OK,
        ),
    };
    let item = profile.item(relearn.item);
    Outcome {
        profile: profile.id.clone(),
        vehicle: format!(
            "{} {} {}-{}",
            profile.make, profile.model, profile.years.0, profile.years.1
        ),
        source,
        procedure: relearn.procedure.clone(),
        level: item.map_or(Level::Placeholder, |i| i.level),
        procedure_source: item.map(|i| i.source.clone()).unwrap_or_default(),
        steps: walk.steps,
        check: walk.check,
        result,
        summary,
        rests_on,
        notes,
        exit: code,
    }
}

/// What the person reads as the run goes (stdout, or stderr with --json).
struct Ui {
    out: Box<dyn Write>,
}

impl Ui {
    fn intro(&mut self, profile: &Profile, relearn: &Relearn) -> io::Result<()> {
        let item = profile.item(relearn.item);
        writeln!(
            self.out,
            "Relearn: {} ({} {}, profile {}).",
            relearn.procedure, profile.make, profile.model, profile.id
        )?;
        if let Some(i) = item.filter(|i| i.level != Level::ThisModel) {
            writeln!(
                self.out,
                "The procedure is {} ({}).",
                i.level.label(),
                i.source
            )?;
        }
        writeln!(
            self.out,
            "Each step is watched on the bus before the next one.\n"
        )
    }

    /// The steps' lines are written as they come; a closed output is no
    /// reason to leave the car mid-procedure, so write errors are dropped
    /// here (the closing lines and the JSON report them).
    fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}").and_then(|()| self.out.flush());
    }

    fn step(&mut self, n: usize, of: usize, step: &RelearnStep) {
        self.say(&format!(
            "Step {n} of {of}: {}\n  waiting up to {} s for {}",
            step.action,
            step.timeout_us / 1_000_000,
            step.confirm.words()
        ));
    }

    fn check(&mut self, step: &RelearnStep) {
        self.say(&format!(
            "Check: {}\n  waiting up to {} s for {}",
            step.action,
            step.timeout_us / 1_000_000,
            step.confirm.words()
        ));
    }

    fn already(&mut self, role: Role, profile: &Profile) {
        self.say(&format!(
            "  the {} already reads that: undo it and do it again, so that the module sees it happen",
            profile.lid.words(role.short_word())
        ));
    }

    fn seen(
        &mut self,
        status: Status,
        evidence: Option<&Evidence>,
        last: Option<f64>,
        step: &RelearnStep,
    ) {
        let still = match (step.confirm.role(), last) {
            (Some(role), Some(v)) => format!(" ({role} still reads {v})"),
            (Some(role), None) => format!(" (no {role} value was heard at all)"),
            (None, _) => String::new(),
        };
        let line = match (status, evidence) {
            (Status::Confirmed, Some(e)) => format!("  confirmed: {}", e.words()),
            (_, Some(e)) => format!("  not confirmed: {}", e.words()),
            _ => format!("  not seen within {} s{still}", step.timeout_us / 1_000_000),
        };
        self.say(&line);
    }

    fn end(&mut self, o: &Outcome) -> io::Result<()> {
        if let Some(c) = &o.check {
            match (&c.status, &c.evidence) {
                (Status::Confirmed, Some(e)) => writeln!(self.out, "  confirmed: {}", e.words())?,
                _ => writeln!(self.out, "  not seen within {} s", c.timeout_s)?,
            }
        }
        writeln!(self.out, "\nResult: {}", o.summary)?;
        if !o.rests_on.is_empty() {
            writeln!(self.out, "\nWhat it rests on, below \"this model\":")?;
            for r in &o.rests_on {
                writeln!(self.out, "  {}: {}", r.level.label(), r.items.join("; "))?;
            }
        }
        for n in &o.notes {
            writeln!(self.out, "Note: {n}.")?;
        }
        self.out.flush()
    }
}

/// The `--report` page: the procedure, each step with its evidence, the
/// result and what it rests on.
fn page(o: &Outcome, generated: &str) -> String {
    use super::html::{esc, list, page_end, page_start};
    use std::fmt::Write as _;
    let mut h = page_start(&format!("trunkdiag relearn: {}", o.result));
    let _ = write!(
        h,
        "<header>\n<h1>Relearn: {}</h1>\n<dl class=\"meta\">\n\
         <dt>Vehicle profile</dt><dd>{} ({})</dd>\n<dt>Source</dt><dd>{}</dd>\n\
         <dt>Procedure</dt><dd>{} <span class=\"src\">({}: {})</span></dd>\n\
         <dt>Report made</dt><dd>{}</dd>\n</dl>\n</header>\n",
        esc(&o.procedure),
        esc(&o.profile),
        esc(&o.vehicle),
        esc(&o.source),
        esc(&o.procedure),
        esc(o.level.label()),
        esc(&o.procedure_source),
        esc(generated)
    );
    let class = if o.exit == exit::OK { "ok" } else { "fault" };
    let _ = writeln!(
        h,
        "<section class=\"verdict {class}\" aria-labelledby=\"result-h\">\n\
         <h2 id=\"result-h\">Result: {}</h2>\n<p class=\"summary\">{}</p>\n</section>",
        esc(o.result),
        esc(&o.summary)
    );
    h.push_str(
        "<section aria-labelledby=\"steps-h\">\n<h2 id=\"steps-h\">Steps</h2>\n<table>\n\
         <thead><tr><th scope=\"col\">#</th><th scope=\"col\">What the person does</th>\
         <th scope=\"col\">Confirmed by</th><th scope=\"col\">Status</th>\
         <th scope=\"col\">Evidence</th></tr></thead>\n<tbody>\n",
    );
    for s in o.steps.iter().chain(o.check.iter()) {
        let n = s.step.map_or_else(|| "check".to_owned(), |n| n.to_string());
        let status = match s.status {
            Status::Confirmed => "✔ confirmed",
            Status::NotConfirmed => "✘ not confirmed",
            Status::NotReached => "– not reached",
        };
        let evidence = match (&s.evidence, &s.if_not) {
            (Some(e), Some(c)) => format!("{}; check {}", e.words(), c),
            (Some(e), None) => format!("{} (at {:.3} s)", e.words(), e.at_s()),
            (None, Some(c)) => format!("not seen within {} s; check {c}", s.timeout_s),
            (None, None) => String::new(),
        };
        let level = s
            .level
            .map(|l| format!(" <span class=\"src\">({})</span>", esc(l.label())))
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}{level}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&n),
            esc(&s.action),
            esc(&s.confirm),
            esc(status),
            esc(&evidence)
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
    if !o.rests_on.is_empty() {
        h.push_str(
            "<section aria-labelledby=\"rests-h\">\n<h2 id=\"rests-h\">What this rests on, below \"this model\"</h2>\n",
        );
        for r in &o.rests_on {
            let _ = writeln!(
                h,
                "<h3>{}</h3>\n<p class=\"items\">{}</p>",
                esc(r.heading),
                esc(&r.items.join("; "))
            );
        }
        h.push_str("</section>\n");
    }
    list(&mut h, "notes", "Notes", &o.notes, false);
    page_end(&mut h);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A relearn that polls the module (in its session) leaves the session
    /// at the end: the last request on the module's id is `10 01`.
    #[tokio::test(start_paused = true)]
    async fn the_session_opened_for_a_polled_step_is_left() {
        let text = concat!(
            include_str!("../../tests/data/profiles/kia-layouts.toml"),
            r#"
[relearn]
procedure = "p"
level = "placeholder"

[[relearn.step]]
do = "unlock"
confirm = { role = "driver_door_locked", becomes = 0 }
timeout_s = 30
if_not = "the locks"
level = "placeholder"
"#
        );
        let profile = crate::profile::parse("t.toml", text).unwrap();
        let relearn = profile.relearn.clone().unwrap();
        let scenario = crate::sim::Scenario::from_id("liftgate-needs-relearn").unwrap();
        let cfg = crate::sim::SimConfig::default();
        let name = cfg.iface;
        let bus = crate::transport::VirtualBus::new(crate::sim::DEFAULT_EPOCH_US);
        let mut tap = bus.tap();
        let _hold = bus.hold();
        drop(crate::sim::spawn_on(&bus, &profile, scenario, cfg));
        let mut ui = Ui {
            out: Box::new(io::sink()),
        };
        let walk = walk(
            bus.endpoint(name),
            name,
            &profile,
            &relearn,
            &mut ui,
            Shutdown::new(),
        )
        .await
        .unwrap();
        assert_eq!(walk.steps[0].status, Status::Confirmed);
        let requests: Vec<Vec<u8>> = std::iter::from_fn(|| tap.try_recv().ok())
            .filter(|f| f.id == CanId::Standard(0x770))
            .map(|f| f.data().to_vec())
            .collect();
        assert!(
            requests
                .iter()
                .any(|d| d.starts_with(&[0x03, 0x22, 0xBC, 0x04])),
            "polled"
        );
        assert!(requests
            .first()
            .is_some_and(|d| d.starts_with(&[0x02, 0x10, 0x03])));
        assert!(
            requests
                .last()
                .is_some_and(|d| d.starts_with(&[0x02, 0x10, 0x01])),
            "{requests:02X?}"
        );
    }
}
