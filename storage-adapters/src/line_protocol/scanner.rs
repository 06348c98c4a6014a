//! Byte scanner for one line of line protocol: walks the line, splits it at unescaped delimiters
//! and undoes backslash escapes. Every delimiter is ASCII, so byte positions always fall on UTF-8
//! character boundaries.

use super::LineError;

/// A cursor over one line (without its line ending).
pub(super) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Scanner<'a> {
    /// Starts at byte `pos` of `text`, which is line `line` of the input.
    pub(super) fn new(text: &'a str, pos: usize, line: usize) -> Self {
        Self { text, pos, line }
    }

    /// Current byte offset.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// The next byte, if any.
    pub(super) fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// True when the whole line has been read.
    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    /// Moves past one byte (the caller has peeked an ASCII delimiter).
    pub(super) fn bump(&mut self) {
        self.pos += 1;
    }

    /// Moves past any spaces (the section separator); returns how many were skipped.
    pub(super) fn skip_blanks(&mut self) -> usize {
        let start = self.pos;
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Moves past spaces and tabs at the start of a line.
    pub(super) fn skip_leading_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// An error at byte offset `at` of this line, reported with a 1-based character column.
    pub(super) fn error_at(&self, at: usize, message: impl Into<String>) -> LineError {
        let at = at.min(self.text.len());
        let column = self.text.get(..at).map_or(at, |s| s.chars().count()) + 1;
        LineError {
            line: self.line,
            column,
            message: message.into(),
        }
    }

    /// Reads up to (not including) the first unescaped byte in `stops` or the end of the line,
    /// turning `\x` into `x` for every `x` in `escapable`; other backslashes stay as they are.
    pub(super) fn take_escaped(&mut self, stops: &[u8], escapable: &[u8]) -> String {
        let bytes = self.text.as_bytes();
        let mut out = String::new();
        let mut chunk_start = self.pos;
        while let Some(&b) = bytes.get(self.pos) {
            if b == b'\\' {
                if let Some(&next) = bytes.get(self.pos + 1) {
                    if escapable.contains(&next) {
                        out.push_str(&self.text[chunk_start..self.pos]);
                        out.push(char::from(next));
                        self.pos += 2;
                        chunk_start = self.pos;
                        continue;
                    }
                }
            } else if stops.contains(&b) {
                break;
            }
            self.pos += 1;
        }
        out.push_str(&self.text[chunk_start..self.pos]);
        out
    }

    /// Reads a double-quoted string field value starting at the opening quote, undoing `\"` and
    /// `\\`; fails with "unterminated string" when the closing quote is missing.
    pub(super) fn take_quoted(&mut self) -> Result<String, LineError> {
        let open = self.pos;
        self.pos += 1;
        let bytes = self.text.as_bytes();
        let mut out = String::new();
        let mut chunk_start = self.pos;
        while let Some(&b) = bytes.get(self.pos) {
            match b {
                b'"' => {
                    out.push_str(&self.text[chunk_start..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' if matches!(bytes.get(self.pos + 1), Some(b'"' | b'\\')) => {
                    out.push_str(&self.text[chunk_start..self.pos]);
                    out.push(char::from(bytes[self.pos + 1]));
                    self.pos += 2;
                    chunk_start = self.pos;
                }
                _ => self.pos += 1,
            }
        }
        Err(self.error_at(open, "unterminated string"))
    }

    /// Reads a run of bytes up to the next space or comma (an unquoted field value or a
    /// timestamp, which have no escapes).
    pub(super) fn take_token(&mut self) -> &'a str {
        let start = self.pos;
        while !matches!(self.peek(), None | Some(b' ' | b',')) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }
}
