//! SLCAN (Lawicel) serial CAN adapters: CANable and its clones, CANtact,
//! USBtin, Lawicel CANUSB. A [`CanBus`] like SocketCAN, so the tester, the
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
//! One task owns the port: it reads frames into a channel (so `recv` is
//! cancel-safe), writes what `send` asks and matches the acknowledgements.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::serial::{self, LineReader, Stream, Token};
use super::{AdapterError, BusClock, BusError, CanBus};
use crate::frame::{CanFrame, CanId, FrameKind, IfName};
use crate::hex;

/// How long the adapter may take to answer a command.
const ANSWER_WITHIN: Duration = Duration::from_millis(1000);
/// How often the status flags are read while idle.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// Serial speed of the USB CDC adapters (ignored by them; used by UART ones).
const SERIAL_BAUD: u32 = 115_200;

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

/// An open SLCAN adapter.
pub struct SlcanBus {
    port: String,
    iface: IfName,
    clock: BusClock,
    frames: mpsc::UnboundedReceiver<Result<CanFrame, BusError>>,
    sends: mpsc::UnboundedSender<(String, oneshot::Sender<Result<(), BusError>>)>,
    /// Why the task ended, once it has.
    ended: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for SlcanBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlcanBus")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Drop for SlcanBus {
    fn drop(&mut self) {
        // The task closes the channel (`C`) when the send queue closes; if
        // it is stuck on a dead port, stop it.
        serial::abort_later(&self.task, ANSWER_WITHIN * 2);
    }
}

impl SlcanBus {
    /// Opens the port and starts the adapter at `bitrate`. Must be called
    /// inside a tokio runtime. Errors of the adapter's start-up (silent, a
    /// bitrate refused) come with the first `send` or `recv`.
    pub fn open(port: &str, bitrate: u32, iface: IfName) -> Result<SlcanBus, BusError> {
        let adapter = |error| BusError::Adapter {
            adapter: format!("slcan:{port}"),
            error,
        };
        let start = bitrate_command(bitrate).map_err(adapter)?;
        let stream = serial::open_serial(port, SERIAL_BAUD).map_err(adapter)?;
        let clock = BusClock::start();
        let (frame_tx, frames) = mpsc::unbounded_channel();
        let (sends, send_rx) = mpsc::unbounded_channel();
        let ended = Arc::new(Mutex::new(None));
        let driver = Driver {
            port: port.to_owned(),
            pending: Default::default(),
            refused: 0,
            stream,
            reader: LineReader::slcan(),
            frames: frame_tx,
            clock,
            iface,
        };
        let task = tokio::spawn(driver.run(start, send_rx, Arc::clone(&ended)));
        Ok(SlcanBus {
            port: port.to_owned(),
            iface,
            clock,
            frames,
            sends,
            ended,
            task,
        })
    }

    fn gone(&self) -> BusError {
        let why = self
            .ended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "the adapter's connection is closed".to_owned());
        BusError::Closed(format!("slcan:{}: {why}", self.port))
    }
}

impl CanBus for SlcanBus {
    async fn send(&mut self, frame: &CanFrame) -> Result<(), BusError> {
        let line = encode(frame)?;
        let (done, wait) = oneshot::channel();
        if self.sends.send((line, done)).is_err() {
            return Err(self.gone());
        }
        match wait.await {
            Ok(r) => r,
            Err(_) => Err(self.gone()),
        }
    }

    async fn recv(&mut self) -> Result<CanFrame, BusError> {
        match self.frames.recv().await {
            Some(r) => r.map(|f| f.on(self.iface)),
            None => Err(self.gone()),
        }
    }

    fn now_us(&self) -> u64 {
        self.clock.now_us()
    }
}

/// Our frame as an SLCAN transmit command (without the CR).
pub fn encode(frame: &CanFrame) -> Result<String, BusError> {
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
        FrameKind::Fd { .. } => Err(BusError::Unsupported(
            "SLCAN adapters carry classic CAN only, not CAN FD".into(),
        )),
        FrameKind::Error => Err(BusError::Unsupported(
            "an error frame cannot be sent".into(),
        )),
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

struct Driver {
    port: String,
    /// When each transmit still unacknowledged must be answered by.
    pending: std::collections::VecDeque<Instant>,
    /// Transmits the adapter refused (bell), to report with the flags.
    refused: usize,
    stream: Box<dyn Stream>,
    reader: LineReader,
    frames: mpsc::UnboundedSender<Result<CanFrame, BusError>>,
    clock: BusClock,
    iface: IfName,
}

/// What the adapter answered to a command.
enum Answer {
    Ok(Option<String>),
    Bell,
}

impl Driver {
    fn adapter(&self, error: AdapterError) -> BusError {
        BusError::Adapter {
            adapter: format!("slcan:{}", self.port),
            error,
        }
    }

    async fn run(
        mut self,
        start: String,
        mut sends: mpsc::UnboundedReceiver<(String, oneshot::Sender<Result<(), BusError>>)>,
        ended: Arc<Mutex<Option<String>>>,
    ) {
        let why = match self.serve(&start, &mut sends).await {
            Ok(()) => "closed".to_owned(),
            Err(e) => {
                let why = e.to_string();
                let _ = self.frames.send(Err(e));
                why
            }
        };
        *ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.clone());
        // Senders waiting get the reason.
        sends.close();
        while let Some((_, done)) = sends.recv().await {
            let _ = done.send(Err(BusError::Closed(format!("slcan:{}: {why}", self.port))));
        }
    }

    async fn serve(
        &mut self,
        start: &str,
        sends: &mut mpsc::UnboundedReceiver<(String, oneshot::Sender<Result<(), BusError>>)>,
    ) -> Result<(), BusError> {
        // Empty the adapter's line buffer, close the channel if it was open
        // (a bell then is fine), set the bitrate and open.
        serial::write(&mut self.stream, "\r\r\r")
            .await
            .map_err(|e| self.adapter(e))?;
        self.settle(Duration::from_millis(100)).await?;
        self.command("C", false).await?;
        if let Answer::Bell = self.command(start, true).await? {
            return Err(self.adapter(AdapterError::Refused {
                command: start.to_owned(),
            }));
        }
        if let Answer::Bell = self.command("O", true).await? {
            return Err(self.adapter(AdapterError::Refused {
                command: "O".to_owned(),
            }));
        }
        let mut status_at = Instant::now() + STATUS_EVERY;
        loop {
            let wake = self
                .pending
                .front()
                .map_or(status_at, |p| (*p).min(status_at));
            tokio::select! {
                biased;
                s = sends.recv() => {
                    let Some((line, done)) = s else {
                        // The bus was dropped: close the channel politely.
                        let _ = self.command("C", false).await;
                        return Ok(());
                    };
                    // The send is done once the line is out, so the frame is
                    // stamped before any answer to it; the adapter's `z` (or
                    // bell) is matched as it comes.
                    if let Err(e) = serial::write(&mut self.stream, &format!("{line}\r")).await {
                        let e = self.adapter(e);
                        let _ = done.send(Err(BusError::Closed(e.to_string())));
                        return Err(e);
                    }
                    self.pending.push_back(Instant::now() + ANSWER_WITHIN);
                    let _ = done.send(Ok(()));
                }
                t = self.reader.next(&mut self.stream, wake) => {
                    match t.map_err(|e| self.adapter(e))? {
                        // `z`/`Z` (Lawicel, CANable) or a bare CR (slcanpty,
                        // some clones) acknowledge a transmit.
                        Some(Token::Line(l)) if matches!(l.as_str(), "z" | "Z") => {
                            self.pending.pop_front();
                        }
                        Some(Token::Ok) => {
                            self.pending.pop_front();
                        }
                        Some(Token::Line(l)) => self.frame_line(&l),
                        Some(Token::Bell) => {
                            self.refused += usize::from(self.pending.pop_front().is_some());
                        }
                        Some(_) => {}
                        None if self.pending.front().is_some_and(|p| *p <= Instant::now()) => {
                            return Err(self.adapter(AdapterError::Silent {
                                command: "a frame to send".into(),
                                waited_ms: ANSWER_WITHIN.as_millis() as u64,
                            }));
                        }
                        None => {}
                    }
                    if self.pending.is_empty() && (self.refused > 0 || Instant::now() >= status_at) {
                        status_at = Instant::now() + STATUS_EVERY;
                        let flags = self.status().await?;
                        if self.refused > 0 {
                            self.refused = 0;
                            let flags = flags.unwrap_or_else(|| "00 (none: the adapter refused the command)".into());
                            let _ = self.frames.send(Err(self.adapter(AdapterError::SendRefused { flags })));
                        }
                    }
                }
            }
        }
    }

    /// Passes a received frame on; other lines are logged.
    fn frame_line(&mut self, line: &str) {
        match decode(line) {
            Some(f) => {
                let _ = self
                    .frames
                    .send(Ok(f.at(self.clock.now_us()).on(self.iface)));
            }
            None => tracing::debug!("slcan:{}: ignored {line:?}", self.port),
        }
    }

    /// Reads the status flags; trouble becomes an error frame.
    async fn status(&mut self) -> Result<Option<String>, BusError> {
        let flags = match self.command("F", false).await? {
            Answer::Ok(Some(l)) => l
                .strip_prefix('F')
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
            _ => None,
        };
        Ok(flags.and_then(status_error).map(|(frame, words)| {
            let _ = self
                .frames
                .send(Ok(frame.at(self.clock.now_us()).on(self.iface)));
            words
        }))
    }

    /// Sends a command and waits for its answer (`z`/`Z`, a reply line, a
    /// bare CR, or a bell), passing frames that arrive meanwhile on.
    /// `must`: no answer is an error (else it is ignored).
    async fn command(&mut self, cmd: &str, must: bool) -> Result<Answer, BusError> {
        serial::write(&mut self.stream, &format!("{cmd}\r"))
            .await
            .map_err(|e| self.adapter(e))?;
        let deadline = Instant::now() + ANSWER_WITHIN;
        let first = cmd.chars().next().unwrap_or(' ');
        loop {
            match self
                .reader
                .next(&mut self.stream, deadline)
                .await
                .map_err(|e| self.adapter(e))?
            {
                None if must => {
                    return Err(self.adapter(AdapterError::Silent {
                        command: cmd.to_owned(),
                        waited_ms: ANSWER_WITHIN.as_millis() as u64,
                    }))
                }
                None => return Ok(Answer::Ok(None)),
                Some(Token::Bell) => return Ok(Answer::Bell),
                Some(Token::Ok | Token::Prompt) => return Ok(Answer::Ok(None)),
                Some(Token::Line(l)) => {
                    let is_frame = decode(&l).is_some();
                    let ack = matches!(l.as_str(), "z" | "Z");
                    if ack && matches!(first, 't' | 'T' | 'r' | 'R') {
                        return Ok(Answer::Ok(None));
                    }
                    if is_frame {
                        self.frame_line(&l);
                        continue;
                    }
                    if l.starts_with(first) {
                        return Ok(Answer::Ok(Some(l)));
                    }
                    tracing::debug!("slcan:{}: ignored {l:?} waiting for {cmd}", self.port);
                }
            }
        }
    }

    /// Reads and drops whatever the adapter says within `d`.
    async fn settle(&mut self, d: Duration) -> Result<(), BusError> {
        let until = Instant::now() + d;
        while self
            .reader
            .next(&mut self.stream, until)
            .await
            .map_err(|e| self.adapter(e))?
            .is_some()
        {}
        self.reader.clear();
        Ok(())
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

    proptest! {
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
