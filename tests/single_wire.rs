//! GM's single-wire CAN (LS-GMLAN, SAE J2411) as far as it goes without
//! an adapter: a live run on a profile with a single-wire bus tells the
//! person which bus and adapter it needs, a run on one without says
//! nothing of it, and an SLCAN adapter is refused by the bus's kind before
//! its port is touched.

use std::path::Path;
use std::time::Duration;

use tokio::sync::oneshot;
use trunkdiag::diagnose::live::{run, LivePlan, Operator};
use trunkdiag::diagnose::Observations;
use trunkdiag::frame::{BusKind, IfName, SINGLE_WIRE_BITRATE};
use trunkdiag::tester::Shutdown;
use trunkdiag::transport::{
    AdapterError, BusError, IfaceSpec, PhysicalBus, Unsupported, VirtualBus,
};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/profiles")
        .join(name)
        .display()
        .to_string()
}

/// A person at the car who presses nothing: what the run told them.
struct Listener(Vec<String>);

impl Operator for Listener {
    fn ask_press(&mut self, _: &str) -> Option<oneshot::Receiver<()>> {
        None
    }
    fn confirm(&mut self, _: &str) -> bool {
        false
    }
    fn say(&mut self, text: &str) {
        self.0.push(text.to_owned());
    }
}

/// The lines a live run under `profile` says, on a virtual bus where
/// nothing answers.
async fn said(profile: &str) -> Vec<String> {
    let bus = VirtualBus::new(1_000_000);
    let name = |s| IfName::new(s).unwrap();
    let plan = LivePlan {
        listen: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        actuate: false,
        observations: Observations::default(),
        fail_on_silence: false,
        told: None,
        listen_only: false,
        assume_stopped: false,
    };
    let mut person = Listener(Vec::new());
    // The car: on the bus, silent.
    let _car = bus.endpoint(name("car"));
    let b = bus.clone();
    let out = run(
        move || Ok(b.endpoint(name("tester"))),
        name("vbus"),
        ("sim", "test".into()),
        &fixture(profile),
        &plan,
        &mut person,
        None,
        Shutdown::new(),
    )
    .await;
    assert!(out.is_ok(), "{:?}", out.err());
    person.0
}

#[tokio::test(start_paused = true)]
async fn a_profile_with_a_single_wire_bus_says_which_bus_and_adapter_it_needs() {
    let lines = said("single-wire-body.toml").await;
    let want = "the body frames of this car are on the single-wire bus sw-can (LS-GMLAN, pin 1, \
                33.3 kbit/s): use a SocketCAN interface with a single-wire transceiver at 33333 \
                bit/s, or an OBDLink with SW-CAN; a plain ELM327 cannot reach it";
    assert_eq!(lines.iter().filter(|l| *l == want).count(), 1, "{lines:#?}");
    // Said right after the profile is named, before any work on the bus.
    let at = lines.iter().position(|l| l == want).unwrap();
    assert!(
        at > 0 && lines[at - 1].starts_with("profile single-wire-body-fixture"),
        "{lines:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_profile_without_one_says_nothing_of_single_wire_can() {
    let lines = said("extended-bcm.toml").await;
    assert!(
        lines.iter().any(|l| l.starts_with("profile ")),
        "{lines:#?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("single-wire") || l.contains("ELM327")),
        "{lines:#?}"
    );
}

#[test]
fn slcan_is_refused_single_wire_can_before_its_port_is_opened() {
    let spec = IfaceSpec::parse("slcan:/dev/no-such-slcan-port").unwrap();
    let sw = PhysicalBus::new(SINGLE_WIRE_BITRATE, BusKind::SingleWire);
    match spec.open(sw) {
        Err(BusError::Adapter {
            adapter,
            error:
                AdapterError::Unsupported {
                    what: Unsupported::SingleWireThroughSlcan,
                },
        }) => assert_eq!(adapter, "slcan:/dev/no-such-slcan-port"),
        other => panic!("{other:?}"),
    }
}
