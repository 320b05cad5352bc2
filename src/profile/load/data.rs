//! `[[data]]`: data reads (KWP local ids, UDS DIDs, OBD-II PIDs) and
//! their fields.

use super::*;

impl Builder {
    /// Every data read of every part, each key once.
    pub(super) fn data_reads(&mut self, parts: &mut [Part]) -> Vec<DataRead> {
        let mut reads = Vec::new();
        let mut read_keys: HashSet<DataKey> = HashSet::new();
        for (fi, part) in parts.iter_mut() {
            for d in std::mem::take(&mut part.data) {
                if let Some(r) = self.data_read(*fi, &d) {
                    if !read_keys.insert(r.key) {
                        self.at(
                            *fi,
                            d.name.span(),
                            format!("expected each data read once; {} is defined twice", r.key),
                        );
                    }
                    reads.push(r);
                }
            }
        }
        reads
    }

    pub(super) fn data_read(&mut self, fi: usize, d: &schema::DataRead) -> Option<DataRead> {
        // Exactly one key; each in its own range.
        let ranged = |v: &Spanned<u32>, max: u32, make: fn(u32) -> DataKey, what: &str| {
            (*v.get_ref() <= max)
                .then(|| make(*v.get_ref()))
                .ok_or_else(|| (v.span(), format!("expected {what}")))
        };
        let key = match (&d.lid, &d.did, &d.obd_pid, &d.gmlan_did) {
            (Some(l), None, None, None) => ranged(
                l,
                0xFF,
                |v| DataKey::LocalId(v as u8),
                "a KWP local id from 0x00 to 0xFF",
            ),
            (None, Some(dd), None, None) => ranged(
                dd,
                0xFFFF,
                |v| DataKey::Did(v as u16),
                "a UDS DID from 0x0000 to 0xFFFF",
            ),
            (None, None, Some(p), None) => ranged(
                p,
                0xFF,
                |v| DataKey::ObdPid(v as u8),
                "an OBD-II PID from 0x00 to 0xFF",
            ),
            (None, None, None, Some(g)) => ranged(
                g,
                0xFF,
                |v| DataKey::GmlanDid(v as u8),
                "a GMLAN data identifier from 0x00 to 0xFF",
            ),
            _ => Err((
                d.name.span(),
                format!(
                    "expected exactly one of `lid`, `did`, `obd_pid` or `gmlan_did` for data read `{}`",
                    d.name.get_ref()
                ),
            )),
        };
        let key = match key {
            Ok(k) => k,
            Err((span, message)) => {
                self.at(fi, span, message);
                return None;
            }
        };
        let prefix = key.to_string();
        let mut fields = Vec::new();
        for f in &d.field {
            if let Some(f) = self.field(
                fi,
                f,
                &prefix,
                usize::from(BitField::MAX_BYTES),
                self.bcm_bus.clone(),
            ) {
                fields.push(f);
            }
        }
        Some(DataRead {
            name: d.name.get_ref().clone(),
            key,
            needs_session: d.needs_session,
            fields,
        })
    }
}
