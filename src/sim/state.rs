//! What the simulated car is doing right now, and how a profile item reads
//! it. Below both the vehicle (which changes it) and the BCM responder
//! (which answers data reads from it).

use crate::diag::Dtc;
use crate::profile::Role;

/// Where a value is read: the BCM's own view (data reads) or the bus
/// (broadcast frames). They differ when something on the bus announces a
/// request the BCM never sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Data,
    Broadcast,
}

/// Everything the profile can show about the car.
#[derive(Clone, Debug, PartialEq)]
pub struct VehicleState {
    pub lockout: bool,
    /// The BCM's key-fob trunk request input.
    pub fob_input: bool,
    /// A fob trunk request announced on the bus.
    pub fob_on_bus: bool,
    /// The BCM's cabin switch input.
    pub cabin_input: bool,
    /// Any trunk request announced on the bus.
    pub trunk_request_on_bus: bool,
    /// The BCM drives the opener.
    pub output: bool,
    pub lid_open: bool,
    pub ignition: bool,
    pub speed_kmh: f64,
    /// The gear selector's code as the profile's gear item reads it.
    pub gear: f64,
    pub doors_locked: bool,
    pub battery_volts: f64,
    pub dtcs: Vec<Dtc>,
}

impl VehicleState {
    /// The physical value of a role, as the profile's items would read it.
    pub fn value(&self, role: Role, source: Source) -> f64 {
        let b = |x: bool| if x { 1.0 } else { 0.0 };
        match role {
            Role::Lockout => b(self.lockout),
            Role::FobTrunkRequest => match source {
                Source::Data => b(self.fob_input),
                Source::Broadcast => b(self.fob_on_bus),
            },
            Role::CabinTrunkRequest => b(self.cabin_input),
            Role::TrunkRequest => b(self.trunk_request_on_bus),
            Role::OpenerOutput => b(self.output),
            Role::LidOpen => b(self.lid_open),
            Role::IgnitionOn => b(self.ignition),
            Role::SpeedKmh => self.speed_kmh,
            Role::Gear => self.gear,
            Role::BatteryVoltage => self.battery_volts,
            Role::DoorsLocked | Role::DriverDoorLocked => b(self.doors_locked),
            _ => 0.0,
        }
    }

    /// Sets what a role reads (both on the bus and in data replies), for
    /// the simulated person's relearn steps; roles of a press or the opener
    /// are the car's own doing and are left alone.
    pub fn set(&mut self, role: Role, value: f64) {
        let on = value != 0.0;
        match role {
            Role::Lockout => self.lockout = on,
            Role::LidOpen => self.lid_open = on,
            Role::IgnitionOn => self.ignition = on,
            Role::SpeedKmh => self.speed_kmh = value,
            Role::Gear => self.gear = value,
            Role::BatteryVoltage => self.battery_volts = value,
            Role::DoorsLocked | Role::DriverDoorLocked => self.doors_locked = on,
            _ => {}
        }
    }
}
