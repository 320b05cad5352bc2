//! ISO-TP at its boundaries: two channels wired back to back on virtual time
//! (`Pair::drive`, after quinn-proto's tests/util.rs), the passive
//! reassembler reading what went over the wire, and property tests over
//! configurations and arbitrary frame sequences.

use proptest::prelude::*;
use trunkdiag::frame::{is_valid_fd_len, CanFrame, CanId};
use trunkdiag::isotp::{
    shape, st_min_us, Addressing, FrameFormat, IsoTpChannel, IsoTpConfig, IsoTpError, IsoTpEvent,
    PduKind, Reassembler, Shape, Timer,
};

const TESTER: CanId = CanId::Standard(0x7E0);
const ECU: CanId = CanId::Standard(0x7E8);

/// Which end of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

/// A tester (`a`) and an ECU (`b`) on one virtual bus.
struct Pair {
    a: IsoTpChannel,
    b: IsoTpChannel,
    now: u64,
    /// Every frame that went over the bus, in order.
    wire: Vec<(Side, CanFrame)>,
    a_events: Vec<IsoTpEvent>,
    b_events: Vec<IsoTpEvent>,
}

impl Pair {
    fn new(a: IsoTpConfig) -> Pair {
        let mut b = a;
        b.tx_id = a.rx_id;
        b.rx_id = a.tx_id;
        b.addressing = match a.addressing {
            Addressing::NormalFixed { source, target } => Addressing::NormalFixed {
                source: target,
                target: source,
            },
            other => other.peer(),
        };
        Pair::with(a, b)
    }

    fn with(a: IsoTpConfig, b: IsoTpConfig) -> Pair {
        Pair {
            a: IsoTpChannel::new(a),
            b: IsoTpChannel::new(b),
            now: 0,
            wire: Vec::new(),
            a_events: Vec::new(),
            b_events: Vec::new(),
        }
    }

    /// Runs both ends until neither has anything left to do: frames are
    /// delivered at once, time jumps to the next deadline.
    fn drive(&mut self) {
        for _ in 0..10_000_000 {
            let mut moved = false;
            while let Some(f) = self.a.poll_transmit(self.now) {
                assert_eq!(f.timestamp_us, self.now, "frames carry now");
                self.wire.push((Side::A, f));
                self.b.handle_frame(self.now, &f);
                moved = true;
            }
            while let Some(f) = self.b.poll_transmit(self.now) {
                assert_eq!(f.timestamp_us, self.now, "frames carry now");
                self.wire.push((Side::B, f));
                self.a.handle_frame(self.now, &f);
                moved = true;
            }
            self.a_events
                .extend(std::iter::from_fn(|| self.a.poll_event()));
            self.b_events
                .extend(std::iter::from_fn(|| self.b.poll_event()));
            if moved {
                continue;
            }
            let next = match (self.a.poll_timeout(), self.b.poll_timeout()) {
                (Some(x), Some(y)) => x.min(y),
                (x, y) => match x.or(y) {
                    Some(t) => t,
                    None => return,
                },
            };
            assert!(
                next >= self.now,
                "a deadline in the past: {next} < {}",
                self.now
            );
            self.now = next;
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
        }
        panic!("the pair never settled");
    }

    fn received_by_b(&self) -> Vec<Vec<u8>> {
        self.b_events
            .iter()
            .filter_map(|e| match e {
                IsoTpEvent::Received { payload, .. } => Some(payload.clone()),
                _ => None,
            })
            .collect()
    }

    fn frames_of(&self, side: Side) -> impl Iterator<Item = &CanFrame> {
        self.wire
            .iter()
            .filter(move |(s, _)| *s == side)
            .map(|(_, f)| f)
    }
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + len) as u8).collect()
}

/// Reassembles the wire passively, as `decode` would from a capture.
fn passive(pair: &Pair, addressing: Addressing) -> Vec<trunkdiag::isotp::Reassembled> {
    let mut r = Reassembler::new();
    r.follow_pair(pair.a.config().tx_id, pair.a.config().rx_id, addressing);
    let mut out = Vec::new();
    for (_, f) in &pair.wire {
        out.extend(r.feed(f));
        out.extend(r.next_pending());
    }
    out.extend(r.finish());
    out
}

/// One message from A to B, with all the checks every configuration must pass.
fn round_trip(cfg: IsoTpConfig, len: usize) -> Pair {
    let msg = payload(len);
    let mut pair = Pair::new(cfg);
    pair.a.send(0, &msg).unwrap();
    pair.drive();
    assert_eq!(pair.received_by_b(), vec![msg.clone()], "len {len} {cfg:?}");
    assert!(
        matches!(pair.a_events.as_slice(), [IsoTpEvent::Sent { .. }]),
        "{:?}",
        pair.a_events
    );
    assert!(pair.a.is_idle() && pair.b.is_idle());
    for (side, f) in &pair.wire {
        match cfg.format {
            FrameFormat::Classic => {
                assert!(!f.is_fd() && f.len() <= 8);
                if cfg.tx_padding.is_some() {
                    assert_eq!(f.len(), 8, "padded classic frames are full: {f:?}");
                }
            }
            FrameFormat::Fd { tx_dl, .. } => {
                assert!(f.is_fd() && is_valid_fd_len(f.len()) && f.len() <= usize::from(tx_dl));
            }
        }
        let address = match side {
            Side::A => cfg.addressing.tx_address(),
            Side::B => cfg.addressing.rx_address(),
        };
        if let Some(a) = address {
            assert_eq!(f.data().first(), Some(&a), "address byte of {f:?}");
        }
    }
    let seen = passive(&pair, cfg.addressing);
    let from_a: Vec<_> = seen.iter().filter(|m| m.id == cfg.tx_id).collect();
    assert_eq!(from_a.len(), 1, "{seen:?}");
    assert!(from_a[0].complete);
    assert_eq!(from_a[0].payload, msg);
    pair
}

#[test]
fn every_length_up_to_4095_round_trips_classic_padded() {
    for len in 1..=4095 {
        round_trip(IsoTpConfig::new(TESTER, ECU), len);
    }
}

#[test]
fn every_length_up_to_4095_round_trips_fd_unpadded_extended() {
    let cfg = IsoTpConfig {
        format: FrameFormat::Fd {
            tx_dl: 64,
            brs: true,
        },
        tx_padding: None,
        addressing: Addressing::Extended {
            target: 0x40,
            source: 0x40,
        },
        ..IsoTpConfig::new(CanId::Standard(0x750), CanId::Standard(0x758))
    };
    for len in 1..=4095 {
        round_trip(cfg, len);
    }
}

#[test]
fn empty_message_is_refused() {
    let mut ch = IsoTpChannel::new(IsoTpConfig::default());
    assert_eq!(ch.send(0, &[]), Err(IsoTpError::Empty));
    assert!(ch.is_idle());
}

#[test]
fn a_second_send_while_sending_is_busy() {
    let mut ch = IsoTpChannel::new(IsoTpConfig::default());
    ch.send(0, &[1; 20]).unwrap();
    assert_eq!(ch.send(0, &[1]), Err(IsoTpError::Busy));
}

#[test]
fn escape_first_frame_carries_5000_bytes() {
    for format in [
        FrameFormat::Classic,
        FrameFormat::Fd {
            tx_dl: 64,
            brs: false,
        },
    ] {
        let cfg = IsoTpConfig {
            format,
            ..IsoTpConfig::new(TESTER, ECU)
        };
        let pair = round_trip(cfg, 5000);
        let ff = pair.frames_of(Side::A).next().unwrap();
        assert_eq!(ff.data().get(..6), Some(&[0x10, 0, 0, 0, 0x13, 0x88][..]));
    }
}

#[test]
fn fd_single_frame_uses_the_escape_above_7_bytes() {
    let cfg = IsoTpConfig {
        format: FrameFormat::Fd {
            tx_dl: 64,
            brs: true,
        },
        tx_padding: None,
        ..IsoTpConfig::new(TESTER, ECU)
    };
    let pair = round_trip(cfg, 7);
    let sf = pair.frames_of(Side::A).next().unwrap();
    assert_eq!(sf.data().first(), Some(&0x07));
    assert_eq!(sf.len(), 8);
    let pair = round_trip(cfg, 20);
    let sf: Vec<_> = pair.frames_of(Side::A).collect();
    assert_eq!(sf.len(), 1, "20 bytes fit one CAN FD frame");
    assert_eq!(sf[0].data().get(..2), Some(&[0x00, 20][..]));
    assert_eq!(sf[0].len(), 24, "padded to the next valid FD length");
    let pair = round_trip(cfg, 63);
    assert_eq!(
        pair.frames_of(Side::A).count(),
        2,
        "63 bytes: FF (62) + CF (1)"
    );
}

#[test]
fn unpadded_frames_are_minimal() {
    let cfg = IsoTpConfig {
        tx_padding: None,
        ..IsoTpConfig::new(TESTER, ECU)
    };
    let pair = round_trip(cfg, 3);
    let sf = pair.frames_of(Side::A).next().unwrap();
    assert_eq!(
        sf.data(),
        &[&[0x03][..], &payload(3)].concat()[..],
        "{sf:?}"
    );
    let pair = round_trip(cfg, 8);
    let fc = pair.frames_of(Side::B).next().unwrap();
    assert_eq!(fc.data(), &[0x30, 0, 0][..]);
    let last_cf = pair.frames_of(Side::A).last().unwrap();
    assert_eq!(last_cf.data(), &[0x21, payload(8)[6], payload(8)[7]][..]);
}

#[test]
fn n_bs_fires_exactly_one_second_after_the_first_frame() {
    // The other timers get different values so a mix-up shows.
    let mut ch = IsoTpChannel::new(IsoTpConfig {
        n_as_us: 30_000,
        n_ar_us: 40_000,
        n_cr_us: 50_000,
        ..IsoTpConfig::default()
    });
    ch.send(5_000, &[0xAA; 20]).unwrap();
    let ff = ch.poll_transmit(7_000).unwrap();
    assert_eq!(ff.data().get(..2), Some(&[0x10, 20][..]));
    assert_eq!(ch.poll_transmit(7_000), None, "no CF before flow control");
    assert_eq!(ch.poll_timeout(), Some(1_007_000));
    ch.handle_timeout(1_006_999);
    assert_eq!(ch.poll_event(), None);
    ch.handle_timeout(1_007_000);
    assert_eq!(
        ch.poll_event(),
        Some(IsoTpEvent::Error(IsoTpError::Timeout {
            which: Timer::NBs,
            at_us: 1_007_000
        }))
    );
    assert!(ch.is_idle());
    assert_eq!(ch.poll_timeout(), None);
}

#[test]
fn n_as_fires_when_a_due_frame_is_never_polled() {
    let mut ch = IsoTpChannel::new(IsoTpConfig::default());
    ch.send(10, &[1, 2, 3]).unwrap();
    assert_eq!(ch.poll_timeout(), Some(1_000_010));
    ch.handle_timeout(1_000_010);
    assert!(matches!(
        ch.poll_event(),
        Some(IsoTpEvent::Error(IsoTpError::Timeout {
            which: Timer::NAs,
            ..
        }))
    ));
    assert_eq!(ch.poll_transmit(1_000_010), None);
}

fn frame(id: CanId, data: &[u8]) -> CanFrame {
    CanFrame::classic(id, data).unwrap()
}

#[test]
fn n_cr_fires_one_second_after_our_flow_control() {
    let mut ecu = IsoTpChannel::new(IsoTpConfig {
        n_as_us: 30_000,
        n_bs_us: 50_000,
        ..IsoTpConfig::new(ECU, TESTER)
    });
    ecu.handle_frame(100, &frame(TESTER, &[0x10, 20, 1, 2, 3, 4, 5, 6]));
    assert_eq!(
        ecu.poll_timeout(),
        Some(1_000_100),
        "N_Ar until our FC leaves"
    );
    let fc = ecu.poll_transmit(250).unwrap();
    assert_eq!(fc.data(), &[0x30, 0, 0, 0xCC, 0xCC, 0xCC, 0xCC, 0xCC][..]);
    assert_eq!(ecu.poll_timeout(), Some(1_000_250));
    ecu.handle_frame(600_000, &frame(TESTER, &[0x21, 7, 8, 9, 10, 11, 12, 13]));
    assert_eq!(ecu.poll_timeout(), Some(1_600_000), "each CF restarts N_Cr");
    ecu.handle_timeout(1_600_000);
    assert_eq!(
        ecu.poll_event(),
        Some(IsoTpEvent::Error(IsoTpError::CutShort {
            received: 13,
            len: 20,
            at_us: 1_600_000
        }))
    );
    assert!(ecu.is_idle());
}

/// CF times of side A, per block (a new block starts after each FC).
fn cf_gaps(pair: &Pair) -> Vec<u64> {
    let mut gaps = Vec::new();
    let mut last: Option<u64> = None;
    let at = usize::from(pair.a.config().addressing.has_address_byte());
    for (side, f) in &pair.wire {
        let pci = f.data().get(at).copied().unwrap_or(0) >> 4;
        match (side, pci) {
            (Side::A, 2) => {
                if let Some(t) = last {
                    gaps.push(f.timestamp_us - t);
                }
                last = Some(f.timestamp_us);
            }
            (Side::B, 3) => last = None,
            _ => {}
        }
    }
    gaps
}

#[test]
fn st_min_spacing_is_exactly_honoured() {
    for (st, gap) in [
        (0xF3u8, 300u64),
        (0xF1, 100),
        (0x05, 5_000),
        (0x80, 127_000),
        (0xFA, 127_000),
    ] {
        let a = IsoTpConfig::new(TESTER, ECU);
        let b = IsoTpConfig {
            st_min: st,
            ..IsoTpConfig::new(ECU, TESTER)
        };
        let mut pair = Pair::with(a, b);
        pair.a.send(0, &payload(60)).unwrap();
        pair.drive();
        assert_eq!(pair.received_by_b(), vec![payload(60)]);
        let gaps = cf_gaps(&pair);
        assert_eq!(gaps.len(), 7, "8 CFs, 7 gaps");
        assert!(gaps.iter().all(|g| *g == gap), "STmin {st:#x}: {gaps:?}");
    }
}

#[test]
fn block_size_asks_for_a_flow_control_every_block() {
    let a = IsoTpConfig::new(TESTER, ECU);
    let b = IsoTpConfig {
        block_size: 4,
        st_min: 0x01,
        ..IsoTpConfig::new(ECU, TESTER)
    };
    let mut pair = Pair::with(a, b);
    pair.a.send(0, &payload(100)).unwrap();
    pair.drive();
    assert_eq!(pair.received_by_b(), vec![payload(100)]);
    // 100 bytes: FF with 6, then 14 CFs of 7 -> FCs after FF and after CF 4, 8, 12.
    let fcs: Vec<_> = pair.frames_of(Side::B).collect();
    assert_eq!(fcs.len(), 4);
    assert!(fcs
        .iter()
        .all(|f| f.data().get(..3) == Some(&[0x30, 4, 0x01][..])));
    assert!(cf_gaps(&pair).iter().all(|g| *g == 1_000));
}

#[test]
fn flow_control_wait_restarts_n_bs_and_the_limit_aborts() {
    let mut ch = IsoTpChannel::new(IsoTpConfig {
        max_wft: 2,
        ..IsoTpConfig::default()
    });
    ch.send(0, &[0x55; 30]).unwrap();
    ch.poll_transmit(0).unwrap();
    let wait = frame(ECU, &[0x31, 0, 0]);
    ch.handle_frame(500_000, &wait);
    assert_eq!(ch.poll_timeout(), Some(1_500_000), "WAIT restarts N_Bs");
    ch.handle_timeout(1_000_000);
    assert_eq!(ch.poll_event(), None);
    ch.handle_frame(1_200_000, &wait);
    assert_eq!(ch.poll_timeout(), Some(2_200_000));
    ch.handle_frame(1_300_000, &wait);
    assert_eq!(
        ch.poll_event(),
        Some(IsoTpEvent::Error(IsoTpError::WaitLimit { max_wft: 2 }))
    );
    assert!(ch.is_idle());
}

#[test]
fn flow_control_wait_then_cts_completes() {
    let mut ch = IsoTpChannel::new(IsoTpConfig::default());
    ch.send(0, &payload(10)).unwrap();
    ch.poll_transmit(0).unwrap();
    ch.handle_frame(900_000, &frame(ECU, &[0x31, 0, 0]));
    ch.handle_timeout(1_000_000);
    assert_eq!(ch.poll_event(), None);
    ch.handle_frame(1_800_000, &frame(ECU, &[0x30, 0, 0]));
    let cf = ch.poll_transmit(1_800_000).unwrap();
    assert_eq!(cf.data().first(), Some(&0x21));
    assert_eq!(ch.poll_event(), Some(IsoTpEvent::Sent { at_us: 1_800_000 }));
}

#[test]
fn overflow_both_ways() {
    let a = IsoTpConfig::new(TESTER, ECU);
    let b = IsoTpConfig {
        max_rx_len: 100,
        ..IsoTpConfig::new(ECU, TESTER)
    };
    let mut pair = Pair::with(a, b);
    pair.a.send(0, &payload(101)).unwrap();
    pair.drive();
    assert_eq!(pair.a_events, vec![IsoTpEvent::Error(IsoTpError::Overflow)]);
    assert_eq!(
        pair.b_events,
        vec![IsoTpEvent::Error(IsoTpError::RxOverflow {
            len: 101,
            max: 100
        })]
    );
    assert!(pair.a.is_idle() && pair.b.is_idle());
}

#[test]
fn reserved_flow_status_aborts() {
    let mut ch = IsoTpChannel::new(IsoTpConfig::default());
    ch.send(0, &payload(10)).unwrap();
    ch.poll_transmit(0).unwrap();
    ch.handle_frame(1, &frame(ECU, &[0x37, 0, 0]));
    assert_eq!(
        ch.poll_event(),
        Some(IsoTpEvent::Error(IsoTpError::InvalidFlowStatus { fs: 7 }))
    );
    assert!(ch.is_idle());
}

#[test]
fn wrong_sequence_number_aborts_reception() {
    let mut ecu = IsoTpChannel::new(IsoTpConfig::new(ECU, TESTER));
    ecu.handle_frame(0, &frame(TESTER, &[0x10, 20, 1, 2, 3, 4, 5, 6]));
    ecu.poll_transmit(0).unwrap();
    ecu.handle_frame(1, &frame(TESTER, &[0x22, 7, 8, 9, 10, 11, 12, 13]));
    assert_eq!(
        ecu.poll_event(),
        Some(IsoTpEvent::Error(IsoTpError::WrongSn {
            expected: 1,
            got: 2,
            received: 6,
            len: 20
        }))
    );
    assert!(ecu.is_idle());
    // The rest of the old message is now unexpected and ignored.
    ecu.handle_frame(2, &frame(TESTER, &[0x23, 7, 8, 9, 10, 11, 12, 13]));
    assert_eq!(ecu.poll_event(), None);
}

#[test]
fn new_single_or_first_frame_replaces_a_reception() {
    let mut ecu = IsoTpChannel::new(IsoTpConfig::new(ECU, TESTER));
    ecu.handle_frame(0, &frame(TESTER, &[0x10, 20, 1, 2, 3, 4, 5, 6]));
    ecu.handle_frame(1, &frame(TESTER, &[0x02, 0x3E, 0x00]));
    assert_eq!(
        ecu.poll_event(),
        Some(IsoTpEvent::Error(IsoTpError::UnexpectedPdu {
            kind: PduKind::SingleFrame,
            received: 6,
            len: 20
        }))
    );
    assert_eq!(
        ecu.poll_event(),
        Some(IsoTpEvent::Received {
            payload: vec![0x3E, 0],
            at_us: 1
        })
    );
    assert_eq!(ecu.poll_transmit(1), None, "the old FC is no longer owed");
    ecu.handle_frame(2, &frame(TESTER, &[0x10, 9, 1, 2, 3, 4, 5, 6]));
    ecu.handle_frame(3, &frame(TESTER, &[0x10, 8, 9, 9, 9, 9, 9, 9]));
    assert_eq!(
        ecu.poll_event(),
        Some(IsoTpEvent::Error(IsoTpError::UnexpectedPdu {
            kind: PduKind::FirstFrame,
            received: 6,
            len: 9
        }))
    );
    ecu.poll_transmit(3).unwrap();
    ecu.handle_frame(4, &frame(TESTER, &[0x21, 7, 8]));
    assert_eq!(
        ecu.poll_event(),
        Some(IsoTpEvent::Received {
            payload: vec![9, 9, 9, 9, 9, 9, 7, 8],
            at_us: 4
        })
    );
}

#[test]
fn unexpected_consecutive_and_flow_control_frames_are_ignored() {
    let mut ch = IsoTpChannel::new(IsoTpConfig::default());
    ch.handle_frame(0, &frame(ECU, &[0x21, 1, 2, 3]));
    ch.handle_frame(0, &frame(ECU, &[0x30, 0, 0]));
    assert_eq!(ch.poll_event(), None);
    assert!(ch.is_idle());
    // FC while sending CFs (not waiting for one) changes nothing either.
    ch.send(0, &payload(30)).unwrap();
    ch.poll_transmit(0).unwrap();
    ch.handle_frame(1, &frame(ECU, &[0x30, 0, 0x7F]));
    ch.poll_transmit(1).unwrap();
    ch.handle_frame(2, &frame(ECU, &[0x32, 0, 0]));
    assert_eq!(ch.poll_transmit(2), None, "STmin 127 ms still applies");
    assert_eq!(ch.poll_timeout(), Some(127_001));
    assert_eq!(ch.poll_event(), None);
}

#[test]
fn frames_of_other_ids_and_addresses_are_ignored() {
    let cfg = IsoTpConfig {
        addressing: Addressing::Extended {
            target: 0x40,
            source: 0x40,
        },
        ..IsoTpConfig::new(CanId::Standard(0x750), CanId::Standard(0x758))
    };
    let mut ch = IsoTpChannel::new(cfg);
    ch.handle_frame(0, &frame(CanId::Standard(0x759), &[0x40, 0x02, 0x50, 0x01]));
    ch.handle_frame(0, &frame(CanId::Standard(0x758), &[0x57, 0x02, 0x50, 0x01]));
    ch.handle_frame(
        0,
        &CanFrame::remote(CanId::Standard(0x758), 4, None).unwrap(),
    );
    assert_eq!(ch.poll_event(), None);
    ch.handle_frame(0, &frame(CanId::Standard(0x758), &[0x40, 0x02, 0x50, 0x01]));
    assert_eq!(
        ch.poll_event(),
        Some(IsoTpEvent::Received {
            payload: vec![0x50, 0x01],
            at_us: 0
        })
    );
    ch.send(1, &[0x10, 0x03]).unwrap();
    let f = ch.poll_transmit(1).unwrap();
    assert_eq!(f.id, CanId::Standard(0x750));
    assert_eq!(
        f.data(),
        &[0x40, 0x02, 0x10, 0x03, 0xCC, 0xCC, 0xCC, 0xCC][..]
    );
}

#[test]
fn address_byte_shrinks_every_frame_by_one() {
    let cfg = IsoTpConfig {
        addressing: Addressing::Mixed { ae: 0x0A },
        ..IsoTpConfig::mixed_29(0x0A, 0xF1, 0x40)
    };
    assert_eq!(cfg.tx_id, CanId::Extended(0x18CE_40F1));
    assert_eq!(cfg.rx_id, CanId::Extended(0x18CE_F140));
    let pair = round_trip(cfg, 6);
    assert_eq!(pair.frames_of(Side::A).count(), 1, "6 bytes: one SF");
    let pair = round_trip(cfg, 7);
    let a: Vec<_> = pair.frames_of(Side::A).collect();
    assert_eq!(a.len(), 2, "7 bytes: FF (5) + CF (2)");
    assert_eq!(a[0].data().get(..3), Some(&[0x0A, 0x10, 7][..]));
    let fc = pair.frames_of(Side::B).next().unwrap();
    assert_eq!(fc.data().get(..2), Some(&[0x0A, 0x30][..]));
}

#[test]
fn normal_fixed_ids() {
    let cfg = IsoTpConfig::normal_fixed(0xF1, 0x40);
    assert_eq!(cfg.tx_id, CanId::Extended(0x18DA_40F1));
    assert_eq!(cfg.rx_id, CanId::Extended(0x18DA_F140));
    round_trip(cfg, 100);
}

#[test]
fn full_duplex_messages_cross() {
    let mut pair = Pair::new(IsoTpConfig::new(TESTER, ECU));
    pair.a.send(0, &payload(50)).unwrap();
    pair.b.send(0, &payload(70)).unwrap();
    pair.drive();
    assert_eq!(pair.received_by_b(), vec![payload(50)]);
    let to_a: Vec<_> = pair
        .a_events
        .iter()
        .filter_map(|e| match e {
            IsoTpEvent::Received { payload, .. } => Some(payload.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(to_a, vec![payload(70)]);
}

#[test]
fn reassembler_tolerates_missing_flow_control_and_reports_cut_messages() {
    let mut r = Reassembler::new();
    r.follow(TESTER, Addressing::Normal);
    let f = |t: u64, d: &[u8]| frame(TESTER, d).at(t);
    assert!(!r.follows(CanId::Standard(0x123)));
    assert_eq!(r.feed(&frame(CanId::Standard(0x123), &[0x01, 0xFF])), None);
    assert_eq!(r.feed(&f(10, &[0x10, 10, 1, 2, 3, 4, 5, 6])), None);
    let m = r
        .feed(&f(20, &[0x21, 7, 8, 9, 10, 0xCC, 0xCC, 0xCC]))
        .unwrap();
    assert!(m.complete);
    assert_eq!((m.start_us, m.t_us, m.frames), (10, 20, 2));
    assert_eq!(m.payload, (1..=10).collect::<Vec<u8>>());
    // Wrong SN: the cut message comes out incomplete.
    assert_eq!(r.feed(&f(30, &[0x10, 20, 1, 2, 3, 4, 5, 6])), None);
    let m = r.feed(&f(40, &[0x22, 7, 8, 9, 10, 11, 12, 13])).unwrap();
    assert!(!m.complete);
    assert_eq!((m.expected_len, m.payload.len(), m.t_us), (20, 6, 30));
    // A SF cutting off an FF: two messages from one frame.
    assert_eq!(r.feed(&f(50, &[0x10, 20, 1, 2, 3, 4, 5, 6])), None);
    let cut = r.feed(&f(60, &[0x02, 0x3E, 0x00])).unwrap();
    assert!(!cut.complete);
    let sf = r.next_pending().unwrap();
    assert!(sf.complete);
    assert_eq!(sf.payload, vec![0x3E, 0]);
    assert_eq!(r.next_pending(), None);
    // End of capture with a message in progress.
    assert_eq!(r.feed(&f(70, &[0x10, 20, 1, 2, 3, 4, 5, 6])), None);
    let rest = r.finish();
    assert_eq!(rest.len(), 1);
    assert!(!rest[0].complete);
    assert_eq!(rest[0].start_us, 70);
}

#[test]
fn reassembler_separates_extended_addresses_on_one_id() {
    let mut r = Reassembler::new();
    let id = CanId::Standard(0x750);
    r.follow(
        id,
        Addressing::Extended {
            target: 0x40,
            source: 0x40,
        },
    );
    assert_eq!(r.feed(&frame(id, &[0x40, 0x10, 8, 1, 2, 3, 4, 5])), None);
    assert_eq!(r.feed(&frame(id, &[0x57, 0x10, 8, 9, 9, 9, 9, 9])), None);
    let m = r.feed(&frame(id, &[0x40, 0x21, 6, 7, 8])).unwrap();
    assert_eq!((m.address, m.complete), (Some(0x40), true));
    assert_eq!(m.payload, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    let m = r.feed(&frame(id, &[0x57, 0x21, 9, 9, 9])).unwrap();
    assert_eq!((m.address, m.complete), (Some(0x57), true));
}

fn any_addressing() -> impl Strategy<Value = Addressing> {
    prop_oneof![
        Just(Addressing::Normal),
        (any::<u8>(), any::<u8>())
            .prop_map(|(target, source)| Addressing::Extended { target, source }),
        any::<u8>().prop_map(|ae| Addressing::Mixed { ae }),
        (any::<u8>(), any::<u8>())
            .prop_map(|(source, target)| Addressing::NormalFixed { source, target }),
    ]
}

fn any_format() -> impl Strategy<Value = FrameFormat> {
    prop_oneof![
        Just(FrameFormat::Classic),
        (
            prop::sample::select(vec![8u8, 12, 16, 20, 24, 32, 48, 64]),
            any::<bool>()
        )
            .prop_map(|(tx_dl, brs)| FrameFormat::Fd { tx_dl, brs }),
    ]
}

fn any_st_min() -> impl Strategy<Value = u8> {
    prop_oneof![0x00u8..=0x03, 0xF1u8..=0xF9, Just(0x80u8), Just(0xFAu8)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_configuration_round_trips(
        addressing in any_addressing(),
        format in any_format(),
        padding in prop::option::of(any::<u8>()),
        block_size in prop_oneof![Just(0u8), 1u8..=4, Just(255u8)],
        st_min in any_st_min(),
        len in prop_oneof![1usize..=70, 1usize..=4095, 4096usize..=5000],
    ) {
        let a = IsoTpConfig {
            addressing,
            format,
            tx_padding: padding,
            max_rx_len: 10_000,
            ..match addressing {
                Addressing::NormalFixed { source, target } => IsoTpConfig::normal_fixed(source, target),
                _ => IsoTpConfig::new(TESTER, ECU),
            }
        };
        // B asks A for this block size and STmin.
        let mut pair = Pair::new(a);
        let mut b = *pair.b.config();
        b.block_size = block_size;
        b.st_min = st_min;
        pair.b = IsoTpChannel::new(b);
        let msg = payload(len);
        pair.a.send(0, &msg).unwrap();
        pair.drive();
        prop_assert_eq!(pair.received_by_b(), vec![msg.clone()]);
        prop_assert!(pair.a.is_idle() && pair.b.is_idle());
        // Every frame a sender makes is one the strict reading of a
        // capture (`isotp::shape`, what finds conversations) calls ISO-TP.
        let ae = usize::from(addressing.has_address_byte());
        for (_, f) in &pair.wire {
            let bytes = f.data().get(ae..).unwrap_or_default();
            prop_assert_ne!(shape(bytes), Shape::NotIsoTp, "{:02X?}", f.data());
        }
        let want_gap = st_min_us(st_min);
        prop_assert!(cf_gaps(&pair).iter().all(|g| *g == want_gap));
        let fcs = pair.frames_of(Side::B).count();
        let cfs = pair.frames_of(Side::A).count().saturating_sub(1);
        if cfs > 0 {
            let blocks = if block_size == 0 { 1 } else { cfs.div_ceil(usize::from(block_size)) };
            prop_assert_eq!(fcs, blocks);
        }
        let seen = passive(&pair, addressing);
        prop_assert_eq!(seen.len(), 1);
        prop_assert_eq!(&seen[0].payload, &msg);
        prop_assert_eq!(seen[0].address, addressing.tx_address());
    }

    /// Extended addressing both ways, single and multi frame, while another
    /// module on the same two ids (its own address byte) sends single,
    /// first, consecutive and flow-control frames: neither end takes them.
    #[test]
    fn extended_ignores_another_sub_address_on_the_same_ids(
        target in any::<u8>(),
        source in any::<u8>(),
        other in any::<u8>(),
        len in prop_oneof![1usize..=6, 7usize..=300],
        tester_sends in any::<bool>(),
    ) {
        prop_assume!(other != target && other != source);
        let cfg = IsoTpConfig {
            addressing: Addressing::Extended { target, source },
            ..IsoTpConfig::new(CanId::Standard(0x750), CanId::Standard(0x758))
        };
        let mut pair = Pair::new(cfg);
        let msg = payload(len);
        let foreign = [
            [other, 0x03, 0x22, 0xB0, 0x01, 0xCC, 0xCC, 0xCC],
            [other, 0x10, 0x20, 1, 2, 3, 4, 5],
            [other, 0x21, 6, 7, 8, 9, 10, 11],
            [other, 0x30, 0x00, 0x00, 0xCC, 0xCC, 0xCC, 0xCC],
            [other, 0x32, 0x00, 0x00, 0xCC, 0xCC, 0xCC, 0xCC],
        ];
        let inject = |pair: &mut Pair| {
            for d in &foreign {
                pair.a.handle_frame(pair.now, &frame(CanId::Standard(0x758), d));
                pair.b.handle_frame(pair.now, &frame(CanId::Standard(0x750), d));
            }
        };
        inject(&mut pair);
        if tester_sends {
            pair.a.send(0, &msg).unwrap();
        } else {
            pair.b.send(0, &msg).unwrap();
        }
        // The first frame goes out, then the other module talks, then the rest.
        let (from, side) = if tester_sends { (&mut pair.a, Side::A) } else { (&mut pair.b, Side::B) };
        let first = from.poll_transmit(0).unwrap();
        pair.wire.push((side, first));
        if tester_sends {
            pair.b.handle_frame(0, &first);
        } else {
            pair.a.handle_frame(0, &first);
        }
        inject(&mut pair);
        pair.drive();
        let got: Vec<Vec<u8>> = if tester_sends {
            pair.received_by_b()
        } else {
            pair.a_events
                .iter()
                .filter_map(|e| match e {
                    IsoTpEvent::Received { payload, .. } => Some(payload.clone()),
                    _ => None,
                })
                .collect()
        };
        prop_assert_eq!(got, vec![msg.clone()]);
        prop_assert!(pair.a.is_idle() && pair.b.is_idle());
        for (side, f) in &pair.wire {
            let want = match side { Side::A => target, Side::B => source };
            prop_assert_eq!(f.data().first(), Some(&want), "{:?}", f);
        }
        let sender_events = if tester_sends { &pair.a_events } else { &pair.b_events };
        prop_assert!(
            sender_events.iter().all(|e| matches!(e, IsoTpEvent::Sent { .. })),
            "{:?}",
            sender_events
        );
    }

    #[test]
    fn arbitrary_frames_never_panic(
        frames in prop::collection::vec(
            (any::<bool>(), prop::collection::vec(any::<u8>(), 0..=8), 0u64..2_000_000),
            0..200),
        addressing in any_addressing(),
        send_len in 0usize..300,
    ) {
        let cfg = IsoTpConfig { addressing, max_rx_len: 4095, ..IsoTpConfig::new(TESTER, ECU) };
        let mut ch = IsoTpChannel::new(cfg);
        let mut r = Reassembler::new();
        r.follow_pair(TESTER, ECU, addressing);
        let _ = ch.send(0, &payload(send_len));
        let mut now = 0;
        for (to_us, data, dt) in frames {
            now += dt;
            let id = if to_us { ECU } else { TESTER };
            let f = frame(id, &data).at(now);
            if let Some(t) = ch.poll_timeout() {
                if t <= now { ch.handle_timeout(now); }
            }
            ch.handle_frame(now, &f);
            while let Some(out) = ch.poll_transmit(now) {
                prop_assert_eq!(out.id, TESTER);
            }
            while ch.poll_event().is_some() {}
            // Everything due was handled or sent: the next deadline is ahead.
            if let Some(t) = ch.poll_timeout() {
                prop_assert!(t > now, "deadline {} not after {}", t, now);
            }
            for m in r.feed(&f).into_iter().chain(r.next_pending()) {
                prop_assert!(m.payload.len() as u64 <= u64::from(m.expected_len));
                prop_assert!(!m.complete || m.payload.len() as u64 == u64::from(m.expected_len));
            }
        }
        let _ = r.finish();
    }

    #[test]
    fn arbitrary_fd_frames_never_panic(
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..=64), 0..100),
    ) {
        let cfg = IsoTpConfig {
            format: FrameFormat::Fd { tx_dl: 64, brs: false },
            max_rx_len: u32::MAX,
            ..IsoTpConfig::new(TESTER, ECU)
        };
        let mut ch = IsoTpChannel::new(cfg);
        let mut r = Reassembler::new();
        r.follow(ECU, Addressing::Normal);
        for (i, mut data) in frames.into_iter().enumerate() {
            let len = trunkdiag::frame::fd_len_for(data.len()).unwrap();
            data.resize(len, 0xCC);
            let f = CanFrame::fd(ECU, &data, 0).unwrap();
            ch.handle_frame(i as u64, &f);
            while ch.poll_transmit(i as u64).is_some() {}
            while ch.poll_event().is_some() {}
            let _ = r.feed(&f);
            let _ = r.next_pending();
        }
    }
}
