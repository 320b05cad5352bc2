//! Diagnostic protocols at the message level: UDS (ISO 14229), KWP2000 on
//! CAN (ISO 14230-3), OBD-II (SAE J1979), their negative response codes and
//! trouble codes, a describer for capture analysis, what a request does to
//! the module (`safety`: read, a change of one class, or refused), and a sans-IO client
//! that applies the P2 / P2* / S3 timing rules.
//!
//! Everything here works on reassembled ISO-TP payloads (`&[u8]` in,
//! `Vec<u8>` out). This module must NOT know about ISO-TP framing, CAN ids
//! (beyond which ids are diagnostic, [`ids`], and the OBD-II ones in
//! [`obd`]), sockets, tokio, clocks,
//! profiles or verdicts: callers pass `now_us` and interpret the results.
//!
//! The codecs are pure functions in the style of python-udsoncan's
//! `make_request` / `interpret_response`: a builder returns the exact request
//! bytes and a parser checks the response SID, the echo and the length and
//! returns typed data or a [`DecodeError`] that names what was expected.

pub mod client;
pub mod describe;
pub mod dtc;
pub mod gmlan;
pub mod ids;
pub mod kwp;
pub mod nrc;
pub mod obd;
pub mod safety;
pub mod uds;

pub use client::{Client, ClientConfig, ClientError, ClientEvent, RequestId, Timing};
pub use describe::{describe, Described, Dir};
pub use dtc::{Dtc, DtcRecord};
pub use nrc::Nrc;

/// The diagnostic protocol a payload belongs to; the same SID means different
/// things in UDS and KWP2000 (0x30, 0x31, session types...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Uds,
    Kwp,
    Obd,
    /// GM's GMLAN diagnostics (USDT on ISO-TP, UUDT single frames).
    Gmlan,
}

impl Protocol {
    /// Every protocol, in the order the CLI offers them.
    pub const ALL: [Protocol; 4] = [Protocol::Uds, Protocol::Kwp, Protocol::Obd, Protocol::Gmlan];

    /// The name in profiles, JSON and arguments (`uds`, `kwp`, `obd`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Uds => "uds",
            Protocol::Kwp => "kwp",
            Protocol::Obd => "obd",
            Protocol::Gmlan => "gmlan",
        }
    }

    /// The standard's name for a person (`UDS`, `KWP2000`, `OBD-II`).
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Uds => "UDS",
            Protocol::Kwp => "KWP2000",
            Protocol::Obd => "OBD-II",
            Protocol::Gmlan => "GMLAN",
        }
    }
}

/// The SID of a negative response.
pub const NEGATIVE_RESPONSE_SID: u8 = 0x7F;
/// Positive response SID = request SID + this.
pub const POSITIVE_OFFSET: u8 = 0x40;
/// Suppress-positive-response bit of a UDS sub-function byte.
pub const SPRMIB: u8 = 0x80;

/// What a module's answer is at the service level: the one reading of
/// `7F <sid> <nrc>`, responsePending and `SID + 0x40` for every caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// A positive response to the request SID `sid`.
    Positive { sid: u8 },
    /// A negative response (`7F sid nrc`) with any code but responsePending.
    Negative { sid: u8, nrc: Nrc },
    /// `7F sid 78`: the answer comes later, within P2*.
    Pending { sid: u8 },
}

impl Reply {
    /// Reads a whole response payload; `None` for an empty one or a
    /// negative response cut short before its code.
    pub fn parse(payload: &[u8]) -> Option<Reply> {
        let (&first, rest) = payload.split_first()?;
        if first != NEGATIVE_RESPONSE_SID {
            return Some(Reply::Positive {
                sid: first.wrapping_sub(POSITIVE_OFFSET),
            });
        }
        let (&sid, &code) = (rest.first()?, rest.get(1)?);
        Some(match Nrc::from(code) {
            Nrc::ResponsePending => Reply::Pending { sid },
            nrc => Reply::Negative { sid, nrc },
        })
    }

    /// The request SID this reply is about.
    pub fn sid(self) -> u8 {
        match self {
            Reply::Positive { sid } | Reply::Negative { sid, .. } | Reply::Pending { sid } => sid,
        }
    }

    /// True for a positive answer to a request starting with `sid`.
    pub fn is_positive_to(self, sid: u8) -> bool {
        self == Reply::Positive { sid }
    }
}

/// Whether `sid` is a request service some diagnostic protocol defines:
/// OBD-II modes 0x01–0x0A, the UDS / KWP2000 services 0x10–0x3E and
/// 0x83–0x88, GMLAN's 0xA2, 0xA5, 0xA9, 0xAA and 0xAE. What a passive reader asks of a message before calling it a
/// request.
pub fn is_request_sid(sid: u8) -> bool {
    matches!(
        sid,
        0x01..=0x0A | 0x10..=0x3E | 0x83..=0x88 | 0xA2 | 0xA5 | 0xA9 | 0xAA | 0xAE
    )
}

/// The request SID a message answers, read from its first bytes and its
/// whole length: `sid + 0x40` or `7F sid <nrc>` for a request service
/// [`is_request_sid`] knows; `None` for anything else.
pub fn answered_sid(head: &[u8], len: u32) -> Option<u8> {
    let (&first, rest) = head.split_first()?;
    let sid = if first == NEGATIVE_RESPONSE_SID {
        if len < 3 {
            return None;
        }
        *rest.first()?
    } else {
        first.checked_sub(POSITIVE_OFFSET)?
    };
    is_request_sid(sid).then_some(sid)
}

/// The negative response `7F <sid> <nrc>`.
pub fn negative(sid: u8, nrc: Nrc) -> Vec<u8> {
    vec![NEGATIVE_RESPONSE_SID, sid, nrc.code()]
}

/// Why a diagnostic message could not be decoded. One enum for the codec
/// layer (UDS, KWP, OBD and trouble codes); the client has its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("{service}: empty response, expected at least the response SID")]
    Empty { service: &'static str },
    #[error("{service}: response too short for {what}: expected {expected} bytes, got {got}")]
    Truncated {
        service: &'static str,
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{service}: expected response SID 0x{expected:02X}, got 0x{got:02X}")]
    UnexpectedSid {
        service: &'static str,
        expected: u8,
        got: u8,
    },
    #[error("{service}: response echoes {what} 0x{got:X}, expected 0x{expected:X}")]
    WrongEcho {
        service: &'static str,
        what: &'static str,
        expected: u32,
        got: u32,
    },
    #[error("{service}: negative response {nrc}")]
    Negative { service: &'static str, nrc: Nrc },
    #[error("{service}: {extra} unexpected byte(s) after {what}")]
    TrailingBytes {
        service: &'static str,
        what: &'static str,
        extra: usize,
    },
    #[error("ReadDataByIdentifier: length of DID 0x{did:04X} unknown, cannot split a multi-DID response")]
    UnknownDidLength { did: u16 },
    #[error("{service}: {what}")]
    Invalid { service: &'static str, what: String },
    #[error("invalid trouble code {text:?}: expected {expected}")]
    BadDtcText {
        text: String,
        expected: &'static str,
    },
}

/// A bounds-checked cursor over untrusted bytes: every read returns `None`
/// past the end, so parsers never index.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.bytes.split_at_checked(n)?;
        self.bytes = tail;
        Some(head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (&b, tail) = self.bytes.split_first()?;
        self.bytes = tail;
        Some(b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }

    pub(crate) fn u24(&mut self) -> Option<u32> {
        let b = self.take(3)?;
        Some(u32::from_be_bytes([0, *b.first()?, *b.get(1)?, *b.get(2)?]))
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }
}

/// The ISO name of a service (request SID), per protocol. Unknown SIDs give
/// "unknown service".
/// True for a request the module answers only when it fails: UDS with the
/// suppress-positive-response bit, KWP `3E 02`; OBD-II always answers.
pub fn no_response_expected(protocol: Protocol, request: &[u8]) -> bool {
    match protocol {
        Protocol::Uds => uds::suppresses_positive_response(request),
        Protocol::Kwp => kwp::response_not_required(request),
        Protocol::Obd => false,
        // Its positive answer comes as UUDT frames, not on the USDT id.
        Protocol::Gmlan => gmlan::answer_is_uudt(request),
    }
}

pub fn service_name(protocol: Protocol, sid: u8) -> &'static str {
    match protocol {
        Protocol::Uds => uds::service_name(sid),
        Protocol::Kwp => kwp::service_name(sid),
        Protocol::Obd => obd::service_name(sid),
        Protocol::Gmlan => gmlan::service_name(sid),
    }
}

/// The response to a request: checks that `resp` is a positive response to
/// `req_sid` and returns the bytes after the response SID. A negative
/// response becomes [`DecodeError::Negative`].
pub(crate) fn positive_body<'a>(
    service: &'static str,
    req_sid: u8,
    resp: &'a [u8],
) -> Result<Reader<'a>, DecodeError> {
    let mut r = Reader::new(resp);
    let sid = r.u8().ok_or(DecodeError::Empty { service })?;
    if sid == NEGATIVE_RESPONSE_SID {
        let echoed = r.u8();
        let code = r.u8();
        return match (echoed, code) {
            (Some(e), Some(code)) if e == req_sid => Err(DecodeError::Negative {
                service,
                nrc: Nrc::from(code),
            }),
            (Some(e), Some(_)) => Err(DecodeError::WrongEcho {
                service,
                what: "negative response SID",
                expected: u32::from(req_sid),
                got: u32::from(e),
            }),
            _ => Err(DecodeError::Truncated {
                service,
                what: "negative response (7F <sid> <nrc>)",
                expected: 3,
                got: resp.len(),
            }),
        };
    }
    let expected = req_sid.wrapping_add(POSITIVE_OFFSET);
    if sid != expected {
        return Err(DecodeError::UnexpectedSid {
            service,
            expected,
            got: sid,
        });
    }
    Ok(r)
}

/// Reads `n` bytes or reports which part of the response was missing.
pub(crate) fn need<'a>(
    r: &mut Reader<'a>,
    n: usize,
    service: &'static str,
    what: &'static str,
    total: usize,
) -> Result<&'a [u8], DecodeError> {
    let have = r.remaining();
    r.take(n).ok_or(DecodeError::Truncated {
        service,
        what,
        expected: total.saturating_sub(have).saturating_add(n),
        got: total,
    })
}

/// Checks that nothing is left after the last field.
pub(crate) fn finish(
    r: &Reader<'_>,
    service: &'static str,
    what: &'static str,
) -> Result<(), DecodeError> {
    match r.remaining() {
        0 => Ok(()),
        extra => Err(DecodeError::TrailingBytes {
            service,
            what,
            extra,
        }),
    }
}
