//! Raw CAN and CAN FD on a Linux SocketCAN interface (`can0`, `vcan0`).
//!
//! Owns the conversion between the kernel's `can_frame` / `canfd_frame` and
//! our [`CanFrame`] (classic with the raw len8 DLC, remote with its DLC,
//! CAN FD with BRS/ESI, error frames), and the translation of the kernel's
//! errno values into messages a mechanic can act on.
//!
//! It goes through the socketcan crate's *raw* frame API (`read_raw_frame`,
//! frames built from `can_frame_default()`), because the crate's typed
//! frames drop `len8_dlc`. The socket is driven by tokio's `AsyncFd`
//! directly, registered for error readiness too: the kernel reports "the
//! interface went down / was removed" as `EPOLLERR` alone, which a
//! readable-only wait would never see, leaving `recv` hung forever.
//!
//! Timestamps are µs since the UNIX epoch: the wall clock read once at open,
//! advanced by the monotonic clock (see `BusClock`), so deadlines never jump.
//! The socket asks for a receive queue of [`RECEIVE_QUEUE`] bytes and for
//! the kernel's drop counter (`SO_RXQ_OVFL`), so frames read with `recvmsg`
//! carry the number the kernel threw away because we read too slowly; a
//! run that lost frames says so in its notes (like `candump -d`).
//!
//! This module knows nothing about ISO-TP or diagnostics.

use std::io;
use std::io::IoSliceMut;
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::sys::socket::{self as nixsock, sockopt, ControlMessageOwned, MsgFlags};

use socketcan::frame::{can_frame_default, canfd_frame_default};
use socketcan::{CanAnyFrame, CanRawFrame, Socket, SocketOptions};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::{
    AdapterFacts, BusClock, BusError, CanBus, Capability, Doing, DropCount, InterfaceProblem,
    Support, Unsupported,
};
use crate::frame::{CanFrame, CanId, FrameKind, IfName, CAN_ERR_FLAG, CAN_ERR_MASK};

// Linux errno values (asm-generic, the same on x86 and arm). The crate set
// has no libc dependency for four numbers.
const ENXIO: i32 = 6;
const ENODEV: i32 = 19;
const EINVAL: i32 = 22;
const EAFNOSUPPORT: i32 = 97;
const ENETDOWN: i32 = 100;
const ENOBUFS: i32 = 105;

const CAN_EFF_FLAG: u32 = 0x8000_0000;
const CAN_RTR_FLAG: u32 = 0x4000_0000;
const CAN_EFF_MASK: u32 = 0x1FFF_FFFF;
const CAN_SFF_MASK: u32 = 0x7FF;
/// `IFF_UP` in /sys/class/net/IFACE/flags.
const IFF_UP: u32 = 0x1;
/// `ARPHRD_CAN` in /sys/class/net/IFACE/type.
const ARPHRD_CAN: u32 = 280;
/// The MTU of an interface that only carries classic frames (`CAN_MTU`).
const CAN_MTU: u32 = 16;

/// The receive queue asked for, in bytes of the kernel's accounting (about
/// 1 kB per queued classic frame on x86-64, so some 8000 frames: four
/// seconds of a saturated 500 kbit/s bus). Without privilege the kernel
/// caps it at `net.core.rmem_max`; that smaller queue is still used.
const RECEIVE_QUEUE: usize = 8 << 20;

/// How long a send keeps retrying while the kernel's transmit queue is full
/// (`ENOBUFS`): on a real bus that means nobody acknowledges our frames.
const TX_QUEUE_PATIENCE: Duration = Duration::from_millis(500);
const TX_QUEUE_RETRY: Duration = Duration::from_millis(1);

/// An open raw CAN (FD-enabled) socket bound to one interface.
pub struct SocketCanBus {
    fd: AsyncFd<socketcan::CanFdSocket>,
    iface: IfName,
    /// False when the interface's MTU says classic CAN only.
    fd_capable: bool,
    /// Set once the interface is gone: the kernel unbinds the socket then, so
    /// later reads would block forever instead of failing again.
    removed: Option<InterfaceProblem>,
    clock: BusClock,
    /// The kernel's count of frames dropped on this socket because its
    /// receive queue was full, as of the last frame read (`None`: the
    /// kernel does not report it).
    dropped: Option<u32>,
}

impl std::fmt::Debug for SocketCanBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketCanBus")
            .field("iface", &self.iface)
            .field("fd_capable", &self.fd_capable)
            .field("removed", &self.removed)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

impl SocketCanBus {
    /// Opens `iface`, receiving every frame including error frames.
    ///
    /// Fails with [`BusError::Interface`] when the kernel has no SocketCAN,
    /// the interface does not exist or is not CAN, or it is down.
    pub fn open(iface: &str) -> Result<SocketCanBus, BusError> {
        let name = IfName::new(iface).ok_or_else(|| interface(iface, InterfaceProblem::BadName))?;
        let sock = socketcan::CanFdSocket::open(iface).map_err(|e| open_error(iface, e))?;

        let sys = SysNet::read(iface);
        if let Some(flags) = sys.flags {
            if flags & IFF_UP == 0 {
                return Err(interface(iface, InterfaceProblem::Down));
            }
        }
        let fd_capable = sys.mtu.is_none_or(|mtu| mtu > CAN_MTU);

        let io_error = |context: &str, source| BusError::Io {
            context: format!("{iface}: {context}"),
            source,
        };
        sock.set_nonblocking(true)
            .map_err(|e| io_error("making the socket non-blocking", e))?;
        // Bus-off, controller and protocol errors are part of a diagnosis.
        sock.set_error_filter_accept_all()
            .map_err(|e| io_error("enabling error frames", e))?;
        // A larger queue (forced past rmem_max when privileged), and the
        // drop counter. Neither is needed to work: failures leave the
        // defaults, and a missing counter reads as "not reported".
        if nixsock::setsockopt(&sock, sockopt::RcvBufForce, &RECEIVE_QUEUE).is_err() {
            let _ = nixsock::setsockopt(&sock, sockopt::RcvBuf, &RECEIVE_QUEUE);
        }
        let dropped = nixsock::setsockopt(&sock, sockopt::RxqOvfl, &1)
            .is_ok()
            .then_some(0);
        // Deprecated in tokio because a `T` that merely borrows its fd could
        // close it while registered; ours owns the socket for its whole life
        // and never hands it out, which is the sound case. The replacement
        // (`register_with_interest`) is an `unsafe fn`, which the crate forbids.
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(
            sock,
            Interest::READABLE
                .add(Interest::WRITABLE)
                .add(Interest::ERROR),
        )
        .map_err(|e| io_error("registering the socket with the runtime", e))?;
        Ok(SocketCanBus {
            fd,
            iface: name,
            fd_capable,
            removed: None,
            clock: BusClock::start(),
            dropped,
        })
    }

    pub fn iface(&self) -> IfName {
        self.iface
    }

    /// Whether the interface carries CAN FD frames (MTU 72).
    pub fn is_fd_capable(&self) -> bool {
        self.fd_capable
    }

    /// Maps an errno from a running socket; remembers removal.
    fn run_error(&mut self, doing: Doing, e: io::Error) -> BusError {
        let iface = self.iface.to_string();
        let problem = match e.raw_os_error() {
            Some(ENETDOWN) => InterfaceProblem::WentDown { doing },
            Some(ENODEV | ENXIO) => {
                let p = InterfaceProblem::Removed { doing };
                self.removed = Some(p);
                p
            }
            _ => {
                return BusError::Io {
                    context: format!("{iface}: {doing}"),
                    source: e,
                }
            }
        };
        BusError::Interface { iface, problem }
    }
}

impl CanBus for SocketCanBus {
    async fn send(&mut self, frame: &CanFrame) -> Result<(), BusError> {
        if let Some(problem) = self.removed {
            return Err(interface(&self.iface.to_string(), problem));
        }
        if frame.is_fd() && !self.fd_capable {
            return Err(fd_unsupported(self.iface));
        }
        let raw = to_raw(frame);
        let mut waited = Duration::ZERO;
        loop {
            let result = self
                .fd
                .async_io(Interest::WRITABLE, |sock| sock.write_frame(&raw))
                .await;
            match result {
                Ok(()) => return Ok(()),
                // The kernel signals a full CAN transmit queue with ENOBUFS
                // rather than EAGAIN, so readiness polling cannot wait it out.
                Err(e) if e.raw_os_error() == Some(ENOBUFS) => {
                    if waited >= TX_QUEUE_PATIENCE {
                        return Err(BusError::Interface {
                            iface: self.iface.to_string(),
                            problem: InterfaceProblem::TxQueueFull,
                        });
                    }
                    tokio::time::sleep(TX_QUEUE_RETRY).await;
                    waited += TX_QUEUE_RETRY;
                }
                // The MTU changed under us (or sysfs was unreadable at open).
                Err(e) if e.raw_os_error() == Some(EINVAL) && frame.is_fd() => {
                    return Err(fd_unsupported(self.iface));
                }
                Err(e) => return Err(self.run_error(Doing::Sending, e)),
            }
        }
    }

    /// Cancel-safe: a frame is read from the socket only once it is there,
    /// in one non-blocking call, so a dropped future loses nothing.
    async fn recv(&mut self) -> Result<CanFrame, BusError> {
        if let Some(problem) = self.removed {
            return Err(interface(&self.iface.to_string(), problem));
        }
        let result = self
            .fd
            .async_io(Interest::READABLE.add(Interest::ERROR), |sock| {
                read_frame(sock.as_raw_fd())
            })
            .await;
        match result {
            Ok((raw, dropped)) => {
                if dropped.is_some() {
                    self.dropped = dropped;
                }
                from_raw(raw)
                    .map(|f| f.at(self.clock.now_us()).on(self.iface))
                    .map_err(|e| BusError::Io {
                        context: format!("{}: the kernel delivered a malformed frame", self.iface),
                        source: io::Error::new(io::ErrorKind::InvalidData, e),
                    })
            }
            Err(e) => Err(self.run_error(Doing::Receiving, e)),
        }
    }

    fn now_us(&self) -> u64 {
        self.clock.now_us()
    }

    fn notes(&self) -> Vec<String> {
        dropped_note(self.iface, self.dropped).into_iter().collect()
    }

    fn facts(&self) -> AdapterFacts {
        let dir = std::path::Path::new("/sys/class/net").join(self.iface.as_str());
        let (firmware, mut capabilities) = sysfs_facts(&dir, self.iface.as_str());
        capabilities.push(match self.dropped {
            Some(_) => Capability::new(
                "receive-queue drop counter",
                Support::Ok,
                "SO_RXQ_OVFL: the kernel counts the frames it drops for this socket",
            ),
            None => Capability::new(
                "receive-queue drop counter",
                Support::Absent,
                "the kernel refused SO_RXQ_OVFL: frames it drops are not counted",
            ),
        });
        AdapterFacts {
            kind: "SocketCAN",
            firmware,
            capabilities,
            dropped: self.dropped.map(|n| DropCount {
                count: u64::from(n),
                overflows: 0,
                exact: true,
                source: "SO_RXQ_OVFL (the kernel's count for this socket's receive queue)"
                    .to_owned(),
            }),
        }
    }
}

/// What sysfs says about interface `iface` (its directory `dir`): the
/// driver (as the firmware line), whether it is up, CAN FD, and its error
/// counters. The bitrate, the CAN state (error-active, passive, bus-off)
/// and restart-ms are not in sysfs (only netlink, `ip -details link show`
/// has them), so they are named as not reported rather than guessed; vcan,
/// which has no controller, has none of them anyway.
fn sysfs_facts(dir: &std::path::Path, iface: &str) -> (Option<String>, Vec<Capability>) {
    let field = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .ok()
            .map(|s| s.trim().to_owned())
    };
    let number = |name: &str| field(name).and_then(|s| s.parse::<u64>().ok());
    let driver = std::fs::read_link(dir.join("device/driver"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let virtual_can = iface.starts_with("vcan") || driver.is_none();
    let mut caps = Vec::new();
    caps.push(match field("operstate") {
        Some(state) => {
            let up = field("flags")
                .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
                .is_some_and(|f| f & IFF_UP != 0);
            let support = if up { Support::Ok } else { Support::Absent };
            Capability::new(
                "interface up",
                support,
                format!("operstate {state}, {}", if up { "up" } else { "down" }),
            )
        }
        None => Capability::new("interface up", Support::NotProbed, "no sysfs entry"),
    });
    caps.push(match number("mtu") {
        Some(72) => Capability::new("CAN FD", Support::Ok, "MTU 72"),
        Some(m) => Capability::new(
            "CAN FD",
            Support::Absent,
            format!("MTU {m}: classic CAN only"),
        ),
        None => Capability::new("CAN FD", Support::NotProbed, "no MTU in sysfs"),
    });
    let counters = [
        "rx_errors",
        "tx_errors",
        "rx_dropped",
        "rx_over_errors",
        "rx_fifo_errors",
    ];
    let read: Vec<String> = counters
        .iter()
        .filter_map(|c| number(&format!("statistics/{c}")).map(|n| format!("{c} {n}")))
        .collect();
    caps.push(if read.is_empty() {
        Capability::new(
            "error counters",
            Support::NotProbed,
            "no statistics in sysfs",
        )
    } else {
        let nonzero = counters
            .iter()
            .any(|c| number(&format!("statistics/{c}")).is_some_and(|n| n > 0));
        let support = if nonzero {
            Support::Limited
        } else {
            Support::Ok
        };
        Capability::new("error counters", support, read.join(", "))
    });
    let netlink = if virtual_can {
        None
    } else {
        ip_link_json(iface).and_then(|json| controller_facts(&json))
    };
    match netlink {
        Some(mut found) => caps.append(&mut found),
        None => {
            let netlink_only = if virtual_can {
                "not reported by vcan (a virtual interface has no controller)".to_owned()
            } else {
                format!(
                    "not in sysfs, and `ip -details -json link show {iface}` gave none: \
                     run it by hand to see them"
                )
            };
            caps.push(Capability::new(
                "bitrate, CAN state, restart-ms",
                Support::NotProbed,
                netlink_only,
            ));
        }
    }
    (driver, caps)
}

/// `ip -details -json link show dev IFACE` (iproute2, on any Linux with
/// SocketCAN): the controller's bitrate, state, error counters and
/// restart-ms live only in netlink, which `ip` reads for us. `None` when
/// `ip` is missing or fails.
fn ip_link_json(iface: &str) -> Option<serde_json::Value> {
    let out = std::process::Command::new("ip")
        .args(["-details", "-json", "link", "show", "dev", iface])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The controller's facts from `ip -details -json link show`'s answer (an
/// array of one link): its CAN state, bitrate (and data bitrate with FD),
/// restart-ms, error counters and listen-only mode. `None` when the link
/// is not a CAN controller (vcan, or no link info).
fn controller_facts(json: &serde_json::Value) -> Option<Vec<Capability>> {
    let link = json.get(0)?.get("linkinfo")?;
    if link.get("info_kind")?.as_str()? != "can" {
        return None;
    }
    let data = link.get("info_data")?;
    let mut caps = Vec::new();
    let state = data.get("state").and_then(|s| s.as_str()).unwrap_or("");
    caps.push(match state {
        "ERROR-ACTIVE" => Capability::new("CAN state", Support::Ok, "ERROR-ACTIVE"),
        "ERROR-WARNING" | "ERROR-PASSIVE" => Capability::new(
            "CAN state",
            Support::Limited,
            format!("{state}: the controller has seen errors (wrong bitrate, a bad connection or termination)"),
        ),
        "BUS-OFF" | "STOPPED" | "SLEEPING" => Capability::new(
            "CAN state",
            Support::Absent,
            format!("{state}: the controller takes no part in the bus"),
        ),
        "" => Capability::new("CAN state", Support::NotProbed, "not reported"),
        other => Capability::new("CAN state", Support::Limited, other.to_owned()),
    });
    let bitrate = |key: &str| {
        data.get(key)
            .and_then(|b| b.get("bitrate"))
            .and_then(serde_json::Value::as_u64)
    };
    caps.push(match (bitrate("bittiming"), bitrate("data_bittiming")) {
        (Some(b), Some(d)) => Capability::new(
            "bitrate",
            Support::Ok,
            format!("{b} bit/s, data phase {d} bit/s"),
        ),
        (Some(b), None) => Capability::new("bitrate", Support::Ok, format!("{b} bit/s")),
        (None, _) => Capability::new(
            "bitrate",
            Support::NotProbed,
            "no bit timing set: `ip link set IFACE type can bitrate 500000`",
        ),
    });
    caps.push(
        match data.get("restart_ms").and_then(serde_json::Value::as_u64) {
            Some(0) => Capability::new(
                "restart-ms",
                Support::Limited,
                "0: after a bus-off the interface stays off until restarted by hand \
                 (`ip link set IFACE type can restart-ms 100`)",
            ),
            Some(ms) => Capability::new(
                "restart-ms",
                Support::Ok,
                format!("{ms} ms: restarts by itself after a bus-off"),
            ),
            None => Capability::new("restart-ms", Support::NotProbed, "not reported"),
        },
    );
    if let Some(berr) = data.get("berr_counter") {
        let n = |k: &str| berr.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
        let (tx, rx) = (n("tx"), n("rx"));
        let support = if tx == 0 && rx == 0 {
            Support::Ok
        } else {
            Support::Limited
        };
        caps.push(Capability::new(
            "controller error counters",
            support,
            format!("transmit {tx}, receive {rx}"),
        ));
    }
    let listen_only = data
        .get("ctrlmode")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|m| m.iter().any(|x| x.as_str() == Some("LISTEN-ONLY")));
    caps.push(Capability::new(
        "controller listen-only",
        if listen_only { Support::Ok } else { Support::Absent },
        if listen_only {
            "on: the controller neither sends nor acknowledges"
        } else {
            "off: the controller acknowledges frames (`ip link set IFACE type can listen-only on` to stay silent)"
        },
    ));
    Some(caps)
}

/// What a run that lost frames to a full receive queue must say.
fn dropped_note(iface: IfName, dropped: Option<u32>) -> Option<String> {
    let n = dropped.filter(|&n| n > 0)?;
    Some(format!(
        "the kernel dropped {n} frame(s) on {iface} because trunkdiag read too slowly \
         (its receive queue was full): what was heard is not everything on the bus"
    ))
}

/// The kernel's `struct can_frame` and `struct canfd_frame` sizes.
const CLASSIC_SIZE: usize = 16;
const FD_SIZE: usize = 72;

/// One frame from the socket with `recvmsg`, and the drop counter that came
/// with it. `WouldBlock` when none is waiting (the socket is non-blocking).
fn read_frame(fd: std::os::fd::RawFd) -> io::Result<(CanRawFrame, Option<u32>)> {
    let mut buf = [0u8; FD_SIZE];
    // On the stack: this runs for every frame received.
    let mut space = [0u8; nixsock::cmsg_space::<u32>()];
    let (len, dropped) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = nixsock::recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::empty())
            .map_err(io::Error::from)?;
        let mut dropped = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::RxqOvfl(n) = c {
                    dropped = Some(n);
                }
            }
        }
        (msg.bytes, dropped)
    };
    Ok((parse_kernel_frame(buf.get(..len).unwrap_or(&[]))?, dropped))
}

/// A kernel frame struct from its bytes (native byte order): `can_id`
/// (4), `len` (1), `flags` or pad (1), reserved (1), `len8_dlc` (1), data.
/// Any size but the two the kernel writes is an error.
fn parse_kernel_frame(bytes: &[u8]) -> io::Result<CanRawFrame> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the kernel delivered {} bytes, expected a CAN frame ({CLASSIC_SIZE}) \
                 or a CAN FD frame ({FD_SIZE})",
                bytes.len()
            ),
        )
    };
    if bytes.len() != CLASSIC_SIZE && bytes.len() != FD_SIZE {
        return Err(bad());
    }
    let (head, data) = bytes.split_at(8);
    let id: [u8; 4] = head
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(bad)?;
    let can_id = u32::from_ne_bytes(id);
    let len = head.get(4).copied().unwrap_or(0);
    let flags = head.get(5).copied().unwrap_or(0);
    let len8_dlc = head.get(7).copied().unwrap_or(0);
    if bytes.len() == CLASSIC_SIZE {
        let mut raw = can_frame_default();
        raw.can_id = can_id;
        raw.can_dlc = len;
        raw.len8_dlc = len8_dlc;
        for (slot, byte) in raw.data.iter_mut().zip(data) {
            *slot = *byte;
        }
        Ok(CanRawFrame::Classic(raw))
    } else {
        let mut raw = canfd_frame_default();
        raw.can_id = can_id;
        raw.len = len;
        raw.flags = flags;
        for (slot, byte) in raw.data.iter_mut().zip(data) {
            *slot = *byte;
        }
        Ok(CanRawFrame::Fd(raw))
    }
}

fn fd_unsupported(iface: IfName) -> BusError {
    BusError::unsupported(Unsupported::FdOnClassicInterface { iface })
}

/// What /sys/class/net says about an interface; `None` where unreadable
/// (no sysfs in a container, say), in which case the kernel's errors decide.
struct SysNet {
    exists: Option<bool>,
    flags: Option<u32>,
    mtu: Option<u32>,
    arp_type: Option<u32>,
}

impl SysNet {
    fn read(iface: &str) -> SysNet {
        let dir = std::path::Path::new("/sys/class/net").join(iface);
        let field = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        let number = |name: &str| {
            field(name).and_then(|s| {
                let s = s.trim();
                match s.strip_prefix("0x") {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => s.parse().ok(),
                }
            })
        };
        let sysfs_mounted = std::path::Path::new("/sys/class/net").is_dir();
        SysNet {
            exists: sysfs_mounted.then(|| dir.exists()),
            flags: number("flags"),
            mtu: number("mtu"),
            arp_type: number("type"),
        }
    }
}

fn open_error(iface: &str, e: io::Error) -> BusError {
    let problem = match e.raw_os_error() {
        Some(EAFNOSUPPORT) => InterfaceProblem::NoKernelSupport,
        Some(ENODEV | ENXIO) => {
            // The name lookup may come before the socket is created, so a
            // kernel without CAN can also surface as "no such device": ask
            // the kernel for an unbound-to-any-interface CAN socket to tell.
            if let Err(probe) = socketcan::CanFdSocket::open_iface(0) {
                if probe.raw_os_error() == Some(EAFNOSUPPORT) {
                    return interface(iface, InterfaceProblem::NoKernelSupport);
                }
            }
            let sys = SysNet::read(iface);
            if sys.exists == Some(true) && sys.arp_type != Some(ARPHRD_CAN) {
                InterfaceProblem::NotCan
            } else {
                InterfaceProblem::NoSuchInterface
            }
        }
        _ => {
            return BusError::Io {
                context: format!("{iface}: opening a raw CAN socket"),
                source: e,
            }
        }
    };
    interface(iface, problem)
}

fn interface(iface: &str, problem: InterfaceProblem) -> BusError {
    BusError::Interface {
        iface: iface.to_string(),
        problem,
    }
}

fn id_word(id: CanId) -> u32 {
    match id {
        CanId::Standard(id) => u32::from(id) & CAN_SFF_MASK,
        CanId::Extended(id) => (id & CAN_EFF_MASK) | CAN_EFF_FLAG,
    }
}

/// Our frame as the kernel struct it is written as.
fn to_raw(frame: &CanFrame) -> CanAnyFrame {
    match frame.kind {
        FrameKind::Fd { flags } => {
            let mut raw = canfd_frame_default();
            raw.can_id = id_word(frame.id);
            raw.len = frame.len() as u8;
            raw.flags = flags;
            for (slot, byte) in raw.data.iter_mut().zip(frame.data()) {
                *slot = *byte;
            }
            CanAnyFrame::from(raw)
        }
        kind => {
            let mut raw = can_frame_default();
            for (slot, byte) in raw.data.iter_mut().zip(frame.data()) {
                *slot = *byte;
            }
            match kind {
                FrameKind::Remote { dlc, len8_dlc } => {
                    raw.can_id = id_word(frame.id) | CAN_RTR_FLAG;
                    raw.can_dlc = dlc;
                    raw.len8_dlc = len8_dlc.unwrap_or(0);
                }
                FrameKind::Error => {
                    raw.can_id = (frame.id.raw() & CAN_ERR_MASK) | CAN_ERR_FLAG;
                    raw.can_dlc = frame.len() as u8;
                }
                FrameKind::Classic { len8_dlc } => {
                    raw.can_id = id_word(frame.id);
                    raw.can_dlc = frame.len() as u8;
                    raw.len8_dlc = len8_dlc.unwrap_or(0);
                }
                FrameKind::Fd { .. } => {}
            }
            CanAnyFrame::from(raw)
        }
    }
}

fn can_id_of(word: u32) -> CanId {
    if word & CAN_EFF_FLAG != 0 {
        CanId::Extended(word & CAN_EFF_MASK)
    } else {
        CanId::Standard((word & CAN_SFF_MASK) as u16)
    }
}

/// A kernel struct as our frame. The kernel's lengths are checked, not
/// trusted: a bad one is an error, never a panic.
fn from_raw(raw: CanRawFrame) -> Result<CanFrame, crate::frame::FrameError> {
    match raw {
        CanRawFrame::Classic(f) => {
            let len = usize::from(f.can_dlc).min(f.data.len());
            let data = f.data.get(..len).unwrap_or(&[]);
            let len8 = (9..=15).contains(&f.len8_dlc).then_some(f.len8_dlc);
            if f.can_id & CAN_ERR_FLAG != 0 {
                CanFrame::error(f.can_id & CAN_ERR_MASK, data)
            } else if f.can_id & CAN_RTR_FLAG != 0 {
                let dlc = f.can_dlc.min(8);
                CanFrame::remote(can_id_of(f.can_id), dlc, len8.filter(|_| dlc == 8))
            } else {
                match len8 {
                    Some(dlc) if len == 8 => {
                        CanFrame::classic_len8_dlc(can_id_of(f.can_id), data, dlc)
                    }
                    _ => CanFrame::classic(can_id_of(f.can_id), data),
                }
            }
        }
        CanRawFrame::Fd(f) => {
            let len = usize::from(f.len);
            let data = f
                .data
                .get(..len)
                .ok_or(crate::frame::FrameError::FdTooLong { len })?;
            CanFrame::fd(can_id_of(f.can_id), data, f.flags)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{CANFD_BRS, CANFD_ESI, CANFD_FDF};

    #[test]
    fn fd_frames_keep_flags_and_payload() {
        let f = CanFrame::fd(
            CanId::Extended(0x18DA_F110),
            &[7; 48],
            CANFD_BRS | CANFD_ESI,
        )
        .unwrap();
        let raw = match to_raw(&f) {
            CanAnyFrame::Fd(fd) => *fd.as_ref(),
            other => panic!("not an FD frame: {other:?}"),
        };
        assert_eq!(raw.can_id, 0x98DA_F110);
        assert_eq!(raw.len, 48);
        // The crate marks FD frames with FDF, as kernels since 6.0 do on
        // reception; the flag is kept as read.
        assert_eq!(raw.flags, CANFD_BRS | CANFD_ESI | CANFD_FDF);
        let back = from_raw(CanRawFrame::Fd(raw)).unwrap();
        assert_eq!(back.data(), f.data());
        assert_eq!(
            back.kind,
            FrameKind::Fd {
                flags: CANFD_BRS | CANFD_ESI | CANFD_FDF
            }
        );
    }

    /// (frame, kernel id word, can_dlc, len8_dlc): the values written
    /// out by hand from linux/can.h, not computed by the code under test.
    fn classic_table() -> Vec<(CanFrame, u32, u8, u8)> {
        vec![
            (
                CanFrame::classic(CanId::Standard(0x7E0), &[2, 0x10, 3]).unwrap(),
                0x7E0,
                3,
                0,
            ),
            (
                CanFrame::classic(CanId::Extended(0x1ABC_DEF0), &[1, 2]).unwrap(),
                0x9ABC_DEF0,
                2,
                0,
            ),
            (
                CanFrame::classic(CanId::Extended(0x10), &[]).unwrap(),
                0x8000_0010,
                0,
                0,
            ),
            (
                CanFrame::classic_len8_dlc(CanId::Standard(0x123), &[0xAA; 8], 0xE).unwrap(),
                0x123,
                8,
                0xE,
            ),
            (
                CanFrame::remote(CanId::Standard(0x5E9), 8, None).unwrap(),
                0x4000_05E9,
                8,
                0,
            ),
            (
                CanFrame::remote(CanId::Extended(0x5E9), 3, None).unwrap(),
                0xC000_05E9,
                3,
                0,
            ),
            (
                CanFrame::remote(CanId::Standard(0x5E9), 8, Some(0xF)).unwrap(),
                0x4000_05E9,
                8,
                0xF,
            ),
            (
                CanFrame::error(0x44, &[0, 0x10, 0, 0, 0, 0, 0, 0]).unwrap(),
                0x2000_0044,
                8,
                0,
            ),
        ]
    }

    #[test]
    fn classic_kinds_are_written_as_the_kernel_id_word() {
        for (f, word, dlc, _) in classic_table() {
            let any = to_raw(&f);
            assert!(!matches!(any, CanAnyFrame::Fd(_)), "{f:?}");
            assert_eq!(socketcan::Frame::id_word(&any), word, "{f:?}");
            assert_eq!(
                socketcan::EmbeddedFrame::dlc(&any),
                usize::from(dlc),
                "{f:?}"
            );
        }
    }

    #[test]
    fn classic_kinds_are_read_from_the_kernel_struct() {
        for (f, word, dlc, len8) in classic_table() {
            let mut r = can_frame_default();
            r.can_id = word;
            r.can_dlc = dlc;
            r.len8_dlc = len8;
            for (s, b) in r.data.iter_mut().zip(f.data()) {
                *s = *b;
            }
            assert_eq!(from_raw(CanRawFrame::Classic(r)).unwrap(), f, "{f:?}");
        }
    }

    #[test]
    fn kernel_bytes_read_as_the_frames_they_encode() {
        // The bytes of `struct can_frame` as the kernel writes them.
        for (frame, word, dlc, len8) in classic_table() {
            let mut b = [0u8; CLASSIC_SIZE];
            b[..4].copy_from_slice(&word.to_ne_bytes());
            b[4] = dlc;
            b[7] = len8;
            for (slot, byte) in b[8..].iter_mut().zip(frame.data()) {
                *slot = *byte;
            }
            let got = from_raw(parse_kernel_frame(&b).unwrap()).unwrap();
            assert_eq!(got, frame, "{b:02X?}");
        }
        // And of `struct canfd_frame`.
        let data: Vec<u8> = (0..48).collect();
        let mut b = [0u8; FD_SIZE];
        b[..4].copy_from_slice(&(0x18DA_F110 | CAN_EFF_FLAG).to_ne_bytes());
        b[4] = 48;
        b[5] = CANFD_BRS | CANFD_FDF;
        b[8..56].copy_from_slice(&data);
        let got = from_raw(parse_kernel_frame(&b).unwrap()).unwrap();
        let want =
            CanFrame::fd(CanId::Extended(0x18DA_F110), &data, CANFD_BRS | CANFD_FDF).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn kernel_byte_counts_other_than_the_two_structs_are_errors() {
        for n in 0..=FD_SIZE + 8 {
            let b = vec![0xFFu8; n];
            let r = parse_kernel_frame(&b);
            assert_eq!(r.is_ok(), n == CLASSIC_SIZE || n == FD_SIZE, "{n} bytes");
            if let Ok(raw) = r {
                // Hostile lengths inside a right-sized struct: no panic.
                let _ = from_raw(raw);
            }
        }
    }

    #[test]
    fn dropped_frames_are_said_only_when_there_were_some() {
        let iface = IfName::new("can0").unwrap();
        assert_eq!(dropped_note(iface, None), None);
        assert_eq!(dropped_note(iface, Some(0)), None);
        let note = dropped_note(iface, Some(17)).unwrap();
        assert!(note.contains("dropped 17 frame(s) on can0"), "{note}");
    }

    /// The shape iproute2 prints for a USB adapter (the keys and nesting of
    /// `ip -details -json link show`, values of our own): state, counters,
    /// restart-ms and bit timing found; a vcan link is not a controller.
    #[test]
    fn controller_facts_read_ip_link_json() {
        let json: serde_json::Value = serde_json::from_str(
            r#"[{"ifname":"can0","mtu":16,"operstate":"UP","link_type":"can",
                "linkinfo":{"info_kind":"can","info_data":{
                  "ctrlmode_supported":["LOOPBACK","LISTEN-ONLY"],
                  "state":"ERROR-PASSIVE","berr_counter":{"tx":0,"rx":131},
                  "restart_ms":0,
                  "bittiming":{"bitrate":250000,"sample_point":"0.875","tq":250},
                  "clock":24000000}}}]"#,
        )
        .unwrap();
        let caps = controller_facts(&json).unwrap();
        let by = |n: &str| caps.iter().find(|c| c.name == n).unwrap().clone();
        assert_eq!(by("CAN state").support, Support::Limited);
        assert!(by("CAN state").detail.starts_with("ERROR-PASSIVE"));
        assert_eq!(by("bitrate").detail, "250000 bit/s");
        assert_eq!(by("restart-ms").support, Support::Limited);
        assert_eq!(
            by("controller error counters").detail,
            "transmit 0, receive 131"
        );
        assert_eq!(by("controller listen-only").support, Support::Absent);

        let fd: serde_json::Value = serde_json::from_str(
            r#"[{"linkinfo":{"info_kind":"can","info_data":{"ctrlmode":["FD","LISTEN-ONLY"],
                "state":"ERROR-ACTIVE","berr_counter":{"tx":0,"rx":0},"restart_ms":100,
                "bittiming":{"bitrate":500000},"data_bittiming":{"bitrate":2000000}}}}]"#,
        )
        .unwrap();
        let caps = controller_facts(&fd).unwrap();
        let by = |n: &str| caps.iter().find(|c| c.name == n).unwrap().clone();
        assert_eq!(by("CAN state").support, Support::Ok);
        assert_eq!(
            by("bitrate").detail,
            "500000 bit/s, data phase 2000000 bit/s"
        );
        assert_eq!(by("restart-ms").support, Support::Ok);
        assert_eq!(by("controller listen-only").support, Support::Ok);

        let vcan: serde_json::Value =
            serde_json::from_str(r#"[{"ifname":"vcan0","linkinfo":{"info_kind":"vcan"}}]"#)
                .unwrap();
        assert!(controller_facts(&vcan).is_none());
        assert!(controller_facts(&serde_json::json!([])).is_none());
        assert!(controller_facts(&serde_json::json!({"x": 1})).is_none());
    }

    #[test]
    fn sysfs_facts_read_what_is_there_and_name_what_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("statistics")).unwrap();
        std::fs::write(p.join("operstate"), "unknown\n").unwrap();
        std::fs::write(p.join("flags"), "0xc1\n").unwrap();
        std::fs::write(p.join("mtu"), "16\n").unwrap();
        std::fs::write(p.join("statistics/rx_errors"), "0\n").unwrap();
        std::fs::write(p.join("statistics/rx_over_errors"), "3\n").unwrap();
        let (driver, caps) = sysfs_facts(p, "vcan0");
        assert_eq!(driver, None);
        let by = |n: &str| caps.iter().find(|c| c.name == n).unwrap().clone();
        assert_eq!(by("interface up").support, Support::Ok);
        assert_eq!(by("CAN FD").support, Support::Absent);
        let counters = by("error counters");
        assert_eq!(counters.support, Support::Limited);
        assert!(counters.detail.contains("rx_over_errors 3"), "{counters:?}");
        assert!(by("bitrate, CAN state, restart-ms")
            .detail
            .contains("not reported by vcan"));
        std::fs::write(p.join("flags"), "0x0\n").unwrap();
        let (_, caps) = sysfs_facts(p, "can0");
        assert_eq!(caps[0].support, Support::Absent);
        let empty = tempfile::tempdir().unwrap();
        let (_, caps) = sysfs_facts(empty.path(), "can0");
        assert!(
            caps.iter().all(|c| c.support == Support::NotProbed),
            "{caps:?}"
        );
    }

    #[test]
    fn hostile_kernel_lengths_do_not_panic() {
        let mut r = can_frame_default();
        r.can_dlc = 200;
        r.len8_dlc = 0xFF;
        let f = from_raw(CanRawFrame::Classic(r)).unwrap();
        assert_eq!(f.len(), 8);
        let mut fd = canfd_frame_default();
        fd.len = 65;
        assert!(from_raw(CanRawFrame::Fd(fd)).is_err());
        fd.len = 9;
        assert!(from_raw(CanRawFrame::Fd(fd)).is_err());
    }
}
