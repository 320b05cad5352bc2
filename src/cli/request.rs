//! `trunkdiag request`: one raw diagnostic request to a module, its answer
//! decoded. The request (and its `--session`) is classified before the
//! interface is opened (`diag::safety`): reads go, a change needs
//! `--allow CLASS` and a yes, and what is never sent exits 2 saying why. Also the link options and the live-session plumbing shared by
//! the commands that talk to a car (`dtc read`, `dtc clear`): open the
//! interface, record if asked, run the work under [`Tester::run`] so that
//! Ctrl-C / SIGTERM and errors still hand everything back.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::decode::{parse_can_id, DtcLine};
use super::CliResult;
use super::{exit, CliError};
use crate::diag::client::ClientConfig;
use crate::diag::describe::MessageKind;
use crate::diag::safety::{self, Change, PermitError, RequestClass};
use crate::diag::{describe, Dir, Protocol};
use crate::frame::CanId;
use crate::hex::encode_upper;
use crate::isotp::{Addressing, IsoTpConfig};
use crate::tester::{Response, Shutdown, Tester, TesterError};
use crate::transport::{AnyBus, PhysicalBus};

/// How to reach the module.
#[derive(Args, Debug, Clone)]
pub struct LinkArgs {
    #[arg(long, help = format!(
        "The adapter: {}.",
        crate::transport::BusUse::Tester.forms()
    ))]
    pub iface: String,
    /// Talk to this vehicle profile's BCM (its ids and protocol), by name or
    /// path; --tx, --rx and --protocol override what it says.
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// Request id the module listens on (hex, e.g. 7E0 or 18DA40F1) [default: 7E0].
    #[arg(long, value_parser = parse_can_id)]
    pub tx: Option<CanId>,
    /// Response id the module answers on (hex, e.g. 7E8) [default: 7E8].
    #[arg(long, value_parser = parse_can_id)]
    pub rx: Option<CanId>,
    /// Diagnostic protocol of the module [default: uds].
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,
    /// Record every frame sent and received to this candump log (flushed
    /// frame by frame, so nothing is lost if the run fails).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Print JSON for scripts instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The module to talk to, after the profile and the explicit flags.
#[derive(Debug, Clone)]
pub struct Target {
    pub tx: CanId,
    pub rx: CanId,
    pub protocol: Protocol,
    /// The bus the adapter is opened for (the profile's default bus;
    /// high-speed 500 kbit/s without one).
    pub bus: PhysicalBus,
    /// The session the profile's BCM needs for reads (e.g. Nissan `10 C0`).
    pub session: Option<u8>,
    /// The profile's DTC read request, when it has its own.
    pub dtc_read: Option<Vec<u8>>,
    /// The profile's ISO-TP addressing (its address bytes when extended);
    /// normal when --tx or --rx name other ids.
    pub addressing: Addressing,
}

impl LinkArgs {
    /// Resolves the target: explicit flags first, then the profile's BCM,
    /// then the OBD-II/UDS defaults 7E0 / 7E8 / UDS.
    pub fn target(&self) -> CliResult<Target> {
        let profile = match &self.profile {
            Some(name) => Some(crate::profile::load(name)?),
            None => None,
        };
        let own_ids = self.tx.is_none() && self.rx.is_none();
        let bcm = match &profile {
            Some(p) => match p.bcm() {
                Some(b) => Some(b.clone()),
                None if own_ids => {
                    return Err(CliError::NoBodyModule {
                        command: "request",
                        profile: p.id.clone(),
                    })
                }
                None => None,
            },
            None => None,
        };
        Ok(Target {
            addressing: bcm
                .as_ref()
                .filter(|_| own_ids)
                .map_or(Addressing::Normal, |b| b.addressing.into()),
            bus: profile
                .as_ref()
                .map_or(PhysicalBus::high_speed(500_000), |p| {
                    crate::diagnose::physical_bus(p)
                }),
            tx: self
                .tx
                .or(bcm.as_ref().map(|b| b.request_id))
                .unwrap_or(CanId::Standard(0x7E0)),
            rx: self
                .rx
                .or(bcm.as_ref().map(|b| b.response_id))
                .unwrap_or(CanId::Standard(0x7E8)),
            protocol: self
                .protocol
                .or(bcm.as_ref().map(|b| b.protocol))
                .unwrap_or(Protocol::Uds),
            session: bcm.as_ref().and_then(|b| b.session.as_ref()).and_then(|s| {
                match s.request.as_slice() {
                    [0x10, session] => Some(*session),
                    _ => None,
                }
            }),
            dtc_read: bcm
                .as_ref()
                .and_then(|b| b.dtc_read.as_ref())
                .map(|x| x.request.clone()),
        })
    }
}

/// Opens the link and runs `work` with the safe-session guarantee.
pub fn with_tester<T>(
    link: &LinkArgs,
    target: &Target,
    work: impl AsyncFnOnce(&mut Tester<AnyBus>) -> Result<T, TesterError>,
) -> CliResult<T> {
    let spec = super::iface_spec(&link.iface)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let bus = spec.open(target.bus)?;
        let mut isotp = IsoTpConfig::new(target.tx, target.rx);
        isotp.iface = spec.name();
        isotp.addressing = target.addressing;
        let client = ClientConfig::for_protocol(target.protocol);
        let mut tester = Tester::new(bus, isotp, client, Shutdown::on_signals());
        if let Some(path) = &link.record {
            let origin = super::record::Origin {
                profile: link.profile.as_deref(),
                source: format!(
                    "diagnostic requests to 0x{} (answers on 0x{}, {:?})",
                    target.tx, target.rx, target.protocol
                ),
                medium: super::record::Medium::live(&spec),
            };
            let mut w = super::record::create_log(path, &origin)?;
            let mut failed = false;
            tester.set_tap(Box::new(move |frame, _dir| {
                if failed {
                    return;
                }
                if let Err(e) = w.frame(frame).and_then(|()| w.flush()) {
                    tracing::error!("recording stopped: {e}");
                    failed = true;
                }
            }));
        }
        Ok(tester.run(work).await?)
    })
}

/// A class of change `--allow` lets through ([`Change`]).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowArg {
    /// Clear trouble codes (UDS/KWP2000 14, GMLAN and OBD-II 04).
    Clear,
    /// Write data or memory (2E, 3D, KWP2000 3B, GMLAN 3B).
    Write,
    /// Drive an output or run a routine (2F, 31, KWP2000 30/31, GMLAN AE, OBD-II 08).
    Actuate,
    /// Restart the module (11).
    Reset,
}

impl From<AllowArg> for Change {
    fn from(a: AllowArg) -> Change {
        match a {
            AllowArg::Clear => Change::Clear,
            AllowArg::Write => Change::Write,
            AllowArg::Actuate => Change::Actuate,
            AllowArg::Reset => Change::Reset,
        }
    }
}

#[derive(Args, Debug)]
#[command(after_help = "\
Reads go as they are (sessions 10 01/03/C0, KWP2000 10 81/89/92/C0, 19, 21, 22,
1A, 3E, OBD-II modes 01-0A but 04 and 08). A change goes only with --allow
naming its class and, at a terminal, a yes (or --yes). Never sent, whatever the
flags: security access (27), programming sessions (10 02, KWP2000 10 85, GMLAN
A5), download/upload (34-38), communication control (28), DTC-setting control
(85, GMLAN 10 02), and any service or session this tool does not know.")]
pub struct RequestArgs {
    #[command(flatten)]
    pub link: LinkArgs,
    /// Open this diagnostic session first (hex, e.g. 03 for UDS extended,
    /// C0 for a Nissan BCM); the default session is restored at the end.
    /// A programming session (02) is refused.
    #[arg(long, value_name = "HEX")]
    pub session: Option<String>,
    /// Let a request of this class of change through (repeatable).
    #[arg(long, value_enum, value_name = "CLASS")]
    pub allow: Vec<AllowArg>,
    /// Answer yes to the question a change asks at a terminal; without a
    /// terminal a change needs it.
    #[arg(long)]
    pub yes: bool,
    /// The request, in hex (e.g. 22F190 or "22 F1 90").
    pub request: String,
}

#[derive(Serialize, Debug)]
struct RequestOutput {
    request: String,
    response: String,
    kind: &'static str,
    service: &'static str,
    sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    nrc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nrc_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dtcs: Vec<DtcLine>,
    detail: String,
}

pub fn run(args: &RequestArgs) -> CliResult<u8> {
    let req = crate::hex::decode(&args.request)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| CliError::Request {
            text: args.request.clone(),
        })?;
    let session = match &args.session {
        None => None,
        Some(s) => match crate::hex::decode(s).as_deref() {
            Some([b]) => Some(*b),
            _ => return Err(CliError::SessionByte { text: s.clone() }),
        },
    };
    let target = args.link.target()?;
    let protocol = target.protocol;
    let allowed: Vec<Change> = args.allow.iter().copied().map(Change::from).collect();
    // Nothing is opened, let alone sent, before both are cleared.
    if let Some(s) = session {
        check(
            protocol,
            &[0x10, s],
            &allowed,
            args.yes,
            &args.link,
            &target,
        )?;
    }
    check(protocol, &req, &allowed, args.yes, &args.link, &target)?;
    let resp = with_tester(&args.link, &target, async |t| {
        if let Some(s) = session {
            t.open_session(s).await?;
        }
        t.request(&req).await
    })?;
    let out = output(protocol, &req, &resp);
    let mut w = io::stdout().lock();
    if args.link.json {
        serde_json::to_writer(&mut w, &out)?;
        writeln!(w)?;
    } else {
        print_output(&mut w, &out)?;
    }
    Ok(exit::OK)
}

/// Classifies `req` and says whether it may go: a read does; a change only
/// with its class allowed and a yes (asked at a terminal, else `--yes`);
/// a refused service never.
fn check(
    protocol: Protocol,
    req: &[u8],
    allowed: &[Change],
    yes: bool,
    link: &LinkArgs,
    target: &Target,
) -> CliResult<()> {
    let request = encode_upper(req);
    let class = match safety::permit(protocol, req, allowed) {
        Ok(RequestClass::Change(class)) => class,
        Ok(_) => return Ok(()),
        Err(PermitError::Denied(denied)) => return Err(CliError::Denied { request, denied }),
        Err(PermitError::Empty(_)) => return Err(CliError::Request { text: request }),
    };
    if yes {
        return Ok(());
    }
    if !io::stdin().is_terminal() {
        return Err(CliError::Unconfirmed { request, class });
    }
    let question = format!(
        "Send {request} to the module at {} on {}? It {}. [y/N] ",
        target.tx,
        link.iface,
        class.words()
    );
    if ask_yes(&question)? {
        Ok(())
    } else {
        Err(CliError::Usage("not confirmed: nothing was sent"))
    }
}

/// Asks a yes/no question on the terminal (stderr, an answer on stdin);
/// anything but y/yes is a no.
pub fn ask_yes(question: &str) -> io::Result<bool> {
    eprint!("{question}");
    io::stderr().flush()?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn output(protocol: Protocol, req: &[u8], resp: &Response) -> RequestOutput {
    let d = match resp {
        Response::Suppressed => describe(protocol, req, Dir::Request),
        r => describe(protocol, r.payload(), Dir::Response),
    };
    RequestOutput {
        request: encode_upper(req),
        response: encode_upper(resp.payload()),
        kind: match (resp, d.kind) {
            (Response::Suppressed, _) => "suppressed",
            (_, MessageKind::Negative) => "negative",
            _ => "positive",
        },
        service: d.service,
        sid: format!("{:02X}", d.sid),
        nrc: d.nrc.map(|n| format!("{:02X}", n.code())),
        nrc_name: d.nrc.map(|n| n.name()),
        dtcs: d.dtcs.iter().map(DtcLine::from).collect(),
        detail: if matches!(resp, Response::Suppressed) {
            "no answer expected (suppress positive response)".into()
        } else {
            d.detail
        },
    }
}

fn print_output(w: &mut impl Write, o: &RequestOutput) -> io::Result<()> {
    writeln!(w, "{} {}: {}", o.service, o.kind, o.detail)?;
    if !o.response.is_empty() {
        writeln!(w, "response: {}", o.response)?;
    }
    for d in &o.dtcs {
        writeln!(w, "  {}  status {}  {}", d.code, d.status, d.description)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Nrc;

    #[test]
    fn a_negative_answer_is_named() {
        let resp = Response::Negative {
            nrc: Nrc::from(0x31),
            payload: vec![0x7F, 0x22, 0x31],
        };
        let o = output(Protocol::Uds, &[0x22, 0xF1, 0x90], &resp);
        assert_eq!(
            (o.kind, o.service, o.nrc.as_deref(), o.nrc_name),
            (
                "negative",
                "ReadDataByIdentifier",
                Some("31"),
                Some("requestOutOfRange")
            )
        );
    }

    #[test]
    fn a_suppressed_answer_names_the_request() {
        let o = output(Protocol::Uds, &[0x3E, 0x80], &Response::Suppressed);
        assert_eq!((o.kind, o.service), ("suppressed", "TesterPresent"));
    }

    fn link(profile: Option<&str>, tx: Option<CanId>) -> LinkArgs {
        LinkArgs {
            iface: "vcan0".into(),
            profile: profile.map(String::from),
            tx,
            rx: None,
            protocol: None,
            record: None,
            json: false,
        }
    }

    #[test]
    fn the_target_comes_from_flags_then_profile_then_defaults() {
        let t = link(None, None).target().unwrap();
        assert_eq!(
            (t.tx, t.rx, t.protocol, t.session),
            (
                CanId::Standard(0x7E0),
                CanId::Standard(0x7E8),
                Protocol::Uds,
                None
            )
        );
        let t = link(Some("nissan-altima-2013-2018"), None)
            .target()
            .unwrap();
        assert_eq!(
            (t.tx, t.rx, t.protocol, t.session),
            (
                CanId::Standard(0x745),
                CanId::Standard(0x765),
                Protocol::Kwp,
                Some(0xC0)
            )
        );
        assert_eq!(t.dtc_read.as_deref(), Some(&[0x18, 0x02, 0xFF, 0x00][..]));
        let t = link(Some("ford-fusion-2013-2020"), Some(CanId::Standard(0x7E0)))
            .target()
            .unwrap();
        assert_eq!(
            (t.tx, t.rx, t.protocol),
            (
                CanId::Standard(0x7E0),
                CanId::Standard(0x72E),
                Protocol::Uds
            )
        );
        assert!(link(Some("no-such-car"), None).target().is_err());
    }
}
