//! A [`CanBus`] wrapper that writes every frame it sends and receives to a
//! candump log, for `simulate --record` on a real interface.

use std::io::Write;

use crate::capture::candump::CandumpWriter;
use crate::frame::CanFrame;
use crate::transport::{BusError, CanBus};

/// Records both directions of `B` into `W`, flushing after each frame so a
/// run that ends abruptly still leaves a complete log.
pub struct RecordingBus<B, W: Write> {
    inner: B,
    log: CandumpWriter<W>,
}

impl<B: CanBus, W: Write> RecordingBus<B, W> {
    /// `header` lines become `# ` comments at the top of the log.
    pub fn new(inner: B, out: W, header: &[String]) -> Result<Self, BusError> {
        let mut log = CandumpWriter::new(out);
        for h in header {
            log.comment(h).map_err(io_err)?;
        }
        Ok(RecordingBus { inner, log })
    }

    pub fn into_inner(self) -> (B, W) {
        (self.inner, self.log.into_inner())
    }

    fn write(&mut self, f: &CanFrame) -> Result<(), BusError> {
        self.log
            .frame(f)
            .and_then(|()| self.log.flush())
            .map_err(io_err)
    }
}

fn io_err(source: std::io::Error) -> BusError {
    BusError::Io {
        context: "writing the recording".to_owned(),
        source,
    }
}

impl<B: CanBus, W: Write> CanBus for RecordingBus<B, W> {
    async fn send(&mut self, frame: &CanFrame) -> Result<(), BusError> {
        self.inner.send(frame).await?;
        // Stamped like the bus stamps what others receive.
        let mut f = frame.at(self.inner.now_us());
        f.direction = None;
        self.write(&f)
    }

    async fn recv(&mut self) -> Result<CanFrame, BusError> {
        let f = self.inner.recv().await?;
        let mut logged = f;
        logged.direction = None;
        self.write(&logged)?;
        Ok(f)
    }

    fn now_us(&self) -> u64 {
        self.inner.now_us()
    }
}
