//! The simulated engine control module: the OBD-II answers every car of
//! these years gives on 0x7DF / 0x7E0 → 0x7E8 (SAE J1979), so that a tester
//! can identify the car (`diagnose --profile auto` reads the VIN, mode 09
//! PID 02) and read the control module voltage (mode 01 PID 42). Sans-IO.
//!
//! The VIN is built from the profile's own VIN pattern (which the profile
//! marks as an assumption), so the simulated car identifies as the profile
//! it simulates; a profile without a pattern gets no engine ECU answer.

use crate::diag::{self, obd, Nrc};
use crate::frame::{CanFrame, CanId};
use crate::isotp::{IsoTpChannel, IsoTpConfig, IsoTpEvent};
use crate::profile::Profile;

use super::SimConfig;

const REQUEST_ID: u16 = 0x7E0;
const RESPONSE_ID: u16 = 0x7E8;

/// A sans-IO OBD-II engine ECU. Drive it like [`super::SimVehicle`].
pub(crate) struct Ecm {
    isotp: IsoTpChannel,
    vin: String,
}

impl Ecm {
    /// `None` when the profile has no VIN pattern to identify as.
    pub(crate) fn new(profile: &Profile, cfg: &SimConfig) -> Option<Ecm> {
        let vin = vin_for(profile)?;
        let mut iso = IsoTpConfig::new(CanId::Standard(RESPONSE_ID), CanId::Standard(REQUEST_ID));
        iso.tx_padding = cfg.padding;
        iso.iface = cfg.iface;
        Some(Ecm {
            isotp: IsoTpChannel::new(iso),
            vin,
        })
    }

    pub(crate) fn vin(&self) -> &str {
        &self.vin
    }

    /// A frame from the bus; `volts` is the car's battery voltage now.
    pub(crate) fn handle_frame(&mut self, now_us: u64, frame: &CanFrame, volts: f64) {
        let functional = frame.id == CanId::Standard(obd::FUNCTIONAL_REQUEST_ID);
        if functional {
            // A functional request is one single frame; read it as if it came
            // on the physical id (flow control for our answer does).
            let mut f = *frame;
            f.id = CanId::Standard(REQUEST_ID);
            self.isotp.handle_frame(now_us, &f);
        } else if frame.id == CanId::Standard(REQUEST_ID) {
            self.isotp.handle_frame(now_us, frame);
        } else {
            return;
        }
        while let Some(ev) = self.isotp.poll_event() {
            if let IsoTpEvent::Received { payload, .. } = ev {
                if let Some(answer) = self.answer(&payload, volts, functional) {
                    // Busy only while a multi-frame answer is under way; a
                    // tester waits for it before asking again.
                    let _ = self.isotp.send(now_us, &answer);
                }
            }
        }
    }

    fn answer(&self, req: &[u8], volts: f64, functional: bool) -> Option<Vec<u8>> {
        match req {
            [0x09, 0x02] => {
                let mut a = vec![0x49, 0x02, 0x01];
                a.extend_from_slice(self.vin.as_bytes());
                Some(a)
            }
            [0x01, 0x42] => {
                let mv = (volts * 1000.0).round().clamp(0.0, 65535.0) as u16;
                let [hi, lo] = mv.to_be_bytes();
                Some(vec![0x41, 0x42, hi, lo])
            }
            // Functional requests nobody supports go unanswered (J1979).
            _ if functional => None,
            [sid, ..] => Some(diag::negative(*sid, Nrc::ServiceNotSupported)),
            [] => None,
        }
    }

    pub(crate) fn handle_timeout(&mut self, now_us: u64) {
        self.isotp.handle_timeout(now_us);
        while self.isotp.poll_event().is_some() {}
    }

    pub(crate) fn poll_transmit(&mut self, now_us: u64) -> Option<CanFrame> {
        self.isotp.poll_transmit(now_us)
    }

    pub(crate) fn poll_timeout(&self) -> Option<u64> {
        self.isotp.poll_timeout()
    }
}

/// A VIN that matches the profile's first pattern, with a valid check
/// digit (position 9, ISO 3779 / 49 CFR 565 weights).
fn vin_for(profile: &Profile) -> Option<String> {
    let p = profile.vin.first()?;
    let vds = p.vds_prefixes.first()?;
    let year = p.year_chars.chars().next()?;
    // Positions 4-8: the pattern's prefix, then filler.
    // A `?` (any character) becomes filler too.
    let mut vds5: String = vds
        .chars()
        .take(5)
        .map(|c| if c == '?' { 'A' } else { c })
        .collect();
    while vds5.len() < 5 {
        vds5.push('A');
    }
    let mut vin: Vec<u8> = format!("{}{}0{}N123456", p.wmi, vds5, year).into_bytes();
    if vin.len() != 17 {
        return None;
    }
    let check = check_digit(&vin)?;
    if let Some(slot) = vin.get_mut(8) {
        *slot = check;
    }
    String::from_utf8(vin).ok()
}

fn check_digit(vin: &[u8]) -> Option<u8> {
    const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
    let mut sum = 0u32;
    for (c, w) in vin.iter().zip(WEIGHTS) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A' | b'J' => 1,
            b'B' | b'K' | b'S' => 2,
            b'C' | b'L' | b'T' => 3,
            b'D' | b'M' | b'U' => 4,
            b'E' | b'N' | b'V' => 5,
            b'F' | b'W' => 6,
            b'G' | b'P' | b'X' => 7,
            b'H' | b'Y' => 8,
            b'R' | b'Z' => 9,
            _ => return None,
        };
        sum += v * w;
    }
    Some(match sum % 11 {
        10 => b'X',
        d => b'0' + d as u8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_digit_of_a_known_vin() {
        // The worked example of the check-digit rule (49 CFR 565).
        assert_eq!(check_digit(b"1M8GDM9AXKP042788"), Some(b'X'));
        assert_eq!(check_digit(b"11111111111111111"), Some(b'1'));
    }

    #[test]
    fn each_profile_with_a_pattern_identifies_as_itself() {
        let mut checked = 0;
        for id in crate::profile::bundled() {
            let p = crate::profile::load(id).unwrap();
            if p.vin.is_empty() {
                continue;
            }
            checked += 1;
            let vin = vin_for(&p).unwrap();
            assert_eq!(vin.len(), 17);
            assert!(p.matches_vin(&vin), "{id}: {vin}");
            assert_eq!(check_digit(vin.as_bytes()), vin.as_bytes().get(8).copied());
        }
        assert!(checked >= 4, "only {checked} bundled profiles name a car");
    }

    #[test]
    fn answers_vin_voltage_and_refuses_the_rest() {
        let p = crate::profile::load("nissan-altima-2013-2018").unwrap();
        let ecm = Ecm::new(&p, &SimConfig::default()).unwrap();
        let vin = ecm.answer(&[0x09, 0x02], 12.6, true).unwrap();
        assert_eq!(vin.get(..3), Some(&[0x49, 0x02, 0x01][..]));
        assert_eq!(vin.get(3..), Some(ecm.vin().as_bytes()));
        assert_eq!(
            ecm.answer(&[0x01, 0x42], 12.6, false),
            Some(vec![0x41, 0x42, 0x31, 0x38])
        );
        assert_eq!(ecm.answer(&[0x22, 0xF1, 0x90], 12.6, true), None);
        assert_eq!(
            ecm.answer(&[0x22, 0xF1, 0x90], 12.6, false),
            Some(vec![0x7F, 0x22, 0x11])
        );
    }
}
