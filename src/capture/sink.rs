//! What every capture writer is: a [`FrameSink`], and the channel numbers
//! formats that number their buses give to interfaces. Below the writers
//! (`asc`, `trc`, `write`) so that none of them imports another.

use std::io;

use crate::frame::{CanFrame, IfName};

/// Something frames (and comments, where the format has them) are written to.
pub trait FrameSink {
    /// A comment line; formats without comments drop it.
    fn comment(&mut self, text: &str) -> io::Result<()>;
    fn frame(&mut self, f: &CanFrame) -> io::Result<()>;
    /// Writes what ends the file (trailer, buffered data) and flushes.
    fn finish(&mut self) -> io::Result<()>;
    /// Frames the format cannot hold, left out (CSV: remote and error frames).
    fn left_out(&self) -> u64 {
        0
    }
}

/// Channel numbers given to interfaces in order of first appearance.
pub(crate) struct Channels {
    first: u32,
    seen: Vec<IfName>,
}

impl Channels {
    pub(crate) fn new(first: u32) -> Channels {
        Channels {
            first,
            seen: Vec::new(),
        }
    }

    /// The channel of `iface`, and whether it is new.
    pub(crate) fn of_new(&mut self, iface: IfName) -> (u32, bool) {
        match self.seen.iter().position(|n| *n == iface) {
            Some(i) => (self.first + i as u32, false),
            None => {
                self.seen.push(iface);
                (self.first + self.seen.len() as u32 - 1, true)
            }
        }
    }

    pub(crate) fn of(&mut self, iface: IfName) -> u32 {
        self.of_new(iface).0
    }
}
