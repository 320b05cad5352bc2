//! The sans-IO ISO-TP channel: one sender and one receiver state machine
//! sharing an id pair, full duplex.

use super::pdu::{decode, fd_flags, st_min_us, Layout, Pdu, PduError};
use super::{FrameFormat, IsoTpConfig, IsoTpError, IsoTpEvent, PduKind, Timer};
use crate::frame::{fd_len_for, CanFrame};
use std::collections::VecDeque;

/// Flow status values of a flow control frame.
const FS_CTS: u8 = 0;
const FS_WAIT: u8 = 1;
const FS_OVFLW: u8 = 2;
/// Largest receive buffer reserved from a first frame's declared length.
const MAX_PREALLOC: usize = 1 << 16;

/// One ISO-TP link (ISO 15765-2) to one peer, with no I/O and no clock.
///
/// # Driving it
///
/// Inputs: [`send`](Self::send) (a message to transmit),
/// [`handle_frame`](Self::handle_frame) (every frame from the bus; frames of
/// other ids are dropped at once) and [`handle_timeout`](Self::handle_timeout)
/// (when the deadline from [`poll_timeout`](Self::poll_timeout) is reached).
///
/// After **every** input:
/// 1. drain [`poll_transmit`](Self::poll_transmit) until it returns `None`
///    and put those frames on the bus in order;
/// 2. drain [`poll_event`](Self::poll_event);
/// 3. read [`poll_timeout`](Self::poll_timeout) and call `handle_timeout`
///    when that time comes (or earlier if a frame arrives first).
///
/// `poll_transmit` honours the receiver's STmin: between consecutive frames
/// it returns `None` and `poll_timeout` gives the time the next one is due.
/// A frame counts as transmitted when it is polled (the driver hands it to
/// the bus right away); N_As / N_Ar fire only if a due frame is not polled
/// in time.
#[derive(Debug)]
pub struct IsoTpChannel {
    cfg: IsoTpConfig,
    layout: Layout,
    tx: Option<Tx>,
    rx: Option<Rx>,
    /// Flow status of the flow control we owe the sender, if any.
    pending_fc: Option<u8>,
    /// Deadlines of the timers, indexed by [`Timer::index`].
    timers: [Option<u64>; 4],
    events: VecDeque<IsoTpEvent>,
}

#[derive(Debug)]
struct Tx {
    payload: Vec<u8>,
    /// Bytes of `payload` already in frames.
    offset: usize,
    /// Sequence number of the next consecutive frame.
    sn: u8,
    phase: TxPhase,
}

#[derive(Debug, Clone, Copy)]
enum TxPhase {
    /// The SF or FF is due now.
    Start,
    /// FF or a block sent; waiting for the receiver's flow control.
    WaitFc { waits: u8 },
    /// Sending consecutive frames: the next is due at `next_at`.
    Consecutive {
        next_at: u64,
        st_us: u64,
        /// Frames left in this block; `None` when the receiver set no limit.
        block_left: Option<u8>,
    },
}

#[derive(Debug)]
struct Rx {
    buf: Vec<u8>,
    len: u32,
    next_sn: u8,
    /// Frames left before we owe a flow control; `None`: no block limit.
    block_left: Option<u8>,
    /// RX_DL: the length of the first frame; longer CFs are not ours.
    rx_dl: usize,
}

impl IsoTpChannel {
    /// A channel for `cfg`. An invalid CAN FD TX_DL (see
    /// [`IsoTpConfig::validate`]) is rounded up to the next valid one.
    pub fn new(cfg: IsoTpConfig) -> Self {
        let (tx_dl, fd) = match cfg.format {
            FrameFormat::Classic => (8, None),
            FrameFormat::Fd { tx_dl, brs } => (
                cfg.format
                    .tx_dl()
                    .or_else(|| fd_len_for(usize::from(tx_dl)))
                    .unwrap_or(64)
                    .max(8),
                Some(fd_flags(brs)),
            ),
        };
        let layout = Layout {
            id: cfg.tx_id,
            iface: cfg.iface,
            address: cfg.addressing.tx_address(),
            tx_dl,
            fd,
            padding: cfg.tx_padding,
        };
        IsoTpChannel {
            cfg,
            layout,
            tx: None,
            rx: None,
            pending_fc: None,
            timers: [None; 4],
            events: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &IsoTpConfig {
        &self.cfg
    }

    /// Starts sending `payload`. Fails with `Busy` while a message is still
    /// going out, and rejects empty or over-4-GiB messages.
    pub fn send(&mut self, now_us: u64, payload: &[u8]) -> Result<(), IsoTpError> {
        if self.tx.is_some() {
            return Err(IsoTpError::Busy);
        }
        if payload.is_empty() {
            return Err(IsoTpError::Empty);
        }
        if u32::try_from(payload.len()).is_err() {
            return Err(IsoTpError::TooLong {
                len: payload.len(),
                max: u64::from(u32::MAX),
            });
        }
        self.tx = Some(Tx {
            payload: payload.to_vec(),
            offset: 0,
            sn: 1,
            phase: TxPhase::Start,
        });
        self.arm(Timer::NAs, now_us + self.cfg.n_as_us);
        Ok(())
    }

    /// Feeds one frame from the bus. Frames not on `rx_id`, remote and error
    /// frames, and frames whose address byte is not ours are ignored.
    pub fn handle_frame(&mut self, now_us: u64, frame: &CanFrame) {
        if frame.id != self.cfg.rx_id || !frame.is_data() {
            return;
        }
        let mut bytes = frame.data();
        if !self.cfg.addressing.accepts(bytes) {
            return;
        }
        if self.cfg.addressing.has_address_byte() {
            bytes = bytes.get(1..).unwrap_or_default();
        }
        let pdu = match decode(bytes) {
            Ok(p) => p,
            Err(PduError::Unknown) => return,
            Err(PduError::Malformed(reason)) => {
                self.malformed(reason);
                return;
            }
        };
        match pdu {
            Pdu::Single { data } => self.on_single(now_us, data),
            Pdu::First { len, data } => self.on_first(now_us, frame.len(), len, data),
            Pdu::Consecutive { sn, data } => self.on_consecutive(now_us, frame.len(), sn, data),
            Pdu::FlowControl { fs, bs, st } => self.on_flow_control(now_us, fs, bs, st),
        }
    }

    /// Fires every timer whose deadline is at or before `now_us`.
    pub fn handle_timeout(&mut self, now_us: u64) {
        for timer in Timer::ALL {
            let Some(deadline) = self.timers[timer.index()] else {
                continue;
            };
            if deadline > now_us {
                continue;
            }
            self.disarm(timer);
            let mut error = IsoTpError::Timeout {
                which: timer,
                at_us: deadline,
            };
            match timer {
                Timer::NAs | Timer::NBs => self.abort_tx(),
                Timer::NAr | Timer::NCr => {
                    if let (Timer::NCr, Some(rx)) = (timer, self.rx.as_ref()) {
                        error = IsoTpError::CutShort {
                            received: rx.buf.len() as u32,
                            len: rx.len,
                            at_us: deadline,
                        };
                    }
                    self.pending_fc = None;
                    self.abort_rx();
                }
            }
            self.events.push_back(IsoTpEvent::Error(error));
        }
    }

    /// The next frame to put on the bus, stamped with `now_us`; `None` when
    /// nothing is due yet (for example during STmin).
    pub fn poll_transmit(&mut self, now_us: u64) -> Option<CanFrame> {
        if let Some(fs) = self.pending_fc.take() {
            self.disarm(Timer::NAr);
            if fs == FS_CTS && self.rx.is_some() {
                self.arm(Timer::NCr, now_us + self.cfg.n_cr_us);
            }
            return self
                .layout
                .flow_control(now_us, fs, self.cfg.block_size, self.cfg.st_min);
        }
        let tx = self.tx.as_mut()?;
        let layout = self.layout;
        match tx.phase {
            TxPhase::Start => {
                let len = tx.payload.len();
                if len <= layout.sf_capacity() {
                    let frame = layout.single(now_us, &tx.payload);
                    self.tx = None;
                    self.disarm(Timer::NAs);
                    self.events.push_back(IsoTpEvent::Sent { at_us: now_us });
                    return frame;
                }
                let n = layout.ff_capacity(len).min(len);
                let frame = layout.first(now_us, len, tx.payload.get(..n).unwrap_or(&[]));
                tx.offset = n;
                tx.phase = TxPhase::WaitFc { waits: 0 };
                self.disarm(Timer::NAs);
                self.arm(Timer::NBs, now_us + self.cfg.n_bs_us);
                frame
            }
            TxPhase::WaitFc { .. } => None,
            TxPhase::Consecutive {
                next_at,
                st_us,
                block_left,
            } => {
                if now_us < next_at {
                    return None;
                }
                let end = (tx.offset + layout.cf_capacity()).min(tx.payload.len());
                let frame = layout.consecutive(
                    now_us,
                    tx.sn,
                    tx.payload.get(tx.offset..end).unwrap_or(&[]),
                );
                tx.offset = end;
                tx.sn = (tx.sn + 1) & 0x0F;
                self.timers[Timer::NAs.index()] = None;
                if tx.offset >= tx.payload.len() {
                    self.tx = None;
                    self.events.push_back(IsoTpEvent::Sent { at_us: now_us });
                    return frame;
                }
                let block_left = block_left.map(|n| n.saturating_sub(1));
                if block_left == Some(0) {
                    tx.phase = TxPhase::WaitFc { waits: 0 };
                    self.timers[Timer::NBs.index()] = Some(now_us + self.cfg.n_bs_us);
                } else {
                    let next_at = now_us + st_us;
                    tx.phase = TxPhase::Consecutive {
                        next_at,
                        st_us,
                        block_left,
                    };
                    self.timers[Timer::NAs.index()] = Some(next_at + self.cfg.n_as_us);
                }
                frame
            }
        }
    }

    /// The earliest time `handle_timeout` (or, during STmin, `poll_transmit`)
    /// has something to do; `None` when idle.
    pub fn poll_timeout(&self) -> Option<u64> {
        let pacing = match self.tx.as_ref().map(|t| t.phase) {
            Some(TxPhase::Consecutive { next_at, .. }) => Some(next_at),
            _ => None,
        };
        self.timers.iter().flatten().copied().chain(pacing).min()
    }

    /// The next event, in the order they happened.
    pub fn poll_event(&mut self) -> Option<IsoTpEvent> {
        self.events.pop_front()
    }

    /// Nothing being sent or received, nothing owed to the bus.
    pub fn is_idle(&self) -> bool {
        self.tx.is_none() && self.rx.is_none() && self.pending_fc.is_none()
    }

    /// While a multi-frame message is coming in: the time by which its
    /// next step is due (our flow control leaving, N_Ar; the next
    /// consecutive frame, N_Cr), after which the reception ends cut short.
    pub fn rx_deadline(&self) -> Option<u64> {
        self.rx.as_ref()?;
        let at = |t: Timer| self.timers.get(t.index()).copied().flatten();
        at(Timer::NCr).max(at(Timer::NAr))
    }

    fn arm(&mut self, timer: Timer, at_us: u64) {
        self.timers[timer.index()] = Some(at_us);
    }

    fn disarm(&mut self, timer: Timer) {
        self.timers[timer.index()] = None;
    }

    fn abort_tx(&mut self) {
        self.tx = None;
        self.disarm(Timer::NAs);
        self.disarm(Timer::NBs);
    }

    fn abort_rx(&mut self) {
        self.rx = None;
        self.disarm(Timer::NCr);
    }

    fn malformed(&mut self, reason: &'static str) {
        self.events
            .push_back(IsoTpEvent::Error(IsoTpError::Malformed {
                id: self.cfg.rx_id,
                reason,
            }));
    }

    /// A new SF or FF cuts off a reception in progress (ISO 15765-2 9.8.3):
    /// report the old one, then handle the new.
    fn preempt_rx(&mut self, kind: PduKind) {
        if let Some(old) = self.rx.take() {
            self.disarm(Timer::NCr);
            self.pending_fc = None;
            self.disarm(Timer::NAr);
            self.events
                .push_back(IsoTpEvent::Error(IsoTpError::UnexpectedPdu {
                    kind,
                    received: old.buf.len() as u32,
                    len: old.len,
                }));
        }
    }

    fn on_single(&mut self, now_us: u64, data: &[u8]) {
        self.preempt_rx(PduKind::SingleFrame);
        self.events.push_back(IsoTpEvent::Received {
            payload: data.to_vec(),
            at_us: now_us,
        });
    }

    fn on_first(&mut self, now_us: u64, frame_len: usize, len: u32, data: &[u8]) {
        // A message that fits a single frame of this frame's size must not
        // come segmented: the standard has the receiver ignore such an FF.
        let ae = usize::from(self.cfg.addressing.rx_address().is_some());
        let min_len = if frame_len > 8 {
            frame_len - 1 - ae
        } else {
            8 - ae
        };
        if (len as usize) < min_len {
            self.malformed("first frame for a message that fits a single frame");
            return;
        }
        self.preempt_rx(PduKind::FirstFrame);
        if len > self.cfg.max_rx_len {
            self.pending_fc = Some(FS_OVFLW);
            self.arm(Timer::NAr, now_us + self.cfg.n_ar_us);
            self.events
                .push_back(IsoTpEvent::Error(IsoTpError::RxOverflow {
                    len,
                    max: self.cfg.max_rx_len,
                }));
            return;
        }
        // The announced length is only a claim: reserve at most 64 KiB up
        // front and let real data grow the buffer, so a hostile FF under a
        // generous max_rx_len cannot reserve GiBs.
        let mut buf = Vec::with_capacity((len as usize).min(MAX_PREALLOC));
        let take = data.len().min(len as usize);
        buf.extend_from_slice(data.get(..take).unwrap_or(&[]));
        self.rx = Some(Rx {
            buf,
            len,
            next_sn: 1,
            block_left: (self.cfg.block_size != 0).then_some(self.cfg.block_size),
            rx_dl: frame_len.max(8),
        });
        self.pending_fc = Some(FS_CTS);
        self.arm(Timer::NAr, now_us + self.cfg.n_ar_us);
    }

    fn on_consecutive(&mut self, now_us: u64, frame_len: usize, sn: u8, data: &[u8]) {
        let Some(rx) = self.rx.as_mut() else {
            return; // unexpected CF: ignored (ISO 15765-2 9.8.3)
        };
        if frame_len > rx.rx_dl {
            self.malformed("consecutive frame longer than the first frame (RX_DL)");
            return;
        }
        if sn != rx.next_sn {
            let err = IsoTpError::WrongSn {
                expected: rx.next_sn,
                got: sn,
                received: rx.buf.len() as u32,
                len: rx.len,
            };
            self.pending_fc = None;
            self.disarm(Timer::NAr);
            self.abort_rx();
            self.events.push_back(IsoTpEvent::Error(err));
            return;
        }
        let remaining = (rx.len as usize).saturating_sub(rx.buf.len());
        let take = data.len().min(remaining);
        rx.buf.extend_from_slice(data.get(..take).unwrap_or(&[]));
        rx.next_sn = (rx.next_sn + 1) & 0x0F;
        if rx.buf.len() >= rx.len as usize {
            let payload = std::mem::take(&mut rx.buf);
            self.abort_rx();
            self.events.push_back(IsoTpEvent::Received {
                payload,
                at_us: now_us,
            });
            return;
        }
        rx.block_left = rx.block_left.map(|n| n.saturating_sub(1));
        if rx.block_left == Some(0) {
            rx.block_left = Some(self.cfg.block_size);
            self.pending_fc = Some(FS_CTS);
            self.disarm(Timer::NCr);
            self.arm(Timer::NAr, now_us + self.cfg.n_ar_us);
        } else {
            self.arm(Timer::NCr, now_us + self.cfg.n_cr_us);
        }
    }

    fn on_flow_control(&mut self, now_us: u64, fs: u8, bs: u8, st: u8) {
        let Some(tx) = self.tx.as_mut() else {
            return; // unexpected FC: ignored
        };
        let TxPhase::WaitFc { waits } = tx.phase else {
            return; // FC while not waiting for one: ignored
        };
        match fs {
            FS_CTS => {
                tx.phase = TxPhase::Consecutive {
                    next_at: now_us,
                    st_us: st_min_us(st),
                    block_left: (bs != 0).then_some(bs),
                };
                self.disarm(Timer::NBs);
                self.arm(Timer::NAs, now_us + self.cfg.n_as_us);
            }
            FS_WAIT => {
                let waits = waits.saturating_add(1);
                if waits > self.cfg.max_wft {
                    self.abort_tx();
                    self.events
                        .push_back(IsoTpEvent::Error(IsoTpError::WaitLimit {
                            max_wft: self.cfg.max_wft,
                        }));
                } else {
                    tx.phase = TxPhase::WaitFc { waits };
                    self.arm(Timer::NBs, now_us + self.cfg.n_bs_us);
                }
            }
            FS_OVFLW => {
                self.abort_tx();
                self.events
                    .push_back(IsoTpEvent::Error(IsoTpError::Overflow));
            }
            _ => {
                self.abort_tx();
                self.events
                    .push_back(IsoTpEvent::Error(IsoTpError::InvalidFlowStatus { fs }));
            }
        }
    }
}
