//! `trunkdiag dtc read` / `dtc clear`: the module's trouble codes, decoded
//! to letter codes with status and meaning; clearing only with `--yes` (and
//! a y/N answer at a terminal), since it erases evidence.

use std::io::{self, IsTerminal, Write};

use clap::{Args, Subcommand};
use serde::Serialize;

use super::decode::DtcLine;
use super::request::{with_tester, LinkArgs, Target};
use super::CliResult;
use super::{exit, CliError};
use crate::diag::dtc::DtcRecord;
use crate::diag::{gmlan, kwp, obd, uds, DecodeError, Protocol};

#[derive(Args, Debug)]
pub struct DtcArgs {
    #[command(subcommand)]
    pub command: DtcCommand,
}

#[derive(Subcommand, Debug)]
pub enum DtcCommand {
    /// Read the trouble codes (UDS 19 02 FF, KWP2000 18 02 FF00, OBD-II 03).
    Read(ReadArgs),
    /// Clear the trouble codes (UDS 14 FFFFFF, KWP2000 14 FF00, OBD-II 04).
    Clear(ClearArgs),
}

#[derive(Args, Debug)]
pub struct ReadArgs {
    #[command(flatten)]
    pub link: LinkArgs,
}

#[derive(Args, Debug)]
pub struct ClearArgs {
    #[command(flatten)]
    pub link: LinkArgs,
    /// Really clear: the codes are evidence, and they are gone afterwards.
    #[arg(long)]
    pub yes: bool,
}

pub fn run(args: DtcArgs) -> CliResult<u8> {
    match args.command {
        DtcCommand::Read(a) => read(&a),
        DtcCommand::Clear(a) => clear(&a),
    }
}

/// The request that reads the stored codes, per protocol.
pub fn read_request(protocol: Protocol) -> Vec<u8> {
    match protocol {
        Protocol::Uds => uds::read_dtcs_by_status(0xFF),
        Protocol::Kwp => kwp::read_dtcs_by_status(0x02, 0xFF00),
        Protocol::Obd => obd::read_dtcs(0x03),
        Protocol::Gmlan => gmlan::read_dtcs_by_status(0xFF),
    }
}

/// The codes in the positive answer to [`read_request`].
pub fn parse_read(protocol: Protocol, resp: &[u8]) -> Result<Vec<DtcRecord>, DecodeError> {
    match protocol {
        Protocol::Uds => {
            uds::parse_dtc_report(resp, uds::dtc_report::BY_STATUS_MASK).map(|r| r.records)
        }
        Protocol::Kwp => kwp::parse_dtcs_by_status(resp),
        // OBD-II mode 03 lists confirmed codes without a status byte.
        Protocol::Obd => obd::parse_dtcs(resp, 0x03).map(|v| {
            v.into_iter()
                .map(|dtc| DtcRecord { dtc, status: 0 })
                .collect()
        }),
        // GMLAN answers with UUDT frames: `gmlan::report_dtcs`.
        Protocol::Gmlan => Ok(Vec::new()),
    }
}

/// The request that clears every code, per protocol.
pub fn clear_request(protocol: Protocol) -> Vec<u8> {
    match protocol {
        Protocol::Uds => uds::clear_dtcs(0xFF_FFFF),
        Protocol::Kwp => kwp::clear_dtcs(0xFF00),
        Protocol::Obd | Protocol::Gmlan => vec![0x04],
    }
}

#[derive(Serialize, Debug)]
struct ReadOutput {
    count: usize,
    dtcs: Vec<DtcLine>,
}

fn read(args: &ReadArgs) -> CliResult<u8> {
    let target = args.link.target()?;
    let protocol = target.protocol;
    let req = target
        .dtc_read
        .clone()
        .unwrap_or_else(|| read_request(protocol));
    let uudt = (protocol == Protocol::Gmlan)
        .then(|| gmlan::uudt_id(target.tx))
        .flatten();
    let (payload, frames) = with_tester(&args.link, &target, async |t| {
        if let Some(session) = target.session {
            t.open_session(session).await?;
        }
        match uudt {
            // GMLAN: one UUDT frame per code on request id + 0x300.
            Some(id) => {
                let frames = t
                    .request_uudt(&req, id, std::time::Duration::from_secs(2))
                    .await?;
                Ok((Vec::new(), frames))
            }
            None => t.request_positive(&req).await.map(|p| (p, Vec::new())),
        }
    })?;
    let records = match uudt {
        Some(_) => gmlan::report_dtcs(&frames),
        None => parse_read(protocol, &payload)?,
    };
    let out = ReadOutput {
        count: records.len(),
        dtcs: records.iter().map(DtcLine::from).collect(),
    };
    let mut w = io::stdout().lock();
    if args.link.json {
        serde_json::to_writer(&mut w, &out)?;
        writeln!(w)?;
    } else if out.dtcs.is_empty() {
        writeln!(w, "no trouble codes stored")?;
    } else {
        for d in &out.dtcs {
            writeln!(w, "{}  status {}  {}", d.code, d.status, d.description)?;
        }
    }
    Ok(exit::OK)
}

fn clear(args: &ClearArgs) -> CliResult<u8> {
    if !args.yes {
        return Err(CliError::Usage(
            "dtc clear erases the module's trouble codes (evidence for the diagnosis): \
             read them first with `dtc read`, then add --yes to clear",
        ));
    }
    let target = args.link.target()?;
    // Declined at the terminal: nothing sent, exit 2, as a declined
    // `request` (the README's exit codes).
    if io::stdin().is_terminal() && !confirm(&args.link, &target)? {
        return Err(CliError::Usage(
            "not confirmed: nothing was sent, not cleared",
        ));
    }
    let req = clear_request(target.protocol);
    with_tester(&args.link, &target, async |t| {
        if let Some(session) = target.session {
            t.open_session(session).await?;
        }
        t.request_positive(&req).await.map(drop)
    })?;
    if args.link.json {
        println!("{{\"cleared\":true}}");
    } else {
        println!("trouble codes cleared");
    }
    Ok(exit::OK)
}

fn confirm(link: &LinkArgs, target: &Target) -> io::Result<bool> {
    super::request::ask_yes(&format!(
        "Clear all trouble codes of the module at {} on {}? [y/N] ",
        target.tx, link.iface
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_requests_and_answers_per_protocol() {
        let cases: [(Protocol, &str, &str, &[&str]); 3] = [
            (
                Protocol::Uds,
                "1902FF",
                "59 02 FF D0 03 16 09",
                &["U1003:16"],
            ),
            (Protocol::Kwp, "1802FF00", "58 01 92 54 60", &["B1254"]),
            (
                Protocol::Obd,
                "03",
                "43 02 01 43 92 56",
                &["P0143", "B1256"],
            ),
        ];
        for (p, req, resp, codes) in cases {
            assert_eq!(crate::hex::encode_upper(&read_request(p)), req);
            let got: Vec<String> = parse_read(p, &crate::hex::decode(resp).unwrap())
                .unwrap()
                .iter()
                .map(|r| r.dtc.to_string())
                .collect();
            assert_eq!(got, codes, "{p:?}");
        }
        assert_eq!(clear_request(Protocol::Uds), [0x14, 0xFF, 0xFF, 0xFF]);
        assert_eq!(clear_request(Protocol::Kwp), [0x14, 0xFF, 0x00]);
        assert_eq!(clear_request(Protocol::Obd), [0x04]);
    }
}
