//! JSON output: an array of objects (`json`) or one object per line
//! (`ndjson`), keys in column order. Null is `null`; NaN and the infinities,
//! which JSON numbers cannot hold, are the strings `"NaN"`, `"inf"`, `"-inf"`;
//! time is an RFC 3339 string.

use std::io::{self, Write};

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;

use super::cell::{cell, format_float, Cell};

/// The JSON spelling of one cell.
fn json_value(c: &Cell<'_>) -> String {
    match c {
        Cell::Null => "null".to_string(),
        Cell::Float(v) if v.is_finite() => format_float(*v),
        Cell::Number(s) => s.clone(),
        other => json_string(&other.text()),
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// Every row as a one-line JSON object.
pub(super) fn objects(schema: &Schema, batches: &[RecordBatch]) -> Vec<String> {
    let keys: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| json_string(f.name()))
        .collect();
    let mut out = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let members: Vec<String> = keys
                .iter()
                .zip(batch.columns())
                .map(|(k, c)| format!("{k}:{}", json_value(&cell(c.as_ref(), row))))
                .collect();
            out.push(format!("{{{}}}", members.join(",")));
        }
    }
    out
}

/// Writes `[` + one object per line + `]`.
pub fn write_json(out: &mut dyn Write, schema: &Schema, batches: &[RecordBatch]) -> io::Result<()> {
    let rows = objects(schema, batches);
    if rows.is_empty() {
        return writeln!(out, "[]");
    }
    writeln!(out, "[")?;
    let last = rows.len() - 1;
    for (i, row) in rows.iter().enumerate() {
        let comma = if i == last { "" } else { "," };
        writeln!(out, "  {row}{comma}")?;
    }
    writeln!(out, "]")
}

/// Writes one object per line.
pub fn write_ndjson(
    out: &mut dyn Write,
    schema: &Schema,
    batches: &[RecordBatch],
) -> io::Result<()> {
    for row in objects(schema, batches) {
        writeln!(out, "{row}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::format::test_data::sample;

    const ROWS: [&str; 3] = [
        r#"{"time":"2024-01-01T00:00:00Z","host":"a","avg(v)":1.5}"#,
        r#"{"time":"2024-01-01T00:00:10.500Z","host":"a","avg(v)":null}"#,
        r#"{"time":"2024-01-01T00:00:20.000000001Z","host":"b,\"c\"","avg(v)":"NaN"}"#,
    ];

    #[test]
    fn json_is_an_array_of_objects() {
        let (schema, batches) = sample();
        let mut out = Vec::new();
        write_json(&mut out, &schema, &batches).unwrap();
        let expected = format!("[\n  {},\n  {},\n  {}\n]\n", ROWS[0], ROWS[1], ROWS[2]);
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn ndjson_is_one_object_per_line() {
        let (schema, batches) = sample();
        let mut out = Vec::new();
        write_ndjson(&mut out, &schema, &batches).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{}\n", ROWS.join("\n"))
        );
    }

    #[test]
    fn empty_json_is_an_empty_array() {
        let (schema, _) = sample();
        let mut out = Vec::new();
        write_json(&mut out, &schema, &[]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "[]\n");
    }
}
