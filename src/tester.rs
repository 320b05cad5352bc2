//! The tester: a thin async driver that runs one [`IsoTpChannel`] and one
//! diagnostic [`Client`] over any [`CanBus`], on tokio's clock (so a paused
//! runtime runs it on virtual time), and the safe-session rules around it.
//!
//! It owns the event loop (client → channel → bus, bus → channel → client,
//! the earliest deadline of both machines, a shutdown signal), the tap that
//! sees every frame, and the guarantee that whatever ends a run (success,
//! error, timeout, a dropped [`IoControl`], Ctrl-C / SIGTERM) the outputs
//! taken over are handed back and the session is left: every exit goes
//! through [`Tester::close`], which [`Tester::run`] calls after racing the
//! caller's work against the [`Shutdown`] signal.
//!
//! Async drop does not exist, so an [`IoControl`] dropped without
//! [`IoControl::release`] only *marks* its output for return; the tester
//! sends the return before its next request, and `close` sends whatever the
//! client still holds ([`Client::restore_requests`]).
//!
//! It must NOT know about profiles, verdicts, JSON or terminals, nor parse
//! what the services mean beyond the session timing it needs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::diag::client::{ClientConfig, ClientError, ClientEvent, RequestId, Timing};
use crate::diag::{gmlan, kwp, service_name, uds, Client, Nrc, Protocol};
use crate::frame::{CanFrame, CanId, Direction};
use crate::isotp::{IsoTpChannel, IsoTpConfig, IsoTpError, IsoTpEvent};
use crate::transport::{BusError, CanBus, LinkHint};

/// A signal that asks the run to stop: triggered by the real SIGINT /
/// SIGTERM handler ([`Shutdown::on_signals`]) or by a test. Cloning gives
/// another handle on the same signal.
#[derive(Clone, Debug)]
pub struct Shutdown {
    flag: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown {
            flag: Arc::new(watch::Sender::new(false)),
        }
    }

    /// A shutdown triggered by Ctrl-C or SIGTERM (on Windows Ctrl-C,
    /// Ctrl-Break or the console closing: [`wait_for_signal`]). Must be
    /// called inside a tokio runtime (it spawns the task that waits for the
    /// signals).
    pub fn on_signals() -> Shutdown {
        let shutdown = Shutdown::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::warn!(
                "interrupted: stopping cleanly (any output handed back, any session left)"
            );
            trigger.trigger();
        });
        shutdown
    }

    pub fn trigger(&self) {
        self.flag.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.flag.borrow()
    }

    /// Completes once the shutdown is triggered (at once if it already was).
    pub async fn wait(&self) {
        let mut rx = self.flag.subscribe();
        // The sender lives in `self`, so `wait_for` can only end by the flag.
        let _ = rx.wait_for(|&set| set).await;
    }
}

/// Completes when the user asks the run to stop: Ctrl-C (SIGINT) or
/// SIGTERM on Unix; on Windows Ctrl-C, Ctrl-Break and the console window
/// closing (or the system shutting down). Every command that waits for an
/// interruption waits for this one, so they all stop on the same things.
///
/// On Windows a console close or shutdown gives the process a few seconds
/// (tokio's handler holds the event until the process exits by itself):
/// enough to hand outputs back and leave the session, as on Ctrl-C.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot watch SIGTERM ({e}); only Ctrl-C ends the run cleanly");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(windows)]
    {
        use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close, ctrl_shutdown};
        // Each watch that cannot be set up is a future that never completes.
        async fn or_never(rx: std::io::Result<impl std::future::Future>) {
            match rx {
                Ok(rx) => {
                    rx.await;
                }
                Err(e) => {
                    tracing::warn!("cannot watch a console event ({e})");
                    std::future::pending::<()>().await;
                }
            }
        }
        let c = ctrl_c().map(|mut s| async move { s.recv().await });
        let brk = ctrl_break().map(|mut s| async move { s.recv().await });
        let close = ctrl_close().map(|mut s| async move { s.recv().await });
        let shutdown = ctrl_shutdown().map(|mut s| async move { s.recv().await });
        tokio::select! {
            () = or_never(c) => {}
            () = or_never(brk) => {}
            () = or_never(close) => {}
            () = or_never(shutdown) => {}
        }
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Why a tester operation failed. Messages name the service and the ids.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TesterError {
    /// The client gave up on a request (timeout, storm, wrong echo...).
    #[error("{error} on {tx} → {rx}")]
    Diagnostic {
        error: ClientError,
        tx: CanId,
        rx: CanId,
    },
    /// A negative response where a positive one was required.
    #[error("{service} (0x{sid:02X}) on {tx} → {rx}: negative response {nrc}")]
    Negative {
        service: &'static str,
        sid: u8,
        nrc: Nrc,
        tx: CanId,
        rx: CanId,
    },
    /// ISO-TP could not carry the request.
    #[error("{service} (0x{sid:02X}) on {tx} → {rx}: the request could not be sent: {error}")]
    Transport {
        service: &'static str,
        sid: u8,
        error: IsoTpError,
        tx: CanId,
        rx: CanId,
    },
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("interrupted (Ctrl-C / SIGTERM)")]
    Interrupted,
    #[error("{0:02X?} is not an I/O control request: expected 2F <did> <param> (UDS) or 30 <lid> <control> (KWP2000)")]
    NotIoControl(Vec<u8>),
    #[error("empty request: expected at least a service id")]
    EmptyRequest,
    /// `close` could not hand everything back; the list says what is left.
    /// `outputs_left` is false when only leaving the session failed (the
    /// module leaves it by itself after S3 without requests).
    #[error("could not hand everything back to the module: {failures}")]
    Restore {
        failures: RestoreFailures,
        outputs_left: bool,
    },
}

/// The module's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// A positive response, SID and echo checked.
    Positive { payload: Vec<u8> },
    /// A final negative response (responsePending and busyRepeatRequest are
    /// handled below this).
    Negative { nrc: Nrc, payload: Vec<u8> },
    /// A suppress-positive-response request drew no negative response.
    Suppressed,
}

impl Response {
    /// The bytes the module sent (empty when suppressed).
    pub fn payload(&self) -> &[u8] {
        match self {
            Response::Positive { payload } | Response::Negative { payload, .. } => payload,
            Response::Suppressed => &[],
        }
    }
}

/// What sees every frame the tester sends or receives (recording, evidence).
pub type Tap = Box<dyn FnMut(&CanFrame, Direction) + Send>;

/// Return requests of dropped [`IoControl`] handles, waiting to be sent.
type ReturnQueue = Arc<Mutex<Vec<Vec<u8>>>>;

/// An output taken over by an I/O control request. Hand it back with
/// [`IoControl::release`]; if the handle is dropped instead, the return is
/// sent before the tester's next request or at [`Tester::close`].
#[derive(Debug)]
#[must_use = "dropping the handle marks the output for return at the next request"]
pub struct IoControl {
    return_request: Vec<u8>,
    queue: ReturnQueue,
    armed: bool,
}

impl IoControl {
    /// The request that hands the output back.
    pub fn return_request(&self) -> &[u8] {
        &self.return_request
    }

    /// Hands the output back now.
    pub async fn release<B: CanBus>(
        mut self,
        tester: &mut Tester<B>,
    ) -> Result<Response, TesterError> {
        self.armed = false;
        tester.request(&self.return_request).await
    }
}

impl Drop for IoControl {
    fn drop(&mut self) {
        if self.armed {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.push(std::mem::take(&mut self.return_request));
        }
    }
}

/// What [`Tester::close`] sent and how each went.
#[derive(Debug, Default, Clone)]
pub struct CloseReport {
    /// Each restore request with `None` if the module accepted it, or why not.
    pub sent: Vec<(Vec<u8>, Option<RestoreFailure>)>,
}

/// Why one restore request (hand an output back, leave the session) failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreFailure {
    #[error("negative response {0}")]
    Negative(Nrc),
    #[error("{0}")]
    Failed(Arc<TesterError>),
}

/// The restore requests that failed, each with why; prints as
/// `REQUEST: why; ...`.
#[derive(Debug, Clone, Default)]
pub struct RestoreFailures(pub Vec<(Vec<u8>, RestoreFailure)>);

impl std::fmt::Display for RestoreFailures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (req, why)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {why}", crate::hex::encode_upper(req))?;
        }
        Ok(())
    }
}

/// The async driver. See the module documentation.
pub struct Tester<B: CanBus> {
    bus: B,
    channel: IsoTpChannel,
    client: Client,
    tap: Option<Tap>,
    shutdown: Shutdown,
    returns: ReturnQueue,
    /// The last ISO-TP error since the current request started.
    transport_error: Option<IsoTpError>,
    /// Client events not yet claimed by the request they answer.
    events: Vec<ClientEvent>,
    /// `close` ran: whatever is still held was tried and reported there.
    closed: bool,
    /// The UUDT answers being collected, while a request waits for them.
    uudt: Option<Uudt>,
}

/// A request answered by UUDT frames, while its answers come in.
struct Uudt {
    /// The id they come on.
    id: CanId,
    /// The request's SID: a `7F <sid> ..` on the USDT id refuses it.
    sid: u8,
    frames: Vec<Vec<u8>>,
    /// Its refusal (not responsePending, which only delays the frames).
    refused: Option<Nrc>,
}

/// The most UUDT frames one request collects (a module with more codes
/// than this is cut short, not buffered without bound).
const UUDT_FRAMES_MAX: usize = 512;

impl<B: CanBus> Tester<B> {
    pub fn new(mut bus: B, isotp: IsoTpConfig, client: ClientConfig, shutdown: Shutdown) -> Self {
        bus.configure_link(&LinkHint {
            tx: isotp.tx_id,
            rx: isotp.rx_id,
            address_byte: isotp.addressing.has_address_byte(),
            block_size: isotp.block_size,
            st_min: isotp.st_min,
        });
        Tester {
            bus,
            channel: IsoTpChannel::new(isotp),
            client: Client::new(client),
            tap: None,
            uudt: None,
            shutdown,
            returns: Arc::new(Mutex::new(Vec::new())),
            transport_error: None,
            events: Vec::new(),
            closed: false,
        }
    }

    /// Every frame sent or received from now on is shown to `tap`.
    pub fn set_tap(&mut self, tap: Tap) {
        self.tap = Some(tap);
    }

    pub fn protocol(&self) -> Protocol {
        self.client.config().protocol
    }

    /// (request id, response id).
    pub fn ids(&self) -> (CanId, CanId) {
        let cfg = self.channel.config();
        (cfg.tx_id, cfg.rx_id)
    }

    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// What the bus could not do or did differently (see [`CanBus::notes`]).
    pub fn bus_notes(&self) -> Vec<String> {
        self.bus.notes()
    }

    /// What the adapter is and what it was found to do (see [`CanBus::facts`]).
    pub fn bus_facts(&self) -> crate::transport::AdapterFacts {
        self.bus.facts()
    }

    /// The requests `close` would send now (outputs held, session open).
    pub fn restore_requests(&self) -> Vec<Vec<u8>> {
        self.client.restore_requests()
    }

    /// Sends one request and waits for its final answer (through
    /// responsePending and busyRepeatRequest). Outputs marked for return by
    /// dropped [`IoControl`] handles are handed back first.
    pub async fn request(&mut self, req: &[u8]) -> Result<Response, TesterError> {
        self.send_marked_returns().await?;
        self.exchange(req, true).await
    }

    /// Sends a request whose answer comes as UUDT frames on `id` (GMLAN's
    /// trouble-code read `A9 81`) and returns their data: until a frame
    /// ends the report, or `window` passes. A refusal on the USDT id
    /// (`7F A9 ..`) is an error like any negative answer.
    pub async fn request_uudt(
        &mut self,
        req: &[u8],
        id: CanId,
        window: Duration,
    ) -> Result<Vec<Vec<u8>>, TesterError> {
        self.uudt = Some(Uudt {
            id,
            sid: req.first().copied().unwrap_or_default(),
            frames: Vec::new(),
            refused: None,
        });
        let result = self.collect_uudt(req, window).await;
        let got = self.uudt.take();
        result?;
        match got {
            Some(Uudt {
                refused: Some(nrc), ..
            }) => Err(self.negative(req, nrc)),
            got => Ok(got.map(|u| u.frames).unwrap_or_default()),
        }
    }

    async fn collect_uudt(&mut self, req: &[u8], window: Duration) -> Result<(), TesterError> {
        let until = Instant::now() + window;
        self.request_positive(req).await?;
        loop {
            let finished = self.uudt.as_ref().is_some_and(|u| {
                u.refused.is_some() || u.frames.last().is_some_and(|f| gmlan::ends_report(f))
            });
            if finished || Instant::now() >= until {
                return Ok(());
            }
            self.flush().await?;
            if self.wait(Some(until), true).await? {
                return Ok(());
            }
        }
    }

    /// Like [`request`](Self::request), but a negative response is an error;
    /// returns the positive payload (empty when suppressed).
    pub async fn request_positive(&mut self, req: &[u8]) -> Result<Vec<u8>, TesterError> {
        match self.request(req).await? {
            Response::Positive { payload } => Ok(payload),
            Response::Suppressed => Ok(Vec::new()),
            Response::Negative { nrc, .. } => Err(self.negative(req, nrc)),
        }
    }

    /// Opens a diagnostic session (`10 <session>`) and keeps it alive with
    /// tester present while held. A UDS module's announced P2 / P2* (plus a
    /// transport margin) replace the configured ones.
    pub async fn open_session(&mut self, session: u8) -> Result<Vec<u8>, TesterError> {
        let req = match self.protocol() {
            Protocol::Kwp => kwp::start_session(session),
            // GMLAN's InitiateDiagnosticOperation has the same shape.
            Protocol::Uds | Protocol::Obd | Protocol::Gmlan => uds::session_control(session, false),
        };
        let resp = self.request_positive(&req).await?;
        if self.protocol() == Protocol::Uds {
            match Timing::announced(&resp) {
                Some(t) => self.client.set_timing(t.p2_us, t.p2_star_us),
                None => tracing::info!(
                    "session answer {} carries no usable timing: keeping P2 {} ms and P2* {} ms",
                    crate::hex::encode_upper(&resp),
                    self.client.config().p2_us / 1000,
                    self.client.config().p2_star_us / 1000
                ),
            }
        }
        self.client
            .set_session_held(self.client.open_session().is_some());
        Ok(resp)
    }

    /// Takes an output over with an I/O control request (UDS 0x2F, KWP
    /// 0x30, GMLAN device control 0xAE) and returns the handle that hands it back.
    pub async fn io_control(&mut self, req: &[u8]) -> Result<IoControl, TesterError> {
        let shaped = matches!(
            (self.protocol(), req),
            (Protocol::Uds, [0x2F, _, _, _, ..])
                | (Protocol::Kwp, [0x30, _, _, ..])
                | (Protocol::Gmlan, [0xAE, _, ..])
        );
        if !shaped {
            return Err(TesterError::NotIoControl(req.to_vec()));
        }
        let result = self.request_positive(req).await;
        // The client registers the output whenever the module may have acted
        // (a positive answer, or none we could trust); the return request is
        // the restore request for the same identifier.
        let return_request = self.client.return_request_of(req);
        match (result, return_request) {
            (Ok(_), Some(return_request)) => Ok(IoControl {
                return_request,
                queue: Arc::clone(&self.returns),
                armed: true,
            }),
            // A positive answer to a request that takes nothing over (e.g.
            // a return itself): nothing to hand back.
            (Ok(_), None) => Err(TesterError::NotIoControl(req.to_vec())),
            (Err(e), _) => Err(e),
        }
    }

    /// Keeps listening for `duration`: frames reach the tap, keep-alives go
    /// out while a session is held. Ends early, `Ok`, on shutdown; `run`
    /// then reports `Interrupted`.
    pub async fn idle(&mut self, duration: Duration) -> Result<(), TesterError> {
        let until = Instant::now() + duration;
        loop {
            self.flush().await?;
            self.take_keepalive_failures();
            if Instant::now() >= until {
                return Ok(());
            }
            if self.wait(Some(until), true).await? {
                return Ok(());
            }
        }
    }

    /// Runs `work` with the safe-session guarantee: `work` is raced against
    /// the shutdown signal, and whatever ends it, [`close`](Self::close)
    /// then hands back every output and leaves the session. The error of
    /// `work` (or `Interrupted`) wins over one from `close`, which is logged.
    pub async fn run<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut Self) -> Result<T, TesterError>,
    ) -> Result<T, TesterError> {
        let shutdown = self.shutdown.clone();
        let outcome = tokio::select! {
            biased;
            _ = shutdown.wait() => Err(TesterError::Interrupted),
            r = work(self) => r,
        };
        let closed = self.close().await;
        match (outcome, closed) {
            (Ok(v), Ok(_)) => Ok(v),
            (Ok(_), Err(e)) => Err(e),
            (Err(e), closed) => {
                match closed {
                    // The bus failed the work and is gone: closing it can
                    // only say the same again.
                    Err(TesterError::Bus(BusError::Closed { .. }))
                        if matches!(e, TesterError::Bus(_)) => {}
                    Err(c) => tracing::error!("{c}"),
                    Ok(_) => {}
                }
                Err(e)
            }
        }
    }

    /// Hands back every output taken over (most recent first) and leaves the
    /// session opened. Waits first for a request left in flight by a
    /// cancelled operation (the module answers one request at a time). Not
    /// interrupted by the shutdown signal: it *is* the shutdown path. Each
    /// restore request is tried even if an earlier one failed.
    pub async fn close(&mut self) -> Result<CloseReport, TesterError> {
        self.closed = true;
        self.client.set_session_held(false);
        self.settle().await?;
        let mut report = CloseReport::default();
        let marked = std::mem::take(&mut *self.returns.lock().unwrap_or_else(|p| p.into_inner()));
        let held = self.client.restore_requests();
        // A marked return may already be in `held`; send each once, marked
        // (older intent) first, then the rest in the client's order.
        let mut todo: Vec<Vec<u8>> = Vec::new();
        for r in marked.into_iter().chain(held) {
            if !todo.contains(&r) {
                todo.push(r);
            }
        }
        for req in todo {
            let outcome = match self.exchange(&req, false).await {
                Ok(Response::Positive { .. } | Response::Suppressed) => None,
                Ok(Response::Negative { nrc, .. }) => Some(RestoreFailure::Negative(nrc)),
                Err(e @ TesterError::Bus(_)) => return Err(e),
                Err(e) => Some(RestoreFailure::Failed(Arc::new(e))),
            };
            if let Some(why) = &outcome {
                tracing::warn!(request = %crate::hex::encode_upper(&req), "restore failed: {why}");
            }
            report.sent.push((req, outcome));
        }
        let left = self.client.restore_requests();
        if left.is_empty() {
            Ok(report)
        } else {
            let failures = RestoreFailures(
                report
                    .sent
                    .iter()
                    .filter_map(|(r, why)| why.clone().map(|w| (r.clone(), w)))
                    .collect(),
            );
            // Session control (0x10) is the only restore that is not an
            // output handed back.
            let outputs_left = left.iter().any(|r| r.first() != Some(&0x10));
            Err(TesterError::Restore {
                failures,
                outputs_left,
            })
        }
    }

    /// Sends the returns of dropped handles, oldest first. A failed return
    /// stays with the client, which `close` retries.
    async fn send_marked_returns(&mut self) -> Result<(), TesterError> {
        loop {
            let next = {
                let mut q = self.returns.lock().unwrap_or_else(|p| p.into_inner());
                if q.is_empty() {
                    None
                } else {
                    Some(q.remove(0))
                }
            };
            let Some(req) = next else {
                return Ok(());
            };
            match self.exchange(&req, true).await {
                Ok(_) => {}
                Err(e @ (TesterError::Bus(_) | TesterError::Interrupted)) => {
                    // Not sent: keep it marked for close.
                    self.returns
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(0, req);
                    return Err(e);
                }
                Err(e) => tracing::warn!("returning a dropped I/O control failed: {e}"),
            }
        }
    }

    /// One request to its final answer. `interruptible`: the shutdown
    /// signal aborts the wait (not during close).
    async fn exchange(&mut self, req: &[u8], interruptible: bool) -> Result<Response, TesterError> {
        if req.is_empty() {
            return Err(TesterError::EmptyRequest);
        }
        if interruptible && self.shutdown.is_triggered() {
            return Err(TesterError::Interrupted);
        }
        // A request left in flight by a cancelled caller must end first.
        self.settle().await?;
        self.bus.prepare().await?;
        self.transport_error = None;
        let now = self.bus.now_us();
        let id = self
            .client
            .request(now, req.to_vec())
            .map_err(|e| self.diag_error(e))?;
        loop {
            self.flush().await?;
            self.take_keepalive_failures();
            if let Some(resp) = self.take_answer(id, req)? {
                return Ok(resp);
            }
            if self.wait(None, interruptible).await? {
                return Err(TesterError::Interrupted);
            }
        }
    }

    /// Drives the machines until the client has nothing in flight, ignoring
    /// the answers (they belong to a caller that went away).
    async fn settle(&mut self) -> Result<(), TesterError> {
        loop {
            self.flush().await?;
            self.take_keepalive_failures();
            self.events.clear();
            if self.client.is_idle() {
                return Ok(());
            }
            self.wait(None, false).await?;
        }
    }

    fn take_keepalive_failures(&mut self) {
        self.events.retain(|ev| match ev {
            ClientEvent::KeepAliveFailed { error } => {
                tracing::warn!("keep-alive failed, the session may be lost: {error}");
                false
            }
            _ => true,
        });
    }

    fn take_answer(&mut self, id: RequestId, req: &[u8]) -> Result<Option<Response>, TesterError> {
        let Some(pos) = self.events.iter().position(|ev| event_id(ev) == Some(id)) else {
            return Ok(None);
        };
        let ev = self.events.remove(pos);
        match ev {
            ClientEvent::Response { payload, .. } => Ok(Some(Response::Positive { payload })),
            ClientEvent::Suppressed { .. } => Ok(Some(Response::Suppressed)),
            ClientEvent::Negative { nrc, payload, .. } => {
                Ok(Some(Response::Negative { nrc, payload }))
            }
            ClientEvent::Failed { error, .. } => {
                let sid = req.first().copied().unwrap_or_default();
                match (error, self.transport_error.take()) {
                    (ClientError::NotSent { .. }, Some(error)) => {
                        let (tx, rx) = self.ids();
                        Err(TesterError::Transport {
                            service: service_name(self.protocol(), sid),
                            sid,
                            error,
                            tx,
                            rx,
                        })
                    }
                    (error, _) => Err(self.diag_error(error)),
                }
            }
            // Keep-alive failures are taken out before; other events have
            // no id and never match.
            _ => Ok(None),
        }
    }

    /// Moves everything due between the machines and onto the bus: client
    /// requests into the channel, channel frames onto the bus, channel
    /// events into the client, client events into `self.events`, until
    /// nothing moves.
    async fn flush(&mut self) -> Result<(), TesterError> {
        loop {
            let mut moved = false;
            let now = self.bus.now_us();
            while let Some(req) = self.client.poll_transmit() {
                moved = true;
                if let Err(e) = self.channel.send(now, &req) {
                    // The client's send deadline turns this into NotSent.
                    tracing::warn!("ISO-TP refused the request: {e}");
                    self.transport_error = Some(e);
                }
            }
            while let Some(frame) = self.channel.poll_transmit(self.bus.now_us()) {
                moved = true;
                if self.bus.adapter_flow_control() && is_flow_control(&frame, self.channel.config())
                {
                    // The adapter sent its own: ours never reaches the bus.
                    continue;
                }
                // Stamped when it is handed to the bus, not when the send
                // returns: an answer can only come after the request began
                // to go out, but a serial adapter's reader may stamp it
                // before a busy host gets back here.
                let handed_at = self.bus.now_us();
                self.bus.send(&frame).await?;
                if let Some(tap) = self.tap.as_mut() {
                    tap(&as_on_the_bus(&frame, handed_at), Direction::Tx);
                }
            }
            while let Some(ev) = self.channel.poll_event() {
                moved = true;
                match ev {
                    IsoTpEvent::Received { payload, at_us } => {
                        // A UUDT request's refusal comes on the USDT id after
                        // the client closed the request: kept for it.
                        if let (Some(u), [0x7F, sid, code, ..]) =
                            (self.uudt.as_mut(), payload.as_slice())
                        {
                            let nrc = Nrc::from(*code);
                            if u.sid == *sid && nrc != Nrc::ResponsePending {
                                u.refused = Some(nrc);
                            }
                        }
                        self.client.handle_message(at_us, &payload)
                    }
                    IsoTpEvent::Sent { at_us } => self.client.handle_sent(at_us),
                    IsoTpEvent::Error(e) => {
                        tracing::warn!("ISO-TP: {e}");
                        if let Some((received, len)) = e.cut_short() {
                            self.client.handle_incomplete(now, received, len);
                        }
                        self.transport_error = Some(e);
                    }
                }
            }
            while let Some(ev) = self.client.poll_event() {
                moved = true;
                self.events.push(ev);
            }
            if !moved {
                if let Some(until) = self.channel.rx_deadline() {
                    self.client.transport_receiving(until);
                }
                return Ok(());
            }
        }
    }

    /// Waits for one input: a frame, the earliest deadline (or `until`), or
    /// the shutdown signal when `interruptible`. Returns true if it was the
    /// shutdown signal or `until`.
    async fn wait(
        &mut self,
        until: Option<Instant>,
        interruptible: bool,
    ) -> Result<bool, TesterError> {
        let deadline_us = match (self.client.poll_timeout(), self.channel.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let machine_at = deadline_us
            .map(|d| Instant::now() + Duration::from_micros(d.saturating_sub(self.bus.now_us())));
        let wake = match (machine_at, until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let shutdown = self.shutdown.clone();
        tokio::select! {
            biased;
            _ = shutdown.wait(), if interruptible => Ok(true),
            frame = self.bus.recv() => {
                let frame = frame?;
                if let Some(tap) = self.tap.as_mut() {
                    tap(&as_on_the_bus(&frame, frame.timestamp_us), Direction::Rx);
                }
                if let Some(u) = self.uudt.as_mut() {
                    if frame.id == u.id && u.frames.len() < UUDT_FRAMES_MAX {
                        u.frames.push(frame.data().to_vec());
                    }
                }
                let now = self.bus.now_us();
                self.channel.handle_frame(now, &frame);
                Ok(false)
            }
            _ = sleep_until_opt(wake) => {
                let now = self.bus.now_us();
                self.channel.handle_timeout(now);
                self.client.handle_timeout(now);
                Ok(until.is_some_and(|u| Instant::now() >= u))
            }
        }
    }

    fn diag_error(&self, error: ClientError) -> TesterError {
        let (tx, rx) = self.ids();
        TesterError::Diagnostic { error, tx, rx }
    }

    fn negative(&self, req: &[u8], nrc: Nrc) -> TesterError {
        let (tx, rx) = self.ids();
        let sid = req.first().copied().unwrap_or_default();
        TesterError::Negative {
            service: service_name(self.protocol(), sid),
            sid,
            nrc,
            tx,
            rx,
        }
    }
}

impl<B: CanBus> Drop for Tester<B> {
    fn drop(&mut self) {
        let left = self.client.restore_requests();
        let marked = self.returns.lock().map(|q| q.len()).unwrap_or_default();
        if !self.closed && (!left.is_empty() || marked > 0) {
            tracing::error!(
                "tester dropped without close: {} request(s) to hand back were never sent",
                left.len().max(marked)
            );
        }
    }
}

/// A frame as the tap shows it: stamped with the bus clock at `at_us`
/// (ISO-TP stamps its frames when it builds them, and a sender's own stamp
/// is not the bus's), without a direction (the tap's argument says it; a
/// frame's own flag is the sender's view, and logged as ` T`/` R` it would
/// make a recording differ from what `candump -l` writes).
fn as_on_the_bus(frame: &CanFrame, at_us: u64) -> CanFrame {
    let mut f = frame.at(at_us);
    f.direction = None;
    f
}

/// An ISO-TP flow control frame (PCI type 3 after any address byte).
fn is_flow_control(frame: &CanFrame, cfg: &IsoTpConfig) -> bool {
    let at = usize::from(cfg.addressing.has_address_byte());
    frame.data().get(at).is_some_and(|pci| pci >> 4 == 3)
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn event_id(ev: &ClientEvent) -> Option<RequestId> {
    match ev {
        ClientEvent::Response { id, .. }
        | ClientEvent::Suppressed { id }
        | ClientEvent::Negative { id, .. }
        | ClientEvent::Failed { id, .. } => Some(*id),
        _ => None,
    }
}
