//! `trunkdiag profiles list | show NAME | check FILE... | import-dbc | identify`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{exit, CliResult};
use crate::profile::{self, BusKind, Profile};

#[derive(Args, Debug)]
pub struct ProfilesArgs {
    #[command(subcommand)]
    pub action: ProfilesAction,
}

#[derive(Subcommand, Debug)]
pub enum ProfilesAction {
    /// List the profiles found by name, and the folders searched.
    ///
    /// A name is looked for as NAME.toml (layouts in layouts/ beside it) in
    /// each directory of $TRUNKDIAG_PROFILES (a path list: `;` between
    /// directories on Windows, `:` elsewhere), then in your profile folder
    /// (%APPDATA%\trunkdiag\profiles on Windows,
    /// ~/Library/Application Support/trunkdiag/profiles on macOS,
    /// $XDG_CONFIG_HOME or ~/.config/trunkdiag/profiles elsewhere), then
    /// among the bundled ones; the first found wins. Put a profile written
    /// by `learn --write` or `profiles import-dbc --write` there to use it
    /// by name.
    List {
        /// JSON output for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show a profile (by name or path): every item with its level and source.
    Show {
        /// A name (see `profiles list --help` for where names are looked
        /// for) or a path to a .toml file.
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
    /// Profile items for DBC signals (ROLE=MESSAGE.SIGNAL), with the DBC as their source.
    ImportDbc(super::import_dbc::ImportDbcArgs),
    /// Which profile a bus matches, from a capture's opening seconds or a few seconds of listening (nothing is sent): ranked candidates, what matched and what did not.
    Identify(super::identify::IdentifyArgs),
}

pub fn run(args: ProfilesArgs) -> CliResult<u8> {
    let out = std::io::stdout();
    let mut out = out.lock();
    match args.action {
        ProfilesAction::ImportDbc(a) => super::import_dbc::run(a),
        ProfilesAction::Identify(a) => super::identify::run(&a),
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
                            "{:<26} {} {} {}-{}  ({} placeholder items; {origin})",
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
                // After a blank line, so each line above is one profile.
                writeln!(out, "\nNames are looked for in, first found wins:")?;
                for dir in profile::search::search_dirs() {
                    writeln!(out, "  {}", dir.describe())?;
                }
                writeln!(out, "  bundled ({} profiles)", profile::bundled().count())?;
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

/// `  [related-model] on ms-can` after an item, and its source on the next
/// line: what every shown item carries.
fn provenance(out: &mut impl Write, p: &Profile, i: &profile::ItemInfo) -> std::io::Result<()> {
    let bus = match p.default_bus() {
        Some(d) if d.name != i.bus && i.kind != profile::ItemKind::Bus => {
            format!(" on {}", i.bus)
        }
        _ => String::new(),
    };
    writeln!(out, "  [{}]{bus}", i.level)?;
    if !i.source.is_empty() {
        writeln!(out, "      source: {}", i.source)?;
    }
    Ok(())
}

/// Human-readable profile, every item with its level and source: one
/// function per section.
fn show(out: &mut impl Write, p: &Profile) -> std::io::Result<()> {
    show_header(out, p)?;
    show_buses(out, p)?;
    show_bcm(out, p)?;
    show_data_reads(out, p)?;
    show_frames(out, p)?;
    show_conditions_and_dtcs(out, p)?;
    show_relearn(out, p)?;
    show_limits(out, p)?;
    show_levels(out, p)?;
    Ok(())
}

/// The title, description and what the levels mean.
fn show_header(out: &mut impl Write, p: &Profile) -> std::io::Result<()> {
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
        "levels: this-model (published for this model), related-model (published for a sibling model), placeholder (confirm on the vehicle), learned (on this car)"
    )?;
    Ok(())
}

/// Each bus, the default first.
fn show_buses(out: &mut impl Write, p: &Profile) -> std::io::Result<()> {
    for (n, b) in p.buses.iter().enumerate() {
        let pins = match b.pins_text() {
            t if t.is_empty() => t,
            t => format!(", OBD-II {t}"),
        };
        let at = match b.kind {
            // `single-wire CAN, OBD-II pin 1, 33.3 kbit/s`: the kind first,
            // it decides the adapter.
            BusKind::SingleWire => format!("{}{pins}, {}", b.kind.label(), b.bitrate_text()),
            BusKind::HighSpeed => format!(
                "{}{}{pins}",
                b.bitrate_text(),
                if b.fd { ", CAN FD" } else { "" }
            ),
        };
        write!(
            out,
            "\nbus {}{}: {at}",
            b.name,
            if n == 0 { " (default)" } else { "" },
        )?;
        if let Some(i) = p.item(b.item) {
            provenance(out, p, i)?;
        } else {
            writeln!(out)?;
        }
    }
    Ok(())
}

/// The BCM: protocol, ids and its exchanges.
fn show_bcm(out: &mut impl Write, p: &Profile) -> std::io::Result<()> {
    let Some(b) = p.bcm() else {
        writeln!(
            out,
            "\nbody module: none named (no address is published for this car): no request, output or trouble-code evidence; broadcasts only"
        )?;
        return Ok(());
    };
    let addr = p.item(b.addressing_item);
    let (to, from) = b.addressing.labels();
    write!(
        out,
        "\n{}: {} on 0x{}{to} → 0x{}{from}",
        b.name,
        b.protocol.label(),
        b.request_id,
        b.response_id,
    )?;
    match addr {
        Some(i) => provenance(out, p, i)?,
        None => writeln!(out)?,
    }
    for i in p
        .items
        .iter()
        .filter(|i| i.kind == profile::ItemKind::Exchange)
    {
        write!(out, "  {:<36} {}", i.name, i.location)?;
        provenance(out, p, i)?;
    }
    Ok(())
}

/// Each data read and its fields.
fn show_data_reads(out: &mut impl Write, p: &Profile) -> std::io::Result<()> {
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
                write!(
                    out,
                    "  {:<28} {:<20} {:<22}",
                    i.name,
                    f.bits.to_string(),
                    f.role.as_str(),
                )?;
                provenance(out, p, i)?;
            }
        }
    }
    Ok(())
}

/// Each broadcast frame and its signals.
fn show_frames(out: &mut impl Write, p: &Profile) -> std::io::Result<()> {
    for fr in &p.frames {
        let bus = match p.default_bus() {
            Some(d) if d.name != fr.bus => format!(" (on {})", fr.bus),
            _ => String::new(),
        };
        writeln!(out, "\nframe {} {}{bus}", fr.label(), fr.name)?;
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
                write!(
                    out,
                    "  {:<28} {:<12}{scale}{unit} {}",
                    i.name,
                    f.bits.to_string(),
                    f.role.as_str(),
                )?;
                provenance(out, p, i)?;
            }
        }
    }
    Ok(())
}

/// Gates (release conditions) and the DTCs the profile explains.
fn show_conditions_and_dtcs(out: &mut impl Write, p: &Profile) -> std::io::Result<()> {
    if !p.release_conditions.is_empty() {
        writeln!(out, "\ngates (the release's enable conditions):")?;
        for c in &p.release_conditions {
            let inputs: Vec<&str> = c.inputs.iter().map(|i| i.as_str()).collect();
            write!(out, "  {} [{}]", c.text, inputs.join(", "))?;
            match p.item(c.item) {
                Some(i) => provenance(out, p, i)?,
                None => writeln!(out)?,
            }
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
            let code = d.code.to_string();
            writeln!(out, "  {code:<9} {}{cause}  [{}]", d.meaning, d.level)?;
            if !d.source.is_empty() {
                writeln!(out, "      source: {}", d.source)?;
            }
        }
    }
    Ok(())
}

/// The relearn procedure (`trunkdiag relearn`), step by step.
fn show_relearn(out: &mut impl Write, p: &Profile) -> std::io::Result<()> {
    let Some(r) = &p.relearn else {
        return Ok(());
    };
    write!(out, "\nrelearn (trunkdiag relearn): {}", r.procedure)?;
    match p.item(r.item) {
        Some(i) => provenance(out, p, i)?,
        None => writeln!(out)?,
    }
    for (n, s) in r.steps.iter().enumerate() {
        writeln!(
            out,
            "  {}. {}  [confirmed by {} within {} s]",
            n + 1,
            s.action,
            s.confirm.words(),
            s.timeout_us / 1_000_000
        )?;
    }
    Ok(())
}

/// Limits, the known identifiers and how to get in now.
fn show_limits(out: &mut impl Write, p: &Profile) -> std::io::Result<()> {
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
    if let Some(r) = &p.recorded {
        writeln!(
            out,
            "recorded bus ({}; for identifying the car only): {} ids of a real car on {}; {}",
            r.level.label(),
            r.frames.len(),
            r.bus,
            r.source
        )?;
    }
    writeln!(out, "\n{}", p.lid.words("get into the trunk now:"))?;
    for l in &p.access_now {
        writeln!(out, "  - {l}")?;
    }
    Ok(())
}

/// The items below this-model, grouped by level.
fn show_levels(out: &mut impl Write, p: &Profile) -> std::io::Result<()> {
    for level in [
        profile::Level::RelatedModel,
        profile::Level::Placeholder,
        profile::Level::Learned,
    ] {
        let group: Vec<String> = p
            .items
            .iter()
            .filter(|i| i.level == level)
            .map(profile::ItemInfo::label)
            .collect();
        if !group.is_empty() {
            writeln!(
                out,
                "\n{} ({} items; verdicts resting on them say so):\n  {}",
                level.label(),
                group.len(),
                group.join("\n  ")
            )?;
        }
    }
    Ok(())
}
