//! `tsq import --format parquet`: a Parquet file into the store
//! (docs/cli.md). Column `time` (a timestamp of any unit, or Int64 ns) is
//! required; the tags are the string columns named by `--tags`, or else the
//! dictionary-encoded string columns; every other column is a field, typed
//! as stored: floats as float, signed integers as integer, unsigned as
//! unsigned, booleans, strings. Nulls are absent values. The file is read in
//! batches and each batch is written as typed series (integers stay exact).

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchReader};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Float64Type, Int64Type, TimeUnit, TimestampNanosecondType, UInt64Type,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tsq_engine::SeriesInfo;
use tsq_storage::tsm::value::Values;
use tsq_storage::tsm::wal::SeriesPoints;

use crate::cli::backend::{CliError, Ingest, Result};
use crate::cli::import::ImportSummary;

/// Rows read from the file per batch.
const BATCH_ROWS: usize = 65_536;

/// How a column is imported.
enum Role {
    Time,
    Tag,
    Field(DataType),
    Skip,
}

/// Imports every Parquet file of `inputs` as `measurement` (default: the
/// file name without its extension), printing rejected series to `err`.
pub fn import_parquet(
    ingest: &dyn Ingest,
    inputs: &[String],
    measurement: Option<&str>,
    tags: &[String],
    err: &mut dyn Write,
) -> Result<ImportSummary> {
    let started = Instant::now();
    let mut summary = ImportSummary::default();
    for input in inputs {
        let name = measurement.map(str::to_string).unwrap_or_else(|| {
            let path = std::path::Path::new(input);
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or(input);
            stem.to_string()
        });
        import_file(ingest, input, &name, tags, &mut summary, err)?;
        summary.files += 1;
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn import_file(
    ingest: &dyn Ingest,
    input: &str,
    measurement: &str,
    tags: &[String],
    summary: &mut ImportSummary,
    err: &mut dyn Write,
) -> Result<()> {
    let data_err = |e: &dyn std::fmt::Display| CliError::Data(format!("{input}: {e}"));
    let file = File::open(input).map_err(|e| data_err(&e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| data_err(&e))?
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| data_err(&e))?;
    let schema = reader.schema();
    let roles = roles(&schema, tags).map_err(|e| data_err(&e))?;
    let mut first_row = 0;
    for batch in reader {
        let batch = batch.map_err(|e| data_err(&e))?;
        let series =
            batch_series(&batch, &roles, measurement, first_row).map_err(|e| data_err(&e))?;
        first_row += batch.num_rows();
        let report = ingest.write_series(series)?;
        summary.points += report.points;
        summary.series += report.series_created;
        summary.rejected += report.errors.len();
        for e in report.errors {
            let _ = writeln!(err, "{input}: {}", e.message);
        }
    }
    Ok(())
}

/// The role of each column; an error names a missing `time` or tag column
/// or a column of a type that cannot be stored.
fn roles(schema: &arrow::datatypes::Schema, tags: &[String]) -> Result<Vec<Role>, String> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if !names.contains(&"time") {
        return Err(format!("no `time` column (columns: {})", names.join(", ")));
    }
    if let Some(missing) = tags.iter().find(|t| !names.contains(&t.as_str())) {
        return Err(format!(
            "no tag column `{missing}` (columns: {})",
            names.join(", ")
        ));
    }
    schema
        .fields()
        .iter()
        .map(|f| {
            let ty = f.data_type();
            let stringy = |t: &DataType| {
                matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            };
            Ok(match ty {
                _ if f.name() == "time" => Role::Time,
                _ if !tags.is_empty() && tags.contains(f.name()) => {
                    let ok = stringy(ty) || matches!(ty, DataType::Dictionary(_, v) if stringy(v));
                    if !ok {
                        return Err(format!("tag column `{}` is {ty}, not a string", f.name()));
                    }
                    Role::Tag
                }
                DataType::Dictionary(_, v) if tags.is_empty() && stringy(v) => Role::Tag,
                DataType::Float16 | DataType::Float32 | DataType::Float64 => {
                    Role::Field(DataType::Float64)
                }
                DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                    Role::Field(DataType::Int64)
                }
                DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                    Role::Field(DataType::UInt64)
                }
                DataType::Boolean => Role::Field(DataType::Boolean),
                t if stringy(t) => Role::Field(DataType::Utf8),
                DataType::Dictionary(_, v) if stringy(v) => Role::Field(DataType::Utf8),
                DataType::Null => Role::Skip,
                other => {
                    return Err(format!(
                        "column `{}` is {other}: only numbers, booleans and strings can be fields",
                        f.name()
                    ))
                }
            })
        })
        .collect()
}

/// The points of one batch grouped by series. `first_row` numbers the rows
/// in errors.
fn batch_series(
    batch: &RecordBatch,
    roles: &[Role],
    measurement: &str,
    first_row: usize,
) -> Result<Vec<SeriesPoints>, String> {
    let cast_to = |i: usize, ty: &DataType| -> Result<ArrayRef, String> {
        cast(batch.column(i), ty)
            .map_err(|e| format!("column `{}`: {e}", batch.schema().field(i).name()))
    };
    let schema = batch.schema();
    let mut times = None;
    let mut tag_cols = Vec::new();
    let mut field_cols = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        let name = schema.field(i).name().as_str();
        match role {
            Role::Time => {
                times = Some(cast_to(
                    i,
                    &DataType::Timestamp(TimeUnit::Nanosecond, None),
                )?)
            }
            Role::Tag => tag_cols.push((name, cast_to(i, &DataType::Utf8)?)),
            Role::Field(ty) => field_cols.push((name, cast_to(i, ty)?)),
            Role::Skip => {}
        }
    }
    let times = times.ok_or("no `time` column")?;
    let times = times.as_primitive::<TimestampNanosecondType>();
    if let Some(row) = (0..times.len()).find(|&r| times.is_null(r)) {
        return Err(format!("row {}: `time` is null", first_row + row + 1));
    }
    let tag_strs: Vec<(&str, &arrow::array::StringArray)> = tag_cols
        .iter()
        .map(|(n, a)| (*n, a.as_string::<i32>()))
        .collect();
    // Rows by tag set (null and empty tag values mean "no such tag").
    let mut sets: HashMap<Vec<Option<&str>>, Vec<usize>> = HashMap::new();
    for row in 0..batch.num_rows() {
        let key = tag_strs
            .iter()
            .map(|(_, a)| {
                (!a.is_null(row))
                    .then(|| a.value(row))
                    .filter(|v| !v.is_empty())
            })
            .collect();
        sets.entry(key).or_default().push(row);
    }
    let mut out = Vec::new();
    for (key, rows) in sets {
        let tags: Vec<(&str, &str)> = tag_strs
            .iter()
            .zip(&key)
            .filter_map(|((k, _), v)| v.map(|v| (*k, v)))
            .collect();
        for (field, col) in &field_cols {
            let present: Vec<usize> = rows.iter().copied().filter(|&r| !col.is_null(r)).collect();
            if present.is_empty() {
                continue;
            }
            out.push(SeriesPoints {
                series: SeriesInfo::new(measurement, &tags, field),
                times: present.iter().map(|&r| times.value(r)).collect(),
                values: gather(col.as_ref(), &present),
            });
        }
    }
    Ok(out)
}

/// The values of `col` (Float64, Int64, UInt64, Boolean or Utf8) at `rows`.
fn gather(col: &dyn Array, rows: &[usize]) -> Values {
    match col.data_type() {
        DataType::Float64 => {
            let a = col.as_primitive::<Float64Type>();
            Values::Float(rows.iter().map(|&r| a.value(r)).collect())
        }
        DataType::Int64 => {
            let a = col.as_primitive::<Int64Type>();
            Values::Integer(rows.iter().map(|&r| a.value(r)).collect())
        }
        DataType::UInt64 => {
            let a = col.as_primitive::<UInt64Type>();
            Values::Unsigned(rows.iter().map(|&r| a.value(r)).collect())
        }
        DataType::Boolean => {
            let a = col.as_boolean();
            Values::Boolean(rows.iter().map(|&r| a.value(r)).collect())
        }
        _ => {
            let a = col.as_string::<i32>();
            Values::String(rows.iter().map(|&r| a.value(r).to_string()).collect())
        }
    }
}
