//! Literals of the language: durations (`500ms`, `10s`, `1m`, `1h`, `1d`)
//! and instants (RFC 3339 strings, integer nanoseconds).

/// Units a duration may carry, with their length in ns.
const UNITS: [(&str, i64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
];

/// What a valid duration looks like, for error messages.
pub(crate) const DURATION_HELP: &str =
    "expected a positive integer followed by ns, us, ms, s, m, h, d or w, e.g. 500ms, 10s, 1h";

/// Parses `<integer><unit>` into ns; `None` when malformed, zero or overflowing.
pub(crate) fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits.parse().ok()?;
    let (_, scale) = UNITS.iter().find(|(u, _)| unit.eq_ignore_ascii_case(u))?;
    n.checked_mul(*scale).filter(|d| *d > 0)
}

/// Parses an RFC 3339 timestamp (`2024-01-01T00:00:00Z`; a missing offset
/// means UTC) into ns since the epoch.
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.starts_with(|c: char| c.is_ascii_digit()) || text.len() < 10 {
        return None;
    }
    arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("10s"), Some(10_000_000_000));
        assert_eq!(parse_duration("1m"), Some(60_000_000_000));
        assert_eq!(parse_duration("1h"), Some(3_600_000_000_000));
        // 1d = 24 * 3600 s = 86 400 s
        assert_eq!(parse_duration("1d"), Some(86_400_000_000_000));
        assert_eq!(parse_duration(" 2H "), Some(7_200_000_000_000));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("1y"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("99999999999999999d"), None);
    }

    #[test]
    fn timestamps() {
        // 2024-01-01 is 19 723 days after 1970-01-01: 19723 * 86400 = 1 704 067 200 s
        assert_eq!(
            parse_timestamp("2024-01-01T00:00:00Z"),
            Some(1_704_067_200_000_000_000)
        );
        assert_eq!(
            parse_timestamp("2024-01-01T01:00:00+01:00"),
            Some(1_704_067_200_000_000_000)
        );
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2024-13-01T00:00:00Z"), None);
    }
}
