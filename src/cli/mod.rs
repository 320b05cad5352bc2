//! The command line: argument definitions, output formatting (human and
//! JSON) and exit codes. Only this module knows about JSON output, colour,
//! terminals and process exit codes; the library below returns values.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::observation::ObservationError;

pub mod batch;
pub mod capture;
pub mod check;
pub mod decode;
pub mod diagnose;
pub mod dtc;
pub mod html;
pub mod identify;
pub mod import_dbc;
pub mod input;
pub mod learn;
pub mod record;
pub mod relearn;
pub mod request;
pub mod signals;
pub mod simulate;

/// Exit codes, documented in `--help` and README.
pub mod exit {
    /// Nothing wrong found (`no-fault-found`), or a command that succeeded.
    pub const OK: u8 = 0;
    /// A fault verdict (the trunk has a problem the tool identified).
    pub const FAULT: u8 = 1;
    /// The run failed: bad arguments, unreadable or malformed input, bus error.
    pub const FAILED: u8 = 2;

    /// A finished diagnosis's code: FAULT unless the top verdict is
    /// no-fault-found.
    pub fn of(report: &crate::diagnose::Report) -> u8 {
        if report.is_fault() {
            FAULT
        } else {
            OK
        }
    }
}

const EXIT_HELP: &str = "\
Exit codes:
  0  no fault found (or the command succeeded)
  1  a fault verdict
  2  the run failed: bad arguments, unreadable or malformed input, bus error";

#[derive(Parser, Debug)]
#[command(name = "trunkdiag", version, about = "Why won't this trunk open? Answered from the car's CAN bus.", after_help = EXIT_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

pub mod profiles;

#[derive(Subcommand, Debug)]
pub enum Command {
    #[command(about = crate::capture::format::capture_about())]
    Capture(capture::CaptureArgs),
    /// List, show and check vehicle profiles.
    Profiles(profiles::ProfilesArgs),
    /// Why won't the trunk open? Diagnose from the car, a capture or the simulator.
    Diagnose(diagnose::DiagnoseArgs),
    /// Before a session: what the adapter can really do, the bus (load,
    /// error and dropped frames), whether this port is gatewayed, and
    /// whether the body module answers. Exit 0 when a session can go on, 2
    /// when it cannot.
    Check(check::CheckArgs),
    /// Read or clear the module's trouble codes over the bus.
    Dtc(dtc::DtcArgs),
    /// Send one raw diagnostic request and print the decoded answer.
    Request(request::RequestArgs),
    /// Record every frame on an interface to a candump log (sends nothing).
    Record(record::RecordArgs),
    /// List the adapters on this machine: serial ports (COM ports on
    /// Windows) that may be SLCAN or ELM327 adapters, and SocketCAN
    /// interfaces; with --probe (or ports named), what each port is.
    Adapters(AdaptersArgs),
    /// Run the simulated vehicle (a BCM and its bus) for a scenario, or an ECU clone of a capture.
    Simulate(simulate::SimulateArgs),
    /// Learn which broadcast bits follow the lid, locks, ignition, trunk
    /// requests and lockout of this car, from a capture with the moments
    /// marked; write a draft profile.
    Learn(learn::LearnArgs),
    /// Walk through the profile's relearn of a power liftgate or trunk
    /// (after battery work), each step confirmed on the bus.
    Relearn(relearn::RelearnArgs),
    /// Many diagnoses in one run (a jobs file, or captures and directories): one JSON line per job.
    Batch(batch::BatchArgs),
    /// Print a shell completion script (e.g. `trunkdiag completions bash > /etc/bash_completion.d/trunkdiag`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `trunkdiag man > trunkdiag.1`.
    Man,
}

/// `trunkdiag adapters`.
#[derive(Args, Debug)]
pub struct AdaptersArgs {
    /// Ask each listed serial port what it is: SLCAN's version query `V`,
    /// then the ELM327's `ATI` (neither reaches the car's bus), each
    /// answered within 0.4 s or not at all. Off by default: opening a port
    /// resets some devices (Arduino boards, 3D printers) and the port may
    /// be something other than an adapter.
    #[arg(long)]
    pub probe: bool,
    /// Probe these ports only (e.g. COM5, /dev/ttyUSB0), listed or not;
    /// naming a port asks for its probe.
    #[arg(value_name = "PORT")]
    pub ports: Vec<String>,
}

/// A value clap handed to one of the parsers below that it cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgError {
    #[error("{0:?} is not a number of seconds")]
    NotSeconds(String),
    #[error("{0}: expected seconds from 0 to {max}", max = crate::seconds::MAX)]
    SecondsOutOfRange(String),
    #[error("{0}: expected more than 0 seconds")]
    ZeroSeconds(String),
    #[error("{0:?} is not a CAN id: expected up to 8 hex digits")]
    NotCanId(String),
    #[error("{0:?} is not a CAN id: expected at most 0x1FFFFFFF")]
    CanIdOutOfRange(String),
    #[error("{0:?}: expected REQ:RESP, e.g. 7E0:7E8, or with extended addressing REQ/AE:RESP/AE, e.g. 750/40:758/40")]
    NotPair(String),
}

/// `--listen`-style seconds: a number from 0 to a day (fractions allowed).
pub fn parse_seconds(s: &str) -> Result<std::time::Duration, ArgError> {
    crate::seconds::parse(s).map_err(|e| match e {
        crate::seconds::SecondsError::NotANumber => ArgError::NotSeconds(s.to_owned()),
        _ => ArgError::SecondsOutOfRange(s.to_owned()),
    })
}

/// `--timeout`-style seconds: as [`parse_seconds`], but above 0.
pub fn parse_positive_seconds(s: &str) -> Result<std::time::Duration, ArgError> {
    let d = parse_seconds(s)?;
    if d.is_zero() {
        return Err(ArgError::ZeroSeconds(s.to_owned()));
    }
    Ok(d)
}

/// Parses an `--iface` value (SocketCAN name, `slcan:PORT[@BITRATE]`,
/// `elm327:PORT[@BAUD]`, `elm327:tcp:HOST:PORT`).
pub fn iface_spec(s: &str) -> CliResult<crate::transport::IfaceSpec> {
    Ok(crate::transport::IfaceSpec::parse(s)?)
}

/// Why a command failed. Every one ends the run with exit code 2 (see
/// [`CliError::exit_code`]), its message printed as is: the CLI's own
/// argument problems, then one variant per layer below.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Arguments that parse but do not go together; the text says which.
    #[error("{0}")]
    Usage(&'static str),
    #[error("--observe {text}: {source}")]
    Observation {
        text: String,
        #[source]
        source: ObservationError,
    },
    #[error(transparent)]
    Iface(#[from] crate::transport::IfaceError),
    /// `simulate` through an ELM327, which cannot play the car.
    #[error("simulate --iface {iface}: an ELM327 is a tester's adapter, it cannot play the car; use SocketCAN or slcan:")]
    Elm327CannotPlayTheCar { iface: String },
    /// `record` through an ELM327, which only listens while it talks.
    #[error("record --iface {iface}: an ELM327 cannot record a bus without talking to it; use diagnose/request --record through it, or an SLCAN or SocketCAN adapter")]
    Elm327CannotRecord { iface: String },
    /// A profile that names no body module (none is published for the car)
    /// where a command needs one.
    #[error("{command} --profile {profile}: this profile names no body module (no address is published for the car); give the ids yourself (--tx/--rx, --pair)")]
    NoBodyModule {
        command: &'static str,
        profile: String,
    },
    /// `relearn` with a profile that carries no procedure.
    #[error("profile {profile} has no relearn procedure: expected a [relearn] table (vehicles/README.md says which cars have one and why the others do not)")]
    NoRelearn { profile: String },
    /// A relearn step runs a routine and `--run-routine` was not given.
    #[error("relearn step {step} runs UDS routine 0x{routine:04X} on the body module, which makes it act: give --run-routine to allow it")]
    RoutineNotAllowed { step: usize, routine: u16 },
    #[error("{text:?} is not a request: expected hex bytes, e.g. 22F190")]
    Request { text: String },
    #[error("--session {text:?}: expected one hex byte, e.g. 03")]
    SessionByte { text: String },
    /// A request its classes do not allow, or one never sent; nothing was
    /// sent.
    #[error("request {request}: {denied}")]
    Denied {
        request: String,
        #[source]
        denied: crate::diag::safety::Denied,
    },
    /// A change allowed by its flag, but nobody at a terminal to say yes.
    #[error("request {request} {}: no terminal to confirm it, so add --yes to send it", class.words())]
    Unconfirmed {
        request: String,
        class: crate::diag::safety::Change,
    },
    #[error("{var}: expected microseconds, found {value:?}")]
    Microseconds { var: &'static str, value: String },
    #[error("id {id} is given twice: each id can carry one direction of one pair")]
    DuplicateId { id: String },
    /// `capture decode` without `--pair` reads the capture twice.
    #[error("{}: not a regular file, and finding the conversations reads the capture twice: give --pair REQ:RESP, or save the capture to a file first", path.display())]
    NotRereadable { path: std::path::PathBuf },
    /// An output file could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Create {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An output file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Standard output or the terminal failed (a closed pipe is a quiet exit).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Capture(#[from] crate::capture::CaptureError),
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    #[error(transparent)]
    Diagnose(#[from] crate::diagnose::DiagnoseError),
    #[error(transparent)]
    Batch(#[from] crate::batch::BatchError),
    #[error(transparent)]
    Tester(#[from] crate::tester::TesterError),
    #[error(transparent)]
    Bus(#[from] crate::transport::BusError),
    #[error(transparent)]
    Sim(#[from] crate::sim::SimError),
    #[error(transparent)]
    Decode(#[from] crate::diag::DecodeError),
    #[error(transparent)]
    Learn(#[from] crate::learn::LearnError),
    #[error("--role {text:?}: expected ROLE=MESSAGE.SIGNAL with a known role, e.g. lid_open=DOORS_LIGHTS.BOOT_OPEN")]
    RoleSignal { text: String },
    #[error(transparent)]
    Dbc(#[from] crate::profile::dbc::DbcError),
}

impl CliError {
    /// The one place a failure becomes an exit code: a closed pipe (the
    /// reader went away, as with `| head`) is a quiet success, anything else
    /// a failed run.
    pub fn exit_code(&self) -> u8 {
        if self.is_broken_pipe() {
            exit::OK
        } else {
            exit::FAILED
        }
    }

    fn is_broken_pipe(&self) -> bool {
        // `Io` is transparent: its source() is the io::Error's own source,
        // so the chain below would never show the io::Error itself.
        if let CliError::Io(e) = self {
            return e.kind() == std::io::ErrorKind::BrokenPipe;
        }
        // serde_json keeps the io::Error inside, out of its source chain.
        if let CliError::Json(e) = self {
            return e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe);
        }
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(err) = cur {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return true;
                }
            }
            cur = err.source();
        }
        false
    }
}

/// What every command returns: its exit code (0 or 1), or why it failed.
pub type CliResult<T> = Result<T, CliError>;

fn init_logging(log: &LogArgs) {
    use tracing_subscriber::EnvFilter;
    let default = if log.quiet {
        "error"
    } else {
        match log.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Through anstream, as the report's colour: the fmt layer writes
        // colour codes whenever NO_COLOR is unset, so they are stripped
        // when stderr is a file or a pipe and made to work on a Windows
        // console.
        .with_writer(anstream::stderr)
        .with_target(false)
        .try_init();
}

/// Parses the arguments, runs the command and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::FAILED
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(&cli.log);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = e.exit_code();
            if code == exit::FAILED {
                eprintln!("trunkdiag: error: {e}");
            }
            ExitCode::from(code)
        }
    }
}

/// `trunkdiag adapters`: the list, and with `--probe` (or ports named)
/// what each serial port answers, ports probed side by side.
fn adapters(args: &AdaptersArgs) -> CliResult<u8> {
    use crate::transport::probe;
    use std::io::Write;
    let found = if args.ports.is_empty() {
        crate::transport::serial::list_adapters()
    } else {
        args.ports
            .iter()
            .map(|p| crate::transport::serial::FoundAdapter {
                iface: p.clone(),
                what: String::new(),
            })
            .collect()
    };
    let probing = args.probe || !args.ports.is_empty();
    let looks: Vec<Option<probe::Looks>> = std::thread::scope(|s| {
        let probes: Vec<_> = found
            .iter()
            .map(|a| {
                let serial = !a.what.starts_with("SocketCAN");
                s.spawn(move || (probing && serial).then(|| probe::probe(&a.iface)))
            })
            .collect();
        probes
            .into_iter()
            .map(|h| h.join().unwrap_or(None))
            .collect()
    });
    let mut out = std::io::stdout().lock();
    if found.is_empty() {
        writeln!(
            out,
            "no adapter found: plug one in (USB), pair it (Bluetooth), or for a WiFi ELM327 \
             use --iface elm327:tcp:192.168.0.10:35000"
        )?;
    }
    for (a, looks) in found.iter().zip(&looks) {
        let (what, hint) = match looks {
            Some(l) if a.what.is_empty() => (l.to_string(), l.iface(&a.iface)),
            Some(l) => (format!("{}: {l}", a.what), l.iface(&a.iface)),
            None if a.what.starts_with("SocketCAN") => (a.what.clone(), a.iface.clone()),
            None => (a.what.clone(), format!("elm327:{0} or slcan:{0}", a.iface)),
        };
        writeln!(out, "{:<24} {what}  (--iface {hint})", a.iface)?;
    }
    if !probing && found.iter().any(|a| !a.what.starts_with("SocketCAN")) {
        // On stderr: stdout is the list.
        eprintln!(
            "trunkdiag: `trunkdiag adapters --probe` asks each serial port whether it is an SLCAN \
             or ELM327 adapter"
        );
    }
    Ok(exit::OK)
}

/// Runs one command; returns the exit code (0 or 1) or an error (exit 2).
pub fn run(cli: Cli) -> CliResult<u8> {
    match cli.command {
        Command::Capture(args) => capture::run(args),
        Command::Profiles(args) => profiles::run(args),
        Command::Diagnose(args) => diagnose::run(args),
        Command::Check(args) => check::run(&args),
        Command::Dtc(args) => dtc::run(args),
        Command::Record(args) => record::run(args),
        Command::Adapters(args) => adapters(&args),
        Command::Request(args) => request::run(&args),
        Command::Simulate(args) => simulate::run(args),
        Command::Learn(args) => learn::run(args),
        Command::Relearn(args) => relearn::run(args),
        Command::Completions { shell } => {
            // Into a buffer first: the generator panics on a write error
            // (a closed pipe), and main exits quietly on one.
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "trunkdiag", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)?;
            Ok(exit::OK)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
            Ok(exit::OK)
        }
        Command::Batch(args) => batch::run(args, cli.log.quiet),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// `(subcommand path, flag)` of every argument, depth first.
    fn arguments(cmd: &clap::Command, path: &[String], out: &mut Vec<(Vec<String>, clap::Arg)>) {
        for arg in cmd.get_arguments() {
            out.push((path.to_vec(), arg.clone()));
        }
        for sub in cmd.get_subcommands() {
            let mut p = path.to_vec();
            p.push(sub.get_name().to_owned());
            arguments(sub, &p, out);
        }
    }

    /// Every flag that takes seconds says so (`SECONDS`) and is read by
    /// [`parse_seconds`]: each refuses more than a day in its words.
    #[test]
    fn every_seconds_flag_reads_the_one_parser() {
        let mut all = Vec::new();
        arguments(&Cli::command(), &[], &mut all);
        let mut checked = 0;
        for (path, arg) in &all {
            let help = arg
                .get_help()
                .map(|h| h.to_string().to_lowercase())
                .unwrap_or_default();
            let names: Vec<String> = arg
                .get_value_names()
                .map(|v| v.iter().map(|n| n.to_string()).collect())
                .unwrap_or_default();
            let flag = arg.get_long().unwrap_or_default();
            let takes_seconds = names.iter().any(|n| n == "SECONDS");
            // `learn --event ROLE=VALUE@S` carries seconds inside a mark.
            let bare = !names.iter().any(|n| n.contains('@'));
            if bare && help.contains("seconds") && !help.contains("milliseconds") {
                assert!(
                    takes_seconds,
                    "{path:?} --{flag}: help says seconds, value is {names:?}"
                );
            }
            if !takes_seconds {
                continue;
            }
            let mut argv = vec!["trunkdiag".to_owned()];
            argv.extend(path.iter().cloned());
            argv.push(format!("--{flag}"));
            argv.push("86401".to_owned());
            let err = Cli::try_parse_from(&argv).expect_err("more than a day");
            let want = ArgError::SecondsOutOfRange("86401".to_owned()).to_string();
            assert!(err.to_string().contains(&want), "{argv:?}: {err}");
            checked += 1;
        }
        // diagnose, batch, learn: two each; record one; simulate four.
        assert!(checked >= 11, "{checked} seconds flags");
    }
}
