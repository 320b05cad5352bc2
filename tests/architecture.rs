//! The module graph has no cycles: a module that imports another is above
//! it, and nothing below imports back. Scans `src/` for `crate::` and
//! `super::` paths (outside comments and `#[cfg(test)]` blocks) and checks
//! two levels: the top-level modules (`profile`, `verdict`, ...) and the
//! submodules within one parent (`profile::load` and `profile::check`).
//! A parent and its own submodules are not an edge here (the parent
//! declares them; a child naming `super::X` is naming its own layer).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;
/// (parent, from, to): `from` and `to` are siblings under `parent`.
type Graph = BTreeMap<Module, BTreeMap<String, BTreeSet<String>>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/profile/load.rs` -> `[profile, load]`; `mod.rs`, `lib.rs`, `main.rs` name their directory.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Module = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its `#[cfg(test)]` items.
fn code_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip_depth: Option<i64> = None;
    let mut pending_cfg_test = false;
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let trimmed = code.trim();
        if let Some(depth) = skip_depth.as_mut() {
            *depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
            if *depth <= 0 && code.contains('}') {
                skip_depth = None;
            }
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            pending_cfg_test = true;
            continue;
        }
        if pending_cfg_test && !trimmed.is_empty() && !trimmed.starts_with("#[") {
            pending_cfg_test = false;
            let depth = code.matches('{').count() as i64 - code.matches('}').count() as i64;
            if depth > 0 {
                skip_depth = Some(depth);
            }
            // `mod tests;` (a file of its own) or a one-line item: skipped.
            continue;
        }
        out.push(code.to_owned());
    }
    out
}

/// Every path that starts with `crate::` or `super::` in `code`, expanded
/// through one level of `{a, b::c}` groups, as segments.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            let before = at.checked_sub(1).and_then(|b| bytes.get(b)).copied();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':') {
                continue; // `$crate::`, `self::super::` or part of a longer name
            }
            let rest = &code[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let head: Vec<String> = rest[..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if rest[end..].starts_with('{') {
                let group_end = rest[end..].find('}').map_or(rest.len(), |g| end + g);
                for member in rest[end + 1..group_end].split(',') {
                    let member = member.trim();
                    let mut p = head.clone();
                    p.extend(
                        member
                            .split("::")
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty() && s != "self" && s != "{"),
                    );
                    found.push(p);
                }
            } else {
                found.push(head);
            }
        }
    }
    found
}

/// The module a path names: `super`/`crate` resolved from `here`, then the
/// longest prefix that is a module.
fn resolve(here: &Module, path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    let mut base: Module = here.clone();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    let mut target = base;
    for seg in rest {
        let mut next = target.clone();
        next.push(seg.clone());
        if modules.contains(&next) {
            target = next;
        } else {
            break;
        }
    }
    Some(target)
}

/// The sibling edge `from -> to` under their common parent, when neither
/// module contains the other.
fn sibling_edge(from: &Module, to: &Module) -> Option<(Module, String, String)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    let a = from.get(common)?;
    let b = to.get(common)?;
    Some((from[..common].to_vec(), a.clone(), b.clone()))
}

fn graph_of(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(src, f)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let here = module_of(src, file);
        let text = std::fs::read_to_string(file).expect("read source");
        for line in code_lines(&text) {
            for path in paths_in(&line) {
                let Some(target) = resolve(&here, &path, &modules) else {
                    continue;
                };
                if let Some((parent, a, b)) = sibling_edge(&here, &target) {
                    graph
                        .entry(parent)
                        .or_default()
                        .entry(a)
                        .or_default()
                        .insert(b);
                }
            }
        }
    }
    graph
}

/// Every cycle, each named once as `a -> b -> ... -> a`.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn walk(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        found: &mut BTreeSet<String>,
    ) {
        if let Some(pos) = stack.iter().position(|n| n == node) {
            let mut cycle: Vec<String> = stack[pos..].to_vec();
            // One name per cycle: start at its smallest module.
            let min = (0..cycle.len()).min_by_key(|&i| &cycle[i]).unwrap_or(0);
            cycle.rotate_left(min);
            let first = cycle[0].clone();
            cycle.push(first);
            found.insert(cycle.join(" -> "));
            return;
        }
        if stack.len() > edges.len() {
            return;
        }
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            walk(next, edges, stack, found);
        }
        stack.pop();
    }
    let mut found = BTreeSet::new();
    for node in edges.keys() {
        walk(node, edges, &mut Vec::new(), &mut found);
    }
    found.into_iter().collect()
}

fn all_cycles(src: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for (parent, edges) in graph_of(src) {
        let prefix = if parent.is_empty() {
            "crate".to_owned()
        } else {
            parent.join("::")
        };
        for c in cycles(&edges) {
            out.push(format!("{prefix}: {c}"));
        }
    }
    out
}

#[test]
fn no_import_cycles_between_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = all_cycles(&src);
    assert!(
        found.is_empty(),
        "import cycles between modules (move the shared thing down a layer):\n  {}",
        found.join("\n  ")
    );
}

/// The scanner itself: a deliberate cycle is found and named, test code
/// and comments are not edges.
#[test]
fn the_scanner_finds_a_deliberate_cycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    let write = |rel: &str, text: &str| {
        let path = src.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write("lib.rs", "pub mod low;\npub mod high;\npub mod top;\n");
    write("low.rs", "// uses crate::high in a comment only\npub struct L;\n#[cfg(test)]\nmod tests {\n    use crate::top::T;\n}\n");
    write("high.rs", "use crate::{low::L, top};\n");
    write("top/mod.rs", "mod a;\nmod b;\npub struct T;\n");
    write("top/a.rs", "use super::b::B;\nuse super::T;\n");
    write("top/b.rs", "pub struct B;\n");
    assert_eq!(all_cycles(src), Vec::<String>::new());

    write("low.rs", "pub struct L(crate::high::H);\n");
    write("top/b.rs", "pub struct B(super::a::A);\n");
    assert_eq!(
        all_cycles(src),
        vec!["crate: high -> low -> high", "top: a -> b -> a"]
    );
}
