//! The simulated vehicle: state, the simulated user's presses, the BCM's
//! release logic, the broadcast frames and the diagnostic BCM behind an
//! ISO-TP channel, all sans-IO.

use std::collections::VecDeque;

use crate::diag::{self, Nrc};
use crate::frame::{CanFrame, CanId};
use crate::isotp::{IsoTpChannel, IsoTpConfig, IsoTpEvent};
use crate::profile::{BroadcastFrame, Profile, ReleaseInput, Role};

use super::ecm::Ecm;
use super::relearn::RelearnCar;
use super::reply::ReplyQueue;
use super::responder::{Effect, Responder};
use super::scenario::{DiagPath, FobPath, LidPath, Scenario, ScenarioSpec, Wire};
use super::state::{Source, VehicleState};
use super::SimConfig;
use crate::cause::Cause;

/// A press the simulated user makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Press {
    FobTrunk,
    CabinSwitch,
}

/// Things scheduled to happen to the car.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Happening {
    Press(Press),
    /// The press is over: the request inputs fall back.
    Released,
    OutputOn,
    OutputOff,
    LidOpens,
    /// The user closes the lid again.
    LidCloses,
    /// The person does this relearn step (its index in the profile's).
    RelearnStep(usize),
}

/// How long the BCM's request inputs stay set after a press (long enough
/// for a tester polling the data monitor to see it).
const PRESS_HOLD_US: u64 = 1_000_000;
/// Request seen → output driven.
const OUTPUT_DELAY_US: u64 = 100_000;
/// How long the BCM drives the opener for a press.
const OUTPUT_ON_US: u64 = 1_000_000;
/// Output driven → lid switch reports open.
const LID_DELAY_US: u64 = 200_000;
/// The user closes the lid this long after it opened.
const USER_CLOSES_US: u64 = 2_000_000;

/// A broadcast frame's period: battery frames once a second, the rest
/// every 100 ms (the usual rates on these buses).
fn period_us(frame: &BroadcastFrame) -> u64 {
    if frame.signals.iter().all(|s| s.role == Role::BatteryVoltage) {
        1_000_000
    } else {
        100_000
    }
}

struct Periodic {
    next_at: u64,
    period_us: u64,
    kind: PeriodicKind,
}

enum PeriodicKind {
    /// Index into the profile's broadcast frames.
    Profile(usize),
    /// Another page of a multiplexed profile frame (same id, a selector
    /// value no page of the profile has) whose bits at that frame's signals
    /// read the opposite: decoded as the profile's page it would mislead.
    Decoy(usize),
    /// A node the profile does not know.
    Foreign(CanId),
}

/// A simulated vehicle for one profile and scenario. Sans-IO.
///
/// # Driving it
/// Inputs: [`handle_frame`](Self::handle_frame) for every frame from the bus,
/// [`handle_timeout`](Self::handle_timeout) when the deadline from
/// [`poll_timeout`](Self::poll_timeout) comes. After every input drain
/// [`poll_transmit`](Self::poll_transmit) and put the frames on the bus in
/// order. The first call of any of them starts the car's clock; before that
/// `poll_timeout` is `Some(0)`.
pub struct SimVehicle {
    profile: Profile,
    scenario: Scenario,
    spec: &'static ScenarioSpec,
    cfg: SimConfig,
    state: VehicleState,
    isotp: IsoTpChannel,
    responder: Responder,
    started_at: Option<u64>,
    /// When the presses were scheduled (first tester request or fallback).
    anchored_at: Option<u64>,
    periodic: Vec<Periodic>,
    /// Sorted by time; equal times keep insertion order.
    timeline: Vec<(u64, Happening)>,
    /// Replies waiting for their time, in order.
    replies: ReplyQueue,
    out: VecDeque<CanFrame>,
    /// Turns of GMLAN parameter-id frames: each goes out with another
    /// priority and sender address, as on a real body bus.
    gmlan_counter: u32,
    /// Times the BCM drove the opener (for the intermittent wiring).
    drives: u32,
    foreign_counter: u8,
    /// The engine ECU's OBD-II answers (VIN, voltage), when the profile has a
    /// VIN pattern to identify as.
    ecm: Option<Ecm>,
    /// False when `only_bus` leaves the BCM's bus out: it never answers.
    bcm_heard: bool,
    /// False when `only_bus` leaves the default bus out (where the foreign
    /// nodes of a scenario are).
    default_heard: bool,
    /// A power lid waiting for its relearn (a relearn scenario on a
    /// profile with a procedure).
    relearn: Option<RelearnCar>,
}

impl SimVehicle {
    pub fn new(profile: &Profile, scenario: Scenario, cfg: SimConfig) -> SimVehicle {
        let spec = scenario.spec();
        // A profile without a BCM gets a channel that never hears a request
        // (`handle_frame` passes none to it).
        let mut iso = match profile.bcm() {
            Some(bcm) => {
                let mut iso = IsoTpConfig::new(bcm.response_id, bcm.request_id);
                // The BCM's end: it sends with the source byte, takes the target's.
                iso.addressing = crate::isotp::Addressing::from(bcm.addressing).peer();
                iso
            }
            None => IsoTpConfig::new(CanId::Standard(0x7E8), CanId::Standard(0x7E0)),
        };
        iso.tx_padding = cfg.padding;
        iso.iface = cfg.iface;
        let dtcs = spec
            .dtcs_of_cause
            .map(|cause| {
                profile
                    .dtcs
                    .iter()
                    .filter(|d| {
                        d.cause.as_deref().and_then(|c| c.parse::<Cause>().ok()) == Some(cause)
                    })
                    .map(|d| d.code)
                    .collect()
            })
            .unwrap_or_default();
        let mut state = VehicleState {
            lockout: spec.lockout,
            fob_input: false,
            fob_on_bus: false,
            cabin_input: false,
            trunk_request_on_bus: false,
            output: false,
            lid_open: false,
            ignition: true,
            speed_kmh: spec.speed_kmh,
            gear: sim_gear(profile, spec.speed_kmh > 0.0),
            // The fob's unlock is what shows up when its trunk function is
            // missing, so that car starts locked.
            doors_locked: spec.fob == FobPath::UnlockOnly,
            battery_volts: spec.battery_volts + cfg.battery_offset_volts,
            dtcs,
        };
        let relearn = RelearnCar::new(profile, spec.relearn);
        if let Some(r) = &relearn {
            r.power_lost(&mut state);
        }
        // What an adapter on `only_bus` hears: the default bus carries the
        // engine ECU, the BCM answers on its own bus.
        let on_wire = |bus: Option<&str>| match (&cfg.only_bus, bus) {
            (None, _) => true,
            (Some(only), Some(b)) => only == b,
            (Some(_), None) => false,
        };
        let another_bus = spec.wire == Wire::AnotherBus;
        let bcm_heard =
            profile.bcm().is_some_and(|b| on_wire(Some(b.bus.as_str()))) && !another_bus;
        let ecm_heard = on_wire(profile.default_bus().map(|b| b.name.as_str())) && !another_bus;
        let ecm = if spec.bus_alive && ecm_heard {
            Ecm::new(profile, &cfg)
        } else {
            None
        };
        SimVehicle {
            profile: profile.clone(),
            scenario,
            spec,
            cfg,
            state,
            isotp: IsoTpChannel::new(iso),
            responder: Responder::default(),
            started_at: None,
            anchored_at: None,
            periodic: Vec::new(),
            timeline: Vec::new(),
            replies: ReplyQueue::default(),
            out: VecDeque::new(),
            gmlan_counter: 0,
            drives: 0,
            foreign_counter: 0,
            ecm,
            bcm_heard,
            default_heard: ecm_heard,
            relearn,
        }
    }

    pub fn state(&self) -> &VehicleState {
        &self.state
    }

    pub fn scenario(&self) -> Scenario {
        self.scenario
    }

    /// When the simulated user's presses were scheduled, if they were.
    pub fn presses_anchored_at(&self) -> Option<u64> {
        self.anchored_at
    }

    fn start(&mut self, now_us: u64) {
        if self.started_at.is_some() {
            return;
        }
        self.started_at = Some(now_us);
        if !self.spec.bus_alive {
            return;
        }
        // No body module to be asked: the person starts pressing when the
        // tool starts watching.
        // Nor after a power loss: the person starts on the relearn's steps.
        if self.profile.bcm().is_none() || self.relearn.is_some() {
            self.anchor(now_us);
        }
        // Stagger the frames a little, as separate ECUs would.
        let mut offset = 0;
        let default_bus = self.profile.default_bus().map(|b| b.name.clone());
        for (i, f) in self.profile.frames.iter().enumerate() {
            if self.cfg.only_bus.as_ref().is_some_and(|b| *b != f.bus) {
                continue;
            }
            // The simulated adapter is at the OBD connector: a bus the
            // profile places elsewhere (no pins, e.g. behind a gateway) is
            // heard only when `only_bus` names it.
            let at_connector = self.profile.bus(&f.bus).is_none_or(|b| !b.off_connector);
            if self.cfg.only_bus.is_none() && !at_connector {
                continue;
            }
            if self.spec.wire == Wire::AnotherBus && default_bus.as_ref() == Some(&f.bus) {
                continue;
            }
            offset += 7_000;
            self.periodic.push(Periodic {
                next_at: now_us + offset,
                period_us: period_us(f),
                kind: PeriodicKind::Profile(i),
            });
            if f.selector.is_some() {
                offset += 7_000;
                self.periodic.push(Periodic {
                    next_at: now_us + offset,
                    period_us: period_us(f),
                    kind: PeriodicKind::Decoy(i),
                });
            }
        }
        // On another bus, the foreign nodes are that bus's own modules.
        let foreign = if self.default_heard || self.spec.wire == Wire::AnotherBus {
            self.spec.foreign
        } else {
            &[]
        };
        for &(id, period_ms) in foreign {
            offset += 7_000;
            if let Some(id) = CanId::standard(u32::from(id)) {
                self.periodic.push(Periodic {
                    next_at: now_us + offset,
                    period_us: u64::from(period_ms) * 1000,
                    kind: PeriodicKind::Foreign(id),
                });
            }
        }
    }

    /// Schedules the user's presses relative to `at`.
    fn anchor(&mut self, at: u64) {
        if self.anchored_at.is_some() || !self.spec.bus_alive {
            return;
        }
        self.anchored_at = Some(at);
        if let Some(r) = &self.relearn {
            let check = r.check_at();
            for (offset, k) in r.actions() {
                self.schedule(at.saturating_add(offset), Happening::RelearnStep(k));
            }
            self.schedule(at.saturating_add(check), Happening::Press(Press::FobTrunk));
        }
        if !self.spec.presses {
            return;
        }
        let presses = self.cfg.presses.clone();
        for (offset, press) in presses {
            self.schedule(at.saturating_add(offset), Happening::Press(press));
        }
    }

    fn schedule(&mut self, at: u64, h: Happening) {
        let pos = self.timeline.partition_point(|(t, _)| *t <= at);
        self.timeline.insert(pos, (at, h));
    }

    /// A frame from the bus.
    pub fn handle_frame(&mut self, now_us: u64, frame: &CanFrame) {
        self.start(now_us);
        if let Some(ecm) = self.ecm.as_mut() {
            ecm.handle_frame(now_us, frame, self.state.battery_volts);
        }
        if !self.spec.bus_alive
            || self.profile.bcm().map(|b| b.request_id) != Some(frame.id)
            || !self.isotp.config().addressing.accepts(frame.data())
        {
            // Another module's request (or another sub-address on the id).
            return;
        }
        self.anchor(now_us);
        if self.spec.diag == DiagPath::Silent || !self.bcm_heard {
            return;
        }
        self.isotp.handle_frame(now_us, frame);
        self.after_isotp(now_us);
    }

    /// The deadline from [`poll_timeout`](Self::poll_timeout) has come.
    pub fn handle_timeout(&mut self, now_us: u64) {
        self.start(now_us);
        if !self.spec.bus_alive {
            return;
        }
        if self.anchored_at.is_none() {
            if let (Some(wait), Some(t0)) = (self.cfg.tester_wait_us, self.started_at) {
                if now_us >= t0.saturating_add(wait) {
                    self.anchor(t0.saturating_add(wait));
                }
            }
        }
        self.responder.expire(now_us, self.cfg.s3_us);
        while let Some(&(t, h)) = self.timeline.first() {
            if t > now_us {
                break;
            }
            self.timeline.remove(0);
            self.happen(t, h);
        }
        for i in 0..self.periodic.len() {
            let due = self.periodic.get(i).is_some_and(|p| p.next_at <= now_us);
            if due {
                self.emit_periodic(i, now_us);
            }
        }
        self.isotp.handle_timeout(now_us);
        self.after_isotp(now_us);
        if let Some(ecm) = self.ecm.as_mut() {
            ecm.handle_timeout(now_us);
        }
    }

    /// The VIN the simulated engine ECU answers with, if any.
    pub fn vin(&self) -> Option<&str> {
        self.ecm.as_ref().map(Ecm::vin)
    }

    /// The next frame to put on the bus, stamped `now_us`.
    pub fn poll_transmit(&mut self, now_us: u64) -> Option<CanFrame> {
        self.start(now_us);
        // No direction on the wire: ISO-TP marks its frames Tx, but the
        // virtual bus delivers frames as they are, and a receiver that logs
        // directions must not see the car's frames as its own.
        let f = match self.isotp.poll_transmit(now_us) {
            Some(f) => f,
            None => match self.ecm.as_mut().and_then(|e| e.poll_transmit(now_us)) {
                Some(f) => f,
                None => self.out.pop_front()?,
            },
        };
        let mut f = f.at(now_us);
        f.direction = None;
        Some(f)
    }

    /// The earliest time [`handle_timeout`](Self::handle_timeout) has work.
    pub fn poll_timeout(&self) -> Option<u64> {
        let Some(t0) = self.started_at else {
            return Some(0);
        };
        if !self.spec.bus_alive {
            return None;
        }
        let anchor = match (self.anchored_at, self.cfg.tester_wait_us) {
            (None, Some(w)) => Some(t0.saturating_add(w)),
            _ => None,
        };
        let reply = self.replies.next_due();
        [
            anchor,
            reply,
            self.timeline.first().map(|t| t.0),
            self.periodic.iter().map(|p| p.next_at).min(),
            self.isotp.poll_timeout(),
            self.ecm.as_ref().and_then(Ecm::poll_timeout),
            self.responder.session_deadline(self.cfg.s3_us),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn emit_periodic(&mut self, i: usize, now_us: u64) {
        let Some(p) = self.periodic.get_mut(i) else {
            return;
        };
        // Keep the phase; after a long gap send once, not a burst.
        while p.next_at <= now_us {
            p.next_at = p.next_at.saturating_add(p.period_us.max(1));
        }
        let frame = match p.kind {
            PeriodicKind::Profile(fi) => {
                self.gmlan_counter = self.gmlan_counter.wrapping_add(1);
                let turn = self.gmlan_counter;
                self.profile.frames.get(fi).and_then(|f| {
                    let frame = encode_frame(f, &self.state)?;
                    match f.gmlan_arbitration_id {
                        Some(arb) => gmlan_sender_varied(frame, arb, turn),
                        None => Some(frame),
                    }
                })
            }
            PeriodicKind::Decoy(fi) => self
                .profile
                .frames
                .get(fi)
                .and_then(|f| decoy_page(&self.profile, f, &self.state)),
            PeriodicKind::Foreign(id) => {
                self.foreign_counter = self.foreign_counter.wrapping_add(1);
                let c = self.foreign_counter;
                CanFrame::classic(id, &[0x5A, c, 0x00, 0x10, 0x00, 0x00, 0x00, c ^ 0xFF]).ok()
            }
        };
        if let Some(f) = frame {
            self.out.push_back(f.on(self.cfg.iface));
        }
    }

    fn after_isotp(&mut self, now_us: u64) {
        while let Some(ev) = self.isotp.poll_event() {
            match ev {
                IsoTpEvent::Received { payload, .. } => self.request(now_us, &payload),
                IsoTpEvent::Sent { .. } | IsoTpEvent::Error(_) => self.replies.channel_free(),
            }
        }
        self.send_due_replies(now_us);
    }

    fn send_due_replies(&mut self, now_us: u64) {
        self.replies.send_due(now_us, &mut self.isotp);
    }

    fn request(&mut self, now_us: u64, payload: &[u8]) {
        // The relearn's calibration routine, when the profile has one.
        if let Some(reply) = self.relearn.as_mut().and_then(|r| r.routine(payload)) {
            self.replies
                .push(now_us.saturating_add(self.cfg.p2_us), reply);
            return;
        }
        let answer =
            self.responder
                .answer(&self.profile, &self.state, self.spec.diag, payload, now_us);
        match answer.effect {
            Effect::None => {}
            Effect::ClearDtcs => self.state.dtcs.clear(),
            Effect::ActiveTestStart => self.active_test(now_us),
            Effect::ActiveTestStop => {
                self.state.output = false;
            }
        }
        // GMLAN UUDT answers: single frames on the request id + 0x300.
        let uudt_id = self
            .profile
            .bcm()
            .and_then(|b| diag::gmlan::uudt_id(b.request_id));
        if let Some(id) = uudt_id {
            for data in &answer.uudt {
                if let Ok(f) = CanFrame::classic(id, data) {
                    self.out.push_back(f.on(self.cfg.iface));
                }
            }
        }
        let Some(reply) = answer.reply else {
            return;
        };
        let due = now_us.saturating_add(self.cfg.p2_us);
        if answer.slow && self.cfg.pending_us > 0 {
            if let Some(&sid) = payload.first() {
                self.replies
                    .push(due, diag::negative(sid, Nrc::ResponsePending));
            }
            self.replies
                .push(due.saturating_add(self.cfg.pending_us), reply);
        } else {
            self.replies.push(due, reply);
        }
    }

    fn active_test(&mut self, now_us: u64) {
        let max = self
            .profile
            .active_test()
            .map_or(5_000_000, |a| u64::from(a.max_duration_ms) * 1000);
        // The active test bypasses the request path but not the hardware.
        self.state.output = true;
        self.schedule(now_us.saturating_add(max), Happening::OutputOff);
        self.lid_reacts(now_us);
    }

    fn happen(&mut self, t: u64, h: Happening) {
        match h {
            Happening::Press(p) => self.press(t, p),
            Happening::Released => {
                self.state.fob_input = false;
                self.state.fob_on_bus = false;
                self.state.cabin_input = false;
                self.state.trunk_request_on_bus = false;
            }
            Happening::OutputOn => self.state.output = true,
            Happening::OutputOff => self.state.output = false,
            Happening::LidOpens => {
                if !self.state.lid_open {
                    self.state.lid_open = true;
                    self.schedule(t.saturating_add(USER_CLOSES_US), Happening::LidCloses);
                }
            }
            Happening::LidCloses => self.state.lid_open = false,
            Happening::RelearnStep(k) => {
                if let Some(r) = &self.relearn {
                    r.act(k, &mut self.state);
                }
            }
        }
        // The body module follows the relearn's steps as the car shows them.
        if let Some(r) = self.relearn.as_mut() {
            r.observe(&self.state);
        }
    }

    fn press(&mut self, t: u64, press: Press) {
        // The person says what they pressed, whatever reaches the car, when
        // the car's bus would not show it.
        let pressed = match press {
            Press::FobTrunk => ReleaseInput::Fob,
            Press::CabinSwitch => ReleaseInput::Cabin,
        };
        if self.profile.takes_told_presses() {
            if let Some(told) = &self.cfg.told.0 {
                if let Ok(mut v) = told.lock() {
                    v.push((t, pressed));
                }
            }
        }
        let input = match press {
            Press::FobTrunk => match self.spec.fob {
                FobPath::Works => {
                    self.state.fob_input = true;
                    self.state.fob_on_bus = true;
                    self.state.trunk_request_on_bus = true;
                    Some(ReleaseInput::Fob)
                }
                FobPath::Lost => None,
                FobPath::UnlockOnly => {
                    self.state.doors_locked = false;
                    None
                }
                FobPath::BusOnly => {
                    self.state.fob_on_bus = true;
                    self.state.trunk_request_on_bus = true;
                    None
                }
            },
            Press::CabinSwitch => {
                self.state.cabin_input = true;
                self.state.trunk_request_on_bus = true;
                Some(ReleaseInput::Cabin)
            }
        };
        self.schedule(t.saturating_add(PRESS_HOLD_US), Happening::Released);
        let Some(input) = input else { return };
        // A power lid not yet relearned ignores the request.
        let disabled = self.relearn.as_ref().is_some_and(|r| !r.done());
        if !self.spec.bcm_acts || disabled || self.blocked(input) {
            return;
        }
        self.schedule(t.saturating_add(OUTPUT_DELAY_US), Happening::OutputOn);
        self.schedule(
            t.saturating_add(OUTPUT_DELAY_US + OUTPUT_ON_US),
            Happening::OutputOff,
        );
        self.lid_reacts(t.saturating_add(OUTPUT_DELAY_US));
    }

    /// The scenario's refusal, or the profile's release conditions applied
    /// to the state.
    fn blocked(&self, input: ReleaseInput) -> bool {
        self.spec.inhibited
            || self.profile.release_conditions.iter().any(|c| {
                c.inputs.contains(&input) && c.blocks(self.state.value(c.role, Source::Data))
            })
    }

    /// The output was just driven at `t`: does the lid open?
    fn lid_reacts(&mut self, t: u64) {
        self.drives += 1;
        let opens = match self.spec.lid {
            LidPath::Opens => true,
            LidPath::StaysShut => false,
            LidPath::FailsFirst => self.drives > 1,
        };
        if opens {
            self.schedule(t.saturating_add(LID_DELAY_US), Happening::LidOpens);
        }
    }
}

/// The gear code a stationary car (Park) or a moving one (Drive) shows:
/// Park is the code a `gear` release condition names; Drive the value the
/// gear item names "Drive" or "D", else Park + 1.
fn sim_gear(profile: &Profile, moving: bool) -> f64 {
    let park = profile
        .release_conditions
        .iter()
        .find_map(|c| match (c.role, &c.test) {
            (Role::Gear, crate::profile::ConditionTest::Not { value }) => Some(*value),
            _ => None,
        })
        .unwrap_or(0.0);
    if !moving {
        return park;
    }
    profile
        .fields()
        .filter(|f| f.role == Role::Gear)
        .flat_map(|f| f.values.iter())
        .find(|v| {
            let n = v.name.to_ascii_lowercase();
            n == "d" || n == "drive"
        })
        .map_or(park + 1.0, |v| v.raw as f64)
}

/// A broadcast frame with every signal encoded from the state.
pub(crate) fn encode_frame(f: &BroadcastFrame, state: &VehicleState) -> Option<CanFrame> {
    let len = f
        .signals
        .iter()
        .map(|s| s.bits.min_payload_len())
        .max()
        .unwrap_or(0)
        .max(8);
    let mut data = vec![0u8; len];
    // Info views first: the fields the rules read have the last word on
    // the bits they share with one.
    let (info, rest): (Vec<_>, Vec<_>) = f.signals.iter().partition(|s| s.role == Role::Info);
    for s in info.into_iter().chain(rest) {
        let _ = s.encode(&mut data, state.value(s.role, Source::Broadcast));
    }
    if let Some(sel) = f.selector {
        if let Some(b) = data.get_mut(usize::from(sel.byte)) {
            *b = sel.value;
        }
    }
    CanFrame::classic(f.id, &data).ok()
}

/// A GMLAN parameter-id frame with the priority and sender address of this
/// turn (4/0x00, 0/0x00 as opendbc's two GM body DBCs write the same frame,
/// 6/0x40): only the 13-bit arbitration id names the frame.
fn gmlan_sender_varied(frame: CanFrame, arb: u16, turn: u32) -> Option<CanFrame> {
    const SENDERS: [(u32, u32); 3] = [(4, 0x00), (0, 0x00), (6, 0x40)];
    let (prio, source) = SENDERS[(turn % 3) as usize];
    let raw = (prio << 26) | (u32::from(arb & 0x1FFF) << 13) | source;
    CanFrame::classic(CanId::Extended(raw), frame.data()).ok()
}

/// Another page of the multiplexed frame `f`: a selector value none of the
/// profile's pages on that id has, and every bit of `f`'s signals flipped.
fn decoy_page(profile: &Profile, f: &BroadcastFrame, state: &VehicleState) -> Option<CanFrame> {
    let sel = f.selector?;
    let taken = |v: u8| {
        profile
            .frames
            .iter()
            .any(|p| p.id == f.id && p.selector.is_some_and(|s| s.value == v))
    };
    let value = (1..=255u8)
        .map(|k| sel.value.wrapping_add(k))
        .find(|&v| !taken(v))?;
    let page = encode_frame(f, state)?;
    let mut data = page.data().to_vec();
    for s in &f.signals {
        for bit in s.bits.bits() {
            if let Some(b) = usize::try_from(bit / 8).ok().and_then(|i| data.get_mut(i)) {
                *b ^= 1 << (bit % 8);
            }
        }
    }
    if let Some(b) = data.get_mut(usize::from(sel.byte)) {
        *b = value;
    }
    CanFrame::classic(f.id, &data).ok()
}
