//! The simulated vehicle over the virtual bus, driven by the real async
//! tester, on tokio's paused clock: whole sessions in milliseconds.

use std::time::Duration;

use trunkdiag::diag::client::ClientConfig;
use trunkdiag::diag::{kwp, uds};
use trunkdiag::frame::CanId;
use trunkdiag::isotp::IsoTpConfig;
use trunkdiag::profile::{self, Role};
use trunkdiag::sim::{spawn_on, spawn_virtual, Scenario, SimConfig};
use trunkdiag::tester::{Response, Shutdown, Tester};
use trunkdiag::transport::VirtualBus;

fn tester_for(
    profile: &profile::Profile,
    bus: trunkdiag::transport::VirtualEndpoint,
) -> Tester<trunkdiag::transport::VirtualEndpoint> {
    let bcm = profile.bcm().unwrap();
    let client = ClientConfig::for_protocol(bcm.protocol);
    Tester::new(
        bus,
        IsoTpConfig::new(bcm.request_id, bcm.response_id),
        client,
        Shutdown::new(),
    )
}

#[tokio::test(start_paused = true)]
async fn nissan_session_reads_and_dtcs_through_the_async_tester() {
    let p = profile::load("nissan-altima-2013-2018").unwrap();
    let ep = spawn_virtual(
        &p,
        Scenario::from_id("low-battery").unwrap(),
        SimConfig::default(),
    );
    let mut t = tester_for(&p, ep);
    let r = t.request(&kwp::read_local_id(0x44)).await.unwrap();
    assert!(matches!(r, Response::Negative { .. }), "{r:?}");
    t.open_session(0xC0).await.unwrap();
    let data = t.request_positive(&kwp::read_local_id(0x44)).await.unwrap();
    assert_eq!(data.get(..2), Some(&[0x61, 0x44][..]));
    // The slow DTC read: the tester rides over the responsePending.
    let dtc = t
        .request_positive(&kwp::read_dtcs_by_status(0x02, 0xFF00))
        .await
        .unwrap();
    let codes: Vec<String> = kwp::parse_dtcs_by_status(&dtc)
        .unwrap()
        .iter()
        .map(|r| r.dtc.to_string())
        .collect();
    assert_eq!(codes, ["B2562"]);
    // Idle past S3: the tester's keep-alive holds the session.
    t.idle(Duration::from_secs(8)).await.unwrap();
    assert!(t.request_positive(&kwp::read_local_id(0x44)).await.is_ok());
    t.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn ford_press_sequence_seen_by_a_polling_tester() {
    let p = profile::load("ford-fusion-2013-2020").unwrap();
    let bus = VirtualBus::new(0);
    let ep = bus.endpoint(Default::default());
    let task = spawn_on(
        &bus,
        &p,
        Scenario::from_id("no-fault-found").unwrap(),
        SimConfig::default(),
    );
    let mut tap = bus.tap();
    let mut t = tester_for(&p, ep);
    t.open_session(0x03).await.unwrap();
    let mut seen: Vec<(u64, Role, f64)> = Vec::new();
    let start = bus.now_us();
    while bus.now_us() < start + 9_000_000 {
        let r = t
            .request_positive(&uds::read_dids(&[0xD100]))
            .await
            .unwrap();
        let now = bus.now_us() - start;
        p.decode_response(&r, |_, role, v| seen.push((now, role, v)));
        t.idle(Duration::from_millis(200)).await.unwrap();
    }
    let first = |role| {
        seen.iter()
            .find(|&&(_, r, v)| r == role && v != 0.0)
            .map(|x| x.0)
    };
    let fob = first(Role::FobTrunkRequest).unwrap();
    let out = first(Role::OpenerOutput).unwrap();
    let lid = first(Role::LidOpen).unwrap();
    assert!((2_000_000..2_400_000).contains(&fob), "{fob}");
    assert!(
        fob <= out && out <= lid && lid < fob + 1_000_000,
        "{fob} {out} {lid}"
    );
    assert!(first(Role::CabinTrunkRequest).unwrap() >= 5_000_000);
    t.close().await.unwrap();
    drop(t);
    // The car's broadcasts were on the bus all along.
    let mut ajar = 0;
    while let Ok(f) = tap.try_recv() {
        ajar += usize::from(f.id == CanId::Standard(0x3B1));
    }
    assert!(ajar >= 80, "{ajar}");
    // With the tester gone the simulator ends by itself.
    task.await.unwrap().unwrap();
}
