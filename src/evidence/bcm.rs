//! The conversation with the BCM as the analyzer read it: typed events
//! ([`BcmEvent`]) in; reachability, the session start, the DTC read, trouble
//! codes and negative responses out.

use serde::Serialize;

use super::Evidence;
use crate::diag::{Dtc, Nrc};

/// Outcome of the session start request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "nrc", rename_all = "snake_case")]
pub enum SessionStart {
    NotTried,
    /// Requested, no reply seen.
    NoAnswer,
    Answered,
    /// Negative response with this code.
    Refused(Nrc),
}

/// Which of the profile's exchanges a request or reply belongs to (the
/// analyzer matches the profile's requests and answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    SessionStart,
    DtcRead,
    Other,
}

/// One thing the analyzer read in the conversation with the BCM.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BcmEvent {
    /// A request to the BCM.
    Request(Purpose),
    /// A positive answer.
    Positive(Purpose),
    /// A negative answer (never responsePending).
    Negative { sid: u8, nrc: Nrc, purpose: Purpose },
    /// responsePending: the real answer follows.
    Pending,
    /// A reply that is no diagnostic answer (empty, cut short).
    Unreadable,
    /// A request (sent at the event's time) left unanswered past P2 / P2*.
    Unanswered,
    /// A trouble code from a DTC read answer; `status` when the protocol
    /// carries one.
    Dtc { dtc: Dtc, status: Option<u8> },
}

/// Can the BCM be reached, and is the bus alive?
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reachability {
    /// Requests seen going to the BCM's request id.
    pub diag_requests: u32,
    /// Replies seen from the BCM's response id (positive or negative).
    pub diag_responses: u32,
    pub session_start: SessionStart,
    /// Frames outside the diagnostic ids ([`is_diagnostic`](crate::diag::ids::is_diagnostic)): other ECUs alive.
    pub non_diag_frames: u64,
    /// Requests left without a reply past their deadline.
    pub unanswered: u32,
    /// Time of the BCM's last reply.
    pub last_response_us: Option<u64>,
    /// Requests left unanswered since the BCM's last reply: a BCM that
    /// answered and then stopped (dropped off the bus, lost power).
    pub unanswered_since_reply: u32,
    /// When the first of those went unanswered.
    pub silent_since_us: Option<u64>,
}

/// A DTC as read from the BCM.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DtcRecord {
    /// `B2562` or `U3003:16` in the report.
    pub code: Dtc,
    pub status: Option<u8>,
    pub t_us: u64,
}

/// Was a DTC read tried, and answered?
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DtcReadState {
    pub attempted: bool,
    pub answered: bool,
    pub t_us: Option<u64>,
}

/// A negative response; responsePending is not one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NegativeResponse {
    pub sid: u8,
    pub nrc: Nrc,
    pub t_us: u64,
}

/// At most this many negative responses are listed; beyond, counted.
pub const MAX_NEGATIVE_RESPONSES: usize = 64;

impl Evidence {
    /// One event of the conversation with the BCM, read by the analyzer.
    pub fn bcm(&mut self, t_us: u64, event: BcmEvent) {
        let r = &mut self.reachability;
        match event {
            BcmEvent::Request(purpose) => {
                r.diag_requests += 1;
                match purpose {
                    Purpose::SessionStart if r.session_start != SessionStart::Answered => {
                        r.session_start = SessionStart::NoAnswer
                    }
                    Purpose::DtcRead => {
                        self.dtc_read.attempted = true;
                        self.dtc_read.t_us.get_or_insert(t_us);
                    }
                    _ => {}
                }
                return;
            }
            BcmEvent::Unanswered => {
                r.unanswered += 1;
                if r.last_response_us.is_some() {
                    r.unanswered_since_reply += 1;
                    r.silent_since_us.get_or_insert(t_us);
                }
                return;
            }
            BcmEvent::Dtc { dtc, status } => return self.dtc(dtc, status, t_us),
            _ => {}
        }
        // Every other event is a reply.
        r.diag_responses += 1;
        r.last_response_us = Some(t_us);
        r.unanswered_since_reply = 0;
        r.silent_since_us = None;
        match event {
            BcmEvent::Positive(Purpose::SessionStart) => r.session_start = SessionStart::Answered,
            BcmEvent::Positive(Purpose::DtcRead) => self.dtc_read.answered = true,
            BcmEvent::Negative { sid, nrc, purpose } => {
                if purpose == Purpose::SessionStart && r.session_start != SessionStart::Answered {
                    r.session_start = SessionStart::Refused(nrc);
                }
                if nrc == Nrc::GeneralReject {
                    self.general_rejects += 1;
                }
                self.series_summary.negative_responses_seen += 1;
                if self.negative_responses.len() < MAX_NEGATIVE_RESPONSES {
                    self.negative_responses
                        .push(NegativeResponse { sid, nrc, t_us });
                }
            }
            _ => {}
        }
    }

    /// A DTC decoded from a DTC read reply.
    pub(super) fn dtc(&mut self, code: Dtc, status: Option<u8>, t_us: u64) {
        self.dtc_read.answered = true;
        match self.dtcs.iter_mut().find(|d| d.code == code) {
            Some(d) => d.status = status.or(d.status),
            None => self.dtcs.push(DtcRecord { code, status, t_us }),
        }
    }
}
