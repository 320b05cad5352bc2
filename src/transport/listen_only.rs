//! A bus that cannot send: every `send` fails with
//! [`Unsupported::ListenOnly`] before it reaches the bus below, so a bug
//! above (a request, a tester present, a session's close) cannot leak a
//! frame onto a car that was promised silence. Receiving is untouched.

use super::{BusError, CanBus, LinkHint, Unsupported};
use crate::frame::CanFrame;

/// `bus`, with sends refused while `on` (and passed through otherwise, so
/// one type serves a run that may or may not listen only).
#[derive(Debug)]
pub struct ListenOnly<B> {
    bus: B,
    on: bool,
}

impl<B: CanBus> ListenOnly<B> {
    pub fn new(bus: B, on: bool) -> ListenOnly<B> {
        ListenOnly { bus, on }
    }
}

impl<B: CanBus> CanBus for ListenOnly<B> {
    async fn send(&mut self, frame: &CanFrame) -> Result<(), BusError> {
        if self.on {
            tracing::error!("listen-only: a send of 0x{} was refused", frame.id);
            return Err(BusError::unsupported(Unsupported::ListenOnly {
                id: frame.id,
            }));
        }
        self.bus.send(frame).await
    }
    async fn recv(&mut self) -> Result<CanFrame, BusError> {
        self.bus.recv().await
    }
    fn now_us(&self) -> u64 {
        self.bus.now_us()
    }
    fn configure_link(&mut self, hint: &LinkHint) {
        self.bus.configure_link(hint)
    }
    async fn prepare(&mut self) -> Result<(), BusError> {
        if self.on {
            return Ok(());
        }
        self.bus.prepare().await
    }
    fn adapter_flow_control(&self) -> bool {
        self.bus.adapter_flow_control()
    }
    fn notes(&self) -> Vec<String> {
        self.bus.notes()
    }
    fn facts(&self) -> super::AdapterFacts {
        self.bus.facts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{CanId, IfName};
    use crate::transport::VirtualBus;

    #[tokio::test(start_paused = true)]
    async fn a_listen_only_bus_refuses_every_send_and_still_hears() {
        let bus = VirtualBus::new(1_000_000);
        let mut other = bus.endpoint(IfName::new("car").unwrap());
        let mut quiet = ListenOnly::new(bus.endpoint(IfName::new("us").unwrap()), true);
        let f = CanFrame::classic(CanId::Standard(0x7E0), &[0x02, 0x10, 0x03]).unwrap();
        let e = quiet.send(&f).await.unwrap_err();
        assert!(
            matches!(
                &e,
                BusError::Unsupported {
                    what: Unsupported::ListenOnly { id }
                } if *id == CanId::Standard(0x7E0)
            ),
            "{e}"
        );
        let heard = CanFrame::classic(CanId::Standard(0x6F6), &[1]).unwrap();
        other.send(&heard).await.unwrap();
        assert_eq!(quiet.recv().await.unwrap().id, heard.id);
        let mut open = ListenOnly::new(bus.endpoint(IfName::new("us2").unwrap()), false);
        let g = CanFrame::classic(CanId::Standard(0x7E0), &[0x02, 0x3E, 0x00]).unwrap();
        open.send(&g).await.unwrap();
        // The frame the listen-only endpoint was refused never arrived:
        // the first the car hears is the other endpoint's.
        assert_eq!(other.recv().await.unwrap().data(), g.data());
    }
}
