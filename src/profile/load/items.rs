//! What every section's entries share: items (the unit of provenance:
//! level, source, bus), hex bytes, exchanges, CAN ids, fields and their bits.

use super::*;

/// A schema entry that becomes an item: it says how much it is known
/// (`level`), where it comes from and, optionally, its bus.
pub(super) trait Sourced {
    fn source(&self) -> &Option<Spanned<String>>;
    fn level(&self) -> &Spanned<String>;
    fn bus(&self) -> &Option<Spanned<String>>;
}

macro_rules! sourced {
    ($($t:ty),*) => {$(
        impl Sourced for $t {
            fn source(&self) -> &Option<Spanned<String>> {
                &self.source
            }
            fn level(&self) -> &Spanned<String> {
                &self.level
            }
            fn bus(&self) -> &Option<Spanned<String>> {
                &self.bus
            }
        }
    )*};
}

sourced!(
    schema::Bcm,
    schema::Exchange,
    schema::Field,
    schema::Condition,
    schema::Dtc
);

/// What an entry is called and where it sits; `Builder::item` adds its
/// level, source and bus.
pub(super) struct Named {
    pub name: String,
    pub location: String,
    pub kind: ItemKind,
    pub role: Option<Role>,
    /// The bus it inherits (its frame's, the BCM's) unless it names one.
    pub bus: Option<String>,
}

impl Builder {
    /// The level named at `level`; a problem (and `Placeholder`) when it is
    /// not one. A level other than placeholder needs a non-empty `source`.
    pub(super) fn level(
        &mut self,
        file: usize,
        level: &Spanned<String>,
        source: &Option<Spanned<String>>,
        what: &str,
    ) -> Level {
        let Some(l) = Level::from_name(level.get_ref()) else {
            let names: Vec<&str> = Level::ALL.iter().map(|l| l.as_str()).collect();
            self.at(
                file,
                level.span(),
                format!(
                    "expected a level ({}) for {what}, found \"{}\"",
                    names.join(", "),
                    level.get_ref()
                ),
            );
            return Level::Placeholder;
        };
        let has_source = source
            .as_ref()
            .is_some_and(|s| !s.get_ref().trim().is_empty());
        if l != Level::Placeholder && !has_source {
            self.at(
                file,
                level.span(),
                format!("expected a `source` for {what}: an item at level `{l}` must say where it comes from (only a placeholder may go without)"),
            );
        }
        if l == Level::ThisModel && self.assumed.contains(&file) {
            // A layout only assumed for this model: known for another one.
            Level::RelatedModel
        } else {
            l
        }
    }

    /// The source text as shown to users (marked when the layout is assumed).
    pub(super) fn source_text(&self, file: usize, source: &Option<Spanned<String>>) -> String {
        let s = source
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_default();
        if self.assumed.contains(&file) {
            format!("{ASSUMED}{s}")
        } else {
            s
        }
    }

    /// The bus an entry names (checked against the profile's buses), or the
    /// one it inherits, or the default bus.
    pub(super) fn bus_of(
        &mut self,
        file: usize,
        bus: &Option<Spanned<String>>,
        inherited: Option<String>,
    ) -> String {
        match bus {
            Some(b) => {
                if !self.bus_names.is_empty() && !self.bus_names.contains(b.get_ref()) {
                    let known = self.bus_names.join(", ");
                    self.at(
                        file,
                        b.span(),
                        format!(
                            "expected a bus named in [[bus]] ({known}), found \"{}\"",
                            b.get_ref()
                        ),
                    );
                }
                b.get_ref().clone()
            }
            None => inherited
                .or_else(|| self.bus_names.first().cloned())
                .unwrap_or_else(|| DEFAULT_BUS.to_owned()),
        }
    }

    /// A new item for `entry`, defined at `span` of `file`.
    pub(super) fn item(
        &mut self,
        file: usize,
        span: Range<usize>,
        named: Named,
        entry: &impl Sourced,
    ) -> ItemRef {
        let what = format!("`{}`", named.name);
        let level = self.level(file, entry.level(), entry.source(), &what);
        let bus = self.bus_of(file, entry.bus(), named.bus);
        let info = ItemInfo {
            name: named.name,
            location: named.location,
            kind: named.kind,
            role: named.role,
            level,
            source: self.source_text(file, entry.source()),
            bus,
        };
        self.push_item(file, span, info)
    }

    /// Adds a built item, remembering where it was defined.
    pub(super) fn push_item(&mut self, file: usize, span: Range<usize>, info: ItemInfo) -> ItemRef {
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
            response_prefix.as_deref().map(fmt_hex).unwrap_or_else(|| {
                if crate::diag::gmlan::answer_is_uudt(&request) {
                    "(UUDT frames)".into()
                } else {
                    "(no reply)".into()
                }
            })
        );
        let named = Named {
            name: name.to_owned(),
            location,
            kind: ItemKind::Exchange,
            role: None,
            bus: self.bcm_bus.clone(),
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
        bus: Option<String>,
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
        let from_dbc = match &f.dbc {
            Some(d) => Some(self.dbc_signal(file, d, f, prefix)?),
            None => None,
        };
        let (bits, text, span) = match (&f.bits, &f.bit) {
            (None, None) if from_dbc.is_some() => match &from_dbc {
                Some((sig, span)) => (Ok(sig.bits), sig.location(), span.clone()),
                None => return None,
            },
            (Some(b), None) if from_dbc.is_none() => (
                BitField::parse_dbc(b.get_ref()),
                b.get_ref().clone(),
                b.span(),
            ),
            (None, Some(b)) if from_dbc.is_none() => (
                BitField::parse_byte_bit(b.get_ref()),
                b.get_ref().clone(),
                b.span(),
            ),
            _ => {
                self.at(
                    file,
                    f.name.span(),
                    format!(
                        "expected exactly one of `bits` (\"7|1@1+\"), `bit` (\"A.7\") or `dbc` (with `message` and `signal`) for `{}`",
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
        let dbc = from_dbc.map(|d| d.0);
        let mut values = dbc.as_ref().map(|d| d.values.clone()).unwrap_or_default();
        if let Some(vals) = &f.values {
            values.clear();
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
            bus,
        };
        let item = self.item(file, span, named, f);
        Some(Field {
            item,
            role: role?,
            bits,
            scale: f.scale.or(dbc.as_ref().map(|d| d.scale)).unwrap_or(1.0),
            offset: f.offset.or(dbc.as_ref().map(|d| d.offset)).unwrap_or(0.0),
            unit: f.unit.clone().or(dbc.as_ref().and_then(|d| d.unit.clone())),
            values,
            mux: dbc.and_then(|d| d.mux),
        })
    }

    /// No two fields of one frame (or one data reply) may share a bit,
    /// except that an `info` field (shown, used by no rule) may view bits
    /// another field reads: e.g. a whole status nibble beside the one bit
    /// a rule reads.
    pub(super) fn check_overlaps(&mut self, reads: &[DataRead], frames: &[BroadcastFrame]) {
        let groups = reads
            .iter()
            .map(|r| (r.key.to_string(), &r.fields))
            .chain(frames.iter().map(|f| (format!("0x{}", f.id), &f.signals)));
        let mut found = Vec::new();
        for (what, fields) in groups {
            let mut owner: HashMap<u32, ItemRef> = HashMap::new();
            for f in fields.iter().filter(|f| f.role != Role::Info) {
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
