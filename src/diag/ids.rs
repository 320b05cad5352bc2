//! Which CAN identifiers carry diagnostic traffic: the one definition the
//! census, the profile, the conversation finder and the VIN scan read.
//!
//! - 11-bit: 0x700–0x7FF, where every make puts its testers and modules
//!   (OBD-II's 0x7DF and 0x7E0–0x7EF among them).
//! - 29-bit: ISO 15765-2 normal fixed addressing, `18DA<target><source>`
//!   physical and `18DB<target><source>` functional, which ISO 15765-4 uses
//!   for OBD-II (`18DB33F1` asked by a scan tool, `18DAxxF1` to one ECU,
//!   `18DAF1xx` answered). A second scan tool on the bus is not a foreign node.
//!
//! Frame-level only: no ISO-TP, no services, no profiles.

use std::ops::RangeInclusive;

use crate::frame::CanId;

/// The 11-bit diagnostic range.
pub const STANDARD: RangeInclusive<u16> = 0x700..=0x7FF;

/// 11-bit ids requests are usually sent on: the range below the OBD-II
/// answers (0x7F8–0x7FF answer), plus the functional 0x7DF.
const STANDARD_REQUESTS: RangeInclusive<u16> = 0x700..=0x7F7;

/// The tester address ISO 15765-4 gives an OBD-II scan tool.
pub const OBD_TESTER: u8 = 0xF1;
/// The functional target address of ISO 15765-4 (all emissions ECUs).
pub const OBD_FUNCTIONAL_TARGET: u8 = 0x33;

/// How a 29-bit normal fixed id addresses its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// `18DA….`: one node.
    Physical,
    /// `18DB….`: every node that listens.
    Functional,
}

/// A 29-bit ISO 15765-2 normal fixed id split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NormalFixed {
    pub kind: TargetKind,
    pub target: u8,
    pub source: u8,
}

impl NormalFixed {
    /// Reads `18DA<target><source>` / `18DB<target><source>`; `None` for any
    /// other id (11-bit ones included).
    pub fn parse(id: CanId) -> Option<NormalFixed> {
        let CanId::Extended(raw) = id else {
            return None;
        };
        let kind = match raw >> 16 {
            0x18DA => TargetKind::Physical,
            0x18DB => TargetKind::Functional,
            _ => return None,
        };
        let [_, _, target, source] = raw.to_be_bytes();
        Some(NormalFixed {
            kind,
            target,
            source,
        })
    }
}

/// True for diagnostic traffic, never a node of the car's own network:
/// 11-bit 0x700–0x7FF and 29-bit normal fixed addressing (OBD-II's
/// `18DB33F1`, `18DAxxF1` and `18DAF1xx` among them).
pub fn is_diagnostic(id: CanId) -> bool {
    match id {
        CanId::Standard(raw) => STANDARD.contains(&raw),
        CanId::Extended(_) => NormalFixed::parse(id).is_some(),
    }
}

/// True for an id diagnostic requests are usually sent on: 11-bit
/// 0x700–0x7F7 and 0x7DF, any 29-bit normal fixed id (whose answers use the
/// same form, so only the traffic tells them apart).
pub fn is_usual_request(id: CanId) -> bool {
    match id {
        CanId::Standard(raw) => {
            STANDARD_REQUESTS.contains(&raw) || raw == super::obd::FUNCTIONAL_REQUEST_ID
        }
        CanId::Extended(_) => NormalFixed::parse(id).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn obd_ids_of_iso_15765_4_are_diagnostic() {
        for raw in [0x18DB_33F1, 0x18DA_10F1, 0x18DA_F110, 0x18DA_F10E] {
            assert!(is_diagnostic(CanId::Extended(raw)), "{raw:08X}");
        }
        let q = NormalFixed::parse(CanId::Extended(0x18DB_33F1)).unwrap();
        assert_eq!(q.kind, TargetKind::Functional);
        assert_eq!((q.target, q.source), (OBD_FUNCTIONAL_TARGET, OBD_TESTER));
        let a = NormalFixed::parse(CanId::Extended(0x18DA_F110)).unwrap();
        assert_eq!(
            (a.kind, a.target, a.source),
            (TargetKind::Physical, OBD_TESTER, 0x10)
        );
    }

    #[test]
    fn body_frames_are_not_diagnostic() {
        for id in [
            CanId::Standard(0x6FF),
            CanId::Standard(0x3B3),
            CanId::Standard(0x000),
            CanId::Extended(0x18FE_F100),
            CanId::Extended(0x0CF0_0400),
            CanId::Extended(0x18DC_F110),
            CanId::Extended(0x0000_0700),
        ] {
            assert!(!is_diagnostic(id), "{id:?}");
        }
        for raw in STANDARD {
            assert!(is_diagnostic(CanId::Standard(raw)));
        }
    }

    #[test]
    fn usual_requests_leave_out_the_obd_answer_ids() {
        assert!(is_usual_request(CanId::Standard(0x7DF)));
        assert!(is_usual_request(CanId::Standard(0x7E0)));
        assert!(is_usual_request(CanId::Standard(0x7F7)));
        assert!(!is_usual_request(CanId::Standard(0x7F8)));
        assert!(!is_usual_request(CanId::Standard(0x6FF)));
        assert!(is_usual_request(CanId::Extended(0x18DB_33F1)));
        assert!(!is_usual_request(CanId::Extended(0x18FE_F100)));
    }

    proptest! {
        #[test]
        fn normal_fixed_round_trips(raw in 0u32..=0x1FFF_FFFF) {
            let id = CanId::Extended(raw);
            match NormalFixed::parse(id) {
                Some(n) => {
                    let again = match n.kind {
                        TargetKind::Physical => crate::isotp::normal_fixed_physical_id(n.target, n.source),
                        TargetKind::Functional => crate::isotp::normal_fixed_functional_id(n.target, n.source),
                    };
                    prop_assert_eq!(again, id);
                }
                None => prop_assert!(!matches!(raw >> 16, 0x18DA | 0x18DB)),
            }
        }
    }
}
