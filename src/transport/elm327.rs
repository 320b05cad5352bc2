//! ELM327 and OBDLink (STN) adapters over a serial port (USB, Bluetooth
//! serial) or TCP (WiFi dongles).
//!
//! An ELM327 is not a raw CAN interface: it does ISO-TP itself (`ATCAF1`:
//! it adds the PCI byte to our requests and sends the flow control for
//! multi-frame answers) and it listens only while it waits for an answer,
//! or while monitoring (`ATMA`, `STMA` on an STN chip). It is still
//! presented as a [`CanBus`](super::CanBus), honestly:
//!
//! - `send` takes single frames (requests of up to 7 bytes, what a trunk
//!   diagnosis sends) and has the adapter send them; multi-frame requests
//!   are refused with a clear error. The tester sends no flow control of
//!   its own ([`CanBus::adapter_flow_control`](super::CanBus::adapter_flow_control)): the adapter does, as
//!   configured from the link (`ATFCSH`/`ATFCSD`/`ATFCSM1`), or with its
//!   default when a clone refuses those commands (named in the notes).
//! - `recv` delivers the frames the adapter printed (`ATH1`: id and every
//!   data byte, PCI included), stamped when they arrived: the answers to
//!   our requests, and between requests whatever the monitor heard. So the
//!   analyzer and the recording see what the adapter delivered, and a
//!   replay of the recording gives the same verdict. A clone that ignores
//!   `ATH1` prints answers without ids (`43 00`, or the CAN auto-format's
//!   `014` / `0: ...` / `1: ...`): they are rebuilt as the frames they came
//!   in, on the id the receive filter (`ATCRA`) lets through, and the notes
//!   say so; with no filter set, who answered is unknown and the answer is
//!   an error. A line that is neither is an error naming it, not a wait
//!   for a timeout; an echo left on is dropped.
//! - What it can do is found by trying, not by trusting `OK`: [`MADE_UP`],
//!   a command no adapter has, must be answered `?`, or its `OK`s prove
//!   nothing (and `STI` must name STN firmware for an STN chip); then
//!   `ATCAF0` (frames sent as given: what a multi-frame send by the tool
//!   needs) and another bitrate (`ATPB`/`ATSPB`, or `STPBR`) are tried at
//!   start-up and undone at once, before anything goes on the bus.
//! - What it could not do goes into [`CanBus::notes`](super::CanBus::notes): broadcasts are
//!   heard only between requests (how long, of how long), or not at all
//!   when the adapter cannot monitor; the flow-control fallback; the
//!   commands a clone refused.
//!
//! `BUFFER FULL`, `CAN ERROR`, `?` to a request, `STOPPED` and a silent
//! adapter are errors (`BusError::Adapter`); the adapter stays usable after
//! the first three, so the tester can still leave the session. `NO DATA`
//! before any answer of the run is an error too (no module answers at that
//! address: wrong profile, ignition off, another bus); after one, it is a
//! missed answer, noted in the report, and the client sees no answer.
//!
//! GM's single-wire CAN (LS-GMLAN, a bus opened with
//! [`BusKind::SingleWire`]) is reached only by an STN chip with SW-CAN: the
//! core asks `STI` first and selects [`stn_single_wire_protocol`]; a plain
//! ELM327, or an STN that answers `?`, is refused
//! ([`Unsupported::ElmSingleWire`]) before anything goes on the bus.
//!
//! [`ElmCore`] is the protocol without the port (sans-IO: bytes and
//! `now_us` in; bytes to write, serial speeds to try, frames, errors and
//! completions out), serialising the probe, commands, requests and the
//! monitor; `serial`'s one driver runs it on the port or connection.

use crate::seconds::us;
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use super::adapter::{Core, Dialect, Output, Ticket, Token, Wire};
use super::{
    AdapterError, AdapterFacts, BusError, BusKind, Capability, DropCount, LinkHint, PhysicalBus,
    Probed, SingleWireRefusal, Support, Unsupported,
};
use crate::frame::{CanFrame, CanId};
use crate::hex;

/// Serial speeds tried, in this order, when none is given.
pub const PROBE_BAUDS: [u32; 5] = [38_400, 9_600, 115_200, 230_400, 500_000];
/// How long a probe waits for the prompt at one speed.
const PROBE_WAIT: Duration = Duration::from_millis(500);
/// How long a refusal of `ATMA` / `STMA` may take to come back.
const MONITOR_CONFIRM: Duration = Duration::from_millis(100);
/// How long `ATZ` may take.
const RESET_WAIT: Duration = Duration::from_secs(5);
/// How long any other command may take.
pub const COMMAND_WAIT: Duration = Duration::from_secs(2);
/// How long a request may take until the prompt (the adapter's own
/// timeout, response-pending waits included).
const REQUEST_WAIT: Duration = Duration::from_secs(10);

/// Where the adapter is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElmEndpoint {
    /// A serial port; `baud` None: probe [`PROBE_BAUDS`].
    Serial { port: String, baud: Option<u32> },
    /// `HOST:PORT` of a WiFi adapter.
    Tcp(String),
}

impl fmt::Display for ElmEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElmEndpoint::Serial { port, baud } => {
                write!(f, "elm327:{port}")?;
                baud.map_or(Ok(()), |b| write!(f, "@{b}"))
            }
            ElmEndpoint::Tcp(a) => write!(f, "elm327:tcp:{a}"),
        }
    }
}

/// What the bus asks of an ELM327.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElmCommand {
    /// Stop monitoring and address the module, then hold until a request.
    Prepare { link: Option<LinkHint> },
    /// Send this single-frame payload (without its PCI) on `tx`.
    Request {
        tx: CanId,
        payload: Vec<u8>,
        link: Option<LinkHint>,
    },
}

/// One exchange with the adapter, or a change of the core's own state.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// `ATZ`: the version lines.
    Reset,
    /// Must be answered `OK`.
    Must(String),
    /// A clone may refuse it: a note if it does.
    May(String),
    /// One of `ATFCSH`/`ATFCSD`/`ATFCSM1`: a refusal skips the rest and
    /// falls back to the adapter's default.
    FlowControl(String),
    /// `ATFCSM0` after a flow-control refusal.
    FlowControlFallback,
    /// `ATI`, `STI`, `ATRV`: kept for the note.
    Info(Info),
    /// `ATMA` / `STMA`: starts the monitor (no prompt until it ends).
    StartMonitor,
    /// A space stops the monitor; lines until the prompt.
    StopMonitor,
    /// Lines until the prompt, nothing written (after a monitor ended);
    /// `lenient`: silence is not an error.
    Drain { lenient: bool },
    /// The request's payload in hex; its answer lines.
    Request { tx: CanId, payload: String },
    /// The link's header and filter are set.
    LinkApplied { tx: CanId, rx: CanId },
    /// `STP63` / `STP64` on an STN chip (11- / 29-bit requests); a plain
    /// ELM327 is refused here instead, before anything is sent.
    SingleWire { extended: bool },
    /// The receive filter was opened for the monitor.
    FilterOpened,
    /// [`MADE_UP`]: must be refused.
    MadeUp,
    /// A capability probe; the next steps depend on its answer.
    Probe { probe: Probe, command: String },
    /// The CAN speed switching probe: `STPBR` on an STN chip, else `ATPB`.
    SpeedProbe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Info {
    Ati,
    Sti,
    /// `STDI` on an STN chip: its hardware.
    Stdi,
    Volts,
}

/// What the steps in hand are for.
#[derive(Debug)]
enum Op {
    Init,
    Prepare(Ticket),
    /// The ticket until the request is written.
    Request(Option<Ticket>),
    Monitor,
    Close,
}

/// A step written, its answer lines awaited until the prompt or `deadline`.
#[derive(Debug)]
struct Asked {
    step: Step,
    /// The command as written (its echo is dropped; messages name it).
    command: String,
    lines: Vec<String>,
    deadline: u64,
    /// An error line ended the answer: the rest is not read.
    spoilt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeStage {
    /// After a CR, whatever comes is dropped.
    Settle,
    /// After `ATI`, a prompt is awaited.
    Ati,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Unopened,
    Probing {
        at: usize,
        stage: ProbeStage,
        until: u64,
    },
    Ready,
}

/// How the adapter is told the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Medium {
    /// An ELM327 protocol (`ATSP6`...) for a two-wire bus at this rate.
    HighSpeed { bitrate: u32 },
    /// GM's single-wire CAN: an STN protocol ([`stn_single_wire_protocol`]),
    /// once `STI` says the adapter is an STN chip.
    SingleWire,
}

/// The ELM327 / STN protocol without the port (see the module doc).
#[derive(Debug)]
pub struct ElmCore {
    name: String,
    medium: Medium,
    /// Serial speeds to probe; empty: one probe at the speed in use (TCP).
    bauds: Vec<u32>,
    /// Where a failed probe looked, for the error.
    tried: Probed,
    wire: Wire,
    phase: Phase,
    steps: VecDeque<Step>,
    asked: Option<Asked>,
    op: Option<Op>,
    queued: VecDeque<(Ticket, ElmCommand)>,
    closing: bool,
    link: Option<LinkHint>,
    /// The header and filter the adapter has now.
    applied: Option<(CanId, CanId)>,
    stn: bool,
    can_monitor: bool,
    monitoring: bool,
    /// Commands wait until then: a monitor just started may be refused.
    confirm_until: Option<u64>,
    /// A request is about to come: do not start the monitor.
    hold: bool,
    /// The receive filter was opened for the monitor (`ATCRA` reset).
    filter_open: bool,
    /// Some request of this run was answered: a later `NO DATA` is one
    /// missed answer (evidence), not a module that is not there.
    answered: bool,
    version: Option<String>,
    ati: String,
    sti: String,
    volts: String,
    notes: Vec<String>,
    first_request_us: Option<u64>,
    monitored_us: u64,
    monitor_since_us: Option<u64>,
    /// The monitor ran at all / the adapter cannot monitor.
    monitored: bool,
    cannot_monitor: bool,
    /// Each configuration command tried and whether it was accepted (the
    /// latest answer per command): what `facts` reports as probed.
    answers: Vec<(String, bool)>,
    stdi: String,
    /// `BUFFER FULL` reports: the adapter dropped frames each time.
    buffer_full: u64,
    /// Frames the monitor delivered.
    monitor_frames: u64,
    /// The monitor was stopped by a byte and answered with the prompt.
    monitor_stopped: bool,
    /// The monitor ended by itself (a prompt nobody asked for).
    monitor_quit: bool,
    /// Answers came without their ids although `ATH1` was accepted (a
    /// clone): they are read as coming from the receive filter's id.
    headerless: bool,
    /// A headerless multi-line answer (`014`, `0: ...`, `1: ...`) being
    /// turned back into its frames.
    lines_answer: Option<LinesAnswer>,
    /// Commands were still echoed after `ATE0` was accepted.
    echo_seen: bool,
    /// The answer to [`MADE_UP`], a command no adapter has: `?` shows its
    /// `OK`s mean something; `OK` shows it answers `OK` to anything.
    made_up: Option<String>,
    /// Each capability probe: the command and the adapter's answer.
    probes: Vec<(Probe, String, String)>,
}

/// A command no ELM327 or STN chip has (no AT command starts with `Q`):
/// an adapter must answer it `?`.
pub const MADE_UP: &str = "ATQQ";

/// The bitrate the CAN speed switching probe selects for a moment (a body
/// bus's, such as Ford's MS-CAN), then leaves.
const PROBE_BITRATE: u32 = 125_000;

/// What a capability probe tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// `ATCAF0`: frames sent as given, PCI included, so a tool can send a
    /// first frame and its consecutive frames itself.
    RawFrames,
    /// `ATPB` (protocol B's options and bitrate), then `ATSPB`.
    SpeedParams,
    SpeedSelect,
    /// `STPBR` on an STN chip.
    StnSpeed,
}

/// A headerless multi-line answer being rebuilt as ISO-TP frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LinesAnswer {
    /// The length the adapter announced (`014`: 20 bytes).
    len: usize,
    /// Bytes delivered so far.
    got: usize,
    /// The next line number (0-F, then 0 again).
    next: u8,
}

impl ElmCore {
    /// A core for the adapter at `endpoint` on `bus`; fails for a
    /// high-speed bitrate an ELM327 has no protocol for. Single-wire CAN is
    /// refused later, once the adapter said whether it is an STN chip.
    pub fn new(endpoint: &ElmEndpoint, bus: PhysicalBus) -> Result<ElmCore, BusError> {
        let name = endpoint.to_string();
        let medium = match bus.kind {
            BusKind::SingleWire => Medium::SingleWire,
            BusKind::HighSpeed => {
                let bitrate = bus.bitrate;
                protocol_for(bitrate, false).ok_or_else(|| {
                    BusError::unsupported(Unsupported::ElmBitrate {
                        adapter: name.clone(),
                        bitrate,
                    })
                })?;
                Medium::HighSpeed { bitrate }
            }
        };
        let (bauds, tried) = match endpoint {
            ElmEndpoint::Serial { baud: Some(b), .. } => (vec![*b], Probed::Bauds(vec![*b])),
            ElmEndpoint::Serial { baud: None, .. } => {
                (PROBE_BAUDS.to_vec(), Probed::Bauds(PROBE_BAUDS.to_vec()))
            }
            ElmEndpoint::Tcp(addr) => (Vec::new(), Probed::Tcp(addr.clone())),
        };
        Ok(ElmCore {
            name,
            medium,
            bauds,
            tried,
            wire: Wire::new(Dialect::Elm),
            phase: Phase::Unopened,
            steps: VecDeque::new(),
            asked: None,
            op: None,
            queued: VecDeque::new(),
            closing: false,
            link: None,
            applied: None,
            stn: false,
            can_monitor: true,
            monitoring: false,
            confirm_until: None,
            hold: false,
            filter_open: false,
            answered: false,
            version: None,
            ati: String::new(),
            sti: String::new(),
            volts: String::new(),
            notes: Vec::new(),
            first_request_us: None,
            monitored_us: 0,
            monitor_since_us: None,
            monitored: false,
            cannot_monitor: false,
            answers: Vec::new(),
            stdi: String::new(),
            buffer_full: 0,
            monitor_frames: 0,
            monitor_stopped: false,
            monitor_quit: false,
            headerless: false,
            lines_answer: None,
            echo_seen: false,
            made_up: None,
            probes: Vec::new(),
        })
    }

    fn err(&self, error: AdapterError) -> BusError {
        BusError::Adapter {
            adapter: self.name.clone(),
            error,
        }
    }

    fn note(&mut self, n: String) {
        if !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }

    fn deliver(&mut self, frame: CanFrame, now_us: u64) {
        self.wire.out.push_back(Output::Frame(frame.at(now_us)));
    }

    fn fail(&mut self, error: AdapterError, now_us: u64) {
        self.end_monitor_time(now_us);
        self.wire.finish(Err(error));
        self.asked = None;
        self.steps.clear();
    }

    // ---- probing

    fn probe(&mut self, at: usize, now_us: u64) {
        let Some(baud) = self
            .bauds
            .get(at)
            .copied()
            .or(self.bauds.is_empty().then_some(0))
        else {
            let tried = self.tried.clone();
            return self.fail(AdapterError::NotFound { tried }, now_us);
        };
        if baud != 0 {
            self.wire.out.push_back(Output::SetBaud(baud));
        }
        // A CR (which also stops a monitor left running); whatever it gives
        // (a prompt, STOPPED, the last command again, or nothing just
        // after power-up) is dropped.
        self.wire.lines.clear();
        self.wire.write("\r");
        self.phase = Phase::Probing {
            at,
            stage: ProbeStage::Settle,
            until: now_us.saturating_add(us(PROBE_WAIT / 2)),
        };
    }

    fn probe_ati(&mut self, at: usize, now_us: u64) {
        self.wire.lines.clear();
        self.wire.write("ATI\r");
        self.phase = Phase::Probing {
            at,
            stage: ProbeStage::Ati,
            until: now_us.saturating_add(us(PROBE_WAIT)),
        };
    }

    fn probe_token(&mut self, at: usize, stage: ProbeStage, token: Token, now_us: u64) {
        match (stage, token) {
            (ProbeStage::Settle, Token::Garbage(_)) => self.probe_ati(at, now_us),
            (ProbeStage::Ati, Token::Prompt) => {
                self.wire.lines.clear();
                if let Some(b) = self.bauds.get(at).filter(|_| self.bauds.len() > 1) {
                    tracing::info!("{}: answers at {b} baud", self.name);
                }
                self.phase = Phase::Ready;
                self.start(Op::Init, now_us);
            }
            (ProbeStage::Ati, Token::Garbage(_)) => self.probe(at + 1, now_us),
            _ => {}
        }
    }

    // ---- operations

    fn start(&mut self, op: Op, now_us: u64) {
        let mut steps = Vec::new();
        match &op {
            Op::Init => {
                let single_wire = self.medium == Medium::SingleWire;
                steps.push(Step::Reset);
                steps.push(Step::Must("ATE0".into()));
                steps.push(Step::May("ATL0".into()));
                steps.push(Step::Must("ATS1".into()));
                steps.push(Step::Must("ATH1".into()));
                if single_wire {
                    // Who it is decides whether it can reach the bus at all.
                    steps.push(Step::Info(Info::Sti));
                }
                steps.push(self.protocol_step(false));
                steps.push(Step::Must("ATCAF1".into()));
                steps.push(Step::May("ATCFC1".into()));
                steps.push(Step::Info(Info::Ati));
                if !single_wire {
                    steps.push(Step::Info(Info::Sti));
                }
                steps.push(Step::Info(Info::Volts));
                // Found by trying, not by trusting `OK`: first whether it
                // refuses what it does not have, then the probes.
                steps.push(Step::MadeUp);
                steps.push(Step::Probe {
                    probe: Probe::RawFrames,
                    command: "ATCAF0".into(),
                });
                if !single_wire {
                    steps.push(Step::SpeedProbe);
                }
            }
            Op::Prepare(_) => {
                if self.monitoring {
                    steps.push(Step::StopMonitor);
                }
                if let Some(h) = self.link {
                    steps.extend(self.link_steps(h.tx, h.rx));
                }
            }
            Op::Request(_) => {}
            Op::Monitor => {
                // Hear every id, not only the module's answers.
                steps.push(Step::Must("ATCRA".into()));
                steps.push(Step::FilterOpened);
                steps.push(Step::StartMonitor);
            }
            Op::Close => {
                if self.monitoring {
                    steps.push(Step::StopMonitor);
                }
            }
        }
        self.steps.extend(steps);
        self.op = Some(op);
        self.advance(now_us);
    }

    fn start_request(&mut self, ticket: Ticket, tx: CanId, payload: &[u8], now_us: u64) {
        self.hold = false;
        let Some(rx) = self.link.map(|h| h.rx) else {
            let e = BusError::unsupported(Unsupported::ElmNoLink {
                adapter: self.name.clone(),
            });
            self.wire.out.push_back(Output::Done(ticket, Err(e)));
            return;
        };
        if self.monitoring {
            self.steps.push_back(Step::StopMonitor);
        }
        let link = self.link_steps(tx, rx);
        self.steps.extend(link);
        self.steps.push_back(Step::Request {
            tx,
            payload: hex::encode_upper(payload),
        });
        self.op = Some(Op::Request(Some(ticket)));
        self.advance(now_us);
    }

    /// Selects the bus for requests with 11- or 29-bit ids: `ATSP6`..`9`,
    /// or the STN's single-wire protocol.
    fn protocol_step(&self, extended: bool) -> Step {
        match self.medium {
            Medium::HighSpeed { bitrate } => {
                let proto = protocol_for(bitrate, extended).unwrap_or('6');
                Step::Must(format!("ATSP{proto}"))
            }
            Medium::SingleWire => Step::SingleWire { extended },
        }
    }

    /// Points the adapter at the module: header, answer filter, flow
    /// control (or the named fallback).
    fn link_steps(&self, tx: CanId, rx: CanId) -> Vec<Step> {
        if self.applied == Some((tx, rx)) && !self.filter_open {
            return Vec::new();
        }
        let mut steps = Vec::new();
        if self.applied.map(|a| a.0) != Some(tx) {
            steps.push(self.protocol_step(tx.is_extended()));
            match tx {
                CanId::Standard(id) => steps.push(Step::Must(format!("ATSH{id:03X}"))),
                CanId::Extended(id) => {
                    steps.push(Step::Must(format!("ATCP{:02X}", id >> 24)));
                    steps.push(Step::Must(format!("ATSH{:06X}", id & 0xFF_FFFF)));
                }
            }
            let (bs, st) = self.link.map_or((0, 0), |h| (h.block_size, h.st_min));
            steps.push(Step::FlowControl(format!("ATFCSH{tx}")));
            steps.push(Step::FlowControl(format!("ATFCSD30{bs:02X}{st:02X}")));
            steps.push(Step::FlowControl("ATFCSM1".into()));
        }
        steps.push(Step::Must(format!("ATCRA{rx}")));
        steps.push(Step::LinkApplied { tx, rx });
        steps
    }

    /// The op in hand failed at a step with this adapter error, which
    /// leaves the adapter usable.
    fn op_failed(&mut self, error: AdapterError, now_us: u64) {
        self.steps.clear();
        self.asked = None;
        match self.op.take() {
            Some(Op::Init) => self.fail(error, now_us),
            Some(Op::Prepare(ticket) | Op::Request(Some(ticket))) => {
                self.hold = false;
                let e = self.err(error);
                self.wire.out.push_back(Output::Done(ticket, Err(e)));
            }
            Some(Op::Monitor) => {
                // Not again: a clone that refuses its filter would loop.
                self.can_monitor = false;
                let e = self.err(error);
                self.wire.out.push_back(Output::Error(e));
            }
            Some(Op::Request(None)) | None => {
                let e = self.err(error);
                self.wire.out.push_back(Output::Error(e));
            }
            Some(Op::Close) => {
                self.wire.finish(Ok(()));
            }
        }
    }

    fn op_done(&mut self, op: Op) {
        match op {
            Op::Init => {
                let id = if self.stn {
                    format!("{}, {} (OBDLink/STN)", self.ati, self.sti)
                } else {
                    self.version.clone().unwrap_or_else(|| self.ati.clone())
                };
                let mut note =
                    format!("{}: adapter {id}; battery {} (ATRV)", self.name, self.volts);
                if self.medium == Medium::SingleWire {
                    note.push_str(&format!(
                        "; on single-wire CAN (STP{})",
                        stn_single_wire_protocol(false)
                    ));
                }
                tracing::info!("{note}");
                self.note(note);
            }
            Op::Prepare(ticket) => {
                self.hold = true;
                self.wire.out.push_back(Output::Done(ticket, Ok(())));
            }
            Op::Close => {
                self.wire.finish(Ok(()));
            }
            Op::Request(_) | Op::Monitor => {}
        }
    }

    fn should_monitor(&self) -> bool {
        !self.hold
            && !self.closing
            && self.can_monitor
            && self.applied.is_some()
            && self.first_request_us.is_some()
    }

    /// Runs steps and ops until one waits for the adapter.
    fn advance(&mut self, now_us: u64) {
        loop {
            if self.wire.finished.is_some() || self.phase != Phase::Ready || self.asked.is_some() {
                return;
            }
            if let Some(step) = self.steps.pop_front() {
                self.run(step, now_us);
                continue;
            }
            if let Some(op) = self.op.take() {
                self.op_done(op);
                continue;
            }
            if self.confirm_until.is_some_and(|c| now_us < c) {
                return;
            }
            self.confirm_until = None;
            if let Some((ticket, command)) = self.queued.pop_front() {
                match command {
                    ElmCommand::Prepare { link } => {
                        self.link = link.or(self.link);
                        self.start(Op::Prepare(ticket), now_us);
                    }
                    ElmCommand::Request { tx, payload, link } => {
                        self.link = link.or(self.link);
                        self.start_request(ticket, tx, &payload, now_us);
                    }
                }
                continue;
            }
            if self.closing {
                self.start(Op::Close, now_us);
                continue;
            }
            if !self.monitoring && self.should_monitor() {
                self.start(Op::Monitor, now_us);
                continue;
            }
            return;
        }
    }

    /// Writes a step (or does it, for the core's own state).
    fn run(&mut self, step: Step, now_us: u64) {
        let (command, wait) = match &step {
            Step::Reset => ("ATZ".to_owned(), RESET_WAIT),
            Step::Must(c) | Step::May(c) | Step::FlowControl(c) => (c.clone(), COMMAND_WAIT),
            Step::FlowControlFallback => ("ATFCSM0".to_owned(), COMMAND_WAIT),
            Step::Info(Info::Ati) => ("ATI".to_owned(), COMMAND_WAIT),
            Step::Info(Info::Sti) => ("STI".to_owned(), COMMAND_WAIT),
            Step::Info(Info::Stdi) => ("STDI".to_owned(), COMMAND_WAIT),
            Step::Info(Info::Volts) => ("ATRV".to_owned(), COMMAND_WAIT),
            Step::Request { payload, .. } => (payload.clone(), REQUEST_WAIT),
            Step::StopMonitor | Step::Drain { .. } => (String::new(), COMMAND_WAIT),
            Step::MadeUp => (MADE_UP.to_owned(), COMMAND_WAIT),
            Step::Probe { command, .. } => (command.clone(), COMMAND_WAIT),
            Step::SpeedProbe => {
                let step = match self.medium {
                    Medium::HighSpeed { .. } if self.stn => Step::Probe {
                        probe: Probe::StnSpeed,
                        command: format!("STPBR{PROBE_BITRATE}"),
                    },
                    // Protocol B: 11-bit ids, 8 data bytes, ISO 15765, at
                    // 500 kbit/s divided by the second byte.
                    Medium::HighSpeed { .. } => Step::Probe {
                        probe: Probe::SpeedParams,
                        command: format!("ATPB81{:02X}", 500_000 / PROBE_BITRATE),
                    },
                    Medium::SingleWire => return,
                };
                return self.run(step, now_us);
            }
            Step::StartMonitor => {
                let c = if self.stn { "STMA" } else { "ATMA" };
                self.wire.write(&format!("{c}\r"));
                self.monitoring = true;
                self.confirm_until = Some(now_us.saturating_add(us(MONITOR_CONFIRM)));
                self.monitor_since_us = Some(now_us);
                self.monitored = true;
                return;
            }
            Step::LinkApplied { tx, rx } => {
                self.applied = Some((*tx, *rx));
                self.filter_open = false;
                return;
            }
            Step::FilterOpened => {
                self.filter_open = true;
                return;
            }
            Step::SingleWire { .. } if !self.stn => {
                let version = self
                    .version
                    .clone()
                    .unwrap_or_else(|| "it gave no version".to_owned());
                let why = SingleWireRefusal::PlainElm { version };
                return self.op_failed(single_wire_refused(why), now_us);
            }
            Step::SingleWire { extended } => (
                format!("STP{}", stn_single_wire_protocol(*extended)),
                COMMAND_WAIT,
            ),
        };
        match &step {
            Step::StopMonitor => {
                // Any byte stops the monitor; a space, not a CR: if the
                // monitor ended by itself just before (BUFFER FULL), a CR at
                // the prompt would repeat the last command and start it
                // again, while a space is only a leading blank of the next
                // command, which the adapter ignores.
                self.wire.write(" ");
                self.monitor_ended(now_us);
            }
            Step::Drain { .. } => {}
            _ => self.wire.write(&format!("{command}\r")),
        }
        if let Step::Request { .. } = step {
            self.first_request_us.get_or_insert(now_us);
            if let Some(Op::Request(ticket)) = &mut self.op {
                if let Some(t) = ticket.take() {
                    self.wire.out.push_back(Output::Done(t, Ok(())));
                }
            }
        }
        self.asked = Some(Asked {
            step,
            command,
            lines: Vec::new(),
            deadline: now_us.saturating_add(us(wait)),
            spoilt: false,
        });
    }

    // ---- answers

    fn token(&mut self, token: Token, now_us: u64) {
        if let Phase::Probing { at, stage, .. } = self.phase {
            return self.probe_token(at, stage, token, now_us);
        }
        if self.phase != Phase::Ready {
            return;
        }
        if self.asked.is_some() {
            return self.answer_token(token, now_us);
        }
        if self.monitoring {
            return self.monitor_token(token, now_us);
        }
        tracing::debug!("{}: ignored {token:?} between commands", self.name);
    }

    fn answer_token(&mut self, token: Token, now_us: u64) {
        if let Token::Line(l) = &token {
            if self.asked.as_ref().is_some_and(|a| &a.command == l) {
                // The echo, before ATE0 took effect, or a clone's that
                // keeps echoing after accepting it.
                if self.answers.iter().any(|(c, ok)| c == "ATE0" && *ok) {
                    self.echo_seen = true;
                }
                return;
            }
        }
        let Some(asked) = self.asked.as_mut() else {
            return;
        };
        match token {
            Token::Prompt => {
                if let Some(asked) = self.asked.take() {
                    self.step_answered(asked, now_us);
                }
            }
            Token::Line(l) if asked.spoilt => {
                tracing::debug!("{}: ignored {l:?} after an error", self.name);
            }
            Token::Line(l) => match asked.step.clone() {
                Step::Request { tx, payload } => self.request_line(l, tx, payload, now_us),
                Step::StopMonitor => match parse_frame(&l) {
                    Some(f) => self.deliver(f, now_us),
                    None if l == "BUFFER FULL" => {
                        self.can_monitor = false;
                        self.buffer_full += 1;
                        let e = self.err(AdapterError::BufferFull);
                        self.wire.out.push_back(Output::Error(e));
                    }
                    None => {}
                },
                _ => asked.lines.push(l),
            },
            Token::Garbage(junk) => {
                let command = asked.command.clone();
                let e = self.err(AdapterError::Unexpected {
                    command,
                    line: junk,
                    expected: "lines of text (is the serial speed right?)",
                });
                self.wire.out.push_back(Output::Error(e));
            }
            Token::Bell | Token::Ok => {}
        }
    }

    /// A line of the answer to a request.
    fn request_line(&mut self, l: String, tx: CanId, command: String, now_us: u64) {
        let error = if let Some(f) = parse_frame(&l).filter(|f| !f.data().is_empty()) {
            self.lines_answer = None;
            self.answered = true;
            return self.deliver(f, now_us);
        } else if let Some(rebuilt) = self.headerless_line(&l, tx, &command) {
            match rebuilt {
                Ok(frames) => {
                    for f in frames {
                        self.answered = true;
                        self.deliver(f, now_us);
                    }
                    return;
                }
                Err(e) => e,
            }
        } else if l.starts_with("SEARCHING") || l.starts_with("BUS INIT") {
            tracing::debug!("{}: {l:?} in the answer to {command}", self.name);
            return;
        } else if l == "NO DATA" && !self.answered {
            // Nothing has answered through this adapter yet: waiting out
            // the client's timeouts would only hide that.
            AdapterError::NoData {
                command,
                module: tx,
            }
        } else if l == "NO DATA" {
            tracing::debug!("{}: NO DATA after {command}", self.name);
            let n = format!(
                "{}: NO DATA to {command}: the module answered earlier requests, not this one",
                self.name
            );
            return self.note(n);
        } else if l == "?" {
            AdapterError::Refused { command }
        } else if l == "BUFFER FULL" {
            self.buffer_full += 1;
            AdapterError::BufferFull
        } else if let Some((hint, _)) = error_line(&l) {
            AdapterError::Reported {
                report: l,
                command,
                hint,
            }
        } else {
            AdapterError::Unexpected {
                command,
                line: l,
                expected: "the frames of an answer, an id and hex bytes (`7E8 02 43 00`), \
                           or without ids hex bytes (`43 00`)",
            }
        };
        if let Some(a) = self.asked.as_mut() {
            a.spoilt = true;
        }
        let e = self.err(error);
        self.wire.out.push_back(Output::Error(e));
    }

    /// A line of an answer printed without ids (`43 00`, or the CAN
    /// auto-format's `014` / `0: ...` / `1: ...`), rebuilt as the frames
    /// it came in, on the id the receive filter lets through. `None`: the
    /// line is no such thing.
    fn headerless_line(
        &mut self,
        line: &str,
        tx: CanId,
        command: &str,
    ) -> Option<Result<Vec<CanFrame>, AdapterError>> {
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        let shape = match words.as_slice() {
            [len] if len.len() == 3 => Headerless::Length(usize::from_str_radix(len, 16).ok()?),
            [n, rest @ ..] if n.len() == 2 && n.ends_with(':') => {
                let n = u8::from_str_radix(n.get(..1)?, 16).ok()?;
                Headerless::Numbered(n, hex_words(rest)?)
            }
            // A 29-bit header printed with spaces looks like data bytes.
            _ if tx.is_extended() => return None,
            _ => Headerless::Single(hex_words(&words)?),
        };
        let unexpected = |expected: &'static str| {
            Some(Err(AdapterError::Unexpected {
                command: command.to_owned(),
                line: line.to_owned(),
                expected,
            }))
        };
        let Some(rx) = self.applied.filter(|_| !self.filter_open).map(|a| a.1) else {
            return unexpected(
                "an answer with its id (ATH1): without one, and no receive filter set, who \
                 answered is unknown",
            );
        };
        let data = match shape {
            Headerless::Length(len) if (8..=0xFFF).contains(&len) => {
                self.lines_answer = Some(LinesAnswer {
                    len,
                    got: 0,
                    next: 0,
                });
                return Some(Ok(Vec::new()));
            }
            Headerless::Length(_) => {
                return unexpected("the length of a multi-frame answer, 008 to FFF bytes")
            }
            Headerless::Single(bytes) if (1..=7).contains(&bytes.len()) => {
                self.lines_answer = None;
                let mut data = vec![bytes.len() as u8];
                data.extend(bytes);
                data
            }
            Headerless::Single(_) => return unexpected("one to seven bytes of a single frame"),
            Headerless::Numbered(n, bytes) => {
                let Some(mut at) = self.lines_answer.filter(|a| a.next == n) else {
                    return unexpected(
                        "the numbered lines of an answer, in order, after its length",
                    );
                };
                let data = if at.got == 0 && bytes.len() == 6 {
                    let len = at.len as u16;
                    let mut data = vec![0x10 | (len >> 8) as u8, len as u8];
                    data.extend(bytes);
                    data
                } else if at.got > 0 && (1..=7).contains(&bytes.len()) {
                    let mut data = vec![0x20 | n];
                    data.extend(bytes);
                    data
                } else {
                    return unexpected("six bytes on line 0, then up to seven on each line");
                };
                at.got += data.len() - if at.got == 0 { 2 } else { 1 };
                at.next = (n + 1) & 0x0F;
                self.lines_answer = (at.got < at.len).then_some(at);
                data
            }
        };
        let frame = CanFrame::classic(rx, &data).ok()?;
        if !self.headerless {
            self.headerless = true;
            let n = format!(
                "{}: the adapter answers without ids although it accepted ATH1 (a clone): its \
                 answers are read as coming from {rx}, the id its receive filter (ATCRA{rx}) \
                 lets through, and recorded so",
                self.name
            );
            tracing::info!("{n}");
            self.note(n);
        }
        Some(Ok(vec![frame]))
    }

    /// The prompt ended a step's answer.
    fn step_answered(&mut self, asked: Asked, now_us: u64) {
        let Asked {
            step,
            command,
            lines,
            ..
        } = asked;
        let ok = lines.iter().any(|l| l == "OK");
        if let Step::Must(_) | Step::May(_) | Step::FlowControl(_) | Step::SingleWire { .. } = step
        {
            self.answered_command(&command, ok);
        }
        match step {
            Step::Reset => {
                self.version = lines
                    .iter()
                    .find(|l| l.contains("ELM327") || l.contains("STN") || l.contains("OBDLink"))
                    .cloned();
            }
            Step::Must(_) if ok => {}
            Step::Must(_) if lines.iter().any(|l| l == "?") => {
                return self.op_failed(AdapterError::Refused { command }, now_us)
            }
            Step::Must(_) => {
                let error = AdapterError::Unexpected {
                    command,
                    line: lines.join(" / "),
                    expected: "OK",
                };
                return self.op_failed(error, now_us);
            }
            Step::SingleWire { .. } if ok => {}
            Step::SingleWire { .. } if lines.iter().any(|l| l == "?") => {
                let why = SingleWireRefusal::StnWithoutSingleWire {
                    sti: self.sti.clone(),
                    command,
                };
                return self.op_failed(single_wire_refused(why), now_us);
            }
            Step::SingleWire { .. } => {
                let error = AdapterError::Unexpected {
                    command,
                    line: lines.join(" / "),
                    expected: "OK",
                };
                return self.op_failed(error, now_us);
            }
            Step::May(_) | Step::FlowControl(_) if ok => {}
            Step::May(_) | Step::FlowControl(_) => {
                self.note(format!(
                    "{}: the adapter refused {command} (answered {:?}): probably a clone",
                    self.name,
                    lines.join(" / ")
                ));
                if let Step::FlowControl(_) = step {
                    self.steps.retain(|s| !matches!(s, Step::FlowControl(_)));
                    self.steps.push_front(Step::FlowControlFallback);
                }
            }
            Step::FlowControlFallback => self.note(format!(
                "{}: flow control fallback: the adapter's default (ATFCSM0), because it refused \
                 to set its own; the default addresses the module right for 7E0-7E7 only, so \
                 multi-frame answers from other modules may not arrive",
                self.name
            )),
            Step::Info(Info::Ati) => self.ati = lines.join(" "),
            Step::Info(Info::Sti) => {
                self.sti = lines.join(" ");
                // Its firmware names itself; an OK or a NO DATA is a clone
                // answering whatever it is sent.
                self.stn = self.sti.to_ascii_uppercase().contains("STN");
                if self.stn {
                    // Its hardware, for the check (which SW-CAN, which board).
                    self.steps.push_front(Step::Info(Info::Stdi));
                }
            }
            Step::Info(Info::Stdi) => self.stdi = lines.join(" "),
            Step::Info(Info::Volts) => self.volts = lines.join(" "),
            Step::StopMonitor => self.monitor_stopped = true,
            Step::Drain { .. } | Step::Request { .. } => {}
            Step::MadeUp => self.made_up = Some(lines.join(" / ")),
            Step::Probe { probe, .. } => {
                let restore = match probe {
                    Probe::RawFrames if ok => Some(Step::Must("ATCAF1".into())),
                    Probe::SpeedParams if ok => Some(Step::Probe {
                        probe: Probe::SpeedSelect,
                        command: "ATSPB".into(),
                    }),
                    // Back on the bus's protocol whatever it answered: never
                    // left on another bitrate (a refusal stops the start).
                    Probe::SpeedSelect => Some(self.protocol_step(false)),
                    Probe::StnSpeed => match self.medium {
                        Medium::HighSpeed { bitrate } if ok => {
                            Some(Step::Must(format!("STPBR{bitrate}")))
                        }
                        _ => None,
                    },
                    _ => None,
                };
                self.probes.push((probe, command, lines.join(" / ")));
                if let Some(step) = restore {
                    self.steps.push_front(step);
                }
            }
            Step::StartMonitor
            | Step::LinkApplied { .. }
            | Step::FilterOpened
            | Step::SpeedProbe => {}
        }
        self.advance(now_us);
    }

    /// A line or prompt while monitoring (no step in hand).
    fn monitor_token(&mut self, token: Token, now_us: u64) {
        let line = match token {
            Token::Line(l) => l,
            Token::Prompt => {
                // It stopped by itself: do not restart it in a loop.
                self.can_monitor = false;
                self.monitor_quit = true;
                self.monitor_ended(now_us);
                let n = format!(
                    "{}: the adapter stopped monitoring by itself; broadcasts after that were not watched",
                    self.name
                );
                self.note(n);
                return self.advance(now_us);
            }
            Token::Garbage(junk) => {
                let e = self.err(AdapterError::Unexpected {
                    command: "ATMA".into(),
                    line: junk,
                    expected: "lines of text (is the serial speed right?)",
                });
                return self.wire.out.push_back(Output::Error(e));
            }
            Token::Bell | Token::Ok => return,
        };
        if let Some(f) = parse_frame(&line) {
            self.monitor_frames += 1;
            return self.deliver(f, now_us);
        }
        let error = match line.as_str() {
            "?" => {
                self.cannot_monitor = true;
                self.monitored = false;
                None
            }
            // Stops by itself; no more monitoring.
            "BUFFER FULL" => {
                self.buffer_full += 1;
                Some(AdapterError::BufferFull)
            }
            _ => match error_line(&line) {
                Some((hint, _)) => Some(AdapterError::Reported {
                    report: line,
                    command: "ATMA".into(),
                    hint,
                }),
                None => {
                    tracing::debug!("{}: ignored {line:?} while monitoring", self.name);
                    return;
                }
            },
        };
        self.can_monitor = false;
        self.monitor_ended(now_us);
        self.confirm_until = None;
        let lenient = error.is_some();
        if let Some(e) = error {
            let e = self.err(e);
            self.wire.out.push_back(Output::Error(e));
        }
        self.steps.push_back(Step::Drain { lenient });
        self.advance(now_us);
    }

    /// Keeps the latest answer to a configuration command (bounded: one
    /// entry per distinct command).
    fn answered_command(&mut self, command: &str, ok: bool) {
        match self.answers.iter_mut().find(|(c, _)| c == command) {
            Some(a) => a.1 = ok,
            None => self.answers.push((command.to_owned(), ok)),
        }
    }

    /// The latest answer to a command starting with `prefix`.
    fn accepted(&self, prefix: &str) -> Option<(&str, bool)> {
        self.answers
            .iter()
            .rev()
            .find(|(c, _)| c.starts_with(prefix))
            .map(|(c, ok)| (c.as_str(), *ok))
    }

    /// What was found by trying each thing (see [`Core::facts`]).
    fn probed_facts(&self) -> AdapterFacts {
        let not_reached = || "not reached: the adapter's start-up stopped before it".to_owned();
        let tried = |name: &'static str, prefix: &str, ok: &str, refused: &str| match self
            .accepted(prefix)
        {
            Some((c, true)) => Capability::new(name, Support::Ok, format!("{c} accepted: {ok}")),
            Some((c, false)) => {
                Capability::new(name, Support::Absent, format!("{c} refused: {refused}"))
            }
            None => Capability::new(name, Support::NotProbed, not_reached()),
        };
        let mut caps = vec![
            if self.echo_seen {
                Capability::new(
                    "echo off",
                    Support::Limited,
                    "ATE0 answered OK, but commands are still echoed back (the echo is dropped)",
                )
            } else {
                tried(
                    "echo off",
                    "ATE0",
                    "commands are not echoed back",
                    "every answer starts with the command",
                )
            },
            if self.headerless {
                let filter = self
                    .applied
                    .map(|(_, rx)| format!(" (ATCRA{rx})"))
                    .unwrap_or_default();
                Capability::new(
                    "headers",
                    Support::Absent,
                    format!(
                        "ATH1 answered OK, but answers come without their ids: read as coming \
                         from the id the receive filter lets through{filter}"
                    ),
                )
            } else {
                tried(
                    "headers",
                    "ATH1",
                    "every frame comes with its id",
                    "frames come without their ids",
                )
            },
        ];
        caps.push(self.made_up_fact());
        let (proto_prefix, medium) = match self.medium {
            Medium::HighSpeed { bitrate } => {
                ("ATSP", format!("ISO 15765 at {} kbit/s", bitrate / 1000))
            }
            Medium::SingleWire => ("STP", "single-wire CAN at 33.3 kbit/s".to_owned()),
        };
        caps.push(tried(
            "protocol and CAN speed",
            proto_prefix,
            &medium,
            "the adapter has no protocol for this bus",
        ));
        caps.push(tried(
            "ISO-TP by the adapter",
            "ATCAF1",
            "it frames requests and reassembles answers",
            "it cannot frame requests",
        ));
        caps.push(match self.accepted("ATFCS") {
            Some((_, true)) => Capability::new(
                "own flow control",
                Support::Ok,
                "ATFCSH/ATFCSD/ATFCSM1 accepted: flow control for any module",
            ),
            Some((c, false)) => Capability::new(
                "own flow control",
                Support::Limited,
                format!(
                    "{c} refused: the adapter's default flow control, right for modules \
                     answering 7E8-7EF only"
                ),
            ),
            None => Capability::new(
                "own flow control",
                Support::NotProbed,
                "set with the first request: none was sent",
            ),
        });
        let monitor = if self.stn { "STMA" } else { "ATMA" };
        caps.push(if self.cannot_monitor {
            Capability::new(
                "monitor",
                Support::Absent,
                format!("{monitor} answered `?`: broadcast frames cannot be watched"),
            )
        } else if self.buffer_full > 0 {
            Capability::new(
                "monitor",
                Support::Limited,
                format!(
                    "{monitor} delivered {} frame(s), then BUFFER FULL: the adapter cannot pass \
                     a busy bus on at this serial speed and drops frames",
                    self.monitor_frames
                ),
            )
        } else if self.monitor_quit {
            Capability::new(
                "monitor",
                Support::Limited,
                format!(
                    "{monitor} stopped by itself after {} frame(s)",
                    self.monitor_frames
                ),
            )
        } else if self.monitored {
            let end = if self.monitor_stopped {
                "and stopped cleanly when asked"
            } else {
                "and is still running"
            };
            Capability::new(
                "monitor",
                Support::Ok,
                format!("{monitor} delivered {} frame(s) {end}", self.monitor_frames),
            )
        } else {
            Capability::new(
                "monitor",
                Support::NotProbed,
                "the monitor starts after the first request: none was sent",
            )
        });
        caps.push(self.multi_frame_fact());
        caps.push(self.speed_switching_fact());
        caps.push(if self.stn {
            let stdi = if self.stdi.is_empty() || self.stdi == "?" {
                String::new()
            } else {
                format!("; STDI: {}", self.stdi)
            };
            Capability::new(
                "STN commands",
                Support::Ok,
                format!("STI: {}{stdi}", self.sti),
            )
        } else if self.sti.is_empty() {
            Capability::new("STN commands", Support::NotProbed, not_reached())
        } else {
            Capability::new(
                "STN commands",
                Support::Absent,
                format!(
                    "STI answered {:?}, no STN firmware: a plain ELM327 (or a clone), whatever \
                     its version says",
                    self.sti
                ),
            )
        });
        let refused: Vec<&str> = self
            .answers
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(c, _)| c.as_str())
            .collect();
        caps.push(
            if refused.is_empty() && self.made_up.is_some() && !self.oks_mean_something() {
                Capability::new(
                    "clone limits",
                    Support::Limited,
                    format!("every command tried was answered OK, {MADE_UP} too: probably a clone"),
                )
            } else if refused.is_empty() {
                Capability::new(
                    "clone limits",
                    Support::Ok,
                    "every command tried was accepted",
                )
            } else {
                Capability::new(
                    "clone limits",
                    Support::Limited,
                    format!("refused {}: probably a clone", refused.join(", ")),
                )
            },
        );
        if !self.volts.is_empty() {
            // `12.4V`; a clone may answer OK to it too.
            let reading = self
                .volts
                .trim_end_matches(['V', 'v'])
                .parse::<f32>()
                .is_ok();
            caps.push(if reading {
                Capability::new(
                    "battery voltage",
                    Support::Ok,
                    format!("ATRV: {}", self.volts),
                )
            } else {
                Capability::new(
                    "battery voltage",
                    Support::Limited,
                    format!("ATRV answered {:?}, not a voltage", self.volts),
                )
            });
        }
        let firmware = if self.stn {
            Some(self.sti.clone())
        } else {
            self.version
                .clone()
                .or_else(|| (!self.ati.is_empty()).then(|| self.ati.clone()))
        };
        AdapterFacts {
            kind: if self.stn { "STN (OBDLink)" } else { "ELM327" },
            firmware,
            capabilities: caps,
            dropped: (self.monitored || self.buffer_full > 0).then(|| DropCount {
                count: 0,
                overflows: self.buffer_full,
                exact: false,
                source: "BUFFER FULL reports of the adapter (each: an unknown number of frames)"
                    .to_owned(),
            }),
        }
    }

    /// Whether an `OK` from this adapter means anything: it refused
    /// [`MADE_UP`].
    fn oks_mean_something(&self) -> bool {
        self.made_up.as_deref() == Some("?")
    }

    fn probe_answer(&self, probe: Probe) -> Option<(&str, &str)> {
        self.probes
            .iter()
            .rev()
            .find(|(p, _, _)| *p == probe)
            .map(|(_, c, a)| (c.as_str(), a.as_str()))
    }

    fn made_up_fact(&self) -> Capability {
        const NAME: &str = "refuses unknown commands";
        match self.made_up.as_deref() {
            None => Capability::new(
                NAME,
                Support::NotProbed,
                "not reached: the adapter's start-up stopped before it",
            ),
            Some("?") => Capability::new(
                NAME,
                Support::Ok,
                format!("{MADE_UP} (no such command) answered `?`: its OKs mean something"),
            ),
            Some(other) => Capability::new(
                NAME,
                Support::Limited,
                format!(
                    "{MADE_UP} (no such command) answered {other:?}: it answers OK to commands \
                     it does not have, so its OKs prove nothing and no STN chip is assumed"
                ),
            ),
        }
    }

    /// An accepted probe, judged by whether this adapter's `OK`s mean
    /// anything.
    fn accepted_probe(&self, name: &'static str, what: String, ok: &str) -> Capability {
        if self.oks_mean_something() {
            Capability::new(name, Support::Ok, format!("{what}: {ok}"))
        } else {
            Capability::new(
                name,
                Support::Limited,
                format!("{what}, but so is {MADE_UP}, which no adapter has: not shown"),
            )
        }
    }

    fn multi_frame_fact(&self) -> Capability {
        const NAME: &str = "multi-frame send";
        match self.probe_answer(Probe::RawFrames) {
            None => Capability::new(
                NAME,
                Support::NotProbed,
                "not reached: the adapter's start-up stopped before it",
            ),
            Some((c, a)) if is_ok(a) => self.accepted_probe(
                NAME,
                format!("{c} accepted (ATCAF1 restored)"),
                "frames go out as given, so a first frame and its consecutive frames can be sent \
                 one by one after the module's flow control (trunkdiag's own requests are single \
                 frames, up to 7 bytes)",
            ),
            Some((c, a)) => Capability::new(
                NAME,
                Support::Absent,
                format!(
                    "{c} answered {a:?}: the adapter frames every request itself, 7 bytes at most"
                ),
            ),
        }
    }

    fn speed_switching_fact(&self) -> Capability {
        const NAME: &str = "CAN speed switching";
        let kbit = PROBE_BITRATE / 1000;
        let Medium::HighSpeed { bitrate } = self.medium else {
            return Capability::new(
                NAME,
                Support::NotProbed,
                "single-wire CAN has one speed, 33.3 kbit/s",
            );
        };
        let restored = protocol_for(bitrate, false).unwrap_or('6');
        let refused = |c: &str, a: &str| {
            Capability::new(
                NAME,
                Support::Absent,
                format!(
                    "{c} answered {a:?}: the adapter stays on the standard OBD-II bitrates, so \
                     a bus at another speed (a body bus at {kbit} kbit/s) is out of its reach"
                ),
            )
        };
        let not_reached = || {
            Capability::new(
                NAME,
                Support::NotProbed,
                "not reached: the adapter's start-up stopped before it",
            )
        };
        if self.stn {
            return match self.probe_answer(Probe::StnSpeed) {
                None => not_reached(),
                Some((c, a)) if is_ok(a) => self.accepted_probe(
                    NAME,
                    format!("{c} accepted (STPBR{bitrate} restored)"),
                    &format!("the adapter can reach a bus at {kbit} kbit/s"),
                ),
                Some((c, a)) => refused(c, a),
            };
        }
        match (
            self.probe_answer(Probe::SpeedParams),
            self.probe_answer(Probe::SpeedSelect),
        ) {
            (None, _) => not_reached(),
            (Some((c, a)), _) if !is_ok(a) => refused(c, a),
            (Some(_), None) => not_reached(),
            (Some((c, _)), Some((s, a))) if is_ok(a) => self.accepted_probe(
                NAME,
                format!("{c} and {s} accepted (ATSP{restored} restored)"),
                &format!("the adapter can reach a bus at {kbit} kbit/s (protocol B)"),
            ),
            (Some(_), Some((s, a))) => refused(s, a),
        }
    }

    fn monitor_ended(&mut self, now_us: u64) {
        self.monitoring = false;
        self.end_monitor_time(now_us);
    }

    fn end_monitor_time(&mut self, now_us: u64) {
        if let Some(t) = self.monitor_since_us.take() {
            self.monitored_us += now_us.saturating_sub(t);
        }
    }
}

impl Core for ElmCore {
    type Command = ElmCommand;
    const ADAPTER_FLOW_CONTROL: bool = true;

    fn name(&self) -> &str {
        &self.name
    }

    fn command_for_frame(
        &self,
        frame: &CanFrame,
        link: Option<&LinkHint>,
    ) -> Result<Option<ElmCommand>, BusError> {
        let adapter = || self.name.clone();
        if link.is_some_and(|h| h.address_byte) {
            return Err(BusError::unsupported(Unsupported::ElmAddressByte {
                adapter: adapter(),
            }));
        }
        let data = frame.data();
        let pci = data.first().copied().unwrap_or(0xFF);
        let payload = match pci >> 4 {
            0 => {
                let len = usize::from(pci & 0x0F);
                match data.get(1..1 + len) {
                    Some(p) if len > 0 => p.to_vec(),
                    _ => {
                        return Err(BusError::unsupported(
                            Unsupported::ElmMalformedSingleFrame {
                                adapter: adapter(),
                                data: data.to_vec(),
                            },
                        ))
                    }
                }
            }
            // The adapter sends its own flow control.
            3 => return Ok(None),
            _ => {
                return Err(BusError::unsupported(Unsupported::ElmMultiFrameRequest {
                    adapter: adapter(),
                }))
            }
        };
        Ok(Some(ElmCommand::Request {
            tx: frame.id,
            payload,
            link: link.copied(),
        }))
    }

    fn command_for_prepare(&self, link: Option<&LinkHint>) -> Option<ElmCommand> {
        Some(ElmCommand::Prepare {
            link: link.copied(),
        })
    }

    fn handle_open(&mut self, now_us: u64) {
        self.probe(0, now_us);
    }

    fn handle_command(&mut self, ticket: Ticket, command: ElmCommand, now_us: u64) {
        self.queued.push_back((ticket, command));
        self.advance(now_us);
    }

    fn handle_bytes(&mut self, bytes: &[u8], now_us: u64) {
        self.wire.push(bytes);
        while let Some(t) = self.wire.next_token() {
            self.token(t, now_us);
        }
        self.advance(now_us);
    }

    fn handle_timeout(&mut self, now_us: u64) {
        match self.phase {
            Phase::Probing { at, stage, until } if now_us >= until => match stage {
                ProbeStage::Settle => self.probe_ati(at, now_us),
                ProbeStage::Ati => self.probe(at + 1, now_us),
            },
            Phase::Probing { .. } | Phase::Unopened => {}
            Phase::Ready => {
                if self.asked.as_ref().is_some_and(|a| now_us >= a.deadline) {
                    if let Some(asked) = self.asked.take() {
                        if let Step::Drain { lenient: true } = asked.step {
                            self.advance(now_us);
                            return;
                        }
                        if let Step::MadeUp | Step::Probe { .. } = asked.step {
                            // A probe is an extra: silence is its answer,
                            // not the end of a start-up that worked before.
                            let silence = Asked {
                                lines: vec![format!(
                                    "(nothing within {} ms)",
                                    COMMAND_WAIT.as_millis()
                                )],
                                ..asked
                            };
                            return self.step_answered(silence, now_us);
                        }
                        let waited = match asked.step {
                            Step::Reset => RESET_WAIT,
                            Step::Request { .. } => REQUEST_WAIT,
                            _ => COMMAND_WAIT,
                        };
                        let error = AdapterError::Silent {
                            command: asked.command,
                            waited_ms: waited.as_millis() as u64,
                        };
                        return self.fail(error, now_us);
                    }
                }
                self.advance(now_us);
            }
        }
    }

    fn handle_close(&mut self, now_us: u64) {
        self.closing = true;
        if self.phase != Phase::Ready {
            self.wire.finish(Ok(()));
        }
        self.advance(now_us);
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.wire.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<u64> {
        if self.wire.finished.is_some() {
            return None;
        }
        match self.phase {
            Phase::Probing { until, .. } => Some(until),
            Phase::Unopened => None,
            Phase::Ready => match &self.asked {
                Some(a) => Some(a.deadline),
                None => self.confirm_until,
            },
        }
    }

    fn finished(&self) -> Option<Result<(), AdapterError>> {
        self.wire.finished.clone()
    }

    fn facts(&self, _now_us: u64) -> AdapterFacts {
        self.probed_facts()
    }

    fn notes(&self, now_us: u64) -> Vec<String> {
        let mut notes = self.notes.clone();
        if let Some(first) = self.first_request_us {
            let total = now_us.saturating_sub(first);
            let open = self
                .monitor_since_us
                .map_or(0, |t| now_us.saturating_sub(t));
            let heard = self.monitored_us + open;
            if self.cannot_monitor {
                notes.push(format!(
                    "{}: this adapter cannot monitor the bus, so no broadcast frame was watched: \
                     presses and the lid were judged from the BCM's answers alone",
                    self.name
                ));
            } else if self.monitored {
                notes.push(format!(
                    "{}: an ELM327 hears broadcasts only while it monitors between requests, \
                     never while it waits for an answer: the bus was watched {:.1} s of the {:.1} s \
                     since the first request",
                    self.name,
                    heard as f64 / 1e6,
                    total as f64 / 1e6
                ));
            }
        }
        notes
    }
}

/// Why the core stops: the adapter cannot reach single-wire CAN.
fn single_wire_refused(why: SingleWireRefusal) -> AdapterError {
    AdapterError::Unsupported {
        what: Unsupported::ElmSingleWire { why },
    }
}

/// The STN protocol (`STP`) for single-wire CAN with requests on 11-bit
/// (`false`) or 29-bit ids, the adapter doing ISO-TP (`ATCAF1`) as with
/// `ATSP6` / `ATSP7` on a high-speed bus.
///
/// What is confirmed: the STN/OBDLink reference's `STP` table (as quoted
/// in public OBDLink and STN driver sources; the manual itself was not at
/// hand) numbers single-wire CAN at 33.3 kbit/s 61 to 64: 61 / 62 are
/// ISO 11898 (raw CAN, variable DLC) with 11- / 29-bit Tx, 63 / 64 are
/// ISO 15765 (DLC 8) with 11- / 29-bit Tx, the split of high-speed 31-34
/// (33 being ISO 15765, 11-bit, 500 kbit/s: `ATSP6`'s twin). ISO 15765
/// with padding to 8 bytes is what this core speaks, so 63 / 64, not 61.
/// What is not: that an OBDLink with SW-CAN runs `ATCAF1`, `ATFCSH`/
/// `ATFCSD`/`ATFCSM1` and `STMA` on 63 as it does on `ATSP6` (not tried on
/// one). `STP` only selects the protocol: trunkdiag never sends `STCSWM`,
/// so it never asks for the high-voltage wake-up.
pub fn stn_single_wire_protocol(extended: bool) -> u8 {
    if extended {
        64
    } else {
        63
    }
}

/// The ELM327's protocol number for a bus.
pub fn protocol_for(bitrate: u32, extended: bool) -> Option<char> {
    match (bitrate, extended) {
        (500_000, false) => Some('6'),
        (500_000, true) => Some('7'),
        (250_000, false) => Some('8'),
        (250_000, true) => Some('9'),
        _ => None,
    }
}

/// An answer that is the adapter's `OK`.
fn is_ok(answer: &str) -> bool {
    answer.split(" / ").any(|l| l == "OK")
}

/// A line of an answer printed without ids.
enum Headerless {
    /// `014`: a multi-frame answer of this many bytes follows.
    Length(usize),
    /// `0: 49 02 01 31 43 34`: its line number and bytes.
    Numbered(u8, Vec<u8>),
    /// `43 00`: a single frame's bytes, without its PCI.
    Single(Vec<u8>),
}

/// Words of two hex digits each, as bytes; `None` if any is not one (or
/// there are more than a frame's 8).
fn hex_words(words: &[&str]) -> Option<Vec<u8>> {
    if words.is_empty() || words.len() > 8 {
        return None;
    }
    words
        .iter()
        .map(|w| {
            (w.len() == 2)
                .then(|| u8::from_str_radix(w, 16).ok())
                .flatten()
        })
        .collect()
}

/// A frame line as printed with `ATH1 ATS1` (`765 02 50 C0`, or
/// `18DAF140 03 7F 22 31`); `None` if it is not one.
pub fn parse_frame(line: &str) -> Option<CanFrame> {
    let mut parts = line.split_ascii_whitespace();
    let head = parts.next()?;
    let raw = u32::from_str_radix(head, 16).ok()?;
    let id = match head.len() {
        3 => CanId::standard(raw)?,
        8 => CanId::extended(raw)?,
        _ => return None,
    };
    let mut data = Vec::with_capacity(8);
    for p in parts {
        if p.len() != 2 || data.len() == 8 {
            return None;
        }
        data.push(u8::from_str_radix(p, 16).ok()?);
    }
    CanFrame::classic(id, &data).ok()
}

/// What an error line of the adapter means; `None` for other lines.
fn error_line(line: &str) -> Option<(&'static str, bool)> {
    // (hint, the adapter stays usable)
    let l = line.trim_start_matches('<');
    Some(match l {
        "BUFFER FULL" => ("", true),
        "CAN ERROR" => (
            ": it cannot talk on the bus (wrong bitrate, or not connected to the car's CAN pins?)",
            true,
        ),
        "BUS ERROR" | "BUS BUSY" | "FB ERROR" => (": a wiring or bus fault", true),
        "DATA ERROR" | "RX ERROR" => (": a garbled answer", true),
        "STOPPED" => (": it stopped waiting (a byte reached it mid-request)", true),
        "UNABLE TO CONNECT" => (": no module answered at this protocol", true),
        "LV RESET" | "ACT ALERT" => (
            ": the adapter reset itself (low voltage or inactivity)",
            false,
        ),
        _ if l.starts_with("ERR") && l.len() == 5 => (": an internal error", true),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frame_lines() {
        assert_eq!(
            parse_frame("765 02 50 C0").unwrap(),
            CanFrame::classic(CanId::Standard(0x765), &[0x02, 0x50, 0xC0]).unwrap()
        );
        assert_eq!(
            parse_frame("18DAF140 03 7F 22 31").unwrap().id,
            CanId::Extended(0x18DAF140)
        );
        for bad in [
            "NO DATA",
            "OK",
            "?",
            "765 1",
            "765 02 50 C0 00 00 00 00 00 00",
            "ELM327 v1.5",
            "12.6V",
            "800 00",
        ] {
            assert_eq!(parse_frame(bad), None, "{bad}");
        }
    }

    #[test]
    fn errors_and_protocols() {
        assert!(error_line("CAN ERROR").is_some());
        assert!(error_line("<DATA ERROR").is_some());
        assert!(error_line("ERR94").is_some());
        assert!(error_line("765 02 50 C0").is_none());
        assert_eq!(protocol_for(500_000, false), Some('6'));
        assert_eq!(protocol_for(125_000, false), None);
    }

    use crate::transport::adapter::{cuts, noise, talk, whole_and_cut, Drive};

    const MS: u64 = 1000;

    /// What a scripted ELM327 does besides answering a Nissan BCM on 745.
    #[derive(Clone, Default)]
    struct Script {
        /// AT commands (prefixes) answered with `?`, as a clone does.
        refuse: Vec<&'static str>,
        /// Echo every command (before `ATE0`, as after power-up).
        echo: bool,
        /// What `ATMA` prints (no prompt: it monitors until a byte comes).
        atma: &'static str,
        /// Requests answered before `NO DATA` to every one.
        answers: Option<usize>,
        /// An STN chip: its answer to `STI`; it then accepts ST commands
        /// (but those in `refuse`). None: a plain ELM327, `?` to them all.
        stn: Option<&'static str>,
        /// A clone answering OK to every AT and ST command, even
        /// [`MADE_UP`] and `STI` (a genuine chip answers `?` to those).
        ok_to_anything: bool,
    }

    /// The adapter as a closure: each write gets its answer.
    fn adapter(script: Script) -> impl FnMut(&str) -> Option<String> {
        let mut answers = script.answers.unwrap_or(usize::MAX);
        let mut echo = script.echo;
        move |w: &str| {
            let cmd = w.trim();
            if w == " " {
                return Some("STOPPED\r\r>".into());
            }
            let shown = if echo {
                format!("{cmd}\r")
            } else {
                String::new()
            };
            if cmd == "ATE0" {
                echo = false;
            }
            let answer = match cmd {
                "" => return Some(">".into()),
                "ATZ" | "ATI" => "ELM327 v1.5".to_owned(),
                "ATRV" => "12.4V".to_owned(),
                "ATMA" | "STMA" => return Some(format!("{shown}{}", script.atma)),
                "STI" if script.stn.is_some() => script.stn.unwrap_or_default().to_owned(),
                c if script.ok_to_anything && (c.starts_with("AT") || c.starts_with("ST")) => {
                    "OK".to_owned()
                }
                MADE_UP => "?".to_owned(),
                c if c.starts_with("AT") || c.starts_with("ST") => {
                    let plain = c.starts_with("ST") && script.stn.is_none();
                    if plain || script.refuse.iter().any(|r| c.starts_with(r)) {
                        "?".to_owned()
                    } else {
                        "OK".to_owned()
                    }
                }
                _ if answers == 0 => "NO DATA".to_owned(),
                "10C0" => {
                    answers -= 1;
                    "765 02 50 C0".to_owned()
                }
                _ => {
                    answers = answers.saturating_sub(1);
                    "765 03 7F 22 31".to_owned()
                }
            };
            Some(format!("{shown}{answer}\r\r>"))
        }
    }

    fn hint() -> LinkHint {
        LinkHint {
            tx: CanId::Standard(0x745),
            rx: CanId::Standard(0x765),
            address_byte: false,
            block_size: 0,
            st_min: 0,
        }
    }

    fn endpoint() -> ElmEndpoint {
        ElmEndpoint::Serial {
            port: "/dev/test".into(),
            baud: Some(38_400),
        }
    }

    /// Probed and initialised through `reply`.
    fn ready(reply: &mut dyn FnMut(&str) -> Option<String>) -> Drive<ElmCore> {
        let mut d =
            Drive::new(ElmCore::new(&endpoint(), PhysicalBus::high_speed(500_000)).unwrap());
        assert_eq!(d.bauds, [38_400]);
        assert_eq!(d.written, ["\r"]);
        let ati = d.wait(250 * MS);
        assert_eq!(ati, ["ATI\r"]);
        d.play(ati, reply);
        assert!(d.written.iter().any(|w| w == "ATRV\r"), "{:?}", d.written);
        d
    }

    /// A command played through `reply`; the writes it caused.
    fn run(
        d: &mut Drive<ElmCore>,
        c: ElmCommand,
        reply: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Vec<String> {
        let before = d.written.len();
        d.command(c);
        let new = d.written[before..].to_vec();
        d.play(new, reply);
        // A monitor started after it holds commands for 100 ms.
        let later = d.wait(100 * MS);
        d.play(later, reply);
        d.written[before..].to_vec()
    }

    fn request(d: &ElmCore, data: &[u8]) -> ElmCommand {
        let f = CanFrame::classic(CanId::Standard(0x745), data).unwrap();
        d.command_for_frame(&f, Some(&hint())).unwrap().unwrap()
    }

    #[test]
    fn init_drops_the_echo_and_names_the_adapter() {
        let mut reply = adapter(Script {
            echo: true,
            ..Script::default()
        });
        let d = ready(&mut reply);
        assert!(d.core.finished().is_none(), "{:?}", d.core.finished());
        let notes = d.core.notes(d.now).join("\n");
        assert!(
            notes.contains("adapter ELM327 v1.5; battery 12.4V (ATRV)"),
            "{notes}"
        );
        // `ATL0` is the only refusal-tolerant command answered OK; STI is
        // refused (not an STN chip) and that is no error.
        assert!(d.errors.is_empty(), "{}", d.errors_text());
    }

    #[test]
    fn the_probe_tries_the_next_speed_and_says_where_it_looked() {
        let open = ElmEndpoint::Serial {
            port: "/dev/test".into(),
            baud: None,
        };
        let mut d = Drive::new(ElmCore::new(&open, PhysicalBus::high_speed(500_000)).unwrap());
        d.wait(750 * MS);
        assert_eq!(d.bauds, [38_400, 9_600]);
        assert_eq!(d.wait(250 * MS), ["ATI\r"]);
        assert_eq!(d.feed(b"ELM327 v2.1\r\r>"), ["ATZ\r"]);
        // Nobody at any speed.
        let mut d = Drive::new(ElmCore::new(&open, PhysicalBus::high_speed(500_000)).unwrap());
        d.wait(5 * 750 * MS);
        let end = d.core.finished().unwrap().unwrap_err();
        assert_eq!(
            end.to_string(),
            "no ELM327 answered at 38400, 9600, 115200, 230400, 500000 baud: check the port \
             and that the adapter is powered (the car's OBD socket or a 12 V supply)"
        );
    }

    #[test]
    fn a_clone_refusing_flow_control_gets_the_named_fallback() {
        let mut reply = adapter(Script {
            refuse: vec!["ATFCSH"],
            ..Script::default()
        });
        let mut d = ready(&mut reply);
        let prepare = d.core.command_for_prepare(Some(&hint())).unwrap();
        let w = run(&mut d, prepare, &mut reply);
        assert_eq!(
            w,
            [
                "ATSP6\r",
                "ATSH745\r",
                "ATFCSH745\r",
                "ATFCSM0\r",
                "ATCRA765\r"
            ]
        );
        assert!(matches!(d.done.last(), Some((_, Ok(())))));
        let notes = d.core.notes(d.now).join("\n");
        assert!(notes.contains("refused ATFCSH745"), "{notes}");
        assert!(notes.contains("flow control fallback"), "{notes}");
    }

    #[test]
    fn a_request_is_done_when_written_and_its_answer_is_delivered_as_frames() {
        let mut reply = adapter(Script::default());
        let mut d = ready(&mut reply);
        let prepare = d.core.command_for_prepare(Some(&hint())).unwrap();
        run(&mut d, prepare, &mut reply);
        let r = request(&d.core, &[0x02, 0x10, 0xC0]);
        d.command(r);
        // Done before any answer: the tester's timers start when it is out.
        assert!(matches!(d.done.last(), Some((_, Ok(())))));
        assert_eq!(d.written.last().map(String::as_str), Some("10C0\r"));
        d.feed(b"765 02 50 C0\r\r>");
        assert_eq!(d.frames.len(), 1);
        assert_eq!(d.frames[0].data(), [0x02, 0x50, 0xC0]);
        // The adapter's own flow control: nothing to send for an FC.
        let fc = CanFrame::classic(CanId::Standard(0x745), &[0x30, 0, 0]).unwrap();
        assert!(d
            .core
            .command_for_frame(&fc, Some(&hint()))
            .unwrap()
            .is_none());
        let long = CanFrame::classic(CanId::Standard(0x745), &[0x10, 9, 1, 2, 3, 4, 5, 6]).unwrap();
        assert!(d.core.command_for_frame(&long, Some(&hint())).is_err());
    }

    #[test]
    fn no_data_before_any_answer_is_an_error_after_one_a_note() {
        let mut reply = adapter(Script {
            answers: Some(0),
            ..Script::default()
        });
        let mut d = ready(&mut reply);
        let r = request(&d.core, &[0x02, 0x10, 0xC0]);
        run(&mut d, r, &mut reply);
        let e = d.errors_text();
        assert!(
            e.contains("NO DATA") && e.contains("\"10C0\" sent to 745"),
            "{e}"
        );

        let mut reply = adapter(Script {
            answers: Some(1),
            ..Script::default()
        });
        let mut d = ready(&mut reply);
        for data in [[0x02, 0x10, 0xC0], [0x02, 0x21, 0x44]] {
            let r = request(&d.core, &data);
            run(&mut d, r, &mut reply);
        }
        assert!(d.errors.is_empty(), "{}", d.errors_text());
        let notes = d.core.notes(d.now).join("\n");
        assert!(notes.contains("NO DATA to 2144"), "{notes}");
    }

    #[test]
    fn a_monitor_refused_with_a_question_mark_is_noted_not_retried() {
        let mut reply = adapter(Script {
            atma: "?\r\r>",
            ..Script::default()
        });
        let mut d = ready(&mut reply);
        let r = request(&d.core, &[0x02, 0x10, 0xC0]);
        let w = run(&mut d, r, &mut reply);
        // After the answer the monitor starts with an open filter.
        assert!(
            w.ends_with(&["ATCRA\r".to_owned(), "ATMA\r".to_owned()]),
            "{w:?}"
        );
        d.wait(5000 * MS);
        let atma = d.written.iter().filter(|w| *w == "ATMA\r").count();
        assert_eq!(atma, 1);
        let notes = d.core.notes(d.now).join("\n");
        assert!(notes.contains("cannot monitor the bus"), "{notes}");
    }

    #[test]
    fn monitored_frames_are_delivered_and_a_request_stops_the_monitor_with_a_space() {
        let mut reply = adapter(Script {
            atma: "6F6 7D 00 00 00\r",
            ..Script::default()
        });
        let mut d = ready(&mut reply);
        let r = request(&d.core, &[0x02, 0x10, 0xC0]);
        let before = d.written.len();
        d.command(r);
        let w = d.written[before..].to_vec();
        d.play(w, &mut reply);
        assert!(d.frames.iter().any(|f| f.id == CanId::Standard(0x6F6)));
        // Within the first 100 ms a request waits: the monitor may still
        // be refused.
        let before = d.written.len();
        let r = request(&d.core, &[0x02, 0x21, 0x44]);
        d.command(r);
        assert_eq!(d.written.len(), before);
        let w = d.wait(100 * MS);
        assert_eq!(w, [" "]);
        d.play(w, &mut reply);
        let tail = &d.written[before..];
        assert_eq!(tail, [" ", "ATCRA765\r", "2144\r", "ATCRA\r", "ATMA\r"]);
        d.wait(1000 * MS);
        let notes = d.core.notes(d.now).join("\n");
        assert!(notes.contains("the bus was watched"), "{notes}");
    }

    /// The support of capability `name` in the core's facts.
    fn support(d: &Drive<ElmCore>, name: &str) -> Support {
        let facts = d.core.facts(d.now);
        facts
            .capabilities
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no {name} in {facts:?}"))
            .support
    }

    #[test]
    fn the_facts_are_what_was_tried_not_what_the_version_says() {
        let mut reply = adapter(Script {
            refuse: vec!["ATL0", "ATFCSH"],
            atma: "6F6 70 00 00 00\r6F6 71 00 00 00\rBUFFER FULL\r\r>",
            ..Script::default()
        });
        let mut d = ready(&mut reply);
        let facts = d.core.facts(d.now);
        // It says ELM327 v1.5, and STI was refused: a plain ELM327.
        assert_eq!(facts.kind, "ELM327");
        assert_eq!(facts.firmware.as_deref(), Some("ELM327 v1.5"));
        assert_eq!(support(&d, "STN commands"), Support::Absent);
        assert_eq!(support(&d, "echo off"), Support::Ok);
        // Nothing asked yet: the monitor and flow control were not tried,
        // and no drop count is claimed.
        assert_eq!(support(&d, "monitor"), Support::NotProbed);
        assert_eq!(support(&d, "own flow control"), Support::NotProbed);
        assert_eq!(facts.dropped, None);
        let r = request(&d.core, &[0x02, 0x10, 0xC0]);
        run(&mut d, r, &mut reply);
        assert_eq!(support(&d, "own flow control"), Support::Limited);
        assert_eq!(support(&d, "monitor"), Support::Limited);
        let facts = d.core.facts(d.now);
        let clone = facts
            .capabilities
            .iter()
            .find(|c| c.name == "clone limits")
            .unwrap();
        assert_eq!(clone.support, Support::Limited);
        assert!(
            clone.detail.contains("ATL0") && clone.detail.contains("ATFCSH745"),
            "{clone:?}"
        );
        let dropped = facts.dropped.unwrap();
        assert_eq!(
            (dropped.count, dropped.overflows, dropped.exact),
            (0, 1, false)
        );
    }

    #[test]
    fn an_stn_chip_is_asked_its_hardware_and_a_clean_monitor_is_ok() {
        let mut reply = adapter(Script {
            stn: Some("STN1110 v4.2.0"),
            atma: "6F6 7D 00 00 00\r",
            ..Script::default()
        });
        let mut d = ready(&mut reply);
        assert!(d.written.iter().any(|w| w == "STDI\r"), "{:?}", d.written);
        let facts = d.core.facts(d.now);
        assert_eq!(facts.kind, "STN (OBDLink)");
        assert_eq!(facts.firmware.as_deref(), Some("STN1110 v4.2.0"));
        let r = request(&d.core, &[0x02, 0x10, 0xC0]);
        run(&mut d, r, &mut reply);
        let r = request(&d.core, &[0x02, 0x21, 0x44]);
        run(&mut d, r, &mut reply);
        assert_eq!(support(&d, "monitor"), Support::Ok);
        assert_eq!(support(&d, "clone limits"), Support::Ok);
        assert_eq!(d.core.facts(d.now).dropped.map(|x| x.count), Some(0));
    }

    #[test]
    fn buffer_full_while_monitoring_is_an_error_and_the_adapter_stays_usable() {
        let mut reply = adapter(Script {
            atma: "6F6 70 00 00 00\r6F6 71 00 00 00\rBUFFER FULL\r\r>",
            ..Script::default()
        });
        let mut d = ready(&mut reply);
        let r = request(&d.core, &[0x02, 0x10, 0xC0]);
        run(&mut d, r, &mut reply);
        assert!(
            d.errors_text().contains("BUFFER FULL"),
            "{}",
            d.errors_text()
        );
        let r = request(&d.core, &[0x02, 0x10, 0x81]);
        let w = run(&mut d, r, &mut reply);
        // The filter opened for the monitor is closed again; no monitor
        // again, so no stop byte and no ATMA.
        assert_eq!(w, ["ATCRA765\r", "1081\r"]);
        assert!(d.core.finished().is_none());
    }

    #[test]
    fn a_silent_adapter_is_fatal_naming_the_command() {
        let mut d =
            Drive::new(ElmCore::new(&endpoint(), PhysicalBus::high_speed(500_000)).unwrap());
        d.wait(250 * MS);
        assert_eq!(d.feed(b"ELM327 v1.5\r\r>"), ["ATZ\r"]);
        d.wait(5000 * MS);
        let end = d.core.finished().unwrap().unwrap_err();
        assert!(
            matches!(&end, AdapterError::Silent { command, waited_ms: 5000 } if command == "ATZ"),
            "{end}"
        );
    }

    fn single_wire() -> PhysicalBus {
        PhysicalBus::new(crate::frame::SINGLE_WIRE_BITRATE, BusKind::SingleWire)
    }

    /// Probed and initialised for single-wire CAN through `reply`, as far
    /// as the adapter lets it go.
    fn on_single_wire(reply: &mut dyn FnMut(&str) -> Option<String>) -> Drive<ElmCore> {
        let mut d = Drive::new(ElmCore::new(&endpoint(), single_wire()).unwrap());
        let ati = d.wait(250 * MS);
        d.play(ati, reply);
        d
    }

    /// Why the core stopped, if it refused single-wire CAN.
    fn refusal(d: &Drive<ElmCore>) -> (Option<SingleWireRefusal>, String) {
        let end = d.core.finished().and_then(Result::err);
        let text = end.as_ref().map(ToString::to_string).unwrap_or_default();
        let why = match end {
            Some(AdapterError::Unsupported {
                what: Unsupported::ElmSingleWire { why },
            }) => Some(why),
            _ => None,
        };
        (why, text)
    }

    #[test]
    fn a_plain_elm327_is_refused_single_wire_can_and_told_what_reaches_it() {
        let mut reply = adapter(Script::default());
        let d = on_single_wire(&mut reply);
        let (why, text) = refusal(&d);
        assert_eq!(
            why,
            Some(SingleWireRefusal::PlainElm {
                version: "ELM327 v1.5".into()
            }),
            "{text}"
        );
        assert!(
            text.starts_with("a plain ELM327 (ELM327 v1.5; no STN chip answered STI) has no single-wire transceiver on pin 1, so it cannot reach single-wire CAN (GM LS-GMLAN, OBD-II pin 1, 33.3 kbit/s)"),
            "{text}"
        );
        assert!(
            text.contains("an OBDLink/STN adapter with SW-CAN")
                && text.contains("a SocketCAN interface with a single-wire transceiver"),
            "{text}"
        );
        // Asked who it is, then stopped: no protocol at all was selected.
        assert!(d.written.iter().any(|w| w == "STI\r"), "{:?}", d.written);
        assert!(
            !d.written
                .iter()
                .any(|w| w.starts_with("STP") || w.starts_with("ATSP")),
            "{:?}",
            d.written
        );
    }

    #[test]
    fn an_stn_adapter_is_put_on_single_wire_can_with_stp63() {
        let mut reply = adapter(Script {
            stn: Some("STN2255 v5.10.3"),
            atma: "3E9 01 00 00 00\r",
            ..Script::default()
        });
        let mut d = on_single_wire(&mut reply);
        assert!(d.core.finished().is_none(), "{:?}", d.core.finished());
        let at = |cmd: &str| d.written.iter().position(|w| w == cmd);
        // Identified first, then its single-wire protocol (ISO 15765,
        // 11-bit); never an ELM327 protocol.
        assert!(at("STI\r") < at("STP63\r") && at("STP63\r") < at("ATCAF1\r"));
        assert!(
            !d.written.iter().any(|w| w.starts_with("ATSP")),
            "{:?}",
            d.written
        );
        let notes = d.core.notes(d.now).join("\n");
        assert!(
            notes.contains("STN2255 v5.10.3 (OBDLink/STN)")
                && notes.contains("on single-wire CAN (STP63)"),
            "{notes}"
        );
        // The module is addressed on the same protocol; broadcasts are
        // heard with STMA.
        let prepare = d.core.command_for_prepare(Some(&hint())).unwrap();
        let w = run(&mut d, prepare, &mut reply);
        assert_eq!(
            w,
            [
                "STP63\r",
                "ATSH745\r",
                "ATFCSH745\r",
                "ATFCSD300000\r",
                "ATFCSM1\r",
                "ATCRA765\r"
            ]
        );
        let r = request(&d.core, &[0x02, 0x10, 0xC0]);
        let w = run(&mut d, r, &mut reply);
        assert!(
            w.ends_with(&["ATCRA\r".to_owned(), "STMA\r".to_owned()]),
            "{w:?}"
        );
        assert!(d.frames.iter().any(|f| f.id == CanId::Standard(0x3E9)));
        assert!(d.errors.is_empty(), "{}", d.errors_text());
    }

    #[test]
    fn an_stn_adapter_that_answers_a_question_mark_to_stp63_is_refused() {
        let mut reply = adapter(Script {
            stn: Some("STN1110 v4.2.0"),
            refuse: vec!["STP6"],
            ..Script::default()
        });
        let d = on_single_wire(&mut reply);
        let (why, text) = refusal(&d);
        assert_eq!(
            why,
            Some(SingleWireRefusal::StnWithoutSingleWire {
                sti: "STN1110 v4.2.0".into(),
                command: "STP63".into()
            }),
            "{text}"
        );
        assert!(
            text.starts_with("this STN adapter (STN1110 v4.2.0) answered `?` to STP63: it has no single-wire CAN transceiver, so it cannot reach single-wire CAN"),
            "{text}"
        );
        assert!(
            text.contains("OBDLink/STN adapter with SW-CAN") && text.contains("SocketCAN"),
            "{text}"
        );
        assert!(
            !d.written.iter().any(|w| w == "ATCAF1\r"),
            "{:?}",
            d.written
        );
    }

    #[test]
    fn a_bitrate_without_protocol_is_refused_at_open() {
        let e = ElmCore::new(&endpoint(), PhysicalBus::high_speed(125_000)).unwrap_err();
        assert!(
            e.to_string().contains("500 or 250 kbit/s only, not 125000"),
            "{e}"
        );
    }

    /// Ready and pointed at the Nissan BCM (745 → 765).
    fn addressed(reply: &mut dyn FnMut(&str) -> Option<String>) -> Drive<ElmCore> {
        let mut d = ready(reply);
        let prepare = d.core.command_for_prepare(Some(&hint())).unwrap();
        run(&mut d, prepare, reply);
        d
    }

    #[test]
    fn answers_without_ids_are_read_from_the_receive_filters_id() {
        let mut reply = adapter(Script::default());
        let mut d = addressed(&mut reply);
        let r = request(&d.core, &[0x02, 0x10, 0xC0]);
        d.command(r);
        // Echoed although ATE0 was accepted, and no id, as a clone does.
        d.feed(b"10C0\r50 C0\r\r>");
        assert_eq!(d.frames.len(), 1, "{}", d.errors_text());
        assert_eq!(d.frames[0].id, CanId::Standard(0x765));
        assert_eq!(d.frames[0].data(), [0x02, 0x50, 0xC0]);
        let notes = d.core.notes(d.now).join("\n");
        assert!(
            notes.contains("answers without ids although it accepted ATH1")
                && notes.contains("(ATCRA765)"),
            "{notes}"
        );
        assert_eq!(support(&d, "headers"), Support::Absent);
        assert_eq!(support(&d, "echo off"), Support::Limited);
        // The CAN auto-format's lines of a long answer: its length, then
        // numbered lines, rebuilt as the first and consecutive frames.
        let mut d = addressed(&mut reply);
        let r = request(&d.core, &[0x02, 0x21, 0x44]);
        d.command(r);
        d.feed(b"2144\r014\r0: 61 44 01 02 03 04\r1: 05 06 07 08 09 0A 0B\r");
        d.feed(b"2: 0C 0D 0E 0F 10 11 12\r\r>");
        assert!(d.errors.is_empty(), "{}", d.errors_text());
        let data: Vec<&[u8]> = d.frames.iter().map(|f| f.data()).collect();
        assert_eq!(
            data,
            [
                &[0x10, 0x14, 0x61, 0x44, 1, 2, 3, 4][..],
                &[0x21, 5, 6, 7, 8, 9, 0x0A, 0x0B][..],
                &[0x22, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12][..],
            ]
        );
        assert!(d.frames.iter().all(|f| f.id == CanId::Standard(0x765)));
    }

    #[test]
    fn a_garbled_answer_is_an_error_naming_the_line_not_a_silent_timeout() {
        for (answer, says) in [
            (&b"43 ZZ\r\r>"[..], "\"43 ZZ\""),
            (b"1: 05 06\r\r>", "numbered lines of an answer, in order"),
            (b"014\r0: 61 44\r\r>", "six bytes on line 0"),
            (b"002\r\r>", "008 to FFF"),
            (b"50 C0 00 00 00 00 00 00\r\r>", "one to seven bytes"),
        ] {
            let mut reply = adapter(Script::default());
            let mut d = addressed(&mut reply);
            let r = request(&d.core, &[0x02, 0x10, 0xC0]);
            d.command(r);
            d.feed(answer);
            let e = d.errors_text();
            assert!(e.contains(says) && e.contains("\"10C0\""), "{e}");
            assert!(d.frames.is_empty(), "{:?}", d.frames);
        }
    }

    #[test]
    fn without_a_receive_filter_an_answer_without_an_id_is_not_attributed() {
        let mut reply = adapter(Script {
            atma: "6F6 7D 00 00 00\r",
            ..Script::default()
        });
        let mut d = addressed(&mut reply);
        // The monitor opened the filter (ATCRA); a line without an id
        // arriving now cannot be told to come from the module.
        let r = request(&d.core, &[0x02, 0x10, 0xC0]);
        run(&mut d, r, &mut reply);
        d.core.filter_open = true;
        let asked = d
            .core
            .headerless_line("50 C0", CanId::Standard(0x745), "10C0");
        let e = asked.unwrap().unwrap_err().to_string();
        assert!(e.contains("who answered is unknown"), "{e}");
    }

    #[test]
    fn an_adapter_answering_ok_to_anything_proves_nothing_and_is_no_stn_chip() {
        let mut reply = adapter(Script {
            ok_to_anything: true,
            ..Script::default()
        });
        let d = ready(&mut reply);
        let facts = d.core.facts(d.now);
        assert_eq!(facts.kind, "ELM327", "{facts:?}");
        assert_eq!(support(&d, "STN commands"), Support::Absent);
        assert_eq!(support(&d, "refuses unknown commands"), Support::Limited);
        assert_eq!(support(&d, "multi-frame send"), Support::Limited);
        assert_eq!(support(&d, "CAN speed switching"), Support::Limited);
        assert_eq!(support(&d, "clone limits"), Support::Limited);
        // Protocol B was left for the bus's protocol at once.
        let b = d.written.iter().position(|w| w == "ATSPB\r").unwrap();
        assert_eq!(d.written[b + 1], "ATSP6\r");
    }

    #[test]
    fn a_genuine_elm327_shows_raw_frames_and_protocol_b_by_accepting_them() {
        let mut reply = adapter(Script::default());
        let d = ready(&mut reply);
        assert_eq!(support(&d, "refuses unknown commands"), Support::Ok);
        assert_eq!(support(&d, "multi-frame send"), Support::Ok);
        assert_eq!(support(&d, "CAN speed switching"), Support::Ok);
        let w = &d.written;
        let at = |c: &str| w.iter().position(|x| x == c).unwrap();
        assert!(at("ATCAF1\r") < at("ATCAF0\r"));
        assert_eq!(w[at("ATCAF0\r") + 1], "ATCAF1\r");
        assert_eq!(
            w[at("ATPB8104\r")..at("ATPB8104\r") + 3],
            ["ATPB8104\r", "ATSPB\r", "ATSP6\r"]
        );
        // Refused: absent, each with its answer, and nothing to undo.
        let mut reply = adapter(Script {
            refuse: vec!["ATCAF0", "ATPB"],
            ..Script::default()
        });
        let d = ready(&mut reply);
        assert_eq!(support(&d, "multi-frame send"), Support::Absent);
        assert_eq!(support(&d, "CAN speed switching"), Support::Absent);
        assert!(!d.written.iter().any(|w| w == "ATSPB\r"), "{:?}", d.written);
        let facts = d.core.facts(d.now);
        let speed = facts
            .capabilities
            .iter()
            .find(|c| c.name == "CAN speed switching");
        assert!(
            speed.is_some_and(|c| c.detail.starts_with("ATPB8104 answered \"?\"")),
            "{speed:?}"
        );
    }

    #[test]
    fn a_probe_left_unanswered_is_its_answer_not_the_end_of_the_start_up() {
        let mut silent = adapter(Script::default());
        // An adapter that never answers ATQQ nor ATPB.
        let mut reply = move |w: &str| match w.trim() {
            MADE_UP => None,
            c if c.starts_with("ATPB") => None,
            _ => silent(w),
        };
        let mut d =
            Drive::new(ElmCore::new(&endpoint(), PhysicalBus::high_speed(500_000)).unwrap());
        let ati = d.wait(250 * MS);
        d.play(ati, &mut reply);
        for _ in 0..2 {
            let w = d.wait(COMMAND_WAIT.as_millis() as u64 * MS);
            d.play(w, &mut reply);
        }
        assert!(d.core.finished().is_none(), "{:?}", d.core.finished());
        assert_eq!(support(&d, "refuses unknown commands"), Support::Limited);
        assert_eq!(support(&d, "CAN speed switching"), Support::Absent);
        let facts = d.core.facts(d.now);
        let speed = facts
            .capabilities
            .iter()
            .find(|c| c.name == "CAN speed switching");
        assert!(
            speed.is_some_and(|c| c.detail.contains("(nothing within 2000 ms)")),
            "{speed:?}"
        );
        assert!(!d.written.iter().any(|w| w == "ATSPB\r"), "{:?}", d.written);
    }

    #[test]
    fn an_stn_chip_switches_speed_with_stpbr_and_is_put_back() {
        let mut reply = adapter(Script {
            stn: Some("STN1110 v4.2.0"),
            ..Script::default()
        });
        let d = ready(&mut reply);
        let at = d.written.iter().position(|w| w == "STPBR125000\r").unwrap();
        assert_eq!(d.written[at + 1], "STPBR500000\r");
        assert!(!d.written.iter().any(|w| w.starts_with("ATPB")));
        assert_eq!(support(&d, "CAN speed switching"), Support::Ok);
    }

    proptest! {
        #[test]
        fn the_core_never_panics_on_any_bytes(
            chunks in noise(),
            waits in proptest::collection::vec(0u64..3_000_000, 0..40),
            ready_first in any::<bool>(),
        ) {
            let mut d = if ready_first {
                ready(&mut adapter(Script::default()))
            } else {
                Drive::new(ElmCore::new(&endpoint(), PhysicalBus::high_speed(500_000)).unwrap())
            };
            d.shake(&chunks, &waits, |d, i| match i % 4 {
                1 => Some(request(&d.core, &[0x02, 0x10, 0xC0])),
                3 => d.core.command_for_prepare(Some(&hint())),
                _ => None,
            });
            prop_assert_eq!(d.broken(), None);
        }

        #[test]
        fn what_the_core_does_does_not_depend_on_how_the_bytes_were_chunked(
            bytes in talk(
                &["765 02 50 C0\r", "NO DATA\r", "OK\r", "?\r", "BUFFER FULL\r", "CAN ERROR\r", "\r>"],
                "[0-9A-F]{3} [0-9A-F]{2}( [0-9A-F]{2}){0,7}\r",
            ),
            at in cuts(),
        ) {
            let start = || {
                let mut reply = adapter(Script::default());
                let mut d = ready(&mut reply);
                let p = d.core.command_for_prepare(Some(&hint())).unwrap();
                run(&mut d, p, &mut reply);
                let r = request(&d.core, &[0x02, 0x10, 0xC0]);
                d.command(r);
                d
            };
            let (whole, chunked) = whole_and_cut(start, &bytes, &at);
            prop_assert_eq!(&chunked.frames, &whole.frames);
            prop_assert_eq!(&chunked.written, &whole.written);
            prop_assert_eq!(chunked.errors_text(), whole.errors_text());
            prop_assert_eq!(chunked.core.notes(0), whole.core.notes(0));
        }

        #[test]
        fn parse_never_panics(s in "[0-9A-F ]{0,40}") {
            let _ = parse_frame(&s);
        }

        #[test]
        fn answers_without_ids_never_panic(
            lines in proptest::collection::vec("[0-9A-FZ: ]{0,30}", 0..12),
        ) {
            let mut reply = adapter(Script::default());
            let mut d = addressed(&mut reply);
            let r = request(&d.core, &[0x02, 0x10, 0xC0]);
            d.command(r);
            for l in &lines {
                d.feed(format!("{l}\r").as_bytes());
            }
            d.feed(b"\r>");
            prop_assert_eq!(d.broken(), None);
        }
    }
}
