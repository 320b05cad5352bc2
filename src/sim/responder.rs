//! The BCM's diagnostic answers: KWP2000 (Nissan) or UDS (Ford), built from
//! the profile's exchanges and data items and the vehicle state. Pure: a
//! request and the state in, an [`Answer`] out; timing (P2, responsePending)
//! and ISO-TP belong to the vehicle.

use crate::diag::{self, Dtc, Nrc, POSITIVE_OFFSET, SPRMIB};
use crate::profile::{DataRead, DtcFormat, Profile, Protocol, ReleaseInput};

use super::scenario::DiagPath;
use super::state::{Source, VehicleState};

/// What the BCM does to the car because of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    None,
    ActiveTestStart,
    ActiveTestStop,
    ClearDtcs,
}

/// The BCM's reaction to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    /// `None`: no reply at all (suppressed positive response).
    pub reply: Option<Vec<u8>>,
    /// A slow service: the answer comes after a responsePending.
    pub slow: bool,
    pub effect: Effect,
    /// GMLAN UUDT frames (data) to send on the request id + 0x300.
    pub uudt: Vec<[u8; 8]>,
}

impl Answer {
    fn positive(reply: Vec<u8>) -> Answer {
        Answer {
            reply: Some(reply),
            slow: false,
            effect: Effect::None,
            uudt: Vec::new(),
        }
    }
    fn negative(sid: u8, nrc: Nrc) -> Answer {
        Answer::positive(diag::negative(sid, nrc))
    }
    fn silent() -> Answer {
        Answer {
            reply: None,
            slow: false,
            effect: Effect::None,
            uudt: Vec::new(),
        }
    }
    fn with(mut self, effect: Effect) -> Answer {
        self.effect = effect;
        self
    }
    fn slow(mut self) -> Answer {
        self.slow = true;
        self
    }
}

/// Nissan's "not in the right session" code (vehicles/README.md).
const NRC_WRONG_SESSION_KWP: u8 = 0x80;
/// UDS P2 / P2* advertised in the session response: 50 ms, 5000 ms (10 ms units).
const UDS_TIMING: [u8; 4] = [0x00, 0x32, 0x01, 0xF4];
/// A DTC status: testFailed and confirmedDTC (the reference data's layout).
pub(crate) const DTC_STATUS: u8 = 0x09;
/// A GMLAN DTC status byte the simulated BCM reports (a reference value:
/// GMW3110's bit meanings are not published with a license).
pub(crate) const GMLAN_DTC_STATUS: u8 = 0x2F;
/// Placeholder part number answered to the profile's part-number read.
const PART_NUMBER: &[u8] = b"284B2-SIM0A";

/// The diagnostic side of the BCM: session state and counters.
#[derive(Debug, Default)]
pub(crate) struct Responder {
    in_session: bool,
    last_request_us: u64,
    data_reads: u32,
}

impl Responder {
    /// Leaves the diagnostic session when the tester has been quiet longer
    /// than S3 (the keep-alive exists to prevent exactly this).
    pub fn expire(&mut self, now_us: u64, s3_us: u64) {
        if self.in_session && now_us.saturating_sub(self.last_request_us) > s3_us {
            self.in_session = false;
        }
    }

    /// When the session will lapse without another request.
    pub fn session_deadline(&self, s3_us: u64) -> Option<u64> {
        self.in_session
            .then(|| self.last_request_us.saturating_add(s3_us).saturating_add(1))
    }

    pub fn answer(
        &mut self,
        profile: &Profile,
        state: &VehicleState,
        diag: DiagPath,
        req: &[u8],
        now_us: u64,
    ) -> Answer {
        self.last_request_us = now_us;
        let Some(&sid) = req.first() else {
            return Answer::silent();
        };
        let Some(bcm) = profile.bcm() else {
            return Answer::silent();
        };
        let uds = bcm.protocol == Protocol::Uds;
        let gmlan = bcm.protocol == Protocol::Gmlan;
        if uds && sid == 0x22 && req.len() > 3 {
            return self.read_several(profile, state, diag, req, now_us);
        }

        // The profile's own exchanges first: they define this BCM.
        if let Some(s) = &bcm.session {
            if req == s.request.as_slice() {
                self.in_session = true;
                let mut reply = s
                    .response_prefix
                    .clone()
                    .unwrap_or_else(|| positive_echo(req));
                if uds && reply.len() == 2 {
                    reply.extend_from_slice(&UDS_TIMING);
                }
                return Answer::positive(reply);
            }
        }
        if let Some(k) = &bcm.keep_alive {
            if req == k.request.as_slice() {
                return match &k.response_prefix {
                    Some(r) => Answer::positive(r.clone()),
                    None => Answer::silent(),
                };
            }
        }
        if let Some(d) = &bcm.dtc_read {
            if let Some(answer) = self.dtc_read(bcm.dtc_format, &d.request, state, req) {
                return answer.slow();
            }
        }
        if let Some(c) = &bcm.dtc_clear {
            if req == c.request.as_slice() {
                let reply = c
                    .response_prefix
                    .clone()
                    .unwrap_or_else(|| positive_echo(req));
                return Answer::positive(reply).with(Effect::ClearDtcs);
            }
        }
        if let Some(p) = &bcm.part_number {
            if req == p.request.as_slice() {
                let mut reply = p
                    .response_prefix
                    .clone()
                    .unwrap_or_else(|| positive_echo(req));
                reply.extend_from_slice(PART_NUMBER);
                return Answer::positive(reply);
            }
        }
        if let Some(read) = profile
            .data_reads()
            .iter()
            .find(|r| req == r.key.request().as_slice())
        {
            if read.needs_session && !self.in_session {
                let nrc = if uds {
                    Nrc::RequestOutOfRange
                } else {
                    Nrc::from(NRC_WRONG_SESSION_KWP)
                };
                return Answer::negative(sid, nrc);
            }
            self.data_reads = self.data_reads.wrapping_add(1);
            if diag == DiagPath::RejectsSomeReads && self.data_reads.is_multiple_of(2) {
                return Answer::negative(sid, Nrc::GeneralReject);
            }
            return Answer::positive(encode_read(read, state));
        }
        if let Some(at) = profile.active_test() {
            let stop = at.stop.as_ref().filter(|s| req == s.request.as_slice());
            if req == at.start.request.as_slice() || stop.is_some() {
                // GMLAN device control needs no session.
                if !self.in_session && !gmlan {
                    let nrc = if uds {
                        Nrc::ServiceNotSupportedInActiveSession
                    } else {
                        Nrc::from(NRC_WRONG_SESSION_KWP)
                    };
                    return Answer::negative(sid, nrc);
                }
                // A gate of the active test that reads closed: the BCM
                // refuses in the present conditions.
                let gated = profile.release_conditions.iter().any(|c| {
                    c.inputs.contains(&ReleaseInput::ActiveTest)
                        && c.blocks(state.value(c.role, Source::Data))
                });
                if stop.is_none() && gated {
                    return Answer::negative(sid, Nrc::ConditionsNotCorrect);
                }
                let exchange = stop.unwrap_or(&at.start);
                let reply = exchange
                    .response_prefix
                    .clone()
                    .unwrap_or_else(|| positive_echo(req));
                let effect = if stop.is_some() {
                    Effect::ActiveTestStop
                } else {
                    Effect::ActiveTestStart
                };
                return Answer::positive(reply).with(effect);
            }
        }
        if uds {
            self.uds_other(profile, state, req, sid)
        } else if gmlan {
            gmlan_other(req, sid)
        } else {
            self.kwp_other(req, sid)
        }
    }

    /// UDS `22` with several DIDs (ISO 14229-1 allows it): each answered as
    /// if asked alone, the records one after the other; the first refusal
    /// refuses the whole request.
    fn read_several(
        &mut self,
        profile: &Profile,
        state: &VehicleState,
        diag: DiagPath,
        req: &[u8],
        now_us: u64,
    ) -> Answer {
        let Some(dids) = req.get(1..).filter(|d| d.len() % 2 == 0) else {
            return Answer::negative(0x22, Nrc::IncorrectMessageLength);
        };
        let mut reply = vec![0x62];
        for did in dids.chunks(2) {
            let one = [&[0x22][..], did].concat();
            let answer = self.answer(profile, state, diag, &one, now_us);
            match answer.reply.as_deref() {
                Some([0x62, record @ ..]) => reply.extend_from_slice(record),
                _ => return answer,
            }
        }
        Answer::positive(reply)
    }

    /// `18 02 FF 00` (KWP) or `19 02 <mask>` (UDS) → the stored DTCs.
    fn dtc_read(
        &self,
        format: Option<DtcFormat>,
        request: &[u8],
        state: &VehicleState,
        req: &[u8],
    ) -> Option<Answer> {
        let sid = *req.first()?;
        match format {
            Some(DtcFormat::Uds3Byte) => {
                // Any status mask: the profile's request fixes only SID and sub-function.
                if req.len() != 3 || req.get(..2)? != request.get(..2)? {
                    return None;
                }
                let mask = *req.get(2)?;
                let mut reply = vec![sid.wrapping_add(POSITIVE_OFFSET), 0x02, 0xFF];
                // Only codes whose status matches the tester's mask.
                let matching = if DTC_STATUS & mask != 0 {
                    state.dtcs.as_slice()
                } else {
                    &[]
                };
                for d in matching {
                    let with_ft = Dtc {
                        failure_type: Some(d.failure_type.unwrap_or(0)),
                        ..*d
                    };
                    reply.extend(with_ft.to_bytes());
                    reply.push(DTC_STATUS);
                }
                Some(Answer::positive(reply))
            }
            Some(DtcFormat::Kwp2Byte) => {
                if req != request {
                    return None;
                }
                let n = u8::try_from(state.dtcs.len()).unwrap_or(u8::MAX);
                let mut reply = vec![sid.wrapping_add(POSITIVE_OFFSET), n];
                for d in state.dtcs.iter().take(usize::from(n)) {
                    reply.extend(d.code.to_be_bytes());
                    reply.push(DTC_STATUS);
                }
                Some(Answer::positive(reply))
            }
            Some(DtcFormat::GmlanUudt) => {
                // `A9 81 <mask>`: one UUDT frame per matching code, then
                // the end of the report; nothing on the USDT id.
                if req.len() != 3 || req.get(..2)? != request.get(..2)? {
                    return None;
                }
                let mask = *req.get(2)?;
                let mut answer = Answer::silent();
                if GMLAN_DTC_STATUS & mask != 0 {
                    for d in &state.dtcs {
                        let with_ft = Dtc::with_failure_type(d.code, d.failure_type.unwrap_or(0));
                        answer
                            .uudt
                            .push(diag::gmlan::uudt_dtc(with_ft, GMLAN_DTC_STATUS, 0x00));
                    }
                }
                answer.uudt.push(diag::gmlan::uudt_end_of_report(0x00));
                Some(answer)
            }
            Some(DtcFormat::Obd) | None => None,
        }
    }

    /// UDS services the profile does not name: the standard's answers.
    fn uds_other(
        &mut self,
        profile: &Profile,
        state: &VehicleState,
        req: &[u8],
        sid: u8,
    ) -> Answer {
        let sub = req.get(1).copied();
        // Session control and tester present are every UDS module's; any
        // other service is there only when the profile names a request of it.
        if !matches!(sid, 0x10 | 0x3E) && !names_service(profile, sid) {
            return Answer::negative(sid, Nrc::ServiceNotSupported);
        }
        match sid {
            0x10 => match sub.map(|s| s & !SPRMIB) {
                Some(0x01) => {
                    // Back to the default session (also ends IO control):
                    // what needs the session is refused again.
                    self.in_session = false;
                    if sub.is_some_and(|s| s & SPRMIB != 0) {
                        return Answer::silent();
                    }
                    let mut r = vec![0x50, 0x01];
                    r.extend_from_slice(&UDS_TIMING);
                    Answer::positive(r)
                }
                _ => Answer::negative(sid, Nrc::SubFunctionNotSupported),
            },
            0x3E => match sub {
                Some(0x00) => Answer::positive(vec![0x7E, 0x00]),
                Some(0x80) => Answer::silent(),
                _ => Answer::negative(sid, Nrc::SubFunctionNotSupported),
            },
            // The IO-control target's state (the DID of the profile's
            // active test, `2F <did> ...`), readable like any DID.
            0x22 if req
                .get(1..)
                .is_some_and(|did| Some(did) == io_control_did(profile)) =>
            {
                if !self.in_session {
                    return Answer::negative(sid, Nrc::RequestOutOfRange);
                }
                let mut reply = req.to_vec();
                if let Some(first) = reply.first_mut() {
                    *first = sid.wrapping_add(POSITIVE_OFFSET);
                }
                reply.push(u8::from(state.output));
                Answer::positive(reply)
            }
            0x22 | 0x2F | 0x14 => Answer::negative(sid, Nrc::RequestOutOfRange),
            0x19 => Answer::negative(sid, Nrc::SubFunctionNotSupported),
            _ => Answer::negative(sid, Nrc::ServiceNotSupported),
        }
    }
}

/// GMLAN services the profile does not name.
fn gmlan_other(req: &[u8], sid: u8) -> Answer {
    match sid {
        // InitiateDiagnosticOperation: `50`, no echo.
        0x10 => Answer::positive(vec![0x50]),
        0x3E => Answer::positive(vec![0x7E]),
        // ReturnToNormalOperation ends device control.
        0x20 => Answer::positive(vec![0x60]).with(Effect::ActiveTestStop),
        0x1A | 0x22 | 0xAE => Answer::negative(sid, Nrc::RequestOutOfRange),
        0xA9 => match req.get(1) {
            Some(0x81) => Answer::negative(sid, Nrc::RequestOutOfRange),
            _ => Answer::negative(sid, Nrc::SubFunctionNotSupported),
        },
        _ => Answer::negative(sid, Nrc::ServiceNotSupported),
    }
}

/// Whether the profile names a request of service `sid` (its BCM's
/// exchanges, data reads or active test).
fn names_service(profile: &Profile, sid: u8) -> bool {
    let Some(bcm) = profile.bcm() else {
        return false;
    };
    let exchanges = [
        &bcm.session,
        &bcm.keep_alive,
        &bcm.dtc_read,
        &bcm.dtc_clear,
        &bcm.part_number,
    ];
    let active = profile
        .active_test()
        .into_iter()
        .flat_map(|at| std::iter::once(&at.start).chain(at.stop.as_ref()));
    exchanges
        .into_iter()
        .flatten()
        .chain(active)
        .any(|e| e.request.first() == Some(&sid))
        || profile
            .data_reads()
            .iter()
            .any(|r| r.key.request().first() == Some(&sid))
}

/// The DID a UDS profile's active test controls (`2F <did> ...`), if any.
fn io_control_did(profile: &Profile) -> Option<&[u8]> {
    let start = &profile.active_test()?.start.request;
    match start.first() {
        Some(0x2F) => start.get(1..3),
        _ => None,
    }
}

impl Responder {
    /// KWP2000 services the profile does not name.
    fn kwp_other(&mut self, req: &[u8], sid: u8) -> Answer {
        match sid {
            0x10 => match req.get(1) {
                // Back to the default session: what needs the session is
                // refused again.
                Some(0x81) => {
                    self.in_session = false;
                    Answer::positive(vec![0x50, 0x81])
                }
                _ => Answer::negative(sid, Nrc::SubFunctionNotSupported),
            },
            0x3E => match req.get(1) {
                Some(0x02) => Answer::silent(),
                _ => Answer::negative(sid, Nrc::SubFunctionNotSupported),
            },
            0x21 | 0x18 | 0x30 | 0x14 | 0x1A => Answer::negative(sid, Nrc::RequestOutOfRange),
            _ => Answer::negative(sid, Nrc::ServiceNotSupported),
        }
    }
}

fn positive_echo(req: &[u8]) -> Vec<u8> {
    let mut r = req.to_vec();
    if let Some(first) = r.first_mut() {
        *first = first.wrapping_add(POSITIVE_OFFSET);
    }
    r
}

/// `61 <lid> …` / `62 <did> …` with every field encoded from the state.
pub(crate) fn encode_read(read: &DataRead, state: &VehicleState) -> Vec<u8> {
    let len = read
        .fields
        .iter()
        .map(|f| f.bits.min_payload_len())
        .max()
        .unwrap_or(1);
    let mut data = vec![0u8; len];
    for f in &read.fields {
        // Sized above to fit every field: encode cannot fail for length.
        let _ = f.encode(&mut data, state.value(f.role, Source::Data));
    }
    let mut reply = read.key.echo();
    reply.extend(data);
    reply
}
