//! `trunkdiag batch`: many diagnoses in one run, for scripts. One JSON line
//! per finished job on stdout (or `--output`), written by one writer and
//! flushed per line; a summary on stderr; `--summary-csv`; a progress bar on
//! a terminal; the batch's exit code.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::{exit, CliError, CliResult};
use crate::batch::{self, Job, JobOutcome, RunOptions, Shard};
use crate::capture::ReadOptions;
use crate::verdict::{Confidence, Verdict};

const BATCH_HELP: &str = "\
Inputs: one jobs file (JOBS.toml, [[job]] tables with capture = FILE or
iface = IF, profile = NAME|PATH|auto, observe = [\"KEY=VALUE\"], name), or with
--profile, capture files and directories (every capture inside, recursively,
sorted; *.json, *.md, *.txt, *.toml, *.csv, *.yaml and hidden files skipped).

Each finished job prints one JSON line:
  {\"index\":N,\"job\":NAME|PATH,\"profile\":ID,\"verdicts\":[...],\"exit\":0|1|2,\"error\":null|MESSAGE}
verdicts are as `diagnose --json` gives them; index is the job's place in the
whole list (before --shard).

Exit codes:
  0  every job ran and found no fault
  1  every job ran, and at least one found a fault (or was inconclusive)
  2  at least one job failed (unreadable or malformed capture, bad profile,
     bus error), or the batch could not start";

#[derive(Args, Debug, Clone)]
#[command(after_help = BATCH_HELP)]
pub struct BatchArgs {
    /// A jobs file, or (with --profile) capture files and directories.
    #[arg(required = true, value_name = "JOBS.toml | FILE_OR_DIR")]
    pub inputs: Vec<PathBuf>,
    /// Diagnose the captures given with this profile: a bundled name, a path
    /// to a .toml file, or `auto` (from each capture's VIN).
    #[arg(long, value_name = "NAME|PATH|auto")]
    pub profile: Option<String>,
    /// With --profile: what you saw, KEY=VALUE (repeatable), for every capture.
    #[arg(long = "observe", value_name = "KEY=VALUE")]
    pub observe: Vec<String>,
    /// Jobs at once [default: the number of cores]. Live jobs on one
    /// interface never overlap.
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<NonZeroUsize>,
    /// Run only the K-th of N slices of the job list (job i is in slice
    /// i % N + 1); concatenating the N outputs gives the whole batch.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Write the JSON lines to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write one CSV row per job (job, profile, verdict, confidence,
    /// exit, error), in job order.
    #[arg(long, value_name = "FILE")]
    pub summary_csv: Option<PathBuf>,
    /// Also write one HTML report per job into DIR (job-NNNN.html) and an
    /// index.html linking them.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Replay: skip malformed lines/packets instead of failing the job.
    #[arg(long)]
    pub lenient: bool,
    /// Replay: pcap/pcapng CAN ids were stored little-endian (scapy).
    #[arg(long)]
    pub byte_swapped_ids: bool,
    /// Live jobs: how long to listen for trunk presses (seconds).
    #[arg(long, default_value = "10", value_name = "SECONDS", value_parser = super::parse_seconds)]
    pub listen: Duration,
    /// Live jobs: how long to wait for the bus and the BCM (seconds).
    #[arg(long, default_value = "5", value_name = "SECONDS", value_parser = super::parse_positive_seconds)]
    pub timeout: Duration,
}

/// One JSON line.
#[derive(Serialize)]
struct Line<'a> {
    index: usize,
    job: &'a str,
    profile: &'a str,
    /// Serialised by `Verdict`'s own `Serialize`, the one `diagnose --json`
    /// uses: the two outputs cannot drift apart.
    verdicts: &'a [Verdict],
    exit: u8,
    error: Option<&'a str>,
}

/// What the summary and the CSV keep of a finished job.
struct Row {
    index: usize,
    job: String,
    profile: String,
    verdict: Option<String>,
    confidence: Option<Confidence>,
    exit: u8,
    error: Option<String>,
}

pub fn run(args: BatchArgs, quiet: bool) -> CliResult<u8> {
    let shard = args.shard.as_deref().map(str::parse::<Shard>).transpose()?;
    let jobs = job_list(&args)?;
    let total = jobs.len();
    let jobs = match shard {
        Some(s) => s.select(jobs),
        None => jobs,
    };
    let workers = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        NonZeroUsize::get,
    );
    let opts = RunOptions {
        workers,
        read: ReadOptions {
            lenient: args.lenient,
            byte_swapped_ids: args.byte_swapped_ids,
        },
        listen: args.listen,
        timeout: args.timeout,
    };
    // Files are created before any job runs: a typo fails at once.
    let to_file = args.output.is_some();
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(io::BufWriter::new(File::create(path).map_err(|e| {
            CliError::Create {
                path: path.to_path_buf(),
                source: e,
            }
        })?)),
        None => Box::new(io::stdout().lock()),
    };
    let csv = match &args.summary_csv {
        Some(path) => Some((
            path,
            File::create(path).map_err(|e| CliError::Create {
                path: path.to_path_buf(),
                source: e,
            })?,
        )),
        None => None,
    };
    if let Some(dir) = &args.report_dir {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Create {
            path: dir.clone(),
            source,
        })?;
    }
    let generated = super::html::now();
    let mut pages: Vec<(usize, [String; 4])> = Vec::new();
    let bar = progress_bar(jobs.len(), quiet);
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::with_capacity(jobs.len());
    batch::run(&jobs, &opts, |outcome| -> io::Result<()> {
        if let (Some(dir), Ok(report)) = (&args.report_dir, &outcome.result) {
            let file = format!("job-{:04}.html", outcome.index);
            std::fs::write(dir.join(&file), super::html::render(report, &generated))?;
            let top = report.top();
            pages.push((
                outcome.index,
                [
                    file,
                    outcome.label.clone(),
                    top.map_or_else(String::new, |v| v.id.to_string()),
                    top.map_or_else(String::new, |v| {
                        format!("{:?}", v.confidence).to_lowercase()
                    }),
                ],
            ));
        }
        let row = write_line(&mut out, &outcome, &bar, to_file)?;
        bar.inc(1);
        rows.push(row);
        Ok(())
    })?;
    bar.finish_and_clear();
    if let Some(dir) = &args.report_dir {
        pages.sort_by_key(|p| p.0);
        let rows: Vec<[String; 4]> = pages.into_iter().map(|p| p.1).collect();
        let path = dir.join("index.html");
        std::fs::write(&path, super::html::index(&rows, &generated))
            .map_err(|source| CliError::Write { path, source })?;
    }
    let elapsed = started.elapsed();
    rows.sort_by_key(|r| r.index);
    if let Some((path, file)) = csv {
        let mut w = io::BufWriter::new(file);
        write_csv(&mut w, &rows)
            .and_then(|()| w.flush())
            .map_err(|e| CliError::Write {
                path: path.to_path_buf(),
                source: e,
            })?;
    }
    if !quiet {
        let mut err = io::stderr().lock();
        let _ = write_summary(&mut err, &rows, total, shard, workers, elapsed);
    }
    let code = if rows.iter().any(|r| r.error.is_some()) {
        exit::FAILED
    } else if rows.iter().any(|r| r.exit == exit::FAULT) {
        exit::FAULT
    } else {
        exit::OK
    };
    Ok(code)
}

fn job_list(args: &BatchArgs) -> CliResult<Vec<Job>> {
    match (&args.profile, args.inputs.as_slice()) {
        (Some(profile), inputs) => Ok(batch::capture_jobs(inputs, profile, &args.observe)),
        (None, [file]) if file.extension().is_some_and(|e| e == "toml") => {
            if !args.observe.is_empty() {
                return Err(CliError::Usage(
                    "--observe goes with --profile and captures; in a jobs file, give each job its observe list",
                ));
            }
            Ok(batch::load_jobs_file(file)?)
        }
        (None, _) => Err(CliError::Usage(
            "expected one jobs file (JOBS.toml), or --profile NAME|PATH|auto with capture files or directories",
        )),
    }
}

/// A bar on stderr when it is a terminal and not `-q`; hidden (draws
/// nothing) otherwise.
fn progress_bar(len: usize, quiet: bool) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(
        Some(u64::try_from(len).unwrap_or(u64::MAX)),
        ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} jobs  {elapsed_precise}  eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// Serialises first, then writes the whole line at once and flushes, so a
/// pipe sees each job as it finishes and a closed pipe surfaces as an
/// io::Error (a quiet exit), not a serde error.
fn write_line(
    out: &mut dyn Write,
    o: &JobOutcome,
    bar: &ProgressBar,
    to_file: bool,
) -> io::Result<Row> {
    let (verdicts, exit, error): (&[Verdict], u8, Option<String>) = match &o.result {
        Ok(report) => (&report.verdicts, exit::of(report), None),
        Err(e) => (&[], exit::FAILED, Some(e.to_string())),
    };
    let line = Line {
        index: o.index,
        job: &o.label,
        profile: &o.profile,
        verdicts,
        exit,
        error: error.as_deref(),
    };
    let mut text = serde_json::to_string(&line).map_err(io::Error::other)?;
    text.push('\n');
    let mut write = || out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if to_file {
        write()?;
    } else {
        // Both may be the terminal: lift the bar while the line goes out.
        bar.suspend(write)?;
    }
    let top = verdicts.first();
    Ok(Row {
        index: o.index,
        job: o.label.clone(),
        profile: o.profile.clone(),
        verdict: top.map(|v| v.id.to_string()),
        confidence: top.map(|v| v.confidence),
        exit,
        error,
    })
}

fn confidence(c: Confidence) -> &'static str {
    match c {
        Confidence::High => "high",
        Confidence::Medium => "medium",
        Confidence::Low => "low",
    }
}

/// RFC 4180: a field with a comma, quote or line break is quoted, quotes
/// doubled.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn write_csv(w: &mut impl Write, rows: &[Row]) -> io::Result<()> {
    w.write_all(b"job,profile,verdict,confidence,exit,error\r\n")?;
    for r in rows {
        let fields = [
            csv_field(&r.job),
            csv_field(&r.profile),
            csv_field(r.verdict.as_deref().unwrap_or("")),
            r.confidence.map(confidence).unwrap_or("").to_owned(),
            r.exit.to_string(),
            csv_field(r.error.as_deref().unwrap_or("")),
        ];
        w.write_all(fields.join(",").as_bytes())?;
        w.write_all(b"\r\n")?;
    }
    Ok(())
}

fn write_summary(
    w: &mut impl Write,
    rows: &[Row],
    total: usize,
    shard: Option<Shard>,
    workers: usize,
    elapsed: Duration,
) -> io::Result<()> {
    let of = match shard {
        Some(s) => format!(" (shard {s} of {total})"),
        None => String::new(),
    };
    writeln!(
        w,
        "batch: {} job(s){of} in {:.2} s, {} at once",
        rows.len(),
        elapsed.as_secs_f64(),
        workers
    )?;
    let mut per: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        if let Some(v) = &r.verdict {
            *per.entry(v).or_default() += 1;
        }
    }
    for (v, n) in &per {
        writeln!(w, "  {v:<26} {n}")?;
    }
    let failed: Vec<&Row> = rows.iter().filter(|r| r.error.is_some()).collect();
    writeln!(w, "  {:<26} {}", "failed", failed.len())?;
    for r in failed.iter().take(10) {
        writeln!(w, "    {}: {}", r.job, r.error.as_deref().unwrap_or(""))?;
    }
    if failed.len() > 10 {
        writeln!(w, "    ... and {} more", failed.len() - 10)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("bay 3, left"), "\"bay 3, left\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn csv_rows_in_order_with_empty_fields_for_failures() {
        let rows = [
            Row {
                index: 0,
                job: "a,b".into(),
                profile: "p".into(),
                verdict: Some("valet-lockout".into()),
                confidence: Some(Confidence::High),
                exit: 1,
                error: None,
            },
            Row {
                index: 1,
                job: "c".into(),
                profile: "auto".into(),
                verdict: None,
                confidence: None,
                exit: 2,
                error: Some("line 3: \"x\"".into()),
            },
        ];
        let mut out = Vec::new();
        write_csv(&mut out, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "job,profile,verdict,confidence,exit,error\r\n\"a,b\",p,valet-lockout,high,1,\r\nc,auto,,,2,\"line 3: \"\"x\"\"\"\r\n"
        );
    }
}
