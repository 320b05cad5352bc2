//! `trunkdiag learn`: which bits of this car's broadcast frames follow the
//! lid, the locks, the ignition, the trunk requests and the lockout switch,
//! learned from a capture with the moments marked; the ranked candidates,
//! what could not be learned and how, and a draft profile.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use super::{exit, CliError, CliResult};
use crate::capture::{CaptureReader, ReadOptions};
use crate::learn::{self, guide, DraftInfo, LearnConfig, Learned, Learner, Mark};
use crate::profile::Role;

#[derive(Args, Debug, Clone)]
pub struct LearnArgs {
    /// A capture of the car while someone made the changes (candump, pcap,
    /// pcapng, ASC, BLF, TRC or SavvyCAN CSV; gzip or not).
    #[arg(long, value_name = "FILE")]
    pub replay: PathBuf,
    /// A moment: ROLE=VALUE@SECONDS from the capture's first frame, e.g.
    /// `lid_open=1@12.5`, `ignition_on=accessory@1.339` (repeatable; give each
    /// change at least twice when you can).
    #[arg(long = "event", value_name = "ROLE=VALUE@S", required = true)]
    pub events: Vec<String>,
    /// Write a draft profile (TOML, every item at level "learned on this car").
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
    /// Skip malformed lines/packets (and count them) instead of failing.
    #[arg(long)]
    pub lenient: bool,
    /// One JSON object for scripts.
    #[arg(long)]
    pub json: bool,
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
        ..LearnConfig::default()
    };
    let mut learner = Learner::new(cfg);
    let opts = ReadOptions {
        lenient: args.lenient,
        byte_swapped_ids: false,
    };
    let mut reader = CaptureReader::open(&args.replay, opts)?;
    while let Some(frame) = reader.next_frame_ref()? {
        learner.push(frame);
    }
    let origin = learner
        .first_frame_us()
        .ok_or_else(|| learn::LearnError::NoFrames {
            what: args.replay.display().to_string(),
        })?;
    for text in &args.events {
        learner.mark(Mark::parse(text, origin)?);
    }
    let learned = learner.finish();
    let from = format!("capture {}", file_name(&args.replay));
    report(&args, &learned, origin, &from)
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
        if !r.learned {
            not_learned.push(NotLearned {
                role: r.role,
                how: guide::how_to(r.role),
            });
        }
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
        writeln!(
            out,
            "\n{} ({} mark{}): {}",
            r.role,
            r.marks,
            if r.marks == 1 { "" } else { "s" },
            if r.learned { "learned" } else { "NOT learned" }
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
