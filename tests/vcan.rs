//! SocketCAN transport against a real kernel CAN stack, judged by can-utils.
//!
//! Machine-specific: needs root, the vcan module, `ip`, `candump` and
//! `cansend`. It runs inside the test VM (`scripts/vcan-test`), which sets
//! TRUNKDIAG_VCAN=1; anywhere else each test prints a note and returns.
//! Each test makes its own vcan interface, so they do not disturb each other.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use trunkdiag::frame::{CanFrame, CanId, FrameKind, CANFD_BRS, CANFD_ESI, CANFD_FDF};
use trunkdiag::transport::{BusError, CanBus, SocketCanBus};

/// A guard on waits that should end at once; reaching it is a failure, not
/// a measurement.
const PATIENCE: Duration = Duration::from_secs(10);

fn in_vm() -> bool {
    let on = std::env::var("TRUNKDIAG_VCAN").as_deref() == Ok("1");
    if !on {
        eprintln!("note: SocketCAN test skipped; it runs in the VM: scripts/vcan-test");
    }
    on
}

fn ip(args: &str) {
    let status = Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .unwrap();
    assert!(status.success(), "ip {args} failed");
}

/// A fresh, up vcan interface (`mtu` 72 allows CAN FD).
fn fresh_vcan(name: &str, mtu: Option<u32>) {
    let _ = Command::new("ip")
        .args(["link", "del", "dev", name])
        .stderr(Stdio::null())
        .status();
    ip(&format!("link add dev {name} type vcan"));
    if let Some(mtu) = mtu {
        ip(&format!("link set {name} mtu {mtu}"));
    }
    ip(&format!("link set up {name}"));
}

fn cansend(iface: &str, frame: &str) {
    let status = Command::new("cansend")
        .args([iface, frame])
        .status()
        .unwrap();
    assert!(status.success(), "cansend {iface} {frame} failed");
}

/// `candump -L IFACE` with its lines, minus the timestamp, on a channel.
struct Candump {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Candump {
    fn start(iface: &str) -> Candump {
        let mut child = Command::new("candump")
            .args(["-L", iface])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                // "(1700000000.123456) vcan0 123#DEADBEEF" -> "vcan0 123#DEADBEEF"
                let rest = line.split_once(' ').map(|(_, r)| r.to_string());
                if tx.send(rest.unwrap_or(line)).is_err() {
                    break;
                }
            }
        });
        Candump { child, lines }
    }

    fn next(&self) -> String {
        self.lines
            .recv_timeout(PATIENCE)
            .expect("candump printed nothing")
    }
}

impl Drop for Candump {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a marker frame until candump shows it, so that candump is surely
/// listening before the frames under test go out (no sleeps to guess).
async fn sync_with(dump: &Candump, bus: &mut SocketCanBus, iface: &str) {
    let marker = CanFrame::classic(CanId::Standard(0x7FF), &[0x5A]).unwrap();
    let want = format!("{iface} 7FF#5A");
    for _ in 0..100 {
        bus.send(&marker).await.unwrap();
        if let Ok(line) = dump.lines.recv_timeout(Duration::from_millis(100)) {
            assert_eq!(line, want);
            // Drain the markers still on their way.
            while dump.lines.recv_timeout(Duration::from_millis(200)).is_ok() {}
            return;
        }
    }
    panic!("candump never showed the marker frame");
}

async fn recv_guarded(bus: &mut SocketCanBus) -> Result<CanFrame, BusError> {
    tokio::time::timeout(PATIENCE, bus.recv())
        .await
        .expect("recv did not return")
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn interface_message(result: Result<impl std::fmt::Debug, BusError>) -> String {
    match result {
        Err(BusError::Interface { message, .. }) => message,
        other => panic!("expected an interface error, got {other:?}"),
    }
}

#[tokio::test]
async fn sent_frames_are_recorded_identically_by_candump() {
    if !in_vm() {
        return;
    }
    let iface = "vtsend";
    fresh_vcan(iface, Some(72));
    let dump = Candump::start(iface);
    let mut bus = SocketCanBus::open(iface).unwrap();
    assert!(bus.is_fd_capable());
    sync_with(&dump, &mut bus, iface).await;

    let std_id = CanId::Standard;
    let ext_id = CanId::Extended;
    // Expected text written by hand in candump's log syntax.
    let cases = [
        (
            CanFrame::classic(std_id(0x123), &[0xDE, 0xAD, 0xBE, 0xEF]).unwrap(),
            "123#DEADBEEF",
        ),
        (CanFrame::classic(std_id(0x7E0), &[]).unwrap(), "7E0#"),
        (
            CanFrame::classic(ext_id(0x1ABC_DEF0), &[1, 2]).unwrap(),
            "1ABCDEF0#0102",
        ),
        (
            CanFrame::classic(ext_id(0x0000_0010), &[0xFF; 8]).unwrap(),
            "00000010#FFFFFFFFFFFFFFFF",
        ),
        (CanFrame::remote(std_id(0x5E9), 8, None).unwrap(), "5E9#R8"),
        (
            CanFrame::remote(ext_id(0x18DB_33F1), 3, None).unwrap(),
            "18DB33F1#R3",
        ),
        // FDF is set by the kernel/crate on every FD frame: flags nibble 4.
        (
            CanFrame::fd(std_id(0x456), &[0x11; 12], CANFD_BRS).unwrap(),
            "456##5111111111111111111111111",
        ),
        (
            CanFrame::fd(ext_id(0x18DA_F110), &[0x22; 3], 0).unwrap(),
            "18DAF110##4222222",
        ),
        (
            CanFrame::fd(std_id(0x001), &[0x33; 64], CANFD_BRS | CANFD_ESI).unwrap(),
            "",
        ),
    ];
    for (frame, _) in &cases {
        bus.send(frame).await.unwrap();
    }
    for (frame, text) in &cases {
        let got = dump.next();
        let want = if text.is_empty() {
            format!("{iface} 001##7{}", "33".repeat(64))
        } else {
            format!("{iface} {text}")
        };
        assert_eq!(got, want, "for {frame:?}");
    }
}

#[tokio::test]
async fn frames_from_cansend_are_received_with_time_and_iface() {
    if !in_vm() {
        return;
    }
    let iface = "vtrecv";
    fresh_vcan(iface, Some(72));
    let mut bus = SocketCanBus::open(iface).unwrap();
    let cases = [
        (
            "7E8#0322F190AAAAAAAA",
            CanFrame::classic(
                CanId::Standard(0x7E8),
                &[3, 0x22, 0xF1, 0x90, 0xAA, 0xAA, 0xAA, 0xAA],
            )
            .unwrap(),
        ),
        (
            "18DAF110#027E00",
            CanFrame::classic(CanId::Extended(0x18DA_F110), &[2, 0x7E, 0]).unwrap(),
        ),
        (
            "5E9#R8",
            CanFrame::remote(CanId::Standard(0x5E9), 8, None).unwrap(),
        ),
        (
            "123#R",
            CanFrame::remote(CanId::Standard(0x123), 0, None).unwrap(),
        ),
        (
            "456##1010203",
            CanFrame::fd(CanId::Standard(0x456), &[1, 2, 3], CANFD_BRS | CANFD_FDF).unwrap(),
        ),
    ];
    for (text, want) in &cases {
        let before = now_us();
        cansend(iface, text);
        let got = recv_guarded(&mut bus).await.unwrap();
        let after = now_us();
        assert_eq!(got.id, want.id, "{text}");
        assert_eq!(got.kind, want.kind, "{text}");
        assert_eq!(got.data(), want.data(), "{text}");
        assert_eq!(got.iface.as_str(), iface);
        assert!(
            (before..=after).contains(&got.timestamp_us),
            "{text}: timestamp {} outside the send window {before}..={after}",
            got.timestamp_us
        );
    }
}

#[tokio::test]
async fn a_missing_interface_says_so() {
    if !in_vm() {
        return;
    }
    let message = interface_message(SocketCanBus::open("nosuchcan0"));
    assert!(
        message.contains("no CAN interface named nosuchcan0") && message.contains("ip link show"),
        "{message}"
    );
    // A non-CAN interface is told apart from a missing one.
    let message = interface_message(SocketCanBus::open("lo"));
    assert!(message.contains("not a CAN interface"), "{message}");
}

#[tokio::test]
async fn a_down_interface_is_refused_at_open() {
    if !in_vm() {
        return;
    }
    let iface = "vtdown";
    fresh_vcan(iface, None);
    ip(&format!("link set {iface} down"));
    let message = interface_message(SocketCanBus::open(iface));
    assert!(
        message.contains("is down") && message.contains("ip link set vtdown up"),
        "{message}"
    );
}

#[tokio::test]
async fn an_interface_set_down_mid_run_ends_a_pending_recv_and_sends() {
    if !in_vm() {
        return;
    }
    let iface = "vtmid";
    fresh_vcan(iface, None);
    let mut bus = SocketCanBus::open(iface).unwrap();
    let waiter = tokio::spawn(async move {
        let r = recv_guarded(&mut bus).await;
        (r, bus)
    });
    // Let the recv reach the socket first; if it is not waiting yet, the
    // error is still pending on the socket and reported all the same.
    tokio::time::sleep(Duration::from_millis(200)).await;
    ip(&format!("link set {iface} down"));
    let (result, mut bus) = waiter.await.unwrap();
    let message = interface_message(result);
    assert!(message.contains("went down while receiving"), "{message}");

    let frame = CanFrame::classic(CanId::Standard(0x7E0), &[1]).unwrap();
    let message = interface_message(bus.send(&frame).await);
    assert!(message.contains("went down while sending"), "{message}");

    // Up again, the same bus works again: a down link is not fatal.
    ip(&format!("link set {iface} up"));
    bus.send(&frame).await.unwrap();
}

#[tokio::test]
async fn a_deleted_interface_ends_the_bus_for_good() {
    if !in_vm() {
        return;
    }
    let iface = "vtdel";
    fresh_vcan(iface, None);
    let mut bus = SocketCanBus::open(iface).unwrap();
    let waiter = tokio::spawn(async move {
        let r = recv_guarded(&mut bus).await;
        (r, bus)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    ip(&format!("link del dev {iface}"));
    let (result, mut bus) = waiter.await.unwrap();
    let message = interface_message(result);
    assert!(message.contains("was removed"), "{message}");
    // The kernel unbinds the socket: later calls fail instead of hanging.
    let message = interface_message(recv_guarded(&mut bus).await);
    assert!(message.contains("was removed"), "{message}");
    let frame = CanFrame::classic(CanId::Standard(0x7E0), &[1]).unwrap();
    interface_message(bus.send(&frame).await);
}

#[tokio::test]
async fn can_fd_on_a_classic_interface_is_unsupported() {
    if !in_vm() {
        return;
    }
    let iface = "vtclassic";
    // vcan defaults to the CAN FD MTU (72); 16 is what a classic adapter has.
    fresh_vcan(iface, Some(16));
    let mut bus = SocketCanBus::open(iface).unwrap();
    assert!(!bus.is_fd_capable());
    let fd = CanFrame::fd(CanId::Standard(0x456), &[0; 12], CANFD_BRS).unwrap();
    match bus.send(&fd).await {
        Err(BusError::Unsupported(m)) => assert!(m.contains("MTU 16"), "{m}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    // Classic frames still go out.
    let classic = CanFrame::classic(CanId::Standard(0x456), &[0; 8]).unwrap();
    bus.send(&classic).await.unwrap();
    assert!(matches!(classic.kind, FrameKind::Classic { .. }));
}

/// Run by the VM suite with every CAN module unloaded: the message must say
/// the kernel lacks CAN, not that the interface is missing.
#[tokio::test]
async fn a_kernel_without_can_says_so() {
    if std::env::var("TRUNKDIAG_VCAN").as_deref() != Ok("no-can-kernel") {
        eprintln!("note: runs in the VM with the CAN modules unloaded (scripts/vcan-test)");
        return;
    }
    let message = interface_message(SocketCanBus::open("vcan0"));
    assert!(
        message.contains("this kernel has no SocketCAN support"),
        "{message}"
    );
}
