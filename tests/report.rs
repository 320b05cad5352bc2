//! `diagnose --report FILE.html` for every bundled scenario, judged by tools
//! that are not ours: a headless Chromium (Debian's `chromium-headless-shell`
//! or `chromium`) loads each page with name resolution disabled, dumps the DOM
//! with the console logged, takes a screenshot and prints it to PDF; tidy
//! checks the HTML. Both are installed by `.ci/run`; without them those
//! checks are a `common::skip` (a failure under `CI=true`).
//!
//! `UPDATE_EXPECT=1` rewrites the two screenshots in docs/ that the README
//! links.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

mod common;

/// A tool on PATH, or a `common::skip` (a failure under CI).
fn tool(names: &[&str]) -> Option<PathBuf> {
    let found = names.iter().find_map(|n| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(n))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        return common::skip(
            &format!(
                "{} (apt-get install chromium-headless-shell tidy)",
                names[0]
            ),
            format!("none of {names:?} is on PATH"),
            ".ci/run installs them",
        );
    }
    found
}

struct Page {
    name: String,
    html: PathBuf,
    json: serde_json::Value,
}

/// Every bundled capture diagnosed with `--json --report`.
fn render_all(dir: &Path) -> Vec<Page> {
    let mut pages = Vec::new();
    let mut logs: Vec<PathBuf> = std::fs::read_dir(root().join("captures"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).into_iter().flatten())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    for log in logs {
        let profile = log
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let scenario = log.file_stem().unwrap().to_string_lossy().into_owned();
        let name = format!("{profile}-{scenario}");
        let html = dir.join(format!("{name}.html"));
        // Relative to the repository, as a user would type it (the committed
        // screenshots show it).
        let rel = log.strip_prefix(root()).unwrap_or(&log);
        let out = Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
            .current_dir(root())
            .args(["diagnose", "--replay"])
            .arg(rel)
            .args(["--profile", &profile, "--no-prompt", "--json", "--report"])
            .arg(&html)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json = serde_json::from_slice(&out.stdout).unwrap();
        pages.push(Page { name, html, json });
    }
    assert!(pages.len() >= 50, "{} bundled captures", pages.len());
    pages
}

fn presses(p: &Page) -> usize {
    p.json["evidence"]["release_attempts"]
        .as_array()
        .map_or(0, Vec::len)
}

fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[test]
fn every_scenario_gets_a_self_contained_report() {
    let dir = tempfile::tempdir().unwrap();
    let pages = render_all(dir.path());
    let mut failures = Vec::new();
    for p in &pages {
        let html = std::fs::read_to_string(&p.html).unwrap();
        let top = &p.json["verdicts"][0];
        let mut why = Vec::new();
        if html.len() > 200_000 {
            why.push(format!("{} bytes", html.len()));
        }
        for needle in ["<script", "<link", " src=", "url(", "@import", "https://"] {
            if html.contains(needle) {
                why.push(format!("refers outside the page ({needle})"));
            }
        }
        if html.matches("http://").count() != html.matches("http://www.w3.org/2000/svg").count() {
            why.push("an http:// reference other than the SVG namespace".into());
        }
        let summary = escaped(top["summary"].as_str().unwrap_or_default());
        if !html.contains(&summary) {
            why.push("the verdict summary is missing".into());
        }
        // What the verdict rests on below "this model", by level, in words.
        for group in top["rests_on"].as_array().into_iter().flatten() {
            let words = escaped(group["words"].as_str().unwrap_or("?"));
            if !html.contains(&format!("<strong>{words}</strong>")) {
                why.push(format!(
                    "no \"{words}\" line for the items the verdict rests on"
                ));
            }
        }
        let marks = html.matches("<g class=\"press ").count();
        if marks != presses(p) {
            why.push(format!("{marks} press marks for {} presses", presses(p)));
        }
        if !why.is_empty() {
            failures.push(format!("{}: {}", p.name, why.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tidy_finds_no_errors() {
    let Some(tidy) = tool(&["tidy"]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for p in render_all(dir.path()) {
        let out = Command::new(&tidy)
            .args(["-q", "-e"])
            .arg(&p.html)
            .output()
            .unwrap();
        // 0: clean, 1: warnings, 2: errors. Ask for clean.
        if out.status.code() != Some(0) {
            failures.push(format!(
                "{}: {}",
                p.name,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs the browser on one page with name resolution disabled.
fn browser(exe: &Path, page: &Path, args: &[&str]) -> std::process::Output {
    Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap()
}

fn pdf_pages(pdf: &[u8]) -> usize {
    // Page objects: `/Type /Page` not followed by `s` (`/Pages` is the tree).
    let pat = b"/Type";
    let mut n = 0;
    let mut i = 0;
    while let Some(off) = pdf[i..].windows(pat.len()).position(|w| w == pat) {
        let rest = &pdf[i + off + pat.len()..];
        let rest = rest.strip_prefix(b" ").unwrap_or(rest);
        if rest.starts_with(b"/Page") && rest.get(5) != Some(&b's') {
            n += 1;
        }
        i += off + pat.len();
    }
    n
}

#[test]
fn chromium_loads_every_report_without_errors() {
    let Some(exe) = tool(&["chromium-headless-shell", "chromium", "chromium-browser"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pages = render_all(dir.path());
    // Two browsers at a time: the machines have two cores.
    let (a, b) = pages.split_at(pages.len() / 2);
    let failures: Vec<String> = std::thread::scope(|sc| {
        let ha = sc.spawn(|| check_in_browser(&exe, dir.path(), a));
        let hb = sc.spawn(|| check_in_browser(&exe, dir.path(), b));
        let mut f = ha.join().unwrap();
        f.extend(hb.join().unwrap());
        f
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// DOM, console, screenshot and print checks for some pages; the failures.
fn check_in_browser(exe: &Path, dir: &Path, pages: &[Page]) -> Vec<String> {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for p in pages {
        let mut why = Vec::new();
        let dom = browser(exe, &p.html, &["--dump-dom"]);
        let stdout = String::from_utf8_lossy(&dom.stdout);
        let stderr = String::from_utf8_lossy(&dom.stderr);
        if !dom.status.success() || stdout.is_empty() {
            why.push(format!("did not load: {stderr}"));
        }
        for l in stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        {
            why.push(format!("console: {l}"));
        }
        let top = &p.json["verdicts"][0];
        for text in [top["id"].as_str(), top["summary"].as_str()]
            .into_iter()
            .flatten()
        {
            if !stdout.contains(&escaped(text)) {
                why.push(format!("`{text}` not in the DOM"));
            }
        }
        let n = presses(p);
        let marks = stdout.matches("data-press=\"").count();
        let rows = stdout.matches("class=\"press-row\"").count();
        if marks != n || rows != n {
            why.push(format!(
                "{marks} SVG marks and {rows} table rows for {n} presses"
            ));
        }
        let png = dir.join(format!("{}.png", p.name));
        let shot = browser(
            exe,
            &p.html,
            &[
                "--window-size=1000,1600",
                &format!("--screenshot={}", png.display()),
            ],
        );
        let size = std::fs::metadata(&png).map_or(0, |m| m.len());
        if !shot.status.success() || size < 10_000 {
            why.push(format!("screenshot of {size} bytes"));
        }
        let pdf = dir.join(format!("{}.pdf", p.name));
        browser(
            exe,
            &p.html,
            &[
                "--no-pdf-header-footer",
                &format!("--print-to-pdf={}", pdf.display()),
            ],
        );
        let pages = pdf_pages(&std::fs::read(&pdf).unwrap_or_default());
        if !(1..=2).contains(&pages) {
            why.push(format!("prints on {pages} A4 pages, not one or two"));
        }
        if update {
            for (scenario, doc) in [
                (
                    "nissan-altima-2013-2018-valet-lockout",
                    "report-valet-lockout.png",
                ),
                (
                    "ford-fusion-2013-2020-low-battery",
                    "report-low-battery.png",
                ),
            ] {
                if p.name == scenario {
                    std::fs::copy(&png, root().join("docs").join(doc)).unwrap();
                }
            }
        }
        if !why.is_empty() {
            failures.push(format!("{}: {}", p.name, why.join("; ")));
        }
    }
    failures
}

#[test]
fn batch_writes_one_report_per_job_and_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let out = Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
        .args([
            "batch",
            "-q",
            "--profile",
            "ford-fusion-2013-2020",
            "--report-dir",
        ])
        .arg(&reports)
        .arg(root().join("captures/ford-fusion-2013-2020"))
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jobs = String::from_utf8_lossy(&out.stdout).lines().count();
    let index = std::fs::read_to_string(reports.join("index.html")).unwrap();
    let pages: Vec<_> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("job-"))
        .collect();
    assert!(jobs >= 14, "{jobs} jobs");
    assert_eq!(pages.len(), jobs);
    for p in &pages {
        assert!(index.contains(&format!("href=\"{p}\"")), "{p} not linked");
    }
}

#[test]
fn an_unwritable_report_fails_the_run_and_names_the_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
        .args([
            "diagnose",
            "--sim",
            "valet-lockout",
            "--profile",
            "nissan-altima-2013-2018",
        ])
        .args(["--no-prompt", "--report", "/nonexistent-dir/r.html"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent-dir/r.html"), "{err}");
}
