//! `trunkdiag diagnose`: arguments, prompts, the readable report and the
//! JSON object, and the exit code of a diagnosis (0 no fault found, 1 a
//! fault verdict, 2 the run failed).

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{ArgGroup, Args};
use serde::Serialize;

use super::{exit, CliError, CliResult};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::capture::ReadOptions;
use crate::diagnose::live::{self, LivePlan, Operator, Unattended};
use crate::diagnose::{self, Question, Report};
use crate::evidence::{Observations, SeriesLimits};
use crate::profile::Profile;
use crate::tester::Shutdown;
use crate::verdict::Confidence;

/// `--help`'s tail: exit codes and the observation keys (from their table).
fn diagnose_help() -> String {
    format!(
        "\
Exit codes:
  0  the top verdict is no-fault-found
  1  the top verdict is a fault (or the evidence was inconclusive)
  2  the run failed: bad arguments, unreadable capture, bus error, or (--iface
     with --no-prompt) nothing at all on the bus answered within --timeout

Observations (--observe KEY=VALUE, repeatable):
{}",
        Observations::help()
    )
}

#[derive(Args, Debug, Clone)]
#[command(after_help = diagnose_help())]
#[command(group(ArgGroup::new("source").required(true).args(["iface", "replay", "sim"])))]
pub struct DiagnoseArgs {
    #[arg(long, value_name = "IF", help = format!(
        "Live: the adapter plugged into the car: {}; `trunkdiag adapters` lists them.",
        crate::transport::BusUse::Tester.forms()
    ))]
    pub iface: Option<String>,
    #[arg(long, value_name = "FILE", help = crate::capture::format::reads_help("Offline: a capture file"))]
    pub replay: Option<PathBuf>,
    /// The built-in simulated vehicle, running this scenario.
    #[arg(long, value_name = "SCENARIO")]
    pub sim: Option<String>,
    /// With --sim: which vehicle profile the simulated car follows. Default:
    /// the --profile given, or nissan-altima-2013-2018 with --profile auto
    /// (the simulated engine ECU answers the VIN, so auto can find it).
    #[arg(long, value_name = "NAME|PATH", requires = "sim")]
    pub sim_car: Option<String>,
    /// With --sim: the simulated car sends only what this bus of its profile
    /// carries (e.g. ms-can), as an adapter wired to that bus alone hears it.
    #[arg(long, value_name = "BUS", requires = "sim")]
    pub sim_bus: Option<String>,
    /// With --sim: vary the simulated car as two real recordings of the
    /// same fault differ (answer delays, press moments, battery voltage),
    /// drawn from this number; see `trunkdiag simulate --help`.
    #[arg(long, value_name = "N", requires = "sim")]
    pub seed: Option<u64>,
    /// Vehicle profile: a bundled name, a path to a .toml file, or `auto`
    /// (pick it from the VIN; generic-uds when none matches).
    #[arg(long, default_value = "auto", value_name = "NAME|PATH|auto")]
    pub profile: String,
    /// What you saw, KEY=VALUE (repeatable); see below.
    #[arg(long = "observe", value_name = "KEY=VALUE")]
    pub observe: Vec<String>,
    /// Print one JSON object for scripts instead of the readable report.
    #[arg(long)]
    pub json: bool,
    /// Never ask anything; listen instead of prompting for presses. For
    /// scripts: a live bus on which nothing at all answers within --timeout
    /// fails the run (exit 2) instead of giving the no-bus-activity verdict.
    #[arg(long)]
    pub no_prompt: bool,
    /// Live: how long to listen for trunk presses without prompts (seconds).
    #[arg(long, default_value = "10", value_name = "SECONDS", value_parser = super::parse_seconds)]
    pub listen: Duration,
    /// Live: how long to wait for the BCM to answer (seconds); with
    /// --no-prompt, also how long a silent bus is waited for.
    #[arg(long, default_value = "5", value_name = "SECONDS", value_parser = super::parse_positive_seconds)]
    pub timeout: Duration,
    /// Live: also fire the trunk opener once (active test), after a yes.
    #[arg(long)]
    pub actuate: bool,
    /// Answer yes to the active-test question (with --actuate).
    #[arg(long)]
    pub yes: bool,
    /// Live: with --actuate, the car is known to stand still although no
    /// speed is heard on the bus (the active test refuses an unknown speed
    /// otherwise; a speed above standstill is refused regardless).
    #[arg(long, requires = "actuate")]
    pub assume_stopped: bool,
    /// Live: send nothing at all (no VIN, session, trouble-code or data
    /// reads, no active test); the verdict comes from the broadcast frames
    /// alone and says what could not be read. An SLCAN adapter is opened
    /// listen-only (L); an ELM327 cannot listen without talking, and is
    /// refused. Needs a --profile name (the VIN is not asked).
    #[arg(long, conflicts_with_all = ["actuate", "replay"])]
    pub listen_only: bool,
    /// Live: write every frame seen and sent to this candump log.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Also write a self-contained HTML report (verdict, timeline, codes,
    /// next steps) to this file, to hand over or print.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Replay: skip malformed lines/packets instead of failing.
    #[arg(long)]
    pub lenient: bool,
    /// Replay: pcap/pcapng CAN ids were stored little-endian (scapy).
    #[arg(long)]
    pub byte_swapped_ids: bool,
    /// Replay: keep and list every value change of every item. By default
    /// the report keeps the changes near each press and summarises the rest
    /// (memory and report size do not grow with the capture); with this
    /// flag both grow with it.
    #[arg(long)]
    pub full_series: bool,
}

impl DiagnoseArgs {
    fn observations(&self) -> Result<Observations, CliError> {
        observations(&self.observe)
    }

    /// Prompts are allowed: a person at a terminal and no `--no-prompt`.
    fn interactive(&self) -> bool {
        !self.no_prompt && !self.json && io::stdin().is_terminal() && io::stderr().is_terminal()
    }
}

pub fn run(args: DiagnoseArgs) -> CliResult<u8> {
    let observations = args.observations()?;
    // `--listen-only` with `auto`: the VIN is not asked; the profile comes
    // from what the bus matches alone (live::listen_to_identify).
    let (profile, report) = if let Some(path) = &args.replay {
        if args.record.is_some() || args.actuate {
            return Err(CliError::Usage(
                "--record and --actuate need a live source (--iface or --sim), not --replay",
            ));
        }
        let opts = ReadOptions {
            lenient: args.lenient,
            byte_swapped_ids: args.byte_swapped_ids,
        };
        replay_report(
            &path.as_path().into(),
            opts,
            &args.profile,
            observations,
            args.full_series,
        )?
    } else if let Some(iface) = &args.iface {
        live_iface(&args, iface, observations)?
    } else if let Some(scenario) = &args.sim {
        live_sim(&args, scenario, observations)?
    } else {
        return Err(CliError::Usage(
            "expected one of --iface, --replay or --sim",
        ));
    };
    let report = if args.interactive() {
        ask(&profile, report)?
    } else {
        report
    };
    if let Some(path) = &args.report {
        write_report(path, &report)?;
    }
    print(&args, &report)?;
    Ok(exit::of(&report))
}

/// Observations from `KEY=VALUE` texts, as `--observe` takes them; a bad
/// one names itself and what was expected.
pub fn observations(texts: &[String]) -> Result<Observations, CliError> {
    let mut o = Observations::default();
    for text in texts {
        o.apply(text).map_err(|source| CliError::Observation {
            text: text.clone(),
            source,
        })?;
    }
    Ok(o)
}

/// A capture diagnosed as `diagnose --replay` does it, before any question
/// is asked: the one path behind the CLI's replay and the Python binding's
/// `diagnose`, so both give the same report for the same capture.
pub fn replay_report(
    capture: &diagnose::CaptureSource<'_>,
    opts: ReadOptions,
    profile: &str,
    observations: Observations,
    full_series: bool,
) -> CliResult<(Profile, Report)> {
    let series = if full_series {
        SeriesLimits::FULL
    } else {
        SeriesLimits::BOUNDED
    };
    Ok(diagnose::replay(
        capture,
        opts,
        profile,
        observations,
        series,
    )?)
}

/// Writes the HTML report; a failure names the file (exit 2).
pub fn write_report(path: &std::path::Path, report: &Report) -> Result<(), CliError> {
    std::fs::write(path, super::html::render(report, &super::html::now())).map_err(|source| {
        CliError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

/// The person at the terminal: prompts on stderr, Enter on stdin.
struct Terminal {
    yes: bool,
}

impl Operator for Terminal {
    fn ask_press(&mut self, text: &str) -> Option<oneshot::Receiver<()>> {
        eprintln!(">> {text}");
        let (tx, rx) = oneshot::channel();
        // Reading stdin blocks: a thread, so the bus keeps being polled.
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = io::stdin().lock().read_line(&mut line);
            let _ = tx.send(());
        });
        Some(rx)
    }
    fn confirm(&mut self, text: &str) -> bool {
        if self.yes {
            return true;
        }
        super::request::ask_yes(&format!("{text} [y/N] ")).unwrap_or(false)
    }
    fn say(&mut self, text: &str) {
        eprintln!("trunkdiag: {text}");
    }
}

/// Where the adapter goes, from the profile's buses: the default bus's name,
/// OBD-II pins and bitrate, and the other buses the profile reads items on.
fn where_to_connect(profile_spec: &str) -> String {
    let loaded = (profile_spec != "auto")
        .then(|| crate::profile::load(profile_spec).ok())
        .flatten();
    let Some(p) = loaded else {
        return "connect the adapter to the OBD-II connector's CAN pins 6/14 (500 kbit/s); the profile is picked from the VIN".to_owned();
    };
    let at = |b: &crate::profile::Bus| {
        let at = match b.pins_text() {
            t if t.is_empty() => b.bitrate_text(),
            t => format!("OBD-II {t}, {}", b.bitrate_text()),
        };
        match b.kind {
            crate::profile::BusKind::SingleWire => format!("{}, {at}", b.kind.label()),
            crate::profile::BusKind::HighSpeed => at,
        }
    };
    let Some(first) = p.default_bus() else {
        return format!(
            "connect the adapter to the {} {}'s CAN bus",
            p.make, p.model
        );
    };
    let mut s = format!(
        "connect the adapter to the {} {}'s {} bus: {}",
        p.make,
        p.model,
        first.name,
        at(first)
    );
    for b in p.buses.iter().skip(1) {
        let ids: Vec<String> = p
            .frames
            .iter()
            .filter(|f| f.bus == b.name)
            .map(|f| format!("0x{}", f.id))
            .collect();
        if !ids.is_empty() {
            s.push_str(&format!(
                "; {} only on the {} bus ({})",
                ids.join(", "),
                b.name,
                at(b)
            ));
        }
    }
    s
}

fn live_iface(
    args: &DiagnoseArgs,
    iface: &str,
    observations: Observations,
) -> CliResult<(Profile, Report)> {
    let spec = super::iface_spec(iface)?;
    let bus = diagnose::bus_to_open(&args.profile);
    if !args.json {
        eprintln!("trunkdiag: {}", where_to_connect(&args.profile));
    }
    let plan = LivePlan {
        listen: args.listen,
        timeout: args.timeout,
        actuate: args.actuate,
        observations,
        fail_on_silence: args.no_prompt,
        told: None,
        listen_only: args.listen_only,
        assume_stopped: args.assume_stopped,
    };
    let record = args
        .record
        .as_deref()
        .map(|path| {
            super::record::create_log(
                path,
                &super::record::Origin {
                    profile: Some(&args.profile),
                    source: "live diagnosis of the car on the bus".to_owned(),
                    medium: super::record::Medium::live(&spec),
                },
            )
        })
        .transpose()?;
    let interactive = args.interactive();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(async {
        let mut terminal = Terminal { yes: args.yes };
        let mut unattended = Unattended { yes: args.yes };
        let operator: &mut dyn Operator = if interactive {
            &mut terminal
        } else {
            &mut unattended
        };
        live::run(
            || spec.open_as(bus, args.listen_only),
            spec.name(),
            ("live", iface.to_owned()),
            &args.profile,
            &plan,
            operator,
            record,
            Shutdown::on_signals(),
        )
        .await
    })?;
    Ok(out)
}

/// Asks the questions that would change the ranking and re-ranks.
fn ask(profile: &Profile, mut report: Report) -> CliResult<Report> {
    let qs = diagnose::questions(&report);
    if qs.is_empty() {
        return Ok(report);
    }
    let mut err = io::stderr();
    writeln!(
        err,
        "A few questions would sharpen the answer (Enter to skip one):"
    )?;
    let mut obs = report.observations.clone();
    let stdin = io::stdin();
    for q in qs {
        loop {
            write!(err, "  {} [{}] ", q.text, q.answers.join("/"))?;
            err.flush()?;
            let mut line = String::new();
            if stdin.lock().read_line(&mut line)? == 0 {
                return Ok(report.with_observations(profile, obs));
            }
            let a = line.trim().to_ascii_lowercase();
            let a = match a.as_str() {
                "" => break,
                "y" => "yes".to_owned(),
                "n" => "no".to_owned(),
                _ => a,
            };
            match obs.apply(&format!("{}={a}", q.key)) {
                Ok(()) => break,
                Err(e) => writeln!(err, "  {e}")?,
            }
        }
    }
    report = report.with_observations(profile, obs);
    Ok(report)
}

/// The JSON document of one diagnosis (`profile`, `source`, `verdicts`,
/// `dtcs`, `evidence`, `observations`, `questions`): what `diagnose --json`
/// prints and what the Python binding's `diagnose` returns, from the same
/// types through the same serialiser, so the two cannot drift apart.
#[derive(Serialize)]
pub struct Document<'a> {
    profile: &'a diagnose::ProfileChoice,
    source: &'a diagnose::SourceInfo,
    verdicts: &'a [crate::verdict::Verdict],
    dtcs: &'a [diagnose::DtcLine],
    evidence: &'a crate::evidence::Evidence,
    observations: &'a Observations,
    questions: Vec<Question>,
}

impl<'a> Document<'a> {
    pub fn of(report: &'a Report) -> Document<'a> {
        Document {
            profile: &report.profile,
            source: &report.source,
            verdicts: &report.verdicts,
            dtcs: &report.dtcs,
            evidence: &report.evidence,
            observations: &report.observations,
            questions: diagnose::questions(report),
        }
    }
}

/// The document as `diagnose --json` prints it (without the final newline).
pub fn json_document(report: &Report) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&Document::of(report))
}

fn print(args: &DiagnoseArgs, report: &Report) -> CliResult<()> {
    let stdout = io::stdout();
    if args.json {
        let mut out = io::BufWriter::new(stdout.lock());
        // Serialised first so a closed pipe surfaces as an io::Error (which
        // `cli::main` treats as a quiet exit), not as a serde_json error.
        let text = json_document(report)?;
        writeln!(out, "{text}")?;
        out.flush()?;
    } else {
        // Colour only on a terminal that shows it (anstream: NO_COLOR,
        // CLICOLOR, TERM=dumb; on Windows it turns on the console's virtual
        // terminal processing, or uses the console API where that is
        // missing); anywhere else the codes never leave the process.
        let out = anstream::AutoStream::auto(stdout.lock());
        let colour = out.current_choice() != anstream::ColorChoice::Never;
        let mut out = io::BufWriter::new(out);
        write_text(&mut out, report, Style { colour })?;
        out.flush()?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct Style {
    colour: bool,
}

impl Style {
    fn paint(self, code: &str, s: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    fn bold(self, s: &str) -> String {
        self.paint("1", s)
    }
    fn verdict(self, fault: bool, s: &str) -> String {
        self.paint(if fault { "1;31" } else { "1;32" }, s)
    }
    fn dim(self, s: &str) -> String {
        self.paint("2", s)
    }
}

fn confidence(c: Confidence) -> &'static str {
    match c {
        Confidence::High => "high",
        Confidence::Medium => "medium",
        Confidence::Low => "low",
    }
}

/// The readable report: verdict first, then evidence, next steps, how to get
/// in now, safety.
fn write_text(out: &mut impl Write, r: &Report, st: Style) -> io::Result<()> {
    let Some(top) = r.top() else {
        return writeln!(out, "No verdict.");
    };
    writeln!(
        out,
        "{} {}  ({} confidence)",
        st.verdict(top.is_fault(), "Verdict:"),
        st.verdict(top.is_fault(), top.id.id()),
        confidence(top.confidence)
    )?;
    writeln!(out, "{}", top.summary)?;
    if !top.explanation.is_empty() {
        writeln!(out, "\n{}", top.explanation)?;
    }
    if !top.rests_on.is_empty() {
        writeln!(out, "\nWhat it rests on, below \"this model\":")?;
        for r in &top.rests_on {
            let line = format!("  {}", r.line());
            if r.level == crate::profile::Level::Placeholder {
                writeln!(out, "{}", st.paint("33", &line))?;
            } else {
                writeln!(out, "{line}")?;
            }
        }
    }
    if r.verdicts.len() > 1 {
        writeln!(
            out,
            "\n{}",
            st.bold("Other possible causes, most likely first:")
        )?;
        for v in r.verdicts.iter().skip(1) {
            writeln!(
                out,
                "  - {} ({}): {}",
                v.id,
                confidence(v.confidence),
                v.summary
            )?;
        }
    }
    writeln!(out, "\n{}", st.bold("Evidence:"))?;
    // What it rests on by level has its own lines above.
    for e in &top.evidence {
        writeln!(out, "  - {e}")?;
    }
    if !r.dtcs.is_empty() {
        writeln!(out, "\n{}", st.bold("Trouble codes read from the BCM:"))?;
        for d in &r.dtcs {
            let status = d
                .status
                .map(|s| format!(" status 0x{s:02X} ({})", d.status_bits.join(", ")))
                .unwrap_or_default();
            writeln!(out, "  - {}{status}: {}", d.code, d.meaning)?;
        }
    }
    writeln!(out, "\n{}", st.bold("Next steps, cheapest first:"))?;
    for (i, s) in top.next_steps.iter().enumerate() {
        writeln!(out, "  {}. {s}", i + 1)?;
    }
    let heading = format!("How to get into the {} now:", r.lid.as_str());
    writeln!(out, "\n{}", st.bold(&heading))?;
    for s in &top.access_now {
        writeln!(out, "  - {s}")?;
    }
    writeln!(out, "\n{}", st.paint("1;33", "Safety:"))?;
    for s in &top.safety {
        writeln!(out, "  - {s}")?;
    }
    writeln!(out)?;
    let src = &r.source;
    writeln!(
        out,
        "{}",
        st.dim(&format!(
            "Profile: {} ({}). Source: {} {} ({} frames{}).",
            r.profile.id,
            r.profile.reason,
            src.kind,
            src.name,
            src.frames,
            src.format.map(|f| format!(", {f}")).unwrap_or_default()
        ))
    )?;
    for n in &src.notes {
        writeln!(out, "{}", st.dim(&format!("Note: {n}.")))?;
    }
    if !r.observations.is_empty() {
        writeln!(
            out,
            "{}",
            st.dim(&format!("Your observations: {}", r.observations))
        )?;
    }
    Ok(())
}

/// `--sim S`: the built-in simulated vehicle on the in-process virtual bus,
/// on tokio's paused clock, so the whole diagnosis takes milliseconds.
fn live_sim(
    args: &DiagnoseArgs,
    scenario: &str,
    observations: Observations,
) -> CliResult<(Profile, Report)> {
    let scenario = crate::sim::Scenario::from_id(scenario)?;
    let car = match (&args.sim_car, args.profile.as_str()) {
        (Some(car), _) => car.as_str(),
        (None, "auto") => "nissan-altima-2013-2018",
        (None, given) => given,
    };
    let sim_profile = crate::profile::load(car)?;
    // The simulated person tells the run of the presses the car's bus
    // does not show (a car without a published body module).
    let told: crate::diagnose::live::ToldPresses = Default::default();
    let mut cfg = crate::sim::SimConfig {
        only_bus: args.sim_bus.clone(),
        told: crate::sim::ToldSink(Some(std::sync::Arc::clone(&told))),
        ..crate::sim::SimConfig::default()
    };
    crate::sim::check_only_bus(&sim_profile, &cfg)?;
    // Hidden knobs for scripts/bench: the simulated BCM's answer delays
    // (microseconds), 0 to measure the tool's own time per exchange.
    for (var, slot) in [
        ("TRUNKDIAG_SIM_P2_US", &mut cfg.p2_us),
        ("TRUNKDIAG_SIM_PENDING_US", &mut cfg.pending_us),
    ] {
        if let Ok(v) = std::env::var(var) {
            *slot = v.parse().map_err(|_| CliError::Microseconds {
                var,
                value: v.clone(),
            })?;
        }
    }
    if let Some(seed) = args.seed {
        cfg = cfg.varied(seed);
    }
    let name = cfg.iface;
    let plan = LivePlan {
        listen: args.listen,
        timeout: args.timeout,
        actuate: args.actuate,
        observations,
        // A silent simulated car is a scenario to learn from, not a broken
        // adapter: it gets its no-bus-activity verdict even for scripts.
        fail_on_silence: false,
        told: Some(told),
        listen_only: args.listen_only,
        assume_stopped: args.assume_stopped,
    };
    let record = args
        .record
        .as_deref()
        .map(|path| {
            super::record::create_log(
                path,
                &super::record::Origin {
                    profile: Some(&args.profile),
                    source: format!(
                        "diagnosis of the simulated vehicle: profile {}, scenario {scenario}{}",
                        sim_profile.id,
                        args.seed
                            .map(|s| format!(", varied with seed {s}"))
                            .unwrap_or_default()
                    ),
                    medium: super::record::Medium::Simulator {
                        epoch_us: crate::sim::DEFAULT_EPOCH_US,
                    },
                },
            )
        })
        .transpose()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    let out = rt.block_on(async {
        let mut unattended = Unattended { yes: args.yes };
        // One bus and one car for the whole run, as on a real vehicle: with
        // `--profile auto` the VIN read and the session open two endpoints
        // in turn, and a fresh bus for each would restart the bus clock
        // (the recording's timestamps would go back) and the car.
        let bus = crate::transport::VirtualBus::new(crate::sim::DEFAULT_EPOCH_US);
        // Keeps the car's bus open between the tester's endpoints; it reads
        // nothing, so nothing piles up for it however long the run.
        let _ignition_on = bus.hold();
        drop(crate::sim::spawn_on(&bus, &sim_profile, scenario, cfg));
        live::run(
            || Ok(bus.endpoint(name)),
            name,
            ("sim", scenario.to_string()),
            &args.profile,
            &plan,
            &mut unattended,
            record,
            Shutdown::new(),
        )
        .await
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::where_to_connect;

    #[test]
    fn where_to_connect_names_the_bus_pins_and_bitrate() {
        assert_eq!(
            where_to_connect("ford-fusion-2013-2020"),
            "connect the adapter to the Ford Fusion's hs-can bus: OBD-II pins 6/14, 500 kbit/s; \
             0x3B1, 0x110, 0x384 only on the ms-can bus (OBD-II pins 3/11, 125 kbit/s)"
        );
        assert_eq!(
            where_to_connect("nissan-altima-2013-2018"),
            "connect the adapter to the Nissan Altima's hs-can bus: OBD-II pins 6/14, 500 kbit/s"
        );
        assert!(where_to_connect("auto")
            .contains("pins 6/14 (500 kbit/s); the profile is picked from the VIN"));
    }
}
