//! The diagnostic client as a sans-IO state machine: requests and responses
//! (reassembled ISO-TP payloads) and `now_us` go in; requests to send, the
//! next deadline and events come out. It owns the timing rules of ISO 14229-2
//! / ISO 14230-2 (P2, P2*, responsePending, busyRepeatRequest, S3 keep-alive,
//! suppress-positive-response) and remembers what must be handed back when
//! the run ends ([`Client::restore_requests`]).
//!
//! It must NOT know about ISO-TP, CAN ids, sockets, tokio or the clock: the
//! driver calls, after every input, in this order:
//! 1. [`Client::poll_transmit`] until `None` (send each, then call
//!    [`Client::handle_sent`] when the transport confirms it left),
//! 2. [`Client::poll_event`] until `None`,
//! 3. [`Client::poll_timeout`] and calls [`Client::handle_timeout`] at
//!    that time unless another input comes first.
//!
//! Only one request is outstanding at a time (diagnostic servers answer one
//! request at a time; a second one would be rejected or lost).

use std::collections::VecDeque;
use std::fmt;

use super::{
    gmlan, kwp, service_name, uds, Nrc, Protocol, NEGATIVE_RESPONSE_SID, POSITIVE_OFFSET, SPRMIB,
};
use crate::hex::encode_upper;

/// Identifies one request in the events that answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How a KWP2000 module is told to hand an output back (per profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KwpIoRestore {
    /// Nissan: `30 <lid> <ctrl> <state>`; a non-zero state takes the output,
    /// the same lid and control byte with an all-zero state returns it
    /// (`30 26 00 01` / `30 26 00 00`).
    ZeroState,
    /// ISO 14230-3: any control parameter but 0x00 takes the output,
    /// `30 <lid> 00` (returnControlToECU) returns it.
    ReturnControlParameter,
}

/// The answer deadlines a tester applies: P2 for the first answer, P2*
/// after each responsePending. The one definition for the client and the
/// analyzer that pairs requests with replies in a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub p2_us: u64,
    pub p2_star_us: u64,
}

impl Timing {
    /// Until a module announces its own: UDS server defaults (P2 50 ms,
    /// P2* 5 s) plus transport margin; KWP on CAN behaves alike.
    pub const DEFAULT: Timing = Timing {
        p2_us: 150_000,
        p2_star_us: 5_000_000,
    };
    /// Added to the P2 / P2* a module announces, for the transport.
    pub const MARGIN_US: u64 = 50_000;

    /// The timing a UDS session-control answer announces
    /// (`50 <session> <P2 hi lo> <P2* hi lo>`), plus [`MARGIN_US`](Self::MARGIN_US);
    /// `None` for an answer without timing bytes (`50 03`) or with zeros.
    pub fn announced(session_answer: &[u8]) -> Option<Timing> {
        let session = *session_answer.get(1)?;
        let t = uds::parse_session_control(session_answer, session).ok()?;
        (t.announced && t.p2_ms > 0 && t.p2_star_10ms > 0).then(|| Timing {
            p2_us: t.p2_us().saturating_add(Self::MARGIN_US),
            p2_star_us: t.p2_star_us().saturating_add(Self::MARGIN_US),
        })
    }
}

/// Timing and retry policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub protocol: Protocol,
    /// How long to wait for the first answer after the request left
    /// (server P2 plus transport margin).
    pub p2_us: u64,
    /// How long to wait after each responsePending (0x78).
    pub p2_star_us: u64,
    /// How many times a busyRepeatRequest (0x21) is answered by a resend.
    pub busy_retries: u8,
    /// Wait before resending after busyRepeatRequest.
    pub busy_delay_us: u64,
    /// Keep-alive period while a session is held; `None`: never.
    pub s3_keepalive_us: Option<u64>,
    /// The keep-alive request: `3E 80` (UDS, no answer) or `3E 01` (KWP).
    pub keepalive: Vec<u8>,
    /// Cap on consecutive responsePending answers to one request.
    pub max_pending: u32,
    /// How KWP I/O controls are returned (ignored for UDS).
    pub kwp_io_restore: KwpIoRestore,
}

impl ClientConfig {
    /// UDS: 150 ms P2 (50 ms server default plus transport margin), 5 s P2*,
    /// `3E 80` every 2 s.
    /// The defaults of [`uds`](Self::uds), [`kwp`](Self::kwp) or
    /// [`obd`](Self::obd).
    pub fn for_protocol(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Uds => Self::uds(),
            Protocol::Kwp => Self::kwp(),
            Protocol::Obd => Self::obd(),
            Protocol::Gmlan => Self::gmlan(),
        }
    }

    pub fn uds() -> Self {
        ClientConfig {
            protocol: Protocol::Uds,
            p2_us: Timing::DEFAULT.p2_us,
            p2_star_us: Timing::DEFAULT.p2_star_us,
            busy_retries: 3,
            busy_delay_us: 100_000,
            s3_keepalive_us: Some(2_000_000),
            keepalive: uds::tester_present(true),
            max_pending: 10,
            kwp_io_restore: KwpIoRestore::ReturnControlParameter,
        }
    }

    /// KWP2000 on CAN as the Nissan BCM speaks it: `3E 01` (answered) every
    /// 2 s, I/O controls returned with a zero state.
    pub fn kwp() -> Self {
        ClientConfig {
            protocol: Protocol::Kwp,
            keepalive: kwp::tester_present(true),
            kwp_io_restore: KwpIoRestore::ZeroState,
            ..ClientConfig::uds()
        }
    }

    /// GMLAN: `3E` (answered `7E`) every 2 s while an output is held, so
    /// the module does not end device control on its own (GMW3110's S3 is
    /// 5 s).
    pub fn gmlan() -> Self {
        ClientConfig {
            protocol: Protocol::Gmlan,
            keepalive: vec![0x3E],
            ..ClientConfig::uds()
        }
    }

    /// OBD-II: no sessions, no keep-alive.
    pub fn obd() -> Self {
        ClientConfig {
            protocol: Protocol::Obd,
            s3_keepalive_us: None,
            keepalive: Vec::new(),
            ..ClientConfig::uds()
        }
    }
}

/// Why a request failed. Messages name the service and what happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("{service} (0x{sid:02X}) is still outstanding: one request at a time")]
    Busy { service: &'static str, sid: u8 },
    #[error("empty request: expected at least a service id")]
    EmptyRequest,
    #[error("{service} (0x{sid:02X}): no response within {} ms", elapsed_us / 1000)]
    Timeout {
        service: &'static str,
        sid: u8,
        elapsed_us: u64,
    },
    /// The answer started but was cut short (real ECUs stop after a first
    /// frame, or a frame is lost): what came is not an answer to read.
    #[error("{service} (0x{sid:02X}): the answer was cut short after {received} of {len} bytes")]
    Incomplete {
        service: &'static str,
        sid: u8,
        received: u32,
        len: u32,
    },
    #[error("{service} (0x{sid:02X}): the transport did not confirm the request left within {} ms", elapsed_us / 1000)]
    NotSent {
        service: &'static str,
        sid: u8,
        elapsed_us: u64,
    },
    #[error("{service} (0x{sid:02X}): responsePending storm: {count} × NRC 0x78, more than the {max} allowed")]
    PendingStorm {
        service: &'static str,
        sid: u8,
        count: u32,
        max: u32,
    },
    #[error("{service} (0x{sid:02X}): still busyRepeatRequest (NRC 0x21) after {retries} retries")]
    BusyRetriesExhausted {
        service: &'static str,
        sid: u8,
        retries: u8,
    },
    #[error(
        "{service} (0x{sid:02X}): wrong echo in response {got}: expected it to start {expected}"
    )]
    WrongEcho {
        service: &'static str,
        sid: u8,
        expected: String,
        got: String,
    },
    #[error("{service} (0x{sid:02X}): malformed response {payload}: expected {expected}")]
    Malformed {
        service: &'static str,
        sid: u8,
        payload: String,
        expected: &'static str,
    },
    #[error("{service} (0x{sid:02X}): negative response {nrc}")]
    Negative {
        service: &'static str,
        sid: u8,
        nrc: Nrc,
    },
}

/// What happened to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A positive response (SID and echo checked).
    Response {
        id: RequestId,
        payload: Vec<u8>,
    },
    /// A request with the suppress-positive-response bit drew no negative
    /// response within P2: it succeeded.
    Suppressed {
        id: RequestId,
    },
    /// A negative response other than responsePending / busyRepeatRequest
    /// (those are handled here).
    Negative {
        id: RequestId,
        nrc: Nrc,
        payload: Vec<u8>,
    },
    Failed {
        id: RequestId,
        error: ClientError,
    },
    /// A keep-alive was refused or not answered: the session may be lost.
    KeepAliveFailed {
        error: ClientError,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the driver to take it with `poll_transmit`.
    ToSend { queued_at: u64 },
    /// Handed out; waiting for `handle_sent` (deadline is a safety net).
    Sending { deadline: u64 },
    /// Sent; waiting for an answer until `deadline` (P2 or P2*).
    Awaiting { deadline: u64 },
    /// Got busyRepeatRequest; resend at `until`.
    BusyWait { until: u64 },
}

#[derive(Debug, Clone)]
struct Outstanding {
    /// `None` for the client's own keep-alive.
    id: Option<RequestId>,
    req: Vec<u8>,
    sid: u8,
    suppress: bool,
    started_at: u64,
    sent_at: Option<u64>,
    pending: u32,
    busy: u8,
    phase: Phase,
}

/// An output the client has taken over and must hand back.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Control {
    Uds {
        did: u16,
    },
    Kwp {
        lid: u8,
        control: u8,
        state_len: usize,
    },
    /// GMLAN device control of one CPID; `20` hands every one back.
    Gmlan {
        cpid: u8,
    },
}

/// What a request does to the module's state, for [`Client::restore_requests`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Effect {
    None,
    Take(Control),
    Release(Control),
    Session(u8),
    LeaveSession,
    Reset,
}

/// The diagnostic client. See the module documentation for the driving order.
#[derive(Debug)]
pub struct Client {
    cfg: ClientConfig,
    next_id: u64,
    current: Option<Outstanding>,
    /// A user request accepted while the keep-alive was on the wire.
    queued: Option<Outstanding>,
    events: VecDeque<ClientEvent>,
    held: bool,
    /// End of the last exchange (request sent, or its answer or failure):
    /// the module restarts its S3 timer then, so keep-alives count from it.
    s3_base_us: Option<u64>,
    controls: Vec<Control>,
    session: Option<u8>,
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Self {
        Client {
            cfg,
            next_id: 1,
            current: None,
            queued: None,
            events: VecDeque::new(),
            held: false,
            s3_base_us: None,
            controls: Vec::new(),
            session: None,
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Starts a request. Fails with [`ClientError::Busy`] while another user
    /// request is outstanding.
    pub fn request(&mut self, now_us: u64, req: Vec<u8>) -> Result<RequestId, ClientError> {
        if req.is_empty() {
            return Err(ClientError::EmptyRequest);
        }
        for other in [&self.current, &self.queued].into_iter().flatten() {
            if other.id.is_some() {
                return Err(ClientError::Busy {
                    service: self.name(other.sid),
                    sid: other.sid,
                });
            }
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let out = self.outstanding(Some(id), req, now_us);
        match &self.current {
            // A keep-alive not yet handed out is redundant: any request
            // restarts the module's S3 timer.
            Some(ka) if matches!(ka.phase, Phase::ToSend { .. }) => self.current = Some(out),
            Some(_) => self.queued = Some(out),
            None => self.current = Some(out),
        }
        Ok(id)
    }

    fn outstanding(&self, id: Option<RequestId>, req: Vec<u8>, now_us: u64) -> Outstanding {
        let sid = req.first().copied().unwrap_or_default();
        let suppress = super::no_response_expected(self.cfg.protocol, &req);
        Outstanding {
            id,
            req,
            sid,
            suppress,
            started_at: now_us,
            sent_at: None,
            pending: 0,
            busy: 0,
            phase: Phase::ToSend { queued_at: now_us },
        }
    }

    /// The next request to put on the wire (a request, a resend after
    /// busyRepeatRequest, or a keep-alive).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let p2_star = self.cfg.p2_star_us;
        let cur = self.current.as_mut()?;
        match cur.phase {
            Phase::ToSend { queued_at } => {
                cur.phase = Phase::Sending {
                    deadline: queued_at.saturating_add(p2_star),
                };
                Some(cur.req.clone())
            }
            _ => None,
        }
    }

    /// The transport confirms the last request left: P2 starts now.
    pub fn handle_sent(&mut self, now_us: u64) {
        let p2 = self.cfg.p2_us;
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        if !matches!(cur.phase, Phase::Sending { .. }) {
            return;
        }
        self.s3_base_us = Some(now_us);
        cur.sent_at = Some(now_us);
        if cur.id.is_none() && cur.suppress {
            // A suppressed keep-alive has nothing to wait for; holding the
            // channel for P2 would only delay the user's next request.
            self.finish(now_us, None);
            return;
        }
        cur.phase = Phase::Awaiting {
            deadline: now_us.saturating_add(p2),
        };
    }

    /// A reassembled response from the module.
    pub fn handle_message(&mut self, now_us: u64, payload: &[u8]) {
        let Some(cur) = self.current.clone() else {
            tracing::debug!(payload = %encode_upper(payload), "diagnostic response with no request outstanding: ignored");
            return;
        };
        if !matches!(cur.phase, Phase::Awaiting { .. } | Phase::Sending { .. }) {
            tracing::debug!(payload = %encode_upper(payload), "diagnostic response while not waiting for one: ignored");
            return;
        }
        let sid = cur.sid;
        let service = self.name(sid);
        let Some(&first) = payload.first() else {
            tracing::debug!("empty diagnostic message: ignored");
            return;
        };
        if first == NEGATIVE_RESPONSE_SID {
            match (payload.get(1), payload.get(2)) {
                (Some(&s), Some(&code)) if s == sid => {
                    self.on_negative(now_us, Nrc::from(code), payload)
                }
                (Some(&s), None) if s == sid => {
                    let error = ClientError::Malformed {
                        service,
                        sid,
                        payload: encode_upper(payload),
                        expected: "7F <sid> <nrc>",
                    };
                    self.fail(now_us, error, true);
                }
                _ => {
                    tracing::debug!(payload = %encode_upper(payload), service, "negative response to another service: ignored")
                }
            }
            return;
        }
        if first != sid.wrapping_add(POSITIVE_OFFSET) {
            tracing::debug!(payload = %encode_upper(payload), service, "response to another service: ignored");
            return;
        }
        if self.late_answer_to_suppressed(&cur, payload) {
            tracing::debug!(payload = %encode_upper(payload), service, "late answer to an earlier request whose positive response was suppressed: ignored");
            return;
        }
        if let Err(error) = self.check_echo(&cur, payload) {
            self.fail(now_us, error, true);
            return;
        }
        self.apply(self.effect_of(&cur));
        let event = cur.id.map(|id| ClientEvent::Response {
            id,
            payload: payload.to_vec(),
        });
        self.finish(now_us, event);
    }

    /// The answer has started arriving and the transport will have it, or
    /// give up on it, by `until_us`: P2 ends with the first frame (ISO
    /// 14229-2), so the request waits for the transport instead of failing
    /// as silence while consecutive frames are still coming.
    pub fn transport_receiving(&mut self, until_us: u64) {
        if let Some(cur) = self.current.as_mut() {
            if let Phase::Awaiting { deadline } = cur.phase {
                // One microsecond past the transport's own deadline: the
                // transport reports first (an answer, or one cut short).
                cur.phase = Phase::Awaiting {
                    deadline: deadline.max(until_us.saturating_add(1)),
                };
            }
        }
    }

    /// The transport lost the answer part-way (`received` of `len` bytes
    /// came): the request ends now with [`ClientError::Incomplete`] instead
    /// of waiting out P2 and calling it silence. The module answered, so it
    /// may have acted.
    pub fn handle_incomplete(&mut self, now_us: u64, received: u32, len: u32) {
        let Some(cur) = self.current.as_ref() else {
            return;
        };
        if !matches!(cur.phase, Phase::Awaiting { .. } | Phase::Sending { .. }) {
            return;
        }
        let error = ClientError::Incomplete {
            service: self.name(cur.sid),
            sid: cur.sid,
            received,
            len,
        };
        self.fail(now_us, error, true);
    }

    fn on_negative(&mut self, now_us: u64, nrc: Nrc, payload: &[u8]) {
        let (max_pending, busy_retries, p2_star, busy_delay) = (
            self.cfg.max_pending,
            self.cfg.busy_retries,
            self.cfg.p2_star_us,
            self.cfg.busy_delay_us,
        );
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        let (sid, service) = (cur.sid, service_name(self.cfg.protocol, cur.sid));
        match nrc {
            Nrc::ResponsePending => {
                cur.pending += 1;
                if cur.pending > max_pending {
                    let count = cur.pending;
                    let error = ClientError::PendingStorm {
                        service,
                        sid,
                        count,
                        max: max_pending,
                    };
                    self.fail(now_us, error, true);
                } else {
                    cur.phase = Phase::Awaiting {
                        deadline: now_us.saturating_add(p2_star),
                    };
                }
            }
            Nrc::BusyRepeatRequest => {
                if cur.busy >= busy_retries {
                    let error = ClientError::BusyRetriesExhausted {
                        service,
                        sid,
                        retries: busy_retries,
                    };
                    // The module said it did not act: nothing was taken.
                    self.fail(now_us, error, false);
                } else {
                    cur.busy += 1;
                    cur.pending = 0;
                    cur.phase = Phase::BusyWait {
                        until: now_us.saturating_add(busy_delay),
                    };
                }
            }
            nrc => {
                let event = match cur.id {
                    Some(id) => ClientEvent::Negative {
                        id,
                        nrc,
                        payload: payload.to_vec(),
                    },
                    None => ClientEvent::KeepAliveFailed {
                        error: ClientError::Negative { service, sid, nrc },
                    },
                };
                self.finish(now_us, Some(event));
            }
        }
    }

    /// Real ECUs answer requests whose suppress-positive-response bit is set,
    /// echoing the bit (`10 90` → `50 90`). Such an answer is taken when it
    /// comes in time; one that comes after the request was settled (P2
    /// passed in silence) carries the bit the current request lacks, and is
    /// not this request's answer.
    fn late_answer_to_suppressed(&self, cur: &Outstanding, payload: &[u8]) -> bool {
        let masked = self.cfg.protocol == Protocol::Uds && uds::has_sprmib(cur.sid);
        let echoed = payload.get(1).copied().unwrap_or_default();
        let asked = cur.req.get(1).copied().unwrap_or_default();
        masked && echoed & SPRMIB != 0 && asked & SPRMIB == 0
    }

    /// Checks the identifier bytes a positive response must repeat: the
    /// sub-function (without SPRMIB), DID, LID or PID.
    fn check_echo(&self, cur: &Outstanding, payload: &[u8]) -> Result<(), ClientError> {
        let n = echo_len(self.cfg.protocol, cur.sid);
        let want = cur.req.get(1..).unwrap_or_default();
        let want = want.get(..n).unwrap_or(want);
        let service = self.name(cur.sid);
        let got = payload.get(1..).unwrap_or_default();
        let Some(got) = got.get(..want.len()) else {
            return Err(ClientError::Malformed {
                service,
                sid: cur.sid,
                payload: encode_upper(payload),
                expected: "the response SID followed by the request's identifier",
            });
        };
        let masked = self.cfg.protocol == Protocol::Uds && uds::has_sprmib(cur.sid);
        let same = want.iter().zip(got).enumerate().all(|(i, (w, g))| {
            if i == 0 && masked {
                w & !SPRMIB == g & !SPRMIB
            } else {
                w == g
            }
        });
        if same {
            Ok(())
        } else {
            let mut expected = vec![cur.sid.wrapping_add(POSITIVE_OFFSET)];
            expected.extend_from_slice(want);
            Err(ClientError::WrongEcho {
                service,
                sid: cur.sid,
                expected: encode_upper(&expected),
                got: encode_upper(payload),
            })
        }
    }

    /// Deadlines that passed by `now_us` take effect.
    pub fn handle_timeout(&mut self, now_us: u64) {
        let Some(cur) = self.current.clone() else {
            if self.keepalive_due().is_some_and(|due| now_us >= due) {
                let ka = self.outstanding(None, self.cfg.keepalive.clone(), now_us);
                self.current = Some(ka);
            }
            return;
        };
        let (sid, service) = (cur.sid, self.name(cur.sid));
        match cur.phase {
            Phase::Sending { deadline } if now_us >= deadline => {
                let error = ClientError::NotSent {
                    service,
                    sid,
                    elapsed_us: now_us.saturating_sub(cur.started_at),
                };
                self.fail(now_us, error, false);
            }
            Phase::Awaiting { deadline } if now_us >= deadline => {
                // After a responsePending the module owes a final answer even
                // to a suppressed request, so silence then is a failure.
                if cur.suppress && cur.pending == 0 {
                    self.apply(self.effect_of(&cur));
                    self.finish(now_us, cur.id.map(|id| ClientEvent::Suppressed { id }));
                } else {
                    let since = cur.sent_at.unwrap_or(cur.started_at);
                    let error = ClientError::Timeout {
                        service,
                        sid,
                        elapsed_us: now_us.saturating_sub(since),
                    };
                    self.fail(now_us, error, true);
                }
            }
            Phase::BusyWait { until } if now_us >= until => {
                if let Some(c) = self.current.as_mut() {
                    c.phase = Phase::ToSend { queued_at: now_us };
                }
            }
            _ => {}
        }
    }

    /// The next time `handle_timeout` must be called, if any.
    pub fn poll_timeout(&self) -> Option<u64> {
        match &self.current {
            Some(cur) => match cur.phase {
                Phase::ToSend { .. } => None,
                Phase::Sending { deadline } | Phase::Awaiting { deadline } => Some(deadline),
                Phase::BusyWait { until } => Some(until),
            },
            None => self.keepalive_due(),
        }
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// While true and idle, the keep-alive is sent S3 after the end of the
    /// last exchange (the request leaving when no answer is expected, else
    /// its answer or failure), as the module's own S3 timer runs.
    pub fn set_session_held(&mut self, held: bool) {
        self.held = held;
    }

    /// New P2 / P2* (for example from a UDS session response, plus margin).
    pub fn set_timing(&mut self, p2_us: u64, p2_star_us: u64) {
        self.cfg.p2_us = p2_us;
        self.cfg.p2_star_us = p2_star_us;
    }

    /// Whether a request (user or keep-alive) is in flight.
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.queued.is_none()
    }

    /// The non-default session the client opened, if it is still open.
    pub fn open_session(&self) -> Option<u8> {
        self.session
    }

    /// What must be sent, in order, to hand back every output the client
    /// took over (most recent first) and to leave the session it opened.
    /// Empty when nothing is held.
    pub fn restore_requests(&self) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        for c in self.controls.iter().rev() {
            let r = self.return_request(c);
            // GMLAN's one `20` hands back every CPID: send it once.
            if !out.contains(&r) {
                out.push(r);
            }
        }
        if self.session.is_some() {
            let leave = match self.cfg.protocol {
                Protocol::Kwp => kwp::start_session(kwp::session::STANDARD),
                Protocol::Uds | Protocol::Obd => uds::session_control(uds::session::DEFAULT, false),
                // GMLAN has no sessions to leave: `20` ends every mode.
                Protocol::Gmlan => gmlan::return_to_normal(),
            };
            if !out.contains(&leave) {
                out.push(leave);
            }
        }
        out
    }

    /// The request that hands back the output `req` takes over, when the
    /// client holds it (after the module may have acted on `req`).
    pub fn return_request_of(&self, req: &[u8]) -> Option<Vec<u8>> {
        let Effect::Take(c) = self.effect_of_request(req) else {
            return None;
        };
        let key = control_key(&c);
        self.controls
            .iter()
            .find(|x| control_key(x) == key)
            .map(|c| self.return_request(c))
    }

    fn return_request(&self, c: &Control) -> Vec<u8> {
        match *c {
            Control::Uds { did } => uds::return_control(did),
            Control::Kwp {
                lid,
                control,
                state_len,
            } => match self.cfg.kwp_io_restore {
                KwpIoRestore::ZeroState => kwp::io_control_local(lid, control, &vec![0; state_len]),
                KwpIoRestore::ReturnControlParameter => kwp::io_control_local(lid, 0x00, &[]),
            },
            Control::Gmlan { .. } => gmlan::return_to_normal(),
        }
    }

    fn name(&self, sid: u8) -> &'static str {
        service_name(self.cfg.protocol, sid)
    }

    fn keepalive_due(&self) -> Option<u64> {
        let s3 = self.cfg.s3_keepalive_us?;
        if !self.held || self.cfg.keepalive.is_empty() {
            return None;
        }
        // Nothing sent yet: refresh at once rather than guess the module's S3.
        Some(self.s3_base_us.map_or(0, |t| t.saturating_add(s3)))
    }

    /// Ends the current request with a failure. `maybe_acted`: the module
    /// may have carried the request out (no answer, or an answer we could
    /// not trust), so an output it may have taken is registered for restore
    /// anyway: returning an output that was never taken is harmless,
    /// forgetting one that was is not.
    fn fail(&mut self, now_us: u64, error: ClientError, maybe_acted: bool) {
        let Some(cur) = self.current.clone() else {
            return;
        };
        if maybe_acted {
            if let Effect::Take(c) = self.effect_of(&cur) {
                self.apply(Effect::Take(c));
            }
        }
        let event = match cur.id {
            Some(id) => ClientEvent::Failed { id, error },
            None => ClientEvent::KeepAliveFailed { error },
        };
        self.finish(now_us, Some(event));
    }

    fn finish(&mut self, now_us: u64, event: Option<ClientEvent>) {
        self.s3_base_us = Some(now_us);
        self.current = self.queued.take().map(|mut q| {
            q.phase = Phase::ToSend { queued_at: now_us };
            q.started_at = now_us;
            q
        });
        self.events.extend(event);
    }

    fn effect_of(&self, cur: &Outstanding) -> Effect {
        self.effect_of_request(cur.req.as_slice())
    }

    fn effect_of_request(&self, req: &[u8]) -> Effect {
        match (self.cfg.protocol, req) {
            (Protocol::Uds, [0x2F, hi, lo, param, ..]) => {
                let c = Control::Uds {
                    did: u16::from_be_bytes([*hi, *lo]),
                };
                // freezeCurrentState and resetToDefault also keep the output
                // under tester control until returnControlToECU.
                if *param == uds::io_param::RETURN_CONTROL_TO_ECU {
                    Effect::Release(c)
                } else {
                    Effect::Take(c)
                }
            }
            (Protocol::Kwp, [0x30, lid, control, state @ ..]) => {
                let c = Control::Kwp {
                    lid: *lid,
                    control: *control,
                    state_len: state.len(),
                };
                let takes = match self.cfg.kwp_io_restore {
                    KwpIoRestore::ZeroState => state.iter().any(|&b| b != 0),
                    KwpIoRestore::ReturnControlParameter => *control != 0x00,
                };
                if takes {
                    Effect::Take(c)
                } else {
                    Effect::Release(c)
                }
            }
            (Protocol::Uds, [0x10, s, ..]) if s & !SPRMIB == uds::session::DEFAULT => {
                Effect::LeaveSession
            }
            (Protocol::Kwp, [0x10, kwp::session::STANDARD, ..]) => Effect::LeaveSession,
            (Protocol::Uds, [0x10, s, ..]) => Effect::Session(s & !SPRMIB),
            (Protocol::Kwp, [0x10, s, ..]) => Effect::Session(*s),
            (Protocol::Uds | Protocol::Kwp, [0x11, ..]) => Effect::Reset,
            (Protocol::Gmlan, [gmlan::DEVICE_CONTROL, cpid, ..]) => {
                let c = Control::Gmlan { cpid: *cpid };
                if gmlan::device_control_takes(req) {
                    Effect::Take(c)
                } else {
                    Effect::Release(c)
                }
            }
            // ReturnToNormalOperation ends device control and every mode.
            (Protocol::Gmlan, [gmlan::RETURN_TO_NORMAL, ..]) => Effect::Reset,
            _ => Effect::None,
        }
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::None => {}
            Effect::Take(c) => {
                let key = control_key(&c);
                if !self.controls.iter().any(|x| control_key(x) == key) {
                    self.controls.push(c);
                }
            }
            Effect::Release(c) => {
                let key = control_key(&c);
                self.controls.retain(|x| control_key(x) != key);
            }
            Effect::Session(s) => self.session = Some(s),
            // Controls are kept: a module that returns them on session exit
            // just rejects the redundant return, one that does not needs it.
            Effect::LeaveSession => self.session = None,
            Effect::Reset => {
                self.session = None;
                self.controls.clear();
            }
        }
    }
}

/// Which output a control is about, whatever its state.
fn control_key(c: &Control) -> (u8, u16) {
    match *c {
        Control::Uds { did } => (0, did),
        Control::Kwp { lid, .. } => (1, u16::from(lid)),
        Control::Gmlan { cpid } => (2, u16::from(cpid)),
    }
}

/// How many bytes after the SID a positive response must repeat.
fn echo_len(protocol: Protocol, sid: u8) -> usize {
    match (protocol, sid) {
        (Protocol::Uds, 0x22 | 0x2E | 0x2F) => 2,
        (Protocol::Uds, 0x31) => 3,
        (Protocol::Uds, s) if uds::has_sprmib(s) => 1,
        (Protocol::Uds, 0x19) => 1,
        (Protocol::Kwp, 0x30) => 2,
        (Protocol::Kwp, 0x10 | 0x1A | 0x21 | 0x31 | 0x3B) => 1,
        (Protocol::Kwp, 0x14) => 2,
        (Protocol::Obd, 0x01 | 0x02 | 0x09) => 1,
        // GMLAN: `5A <did>`, `EE <cpid>`, `67 <level>`, `62 <pid>`.
        (Protocol::Gmlan, 0x1A | 0xAE | 0x27) => 1,
        (Protocol::Gmlan, 0x22) => 2,
        _ => 0,
    }
}
