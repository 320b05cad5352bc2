//! A recorded capture as a bus: frames come out of any
//! `Iterator<Item = Result<CanFrame, E>>` (the capture reader, or a `Vec` in
//! tests), as fast as possible or at the pace they were recorded.
//!
//! Recorded pace runs on tokio's clock, so a paused runtime replays an hour
//! of traffic in no wall time while the consumer still sees the recorded
//! gaps. The bus clock (`now_us`) is in the capture's own time base, so
//! deadlines computed from frame timestamps stay meaningful.
//!
//! This module knows nothing about capture file formats.

use std::time::Duration;

use tokio::time::Instant;

use super::{BusError, CanBus, CloseReason, Unsupported};
use crate::frame::CanFrame;

/// How fast a capture is replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// Every frame as soon as it is asked for.
    AsFast,
    /// Each frame when its recorded offset from the first frame has elapsed
    /// (on tokio's clock); frames whose timestamp goes backwards come at once.
    Recorded,
}

/// A capture replayed as a receive-only bus.
pub struct ReplayBus<I> {
    frames: I,
    pace: Pace,
    /// A frame taken from the source but not yet delivered (its recv was
    /// cancelled while waiting for its time): delivered next.
    pending: Option<CanFrame>,
    /// (timestamp of the first frame, tokio instant it was delivered).
    origin: Option<(u64, Instant)>,
    last_us: u64,
}

impl<I, E> ReplayBus<I>
where
    I: Iterator<Item = Result<CanFrame, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    pub fn new(frames: I, pace: Pace) -> ReplayBus<I> {
        ReplayBus {
            frames,
            pace,
            pending: None,
            origin: None,
            last_us: 0,
        }
    }

    fn next_frame(&mut self) -> Result<CanFrame, BusError> {
        if let Some(frame) = self.pending {
            return Ok(frame);
        }
        match self.frames.next() {
            Some(Ok(frame)) => {
                self.pending = Some(frame);
                Ok(frame)
            }
            Some(Err(e)) => Err(BusError::Capture(Box::new(e))),
            None => Err(BusError::closed(CloseReason::EndOfCapture)),
        }
    }
}

impl<I, E> CanBus for ReplayBus<I>
where
    I: Iterator<Item = Result<CanFrame, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    async fn send(&mut self, _frame: &CanFrame) -> Result<(), BusError> {
        Err(BusError::unsupported(Unsupported::ReceiveOnly))
    }

    /// Cancel-safe: a frame waiting for its recorded time stays pending.
    /// A read error of the source is returned once; the next call goes on
    /// with the following frame if the source has one.
    async fn recv(&mut self) -> Result<CanFrame, BusError> {
        let frame = self.next_frame()?;
        if self.pace == Pace::Recorded {
            let (first_us, start) = *self
                .origin
                .get_or_insert((frame.timestamp_us, Instant::now()));
            let offset = Duration::from_micros(frame.timestamp_us.saturating_sub(first_us));
            tokio::time::sleep_until(start + offset).await;
        }
        self.pending = None;
        self.last_us = self.last_us.max(frame.timestamp_us);
        Ok(frame)
    }

    /// Capture time: at recorded pace, the first frame's timestamp plus the
    /// time elapsed since it was delivered; as fast as possible, the latest
    /// timestamp delivered so far.
    fn now_us(&self) -> u64 {
        match (self.pace, self.origin) {
            (Pace::Recorded, Some((first_us, start))) => {
                let elapsed = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                first_us.saturating_add(elapsed)
            }
            _ => self.last_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::CanId;

    #[derive(Debug, thiserror::Error)]
    #[error("bad line {0}")]
    struct BadLine(u32);

    fn at(ts: u64, byte: u8) -> Result<CanFrame, BadLine> {
        Ok(CanFrame::classic(CanId::Standard(0x3B3), &[byte])
            .unwrap()
            .at(ts))
    }

    #[tokio::test(start_paused = true)]
    async fn as_fast_delivers_in_order_without_waiting_then_closes() {
        let frames = vec![at(5_000_000, 1), at(9_000_000, 2), at(60_000_000, 3)];
        let mut bus = ReplayBus::new(frames.into_iter(), Pace::AsFast);
        let start = Instant::now();
        for (byte, ts) in [(1, 5_000_000), (2, 9_000_000), (3, 60_000_000)] {
            let f = bus.recv().await.unwrap();
            assert_eq!((f.data(), f.timestamp_us), (&[byte][..], ts));
            assert_eq!(bus.now_us(), ts);
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(matches!(
            bus.recv().await,
            Err(BusError::Closed {
                reason: CloseReason::EndOfCapture
            })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn recorded_pace_keeps_the_recorded_gaps_on_virtual_time() {
        let frames = vec![
            at(1_000_000, 1),
            at(1_250_000, 2),
            at(3_000_000, 3),
            // Backwards in time (a merged capture): comes at once.
            at(2_000_000, 4),
        ];
        let mut bus = ReplayBus::new(frames.into_iter(), Pace::Recorded);
        let start = Instant::now();
        let mut seen = Vec::new();
        while let Ok(f) = bus.recv().await {
            seen.push((f.data()[0], start.elapsed().as_micros()));
        }
        assert_eq!(
            seen,
            vec![(1, 0), (2, 250_000), (3, 2_000_000), (4, 2_000_000)]
        );
        assert_eq!(bus.now_us(), 3_000_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_recv_keeps_the_frame_for_the_next_one() {
        let frames = vec![at(0, 1), at(250_000, 2)];
        let mut bus = ReplayBus::new(frames.into_iter(), Pace::Recorded);
        assert_eq!(bus.recv().await.unwrap().data(), [1]);
        let early = tokio::time::timeout(Duration::from_millis(100), bus.recv()).await;
        assert!(early.is_err(), "the second frame is due at 250 ms");
        assert_eq!(bus.now_us(), 100_000);
        let f = bus.recv().await.unwrap();
        assert_eq!((f.data(), bus.now_us()), (&[2][..], 250_000));
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_error_is_reported_once_and_replay_goes_on() {
        let frames = vec![at(10, 1), Err(BadLine(7)), at(20, 2)];
        let mut bus = ReplayBus::new(frames.into_iter(), Pace::AsFast);
        assert_eq!(bus.recv().await.unwrap().data(), [1]);
        match bus.recv().await {
            Err(e @ BusError::Capture(_)) => {
                assert_eq!(e.to_string(), "reading the capture: bad line 7")
            }
            other => panic!("expected a capture error, got {other:?}"),
        }
        assert_eq!(bus.recv().await.unwrap().data(), [2]);
    }

    #[tokio::test(start_paused = true)]
    async fn sending_is_refused() {
        let mut bus = ReplayBus::new(
            Vec::<Result<CanFrame, BadLine>>::new().into_iter(),
            Pace::AsFast,
        );
        let f = at(0, 0).unwrap();
        assert!(matches!(
            bus.send(&f).await,
            Err(BusError::Unsupported {
                what: Unsupported::ReceiveOnly
            })
        ));
        assert!(matches!(
            bus.recv().await,
            Err(BusError::Closed {
                reason: CloseReason::EndOfCapture
            })
        ));
    }
}
