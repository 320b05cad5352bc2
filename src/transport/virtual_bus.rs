//! An in-process CAN bus: any number of endpoints, every frame one endpoint
//! sends is delivered to every other endpoint, in send order.
//!
//! Time comes from tokio's clock (`tokio::time::Instant`), so under a paused
//! runtime (`#[tokio::test(start_paused = true)]`, `tokio::time::pause()` in
//! `diagnose --sim`) the bus runs on virtual time: a frame is stamped with
//! `epoch_us` plus the (virtual) time elapsed since the bus was created.
//!
//! The bus is deterministic: one lock orders every send, stamps it and pushes
//! it into each receiver's unbounded queue before the next send can start, so
//! every endpoint sees the same global order and timestamps never go back.
//!
//! This module knows nothing about sockets, protocols or what the frames mean.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{BusError, CanBus, CloseReason};
use crate::frame::{CanFrame, IfName};

/// The bus itself; hands out endpoints and taps. Cloning gives another
/// handle on the same bus.
#[derive(Clone)]
pub struct VirtualBus {
    shared: Arc<Shared>,
}

struct Shared {
    epoch_us: u64,
    origin: Instant,
    state: Mutex<State>,
    /// How many endpoints exist; `recv` watches it to notice that it is alone.
    endpoints_alive: watch::Sender<usize>,
}

struct State {
    next_id: u64,
    endpoints: Vec<Member>,
    taps: Vec<mpsc::UnboundedSender<CanFrame>>,
}

struct Member {
    id: u64,
    /// The interface name its frames carry and its queue; None for a
    /// [`BusHold`], a member that keeps the bus open but never reads, so
    /// nothing is queued for it.
    queue: Option<(IfName, mpsc::UnboundedSender<CanFrame>)>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` half-updated
        // in a way that matters (pushes and removals are single steps), so a
        // poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a member (an endpoint with its queue, or a hold without) and
    /// says how many there are; returns its id.
    fn join(&self, queue: Option<(IfName, mpsc::UnboundedSender<CanFrame>)>) -> u64 {
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.endpoints.push(Member { id, queue });
        self.endpoints_alive.send_replace(state.endpoints.len());
        id
    }

    /// Removes a member (an endpoint or a hold) and says how many are left.
    fn leave(&self, id: u64) {
        let mut state = self.lock();
        state.endpoints.retain(|m| m.id != id);
        self.endpoints_alive.send_replace(state.endpoints.len());
    }

    fn now_us(&self) -> u64 {
        let elapsed = Instant::now().saturating_duration_since(self.origin);
        let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.epoch_us.saturating_add(elapsed_us)
    }
}

impl VirtualBus {
    /// A bus whose clock reads `epoch_us` now. Must be called where tokio's
    /// clock is the one wanted (inside the paused runtime for virtual time).
    pub fn new(epoch_us: u64) -> VirtualBus {
        let (endpoints_alive, _) = watch::channel(0);
        VirtualBus {
            shared: Arc::new(Shared {
                epoch_us,
                origin: Instant::now(),
                state: Mutex::new(State {
                    next_id: 0,
                    endpoints: Vec::new(),
                    taps: Vec::new(),
                }),
                endpoints_alive,
            }),
        }
    }

    /// A new endpoint. Frames it receives carry `iface` as their interface
    /// name, as a socket bound to that interface would see them.
    pub fn endpoint(&self, iface: IfName) -> VirtualEndpoint {
        let (queue, rx) = mpsc::unbounded_channel();
        let id = self.shared.join(Some((iface, queue)));
        VirtualEndpoint {
            id,
            iface,
            rx,
            alive: self.shared.endpoints_alive.subscribe(),
            shared: Arc::clone(&self.shared),
        }
    }

    /// A member that keeps the bus open (another endpoint's `recv` does not
    /// report the bus closed while it exists) but never reads: nothing is
    /// queued for it, however long it lives. For what stands in for a car
    /// that is switched on between the tester's endpoints; an endpoint that
    /// is never read would keep every frame sent on the bus.
    pub fn hold(&self) -> BusHold {
        BusHold {
            id: self.shared.join(None),
            shared: Arc::clone(&self.shared),
        }
    }

    /// A receiver of every frame sent on the bus from now on, stamped and
    /// named after the sending endpoint's interface: for recording a session.
    /// Dropping the receiver unregisters the tap.
    pub fn tap(&self) -> mpsc::UnboundedReceiver<CanFrame> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.shared.lock().taps.push(tx);
        rx
    }

    /// The bus clock in microseconds (same base as frame timestamps).
    pub fn now_us(&self) -> u64 {
        self.shared.now_us()
    }
}

/// One participant on a [`VirtualBus`].
pub struct VirtualEndpoint {
    id: u64,
    iface: IfName,
    rx: mpsc::UnboundedReceiver<CanFrame>,
    alive: watch::Receiver<usize>,
    shared: Arc<Shared>,
}

impl VirtualEndpoint {
    pub fn iface(&self) -> IfName {
        self.iface
    }
}

impl CanBus for VirtualEndpoint {
    /// Never fails: a frame sent while no other endpoint exists is simply
    /// not received by anyone (as on a vcan interface with no listener).
    async fn send(&mut self, frame: &CanFrame) -> Result<(), BusError> {
        let mut state = self.shared.lock();
        // Stamped under the lock so that timestamps follow the send order.
        // The sender's direction flag stays with the sender: a receiver (or
        // a tap) sees a frame from the bus, as a socket does.
        let mut stamped = frame.at(self.shared.now_us());
        stamped.direction = None;
        for member in state.endpoints.iter().filter(|m| m.id != self.id) {
            // A receiver only goes away with its endpoint, whose Drop removes
            // it from this list under the same lock: the send cannot fail.
            if let Some((iface, queue)) = &member.queue {
                let _ = queue.send(stamped.on(*iface));
            }
        }
        let sent = stamped.on(self.iface);
        state.taps.retain(|tap| tap.send(sent).is_ok());
        Ok(())
    }

    /// Cancel-safe: frames wait in this endpoint's queue until taken.
    /// Frames already queued are delivered even after their senders are
    /// gone; once the queue is empty and this is the only endpoint left, the
    /// bus is [`BusError::Closed`] (until another endpoint joins).
    async fn recv(&mut self) -> Result<CanFrame, BusError> {
        loop {
            if let Ok(frame) = self.rx.try_recv() {
                return Ok(frame);
            }
            if *self.alive.borrow_and_update() <= 1 {
                return Err(BusError::closed(CloseReason::NoPeers { iface: self.iface }));
            }
            tokio::select! {
                biased;
                frame = self.rx.recv() => {
                    // Our own sender lives in the bus until we drop, so the
                    // queue cannot report "closed" here; treat it as closed
                    // anyway rather than assume.
                    return frame.ok_or(BusError::closed(CloseReason::VirtualBusGone { iface: self.iface }));
                }
                changed = self.alive.changed() => {
                    if changed.is_err() {
                        return Err(BusError::closed(CloseReason::VirtualBusGone { iface: self.iface }));
                    }
                }
            }
        }
    }

    fn now_us(&self) -> u64 {
        self.shared.now_us()
    }
}

impl Drop for VirtualEndpoint {
    fn drop(&mut self) {
        self.shared.leave(self.id);
    }
}

/// Keeps a [`VirtualBus`] open without reading it; see [`VirtualBus::hold`].
pub struct BusHold {
    id: u64,
    shared: Arc<Shared>,
}

impl Drop for BusHold {
    fn drop(&mut self) {
        self.shared.leave(self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::frame::CanId;

    fn name(s: &str) -> IfName {
        IfName::new(s).unwrap()
    }

    fn frame(id: u16, data: &[u8]) -> CanFrame {
        CanFrame::classic(CanId::Standard(id), data).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn delivers_to_every_other_endpoint_but_not_the_sender() {
        let bus = VirtualBus::new(0);
        let mut a = bus.endpoint(name("vcan0"));
        let mut b = bus.endpoint(name("vcan1"));
        let mut c = bus.endpoint(name("vcan2"));
        a.send(&frame(0x7E0, &[0x02, 0x10, 0x03])).await.unwrap();

        let got_b = b.recv().await.unwrap();
        let got_c = c.recv().await.unwrap();
        assert_eq!(got_b.data(), [0x02, 0x10, 0x03]);
        assert_eq!(got_b.iface.as_str(), "vcan1");
        assert_eq!(got_c.iface.as_str(), "vcan2");
        assert_eq!(got_b.id, CanId::Standard(0x7E0));
        // The sender does not hear itself: its queue stays empty.
        assert!(a.rx.try_recv().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_keeps_the_bus_open_and_queues_nothing() {
        let bus = VirtualBus::new(0);
        let mut a = bus.endpoint(name("a"));
        let hold = bus.hold();
        for i in 0..1000u16 {
            a.send(&frame(0x100, &[(i & 0xFF) as u8])).await.unwrap();
        }
        // Nothing was kept for the hold: it is a member without a queue.
        let (members, queues) = {
            let state = bus.shared.lock();
            let queues = state.endpoints.iter().filter(|m| m.queue.is_some()).count();
            (state.endpoints.len(), queues)
        };
        assert_eq!((members, queues), (2, 1), "only the endpoint has a queue");
        // While the hold lives, a lone endpoint waits rather than closes.
        let waited = tokio::time::timeout(Duration::from_secs(5), a.recv()).await;
        assert!(
            waited.is_err(),
            "recv returned {waited:?} with the hold alive"
        );
        drop(hold);
        assert!(matches!(
            a.recv().await,
            Err(BusError::Closed {
                reason: CloseReason::NoPeers { .. }
            })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_global_send_order_across_senders() {
        let bus = VirtualBus::new(0);
        let mut a = bus.endpoint(name("a"));
        let mut b = bus.endpoint(name("b"));
        let mut listener = bus.endpoint(name("l"));
        for i in 0..50u8 {
            let sender = if i % 3 == 0 { &mut a } else { &mut b };
            sender.send(&frame(0x100, &[i])).await.unwrap();
        }
        for i in 0..50u8 {
            assert_eq!(listener.recv().await.unwrap().data(), [i]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stamps_with_epoch_plus_virtual_elapsed_time() {
        let epoch = 1_700_000_000_000_000;
        let bus = VirtualBus::new(epoch);
        let mut a = bus.endpoint(name("vcan0"));
        let mut b = bus.endpoint(name("vcan0"));
        // The caller's timestamp is not trusted: the bus clock decides.
        a.send(&frame(1, &[]).at(42)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        a.send(&frame(2, &[])).await.unwrap();
        tokio::time::advance(Duration::from_micros(7)).await;
        a.send(&frame(3, &[])).await.unwrap();

        assert_eq!(b.recv().await.unwrap().timestamp_us, epoch);
        assert_eq!(b.recv().await.unwrap().timestamp_us, epoch + 1_500_000);
        assert_eq!(b.recv().await.unwrap().timestamp_us, epoch + 1_500_007);
        assert_eq!(b.now_us(), epoch + 1_500_007);
        assert_eq!(bus.now_us(), epoch + 1_500_007);
    }

    #[tokio::test(start_paused = true)]
    async fn recv_waits_on_virtual_time_and_is_cancel_safe() {
        let bus = VirtualBus::new(0);
        let mut a = bus.endpoint(name("a"));
        let mut b = bus.endpoint(name("b"));
        let sender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            a.send(&frame(0x7E8, &[1])).await.unwrap();
            a
        });
        // A 1 s deadline expires twice before the frame arrives; the
        // cancelled recv futures must not eat it.
        for _ in 0..2 {
            let r = tokio::time::timeout(Duration::from_secs(1), b.recv()).await;
            assert!(r.is_err(), "nothing should arrive before 3 s");
        }
        let got = b.recv().await.unwrap();
        assert_eq!(got.data(), [1]);
        assert_eq!(got.timestamp_us, 3_000_000);
        drop(sender.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn closed_when_every_other_endpoint_is_gone_after_draining() {
        let bus = VirtualBus::new(0);
        let mut a = bus.endpoint(name("a"));
        let mut b = bus.endpoint(name("b"));
        a.send(&frame(1, &[9])).await.unwrap();
        drop(a);
        // What was sent before the peer left still arrives...
        assert_eq!(b.recv().await.unwrap().data(), [9]);
        // ...then the bus reports closed instead of waiting forever.
        assert!(matches!(
            b.recv().await,
            Err(BusError::Closed {
                reason: CloseReason::NoPeers { .. }
            })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_recv_wakes_up_closed_when_the_peer_drops() {
        let bus = VirtualBus::new(0);
        let a = bus.endpoint(name("a"));
        let mut b = bus.endpoint(name("b"));
        let waiter = tokio::spawn(async move { b.recv().await });
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!waiter.is_finished());
        drop(a);
        assert!(matches!(
            waiter.await.unwrap(),
            Err(BusError::Closed {
                reason: CloseReason::NoPeers { .. }
            })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn tap_records_every_frame_with_the_sender_iface() {
        let bus = VirtualBus::new(100);
        let mut tester = bus.endpoint(name("tester"));
        let mut ecu = bus.endpoint(name("ecu"));
        let mut tap = bus.tap();
        tester.send(&frame(0x7E0, &[0x01])).await.unwrap();
        tokio::time::advance(Duration::from_micros(250)).await;
        ecu.send(&frame(0x7E8, &[0x02])).await.unwrap();

        let first = tap.recv().await.unwrap();
        let second = tap.recv().await.unwrap();
        assert_eq!((first.iface.as_str(), first.timestamp_us), ("tester", 100));
        assert_eq!((second.iface.as_str(), second.timestamp_us), ("ecu", 350));
        // A dropped tap is forgotten; sends keep working.
        drop(tap);
        tester.send(&frame(0x7E0, &[0x03])).await.unwrap();
        assert_eq!(bus.shared.lock().taps.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn receivers_and_taps_see_no_sender_direction() {
        let bus = VirtualBus::new(0);
        let mut a = bus.endpoint(name("a"));
        let mut b = bus.endpoint(name("b"));
        let mut tap = bus.tap();
        let mut f = frame(0x745, &[0x02, 0x10, 0xC0]);
        f.direction = Some(crate::frame::Direction::Tx);
        a.send(&f).await.unwrap();
        assert_eq!(b.recv().await.unwrap().direction, None);
        assert_eq!(tap.recv().await.unwrap().direction, None);
    }

    #[tokio::test(start_paused = true)]
    async fn carries_every_frame_kind_unchanged() {
        let bus = VirtualBus::new(0);
        let mut a = bus.endpoint(name("a"));
        let mut b = bus.endpoint(name("b"));
        let frames = [
            CanFrame::classic(CanId::Extended(0x18DA_F110), &[1, 2, 3]).unwrap(),
            CanFrame::remote(CanId::Standard(0x5E9), 8, Some(0xF)).unwrap(),
            CanFrame::fd(CanId::Standard(0x456), &[0xAA; 12], crate::frame::CANFD_BRS).unwrap(),
            CanFrame::classic_len8_dlc(CanId::Standard(0x1), &[0; 8], 0xC).unwrap(),
            CanFrame::error(0x4, &[0, 8, 0, 0, 0, 0, 0, 0]).unwrap(),
        ];
        for f in &frames {
            a.send(f).await.unwrap();
        }
        for f in &frames {
            let got = b.recv().await.unwrap();
            assert_eq!(got, f.on(name("b")).at(0));
        }
    }

    proptest::proptest! {
        /// Whatever the number of endpoints and the order of sends and
        /// clock steps: each endpoint receives exactly the frames the others
        /// sent, in global send order, stamped with the virtual time of the
        /// send.
        #[test]
        fn every_endpoint_sees_the_others_frames_in_send_order(
            endpoints in 2usize..5,
            plan in proptest::collection::vec((0usize..5, 0u64..3_000), 0..60),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async {
                let bus = VirtualBus::new(1_000);
                let mut eps: Vec<_> = (0..endpoints)
                    .map(|i| bus.endpoint(name(&format!("e{i}"))))
                    .collect();
                let mut sent = Vec::new();
                for (seq, (who, gap_us)) in plan.iter().enumerate() {
                    let who = who % endpoints;
                    tokio::time::advance(Duration::from_micros(*gap_us)).await;
                    let f = frame(0x100 + who as u16, &(seq as u16).to_be_bytes());
                    eps[who].send(&f).await.unwrap();
                    sent.push((who, seq as u16, bus.now_us()));
                }
                for (me, ep) in eps.iter_mut().enumerate() {
                    let want: Vec<_> = sent.iter().filter(|(w, _, _)| *w != me).collect();
                    for (who, seq, ts) in want {
                        let got = ep.rx.try_recv().unwrap();
                        assert_eq!(got.id, CanId::Standard(0x100 + *who as u16));
                        assert_eq!(got.data(), seq.to_be_bytes());
                        assert_eq!(got.timestamp_us, *ts);
                    }
                    assert!(ep.rx.try_recv().is_err(), "endpoint {me} got extra frames");
                }
            });
        }
    }
}
