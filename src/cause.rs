//! The causes a verdict can name: one table, one row per cause, with its
//! stable id, a short title and the words every verdict for it carries.
//! The ids are an interface (JSON output, expected results of captures,
//! scripts, profiles' DTC tables): never rename one.
//!
//! Below both `profile` (whose DTC tables name causes) and `verdict` (whose
//! rules rank them). Must not know evidence, profiles or output formats.

use serde::Serialize;

/// The key-blade check; verdicts leave it out when the user already said
/// how it went.
pub const KEY_BLADE_STEP: &str = "Try the key blade in the trunk key cylinder, if the car has one.";

macro_rules! cause_table {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $id:literal, $title:literal,
        summary: $summary:literal,
        explanation: $explanation:literal,
        next_steps: [$($step:expr,)+];
    )*) => {
        /// A cause the rules can name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[non_exhaustive]
        pub enum Cause {
            $( $(#[doc = $doc])* #[serde(rename = $id)] $variant, )*
        }

        impl Cause {
            /// How many built-in causes there are.
            pub const COUNT: usize = [$($id),*].len();

            /// Every built-in cause, in table order.
            pub const ALL: [Cause; Cause::COUNT] = [$(Cause::$variant),*];

            /// The stable id.
            pub fn id(self) -> &'static str {
                match self { $( Cause::$variant => $id, )* }
            }

            /// A few plain words naming the cause (lists, headings).
            pub fn title(self) -> &'static str {
                match self { $( Cause::$variant => $title, )* }
            }

            /// One plain sentence.
            pub fn summary(self) -> &'static str {
                match self { $( Cause::$variant => $summary, )* }
            }

            /// What the bus picture means, in words a mechanic can check.
            pub fn explanation(self) -> &'static str {
                match self { $( Cause::$variant => $explanation, )* }
            }

            /// Next steps, cheapest first (fob battery, cabin switch, fuse,
            /// key blade, hinge wiring, actuator, latch, BCM).
            pub fn next_steps(self) -> &'static [&'static str] {
                match self { $( Cause::$variant => &[$($step),+], )* }
            }
        }

        /// Every built-in cause id (profiles may add more, never redefine these).
        pub const CAUSE_IDS: [&str; Cause::COUNT] = [$($id),*];
    };
}

cause_table! {
    NoFaultFound = "no-fault-found", "No fault found",
        summary: "The trunk release works end to end: request seen, opener driven, lid opened.",
        explanation: "Each press that was watched reached the BCM, the BCM drove the opener and the lid-open switch changed. If the trunk still fails sometimes, watch again while it fails.",
        next_steps: [
            "If it fails intermittently, watch again while pressing until a failure is captured.",
            "Check the hinge harness by flexing it while pressing the release.",
        ];
    ValetLockout = "valet-lockout", "Valet lockout (trunk cancel switch)",
        summary: "The trunk opener is disabled by the valet / trunk cancel switch.",
        explanation: "The lockout flag was set while trunk requests reached the BCM, and the BCM never drove the opener. The trunk cancel (valet) switch disables the opener by design.",
        next_steps: [
            "Open the glove box and set the trunk cancel (valet) switch to ON (opener enabled).",
            "Press the trunk release again and confirm the lid opens.",
        ];
    ReleaseInhibited = "release-inhibited", "Release inhibited by design",
        summary: "The BCM refused the release by design (vehicle moving, ignition or locks).",
        explanation: "Trunk requests reached the BCM but it did not drive the opener, and the vehicle state at the press is one the BCM refuses by design.",
        next_steps: [
            "Stop the vehicle, shift to Park, turn the ignition OFF and unlock all doors.",
            "Press the trunk release again.",
        ];
    KeyFobBattery = "key-fob-battery", "Key fob battery",
        summary: "The key fob's trunk request never reached the car: most likely a weak fob battery.",
        explanation: "The cabin switch opened the trunk, so the BCM, actuator and latch work; the fob's trunk request never appeared on the bus. A weak fob battery often still locks the doors at short range but not the trunk.",
        next_steps: [
            "Replace the fob battery (usually a CR2032, minutes and a few dollars).",
            "Try the fob's trunk button close to the car.",
            "Try the spare fob: if it works, the first fob is at fault.",
        ];
    KeyFobProgramming = "key-fob-programming", "Key fob programming",
        summary: "The key fob's trunk function does not reach the car although the fob works: fob programming.",
        explanation: "The fob's lock/unlock reaches the car but its trunk request never does, so this is not the fob battery alone: the trunk function may not be programmed to this car.",
        next_steps: [
            "Try the spare fob: if its trunk button works, reprogram or replace the first fob.",
            "Replace the fob battery (CR2032) to rule it out completely.",
            "Have the fob's functions reprogrammed (dealer or locksmith with the programming tool).",
        ];
    TrunkFuse = "trunk-fuse", "Trunk-release fuse",
        summary: "The lid stayed shut after a trunk request: the trunk-release fuse may be blown.",
        explanation: "The BCM drove the opener output but the lid-open switch did not change. With no actuator click, power to the actuator is the first suspect: the fuse is the cheapest check.",
        next_steps: [
            "Check the trunk-release fuse (owner's manual fuse chart) and replace it with the same rating.",
            "If it blows again, look for a short in the hinge harness.",
        ];
    TrunkWiring = "trunk-wiring", "Trunk wiring",
        summary: "The lid stayed shut after a trunk request: a broken or corroded wire, usually in the hinge harness.",
        explanation: "The BCM drove the opener output but the lid did not open; wires flex in the trunk hinge and break or corrode there, often giving a lid that opens on some tries and not others.",
        next_steps: [
            "Check the trunk-release fuse first (cheapest).",
            "Inspect the wiring in the trunk-hinge harness for breaks or corrosion; flex it while pressing the release.",
            "Measure the voltage at the actuator connector while the opener is driven.",
        ];
    TrunkActuator = "trunk-actuator", "Trunk actuator",
        summary: "The lid stayed shut after a trunk request: the trunk actuator (lock motor) may have failed.",
        explanation: "The BCM drove the opener output but the lid did not open; a failed actuator gives no click or a weak one.",
        next_steps: [
            "Check the trunk-release fuse first (cheapest).",
            "Listen at the lid for a click while pressing the release; measure the voltage at the actuator connector.",
            "If voltage arrives but nothing moves, replace the actuator.",
        ];
    TrunkLatch = "trunk-latch", "Trunk latch",
        summary: "The lid stayed shut after a trunk request: the latch may be jammed or seized.",
        explanation: "The BCM drove the opener output and the actuator clicks, but the lid did not open: the latch mechanism itself may be jammed, which also stops the key blade.",
        next_steps: [
            KEY_BLADE_STEP,
            "Press down on the lid while someone presses the release, to free a jammed latch.",
            "Lubricate or replace the latch once the lid is open.",
        ];
    LowBattery = "low-battery", "Low vehicle battery",
        summary: "The vehicle battery is too weak to drive the trunk release reliably.",
        explanation: "A weak battery explains many trunk symptoms: the BCM may drop out, refuse or fail to move the actuator. Fix it before trusting any other finding.",
        next_steps: [
            "Measure the battery at rest (about 12.6 V when healthy) and charge it or jump start the car.",
            "Test or replace the battery, then clear DTCs and try the trunk again.",
        ];
    BcmUnreachable = "bcm-unreachable", "BCM unreachable",
        summary: "The body control module does not answer diagnostics although the bus is alive.",
        explanation: "Diagnostic requests went to the BCM and it never answered, while other modules' frames show the bus is alive. The BCM may be unpowered, disconnected or on another bus, or the profile's address may be wrong.",
        next_steps: [
            "Check the BCM fuses and its connectors.",
            "Confirm the profile matches this vehicle (model years, BCM address).",
            "Have the BCM checked by a shop with the manufacturer's tool.",
        ];
    BcmFault = "bcm-fault", "BCM fault",
        summary: "The body control module reports or shows an internal fault.",
        explanation: "The BCM reported an internal-fault DTC or rejected normal requests with general rejects.",
        next_steps: [
            "Check the battery and BCM fuses first: low voltage causes false internal faults.",
            "Read the DTCs again after clearing them once.",
            "Have the BCM repaired or replaced.",
        ];
    AftermarketInterference = "aftermarket-interference", "Aftermarket interference",
        summary: "An aftermarket alarm or remote start may be interfering with the trunk release.",
        explanation: "Frames from identifiers this model does not have, or requests that never reach the BCM's input, point at an added device (alarm, remote start) on the bus or spliced into the trunk circuit.",
        next_steps: [
            "Look for an added alarm or remote-start module (under the dash, near the BCM or the trunk wiring).",
            "Check whether the alarm has its own trunk output or valet mode; disable or bypass it and try again.",
            "Have the installer remove or repair the device.",
        ];
    NoBusActivity = "no-bus-activity", "No bus activity",
        summary: "Nothing was heard on the CAN bus.",
        explanation: "No frames at all within the listen window: check the adapter and its connection, the bitrate, the ignition (many buses sleep with it OFF) and the OBD connector wiring.",
        next_steps: [
            "Check the adapter's connection and that the interface is up at the right bitrate.",
            "Turn the ignition ON (or wake the car by opening a door) and listen again.",
            "Check the OBD connector's CAN pins (6 and 14) and its fuse.",
        ];
    /// Added by trunkdiag: traffic, but not the bus the profile reads (the
    /// adapter is on other pins, another bus or another bitrate).
    WrongBus = "wrong-bus", "Adapter on another bus",
        summary: "The adapter hears traffic, but not the bus this profile reads: it is connected to another bus, other pins or another bitrate.",
        explanation: "None of the frames the profile expects on its default bus was heard, and the BCM did not answer, while other traffic was on the wire: the car is awake, the adapter is listening somewhere else.",
        next_steps: [
            "Move the adapter to the bus the verdict names (its OBD-II pins and bitrate), or set the interface to that bitrate, and run again.",
            "Check that --profile names this car: another model's bus carries other frames.",
            "If the adapter has a bus switch (HS-CAN / MS-CAN), set it to the named bus.",
        ];
    /// Added by trunkdiag: the evidence at hand cannot locate the fault;
    /// the verdict says what was and was not checked.
    Inconclusive = "inconclusive", "Inconclusive",
        summary: "The evidence gathered cannot locate the fault.",
        explanation: "No rule could separate the causes with what was seen.",
        next_steps: [
            "Press the fob's trunk button and then the cabin switch while the tool watches.",
            "Give what you observed (click heard, key blade, fob range) as observations.",
        ];
}

/// A cause id that is not in the cause table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("no cause `{id}`: expected one of {}", CAUSE_IDS.join(", "))]
pub struct ParseCauseError {
    /// What was given.
    pub id: String,
}

impl std::str::FromStr for Cause {
    type Err = ParseCauseError;

    /// The cause with this stable id.
    fn from_str(id: &str) -> Result<Cause, ParseCauseError> {
        Cause::ALL
            .into_iter()
            .find(|c| c.id() == id)
            .ok_or_else(|| ParseCauseError { id: id.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_round_trip() {
        for (i, c) in Cause::ALL.into_iter().enumerate() {
            assert_eq!(CAUSE_IDS[i], c.id());
            assert_eq!(c.id().parse::<Cause>(), Ok(c));
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.id())
            );
            assert!(!c.title().is_empty(), "{c:?}");
        }
        let e = "flat-tyre".parse::<Cause>().unwrap_err().to_string();
        assert!(
            e.contains("`flat-tyre`") && e.contains("wrong-bus, inconclusive"),
            "{e}"
        );
        let mut ids = CAUSE_IDS.to_vec();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Cause::COUNT);
    }
}
