//! CSV output per `docs/query-language.md` and RFC 4180: a header row, then one line per
//! row; null is an empty field, NaN is `NaN`, a field holding a comma, quote,
//! CR or LF is quoted with inner quotes doubled.

use std::io::{self, Write};

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;

use super::cell::cell;

/// `field` quoted when RFC 4180 requires it.
pub fn escape(field: &str) -> std::borrow::Cow<'_, str> {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\"")).into()
    } else {
        field.into()
    }
}

/// Writes the header and every row of `batches`.
pub fn write_csv(out: &mut dyn Write, schema: &Schema, batches: &[RecordBatch]) -> io::Result<()> {
    write_csv_header(out, schema)?;
    write_csv_rows(out, batches)
}

/// Writes the header line.
pub fn write_csv_header(out: &mut dyn Write, schema: &Schema) -> io::Result<()> {
    let header: Vec<_> = schema.fields().iter().map(|f| escape(f.name())).collect();
    writeln!(out, "{}", header.join(","))
}

/// Writes every row of `batches` (no header).
pub fn write_csv_rows(out: &mut dyn Write, batches: &[RecordBatch]) -> io::Result<()> {
    for batch in batches {
        for row in 0..batch.num_rows() {
            let fields: Vec<String> = batch
                .columns()
                .iter()
                .map(|c| escape(&cell(c.as_ref(), row).text()).into_owned())
                .collect();
            writeln!(out, "{}", fields.join(","))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::format::test_data::sample;

    #[test]
    fn csv_follows_the_design_rules() {
        let (schema, batches) = sample();
        let mut out = Vec::new();
        write_csv(&mut out, &schema, &batches).unwrap();
        let expected = "time,host,avg(v)\n\
                        2024-01-01T00:00:00Z,a,1.5\n\
                        2024-01-01T00:00:10.500Z,a,\n\
                        2024-01-01T00:00:20.000000001Z,\"b,\"\"c\"\"\",NaN\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
