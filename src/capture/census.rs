//! What a filtered read counted instead of handing out: [`IdSet`] says
//! which 11-bit ids a consumer wants whole, [`Census`] counts the others
//! (per id, with their first and last timestamps).

/// The 11-bit ids whose frames a consumer wants whole (for the analyzer:
/// the diagnostic pair and the profile's broadcasts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdSet {
    bits: [u64; 32],
}

impl IdSet {
    pub fn new() -> IdSet {
        IdSet::default()
    }

    /// Adds `id` (ids above 0x7FF are ignored: they are not 11-bit).
    pub fn insert(&mut self, id: u16) {
        if let Some(word) = self.bits.get_mut(usize::from(id >> 6)) {
            *word |= 1 << (id & 63);
        }
    }

    #[inline]
    pub fn contains(&self, id: u16) -> bool {
        self.bits
            .get(usize::from(id >> 6))
            .is_some_and(|w| w & (1 << (id & 63)) != 0)
    }
}

/// What [`CaptureReader::next_frame_of`] counted instead of handing out:
/// frames of 11-bit ids not in the wanted set, per id, with their earliest
/// and latest timestamps (min and max: a log of several interfaces is not
/// always in time order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Census {
    per_id: Vec<IdCount>,
    /// The latest timestamp counted since the last [`Census::take_latest`].
    latest: Option<u64>,
}

/// One 11-bit id's count; `first_us > last_us` while `frames == 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IdCount {
    frames: u64,
    first_us: u64,
    last_us: u64,
}

const NO_FRAMES: IdCount = IdCount {
    frames: 0,
    first_us: u64::MAX,
    last_us: 0,
};

/// An 11-bit id's line in a [`Census`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CensusEntry {
    pub id: u16,
    pub frames: u64,
    /// Earliest and latest timestamp of those frames.
    pub first_us: u64,
    pub last_us: u64,
}

impl Default for Census {
    fn default() -> Census {
        Census {
            per_id: vec![NO_FRAMES; 0x800],
            latest: None,
        }
    }
}

impl Census {
    #[inline]
    pub(crate) fn count(&mut self, id: u16, ts: u64) {
        if let Some(c) = self.per_id.get_mut(usize::from(id)) {
            c.frames += 1;
            c.first_us = c.first_us.min(ts);
            c.last_us = c.last_us.max(ts);
        }
        self.latest = Some(self.latest.map_or(ts, |l| l.max(ts)));
    }

    /// Frames counted for `id`.
    pub fn frames(&self, id: u16) -> u64 {
        self.per_id.get(usize::from(id)).map_or(0, |c| c.frames)
    }

    /// Frames counted, all ids.
    pub fn total(&self) -> u64 {
        self.per_id.iter().map(|c| c.frames).sum()
    }

    /// The ids with at least one frame counted, in id order.
    pub fn entries(&self) -> impl Iterator<Item = CensusEntry> + '_ {
        (0u16..).zip(&self.per_id).filter_map(|(id, c)| {
            (c.frames > 0).then_some(CensusEntry {
                id,
                frames: c.frames,
                first_us: c.first_us,
                last_us: c.last_us,
            })
        })
    }

    /// The latest timestamp among the frames counted since the last call
    /// (`None` when none were). A consumer that reacts to time passing (a
    /// request's deadline) sees, before each frame handed out, how far the
    /// bus went in the frames it did not get.
    #[inline]
    pub fn take_latest(&mut self) -> Option<u64> {
        self.latest.take()
    }
}
