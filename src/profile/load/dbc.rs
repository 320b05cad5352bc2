//! `dbc = "file.dbc"`, `message`, `signal` on a data field or frame signal:
//! the signal read from a DBC file beside the profile.

use super::*;
use crate::profile::dbc::{DbcFile, DbcSignal};

impl Builder {
    /// The DBC signal an item names, with the span problems point at; a
    /// problem (and `None`) when the file, message or signal is missing.
    pub(super) fn dbc_signal(
        &mut self,
        file: usize,
        dbc: &Spanned<String>,
        f: &schema::Field,
        prefix: &str,
    ) -> Option<(DbcSignal, Range<usize>)> {
        let (Some(message), Some(signal)) = (&f.message, &f.signal) else {
            self.at(
                file,
                dbc.span(),
                "expected `message` (name or id) and `signal` beside `dbc`",
            );
            return None;
        };
        let Some(dir) = self.files.get(file).and_then(|s| s.dir.clone()) else {
            self.at(
                file,
                dbc.span(),
                "a bundled profile cannot name a DBC file: expected `bits` or `bit`",
            );
            return None;
        };
        let path = dir.join(dbc.get_ref());
        let parsed = match self.dbc_files.get(&path) {
            Some(d) => d.clone(),
            None => match DbcFile::read(&path) {
                Ok(d) => {
                    let d = std::rc::Rc::new(d);
                    self.dbc_files.insert(path.clone(), d.clone());
                    d
                }
                Err(e) => {
                    self.at(file, dbc.span(), e.to_string());
                    return None;
                }
            },
        };
        match parsed.signal(message.get_ref(), signal.get_ref()) {
            Ok(sig) => {
                let want = frame_label(sig.id, sig.gmlan, sig.page);
                // A frame's signal (not a data field's) must name its frame.
                let is_frame = prefix.starts_with("0x") || prefix.starts_with("GMLAN ");
                if is_frame && prefix != want {
                    self.at(
                        file,
                        message.span(),
                        format!(
                            "expected the frame's id: {} is {want} in {}, not {prefix}",
                            sig.message,
                            dbc.get_ref()
                        ),
                    );
                    return None;
                }
                Some((sig, dbc.span()))
            }
            Err(e) => {
                self.at(file, signal.span(), e.to_string());
                None
            }
        }
    }
}
