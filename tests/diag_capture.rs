//! `describe` on a real capture: secdev/scapy's `candump_uds_scanner.pcap.gz`
//! (a UDS scan of a real ECU, tester 0x641, ECU 0x651), read from the shared
//! data folder and never copied into the repository. Only single-frame
//! ISO-TP messages are taken (ISO-TP reassembly is not this module's job);
//! they are 5,377 of the 5,382 diagnostic frames.
//!
//! The expected counts were computed independently with a few lines of
//! Python over the raw pcap bytes.

use std::collections::BTreeMap;
use std::fs::File;

use trunkdiag::diag::{describe, Dir, Nrc, Protocol};

mod common;

/// (CAN id, single-frame payload) of every diagnostic message in the scan.
fn single_frames() -> Option<Vec<(u32, Vec<u8>)>> {
    let capture = common::shared_data("scapy/candump_uds_scanner.pcap.gz")?;
    let gz = flate2::read::GzDecoder::new(File::open(capture).unwrap());
    let mut reader = pcap_file::pcap::PcapReader::new(gz).unwrap();
    let mut out = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.unwrap();
        let d = &pkt.data;
        // SocketCAN link type 227: id (scapy wrote it little-endian), length,
        // 3 reserved bytes, data.
        let id = u32::from_le_bytes(d[..4].try_into().unwrap()) & 0x1FFF_FFFF;
        let data = &d[8..8 + usize::from(d[4])];
        if !(id == 0x641 || id == 0x651) || data.is_empty() || data[0] >> 4 != 0 {
            continue;
        }
        let len = usize::from(data[0] & 0x0F);
        out.push((id, data[1..1 + len].to_vec()));
    }
    Some(out)
}

#[test]
fn uds_scanner_capture_is_described() {
    let Some(frames) = single_frames() else {
        return;
    };
    let mut requests = 0;
    let mut negatives: BTreeMap<u8, usize> = BTreeMap::new();
    let mut positives: BTreeMap<&str, usize> = BTreeMap::new();
    let mut malformed = Vec::new();
    for (id, payload) in &frames {
        let dir = if *id == 0x641 {
            Dir::Request
        } else {
            Dir::Response
        };
        let d = describe(Protocol::Uds, payload, dir);
        if d.malformed {
            malformed.push((payload.clone(), d.detail.clone()));
        }
        match (dir, d.nrc) {
            (Dir::Request, _) => requests += 1,
            (Dir::Response, Some(nrc)) => *negatives.entry(nrc.code()).or_default() += 1,
            (Dir::Response, None) => *positives.entry(d.service).or_default() += 1,
        }
    }
    assert_eq!(requests, 2698);
    assert_eq!(
        negatives,
        BTreeMap::from([
            (0x11, 585),
            (0x12, 1749),
            (0x13, 34),
            (0x33, 2),
            (0x35, 2),
            (0x7F, 147)
        ])
    );
    assert_eq!(
        positives,
        BTreeMap::from([
            ("DiagnosticSessionControl", 30),
            ("SecurityAccess", 26),
            ("TesterPresent", 104)
        ])
    );
    // The scanner also sent bare SIDs (`10`, `22`, ...): describe flags
    // them, and the ECU never accepted one (0x13 incorrectMessageLength, or
    // 0x11 / 0x7F when it checked support or session first).
    assert_eq!(malformed.len(), 45, "{malformed:02X?}");
    for (payload, detail) in &malformed {
        assert_eq!(payload.len(), 1, "{payload:02X?}: {detail}");
        assert!(
            detail.starts_with("malformed: request too short for")
                || detail.contains("DIDs are 2 bytes"),
            "{detail}"
        );
        let answer = frames
            .iter()
            .skip_while(|(id, p)| !(*id == 0x641 && p == payload))
            .find(|(id, _)| *id == 0x651)
            .map(|(_, p)| p.clone());
        let answer = answer.unwrap();
        assert!(
            matches!(answer[..], [0x7F, sid, 0x11 | 0x13 | 0x7F] if sid == payload[0]),
            "{answer:02X?}"
        );
    }
}

#[test]
fn uds_scanner_details() {
    let Some(frames) = single_frames() else {
        return;
    };
    let details = |want: &[u8]| -> Vec<String> {
        frames
            .iter()
            .filter(|(id, p)| *id == 0x651 && p.starts_with(want))
            .map(|(_, p)| describe(Protocol::Uds, p, Dir::Response).detail)
            .collect()
    };
    let sessions = details(&[0x50]);
    assert!(
        sessions.contains(&"session 0x02 (programmingSession), P2 50 ms, P2* 5000 ms".to_string())
    );
    assert!(sessions
        .contains(&"session 0x03 (extendedDiagnosticSession), P2 50 ms, P2* 5000 ms".to_string()));
    let seeds = details(&[0x67, 0x01]);
    assert!(
        seeds.iter().all(|s| s == "seed level 0x01 (2 bytes)"),
        "{seeds:?}"
    );
    let refused = frames
        .iter()
        .find(|(id, p)| *id == 0x651 && p == &[0x7F, 0x27, 0x35])
        .map(|(_, p)| describe(Protocol::Uds, p, Dir::Response))
        .unwrap();
    assert_eq!(refused.service, "SecurityAccess");
    assert_eq!(refused.nrc, Some(Nrc::InvalidKey));
    assert_eq!(
        refused.detail,
        "0x35 invalidKey: the security key was wrong"
    );
}
