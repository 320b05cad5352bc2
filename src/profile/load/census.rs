//! `[census]`: the ids this model has on the bus, and whether the list is
//! complete.

use super::*;

impl Builder {
    /// The known ids (the census's and every decoded frame's) and whether
    /// the census is complete.
    pub(super) fn census(
        &mut self,
        census: &Section<schema::Census>,
        frames: &[BroadcastFrame],
    ) -> (HashSet<CanId>, bool) {
        let mut known_ids = HashSet::new();
        let census_complete = census.as_ref().is_some_and(|(_, c)| c.get_ref().complete);
        if let Some((fi, c)) = census {
            for id in &c.get_ref().known_ids {
                let v = *id.get_ref();
                let cid = if v <= crate::frame::SFF_MAX {
                    CanId::standard(v)
                } else {
                    CanId::extended(v)
                };
                match cid {
                    Some(cid) => {
                        known_ids.insert(cid);
                    }
                    None => self.at(
                        *fi,
                        id.span(),
                        format!("expected a CAN id (at most 0x1FFFFFFF), found 0x{v:X}"),
                    ),
                }
            }
        }
        // Frames the profile decodes are known by definition.
        known_ids.extend(frames.iter().map(|f: &BroadcastFrame| f.id));
        (known_ids, census_complete)
    }
}

impl Builder {
    /// `[census.recorded]`, checked: CAN ids, data lengths (0-64), each id once.
    pub(super) fn recorded(
        &mut self,
        census: &Section<schema::Census>,
        buses: &[Bus],
    ) -> Option<RecordedBus> {
        let (fi, c) = census.as_ref()?;
        let r = c.get_ref().recorded.as_ref()?;
        let source = r.source.as_ref().map(|s| s.get_ref().clone());
        let level = self.level(*fi, &r.level, &r.source, "[census.recorded]");
        let mut frames: Vec<(CanId, usize)> = Vec::new();
        for f in &r.frames {
            let [id, len] = *f.get_ref();
            let cid = if id <= crate::frame::SFF_MAX {
                CanId::standard(id)
            } else {
                CanId::extended(id)
            };
            let Some(cid) = cid else {
                self.at(
                    *fi,
                    f.span(),
                    format!("expected a CAN id (at most 0x1FFFFFFF), found 0x{id:X}"),
                );
                continue;
            };
            if len > 64 {
                self.at(
                    *fi,
                    f.span(),
                    format!("expected a data length of 0 to 64 bytes, found {len}"),
                );
                continue;
            }
            if frames.iter().any(|(i, _)| *i == cid) {
                self.at(
                    *fi,
                    f.span(),
                    format!("expected each id once in [census.recorded], found 0x{id:X} again"),
                );
                continue;
            }
            frames.push((cid, len as usize));
        }
        frames.sort();
        let bus = r.bus.get_ref().clone();
        if !buses.iter().any(|b| b.name == bus) {
            let names: Vec<&str> = buses.iter().map(|b| b.name.as_str()).collect();
            self.at(
                *fi,
                r.bus.span(),
                format!(
                    "expected one of the profile's buses ({}) for [census.recorded], found \"{bus}\"",
                    names.join(", ")
                ),
            );
        }
        Some(RecordedBus {
            bus,
            frames,
            level,
            source: source.unwrap_or_default(),
        })
    }
}
