//! A problem in a profile file at a `file:line:column` position, and
//! byte-offset → line/column. Below the loader (which finds problems) and
//! the checker (which reports them).

use std::fmt;
use std::ops::Range;

use serde::Serialize;

/// One thing wrong in a profile, at a position (line and column from 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: String,
    pub line: usize,
    pub column: usize,
    /// Says what was expected.
    pub message: String,
}

impl Problem {
    /// A problem at byte range `span` of `text`.
    pub fn at(path: &str, text: &str, span: Range<usize>, message: String) -> Problem {
        let (line, column) = line_col(text, span.start);
        Problem {
            path: path.to_owned(),
            line,
            column,
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.column, self.message
        )
    }
}

/// Line and column (both from 1, column in characters) of a byte offset;
/// an offset past the end or inside a character is clamped, never a panic.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut off = offset.min(text.len());
    while off > 0 && !text.is_char_boundary(off) {
        off -= 1;
    }
    let before = text.get(..off).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_clamps() {
        let t = "ab\ncdé\nx";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, 5), (2, 3));
        // Inside the two-byte é: clamped back to its start.
        assert_eq!(line_col(t, 6), (2, 3));
        assert_eq!(line_col(t, 999), (3, 2));
    }
}
