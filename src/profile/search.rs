//! Where a profile named on the command line is looked for, first match
//! wins:
//!
//! 1. each directory in `TRUNKDIAG_PROFILES`, in order: a path list split
//!    as the system splits `PATH` (`;` on Windows, `:` elsewhere);
//! 2. the user's profile folder: `%APPDATA%\trunkdiag\profiles` on Windows,
//!    `~/Library/Application Support/trunkdiag/profiles` on macOS,
//!    `$XDG_CONFIG_HOME/trunkdiag/profiles` (or
//!    `~/.config/trunkdiag/profiles`) elsewhere;
//! 3. the bundled profiles.
//!
//! A directory that is not there is no error (the user's folder usually is
//! not): it holds no profiles, and `profiles list` and a profile that is
//! not found say so.

use std::ffi::OsString;
use std::path::PathBuf;

/// Environment variable listing directories of extra profiles
/// (`NAME.toml`, layouts in `layouts/`); its profiles override the user's
/// folder's and the bundled ones of the same name.
pub const PROFILES_ENV: &str = "TRUNKDIAG_PROFILES";

/// Which of the places a directory searched is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Named in `TRUNKDIAG_PROFILES`.
    Env,
    /// The user's profile folder.
    UserFolder,
}

/// A directory profiles are looked for in by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchDir {
    pub path: PathBuf,
    pub place: Place,
}

impl SearchDir {
    /// Why it holds no profiles, when it cannot: it is not there, or it
    /// is a file.
    pub fn problem(&self) -> Option<&'static str> {
        match std::fs::metadata(&self.path) {
            Ok(m) if m.is_dir() => None,
            Ok(_) => Some("not a directory"),
            Err(_) if self.place == Place::UserFolder => Some("not made yet"),
            Err(_) => Some("no such directory"),
        }
    }

    /// `DIR (from TRUNKDIAG_PROFILES)`, `DIR (your profile folder; not
    /// made yet)`: the directory and what it is, for messages.
    pub fn describe(&self) -> String {
        let what = match self.place {
            Place::Env => "from TRUNKDIAG_PROFILES",
            Place::UserFolder => "your profile folder",
        };
        match self.problem() {
            Some(p) => format!("{} ({what}; {p})", self.path.display()),
            None => format!("{} ({what})", self.path.display()),
        }
    }
}

/// The directories searched before the bundled profiles, in order.
pub fn search_dirs() -> Vec<SearchDir> {
    dirs_from(std::env::var_os(PROFILES_ENV), user_folder())
}

fn dirs_from(list: Option<OsString>, user: Option<PathBuf>) -> Vec<SearchDir> {
    let mut out: Vec<SearchDir> = list
        .iter()
        .flat_map(std::env::split_paths)
        // `a;;b` or a trailing separator: an empty entry names nothing
        // (not the working directory).
        .filter(|p| !p.as_os_str().is_empty())
        .map(|path| SearchDir {
            path,
            place: Place::Env,
        })
        .collect();
    out.extend(user.map(|path| SearchDir {
        path,
        place: Place::UserFolder,
    }));
    out
}

/// The user's profile folder on this system, whether or not it exists;
/// `None` when the environment names no home (or a relative one).
pub fn user_folder() -> Option<PathBuf> {
    user_folder_on(std::env::consts::OS, |k| std::env::var_os(k))
}

/// The user's folder on `os` (`std::env::consts::OS`), from the
/// environment `var` reads. Read from the variables users know and set
/// (`%APPDATA%`, `$XDG_CONFIG_HOME`, `$HOME`) rather than asked of the
/// system, so setting them moves it, as it does for other tools.
fn user_folder_on(os: &str, var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    // A relative value is ignored, as the XDG specification asks; on
    // Windows `Path::is_absolute` wants a drive, which %APPDATA% has.
    let abs = |k: &str| {
        var(k)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() || (os == "windows" && is_windows_absolute(p)))
    };
    let base = match os {
        "windows" => abs("APPDATA")?,
        "macos" | "ios" => abs("HOME")?.join("Library").join("Application Support"),
        _ => abs("XDG_CONFIG_HOME").or_else(|| abs("HOME").map(|h| h.join(".config")))?,
    };
    Some(base.join("trunkdiag").join("profiles"))
}

/// `C:\...` or `\\server\...`, checked by text: on other systems (this
/// module's tests) `Path::is_absolute` does not know Windows paths.
fn is_windows_absolute(p: &std::path::Path) -> bool {
    let s = p.to_string_lossy();
    let b = s.as_bytes();
    (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/'))
        || s.starts_with("\\\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The system's path-list separator: what users of `PATH` type.
    const SEP: &str = if cfg!(windows) { ";" } else { ":" };

    fn env(list: &str) -> Vec<PathBuf> {
        dirs_from(Some(OsString::from(list)), None)
            .into_iter()
            .map(|d| d.path)
            .collect()
    }

    #[test]
    fn the_list_splits_on_the_systems_separator_in_order() {
        let list = format!("first{SEP}second{SEP}third");
        assert_eq!(
            env(&list),
            [
                PathBuf::from("first"),
                PathBuf::from("second"),
                PathBuf::from("third")
            ]
        );
        // One directory, as before the list: unchanged.
        assert_eq!(env("only"), [PathBuf::from("only")]);
    }

    #[test]
    fn the_other_systems_separator_is_part_of_a_name() {
        // `;` in a Linux directory name, `:` after a Windows drive letter.
        if cfg!(windows) {
            assert_eq!(env(r"C:\profiles"), [PathBuf::from(r"C:\profiles")]);
        } else {
            assert_eq!(env("odd;name"), [PathBuf::from("odd;name")]);
        }
    }

    #[test]
    fn empty_entries_name_nothing() {
        let list = format!("{SEP}a{SEP}{SEP}b{SEP}");
        assert_eq!(env(&list), [PathBuf::from("a"), PathBuf::from("b")]);
        assert!(env("").is_empty());
    }

    #[test]
    fn the_environment_comes_before_the_users_folder() {
        let dirs = dirs_from(
            Some(OsString::from(format!("a{SEP}b"))),
            Some(PathBuf::from("user")),
        );
        let got: Vec<_> = dirs.iter().map(|d| (d.path.clone(), d.place)).collect();
        assert_eq!(
            got,
            [
                (PathBuf::from("a"), Place::Env),
                (PathBuf::from("b"), Place::Env),
                (PathBuf::from("user"), Place::UserFolder),
            ]
        );
        assert_eq!(
            dirs_from(None, Some(PathBuf::from("user")))[0].place,
            Place::UserFolder
        );
        assert!(dirs_from(None, None).is_empty());
    }

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn the_users_folder_on_each_system() {
        let linux = user_folder_on(
            "linux",
            vars(&[("HOME", "/home/ann"), ("XDG_CONFIG_HOME", "/cfg")]),
        );
        assert_eq!(linux, Some(PathBuf::from("/cfg/trunkdiag/profiles")));
        let linux = user_folder_on("linux", vars(&[("HOME", "/home/ann")]));
        assert_eq!(
            linux,
            Some(PathBuf::from("/home/ann/.config/trunkdiag/profiles"))
        );
        // A relative XDG_CONFIG_HOME is ignored (XDG Base Directory spec).
        let linux = user_folder_on(
            "linux",
            vars(&[("HOME", "/home/ann"), ("XDG_CONFIG_HOME", "cfg")]),
        );
        assert_eq!(
            linux,
            Some(PathBuf::from("/home/ann/.config/trunkdiag/profiles"))
        );
        let mac = user_folder_on("macos", vars(&[("HOME", "/Users/ann")]));
        assert_eq!(
            mac,
            Some(PathBuf::from(
                "/Users/ann/Library/Application Support/trunkdiag/profiles"
            ))
        );
        let win = user_folder_on(
            "windows",
            vars(&[("APPDATA", r"C:\Users\ann\AppData\Roaming")]),
        )
        .unwrap();
        assert!(win.ends_with(PathBuf::from("trunkdiag").join("profiles")));
        assert!(win
            .to_string_lossy()
            .starts_with(r"C:\Users\ann\AppData\Roaming"));
        // No home: no folder (and no panic).
        assert_eq!(user_folder_on("linux", vars(&[])), None);
        assert_eq!(user_folder_on("windows", vars(&[("HOME", "/x")])), None);
        assert_eq!(user_folder_on("linux", vars(&[("HOME", "rel")])), None);
    }

    #[test]
    fn a_missing_directory_is_described_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let there = SearchDir {
            path: dir.path().to_owned(),
            place: Place::Env,
        };
        assert_eq!(there.problem(), None);
        assert!(there.describe().ends_with("(from TRUNKDIAG_PROFILES)"));
        let gone = SearchDir {
            path: dir.path().join("gone"),
            place: Place::Env,
        };
        assert_eq!(gone.problem(), Some("no such directory"));
        let user = SearchDir {
            path: dir.path().join("gone"),
            place: Place::UserFolder,
        };
        assert!(user
            .describe()
            .ends_with("(your profile folder; not made yet)"));
        let file = dir.path().join("f.toml");
        std::fs::write(&file, "").unwrap();
        let file = SearchDir {
            path: file,
            place: Place::Env,
        };
        assert_eq!(file.problem(), Some("not a directory"));
    }
}
