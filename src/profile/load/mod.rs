//! Finding, reading, merging and converting profile files into a core
//! [`Profile`]. Every problem found is collected (not just the first) with
//! its file, line and column.
//!
//! Owns: the bundled profiles (embedded with `include_str!`), name and path
//! resolution (the directories searched are `super::search`'s), layout merging and the schema → model
//! conversion, one file per TOML section (`identity`, `bus`, `bcm`, `data`,
//! `broadcasts`, `dtcs`, `conditions`, `active_test`, `limits`, `census`, `relearn`;
//! what their entries share is in `items`). Must not know about the CLI or
//! output formats.

mod active_test;
mod bcm;
mod broadcasts;
mod bus;
mod census;
mod conditions;
mod data;
mod dbc;
mod dtcs;
mod identity;
mod items;
mod limits;
mod relearn;

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::model::*;
use super::problem::Problem;
use super::schema;
use super::signal::BitField;
use super::ProfileError;
use crate::frame::CanId;
use bus::DEFAULT_BUS;

/// Bundled profiles: (name, repository path, text).
pub(crate) const BUNDLED: &[(&str, &str, &str)] = &[
    (
        "nissan-altima-2007-2012",
        "vehicles/nissan-altima-2007-2012.toml",
        include_str!("../../../vehicles/nissan-altima-2007-2012.toml"),
    ),
    (
        "nissan-altima-2013-2018",
        "vehicles/nissan-altima-2013-2018.toml",
        include_str!("../../../vehicles/nissan-altima-2013-2018.toml"),
    ),
    (
        "nissan-altima-2019",
        "vehicles/nissan-altima-2019.toml",
        include_str!("../../../vehicles/nissan-altima-2019.toml"),
    ),
    (
        "ford-fusion-2013-2020",
        "vehicles/ford-fusion-2013-2020.toml",
        include_str!("../../../vehicles/ford-fusion-2013-2020.toml"),
    ),
    (
        "hyundai-kona-2018-2023",
        "vehicles/hyundai-kona-2018-2023.toml",
        include_str!("../../../vehicles/hyundai-kona-2018-2023.toml"),
    ),
    (
        "hyundai-sonata-2018-2023",
        "vehicles/hyundai-sonata-2018-2023.toml",
        include_str!("../../../vehicles/hyundai-sonata-2018-2023.toml"),
    ),
    (
        "kia-optima-2016-2020",
        "vehicles/kia-optima-2016-2020.toml",
        include_str!("../../../vehicles/kia-optima-2016-2020.toml"),
    ),
    (
        "toyota-camry-2018-2024",
        "vehicles/toyota-camry-2018-2024.toml",
        include_str!("../../../vehicles/toyota-camry-2018-2024.toml"),
    ),
    (
        "toyota-rav4-2019-2025",
        "vehicles/toyota-rav4-2019-2025.toml",
        include_str!("../../../vehicles/toyota-rav4-2019-2025.toml"),
    ),
    (
        "chevrolet-malibu-2016-2024",
        "vehicles/chevrolet-malibu-2016-2024.toml",
        include_str!("../../../vehicles/chevrolet-malibu-2016-2024.toml"),
    ),
    (
        "chevrolet-equinox-2018-2024",
        "vehicles/chevrolet-equinox-2018-2024.toml",
        include_str!("../../../vehicles/chevrolet-equinox-2018-2024.toml"),
    ),
    (
        "vw-jetta-2019-2024",
        "vehicles/vw-jetta-2019-2024.toml",
        include_str!("../../../vehicles/vw-jetta-2019-2024.toml"),
    ),
    (
        "vw-tiguan-2018-2024",
        "vehicles/vw-tiguan-2018-2024.toml",
        include_str!("../../../vehicles/vw-tiguan-2018-2024.toml"),
    ),
    (
        "honda-civic-2016-2021",
        "vehicles/honda-civic-2016-2021.toml",
        include_str!("../../../vehicles/honda-civic-2016-2021.toml"),
    ),
    (
        "subaru-global-2017-2024",
        "vehicles/subaru-global-2017-2024.toml",
        include_str!("../../../vehicles/subaru-global-2017-2024.toml"),
    ),
    (
        "mazda-cx5-2017-2021",
        "vehicles/mazda-cx5-2017-2021.toml",
        include_str!("../../../vehicles/mazda-cx5-2017-2021.toml"),
    ),
    (
        "jeep-cherokee-2019-2023",
        "vehicles/jeep-cherokee-2019-2023.toml",
        include_str!("../../../vehicles/jeep-cherokee-2019-2023.toml"),
    ),
    (
        "generic-uds",
        "vehicles/generic-uds.toml",
        include_str!("../../../vehicles/generic-uds.toml"),
    ),
];

/// Bundled layout fragments: (name, repository path, text).
pub(crate) const BUNDLED_LAYOUTS: &[(&str, &str, &str)] = &[
    (
        "nissan-bcm-kwp",
        "vehicles/layouts/nissan-bcm-kwp.toml",
        include_str!("../../../vehicles/layouts/nissan-bcm-kwp.toml"),
    ),
    (
        "nissan-body-l3x",
        "vehicles/layouts/nissan-body-l3x.toml",
        include_str!("../../../vehicles/layouts/nissan-body-l3x.toml"),
    ),
    (
        "hyundai-kia-body",
        "vehicles/layouts/hyundai-kia-body.toml",
        include_str!("../../../vehicles/layouts/hyundai-kia-body.toml"),
    ),
    (
        "hyundai-kia-motion",
        "vehicles/layouts/hyundai-kia-motion.toml",
        include_str!("../../../vehicles/layouts/hyundai-kia-motion.toml"),
    ),
    (
        "toyota-body",
        "vehicles/layouts/toyota-body.toml",
        include_str!("../../../vehicles/layouts/toyota-body.toml"),
    ),
    (
        "toyota-body-ecu",
        "vehicles/layouts/toyota-body-ecu.toml",
        include_str!("../../../vehicles/layouts/toyota-body-ecu.toml"),
    ),
    (
        "toyota-motion",
        "vehicles/layouts/toyota-motion.toml",
        include_str!("../../../vehicles/layouts/toyota-motion.toml"),
    ),
    (
        "gm-global-a-bcm",
        "vehicles/layouts/gm-global-a-bcm.toml",
        include_str!("../../../vehicles/layouts/gm-global-a-bcm.toml"),
    ),
    (
        "gm-global-a-body",
        "vehicles/layouts/gm-global-a-body.toml",
        include_str!("../../../vehicles/layouts/gm-global-a-body.toml"),
    ),
    (
        "vw-mqb-j519",
        "vehicles/layouts/vw-mqb-j519.toml",
        include_str!("../../../vehicles/layouts/vw-mqb-j519.toml"),
    ),
    (
        "vw-mqb-powertrain",
        "vehicles/layouts/vw-mqb-powertrain.toml",
        include_str!("../../../vehicles/layouts/vw-mqb-powertrain.toml"),
    ),
];

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
/// A separator (`/`, and `\\` on Windows), a `.toml` ending or an existing
/// file: a path.
pub fn is_path(spec: &str) -> bool {
    spec.chars().any(std::path::is_separator)
        || spec.ends_with(".toml")
        || Path::new(spec).is_file()
}

/// A name is looked for in each directory of [`super::search::search_dirs`]
/// in turn, then among the bundled profiles.
pub(crate) fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
    if is_path(name_or_path) {
        return load_path(Path::new(name_or_path));
    }
    let dirs = super::search::search_dirs();
    for dir in &dirs {
        let p = dir.path.join(format!("{name_or_path}.toml"));
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
        searched: dirs.iter().map(|d| d.describe()).collect(),
    })
}

/// A bundled profile by name, ignoring `TRUNKDIAG_PROFILES`.
/// Bundled profiles already built in this process, by name. They are
/// compiled in, so one build serves every later load: `--profile auto`
/// looks at every profile for each capture, and a Python session or a
/// batch diagnoses many (building all of them took ~2 ms per capture,
/// several times the diagnosis itself).
static BUILT: std::sync::Mutex<Vec<(&'static str, Profile)>> = std::sync::Mutex::new(Vec::new());

pub(crate) fn load_bundled(name: &str) -> Result<Profile, ProfileError> {
    match BUNDLED.iter().find(|(n, _, _)| *n == name) {
        Some((name, path, text)) => {
            // Held while building: two threads wanting one profile build it once.
            let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
                return Ok(p.clone());
            }
            let file = SourceFile {
                path: (*path).to_owned(),
                text: (*text).to_owned(),
                dir: None,
            };
            let profile = finish(build(file), ProfileOrigin::Bundled, name)?;
            built.push((name, profile.clone()));
            Ok(profile)
        }
        None => Err(ProfileError::NotFound {
            name: name.to_owned(),
            known: BUNDLED.iter().map(|(n, _, _)| (*n).to_owned()).collect(),
            searched: Vec::new(),
        }),
    }
}

pub(crate) fn parse(name: &str, text: &str) -> Result<Profile, ProfileError> {
    let file = SourceFile {
        path: name.to_owned(),
        text: text.to_owned(),
        dir: None,
    };
    finish(build(file), ProfileOrigin::File(name.to_owned()), name)
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
        bus_names: Vec::new(),
        bcm_bus: None,
        dbc_files: HashMap::new(),
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
    /// Files merged through `assumed_layouts`: their `this-model` items
    /// count as `related-model` here.
    assumed: HashSet<usize>,
    /// The buses' names, the default first (known before any item is built).
    bus_names: Vec<String>,
    /// The bus the BCM answers on: its exchanges and data reads inherit it.
    bcm_bus: Option<String>,
    /// DBC files items name, each read once.
    dbc_files: HashMap<PathBuf, std::rc::Rc<super::dbc::DbcFile>>,
}

const ASSUMED: &str = "assumed for this model, not shown on it: ";

type Part = (usize, schema::ProfileFile);

/// A singleton section taken from the merged parts, with its file index.
type Section<T> = Option<(usize, Spanned<T>)>;

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

    /// Converts the merged parts, one section at a time. With
    /// `need_profile`, missing required sections are problems and a
    /// `Profile` is returned.
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
        let relearn = single!(self, parts, relearn, "[relearn]");

        let (years, vins) = self.identity(&identity, need_profile);
        let buses = self.buses(&bus, need_profile);
        let (bitrate, fd) = buses
            .first()
            .map(|b| (b.bitrate, b.fd))
            .unwrap_or((500_000, false));
        let frame_max = if fd {
            crate::frame::CANFD_MAX_DLEN
        } else {
            crate::frame::CAN_MAX_DLEN
        };
        let bcm = self.bcm_section(&bcm);
        let reads = self.data_reads(parts);
        let (frames, frame_index) = self.broadcasts(parts, fd, frame_max);
        // GMLAN arbitration id → its first frame (parameter-id frames).
        let mut gmlan_index = HashMap::new();
        for (i, f) in frames.iter().enumerate() {
            if let Some(arb) = f.gmlan_arbitration_id {
                gmlan_index.entry(arb).or_insert(i);
            }
        }
        let causes = self.causes(parts);
        let dtcs = self.dtcs(parts, &causes);
        let release_conditions = self.release_conditions(parts, &reads, &frames);
        let active_test = active.map(|(fi, a)| self.active_test(fi, a.into_inner()));
        let relearn =
            relearn.and_then(|(fi, r)| self.relearn(fi, r, &reads, &frames, bcm.as_ref()));
        let lim = self.limits(&limits);
        let (known_ids, census_complete) = self.census(&census, &frames);
        let recorded = self.recorded(&census, &buses);
        let access_now = owner
            .map(|(_, o)| o.into_inner().access_now)
            .unwrap_or_default();

        self.check_overlaps(&reads, &frames);
        if bcm.is_none() && need_profile {
            // Reads and the output test go to the body module.
            if let Some(r) = reads.first() {
                self.at(
                    0,
                    0..0,
                    format!(
                        "expected a [bcm] table: [[data]] \"{}\" is read from the body module",
                        r.name
                    ),
                );
            }
            if active_test.is_some() {
                self.at(
                    0,
                    0..0,
                    "expected a [bcm] table: [active_test] is sent to the body module",
                );
            }
        }

        if !need_profile {
            return None;
        }
        let (ifile, identity) = identity?;
        let identity = identity.into_inner();
        let lid = match &identity.lid {
            None => Lid::Trunk,
            Some(l) => match Lid::ALL.into_iter().find(|x| x.as_str() == l.get_ref()) {
                Some(x) => x,
                None => {
                    self.at(
                        ifile,
                        l.span(),
                        format!(
                            "expected lid = \"trunk\" or \"liftgate\", found \"{}\"",
                            l.get_ref()
                        ),
                    );
                    Lid::Trunk
                }
            },
        };
        Some(Profile {
            lid,
            id: identity.id.into_inner(),
            make: identity.make,
            model: identity.model,
            generation: identity.generation,
            years,
            description: identity.description,
            vin: vins,
            bitrate,
            fd,
            buses,
            bcm,
            reads,
            frames,
            dtcs,
            causes,
            release_conditions,
            active_test,
            relearn,
            limits: lim,
            access_now,
            census_complete,
            recorded,
            items: std::mem::take(&mut self.items),
            origin: ProfileOrigin::Bundled,
            gmlan_index,
            frame_index,
            known_ids,
        })
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
mod tests;
