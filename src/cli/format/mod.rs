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

use arrow::datatypes::Schema;
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
