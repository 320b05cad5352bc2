//! The words of each verdict: summary, explanation and next steps per cause,
//! and the safety lines that always apply (diagnosis.md). Kept apart from the
//! rules so wording changes never touch logic.

use super::Cause;

/// Lines that come with every verdict (diagnosis.md, "What a verdict tells the user").
pub const SAFETY: [&str; 5] = [
    "Stop somewhere safe before working on the car.",
    "Do not pry or drill the trunk lid.",
    "If a person or pet may be inside the trunk, call emergency services at once.",
    "Do not keep firing the electric release on a weak battery.",
    "When items inside are urgent, prefer roadside assistance or a licensed locksmith.",
];

/// What every unverified verdict says, followed by the items it rests on.
/// The key-blade check; left out when the user already said how it went.
pub const KEY_BLADE_STEP: &str = "Try the key blade in the trunk key cylinder, if the car has one.";

pub const UNVERIFIED_NOTE: &str = "rests on an unverified mapping: confirm on the vehicle";

/// One plain sentence.
pub fn summary(c: Cause) -> &'static str {
    match c {
        Cause::NoFaultFound => "The trunk release works end to end: request seen, opener driven, lid opened.",
        Cause::ValetLockout => "The trunk opener is disabled by the valet / trunk cancel switch.",
        Cause::ReleaseInhibited => "The BCM refused the release by design (vehicle moving, ignition or locks).",
        Cause::KeyFobBattery => "The key fob's trunk request never reached the car: most likely a weak fob battery.",
        Cause::KeyFobProgramming => "The key fob's trunk function does not reach the car although the fob works: fob programming.",
        Cause::TrunkFuse => "The lid stayed shut after a trunk request: the trunk-release fuse may be blown.",
        Cause::TrunkWiring => "The lid stayed shut after a trunk request: a broken or corroded wire, usually in the hinge harness.",
        Cause::TrunkActuator => "The lid stayed shut after a trunk request: the trunk actuator (lock motor) may have failed.",
        Cause::TrunkLatch => "The lid stayed shut after a trunk request: the latch may be jammed or seized.",
        Cause::LowBattery => "The vehicle battery is too weak to drive the trunk release reliably.",
        Cause::BcmUnreachable => "The body control module does not answer diagnostics although the bus is alive.",
        Cause::BcmFault => "The body control module reports or shows an internal fault.",
        Cause::AftermarketInterference => "An aftermarket alarm or remote start may be interfering with the trunk release.",
        Cause::NoBusActivity => "Nothing was heard on the CAN bus.",
        Cause::Inconclusive => "The evidence gathered cannot locate the fault.",
    }
}

/// What the bus picture means, in words a mechanic can check.
pub fn explanation(c: Cause) -> &'static str {
    match c {
        Cause::NoFaultFound => "Each press that was watched reached the BCM, the BCM drove the opener and the lid-open switch changed. If the trunk still fails sometimes, watch again while it fails.",
        Cause::ValetLockout => "The lockout flag was set while trunk requests reached the BCM, and the BCM never drove the opener. The trunk cancel (valet) switch disables the opener by design.",
        Cause::ReleaseInhibited => "Trunk requests reached the BCM but it did not drive the opener, and the vehicle state at the press is one the BCM refuses by design.",
        Cause::KeyFobBattery => "The cabin switch opened the trunk, so the BCM, actuator and latch work; the fob's trunk request never appeared on the bus. A weak fob battery often still locks the doors at short range but not the trunk.",
        Cause::KeyFobProgramming => "The fob's lock/unlock reaches the car but its trunk request never does, so this is not the fob battery alone: the trunk function may not be programmed to this car.",
        Cause::TrunkFuse => "The BCM drove the opener output but the lid-open switch did not change. With no actuator click, power to the actuator is the first suspect: the fuse is the cheapest check.",
        Cause::TrunkWiring => "The BCM drove the opener output but the lid did not open; wires flex in the trunk hinge and break or corrode there, often giving a lid that opens on some tries and not others.",
        Cause::TrunkActuator => "The BCM drove the opener output but the lid did not open; a failed actuator gives no click or a weak one.",
        Cause::TrunkLatch => "The BCM drove the opener output and the actuator clicks, but the lid did not open: the latch mechanism itself may be jammed, which also stops the key blade.",
        Cause::LowBattery => "A weak battery explains many trunk symptoms: the BCM may drop out, refuse or fail to move the actuator. Fix it before trusting any other finding.",
        Cause::BcmUnreachable => "Diagnostic requests went to the BCM and it never answered, while other modules' frames show the bus is alive. The BCM may be unpowered, disconnected or on another bus, or the profile's address may be wrong.",
        Cause::BcmFault => "The BCM reported an internal-fault DTC or rejected normal requests with general rejects.",
        Cause::AftermarketInterference => "Frames from identifiers this model does not have, or requests that never reach the BCM's input, point at an added device (alarm, remote start) on the bus or spliced into the trunk circuit.",
        Cause::NoBusActivity => "No frames at all within the listen window: check the adapter and its connection, the bitrate, the ignition (many buses sleep with it OFF) and the OBD connector wiring.",
        Cause::Inconclusive => "No rule could separate the causes with what was seen.",
    }
}

/// Next steps, cheapest first (diagnosis.md: fob battery, cabin switch, fuse,
/// key blade, hinge wiring, actuator, latch, BCM).
pub fn next_steps(c: Cause) -> &'static [&'static str] {
    match c {
        Cause::NoFaultFound => &[
            "If it fails intermittently, watch again while pressing until a failure is captured.",
            "Check the hinge harness by flexing it while pressing the release.",
        ],
        Cause::ValetLockout => &[
            "Open the glove box and set the trunk cancel (valet) switch to ON (opener enabled).",
            "Press the trunk release again and confirm the lid opens.",
        ],
        Cause::ReleaseInhibited => &[
            "Stop the vehicle, shift to Park, turn the ignition OFF and unlock all doors.",
            "Press the trunk release again.",
        ],
        Cause::KeyFobBattery => &[
            "Replace the fob battery (usually a CR2032, minutes and a few dollars).",
            "Try the fob's trunk button close to the car.",
            "Try the spare fob: if it works, the first fob is at fault.",
        ],
        Cause::KeyFobProgramming => &[
            "Try the spare fob: if its trunk button works, reprogram or replace the first fob.",
            "Replace the fob battery (CR2032) to rule it out completely.",
            "Have the fob's functions reprogrammed (dealer or locksmith with the programming tool).",
        ],
        Cause::TrunkFuse => &[
            "Check the trunk-release fuse (owner's manual fuse chart) and replace it with the same rating.",
            "If it blows again, look for a short in the hinge harness.",
        ],
        Cause::TrunkWiring => &[
            "Check the trunk-release fuse first (cheapest).",
            "Inspect the wiring in the trunk-hinge harness for breaks or corrosion; flex it while pressing the release.",
            "Measure the voltage at the actuator connector while the opener is driven.",
        ],
        Cause::TrunkActuator => &[
            "Check the trunk-release fuse first (cheapest).",
            "Listen at the lid for a click while pressing the release; measure the voltage at the actuator connector.",
            "If voltage arrives but nothing moves, replace the actuator.",
        ],
        Cause::TrunkLatch => &[
            KEY_BLADE_STEP,
            "Press down on the lid while someone presses the release, to free a jammed latch.",
            "Lubricate or replace the latch once the lid is open.",
        ],
        Cause::LowBattery => &[
            "Measure the battery at rest (about 12.6 V when healthy) and charge it or jump start the car.",
            "Test or replace the battery, then clear DTCs and try the trunk again.",
        ],
        Cause::BcmUnreachable => &[
            "Check the BCM fuses and its connectors.",
            "Confirm the profile matches this vehicle (model years, BCM address).",
            "Have the BCM checked by a shop with the manufacturer's tool.",
        ],
        Cause::BcmFault => &[
            "Check the battery and BCM fuses first: low voltage causes false internal faults.",
            "Read the DTCs again after clearing them once.",
            "Have the BCM repaired or replaced.",
        ],
        Cause::AftermarketInterference => &[
            "Look for an added alarm or remote-start module (under the dash, near the BCM or the trunk wiring).",
            "Check whether the alarm has its own trunk output or valet mode; disable or bypass it and try again.",
            "Have the installer remove or repair the device.",
        ],
        Cause::NoBusActivity => &[
            "Check the adapter's connection and that the interface is up at the right bitrate.",
            "Turn the ignition ON (or wake the car by opening a door) and listen again.",
            "Check the OBD connector's CAN pins (6 and 14) and its fuse.",
        ],
        Cause::Inconclusive => &[
            "Press the fob's trunk button and then the cabin switch while the tool watches.",
            "Give what you observed (click heard, key blade, fob range) as observations.",
        ],
    }
}
