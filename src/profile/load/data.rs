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
        let key = match (&d.lid, &d.did, &d.obd_pid) {
            (None, None, None) if d.gmlan_did.is_some() => {
                let g = d.gmlan_did.as_ref()?;
                match u8::try_from(*g.get_ref()) {
                    Ok(v) => DataKey::GmlanDid(v),
                    Err(_) => {
                        self.at(
                            fi,
                            g.span(),
                            "expected a GMLAN data identifier from 0x00 to 0xFF",
                        );
                        return None;
                    }
                }
            }
            _ if d.gmlan_did.is_some() => {
                self.at(
                    fi,
                    d.name.span(),
                    format!(
                        "expected exactly one of `lid`, `did`, `obd_pid` or `gmlan_did` for data read `{}`",
                        d.name.get_ref()
                    ),
                );
                return None;
            }
            (Some(l), None, None) => match u8::try_from(*l.get_ref()) {
                Ok(v) => DataKey::LocalId(v),
                Err(_) => {
                    self.at(fi, l.span(), "expected a KWP local id from 0x00 to 0xFF");
                    return None;
                }
            },
            (None, Some(dd), None) => match u16::try_from(*dd.get_ref()) {
                Ok(v) => DataKey::Did(v),
                Err(_) => {
                    self.at(fi, dd.span(), "expected a UDS DID from 0x0000 to 0xFFFF");
                    return None;
                }
            },
            (None, None, Some(p)) => match u8::try_from(*p.get_ref()) {
                Ok(v) => DataKey::ObdPid(v),
                Err(_) => {
                    self.at(fi, p.span(), "expected an OBD-II PID from 0x00 to 0xFF");
                    return None;
                }
            },
            _ => {
                self.at(
                    fi,
                    d.name.span(),
                    format!(
                        "expected exactly one of `lid`, `did`, `obd_pid` or `gmlan_did` for data read `{}`",
                        d.name.get_ref()
                    ),
                );
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
