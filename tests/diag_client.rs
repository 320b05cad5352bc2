//! The sans-IO diagnostic client against a scripted ECU on virtual time:
//! exact request bytes, parsed responses, the P2 / P2* / busy / S3 timing
//! rules, suppress-positive-response, malformed answers and what must be
//! restored when a run ends.

use std::collections::VecDeque;

use proptest::prelude::*;
use trunkdiag::diag::client::KwpIoRestore;
use trunkdiag::diag::{
    kwp, obd, uds, Client, ClientConfig, ClientError, ClientEvent, Nrc, RequestId,
};
use trunkdiag::hex::decode;

fn h(s: &str) -> Vec<u8> {
    decode(s).unwrap()
}

/// One request the ECU expects and what it answers, each after a delay
/// (microseconds after the request left).
struct Step {
    req: Vec<u8>,
    replies: Vec<(u64, Vec<u8>)>,
}

fn step(req: &str, replies: &[(u64, &str)]) -> Step {
    Step {
        req: h(req),
        replies: replies.iter().map(|(t, r)| (*t, h(r))).collect(),
    }
}

/// A scripted ECU and the driver loop of the client's module docs.
struct Harness {
    client: Client,
    now: u64,
    script: VecDeque<Step>,
    inbox: Vec<(u64, Vec<u8>)>,
    sent: Vec<(u64, Vec<u8>)>,
    events: Vec<(u64, ClientEvent)>,
    /// `run_until` stops as soon as this request has its event.
    wait_for: Option<RequestId>,
}

impl Harness {
    fn new(cfg: ClientConfig, script: Vec<Step>) -> Self {
        Harness {
            client: Client::new(cfg),
            now: 0,
            script: script.into(),
            inbox: Vec::new(),
            sent: Vec::new(),
            events: Vec::new(),
            wait_for: None,
        }
    }

    fn request(&mut self, req: Vec<u8>) -> RequestId {
        self.client.request(self.now, req).unwrap()
    }

    fn pump(&mut self) {
        while let Some(req) = self.client.poll_transmit() {
            let step = self
                .script
                .pop_front()
                .unwrap_or_else(|| panic!("unscripted request {req:02X?} at {} us", self.now));
            assert_eq!(req, step.req, "request bytes at {} us", self.now);
            self.sent.push((self.now, req));
            self.client.handle_sent(self.now);
            for (delay, reply) in step.replies {
                self.inbox.push((self.now + delay, reply));
            }
            self.inbox.sort_by_key(|(t, _)| *t);
        }
        while let Some(e) = self.client.poll_event() {
            self.events.push((self.now, e));
        }
    }

    /// Runs virtual time up to `until`.
    fn run_until(&mut self, until: u64) {
        for _ in 0..10_000 {
            self.pump();
            if let Some(id) = self.wait_for {
                if self.events.iter().any(|(_, e)| event_id(e) == Some(id)) {
                    return;
                }
            }
            let next_msg = self.inbox.first().map(|(t, _)| *t);
            let next = match (next_msg, self.client.poll_timeout()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => {
                        self.now = self.now.max(until);
                        return;
                    }
                },
            };
            if next > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(next);
            if next_msg == Some(next) {
                let (_, msg) = self.inbox.remove(0);
                self.client.handle_message(self.now, &msg);
            } else {
                self.client.handle_timeout(self.now);
            }
        }
        panic!("no progress by {} us", self.now);
    }

    /// Runs until the request's final event and returns it with its time.
    fn outcome(&mut self, id: RequestId) -> (u64, ClientEvent) {
        self.wait_for = Some(id);
        self.run_until(self.now + 600_000_000);
        self.wait_for = None;
        self.events
            .iter()
            .find(|(_, e)| event_id(e) == Some(id))
            .cloned()
            .unwrap_or_else(|| panic!("no event for {id}: {:?}", self.events))
    }

    fn sent_times(&self) -> Vec<u64> {
        self.sent.iter().map(|(t, _)| *t).collect()
    }
}

fn event_id(e: &ClientEvent) -> Option<RequestId> {
    match e {
        ClientEvent::Response { id, .. }
        | ClientEvent::Suppressed { id }
        | ClientEvent::Negative { id, .. }
        | ClientEvent::Failed { id, .. } => Some(*id),
        _ => None,
    }
}

/// Sends one request to a fresh client and returns the response payload.
fn exchange(cfg: ClientConfig, req: Vec<u8>, resp: &str) -> Vec<u8> {
    let mut hs = Harness::new(
        cfg,
        vec![Step {
            req: req.clone(),
            replies: vec![(10_000, h(resp))],
        }],
    );
    let id = hs.request(req);
    match hs.outcome(id).1 {
        ClientEvent::Response { payload, .. } => payload,
        other => panic!("{other:?}"),
    }
}

const MS: u64 = 1_000;

#[test]
fn every_uds_service_round_trips() {
    let u = ClientConfig::uds;
    let t = uds::parse_session_control(
        &exchange(u(), uds::session_control(3, false), "50 03 00 32 01 F4"),
        3,
    )
    .unwrap();
    assert_eq!((t.p2_us(), t.p2_star_us()), (50 * MS, 5_000 * MS));
    assert_eq!(
        uds::parse_ecu_reset(&exchange(u(), uds::ecu_reset(1, false), "51 01"), 1).unwrap(),
        None
    );
    uds::parse_clear_dtcs(&exchange(u(), uds::clear_dtcs(uds::ALL_DTC_GROUPS), "54")).unwrap();
    let c = uds::parse_dtc_count(&exchange(
        u(),
        uds::read_dtc_count(0x09),
        "59 01 FF 01 00 01",
    ))
    .unwrap();
    assert_eq!(c.count, 1);
    let rep = uds::parse_dtc_report(
        &exchange(u(), uds::read_dtcs_by_status(0xFF), "59 02 FF F0 03 16 09"),
        2,
    )
    .unwrap();
    assert_eq!(rep.records.len(), 1);
    assert_eq!(rep.records[0].dtc.to_string(), "U3003:16");
    assert_eq!(rep.records[0].status, 0x09);
    assert_eq!(
        trunkdiag::diag::dtc::UdsStatus(rep.records[0].status).names(),
        ["testFailed", "confirmedDTC"]
    );
    let sup = uds::parse_dtc_report(
        &exchange(
            u(),
            uds::read_supported_dtcs(),
            "59 0A FF F0 03 16 00 A5 62 00 08",
        ),
        0x0A,
    )
    .unwrap();
    assert_eq!(sup.records.len(), 2);
    let dids = uds::parse_read_dids(
        &exchange(
            u(),
            uds::read_dids(&[0xD100, 0xD102]),
            "62 D1 00 05 D1 02 7B",
        ),
        &[0xD100, 0xD102],
        &|d| (d == 0xD100).then_some(1),
    )
    .unwrap();
    assert_eq!(dids, vec![(0xD100, vec![0x05]), (0xD102, vec![0x7B])]);
    let io = uds::parse_io_control(
        &exchange(
            u(),
            uds::short_term_adjustment(0xD103, &[1]),
            "6F D1 03 03 01",
        ),
        0xD103,
        3,
    )
    .unwrap();
    assert_eq!(io.state, vec![1]);
    uds::parse_io_control(
        &exchange(u(), uds::return_control(0xD103), "6F D1 03 00"),
        0xD103,
        0,
    )
    .unwrap();
    let r = uds::parse_routine_control(
        &exchange(
            u(),
            uds::routine_control(uds::routine::START, 0x0203, &[], false),
            "71 01 02 03 00",
        ),
        1,
        0x0203,
    )
    .unwrap();
    assert_eq!(r.status, vec![0]);
    uds::parse_tester_present(&exchange(u(), uds::tester_present(false), "7E 00")).unwrap();
}

#[test]
fn every_kwp_service_round_trips() {
    let k = ClientConfig::kwp;
    kwp::parse_start_session(
        &exchange(k(), kwp::start_session(kwp::session::NISSAN_C0), "50 C0"),
        0xC0,
    )
    .unwrap();
    let data = kwp::parse_read_local_id(
        &exchange(k(), kwp::read_local_id(0x44), "61 44 80 20"),
        0x44,
    )
    .unwrap();
    assert_eq!(data, vec![0x80, 0x20]);
    kwp::parse_io_control_local(
        &exchange(k(), kwp::io_control_local(0x26, 0, &[1]), "70 26 00 01"),
        0x26,
        0,
    )
    .unwrap();
    let recs = kwp::parse_dtcs_by_status(&exchange(
        k(),
        kwp::read_dtcs_by_status(kwp::DTC_STATUS_ALL_IDENTIFIED, kwp::ALL_DTC_GROUPS),
        "58 03 A5 62 09 D0 00 08 D0 10 48",
    ))
    .unwrap();
    let got: Vec<String> = recs
        .iter()
        .map(|r| format!("{}/{:02X}", r.dtc, r.status))
        .collect();
    assert_eq!(got, ["B2562/09", "U1000/08", "U1010/48"]);
    kwp::parse_clear_dtcs(
        &exchange(k(), kwp::clear_dtcs(kwp::ALL_DTC_GROUPS), "54 FF 00"),
        0xFF00,
    )
    .unwrap();
    let (recs, _) = kwp::parse_status_of_dtc(&exchange(
        k(),
        kwp::read_status_of_dtc(0xA562),
        "57 01 A5 62 09",
    ))
    .unwrap();
    assert_eq!(recs[0].dtc.to_string(), "B2562");
    let id = kwp::parse_ecu_identification(
        &exchange(k(), kwp::read_ecu_identification(0x87), "5A 87 32 38"),
        0x87,
    )
    .unwrap();
    assert_eq!(id, b"28");
    kwp::parse_tester_present(&exchange(k(), kwp::tester_present(true), "7E 01")).unwrap();
}

#[test]
fn every_obd_service_round_trips() {
    let o = ClientConfig::obd;
    let v = obd::parse_current_data(&exchange(o(), obd::current_data(0x42), "41 42 31 2D"), 0x42)
        .unwrap();
    assert_eq!(obd::control_module_voltage_mv(&v).unwrap(), 12_589);
    let s = obd::parse_current_data(
        &exchange(o(), obd::current_data(0x00), "41 00 80 00 00 01"),
        0x00,
    )
    .unwrap();
    assert_eq!(obd::supported_pids(&s).unwrap(), vec![0x01, 0x20]);
    let d = obd::parse_dtcs(
        &exchange(o(), obd::read_dtcs(obd::STORED_DTCS), "43 01 01 33"),
        3,
    )
    .unwrap();
    assert_eq!(d[0].to_string(), "P0133");
    let d = obd::parse_dtcs(
        &exchange(o(), obd::read_dtcs(obd::PENDING_DTCS), "47 00"),
        7,
    )
    .unwrap();
    assert!(d.is_empty());
    let vin = exchange(
        o(),
        obd::read_vin(),
        "49 02 01 31 4E 34 41 4C 33 41 50 38 44 43 31 32 33 34 35 36",
    );
    assert_eq!(obd::parse_vin(&vin).unwrap(), "1N4AL3AP8DC123456");
}

#[test]
fn response_pending_extends_to_p2_star_until_the_answer() {
    // Each 0x78 comes 4.9 s after the previous one: far past P2, inside P2*.
    let replies: Vec<(u64, &str)> = vec![
        (20 * MS, "7F 21 78"),
        (4_920 * MS, "7F 21 78"),
        (9_820 * MS, "7F 21 78"),
        (14_720 * MS, "61 44 80 20"),
    ];
    let mut hs = Harness::new(ClientConfig::kwp(), vec![step("21 44", &replies)]);
    let id = hs.request(h("21 44"));
    let (at, ev) = hs.outcome(id);
    assert_eq!(
        ev,
        ClientEvent::Response {
            id,
            payload: h("61 44 80 20")
        }
    );
    assert_eq!(at, 14_720 * MS);
}

#[test]
fn silence_after_response_pending_times_out_at_p2_star() {
    let mut hs = Harness::new(
        ClientConfig::kwp(),
        vec![step("21 44", &[(20 * MS, "7F 21 78")])],
    );
    let id = hs.request(h("21 44"));
    let (at, ev) = hs.outcome(id);
    assert_eq!(at, 20 * MS + 5_000 * MS);
    assert!(matches!(
        ev,
        ClientEvent::Failed {
            error: ClientError::Timeout { sid: 0x21, .. },
            ..
        }
    ));
}

#[test]
fn response_pending_storm_is_an_error() {
    let cfg = ClientConfig {
        max_pending: 4,
        ..ClientConfig::uds()
    };
    let replies: Vec<(u64, &str)> = (1..=6).map(|i| (i * 100 * MS, "7F 22 78")).collect();
    let mut hs = Harness::new(cfg, vec![step("22 D1 00", &replies)]);
    let id = hs.request(h("22 D1 00"));
    let (at, ev) = hs.outcome(id);
    assert_eq!(at, 500 * MS, "fails on the fifth 0x78");
    let ClientEvent::Failed { error, .. } = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(
        error,
        ClientError::PendingStorm {
            service: "ReadDataByIdentifier",
            sid: 0x22,
            count: 5,
            max: 4
        }
    );
    assert_eq!(
        error.to_string(),
        "ReadDataByIdentifier (0x22): responsePending storm: 5 × NRC 0x78, more than the 4 allowed"
    );
}

#[test]
fn busy_repeat_request_is_resent_after_the_delay() {
    let cfg = ClientConfig::kwp();
    let delay = cfg.busy_delay_us;
    let mut hs = Harness::new(
        cfg,
        vec![
            step("21 44", &[(10 * MS, "7F 21 21")]),
            step("21 44", &[(10 * MS, "7F 21 21")]),
            step("21 44", &[(10 * MS, "61 44 00 00")]),
        ],
    );
    let id = hs.request(h("21 44"));
    let (_, ev) = hs.outcome(id);
    assert_eq!(
        ev,
        ClientEvent::Response {
            id,
            payload: h("61 44 00 00")
        }
    );
    let d = 10 * MS + delay;
    assert_eq!(hs.sent_times(), vec![0, d, 2 * d]);
}

#[test]
fn too_many_busy_answers_is_an_error() {
    let cfg = ClientConfig {
        busy_retries: 2,
        ..ClientConfig::kwp()
    };
    let script = (0..3)
        .map(|_| step("21 44", &[(10 * MS, "7F 21 21")]))
        .collect();
    let mut hs = Harness::new(cfg, script);
    let id = hs.request(h("21 44"));
    let (_, ev) = hs.outcome(id);
    let ClientEvent::Failed { error, .. } = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(
        error.to_string(),
        "ReadDataByLocalIdentifier (0x21): still busyRepeatRequest (NRC 0x21) after 2 retries"
    );
    assert_eq!(hs.sent.len(), 3);
}

#[test]
fn silence_is_a_timeout_naming_the_service() {
    let mut hs = Harness::new(ClientConfig::kwp(), vec![step("10 C0", &[])]);
    hs.run_until(7 * MS);
    let id = hs.request(h("10 C0"));
    let (at, ev) = hs.outcome(id);
    assert_eq!(
        at,
        7 * MS + 150 * MS,
        "fails exactly at P2 after the request left"
    );
    let ClientEvent::Failed { id: got, error } = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(got, id);
    assert_eq!(
        error.to_string(),
        "StartDiagnosticSession (0x10): no response within 150 ms"
    );
}

#[test]
fn malformed_and_wrong_answers_are_errors_not_panics() {
    for (req, resp, want) in [
        ("21 44", "61 45 00", "ReadDataByLocalIdentifier (0x21): wrong echo in response 614500: expected it to start 6144"),
        ("21 44", "61", "ReadDataByLocalIdentifier (0x21): malformed response 61: expected the response SID followed by the request's identifier"),
        ("21 44", "7F 21", "ReadDataByLocalIdentifier (0x21): malformed response 7F21: expected 7F <sid> <nrc>"),
        ("30 26 00 01", "70 26 01 01", "wrong echo"),
    ] {
        let mut hs = Harness::new(ClientConfig::kwp(), vec![step(req, &[(5 * MS, resp)])]);
        let id = hs.request(h(req));
        let (_, ev) = hs.outcome(id);
        let ClientEvent::Failed { error, .. } = ev else { panic!("{req} / {resp}: {ev:?}") };
        assert!(error.to_string().contains(want), "{req} / {resp}: {error}");
    }
    for (req, resp, want) in [
        ("22 D1 00", "62 D1 01 05", "wrong echo"),
        ("10 03", "50 02 00 32 01 F4", "wrong echo"),
        ("19 02 FF", "59 0A FF", "wrong echo"),
    ] {
        let mut hs = Harness::new(ClientConfig::uds(), vec![step(req, &[(5 * MS, resp)])]);
        let id = hs.request(h(req));
        let (_, ev) = hs.outcome(id);
        let ClientEvent::Failed { error, .. } = ev else {
            panic!("{req} / {resp}: {ev:?}")
        };
        assert!(
            matches!(error, ClientError::WrongEcho { .. }),
            "{req} / {resp}: {error}"
        );
        assert!(error.to_string().contains(want));
    }
    // The client checks the echo; the codec checks the rest of the layout.
    let short = exchange(ClientConfig::uds(), h("10 03"), "50 03 00 32");
    let err = uds::parse_session_control(&short, 3).unwrap_err();
    assert!(err.to_string().contains("expected 6 bytes, got 4"), "{err}");
}

#[test]
fn answers_to_other_services_are_ignored() {
    let mut hs = Harness::new(
        ClientConfig::kwp(),
        vec![step(
            "21 44",
            &[
                (5 * MS, "62 44 00"),
                (6 * MS, "7F 10 12"),
                (7 * MS, ""),
                (8 * MS, "61 44 01"),
            ],
        )],
    );
    let id = hs.request(h("21 44"));
    assert_eq!(
        hs.outcome(id),
        (
            8 * MS,
            ClientEvent::Response {
                id,
                payload: h("61 44 01")
            }
        )
    );
    assert_eq!(hs.events.len(), 1);
}

#[test]
fn negative_answers_are_reported_with_their_code() {
    let mut hs = Harness::new(
        ClientConfig::kwp(),
        vec![step("21 44", &[(5 * MS, "7F 21 80")])],
    );
    let id = hs.request(h("21 44"));
    let (_, ev) = hs.outcome(id);
    assert_eq!(
        ev,
        ClientEvent::Negative {
            id,
            nrc: Nrc::ServiceNotSupportedInActiveDiagnosticSession,
            payload: h("7F 21 80")
        }
    );
}

#[test]
fn one_request_at_a_time() {
    let mut hs = Harness::new(
        ClientConfig::uds(),
        vec![step("22 D1 00", &[(5 * MS, "62 D1 00 01")])],
    );
    hs.request(h("22 D1 00"));
    let err = hs.client.request(0, h("22 D1 01")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ReadDataByIdentifier (0x22) is still outstanding: one request at a time"
    );
    assert_eq!(
        hs.client.request(0, vec![]).unwrap_err(),
        ClientError::EmptyRequest
    );
}

#[test]
fn keepalive_every_s3_only_while_held_and_idle() {
    let s3 = 2_000 * MS;
    let mut script = vec![step("10 03", &[(10 * MS, "50 03 00 32 01 F4")])];
    script.extend((0..2).map(|_| step("3E 80", &[])));
    script.push(step("22 D1 00", &[(20 * MS, "62 D1 00 01")]));
    script.extend((0..2).map(|_| step("3E 80", &[])));
    let mut hs = Harness::new(ClientConfig::uds(), script);

    hs.run_until(1_000 * MS);
    let id = hs.request(h("10 03"));
    hs.run_until(1_010 * MS);
    assert!(
        matches!(hs.events.last(), Some((_, ClientEvent::Response { id: got, .. })) if *got == id)
    );
    hs.client.set_session_held(true);
    hs.run_until(5_500 * MS);
    // Keep-alives at exactly S3 after the end of the last exchange: the
    // session's answer at 1010 ms, then each (unanswered) keep-alive.
    assert_eq!(
        hs.sent_times(),
        vec![1_000 * MS, 1_010 * MS + s3, 1_010 * MS + 2 * s3]
    );

    // A request in between restarts the S3 period (its answer comes at
    // 5520 ms); none is sent while it is outstanding.
    hs.request(h("22 D1 00"));
    hs.run_until(5_520 * MS);
    hs.run_until(10_000 * MS);
    assert_eq!(
        hs.sent_times()[3..],
        [5_500 * MS, 5_520 * MS + s3, 5_520 * MS + 2 * s3]
    );

    hs.client.set_session_held(false);
    hs.run_until(60_000 * MS);
    assert_eq!(
        hs.sent.len(),
        6,
        "no keep-alive once the session is released"
    );
    assert!(hs.script.is_empty());
    assert_eq!(hs.events.len(), 2, "suppressed keep-alives raise no events");
}

#[test]
fn kwp_keepalive_is_answered_and_its_failure_reported() {
    let mut hs = Harness::new(
        ClientConfig::kwp(),
        vec![
            step("10 C0", &[(5 * MS, "50 C0")]),
            step("3E 01", &[(5 * MS, "7E 01")]),
            step("3E 01", &[]),
        ],
    );
    let id = hs.request(h("10 C0"));
    hs.client.set_session_held(true);
    hs.run_until(4_500 * MS);
    assert_eq!(hs.sent_times(), vec![0, 2_005 * MS, 4_010 * MS]);
    assert_eq!(hs.events.len(), 2, "{:?}", hs.events);
    assert!(matches!(hs.events[0], (_, ClientEvent::Response { id: got, .. }) if got == id));
    let (at, ev) = &hs.events[1];
    assert_eq!(*at, 4_160 * MS);
    assert!(
        matches!(
            ev,
            ClientEvent::KeepAliveFailed {
                error: ClientError::Timeout { sid: 0x3E, .. }
            }
        ),
        "{ev:?}"
    );
}

#[test]
fn user_request_waits_behind_an_answered_keepalive() {
    let mut hs = Harness::new(
        ClientConfig::kwp(),
        vec![
            step("10 C0", &[(5 * MS, "50 C0")]),
            step("3E 01", &[(30 * MS, "7E 01")]),
            step("21 44", &[(5 * MS, "61 44 01")]),
        ],
    );
    hs.request(h("10 C0"));
    hs.client.set_session_held(true);
    hs.run_until(2_010 * MS);
    let id = hs.request(h("21 44"));
    let (at, ev) = hs.outcome(id);
    assert_eq!(hs.sent_times()[..3], [0, 2_005 * MS, 2_035 * MS]);
    assert_eq!(at, 2_040 * MS);
    assert!(matches!(ev, ClientEvent::Response { .. }));
}

#[test]
fn suppressed_positive_response_completes_on_p2() {
    let mut hs = Harness::new(
        ClientConfig::uds(),
        vec![
            step("3E 80", &[]),
            step("10 83", &[]),
            step("3E 80", &[(10 * MS, "7F 3E 22")]),
        ],
    );
    let id = hs.request(h("3E 80"));
    assert_eq!(hs.outcome(id), (150 * MS, ClientEvent::Suppressed { id }));
    let id = hs.request(h("10 83"));
    assert_eq!(hs.outcome(id).1, ClientEvent::Suppressed { id });
    assert_eq!(hs.client.open_session(), Some(0x03));
    // A negative response still arrives and is reported.
    let id = hs.request(h("3E 80"));
    assert_eq!(
        hs.outcome(id).1,
        ClientEvent::Negative {
            id,
            nrc: Nrc::ConditionsNotCorrect,
            payload: h("7F 3E 22")
        }
    );
}

/// Real ECUs answer suppressed requests anyway (a Hyundai Kona's answer
/// `10 90` with `50 90`): in time, the answer is the request's; late, it is
/// not taken for the next request's.
#[test]
fn answers_to_suppressed_requests_are_accepted() {
    let mut hs = Harness::new(
        ClientConfig::uds(),
        vec![
            step("10 90", &[(5 * MS, "50 90")]),
            step("10 83", &[(200 * MS, "50 83")]),
            step("10 03", &[(100 * MS, "50 03")]),
        ],
    );
    let id = hs.request(h("10 90"));
    assert_eq!(
        hs.outcome(id),
        (
            5 * MS,
            ClientEvent::Response {
                id,
                payload: h("50 90")
            }
        )
    );
    let id = hs.request(h("10 83"));
    let (settled, ev) = hs.outcome(id);
    assert_eq!(ev, ClientEvent::Suppressed { id });
    let id = hs.request(h("10 03"));
    // `50 83` arrives 50 ms into this request's P2 and is passed over.
    assert_eq!(
        hs.outcome(id),
        (
            settled + 100 * MS,
            ClientEvent::Response {
                id,
                payload: h("50 03")
            }
        )
    );
}

/// A real ECU's multi-frame answer that stops after its first frame: the
/// request ends when the transport gives up on it (N_Cr), named for what
/// it is, not as silence after P2.
#[test]
fn an_answer_cut_short_ends_the_request_as_incomplete() {
    let mut hs = Harness::new(ClientConfig::uds(), vec![step("19 02 08", &[])]);
    let id = hs.request(h("19 02 08"));
    hs.run_until(20 * MS);
    hs.client.handle_incomplete(20 * MS, 6, 23);
    let (at, ev) = hs.outcome(id);
    assert_eq!(at, 20 * MS);
    let ClientEvent::Failed { error, .. } = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(
        error.to_string(),
        "ReadDTCInformation (0x19): the answer was cut short after 6 of 23 bytes"
    );
    // Nothing outstanding: a late report changes nothing.
    hs.client.handle_incomplete(30 * MS, 6, 23);
    assert!(hs.client.is_idle());
    assert!(hs.client.poll_event().is_none());
}

#[test]
fn suppressed_request_owes_an_answer_after_response_pending() {
    let mut hs = Harness::new(
        ClientConfig::uds(),
        vec![step("31 81 02 03", &[(10 * MS, "7F 31 78")])],
    );
    let id = hs.request(h("31 81 02 03"));
    let (at, ev) = hs.outcome(id);
    assert_eq!(at, 10 * MS + 5_000 * MS);
    assert!(matches!(
        ev,
        ClientEvent::Failed {
            error: ClientError::Timeout { .. },
            ..
        }
    ));
}

#[test]
fn uds_restore_returns_controls_then_leaves_the_session() {
    let mut hs = Harness::new(
        ClientConfig::uds(),
        vec![
            step("10 03", &[(5 * MS, "50 03 00 32 01 F4")]),
            step("2F D1 03 03 01", &[(5 * MS, "6F D1 03 03 01")]),
            step("2F D1 04 03 01", &[(5 * MS, "7F 2F 22")]),
            step("2F D1 03 00", &[(5 * MS, "6F D1 03 00")]),
            step("10 01", &[(5 * MS, "50 01 00 32 01 F4")]),
        ],
    );
    assert!(hs.client.restore_requests().is_empty());
    let id = hs.request(h("10 03"));
    hs.outcome(id);
    assert_eq!(hs.client.restore_requests(), vec![h("10 01")]);
    let id = hs.request(h("2F D1 03 03 01"));
    hs.outcome(id);
    assert_eq!(
        hs.client.restore_requests(),
        vec![h("2F D1 03 00"), h("10 01")]
    );
    // Refused: the module did not take the output, nothing to return.
    let id = hs.request(h("2F D1 04 03 01"));
    hs.outcome(id);
    assert_eq!(
        hs.client.restore_requests(),
        vec![h("2F D1 03 00"), h("10 01")]
    );
    let id = hs.request(h("2F D1 03 00"));
    hs.outcome(id);
    assert_eq!(hs.client.restore_requests(), vec![h("10 01")]);
    let id = hs.request(h("10 01"));
    hs.outcome(id);
    assert!(hs.client.restore_requests().is_empty());
}

#[test]
fn nissan_restore_ends_the_active_test_then_the_session() {
    let mut hs = Harness::new(
        ClientConfig::kwp(),
        vec![
            step("10 C0", &[(5 * MS, "50 C0")]),
            step("30 26 00 01", &[(5 * MS, "70 26 00 01")]),
            step("30 27 00 01", &[]),
            step("30 26 00 00", &[(5 * MS, "70 26 00 00")]),
        ],
    );
    let id = hs.request(h("10 C0"));
    hs.outcome(id);
    let id = hs.request(h("30 26 00 01"));
    hs.outcome(id);
    assert_eq!(
        hs.client.restore_requests(),
        vec![h("30 26 00 00"), h("10 81")]
    );
    // No answer: the output may be driven, so it must be handed back too.
    let id = hs.request(h("30 27 00 01"));
    assert!(matches!(hs.outcome(id).1, ClientEvent::Failed { .. }));
    assert_eq!(
        hs.client.restore_requests(),
        vec![h("30 27 00 00"), h("30 26 00 00"), h("10 81")]
    );
    let id = hs.request(h("30 26 00 00"));
    hs.outcome(id);
    assert_eq!(
        hs.client.restore_requests(),
        vec![h("30 27 00 00"), h("10 81")]
    );
}

#[test]
fn iso_kwp_restore_uses_return_control() {
    let cfg = ClientConfig {
        kwp_io_restore: KwpIoRestore::ReturnControlParameter,
        ..ClientConfig::kwp()
    };
    let mut hs = Harness::new(cfg, vec![step("30 11 07 00", &[(5 * MS, "70 11 07 00")])]);
    let id = hs.request(h("30 11 07 00"));
    hs.outcome(id);
    assert_eq!(hs.client.restore_requests(), vec![h("30 11 00")]);
}

#[test]
fn ecu_reset_drops_session_and_controls() {
    let mut hs = Harness::new(
        ClientConfig::uds(),
        vec![
            step("10 03", &[(5 * MS, "50 03 00 32 01 F4")]),
            step("2F D1 03 03 01", &[(5 * MS, "6F D1 03 03 01")]),
            step("11 01", &[(5 * MS, "51 01")]),
        ],
    );
    for r in ["10 03", "2F D1 03 03 01", "11 01"] {
        let id = hs.request(h(r));
        hs.outcome(id);
    }
    assert!(hs.client.restore_requests().is_empty());
}

#[derive(Debug, Clone)]
enum Op {
    Request(Vec<u8>),
    Sent,
    Message(Vec<u8>),
    Advance(u64),
    Hold(bool),
}

fn op() -> impl Strategy<Value = Op> {
    let sids = prop::sample::select(vec![0x10u8, 0x21, 0x22, 0x2F, 0x30, 0x3E, 0x11, 0x31]);
    prop_oneof![
        (sids.clone(), prop::collection::vec(any::<u8>(), 0..4)).prop_map(|(s, mut b)| {
            b.insert(0, s);
            Op::Request(b)
        }),
        Just(Op::Sent),
        (
            sids,
            prop::collection::vec(any::<u8>(), 0..5),
            prop::bool::ANY
        )
            .prop_map(|(s, mut b, neg)| {
                if neg {
                    b.insert(0, s);
                    b.insert(0, 0x7F);
                } else {
                    b.insert(0, s + 0x40);
                }
                Op::Message(b)
            }),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(Op::Message),
        (0u64..6_000_000).prop_map(Op::Advance),
        prop::bool::ANY.prop_map(Op::Hold),
    ]
}

proptest! {
    /// Whatever arrives in whatever order: no panic, deadlines never lie in
    /// the past after `handle_timeout`, and every accepted request ends in
    /// exactly one event once time runs on.
    #[test]
    fn any_sequence_is_safe(ops in prop::collection::vec(op(), 0..40), kwp_mode: bool) {
        let cfg = if kwp_mode { ClientConfig::kwp() } else { ClientConfig::uds() };
        let mut c = Client::new(cfg);
        let mut now = 0u64;
        let mut accepted = Vec::new();
        let mut ended = Vec::new();
        let drain = |c: &mut Client, ended: &mut Vec<RequestId>| {
            while c.poll_transmit().is_some() {}
            while let Some(e) = c.poll_event() {
                ended.extend(event_id(&e));
            }
        };
        for op in ops {
            match op {
                Op::Request(r) => { if let Ok(id) = c.request(now, r) { accepted.push(id); } }
                Op::Sent => c.handle_sent(now),
                Op::Message(m) => c.handle_message(now, &m),
                Op::Advance(d) => {
                    now += d;
                    if c.poll_timeout().is_some_and(|t| t <= now) {
                        c.handle_timeout(now);
                        prop_assert!(c.poll_timeout().is_none_or(|t| t > now));
                    }
                }
                Op::Hold(b) => c.set_session_held(b),
            }
            drain(&mut c, &mut ended);
        }
        c.set_session_held(false);
        for _ in 0..100 {
            drain(&mut c, &mut ended);
            c.handle_sent(now);
            // handle_sent may finish a keep-alive and start a queued request.
            drain(&mut c, &mut ended);
            match c.poll_timeout() {
                Some(t) => { now = now.max(t); c.handle_timeout(now); }
                None => break,
            }
            prop_assert!(c.poll_timeout().is_none_or(|t| t > now));
        }
        drain(&mut c, &mut ended);
        prop_assert!(c.is_idle());
        ended.sort();
        prop_assert_eq!(ended, accepted);
    }
}
