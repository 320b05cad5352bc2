//! SLCAN (Lawicel) serial CAN adapters: CANable and its clones, CANtact,
//! USBtin, Lawicel CANUSB. A [`CanBus`](super::CanBus) like SocketCAN, so the tester, the
//! analyzer and recordings work unchanged.
//!
//! The protocol is lines of ASCII ended by CR: `S0`..`S8` set the bitrate,
//! `O` / `C` open and close the channel, `tIIILDD..` / `TIIIIIIIILDD..`
//! carry 11/29-bit data frames and `rIIIL` / `RIIIIIIIIL` remote frames
//! (either way); a transmit is acknowledged with `z` / `Z` (or a bare CR,
//! as can-utils' slcanpty and some clones do), a refused command with a
//! bell (0x07). `F` reads the status flags, which are
//! surfaced as error frames (as SocketCAN would deliver them) and, after a
//! refused transmit, in the error. Frames may carry a 4-digit millisecond
//! timestamp when the device has them on (`Z1`); frames are stamped with
//! the host's bus clock either way (the device's wraps every minute).
//!
//! [`SlcanCore`] is the protocol without the port (sans-IO: bytes and
//! `now_us` in, bytes to write, frames and errors out); `serial`'s one
//! driver runs it on the port, so `recv` reads a queue and is cancel-safe.

use crate::seconds::us;
use std::collections::VecDeque;
use std::time::Duration;

use super::adapter::{Core, Dialect, Output, Ticket, Token, Wire};
use super::{
    AdapterError, AdapterFacts, BusError, BusKind, Capability, DropCount, LinkHint, PhysicalBus,
    Support, Unsupported,
};
use crate::frame::{CanFrame, CanId, FrameKind};
use crate::hex;

/// How long the adapter may take to answer a command.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(1000);
/// How often the status flags are read while idle.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// How long the adapter's left-over output is dropped at start.
const SETTLE: Duration = Duration::from_millis(100);
/// Serial speed of the USB CDC adapters (ignored by them; used by UART ones).
pub const SERIAL_BAUD: u32 = 115_200;

/// `S<n>` codes.
const BITRATES: [(u32, char); 9] = [
    (10_000, '0'),
    (20_000, '1'),
    (50_000, '2'),
    (100_000, '3'),
    (125_000, '4'),
    (250_000, '5'),
    (500_000, '6'),
    (800_000, '7'),
    (1_000_000, '8'),
];

/// `S<n>` for a bitrate.
pub fn bitrate_command(bitrate: u32) -> Result<String, AdapterError> {
    BITRATES
        .iter()
        .find(|(b, _)| *b == bitrate)
        .map(|(_, c)| format!("S{c}"))
        .ok_or(AdapterError::Bitrate { bitrate })
}

/// Our frame as an SLCAN transmit command (without the CR).
pub fn encode(frame: &CanFrame) -> Result<String, Unsupported> {
    let (letter, id) = match frame.id {
        CanId::Standard(id) => ('t', format!("{id:03X}")),
        CanId::Extended(id) => ('T', format!("{id:08X}")),
    };
    match frame.kind {
        FrameKind::Classic { .. } => Ok(format!(
            "{letter}{id}{}{}",
            frame.len(),
            hex::encode_upper(frame.data())
        )),
        FrameKind::Remote { dlc, .. } => {
            let r = if letter == 't' { 'r' } else { 'R' };
            Ok(format!("{r}{id}{}", dlc.min(8)))
        }
        FrameKind::Fd { .. } => Err(Unsupported::FdThroughSlcan),
        FrameKind::Error => Err(Unsupported::ErrorFrame),
    }
}

/// A received frame line (`t`, `T`, `r`, `R`), with or without the
/// device's 4-digit timestamp. `None` if it is not one.
pub fn decode(line: &str) -> Option<CanFrame> {
    let mut chars = line.chars();
    let kind = chars.next()?;
    let rest = chars.as_str();
    let id_len = match kind {
        't' | 'r' => 3,
        'T' | 'R' => 8,
        _ => return None,
    };
    let id_hex = rest.get(..id_len)?;
    let raw = u32::from_str_radix(id_hex, 16).ok()?;
    let id = if id_len == 3 {
        CanId::standard(raw)?
    } else {
        CanId::extended(raw)?
    };
    let dlc = rest.get(id_len..id_len + 1)?.parse::<u8>().ok()?;
    if dlc > 8 {
        return None;
    }
    let after = rest.get(id_len + 1..)?;
    if kind == 'r' || kind == 'R' {
        // Optional timestamp only.
        if !(after.is_empty() || after.len() == 4) {
            return None;
        }
        return CanFrame::remote(id, dlc, None).ok();
    }
    let data_hex = usize::from(dlc) * 2;
    if !(after.len() == data_hex || after.len() == data_hex + 4) {
        return None;
    }
    let data = hex::decode(after.get(..data_hex)?)?;
    CanFrame::classic(id, &data).ok()
}

/// The status flags (`Fxx`) as the error frame SocketCAN would deliver,
/// and in words; `None` when all is well.
pub fn status_error(flags: u8) -> Option<(CanFrame, String)> {
    if flags == 0 {
        return None;
    }
    const CAN_ERR_LOSTARB: u32 = 0x2;
    const CAN_ERR_CRTL: u32 = 0x4;
    const CAN_ERR_BUSERROR: u32 = 0x80;
    let mut class = 0u32;
    let mut ctrl = 0u8;
    let mut words = Vec::new();
    for (bit, word, c) in [
        (0x01, "receive FIFO full", 0x01u8),
        (0x02, "transmit FIFO full", 0x02),
        (0x04, "error warning", 0x0C),
        (0x08, "data overrun", 0x01),
        (0x20, "error passive", 0x30),
    ] {
        if flags & bit != 0 {
            class |= CAN_ERR_CRTL;
            ctrl |= c;
            words.push(word);
        }
    }
    if flags & 0x40 != 0 {
        class |= CAN_ERR_LOSTARB;
        words.push("arbitration lost");
    }
    if flags & 0x80 != 0 {
        class |= CAN_ERR_BUSERROR;
        words.push("bus error");
    }
    let frame = CanFrame::error(class, &[0, ctrl, 0, 0, 0, 0, 0, 0]).ok()?;
    Some((frame, format!("{flags:02X} ({})", words.join(", "))))
}

/// The status flags read after a refused transmit, in words.
pub fn flags_words(flags: Option<u8>) -> String {
    match flags.and_then(status_error) {
        Some((_, words)) => words,
        None => "00 (none: the adapter refused the command)".to_owned(),
    }
}

/// A transmit line (without the CR) for the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit(pub String);

/// Where the adapter is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The port is not open yet.
    Unopened,
    /// Dropping whatever the adapter had buffered, until then.
    Settling {
        until: u64,
    },
    /// Closing, setting the bitrate, opening the channel.
    Starting,
    Running,
}

/// The commands the core asks itself, each with its answer's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `C` at start: the channel may have been open; a bell is fine.
    CloseFirst,
    /// `V`: the firmware version, for the check; any answer is fine.
    Version,
    /// `L`: opens the channel listen-only, to learn whether the adapter can
    /// (it never acknowledges nor sends in that mode); any answer is fine.
    ListenOnly,
    /// `C` after `L`, before `O` opens it for sending.
    CloseProbe,
    /// `S<n>`: must be accepted.
    Bitrate,
    /// `O`: must be accepted.
    Open,
    /// `F`: the status flags.
    Status,
    /// `C` when the bus is dropped.
    CloseLast,
}

/// A command written, its answer awaited until `deadline`.
#[derive(Debug)]
struct Asked {
    step: Step,
    command: String,
    deadline: u64,
}

/// What the adapter answered to a probe (`V`, `L`), kept for the check.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Text(String),
    Accepted,
    Refused,
    Silent,
}

/// What the adapter answered to a command.
enum Answer {
    Ok(Option<String>),
    Bell,
    /// Nothing within the deadline.
    Silent,
}

/// The SLCAN protocol without the port (see the module doc): `C`, `S<n>`,
/// `O` at start, then transmits matched with their acknowledgements, the
/// status flags read when idle (and after a refused transmit), `C` at the
/// end.
#[derive(Debug)]
pub struct SlcanCore {
    name: String,
    bitrate: String,
    wire: Wire,
    phase: Phase,
    /// When each transmit still unacknowledged must be answered by.
    pending: VecDeque<u64>,
    /// Transmits the adapter refused (bell), to report with the flags.
    refused: usize,
    status_at: u64,
    asked: Option<Asked>,
    /// Transmits waiting for the adapter to be running (or a command's answer).
    queued: VecDeque<(Ticket, String)>,
    closing: bool,
    version: Option<Reply>,
    listen_only: Option<Reply>,
    /// Status reads answered, and those that flagged an overrun (data
    /// overrun or receive FIFO full: frames were lost).
    status_reads: u64,
    overruns: u64,
    /// Opened with `L` (listen-only: the controller neither sends nor
    /// acknowledges) instead of `O`.
    listen_mode: bool,
}

impl SlcanCore {
    /// A core for an adapter named `name` (`slcan:PORT`) on `bus`; fails
    /// for a bitrate SLCAN cannot set, and for single-wire CAN: `S0`-`S8`
    /// have no 33.3 kbit/s, and the `s` bit-timing registers that could
    /// set it belong to each adapter's own CAN controller (a guess could
    /// put the wrong rate on the car's bus), so it is refused, not guessed.
    pub fn new(name: &str, bus: PhysicalBus) -> Result<SlcanCore, AdapterError> {
        if bus.kind == BusKind::SingleWire {
            return Err(AdapterError::Unsupported {
                what: Unsupported::SingleWireThroughSlcan,
            });
        }
        Ok(SlcanCore {
            name: name.to_owned(),
            bitrate: bitrate_command(bus.bitrate)?,
            wire: Wire::new(Dialect::Slcan),
            phase: Phase::Unopened,
            pending: VecDeque::new(),
            refused: 0,
            status_at: 0,
            asked: None,
            queued: VecDeque::new(),
            closing: false,
            version: None,
            listen_only: None,
            status_reads: 0,
            overruns: 0,
            listen_mode: false,
        })
    }

    /// Opens the channel listen-only (`L`): the adapter's controller puts
    /// nothing on the bus, not even an acknowledgement.
    pub fn listen_only(mut self) -> SlcanCore {
        self.listen_mode = true;
        self
    }

    fn adapter(&self, error: AdapterError) -> BusError {
        BusError::Adapter {
            adapter: self.name.clone(),
            error,
        }
    }

    /// A command and its CR.
    fn write(&mut self, text: &str) {
        self.wire.write(&format!("{text}\r"));
    }

    fn ask(&mut self, step: Step, now_us: u64) {
        let command = match step {
            Step::CloseFirst | Step::CloseProbe | Step::CloseLast => "C".to_owned(),
            Step::Version => "V".to_owned(),
            Step::ListenOnly => "L".to_owned(),
            Step::Bitrate => self.bitrate.clone(),
            Step::Open if self.listen_mode => "L".to_owned(),
            Step::Open => "O".to_owned(),
            Step::Status => "F".to_owned(),
        };
        self.write(&command);
        self.asked = Some(Asked {
            step,
            command,
            deadline: now_us.saturating_add(us(ANSWER_WITHIN)),
        });
    }

    fn fail(&mut self, error: AdapterError) {
        self.wire.finish(Err(error));
        self.asked = None;
    }

    /// Passes a received frame on; other lines are logged.
    fn frame_line(&mut self, line: &str, now_us: u64) {
        match decode(line) {
            Some(f) => self.wire.out.push_back(Output::Frame(f.at(now_us))),
            None => tracing::debug!("{}: ignored {line:?}", self.name),
        }
    }

    fn token(&mut self, token: Token, now_us: u64) {
        if let Token::Garbage(junk) = token {
            let command = self.asked.as_ref().map(|a| a.command.clone());
            return self.fail(AdapterError::Unexpected {
                command: command.unwrap_or_default(),
                line: junk,
                expected: "lines of text (is the serial speed right?)",
            });
        }
        match self.phase {
            Phase::Unopened | Phase::Settling { .. } => {}
            _ if self.asked.is_some() => self.answer_token(token, now_us),
            Phase::Starting => {}
            Phase::Running => match token {
                // `z`/`Z` (Lawicel, CANable) or a bare CR (slcanpty, some
                // clones) acknowledge a transmit.
                Token::Line(l) if matches!(l.as_str(), "z" | "Z") => {
                    self.pending.pop_front();
                }
                Token::Ok => {
                    self.pending.pop_front();
                }
                Token::Line(l) => self.frame_line(&l, now_us),
                Token::Bell => {
                    self.refused += usize::from(self.pending.pop_front().is_some());
                }
                Token::Prompt | Token::Garbage(_) => {}
            },
        }
    }

    /// A token while a command's answer is awaited: the answer, a frame
    /// passed on, or something ignored.
    fn answer_token(&mut self, token: Token, now_us: u64) {
        let Some(asked) = &self.asked else {
            return;
        };
        let first = asked.command.chars().next().unwrap_or(' ');
        let answer = match token {
            Token::Bell => Answer::Bell,
            Token::Ok | Token::Prompt => Answer::Ok(None),
            Token::Line(l) if decode(&l).is_some() => return self.frame_line(&l, now_us),
            Token::Line(l) if l.starts_with(first) => Answer::Ok(Some(l)),
            Token::Line(l) => {
                let command = asked.command.clone();
                tracing::debug!("{}: ignored {l:?} waiting for {command}", self.name);
                return;
            }
            Token::Garbage(_) => return,
        };
        self.answered(answer, now_us);
    }

    fn answered(&mut self, answer: Answer, now_us: u64) {
        let Some(asked) = self.asked.take() else {
            return;
        };
        let must = matches!(asked.step, Step::Bitrate | Step::Open);
        match answer {
            Answer::Silent if must => {
                return self.fail(AdapterError::Silent {
                    command: asked.command,
                    waited_ms: ANSWER_WITHIN.as_millis() as u64,
                })
            }
            Answer::Bell if must => {
                return self.fail(AdapterError::Refused {
                    command: asked.command,
                })
            }
            _ => {}
        }
        let reply = || match &answer {
            Answer::Ok(Some(l)) => Reply::Text(l.clone()),
            Answer::Ok(None) => Reply::Accepted,
            Answer::Bell => Reply::Refused,
            Answer::Silent => Reply::Silent,
        };
        match asked.step {
            Step::CloseFirst => self.ask(Step::Version, now_us),
            Step::Version => {
                self.version = Some(reply());
                self.ask(Step::Bitrate, now_us)
            }
            // Opening listen-only is itself the probe of `L`: no `L`, `C`
            // and `L` again.
            Step::Bitrate if self.listen_mode => self.ask(Step::Open, now_us),
            Step::Bitrate => self.ask(Step::ListenOnly, now_us),
            Step::ListenOnly => {
                self.listen_only = Some(reply());
                self.ask(Step::CloseProbe, now_us)
            }
            Step::CloseProbe => self.ask(Step::Open, now_us),
            Step::Open => {
                if self.listen_mode {
                    self.listen_only = Some(reply());
                }
                self.phase = Phase::Running;
                self.status_at = now_us.saturating_add(us(STATUS_EVERY));
            }
            Step::Status => {
                let flags = match answer {
                    Answer::Ok(Some(l)) => l
                        .strip_prefix('F')
                        .and_then(|h| u8::from_str_radix(h, 16).ok()),
                    _ => None,
                };
                if let Some(f) = flags {
                    self.status_reads += 1;
                    // 0x01 receive FIFO full, 0x08 data overrun.
                    self.overruns += u64::from(f & 0x09 != 0);
                }
                if let Some((frame, _)) = flags.and_then(status_error) {
                    self.wire.out.push_back(Output::Frame(frame.at(now_us)));
                }
                if self.refused > 0 {
                    self.refused = 0;
                    let e = self.adapter(AdapterError::SendRefused { flags });
                    self.wire.out.push_back(Output::Error(e));
                }
            }
            Step::CloseLast => {
                self.wire.finish(Ok(()));
            }
        }
    }

    /// What comes next when nothing is awaited.
    fn advance(&mut self, now_us: u64) {
        if self.wire.finished.is_some() || self.asked.is_some() || self.phase != Phase::Running {
            return;
        }
        // The send is done once the line is out, so the frame is stamped
        // before any answer to it; the adapter's `z` (or bell) is matched
        // as it comes.
        while let Some((ticket, line)) = self.queued.pop_front() {
            self.write(&line);
            self.pending
                .push_back(now_us.saturating_add(us(ANSWER_WITHIN)));
            self.wire.out.push_back(Output::Done(ticket, Ok(())));
        }
        if !self.pending.is_empty() {
            return;
        }
        if self.refused > 0 || now_us >= self.status_at {
            self.status_at = now_us.saturating_add(us(STATUS_EVERY));
            self.ask(Step::Status, now_us);
        } else if self.closing {
            self.ask(Step::CloseLast, now_us);
        }
    }
}

impl Core for SlcanCore {
    type Command = Transmit;
    const ADAPTER_FLOW_CONTROL: bool = false;

    fn name(&self) -> &str {
        &self.name
    }

    fn command_for_frame(
        &self,
        frame: &CanFrame,
        _link: Option<&LinkHint>,
    ) -> Result<Option<Transmit>, BusError> {
        encode(frame)
            .map(|line| Some(Transmit(line)))
            .map_err(BusError::unsupported)
    }

    fn command_for_prepare(&self, _link: Option<&LinkHint>) -> Option<Transmit> {
        None
    }

    fn handle_open(&mut self, now_us: u64) {
        // Empty the adapter's line buffer, close the channel if it was
        // open (a bell then is fine), set the bitrate and open.
        self.wire.out.push_back(Output::Write(b"\r\r\r".to_vec()));
        self.phase = Phase::Settling {
            until: now_us.saturating_add(us(SETTLE)),
        };
    }

    fn handle_command(&mut self, ticket: Ticket, command: Transmit, now_us: u64) {
        self.queued.push_back((ticket, command.0));
        self.advance(now_us);
    }

    fn handle_bytes(&mut self, bytes: &[u8], now_us: u64) {
        self.wire.push(bytes);
        while let Some(t) = self.wire.next_token() {
            self.token(t, now_us);
        }
        self.advance(now_us);
    }

    fn handle_timeout(&mut self, now_us: u64) {
        if let Phase::Settling { until } = self.phase {
            if now_us >= until {
                self.wire.lines.clear();
                self.phase = Phase::Starting;
                self.ask(Step::CloseFirst, now_us);
            }
            return;
        }
        if self.asked.as_ref().is_some_and(|a| now_us >= a.deadline) {
            self.answered(Answer::Silent, now_us);
        } else if self.asked.is_none() && self.pending.front().is_some_and(|p| *p <= now_us) {
            return self.fail(AdapterError::Silent {
                command: "a frame to send".into(),
                waited_ms: ANSWER_WITHIN.as_millis() as u64,
            });
        }
        self.advance(now_us);
    }

    fn handle_close(&mut self, now_us: u64) {
        self.closing = true;
        if self.phase != Phase::Running {
            // Never opened the channel: nothing to close.
            self.wire.finish(Ok(()));
        }
        self.advance(now_us);
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.wire.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<u64> {
        if self.wire.finished.is_some() {
            return None;
        }
        match (&self.phase, &self.asked) {
            (Phase::Settling { until }, _) => Some(*until),
            (_, Some(a)) => Some(a.deadline),
            (Phase::Running, None) => Some(match self.pending.front() {
                Some(p) => *p,
                None => self.status_at,
            }),
            _ => None,
        }
    }

    fn finished(&self) -> Option<Result<(), AdapterError>> {
        self.wire.finished.clone()
    }

    fn notes(&self, _now_us: u64) -> Vec<String> {
        Vec::new()
    }

    fn facts(&self, _now_us: u64) -> AdapterFacts {
        let not_reached = "not reached: the adapter's start-up stopped before it";
        let version = match &self.version {
            Some(Reply::Text(v)) => {
                Capability::new("version", Support::Ok, format!("V answered {v}"))
            }
            Some(Reply::Accepted) => {
                Capability::new("version", Support::Limited, "V answered without a version")
            }
            Some(Reply::Refused) => Capability::new("version", Support::Absent, "V refused (bell)"),
            Some(Reply::Silent) => Capability::new("version", Support::Absent, "no answer to V"),
            None => Capability::new("version", Support::NotProbed, not_reached),
        };
        let listen = match &self.listen_only {
            Some(Reply::Text(_) | Reply::Accepted) => Capability::new(
                "listen-only",
                Support::Ok,
                "L accepted: the adapter can listen without acknowledging frames",
            ),
            Some(Reply::Refused) => Capability::new(
                "listen-only",
                Support::Absent,
                "L refused (bell): it always acknowledges frames on the bus",
            ),
            Some(Reply::Silent) => {
                Capability::new("listen-only", Support::Absent, "no answer to L")
            }
            None => Capability::new("listen-only", Support::NotProbed, not_reached),
        };
        let status = if self.status_reads > 0 {
            Capability::new(
                "status flags",
                Support::Ok,
                format!("F answered {} time(s)", self.status_reads),
            )
        } else {
            Capability::new(
                "status flags",
                Support::NotProbed,
                "F is read once a second while idle: no answer yet",
            )
        };
        let firmware = match &self.version {
            Some(Reply::Text(v)) => Some(v.clone()),
            _ => None,
        };
        AdapterFacts {
            kind: "SLCAN",
            firmware,
            capabilities: vec![
                version,
                if self.phase == Phase::Running {
                    Capability::new("bitrate", Support::Ok, format!("{} accepted", self.bitrate))
                } else {
                    Capability::new("bitrate", Support::NotProbed, not_reached)
                },
                listen,
                status,
                Capability::new("CAN FD", Support::Absent, "SLCAN carries classic CAN only"),
            ],
            dropped: (self.status_reads > 0).then(|| DropCount {
                count: 0,
                overflows: self.overruns,
                exact: false,
                source: "SLCAN status flags (F: data overrun or receive FIFO full; each an \
                         unknown number of frames)"
                    .to_owned(),
            }),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_and_lines() {
        let f = CanFrame::classic(CanId::Standard(0x745), &[0x02, 0x10, 0xC0]).unwrap();
        assert_eq!(encode(&f).unwrap(), "t74530210C0");
        assert_eq!(decode("t74530210C0").unwrap(), f);
        // With the device's timestamp.
        assert_eq!(decode("t74530210C0EA60").unwrap(), f);
        let x = CanFrame::classic(CanId::Extended(0x18DA40F1), &[]).unwrap();
        assert_eq!(encode(&x).unwrap(), "T18DA40F10");
        assert_eq!(decode("T18DA40F10").unwrap(), x);
        let r = CanFrame::remote(CanId::Standard(0x123), 4, None).unwrap();
        assert_eq!(encode(&r).unwrap(), "r1234");
        assert_eq!(decode("r1234").unwrap(), r);
        for bad in [
            "t745",
            "t7459",
            "t7452001",
            "x",
            "",
            "tZZZ0",
            "T1FFFFFFFF0",
            "t8001",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn bitrates_and_status() {
        assert_eq!(bitrate_command(500_000).unwrap(), "S6");
        assert!(bitrate_command(33_333)
            .unwrap_err()
            .to_string()
            .contains("S0-S8"));
        assert!(status_error(0).is_none());
        let (f, words) = status_error(0xA4).unwrap();
        assert!(f.is_error());
        assert_eq!(words, "A4 (error warning, error passive, bus error)");
    }

    use crate::transport::adapter::{cuts, noise, talk, whole_and_cut, Drive};

    const MS: u64 = 1000;

    /// Single-wire CAN is refused by kind, before the port is touched,
    /// saying why and what reaches it.
    #[test]
    fn single_wire_can_is_refused_with_what_reaches_it() {
        let sw = PhysicalBus::new(crate::frame::SINGLE_WIRE_BITRATE, BusKind::SingleWire);
        let e = SlcanCore::new("slcan:test", sw).unwrap_err();
        assert!(
            matches!(
                &e,
                AdapterError::Unsupported {
                    what: Unsupported::SingleWireThroughSlcan
                }
            ),
            "{e}"
        );
        let text = e.to_string();
        for want in [
            "cannot reach single-wire CAN (GM LS-GMLAN, OBD-II pin 1, 33.3 kbit/s)",
            "S0-S8 have no 33.3 kbit/s",
            "`s` bit-timing registers",
            "a SocketCAN interface with a single-wire transceiver at 33333 bit/s",
            "an OBDLink with SW-CAN",
        ] {
            assert!(text.contains(want), "{want}: {text}");
        }
    }

    fn t745() -> CanFrame {
        CanFrame::classic(CanId::Standard(0x745), &[0x02, 0x10, 0xC0]).unwrap()
    }

    /// A core through its start-up: `\r\r\r`, 100 ms of settling, `C`,
    /// `V`, `S6`, `L`, `C`, `O`, each answered with a bare CR (`V` with a
    /// version).
    fn running() -> Drive<SlcanCore> {
        let mut d =
            Drive::new(SlcanCore::new("slcan:test", PhysicalBus::high_speed(500_000)).unwrap());
        assert_eq!(d.written, ["\r\r\r"]);
        // Left-over output of the adapter is dropped, however it ends.
        d.feed(b"t1230\rgarbage");
        assert_eq!(d.wait(100 * MS), ["C\r"]);
        assert_eq!(d.feed(b"\x07"), ["V\r"], "a bell to the first C is fine");
        assert_eq!(d.feed(b"V1013\r"), ["S6\r"]);
        assert_eq!(d.feed(b"\r"), ["L\r"]);
        assert_eq!(d.feed(b"\r"), ["C\r"]);
        assert_eq!(d.feed(b"\r"), ["O\r"]);
        assert_eq!(d.feed(b"\r"), Vec::<String>::new());
        assert!(d.frames.is_empty(), "{:?}", d.frames);
        d
    }

    /// Listen-only opens the channel with `L`, and frames still come in.
    #[test]
    fn listen_only_opens_with_l() {
        let core = SlcanCore::new("slcan:test", PhysicalBus::high_speed(500_000))
            .unwrap()
            .listen_only();
        let mut d = Drive::new(core);
        assert_eq!(d.wait(100 * MS), ["C\r"]);
        assert_eq!(d.feed(b"\r"), ["V\r"]);
        assert_eq!(d.feed(b"V1013\r"), ["S6\r"]);
        // The opening itself with `L` is the probe: no `L`, `C`, `L`.
        assert_eq!(d.feed(b"\r"), ["L\r"]);
        assert_eq!(d.feed(b"\r"), Vec::<String>::new());
        assert_eq!(d.written.iter().filter(|w| *w == "L\r").count(), 1);
        assert_eq!(d.written.iter().filter(|w| *w == "C\r").count(), 1);
        assert!(!d.written.iter().any(|w| w == "O\r"), "{:?}", d.written);
        d.feed(b"\rt6F61AA\r");
        assert_eq!(d.frames.len(), 1);
        assert!(d.errors.is_empty(), "{}", d.errors_text());
    }

    fn send(d: &mut Drive<SlcanCore>, f: &CanFrame) -> Vec<String> {
        let c = d.core.command_for_frame(f, None).unwrap().unwrap();
        let before = d.written.len();
        let t = d.command(c);
        assert!(matches!(d.done.last(), Some((done, Ok(()))) if *done == t));
        d.written[before..].to_vec()
    }

    #[test]
    fn a_bare_cr_acknowledges_a_transmit_as_slcanpty_does() {
        let mut d = running();
        assert_eq!(send(&mut d, &t745()), ["t74530210C0\r"]);
        // slcanpty's ack, then the answer with a device timestamp.
        d.feed(b"\rt76530250C0EA60\r");
        assert_eq!(d.frames.len(), 1);
        assert_eq!(d.frames[0].data(), [0x02, 0x50, 0xC0]);
        // Acknowledged: no "silent" error when the answer deadline passes;
        // the idle status read comes instead.
        assert_eq!(d.wait(1000 * MS), ["F\r"]);
        d.feed(b"F00\r");
        assert!(d.core.finished().is_none());
        assert!(d.errors.is_empty(), "{}", d.errors_text());
    }

    #[test]
    fn the_probe_finds_version_listen_only_and_counts_overruns() {
        let mut d = running();
        let facts = d.core.facts(d.now);
        assert_eq!(facts.kind, "SLCAN");
        assert_eq!(facts.firmware.as_deref(), Some("V1013"));
        let listen = facts
            .capabilities
            .iter()
            .find(|c| c.name == "listen-only")
            .unwrap();
        assert_eq!(listen.support, Support::Ok, "{listen:?}");
        // No status read yet: drops are not reported, not "none".
        assert_eq!(facts.dropped, None);
        assert_eq!(d.wait(1000 * MS), ["F\r"]);
        d.feed(b"F08\r");
        assert_eq!(d.wait(1000 * MS), ["F\r"]);
        d.feed(b"F00\r");
        let dropped = d.core.facts(d.now).dropped.unwrap();
        assert_eq!(
            (dropped.count, dropped.overflows, dropped.exact),
            (0, 1, false)
        );
        assert!(dropped.source.contains("data overrun"), "{dropped:?}");
    }

    #[test]
    fn a_refused_listen_only_is_absent_and_the_start_goes_on() {
        let mut d =
            Drive::new(SlcanCore::new("slcan:test", PhysicalBus::high_speed(500_000)).unwrap());
        d.wait(100 * MS);
        assert_eq!(d.feed(b"\r"), ["V\r"]);
        assert_eq!(d.feed(b"\r"), ["S6\r"]);
        assert_eq!(d.feed(b"\r"), ["L\r"]);
        assert_eq!(d.feed(b"\x07"), ["C\r"]);
        assert_eq!(d.feed(b"\r"), ["O\r"]);
        d.feed(b"\r");
        assert!(d.core.finished().is_none());
        let facts = d.core.facts(d.now);
        let by = |n: &str| {
            facts
                .capabilities
                .iter()
                .find(|c| c.name == n)
                .unwrap()
                .support
        };
        assert_eq!(by("listen-only"), Support::Absent);
        assert_eq!(by("version"), Support::Limited);
        assert_eq!(by("bitrate"), Support::Ok);
        assert_eq!(facts.firmware, None);
    }

    #[test]
    fn a_z_acknowledges_too_and_frames_between_are_kept() {
        let mut d = running();
        send(&mut d, &t745());
        send(&mut d, &t745());
        d.feed(b"z\rt76530250C0\rZ\r");
        assert_eq!(d.frames.len(), 1);
        d.wait(999 * MS);
        assert!(d.core.finished().is_none());
    }

    #[test]
    fn a_refused_transmit_reads_the_flags_and_names_them() {
        let mut d = running();
        send(&mut d, &t745());
        assert_eq!(d.feed(b"\x07"), ["F\r"]);
        d.feed(b"F20\r");
        let e = d.errors_text();
        assert!(
            e.contains("refused to send a frame (bell); status flags 20 (error passive)"),
            "{e}"
        );
        // The flags also arrive as the error frame SocketCAN would give.
        assert!(d.frames.iter().any(CanFrame::is_error), "{:?}", d.frames);
    }

    #[test]
    fn an_unacknowledged_transmit_stops_the_adapter_after_a_second() {
        let mut d = running();
        send(&mut d, &t745());
        d.wait(999 * MS);
        assert!(d.core.finished().is_none());
        d.wait(2 * MS);
        let end = d.core.finished().unwrap().unwrap_err();
        assert!(matches!(end, AdapterError::Silent { .. }), "{end}");
    }

    #[test]
    fn a_refused_bitrate_is_fatal_and_names_the_command() {
        let mut d =
            Drive::new(SlcanCore::new("slcan:test", PhysicalBus::high_speed(250_000)).unwrap());
        d.wait(100 * MS);
        assert_eq!(d.feed(b"\r"), ["V\r"]);
        assert_eq!(d.feed(b"\x07"), ["S5\r"], "a refused V is fine");
        d.feed(b"\x07");
        let end = d.core.finished().unwrap().unwrap_err();
        assert_eq!(
            end.to_string(),
            "the adapter does not know \"S5\" (it answered `?`)"
        );
    }

    #[test]
    fn sends_wait_for_the_start_and_close_sends_c() {
        let mut d =
            Drive::new(SlcanCore::new("slcan:test", PhysicalBus::high_speed(500_000)).unwrap());
        let c = d.core.command_for_frame(&t745(), None).unwrap().unwrap();
        d.command(c);
        assert!(d.done.is_empty());
        d.wait(100 * MS);
        for _ in 0..5 {
            d.feed(b"\r");
        }
        // Open accepted: the queued transmit goes out.
        assert_eq!(d.feed(b"\r"), ["t74530210C0\r"]);
        assert_eq!(d.done.len(), 1);
        d.feed(b"z\r");
        d.core.handle_close(d.now);
        assert_eq!(d.pump(), ["C\r"]);
        d.feed(b"\r");
        assert!(matches!(d.core.finished(), Some(Ok(()))));
    }

    #[test]
    fn fd_and_error_frames_are_refused_by_kind() {
        let d = running();
        let fd = CanFrame::fd(CanId::Standard(0x745), &[0; 12], 0).unwrap();
        let e = d.core.command_for_frame(&fd, None).unwrap_err();
        assert!(matches!(
            e,
            BusError::Unsupported {
                what: Unsupported::FdThroughSlcan
            }
        ));
    }

    proptest! {
        #[test]
        fn the_core_never_panics_on_any_bytes(
            chunks in noise(),
            waits in proptest::collection::vec(0u64..1_500_000, 0..40),
        ) {
            for start in [false, true] {
                let mut d = if start {
                    running()
                } else {
                    Drive::new(SlcanCore::new("slcan:p", PhysicalBus::high_speed(500_000)).unwrap())
                };
                d.shake(&chunks, &waits, |d, i| {
                    let transmit = d.core.command_for_frame(&t745(), None).ok().flatten();
                    transmit.filter(|_| i % 3 == 0)
                });
                prop_assert_eq!(d.broken(), None);
            }
        }

        #[test]
        fn what_the_core_does_does_not_depend_on_how_the_bytes_were_chunked(
            bytes in talk(&["z\r", "\r", "\x07", "F04\r"], "[tT][0-9A-F]{3,8}[0-8][0-9A-F]{0,16}\r"),
            at in cuts(),
        ) {
            let start = || {
                let mut d = running();
                send(&mut d, &t745());
                d
            };
            let (whole, chunked) = whole_and_cut(start, &bytes, &at);
            // The frames the bus carried are the same; when the core asks
            // for the status flags (and so how a later CR reads) may move
            // with the chunks, as it would with a real port's timing.
            let data = |d: &Drive<SlcanCore>| -> Vec<CanFrame> {
                d.frames.iter().filter(|f| !f.is_error()).copied().collect()
            };
            prop_assert_eq!(data(&chunked), data(&whole));
        }

        #[test]
        fn every_classic_frame_round_trips(
            ext in any::<bool>(),
            raw in 0u32..0x1FFF_FFFF,
            data in proptest::collection::vec(any::<u8>(), 0..=8),
        ) {
            let id = if ext { CanId::Extended(raw) } else { CanId::Standard(raw as u16 & 0x7FF) };
            let f = CanFrame::classic(id, &data).unwrap();
            prop_assert_eq!(decode(&encode(&f).unwrap()), Some(f));
        }

        #[test]
        fn decode_never_panics(s in "[tTrRzZF0-9A-Fa-f]{0,30}") {
            let _ = decode(&s);
        }
    }
}
