//! What every section's entries share: items (the unit of "is this
//! verified?"), hex bytes, exchanges, CAN ids, fields and their bits.

use super::*;

/// A schema entry that becomes an item: it says whether it is verified and
/// where it comes from.
pub(super) trait Sourced {
    fn source(&self) -> &Option<Spanned<String>>;
    fn verified(&self) -> &Spanned<bool>;
}

macro_rules! sourced {
    ($($t:ty),*) => {$(
        impl Sourced for $t {
            fn source(&self) -> &Option<Spanned<String>> {
                &self.source
            }
            fn verified(&self) -> &Spanned<bool> {
                &self.verified
            }
        }
    )*};
}

sourced!(
    schema::Bcm,
    schema::Exchange,
    schema::Field,
    schema::Condition
);

/// What an entry is called and where it sits; `Builder::item` adds its
/// verified flag and source.
pub(super) struct Named {
    pub name: String,
    pub location: String,
    pub kind: ItemKind,
    pub role: Option<Role>,
}

impl Builder {
    /// A new item for `entry`, defined at `span` of `file`.
    pub(super) fn item(
        &mut self,
        file: usize,
        span: Range<usize>,
        named: Named,
        entry: &impl Sourced,
    ) -> ItemRef {
        let (source, verified) = (entry.source(), entry.verified());
        let mut info = ItemInfo {
            name: named.name,
            location: named.location,
            kind: named.kind,
            role: named.role,
            verified: *verified.get_ref(),
            source: source
                .as_ref()
                .map(|s| s.get_ref().clone())
                .unwrap_or_default(),
        };
        let has_source = source
            .as_ref()
            .is_some_and(|s| !s.get_ref().trim().is_empty());
        if *verified.get_ref() && !has_source {
            self.at(
                file,
                verified.span(),
                format!("expected a `source` for `{}`: an item marked verified must say where it comes from", info.name),
            );
        }
        if self.assumed.contains(&file) {
            info.verified = false;
            info.source = format!("{ASSUMED}{}", info.source);
        }
        let idx = self.items.len();
        let r = ItemRef(u16::try_from(idx).unwrap_or(u16::MAX));
        if idx >= usize::from(u16::MAX) {
            self.at(
                file,
                span.clone(),
                "expected at most 65535 items in one profile",
            );
        }
        self.items.push(info);
        self.item_at.push((file, span));
        r
    }

    pub(super) fn hex(&mut self, file: usize, s: &Spanned<String>) -> Vec<u8> {
        match crate::hex::decode(s.get_ref()) {
            Some(b) if !b.is_empty() => b,
            _ => {
                self.at(
                    file,
                    s.span(),
                    format!(
                        "expected hex bytes like \"10 C0\", found \"{}\"",
                        s.get_ref()
                    ),
                );
                Vec::new()
            }
        }
    }

    pub(super) fn exchange(&mut self, file: usize, name: &str, e: &schema::Exchange) -> Exchange {
        let request = self.hex(file, &e.request);
        let response_prefix = e.response.as_ref().map(|r| self.hex(file, r));
        let location = format!(
            "{} → {}",
            fmt_hex(&request),
            response_prefix
                .as_deref()
                .map(fmt_hex)
                .unwrap_or_else(|| "(no reply)".into())
        );
        let named = Named {
            name: name.to_owned(),
            location,
            kind: ItemKind::Exchange,
            role: None,
        };
        let item = self.item(file, e.request.span(), named, e);
        Exchange {
            request,
            response_prefix,
            item,
        }
    }

    pub(super) fn can_id(&mut self, file: usize, id: &Spanned<u32>, extended: bool) -> CanId {
        let v = *id.get_ref();
        let parsed = if extended {
            CanId::extended(v)
        } else {
            CanId::standard(v)
        };
        parsed.unwrap_or_else(|| {
            let want = if extended {
                "a 29-bit id (at most 0x1FFFFFFF)"
            } else {
                "an 11-bit id (at most 0x7FF; set extended = true for 29-bit)"
            };
            self.at(file, id.span(), format!("expected {want}, found 0x{v:X}"));
            CanId::Standard(0)
        })
    }

    pub(super) fn field(
        &mut self,
        file: usize,
        f: &schema::Field,
        prefix: &str,
        max_len: usize,
    ) -> Option<Field> {
        let role = Role::from_name(f.role.get_ref());
        if role.is_none() {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            self.at(
                file,
                f.role.span(),
                format!(
                    "expected a role ({}), found \"{}\"",
                    names.join(", "),
                    f.role.get_ref()
                ),
            );
        }
        let (bits, text, span) = match (&f.bits, &f.bit) {
            (Some(b), None) => (
                BitField::parse_dbc(b.get_ref()),
                b.get_ref().clone(),
                b.span(),
            ),
            (None, Some(b)) => (
                BitField::parse_byte_bit(b.get_ref()),
                b.get_ref().clone(),
                b.span(),
            ),
            _ => {
                self.at(
                    file,
                    f.name.span(),
                    format!(
                        "expected exactly one of `bits` (\"7|1@1+\") or `bit` (\"A.7\") for `{}`",
                        f.name.get_ref()
                    ),
                );
                return None;
            }
        };
        let bits = match bits {
            Ok(b) => b,
            Err(e) => {
                self.at(file, span, e.to_string());
                return None;
            }
        };
        if bits.min_payload_len() > max_len {
            self.at(file, span.clone(), format!("expected the signal inside the {max_len}-byte payload, but `{text}` needs {} bytes", bits.min_payload_len()));
        }
        let mut values = Vec::new();
        if let Some(vals) = &f.values {
            for (k, v) in vals.get_ref() {
                let raw = k
                    .strip_prefix("0x")
                    .map(|h| i64::from_str_radix(h, 16))
                    .unwrap_or_else(|| k.parse());
                match raw {
                    Ok(raw) => values.push(NamedValue { raw, name: v.clone() }),
                    Err(_) => self.at(file, vals.span(), format!("expected integer keys in `values` (e.g. \"0\" = \"off\"), found \"{k}\"")),
                }
            }
        }
        let location = format!("{prefix} {text}");
        let named = Named {
            name: f.name.get_ref().clone(),
            location,
            kind: if prefix.starts_with("0x") {
                ItemKind::Signal
            } else {
                ItemKind::Data
            },
            role,
        };
        let item = self.item(file, span, named, f);
        Some(Field {
            item,
            role: role?,
            bits,
            scale: f.scale.unwrap_or(1.0),
            offset: f.offset.unwrap_or(0.0),
            unit: f.unit.clone(),
            values,
        })
    }

    /// No two fields of one frame (or one data reply) may share a bit.
    pub(super) fn check_overlaps(&mut self, reads: &[DataRead], frames: &[BroadcastFrame]) {
        let groups = reads
            .iter()
            .map(|r| (r.key.to_string(), &r.fields))
            .chain(frames.iter().map(|f| (format!("0x{}", f.id), &f.signals)));
        let mut found = Vec::new();
        for (what, fields) in groups {
            let mut owner: HashMap<u32, ItemRef> = HashMap::new();
            for f in fields {
                for bit in f.bits.bits() {
                    if let Some(prev) = owner.insert(bit, f.item) {
                        if prev != f.item {
                            found.push((f.item, prev, what.clone(), bit));
                            break;
                        }
                    }
                }
            }
        }
        for (item, prev, what, bit) in found {
            let prev_name = self
                .items
                .get(usize::from(prev.0))
                .map(|i| i.name.clone())
                .unwrap_or_default();
            let (fi, span) = self
                .item_at
                .get(usize::from(item.0))
                .cloned()
                .unwrap_or((0, 0..0));
            self.at(
                fi,
                span,
                format!(
                    "expected signals of {what} not to overlap; bit {bit} is also in `{prev_name}`"
                ),
            );
        }
    }
}
