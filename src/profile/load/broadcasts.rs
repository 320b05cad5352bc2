//! `[[frame]]`: broadcast frames and their signals. A frame a layout
//! defines may be given again by the profile (or another layout) to add the
//! signals only that model has; within one file each frame is given once.
//! A multiplexed id has one `[[frame]]` per page, each with its `selector`
//! (a data byte and its value); such an id never also has a frame without.

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
        // (id, selector) → index in `frames`.
        let mut page_index: HashMap<(CanId, Option<Selector>), usize> = HashMap::new();
        // The file that defined each frame, parallel to `frames`.
        let mut defined_in: Vec<usize> = Vec::new();
        for (fi, part) in parts.iter_mut() {
            for fr in std::mem::take(&mut part.frame) {
                let gmlan = fr.gmlan.then(|| {
                    let raw = *fr.id.get_ref();
                    if raw > 0x1FFF {
                        self.at(*fi, fr.id.span(), format!("expected a GMLAN arbitration id of 13 bits (0x0000-0x1FFF) with gmlan = true, found 0x{raw:X}"));
                    }
                    (raw & 0x1FFF) as u16
                });
                let id = match gmlan {
                    Some(arb) => gmlan_canonical_id(arb),
                    None => self.can_id(*fi, &fr.id, fr.extended),
                };
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
                let selector = fr.selector.as_ref().and_then(|sel| {
                    let (byte, value) = (sel.get_ref().byte, sel.get_ref().value);
                    match (u8::try_from(byte), u8::try_from(value)) {
                        (Ok(b), Ok(v)) if usize::from(b) < len => Some(Selector { byte: b, value: v }),
                        _ => {
                            self.at(*fi, sel.span(), format!("expected a selector byte below the frame length ({len}) and a value from 0x00 to 0xFF, found byte {byte}, value 0x{value:X}"));
                            None
                        }
                    }
                });
                let prefix = frame_label(id, gmlan, selector);
                let bus = self.bus_of(*fi, &fr.bus, None);
                let mut signals = Vec::new();
                for s in &fr.signal {
                    if let Some(f) = self.field(*fi, s, &prefix, len, Some(bus.clone())) {
                        if let Some(sel) = selector {
                            let byte = u32::from(sel.byte);
                            if f.bits.bits().any(|b| b / 8 == byte) {
                                self.at(*fi, s.name.span(), format!("expected signal \"{}\" to leave the selector byte {} alone", s.name.get_ref(), sel.byte));
                            }
                        }
                        signals.push(f);
                    }
                }
                // Pages of one id: all with a selector, or a single frame without.
                let mixed = frames
                    .iter()
                    .any(|f| f.id == id && f.selector.is_some() != selector.is_some());
                if mixed {
                    self.at(*fi, fr.id.span(), format!("expected every frame on 0x{id} to have a selector (a multiplexed id), or none to"));
                }
                match page_index.get(&(id, selector)).copied() {
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
                        format!("expected each broadcast frame once; {prefix} is defined twice"),
                    ),
                    None => {
                        let at = frames.len();
                        page_index.insert((id, selector), at);
                        // Chain the pages of one id.
                        if let Some(last) = (0..at)
                            .rev()
                            .find(|&i| frames.get(i).is_some_and(|f| f.id == id))
                        {
                            if let Some(f) = frames.get_mut(last) {
                                f.next_same_id = Some(at);
                            }
                        }
                        defined_in.push(*fi);
                        frames.push(BroadcastFrame {
                            name: fr.name.clone(),
                            id,
                            bus,
                            selector,
                            signals,
                            next_same_id: None,
                            gmlan_arbitration_id: gmlan,
                        });
                    }
                }
            }
        }
        // The first page of each id is where decoding starts.
        let mut frame_index = HashMap::new();
        for (i, f) in frames.iter().enumerate() {
            frame_index.entry(f.id).or_insert(i);
        }
        (frames, frame_index)
    }
}
