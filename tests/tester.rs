//! The tester driver on the virtual bus against a scripted ECU task, on
//! virtual time: every service round-trips through ISO-TP and the client,
//! the timing rules hold, bad answers give clear errors, and every way a run
//! can end hands the outputs back and leaves the session.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use trunkdiag::diag::client::ClientConfig;
use trunkdiag::diag::{kwp, obd, uds, Nrc};
use trunkdiag::frame::{CanFrame, CanId, Direction, IfName};
use trunkdiag::isotp::{IsoTpChannel, IsoTpConfig, IsoTpEvent};
use trunkdiag::tester::{Response, Shutdown, Tester, TesterError};
use trunkdiag::transport::{CanBus, VirtualBus, VirtualEndpoint};

const TX: CanId = CanId::Standard(0x7E0);
const RX: CanId = CanId::Standard(0x7E8);

/// What the scripted ECU does in answer to one request.
#[derive(Debug, Clone)]
enum Step {
    /// Wait this long (virtual µs) before the following steps.
    Wait(u64),
    Reply(Vec<u8>),
    /// One raw CAN frame on the response id, outside ISO-TP (to cut an
    /// answer short, as real ECUs do).
    Frame(Vec<u8>),
}

fn reply(bytes: &[u8]) -> Step {
    Step::Reply(bytes.to_vec())
}

fn pending(sid: u8) -> Step {
    Step::Reply(vec![0x7F, sid, 0x78])
}

type Script = Box<dyn FnMut(&[u8]) -> Vec<Step> + Send>;

/// An ECU on the bus: answers each request it receives by the script, with
/// its own ISO-TP channel (flow control, segmentation). Returns every
/// request it received once the tester's endpoint is gone.
fn spawn_ecu(bus: &VirtualBus, mut script: Script) -> JoinHandle<Vec<Vec<u8>>> {
    let mut ep = bus.endpoint(IfName::new("vcan0").unwrap());
    tokio::spawn(async move {
        let mut ch = IsoTpChannel::new(IsoTpConfig::new(RX, TX));
        let mut due: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
        let mut raw: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
        let mut log = Vec::new();
        loop {
            let now = ep.now_us();
            while raw.front().is_some_and(|(at, _)| *at <= now) {
                let (_, bytes) = raw.pop_front().unwrap();
                let mut f = CanFrame::classic(RX, &bytes).unwrap();
                f.timestamp_us = now;
                ep.send(&f).await.unwrap();
            }
            let mut tx_busy = false;
            while let Some((at, _)) = due.front() {
                if *at > now {
                    break;
                }
                let (at, msg) = due.pop_front().unwrap();
                if ch.send(now, &msg).is_err() {
                    due.push_front((at, msg));
                    tx_busy = true;
                    break;
                }
            }
            while let Some(f) = ch.poll_transmit(ep.now_us()) {
                ep.send(&f).await.unwrap();
            }
            let mut got = false;
            while let Some(ev) = ch.poll_event() {
                if let IsoTpEvent::Received { payload, .. } = ev {
                    let mut t = ep.now_us();
                    for step in script(&payload) {
                        match step {
                            Step::Wait(us) => t += us,
                            Step::Reply(b) => due.push_back((t, b)),
                            Step::Frame(b) => raw.push_back((t, b)),
                        }
                    }
                    log.push(payload);
                    got = true;
                }
            }
            if got {
                continue;
            }
            let reply_at = if tx_busy {
                None
            } else {
                due.front().map(|d| d.0)
            };
            let raw_at = raw.front().map(|r| r.0);
            let next = [ch.poll_timeout(), reply_at, raw_at]
                .into_iter()
                .flatten()
                .min();
            let sleep_for = next.map(|n| Duration::from_micros(n.saturating_sub(ep.now_us())));
            tokio::select! {
                f = ep.recv() => match f {
                    Ok(f) => ch.handle_frame(ep.now_us(), &f),
                    Err(_) => return log,
                },
                _ = async {
                    match sleep_for {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                } => ch.handle_timeout(ep.now_us()),
            }
        }
    })
}

/// A script from a fixed table: request → steps; anything else gets
/// serviceNotSupported.
fn table(entries: Vec<(Vec<u8>, Vec<Step>)>) -> Script {
    Box::new(move |req: &[u8]| {
        entries
            .iter()
            .find(|(r, _)| r.as_slice() == req)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| vec![reply(&[0x7F, req.first().copied().unwrap_or(0), 0x11])])
    })
}

/// A UDS ECU that answers session control, I/O control, reads and
/// tester present like a well-behaved BCM.
fn uds_bcm() -> Script {
    Box::new(|req: &[u8]| match req {
        [0x10, s] => vec![reply(&[0x50, *s, 0x00, 0x32, 0x01, 0xF4])],
        [0x2F, hi, lo, p, rest @ ..] => {
            let mut r = vec![0x6F, *hi, *lo, *p];
            r.extend_from_slice(rest);
            vec![reply(&r)]
        }
        [0x22, 0xF1, 0x90] => vec![reply(b"\x62\xF1\x90WDB2030461A123456")],
        [0x3E, 0x00] => vec![reply(&[0x7E, 0x00])],
        [0x3E, 0x80] => vec![],
        [sid, ..] => vec![reply(&[0x7F, *sid, 0x11])],
        [] => vec![],
    })
}

struct Rig {
    bus: VirtualBus,
    tester: Tester<VirtualEndpoint>,
    ecu: JoinHandle<Vec<Vec<u8>>>,
}

fn rig(cfg: ClientConfig, script: Script) -> Rig {
    let bus = VirtualBus::new(1_000_000);
    let ecu = spawn_ecu(&bus, script);
    let ep = bus.endpoint(IfName::new("vcan0").unwrap());
    let tester = Tester::new(ep, IsoTpConfig::new(TX, RX), cfg, Shutdown::new());
    Rig { bus, tester, ecu }
}

impl Rig {
    /// Ends the conversation and returns what the ECU received.
    async fn finish(self) -> Vec<Vec<u8>> {
        drop(self.tester);
        drop(self.bus);
        self.ecu.await.unwrap()
    }
}

fn hex(s: &str) -> Vec<u8> {
    trunkdiag::hex::decode(s).unwrap()
}

// ------------------------------------------------------------ round trips

/// Every service of the issue, through the whole stack, single- and
/// multi-frame both ways: (config, request, ECU steps, expected payload).
#[tokio::test(start_paused = true)]
async fn every_service_round_trips() {
    let long_option: Vec<u8> = (0..40).collect();
    let routine_req = uds::routine_control(uds::routine::START, 0x0203, &long_option, false);
    let vin_did = b"\x62\xF1\x90WDB2030461A123456".to_vec();
    let vin_obd = b"\x49\x02\x01WDB2030461A123456".to_vec();
    type Case = (ClientConfig, Vec<u8>, Vec<Step>, Vec<u8>);
    let cases: Vec<Case> = vec![
        (
            ClientConfig::uds(),
            hex("10 03"),
            vec![],
            hex("50 03 00 32 01 F4"),
        ),
        (ClientConfig::uds(), hex("11 01"), vec![], hex("51 01")),
        (
            ClientConfig::uds(),
            uds::clear_dtcs(0xFF_FFFF),
            vec![],
            hex("54"),
        ),
        (
            ClientConfig::uds(),
            uds::read_dtc_count(0xFF),
            vec![],
            hex("59 01 FF 01 00 03"),
        ),
        (
            ClientConfig::uds(),
            uds::read_dtcs_by_status(0xFF),
            vec![],
            hex("59 02 FF D0 03 16 09 A5 62 00 08"),
        ),
        (
            ClientConfig::uds(),
            uds::read_supported_dtcs(),
            vec![],
            hex("59 0A FF A5 62 00 08"),
        ),
        (
            ClientConfig::uds(),
            uds::read_dids(&[0xF190]),
            vec![],
            vin_did,
        ),
        (
            ClientConfig::uds(),
            uds::short_term_adjustment(0x0101, &[0x01]),
            vec![],
            hex("6F 01 01 03 01"),
        ),
        (
            ClientConfig::uds(),
            uds::return_control(0x0101),
            vec![],
            hex("6F 01 01 00"),
        ),
        (
            ClientConfig::uds(),
            routine_req,
            vec![pending(0x31), Step::Wait(1_000_000)],
            hex("71 01 02 03 00"),
        ),
        (
            ClientConfig::uds(),
            uds::tester_present(false),
            vec![],
            hex("7E 00"),
        ),
        (
            ClientConfig::kwp(),
            kwp::start_session(0xC0),
            vec![],
            hex("50 C0"),
        ),
        (
            ClientConfig::kwp(),
            kwp::clear_dtcs(0xFF00),
            vec![],
            hex("54 FF 00"),
        ),
        (
            ClientConfig::kwp(),
            kwp::read_dtcs_by_status(0x02, 0xFF00),
            vec![pending(0x18), Step::Wait(300_000)],
            hex("58 03 92 54 60 91 60 60 01 00 A0"),
        ),
        (
            ClientConfig::kwp(),
            kwp::read_ecu_identification(0x81),
            vec![],
            hex("5A 81 31 32 33 34 35 36 37 38 39 30 31 32 33 34"),
        ),
        (
            ClientConfig::kwp(),
            kwp::read_local_id(0x44),
            vec![],
            hex("61 44 80 20"),
        ),
        (
            ClientConfig::kwp(),
            kwp::io_control_local(0x26, 0x00, &[0x01]),
            vec![],
            hex("70 26 00 01"),
        ),
        (
            ClientConfig::kwp(),
            kwp::tester_present(true),
            vec![],
            hex("7E 01"),
        ),
        (
            ClientConfig::obd(),
            obd::current_data(0x42),
            vec![],
            hex("41 42 3A 98"),
        ),
        (
            ClientConfig::obd(),
            obd::current_data(0x00),
            vec![],
            hex("41 00 BE 1F A8 13"),
        ),
        (
            ClientConfig::obd(),
            obd::read_dtcs(0x03),
            vec![],
            hex("43 02 01 43 92 56"),
        ),
        (
            ClientConfig::obd(),
            obd::read_dtcs(0x07),
            vec![],
            hex("47 00"),
        ),
        (ClientConfig::obd(), obd::read_vin(), vec![], vin_obd),
    ];
    for (cfg, req, mut steps, want) in cases {
        let proto = cfg.protocol;
        steps.push(reply(&want));
        let mut r = rig(cfg, table(vec![(req.clone(), steps)]));
        let got = r.tester.request(&req).await;
        assert_eq!(
            got.unwrap(),
            Response::Positive { payload: want },
            "{proto:?} {req:02X?}"
        );
        let log = r.finish().await;
        assert_eq!(
            log,
            vec![req.clone()],
            "{proto:?}: the ECU saw exactly the request"
        );
    }
}

/// A KWP DTC report that arrives multi-frame after a responsePending
/// decodes to its letter codes.
#[tokio::test(start_paused = true)]
async fn kwp_dtc_report_after_response_pending_decodes_to_letter_codes() {
    let req = kwp::read_dtcs_by_status(0x02, 0xFF00);
    let resp = hex("58 04 92 54 60 91 60 60 01 00 A0 D0 00 20");
    let mut r = rig(
        ClientConfig::kwp(),
        table(vec![(
            req.clone(),
            vec![pending(0x18), Step::Wait(2_000_000), reply(&resp)],
        )]),
    );
    let payload = r.tester.request_positive(&req).await.unwrap();
    let codes: Vec<String> = kwp::parse_dtcs_by_status(&payload)
        .unwrap()
        .iter()
        .map(|d| d.dtc.to_string())
        .collect();
    assert_eq!(codes, ["B1254", "B1160", "P0100", "U1000"]);
    r.finish().await;
}

/// A UDS 3-byte DTC keeps its failure type.
#[tokio::test(start_paused = true)]
async fn uds_three_byte_dtc_prints_with_failure_type() {
    let req = uds::read_dtcs_by_status(0xFF);
    let resp = hex("59 02 FF D0 03 16 09 A5 62 00 08");
    let mut r = rig(
        ClientConfig::uds(),
        table(vec![(req.clone(), vec![reply(&resp)])]),
    );
    let payload = r.tester.request_positive(&req).await.unwrap();
    let report = uds::parse_dtc_report(&payload, uds::dtc_report::BY_STATUS_MASK).unwrap();
    let codes: Vec<String> = report.records.iter().map(|d| d.dtc.to_string()).collect();
    assert_eq!(codes, ["U1003:16", "B2562:00"]);
    r.finish().await;
}

// ------------------------------------------------------- timing and errors

#[tokio::test(start_paused = true)]
async fn response_pending_within_the_limit_is_waited_out() {
    let req = hex("22 F1 90");
    let mut steps = Vec::new();
    for _ in 0..10 {
        steps.push(pending(0x22));
        steps.push(Step::Wait(4_000_000));
    }
    steps.push(reply(&hex("62 F1 90 41")));
    let mut r = rig(ClientConfig::uds(), table(vec![(req.clone(), steps)]));
    let start = Instant::now();
    let got = r.tester.request_positive(&req).await.unwrap();
    assert_eq!(got, hex("62 F1 90 41"));
    // Ten pending answers 4 s apart: the wait stretched to P2* each time.
    assert_eq!(start.elapsed().as_secs(), 40);
    r.finish().await;
}

#[tokio::test(start_paused = true)]
async fn response_pending_storm_is_an_error_naming_the_service() {
    let req = hex("22 F1 90");
    let steps = (0..20)
        .flat_map(|_| [pending(0x22), Step::Wait(1_000_000)])
        .collect();
    let mut r = rig(ClientConfig::uds(), table(vec![(req.clone(), steps)]));
    let err = r.tester.request(&req).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("ReadDataByIdentifier (0x22)"), "{msg}");
    assert!(msg.contains("responsePending storm"), "{msg}");
    assert!(msg.contains("7E0 → 7E8"), "{msg}");
    r.finish().await;
}

#[tokio::test(start_paused = true)]
async fn busy_repeat_request_is_resent_then_succeeds() {
    let mut n = 0;
    let script: Script = Box::new(move |req: &[u8]| {
        n += 1;
        if n <= 2 {
            vec![reply(&[0x7F, req[0], 0x21])]
        } else {
            vec![reply(&hex("62 F1 90 41"))]
        }
    });
    let mut r = rig(ClientConfig::uds(), script);
    let got = r.tester.request_positive(&hex("22 F1 90")).await.unwrap();
    assert_eq!(got, hex("62 F1 90 41"));
    assert_eq!(r.finish().await, vec![hex("22 F1 90"); 3]);
}

#[tokio::test(start_paused = true)]
async fn busy_repeat_request_forever_gives_up_after_the_retries() {
    let script: Script = Box::new(|req: &[u8]| vec![reply(&[0x7F, req[0], 0x21])]);
    let mut r = rig(ClientConfig::uds(), script);
    let err = r.tester.request(&hex("22 F1 90")).await.unwrap_err();
    assert!(err.to_string().contains("busyRepeatRequest"), "{err}");
    // The first try and the three configured retries.
    assert_eq!(r.finish().await.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn silence_is_a_timeout_naming_service_and_ids() {
    let script: Script = Box::new(|_: &[u8]| vec![]);
    let mut r = rig(ClientConfig::uds(), script);
    let start = Instant::now();
    let err = r.tester.request(&hex("22 F1 90")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "ReadDataByIdentifier (0x22): no response within 150 ms on 7E0 → 7E8"
    );
    assert_eq!(start.elapsed(), Duration::from_millis(150));
    r.finish().await;
}

/// A real ECU that stops its answer after the first frame (a Hyundai
/// Kona's did, 6 of 23 bytes): P2 stops with the first frame, the transport
/// waits N_Cr (1 s) for the rest, and the request ends as an answer cut
/// short, named, not as silence.
#[tokio::test(start_paused = true)]
async fn an_answer_cut_short_is_named_after_n_cr() {
    let script: Script = Box::new(|_: &[u8]| {
        vec![
            Step::Wait(10_000),
            Step::Frame(hex("10 17 59 02 09 96 03 00")),
        ]
    });
    let mut r = rig(ClientConfig::uds(), script);
    let start = Instant::now();
    let err = r.tester.request(&hex("19 02 08")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "ReadDTCInformation (0x19): the answer was cut short after 6 of 23 bytes on 7E0 → 7E8"
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1_010) && waited < Duration::from_millis(1_020),
        "{waited:?}"
    );
    // The run goes on: the next request is sent (and cut short again).
    r.tester.request(&hex("19 02 08")).await.unwrap_err();
    r.finish().await;
}

#[tokio::test(start_paused = true)]
async fn malformed_answers_give_clear_errors() {
    let cases: Vec<(&str, &str, &str)> = vec![
        (
            "22 F1 90",
            "62 F1 91 41",
            "wrong echo in response 62F19141: expected it to start 62F190",
        ),
        (
            "22 F1 90",
            "7F 22",
            "malformed response 7F22: expected 7F <sid> <nrc>",
        ),
        ("2F 01 01 03 01", "6F", "malformed response 6F"),
        // An answer to another service is not ours: the wait goes on to P2.
        ("22 F1 90", "50 03", "no response within 150 ms"),
    ];
    for (req, resp, want) in cases {
        let mut r = rig(
            ClientConfig::uds(),
            table(vec![(hex(req), vec![reply(&hex(resp))])]),
        );
        let err = r.tester.request(&hex(req)).await.unwrap_err();
        assert!(err.to_string().contains(want), "{req} → {resp}: {err}");
        r.finish().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_negative_response_is_named() {
    let req = hex("22 12 34");
    let mut r = rig(
        ClientConfig::uds(),
        table(vec![(req.clone(), vec![reply(&hex("7F 22 31"))])]),
    );
    let got = r.tester.request(&req).await.unwrap();
    assert_eq!(
        got,
        Response::Negative {
            nrc: Nrc::from(0x31),
            payload: hex("7F 22 31")
        }
    );
    let err = r.tester.request_positive(&req).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "ReadDataByIdentifier (0x22) on 7E0 → 7E8: negative response 0x31 requestOutOfRange"
    );
    r.finish().await;
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Whatever the module answers, the tester returns a value or an error.
    #[test]
    fn any_answer_gives_a_result_never_a_panic(
        answer in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..80),
        sid in proptest::sample::select(vec![0x10u8, 0x19, 0x22, 0x2F, 0x31]),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        rt.block_on(async {
            let req = match sid {
                0x10 => hex("10 03"),
                0x19 => uds::read_dtcs_by_status(0xFF),
                0x22 => hex("22 F1 90"),
                0x2F => hex("2F 01 01 03 01"),
                _ => hex("31 01 02 03"),
            };
            let mut r = rig(ClientConfig::uds(), table(vec![(req.clone(), vec![reply(&answer)])]));
            let _ = r.tester.request(&req).await;
            let _ = r.tester.close().await;
            r.finish().await;
        });
    }
}

// ------------------------------------------------------------ the tap

#[tokio::test(start_paused = true)]
async fn the_tap_sees_every_frame_on_the_bus_in_order() {
    let mut r = rig(ClientConfig::uds(), uds_bcm());
    let mut bus_tap = r.bus.tap();
    let seen: Arc<Mutex<Vec<(CanFrame, Direction)>>> = Arc::default();
    let sink = Arc::clone(&seen);
    r.tester
        .set_tap(Box::new(move |f, d| sink.lock().unwrap().push((*f, d))));
    r.tester.request_positive(&hex("22 F1 90")).await.unwrap();
    r.finish().await;
    let mut on_bus = Vec::new();
    while let Ok(f) = bus_tap.try_recv() {
        on_bus.push(f);
    }
    let seen = seen.lock().unwrap();
    // SF request, FF response, our FC, 2 CFs.
    assert_eq!(on_bus.len(), 5);
    assert_eq!(seen.len(), on_bus.len());
    for ((f, d), b) in seen.iter().zip(&on_bus) {
        assert_eq!(
            (f.id, f.data(), f.timestamp_us),
            (b.id, b.data(), b.timestamp_us)
        );
        let want = if b.id == TX {
            Direction::Tx
        } else {
            Direction::Rx
        };
        assert_eq!(*d, want);
    }
}

// ------------------------------------------------------------ safe sessions

const TAKE: &str = "2F 01 01 03 01";
const GIVE_BACK: &str = "2F 01 01 00";

/// The work every safe-session test starts with: extended session, then
/// the output taken over.
async fn take_output(
    t: &mut Tester<VirtualEndpoint>,
) -> Result<trunkdiag::tester::IoControl, TesterError> {
    t.open_session(uds::session::EXTENDED).await?;
    t.io_control(&hex(TAKE)).await
}

/// The requests after the session and the take-over, without keep-alives.
fn after_take(log: &[Vec<u8>]) -> Vec<Vec<u8>> {
    assert_eq!(
        log.get(..2),
        Some(&[hex("10 03"), hex(TAKE)][..]),
        "{log:02X?}"
    );
    log[2..]
        .iter()
        .filter(|r| r.first() != Some(&0x3E))
        .cloned()
        .collect()
}

#[tokio::test(start_paused = true)]
async fn output_is_returned_when_the_work_fails() {
    let mut r = rig(ClientConfig::uds(), uds_bcm());
    let result = r
        .tester
        .run(async |t| {
            let _io = take_output(t).await?;
            t.request_positive(&hex("22 12 34")).await
        })
        .await;
    assert!(
        matches!(result, Err(TesterError::Negative { .. })),
        "{result:?}"
    );
    let log = r.finish().await;
    assert_eq!(
        after_take(&log),
        [hex("22 12 34"), hex(GIVE_BACK), hex("10 01")]
    );
}

#[tokio::test(start_paused = true)]
async fn output_is_returned_after_a_request_timed_out() {
    // The module takes the output, then misses one request, then answers again.
    let mut bcm = uds_bcm();
    let script: Script = Box::new(move |req: &[u8]| {
        if req == hex("22 F1 90").as_slice() {
            vec![]
        } else {
            bcm(req)
        }
    });
    let mut r = rig(ClientConfig::uds(), script);
    let result = r
        .tester
        .run(async |t| {
            let _io = take_output(t).await?;
            t.request_positive(&hex("22 F1 90")).await
        })
        .await;
    let err = result.unwrap_err();
    assert!(err.to_string().contains("no response within"), "{err}");
    let log = r.finish().await;
    assert_eq!(
        after_take(&log),
        [hex("22 F1 90"), hex(GIVE_BACK), hex("10 01")]
    );
}

#[tokio::test(start_paused = true)]
async fn output_is_returned_when_the_take_over_itself_timed_out() {
    // The module may have acted on a request it never answered.
    let script: Script = Box::new(|req: &[u8]| match req {
        [0x10, s] => vec![reply(&[0x50, *s, 0x00, 0x32, 0x01, 0xF4])],
        [0x2F, _, _, 0x03, ..] => vec![],
        [0x2F, hi, lo, p] => vec![reply(&[0x6F, *hi, *lo, *p])],
        _ => vec![],
    });
    let mut r = rig(ClientConfig::uds(), script);
    let result = r.tester.run(async |t| take_output(t).await.map(drop)).await;
    assert!(result.is_err());
    let log = r.finish().await;
    assert_eq!(after_take(&log), [hex(GIVE_BACK), hex("10 01")]);
}

#[tokio::test(start_paused = true)]
async fn output_is_returned_when_an_outer_timeout_cancels_a_request_in_flight() {
    // The read is answered only after 3 s of responsePending; the caller
    // gives up after 1 s, in the middle of the exchange.
    let mut bcm = uds_bcm();
    let script: Script = Box::new(move |req: &[u8]| {
        if req == hex("22 F1 90").as_slice() {
            vec![
                pending(0x22),
                Step::Wait(3_000_000),
                reply(&hex("62 F1 90 41")),
            ]
        } else {
            bcm(req)
        }
    });
    let mut r = rig(ClientConfig::uds(), script);
    let result = r
        .tester
        .run(async |t| {
            let _io = take_output(t).await?;
            match tokio::time::timeout(Duration::from_secs(1), t.request(&hex("22 F1 90"))).await {
                Ok(resp) => resp.map(drop),
                Err(_) => Err(TesterError::Interrupted),
            }
        })
        .await;
    assert!(matches!(result, Err(TesterError::Interrupted)));
    let log = r.finish().await;
    // The answer in flight is waited out before the return (one request at
    // a time), then the output goes back.
    assert_eq!(
        after_take(&log),
        [hex("22 F1 90"), hex(GIVE_BACK), hex("10 01")]
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_handle_returns_the_output_before_the_next_request() {
    let mut r = rig(ClientConfig::uds(), uds_bcm());
    let result = r
        .tester
        .run(async |t| {
            let io = take_output(t).await?;
            assert_eq!(io.return_request(), hex(GIVE_BACK));
            drop(io);
            t.request_positive(&hex("22 F1 90")).await
        })
        .await;
    assert!(result.is_ok(), "{result:?}");
    let log = r.finish().await;
    // Returned at once, and not a second time at close.
    assert_eq!(
        after_take(&log),
        [hex(GIVE_BACK), hex("22 F1 90"), hex("10 01")]
    );
}

#[tokio::test(start_paused = true)]
async fn a_released_handle_is_not_returned_twice() {
    let mut r = rig(ClientConfig::uds(), uds_bcm());
    let result = r
        .tester
        .run(async |t| {
            let io = take_output(t).await?;
            io.release(t).await
        })
        .await;
    assert_eq!(
        result.unwrap(),
        Response::Positive {
            payload: hex("6F 01 01 00")
        }
    );
    let log = r.finish().await;
    assert_eq!(after_take(&log), [hex(GIVE_BACK), hex("10 01")]);
}

#[tokio::test(start_paused = true)]
async fn output_is_returned_on_the_shutdown_signal_while_idle() {
    let mut r = rig(ClientConfig::uds(), uds_bcm());
    let signal = r.tester.shutdown().clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        // What the SIGINT / SIGTERM handler does.
        signal.trigger();
    });
    let start = Instant::now();
    let result = r
        .tester
        .run(async |t| {
            let _io = take_output(t).await?;
            t.idle(Duration::from_secs(600)).await
        })
        .await;
    assert!(
        matches!(result, Err(TesterError::Interrupted)),
        "{result:?}"
    );
    assert_eq!(start.elapsed().as_secs(), 5, "interrupted at the signal");
    let log = r.finish().await;
    // Keep-alives went out every 2 s while the session was held.
    let keepalives = log.iter().filter(|r| r.as_slice() == [0x3E, 0x80]).count();
    assert_eq!(keepalives, 2, "{log:02X?}");
    assert_eq!(after_take(&log), [hex(GIVE_BACK), hex("10 01")]);
}

#[tokio::test(start_paused = true)]
async fn output_is_returned_on_the_shutdown_signal_during_work_that_is_not_the_tester() {
    // The work waits on something else (a prompt to the user): the signal
    // raced in `run` still ends it and the output is returned.
    let mut r = rig(ClientConfig::uds(), uds_bcm());
    let signal = r.tester.shutdown().clone();
    let result = r
        .tester
        .run(async |t| {
            let _io = take_output(t).await?;
            signal.trigger();
            std::future::pending::<Result<(), TesterError>>().await
        })
        .await;
    assert!(matches!(result, Err(TesterError::Interrupted)));
    let log = r.finish().await;
    assert_eq!(after_take(&log), [hex(GIVE_BACK), hex("10 01")]);
}

#[tokio::test(start_paused = true)]
async fn kwp_nissan_output_is_returned_with_a_zero_state_and_the_session_left() {
    let script: Script = Box::new(|req: &[u8]| match req {
        [0x10, s] => vec![reply(&[0x50, *s])],
        [0x30, lid, c, state @ ..] => {
            let mut v = vec![0x70, *lid, *c];
            v.extend_from_slice(state);
            vec![reply(&v)]
        }
        [0x3E, 0x01] => vec![reply(&[0x7E, 0x01])],
        [sid, ..] => vec![reply(&[0x7F, *sid, 0x11])],
        [] => vec![],
    });
    let mut r = rig(ClientConfig::kwp(), script);
    let result = r
        .tester
        .run(async |t| {
            t.open_session(kwp::session::NISSAN_C0).await?;
            let _io = t.io_control(&hex("30 26 00 01")).await?;
            t.request_positive(&hex("21 99")).await
        })
        .await;
    assert!(result.is_err());
    let log = r.finish().await;
    assert_eq!(
        log,
        [
            hex("10 C0"),
            hex("30 26 00 01"),
            hex("21 99"),
            hex("30 26 00 00"),
            hex("10 81")
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_return_is_reported_by_close() {
    let mut bcm = uds_bcm();
    let script: Script = Box::new(move |req: &[u8]| {
        if req == hex(GIVE_BACK).as_slice() {
            vec![reply(&hex("7F 2F 22"))]
        } else {
            bcm(req)
        }
    });
    let mut r = rig(ClientConfig::uds(), script);
    let result = r.tester.run(async |t| take_output(t).await.map(drop)).await;
    let err = result.unwrap_err();
    assert!(
        err.to_string()
            .contains("2F010100: negative response 0x22 conditionsNotCorrect"),
        "{err}"
    );
    let log = r.finish().await;
    // The session is still left after the refused return.
    assert_eq!(after_take(&log), [hex(GIVE_BACK), hex("10 01")]);
}
