//! `trunkdiag capture signals`: what the car did, as a profile reads it —
//! one line per change of every profile signal (broadcast signals, and the
//! data fields of the BCM's answers), with the time from the capture's
//! first frame, the frame id, the signal's name and role, its value (and
//! the value's name when the profile gives one) and how much the profile
//! knows about it (its provenance level).
//!
//! Decoding is the profile's ([`crate::profile::Profile::decode_broadcast`],
//! [`crate::profile::Profile::decode_response`]); this module keeps the last
//! value of each item and prints the changes.

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};

use clap::Args;
use serde::Serialize;

use super::input::CaptureInput;
use super::{exit, CliResult};
use crate::frame::{CanFrame, CanId};
use crate::isotp::Reassembler;
use crate::profile::{Field, ItemRef, Level, Profile, Role};

#[derive(Args, Debug)]
pub struct SignalsArgs {
    #[command(flatten)]
    pub input: CaptureInput,
    /// The vehicle profile whose signals are read, by name or path.
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: String,
    /// JSON lines for scripts instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One change (or first value) of one signal.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct SignalLine {
    /// Seconds since the capture's first frame.
    pub t: f64,
    /// The frame's own time, seconds (since the UNIX epoch for recordings).
    pub at: f64,
    /// The id of the frame (or of the BCM answer) that carried it.
    pub id: String,
    pub signal: String,
    pub role: Role,
    pub value: f64,
    /// The profile's name for the raw value, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The value before; `None` on the first value seen.
    pub previous: Option<f64>,
    /// How much the profile knows: `this-model`, `related-model`,
    /// `placeholder`, `learned`.
    pub level: Level,
}

/// Follows every item of a profile through frames and BCM answers.
struct Watch<'p> {
    profile: &'p Profile,
    /// Item → its field (scaling, unit, value names).
    fields: HashMap<ItemRef, &'p Field>,
    last: HashMap<ItemRef, f64>,
    first_us: Option<u64>,
    reasm: Reassembler,
    /// `None` when the profile names no body module.
    bcm_response: Option<CanId>,
}

impl<'p> Watch<'p> {
    fn new(profile: &'p Profile) -> Watch<'p> {
        let bcm = profile.bcm();
        let mut reasm = Reassembler::new();
        if let Some(bcm) = bcm {
            reasm.follow(bcm.response_id, bcm.addressing.into());
        }
        Watch {
            profile,
            fields: profile.fields().map(|f| (f.item, f)).collect(),
            last: HashMap::new(),
            first_us: None,
            reasm,
            bcm_response: bcm.map(|b| b.response_id),
        }
    }

    /// The changes this frame brings, in the profile's signal order.
    fn frame(&mut self, frame: &CanFrame, out: &mut Vec<SignalLine>) {
        let first = *self.first_us.get_or_insert(frame.timestamp_us);
        let mut values: Vec<(ItemRef, f64)> = Vec::new();
        let (t, id) = (frame.timestamp_us, frame.id);
        let broadcast = self
            .profile
            .decode_broadcast(frame, |item, _, v| values.push((item, v)));
        if !broadcast && Some(id) == self.bcm_response {
            let answers = self.reasm.feed(frame).into_iter();
            for m in answers.chain(self.reasm.next_pending()) {
                if m.complete && self.profile.bcm().is_some_and(|b| b.owns(m.address, false)) {
                    self.profile
                        .decode_response(&m.payload, |item, _, v| values.push((item, v)));
                }
            }
        }
        for (item, value) in values {
            let previous = self.last.insert(item, value);
            if previous == Some(value) {
                continue;
            }
            if let Some(line) = self.line(item, value, previous, id, t, first) {
                out.push(line);
            }
        }
    }

    fn line(
        &self,
        item: ItemRef,
        value: f64,
        previous: Option<f64>,
        id: CanId,
        t: u64,
        first: u64,
    ) -> Option<SignalLine> {
        let info = self.profile.item(item)?;
        let field = self.fields.get(&item);
        let value_name = field.and_then(|f| {
            if f.scale == 0.0 {
                return None;
            }
            let raw = ((value - f.offset) / f.scale).round();
            f.value_name(raw as i64).map(str::to_owned)
        });
        Some(SignalLine {
            t: t.saturating_sub(first) as f64 / 1e6,
            at: t as f64 / 1e6,
            id: id.to_string(),
            signal: info.name.clone(),
            role: info.role.unwrap_or(Role::Info),
            value,
            value_name,
            unit: field.and_then(|f| f.unit.clone()),
            previous,
            level: info.level,
        })
    }
}

/// `1`, `12.6`, `0.05`: no trailing zeros.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn print_text(out: &mut impl Write, l: &SignalLine) -> io::Result<()> {
    let value = |v: f64| match &l.unit {
        Some(u) => format!("{} {u}", number(v)),
        None => number(v),
    };
    let now = match &l.value_name {
        Some(name) => format!("{} ({name})", value(l.value)),
        None => value(l.value),
    };
    let change = match l.previous {
        Some(p) => format!("{} → {now}", value(p)),
        None => now,
    };
    writeln!(
        out,
        "{:10.6}  {:>8}  {} [{}]  {change}  ({})",
        l.t,
        l.id,
        l.signal,
        l.role,
        l.level.label()
    )
}

/// Every value and change of every signal of `profile` in the capture, in
/// capture order, handed to `each` as it is found: the lines of `capture
/// signals`, for the CLI and the Python binding alike. Stops at the first
/// error, after handing out what was read before it.
pub fn each_change<E: From<crate::capture::CaptureError>>(
    reader: &mut crate::capture::CaptureReader,
    profile: &Profile,
    mut each: impl FnMut(SignalLine) -> Result<(), E>,
) -> Result<(), E> {
    let mut watch = Watch::new(profile);
    let mut lines = Vec::new();
    loop {
        let result = match reader.next_frame_ref() {
            Ok(Some(frame)) => {
                watch.frame(frame, &mut lines);
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => Err(e),
        };
        for l in lines.drain(..) {
            each(l)?;
        }
        if !result? {
            return Ok(());
        }
    }
}

pub fn run(args: &SignalsArgs) -> CliResult<u8> {
    let profile = crate::profile::load(&args.profile)?;
    let mut reader = args.input.open()?;
    let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let mut changes = 0u64;
    // Lines are written as they come: a capture that fails half-way keeps
    // what was read before the error.
    let result = each_change(&mut reader, &profile, |l| {
        changes += 1;
        if args.json {
            serde_json::to_writer(&mut out, &l)?;
            writeln!(out)?;
        } else {
            print_text(&mut out, &l)?;
        }
        Ok::<(), crate::cli::CliError>(())
    });
    out.flush()?;
    result?;
    super::input::warn_bad_lines(&reader);
    tracing::info!("{changes} signal values and changes");
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_without_trailing_zeros() {
        assert_eq!(number(1.0), "1");
        assert_eq!(number(12.6), "12.6");
        assert_eq!(number(0.05), "0.05");
        assert_eq!(number(-3.0), "-3");
    }
}
