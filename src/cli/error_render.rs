//! Prints errors like a compiler: the message, where it is, the offending
//! line of the query and a caret under the column.
//!
//! ```text
//! error: plan error: FILL needs SAMPLE BY
//!  --> query:1:33
//!   |
//! 1 | SELECT avg(v) FROM m FILL(zero)
//!   |                      ^
//! ```

use std::borrow::Cow;

use crate::cli::backend::CliError;
use crate::cli::statements::Statement;

/// `text` with every control character but newline and tab escaped
/// (`\u{0}`, `\r`, `\u{1b}`...), so bytes of a rejected input line or a
/// file name never reach the terminal raw.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_escaped(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_escaped(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Renders `error` raised by `stmt` of `source`, the script called
/// `source_name`. Positioned errors get the script line and a caret; the
/// position is reported against the whole script (statement start + offset).
pub fn render_error(
    error: &CliError,
    stmt: Option<(&Statement<'_>, &str)>,
    source_name: &str,
) -> String {
    match (error, stmt) {
        (
            CliError::Query {
                kind,
                line,
                column,
                message,
            },
            Some((stmt, source)),
        ) => render_positioned(
            source,
            &format!("{kind} error: {message}"),
            stmt,
            *line,
            *column,
            source_name,
        ),
        _ => format!("error: {}\n", escape_controls(&error.to_string())),
    }
}

/// The message, a `-->` location line and the caret under `line:column` of
/// the statement (both 1-based, relative to the statement text).
fn render_positioned(
    source: &str,
    message: &str,
    stmt: &Statement<'_>,
    line: usize,
    column: usize,
    source_name: &str,
) -> String {
    let index = line.clamp(1, stmt.text.lines().count().max(1)) - 1;
    // Columns on the statement's first line are shifted by where it starts.
    let script_line = stmt.line + index;
    let script_column = if index == 0 {
        stmt.column + column.max(1) - 1
    } else {
        column
    };
    let text = source.lines().nth(script_line - 1).unwrap_or("");
    let gutter = script_line.to_string();
    let pad = " ".repeat(gutter.len());
    let caret_pad: String = text
        .chars()
        .take(script_column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!(
        "error: {message}\n{pad}--> {source_name}:{script_line}:{script_column}\n{pad} |\n\
         {gutter} | {text}\n{pad} | {caret_pad}^\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_error(line: usize, column: usize) -> CliError {
        CliError::Query {
            kind: "plan".into(),
            line,
            column,
            message: "FILL needs SAMPLE BY".into(),
        }
    }

    #[test]
    fn caret_sits_under_the_column() {
        let stmt = Statement {
            text: "SELECT avg(v) FROM m FILL(zero)",
            line: 1,
            column: 1,
        };
        // "SELECT avg(v) FROM m " is 21 characters: FILL starts in column 22.
        let got = render_error(&query_error(1, 22), Some((&stmt, stmt.text)), "query");
        let expected = "error: plan error: FILL needs SAMPLE BY\n \
                        --> query:1:22\n  |\n\
                        1 | SELECT avg(v) FROM m FILL(zero)\n  \
                        |                      ^\n";
        assert_eq!(got, expected);
    }

    #[test]
    fn positions_are_shifted_to_the_script() {
        // The statement starts at line 9, column 5 of the script; its second
        // line is script line 10, and columns there are not shifted.
        let stmt = Statement {
            text: "SELECT v\nFROM m WHERE",
            line: 9,
            column: 5,
        };
        let source = format!("{}    SELECT v\nFROM m WHERE", "\n".repeat(8));
        let got = render_error(&query_error(2, 8), Some((&stmt, &source)), "q.sql");
        let expected = "error: plan error: FILL needs SAMPLE BY\n  \
                        --> q.sql:10:8\n   |\n\
                        10 | FROM m WHERE\n   \
                        |        ^\n";
        assert_eq!(got, expected);
        // On the first line, column 3 of the statement is column 7 of the script.
        let first = render_error(&query_error(1, 3), Some((&stmt, &source)), "q.sql");
        assert!(
            first.ends_with("9 |     SELECT v\n  |       ^\n"),
            "{first}"
        );
        assert!(first.contains("--> q.sql:9:7\n"), "{first}");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert!(matches!(escape_controls("plain\ttext\n"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("a\0b\r\u{1b}[31m\u{7f}"),
            "a\\u{0}b\\r\\u{1b}[31m\\u{7f}"
        );
    }

    #[test]
    fn other_errors_are_one_line() {
        let got = render_error(
            &CliError::Execution("query cancelled".into()),
            None,
            "query",
        );
        assert_eq!(got, "error: query cancelled\n");
    }
}
