//! `trunkdiag profiles identify FILE | --iface IF [--seconds N] [--json]`:
//! which profile the bus matches, from its opening seconds (a capture) or a
//! few seconds of listening (live; nothing is sent).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{exit, CliError, CliResult};
use crate::identify::{self, Decision, Heard, Identification};
use crate::transport::{CanBus, ListenOnly, PhysicalBus};

#[derive(Args, Debug)]
pub struct IdentifyArgs {
    #[arg(help = crate::capture::format::reads_help("Capture file"), required_unless_present = "iface", conflicts_with = "iface")]
    pub file: Option<PathBuf>,
    /// Live: listen on this adapter (SocketCAN or slcan:PORT; nothing is sent).
    #[arg(long, value_name = "IF")]
    pub iface: Option<String>,
    /// Live: seconds to listen (at most; it stops once the window is full).
    #[arg(long, default_value = "5", value_name = "SECONDS", value_parser = super::parse_seconds)]
    pub seconds: Duration,
    /// Live: the bus's bitrate for an slcan: adapter without one.
    #[arg(long, default_value_t = 500_000)]
    pub bitrate: u32,
    /// Skip malformed lines/packets (and count them) instead of failing.
    #[arg(long)]
    pub lenient: bool,
    /// One JSON object for scripts.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &IdentifyArgs) -> CliResult<u8> {
    let fingerprints = identify::fingerprints();
    let ident = match (&args.file, &args.iface) {
        (Some(path), _) => crate::diagnose::capture_identification(
            &path.as_path().into(),
            crate::capture::ReadOptions {
                lenient: args.lenient,
                ..Default::default()
            },
            &fingerprints,
        )?,
        (None, Some(iface)) => live(args, iface, &fingerprints)?,
        (None, None) => return Err(CliError::Usage("give a capture file or --iface")),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &ident)?;
        writeln!(out)?;
    } else {
        text(&mut out, &ident)?;
    }
    Ok(match ident.decision {
        Decision::Profile { .. } | Decision::Tie { .. } => exit::OK,
        _ => exit::FAULT,
    })
}

fn live(
    args: &IdentifyArgs,
    iface: &str,
    fingerprints: &[identify::Fingerprint],
) -> CliResult<Identification> {
    let spec = super::iface_spec(iface)?;
    if !crate::transport::BusUse::Listener.accepts(&spec) {
        return Err(CliError::Usage(
            "profiles identify --iface: an ELM327 cannot listen to the whole bus; use SocketCAN or slcan:",
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let heard = rt.block_on(async {
        let mut bus = ListenOnly::new(
            spec.open_as(PhysicalBus::high_speed(args.bitrate), false)?,
            true,
        );
        let mut heard = Heard::default();
        let until = tokio::time::Instant::now() + args.seconds;
        loop {
            tokio::select! {
                r = tokio::time::timeout_at(until, bus.recv()) => match r {
                    Err(_) => break,
                    Ok(f) => {
                        heard.push(&f?);
                        if heard.full() {
                            break;
                        }
                    }
                },
                () = crate::tester::wait_for_signal() => break,
            }
        }
        Ok::<Heard, CliError>(heard)
    })?;
    Ok(identify::identify(fingerprints, &heard))
}

fn text(w: &mut dyn Write, ident: &Identification) -> std::io::Result<()> {
    writeln!(w, "{}", ident.words())?;
    writeln!(
        w,
        "read {} frame(s) in {:.1} s; candidates (best first):",
        ident.frames, ident.seconds
    )?;
    if ident.candidates.is_empty() {
        writeln!(w, "  none")?;
    }
    for c in ident.candidates.iter().take(8) {
        writeln!(w, "  {:.2}  {:<28} {}", c.score, c.profile, c.words())?;
    }
    Ok(())
}
