//! Result formats: an aligned table for people, and CSV, JSON and NDJSON for
//! programs (`docs/query-language.md`: time in RFC 3339 UTC, null an empty CSV field, NaN
//! written `NaN`).
//!
//! Every format reads cells through [`cell::cell`], so they agree on how a
//! value is spelt; they differ only in layout and quoting.

pub mod cell;
pub mod csv;
pub mod json;
pub mod table;

use std::io::{self, Write};

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

pub use table::TableOptions;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns with a row count.
    #[default]
    Table,
    /// RFC 4180 CSV with a header.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            "ndjson" => Ok(OutputFormat::Ndjson),
            other => Err(format!(
                "unknown format '{other}' (expected table, csv, json or ndjson)"
            )),
        }
    }
}

impl std::fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
            OutputFormat::Ndjson => "ndjson",
        };
        f.write_str(name)
    }
}

/// Writes `batches` (all of `schema`) to `out` in `format`; `table` limits
/// only apply to [`OutputFormat::Table`].
pub fn write_rows(
    out: &mut dyn Write,
    format: OutputFormat,
    schema: &Schema,
    batches: &[RecordBatch],
    table: &TableOptions,
) -> io::Result<()> {
    match format {
        OutputFormat::Table => table::write_table(out, schema, batches, table),
        OutputFormat::Csv => csv::write_csv(out, schema, batches),
        OutputFormat::Json => json::write_json(out, schema, batches),
        OutputFormat::Ndjson => json::write_ndjson(out, schema, batches),
    }
}

/// Writes a result as its batches arrive: CSV, JSON and NDJSON row by row,
/// so a long result is printed while the query runs and is never held
/// whole; a table needs every row for its column widths and is written at
/// the end.
#[derive(Debug)]
pub struct RowWriter {
    format: OutputFormat,
    schema: SchemaRef,
    table: TableOptions,
    /// The batches of a table, until the end.
    held: Vec<RecordBatch>,
    /// Rows written so far.
    rows: usize,
}

impl RowWriter {
    /// A writer of rows of `schema` in `format`.
    pub fn new(format: OutputFormat, schema: SchemaRef, table: &TableOptions) -> Self {
        RowWriter {
            format,
            schema,
            table: *table,
            held: Vec::new(),
            rows: 0,
        }
    }

    /// Writes the rows of `batch` (a table keeps them for the end).
    pub fn write(&mut self, out: &mut dyn Write, batch: &RecordBatch) -> io::Result<()> {
        let first = self.rows == 0;
        self.rows += batch.num_rows();
        let batches = std::slice::from_ref(batch);
        match self.format {
            OutputFormat::Table => self.held.push(batch.clone()),
            OutputFormat::Csv => {
                if first {
                    csv::write_csv_header(out, &self.schema)?;
                }
                csv::write_csv_rows(out, batches)?;
            }
            OutputFormat::Json => {
                for (i, row) in json::objects(&self.schema, batches).iter().enumerate() {
                    let lead = if first && i == 0 { "[\n" } else { ",\n" };
                    write!(out, "{lead}  {row}")?;
                }
            }
            OutputFormat::Ndjson => json::write_ndjson(out, &self.schema, batches)?,
        }
        Ok(())
    }

    /// Ends the output (the table, the CSV header of an empty result, the
    /// JSON array's bracket).
    pub fn finish(&mut self, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            OutputFormat::Table => {
                let held = std::mem::take(&mut self.held);
                table::write_table(out, &self.schema, &held, &self.table)
            }
            OutputFormat::Csv if self.rows == 0 => csv::write_csv_header(out, &self.schema),
            OutputFormat::Json if self.rows == 0 => writeln!(out, "[]"),
            OutputFormat::Json => writeln!(out, "\n]"),
            OutputFormat::Csv | OutputFormat::Ndjson => Ok(()),
        }
    }
}

#[cfg(test)]
pub(crate) mod test_data {
    //! A small result shared by the formatter tests.
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, StringArray, TimestampNanosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use arrow::record_batch::RecordBatch;

    /// time | host | avg(v): three rows with a null, a NaN, a sub-second
    /// timestamp and a host needing CSV quotes.
    pub(crate) fn sample() -> (Arc<Schema>, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Nanosecond, Some(tsq_planner::TIME_ZONE.into())),
                false,
            ),
            Field::new("host", DataType::Utf8, false),
            Field::new("avg(v)", DataType::Float64, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                TimestampNanosecondArray::from(vec![
                    1_704_067_200_000_000_000,
                    1_704_067_210_500_000_000,
                    1_704_067_220_000_000_001,
                ])
                .with_timezone(tsq_planner::TIME_ZONE),
            ),
            Arc::new(StringArray::from(vec!["a", "a", "b,\"c\""])),
            Arc::new(Float64Array::from(vec![Some(1.5), None, Some(f64::NAN)])),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
        (schema, vec![batch])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::test_data::sample;
    use super::*;

    #[test]
    fn writing_batch_by_batch_prints_what_writing_at_once_does() {
        let (schema, batches) = sample();
        let halves = [batches[0].slice(0, 1), batches[0].slice(1, 2)];
        for format in [
            OutputFormat::Table,
            OutputFormat::Csv,
            OutputFormat::Json,
            OutputFormat::Ndjson,
        ] {
            let options = TableOptions::default();
            let mut whole = Vec::new();
            write_rows(&mut whole, format, &schema, &batches, &options).unwrap();
            let mut streamed = Vec::new();
            let mut w = RowWriter::new(format, Arc::clone(&schema), &options);
            for half in &halves {
                w.write(&mut streamed, half).unwrap();
            }
            w.finish(&mut streamed).unwrap();
            assert_eq!(
                String::from_utf8(streamed),
                String::from_utf8(whole),
                "{format}"
            );
            // and an empty result
            let mut empty = Vec::new();
            write_rows(&mut empty, format, &schema, &[], &options).unwrap();
            let mut streamed = Vec::new();
            let mut w = RowWriter::new(format, Arc::clone(&schema), &options);
            w.finish(&mut streamed).unwrap();
            assert_eq!(
                String::from_utf8(streamed),
                String::from_utf8(empty),
                "{format} empty"
            );
        }
    }
}
