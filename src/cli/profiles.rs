//! `trunkdiag profiles list | show NAME | check FILE...`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{exit, CliResult};
use crate::profile::{self, Profile};

#[derive(Args, Debug)]
pub struct ProfilesArgs {
    #[command(subcommand)]
    pub action: ProfilesAction,
}

#[derive(Subcommand, Debug)]
pub enum ProfilesAction {
    /// List bundled profiles and those in $TRUNKDIAG_PROFILES.
    List {
        /// JSON output for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show a profile (by name or path), marking unverified items.
    Show {
        /// Bundled name, name in $TRUNKDIAG_PROFILES, or a path to a .toml file.
        name: String,
        /// JSON output for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Check profile files; prints every problem as file:line:column and exits 2 if any.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn run(args: ProfilesArgs) -> CliResult<u8> {
    let out = std::io::stdout();
    let mut out = out.lock();
    match args.action {
        ProfilesAction::List { json } => {
            let list = profile::list();
            if json {
                serde_json::to_writer_pretty(&mut out, &list)?;
                writeln!(out)?;
            } else {
                for s in &list {
                    let origin = match &s.origin {
                        profile::ProfileOrigin::Bundled => "bundled".to_owned(),
                        profile::ProfileOrigin::File(p) => p.clone(),
                    };
                    if s.problems.is_empty() {
                        writeln!(
                            out,
                            "{:<26} {} {} {}-{}  ({} unverified items; {origin})",
                            s.id, s.make, s.model, s.years.0, s.years.1, s.placeholder_items
                        )?;
                    } else {
                        writeln!(
                            out,
                            "{:<26} BROKEN ({} problems; {origin})",
                            s.id,
                            s.problems.len()
                        )?;
                    }
                }
            }
            Ok(exit::OK)
        }
        ProfilesAction::Show { name, json } => {
            let p = profile::load(&name)?;
            if json {
                serde_json::to_writer_pretty(&mut out, &p)?;
                writeln!(out)?;
            } else {
                show(&mut out, &p)?;
            }
            Ok(exit::OK)
        }
        ProfilesAction::Check { files } => {
            let mut bad = 0usize;
            for f in &files {
                let problems = profile::check_file(f);
                if problems.is_empty() {
                    writeln!(out, "{}: ok", f.display())?;
                }
                for p in &problems {
                    eprintln!("{p}");
                }
                bad += problems.len();
            }
            if bad > 0 {
                eprintln!("{bad} problem(s)");
                Ok(exit::FAILED)
            } else {
                Ok(exit::OK)
            }
        }
    }
}

fn mark(level: profile::Level) -> &'static str {
    if level != profile::Level::Placeholder {
        ""
    } else {
        "  [UNVERIFIED]"
    }
}

/// Human-readable profile, every item with its source and verified mark.
fn show(out: &mut impl Write, p: &Profile) -> std::io::Result<()> {
    writeln!(
        out,
        "{} — {} {} {}-{}",
        p.id, p.make, p.model, p.years.0, p.years.1
    )?;
    if !p.description.is_empty() {
        writeln!(out, "{}", p.description)?;
    }
    writeln!(
        out,
        "bus: {} bit/s{}",
        p.bitrate,
        if p.fd { ", CAN FD" } else { "" }
    )?;
    let b = p.bcm();
    let addr = p.item(b.addressing_item);
    writeln!(
        out,
        "\n{}: {} on 0x{} → 0x{}{}",
        b.name,
        match b.protocol {
            profile::Protocol::Kwp => "KWP2000",
            profile::Protocol::Uds => "UDS",
        },
        b.request_id,
        b.response_id,
        mark(addr.map_or(profile::Level::ThisModel, |i| i.level))
    )?;
    for i in p
        .items
        .iter()
        .filter(|i| i.kind == profile::ItemKind::Exchange)
    {
        writeln!(out, "  {:<36} {}{}", i.name, i.location, mark(i.level))?;
    }
    for r in p.data_reads() {
        writeln!(
            out,
            "\ndata read {} ({}){}",
            r.key,
            r.name,
            if r.needs_session {
                ", needs session"
            } else {
                ""
            }
        )?;
        for f in &r.fields {
            if let Some(i) = p.item(f.item) {
                writeln!(
                    out,
                    "  {:<28} {:<20} {:<22} {}",
                    i.name,
                    f.bits.to_string(),
                    f.role.as_str(),
                    mark(i.level)
                )?;
            }
        }
    }
    for fr in &p.frames {
        writeln!(out, "\nframe 0x{} {}", fr.id, fr.name)?;
        for f in &fr.signals {
            if let Some(i) = p.item(f.item) {
                let scale = if f.scale != 1.0 {
                    format!(" x{}", f.scale)
                } else {
                    String::new()
                };
                let unit = f
                    .unit
                    .as_deref()
                    .map(|u| format!(" {u}"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "  {:<28} {:<12}{scale}{unit} {}{}",
                    i.name,
                    f.bits.to_string(),
                    f.role.as_str(),
                    mark(i.level)
                )?;
            }
        }
    }
    if !p.release_conditions.is_empty() {
        writeln!(out, "\nrelease conditions:")?;
        for c in &p.release_conditions {
            let v = p
                .item(c.item)
                .map_or(profile::Level::ThisModel, |i| i.level);
            writeln!(out, "  {}{}", c.text, mark(v))?;
        }
    }
    if !p.dtcs.is_empty() {
        writeln!(out, "\nDTCs:")?;
        for d in &p.dtcs {
            let cause = d
                .cause
                .as_deref()
                .map(|c| format!(" → {c}"))
                .unwrap_or_default();
            writeln!(out, "  {:<9} {}{cause}{}", d.code, d.meaning, mark(d.level))?;
        }
    }
    writeln!(
        out,
        "\nlimits: low battery below {:.1} V; release window {} ms",
        p.limits.low_battery_volts,
        p.limits.release_window_us / 1000
    )?;
    writeln!(
        out,
        "known identifiers: {}{}",
        p.known_ids_sorted()
            .iter()
            .map(|i| format!("0x{i}"))
            .collect::<Vec<_>>()
            .join(" "),
        if p.census_complete {
            ""
        } else {
            " (incomplete list: unknown ids are not evidence)"
        }
    )?;
    writeln!(out, "\nget into the trunk now:")?;
    for l in &p.access_now {
        writeln!(out, "  - {l}")?;
    }
    let unverified: Vec<_> = p.placeholder_items().collect();
    if !unverified.is_empty() {
        writeln!(
            out,
            "\n{} unverified item(s): verdicts resting on them say so.",
            unverified.len()
        )?;
        for i in unverified {
            writeln!(out, "  {} — {}", i.label(), i.source)?;
        }
    }
    Ok(())
}
