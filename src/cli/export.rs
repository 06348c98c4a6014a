//! `tsq export`: the points of the store into a Parquet, CSV or line
//! protocol file (docs/cli.md). The store is read tag set by tag set and
//! shard by shard in the fields' stored types (integers stay exact), and
//! written in batches of at most [`BATCH_ROWS`] rows, so memory does not
//! grow with the number of points.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tsq_storage::line_protocol::{FieldValue, Line};
use tsq_storage::tsm::export::{Rows, TagSet};
use tsq_storage::tsm::value::Values;
use tsq_storage::tsm::Store;

use crate::cli::backend::{CliError, Result};
use crate::cli::export_batch::{schema, BatchBuilder, BATCH_ROWS};
use crate::cli::format::cell::cell;
use crate::cli::format::csv::escape;

/// Output formats of `tsq export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Apache Parquet, zstd-compressed.
    Parquet,
    /// CSV with a header.
    Csv,
    /// InfluxDB line protocol, ns timestamps.
    Lp,
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The file format.
    pub format: ExportFormat,
    /// Only this measurement (required for Parquet and CSV when the store
    /// holds several).
    pub measurement: Option<String>,
    /// Inclusive start (ns).
    pub from: Option<i64>,
    /// Exclusive end (ns).
    pub to: Option<i64>,
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Rows (one per tag set and timestamp).
    pub rows: u64,
    /// Field values.
    pub points: u64,
    /// Float values left out of line protocol (NaN and infinities have no
    /// spelling there).
    pub skipped: u64,
}

/// Parses `--from` / `--to`: RFC 3339 or an integer of ns since the epoch.
pub fn parse_time(text: &str) -> Result<i64> {
    if let Ok(ns) = text.parse::<i64>() {
        return Ok(ns);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "invalid time '{text}' (expected RFC 3339 such as 2024-01-01T00:00:00Z, or ns since the epoch)"
            ))
        })
}

/// Exports the store's points into the file `out`.
pub fn export(store: &Store, options: &ExportOptions, out: &Path) -> Result<ExportSummary> {
    let min = options.from.unwrap_or(i64::MIN);
    let max = options.to.map_or(i64::MAX, |t| t.saturating_sub(1));
    let measurements = chosen_measurements(store, options)?;
    let file = File::create(out).map_err(|e| CliError::Data(format!("{}: {e}", out.display())))?;
    let io_err = |e: std::io::Error| CliError::Data(format!("{}: {e}", out.display()));
    let mut summary = ExportSummary::default();
    if options.format == ExportFormat::Lp {
        let mut w = BufWriter::new(file);
        for m in &measurements {
            let sets = store.tag_sets(m);
            for_each_rows(store, &sets, min, max, |set, rows| {
                write_lp(&mut w, m, set, rows, &mut summary).map_err(io_err)
            })?;
        }
        w.flush().map_err(io_err)?;
        return Ok(summary);
    }
    let m = &measurements[0];
    let tags = store.tag_keys(m);
    let fields = store.fields(m);
    let schema = schema(m, &tags, &fields)?;
    let mut builder = BatchBuilder::new(std::sync::Arc::clone(&schema), &tags, &fields);
    let mut sink: Box<dyn BatchSink> = match options.format {
        ExportFormat::Parquet => {
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            let writer = ArrowWriter::try_new(file, schema, Some(props))
                .map_err(|e| CliError::Data(format!("{}: {e}", out.display())))?;
            Box::new(ParquetSink(Some(writer)))
        }
        _ => {
            let mut w = BufWriter::new(file);
            let header: Vec<_> = schema.fields().iter().map(|f| escape(f.name())).collect();
            writeln!(w, "{}", header.join(",")).map_err(io_err)?;
            Box::new(CsvSink(w))
        }
    };
    let sets = store.tag_sets(m);
    for_each_rows(store, &sets, min, max, |set, rows| {
        summary.rows += rows.times.len() as u64;
        summary.points += rows.fields.iter().map(|f| f.rows.len() as u64).sum::<u64>();
        builder.push(set, rows)?;
        if builder.len() >= BATCH_ROWS {
            sink.write(&builder.finish()?)?;
        }
        Ok(())
    })?;
    if !builder.is_empty() {
        sink.write(&builder.finish()?)?;
    }
    sink.close()
        .map_err(|e| CliError::Data(format!("{}: {e}", out.display())))?;
    Ok(summary)
}

/// The measurements to export: the one asked for, or all of them (line
/// protocol) / the only one (Parquet, CSV).
fn chosen_measurements(store: &Store, options: &ExportOptions) -> Result<Vec<String>> {
    let all = store.measurements();
    match &options.measurement {
        Some(m) if all.contains(m) => Ok(vec![m.clone()]),
        Some(m) => Err(CliError::Data(format!(
            "no measurement '{m}' in the store (it holds: {})",
            all.join(", ")
        ))),
        None if options.format == ExportFormat::Lp || all.len() == 1 => Ok(all),
        None if all.is_empty() => Err(CliError::Data("the store holds no points".into())),
        None => Err(CliError::Usage(format!(
            "the store holds {} measurements ({}); Parquet and CSV take one: choose it with --measurement",
            all.len(),
            all.join(", ")
        ))),
    }
}

/// Calls `f` with the rows of every tag set, one shard at a time.
fn for_each_rows(
    store: &Store,
    sets: &[TagSet],
    min: i64,
    max: i64,
    mut f: impl FnMut(&TagSet, &Rows) -> Result<()>,
) -> Result<()> {
    let windows = store.export_windows(sets, min, max);
    for set in sets {
        for &(lo, hi) in &windows {
            let rows = store
                .tag_set_rows(set, lo, hi)
                .map_err(|e| CliError::Data(format!("reading the store failed: {e}")))?;
            if let Some(rows) = rows {
                f(set, &rows)?;
            }
        }
    }
    Ok(())
}

/// Where full batches go.
trait BatchSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;
    fn close(&mut self) -> std::result::Result<(), String>;
}

struct ParquetSink(Option<ArrowWriter<File>>);

impl BatchSink for ParquetSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match &mut self.0 {
            Some(w) => w
                .write(batch)
                .map_err(|e| CliError::Data(format!("writing Parquet failed: {e}"))),
            None => Err(CliError::Data("the Parquet writer is closed".into())),
        }
    }

    fn close(&mut self) -> std::result::Result<(), String> {
        match self.0.take() {
            Some(w) => w.close().map(|_| ()).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }
}

struct CsvSink(BufWriter<File>);

impl BatchSink for CsvSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut line = String::new();
        for row in 0..batch.num_rows() {
            line.clear();
            for (i, c) in batch.columns().iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                line.push_str(&escape(&cell(c.as_ref(), row).text()));
            }
            writeln!(self.0, "{line}")
                .map_err(|e| CliError::Data(format!("writing CSV failed: {e}")))?;
        }
        Ok(())
    }

    fn close(&mut self) -> std::result::Result<(), String> {
        self.0.flush().map_err(|e| e.to_string())
    }
}

/// Writes one line per row: `measurement,tags fields time` (the storage
/// crate's line protocol writer does the escaping).
fn write_lp(
    w: &mut impl Write,
    measurement: &str,
    set: &TagSet,
    rows: &Rows,
    summary: &mut ExportSummary,
) -> std::io::Result<()> {
    let mut line = Line {
        measurement: measurement.to_string(),
        tags: set
            .tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        fields: Vec::with_capacity(rows.fields.len()),
        timestamp: None,
    };
    let mut cursors = vec![0usize; rows.fields.len()];
    for (i, t) in rows.times.iter().enumerate() {
        line.fields.clear();
        line.timestamp = Some(*t);
        for ((f, series), k) in set.fields.iter().zip(&rows.fields).zip(&mut cursors) {
            if series.rows.get(*k) != Some(&i) {
                continue;
            }
            let value = lp_value(&series.values, *k);
            *k += 1;
            match value {
                Some(v) => line.fields.push((f.field.to_string(), v)),
                None => summary.skipped += 1,
            }
        }
        if !line.fields.is_empty() {
            summary.points += line.fields.len() as u64;
            summary.rows += 1;
            writeln!(w, "{line}")?;
        }
    }
    Ok(())
}

/// Value `k` as a line protocol field value; `None` for NaN and the
/// infinities, which line protocol cannot spell.
fn lp_value(values: &Values, k: usize) -> Option<FieldValue> {
    Some(match values {
        Values::Float(v) if !v[k].is_finite() => return None,
        Values::Float(v) => FieldValue::Float(v[k]),
        Values::Integer(v) => FieldValue::Integer(v[k]),
        Values::Unsigned(v) => FieldValue::Unsigned(v[k]),
        Values::Boolean(v) => FieldValue::Boolean(v[k]),
        Values::String(v) => FieldValue::String(v[k].clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339_or_ns() {
        assert_eq!(
            parse_time("2024-01-01T00:00:00Z").unwrap(),
            1_704_067_200_000_000_000
        );
        assert_eq!(parse_time("-5").unwrap(), -5);
        assert!(matches!(parse_time("yesterday"), Err(CliError::Usage(_))));
    }

    #[test]
    fn line_protocol_lines_escape_and_keep_types() {
        use std::sync::Arc;
        use tsq_storage::tsm::export::FieldRows;
        let set = TagSet {
            tags: vec![(Arc::from("h st"), Arc::from("a,b"))],
            fields: Vec::new(),
        };
        // a TagSet's fields come from the store; build the rows by hand
        let rows = Rows {
            times: vec![5, 6],
            fields: Vec::<FieldRows>::new(),
        };
        let mut out = Vec::new();
        let mut summary = ExportSummary::default();
        write_lp(&mut out, "m", &set, &rows, &mut summary).unwrap();
        // no field values: no line
        assert_eq!((out.len(), summary.rows), (0, 0));
        assert_eq!(lp_value(&Values::Float(vec![f64::NAN]), 0), None);
        assert_eq!(
            lp_value(&Values::Unsigned(vec![u64::MAX]), 0),
            Some(FieldValue::Unsigned(u64::MAX))
        );
    }
}
