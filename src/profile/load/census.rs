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
