//! `[bus]`: bitrate and CAN FD.

use super::*;

impl Builder {
    /// The bitrate and whether the bus is CAN FD (defaults when absent).
    pub(super) fn bus(&mut self, bus: &Section<schema::Bus>, need_profile: bool) -> (u32, bool) {
        match bus {
            Some((fi, b)) => {
                let br = *b.get_ref().bitrate.get_ref();
                if !(10_000..=1_000_000).contains(&br) {
                    self.at(
                        *fi,
                        b.get_ref().bitrate.span(),
                        format!("expected a bitrate from 10000 to 1000000 bit/s, found {br}"),
                    );
                }
                (br, b.get_ref().fd)
            }
            None => {
                if need_profile {
                    self.at(0, 0..0, "expected a [bus] table (bitrate, fd)");
                }
                (500_000, false)
            }
        }
    }
}
