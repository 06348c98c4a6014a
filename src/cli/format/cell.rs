//! How one value of a result column is spelt, shared by every format.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Float64Type, Int64Type, TimeUnit, TimestampNanosecondType, UInt64Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, SecondsFormat};

/// One value, typed enough for each format to quote it right.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// SQL null.
    Null,
    /// A timestamp, ns since the epoch.
    Time(i64),
    /// A string.
    Text(&'a str),
    /// A float (may be NaN or infinite).
    Float(f64),
    /// Any other number, already spelt.
    Number(String),
    /// Any other type, already spelt.
    Other(String),
}

impl Cell<'_> {
    /// The value as plain text: null is empty, NaN `NaN`, time RFC 3339.
    pub fn text(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Time(ns) => format_time(*ns),
            Cell::Text(s) => (*s).to_string(),
            Cell::Float(v) => format_float(*v),
            Cell::Number(s) | Cell::Other(s) => s.clone(),
        }
    }

    /// True for values a table aligns to the right.
    pub fn is_numeric(&self) -> bool {
        matches!(self, Cell::Float(_) | Cell::Number(_))
    }
}

/// The value at `row` of `array`.
pub fn cell(array: &dyn Array, row: usize) -> Cell<'_> {
    if array.is_null(row) {
        return Cell::Null;
    }
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            Cell::Time(array.as_primitive::<TimestampNanosecondType>().value(row))
        }
        DataType::Utf8 => Cell::Text(array.as_string::<i32>().value(row)),
        DataType::Float64 => Cell::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Int64 => Cell::Number(array.as_primitive::<Int64Type>().value(row).to_string()),
        DataType::UInt64 => Cell::Number(array.as_primitive::<UInt64Type>().value(row).to_string()),
        _ => Cell::Other(
            ArrayFormatter::try_new(array, &FormatOptions::default())
                .map(|f| f.value(row).to_string())
                .unwrap_or_else(|e| format!("<{e}>")),
        ),
    }
}

/// RFC 3339 in UTC, with as many fractional digits as needed (none, 3, 6 or
/// 9): `2024-01-01T00:00:00Z`, `2024-01-01T00:00:10.500Z`.
pub fn format_time(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The shortest text that reads back as `v`; `NaN`, `inf`, `-inf` for the
/// non-finite values.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keeps_only_needed_digits() {
        // 1_704_067_200 s is 2024-01-01T00:00:00Z.
        assert_eq!(
            format_time(1_704_067_200_000_000_000),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            format_time(1_704_067_210_500_000_000),
            "2024-01-01T00:00:10.500Z"
        );
        assert_eq!(
            format_time(1_704_067_200_000_001_000),
            "2024-01-01T00:00:00.000001Z"
        );
        assert_eq!(
            format_time(1_704_067_200_000_000_001),
            "2024-01-01T00:00:00.000000001Z"
        );
        assert_eq!(format_time(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn floats_are_shortest_round_trip() {
        assert_eq!(format_float(12.34), "12.34");
        assert_eq!(format_float(100.0), "100");
        assert_eq!(format_float(-0.5), "-0.5");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::NEG_INFINITY), "-inf");
    }
}
