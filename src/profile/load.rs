//! Finding, reading, merging and converting profile files into a core
//! [`Profile`]. Every problem found is collected (not just the first) with
//! its file, line and column.
//!
//! Owns: the bundled profiles (embedded with `include_str!`), name and path
//! resolution (`TRUNKDIAG_PROFILES`), layout merging and the schema → model
//! conversion. Must not know about the CLI or output formats.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::check::Problem;
use super::model::*;
use super::schema;
use super::signal::BitField;
use super::ProfileError;
use crate::frame::CanId;

/// Bundled profiles: (name, repository path, text).
pub(crate) const BUNDLED: &[(&str, &str, &str)] = &[
    (
        "nissan-altima-2007-2012",
        "vehicles/nissan-altima-2007-2012.toml",
        include_str!("../../vehicles/nissan-altima-2007-2012.toml"),
    ),
    (
        "nissan-altima-2013-2018",
        "vehicles/nissan-altima-2013-2018.toml",
        include_str!("../../vehicles/nissan-altima-2013-2018.toml"),
    ),
    (
        "nissan-altima-2019",
        "vehicles/nissan-altima-2019.toml",
        include_str!("../../vehicles/nissan-altima-2019.toml"),
    ),
    (
        "ford-fusion-2013-2020",
        "vehicles/ford-fusion-2013-2020.toml",
        include_str!("../../vehicles/ford-fusion-2013-2020.toml"),
    ),
    (
        "generic-uds",
        "vehicles/generic-uds.toml",
        include_str!("../../vehicles/generic-uds.toml"),
    ),
];

/// Bundled layout fragments: (name, repository path, text).
pub(crate) const BUNDLED_LAYOUTS: &[(&str, &str, &str)] = &[
    (
        "nissan-bcm-kwp",
        "vehicles/layouts/nissan-bcm-kwp.toml",
        include_str!("../../vehicles/layouts/nissan-bcm-kwp.toml"),
    ),
    (
        "nissan-body-l3x",
        "vehicles/layouts/nissan-body-l3x.toml",
        include_str!("../../vehicles/layouts/nissan-body-l3x.toml"),
    ),
];

/// Environment variable naming a directory of extra profiles (`NAME.toml`,
/// layouts in `layouts/`); its profiles override bundled ones of the same name.
pub const PROFILES_ENV: &str = "TRUNKDIAG_PROFILES";

/// Default time after a request in which output and lid are looked for.
pub const DEFAULT_RELEASE_WINDOW_MS: u32 = 3000;
/// Default battery threshold: below it a 12 V car is too weak to trust the release.
pub const DEFAULT_LOW_BATTERY_VOLTS: f64 = 11.0;

/// A profile's text and where it came from.
#[derive(Clone, Debug)]
pub(crate) struct SourceFile {
    /// As shown in problems: the path given, or the repository path for bundled files.
    pub path: String,
    pub text: String,
    /// Directory to look for `layouts/NAME.toml` in; `None` for bundled files.
    pub dir: Option<PathBuf>,
}

/// Resolves a name or a path and loads it (see [`super::load`]).
/// True when `load` reads `spec` as a file path rather than a profile name.
pub fn is_path(spec: &str) -> bool {
    spec.contains('/') || spec.ends_with(".toml") || Path::new(spec).is_file()
}

pub(crate) fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
    if is_path(name_or_path) {
        return load_path(Path::new(name_or_path));
    }
    if let Some(dir) = std::env::var_os(PROFILES_ENV) {
        let p = Path::new(&dir).join(format!("{name_or_path}.toml"));
        if p.is_file() {
            return load_path(&p);
        }
    }
    if BUNDLED.iter().any(|(n, _, _)| *n == name_or_path) {
        return load_bundled(name_or_path);
    }
    Err(ProfileError::NotFound {
        name: name_or_path.to_owned(),
        known: super::list().into_iter().map(|s| s.id).collect(),
    })
}

/// A bundled profile by name, ignoring `TRUNKDIAG_PROFILES`.
pub(crate) fn load_bundled(name: &str) -> Result<Profile, ProfileError> {
    match BUNDLED.iter().find(|(n, _, _)| *n == name) {
        Some((_, path, text)) => {
            let file = SourceFile {
                path: (*path).to_owned(),
                text: (*text).to_owned(),
                dir: None,
            };
            finish(build(file), ProfileOrigin::Bundled, name)
        }
        None => Err(ProfileError::NotFound {
            name: name.to_owned(),
            known: BUNDLED.iter().map(|(n, _, _)| (*n).to_owned()).collect(),
        }),
    }
}

pub(crate) fn load_path(path: &Path) -> Result<Profile, ProfileError> {
    let file = read_source(path)?;
    let shown = file.path.clone();
    finish(build(file), ProfileOrigin::File(shown.clone()), &shown)
}

fn finish(built: Built, origin: ProfileOrigin, name: &str) -> Result<Profile, ProfileError> {
    match built.profile {
        Some(mut p) if built.problems.is_empty() => {
            p.origin = origin;
            Ok(p)
        }
        _ => Err(ProfileError::Invalid {
            name: name.to_owned(),
            problems: built.problems,
        }),
    }
}

pub(crate) fn read_source(path: &Path) -> Result<SourceFile, ProfileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(SourceFile {
        path: path.display().to_string(),
        text,
        dir: Some(path.parent().map(Path::to_path_buf).unwrap_or_default()),
    })
}

/// The outcome of building: a profile when the files made sense, and every problem.
pub(crate) struct Built {
    pub profile: Option<Profile>,
    pub problems: Vec<Problem>,
}

/// Parses `file`, merges its layouts, converts and checks everything.
pub(crate) fn build(file: SourceFile) -> Built {
    let mut b = Builder {
        files: vec![file],
        problems: Vec::new(),
        items: Vec::new(),
        item_at: Vec::new(),
        assumed: HashSet::new(),
    };
    let top = match b.parse(0) {
        Some(t) => t,
        None => {
            return Built {
                profile: None,
                problems: b.problems,
            }
        }
    };
    if top.profile.is_none() {
        // A layout fragment: check what it holds on its own.
        if top.layout.is_none() {
            b.at(0, 0..0, "expected a [profile] table (a vehicle profile) or a [layout] table (a layout fragment)");
        }
        let mut parts = vec![(0usize, top)];
        b.convert_sections(&mut parts, false);
        return Built {
            profile: None,
            problems: b.problems,
        };
    }
    let mut parts = vec![(0usize, top)];
    let identity = parts
        .first()
        .and_then(|(_, t)| t.profile.as_ref())
        .map(|p| p.get_ref());
    let layout_names: Vec<(Spanned<String>, bool)> = identity
        .map(|p| {
            let plain = p.layouts.iter().map(|n| (n.clone(), false));
            plain
                .chain(p.assumed_layouts.iter().map(|n| (n.clone(), true)))
                .collect()
        })
        .unwrap_or_default();
    for (name, assumed) in layout_names {
        match b.resolve_layout(name.get_ref()) {
            Some(src) => {
                let idx = b.files.len();
                b.files.push(src);
                if assumed {
                    b.assumed.insert(idx);
                }
                if let Some(frag) = b.parse(idx) {
                    if let Some(p) = &frag.profile {
                        b.at(
                            idx,
                            p.span(),
                            "expected a layout fragment ([layout]), found a [profile] table",
                        );
                    } else if let Some(meta) = &frag.layout {
                        let n = &meta.get_ref().name;
                        if n.get_ref() != name.get_ref() {
                            b.at(idx, n.span(), format!("expected layout name \"{}\" (the name the profile uses), found \"{}\"", name.get_ref(), n.get_ref()));
                        }
                    } else {
                        b.at(idx, 0..0, "expected a [layout] table naming this fragment");
                    }
                    parts.push((idx, frag));
                }
            }
            None => {
                let known: Vec<&str> = BUNDLED_LAYOUTS.iter().map(|(n, _, _)| *n).collect();
                b.at(
                    0,
                    name.span(),
                    format!(
                        "expected a layout name (layouts/{}.toml next to the profile, or bundled: {})",
                        name.get_ref(),
                        known.join(", ")
                    ),
                );
            }
        }
    }
    let profile = b.convert_sections(&mut parts, true);
    Built {
        profile,
        problems: b.problems,
    }
}

struct Builder {
    files: Vec<SourceFile>,
    problems: Vec<Problem>,
    items: Vec<ItemInfo>,
    /// Where each item was defined: (file index, span), parallel to `items`.
    item_at: Vec<(usize, Range<usize>)>,
    /// Files merged through `assumed_layouts`: their items are unverified here.
    assumed: HashSet<usize>,
}

const ASSUMED: &str = "assumed for this model, not shown on it: ";

type Part = (usize, schema::ProfileFile);

/// Takes a singleton section from the merged parts; a second definition is a problem.
macro_rules! single {
    ($b:expr, $parts:expr, $field:ident, $what:expr) => {{
        let mut found: Option<(usize, Spanned<_>)> = None;
        for (fi, part) in $parts.iter_mut() {
            if let Some(v) = part.$field.take() {
                if found.is_some() {
                    $b.at(*fi, v.span(), format!("expected one {} section across the profile and its layouts; this is a second one", $what));
                } else {
                    found = Some((*fi, v));
                }
            }
        }
        found
    }};
}

impl Builder {
    fn at(&mut self, file: usize, span: Range<usize>, msg: impl Into<String>) {
        let f = self.files.get(file).or_else(|| self.files.first());
        let (path, text) = f
            .map(|f| (f.path.as_str(), f.text.as_str()))
            .unwrap_or(("?", ""));
        self.problems
            .push(Problem::at(path, text, span, msg.into()));
    }

    fn parse(&mut self, idx: usize) -> Option<schema::ProfileFile> {
        let text = self.files.get(idx)?.text.clone();
        match toml::from_str::<schema::ProfileFile>(&text) {
            Ok(t) => Some(t),
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let msg = e.message().trim().replace('\n', " ");
                self.at(idx, span, format!("expected valid profile TOML: {msg}"));
                None
            }
        }
    }

    fn resolve_layout(&self, name: &str) -> Option<SourceFile> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return None;
        }
        if let Some(dir) = self.files.first().and_then(|f| f.dir.clone()) {
            let p = dir.join("layouts").join(format!("{name}.toml"));
            if p.is_file() {
                return read_source(&p).ok();
            }
        }
        BUNDLED_LAYOUTS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, path, text)| SourceFile {
                path: (*path).to_owned(),
                text: (*text).to_owned(),
                dir: None,
            })
    }

    fn item(
        &mut self,
        file: usize,
        span: Range<usize>,
        info: ItemInfo,
        source: &Option<Spanned<String>>,
        verified: &Spanned<bool>,
    ) -> ItemRef {
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
        let mut info = info;
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

    fn hex(&mut self, file: usize, s: &Spanned<String>) -> Vec<u8> {
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

    fn exchange(&mut self, file: usize, name: &str, e: &schema::Exchange) -> Exchange {
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
        let info = ItemInfo {
            name: name.to_owned(),
            location,
            kind: ItemKind::Exchange,
            role: None,
            verified: *e.verified.get_ref(),
            source: e
                .source
                .as_ref()
                .map(|s| s.get_ref().clone())
                .unwrap_or_default(),
        };
        let item = self.item(file, e.request.span(), info, &e.source, &e.verified);
        Exchange {
            request,
            response_prefix,
            item,
        }
    }

    fn can_id(&mut self, file: usize, id: &Spanned<u32>, extended: bool) -> CanId {
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

    fn field(
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
        let info = ItemInfo {
            name: f.name.get_ref().clone(),
            location,
            kind: if prefix.starts_with("0x") {
                ItemKind::Signal
            } else {
                ItemKind::Data
            },
            role,
            verified: *f.verified.get_ref(),
            source: f
                .source
                .as_ref()
                .map(|s| s.get_ref().clone())
                .unwrap_or_default(),
        };
        let item = self.item(file, span, info, &f.source, &f.verified);
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

    /// Converts the merged parts. With `need_profile`, missing required
    /// sections are problems and a `Profile` is returned.
    fn convert_sections(&mut self, parts: &mut [Part], need_profile: bool) -> Option<Profile> {
        let identity = single!(self, parts, profile, "[profile]");
        // Each fragment names itself; the names were checked when merging.
        for (_, part) in parts.iter_mut() {
            part.layout = None;
        }
        let bus = single!(self, parts, bus, "[bus]");
        let bcm = single!(self, parts, bcm, "[bcm]");
        let active = single!(self, parts, active_test, "[active_test]");
        let limits = single!(self, parts, limits, "[limits]");
        let census = single!(self, parts, census, "[census]");
        let owner = single!(self, parts, owner, "[owner]");

        // Identity.
        let mut years = (0u16, 0u16);
        let mut vins = Vec::new();
        if let Some((fi, id)) = &identity {
            let idn = id.get_ref();
            match idn.years.get_ref().as_slice() {
                [a, b] if a <= b && *a >= 1980 => years = (*a, *b),
                _ => self.at(
                    *fi,
                    idn.years.span(),
                    "expected `years = [first, last]` with first <= last, from 1980",
                ),
            }
            let id_ok = !idn.id.get_ref().is_empty()
                && idn
                    .id
                    .get_ref()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !id_ok {
                self.at(
                    *fi,
                    idn.id.span(),
                    "expected a profile id of lowercase letters, digits and '-'",
                );
            }
            for v in &idn.vin {
                if v.wmi.get_ref().len() != 3
                    || !v.wmi.get_ref().chars().all(|c| c.is_ascii_alphanumeric())
                {
                    self.at(
                        *fi,
                        v.wmi.span(),
                        "expected a 3-character WMI (VIN positions 1-3)",
                    );
                }
                for p in &v.vds_prefix {
                    if p.get_ref().len() > 6 || p.get_ref().is_empty() {
                        self.at(
                            *fi,
                            p.span(),
                            "expected a VDS prefix of 1-6 characters (VIN positions 4-9)",
                        );
                    }
                }
                const YEAR_CHARS: &str = "ABCDEFGHJKLMNPRSTVWXY123456789";
                if v.year_chars.get_ref().is_empty()
                    || !v
                        .year_chars
                        .get_ref()
                        .chars()
                        .all(|c| YEAR_CHARS.contains(c))
                {
                    self.at(*fi, v.year_chars.span(), "expected model-year characters (VIN position 10: A-Y without I O Q U Z, or 1-9)");
                }
                vins.push(VinPattern {
                    wmi: v.wmi.get_ref().to_ascii_uppercase(),
                    vds_prefixes: v
                        .vds_prefix
                        .iter()
                        .map(|p| p.get_ref().to_ascii_uppercase())
                        .collect(),
                    year_chars: v.year_chars.get_ref().clone(),
                });
            }
        } else if need_profile {
            self.at(0, 0..0, "expected a [profile] table");
        }

        // Bus.
        let (bitrate, fd) = match &bus {
            Some((fi, b)) => {
                let br = *b.get_ref().bitrate.get_ref();
                if !(10_000..=1_000_000).contains(&br) {
                    self.at(
                        *fi,
                        b.get_ref().bitrate.span(),
                        format!("expected a bitrate from 10000 to 1000000 bit/s, found {br}"),
                    );
                }
                (br, b.get_ref().fd)
            }
            None => {
                if need_profile {
                    self.at(0, 0..0, "expected a [bus] table (bitrate, fd)");
                }
                (500_000, false)
            }
        };
        let frame_max = if fd {
            crate::frame::CANFD_MAX_DLEN
        } else {
            crate::frame::CAN_MAX_DLEN
        };

        // BCM.
        let bcm = match &bcm {
            Some((fi, b)) => Some(self.bcm(*fi, b.get_ref())),
            None => {
                if need_profile {
                    self.at(0, 0..0, "expected a [bcm] table (diagnostic target)");
                }
                None
            }
        };

        // Data reads.
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

        // Broadcast frames.
        let mut frames = Vec::new();
        let mut frame_index = HashMap::new();
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
                let mut signals = Vec::new();
                for s in &fr.signal {
                    if let Some(f) = self.field(*fi, s, &prefix, len) {
                        signals.push(f);
                    }
                }
                if frame_index.insert(id, frames.len()).is_some() {
                    self.at(
                        *fi,
                        fr.id.span(),
                        format!("expected each broadcast frame once; 0x{id} is defined twice"),
                    );
                }
                frames.push(BroadcastFrame {
                    name: fr.name.clone(),
                    id,
                    signals,
                });
            }
        }

        // Causes the profile adds.
        let mut causes = Vec::new();
        for (fi, part) in parts.iter_mut() {
            for c in std::mem::take(&mut part.cause) {
                if crate::verdict::CAUSE_IDS.contains(&c.id.get_ref().as_str()) {
                    self.at(*fi, c.id.span(), format!("expected a new cause id; `{}` is one of diagnosis.md's and may not be redefined", c.id.get_ref()));
                }
                causes.push(ExtraCause {
                    id: c.id.get_ref().clone(),
                    summary: c.summary,
                    next_steps: c.next_steps,
                });
            }
        }

        // DTC meanings.
        let mut dtcs = Vec::new();
        let mut dtc_codes = HashSet::new();
        for (fi, part) in parts.iter_mut() {
            for d in std::mem::take(&mut part.dtc) {
                if !is_dtc_code(d.code.get_ref()) {
                    self.at(*fi, d.code.span(), format!("expected a DTC letter code like \"B2562\" or \"U3003:16\", found \"{}\"", d.code.get_ref()));
                }
                if !dtc_codes.insert(d.code.get_ref().to_ascii_uppercase()) {
                    self.at(
                        *fi,
                        d.code.span(),
                        format!(
                            "expected each DTC once; {} is defined twice",
                            d.code.get_ref()
                        ),
                    );
                }
                if let Some(c) = &d.cause {
                    let known = crate::verdict::CAUSE_IDS.contains(&c.get_ref().as_str())
                        || causes.iter().any(|x: &ExtraCause| &x.id == c.get_ref());
                    if !known {
                        self.at(*fi, c.span(), format!("expected a cause id of diagnosis.md or a [[cause]] of this profile, found \"{}\"", c.get_ref()));
                    }
                }
                let has_source = d
                    .source
                    .as_ref()
                    .is_some_and(|s| !s.get_ref().trim().is_empty());
                if *d.verified.get_ref() && !has_source {
                    self.at(*fi, d.verified.span(), format!("expected a `source` for DTC {}: a verified meaning must say where it comes from", d.code.get_ref()));
                }
                let assumed = self.assumed.contains(fi);
                let source = d.source.map(|s| s.into_inner()).unwrap_or_default();
                dtcs.push(DtcMeaning {
                    code: d.code.get_ref().to_ascii_uppercase(),
                    meaning: d.meaning,
                    cause: d.cause.map(|c| c.into_inner()),
                    advice: d.advice,
                    source: if assumed {
                        format!("{ASSUMED}{source}")
                    } else {
                        source
                    },
                    verified: *d.verified.get_ref() && !assumed,
                });
            }
        }

        // Release conditions: their role must be carried by some field.
        let roles_present: HashSet<Role> = reads
            .iter()
            .flat_map(|r: &DataRead| r.fields.iter())
            .chain(
                frames
                    .iter()
                    .flat_map(|f: &BroadcastFrame| f.signals.iter()),
            )
            .map(|f| f.role)
            .collect();
        let mut release_conditions = Vec::new();
        for (fi, part) in parts.iter_mut() {
            for c in std::mem::take(&mut part.release_condition) {
                if let Some(rc) = self.condition(*fi, &c, &roles_present) {
                    release_conditions.push(rc);
                }
            }
        }

        let active_test = active.map(|(fi, a)| {
            let a = a.into_inner();
            let start = self.exchange(fi, "active test: fire the trunk opener", &a.start);
            let stop = a
                .stop
                .as_ref()
                .map(|s| self.exchange(fi, "active test: stop", s));
            let ms = *a.max_duration_ms.get_ref();
            if ms == 0 || ms > 10_000 {
                self.at(
                    fi,
                    a.max_duration_ms.span(),
                    format!("expected max_duration_ms from 1 to 10000, found {ms}"),
                );
            }
            ActiveTest {
                start,
                stop,
                max_duration_ms: ms,
            }
        });

        let mut lim = Limits {
            low_battery_volts: DEFAULT_LOW_BATTERY_VOLTS,
            release_window_us: u64::from(DEFAULT_RELEASE_WINDOW_MS) * 1000,
        };
        if let Some((fi, l)) = &limits {
            let l = l.get_ref();
            if let Some(v) = &l.low_battery_volts {
                if !(5.0..=30.0).contains(v.get_ref()) {
                    self.at(*fi, v.span(), "expected low_battery_volts from 5.0 to 30.0");
                }
                lim.low_battery_volts = *v.get_ref();
            }
            if let Some(w) = &l.release_window_ms {
                if !(100..=60_000).contains(w.get_ref()) {
                    self.at(
                        *fi,
                        w.span(),
                        "expected release_window_ms from 100 to 60000",
                    );
                }
                lim.release_window_us = u64::from(*w.get_ref()) * 1000;
            }
        }

        let mut known_ids = HashSet::new();
        let census_complete = census.as_ref().is_some_and(|(_, c)| c.get_ref().complete);
        if let Some((fi, c)) = &census {
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
        let access_now = owner
            .map(|(_, o)| o.into_inner().access_now)
            .unwrap_or_default();

        self.check_overlaps(&reads, &frames);

        if !need_profile {
            return None;
        }
        let (_, identity) = identity?;
        let identity = identity.into_inner();
        Some(Profile {
            id: identity.id.into_inner(),
            make: identity.make,
            model: identity.model,
            generation: identity.generation,
            years,
            description: identity.description,
            vin: vins,
            bitrate,
            fd,
            bcm: bcm?,
            reads,
            frames,
            dtcs,
            causes,
            release_conditions,
            active_test,
            limits: lim,
            access_now,
            census_complete,
            items: std::mem::take(&mut self.items),
            origin: ProfileOrigin::Bundled,
            frame_index,
            known_ids,
        })
    }

    fn bcm(&mut self, fi: usize, b: &schema::Bcm) -> Bcm {
        let protocol = match b.protocol.get_ref().as_str() {
            "kwp" => Protocol::Kwp,
            "uds" => Protocol::Uds,
            other => {
                self.at(
                    fi,
                    b.protocol.span(),
                    format!("expected protocol \"kwp\" or \"uds\", found \"{other}\""),
                );
                Protocol::Uds
            }
        };
        let addressing = match b
            .addressing
            .as_ref()
            .map(|a| (a.get_ref().as_str(), a.span()))
        {
            None | Some(("normal", _)) => Addressing::Normal,
            Some(("extended", _)) => Addressing::Extended,
            Some((other, span)) => {
                self.at(
                    fi,
                    span,
                    format!("expected addressing \"normal\" or \"extended\", found \"{other}\""),
                );
                Addressing::Normal
            }
        };
        let request_id = self.can_id(fi, &b.request_id, false);
        let response_id = self.can_id(fi, &b.response_id, false);
        if request_id == response_id {
            self.at(
                fi,
                b.response_id.span(),
                "expected a response id different from the request id",
            );
        }
        let name = b.name.clone().unwrap_or_else(|| "BCM".to_owned());
        let info = ItemInfo {
            name: format!("{name} diagnostic ids"),
            location: format!("0x{request_id} → 0x{response_id}"),
            kind: ItemKind::Addressing,
            role: None,
            verified: *b.verified.get_ref(),
            source: b
                .source
                .as_ref()
                .map(|s| s.get_ref().clone())
                .unwrap_or_default(),
        };
        let addressing_item = self.item(fi, b.request_id.span(), info, &b.source, &b.verified);
        let session = b
            .session
            .as_ref()
            .map(|e| self.exchange(fi, "session start", e));
        let keep_alive = b
            .keep_alive
            .as_ref()
            .map(|e| self.exchange(fi, "keep-alive", e));
        let dtc_read = b
            .dtc_read
            .as_ref()
            .map(|e| self.exchange(fi, "DTC read", e));
        let dtc_clear = b
            .dtc_clear
            .as_ref()
            .map(|e| self.exchange(fi, "DTC clear", e));
        let part_number = b
            .part_number
            .as_ref()
            .map(|e| self.exchange(fi, "part number", e));
        let dtc_format = b.dtc_format.as_ref().and_then(|f| match f.get_ref().as_str() {
            "kwp-2byte" => Some(DtcFormat::Kwp2Byte),
            "uds-3byte" => Some(DtcFormat::Uds3Byte),
            "obd" => Some(DtcFormat::Obd),
            other => {
                self.at(fi, f.span(), format!("expected dtc_format \"kwp-2byte\", \"uds-3byte\" or \"obd\", found \"{other}\""));
                None
            }
        });
        if dtc_read.is_some() && dtc_format.is_none() && b.dtc_format.is_none() {
            self.at(
                fi,
                b.protocol.span(),
                "expected `dtc_format` when [bcm.dtc_read] is given",
            );
        }
        let keep_alive_period_ms = b.keep_alive_period_ms.as_ref().map(|p| {
            if !(100..=10_000).contains(p.get_ref()) {
                self.at(
                    fi,
                    p.span(),
                    "expected keep_alive_period_ms from 100 to 10000",
                );
            }
            *p.get_ref()
        });
        if keep_alive.is_some() && keep_alive_period_ms.is_none() {
            self.at(
                fi,
                b.protocol.span(),
                "expected `keep_alive_period_ms` when [bcm.keep_alive] is given",
            );
        }
        Bcm {
            name,
            protocol,
            request_id,
            response_id,
            addressing,
            answers: b.answers,
            addressing_item,
            session,
            keep_alive,
            keep_alive_period_ms,
            dtc_read,
            dtc_format,
            dtc_clear,
            part_number,
        }
    }

    fn data_read(&mut self, fi: usize, d: &schema::DataRead) -> Option<DataRead> {
        let key = match (&d.lid, &d.did, &d.obd_pid) {
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
                        "expected exactly one of `lid`, `did` or `obd_pid` for data read `{}`",
                        d.name.get_ref()
                    ),
                );
                return None;
            }
        };
        let prefix = key.to_string();
        let mut fields = Vec::new();
        for f in &d.field {
            if let Some(f) = self.field(fi, f, &prefix, usize::from(BitField::MAX_BYTES)) {
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

    fn condition(
        &mut self,
        fi: usize,
        c: &schema::Condition,
        roles_present: &HashSet<Role>,
    ) -> Option<ReleaseCondition> {
        let role = Role::from_name(c.role.get_ref());
        match role {
            None => self.at(fi, c.role.span(), format!("expected a role, found \"{}\"", c.role.get_ref())),
            Some(r) if !roles_present.contains(&r) => self.at(
                fi,
                c.role.span(),
                format!("expected a data field or signal with role `{r}` in this profile: the condition refers to it"),
            ),
            _ => {}
        }
        let test = match (c.when.get_ref().as_str(), &c.value) {
            ("above", Some(v)) => Some(ConditionTest::Above {
                value: *v.get_ref(),
            }),
            ("set", None) => Some(ConditionTest::Set),
            ("above", None) => {
                self.at(fi, c.when.span(), "expected `value` with when = \"above\"");
                None
            }
            ("set", Some(v)) => {
                self.at(fi, v.span(), "expected no `value` with when = \"set\"");
                None
            }
            (other, _) => {
                self.at(
                    fi,
                    c.when.span(),
                    format!("expected when = \"above\" or \"set\", found \"{other}\""),
                );
                None
            }
        };
        let mut inputs = Vec::new();
        match &c.inputs {
            None => inputs.extend([ReleaseInput::Fob, ReleaseInput::Cabin, ReleaseInput::Bus]),
            Some(list) => {
                for i in list {
                    match ReleaseInput::from_name(i.get_ref()) {
                        Some(x) => inputs.push(x),
                        None => self.at(
                            fi,
                            i.span(),
                            format!(
                                "expected an input (fob, cabin, bus, active_test), found \"{}\"",
                                i.get_ref()
                            ),
                        ),
                    }
                }
            }
        }
        let location = match &test {
            Some(ConditionTest::Above { value }) => format!("{} above {value}", c.role.get_ref()),
            _ => format!("{} set", c.role.get_ref()),
        };
        let info = ItemInfo {
            name: c.name.get_ref().clone(),
            location,
            kind: ItemKind::Condition,
            role,
            verified: *c.verified.get_ref(),
            source: c
                .source
                .as_ref()
                .map(|s| s.get_ref().clone())
                .unwrap_or_default(),
        };
        let item = self.item(fi, c.name.span(), info, &c.source, &c.verified);
        Some(ReleaseCondition {
            role: role?,
            test: test?,
            inputs,
            text: c.text.clone(),
            item,
        })
    }

    /// No two fields of one frame (or one data reply) may share a bit.
    fn check_overlaps(&mut self, reads: &[DataRead], frames: &[BroadcastFrame]) {
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

fn fmt_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `B2562`, `U3003`, `U3003:16`.
pub(crate) fn is_dtc_code(code: &str) -> bool {
    let (base, ft) = match code.split_once(':') {
        Some((b, f)) => (b, Some(f)),
        None => (code, None),
    };
    let b = base.as_bytes();
    let base_ok = b.len() == 5
        && matches!(
            b.first().map(u8::to_ascii_uppercase),
            Some(b'P' | b'C' | b'B' | b'U')
        )
        && b.get(1).is_some_and(|c| (b'0'..=b'3').contains(c))
        && b.get(2..)
            .is_some_and(|r| r.iter().all(u8::is_ascii_hexdigit));
    base_ok && ft.is_none_or(|f| f.len() == 2 && f.bytes().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::CanFrame;

    fn bundled(name: &str) -> Profile {
        match load_bundled(name) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    fn item_by_name<'a>(p: &'a Profile, name: &str) -> &'a ItemInfo {
        p.items
            .iter()
            .find(|i| i.name == name)
            .unwrap_or_else(|| panic!("no item {name}"))
    }

    #[test]
    fn every_bundled_profile_and_layout_loads_cleanly() {
        for (name, _, _) in BUNDLED {
            let p = bundled(name);
            assert_eq!(p.id, *name);
            assert!(!p.access_now.is_empty(), "{name}: access_now");
        }
        for (name, path, text) in BUNDLED_LAYOUTS {
            let built = build(SourceFile {
                path: (*path).into(),
                text: (*text).into(),
                dir: None,
            });
            assert!(built.problems.is_empty(), "{name}: {:?}", built.problems);
        }
    }

    #[test]
    fn nissan_l33_follows_vehicles_md() {
        let p = bundled("nissan-altima-2013-2018");
        assert_eq!(p.bcm.request_id, CanId::Standard(0x745));
        assert_eq!(p.bcm.response_id, CanId::Standard(0x765));
        assert_eq!(p.bcm.protocol, Protocol::Kwp);
        assert_eq!(
            p.bcm.session.as_ref().map(|s| s.request.clone()),
            Some(vec![0x10, 0xC0])
        );
        // Placeholders are unverified, public items verified.
        for name in [
            "TR CANCEL SW",
            "REQ SW -BD/TR",
            "KEYLESS TRUNK",
            "TRUNK OPENER OUTPUT",
            "keep-alive",
            "DTC read",
            "active test: stop",
        ] {
            assert!(
                !item_by_name(&p, name).verified,
                "{name} must be unverified"
            );
        }
        for name in [
            "TR/BD OPEN SW",
            "trunk lid open",
            "session start",
            "active test: fire the trunk opener",
        ] {
            assert!(item_by_name(&p, name).verified, "{name} must be verified");
        }
        assert_eq!(item_by_name(&p, "TR CANCEL SW").location, "KWP 21 44 A.7");
        // Data monitor 0x44: A.7 lockout, B.5 lid.
        let mut got = Vec::new();
        assert!(
            p.decode_data(DataKey::LocalId(0x44), &[0x80, 0x20], |_, r, v| got
                .push((r, v)))
        );
        assert!(got.contains(&(Role::Lockout, 1.0)));
        assert!(got.contains(&(Role::LidOpen, 1.0)));
        assert!(got.contains(&(Role::OpenerOutput, 0.0)));
        let mut got2 = Vec::new();
        assert!(p.decode_response(&[0x61, 0x44, 0x10, 0x00], |_, r, v| got2.push((r, v))));
        assert!(got2.contains(&(Role::OpenerOutput, 1.0)));
        // Broadcast: speed bytes E-F x 0.01, battery A x 0.1.
        let speed =
            CanFrame::classic(CanId::Standard(0x284), &[0, 0, 0, 0, 0x03, 0xE8, 0, 0]).unwrap();
        let mut v = None;
        assert!(
            p.decode_broadcast(&speed, |_, r, x| if r == Role::SpeedKmh {
                v = Some(x)
            })
        );
        assert!((v.unwrap() - 10.0).abs() < 1e-9);
        let batt = CanFrame::classic(CanId::Standard(0x6F6), &[124]).unwrap();
        let mut b = None;
        p.decode_broadcast(&batt, |_, _, x| b = Some(x));
        assert!((b.unwrap() - 12.4).abs() < 1e-9);
        // Short frame: no value, no panic.
        let short = CanFrame::classic(CanId::Standard(0x284), &[0, 0, 0]).unwrap();
        let mut n = 0;
        assert!(p.decode_broadcast(&short, |_, _, _| n += 1));
        assert_eq!(n, 0);
        // Census.
        assert!(p.is_known_id(CanId::Standard(0x60D)));
        assert!(p.is_known_id(CanId::Standard(0x6F6)));
        assert!(p.is_known_id(CanId::Standard(0x7DF)));
        assert!(!p.is_known_id(CanId::Standard(0x123)));
        assert!(p.census_complete);
        assert_eq!(
            p.dtc_meaning("B2562").and_then(|d| d.cause.as_deref()),
            Some("low-battery")
        );
        assert_eq!(
            p.dtc_meaning("U1010").and_then(|d| d.cause.as_deref()),
            Some("bcm-fault")
        );
        assert!(p.matches_vin("1N4AL3AP5DC123456"));
        assert!(!p.matches_vin("1N4AL2AP5CC123456"));
    }

    #[test]
    fn nissan_l34_assumes_the_bcm_layout_unverified() {
        let p = bundled("nissan-altima-2019");
        for i in p.items.iter().filter(|i| i.kind != ItemKind::Signal) {
            assert!(!i.verified, "{} should be unverified on L34", i.name);
        }
        assert!(p.dtcs.iter().all(|d| !d.verified));
        let boot = CanFrame::classic(CanId::Standard(0x454), &[0, 0, 0, 0, 0, 0, 0x80, 0]).unwrap();
        let mut lid = None;
        p.decode_broadcast(&boot, |_, r, v| {
            if r == Role::LidOpen {
                lid = Some(v)
            }
        });
        assert_eq!(lid, Some(1.0));
        assert!(!p.census_complete);
    }

    #[test]
    fn ford_follows_vehicles_md() {
        let p = bundled("ford-fusion-2013-2020");
        assert_eq!(p.bcm.request_id, CanId::Standard(0x726));
        assert_eq!(p.bcm.response_id, CanId::Standard(0x72E));
        assert!(
            !p.item(p.bcm.addressing_item).unwrap().verified,
            "0x72E is a placeholder"
        );
        for name in [
            "decklid ajar",
            "decklid inhibit",
            "battery voltage",
            "PE_Decklid_Inhibit_Rqst",
        ] {
            assert!(!item_by_name(&p, name).verified, "{name}");
        }
        assert!(item_by_name(&p, "Decklid_Ajar_Status").verified);
        let inh = CanFrame::classic(CanId::Standard(0x384), &[0, 0, 0, 0, 0, 0, 0x20, 0]).unwrap();
        let mut v = None;
        p.decode_broadcast(&inh, |_, r, x| {
            if r == Role::Lockout {
                v = Some(x)
            }
        });
        assert_eq!(v, Some(2.0));
        assert_eq!(
            p.dtc_meaning("U3003:16").and_then(|d| d.cause.as_deref()),
            Some("low-battery")
        );
        assert!(
            p.dtc_meaning("U3003:17").is_none(),
            "a listed failure type matches only itself"
        );
        assert!(p.dtc_meaning("u3003:16").is_some());
        assert!(!p.is_known_id(CanId::Standard(0x111)));
    }

    #[test]
    fn generic_uds_has_no_trunk_roles() {
        let p = bundled("generic-uds");
        for r in [
            Role::LidOpen,
            Role::OpenerOutput,
            Role::FobTrunkRequest,
            Role::CabinTrunkRequest,
            Role::TrunkRequest,
        ] {
            assert!(!p.has_role(r));
        }
        let mut v = None;
        assert!(p.decode_response(&[0x41, 0x42, 0x30, 0xD4], |_, _, x| v = Some(x)));
        assert!((v.unwrap() - 12.5).abs() < 1e-9);
    }
}
