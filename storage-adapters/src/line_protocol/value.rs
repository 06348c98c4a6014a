//! Parsing of unquoted field values and timestamps: floats (`1`, `1.5`, `-1e3`; no `inf` or `nan`),
//! integers `12i`, unsigned integers `12u` and the boolean spellings of InfluxDB.

use super::FieldValue;

/// Parses an unquoted field value, or says why it is not one.
pub(super) fn parse_field_value(token: &str) -> Result<FieldValue, String> {
    match token {
        "t" | "T" | "true" | "True" | "TRUE" => return Ok(FieldValue::Boolean(true)),
        "f" | "F" | "false" | "False" | "FALSE" => return Ok(FieldValue::Boolean(false)),
        _ => {}
    }
    if let Some(digits) = token.strip_suffix('i') {
        return parse_integer(digits)
            .map(FieldValue::Integer)
            .map_err(|why| format!("{why} '{token}'"));
    }
    if let Some(digits) = token.strip_suffix('u') {
        if !is_digits(digits) {
            return Err(format!("invalid unsigned integer '{token}'"));
        }
        return digits
            .parse::<u64>()
            .map(FieldValue::Unsigned)
            .map_err(|_| format!("unsigned integer out of range '{token}'"));
    }
    if !is_float_syntax(token) {
        return Err(format!("invalid field value '{token}'"));
    }
    match token.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(FieldValue::Float(v)),
        _ => Err(format!("float out of range '{token}'")),
    }
}

/// Parses an optionally negative decimal integer (no `+`, no spaces).
pub(super) fn parse_integer(text: &str) -> Result<i64, &'static str> {
    if !is_digits(text.strip_prefix('-').unwrap_or(text)) {
        return Err("invalid integer");
    }
    text.parse::<i64>().map_err(|_| "integer out of range")
}

/// One or more ASCII digits.
fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `[-+]? digits? (. digits?)? ([eE] [-+]? digits)?` with at least one mantissa digit.
fn is_float_syntax(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    let int_digits = count_digits(&bytes[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&bytes[i..]);
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        i += usize::from(matches!(bytes.get(i), Some(b'-' | b'+')));
        let exp_digits = count_digits(&bytes[i..]);
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == bytes.len()
}

fn count_digits(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_value_kind() {
        assert_eq!(parse_field_value("1"), Ok(FieldValue::Float(1.0)));
        assert_eq!(parse_field_value("-1e3"), Ok(FieldValue::Float(-1000.0)));
        assert_eq!(parse_field_value(".5"), Ok(FieldValue::Float(0.5)));
        assert_eq!(parse_field_value("2.E-1"), Ok(FieldValue::Float(0.2)));
        assert_eq!(parse_field_value("12i"), Ok(FieldValue::Integer(12)));
        assert_eq!(
            parse_field_value("-9223372036854775808i"),
            Ok(FieldValue::Integer(i64::MIN))
        );
        assert_eq!(parse_field_value("12u"), Ok(FieldValue::Unsigned(12)));
        assert_eq!(
            parse_field_value("18446744073709551615u"),
            Ok(FieldValue::Unsigned(u64::MAX))
        );
        for t in ["t", "T", "true", "True", "TRUE"] {
            assert_eq!(parse_field_value(t), Ok(FieldValue::Boolean(true)));
        }
        for f in ["f", "F", "false", "False", "FALSE"] {
            assert_eq!(parse_field_value(f), Ok(FieldValue::Boolean(false)));
        }
    }

    #[test]
    fn rejects_bad_values_with_the_reason() {
        assert_eq!(
            parse_field_value("12xi"),
            Err("invalid integer '12xi'".into())
        );
        assert_eq!(
            parse_field_value("+1i"),
            Err("invalid integer '+1i'".into())
        );
        assert_eq!(
            parse_field_value("9223372036854775808i"),
            Err("integer out of range '9223372036854775808i'".into())
        );
        assert_eq!(
            parse_field_value("-1u"),
            Err("invalid unsigned integer '-1u'".into())
        );
        assert_eq!(
            parse_field_value("18446744073709551616u"),
            Err("unsigned integer out of range '18446744073709551616u'".into())
        );
        assert_eq!(
            parse_field_value("inf"),
            Err("invalid field value 'inf'".into())
        );
        assert_eq!(
            parse_field_value("NaN"),
            Err("invalid field value 'NaN'".into())
        );
        assert_eq!(
            parse_field_value("12x"),
            Err("invalid field value '12x'".into())
        );
        assert_eq!(
            parse_field_value("1e"),
            Err("invalid field value '1e'".into())
        );
        assert_eq!(
            parse_field_value("."),
            Err("invalid field value '.'".into())
        );
        assert_eq!(
            parse_field_value("yes"),
            Err("invalid field value 'yes'".into())
        );
        assert_eq!(
            parse_field_value("1e999"),
            Err("float out of range '1e999'".into())
        );
    }
}
