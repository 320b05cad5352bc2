//! `trunkdiag capture decode`: the diagnostic conversation in a capture,
//! one reassembled ISO-TP message per line, named by service, with negative
//! response names and decoded trouble codes.
//!
//! Reassembly is [`crate::isotp::Reassembler`], naming is
//! [`crate::diag::describe`], finding the conversations when no ids are
//! given is [`crate::conversation::Finder`] (a first pass over the file);
//! this module only chooses which ids to follow, which protocol and
//! direction each id carries, and prints (text or JSON lines).

use std::io::{self, BufWriter, Write};

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::input::CaptureInput;
use super::CliResult;
use super::{exit, ArgError, CliError};
use crate::conversation::{Conversation, Finder};
use crate::diag::describe::MessageKind;
use crate::diag::{describe, obd, Described, Dir, Protocol, Reply};
use crate::frame::CanId;
use crate::hex::encode_upper;
use crate::isotp::{Addressing, Reassembled, Reassembler};

#[derive(Args, Debug)]
pub struct DecodeArgs {
    #[command(flatten)]
    pub input: CaptureInput,
    /// A tester/ECU id pair to follow, request id first (hex, e.g. 641:651;
    /// 8 digits or more than 0x7FF for 29-bit ids). With ISO-TP extended
    /// addressing each id carries its address byte after a slash:
    /// 750/40:758/40 follows only frames on 0x750 starting with 0x40 and on
    /// 0x758 starting with 0x40. Repeatable. Without it (and without
    /// --profile) the conversations are found in the capture: ids that send
    /// requests and the ids that answer them.
    #[arg(long = "pair", value_name = "REQ[/AE]:RESP[/AE]", value_parser = parse_pair)]
    pub pairs: Vec<(CanId, CanId, Addressing)>,
    /// The protocol of the followed pairs. Default: UDS for --pair; for the
    /// conversations found, OBD-II services (0x01-0x0A) are named as OBD-II
    /// and the rest as UDS.
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,
    /// Follow this vehicle profile's BCM (its request/response ids and
    /// protocol), by name or path; `--protocol` still overrides.
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// JSON lines for scripts instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--protocol`'s values are [`Protocol`]'s own names.
impl ValueEnum for Protocol {
    fn value_variants<'a>() -> &'a [Self] {
        &Protocol::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()).help(self.label()))
    }
}

/// Parses one CAN id in hex: 11-bit when it fits and has at most 3 digits.
pub fn parse_can_id(s: &str) -> Result<CanId, ArgError> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let v = crate::hex::parse_u32(t.as_bytes()).ok_or_else(|| ArgError::NotCanId(s.to_owned()))?;
    let id = if t.len() <= 3 && v <= 0x7FF {
        CanId::standard(v)
    } else {
        CanId::extended(v)
    };
    id.ok_or_else(|| ArgError::CanIdOutOfRange(s.to_owned()))
}

/// `REQ:RESP`, or `REQ/AE:RESP/AE` with extended addressing (both ids
/// carry an address byte or neither does).
fn parse_pair(s: &str) -> Result<(CanId, CanId, Addressing), ArgError> {
    let not_pair = || ArgError::NotPair(s.to_owned());
    let (a, b) = s.split_once(':').ok_or_else(not_pair)?;
    let byte = |t: &str| {
        let t = t.trim();
        let t = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        crate::hex::parse_u32(t.as_bytes())
            .filter(|_| t.len() <= 2)
            .and_then(|v| u8::try_from(v).ok())
            .ok_or_else(not_pair)
    };
    match (a.split_once('/'), b.split_once('/')) {
        (None, None) => Ok((parse_can_id(a)?, parse_can_id(b)?, Addressing::Normal)),
        (Some((a, target)), Some((b, source))) => Ok((
            parse_can_id(a)?,
            parse_can_id(b)?,
            Addressing::Extended {
                target: byte(target)?,
                source: byte(source)?,
            },
        )),
        _ => Err(not_pair()),
    }
}

/// How one followed id is read.
#[derive(Debug, Clone, Copy)]
struct Role {
    dir: Dir,
    /// `None`: OBD-II or UDS by service id.
    protocol: Option<Protocol>,
    /// GMLAN UUDT answers: single CAN frames without ISO-TP framing.
    uudt: bool,
}

impl Role {
    fn new(dir: Dir, protocol: Option<Protocol>) -> Role {
        Role {
            dir,
            protocol,
            uudt: false,
        }
    }

    fn uudt() -> Role {
        Role {
            dir: Dir::Response,
            protocol: Some(Protocol::Gmlan),
            uudt: true,
        }
    }
}

/// The followed ids and what they carry.
struct Plan {
    roles: Vec<(CanId, Role)>,
    /// The followed pairs (request, response) that are not normally
    /// addressed, with their addressing.
    addressed: Vec<(CanId, CanId, Addressing)>,
    /// Without `--pair` / `--profile`: the conversations found.
    found: Option<Vec<Conversation>>,
}

impl Plan {
    fn new(args: &DecodeArgs) -> CliResult<Plan> {
        if args.pairs.is_empty() && args.profile.is_none() {
            return Plan::discover(args);
        }
        let mut roles = Vec::new();
        let mut add = |id: CanId, role: Role| -> Result<(), CliError> {
            if roles.iter().any(|(i, _)| *i == id) {
                return Err(CliError::DuplicateId { id: id.to_string() });
            }
            roles.push((id, role));
            Ok(())
        };
        let mut pairs = args.pairs.clone();
        let mut pair_protocol = args.protocol;
        if let Some(name) = &args.profile {
            let profile = crate::profile::load(name)?;
            let Some(bcm) = profile.bcm() else {
                return Err(CliError::NoBodyModule {
                    command: "capture decode",
                    profile: profile.id.clone(),
                });
            };
            pairs.push((bcm.request_id, bcm.response_id, bcm.addressing.into()));
            pair_protocol = pair_protocol.or(Some(bcm.protocol));
        }
        let protocol = Some(pair_protocol.unwrap_or(Protocol::Uds));
        for &(req, resp, _) in &pairs {
            add(req, Role::new(Dir::Request, protocol))?;
            add(resp, Role::new(Dir::Response, protocol))?;
            // GMLAN modules also answer with UUDT frames on request + 0x300.
            if protocol == Some(Protocol::Gmlan) {
                if let Some(u) = crate::diag::gmlan::uudt_id(req) {
                    add(u, Role::uudt())?;
                }
            }
        }
        Ok(Plan {
            roles,
            addressed: pairs
                .into_iter()
                .filter(|p| p.2 != Addressing::Normal)
                .collect(),
            found: None,
        })
    }

    /// A first pass over the capture finds the conversations; every id
    /// found asks or answers (an id found both ways is left out by the
    /// finder).
    fn discover(args: &DecodeArgs) -> CliResult<Plan> {
        let path = &args.input.file;
        if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) && path.exists() {
            return Err(CliError::NotRereadable { path: path.clone() });
        }
        let mut reader = args.input.open()?;
        let mut finder = Finder::new();
        while let Some(frame) = reader.next_frame()? {
            finder.feed(&frame);
        }
        let found = finder.finish();
        let mut roles: Vec<(CanId, Role)> = Vec::new();
        let mut add = |id: CanId, role: Role| {
            if !roles.iter().any(|(i, _)| *i == id) {
                roles.push((id, role));
            }
        };
        let mut addressed = Vec::new();
        for c in &found {
            // A GMLAN pair is read as GMLAN, and its UUDT id followed too.
            let gmlan = c.relation == Some(crate::conversation::Relation::GmlanUsdt);
            let protocol = args.protocol.or(gmlan.then_some(Protocol::Gmlan));
            add(c.request, Role::new(Dir::Request, protocol));
            if gmlan {
                if let Some(u) = crate::diag::gmlan::uudt_id(c.request) {
                    add(u, Role::uudt());
                }
            }
            if let Some(r) = c.response {
                add(r, Role::new(Dir::Response, protocol));
                if let Some((target, Some(source))) = c.addresses {
                    addressed.push((c.request, r, Addressing::Extended { target, source }));
                }
            }
        }
        Ok(Plan {
            roles,
            addressed,
            found: Some(found),
        })
    }

    /// The addressing given for `id` (`--pair .../AE`, the profile's BCM);
    /// normal everywhere else.
    fn addressing(&self, id: CanId) -> Addressing {
        self.addressed
            .iter()
            .find(|(req, resp, _)| id == *req || id == *resp)
            .map_or(Addressing::Normal, |p| p.2)
    }

    /// Whether a message is the followed pair's: on an extended-addressed
    /// pair, requests start with the target byte and answers with the
    /// source byte; other sub-addresses on the same ids are other modules.
    fn is_followed(&self, m: &Reassembled) -> bool {
        match self
            .addressed
            .iter()
            .find(|(req, resp, _)| m.id == *req || m.id == *resp)
        {
            Some((req, _, a)) if m.id == *req => m.address == a.tx_address(),
            Some((_, _, a)) => m.address == a.rx_address(),
            None => true,
        }
    }

    fn role(&self, id: CanId) -> Option<Role> {
        self.roles.iter().find(|(i, _)| *i == id).map(|(_, r)| *r)
    }
}

/// OBD-II or UDS, from the service id, for the default ids.
fn guess_protocol(payload: &[u8], dir: Dir) -> Protocol {
    let sid = match dir {
        Dir::Response => Reply::parse(payload).map(Reply::sid),
        Dir::Request => payload.first().copied(),
    };
    if sid.is_some_and(obd::is_obd_service) {
        Protocol::Obd
    } else {
        Protocol::Uds
    }
}

/// One JSON line.
#[derive(Serialize, Debug)]
pub struct MessageLine {
    /// Seconds: time of the message's last frame.
    pub t: f64,
    /// The id that carried it, as candump prints it.
    pub id: String,
    pub dir: Dir,
    pub protocol: Protocol,
    pub payload: String,
    pub complete: bool,
    /// The length the first frame announced (differs from the payload's when
    /// the message was cut short).
    pub len: u32,
    pub frames: u32,
    pub kind: MessageKind,
    pub service: &'static str,
    pub sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nrc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nrc_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dtcs: Vec<DtcLine>,
    pub detail: String,
    pub malformed: bool,
}

#[derive(Serialize, Debug)]
pub struct DtcLine {
    pub code: String,
    pub status: String,
    pub description: String,
}

impl From<&crate::diag::dtc::DtcRecord> for DtcLine {
    fn from(r: &crate::diag::dtc::DtcRecord) -> DtcLine {
        DtcLine {
            code: r.dtc.to_string(),
            status: format!("{:02X}", r.status),
            description: r.dtc.description(),
        }
    }
}

fn line(m: &Reassembled, role: Role) -> MessageLine {
    if role.uudt {
        return uudt_line(m);
    }
    let protocol = role
        .protocol
        .unwrap_or_else(|| guess_protocol(&m.payload, role.dir));
    let mut d: Described = describe(protocol, &m.payload, role.dir);
    if !m.complete && d.malformed {
        // What is missing is the transport's doing, not the module's: the
        // bytes that came are not called malformed (`complete` and `len`
        // say what happened).
        d.malformed = false;
        d.detail.clear();
    }
    MessageLine {
        t: m.t_us as f64 / 1e6,
        id: m.id.to_string(),
        dir: role.dir,
        protocol,
        payload: encode_upper(&m.payload),
        complete: m.complete,
        len: m.expected_len,
        frames: m.frames,
        kind: d.kind,
        service: d.service,
        sid: format!("{:02X}", d.sid),
        nrc: d.nrc.map(|n| format!("{:02X}", n.code())),
        nrc_name: d.nrc.map(|n| n.name()),
        dtcs: d.dtcs.iter().map(DtcLine::from).collect(),
        detail: d.detail,
        malformed: d.malformed,
    }
}

/// One GMLAN UUDT frame as a message line.
fn uudt_line(m: &Reassembled) -> MessageLine {
    let (detail, dtc) = crate::diag::describe::describe_uudt(&m.payload);
    MessageLine {
        t: m.t_us as f64 / 1e6,
        id: m.id.to_string(),
        dir: Dir::Response,
        protocol: Protocol::Gmlan,
        payload: encode_upper(&m.payload),
        complete: true,
        len: u32::try_from(m.payload.len()).unwrap_or(u32::MAX),
        frames: 1,
        kind: MessageKind::Positive,
        service: "UUDT",
        sid: String::new(),
        nrc: None,
        nrc_name: None,
        dtcs: dtc.iter().map(DtcLine::from).collect(),
        detail,
        malformed: false,
    }
}

fn print_text(out: &mut impl Write, l: &MessageLine) -> io::Result<()> {
    let arrow = match l.dir {
        Dir::Request => "→",
        Dir::Response => "←",
    };
    let mut hex = String::with_capacity(l.payload.len() * 3 / 2);
    for (i, pair) in l.payload.as_bytes().chunks(2).enumerate() {
        if i > 0 {
            hex.push(' ');
        }
        hex.push_str(std::str::from_utf8(pair).unwrap_or("??"));
    }
    write!(out, "{:.6} {} {arrow} {hex}  {}", l.t, l.id, l.service)?;
    match l.kind {
        // The detail of a negative response is the NRC and its meaning.
        MessageKind::Negative => write!(out, " negative: {}", l.detail)?,
        MessageKind::Positive => write!(out, " positive")?,
        MessageKind::Request => {}
    }
    if l.kind != MessageKind::Negative && !l.detail.is_empty() {
        write!(out, " ({})", l.detail)?;
    }
    if !l.complete {
        write!(
            out,
            "  [incomplete: cut short after {} of {} bytes]",
            l.payload.len() / 2,
            l.len
        )?;
    }
    writeln!(out)?;
    for d in &l.dtcs {
        writeln!(
            out,
            "    {}  status {}  {}",
            d.code, d.status, d.description
        )?;
    }
    Ok(())
}

/// The JSON line of the conversations found, before the messages.
#[derive(Serialize, Debug)]
pub struct FoundLine {
    pub conversations: Vec<ConversationLine>,
}

#[derive(Serialize, Debug)]
pub struct ConversationLine {
    pub request: String,
    /// `null`: requests nobody answered.
    pub response: Option<String>,
    /// `request+8`, `request+0x20`, `normal-fixed`, `functional`, `observed`.
    pub relation: Option<&'static str>,
    pub requests: u32,
    /// Answers matched to a request on `request`.
    pub answers: u32,
    /// ISO-TP extended addressing: the address bytes of requests and
    /// answers (hex), absent with normal addressing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addresses: Option<[String; 2]>,
}

impl From<&Conversation> for ConversationLine {
    fn from(c: &Conversation) -> ConversationLine {
        ConversationLine {
            request: c.request.to_string(),
            response: c.response.map(|r| r.to_string()),
            relation: c.relation.map(|r| r.as_str()),
            requests: c.requests,
            answers: c.answers,
            addresses: c
                .addresses
                .and_then(|(q, r)| Some([format!("{q:02X}"), format!("{:02X}", r?)])),
        }
    }
}

fn print_found(out: &mut impl Write, found: &[Conversation], json: bool) -> CliResult<()> {
    if json {
        let line = FoundLine {
            conversations: found.iter().map(ConversationLine::from).collect(),
        };
        serde_json::to_writer(&mut *out, &line)?;
        writeln!(out)?;
        return Ok(());
    }
    if found.is_empty() {
        writeln!(
            out,
            "no diagnostic conversation found (give --pair REQ:RESP to follow ids anyway)"
        )?;
        return Ok(());
    }
    writeln!(out, "conversations found (--pair to choose others):")?;
    // One line per request id and relation: a functional request answered
    // by fifteen modules is one line.
    let mut rest = found;
    while let Some(first) = rest.first() {
        let n = rest
            .iter()
            .take_while(|c| c.request == first.request && c.relation == first.relation)
            .count();
        let (group, tail) = rest.split_at(n);
        rest = tail;
        let Some(relation) = first.relation else {
            writeln!(
                out,
                "  {} → nobody  {} requests, never answered",
                first.request, first.requests
            )?;
            continue;
        };
        let ids: Vec<String> = group
            .iter()
            .filter_map(Conversation::response_text)
            .collect();
        let answers: u32 = group.iter().map(|c| c.answers).sum();
        writeln!(
            out,
            "  {} → {}  {}{}: {} requests, {} answers matched",
            first.request_text(),
            ids.join(" "),
            relation.label(),
            if first.addresses.is_some() {
                ", extended addressing"
            } else {
                ""
            },
            first.requests,
            answers
        )?;
    }
    writeln!(out)?;
    Ok(())
}

/// Counts for the summary on stderr.
#[derive(Default)]
struct Tally {
    requests: u64,
    positive: u64,
    negative: u64,
    incomplete: u64,
}

pub fn run(args: &DecodeArgs) -> CliResult<u8> {
    let plan = Plan::new(args)?;
    let mut reader = args.input.open()?;
    let mut reasm = Reassembler::new();
    for (id, role) in &plan.roles {
        if !role.uudt {
            reasm.follow(*id, plan.addressing(*id));
        }
    }
    let uudt_ids: Vec<CanId> = plan
        .roles
        .iter()
        .filter(|(_, r)| r.uudt)
        .map(|(id, _)| *id)
        .collect();
    // Messages end when their last frame comes, or when something cuts
    // them short (possibly much later): collected and put in time order of
    // their last frame before printing. A stable sort keeps capture order
    // between equal timestamps.
    let mut messages: Vec<Reassembled> = Vec::new();
    let result = loop {
        match reader.next_frame() {
            Ok(Some(frame)) => {
                if frame.is_data() && uudt_ids.contains(&frame.id) {
                    messages.push(Reassembled {
                        id: frame.id,
                        t_us: frame.timestamp_us,
                        start_us: frame.timestamp_us,
                        payload: frame.data().to_vec(),
                        expected_len: 0,
                        complete: true,
                        frames: 1,
                        address: None,
                    });
                    continue;
                }
                messages.extend(reasm.feed(&frame));
                messages.extend(reasm.next_pending());
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    // Messages still open when the capture ended (or failed) are shown,
    // flagged incomplete, before any error.
    messages.extend(reasm.finish());
    messages.sort_by_key(|m| m.t_us);
    let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    if let Some(found) = &plan.found {
        print_found(&mut out, found, args.json)?;
    }
    let mut tally = Tally::default();
    for m in messages {
        let Some(role) = plan.role(m.id).filter(|_| plan.is_followed(&m)) else {
            continue;
        };
        let l = line(&m, role);
        match (l.complete, l.kind) {
            (false, _) => tally.incomplete += 1,
            (true, MessageKind::Request) => tally.requests += 1,
            (true, MessageKind::Positive) => tally.positive += 1,
            (true, MessageKind::Negative) => tally.negative += 1,
        }
        if args.json {
            serde_json::to_writer(&mut out, &l)?;
            writeln!(out)?;
        } else {
            print_text(&mut out, &l)?;
        }
    }
    out.flush()?;
    result?;
    super::input::warn_bad_lines(&reader);
    tracing::info!(
        "{} requests, {} positive and {} negative responses, {} incomplete",
        tally.requests,
        tally.positive,
        tally.negative,
        tally.incomplete
    );
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_values_are_the_one_enums_names() {
        assert_eq!(Protocol::value_variants(), &Protocol::ALL);
        for p in Protocol::ALL {
            assert_eq!(Protocol::from_str(p.as_str(), false), Ok(p));
            // JSON and profiles spell it the same way.
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
            let back: Protocol = serde_json::from_value(p.as_str().into()).unwrap();
            assert_eq!(back, p);
        }
    }

    #[test]
    fn ids_parse_as_candump_writes_them() {
        assert_eq!(parse_can_id("7E0"), Ok(CanId::Standard(0x7E0)));
        assert_eq!(parse_can_id("0x641"), Ok(CanId::Standard(0x641)));
        assert_eq!(parse_can_id("18DA10F1"), Ok(CanId::Extended(0x18DA_10F1)));
        assert_eq!(parse_can_id("00000641"), Ok(CanId::Extended(0x641)));
        assert_eq!(parse_can_id("800"), Ok(CanId::Extended(0x800)));
        assert!(parse_can_id("2000_0000").is_err());
        assert!(parse_can_id("").is_err());
        assert!(parse_pair("641").is_err());
        assert_eq!(
            parse_pair("641:651"),
            Ok((
                CanId::Standard(0x641),
                CanId::Standard(0x651),
                Addressing::Normal
            ))
        );
        assert_eq!(
            parse_pair("750/40:758/0x41"),
            Ok((
                CanId::Standard(0x750),
                CanId::Standard(0x758),
                Addressing::Extended {
                    target: 0x40,
                    source: 0x41
                }
            ))
        );
        for bad in [
            "750/40:758",
            "750:758/40",
            "750/140:758/40",
            "750/:758/40",
            "750/4G:758/40",
        ] {
            assert!(parse_pair(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_ids_name_obd_services_as_obd() {
        assert_eq!(guess_protocol(&[0x09, 0x02], Dir::Request), Protocol::Obd);
        assert_eq!(guess_protocol(&[0x49, 0x02], Dir::Response), Protocol::Obd);
        assert_eq!(
            guess_protocol(&[0x7F, 0x03, 0x11], Dir::Response),
            Protocol::Obd
        );
        assert_eq!(guess_protocol(&[0x22, 0xF1], Dir::Request), Protocol::Uds);
        assert_eq!(guess_protocol(&[0x50, 0x03], Dir::Response), Protocol::Uds);
        assert_eq!(guess_protocol(&[], Dir::Response), Protocol::Uds);
    }
}
