//! Vehicle profiles: one TOML file per vehicle family (`vehicles/*.toml`),
//! optionally merging shared layout fragments (`vehicles/layouts/*.toml`),
//! converted at load time into the core [`Profile`].
//!
//! Entry points: [`load`], [`list`], [`check_file`]. The TOML types
//! (`schema`) stay inside this module; everything else uses `model` types.
//! This module knows nothing about ISO-TP framing, transports or the CLI;
//! it only names its BCM's protocol and addressing in `diag` and `isotp` types.

mod check;
pub mod dbc;
mod load;
mod model;
mod problem;
mod schema;
pub mod search;
pub mod signal;
pub mod write;

pub use check::check_file;
pub use load::{DEFAULT_LOW_BATTERY_VOLTS, DEFAULT_RELEASE_WINDOW_MS};
pub use model::*;
pub use problem::{line_col, Problem};
pub use search::PROFILES_ENV;

use serde::Serialize;

/// The profile `--profile auto` falls back to when neither a VIN nor the
/// bus names the car: OBD-II trouble codes and voltage only.
pub const FALLBACK_PROFILE: &str = "generic-uds";

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    #[error("no profile named `{name}`: expected a path to a .toml file or one of: {}{}", known.join(", "), searched_in(searched))]
    NotFound {
        name: String,
        known: Vec<String>,
        /// The directories looked in before the bundled profiles, each
        /// described ([`search::SearchDir::describe`]).
        searched: Vec<String>,
    },
    #[error("{path}: expected a readable profile file: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("profile `{name}` has {} problem(s):\n{}", problems.len(), problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid {
        name: String,
        problems: Vec<Problem>,
    },
}

/// `; looked for NAME.toml in A (from TRUNKDIAG_PROFILES), B (your profile
/// folder; not made yet)`, or nothing when no directory was searched.
fn searched_in(dirs: &[String]) -> String {
    if dirs.is_empty() {
        String::new()
    } else {
        format!(
            "; looked for it (NAME.toml) in {}, then among the bundled ones",
            dirs.join(", ")
        )
    }
}

/// Loads a profile by name: from the directories in `TRUNKDIAG_PROFILES`,
/// then the user's profile folder, then the bundled ones, the first found
/// ([`search`]); or from a path (anything containing a path separator or
/// ending in `.toml`).
pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
    load::load(name_or_path)
}

/// True when [`load`] reads `spec` as a file path rather than a name.
/// A profile from TOML text; `name` is what messages call the file. Its
/// `layouts` resolve to the bundled ones.
pub fn parse(name: &str, text: &str) -> Result<Profile, ProfileError> {
    load::parse(name, text)
}

pub fn is_path(spec: &str) -> bool {
    load::is_path(spec)
}

/// One line of `profiles list`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProfileSummary {
    pub id: String,
    pub make: String,
    pub model: String,
    pub years: (u16, u16),
    pub description: String,
    /// `bundled` or the file path.
    pub origin: ProfileOrigin,
    /// Number of items at level `placeholder`.
    pub placeholder_items: usize,
    /// Problems, for a profile in a searched directory that does not load.
    pub problems: Vec<Problem>,
}

impl ProfileSummary {
    fn of(p: &Profile) -> ProfileSummary {
        ProfileSummary {
            id: p.id.clone(),
            make: p.make.clone(),
            model: p.model.clone(),
            years: p.years,
            description: p.description.clone(),
            origin: p.origin.clone(),
            placeholder_items: p.placeholder_items().count(),
            problems: Vec::new(),
        }
    }
}

/// The names of the bundled profiles (`vehicles/*.toml`), in the order
/// `profiles list` shows them: the one list, read by everything that needs it.
pub fn bundled() -> impl Iterator<Item = &'static str> {
    load::BUNDLED.iter().map(|(name, _, _)| *name)
}

/// What `--profile auto` chooses among: the name or path to load of every
/// profile that loads, but the generic fallback (by VIN or by the bus).
pub fn candidates() -> Vec<String> {
    list()
        .into_iter()
        .filter(|s| s.id != FALLBACK_PROFILE && s.problems.is_empty())
        .map(|s| match s.origin {
            ProfileOrigin::Bundled => s.id,
            ProfileOrigin::File(path) => path,
        })
        .collect()
}

/// Every available profile: bundled ones, then those in the user's profile
/// folder, then those in `TRUNKDIAG_PROFILES`'s directories, last to
/// first: a profile of the same id from a place searched earlier
/// ([`search`]) replaces the entry.
pub fn list() -> Vec<ProfileSummary> {
    let mut out: Vec<ProfileSummary> = Vec::new();
    for name in bundled() {
        match load::load_bundled(name) {
            Ok(p) => out.push(ProfileSummary::of(&p)),
            Err(e) => out.push(broken(name, ProfileOrigin::Bundled, e)),
        }
    }
    for dir in search::search_dirs().iter().rev() {
        let mut paths: Vec<_> = std::fs::read_dir(&dir.path)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                    .collect()
            })
            .unwrap_or_default();
        paths.sort();
        for path in paths {
            let summary = match load::load_path(&path) {
                Ok(p) => ProfileSummary::of(&p),
                Err(e) => {
                    let name = path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    broken(&name, ProfileOrigin::File(path.display().to_string()), e)
                }
            };
            out.retain(|s| s.id != summary.id);
            out.push(summary);
        }
    }
    out
}

fn broken(name: &str, origin: ProfileOrigin, e: ProfileError) -> ProfileSummary {
    let problems = match e {
        ProfileError::Invalid { problems, .. } => problems,
        other => vec![Problem {
            path: name.to_owned(),
            line: 1,
            column: 1,
            message: other.to_string(),
        }],
    };
    ProfileSummary {
        id: name.to_owned(),
        make: String::new(),
        model: String::new(),
        years: (0, 0),
        description: String::new(),
        origin,
        placeholder_items: 0,
        problems,
    }
}
