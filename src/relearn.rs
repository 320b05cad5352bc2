//! Relearn: watching a power lid's re-initialisation, step by step, on the
//! bus. A profile's `[relearn]` steps each name what confirms them (a value
//! a profile item reads, or a UDS routine's result); a [`Watch`] is told
//! every frame and data reply and says when and where its step was seen.
//! Sans-IO: no clock, no bus, no terminal (`cli::relearn` drives it over a
//! `Tester` and talks to the person).
//!
//! Owns: the step's confirmation test, its evidence ([`Sighting`]), the
//! reading of a routine's result, and the end-of-procedure check. Must not
//! know about transports, JSON or exit codes.

use serde::Serialize;

use crate::diag::uds;
use crate::frame::CanFrame;
use crate::profile::{Confirm, DataKey, ItemRef, Level, Profile, Role};

/// Where and when a step's value was seen: the evidence of a step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sighting {
    /// Bus time of the frame or reply, microseconds.
    pub at_us: u64,
    /// `0x620 [byte 0 = 0x10]`, `UDS 22 BC03`.
    pub frame: String,
    /// The profile item that read it, and how much it is known.
    pub item: String,
    pub level: Level,
    #[serde(skip)]
    pub item_ref: ItemRef,
    /// The value before (for a change), if one was seen.
    pub from: Option<f64>,
    pub value: f64,
    /// The value's name in the profile (`closed`), if it gives one.
    pub value_name: Option<String>,
}

impl Sighting {
    /// `BCTY (back door courtesy switch) on 0x620 [byte 0 = 0x10]: 1 → 0 (closed)`.
    pub fn words(&self) -> String {
        let value = match &self.value_name {
            Some(n) => format!("{} ({n})", self.value),
            None => format!("{}", self.value),
        };
        match self.from {
            Some(f) => format!("{} on {}: {f} → {value}", self.item, self.frame),
            None => format!("{} on {}: {value}", self.item, self.frame),
        }
    }
}

/// Watches one role for one value: a step's `becomes` / `equals`, or the
/// final check that the lid opens.
#[derive(Debug)]
pub struct Watch<'p> {
    profile: &'p Profile,
    role: Role,
    value: f64,
    /// A change to the value is needed (`becomes`), not just a reading.
    change: bool,
    /// The last value of each item carrying the role.
    last: Vec<(ItemRef, f64)>,
    /// The first reading was the value already (a `becomes` step then
    /// needs the person to undo and redo it).
    already: Option<bool>,
}

impl<'p> Watch<'p> {
    /// The watch for a step's confirmation; `None` for a routine.
    pub fn new(profile: &'p Profile, confirm: &Confirm) -> Option<Watch<'p>> {
        match *confirm {
            Confirm::Becomes { role, value } => Some(Watch::of(profile, role, value, true)),
            Confirm::Equals { role, value } => Some(Watch::of(profile, role, value, false)),
            Confirm::Routine { .. } => None,
        }
    }

    /// The end-of-procedure check: the lid opens (`lid_open` becomes 1).
    pub fn lid_opens(profile: &'p Profile) -> Watch<'p> {
        Watch::of(profile, Role::LidOpen, 1.0, true)
    }

    fn of(profile: &'p Profile, role: Role, value: f64, change: bool) -> Watch<'p> {
        Watch {
            profile,
            role,
            value,
            change,
            last: Vec::new(),
            already: None,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the first value read was already the one awaited, for a
    /// step that needs a change; `None` before any reading.
    pub fn already(&self) -> Option<bool> {
        self.already.filter(|_| self.change)
    }

    /// The last value read of the role, by any item.
    pub fn last_value(&self) -> Option<f64> {
        self.last.last().map(|(_, v)| *v)
    }

    /// A frame from the bus: the step's sighting when it shows it.
    pub fn frame(&mut self, f: &CanFrame) -> Option<Sighting> {
        let mut hits: Vec<(ItemRef, f64)> = Vec::new();
        let role = self.role;
        if !self.profile.decode_broadcast(f, |item, r, v| {
            if r == role {
                hits.push((item, v));
            }
        }) {
            return None;
        }
        let mut seen = None;
        for (item, v) in hits {
            if let Some(s) = self.see(f.timestamp_us, item, v) {
                seen.get_or_insert_with(|| {
                    self.sighting(f.timestamp_us, item, v, s, frame_of(self.profile, f))
                });
            }
        }
        seen
    }

    /// A positive data reply to `key` (the payload after its echo).
    pub fn data(&mut self, at_us: u64, key: DataKey, data: &[u8]) -> Option<Sighting> {
        let mut hits: Vec<(ItemRef, f64)> = Vec::new();
        let role = self.role;
        self.profile.decode_data(key, data, |item, r, v| {
            if r == role {
                hits.push((item, v));
            }
        });
        let mut seen = None;
        for (item, v) in hits {
            if let Some(s) = self.see(at_us, item, v) {
                seen.get_or_insert_with(|| self.sighting(at_us, item, v, s, key.to_string()));
            }
        }
        seen
    }

    /// Records a reading; `Some(from)` when it confirms the step (`from`:
    /// the value before, for a change).
    fn see(&mut self, _at_us: u64, item: ItemRef, v: f64) -> Option<Option<f64>> {
        let before = self.last.iter().find(|(i, _)| *i == item).map(|(_, v)| *v);
        self.last.retain(|(i, _)| *i != item);
        self.last.push((item, v));
        if self.already.is_none() {
            self.already = Some(v == self.value);
        }
        if v != self.value {
            return None;
        }
        if !self.change {
            return Some(before);
        }
        match before {
            Some(b) if b != self.value => Some(Some(b)),
            _ => None,
        }
    }

    fn sighting(
        &self,
        at_us: u64,
        item: ItemRef,
        v: f64,
        from: Option<f64>,
        frame: String,
    ) -> Sighting {
        let info = self.profile.item(item);
        let value_name = self
            .profile
            .fields()
            .find(|f| f.item == item)
            .and_then(|f| f.value_name(v as i64))
            .map(str::to_owned);
        Sighting {
            at_us,
            frame,
            item: info.map_or_else(|| self.role.to_string(), |i| i.name.clone()),
            level: info.map_or(Level::Placeholder, |i| i.level),
            item_ref: item,
            from,
            value: v,
            value_name,
        }
    }
}

/// The label of the profile frame (the page, for a multiplexed id) a frame is.
fn frame_of(profile: &Profile, f: &CanFrame) -> String {
    let first = profile.broadcast_index(f.id);
    let mut at = first;
    while let Some(fr) = at.and_then(|i| profile.frames.get(i)) {
        if fr.selector.is_none_or(|s| s.matches(f.data())) {
            return fr.label();
        }
        at = fr.next_same_id;
    }
    format!("0x{}", f.id)
}

/// What a routine's result (`71 03 <id> <status>`) says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutineResult {
    Pass,
    Fail,
    /// Neither: still running, or a status the profile does not name.
    Other,
}

/// Reads a positive answer to `31 03 <id>` against the step's pass and
/// fail bytes; `None` when it is not that answer.
pub fn routine_result(id: u16, pass: &[u8], fail: &[u8], payload: &[u8]) -> Option<RoutineResult> {
    let r = uds::parse_routine_control(payload, uds::routine::REQUEST_RESULTS, id).ok()?;
    Some(if r.status.starts_with(pass) {
        RoutineResult::Pass
    } else if r.status.starts_with(fail) {
        RoutineResult::Fail
    } else {
        RoutineResult::Other
    })
}

/// The data read that carries `role` when no broadcast signal does (it is
/// then polled); `None` when the bus shows the role by itself.
pub fn polled_read(profile: &Profile, role: Role) -> Option<DataKey> {
    let broadcast = profile
        .frames
        .iter()
        .any(|f| f.signals.iter().any(|s| s.role == role));
    if broadcast {
        return None;
    }
    profile
        .data_reads()
        .iter()
        .find(|r| r.fields.iter().any(|f| f.role == role))
        .map(|r| r.key)
}

/// What the relearn rests on below "this model": the procedure, its steps
/// and the items that confirmed them, by level (strongest first), each
/// item once.
pub fn rests_on(profile: &Profile, used: &[ItemRef]) -> Vec<(Level, Vec<String>)> {
    let mut refs: Vec<ItemRef> = Vec::new();
    if let Some(r) = &profile.relearn {
        refs.push(r.item);
        refs.extend(r.steps.iter().map(|s| s.item));
    }
    for u in used {
        if !refs.contains(u) {
            refs.push(*u);
        }
    }
    Level::ALL
        .into_iter()
        .filter(|l| *l != Level::ThisModel)
        .filter_map(|level| {
            let names: Vec<String> = refs
                .iter()
                .filter_map(|r| profile.item(*r))
                .filter(|i| i.level == level)
                .map(|i| i.label())
                .collect();
            (!names.is_empty()).then_some((level, names))
        })
        .collect()
}

#[cfg(test)]
mod tests;
