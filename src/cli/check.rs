//! `trunkdiag check`: the preflight before a session. Opens the adapter
//! (which probes it), asks the profile's body module one read-only
//! question (unless `--listen-only`), listens, and prints what
//! `preflight::assess` makes of it: the adapter and what it can really do,
//! the bus, the topology, the body module, findings with what to do. Exit
//! 0 when a session can go on, 2 when it cannot.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;

use super::{exit, CliResult};
use crate::diag::client::ClientConfig;
use crate::diag::Protocol;
use crate::frame::{CanId, Direction};
use crate::isotp::{Addressing, IsoTpConfig};
use crate::preflight::{self, BodyAnswer, Inputs, Preflight, Severity, Tally};
use crate::tester::{Response, Shutdown, Tester, TesterError};
use crate::transport::{
    AdapterError, AdapterFacts, BusError, IfaceSpec, ListenOnly, PhysicalBus, Support,
};

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[arg(long, help = format!(
        "The adapter: {}.",
        crate::transport::BusUse::Tester.forms()
    ))]
    pub iface: String,
    /// The vehicle profile (name or path): its bus's bitrate, its body
    /// frames and buses, and its body module to ask.
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// How long to listen to the bus, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = super::parse_seconds)]
    pub listen: Duration,
    /// Send nothing at all: do not ask the body module, only listen.
    #[arg(long)]
    pub listen_only: bool,
    /// Print JSON for scripts instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The one read-only question to the body module: tester present, answered
/// (`3E 00` UDS, `3E 01` KWP2000, `3E` GMLAN), or OBD-II's supported PIDs.
/// It opens no session and changes nothing.
pub fn question(protocol: Protocol) -> Vec<u8> {
    match protocol {
        Protocol::Uds => vec![0x3E, 0x00],
        Protocol::Kwp => vec![0x3E, 0x01],
        Protocol::Gmlan => vec![0x3E],
        Protocol::Obd => vec![0x01, 0x00],
    }
}

/// What one live preflight gathered, for `preflight::assess`.
struct Gathered {
    facts: AdapterFacts,
    failure: Option<String>,
    tally: Tally,
    listened_s: f64,
    body: BodyAnswer,
}

fn spaced(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `NO DATA` from an ELM327: nothing answered the module's address.
fn no_data(e: &BusError) -> bool {
    matches!(
        e,
        BusError::Adapter {
            error: AdapterError::NoData { .. },
            ..
        }
    )
}

/// `BUFFER FULL`: the adapter dropped frames and stopped monitoring, but is
/// still usable; the listening goes on (and the drop is in its facts).
fn buffer_full(e: &TesterError) -> bool {
    matches!(
        e,
        TesterError::Bus(BusError::Adapter {
            error: AdapterError::BufferFull,
            ..
        })
    )
}

fn kind_of(spec: &IfaceSpec) -> &'static str {
    match spec {
        IfaceSpec::SocketCan(_) => "SocketCAN",
        IfaceSpec::Slcan { .. } => "SLCAN",
        IfaceSpec::Elm327(_) => "ELM327",
    }
}

pub fn run(args: &CheckArgs) -> CliResult<u8> {
    let spec = super::iface_spec(&args.iface)?;
    let profile = match &args.profile {
        Some(p) => Some(crate::profile::load(p)?),
        None => None,
    };
    let bus = profile.as_ref().map_or(
        PhysicalBus::high_speed(500_000),
        crate::diagnose::physical_bus,
    );
    let bitrate = match (&spec, &profile) {
        (
            IfaceSpec::Slcan {
                bitrate: Some(b), ..
            },
            _,
        ) => (*b, "the --iface bitrate"),
        (_, Some(_)) => (bus.bitrate, "the profile's bus"),
        (_, None) => (500_000, "assumed: no --profile"),
    };
    let bcm = profile.as_ref().and_then(|p| p.bcm());
    let (tx, rx, protocol, addressing) = match bcm {
        Some(b) => (b.request_id, b.response_id, b.protocol, b.addressing.into()),
        None => (
            CanId::Standard(0x7E0),
            CanId::Standard(0x7E8),
            Protocol::Uds,
            Addressing::Normal,
        ),
    };
    let ask = match (bcm, args.listen_only, &profile) {
        (Some(_), false, _) => Ok(question(protocol)),
        (Some(_), true, _) => Err("--listen-only"),
        (None, _, Some(_)) => Err("the profile names no body module (no address is published)"),
        (None, _, None) => Err("no --profile names one"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let gathered = rt.block_on(async {
        // With --listen-only, opened as diagnose, record and learn open it:
        // SLCAN with `L`, an ELM327 refused, and every send refused above it.
        let opened = match spec.open_as(bus, args.listen_only) {
            Ok(b) => ListenOnly::new(b, args.listen_only),
            Err(e) => {
                return Gathered {
                    facts: AdapterFacts::default(),
                    failure: Some(e.to_string()),
                    tally: Tally::default(),
                    listened_s: 0.0,
                    body: BodyAnswer::NotAsked {
                        why: "the adapter could not be opened".into(),
                    },
                }
            }
        };
        let mut isotp = IsoTpConfig::new(tx, rx);
        isotp.iface = spec.name();
        isotp.addressing = addressing;
        let mut tester = Tester::new(
            opened,
            isotp,
            ClientConfig::for_protocol(protocol),
            Shutdown::on_signals(),
        );
        let tally = Arc::new(Mutex::new(Tally::default()));
        let into = Arc::clone(&tally);
        tester.set_tap(Box::new(move |frame, dir| {
            if dir == Direction::Rx {
                into.lock().unwrap_or_else(|p| p.into_inner()).push(frame);
            }
        }));
        let started = tokio::time::Instant::now();
        let mut body = match &ask {
            Ok(_) => BodyAnswer::NotAsked {
                why: "the adapter failed before the question".into(),
            },
            Err(why) => BodyAnswer::NotAsked {
                why: (*why).to_owned(),
            },
        };
        let listen = args.listen;
        let outcome = tester
            .run(async |t| {
                if let Ok(req) = &ask {
                    let request = spaced(req);
                    body = match t.request(req).await {
                        Ok(Response::Suppressed) => BodyAnswer::No {
                            request,
                            why: "the request asked for no answer".into(),
                        },
                        Ok(r) => BodyAnswer::Yes {
                            request,
                            reply: spaced(r.payload()),
                        },
                        Err(TesterError::Bus(e)) if no_data(&e) => BodyAnswer::No {
                            request,
                            why: e.to_string(),
                        },
                        Err(e @ (TesterError::Bus(_) | TesterError::Interrupted)) => return Err(e),
                        Err(e) => BodyAnswer::No {
                            request,
                            why: e.to_string(),
                        },
                    };
                }
                let until = started + listen;
                loop {
                    let left = until.saturating_duration_since(tokio::time::Instant::now());
                    match t.idle(left).await {
                        Ok(()) => return Ok(()),
                        Err(e) if buffer_full(&e) => continue,
                        Err(e) => return Err(e),
                    }
                }
            })
            .await;
        let facts = tester.bus_facts();
        let failure = match outcome {
            Ok(()) => None,
            Err(TesterError::Interrupted) => Some("interrupted (Ctrl-C / SIGTERM)".to_owned()),
            Err(e) => Some(e.to_string()),
        };
        drop(tester);
        let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
        Gathered {
            facts,
            failure,
            tally,
            listened_s: started.elapsed().as_secs_f64(),
            body,
        }
    });
    let mut facts = gathered.facts;
    if facts.kind.is_empty() {
        facts.kind = kind_of(&spec);
    }
    let report = preflight::assess(Inputs {
        iface: spec.to_string(),
        facts,
        failure: gathered.failure,
        tally: gathered.tally,
        listened_s: gathered.listened_s,
        bitrate,
        profile: profile.as_ref(),
        body: gathered.body,
    });
    let mut w = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut w, &report)?;
        writeln!(w)?;
    } else {
        print_text(&mut w, &report)?;
    }
    Ok(if report.can_go_on {
        exit::OK
    } else {
        exit::FAILED
    })
}

fn support_word(s: Support) -> &'static str {
    match s {
        Support::Ok => "ok",
        Support::Limited => "limited",
        Support::Absent => "absent",
        Support::NotProbed => "not probed",
    }
}

fn print_text(w: &mut impl Write, r: &Preflight) -> io::Result<()> {
    let a = &r.adapter;
    let firmware = a.firmware.as_deref().unwrap_or("no version given");
    writeln!(w, "Adapter: {} on {} ({firmware})", a.kind, r.iface)?;
    for c in &a.capabilities {
        writeln!(
            w,
            "  {:<11} {}: {}",
            support_word(c.support),
            c.name,
            c.detail
        )?;
    }
    let b = &r.bus;
    let dropped = match &b.dropped {
        Some(d) => match preflight::lost_words(d) {
            Some(lost) => format!("{lost} dropped ({})", d.source),
            None if d.exact => format!("0 dropped ({})", d.source),
            None => format!("no overflow reported ({})", d.source),
        },
        None => "dropped frames not reported by this adapter".to_owned(),
    };
    writeln!(
        w,
        "Bus: {} frame(s) in {:.1} s ({:.0}/s), load about {:.1}% of {} bit/s ({}); \
         {} error frame(s); {dropped}",
        b.frames,
        b.seconds,
        b.frames_per_s,
        b.load_percent,
        b.bitrate,
        b.bitrate_from,
        b.error_frames
    )?;
    let t = &r.topology;
    let port = match t.port {
        preflight::Port::Silent => "silent",
        preflight::Port::NotWatched => "not watched (the adapter cannot monitor)",
        preflight::Port::Gatewayed => "gatewayed (diagnostic or heartbeat traffic only)",
        preflight::Port::BodyFrames => "the profile's body frames are here",
        preflight::Port::OtherFrames => "node traffic",
    };
    writeln!(w, "Topology: {port}; {} id(s) heard", t.distinct_ids)?;
    let shown: Vec<String> = t
        .ids
        .iter()
        .take(12)
        .map(|i| format!("{} ×{}", i.id, i.frames))
        .collect();
    if !shown.is_empty() {
        writeln!(w, "  ids: {}", shown.join(", "))?;
    }
    for bus in &t.buses {
        let seen = if bus.visible { "visible" } else { "not heard" };
        writeln!(
            w,
            "  bus {} ({}{} bit/s): {seen}",
            bus.name,
            if bus.pins.is_empty() {
                String::new()
            } else {
                format!("{}, ", bus.pins)
            },
            bus.bitrate
        )?;
    }
    let body = match &r.body_module {
        BodyAnswer::Yes { request, reply } => format!("answered {request} with {reply}"),
        BodyAnswer::No { request, why } => format!("no answer to {request} ({why})"),
        BodyAnswer::NotAsked { why } => format!("not asked ({why})"),
    };
    writeln!(w, "Body module: {body}")?;
    writeln!(w, "Findings:")?;
    for f in &r.findings {
        let word = match f.severity {
            Severity::Ok => "ok",
            Severity::Warn => "warn",
            Severity::Stop => "STOP",
        };
        writeln!(w, "  {word:<4}  {}", f.text)?;
        if !f.todo.is_empty() {
            writeln!(w, "        → {}", f.todo)?;
        }
    }
    if r.can_go_on {
        writeln!(w, "The session can go on.")
    } else {
        writeln!(w, "The session cannot go on: see STOP above.")
    }
}
