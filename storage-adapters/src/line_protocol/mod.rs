//! InfluxDB line protocol: the text format points arrive in before they reach the WAL.
//!
//! ```text
//! measurement[,tag_key=tag_value...] field_key=field_value[,field_key=field_value...] [timestamp]
//! weather,location=us\ midwest,station=a1 temperature=82.5,ok=true,note="say \"hi\"",n=3i 1465839830100400200
//! ```
//! Measurements escape `,` and space with a backslash; tag keys, tag values and field keys also
//! escape `=`. String field values are double-quoted with `\"` and `\\` escapes. Field values are
//! floats (`1`, `1.5`, `-1e3`), integers (`12i`), unsigned integers (`12u`) or booleans (`t`, `true`,
//! `F`, `FALSE`, ...). The optional timestamp is an integer in the chosen [`Precision`], converted
//! to nanoseconds. Blank lines and `#` comments are skipped, `\r\n` line endings are accepted.
//! A line cannot span several lines: a newline inside a string value ends the line.
//!
//! [`parse_lines`] keeps every valid line and reports each invalid one with its line and column;
//! a [`Line`] displays as line protocol again.

mod parser;
mod scanner;
#[cfg(test)]
mod tests;
mod value;
mod writer;

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Unit of the timestamps in a body of line protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Nanoseconds (`ns`), the default.
    #[default]
    Nanoseconds,
    /// Microseconds (`us`).
    Microseconds,
    /// Milliseconds (`ms`).
    Milliseconds,
    /// Seconds (`s`).
    Seconds,
}

impl Precision {
    /// Nanoseconds in one unit of this precision.
    pub fn nanos_per_unit(self) -> i64 {
        match self {
            Precision::Nanoseconds => 1,
            Precision::Microseconds => 1_000,
            Precision::Milliseconds => 1_000_000,
            Precision::Seconds => 1_000_000_000,
        }
    }
}

/// A precision name other than `ns`, `us`, `ms` or `s`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown precision '{0}' (expected ns, us, ms or s)")]
pub struct PrecisionError(pub String);

impl FromStr for Precision {
    type Err = PrecisionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ns" => Ok(Precision::Nanoseconds),
            "us" => Ok(Precision::Microseconds),
            "ms" => Ok(Precision::Milliseconds),
            "s" => Ok(Precision::Seconds),
            other => Err(PrecisionError(other.to_string())),
        }
    }
}

/// The value of one field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// A 64-bit float (`1`, `1.5`, `-1e3`).
    Float(f64),
    /// A signed integer (`12i`).
    Integer(i64),
    /// An unsigned integer (`12u`).
    Unsigned(u64),
    /// A boolean (`t`, `true`, `F`, `false`, ...).
    Boolean(bool),
    /// A string (`"text"`), escapes removed.
    String(String),
}

/// One parsed point. Its `Display` writes it back as line protocol with nanosecond timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Measurement name, escapes removed.
    pub measurement: String,
    /// Tag pairs sorted by key; keys are unique.
    pub tags: Vec<(String, String)>,
    /// Field pairs in input order; keys are unique and there is at least one.
    pub fields: Vec<(String, FieldValue)>,
    /// Timestamp in nanoseconds, if the line had one.
    pub timestamp: Option<i64>,
}

/// Why a line was rejected, and where (1-based line and character column).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) where the problem starts.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// Every valid line of an input, and an error for each invalid one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParseOutput {
    /// Valid lines in input order.
    pub lines: Vec<Line>,
    /// Errors for invalid lines in input order.
    pub errors: Vec<LineError>,
}

/// Parses one line (without its `\n`; a trailing `\r` is ignored). Returns `None` for a blank
/// line or a comment. `line_no` is only used in errors.
pub fn parse_line(
    text: &str,
    line_no: usize,
    precision: Precision,
) -> Result<Option<Line>, LineError> {
    parser::parse_line(text, line_no, precision)
}

/// Parses a whole body of line protocol, keeping every valid line and reporting each invalid one.
pub fn parse_lines(text: &str, precision: Precision) -> ParseOutput {
    let mut out = ParseOutput::default();
    for (i, line) in text.split('\n').enumerate() {
        match parse_line(line, i + 1, precision) {
            Ok(Some(line)) => out.lines.push(line),
            Ok(None) => {}
            Err(e) => out.errors.push(e),
        }
    }
    out
}
