//! Conditions on the battery voltage and on the trouble codes the profile
//! maps to a cause.

use super::super::facts::{Facts, Support};
use super::super::{Cause, VerdictId};
use crate::profile::Level;

pub(in crate::verdict) fn battery_low(f: &Facts) -> Option<Support> {
    let limit = f.profile.limits.low_battery_volts;
    let b = f.ev.battery.as_ref().filter(|b| b.min_v < limit)?;
    Some(
        Support::default()
            .line(format!(
                "battery {:.1} V at {} from {} (below {:.1} V); last reading {:.1} V",
                b.min_v,
                f.clock.at(b.min_at_us),
                f.ev.label(b.item),
                limit,
                b.last_v
            ))
            .resting_on([b.item]),
    )
}

/// Trouble codes the profile maps to `cause`, with their evidence.
fn mapped_dtcs(f: &Facts, cause: &VerdictId) -> Option<Support> {
    let mut s: Option<Support> = None;
    for d in &f.ev.dtcs {
        let Some(m) = f.profile.dtc_meaning_of(d.code) else {
            continue;
        };
        if m.cause.as_deref().map(VerdictId::of_id).as_ref() != Some(cause) {
            continue;
        }
        let status = d
            .status
            .map(|st| format!(" status 0x{st:02X}"))
            .unwrap_or_default();
        let mut x = s.take().unwrap_or_default().line(format!(
            "DTC {}{status} read at {}: {}",
            d.code,
            f.clock.at(d.t_us),
            m.meaning
        ));
        let placeholder = m.level == Level::Placeholder;
        x = x.items(f.ev.dtc_read_item()).doubtful_if(placeholder);
        if placeholder {
            x = x.note(format!(
                "The meaning of DTC {} on this BCM is not confirmed ({}).",
                m.code, m.source
            ));
        }
        x.cause.get_or_insert_with(|| cause.clone());
        s = Some(x);
    }
    s
}

pub(in crate::verdict) fn battery_dtc(f: &Facts) -> Option<Support> {
    mapped_dtcs(f, &VerdictId::Known(Cause::LowBattery))
}

pub(in crate::verdict) fn bcm_fault_dtc(f: &Facts) -> Option<Support> {
    mapped_dtcs(f, &VerdictId::Known(Cause::BcmFault))
}

/// The rows above take these; `profile-dtc` takes every other cause.
const OWN_ROWS: [VerdictId; 2] = [
    VerdictId::Known(Cause::LowBattery),
    VerdictId::Known(Cause::BcmFault),
];

pub(in crate::verdict) fn profile_dtc(f: &Facts) -> Option<Support> {
    // One finding per other cause, in the order their codes were read.
    let mut causes: Vec<VerdictId> = Vec::new();
    for d in &f.ev.dtcs {
        let Some(c) = f
            .profile
            .dtc_meaning_of(d.code)
            .and_then(|m| m.cause.as_deref())
            .map(VerdictId::of_id)
        else {
            continue;
        };
        if !OWN_ROWS.contains(&c) && !causes.contains(&c) {
            causes.push(c);
        }
    }
    let mut each = causes.iter().filter_map(|c| mapped_dtcs(f, c));
    let mut first = each.next()?;
    first.also = each.collect();
    Some(first)
}
