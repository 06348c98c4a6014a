//! Splits scripts and REPL input into `;`-separated statements.
//!
//! A `;` ends a statement unless it is inside a single- or double-quoted
//! string or a `--` comment. Each statement remembers where it starts in the
//! source (1-based line and column) so that an error position inside it can
//! be reported against the whole script.

/// One statement of a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement<'a> {
    /// Its text, trimmed, without the `;`.
    pub text: &'a str,
    /// 1-based line of its first character in the source.
    pub line: usize,
    /// 1-based column (characters) of its first character.
    pub column: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    Single,
    Double,
    Comment,
}

/// Byte offsets of the statement-ending `;`s of `src`.
fn terminators(src: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut state = State::Code;
    let mut chars = src.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        state = match (state, c) {
            (State::Code, ';') => {
                out.push(i);
                State::Code
            }
            (State::Code, '\'') => State::Single,
            (State::Code, '"') => State::Double,
            (State::Code, '-') if chars.peek().map(|p| p.1) == Some('-') => State::Comment,
            (State::Single, '\'') | (State::Double, '"') | (State::Comment, '\n') => State::Code,
            (s, _) => s,
        };
    }
    out
}

/// True when `text` holds only whitespace and `--` comments.
fn is_blank(text: &str) -> bool {
    text.lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"))
}

/// 1-based (line, column) of byte `offset` in `src`.
pub fn position(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The non-empty statements of `src`; text after the last `;` counts as a
/// statement too (scripts need not end with `;`).
pub fn split_statements(src: &str) -> Vec<Statement<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let ends = terminators(src);
    for end in ends.iter().copied().chain(std::iter::once(src.len())) {
        let piece = &src[start..end];
        if !is_blank(piece) {
            let lead = piece.len() - piece.trim_start().len();
            let (line, column) = position(src, start + lead);
            out.push(Statement {
                text: piece.trim(),
                line,
                column,
            });
        }
        start = (end + 1).min(src.len());
    }
    out
}

/// True when `src` ends with a complete statement: its last non-blank part
/// is a `;` outside strings and comments (what the REPL waits for).
pub fn is_complete(src: &str) -> bool {
    match terminators(src).last() {
        Some(&last) => is_blank(&src[last + 1..]),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_semicolons_outside_strings_and_comments() {
        let src = "SELECT 'a;b' FROM m;\n  -- c;d\nSELECT \"x;\" FROM n ;";
        let got = split_statements(src);
        assert_eq!(
            got,
            vec![
                Statement {
                    text: "SELECT 'a;b' FROM m",
                    line: 1,
                    column: 1
                },
                // The comment line belongs to the second statement's text.
                Statement {
                    text: "-- c;d\nSELECT \"x;\" FROM n",
                    line: 2,
                    column: 3
                },
            ]
        );
    }

    #[test]
    fn trailing_text_without_semicolon_is_a_statement() {
        let got = split_statements("a;\n\n   b c");
        assert_eq!(got.len(), 2);
        assert_eq!((got[1].text, got[1].line, got[1].column), ("b c", 3, 4));
        assert!(split_statements(" ; ;\n -- only a comment\n").is_empty());
    }

    #[test]
    fn completeness_waits_for_a_final_semicolon() {
        assert!(!is_complete("SELECT a FROM m"));
        assert!(!is_complete("SELECT 'x;"));
        assert!(!is_complete("SELECT a; SELECT b"));
        assert!(is_complete("SELECT a FROM m;"));
        assert!(is_complete("SELECT a FROM m;  -- done\n"));
    }

    #[test]
    fn positions_count_characters() {
        // "é" is two bytes but one column: byte 3 is the 'x' in column 3.
        assert_eq!(position("éax\nyz", 3), (1, 3));
        assert_eq!(position("éax\nyz", 6), (2, 2));
    }
}
