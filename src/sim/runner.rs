//! The async driver: runs a sans-IO simulated node over any [`CanBus`].
//! All it does is move frames and sleep until the node's next deadline, so
//! on tokio's paused clock (the virtual bus) a whole session takes as long
//! as the computation.

use std::time::Duration;

use crate::frame::CanFrame;
use crate::profile::Profile;
use crate::transport::{BusError, CanBus, VirtualBus, VirtualEndpoint};

use super::{CaptureClone, Scenario, SimConfig, SimVehicle};

/// Bus clock at the start of a virtual run: 2023-11-14 22:13:20 UTC, so
/// recordings carry plausible, reproducible candump timestamps.
pub const DEFAULT_EPOCH_US: u64 = 1_700_000_000_000_000;

/// A sans-IO node the runner can drive.
pub trait SimNode {
    fn handle_frame(&mut self, now_us: u64, frame: &CanFrame);
    fn handle_timeout(&mut self, now_us: u64);
    fn poll_transmit(&mut self, now_us: u64) -> Option<CanFrame>;
    fn poll_timeout(&self) -> Option<u64>;
}

impl SimNode for SimVehicle {
    fn handle_frame(&mut self, now_us: u64, frame: &CanFrame) {
        SimVehicle::handle_frame(self, now_us, frame)
    }
    fn handle_timeout(&mut self, now_us: u64) {
        SimVehicle::handle_timeout(self, now_us)
    }
    fn poll_transmit(&mut self, now_us: u64) -> Option<CanFrame> {
        SimVehicle::poll_transmit(self, now_us)
    }
    fn poll_timeout(&self) -> Option<u64> {
        SimVehicle::poll_timeout(self)
    }
}

impl SimNode for CaptureClone {
    fn handle_frame(&mut self, now_us: u64, frame: &CanFrame) {
        CaptureClone::handle_frame(self, now_us, frame)
    }
    fn handle_timeout(&mut self, now_us: u64) {
        CaptureClone::handle_timeout(self, now_us)
    }
    fn poll_transmit(&mut self, now_us: u64) -> Option<CanFrame> {
        CaptureClone::poll_transmit(self, now_us)
    }
    fn poll_timeout(&self) -> Option<u64> {
        CaptureClone::poll_timeout(self)
    }
}

/// Drives `node` over `bus` until `until_us` (bus time) or until the bus
/// closes (the last other endpoint of a virtual bus went away), which ends
/// the run normally. Any other bus error is returned.
pub async fn run<N: SimNode, B: CanBus>(
    node: &mut N,
    bus: &mut B,
    until_us: Option<u64>,
) -> Result<(), BusError> {
    loop {
        let now = bus.now_us();
        if until_us.is_some_and(|u| now >= u) {
            return Ok(());
        }
        while let Some(f) = node.poll_transmit(now) {
            bus.send(&f).await?;
        }
        let deadline = match (node.poll_timeout(), until_us) {
            (Some(d), Some(u)) => Some(d.min(u)),
            (d, u) => d.or(u),
        };
        if let Some(d) = deadline.filter(|&d| d <= now) {
            node.handle_timeout(d.max(now));
            // A node whose deadline does not move must not starve the runtime.
            tokio::task::yield_now().await;
            continue;
        }
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep(Duration::from_micros(d - now)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            r = bus.recv() => match r {
                Ok(frame) => node.handle_frame(frame.timestamp_us.max(now), &frame),
                Err(BusError::Closed { .. }) => return Ok(()),
                Err(e) => return Err(e),
            },
            () = sleep => {
                if let Some(d) = deadline {
                    node.handle_timeout(d);
                }
            }
        }
    }
}

/// Starts the simulated vehicle on `bus` as a task; it ends when every
/// other endpoint is gone. Must be called inside a tokio runtime (a paused
/// one for virtual time).
pub fn spawn_on(
    bus: &VirtualBus,
    profile: &Profile,
    scenario: Scenario,
    cfg: SimConfig,
) -> tokio::task::JoinHandle<Result<(), BusError>> {
    let mut endpoint = bus.endpoint(cfg.iface);
    let mut vehicle = SimVehicle::new(profile, scenario, cfg);
    tokio::spawn(async move { run(&mut vehicle, &mut endpoint, None).await })
}

/// A virtual bus with the simulated vehicle on it; the returned endpoint is
/// the tester's side (what `diagnose --sim` uses as its bus). The simulator
/// stops when that endpoint is dropped.
pub fn spawn_virtual(profile: &Profile, scenario: Scenario, cfg: SimConfig) -> VirtualEndpoint {
    let bus = VirtualBus::new(DEFAULT_EPOCH_US);
    let tester = bus.endpoint(cfg.iface);
    // The task owns the vehicle's endpoint; its result is only a bus error on
    // a virtual bus, which cannot happen (virtual sends never fail).
    drop(spawn_on(&bus, profile, scenario, cfg));
    tester
}
