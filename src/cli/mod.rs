//! The command line: argument definitions, output formatting (human and
//! JSON) and exit codes. Only this module knows about JSON output, colour,
//! terminals and process exit codes; the library below returns values.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub mod batch;
pub mod capture;
pub mod decode;
pub mod diagnose;
pub mod dtc;
pub mod record;
pub mod request;
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
    /// Read capture files (candump logs, pcap, pcapng; gzip or not).
    Capture(capture::CaptureArgs),
    /// List, show and check vehicle profiles.
    Profiles(profiles::ProfilesArgs),
    /// Why won't the trunk open? Diagnose from the car, a capture or the simulator.
    Diagnose(diagnose::DiagnoseArgs),
    /// Read or clear the module's trouble codes over the bus.
    Dtc(dtc::DtcArgs),
    /// Send one raw diagnostic request and print the decoded answer.
    Request(request::RequestArgs),
    /// Record every frame on an interface to a candump log (sends nothing).
    Record(record::RecordArgs),
    /// List the adapters on this machine: serial ports that look like SLCAN
    /// or ELM327 adapters, and SocketCAN interfaces.
    Adapters,
    /// Run the simulated vehicle (a BCM and its bus) for a scenario, or an ECU clone of a capture.
    Simulate(simulate::SimulateArgs),
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

/// The longest wait a command takes: one day. Longer values are typos, and
/// deadlines computed from them must stay far from overflow.
const MAX_SECONDS: f64 = 86_400.0;

/// `--listen`-style seconds: a number from 0 to a day (fractions allowed).
pub fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.0..=MAX_SECONDS).contains(&v) {
        return Err(format!("{s}: expected seconds from 0 to {MAX_SECONDS}"));
    }
    std::time::Duration::try_from_secs_f64(v).map_err(|e| format!("{s}: {e}"))
}

/// `--timeout`-style seconds: as [`parse_seconds`], but above 0.
pub fn parse_positive_seconds(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_seconds(s)?;
    if d.is_zero() {
        return Err(format!("{s}: expected more than 0 seconds"));
    }
    Ok(d)
}

/// Parses an `--iface` value (SocketCAN name, `slcan:PORT[@BITRATE]`,
/// `elm327:PORT[@BAUD]`, `elm327:tcp:HOST:PORT`).
pub fn iface_spec(s: &str) -> Result<crate::transport::IfaceSpec, CliError> {
    crate::transport::IfaceSpec::parse(s).map_err(|e| CliError::new(e.to_string()))
}

/// An error that ends the run with exit code 2; the message is printed as is.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

impl CliError {
    pub fn new(msg: impl Into<String>) -> CliError {
        CliError(msg.into())
    }
}

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
        .with_writer(std::io::stderr)
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
            if is_broken_pipe(&e) {
                return ExitCode::from(exit::OK);
            }
            eprintln!("trunkdiag: error: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}

fn is_broken_pipe(e: &anyhow_like::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
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

/// The error type commands return: any error, printed with its message.
pub mod anyhow_like {
    pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;
    pub type Result<T> = std::result::Result<T, Error>;
}

/// `trunkdiag adapters`.
fn adapters() -> anyhow_like::Result<u8> {
    use std::io::Write;
    let found = crate::transport::serial::list_adapters();
    let mut out = std::io::stdout().lock();
    if found.is_empty() {
        writeln!(
            out,
            "no adapter found: plug one in (USB), pair it (Bluetooth), or for a WiFi ELM327 \
             use --iface elm327:tcp:192.168.0.10:35000"
        )?;
    }
    for a in &found {
        let hint = if a.what.starts_with("SocketCAN") {
            a.iface.clone()
        } else {
            format!("elm327:{0} or slcan:{0}", a.iface)
        };
        writeln!(out, "{:<24} {}  (--iface {hint})", a.iface, a.what)?;
    }
    Ok(exit::OK)
}

/// Runs one command; returns the exit code (0 or 1) or an error (exit 2).
pub fn run(cli: Cli) -> anyhow_like::Result<u8> {
    match cli.command {
        Command::Capture(args) => capture::run(args),
        Command::Profiles(args) => profiles::run(args),
        Command::Diagnose(args) => diagnose::run(args),
        Command::Dtc(args) => dtc::run(args),
        Command::Record(args) => record::run(args),
        Command::Adapters => adapters(),
        Command::Request(args) => request::run(&args),
        Command::Simulate(args) => simulate::run(args),
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
