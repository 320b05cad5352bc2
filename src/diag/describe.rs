//! One diagnostic message in words, for capture analysis and logs: which
//! service, positive or negative, the NRC, the trouble codes it carries and a
//! compact detail (DID / LID, session type...).
//!
//! [`describe`] takes any bytes and never panics: a message that does not
//! parse is still described, with `malformed` set and a detail saying what
//! was wrong. It must NOT pair requests with responses (the caller knows the
//! conversation) nor judge what a code means for the trunk.

use std::fmt::Write as _;

use super::dtc::DtcRecord;
use super::{
    gmlan, kwp, obd, service_name, uds, DecodeError, Nrc, Protocol, Reader, NEGATIVE_RESPONSE_SID,
    SPRMIB,
};
use crate::hex::encode_upper;

/// Who sent the message: the tester (request) or the module (response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    Request,
    Response,
}

/// What kind of message it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Request,
    Positive,
    Negative,
}

/// A message in words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Described {
    pub protocol: Protocol,
    pub dir: Dir,
    pub kind: MessageKind,
    /// The request SID of the service (a positive response's SID minus 0x40;
    /// the SID a negative response names).
    pub sid: u8,
    /// The service's ISO name ("ReadDataByLocalIdentifier").
    pub service: &'static str,
    pub nrc: Option<Nrc>,
    pub dtcs: Vec<DtcRecord>,
    /// Compact detail: "LID 0x44 data 80 20", "session 0xC0", "malformed: ...".
    pub detail: String,
    pub malformed: bool,
}

impl Described {
    pub fn is_positive(&self) -> bool {
        self.kind == MessageKind::Positive
    }
    pub fn is_negative(&self) -> bool {
        self.kind == MessageKind::Negative
    }
}

/// Describes one reassembled payload.
pub fn describe(protocol: Protocol, payload: &[u8], dir: Dir) -> Described {
    let mut d = Described {
        protocol,
        dir,
        kind: match dir {
            Dir::Request => MessageKind::Request,
            Dir::Response => MessageKind::Positive,
        },
        sid: 0,
        service: "unknown service",
        nrc: None,
        dtcs: Vec::new(),
        detail: String::new(),
        malformed: false,
    };
    let Some(&first) = payload.first() else {
        d.malformed = true;
        d.detail = "malformed: empty message".into();
        return d;
    };
    let result = match dir {
        Dir::Request => {
            d.sid = first;
            d.service = service_name(protocol, first);
            request_detail(protocol, payload)
        }
        Dir::Response if first == NEGATIVE_RESPONSE_SID => {
            d.kind = MessageKind::Negative;
            match (payload.get(1), payload.get(2)) {
                (Some(&sid), Some(&code)) => {
                    d.sid = sid;
                    d.service = service_name(protocol, sid);
                    let nrc = Nrc::from(code);
                    d.nrc = Some(nrc);
                    let extra = payload.len() - 3;
                    let gm = (protocol == Protocol::Gmlan)
                        .then(|| gmlan::nrc_words(code))
                        .flatten();
                    match gm {
                        // GMLAN's device-control refusal may carry two
                        // more bytes (the limit exceeded).
                        Some((name, words)) if extra == 0 || sid == gmlan::DEVICE_CONTROL => {
                            Ok(format!("0x{code:02X} {name}: {words}"))
                        }
                        _ if extra == 0 => Ok(format!("{nrc}: {}", nrc.description())),
                        _ => Err(Malformed::AfterNrc { extra, nrc }),
                    }
                }
                (Some(&sid), None) => {
                    d.sid = sid;
                    d.service = service_name(protocol, sid);
                    Err(Malformed::NoNrc)
                }
                _ => Err(Malformed::NoSid),
            }
        }
        Dir::Response => match response_request_sid(protocol, first) {
            Some(sid) => {
                d.sid = sid;
                d.service = service_name(protocol, sid);
                response_detail(protocol, payload, &mut d.dtcs)
            }
            None => {
                d.sid = first;
                d.service = service_name(protocol, first);
                Err(Malformed::NotResponseSid(first))
            }
        },
    };
    match result {
        Ok(detail) => d.detail = detail,
        Err(what) => {
            d.malformed = true;
            d.detail = format!("malformed: {what}");
        }
    }
    d
}

/// The request SID a positive response SID answers.
fn response_request_sid(protocol: Protocol, sid: u8) -> Option<u8> {
    match protocol {
        Protocol::Obd => (0x41..=0x4F).contains(&sid).then(|| sid - 0x40),
        Protocol::Uds | Protocol::Kwp => {
            ((0x50..=0x7E).contains(&sid) || (0xC1..=0xC7).contains(&sid)).then(|| sid - 0x40)
        }
        Protocol::Gmlan => {
            let req = sid.wrapping_sub(0x40);
            (sid >= 0x40 && gmlan::is_service(req)).then_some(req)
        }
    }
}

/// Why a payload is described as malformed (the words after "malformed: ").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
enum Malformed {
    #[error("request too short for {0}")]
    RequestShort(&'static str),
    #[error("response too short for {0}")]
    ResponseShort(&'static str),
    #[error("DIDs are 2 bytes each, got {0} byte(s)")]
    DidLength(usize),
    #[error("{extra} byte(s) after the NRC {nrc}")]
    AfterNrc { extra: usize, nrc: Nrc },
    #[error("negative response without its NRC byte")]
    NoNrc,
    #[error("negative response without the rejected SID")]
    NoSid,
    #[error("0x{0:02X} is not a response SID")]
    NotResponseSid(u8),
    #[error("{0}")]
    Decode(#[from] DecodeError),
}

fn data_words(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        "no data".into()
    } else {
        format!("data {}", spaced(bytes))
    }
}

fn spaced(bytes: &[u8]) -> String {
    let hex = encode_upper(bytes);
    let mut out = String::with_capacity(hex.len() * 3 / 2);
    for (i, c) in hex.chars().enumerate() {
        if i > 0 && i % 2 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn uds_session_name(s: u8) -> &'static str {
    match s & !SPRMIB {
        0x01 => "defaultSession",
        0x02 => "programmingSession",
        0x03 => "extendedDiagnosticSession",
        0x04 => "safetySystemDiagnosticSession",
        _ => "manufacturer or reserved session",
    }
}

fn kwp_session_name(s: u8) -> &'static str {
    match s {
        0x81 => "standardDiagnosticSession",
        0x85 => "ecuProgrammingSession",
        0x86 => "ecuDevelopmentSession",
        0x87 => "ecuAdjustmentSession",
        0x89 => "manufacturer session (often extended diagnostics)",
        0xC0 => "manufacturer session (Nissan CONSULT)",
        0xDA => "manufacturer session (Nissan, opendbc firmware query)",
        _ => "manufacturer or reserved session",
    }
}

fn suppressed(sub: u8) -> &'static str {
    if sub & SPRMIB != 0 {
        ", positive response suppressed"
    } else {
        ""
    }
}

fn io_param_name(p: u8) -> &'static str {
    match p {
        0x00 => "returnControlToECU",
        0x01 => "resetToDefault",
        0x02 => "freezeCurrentState",
        0x03 => "shortTermAdjustment",
        _ => "unknown control parameter",
    }
}

fn request_detail(protocol: Protocol, p: &[u8]) -> Result<String, Malformed> {
    let mut r = Reader::new(p);
    let sid = r.u8().unwrap_or_default();
    match (protocol, sid) {
        (Protocol::Uds, 0x10) => {
            let s = r.u8().ok_or(Malformed::RequestShort("session type"))?;
            Ok(format!(
                "session 0x{:02X} ({}){}",
                s & !SPRMIB,
                uds_session_name(s),
                suppressed(s)
            ))
        }
        (Protocol::Uds, 0x11) => {
            let t = r.u8().ok_or(Malformed::RequestShort("reset type"))?;
            Ok(format!("reset type 0x{:02X}{}", t & !SPRMIB, suppressed(t)))
        }
        (Protocol::Uds, 0x14) => {
            let g = r.u24().ok_or(Malformed::RequestShort("3-byte DTC group"))?;
            Ok(format!("group 0x{g:06X}"))
        }
        (Protocol::Uds, 0x19) => {
            let sub = r.u8().ok_or(Malformed::RequestShort("report type"))?;
            match r.u8() {
                Some(mask) => Ok(format!("report 0x{sub:02X}, status mask 0x{mask:02X}")),
                None => Ok(format!("report 0x{sub:02X}")),
            }
        }
        (Protocol::Uds, 0x22) => id_list("DID", r.rest()),
        (Protocol::Uds | Protocol::Kwp, 0x27) => {
            r.u8().ok_or(Malformed::RequestShort("security level"))?;
            match uds::decode_security_access(p)? {
                uds::SecurityAccess::Seed { level, .. } => {
                    Ok(format!("requestSeed level 0x{level:02X}"))
                }
                uds::SecurityAccess::Key { level, key } => Ok(format!(
                    "sendKey level 0x{level:02X} ({} byte key)",
                    key.len()
                )),
            }
        }
        (Protocol::Uds, 0x2F) => {
            let did = r.u16().ok_or(Malformed::RequestShort("DID"))?;
            let param = r.u8().ok_or(Malformed::RequestShort("control parameter"))?;
            let mut s = format!("DID 0x{did:04X} {}", io_param_name(param));
            let rest = r.rest();
            if !rest.is_empty() {
                let _ = write!(s, " state {}", spaced(rest));
            }
            Ok(s)
        }
        (Protocol::Uds, 0x31) => {
            let t = r
                .u8()
                .ok_or(Malformed::RequestShort("routine control type"))?;
            let rid = r
                .u16()
                .ok_or(Malformed::RequestShort("routine identifier"))?;
            let what = match t & !SPRMIB {
                0x01 => "start",
                0x02 => "stop",
                0x03 => "requestResults",
                _ => "unknown control",
            };
            Ok(format!("{what} routine 0x{rid:04X}{}", suppressed(t)))
        }
        (Protocol::Uds, 0x3E) => {
            let s = r.u8().ok_or(Malformed::RequestShort("sub-function"))?;
            Ok(format!(
                "sub-function 0x{:02X}{}",
                s & !SPRMIB,
                suppressed(s)
            ))
        }
        (Protocol::Kwp, 0x10) => {
            let s = r.u8().ok_or(Malformed::RequestShort("session type"))?;
            Ok(format!("session 0x{s:02X} ({})", kwp_session_name(s)))
        }
        (Protocol::Kwp, 0x14) => {
            let g = r.u16().ok_or(Malformed::RequestShort("2-byte DTC group"))?;
            Ok(format!("group 0x{g:04X}"))
        }
        (Protocol::Kwp, 0x17) => {
            let c = r.u16().ok_or(Malformed::RequestShort("DTC"))?;
            Ok(format!("DTC {}", super::Dtc::new(c)))
        }
        (Protocol::Kwp, 0x18) => {
            let s = r.u8().ok_or(Malformed::RequestShort("status request"))?;
            let g = r.u16().ok_or(Malformed::RequestShort("2-byte DTC group"))?;
            Ok(format!("status request 0x{s:02X}, group 0x{g:04X}"))
        }
        (Protocol::Kwp, 0x1A) => {
            let o = r
                .u8()
                .ok_or(Malformed::RequestShort("identification option"))?;
            Ok(format!("identification option 0x{o:02X}"))
        }
        (Protocol::Kwp, 0x21) => {
            let l = r.u8().ok_or(Malformed::RequestShort("local identifier"))?;
            Ok(format!("LID 0x{l:02X}"))
        }
        (Protocol::Kwp, 0x30) => {
            let l = r.u8().ok_or(Malformed::RequestShort("local identifier"))?;
            let c = r.u8().ok_or(Malformed::RequestShort("control parameter"))?;
            Ok(
                format!("LID 0x{l:02X} control 0x{c:02X} state {}", spaced(r.rest()))
                    .trim_end()
                    .to_owned(),
            )
        }
        (Protocol::Kwp, 0x3E) => match r.u8() {
            Some(0x02) => Ok("response not required".into()),
            Some(b) => Ok(format!("sub-function 0x{b:02X}")),
            None => Ok(String::new()),
        },
        (Protocol::Obd, 0x01 | 0x02 | 0x09) => {
            let pid = r.u8().ok_or(Malformed::RequestShort("PID"))?;
            Ok(format!("PID 0x{pid:02X}"))
        }
        (Protocol::Gmlan, _) => gmlan_request_detail(sid, &mut r),
        _ => Ok(format!("{} byte(s) of parameters", r.remaining())),
    }
}

/// `DID 0xF190, 0xF18C`: a list of 2-byte identifiers (UDS DIDs, GMLAN
/// PIDs).
fn id_list(what: &str, ids: &[u8]) -> Result<String, Malformed> {
    if ids.is_empty() || !ids.len().is_multiple_of(2) {
        return Err(Malformed::DidLength(ids.len()));
    }
    let list: Vec<String> = ids
        .chunks_exact(2)
        .map(|c| format!("0x{:04X}", uds::be16(c)))
        .collect();
    Ok(format!("{what} {}", list.join(", ")))
}

fn gmlan_request_detail(sid: u8, r: &mut Reader<'_>) -> Result<String, Malformed> {
    match sid {
        0x10 => {
            let s = r.u8().ok_or(Malformed::RequestShort("sub-function"))?;
            let name = match s {
                0x02 => "disableAllDTCs",
                0x03 => "enableDTCsDuringDevCntrl",
                0x04 => "wakeUpLinks",
                _ => "unknown sub-function",
            };
            Ok(format!("sub-function 0x{s:02X} ({name})"))
        }
        0x1A | 0x3B => {
            let did = r.u8().ok_or(Malformed::RequestShort("data identifier"))?;
            Ok(format!("DID 0x{did:02X}"))
        }
        0x22 => id_list("PID", r.rest()),
        0x27 => {
            let level = r.u8().ok_or(Malformed::RequestShort("security level"))?;
            Ok(format!("level 0x{level:02X}"))
        }
        0xA9 => {
            let sub = r.u8().ok_or(Malformed::RequestShort("sub-function"))?;
            let name = match sub {
                0x80 => "readStatusOfDTCByDTCNumber",
                0x81 => "readStatusOfDTCByStatusMask",
                0x82 => "sendOnChangeDTCCount",
                _ => "unknown sub-function",
            };
            match r.u8() {
                Some(mask) => Ok(format!(
                    "{name}, status mask 0x{mask:02X} (answers as UUDT frames)"
                )),
                None => Ok(format!("{name} (answers as UUDT frames)")),
            }
        }
        0xAA => {
            let sub = r.u8().ok_or(Malformed::RequestShort("sub-function"))?;
            Ok(format!("rate 0x{sub:02X} packets {}", spaced(r.rest()))
                .trim_end()
                .to_owned())
        }
        0xAE => {
            let cpid = r.u8().ok_or(Malformed::RequestShort("CPID"))?;
            Ok(format!("CPID 0x{cpid:02X} control {}", spaced(r.rest()))
                .trim_end()
                .to_owned())
        }
        0x20 | 0x3E | 0x04 | 0x28 | 0xA2 => Ok(String::new()),
        _ => Ok(format!("{} byte(s) of parameters", r.remaining())),
    }
}

fn gmlan_response_detail(rsid: u8, r: &mut Reader<'_>) -> Result<String, Malformed> {
    match rsid {
        0x5A | 0x7B => {
            let did = r.u8().ok_or(Malformed::ResponseShort("data identifier"))?;
            Ok(format!("DID 0x{did:02X} {}", data_words(r.rest())))
        }
        0x62 => {
            let pid = r.u16().ok_or(Malformed::ResponseShort("PID"))?;
            Ok(format!("PID 0x{pid:04X} {}", data_words(r.rest())))
        }
        0x67 => {
            let level = r.u8().ok_or(Malformed::ResponseShort("security level"))?;
            Ok(format!("level 0x{level:02X} {}", data_words(r.rest())))
        }
        0xEE => {
            let cpid = r.u8().ok_or(Malformed::ResponseShort("CPID"))?;
            Ok(format!("CPID 0x{cpid:02X}"))
        }
        0xE2 => {
            let state = r.u8().ok_or(Malformed::ResponseShort("programmed state"))?;
            Ok(format!("programmed state 0x{state:02X}"))
        }
        _ => Ok(data_words(r.rest()).replace("no data", "")),
    }
}

/// One UUDT frame (GMLAN's single-frame answers on request id + 0x300):
/// the trouble code it carries, or what else it is.
pub fn describe_uudt(data: &[u8]) -> (String, Option<DtcRecord>) {
    match gmlan::parse_uudt(data) {
        Some(gmlan::Uudt::Dtc(rec)) => (
            format!(
                "UUDT trouble code {} status 0x{:02X} ({})",
                rec.dtc,
                rec.status,
                rec.dtc.description()
            ),
            Some(rec),
        ),
        Some(gmlan::Uudt::EndOfReport) => ("UUDT end of the trouble-code report".into(), None),
        Some(gmlan::Uudt::Packet { dpid }) => (
            format!(
                "UUDT packet 0x{dpid:02X} {}",
                data_words(data.get(1..).unwrap_or_default())
            ),
            None,
        ),
        None => (format!("UUDT {}", data_words(data)), None),
    }
}

fn response_detail(
    protocol: Protocol,
    p: &[u8],
    dtcs: &mut Vec<DtcRecord>,
) -> Result<String, Malformed> {
    let mut r = Reader::new(p);
    let rsid = r.u8().unwrap_or_default();
    let echo = p.get(1).copied().unwrap_or_default();
    // GMLAN's trouble codes come as UUDT frames (`describe_uudt`), not here.
    if protocol == Protocol::Gmlan {
        return gmlan_response_detail(rsid, &mut r);
    }
    match (protocol, rsid) {
        (Protocol::Uds, 0x50) => {
            let t = uds::parse_session_control(p, echo)?;
            Ok(format!(
                "session 0x{:02X} ({}), {}P2 {} ms, P2* {} ms",
                t.session,
                uds_session_name(t.session),
                if t.announced {
                    ""
                } else {
                    "no timing sent, the defaults apply: "
                },
                t.p2_ms,
                u32::from(t.p2_star_10ms) * 10
            ))
        }
        (Protocol::Uds, 0x51) => {
            let time = uds::parse_ecu_reset(p, echo)?;
            Ok(match time {
                Some(t) => format!("reset type 0x{echo:02X}, power down in {t} s"),
                None => format!("reset type 0x{echo:02X}"),
            })
        }
        (Protocol::Uds, 0x54) => uds::parse_clear_dtcs(p)
            .map(|()| "DTCs cleared".into())
            .map_err(Malformed::from),
        (Protocol::Uds, 0x59) => match echo {
            0x01 => {
                let c = uds::parse_dtc_count(p)?;
                Ok(format!(
                    "{} DTC(s) match, availability mask 0x{:02X}",
                    c.count, c.availability_mask
                ))
            }
            0x02 | 0x0A => {
                let rep = uds::parse_dtc_report(p, echo)?;
                *dtcs = rep.records;
                Ok(format!(
                    "report 0x{echo:02X}: {} DTC(s), availability mask 0x{:02X}",
                    dtcs.len(),
                    rep.availability_mask
                ))
            }
            _ => {
                if p.len() < 2 {
                    Err(Malformed::ResponseShort("report type"))
                } else {
                    Ok(format!("report 0x{echo:02X}, {} byte(s)", p.len() - 2))
                }
            }
        },
        (Protocol::Uds, 0x62) => {
            let did = r.u16().ok_or(Malformed::ResponseShort("DID"))?;
            // The record lengths of a multi-DID answer are not in the message;
            // without the request, everything after the first DID is its data.
            Ok(format!("DID 0x{did:04X} {}", data_words(r.rest())))
        }
        (Protocol::Uds | Protocol::Kwp, 0x67) => match uds::decode_security_access(p)? {
            uds::SecurityAccess::Seed { level, seed } => {
                Ok(format!("seed level 0x{level:02X} ({} bytes)", seed.len()))
            }
            uds::SecurityAccess::Key { level, .. } => {
                Ok(format!("key accepted, level 0x{level:02X}"))
            }
        },
        (Protocol::Uds, 0x6F) => {
            let did = r.u16().ok_or(Malformed::ResponseShort("DID"))?;
            let param = r
                .u8()
                .ok_or(Malformed::ResponseShort("control parameter"))?;
            Ok(format!(
                "DID 0x{did:04X} {} {}",
                io_param_name(param),
                data_words(r.rest())
            ))
        }
        (Protocol::Uds, 0x71) => {
            let t = r
                .u8()
                .ok_or(Malformed::ResponseShort("routine control type"))?;
            let rid = r
                .u16()
                .ok_or(Malformed::ResponseShort("routine identifier"))?;
            Ok(format!(
                "routine 0x{rid:04X} control 0x{t:02X} {}",
                data_words(r.rest())
            ))
        }
        (Protocol::Uds, 0x7E) => uds::parse_tester_present(p)
            .map(|()| String::new())
            .map_err(Malformed::from),
        (Protocol::Kwp, 0x50) => {
            let extra = kwp::parse_start_session(p, echo)?;
            let mut s = format!("session 0x{echo:02X} ({})", kwp_session_name(echo));
            if !extra.is_empty() {
                let _ = write!(s, ", {}", data_words(&extra));
            }
            Ok(s)
        }
        (Protocol::Kwp, 0x54) => {
            let g = r.u16().ok_or(Malformed::ResponseShort("DTC group"))?;
            kwp::parse_clear_dtcs(p, g)?;
            Ok(format!("group 0x{g:04X} cleared"))
        }
        (Protocol::Kwp, 0x57) => {
            let (recs, env) = kwp::parse_status_of_dtc(p)?;
            *dtcs = recs;
            Ok(format!(
                "{} DTC(s), {} byte(s) of environment data",
                dtcs.len(),
                env.len()
            ))
        }
        (Protocol::Kwp, 0x58) => {
            *dtcs = kwp::parse_dtcs_by_status(p)?;
            Ok(format!("{} DTC(s)", dtcs.len()))
        }
        (Protocol::Kwp, 0x5A) => {
            let data = kwp::parse_ecu_identification(p, echo)?;
            Ok(format!(
                "identification option 0x{echo:02X} {}",
                data_words(&data)
            ))
        }
        (Protocol::Kwp, 0x61) => {
            let data = kwp::parse_read_local_id(p, echo)?;
            Ok(format!("LID 0x{echo:02X} {}", data_words(&data)))
        }
        (Protocol::Kwp, 0x70) => {
            let ctrl = p.get(2).copied().unwrap_or_default();
            let resp = kwp::parse_io_control_local(p, echo, ctrl)?;
            Ok(format!(
                "LID 0x{:02X} control 0x{:02X} state {}",
                resp.lid,
                resp.control,
                spaced(&resp.state)
            )
            .trim_end()
            .to_owned())
        }
        (Protocol::Kwp, 0x7E) => kwp::parse_tester_present(p)
            .map(|()| String::new())
            .map_err(Malformed::from),
        (Protocol::Obd, 0x41) => {
            let data = obd::parse_current_data(p, echo)?;
            match echo {
                obd::PID_CONTROL_MODULE_VOLTAGE => {
                    let mv = obd::control_module_voltage_mv(&data)?;
                    Ok(format!(
                        "PID 0x42 control module voltage {}.{:03} V",
                        mv / 1000,
                        mv % 1000
                    ))
                }
                obd::PID_SUPPORTED_01_20 => {
                    let pids = obd::supported_pids(&data)?;
                    let list: Vec<String> = pids.iter().map(|p| format!("{p:02X}")).collect();
                    Ok(format!("PID 0x00 supported PIDs {}", list.join(" ")))
                }
                pid => Ok(format!("PID 0x{pid:02X} {}", data_words(&data))),
            }
        }
        (Protocol::Obd, 0x43 | 0x47 | 0x4A) => {
            let codes = obd::parse_dtcs(p, rsid - 0x40)?;
            // OBD-II carries no status byte; 0 stands for "none given".
            *dtcs = codes
                .into_iter()
                .map(|dtc| DtcRecord { dtc, status: 0 })
                .collect();
            Ok(format!("{} DTC(s)", dtcs.len()))
        }
        (Protocol::Obd, 0x49) if echo == obd::INFOTYPE_VIN => obd::parse_vin(p)
            .map(|vin| format!("VIN {vin}"))
            .map_err(Malformed::from),
        (Protocol::Obd, 0x49) => {
            let data = p.get(2..).unwrap_or_default();
            Ok(format!("info type 0x{echo:02X} {}", data_words(data)))
        }
        _ => Ok(data_words(p.get(1..).unwrap_or_default())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(protocol: Protocol, hex: &str, dir: Dir) -> Described {
        describe(protocol, &crate::hex::decode(hex).unwrap(), dir)
    }

    #[test]
    fn nissan_conversation() {
        let x = d(Protocol::Kwp, "21 44", Dir::Request);
        assert_eq!(
            (x.sid, x.service, x.kind),
            (0x21, "ReadDataByLocalIdentifier", MessageKind::Request)
        );
        assert_eq!(x.detail, "LID 0x44");
        let x = d(Protocol::Kwp, "61 44 80 20", Dir::Response);
        assert!(x.is_positive());
        assert_eq!(x.sid, 0x21);
        assert_eq!(x.detail, "LID 0x44 data 80 20");
        let x = d(Protocol::Kwp, "7F 21 80", Dir::Response);
        assert!(x.is_negative());
        assert_eq!(x.service, "ReadDataByLocalIdentifier");
        assert_eq!(
            x.nrc,
            Some(Nrc::ServiceNotSupportedInActiveDiagnosticSession)
        );
        let x = d(
            Protocol::Kwp,
            "58 03 A5 62 09 D0 00 08 D0 10 48",
            Dir::Response,
        );
        let codes: Vec<String> = x
            .dtcs
            .iter()
            .map(|r| format!("{} {:02X}", r.dtc, r.status))
            .collect();
        assert_eq!(codes, ["B2562 09", "U1000 08", "U1010 48"]);
        assert_eq!(
            d(Protocol::Kwp, "10 C0", Dir::Request).detail,
            "session 0xC0 (manufacturer session (Nissan CONSULT))"
        );
        assert_eq!(
            d(Protocol::Kwp, "30 26 00 01", Dir::Request).detail,
            "LID 0x26 control 0x00 state 01"
        );
        assert_eq!(
            d(Protocol::Kwp, "70 26 00 00", Dir::Response).detail,
            "LID 0x26 control 0x00 state 00"
        );
    }

    #[test]
    fn ford_conversation() {
        let x = d(Protocol::Uds, "59 02 FF F0 03 16 09", Dir::Response);
        assert_eq!(x.service, "ReadDTCInformation");
        assert_eq!(x.dtcs.len(), 1);
        assert_eq!(x.dtcs[0].dtc.to_string(), "U3003:16");
        assert_eq!(x.dtcs[0].status, 0x09);
        let x = d(Protocol::Uds, "50 03 00 32 01 F4", Dir::Response);
        assert_eq!(
            x.detail,
            "session 0x03 (extendedDiagnosticSession), P2 50 ms, P2* 5000 ms"
        );
        let x = d(Protocol::Uds, "50 03", Dir::Response);
        assert!(!x.malformed);
        assert_eq!(
            x.detail,
            "session 0x03 (extendedDiagnosticSession), no timing sent, the defaults apply: P2 50 ms, P2* 5000 ms"
        );
        assert_eq!(
            d(Protocol::Uds, "3E 80", Dir::Request).detail,
            "sub-function 0x00, positive response suppressed"
        );
        assert_eq!(
            d(Protocol::Uds, "22 D1 00 D1 02", Dir::Request).detail,
            "DID 0xD100, 0xD102"
        );
        assert_eq!(
            d(Protocol::Uds, "2F D1 03 03 01", Dir::Request).detail,
            "DID 0xD103 shortTermAdjustment state 01"
        );
        assert_eq!(
            d(Protocol::Uds, "27 01", Dir::Request).detail,
            "requestSeed level 0x01"
        );
        let x = d(Protocol::Uds, "7F 27 35", Dir::Response);
        assert_eq!((x.sid, x.nrc), (0x27, Some(Nrc::InvalidKey)));
    }

    #[test]
    fn obd_messages() {
        assert_eq!(
            d(Protocol::Obd, "41 42 31 2D", Dir::Response).detail,
            "PID 0x42 control module voltage 12.589 V"
        );
        let x = d(Protocol::Obd, "43 01 01 33", Dir::Response);
        assert_eq!(x.dtcs[0].dtc.to_string(), "P0133");
        let mut vin = crate::hex::decode("49 02 01").unwrap();
        vin.extend(b"1N4AL3AP8DC123456");
        assert_eq!(
            describe(Protocol::Obd, &vin, Dir::Response).detail,
            "VIN 1N4AL3AP8DC123456"
        );
    }

    #[test]
    fn malformed_messages_say_what() {
        for (p, hex, dir, what) in [
            (
                Protocol::Kwp,
                "58 02 A5 62 09",
                Dir::Response,
                "announced DTC records",
            ),
            (Protocol::Uds, "59 02 FF F0 03", Dir::Response, "4 bytes"),
            (Protocol::Uds, "50 03 00", Dir::Response, "P2server_max"),
            (Protocol::Uds, "22 D1", Dir::Request, "DIDs are 2 bytes"),
            (Protocol::Uds, "7F 22", Dir::Response, "NRC"),
            (Protocol::Kwp, "21", Dir::Request, "local identifier"),
            (
                Protocol::Uds,
                "22 D1 00",
                Dir::Response,
                "not a response SID",
            ),
        ] {
            let x = d(p, hex, dir);
            assert!(x.malformed, "{hex}");
            assert!(
                x.detail.starts_with("malformed: ") && x.detail.contains(what),
                "{hex}: {}",
                x.detail
            );
        }
        let x = describe(Protocol::Uds, &[], Dir::Response);
        assert!(x.malformed);
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..48), p in 0u8..3, resp: bool) {
            let protocol = [Protocol::Uds, Protocol::Kwp, Protocol::Obd][usize::from(p)];
            let dir = if resp { Dir::Response } else { Dir::Request };
            let x = describe(protocol, &bytes, dir);
            prop_assert_eq!(x.malformed, x.detail.starts_with("malformed: "));
        }

        #[test]
        fn response_sid_maps_back(sid in 0x10u8..=0x3E, body in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut bytes = vec![sid + 0x40];
            bytes.extend(body);
            let x = describe(Protocol::Uds, &bytes, Dir::Response);
            prop_assert_eq!(x.sid, sid);
        }
    }
}
