//! `check_file`: every problem in a profile or layout file, with
//! `file:line:column` positions (schema errors from the TOML deserializer,
//! then every semantic problem the loader finds). Above the loader; must
//! not print anything: the CLI does.

use std::path::Path;

use super::load;
use super::problem::Problem;

/// Checks one profile or layout file and returns every problem found (empty
/// when the file is fine). An unreadable file is one problem at 1:1.
pub fn check_file(path: &Path) -> Vec<Problem> {
    match load::read_source(path) {
        Ok(src) => {
            let mut problems = load::build(src).problems;
            // File order reads best; problems from merged layouts keep their own path.
            problems.sort_by(|a, b| {
                (
                    a.path != path.display().to_string(),
                    &a.path,
                    a.line,
                    a.column,
                )
                    .cmp(&(
                        b.path != path.display().to_string(),
                        &b.path,
                        b.line,
                        b.column,
                    ))
            });
            problems
        }
        Err(e) => vec![Problem {
            path: path.display().to_string(),
            line: 1,
            column: 1,
            message: format!("expected a readable file: {e}"),
        }],
    }
}
