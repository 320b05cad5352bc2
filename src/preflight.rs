//! The preflight (`trunkdiag check`, and the adapter part of every live
//! `diagnose`): is this adapter, on this port, able to carry a session?
//!
//! Sans-IO: what the adapter was found to do ([`AdapterFacts`], probed by
//! each adapter module), the frames heard while listening (a
//! [`Tally`], fed one frame at a time), the profile, and the body
//! module's answer to one read-only request go in; a [`Preflight`] report
//! comes out: the adapter, the bus (frames, load, error frames, frames
//! dropped on the way in), the topology (which ids, whether the port is
//! gatewayed, which of the profile's buses are visible), the body module,
//! findings each with what to do, and whether the session can go on.
//! No clocks, no sockets: the CLI listens and asks, this module judges.

use std::collections::HashMap;

use serde::Serialize;

use crate::frame::{CanFrame, CanId};
use crate::profile::Profile;
use crate::transport::{AdapterFacts, Support};

/// At most this many non-diagnostic ids on a port whose profile frames are
/// all missing, and it is taken for a gateway's heartbeat (a gateway
/// forwards a frame or two, such as a wake-up or network management, and
/// keeps the body frames behind it), not a body bus.
pub const HEARTBEAT_IDS: usize = 2;

/// How many ids the report lists (the most frequent first); the rest are
/// counted.
const LISTED_IDS: usize = 48;

/// Distinct ids a [`Tally`] keeps apart; frames of further ids are counted
/// together (a bus of random 29-bit ids must not grow it without bound).
const MAX_IDS: usize = 4096;

/// Bus load above this share is called high: an adapter or a slow reader
/// may start to drop frames.
const HIGH_LOAD_PERCENT: f64 = 80.0;

/// Bits one frame takes on the wire, an upper estimate: for a frame of `n`
/// data bytes (at most 8 counted), `8n + 47 + ⌊(34 + 8n − 1) / 4⌋` with an
/// 11-bit id and `8n + 67 + ⌊(54 + 8n − 1) / 4⌋` with a 29-bit id: the
/// frame's fixed fields, its data, and worst-case bit stuffing (one stuff
/// bit per four bits of the stuffed span), as in the classic CAN
/// response-time analysis (Davis, Burns, Bril, Lukkien, 2007). CAN FD
/// frames are counted as if their data were 8 bytes at the nominal rate,
/// so their load is only roughly estimated.
pub fn frame_bits(frame: &CanFrame) -> u64 {
    let n = frame.len().min(8) as u64;
    if frame.id.is_extended() {
        8 * n + 67 + (54 + 8 * n - 1) / 4
    } else {
        8 * n + 47 + (34 + 8 * n - 1) / 4
    }
}

/// What was heard while listening, one frame at a time (bounded: one entry
/// per distinct id, up to 4096 ids).
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub frames: u64,
    pub error_frames: u64,
    pub bits: u64,
    pub ids: HashMap<CanId, u64>,
    /// Frames of ids beyond the first [`MAX_IDS`].
    pub beyond: u64,
}

impl Tally {
    /// Counts a frame received from the bus (never one we sent).
    pub fn push(&mut self, frame: &CanFrame) {
        if frame.is_error() {
            self.error_frames += 1;
            return;
        }
        self.frames += 1;
        self.bits += frame_bits(frame);
        if let Some(n) = self.ids.get_mut(&frame.id) {
            *n += 1;
        } else if self.ids.len() < MAX_IDS {
            self.ids.insert(frame.id, 1);
        } else {
            self.beyond += 1;
        }
    }
}

/// The one read-only request the check sent to the body module, and what
/// came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "answered", rename_all = "kebab-case")]
pub enum BodyAnswer {
    /// A reply (positive or negative: either way the module is awake).
    Yes {
        request: String,
        reply: String,
    },
    /// No reply; `why` is what the tester or adapter said.
    No {
        request: String,
        why: String,
    },
    NotAsked {
        why: String,
    },
}

/// Everything the report is made from (see the module doc).
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// `vcan0`, `slcan:/dev/ttyACM0`...
    pub iface: String,
    pub facts: AdapterFacts,
    /// The adapter failed (could not be opened, stopped): its message.
    pub failure: Option<String>,
    pub tally: Tally,
    pub listened_s: f64,
    /// The bitrate the load is computed against, and where it comes from.
    pub bitrate: (u32, &'static str),
    pub profile: Option<&'a Profile>,
    pub body: BodyAnswer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Ok,
    Warn,
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub text: String,
    /// What to do; empty when nothing is needed.
    pub todo: String,
}

impl Finding {
    fn new(severity: Severity, text: impl Into<String>, todo: impl Into<String>) -> Finding {
        Finding {
            severity,
            text: text.into(),
            todo: todo.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusSection {
    pub seconds: f64,
    pub frames: u64,
    pub frames_per_s: f64,
    /// Upper estimate (see [`frame_bits`]) against `bitrate`.
    pub load_percent: f64,
    pub bitrate: u32,
    pub bitrate_from: &'static str,
    pub error_frames: u64,
    /// `None`: the adapter does not report dropped frames (not "none").
    pub dropped: Option<crate::transport::DropCount>,
}

/// What an id heard is, for the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdClass {
    /// Diagnostic requests and answers (OBD-II, UDS, KWP, GMLAN).
    Diagnostic,
    /// A broadcast frame the profile reads.
    Body,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdSeen {
    pub id: String,
    pub frames: u64,
    pub class: IdClass,
}

/// What the port is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Port {
    /// Nothing was heard.
    Silent,
    /// The adapter could not watch the bus (an ELM327 that cannot
    /// monitor): only its own answers came.
    NotWatched,
    /// Only diagnostic traffic, or that and a gateway's heartbeat.
    Gatewayed,
    /// The profile's body frames are here.
    BodyFrames,
    /// Node traffic, but none of the profile's frames (or no profile).
    OtherFrames,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BusSeen {
    pub name: String,
    pub pins: String,
    pub bitrate: u32,
    /// Frames of this bus's layout heard.
    pub frames: u64,
    pub visible: bool,
    pub off_connector: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topology {
    pub port: Port,
    pub distinct_ids: usize,
    /// The most frequent ids (at most 48), each with its class.
    pub ids: Vec<IdSeen>,
    pub body_frames: u64,
    pub buses: Vec<BusSeen>,
}

/// The preflight report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preflight {
    pub iface: String,
    pub adapter: AdapterFacts,
    pub bus: BusSection,
    pub topology: Topology,
    pub body_module: BodyAnswer,
    pub findings: Vec<Finding>,
    pub can_go_on: bool,
}

/// Diagnostic or a body frame of the profile or neither.
pub fn classify(id: CanId, profile: Option<&Profile>) -> IdClass {
    if let Some(p) = profile {
        if p.broadcast_index(id).is_some() {
            return IdClass::Body;
        }
        if p.bcm()
            .is_some_and(|b| b.request_id == id || b.response_id == id)
        {
            return IdClass::Diagnostic;
        }
    }
    let gm = crate::diag::gmlan::is_diagnostic_id(id);
    if gm || crate::diag::ids::is_diagnostic(id) {
        IdClass::Diagnostic
    } else {
        IdClass::Other
    }
}

/// Whether the adapter heard the bus at all, not only its own answers.
fn watched(facts: &AdapterFacts) -> bool {
    facts
        .capabilities
        .iter()
        .find(|c| c.name == "monitor")
        .is_none_or(|c| matches!(c.support, Support::Ok | Support::Limited))
}

/// The report (see the module doc).
pub fn assess(inputs: Inputs<'_>) -> Preflight {
    let Inputs {
        iface,
        facts,
        failure,
        tally,
        listened_s,
        bitrate,
        profile,
        body,
    } = inputs;
    let seconds = listened_s.max(0.0);
    let rate = |n: f64| if seconds > 0.0 { n / seconds } else { 0.0 };
    let bus = BusSection {
        seconds,
        frames: tally.frames,
        frames_per_s: rate(tally.frames as f64),
        load_percent: if bitrate.0 > 0 {
            rate(tally.bits as f64) / f64::from(bitrate.0) * 100.0
        } else {
            0.0
        },
        bitrate: bitrate.0,
        bitrate_from: bitrate.1,
        error_frames: tally.error_frames,
        dropped: facts.dropped.clone(),
    };
    let topology = topology(&tally, profile, watched(&facts));
    let mut findings = Vec::new();
    if let Some(f) = failure {
        // What was heard before it failed proves nothing either way.
        findings.push(Finding::new(
            Severity::Stop,
            format!("the adapter failed: {f}"),
            "fix what the message names, then run `trunkdiag check` again",
        ));
        capability_findings(&facts, &mut findings);
    } else {
        adapter_findings(&facts, &mut findings);
        bus_findings(&bus, &mut findings);
        topology_findings(&topology, &bus, profile, &body, &mut findings);
    }
    body_findings(&body, profile, &mut findings);
    let can_go_on = !findings.iter().any(|f| f.severity == Severity::Stop);
    Preflight {
        iface,
        adapter: facts,
        bus,
        topology,
        body_module: body,
        findings,
        can_go_on,
    }
}

fn topology(tally: &Tally, profile: Option<&Profile>, watched: bool) -> Topology {
    let mut ids: Vec<IdSeen> = Vec::new();
    let mut body_frames = 0;
    let mut others = 0;
    let mut per_bus: HashMap<&str, u64> = HashMap::new();
    let mut all: Vec<(&CanId, &u64)> = tally.ids.iter().collect();
    all.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (id, n) in &all {
        let class = classify(**id, profile);
        match class {
            IdClass::Body => {
                body_frames += **n;
                let bus = profile
                    .and_then(|p| p.broadcast_index(**id).and_then(|i| p.frames.get(i)))
                    .map(|f| f.bus.as_str());
                if let Some(b) = bus {
                    *per_bus.entry(b).or_insert(0) += **n;
                }
            }
            IdClass::Other => others += 1,
            IdClass::Diagnostic => {}
        }
        if ids.len() < LISTED_IDS {
            ids.push(IdSeen {
                id: id.to_string(),
                frames: **n,
                class,
            });
        }
    }
    if tally.beyond > 0 {
        // More ids than kept: a busy bus of node traffic, whatever they are.
        others += HEARTBEAT_IDS + 1;
    }
    let port = if tally.frames == 0 {
        Port::Silent
    } else if !watched {
        Port::NotWatched
    } else if body_frames > 0 {
        Port::BodyFrames
    } else if others <= HEARTBEAT_IDS {
        Port::Gatewayed
    } else {
        Port::OtherFrames
    };
    let buses = profile
        .map(|p| {
            p.buses
                .iter()
                .map(|b| {
                    let frames = per_bus.get(b.name.as_str()).copied().unwrap_or(0);
                    BusSeen {
                        name: b.name.clone(),
                        pins: b.pins_text(),
                        bitrate: b.bitrate,
                        frames,
                        visible: frames > 0,
                        off_connector: b.off_connector,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Topology {
        port,
        distinct_ids: tally.ids.len(),
        ids,
        body_frames,
        buses,
    }
}

/// What a live `diagnose` adds to its notes from its adapter's facts: each
/// capability that failed or fell short, and frames dropped on the way in
/// (a run that dropped frames says so: silence is not proof). Nothing for
/// a bus that is no adapter (the simulator, a replay).
///
/// Frames known lost (the kernel's counter, trunkdiag's inbox) are said by
/// the bus's own notes, which `record` writes too; only the adapter's
/// overflow reports are said here, so no loss is told twice.
pub fn run_notes(facts: &AdapterFacts) -> Vec<String> {
    let mut facts = facts.clone();
    if let Some(d) = &mut facts.dropped {
        d.count = 0;
    }
    let mut findings = Vec::new();
    adapter_findings(&facts, &mut findings);
    findings
        .into_iter()
        .filter(|f| {
            f.severity != Severity::Ok && !f.text.contains("does not report dropped frames")
        })
        .map(|f| {
            if f.todo.is_empty() {
                format!("preflight: {}", f.text)
            } else {
                format!("preflight: {} ({})", f.text, f.todo)
            }
        })
        .collect()
}

/// The adapter's part of the findings: a failed or limited capability,
/// and frames dropped on the way in.
pub fn adapter_findings(facts: &AdapterFacts, findings: &mut Vec<Finding>) {
    capability_findings(facts, findings);
    drop_finding(facts, findings);
}

/// A capability that failed or fell short, with what to do.
fn capability_findings(facts: &AdapterFacts, findings: &mut Vec<Finding>) {
    for c in &facts.capabilities {
        // Features a session does without: their absence is no problem.
        let optional = matches!(c.name, "CAN FD" | "STN commands" | "version");
        let finding = match c.support {
            Support::Absent if c.name == "interface up" => Finding::new(
                Severity::Stop,
                format!("the interface is down ({})", c.detail),
                "bring it up: `sudo ip link set IF up type can bitrate 500000` (vcan: `sudo ip link set IF up`)",
            ),
            Support::Absent | Support::Limited if !optional => Finding::new(
                Severity::Warn,
                format!("{} ({}): {}", c.name, facts.kind, c.detail),
                capability_todo(c.name),
            ),
            _ => continue,
        };
        findings.push(finding);
    }
}

/// What was lost, in words: frames known lost and overflows the adapter
/// reported (of an unknown number of frames each), never added together.
/// `None` when nothing was lost.
pub fn lost_words(d: &crate::transport::DropCount) -> Option<String> {
    let mut parts = Vec::new();
    if d.count > 0 {
        parts.push(format!("{} frame(s)", d.count));
    }
    if d.overflows > 0 {
        parts.push(format!(
            "{} overflow report(s) of the adapter, each of an unknown number of frames",
            d.overflows
        ));
    }
    (!parts.is_empty()).then(|| parts.join(" and "))
}

/// Frames dropped on the way in, none, or not reported.
fn drop_finding(facts: &AdapterFacts, findings: &mut Vec<Finding>) {
    let lost = facts.dropped.as_ref().and_then(lost_words);
    findings.push(match (&facts.dropped, lost) {
        (Some(d), Some(what)) => Finding::new(
            Severity::Warn,
            format!(
                "frames were dropped on the way in: {what} ({}): silence is not proof",
                d.source
            ),
            "a frame missing from this run may have been sent: run again with nothing else \
                 loading the machine (on an ELM327: a faster serial speed, or an OBDLink)",
        ),
        (Some(d), None) if d.exact => Finding::new(
            Severity::Ok,
            format!("no frame was dropped on the way in ({})", d.source),
            "",
        ),
        (Some(d), None) => Finding::new(
            Severity::Ok,
            format!("no overflow was reported ({})", d.source),
            "",
        ),
        (None, _) if facts.kind.is_empty() => return,
        (None, _) => Finding::new(
            Severity::Warn,
            format!(
                "this adapter ({}) does not report dropped frames: silence is not proof",
                facts.kind
            ),
            "",
        ),
    });
}

fn capability_todo(name: &str) -> &'static str {
    match name {
        "monitor" => {
            "broadcast frames (the lid, the presses) cannot all be watched through it: use a raw \
             CAN adapter (SocketCAN or SLCAN) to see them"
        }
        "own flow control" => {
            "long answers from modules outside 7E0-7E7 may not arrive: an OBDLink or a raw CAN \
             adapter does better"
        }
        "error counters" => {
            "the interface has counted errors: check the wiring, the termination and the bitrate"
        }
        "receive-queue drop counter" => "frames lost on this machine would go unnoticed",
        "refuses unknown commands" => {
            "what it says it set may not be set: a genuine ELM327 or an OBDLink answers `?` to \
             what it does not have"
        }
        "headers" => {
            "each answer is taken for the addressed module's: an answer from another module \
             cannot be told apart"
        }
        "multi-frame send" => {
            "requests longer than 7 bytes cannot go through it: an OBDLink or a raw CAN adapter \
             can send them"
        }
        "CAN speed switching" => {
            "a body bus at another bitrate (Ford's MS-CAN at 125 kbit/s) is out of its reach: \
             use a raw CAN adapter set to that bitrate"
        }
        _ => "",
    }
}

fn bus_findings(bus: &BusSection, findings: &mut Vec<Finding>) {
    if bus.error_frames > 0 {
        findings.push(Finding::new(
            Severity::Warn,
            format!(
                "{} error frame(s) in {:.1} s",
                bus.error_frames, bus.seconds
            ),
            "check the wiring (CAN-H pin 6, CAN-L pin 14 for high-speed), the termination, and \
             that the bitrate matches the bus",
        ));
    }
    if bus.load_percent > HIGH_LOAD_PERCENT {
        findings.push(Finding::new(
            Severity::Warn,
            format!(
                "the bus is busy: about {:.0}% of {} bit/s ({:.0} frames/s)",
                bus.load_percent, bus.bitrate, bus.frames_per_s
            ),
            "a slow adapter or reader may drop frames: watch the dropped-frames line",
        ));
    }
}

fn topology_findings(
    topo: &Topology,
    bus: &BusSection,
    profile: Option<&Profile>,
    body: &BodyAnswer,
    findings: &mut Vec<Finding>,
) {
    let answered = matches!(body, BodyAnswer::Yes { .. });
    match topo.port {
        Port::Silent if !answered => findings.push(Finding::new(
            Severity::Stop,
            format!("nothing was heard on the bus in {:.1} s", bus.seconds),
            format!(
                "check the adapter is in the OBD-II socket (or on the tap), the ignition is on \
                 or a door was just opened, and the bitrate is {} bit/s ({})",
                bus.bitrate, bus.bitrate_from
            ),
        )),
        Port::Silent | Port::NotWatched => findings.push(Finding::new(
            Severity::Warn,
            "the adapter could not watch the bus (it only delivers its own answers): which \
             frames this port carries is not known",
            "use a raw CAN adapter (SocketCAN or SLCAN) to see the broadcast frames",
        )),
        Port::Gatewayed => {
            let reads_broadcasts_only = profile.is_some_and(|p| p.bcm().is_none());
            if reads_broadcasts_only {
                findings.push(Finding::new(
                    Severity::Stop,
                    "this port is gatewayed: it carries only diagnostic or gateway heartbeat \
                     traffic, and the profile reads the body frames alone (no body module \
                     address is published)",
                    "connect to the body bus behind the gateway (a tap), then run again",
                ));
            } else {
                findings.push(Finding::new(
                    Severity::Warn,
                    "this port is gatewayed: the body frames are behind the gateway: reading \
                     the body module over its diagnostics instead",
                    "presses and the lid are judged from the body module's answers; to watch \
                     the body frames, tap the body bus behind the gateway",
                ));
            }
        }
        Port::BodyFrames => findings.push(Finding::new(
            Severity::Ok,
            format!(
                "the profile's body frames are on this port ({} frame(s))",
                topo.body_frames
            ),
            "",
        )),
        Port::OtherFrames => match profile {
            Some(_) => findings.push(Finding::new(
                Severity::Warn,
                format!(
                    "{} id(s) heard, none of them a body frame of the profile",
                    topo.distinct_ids
                ),
                "this may be another bus, or another car than the profile's: check the pins \
                 and the profile",
            )),
            None => findings.push(Finding::new(
                Severity::Ok,
                format!("{} id(s) heard", topo.distinct_ids),
                "",
            )),
        },
    }
    if !matches!(topo.port, Port::BodyFrames | Port::OtherFrames) {
        return;
    }
    for b in &topo.buses {
        let carries = profile.is_some_and(|p| p.frames.iter().any(|f| f.bus == b.name));
        if b.visible || !carries {
            continue;
        }
        let (severity, todo) = if b.off_connector {
            (
                Severity::Ok,
                "it is behind a gateway (not at the connector): a tap reaches it".to_owned(),
            )
        } else {
            (
                Severity::Warn,
                format!("its frames are at {} at {} bit/s", b.pins, b.bitrate),
            )
        };
        findings.push(Finding::new(
            severity,
            format!("the \"{}\" bus's frames were not heard here", b.name),
            todo,
        ));
    }
}

fn body_findings(body: &BodyAnswer, profile: Option<&Profile>, findings: &mut Vec<Finding>) {
    findings.push(match body {
        BodyAnswer::Yes { request, reply } => Finding::new(
            Severity::Ok,
            format!("the body module answered {request} with {reply}"),
            "",
        ),
        BodyAnswer::No { request, why } => {
            let name = profile
                .and_then(|p| p.bcm())
                .map_or("the body module", |b| b.name.as_str());
            Finding::new(
                Severity::Stop,
                format!("{name} did not answer {request} ({why})"),
                "it may be asleep: open a door or switch to accessory, then run again",
            )
        }
        BodyAnswer::NotAsked { why } => Finding::new(
            Severity::Ok,
            format!("the body module was not asked: {why}"),
            "",
        ),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Capability, DropCount};

    fn frame(id: CanId, len: usize, at: u64) -> CanFrame {
        CanFrame::classic(id, &vec![0; len]).unwrap().at(at)
    }

    fn altima() -> Profile {
        crate::profile::load("nissan-altima-2013-2018").unwrap()
    }

    fn socketcan(dropped: Option<u64>) -> AdapterFacts {
        AdapterFacts {
            kind: "SocketCAN",
            firmware: None,
            capabilities: vec![Capability::new("interface up", Support::Ok, "up")],
            dropped: dropped.map(|count| DropCount {
                count,
                overflows: 0,
                exact: true,
                source: "SO_RXQ_OVFL".into(),
            }),
        }
    }

    fn inputs<'a>(
        facts: AdapterFacts,
        tally: Tally,
        profile: Option<&'a Profile>,
        body: BodyAnswer,
    ) -> Inputs<'a> {
        Inputs {
            iface: "vcan0".into(),
            facts,
            failure: None,
            tally,
            listened_s: 2.0,
            bitrate: (500_000, "the profile's bus"),
            profile,
            body,
        }
    }

    fn answered() -> BodyAnswer {
        BodyAnswer::Yes {
            request: "3E 01".into(),
            reply: "7E 01".into(),
        }
    }

    /// The bit counts written out by hand from the formula's terms.
    #[test]
    fn frame_bits_follow_the_worst_case_stuffing_formula() {
        // 11-bit, 8 bytes: 64 + 47 + (34 + 63) / 4 = 111 + 24 = 135.
        assert_eq!(frame_bits(&frame(CanId::Standard(0x123), 8, 0)), 135);
        // 11-bit, 0 bytes: 47 + 33 / 4 = 55.
        assert_eq!(frame_bits(&frame(CanId::Standard(0x123), 0, 0)), 55);
        // 29-bit, 8 bytes: 64 + 67 + (54 + 63) / 4 = 131 + 29 = 160.
        assert_eq!(frame_bits(&frame(CanId::Extended(0x18DA_F110), 8, 0)), 160);
    }

    #[test]
    fn load_is_bits_per_second_over_the_bitrate() {
        let mut t = Tally::default();
        // 1000 frames of 135 bits in 2 s: 67 500 bit/s of 500 000 = 13.5%.
        for k in 0..1000 {
            t.push(&frame(CanId::Standard(0x100), 8, k * 2000));
        }
        let r = assess(inputs(socketcan(Some(0)), t, None, answered()));
        assert!(
            (r.bus.load_percent - 13.5).abs() < 1e-9,
            "{}",
            r.bus.load_percent
        );
        assert!((r.bus.frames_per_s - 500.0).abs() < 1e-9);
    }

    #[test]
    fn dropped_frames_are_said_and_silence_is_not_proof() {
        let mut t = Tally::default();
        t.push(&frame(CanId::Standard(0x100), 8, 0));
        let r = assess(inputs(socketcan(Some(17)), t.clone(), None, answered()));
        let f = r
            .findings
            .iter()
            .find(|f| f.text.contains("dropped"))
            .unwrap();
        assert_eq!(f.severity, Severity::Warn);
        assert!(f.text.contains("17 frame(s)") && f.text.contains("silence is not proof"));
        // An adapter that does not say: not "none dropped".
        let r = assess(inputs(socketcan(None), t, None, answered()));
        assert!(r
            .findings
            .iter()
            .any(|f| f.text.contains("does not report dropped frames")));
    }

    #[test]
    fn only_diagnostic_and_a_heartbeat_is_gatewayed() {
        let p = altima();
        let mut t = Tally::default();
        for k in 0..10 {
            t.push(&frame(CanId::Standard(0x765), 3, k));
            t.push(&frame(CanId::Standard(0x7DF), 8, k));
            t.push(&frame(CanId::Extended(0x18DA_F110), 8, k));
            // A gateway's heartbeat, not a frame of the profile.
            t.push(&frame(CanId::Standard(0x3E8), 2, k));
        }
        let r = assess(inputs(socketcan(Some(0)), t.clone(), Some(&p), answered()));
        assert_eq!(r.topology.port, Port::Gatewayed);
        let f = r
            .findings
            .iter()
            .find(|f| f.text.contains("gatewayed"))
            .unwrap();
        assert!(f
            .text
            .contains("reading the body module over its diagnostics instead"));
        assert!(r.can_go_on);
        // Three node ids are a bus, not a heartbeat.
        t.push(&frame(CanId::Standard(0x3E9), 2, 20));
        t.push(&frame(CanId::Standard(0x3EA), 2, 21));
        let r = assess(inputs(socketcan(Some(0)), t, Some(&p), answered()));
        assert_eq!(r.topology.port, Port::OtherFrames);
    }

    #[test]
    fn body_frames_make_their_bus_visible() {
        let p = altima();
        let body = p.broadcast_ids().next().unwrap();
        let mut t = Tally::default();
        t.push(&frame(body, 8, 0));
        let r = assess(inputs(socketcan(Some(0)), t, Some(&p), answered()));
        assert_eq!(r.topology.port, Port::BodyFrames);
        assert_eq!(r.topology.body_frames, 1);
        let default = &r.topology.buses[0];
        assert!(default.visible, "{:?}", r.topology.buses);
        assert!(r.can_go_on, "{:?}", r.findings);
    }

    #[test]
    fn a_silent_bus_and_body_module_cannot_go_on_and_say_what_to_do() {
        let p = altima();
        let body = BodyAnswer::No {
            request: "3E 01".into(),
            why: "no answer within 50 ms".into(),
        };
        let r = assess(inputs(socketcan(Some(0)), Tally::default(), Some(&p), body));
        assert!(!r.can_go_on);
        assert_eq!(r.topology.port, Port::Silent);
        let stops: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Stop)
            .collect();
        assert!(stops.iter().any(|f| f.text.contains("nothing was heard")));
        assert!(stops.iter().any(|f| f
            .todo
            .contains("it may be asleep: open a door or switch to accessory, then run again")));
    }

    #[test]
    fn an_elm327_that_cannot_monitor_does_not_call_the_port_gatewayed() {
        let mut facts = socketcan(None);
        facts.kind = "ELM327";
        facts.capabilities = vec![Capability::new(
            "monitor",
            Support::Absent,
            "ATMA answered ?",
        )];
        let mut t = Tally::default();
        t.push(&frame(CanId::Standard(0x765), 3, 0));
        let p = altima();
        let r = assess(inputs(facts, t, Some(&p), answered()));
        assert_eq!(r.topology.port, Port::NotWatched);
        assert!(r
            .findings
            .iter()
            .any(|f| f.text.starts_with("monitor (ELM327)")));
        assert!(r.can_go_on);
    }

    #[test]
    fn an_interface_down_or_a_failed_adapter_stops() {
        let mut facts = socketcan(Some(0));
        facts.capabilities = vec![Capability::new("interface up", Support::Absent, "down")];
        let r = assess(inputs(facts, Tally::default(), None, answered()));
        assert!(!r.can_go_on);
        let mut i = inputs(socketcan(Some(0)), Tally::default(), None, answered());
        i.failure = Some("no answer to \"O\"".into());
        assert!(!assess(i).can_go_on);
    }

    #[test]
    fn a_live_run_notes_what_the_adapter_lacked_and_what_it_dropped() {
        assert!(run_notes(&AdapterFacts::default()).is_empty());
        assert!(run_notes(&socketcan(Some(0))).is_empty());
        // The kernel's count is the bus's own note: not told twice.
        assert!(run_notes(&socketcan(Some(3))).is_empty());
        // An adapter's overflow reports are told here, never as frames.
        let mut slcan = socketcan(Some(0));
        slcan.kind = "SLCAN";
        if let Some(d) = &mut slcan.dropped {
            d.overflows = 2;
            d.exact = false;
        }
        let notes = run_notes(&slcan).join("\n");
        assert!(
            notes.starts_with(
                "preflight: frames were dropped on the way in: 2 overflow report(s) of the adapter"
            ) && notes.contains("silence is not proof")
                && !notes.contains("frame(s) and"),
            "{notes}"
        );
        // In `check`, both kinds of loss are said, side by side.
        if let Some(d) = &mut slcan.dropped {
            d.count = 5;
        }
        let mut findings = Vec::new();
        adapter_findings(&slcan, &mut findings);
        let text = findings
            .iter()
            .map(|f| f.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            text.contains("5 frame(s) and 2 overflow report(s)"),
            "{text}"
        );
        let mut elm = socketcan(None);
        elm.kind = "ELM327";
        elm.capabilities = vec![Capability::new(
            "monitor",
            Support::Absent,
            "ATMA answered ?",
        )];
        let notes = run_notes(&elm);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with("preflight: monitor (ELM327)"),
            "{notes:?}"
        );
    }

    #[test]
    fn a_tally_keeps_a_bounded_number_of_ids() {
        let mut t = Tally::default();
        for id in 0..(MAX_IDS as u32 + 10) {
            t.push(&frame(CanId::Extended(0x100_0000 + id), 1, 0));
        }
        assert_eq!(t.ids.len(), MAX_IDS);
        assert_eq!(t.beyond, 10);
        assert_eq!(t.frames, MAX_IDS as u64 + 10);
    }

    #[test]
    fn gmlan_and_obd_ids_are_diagnostic() {
        for id in [
            CanId::Standard(0x7DF),
            CanId::Standard(0x7E8),
            CanId::Standard(0x241),
            CanId::Standard(0x641),
            CanId::Standard(0x101),
            CanId::Extended(0x18DB_33F1),
        ] {
            assert_eq!(classify(id, None), IdClass::Diagnostic, "{id}");
        }
        assert_eq!(classify(CanId::Standard(0x3E8), None), IdClass::Other);
    }
}
