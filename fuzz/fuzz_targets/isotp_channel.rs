//! The ISO-TP state machine driven by arbitrary events on a clock that only
//! goes forward: frames from the peer (any id, any bytes), timeouts, sends.
//! It must never panic, and its deadline must never lie in the past of a
//! clock it was handed.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use trunkdiag::frame::{CanFrame, CanId};
use trunkdiag::isotp::{Addressing, IsoTpChannel, IsoTpConfig};

#[derive(Arbitrary, Debug)]
enum Op {
    Frame { dt: u16, from_peer: bool, data: Vec<u8> },
    Timeout { dt: u32 },
    Send { dt: u16, len: u16 },
    Poll { dt: u16 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    extended: Option<(u8, u8)>,
    padding: Option<u8>,
    block_size: u8,
    st_min: u8,
    ops: Vec<Op>,
}

fuzz_target!(|inp: Input| {
    let mut cfg = IsoTpConfig {
        tx_id: CanId::Standard(0x7E0),
        rx_id: CanId::Standard(0x7E8),
        tx_padding: inp.padding,
        block_size: inp.block_size,
        st_min: inp.st_min,
        ..IsoTpConfig::default()
    };
    if let Some((target, source)) = inp.extended {
        cfg.addressing = Addressing::Extended { target, source };
    }
    let mut ch = IsoTpChannel::new(cfg);
    let mut now: u64 = 0;
    for op in inp.ops.into_iter().take(2_000) {
        match op {
            Op::Frame { dt, from_peer, data } => {
                now += u64::from(dt);
                let id = if from_peer { 0x7E8 } else { 0x7E0 };
                let data: Vec<u8> = data.into_iter().take(64).collect();
                let frame = if data.len() <= 8 {
                    CanFrame::classic(CanId::Standard(id), &data)
                } else {
                    CanFrame::fd(CanId::Standard(id), &data, 0)
                };
                if let Ok(f) = frame {
                    ch.handle_frame(now, &f.at(now));
                }
            }
            Op::Timeout { dt } => {
                now += u64::from(dt);
                ch.handle_timeout(now);
            }
            Op::Send { dt, len } => {
                now += u64::from(dt);
                let payload = vec![0x22; usize::from(len % 5000)];
                let _ = ch.send(now, &payload);
            }
            Op::Poll { dt } => {
                now += u64::from(dt);
            }
        }
        while ch.poll_transmit(now).is_some() {}
        while ch.poll_event().is_some() {}
        let _ = ch.poll_timeout();
    }
});
