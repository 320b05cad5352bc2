//! `trunkdiag simulate`: the simulated vehicle on a SocketCAN interface (for
//! a tester on vcan0), or in-process on virtual time to write a recording;
//! `--from-capture` runs an ECU clone answering from a capture.

use crate::seconds::us;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{CliError, CliResult};
use crate::capture::candump::CandumpWriter;
use crate::profile;
use crate::sim::{
    self, CaptureClone, LearnedPairs, Press, RecordingBus, Scenario, SimConfig, SimVehicle,
    DEFAULT_EPOCH_US,
};
use crate::transport::{BusUse, IfaceSpec, VirtualBus};

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// List the scenarios, one line each, and exit.
    #[arg(long)]
    pub list: bool,
    /// With --list: the relearn scenarios (a power lid after a power loss,
    /// for `trunkdiag relearn --sim`) instead of the diagnosis ones.
    #[arg(long, requires = "list")]
    pub relearn: bool,
    /// Vehicle profile (bundled name or path to a .toml file).
    #[arg(long, default_value = "nissan-altima-2013-2018")]
    pub profile: String,
    /// Scenario: a cause id of the diagnosis (see --list), or a relearn
    /// scenario (see --list --relearn).
    #[arg(long, required_unless_present_any = ["list", "from_capture"])]
    pub scenario: Option<String>,
    #[arg(long, help = format!(
        "Run on this interface until --duration or Ctrl-C: {}. Without it the car runs \
         in-process on virtual time, with no tester, for --duration, and the frames go to \
         --record or stdout.",
        BusUse::Car.forms()
    ))]
    pub iface: Option<String>,
    /// Write every frame to this candump log (can-utils format).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Seconds to run (default: until Ctrl-C on an interface, 15 on virtual time).
    #[arg(long, value_name = "SECONDS", value_parser = super::parse_seconds)]
    pub duration: Option<Duration>,
    /// Answer each request with the response recorded for it in this
    /// capture (an ECU clone on the profile's BCM ids; needs --iface).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "scenario",
        requires = "iface"
    )]
    pub from_capture: Option<PathBuf>,
    /// The BCM's answer delay in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub p2_ms: u64,
    /// Seconds after the tester's first request that the user presses the fob's trunk button.
    #[arg(long, default_value = "2", value_name = "SECONDS", value_parser = super::parse_seconds)]
    pub fob_at: Duration,
    /// Seconds after the tester's first request that the user presses the cabin switch.
    #[arg(long, default_value = "5", value_name = "SECONDS", value_parser = super::parse_seconds)]
    pub cabin_at: Duration,
    /// Seconds to wait for a tester before pressing anyway.
    #[arg(long, default_value = "10", value_name = "SECONDS", value_parser = super::parse_seconds)]
    pub tester_wait: Duration,
    /// Send only what this bus of the profile carries (e.g. ms-can), as an
    /// adapter wired to that bus alone hears the car.
    #[arg(long, value_name = "BUS")]
    pub bus: Option<String>,
    /// Vary what differs between two real recordings of the same fault,
    /// drawn from this number: the BCM's answer delays, the moments of the
    /// presses (half a second either side) and the battery's resting
    /// voltage (0.2 V either side). The same seed gives the same car.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

pub fn run(args: SimulateArgs) -> CliResult<u8> {
    if args.list {
        return list(args.relearn);
    }
    let profile = profile::load(&args.profile)?;
    let spec = match &args.iface {
        Some(i) => Some(super::iface_spec(i)?),
        None => None,
    };
    if let Some(s) = spec.as_ref().filter(|s| !BusUse::Car.accepts(s)) {
        return Err(CliError::Elm327CannotPlayTheCar {
            iface: s.to_string(),
        });
    }
    let cfg = sim_config(&args, spec.as_ref());
    crate::sim::check_only_bus(&profile, &cfg)?;
    let (node, what) = node_factory(&args, &profile, &cfg)?;
    let header = super::record::header(&origin(&args, spec.as_ref(), &what));
    let out = output(args.record.as_ref())?;
    let duration = args.duration.map(us);
    match &spec {
        Some(i) => {
            eprintln!("trunkdiag: simulating {what} on {i}; Ctrl-C stops");
            on_interface(
                i,
                &profile,
                node(),
                duration,
                args.record.is_some(),
                out,
                &header,
            )?;
        }
        None => on_virtual_time(node(), cfg.iface, duration, out, &header)?,
    }
    Ok(super::exit::OK)
}

/// `--list`: one line per scenario (the diagnosis ones, one per cause,
/// which scripts read; or with `--relearn` the relearn ones).
fn list(relearn: bool) -> CliResult<u8> {
    let mut out = io::stdout().lock();
    let all: Vec<Scenario> = if relearn {
        Scenario::relearn_all().collect()
    } else {
        Scenario::all().collect()
    };
    let width = all.iter().map(|s| s.id().len()).max().unwrap_or(0);
    for s in all {
        writeln!(out, "{:width$}  {}", s.id(), s.spec().summary)?;
    }
    Ok(super::exit::OK)
}

/// The car's settings from the arguments: answer delay, presses, the
/// interface it plays on, the bus it is limited to.
fn sim_config(args: &SimulateArgs, spec: Option<&IfaceSpec>) -> SimConfig {
    let iface = spec.map_or_else(
        || crate::frame::IfName::new("vcan0").unwrap_or_default(),
        IfaceSpec::name,
    );
    let cfg = SimConfig {
        p2_us: args.p2_ms.saturating_mul(1000),
        presses: vec![
            (us(args.fob_at), Press::FobTrunk),
            (us(args.cabin_at), Press::CabinSwitch),
        ],
        tester_wait_us: Some(us(args.tester_wait)),
        iface,
        only_bus: args.bus.clone(),
        ..SimConfig::default()
    };
    match args.seed {
        Some(seed) => cfg.varied(seed),
        None => cfg,
    }
}

/// What plays the car (a scenario's vehicle or a capture's ECU clone), built
/// where it runs, and its description for the recording's header.
type NodeFactory = Box<dyn FnOnce() -> Node>;

fn node_factory(
    args: &SimulateArgs,
    profile: &profile::Profile,
    cfg: &SimConfig,
) -> CliResult<(NodeFactory, String)> {
    Ok(match &args.from_capture {
        Some(path) => {
            let Some(bcm) = profile.bcm() else {
                return Err(CliError::NoBodyModule {
                    command: "simulate --from-capture",
                    profile: profile.id.clone(),
                });
            };
            let pairs = LearnedPairs::from_file(path, bcm.request_id, bcm.response_id)?;
            let n = pairs.answers.len();
            let (req, resp, p2, pad, iface) = (
                bcm.request_id,
                bcm.response_id,
                cfg.p2_us,
                cfg.padding,
                cfg.iface,
            );
            (
                Box::new(move || {
                    Node::Clone(Box::new(CaptureClone::new(
                        pairs, req, resp, p2, pad, iface,
                    )))
                }),
                format!(
                    "an ECU clone of {} answering {n} request(s) learnt from {}",
                    bcm.name,
                    path.display()
                ),
            )
        }
        None => {
            let id = args.scenario.as_deref().unwrap_or_default();
            let scenario = Scenario::from_id(id)?;
            if scenario.cause().is_none() && profile.relearn.is_none() {
                return Err(CliError::NoRelearn {
                    profile: profile.id.clone(),
                });
            }
            let p = profile.clone();
            let c = cfg.clone();
            (
                Box::new(move || Node::Car(Box::new(SimVehicle::new(&p, scenario, c)))),
                format!("scenario {scenario} on profile {}", profile.id),
            )
        }
    })
}

/// What the recording's header says produced it.
fn origin<'a>(
    args: &'a SimulateArgs,
    spec: Option<&'a IfaceSpec>,
    what: &str,
) -> super::record::Origin<'a> {
    super::record::Origin {
        profile: Some(&args.profile),
        source: format!(
            "{what}; presses: fob {} s, cabin {} s after the first tester request (or {} s after start){}",
            args.fob_at.as_secs_f64(),
            args.cabin_at.as_secs_f64(),
            args.tester_wait.as_secs_f64(),
            if args.iface.is_some() { "" } else { "; no tester" }
        ) + &args.seed.map(|s| format!("; varied with seed {s}")).unwrap_or_default(),
        medium: match spec {
            Some(s) => super::record::Medium::live(s),
            None => super::record::Medium::Simulator {
                epoch_us: DEFAULT_EPOCH_US,
            },
        },
    }
}

/// `--record FILE`, or standard output.
fn output(record: Option<&PathBuf>) -> CliResult<Box<dyn Write>> {
    Ok(match record {
        Some(path) => Box::new(BufWriter::new(File::create(path).map_err(|e| {
            CliError::Create {
                path: path.to_path_buf(),
                source: e,
            }
        })?)),
        None => Box::new(io::stdout().lock()),
    })
}

/// The car on a real interface until `duration` or Ctrl-C/SIGTERM; with
/// `record`, every frame it sees and sends goes to `out`.
fn on_interface(
    spec: &IfaceSpec,
    profile: &profile::Profile,
    mut node: Node,
    duration: Option<u64>,
    record: bool,
    out: Box<dyn Write>,
    header: &[String],
) -> CliResult<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let bus = spec.open(crate::diagnose::physical_bus(profile))?;
        let until = duration.map(|d| crate::transport::CanBus::now_us(&bus) + d);
        let run = async {
            if record {
                let mut bus = RecordingBus::new(bus, out, header)?;
                node.run(&mut bus, until).await
            } else {
                let mut bus = bus;
                node.run(&mut bus, until).await
            }
        };
        // Ctrl-C and SIGTERM stop the car between two steps: the
        // node's run only yields at awaits, after a sent frame is
        // recorded, so the log holds every frame that went out.
        let signals = crate::tester::Shutdown::on_signals();
        tokio::select! {
            r = run => r,
            () = signals.wait() => Ok(()),
        }
    })?;
    Ok(())
}

/// The car alone on the in-process virtual bus, on paused (virtual) time,
/// for `duration` (15 s by default); every frame written to `out` as a
/// candump log.
fn on_virtual_time(
    mut node: Node,
    iface: crate::frame::IfName,
    duration: Option<u64>,
    out: Box<dyn Write>,
    header: &[String],
) -> CliResult<()> {
    let until_rel = duration.unwrap_or(15_000_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    let frames = rt.block_on(async {
        let bus = VirtualBus::new(DEFAULT_EPOCH_US);
        let mut tap = bus.tap();
        let mut endpoint = bus.endpoint(iface);
        // A silent second member keeps the bus open, as a listener
        // would (the tap has every frame; the hold keeps none).
        let _listener = bus.hold();
        let until = bus.now_us() + until_rel;
        node.run(&mut endpoint, Some(until)).await?;
        let mut frames = Vec::new();
        while let Ok(f) = tap.try_recv() {
            frames.push(f);
        }
        Ok::<_, CliError>(frames)
    })?;
    let mut w = CandumpWriter::new(out);
    for h in header {
        w.comment(h)?;
    }
    for f in &frames {
        w.frame(f)?;
    }
    w.flush()?;
    Ok(())
}

/// The two kinds of simulated node, behind one runner call.
enum Node {
    Car(Box<SimVehicle>),
    Clone(Box<CaptureClone>),
}

impl Node {
    async fn run<B: crate::transport::CanBus>(
        &mut self,
        bus: &mut B,
        until: Option<u64>,
    ) -> Result<(), crate::transport::BusError> {
        match self {
            Node::Car(c) => sim::run(c.as_mut(), bus, until).await,
            Node::Clone(c) => sim::run(c.as_mut(), bus, until).await,
        }
    }
}
