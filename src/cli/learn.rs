//! `trunkdiag learn`: which bits of this car's broadcast frames follow the
//! lid, the locks, the ignition, the trunk requests and the lockout switch,
//! learned from a capture with the moments marked; the ranked candidates,
//! what could not be learned and how, and a draft profile.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::{exit, CliError, CliResult};
use crate::capture::{CaptureReader, ReadOptions};
use crate::learn::{self, guide, DraftInfo, LearnConfig, Learned, Learner, Mark, Outcome, Place};
use crate::profile::Role;
use crate::transport::{BusError, BusUse, CanBus, ListenOnly, PhysicalBus};

/// The countdown before each "now", in seconds.
const COUNTDOWN_S: u64 = 3;

/// How many more times the live guide asks for a role whose best places
/// still tie after the planned rounds.
const MAX_AGAIN: usize = 2;

/// Tied places named in a line of text.
const PLACES_NAMED: usize = 12;

#[derive(Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["iface", "replay"])))]
pub struct LearnArgs {
    #[arg(long, value_name = "IF", help = format!(
        "Live: the adapter plugged into the car: {}; the tool guides you through timed actions.",
        BusUse::Listener.forms()
    ))]
    pub iface: Option<String>,
    #[arg(
        long,
        value_name = "FILE",
        requires = "events",
        help = crate::capture::format::reads_help(
            "Offline: a capture of the car while someone made the changes"
        )
    )]
    pub replay: Option<PathBuf>,
    /// With --replay, a moment: ROLE=VALUE@SECONDS from the capture's first
    /// frame, e.g. `lid_open=1@12.5`, `ignition_on=accessory@1.339`
    /// (repeatable; give each change at least twice when you can).
    #[arg(long = "event", value_name = "ROLE=VALUE@S", requires = "replay")]
    pub events: Vec<String>,
    /// Live: seconds of stillness recorded before the first action.
    #[arg(long, default_value = "5", value_name = "SECONDS", value_parser = super::parse_positive_seconds)]
    pub baseline: Duration,
    /// Live: seconds from one action's "now" to the next (at least 4).
    #[arg(long, default_value = "6", value_name = "SECONDS", value_parser = super::parse_positive_seconds)]
    pub gap: Duration,
    /// Live: how many times the whole set of actions is asked for.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Write a draft profile (TOML, every item at level "learned on this car").
    /// Written where FILE says; saved as NAME.toml in your profile folder or
    /// a $TRUNKDIAG_PROFILES directory, it is found by name (`profiles list
    /// --help`).
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// The car's VIN, written into the draft's sources.
    #[arg(long)]
    pub vin: Option<String>,
    /// The bus's bit rate, written into the draft.
    #[arg(long, default_value_t = 500_000)]
    pub bitrate: u32,
    /// Candidates shown per role.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// A GM body bus: group 29-bit frames by their GMLAN arbitration id
    /// (any priority and sender), and write them as `gmlan = true` frames.
    #[arg(long)]
    pub gmlan: bool,
    /// Skip malformed lines/packets (and count them) instead of failing.
    #[arg(long)]
    pub lenient: bool,
    /// One JSON object for scripts.
    #[arg(long)]
    pub json: bool,
    /// Live: open the adapter listen-only (an SLCAN adapter with `L`; on
    /// SocketCAN set `listen-only on` on the interface). Learning sends
    /// nothing either way.
    #[arg(long, requires = "iface")]
    pub listen_only: bool,
}

/// The JSON object of `learn --json`.
#[derive(Serialize)]
struct Output<'a> {
    learned: &'a Learned,
    not_learned: Vec<NotLearned>,
    draft: Option<String>,
}

#[derive(Serialize)]
struct NotLearned {
    role: Role,
    how: String,
}

pub fn run(args: LearnArgs) -> CliResult<u8> {
    let cfg = LearnConfig {
        keep: args.top.max(1),
        gmlan: args.gmlan,
        ..LearnConfig::default()
    };
    let mut learner = Learner::new(cfg);
    if let Some(iface) = &args.iface {
        return live(&args, iface, learner);
    }
    let Some(replay) = &args.replay else {
        return Err(CliError::Usage("expected --iface or --replay"));
    };
    let opts = ReadOptions {
        lenient: args.lenient,
        byte_swapped_ids: false,
    };
    let mut reader = CaptureReader::open(replay, opts)?;
    while let Some(frame) = reader.next_frame_ref()? {
        learner.push(frame);
    }
    let origin = learner
        .first_frame_us()
        .ok_or_else(|| learn::LearnError::NoFrames {
            what: replay.display().to_string(),
        })?;
    for text in &args.events {
        learner.mark(Mark::parse(text, origin)?);
    }
    let learned = learner.finish();
    let from = format!("capture {}", file_name(replay));
    report(&args, &learned, origin, &from)
}

/// How a live session is paced.
#[derive(Clone, Debug, PartialEq)]
pub struct LivePlan {
    pub baseline: Duration,
    pub gap: Duration,
    pub rounds: usize,
}

/// Sleeps until bus time `t_us`, feeding every frame that arrives to the
/// learner meanwhile.
async fn listen_until<B: CanBus>(
    bus: &mut B,
    learner: &mut Learner,
    t_us: u64,
) -> Result<(), BusError> {
    loop {
        let now = bus.now_us();
        if now >= t_us {
            return Ok(());
        }
        let sleep = tokio::time::sleep(Duration::from_micros(t_us - now));
        tokio::select! {
            r = bus.recv() => learner.push(&r?),
            () = sleep => return Ok(()),
        }
    }
}

/// A guided session on a live bus: a baseline, then each action of the
/// guide with a countdown, marked at its "now"; every frame goes to the
/// learner. A role whose best places still tie is asked for again, up to
/// [`MAX_AGAIN`] times. Prompts go to `out`.
pub async fn live_session<B: CanBus>(
    bus: &mut B,
    plan: &LivePlan,
    learner: &mut Learner,
    out: &mut dyn Write,
) -> CliResult<()> {
    let gap_us = u64::try_from(plan.gap.as_micros()).unwrap_or(u64::MAX);
    if gap_us < (COUNTDOWN_S + 1) * 1_000_000 {
        return Err(CliError::Usage(
            "--gap: expected at least 4 seconds (a 3-second countdown, then the action)",
        ));
    }
    let start = bus.now_us();
    let baseline_us = u64::try_from(plan.baseline.as_micros()).unwrap_or(u64::MAX);
    writeln!(
        out,
        "baseline: touch nothing for {:.0} s (doors closed and unlocked, trunk closed, ignition on, engine off)",
        plan.baseline.as_secs_f64()
    )?;
    let prompts = guide::plan(start + baseline_us + gap_us, gap_us, plan.rounds);
    let mut end = prompt_and_mark(bus, learner, &prompts, out).await?;
    for _ in 0..MAX_AGAIN {
        let learned = learner.finish();
        let tied: Vec<Role> = learned
            .roles
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Tied { places } => {
                    let _ = writeln!(
                        out,
                        "{}: {} places tie ({}): once more",
                        r.role,
                        places.len(),
                        places_words(places)
                    );
                    Some(r.role)
                }
                _ => None,
            })
            .collect();
        if tied.is_empty() {
            break;
        }
        let again = guide::again(&tied, end + gap_us, gap_us);
        end = prompt_and_mark(bus, learner, &again, out).await?;
    }
    listen_until(bus, learner, end + gap_us).await?;
    writeln!(out, "done: every action was marked")?;
    Ok(())
}

/// Counts down to each prompt's "now" and marks it; returns the last
/// "now" (or the bus time when there were none).
async fn prompt_and_mark<B: CanBus>(
    bus: &mut B,
    learner: &mut Learner,
    prompts: &[guide::Prompt],
    out: &mut dyn Write,
) -> CliResult<u64> {
    let total = prompts.len();
    for (i, p) in prompts.iter().enumerate() {
        let first_tick = p.at_us - COUNTDOWN_S * 1_000_000;
        listen_until(bus, learner, first_tick).await?;
        writeln!(out, "[{}/{total}] next: {}", i + 1, p.what)?;
        for k in (1..=COUNTDOWN_S).rev() {
            listen_until(bus, learner, p.at_us - k * 1_000_000).await?;
            writeln!(out, "  {k}...")?;
        }
        listen_until(bus, learner, p.at_us).await?;
        writeln!(out, "  NOW: {}", p.what)?;
        learner.mark(Mark {
            role: p.role,
            label: p.label.to_owned(),
            at_us: p.at_us,
        });
    }
    Ok(prompts.last().map_or_else(|| bus.now_us(), |p| p.at_us))
}

/// `0x3B3 byte A bits 4-6 (4|3@1+), 0x331 byte C ...`: the first
/// [`PLACES_NAMED`], then how many more (`--json` lists every one).
fn places_words(places: &[Place]) -> String {
    let mut words: Vec<String> = places
        .iter()
        .take(PLACES_NAMED)
        .map(|p| p.to_string())
        .collect();
    if let Some(more) = places.len().checked_sub(PLACES_NAMED).filter(|n| *n > 0) {
        words.push(format!("and {more} more (--json lists them)"));
    }
    words.join(", ")
}

fn live(args: &LearnArgs, iface: &str, mut learner: Learner) -> CliResult<u8> {
    let spec = super::iface_spec(iface)?;
    if !BusUse::Listener.accepts(&spec) {
        return Err(CliError::Usage(
            "learn --iface: an ELM327 cannot listen to the whole bus; use SocketCAN or slcan:",
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let plan = LivePlan {
        baseline: args.baseline,
        gap: args.gap,
        rounds: args.rounds.max(1),
    };
    let origin = rt.block_on(async {
        let mut bus = ListenOnly::new(
            spec.open_as(PhysicalBus::high_speed(args.bitrate), args.listen_only)?,
            true,
        );
        let origin = bus.now_us();
        let mut err = std::io::stderr();
        tokio::select! {
            r = live_session(&mut bus, &plan, &mut learner, &mut err) => r?,
            () = crate::tester::wait_for_signal() => {
                eprintln!("interrupted: learning from what was marked so far");
            }
        }
        Ok::<u64, CliError>(origin)
    })?;
    let learned = learner.finish();
    report(args, &learned, origin, &format!("live on {iface}"))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// `2026-11-30` of a time in microseconds since the epoch; today's date for
/// a time that is not one (a capture with relative times).
fn date_of(us: u64) -> String {
    const Y2K_US: u64 = 946_684_800_000_000;
    let secs = if us >= Y2K_US {
        us / 1_000_000
    } else {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let (y, m, d) = crate::capture::civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Prints the result, writes the draft; shared by the offline and live paths.
pub(crate) fn report(
    args: &LearnArgs,
    learned: &Learned,
    origin: u64,
    from: &str,
) -> CliResult<u8> {
    let mut not_learned = Vec::new();
    let marked: Vec<Role> = learned.roles.iter().map(|r| r.role).collect();
    for r in &learned.roles {
        let how = match &r.outcome {
            Outcome::Learned => continue,
            Outcome::Tied { places } => format!(
                "{} places tie at {} mark{} and cannot be told apart ({}): add another mark; {}",
                places.len(),
                r.marks,
                if r.marks == 1 { "" } else { "s" },
                places_words(places),
                guide::how_to(r.role)
            ),
            _ => guide::how_to(r.role),
        };
        not_learned.push(NotLearned { role: r.role, how });
    }
    for a in guide::ACTIONS {
        if !marked.contains(&a.role) {
            not_learned.push(NotLearned {
                role: a.role,
                how: guide::how_to(a.role),
            });
        }
    }
    let date = date_of(origin);
    let draft = args.write.as_ref().map(|path| {
        let info = DraftInfo {
            id: format!(
                "learned-{}",
                args.vin
                    .as_deref()
                    .map(|v| v.to_ascii_lowercase())
                    .unwrap_or_else(|| date.clone())
            ),
            vin: args.vin.clone(),
            year: date.get(..4).and_then(|y| y.parse().ok()).unwrap_or(2000),
            date: date.clone(),
            bitrate: args.bitrate,
            from: from.to_owned(),
        };
        (path, learn::draft_profile(learned, &info))
    });
    if let Some((path, text)) = &draft {
        std::fs::write(path, text).map_err(|source| CliError::Write {
            path: (*path).clone(),
            source,
        })?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let o = Output {
            learned,
            not_learned,
            draft: draft.as_ref().map(|(p, _)| p.display().to_string()),
        };
        serde_json::to_writer_pretty(&mut out, &o)?;
        writeln!(out)?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "learned from {from}: {} frames, {} broadcast identifiers",
        learned.frames, learned.identifiers
    )?;
    for r in &learned.roles {
        let outcome = match &r.outcome {
            Outcome::Learned => "learned".to_owned(),
            Outcome::Tied { places } => format!(
                "NOT learned: {} places tie (scores within {}), another mark tells them apart",
                places.len(),
                learn::ScoreLevel::TIE
            ),
            _ => "NOT learned".to_owned(),
        };
        writeln!(
            out,
            "\n{} ({} mark{}): {outcome}",
            r.role,
            r.marks,
            if r.marks == 1 { "" } else { "s" },
        )?;
        if r.candidates.is_empty() {
            writeln!(out, "  nothing changed in the marked moments")?;
        }
        for (i, c) in r.candidates.iter().enumerate() {
            writeln!(
                out,
                "  {}. {}  score {:.2}\n     {}",
                i + 1,
                c.place,
                c.score,
                c.evidence.words()
            )?;
        }
    }
    if !learned.rejected.is_empty() {
        writeln!(out, "\nset aside before scoring:")?;
        for x in &learned.rejected {
            writeln!(out, "  {}: {}", x.place, x.why)?;
        }
    }
    if !not_learned.is_empty() {
        writeln!(out, "\nnot learned, and how to learn it:")?;
        for n in &not_learned {
            writeln!(out, "  {}: {}", n.role, n.how)?;
        }
    }
    if let Some((path, _)) = &draft {
        writeln!(
            out,
            "\ndraft profile written to {} (check it with `trunkdiag profiles check`)",
            path.display()
        )?;
    }
    Ok(exit::OK)
}
