//! `trunkdiag record`: a plain recorder (every frame on an interface into a
//! candump log), and the one place that writes the `# ` header every
//! recording carries (`record`, `diagnose --record`, `simulate --record`,
//! `request`/`dtc --record`), so a capture says honestly what produced it:
//! tool and version, command line, profile, source, the bus it was recorded
//! on (a SocketCAN interface, or the in-process simulator's virtual bus on
//! virtual time) and the start time in UTC.
//!
//! The header is candump comments: can-utils' canplayer skips lines that do
//! not start with `(`, log2asc ignores them, and our reader keeps them as
//! annotations. This module must NOT know what the frames mean.

use std::fs::File;
use std::future::Future;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;

use super::{exit, CliError, CliResult};
use crate::capture::candump::{CandumpWriter, FLUSH_WITHIN};
use crate::transport::{BusError, BusUse, CanBus, IfaceSpec, ListenOnly, PhysicalBus};

/// Where the frames of a recording travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Medium<'a> {
    /// The in-process virtual bus with the built-in simulator, on virtual
    /// time; its clock starts at this many microseconds since the epoch.
    Simulator { epoch_us: u64 },
    /// A SocketCAN interface (a car's bus through an adapter, or vcan).
    Interface(&'a str),
    /// A serial adapter (SLCAN, ELM327): what it delivered.
    Adapter(&'a IfaceSpec),
}

impl<'a> Medium<'a> {
    /// The medium of a live `--iface`.
    pub fn live(spec: &'a IfaceSpec) -> Medium<'a> {
        match spec {
            IfaceSpec::SocketCan(name) => Medium::Interface(name),
            other => Medium::Adapter(other),
        }
    }
}

/// What produced a recording, for its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin<'a> {
    /// The vehicle profile as given (`auto`, a name or a path), if any.
    pub profile: Option<&'a str>,
    /// What was on the other end: "simulated vehicle, scenario X", "live
    /// diagnosis", ...
    pub source: String,
    pub medium: Medium<'a>,
}

/// The header lines (without the `# `), for a recording started at
/// `started` (seconds since the UNIX epoch) by the command line `args`
/// (program name first; it is shown as `trunkdiag`).
pub fn header_lines(origin: &Origin<'_>, args: &[String], started: u64) -> Vec<String> {
    let mut command = String::from("trunkdiag");
    for a in args.iter().skip(1) {
        command.push(' ');
        command.push_str(&shell_quote(a));
    }
    let mut lines = vec![
        format!("recorded by trunkdiag {}", env!("CARGO_PKG_VERSION")),
        format!("command: {command}"),
    ];
    if let Some(p) = origin.profile {
        lines.push(format!("profile: {p}"));
    }
    lines.push(format!("source: {}", origin.source));
    lines.push(match origin.medium {
        Medium::Simulator { epoch_us } => format!(
            "recorded on the virtual bus (in-process simulator), on virtual time: \
             frame timestamps are the simulator's clock, which starts at {}",
            utc(epoch_us / 1_000_000)
        ),
        Medium::Interface(i) => {
            format!("recorded on {i} (SocketCAN), frame timestamps from the host clock")
        }
        Medium::Adapter(spec) => format!(
            "recorded through {spec}: {}, frame timestamps from the host clock",
            spec.describe()
        ),
    });
    lines.push(format!("started: {}", utc(started)));
    lines
}

/// Creates `path` and writes the header for `origin` (this process's command
/// line, now). The log is flushed frame by frame by its users so that a run
/// that ends abruptly still leaves a complete file.
pub fn create_log(
    path: &Path,
    origin: &Origin<'_>,
) -> Result<CandumpWriter<Box<dyn Write + Send>>, CliError> {
    let file = File::create(path).map_err(|e| CliError::Create {
        path: path.to_path_buf(),
        source: e,
    })?;
    let sink: Box<dyn Write + Send> = Box::new(BufWriter::new(file));
    let mut w = CandumpWriter::new(sink);
    write_header(&mut w, origin)
        .and_then(|()| w.flush())
        .map_err(|e| CliError::Write {
            path: path.to_path_buf(),
            source: e,
        })?;
    Ok(w)
}

/// The header lines for `origin`, this process's command line, now.
pub fn header(origin: &Origin<'_>) -> Vec<String> {
    header_lines(origin, &std::env::args().collect::<Vec<_>>(), now_secs())
}

/// Writes the header for `origin` (this process's command line, now) into `w`.
pub fn write_header<W: Write>(w: &mut CandumpWriter<W>, origin: &Origin<'_>) -> io::Result<()> {
    for line in header(origin) {
        w.comment(&line)?;
    }
    Ok(())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// An argument as a POSIX shell would need it to be re-run.
fn shell_quote(a: &str) -> String {
    let plain = !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        a.to_owned()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

/// `YYYY-MM-DD hh:mm:ss UTC` for seconds since the UNIX epoch.
pub fn utc(secs: u64) -> String {
    let (y, m, d) = crate::capture::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[derive(Args, Debug)]
pub struct RecordArgs {
    // The forms come from the one table of what each use accepts.
    #[arg(long, value_name = "IF", help = format!(
        "Interface to listen on: {}. Nothing is sent to the bus.",
        BusUse::Listener.forms()
    ))]
    pub iface: String,
    /// Bitrate of the bus for slcan: without one in --iface.
    #[arg(long, default_value_t = 500_000, value_name = "BIT/S")]
    pub bitrate: u32,
    /// The candump log to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Stop after this many seconds (default: at Ctrl-C).
    #[arg(long, value_name = "SECONDS", value_parser = super::parse_seconds)]
    pub duration: Option<Duration>,
    /// Open the adapter listen-only too: an SLCAN adapter with `L` (its
    /// controller then does not even acknowledge frames); on SocketCAN set
    /// `listen-only on` on the interface. A recording sends nothing either way.
    #[arg(long)]
    pub listen_only: bool,
}

pub fn run(args: RecordArgs) -> CliResult<u8> {
    let duration = args.duration;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (frames, path) = rt.block_on(async {
        // Opened before the file is created, so a missing interface leaves
        // no empty log behind.
        let spec = super::iface_spec(&args.iface)?;
        if !BusUse::Listener.accepts(&spec) {
            // An ELM327 only listens while monitoring, which starts after a
            // link is set; a recording listens to every id.
            return Err(CliError::Elm327CannotRecord {
                iface: spec.to_string(),
            });
        }
        let mut bus = ListenOnly::new(
            spec.open_as(PhysicalBus::high_speed(args.bitrate), args.listen_only)?,
            true,
        );
        let origin = Origin {
            profile: None,
            source: "plain recording of every frame on the bus (nothing sent)".to_owned(),
            medium: Medium::live(&spec),
        };
        let mut log = create_log(&args.output, &origin)?;
        eprintln!(
            "trunkdiag: recording {} to {}; Ctrl-C stops",
            args.iface,
            args.output.display()
        );
        // Ctrl-C or SIGTERM ends the recording (a timed one early) after the
        // frame in hand is written: a kill never cuts a line in half.
        let signals = crate::tester::Shutdown::on_signals();
        let stop = async {
            match duration {
                Some(d) => tokio::select! {
                    () = tokio::time::sleep(d) => {}
                    () = signals.wait() => {}
                },
                None => signals.wait().await,
            }
        };
        let n = record(&mut bus, &mut log, stop).await?;
        // What the bus lost or could not do (a full receive queue) is said
        // at the end of the recording too, where a reader of it looks.
        for note in bus.notes() {
            eprintln!("trunkdiag: {note}");
            log.comment(&format!("note: {note}"))?;
        }
        log.flush()?;
        Ok::<_, CliError>((n, args.output.clone()))
    })?;
    if frames > 0 {
        eprintln!("trunkdiag: {frames} frame(s) written to {}", path.display());
    }
    Ok(exit::OK)
}

/// Writes every frame received on `bus` to `log` until `stop` completes;
/// returns how many. Frames are written without a direction flag (like
/// `candump -l`), whole lines only, and flushed whenever the bus has nothing
/// more for the moment, or after [`FLUSH_WITHIN`] while frames keep coming:
/// a quiet bus is on disk frame by frame, a saturated one costs a write per
/// buffer of lines instead of one per frame, and a process killed outright
/// leaves only whole lines.
pub async fn record<B: CanBus, W: Write>(
    bus: &mut B,
    log: &mut CandumpWriter<W>,
    stop: impl Future<Output = ()>,
) -> Result<u64, BusError> {
    let mut n = 0u64;
    // When the oldest frame not flushed yet was written.
    let mut unflushed: Option<Instant> = None;
    let mut stop = std::pin::pin!(stop);
    let failed = |source| BusError::Io {
        context: "writing the recording".to_owned(),
        source,
    };
    loop {
        tokio::select! {
            biased;
            () = &mut stop => return Ok(n),
            r = bus.recv() => match r {
                Ok(frame) => {
                    let mut f = frame;
                    f.direction = None;
                    log.frame(&f).map_err(failed)?;
                    n += 1;
                    match unflushed {
                        None => unflushed = Some(Instant::now()),
                        Some(t) if t.elapsed() >= FLUSH_WITHIN => {
                            log.flush().map_err(failed)?;
                            unflushed = None;
                        }
                        Some(_) => {}
                    }
                }
                Err(BusError::Closed { .. }) => return Ok(n),
                Err(e) => return Err(e),
            },
            // Polled only when neither of the above is ready: the bus has
            // nothing more right now.
            () = std::future::ready(()), if unflushed.is_some() => {
                log.flush().map_err(failed)?;
                unflushed = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::candump::parse_line;
    use crate::frame::{CanFrame, CanId, Direction, IfName};
    use crate::transport::VirtualBus;

    #[test]
    fn utc_matches_known_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(4_107_542_399), "2100-02-28 23:59:59 UTC");
        assert_eq!(utc(4_107_542_400), "2100-03-01 00:00:00 UTC");
    }

    #[test]
    fn header_says_tool_command_profile_source_medium_and_time() {
        let args: Vec<String> = [
            "/x/trunkdiag",
            "diagnose",
            "--sim",
            "trunk-latch",
            "--observe",
            "a b",
        ]
        .map(String::from)
        .to_vec();
        let sim = Origin {
            profile: Some("nissan-altima-2013-2018"),
            source: "simulated vehicle, scenario trunk-latch".to_owned(),
            medium: Medium::Simulator {
                epoch_us: 1_700_000_000_000_000,
            },
        };
        let lines = header_lines(&sim, &args, 1_750_000_000);
        assert_eq!(
            lines,
            [
                format!("recorded by trunkdiag {}", env!("CARGO_PKG_VERSION")),
                "command: trunkdiag diagnose --sim trunk-latch --observe 'a b'".to_owned(),
                "profile: nissan-altima-2013-2018".to_owned(),
                "source: simulated vehicle, scenario trunk-latch".to_owned(),
                "recorded on the virtual bus (in-process simulator), on virtual time: frame \
                 timestamps are the simulator's clock, which starts at 2023-11-14 22:13:20 UTC"
                    .to_owned(),
                "started: 2025-06-15 15:06:40 UTC".to_owned(),
            ]
        );
        let live = Origin {
            profile: None,
            source: "plain recording".to_owned(),
            medium: Medium::Interface("vcan0"),
        };
        let lines = header_lines(&live, &args[..1], 0);
        assert_eq!(lines.get(1).unwrap(), "command: trunkdiag");
        assert!(!lines.iter().any(|l| l.starts_with("profile:")));
        assert!(lines.contains(
            &"recorded on vcan0 (SocketCAN), frame timestamps from the host clock".to_owned()
        ));
    }

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("fob-pressed=yes"), "fob-pressed=yes");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[tokio::test(start_paused = true)]
    async fn record_writes_what_others_send_stamped_by_the_bus_without_direction() {
        let bus = VirtualBus::new(1_700_000_000_000_000);
        let vcan0 = IfName::new("vcan0").unwrap();
        let mut car = bus.endpoint(vcan0);
        let mut recorder = bus.endpoint(vcan0);
        let mut log = CandumpWriter::new(Vec::new());
        let sender = tokio::spawn(async move {
            for i in 0..3u8 {
                let mut f = CanFrame::classic(CanId::Standard(0x60D), &[i]).unwrap();
                f.direction = Some(Direction::Tx);
                car.send(&f.at(7)).await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // The car leaves: the recording ends as the bus closes.
        });
        let n = record(&mut recorder, &mut log, std::future::pending())
            .await
            .unwrap();
        sender.await.unwrap();
        assert_eq!(n, 3);
        let text = String::from_utf8(log.into_inner()).unwrap();
        assert_eq!(
            text,
            "(1700000000.000000) vcan0 60D#00\n\
             (1700000000.100000) vcan0 60D#01\n\
             (1700000000.200000) vcan0 60D#02\n"
        );
        for line in text.lines() {
            let f = parse_line(line.as_bytes()).unwrap().unwrap();
            assert_eq!(f.direction, None);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn record_stops_when_told() {
        let bus = VirtualBus::new(0);
        let mut recorder = bus.endpoint(IfName::new("vcan0").unwrap());
        let _silent = bus.endpoint(IfName::new("vcan0").unwrap());
        let mut log = CandumpWriter::new(Vec::new());
        let stop = tokio::time::sleep(Duration::from_secs(5));
        let n = record(&mut recorder, &mut log, stop).await.unwrap();
        assert_eq!(n, 0);
        assert!(log.into_inner().is_empty());
    }
}
