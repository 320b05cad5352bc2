//! `trunkdiag capture ...`: look at a capture file without a car.
//!
//! `cat` prints any capture as a canonical candump log (or, with `--to`,
//! in any format of `capture::FORMATS` that has a writer); `stats` counts
//! what is in it. Both read through [`crate::capture::CaptureReader`]; this module
//! only adds argument handling and output (text or JSON).

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};

use clap::{Args, Subcommand};
use serde::Serialize;

use super::exit;
use super::input::{warn_bad_lines, CaptureInput};
use super::CliResult;
use crate::capture::format::{self, sink, Format};
use crate::frame::{CanId, FrameKind};

#[derive(Args, Debug)]
pub struct CaptureArgs {
    #[command(subcommand)]
    pub command: CaptureCommand,
}

#[derive(Subcommand, Debug)]
pub enum CaptureCommand {
    /// Print a capture as a candump log (comments kept as `# text`), or in
    /// another format with `--to`.
    Cat(CatArgs),
    /// Count frames, ids and rates in a capture.
    Stats(StatsArgs),
    /// Reassembled ISO-TP messages named by service, with negative response
    /// names and trouble codes (one line, or one JSON line, per message);
    /// without --pair the conversations are found and listed first.
    Decode(super::decode::DecodeArgs),
    /// Every change of every signal a vehicle profile reads (broadcasts and
    /// the BCM's data answers): time, frame, signal, role, value, and how
    /// much the profile knows about it.
    Signals(super::signals::SignalsArgs),
}

#[derive(Args, Debug)]
pub struct CatArgs {
    #[command(flatten)]
    pub input: CaptureInput,
    /// Output format.
    #[arg(long, default_value = "candump", value_parser = format::writable_parser())]
    pub to: Format,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    pub input: CaptureInput,
    /// Print JSON for scripts instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: CaptureArgs) -> CliResult<u8> {
    match args.command {
        CaptureCommand::Cat(a) => cat(&a),
        CaptureCommand::Stats(a) => stats(&a),
        CaptureCommand::Decode(a) => super::decode::run(&a),
        CaptureCommand::Signals(a) => super::signals::run(&a),
    }
}

fn cat(args: &CatArgs) -> CliResult<u8> {
    let mut reader = args.input.open()?;
    let stdout = io::stdout().lock();
    let mut out = sink(args.to, BufWriter::with_capacity(256 * 1024, stdout))?;
    let mut comments_written = 0;
    // Comments come out where they were: every annotation recorded before a
    // frame was returned precedes that frame in the file.
    loop {
        let next = reader.next_frame();
        for a in reader
            .annotations()
            .get(comments_written..)
            .unwrap_or_default()
        {
            out.comment(&a.text)?;
        }
        comments_written = reader.annotations().len();
        match next {
            Ok(Some(frame)) => out.frame(&frame)?,
            Ok(None) => break,
            Err(e) => {
                // What was read stays printed, then the error.
                out.finish()?;
                return Err(e.into());
            }
        }
    }
    out.finish()?;
    if out.left_out() > 0 {
        tracing::warn!(
            "{}: left out {} remote/error frames, which {} cannot hold",
            reader.name(),
            out.left_out(),
            args.to.info().title
        );
    }
    warn_bad_lines(&reader);
    Ok(exit::OK)
}

/// Counts per id: a flat table for the 2048 11-bit ids, a map for the rare
/// 29-bit ones, so counting stays a few nanoseconds per frame.
struct IdCounts {
    standard: Vec<u64>,
    extended: HashMap<u32, u64>,
}

impl IdCounts {
    fn new() -> IdCounts {
        IdCounts {
            standard: vec![0; 2048],
            extended: HashMap::new(),
        }
    }

    #[inline]
    fn add(&mut self, id: CanId) {
        match id {
            CanId::Standard(i) => {
                if let Some(c) = self.standard.get_mut(usize::from(i)) {
                    *c += 1;
                }
            }
            CanId::Extended(i) => *self.extended.entry(i).or_insert(0) += 1,
        }
    }

    /// Ids in ascending order, 11-bit first.
    fn sorted(&self) -> Vec<(CanId, u64)> {
        let mut out: Vec<(CanId, u64)> = (0u16..)
            .zip(&self.standard)
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (CanId::Standard(i), *c))
            .collect();
        let mut ext: Vec<(CanId, u64)> = self
            .extended
            .iter()
            .map(|(i, c)| (CanId::Extended(*i), *c))
            .collect();
        ext.sort_unstable();
        out.extend(ext);
        out
    }
}

#[derive(Serialize, Debug)]
struct IdStats {
    /// As candump prints it: 3 hex digits for 11-bit, 8 for 29-bit.
    id: String,
    extended: bool,
    count: u64,
    /// Frames per second over the capture's duration; null when the
    /// capture spans no time.
    rate: Option<f64>,
}

#[derive(Serialize, Debug)]
struct Stats {
    file: String,
    format: &'static str,
    compressed: bool,
    frames: u64,
    first_timestamp_us: Option<u64>,
    last_timestamp_us: Option<u64>,
    duration_s: f64,
    classic: u64,
    fd: u64,
    remote: u64,
    error: u64,
    bad_lines: u64,
    annotations: usize,
    /// Data and remote frames per id; error frames are not counted here
    /// (their "id" is an error class, not a bus id).
    ids: Vec<IdStats>,
}

fn stats(args: &StatsArgs) -> CliResult<u8> {
    let mut reader = args.input.open()?;
    let mut ids = IdCounts::new();
    let (mut frames, mut classic, mut fd, mut remote, mut error) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut first, mut last) = (None, None);
    // By reference: a copy of each 104-byte frame out of the reader was a
    // measurable share of the whole command.
    while let Some(f) = reader.next_frame_ref()? {
        frames += 1;
        first.get_or_insert(f.timestamp_us);
        last = Some(f.timestamp_us);
        match f.kind {
            FrameKind::Classic { .. } => classic += 1,
            FrameKind::Fd { .. } => fd += 1,
            FrameKind::Remote { .. } => remote += 1,
            FrameKind::Error => {
                error += 1;
                continue;
            }
        }
        ids.add(f.id);
    }
    warn_bad_lines(&reader);
    let duration_us = match (first, last) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => 0,
    };
    let duration_s = duration_us as f64 / 1e6;
    let stats = Stats {
        file: reader.name().to_string(),
        format: reader.format().name(),
        compressed: reader.compressed(),
        frames,
        first_timestamp_us: first,
        last_timestamp_us: last,
        duration_s,
        classic,
        fd,
        remote,
        error,
        bad_lines: reader.bad_lines(),
        annotations: reader.annotations().len(),
        ids: ids
            .sorted()
            .into_iter()
            .map(|(id, count)| IdStats {
                id: id.to_string(),
                extended: id.is_extended(),
                count,
                rate: (duration_us > 0).then(|| count as f64 / duration_s),
            })
            .collect(),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &stats)?;
        writeln!(out)?;
    } else {
        print_stats(&mut out, &stats)?;
    }
    out.flush()?;
    Ok(exit::OK)
}

fn timestamp(us: Option<u64>) -> String {
    match us {
        Some(us) => format!("{}.{:06}", us / 1_000_000, us % 1_000_000),
        None => "-".to_string(),
    }
}

fn print_stats(out: &mut impl Write, s: &Stats) -> io::Result<()> {
    let gz = if s.compressed { ", gzip" } else { "" };
    writeln!(out, "file:        {} ({}{gz})", s.file, s.format)?;
    writeln!(out, "frames:      {}", s.frames)?;
    writeln!(
        out,
        "kinds:       {} classic, {} fd, {} remote, {} error",
        s.classic, s.fd, s.remote, s.error
    )?;
    writeln!(out, "first:       {}", timestamp(s.first_timestamp_us))?;
    writeln!(out, "last:        {}", timestamp(s.last_timestamp_us))?;
    writeln!(out, "duration:    {:.6} s", s.duration_s)?;
    writeln!(out, "bad lines:   {}", s.bad_lines)?;
    writeln!(out, "annotations: {}", s.annotations)?;
    writeln!(out, "ids:         {}", s.ids.len())?;
    if !s.ids.is_empty() {
        writeln!(out, "{:>10} {:>10} {:>12}", "id", "frames", "frames/s")?;
        for id in &s.ids {
            let rate = id.rate.map_or("-".to_string(), |r| format!("{r:.3}"));
            writeln!(out, "{:>10} {:>10} {:>12}", id.id, id.count, rate)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use crate::capture::format::FORMATS;

    /// The help of `path` (subcommand names from the top), long form.
    fn help(path: &[&str]) -> String {
        let mut cmd = super::super::Cli::command();
        cmd.build();
        let mut at = &mut cmd;
        for name in path {
            at = at
                .find_subcommand_mut(name)
                .unwrap_or_else(|| panic!("no subcommand {name}"));
        }
        at.render_long_help().to_string()
    }

    /// Every command that reads a capture names every format in its help,
    /// and `capture cat --to` offers exactly the formats with a writer: all
    /// of them read the format table.
    #[test]
    fn help_texts_read_the_format_table() {
        let top = help(&["capture"]);
        let readers = [
            help(&["capture", "stats"]),
            help(&["capture", "decode"]),
            help(&["diagnose"]),
            help(&["learn"]),
        ];
        for f in FORMATS {
            assert!(top.contains(f.title), "capture --help lacks {}", f.title);
            for (i, text) in readers.iter().enumerate() {
                assert!(
                    text.contains(f.title),
                    "help {i} lacks {}:\n{text}",
                    f.title
                );
            }
        }
        let cat = help(&["capture", "cat"]);
        for f in FORMATS {
            let offered = cat.contains(&format!("- {}:", f.name));
            assert_eq!(offered, f.writer.is_some(), "--to and {}:\n{cat}", f.name);
        }
    }
}
