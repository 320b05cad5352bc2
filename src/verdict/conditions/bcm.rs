//! Conditions on the BCM's diagnostic answers: silence, dropping out,
//! general rejects, a refused session.

use super::super::facts::{fire, Facts, Support};
use crate::diag::Nrc;
use crate::evidence::SessionStart;

pub(in crate::verdict) fn bus_alive_line(f: &Facts) -> String {
    format!(
        "{} frame(s) from other modules: the bus is alive",
        f.ev.reachability.non_diag_frames
    )
}

pub(in crate::verdict) fn bcm_silent(f: &Facts) -> Option<Support> {
    let r = &f.ev.reachability;
    let bcm = f.profile.bcm()?;
    fire(r.diag_requests > 0 && r.diag_responses == 0).map(|s| {
        s.line(format!(
            "{} request(s) to the BCM on 0x{} and no reply on 0x{}",
            r.diag_requests, bcm.request_id, bcm.response_id
        ))
        .line(bus_alive_line(f))
        .resting_on([bcm.addressing_item])
    })
}

/// It answered, then stopped (two misses in a row, so one lost reply does
/// not count); `late` when that was after every press had been watched.
pub(in crate::verdict) fn dropped_out(f: &Facts, late: bool) -> Option<Support> {
    let r = &f.ev.reachability;
    if !(r.diag_responses > 0 && r.unanswered_since_reply >= 2) {
        return None;
    }
    let window = f.profile.limits.release_window_us;
    let after_presses = !f.all.is_empty()
        && r.silent_since_us.is_some_and(|t| {
            f.all
                .iter()
                .all(|(a, _)| a.t_us.saturating_add(window) <= t)
        });
    if after_presses != late {
        return None;
    }
    let bcm = f.profile.bcm()?;
    let since = r
        .silent_since_us
        .map(|t| format!(" from {}", f.clock.at(t)))
        .unwrap_or_default();
    Some(
        Support::default()
            .line(format!(
                "the BCM answered {} request(s) on 0x{}, then stopped answering{since}: {} request(s) on 0x{} left without a reply",
                r.diag_responses, bcm.response_id, r.unanswered_since_reply, bcm.request_id
            ))
            .line(bus_alive_line(f))
            .note("A module that drops out mid-session often lost power: check the battery and the BCM's fuses first.")
            .resting_on([bcm.addressing_item]),
    )
}

pub(in crate::verdict) fn bcm_dropped_out(f: &Facts) -> Option<Support> {
    dropped_out(f, false)
}

pub(in crate::verdict) fn bcm_dropped_out_late(f: &Facts) -> Option<Support> {
    dropped_out(f, true)
}

pub(in crate::verdict) fn general_reject_line(f: &Facts) -> String {
    format!(
        "{} general reject(s) (NRC 0x10) to normal requests{}",
        f.ev.general_rejects,
        f.ev.negative_responses
            .iter()
            .find(|n| n.nrc == Nrc::GeneralReject)
            .map(|n| format!(
                ", first to service 0x{:02X} at {}",
                n.sid,
                f.clock.at(n.t_us)
            ))
            .unwrap_or_default()
    )
}

pub(in crate::verdict) fn general_rejects(f: &Facts) -> Option<Support> {
    fire(f.ev.general_rejects >= 2).map(|s| s.line(general_reject_line(f)))
}

pub(in crate::verdict) fn one_general_reject(f: &Facts) -> Option<Support> {
    fire(f.ev.general_rejects == 1).map(|s| s.line(general_reject_line(f)))
}

pub(in crate::verdict) fn session_refused(f: &Facts) -> Option<Support> {
    match f.ev.reachability.session_start {
        SessionStart::Refused(nrc) => Some(Support::default().line(format!(
            "the BCM refused the session start (NRC 0x{:02X})",
            nrc.code()
        ))),
        _ => None,
    }
}
