//! `trunkdiag profiles import-dbc FILE.dbc --role ROLE=MESSAGE.SIGNAL ...`:
//! profile items for DBC signals, with the DBC as their source.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{exit, CliError, CliResult};
use crate::frame::CanId;
use crate::profile::dbc::{DbcFile, DbcSignal};
use crate::profile::write::{ProfileWriter, SignalAt, SignalItem};
use crate::profile::{Level, Role};

#[derive(Args, Debug)]
pub struct ImportDbcArgs {
    /// The DBC file (opendbc's generated fragments with `CM_ "IMPORT ..."` are read with their import).
    pub dbc: PathBuf,
    /// ROLE=MESSAGE.SIGNAL (repeatable); MESSAGE is a name or an id (0x3B3).
    #[arg(long = "role", value_name = "ROLE=MESSAGE.SIGNAL", required = true)]
    pub roles: Vec<String>,
    /// Provenance level of the items: a DBC published for a platform is
    /// `related-model` until shown on this model.
    #[arg(long, default_value = "related-model", value_parser = ["this-model", "related-model", "placeholder"])]
    pub level: String,
    /// Write positions, scale, offset and values into the items instead of
    /// naming the DBC (self-contained; not for multiplexed signals).
    #[arg(long)]
    pub inline: bool,
    /// Write the items to this file instead of standard output; `dbc = ...`
    /// is then written relative to its directory. A profile in your
    /// profile folder or a $TRUNKDIAG_PROFILES directory is found by name
    /// (`profiles list --help`).
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
}

/// `ROLE=MESSAGE.SIGNAL` split; the message may itself hold dots only as
/// the last separator is the signal's.
fn parse_role(text: &str) -> Option<(Role, &str, &str)> {
    let (role, rest) = text.split_once('=')?;
    let (message, signal) = rest.rsplit_once('.')?;
    Some((Role::from_name(role.trim())?, message.trim(), signal.trim()))
}

/// How the items name the DBC: relative to the output's directory when it
/// lies below it, else as an absolute path (or as given, on stdout).
fn dbc_reference(dbc: &Path, write: Option<&Path>) -> String {
    let Some(out_dir) = write.and_then(Path::parent) else {
        return dbc.display().to_string();
    };
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let (d, o) = (
        abs(dbc),
        abs(if out_dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            out_dir
        }),
    );
    d.strip_prefix(&o)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| d.display().to_string())
}

pub fn run(args: ImportDbcArgs) -> CliResult<u8> {
    let file = DbcFile::read(&args.dbc)?;
    // (id, page as (byte, value)) → message name and its signals.
    type Frames = BTreeMap<(CanId, Option<(u8, u8)>), (String, Vec<(Role, DbcSignal)>)>;
    let mut frames = Frames::new();
    for text in &args.roles {
        let (role, message, signal) =
            parse_role(text).ok_or(CliError::RoleSignal { text: text.clone() })?;
        let sig = file.signal(message, signal)?;
        if args.inline && sig.mux.is_some() {
            return Err(CliError::Usage(
                "--inline: a multiplexed signal needs its DBC; leave --inline out for it",
            ));
        }
        // A GMLAN parameter id is one frame whatever its priority and source.
        let id = sig.gmlan.map_or(sig.id, crate::profile::gmlan_canonical_id);
        frames
            .entry((id, sig.page.map(|p| (p.byte, p.value))))
            .or_insert_with(|| (sig.message.clone(), Vec::new()))
            .1
            .push((role, sig));
    }
    let name = args.dbc.file_name().map_or_else(
        || args.dbc.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let reference = dbc_reference(&args.dbc, args.write.as_deref());
    let level = Level::ALL
        .into_iter()
        .find(|l| l.as_str() == args.level)
        .unwrap_or(Level::RelatedModel);
    let mut w = ProfileWriter::new();
    w.comment(&format!(
        "Items imported by `trunkdiag profiles import-dbc` from {name}; add them to a profile."
    ))
    .blank();
    for (&(id, _), (message, sigs)) in &frames {
        let page = sigs.first().and_then(|(_, s)| s.page);
        match sigs.first().and_then(|(_, s)| s.gmlan) {
            Some(arb) => w.gmlan_frame(arb, message),
            None => w.frame_page(id, message, page),
        };
        for (role, s) in sigs {
            let at = if args.inline {
                SignalAt::Bits {
                    bits: s.bits.to_string(),
                    scale: s.scale,
                    offset: s.offset,
                    unit: s.unit.as_deref(),
                    values: s.values.iter().map(|v| (v.raw, v.name.clone())).collect(),
                }
            } else {
                SignalAt::Dbc {
                    file: &reference,
                    message: &s.message,
                    signal: &s.signal,
                    comment: format!("{}, scale {}, offset {}", s.location(), s.scale, s.offset),
                }
            };
            w.signal(&SignalItem {
                name: &s.signal,
                role: *role,
                at,
                level,
                source: &format!(
                    "DBC {name}: message {} (0x{id}), signal {}",
                    s.message, s.signal
                ),
                note: None,
            });
        }
    }
    let t = w.finish();
    match &args.write {
        Some(path) => std::fs::write(path, &t).map_err(|source| CliError::Write {
            path: path.clone(),
            source,
        })?,
        None => std::io::stdout().lock().write_all(t.as_bytes())?,
    }
    Ok(exit::OK)
}
