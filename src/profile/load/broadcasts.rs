//! `[[frame]]`: broadcast frames and their signals.

use super::*;

impl Builder {
    /// Every broadcast frame of every part, each id once, and the index
    /// from id to frame.
    pub(super) fn broadcasts(
        &mut self,
        parts: &mut [Part],
        fd: bool,
        frame_max: usize,
    ) -> (Vec<BroadcastFrame>, HashMap<CanId, usize>) {
        let mut frames = Vec::new();
        let mut frame_index = HashMap::new();
        for (fi, part) in parts.iter_mut() {
            for fr in std::mem::take(&mut part.frame) {
                let id = self.can_id(*fi, &fr.id, fr.extended);
                let len = match &fr.length {
                    Some(l) => {
                        let v = *l.get_ref() as usize;
                        if v > frame_max || (fd && !crate::frame::is_valid_fd_len(v)) {
                            self.at(
                                *fi,
                                l.span(),
                                format!(
                                    "expected a frame length of at most {frame_max} bytes{}",
                                    if fd {
                                        " and a valid CAN FD length"
                                    } else {
                                        " (classic CAN; set fd = true in [bus] for CAN FD)"
                                    }
                                ),
                            );
                        }
                        v.min(frame_max)
                    }
                    None => frame_max,
                };
                let prefix = format!("0x{id}");
                let bus = self.bus_of(*fi, &fr.bus, None);
                let mut signals = Vec::new();
                for s in &fr.signal {
                    if let Some(f) = self.field(*fi, s, &prefix, len, Some(bus.clone())) {
                        signals.push(f);
                    }
                }
                if frame_index.insert(id, frames.len()).is_some() {
                    self.at(
                        *fi,
                        fr.id.span(),
                        format!("expected each broadcast frame once; 0x{id} is defined twice"),
                    );
                }
                frames.push(BroadcastFrame {
                    name: fr.name.clone(),
                    id,
                    bus,
                    signals,
                });
            }
        }
        (frames, frame_index)
    }
}
