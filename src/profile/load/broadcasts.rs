//! `[[frame]]`: broadcast frames and their signals. A frame a layout
//! defines may be given again by the profile (or another layout) to add the
//! signals only that model has; within one file each frame is given once.

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
        let mut frames: Vec<BroadcastFrame> = Vec::new();
        let mut frame_index = HashMap::new();
        // The file that defined each frame, parallel to `frames`.
        let mut defined_in: Vec<usize> = Vec::new();
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
                match frame_index.get(&id).copied() {
                    Some(i) if defined_in.get(i) != Some(fi) => {
                        // Another file's frame: this one adds its signals.
                        if let Some(f) = frames.get_mut(i) as Option<&mut BroadcastFrame> {
                            if f.bus != bus {
                                let msg = format!("expected 0x{id} on bus \"{}\" as defined before, found \"{bus}\"", f.bus);
                                self.at(*fi, fr.id.span(), msg);
                            }
                            f.signals.extend(signals);
                        }
                    }
                    Some(_) => self.at(
                        *fi,
                        fr.id.span(),
                        format!("expected each broadcast frame once; 0x{id} is defined twice"),
                    ),
                    None => {
                        frame_index.insert(id, frames.len());
                        defined_in.push(*fi);
                        frames.push(BroadcastFrame {
                            name: fr.name.clone(),
                            id,
                            bus,
                            signals,
                        });
                    }
                }
            }
        }
        (frames, frame_index)
    }
}
