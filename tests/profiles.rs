//! The `profiles` command and profile files, end to end through the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/profiles")
        .join(name)
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin()
        .args(args)
        .env_remove("TRUNKDIAG_PROFILES")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `profiles list` shows the one bundled list, which is `vehicles/*.toml`.
#[test]
fn list_names_every_bundled_profile_and_vehicles_holds_them() {
    let bundled: Vec<&str> = trunkdiag::profile::bundled().collect();
    let mut files: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("vehicles"))
            .unwrap()
            .filter_map(|e| {
                let p = e.unwrap().path();
                (p.extension()? == "toml")
                    .then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
            })
            .collect();
    files.sort();
    let mut sorted = bundled.clone();
    sorted.sort_unstable();
    assert_eq!(files, sorted, "vehicles/*.toml against profile::bundled()");
    let (code, out, _) = run(&["profiles", "list"]);
    assert_eq!(code, 0);
    // One line a profile, then a blank line and the folders searched.
    let listed: Vec<&str> = out
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(listed, bundled, "{out}");
    let (code, json, _) = run(&["profiles", "list", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, bundled);
}

#[test]
fn show_prints_level_and_source_of_every_item() {
    let (code, out, _) = run(&["profiles", "show", "nissan-altima-2013-2018"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    let at = |name: &str| {
        let i = lines
            .iter()
            .position(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"));
        (lines[i], lines.get(i + 1).copied().unwrap_or(""))
    };
    let (line, source) = at("TR CANCEL SW");
    assert!(line.ends_with("[placeholder]"), "{line}");
    assert!(
        source
            .trim_start()
            .starts_with("source: placeholder position"),
        "{source}"
    );
    let (line, source) = at("session start");
    assert!(line.ends_with("[this-model]"), "{line}");
    assert!(source.contains("2014 Altima"), "{source}");
    let (line, _) = at("TR/BD OPEN SW");
    assert!(line.ends_with("[related-model]"), "{line}");
    let (line, _) = at("bus hs-can (default)");
    assert!(line.contains("500 kbit/s, OBD-II pins 6/14"), "{line}");
    let (code, json, _) = run(&["profiles", "show", "ford-fusion-2013-2020", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["bcm"]["request_id"], "726");
    assert_eq!(v["bcm"]["response_id"], "72E");
}

#[test]
fn show_unknown_name_fails_with_the_list() {
    let (code, _, err) = run(&["profiles", "show", "nissan-sunny"]);
    assert_eq!(code, 2);
    assert!(err.contains("generic-uds"), "{err}");
}

#[test]
fn check_accepts_every_bundled_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("vehicles");
    let mut files: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .chain(std::fs::read_dir(root.join("layouts")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert_eq!(files.len(), 29);
    let mut args = vec!["profiles", "check"];
    args.extend(files.iter().map(String::as_str));
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().filter(|l| l.ends_with(": ok")).count(), 29);
}

#[test]
fn check_reports_an_unknown_key_with_its_position() {
    let f = data("broken-unknown-key.toml");
    let (code, _, err) = run(&["profiles", "check", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    let want = format!(
        "{}:9:1: expected valid profile TOML: unknown field `colour`",
        f.display()
    );
    assert!(err.contains(&want), "{err}");
}

#[test]
fn check_reports_every_semantic_problem() {
    let f = data("broken-semantics.toml");
    let (code, _, err) = run(&["profiles", "check", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    let p = f.display().to_string();
    let expected = [
        (6, 12, "expected a layout name"),
        (14, 15, "expected an 11-bit id"),
        (
            15,
            9,
            "expected a `source` for `BCM diagnostic ids`: an item at level `this-model`",
        ),
        (31, 8, "expected signals of 0x60D not to overlap"),
        (38, 8, "expected the signal inside the 8-byte payload"),
        (44, 8, "expected a role"),
        (51, 9, "expected a cause id"),
        (
            56,
            8,
            "expected a data field or signal with role `ignition_on`",
        ),
    ];
    for (line, col, msg) in expected {
        let prefix = format!("{p}:{line}:{col}: {msg}");
        assert!(
            err.lines().any(|l| l.starts_with(&prefix)),
            "missing `{prefix}` in:\n{err}"
        );
    }
    assert!(err.contains("8 problem(s)"), "{err}");
    // Reported in file order.
    let lines: Vec<usize> = err
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{p}:")))
        .filter_map(|r| r.split(':').next()?.parse().ok())
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

/// A single-wire bus (GM LS-GMLAN) is shown with its kind, pin and rate;
/// one at a high-speed rate and pins is refused at its lines, exit 2.
#[test]
fn a_single_wire_bus_is_shown_by_kind_and_checked() {
    let f = data("single-wire-body.toml");
    let (code, out, err) = run(&["profiles", "show", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("\nbus sw-can: single-wire CAN, OBD-II pin 1, 33.3 kbit/s  [placeholder]"),
        "{out}"
    );
    assert!(
        out.contains("\nbus hs-can (default): 500 kbit/s, OBD-II pins 6/14  [placeholder]"),
        "{out}"
    );
    let (code, json, _) = run(&["profiles", "show", f.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["buses"][1]["kind"], "single-wire", "{json}");
    assert_eq!(v["buses"][0]["kind"], "high-speed", "{json}");

    let f = data("broken-single-wire.toml");
    let (code, _, err) = run(&["profiles", "check", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    let p = f.display();
    for want in [
        format!("{p}:11:11: expected bitrate = 33333 for a single-wire bus"),
        format!("{p}:12:8: expected pins = [1] for a single-wire bus"),
    ] {
        assert!(err.lines().any(|l| l.starts_with(&want)), "{want}\n{err}");
    }
    assert!(err.contains("2 problem(s)"), "{err}");
}

#[test]
fn a_profile_from_a_path_uses_its_own_layouts_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("layouts")).unwrap();
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("vehicles");
    let l33 = std::fs::read_to_string(bundled.join("nissan-altima-2013-2018.toml")).unwrap();
    let my = l33.replace("id = \"nissan-altima-2013-2018\"", "id = \"my-altima\"");
    std::fs::write(dir.path().join("my-altima.toml"), my).unwrap();
    // A local copy of the BCM layout with one id changed overrides the bundled one.
    let layout = std::fs::read_to_string(bundled.join("layouts/nissan-bcm-kwp.toml")).unwrap();
    std::fs::write(
        dir.path().join("layouts/nissan-bcm-kwp.toml"),
        layout.replace("0x765", "0x766"),
    )
    .unwrap();
    let path = dir.path().join("my-altima.toml");
    let p = trunkdiag::profile::load(path.to_str().unwrap()).unwrap();
    assert_eq!(p.id, "my-altima");
    assert_eq!(
        p.bcm().unwrap().response_id,
        trunkdiag::frame::CanId::Standard(0x766)
    );
    // And the environment directory lists it.
    let out = bin()
        .args(["profiles", "list"])
        .env("TRUNKDIAG_PROFILES", dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("my-altima"));
}

/// A bundled profile's text with another id and description.
fn altima_as(id: &str, description: &str) -> String {
    let bundled =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("vehicles/nissan-altima-2013-2018.toml");
    let text = std::fs::read_to_string(bundled).unwrap();
    let (head, rest) = text.split_once("\ndescription = ").unwrap();
    let rest = rest.split_once('\n').unwrap().1;
    format!("{head}\ndescription = \"{description}\"\n{rest}").replace(
        "id = \"nissan-altima-2013-2018\"",
        &format!("id = \"{id}\""),
    )
}

/// A name is looked for in `TRUNKDIAG_PROFILES`'s directories in order
/// (split as `PATH` is), then in the user's profile folder, then among the
/// bundled profiles; a directory that is not there is named, not an error.
#[test]
fn names_are_found_in_the_listed_directories_then_the_users_folder_then_bundled() {
    let root = tempfile::tempdir().unwrap();
    let first = root.path().join("first");
    let missing = root.path().join("missing");
    let second = root.path().join("second");
    let config = root.path().join("config");
    let user = config.join("trunkdiag/profiles");
    for d in [&first, &second, &user] {
        std::fs::create_dir_all(d).unwrap();
    }
    let l33 = "nissan-altima-2013-2018";
    let write = |dir: &Path, id: &str, description: &str| {
        std::fs::write(dir.join(format!("{id}.toml")), altima_as(id, description)).unwrap();
    };
    write(&second, "my-altima", "from the second directory");
    write(&first, l33, "from the first directory");
    write(&second, l33, "from the second directory");
    write(&user, l33, "from the user's folder");
    write(&user, "user-only", "from the user's folder");
    let list = std::env::join_paths([&first, &missing, &second]).unwrap();
    let run = |env: bool, args: &[&str]| {
        let mut cmd = bin();
        cmd.args(args)
            .env("XDG_CONFIG_HOME", &config)
            .env_remove("TRUNKDIAG_PROFILES");
        if env {
            cmd.env("TRUNKDIAG_PROFILES", &list);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let description = |env: bool, name: &str| {
        let (code, out, err) = run(env, &["profiles", "show", name, "--json"]);
        assert_eq!(code, Some(0), "{name}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["description"].as_str().unwrap().to_owned()
    };
    assert_eq!(description(true, "my-altima"), "from the second directory");
    assert_eq!(description(true, l33), "from the first directory");
    assert_eq!(description(true, "user-only"), "from the user's folder");
    assert_eq!(description(false, l33), "from the user's folder");

    // The list: the first found of each id, then the folders in order.
    let (code, out, err) = run(true, &["profiles", "list"]);
    assert_eq!(code, Some(0), "{err}");
    let (profiles, folders) = out.split_once("\n\n").unwrap();
    let line = |id: &str| {
        profiles
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("{id} not listed: {out}"))
            .to_owned()
    };
    let shown = |p: &Path| p.join(format!("{l33}.toml")).display().to_string();
    assert!(line(l33).contains(&shown(&first)), "{out}");
    assert!(line("my-altima").contains("second"), "{out}");
    assert!(
        line("user-only").contains(&user.display().to_string()),
        "{out}"
    );
    assert_eq!(profiles.lines().filter(|l| l.starts_with(l33)).count(), 1);
    let want = [
        format!("  {} (from TRUNKDIAG_PROFILES)", first.display()),
        format!(
            "  {} (from TRUNKDIAG_PROFILES; no such directory)",
            missing.display()
        ),
        format!("  {} (from TRUNKDIAG_PROFILES)", second.display()),
        format!("  {} (your profile folder)", user.display()),
        format!(
            "  bundled ({} profiles)",
            trunkdiag::profile::bundled().count()
        ),
    ];
    let got: Vec<&str> = folders.lines().skip(1).collect();
    assert_eq!(got, want, "{out}");

    // A name found nowhere: exit 2, naming where it was looked for.
    let (code, _, err) = run(true, &["profiles", "show", "no-such-car"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no profile named `no-such-car`"), "{err}");
    assert!(
        err.contains(&format!(
            "{} (from TRUNKDIAG_PROFILES; no such directory)",
            missing.display()
        )),
        "{err}"
    );
}
