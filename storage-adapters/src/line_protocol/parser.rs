//! The line-protocol grammar, one section at a time: measurement, tag set, field set, timestamp.

use super::scanner::Scanner;
use super::value::{parse_field_value, parse_integer};
use super::{FieldValue, Line, LineError, Precision};

/// Parses one line; see [`super::parse_line`].
pub(super) fn parse_line(
    text: &str,
    line_no: usize,
    precision: Precision,
) -> Result<Option<Line>, LineError> {
    let text = text.strip_suffix('\r').unwrap_or(text);
    let mut s = Scanner::new(text, 0, line_no);
    s.skip_leading_whitespace();
    if s.at_end() || s.peek() == Some(b'#') {
        return Ok(None);
    }
    let measurement_at = s.pos();
    let measurement = s.take_escaped(b", ", b", ");
    if measurement.is_empty() {
        return Err(s.error_at(measurement_at, "missing measurement"));
    }
    let tags = parse_tags(&mut s)?;
    if s.skip_blanks() == 0 || s.at_end() {
        return Err(s.error_at(s.pos(), "missing field set"));
    }
    let fields = parse_fields(&mut s)?;
    let timestamp = parse_timestamp(&mut s, precision)?;
    Ok(Some(Line {
        measurement,
        tags,
        fields,
        timestamp,
    }))
}

/// Parses `,key=value` pairs up to the first unescaped blank; returns them sorted by key.
fn parse_tags(s: &mut Scanner<'_>) -> Result<Vec<(String, String)>, LineError> {
    let mut tags = Vec::new();
    while s.peek() == Some(b',') {
        s.bump();
        let key_at = s.pos();
        let key = s.take_escaped(b",= ", b",= ");
        if key.is_empty() {
            return Err(s.error_at(key_at, "missing tag key"));
        }
        if s.peek() != Some(b'=') {
            return Err(s.error_at(s.pos(), format!("missing '=' after tag key '{key}'")));
        }
        s.bump();
        let value_at = s.pos();
        let value = s.take_escaped(b",= ", b",= ");
        if value.is_empty() {
            return Err(s.error_at(value_at, format!("missing value for tag '{key}'")));
        }
        if s.peek() == Some(b'=') {
            return Err(s.error_at(s.pos(), format!("unescaped '=' in value of tag '{key}'")));
        }
        tags.push((key, value, key_at));
    }
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(pair) = tags.windows(2).find(|w| w[0].0 == w[1].0) {
        let at = pair[0].2.max(pair[1].2);
        return Err(s.error_at(at, format!("duplicate tag key '{}'", pair[0].0)));
    }
    Ok(tags.into_iter().map(|(k, v, _)| (k, v)).collect())
}

/// Parses `key=value[,key=value...]`, stopping at the first blank after a value.
fn parse_fields(s: &mut Scanner<'_>) -> Result<Vec<(String, FieldValue)>, LineError> {
    let mut fields: Vec<(String, FieldValue)> = Vec::new();
    loop {
        let key_at = s.pos();
        let key = s.take_escaped(b",= ", b",= ");
        if key.is_empty() {
            return Err(s.error_at(key_at, "missing field key"));
        }
        if s.peek() != Some(b'=') {
            return Err(s.error_at(s.pos(), format!("missing '=' after field key '{key}'")));
        }
        s.bump();
        let value_at = s.pos();
        let value = match s.peek() {
            Some(b'"') => FieldValue::String(s.take_quoted()?),
            _ => {
                let token = s.take_token();
                if token.is_empty() {
                    return Err(s.error_at(value_at, format!("missing value for field '{key}'")));
                }
                parse_field_value(token).map_err(|why| s.error_at(value_at, why))?
            }
        };
        if fields.iter().any(|(k, _)| *k == key) {
            return Err(s.error_at(key_at, format!("duplicate field key '{key}'")));
        }
        fields.push((key, value));
        match s.peek() {
            Some(b',') => s.bump(),
            None | Some(b' ') => return Ok(fields),
            Some(_) => {
                return Err(s.error_at(
                    s.pos(),
                    "expected ',' or a space after a string field value",
                ))
            }
        }
    }
}

/// Parses the optional timestamp and checks nothing follows it.
fn parse_timestamp(s: &mut Scanner<'_>, precision: Precision) -> Result<Option<i64>, LineError> {
    s.skip_blanks();
    if s.at_end() {
        return Ok(None);
    }
    let at = s.pos();
    let token = s.take_token();
    let units = match parse_integer(token) {
        Ok(v) => v,
        Err("integer out of range") => return Err(s.error_at(at, "timestamp out of range")),
        Err(_) => return Err(s.error_at(at, format!("invalid timestamp '{token}'"))),
    };
    let nanos = units
        .checked_mul(precision.nanos_per_unit())
        .ok_or_else(|| s.error_at(at, "timestamp out of range"))?;
    s.skip_blanks();
    if !s.at_end() {
        return Err(s.error_at(s.pos(), "unexpected text after the timestamp"));
    }
    Ok(Some(nanos))
}
