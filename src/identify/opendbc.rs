//! Fingerprints of cars trunkdiag has no profile for: the message ids and
//! lengths of opendbc's DBC files (commaai/opendbc, MIT licence; the table's
//! header carries the attribution). The table is generated, not hand-kept:
//! `scripts/opendbc-fingerprints DIR` rebuilds `opendbc.tsv` from a folder
//! of opendbc DBC files (`cargo run --example opendbc_fingerprints`).
//!
//! A bus is named at a DBC's level when most of its steady body ids are in
//! the DBC with the same length, and enough of them to mean something.

use crate::frame::CanId;

use super::{steady_lengths, Heard};

/// The generated table: `# ` comment lines, then one line per DBC:
/// `name<TAB>id:len id:len ...` (ids in hex, `x` after a 29-bit id).
pub const TABLE: &str = include_str!("opendbc.tsv");

/// At least this many steady ids must be the DBC's, with its lengths...
pub const MIN_MATCHED: usize = 5;
/// ...and this share of the steady ids heard.
pub const MIN_SHARE: f64 = 0.6;

/// One DBC's ids and lengths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbcPrint {
    pub name: String,
    pub ids: Vec<(CanId, usize)>,
}

/// A table line, or why it is not one (the table is generated: a bad line
/// is a bug, said by a test).
pub fn parse_line(line: &str) -> Result<Option<DbcPrint>, String> {
    let line = line.trim_end();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (name, rest) = line
        .split_once('\t')
        .ok_or_else(|| format!("expected `name<TAB>ids`: {line:?}"))?;
    let mut ids = Vec::new();
    for t in rest.split_whitespace() {
        let (id, len) = t
            .split_once(':')
            .ok_or_else(|| format!("expected `id:len`: {t:?}"))?;
        let (hex, extended) = match id.strip_suffix('x') {
            Some(h) => (h, true),
            None => (id, false),
        };
        let raw = u32::from_str_radix(hex, 16).map_err(|e| format!("{t:?}: {e}"))?;
        let id = if extended {
            CanId::extended(raw)
        } else {
            CanId::standard(raw)
        }
        .ok_or_else(|| format!("{t:?}: not a CAN id"))?;
        let len: usize = len.parse().map_err(|e| format!("{t:?}: {e}"))?;
        ids.push((id, len));
    }
    Ok(Some(DbcPrint {
        name: name.to_owned(),
        ids,
    }))
}

/// A table line for a DBC.
pub fn format_line(name: &str, ids: &[(CanId, usize)]) -> String {
    let ids: Vec<String> = ids
        .iter()
        .map(|(id, len)| match id {
            CanId::Standard(r) => format!("{r:X}:{len}"),
            CanId::Extended(r) => format!("{r:X}x:{len}"),
        })
        .collect();
    format!("{name}\t{}", ids.join(" "))
}

/// Every DBC of the table (lines that do not parse are skipped; a test
/// keeps there being none).
pub fn table() -> Vec<DbcPrint> {
    TABLE
        .lines()
        .filter_map(|l| parse_line(l).ok().flatten())
        .collect()
}

/// The DBC whose ids fit the bus best, if one fits: (name, matched, of).
pub fn best(heard: &Heard) -> Option<(String, usize, usize)> {
    let steady = steady_lengths(heard);
    if steady.len() < MIN_MATCHED {
        return None;
    }
    let (name, matched) = table()
        .into_iter()
        .map(|p| {
            let matched = steady.iter().filter(|s| p.ids.contains(s)).count();
            (p.name, matched)
        })
        // The first of the best, in table order.
        .fold(None, |best: Option<(String, usize)>, (n, m)| match best {
            Some((_, bm)) if bm >= m => best,
            _ => Some((n, m)),
        })?;
    (matched >= MIN_MATCHED && matched as f64 >= MIN_SHARE * steady.len() as f64).then_some((
        name,
        matched,
        steady.len(),
    ))
}

/// The table for a folder of opendbc DBC files: the attribution header,
/// then one line per `.dbc` file, by name. What the generator script and
/// the table's test both call.
pub fn generate(dir: &std::path::Path) -> Result<String, String> {
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "dbc"))
        .collect();
    paths.sort();
    let mut out = String::from(HEADER);
    for path in paths {
        let dbc = crate::profile::dbc::DbcFile::read(&path).map_err(|e| e.to_string())?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ids = dbc.message_lengths();
        if ids.is_empty() {
            continue;
        }
        out.push_str(&format_line(&name, &ids));
        out.push('\n');
    }
    Ok(out)
}

/// The table's first lines.
const HEADER: &str = "\
# Message ids and lengths of opendbc's DBC files (https://github.com/commaai/opendbc,
# MIT licence, Copyright (c) 2020, Comma.ai, Inc.; full text in NOTICE), one line per file:
# name<TAB>id:len ... (hex ids; `x` after a 29-bit id). Generated by
# scripts/opendbc-fingerprints; do not edit by hand.
";
