//! The live run on any [`CanBus`]: open the BCM's session, read DTCs and the
//! profile's data items, watch a release attempt (prompted, or listening
//! while polling), optionally fire the active test once, and close safely
//! (the [`Tester`] hands back every output and leaves the session on every
//! exit path). Every frame seen and sent goes through the tap into the
//! [`Analyzer`] (and the `--record` log), so the evidence comes from the
//! frames alone, exactly as a replay of the recording would give it.
//!
//! The seam for `--iface` and `--sim`: [`run`] takes a function that opens
//! bus endpoints; SocketCAN opens the interface, the simulator hands out
//! virtual-bus endpoints with the simulated vehicle on the other end.

use crate::profile::ReleaseInput;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tokio::sync::oneshot;

use super::{choose_profile, DiagnoseError, ProfileChoice, Report, SourceInfo};
use crate::analyzer::{vin_in_reply, Analyzer, Vin};
use crate::capture::candump::{CandumpWriter, LogThread};
use crate::diag::{ClientConfig, ClientError, Nrc};
use crate::evidence::Observations;
use crate::frame::{CanFrame, CanId, Direction, IfName};
use crate::isotp::{Addressing, IsoTpConfig};
use crate::profile::{self, Profile, Role};
use crate::tester::{Response, Shutdown, Tester, TesterError};
use crate::transport::{BusError, CanBus, ListenOnly};

/// How often the data items are read while watching.
pub const POLL_PERIOD: Duration = Duration::from_millis(200);
/// How long a VIN request may take during `--profile auto`.
const VIN_TIMEOUT: Duration = Duration::from_secs(1);

/// The `--record` log.
pub type Recorder = CandumpWriter<Box<dyn Write + Send>>;

/// What the live run does.
#[derive(Clone, Debug)]
pub struct LivePlan {
    /// How long to listen for presses without prompts (and the longest wait
    /// for each prompted press).
    pub listen: Duration,
    /// Bounds every wait for the BCM.
    pub timeout: Duration,
    /// Fire the active test (still subject to the operator's yes and the
    /// safety checks).
    pub actuate: bool,
    pub observations: Observations,
    /// Scripts (`--no-prompt`, batch): a bus on which nothing at all is
    /// heard within `timeout` fails the run ([`DiagnoseError::Silent`]) at
    /// once, instead of listening on and concluding `no-bus-activity` (the
    /// verdict a person at the car gets, with its next steps).
    pub fail_on_silence: bool,
    /// Presses told by the simulated person of an in-process simulated car
    /// (bus time, input), for a car whose bus does not show them.
    pub told: Option<ToldPresses>,
    /// Send nothing: no VIN read, session, trouble-code or data read, no
    /// active test; the bus is wrapped in [`ListenOnly`], so a frame cannot
    /// leak even by mistake. The verdict rests on the broadcasts, and a
    /// note says what could not be read.
    pub listen_only: bool,
    /// The person vouches that the car stands still: the active test may
    /// run without a speed reading (never against one above standstill).
    pub assume_stopped: bool,
}

/// Presses told to the run as they happen: (bus time, input); the list a
/// simulated person writes to.
pub type ToldPresses = crate::sim::ToldList;

/// The person at the car, or nobody (`--no-prompt`, no terminal, tests).
pub trait Operator: Send {
    /// Asks for an action; the receiver fires when the person confirms.
    /// `None`: nobody to ask, so the run just listens.
    fn ask_press(&mut self, text: &str) -> Option<oneshot::Receiver<()>>;
    /// A yes/no question (the active test). False when nobody can answer.
    fn confirm(&mut self, text: &str) -> bool;
    /// A line of progress for the person.
    fn say(&mut self, text: &str);
}

/// Nobody at the terminal: listen, never confirm (unless `--yes`).
pub struct Unattended {
    pub yes: bool,
}

impl Operator for Unattended {
    fn ask_press(&mut self, _: &str) -> Option<oneshot::Receiver<()>> {
        None
    }
    fn confirm(&mut self, _: &str) -> bool {
        self.yes
    }
    fn say(&mut self, _: &str) {}
}

/// The tap's frames, fed to the analyzer as the run goes (so the active
/// test's safety checks see the state now).
struct Feed<'p> {
    frames: mpsc::Receiver<CanFrame>,
    analyzer: Analyzer<'p>,
    /// Presses told by a simulated person, drained with the frames.
    told: Option<ToldPresses>,
    /// The recording, for the `# press` lines of told presses.
    record: Option<Arc<LogThread>>,
    /// The bus time of the latest frame drained.
    last_us: u64,
}

impl Feed<'_> {
    fn drain(&mut self) {
        while let Ok(f) = self.frames.try_recv() {
            self.last_us = self.last_us.max(f.timestamp_us);
            self.analyzer.feed(&f);
        }
        let told: Vec<(u64, ReleaseInput)> = match &self.told {
            Some(t) => t
                .lock()
                .map(|mut v| std::mem::take(&mut *v))
                .unwrap_or_default(),
            None => Vec::new(),
        };
        for (t, input) in told {
            self.tell(t, t, input);
        }
    }

    /// A press the person told the tool about: evidence, and a `# press`
    /// line in the recording so that a replay reads it too.
    fn tell(&mut self, t_us: u64, until_us: u64, input: ReleaseInput) {
        self.analyzer.told_press(t_us, until_us, input);
        if let Some(w) = &self.record {
            if let Err(e) = w.comment(&super::told_press_line(t_us, until_us, input)) {
                tracing::error!("recording stopped: {e}");
                self.record = None;
            }
        }
    }

    /// The last value of any item with this role, and where it was read.
    fn last_reading(&mut self, role: Role) -> Option<(f64, String)> {
        self.drain();
        let ev = self.analyzer.evidence();
        latest(ev, role).map(|s| (s.last_value, ev.label(s.item)))
    }

    /// The last value of any item with this role.
    fn last(&mut self, role: Role) -> Option<f64> {
        self.drain();
        latest(self.analyzer.evidence(), role).map(|s| s.last_value)
    }
}

/// The series of `role` heard most recently.
fn latest(ev: &crate::evidence::Evidence, role: Role) -> Option<&crate::evidence::ItemSeries> {
    ev.series_of(role)
        .filter(|s| s.samples > 0)
        .max_by_key(|s| s.last_us)
}

/// Something on the bus answered: any frame received but an error frame
/// (an adapter on a dead bus or at the wrong bitrate reports its own
/// unacknowledged sends as error frames; that is not an answer).
fn note_heard(heard: &AtomicBool, frame: &CanFrame, dir: Direction) {
    if dir == Direction::Rx && !frame.is_error() {
        heard.store(true, Ordering::Relaxed);
    }
}

/// Builds the tap: records and forwards every frame (the tester stamps sent
/// frames with the bus clock) and notes whether anything answered.
fn tap(
    tx: mpsc::Sender<CanFrame>,
    mut record: Option<Arc<LogThread>>,
    heard: Arc<AtomicBool>,
) -> crate::tester::Tap {
    Box::new(move |frame, dir| {
        note_heard(&heard, frame, dir);
        let f = *frame;
        if let Some(w) = &record {
            if let Err(e) = w.frame(&f) {
                tracing::error!("recording stopped: {e}");
                record = None;
            }
        }
        let _ = tx.send(f);
    })
}

/// Runs a live diagnosis. `open` opens one bus endpoint (called once, or
/// once more when `--profile auto` reads the VIN first); `record` receives
/// every frame as a candump log.
#[allow(clippy::too_many_arguments)]
pub async fn run<B: CanBus>(
    mut open: impl FnMut() -> Result<B, BusError>,
    iface: IfName,
    source: (&'static str, String),
    profile_spec: &str,
    plan: &LivePlan,
    operator: &mut dyn Operator,
    record: Option<Recorder>,
    shutdown: Shutdown,
) -> Result<(Profile, Report), DiagnoseError> {
    let heard = Arc::new(AtomicBool::new(false));
    let bus_name = iface;
    let work = diagnose(
        &mut open,
        iface,
        source,
        profile_spec,
        plan,
        operator,
        record,
        shutdown,
        Arc::clone(&heard),
    );
    if !plan.fail_on_silence {
        return work.await;
    }
    // Dropping the run half-way is safe only because nothing was heard:
    // without a single reply no session was opened and no output driven,
    // so there is nothing to hand back.
    let silence = async {
        tokio::time::sleep(plan.timeout).await;
        if heard.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        r = work => r,
        () = silence => Err(DiagnoseError::Silent {
            bus: bus_name,
            timeout: plan.timeout,
        }),
    }
}

#[allow(clippy::too_many_arguments)]
async fn diagnose<B: CanBus>(
    mut open: impl FnMut() -> Result<B, BusError>,
    iface: IfName,
    source: (&'static str, String),
    profile_spec: &str,
    plan: &LivePlan,
    operator: &mut dyn Operator,
    record: Option<Recorder>,
    shutdown: Shutdown,
    heard: Arc<AtomicBool>,
) -> Result<(Profile, Report), DiagnoseError> {
    let (tx, frames) = mpsc::channel();
    // Written on its own thread (every frame of a busy bus, never a wait for
    // the disk on the thread that reads it); shared by the VIN read's
    // testers and the session's.
    let record = record.map(|w| Arc::new(LogThread::spawn(w)));
    let mut vin = None;
    let mut ident = None;
    if profile_spec == "auto" {
        // The bus says which car it is before anything is asked: nothing
        // is sent for identification alone.
        operator.say(&format!(
            "listening {:.0} s to identify the car from its bus",
            IDENTIFY_LISTEN.as_secs_f64()
        ));
        ident = Some(listen_to_identify(&mut open, &tx, record.as_ref(), &shutdown, &heard).await?);
    }
    if profile_spec == "auto" && plan.listen_only {
        operator.say("listen-only: the VIN is not asked; the profile comes from the bus alone");
    } else if profile_spec == "auto" {
        operator.say("reading the VIN to pick the vehicle profile");
        vin = read_vin(&mut open, iface, &tx, record.as_ref(), &shutdown, &heard).await?;
    }
    let (profile, choice) =
        choose_profile(profile_spec, vin.as_ref().map(Vin::as_str), ident.as_ref())?;
    operator.say(&format!("profile {}: {}", choice.id, choice.reason));
    let mut notes = Vec::new();
    if let Some(note) = super::off_connector_note(&profile) {
        operator.say(&note);
        notes.push(note);
    }
    if let Some(line) = single_wire_advice(&profile) {
        operator.say(&line);
        notes.push(line);
    }
    let (mut isotp, mut client) = match profile.bcm() {
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
        None => {
            // No body module named: the run only listens. The tester is
            // built on the OBD-II engine ids but sends nothing: with no
            // [bcm] the profile has no session, reads, DTC read or output.
            operator.say(&format!(
                "{} {}: no body module address is published; listening to the broadcast frames only",
                profile.make, profile.model
            ));
            (
                IsoTpConfig::new(CanId::Standard(0x7E0), CanId::Standard(0x7E8)),
                ClientConfig::uds(),
            )
        }
    };
    isotp.iface = iface;
    client.p2_star_us = u64::try_from(plan.timeout.as_micros()).unwrap_or(u64::MAX);
    let bus = ListenOnly::new(open()?, plan.listen_only);
    let mut tester = Tester::new(bus, isotp, client, shutdown);
    let record_for_feed = record.clone();
    tester.set_tap(tap(tx, record, heard));
    let mut feed = Feed {
        frames,
        analyzer: Analyzer::new(&profile),
        told: plan.told.clone(),
        record: record_for_feed,
        last_us: 0,
    };
    let outcome = {
        let profile = &profile;
        let notes = &mut notes;
        let feed = &mut feed;
        tester
            .run(async |t| session_work(t, profile, plan, operator, notes, feed).await)
            .await
    };
    notes.extend(tester.bus_notes());
    // The preflight's adapter part, from the probe the adapter ran as it
    // opened (no second listen): what it could not do, frames it dropped.
    let facts = tester.bus_facts();
    notes.extend(crate::preflight::run_notes(&facts));
    let adapter = (!facts.kind.is_empty()).then_some(facts);
    drop(tester);
    feed.drain();
    let analyzer = feed.analyzer;
    match outcome {
        Ok(()) => {}
        Err(TesterError::Interrupted) => {
            return Err(DiagnoseError::Interrupted)
        }
        Err(TesterError::Bus(e)) => return Err(DiagnoseError::Bus(e)),
        // An output that may still be driven must stop the run loudly.
        Err(TesterError::Restore {
            failures,
            outputs_left: true,
        }) => {
            return Err(DiagnoseError::OutputsMayBeDriven { failures })
        }
        // Only the session could not be left (the BCM stopped answering):
        // it lapses by itself after a few seconds; the evidence still stands.
        Err(TesterError::Restore {
            failures,
            outputs_left: false,
        }) => notes.push(format!(
            "could not leave the BCM's diagnostic session ({failures}); the BCM leaves it by itself after a few seconds without requests"
        )),
        Err(e) => notes.push(format!("the run ended early: {e}")),
    }
    let (evidence, stats) = analyzer.finish(plan.observations.clone());
    let mut choice: ProfileChoice = choice;
    if choice.vin.is_none() {
        choice.vin = stats.vin.clone().map(String::from);
    }
    let src = SourceInfo {
        kind: source.0,
        name: source.1,
        format: None,
        frames: evidence.frames_seen,
        skipped_lines: 0,
        analyzer: stats,
        notes,
        adapter,
    };
    let report = Report::new(&profile, choice, src, evidence);
    Ok((profile, report))
}

/// One line for the person when the frames or the BCM the profile reads are
/// on GM's single-wire CAN, which needs its own transceiver (a plain
/// ELM327 or a CANable hears nothing there); `None` otherwise.
fn single_wire_advice(profile: &Profile) -> Option<String> {
    let bus = profile
        .buses
        .iter()
        .find(|b| b.kind == profile::BusKind::SingleWire && profile.bus_carries_items(&b.name))?;
    let frames = profile.frames.iter().any(|f| f.bus == bus.name);
    let bcm = profile.bcm().is_some_and(|b| b.bus == bus.name);
    let what = match (bcm, frames) {
        (true, true) => "the body module and the body frames of this car are",
        (true, false) => "the body module of this car is",
        (false, true) => "the body frames of this car are",
        (false, false) => "some of what this profile reads is",
    };
    let at: Vec<String> = [bus.pins_text(), bus.bitrate_text()]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect();
    Some(format!(
        "{what} on the single-wire bus {} (LS-GMLAN, {}): use a SocketCAN interface with a \
         single-wire transceiver at {} bit/s, or an OBDLink with SW-CAN; a plain ELM327 cannot \
         reach it",
        bus.name,
        at.join(", "),
        bus.bitrate
    ))
}

/// Tries OBD 09 02, UDS 22 F190 and KWP 1A 90 (on the bundled KWP BCMs)
/// until one answers with a VIN.
/// How long a live `--profile auto` run listens to identify the car.
pub const IDENTIFY_LISTEN: Duration = Duration::from_secs(3);

/// Listens (nothing sent) for [`IDENTIFY_LISTEN`] or until the
/// identification window is full; the frames go to the run like any other.
async fn listen_to_identify<B: CanBus>(
    open: &mut impl FnMut() -> Result<B, BusError>,
    tx: &mpsc::Sender<CanFrame>,
    record: Option<&Arc<LogThread>>,
    shutdown: &Shutdown,
    heard: &Arc<AtomicBool>,
) -> Result<crate::identify::Identification, DiagnoseError> {
    let mut bus = ListenOnly::new(open()?, true);
    let mut tap = tap(tx.clone(), record.cloned(), Arc::clone(heard));
    let mut seen = crate::identify::Heard::default();
    let until = tokio::time::Instant::now() + IDENTIFY_LISTEN;
    loop {
        tokio::select! {
            () = shutdown.wait() => return Err(DiagnoseError::InterruptedIdentifying),
            r = tokio::time::timeout_at(until, bus.recv()) => match r {
                Err(_) => break,
                Ok(Ok(f)) => {
                    tap(&f, crate::frame::Direction::Rx);
                    seen.push(&f);
                    if seen.full() {
                        break;
                    }
                }
                Ok(Err(e)) => return Err(DiagnoseError::Bus(e)),
            },
        }
    }
    Ok(crate::identify::identify(
        &crate::identify::fingerprints(),
        &seen,
    ))
}

async fn read_vin<B: CanBus>(
    open: &mut impl FnMut() -> Result<B, BusError>,
    iface: IfName,
    tx: &mpsc::Sender<CanFrame>,
    record: Option<&Arc<LogThread>>,
    shutdown: &Shutdown,
    heard: &Arc<AtomicBool>,
) -> Result<Option<Vin>, DiagnoseError> {
    let mut tries: Vec<(CanId, CanId, Addressing, ClientConfig, Vec<u8>)> = vec![
        (
            CanId::Standard(0x7E0),
            CanId::Standard(0x7E8),
            Addressing::Normal,
            ClientConfig::obd(),
            vec![0x09, 0x02],
        ),
        (
            CanId::Standard(0x7E0),
            CanId::Standard(0x7E8),
            Addressing::Normal,
            ClientConfig::uds(),
            vec![0x22, 0xF1, 0x90],
        ),
    ];
    for s in profile::list() {
        if let Ok(p) = profile::load(&s.id) {
            let Some(b) = p.bcm() else { continue };
            if b.protocol == profile::Protocol::Kwp
                && !tries.iter().any(|t| {
                    t.0 == b.request_id && t.1 == b.response_id && t.2 == b.addressing.into()
                })
            {
                tries.push((
                    b.request_id,
                    b.response_id,
                    b.addressing.into(),
                    ClientConfig::kwp(),
                    vec![0x1A, 0x90],
                ));
            }
        }
    }
    for (req_id, resp_id, addressing, mut cfg, req) in tries {
        cfg.p2_star_us = 1_000_000;
        let bus = ListenOnly::new(open()?, false);
        let mut isotp = IsoTpConfig::new(req_id, resp_id);
        isotp.iface = iface;
        isotp.addressing = addressing;
        let mut t = Tester::new(bus, isotp, cfg, shutdown.clone());
        t.set_tap(tap(tx.clone(), record.cloned(), Arc::clone(heard)));
        let r = tokio::time::timeout(VIN_TIMEOUT, t.request(&req)).await;
        match r {
            Ok(Ok(Response::Positive { payload })) => {
                if let Some(vin) = vin_in_reply(&payload) {
                    return Ok(Some(vin));
                }
            }
            Ok(Err(TesterError::Bus(e))) => return Err(DiagnoseError::Bus(e)),
            Ok(Err(TesterError::Interrupted)) => return Err(DiagnoseError::InterruptedReadingVin),
            _ => {}
        }
    }
    Ok(None)
}

/// The work inside the safe session: everything that talks to the BCM.
async fn session_work<B: CanBus>(
    t: &mut Tester<B>,
    profile: &Profile,
    plan: &LivePlan,
    operator: &mut dyn Operator,
    notes: &mut Vec<String>,
    feed: &mut Feed<'_>,
) -> Result<(), TesterError> {
    // Listen-only: as if the profile named no body module to ask.
    let bcm = profile.bcm().filter(|_| !plan.listen_only);
    if plan.listen_only {
        let note = listen_only_note(profile);
        operator.say(&note);
        notes.push(note);
    }
    let session = bcm.and_then(|b| b.session.as_ref());
    let mut reads = Reads {
        session: session.map(|s| {
            let session = s.request.get(1).copied().unwrap_or_default();
            (s.request.clone(), session)
        }),
        open: session.is_none(),
        retries_left: SESSION_RETRIES,
        items: bcm
            .map(|_| profile.data_reads())
            .unwrap_or_default()
            .iter()
            .map(|r| (r.key.request(), r.needs_session))
            .collect(),
    };
    // A locked car's alarm may go off at requests: hear its state first.
    if bcm.is_some() && profile.has_role(Role::AlarmArmed) {
        let until = tokio::time::Instant::now() + ALARM_LISTEN;
        while feed.last(Role::AlarmArmed).is_none() && tokio::time::Instant::now() < until {
            t.idle(Duration::from_millis(50)).await?;
        }
    }
    let armed = alarm_armed(feed, notes, operator);
    if reads.session.is_some() && !armed {
        operator.say("opening the diagnostic session with the BCM");
        reads.open_session(t, plan, notes).await?;
    }
    if let Some(d) = bcm.and_then(|b| b.dtc_read.as_ref()).filter(|_| !armed) {
        operator.say("reading trouble codes");
        let ids = t.ids();
        // GMLAN answers with UUDT frames on request id + 0x300: the tap
        // hands them to the analyzer; this waits for the report's end.
        let uudt = bcm
            .filter(|b| b.dtc_format == Some(profile::DtcFormat::GmlanUudt))
            .and_then(|b| crate::diag::gmlan::uudt_id(b.request_id));
        if let Some(id) = uudt {
            let window = plan.timeout.min(Duration::from_secs(2));
            let r = bounded(
                plan,
                ids,
                &d.request,
                t.request_uudt(&d.request, id, window),
            )
            .await;
            // Not even the end of the report: the answers never reached us.
            if r.as_ref().is_ok_and(Vec::is_empty) {
                notes.push(format!(
                    "DTC read: no UUDT answer heard on 0x{id}: the module may be silent, and through an ELM327 they cannot be heard at all (its receive filter passes only 0x{})",
                    ids.1
                ));
            }
            soft(r, notes, "DTC read")?;
        } else {
            let mut r = bounded(plan, ids, &d.request, t.request(&d.request)).await;
            if is_timeout(&r) {
                // Once more: trouble codes are worth a second ask.
                r = bounded(plan, ids, &d.request, t.request(&d.request)).await;
            }
            soft(r, notes, "DTC read")?;
        }
    }
    poll(t, plan, &mut reads, notes, feed, operator).await?;
    // The release attempt.
    let prompts = [
        (
            "press the trunk button on the key fob now, then press Enter",
            ReleaseInput::Fob,
        ),
        (
            "now press the cabin trunk switch, then press Enter",
            ReleaseInput::Cabin,
        ),
    ];
    let mut prompted = false;
    for (text, input) in prompts {
        feed.drain();
        let asked_at = feed.last_us;
        match operator.ask_press(text) {
            Some(mut done) => {
                prompted = true;
                let confirmed = watch(
                    t,
                    plan,
                    &mut reads,
                    notes,
                    feed,
                    operator,
                    plan.listen,
                    Some(&mut done),
                )
                .await?;
                // A car whose bus does not show this input: the person's
                // word is the press, from the moment they were asked.
                if confirmed && profile.takes_told_presses() {
                    // The press came between the question and the answer.
                    feed.drain();
                    let answered_at = feed.last_us;
                    feed.tell(asked_at, answered_at, input);
                }
                // Let the output and the lid show after the confirmation.
                watch(
                    t,
                    plan,
                    &mut reads,
                    notes,
                    feed,
                    operator,
                    Duration::from_secs(2),
                    None,
                )
                .await?;
            }
            None => break,
        }
    }
    if !prompted {
        operator.say(&format!(
            "listening {:.0} s for trunk presses",
            plan.listen.as_secs_f64()
        ));
        watch(
            t,
            plan,
            &mut reads,
            notes,
            feed,
            operator,
            plan.listen,
            None,
        )
        .await?;
        // Told presses of a simulated person come with the frames.
    }
    if plan.actuate && plan.listen_only {
        notes.push("listen-only: the active test was not run".to_owned());
    } else if plan.actuate {
        active_test(t, profile, plan, operator, notes, feed, &mut reads).await?;
    }
    Ok(())
}

/// What a listen-only run could not read, for the report: the profile's
/// trouble codes and BCM data items, by name.
fn listen_only_note(profile: &Profile) -> String {
    let mut missed = Vec::new();
    if let Some(b) = profile.bcm() {
        if b.dtc_read.is_some() {
            missed.push("the BCM's trouble codes".to_owned());
        }
        let items: Vec<&str> = profile
            .data_reads()
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        if !items.is_empty() {
            missed.push(format!("the BCM's data items ({})", items.join(", ")));
        }
    }
    if missed.is_empty() {
        "listen-only: nothing was sent; this profile reads broadcasts only, so nothing was missed"
            .to_owned()
    } else {
        format!(
            "listen-only: nothing was sent, so {} were not read; the verdict rests on the broadcast frames alone",
            missed.join(" and ")
        )
    }
}

/// Bounds one BCM request by `--timeout` (the client's own P2 / P2* apply
/// inside it).
async fn bounded<T>(
    plan: &LivePlan,
    ids: (CanId, CanId),
    req: &[u8],
    fut: impl std::future::Future<Output = Result<T, TesterError>>,
) -> Result<T, TesterError> {
    match tokio::time::timeout(plan.timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(TesterError::Diagnostic {
            error: ClientError::Timeout {
                service: "request",
                sid: req.first().copied().unwrap_or_default(),
                elapsed_us: u64::try_from(plan.timeout.as_micros()).unwrap_or(u64::MAX),
            },
            tx: ids.0,
            rx: ids.1,
        }),
    }
}

/// A BCM that does not answer is evidence, not a failure of the run.
fn soft<T>(
    r: Result<T, TesterError>,
    notes: &mut Vec<String>,
    what: &str,
) -> Result<(), TesterError> {
    match r {
        Ok(_) => Ok(()),
        Err(e @ (TesterError::Bus(_) | TesterError::Interrupted)) => Err(e),
        Err(e) => {
            let n = format!("{what}: {e}");
            if !notes.contains(&n) {
                notes.push(n);
            }
            Ok(())
        }
    }
}

/// The note of a run that paused its polling for the alarm.
pub const ALARM_PAUSE: &str =
    "polling paused: alarm armed (requests to a locked car can set its alarm off)";

/// Whether the profile's alarm-armed signal reads armed now; the first
/// time, the person is told and the report notes that polling paused.
fn alarm_armed(feed: &mut Feed<'_>, notes: &mut Vec<String>, operator: &mut dyn Operator) -> bool {
    let armed = feed.last(Role::AlarmArmed).is_some_and(|v| v != 0.0);
    if armed && !notes.iter().any(|n| n == ALARM_PAUSE) {
        operator.say(ALARM_PAUSE);
        notes.push(ALARM_PAUSE.to_owned());
    }
    armed
}

/// How long a run whose profile has an alarm-armed signal listens for it
/// before its first request to the BCM.
const ALARM_LISTEN: Duration = Duration::from_secs(1);

/// One round of the data reads (and a session retry), skipped while the
/// profile's alarm-armed signal reads armed.
async fn poll<B: CanBus>(
    t: &mut Tester<B>,
    plan: &LivePlan,
    reads: &mut Reads,
    notes: &mut Vec<String>,
    feed: &mut Feed<'_>,
    operator: &mut dyn Operator,
) -> Result<(), TesterError> {
    if alarm_armed(feed, notes, operator) {
        return Ok(());
    }
    if !reads.open && reads.retries_left > 0 {
        reads.retries_left -= 1;
        reads.open_session(t, plan, notes).await?;
    }
    for (r, needs_session) in &reads.items {
        if *needs_session && !reads.open {
            continue;
        }
        let ids = t.ids();
        soft(
            bounded(plan, ids, r, t.request(r)).await,
            notes,
            "data read",
        )?;
    }
    Ok(())
}

/// The BCM did not answer in time (as opposed to answering no).
fn is_timeout<T>(r: &Result<T, TesterError>) -> bool {
    matches!(
        r,
        Err(TesterError::Diagnostic {
            error: ClientError::Timeout { .. },
            ..
        })
    )
}

/// How many more times a session start that went unanswered is tried, one
/// per poll: a single answer lost on a busy bus (or a BCM slow to wake)
/// must not cost every read that needs the session for the whole run.
const SESSION_RETRIES: u8 = 5;

/// What the run polls, and whether the BCM's session is open for it.
struct Reads {
    /// The session start request and its session number, if the BCM has one.
    session: Option<(Vec<u8>, u8)>,
    open: bool,
    /// Unanswered session starts still to retry.
    retries_left: u8,
    /// Each data read and whether it needs the session.
    items: Vec<(Vec<u8>, bool)>,
}

impl Reads {
    async fn open_session<B: CanBus>(
        &mut self,
        t: &mut Tester<B>,
        plan: &LivePlan,
        notes: &mut Vec<String>,
    ) -> Result<(), TesterError> {
        let Some((request, session)) = &self.session else {
            return Ok(());
        };
        let retried = self.retries_left < SESSION_RETRIES;
        let r = bounded(plan, t.ids(), request, t.open_session(*session)).await;
        // Only silence is worth retrying: a refusal is the BCM's answer.
        if !is_timeout(&r) {
            self.retries_left = 0;
        }
        match r {
            Ok(_) => {
                if retried {
                    notes.push("the BCM opened its session on a retry".to_string());
                }
                self.open = true;
            }
            Err(e @ (TesterError::Bus(_) | TesterError::Interrupted)) => return Err(e),
            Err(e) => {
                let n = format!("the BCM did not open its session: {e}");
                if !notes.contains(&n) {
                    notes.push(n);
                }
            }
        }
        Ok(())
    }
}

/// Polls the data items every [`POLL_PERIOD`] for `duration`, or until the
/// person confirms. The tap's frames go to the analyzer at each poll: a
/// long listen on a busy bus must not queue every frame until the end.
/// The person is told what pauses the polling (an alarm armed during the
/// watch) as it happens, not only in the report.
#[allow(clippy::too_many_arguments)] // the session's parts, each used
async fn watch<B: CanBus>(
    t: &mut Tester<B>,
    plan: &LivePlan,
    reads: &mut Reads,
    notes: &mut Vec<String>,
    feed: &mut Feed<'_>,
    operator: &mut dyn Operator,
    duration: Duration,
    mut done: Option<&mut oneshot::Receiver<()>>,
) -> Result<bool, TesterError> {
    let end = tokio::time::Instant::now() + duration;
    loop {
        let tick = tokio::time::Instant::now() + POLL_PERIOD;
        poll(t, plan, reads, notes, feed, operator).await?;
        feed.drain();
        if let Some(d) = done.as_mut() {
            match d.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => {}
                // Confirmed, or the prompt went away.
                r => return Ok(r.is_ok()),
            }
        }
        let now = tokio::time::Instant::now();
        if now >= end {
            return Ok(false);
        }
        t.idle(tick.min(end).saturating_duration_since(now)).await?;
    }
}

/// The active test: after a yes, never when moving, out of Park, on a low
/// battery or (without `--assume-stopped`) at an unknown speed; at most the
/// profile's `max_firings`, a second only when the lid did not open and
/// after the BCM's cool-down (`cooldown_ms`) has passed.
async fn active_test<B: CanBus>(
    t: &mut Tester<B>,
    profile: &Profile,
    plan: &LivePlan,
    operator: &mut dyn Operator,
    notes: &mut Vec<String>,
    feed: &mut Feed<'_>,
    reads: &mut Reads,
) -> Result<(), TesterError> {
    let Some(at) = profile.active_test() else {
        notes.push(format!(
            "profile {} has no active test: --actuate did nothing",
            profile.id
        ));
        return Ok(());
    };
    let mut fired: u8 = 0;
    while fired < at.max_firings {
        if fired > 0 {
            let wait = Duration::from_millis(u64::from(at.cooldown_ms));
            operator.say(&format!(
                "the lid did not open: waiting out the BCM's cool-down ({:.1} s) before firing again",
                wait.as_secs_f64()
            ));
            watch(t, plan, reads, notes, feed, operator, wait, None).await?;
        }
        if let Some(why) = refusal(profile, plan, feed, operator, fired) {
            notes.push(why);
            return Ok(());
        }
        operator.say("firing the trunk opener once");
        fired += 1;
        if !fire(t, profile, at, plan, notes, feed, reads, operator).await? {
            return Ok(());
        }
        if feed.last(Role::LidOpen).is_some_and(|v| v != 0.0) {
            break;
        }
    }
    if fired > 1 {
        notes.push(format!(
            "the active test fired {fired} times, {:.1} s apart at least (the profile's cool-down)",
            f64::from(at.cooldown_ms) / 1000.0
        ));
    }
    Ok(())
}

/// Why the active test may not fire now (`None`: it may), checked before
/// every firing: moving, unknown speed, out of Park, low battery, no yes.
fn refusal(
    profile: &Profile,
    plan: &LivePlan,
    feed: &mut Feed<'_>,
    operator: &mut dyn Operator,
    fired: u8,
) -> Option<String> {
    let speed = feed.last(Role::SpeedKmh);
    let volts = feed.last(Role::BatteryVoltage);
    // Out of Park by the profile's own gear condition (`when = "not"`).
    let out_of_park = feed.last(Role::Gear).filter(|&g| {
        profile
            .release_conditions
            .iter()
            .any(|c| c.role == Role::Gear && c.blocks(g))
    });
    let question = if fired == 0 {
        "Fire the trunk opener once now (active test)? Keep clear of the lid.".to_owned()
    } else {
        format!(
            "The lid did not open. Fire the trunk opener again (firing {} of at most {})? Keep clear of the lid.",
            fired + 1,
            profile.active_test().map_or(1, |a| a.max_firings)
        )
    };
    if let Some(v) = speed.filter(|&v| v > 0.5) {
        Some(format!(
            "refused the active test: the vehicle is moving ({v:.1} km/h)"
        ))
    } else if speed.is_none() && !plan.assume_stopped {
        Some(
            if profile.has_role(Role::SpeedKmh) {
                "refused the active test: no vehicle speed was heard, so the car is not known to stand still; give --assume-stopped if it does"
            } else {
                "refused the active test: this profile reads no vehicle speed, so the car is not known to stand still; give --assume-stopped if it does"
            }
            .to_owned(),
        )
    } else if let Some(g) = out_of_park {
        Some(format!(
            "refused the active test: the gear selector reads {}, not Park",
            profile.value_name(Role::Gear, g)
        ))
    } else if let Some(v) = volts.filter(|&v| v < profile.limits.low_battery_volts) {
        Some(format!(
            "refused the active test: the battery reads {v:.1} V (below {:.1} V)",
            profile.limits.low_battery_volts
        ))
    } else if !operator.confirm(&question) {
        Some("the active test was not confirmed: not run".to_owned())
    } else {
        None
    }
}

/// One firing: the start request, the hold while watching, the output
/// handed back. False when the BCM refused (no point in firing again).
#[allow(clippy::too_many_arguments)] // the session's parts, each used
async fn fire<B: CanBus>(
    t: &mut Tester<B>,
    car: &Profile,
    at: &profile::ActiveTest,
    plan: &LivePlan,
    notes: &mut Vec<String>,
    feed: &mut Feed<'_>,
    reads: &mut Reads,
    operator: &mut dyn Operator,
) -> Result<bool, TesterError> {
    let ids = t.ids();
    let handle = match bounded(
        plan,
        ids,
        &at.start.request,
        t.io_control(&at.start.request),
    )
    .await
    {
        Ok(h) => h,
        Err(e @ (TesterError::Bus(_) | TesterError::Interrupted)) => return Err(e),
        Err(e) => {
            notes.push(match &e {
                TesterError::Negative { nrc, .. } if *nrc == Nrc::ConditionsNotCorrect => {
                    format!(
                        "the BCM refused the active test: conditions not correct (NRC 0x22): {}",
                        closed_gates(car, feed)
                    )
                }
                _ => format!("the BCM refused the active test: {e}"),
            });
            return Ok(false);
        }
    };
    let hold = Duration::from_millis(u64::from(at.max_duration_ms).min(5000));
    let r = watch(t, plan, reads, notes, feed, operator, hold, None).await;
    // Hand the output back even if watching failed; the tester's close
    // would too, this just does it at once.
    let released = handle.release(t).await;
    r?;
    soft(released, notes, "returning the opener output")?;
    Ok(true)
}

/// What a "conditions not correct" answer to the active test means on
/// this car: the gates that read closed now (with their values and where
/// they were read), or that the refusing condition is one the profile
/// cannot read.
fn closed_gates(profile: &Profile, feed: &mut Feed<'_>) -> String {
    gates_in_words(profile, |role| feed.last_reading(role))
}

/// [`closed_gates`] on any source of (value, where read) by role.
fn gates_in_words(
    profile: &Profile,
    mut reading: impl FnMut(Role) -> Option<(f64, String)>,
) -> String {
    let mut closed = Vec::new();
    let mut open = Vec::new();
    for c in &profile.release_conditions {
        let Some((v, from)) = reading(c.role) else {
            continue;
        };
        let words = profile.state_words(c.role, v);
        if c.blocks(v) {
            closed.push(format!(
                "gate closed: {words} (read from {from}): {}",
                c.text
            ));
        } else {
            open.push(format!("{words} ({from})"));
        }
    }
    if !closed.is_empty() {
        return closed.join("; ");
    }
    if open.is_empty() {
        "a condition this profile cannot read (none of its gates was heard)".to_owned()
    } else {
        format!(
            "a condition this profile cannot read (the gates it reads are open: {})",
            open.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::VirtualBus;
    use crate::verdict::{Cause, VerdictId};

    fn name(s: &str) -> IfName {
        IfName::new(s).unwrap()
    }

    #[test]
    fn a_conditions_not_correct_refusal_names_the_closed_gate_or_says_it_cannot() {
        let p = profile::load("ford-fusion-2013-2020").unwrap();
        let none = gates_in_words(&p, |_| None);
        assert_eq!(
            none,
            "a condition this profile cannot read (none of its gates was heard)"
        );
        let at = |lockout: f64, speed: f64| {
            move |role: Role| match role {
                Role::Lockout => Some((lockout, "DID D101".to_owned())),
                Role::SpeedKmh => Some((speed, "0x415".to_owned())),
                _ => None,
            }
        };
        let open = gates_in_words(&p, at(0.0, 0.0));
        assert!(
            open.starts_with("a condition this profile cannot read (the gates it reads are open: ")
                && open.contains("vehicle stopped (0 km/h) (0x415)")
                && open.contains("lockout flag clear (DID D101)"),
            "{open}"
        );
        let shut = gates_in_words(&p, at(1.0, 23.0));
        assert!(
            shut.contains("gate closed: lockout flag set (read from DID D101)")
                && shut.contains("gate closed: vehicle moving at 23 km/h (read from 0x415)"),
            "{shut}"
        );
    }

    fn plan() -> LivePlan {
        LivePlan {
            listen: Duration::from_secs(3),
            timeout: Duration::from_secs(1),
            actuate: false,
            observations: Observations::default(),
            fail_on_silence: false,
            told: None,
            listen_only: false,
            assume_stopped: false,
        }
    }

    /// Body frames from another module every 100 ms (the bus is alive).
    fn broadcaster(bus: &VirtualBus, volts: u8) {
        let mut ep = bus.endpoint(name("body"));
        tokio::spawn(async move {
            loop {
                let f = CanFrame::classic(CanId::Standard(0x6F6), &[volts, 0, 0, 0]).unwrap();
                if ep.send(&f).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }

    /// A minimal Nissan BCM: single-frame answers from a table.
    fn nissan_bcm(bus: &VirtualBus, lockout: bool) {
        nissan_bcm_missing_sessions(bus, lockout, 0)
    }

    /// The same BCM, deaf to its first `missed` session starts (a reply
    /// lost on a busy bus, a module slow to wake).
    fn nissan_bcm_missing_sessions(bus: &VirtualBus, lockout: bool, mut missed: usize) {
        let mut ep = bus.endpoint(name("bcm"));
        tokio::spawn(async move {
            while let Ok(f) = ep.recv().await {
                if f.id != CanId::Standard(0x745) {
                    continue;
                }
                let d = f.data();
                let len = usize::from(d.first().copied().unwrap_or(0) & 0x0F);
                let req = d.get(1..1 + len).unwrap_or_default();
                let resp: Vec<u8> = match req {
                    [0x10, 0xC0] if missed > 0 => {
                        missed -= 1;
                        continue;
                    }
                    [0x10, 0xC0] => vec![0x50, 0xC0],
                    [0x18, ..] => vec![0x58, 0x00],
                    [0x21, 0x44] => vec![0x61, 0x44, if lockout { 0x80 } else { 0 }, 0],
                    [0x3E, 0x01] => vec![0x7E, 0x01],
                    [0x10, 0x81] => vec![0x50, 0x81],
                    [sid, ..] => vec![0x7F, *sid, 0x11],
                    [] => continue,
                };
                let mut data = vec![resp.len() as u8];
                data.extend_from_slice(&resp);
                data.resize(8, 0x55);
                let r = CanFrame::classic(CanId::Standard(0x765), &data).unwrap();
                if ep.send(&r).await.is_err() {
                    return;
                }
            }
        });
    }

    /// The same BCM, but it stops answering after `answers` replies (it lost
    /// power mid-session) while the rest of the bus keeps talking.
    fn nissan_bcm_that_drops_out(bus: &VirtualBus, answers: usize) {
        let mut ep = bus.endpoint(name("bcm"));
        tokio::spawn(async move {
            let mut left = answers;
            while let Ok(f) = ep.recv().await {
                if f.id != CanId::Standard(0x745) || left == 0 {
                    continue;
                }
                let d = f.data();
                let len = usize::from(d.first().copied().unwrap_or(0) & 0x0F);
                let resp: Vec<u8> = match d.get(1..1 + len).unwrap_or_default() {
                    [0x10, 0xC0] => vec![0x50, 0xC0],
                    [0x18, ..] => vec![0x58, 0x00],
                    [0x21, 0x44] => vec![0x61, 0x44, 0, 0],
                    [0x3E, 0x01] => vec![0x7E, 0x01],
                    [sid, ..] => vec![0x7F, *sid, 0x11],
                    [] => continue,
                };
                left -= 1;
                let mut data = vec![resp.len() as u8];
                data.extend_from_slice(&resp);
                data.resize(8, 0x55);
                let r = CanFrame::classic(CanId::Standard(0x765), &data).unwrap();
                if ep.send(&r).await.is_err() {
                    return;
                }
            }
        });
    }

    /// A BCM that answers, then goes silent mid-session: the run ends with a
    /// bcm-unreachable verdict (not a failed run), the unanswered session exit
    /// is a note, and nothing hangs.
    #[tokio::test(start_paused = true)]
    async fn a_bcm_that_stops_answering_mid_session_is_a_verdict() {
        let bus = VirtualBus::new(1_000_000);
        broadcaster(&bus, 125);
        nissan_bcm_that_drops_out(&bus, 4);
        let r = diagnose_on(&bus, "nissan-altima-2013-2018").await;
        let top = r.top().unwrap();
        assert_eq!(
            top.id,
            VerdictId::Known(Cause::BcmUnreachable),
            "{:?}",
            r.verdicts
        );
        assert!(
            top.evidence
                .iter()
                .any(|e| e.contains("then stopped answering")),
            "{:?}",
            top.evidence
        );
        assert!(
            r.source.notes.iter().any(|n| n.contains("could not leave")),
            "{:?}",
            r.source.notes
        );
    }

    async fn diagnose_on(bus: &VirtualBus, spec: &str) -> Report {
        let b = bus.clone();
        let (_, report) = run(
            move || Ok(b.endpoint(name("tester"))),
            name("vbus"),
            ("sim", "test".into()),
            spec,
            &plan(),
            &mut Unattended { yes: false },
            None,
            Shutdown::new(),
        )
        .await
        .unwrap();
        report
    }

    /// A person who answers a press prompt only after the lid has opened
    /// and closed again (they walked back to the laptop).
    struct SlowPerson {
        answer_after: Duration,
        asked: usize,
    }

    impl Operator for SlowPerson {
        fn ask_press(&mut self, _: &str) -> Option<oneshot::Receiver<()>> {
            self.asked += 1;
            if self.asked > 1 {
                return None;
            }
            let (tx, rx) = oneshot::channel();
            let after = self.answer_after;
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = tx.send(());
            });
            Some(rx)
        }
        fn confirm(&mut self, _: &str) -> bool {
            false
        }
        fn say(&mut self, _: &str) {}
    }

    /// A lid-only car: the person's confirmed press is a told press
    /// covering the time from the question to the answer, so a lid that
    /// opened 4 s after the question (past the 3 s release window from it)
    /// counts when the answer came 7 s after the question.
    #[tokio::test(start_paused = true)]
    async fn a_told_press_covers_the_time_until_the_answer() {
        let car = crate::profile::load("jeep-cherokee-2019-2023").unwrap();
        let bus = VirtualBus::new(1_000_000);
        let _car = crate::sim::spawn_on(
            &bus,
            &car,
            crate::sim::Scenario::from_id("no-fault-found").unwrap(),
            crate::sim::SimConfig {
                // The fob 4 s after the question: past a 3 s window from it.
                presses: vec![(4_000_000, crate::sim::Press::FobTrunk)],
                ..crate::sim::SimConfig::default()
            },
        );
        let b = bus.clone();
        let plan = LivePlan {
            listen: Duration::from_secs(10),
            ..plan()
        };
        let (_, report) = run(
            move || Ok(b.endpoint(name("tester"))),
            name("vbus"),
            ("live", "vcan9".into()),
            "jeep-cherokee-2019-2023",
            &plan,
            &mut SlowPerson {
                answer_after: Duration::from_secs(7),
                asked: 0,
            },
            None,
            Shutdown::new(),
        )
        .await
        .unwrap();
        let top = report.top().unwrap();
        assert_eq!(
            top.id,
            VerdictId::Known(Cause::NoFaultFound),
            "{:?}",
            report.verdicts
        );
        assert!(
            top.evidence.iter().any(|e| e.starts_with("fob press at")
                && e.contains("told by the person")
                && e.contains("lid opened")),
            "{:?}",
            top.evidence
        );
    }

    async fn scripted_on(bus: &VirtualBus, spec: &str) -> Result<Report, DiagnoseError> {
        let b = bus.clone();
        let plan = LivePlan {
            fail_on_silence: true,
            told: None,
            ..plan()
        };
        run(
            move || Ok(b.endpoint(name("tester"))),
            name("vbus"),
            ("live", "vcan9".into()),
            spec,
            &plan,
            &mut Unattended { yes: true },
            None,
            Shutdown::new(),
        )
        .await
        .map(|(_, r)| r)
    }

    /// Nothing on the bus but our own requests: a person gets the
    /// no-bus-activity verdict; a script gets a failed run after --timeout,
    /// not after the listening window.
    #[tokio::test(start_paused = true)]
    async fn silent_bus_fails_a_scripted_run_after_the_timeout() {
        for spec in ["nissan-altima-2013-2018", "auto"] {
            let bus = VirtualBus::new(1_000_000);
            // A member that never speaks keeps the bus open, as a car whose
            // modules sleep would.
            let _asleep = bus.endpoint(name("asleep"));
            let start = tokio::time::Instant::now();
            let e = scripted_on(&bus, spec).await.unwrap_err();
            assert!(
                matches!(&e, DiagnoseError::Silent { bus, timeout } if bus.as_str() == "vbus" && *timeout == Duration::from_secs(1)),
                "{e}"
            );
            assert!(
                e.to_string().starts_with("no frame on vbus within 1 s"),
                "{e}"
            );
            assert_eq!(start.elapsed(), plan().timeout, "{spec}");
            let r = diagnose_on(&bus, spec).await;
            assert_eq!(
                r.top().unwrap().id,
                VerdictId::Known(Cause::NoBusActivity),
                "{spec}"
            );
        }
    }

    /// Error frames are the adapter talking about its own sends, not an
    /// answer.
    #[tokio::test(start_paused = true)]
    async fn error_frames_are_not_an_answer() {
        let bus = VirtualBus::new(1_000_000);
        let mut ep = bus.endpoint(name("adapter"));
        tokio::spawn(async move {
            loop {
                let f = CanFrame::error(0x080, &[0; 8]).unwrap();
                if ep.send(&f).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let e = scripted_on(&bus, "nissan-altima-2013-2018")
            .await
            .unwrap_err();
        assert!(matches!(e, DiagnoseError::Silent { .. }), "{e}");
    }

    /// Other modules talk, the BCM does not: that is a diagnosis
    /// (bcm-unreachable), for scripts too.
    #[tokio::test(start_paused = true)]
    async fn a_live_bus_with_a_silent_bcm_is_a_verdict_for_scripts_too() {
        let bus = VirtualBus::new(1_000_000);
        broadcaster(&bus, 124);
        let r = scripted_on(&bus, "nissan-altima-2013-2018").await.unwrap();
        assert_eq!(
            r.top().unwrap().id,
            VerdictId::Known(Cause::BcmUnreachable),
            "{:#?}",
            r.verdicts
        );
    }

    #[tokio::test(start_paused = true)]
    async fn silent_bcm_on_a_live_bus_is_unreachable() {
        let bus = VirtualBus::new(1_000_000);
        broadcaster(&bus, 124);
        let r = diagnose_on(&bus, "nissan-altima-2013-2018").await;
        assert_eq!(
            r.top().unwrap().id,
            VerdictId::Known(Cause::BcmUnreachable),
            "{:#?}",
            r.verdicts
        );
        assert!(r.source.notes.iter().any(|n| n.contains("session")));
    }

    /// Listen-only: the BCM that would answer hears nothing from the run
    /// (only the broadcaster's frames reach the bus), and the report says
    /// what was not read.
    #[tokio::test(start_paused = true)]
    async fn a_listen_only_run_puts_nothing_on_the_bus() {
        let bus = VirtualBus::new(1_000_000);
        broadcaster(&bus, 124);
        nissan_bcm(&bus, true);
        let mut watcher = bus.endpoint(name("watcher"));
        let seen: Arc<std::sync::Mutex<Vec<CanFrame>>> = Arc::default();
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok(f) = watcher.recv().await {
                if f.id != CanId::Standard(0x6F6) {
                    log.lock().unwrap().push(f);
                }
            }
        });
        let b = bus.clone();
        let plan = LivePlan {
            listen_only: true,
            ..plan()
        };
        let (_, r) = run(
            move || Ok(b.endpoint(name("tester"))),
            name("vbus"),
            ("sim", "test".into()),
            "nissan-altima-2013-2018",
            &plan,
            &mut Unattended { yes: true },
            None,
            Shutdown::new(),
        )
        .await
        .unwrap();
        assert_eq!(lockout_polls(&r), 0);
        assert!(
            r.source
                .notes
                .iter()
                .any(|n| n.starts_with("listen-only: nothing was sent")),
            "{:?}",
            r.source.notes
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let other = seen.lock().unwrap();
        assert!(other.is_empty(), "{other:?}");
    }

    /// A body module on 0x7A0/0x7A8 for the active-test safeguards: a
    /// body frame 0x300 (speed byte 0 when `speed`, lid bit 1.0, alarm bit
    /// 1.1 when `alarm`), one data read (`22 0101`), and an opener test with
    /// this cool-down and most firings.
    fn guarded_car(speed: bool, alarm: bool, cooldown_ms: u32, max_firings: u8) -> CarFile {
        let speed_signal = if speed {
            "[[frame.signal]]\nname = \"speed\"\nrole = \"speed_kmh\"\nbits = \"0|8@1+\"\nlevel = \"placeholder\"\n\n"
        } else {
            ""
        };
        let alarm_signal = if alarm {
            "[[frame.signal]]\nname = \"armed\"\nrole = \"alarm_armed\"\nbits = \"9|1@1+\"\nlevel = \"placeholder\"\n\n"
        } else {
            ""
        };
        let text = format!(
            "[profile]\nid = \"t\"\nmake = \"t\"\nmodel = \"t\"\nyears = [2020, 2020]\n\n\
             [[bus]]\nname = \"hs\"\nbitrate = 500000\nlevel = \"placeholder\"\n\n\
             [bcm]\nprotocol = \"uds\"\nrequest_id = 0x7A0\nresponse_id = 0x7A8\nlevel = \"placeholder\"\n\n\
             [[data]]\nname = \"lid\"\ndid = 0x0101\n\n\
             [[data.field]]\nname = \"output\"\nrole = \"opener_output\"\nbit = \"A.0\"\nlevel = \"placeholder\"\n\n\
             [[frame]]\nid = 0x300\nname = \"body\"\n\n{speed_signal}{alarm_signal}\
             [[frame.signal]]\nname = \"lid\"\nrole = \"lid_open\"\nbits = \"8|1@1+\"\nlevel = \"placeholder\"\n\n\
             [active_test]\nmax_duration_ms = 500\ncooldown_ms = {cooldown_ms}\nmax_firings = {max_firings}\n\n\
             [active_test.start]\nrequest = \"2F 01 02 03 01\"\nresponse = \"6F 01 02 03\"\nlevel = \"placeholder\"\n",
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, text).unwrap();
        crate::profile::load(path.to_str().unwrap()).unwrap();
        CarFile {
            _dir: dir,
            path: path.to_str().unwrap().to_owned(),
        }
    }

    /// A test profile written to a file (a run takes a profile's path).
    struct CarFile {
        _dir: tempfile::TempDir,
        path: String,
    }

    async fn run_on(bus: &VirtualBus, car: &CarFile, plan: &LivePlan) -> Report {
        run_as(bus, car, plan, &mut Unattended { yes: true }).await
    }

    /// [`run_on`] with someone at the terminal.
    async fn run_as(
        bus: &VirtualBus,
        car: &CarFile,
        plan: &LivePlan,
        operator: &mut dyn Operator,
    ) -> Report {
        let b = bus.clone();
        let (_, r) = run(
            move || Ok(b.endpoint(name("tester"))),
            name("vbus"),
            ("sim", "test".into()),
            &car.path,
            plan,
            operator,
            None,
            Shutdown::new(),
        )
        .await
        .unwrap();
        r
    }

    /// Each request a module heard, at its bus time.
    type Heard = Arc<std::sync::Mutex<Vec<(u64, Vec<u8>)>>>;

    /// The module of [`guarded_car`]: its body frame every 100 ms and
    /// single-frame answers; returns the bus time of every request heard.
    fn guarded_bcm(bus: &VirtualBus, alarm: bool) -> Heard {
        guarded_bcm_arming(bus, alarm.then_some(Duration::ZERO))
    }

    /// [`guarded_bcm`] whose alarm reads armed from `armed_after` on.
    fn guarded_bcm_arming(bus: &VirtualBus, armed_after: Option<Duration>) -> Heard {
        let heard: Heard = Arc::default();
        let mut body = bus.endpoint(name("body"));
        let start = tokio::time::Instant::now();
        tokio::spawn(async move {
            loop {
                let alarm = armed_after.is_some_and(|d| start.elapsed() >= d);
                let f =
                    CanFrame::classic(CanId::Standard(0x300), &[0, u8::from(alarm) << 1]).unwrap();
                if body.send(&f).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut ep = bus.endpoint(name("bcm"));
        let log = Arc::clone(&heard);
        tokio::spawn(async move {
            while let Ok(f) = ep.recv().await {
                if f.id != CanId::Standard(0x7A0) {
                    continue;
                }
                let d = f.data();
                let len = usize::from(d.first().copied().unwrap_or(0) & 0x0F);
                let req = d.get(1..1 + len).unwrap_or_default().to_vec();
                log.lock().unwrap().push((f.timestamp_us, req.clone()));
                let resp: Vec<u8> = match req.as_slice() {
                    [0x22, a, b] => vec![0x62, *a, *b, 0],
                    [0x2F, a, b, c, ..] => vec![0x6F, *a, *b, *c],
                    [sid, ..] => vec![sid + 0x40],
                    [] => continue,
                };
                let mut data = vec![resp.len() as u8];
                data.extend_from_slice(&resp);
                let r = CanFrame::classic(CanId::Standard(0x7A8), &data).unwrap();
                if ep.send(&r).await.is_err() {
                    return;
                }
            }
        });
        heard
    }

    async fn actuate_on(bus: &VirtualBus, car: &CarFile, assume_stopped: bool) -> Report {
        let plan = LivePlan {
            actuate: true,
            assume_stopped,
            listen: Duration::from_secs(1),
            ..plan()
        };
        run_on(bus, car, &plan).await
    }

    /// The firings (`2F ... 03 01`) a module heard, at their bus times.
    fn firings(heard: &Heard) -> Vec<u64> {
        heard
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, r)| r.first() == Some(&0x2F) && r.get(3) == Some(&0x03))
            .map(|(t, _)| *t)
            .collect()
    }

    /// An unknown speed refuses the active test unless the person vouches
    /// for a standing car.
    #[tokio::test(start_paused = true)]
    async fn an_unknown_speed_refuses_the_active_test_without_assume_stopped() {
        let car = guarded_car(false, false, 3000, 1);
        let bus = VirtualBus::new(1_000_000);
        let heard = guarded_bcm(&bus, false);
        let r = actuate_on(&bus, &car, false).await;
        assert!(firings(&heard).is_empty(), "{:?}", heard.lock().unwrap());
        assert!(
            r.source
                .notes
                .iter()
                .any(|n| n.contains("reads no vehicle speed") && n.contains("--assume-stopped")),
            "{:?}",
            r.source.notes
        );
        let bus = VirtualBus::new(1_000_000);
        let heard = guarded_bcm(&bus, false);
        actuate_on(&bus, &car, true).await;
        assert_eq!(firings(&heard).len(), 1);
    }

    /// A lid that does not open is fired again only up to the profile's
    /// most, each firing after the cool-down since the last one ended.
    #[tokio::test(start_paused = true)]
    async fn firings_wait_out_the_cooldown_and_stop_at_the_most() {
        for (max, want) in [(1u8, 1usize), (3, 3)] {
            let car = guarded_car(true, false, 4000, max);
            let bus = VirtualBus::new(1_000_000);
            let heard = guarded_bcm(&bus, false);
            let r = actuate_on(&bus, &car, false).await;
            let at = firings(&heard);
            assert_eq!(at.len(), want, "max {max}: {:?}", r.source.notes);
            for w in at.windows(2) {
                // The hold (500 ms) and the cool-down (4 s) between them.
                assert!(w[1] - w[0] >= 4_500_000, "{at:?}");
            }
        }
    }

    /// Nothing but the broadcasts while the alarm reads armed: no data read
    /// goes out, and the report says why.
    #[tokio::test(start_paused = true)]
    async fn polling_pauses_while_the_alarm_is_armed() {
        for alarm in [false, true] {
            let car = guarded_car(true, true, 3000, 1);
            let bus = VirtualBus::new(1_000_000);
            let heard = guarded_bcm(&bus, alarm);
            let r = run_on(&bus, &car, &plan()).await;
            let reads = heard
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, q)| q.first() == Some(&0x22))
                .count();
            let paused = r.source.notes.iter().any(|n| n == ALARM_PAUSE);
            assert_eq!((reads > 0, paused), (!alarm, alarm), "{:?}", r.source.notes);
        }
    }

    /// Someone who never presses, and keeps what they were told.
    #[derive(Default)]
    struct Listener {
        told: Vec<String>,
    }

    impl Operator for Listener {
        fn ask_press(&mut self, _: &str) -> Option<oneshot::Receiver<()>> {
            None
        }
        fn confirm(&mut self, _: &str) -> bool {
            false
        }
        fn say(&mut self, text: &str) {
            self.told.push(text.to_owned());
        }
    }

    /// An alarm that arms during the watch (not before the first request):
    /// the polling stops from then on, and the person is told as it
    /// happens, not only the report.
    #[tokio::test(start_paused = true)]
    async fn an_alarm_armed_during_the_watch_is_said_to_the_person() {
        let car = guarded_car(true, true, 3000, 1);
        let bus = VirtualBus::new(1_000_000);
        let armed_at = bus.now_us() + 2_000_000;
        let heard = guarded_bcm_arming(&bus, Some(Duration::from_secs(2)));
        let mut person = Listener::default();
        let plan = LivePlan {
            listen: Duration::from_secs(6),
            ..plan()
        };
        let r = run_as(&bus, &car, &plan, &mut person).await;
        let reads: Vec<u64> = heard
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, q)| q.first() == Some(&0x22))
            .map(|(at, _)| *at)
            .collect();
        // Read while the alarm was off, and none after it armed (a poll
        // period's grace for the body frame that says so to arrive), though
        // the watch went on for seconds.
        assert!(!reads.is_empty(), "{:?}", r.source.notes);
        let grace = 2 * POLL_PERIOD.as_micros() as u64;
        assert!(reads.iter().all(|&at| at < armed_at + grace), "{reads:?}");
        assert!(
            r.source.notes.iter().any(|n| n == ALARM_PAUSE),
            "{:?}",
            r.source.notes
        );
        assert_eq!(
            person.told.iter().filter(|t| *t == ALARM_PAUSE).count(),
            1,
            "{:?}",
            person.told
        );
    }

    /// How many times the run read the lockout flag.
    fn lockout_polls(r: &Report) -> u64 {
        r.evidence
            .series
            .iter()
            .find(|s| s.role == Role::Lockout)
            .map(|s| s.samples)
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn answering_bcm_is_read_and_polled() {
        let bus = VirtualBus::new(1_000_000);
        broadcaster(&bus, 124);
        nissan_bcm(&bus, true);
        let r = diagnose_on(&bus, "nissan-altima-2013-2018").await;
        assert_eq!(
            r.evidence.reachability.session_start,
            crate::evidence::SessionStart::Answered
        );
        assert!(r.evidence.dtc_read.answered);
        let polls = lockout_polls(&r);
        // 3 s of listening at 200 ms, plus the first read.
        assert!(polls >= 10, "{polls} polls");
        assert!(!r.source.notes.iter().any(|n| n.contains("retry")));
        // Lockout set and no press seen: valet-lockout, low confidence.
        assert_eq!(
            r.top().unwrap().id,
            VerdictId::Known(Cause::ValetLockout),
            "{:#?}",
            r.verdicts
        );
    }

    /// One or two lost answers to the session start do not cost the reads
    /// that need it: the run retries and the lockout flag is still polled.
    #[tokio::test(start_paused = true)]
    async fn a_lost_session_answer_is_retried() {
        for missed in [1, 2] {
            let bus = VirtualBus::new(1_000_000);
            broadcaster(&bus, 124);
            nissan_bcm_missing_sessions(&bus, true, missed);
            let r = diagnose_on(&bus, "nissan-altima-2013-2018").await;
            let polls = lockout_polls(&r);
            assert!(polls >= 8, "{missed} missed: {polls} polls");
            assert!(
                r.source.notes.iter().any(|n| n.contains("on a retry")),
                "{:?}",
                r.source.notes
            );
            assert_eq!(
                r.top().unwrap().id,
                VerdictId::Known(Cause::ValetLockout),
                "{:#?}",
                r.verdicts
            );
        }
    }
}
