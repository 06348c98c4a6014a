//! Line protocol into the in-memory adapter: the bridge behind
//! `Database::in_memory().write_lp(..)`. The memory adapter stores `f64`
//! timelines, so integers, unsigned integers and booleans (as 1 and 0) are
//! stored as floats, which is how queries read them from TSM too; string
//! fields are reported per line and not stored. The report has the shape of
//! the TSM store's.

use std::collections::BTreeMap;

use tsq_engine::StorageAdapter;
use tsq_storage::line_protocol::{parse_line, FieldValue, LineError, Precision};
use tsq_storage::memory::MemoryAdapter;
use tsq_storage::tsm::maint::now_ns;
use tsq_storage::tsm::WriteReport;

/// One timeline of a write: (measurement, tags, field).
type TimelineKey = (String, Vec<(String, String)>, String);

/// Parses `text` and writes every numeric field of every valid line into
/// `adapter`; bad lines and string fields are in the report's errors.
/// Synchronous: call it from a blocking-pool thread.
pub(crate) fn write(adapter: &MemoryAdapter, text: &str, precision: Precision) -> WriteReport {
    let now = now_ns();
    let mut errors = Vec::new();
    let mut runs: BTreeMap<TimelineKey, Vec<(i64, f64)>> = BTreeMap::new();
    let mut points_written = 0;
    for (i, raw) in text.split('\n').enumerate() {
        let line = match parse_line(raw, i + 1, precision) {
            Ok(Some(line)) => line,
            Ok(None) => continue,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let t = line.timestamp.unwrap_or(now);
        for (field, value) in &line.fields {
            let v = match value {
                FieldValue::Float(x) => *x,
                FieldValue::Integer(x) => *x as f64,
                FieldValue::Unsigned(x) => *x as f64,
                FieldValue::Boolean(b) => f64::from(u8::from(*b)),
                FieldValue::String(_) => {
                    errors.push(LineError {
                        line: i + 1,
                        column: 1,
                        message: format!(
                            "field '{field}' is a string; the in-memory database stores numeric fields only"
                        ),
                    });
                    continue;
                }
            };
            let key = (line.measurement.clone(), line.tags.clone(), field.clone());
            runs.entry(key).or_default().push((t, v));
            points_written += 1;
        }
    }
    let before = series_total(adapter, &runs);
    for ((measurement, tags, field), points) in &runs {
        let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        adapter.insert(measurement, &tags, field, points);
    }
    let series_created = series_total(adapter, &runs) - before;
    errors.sort_by_key(|e| (e.line, e.column));
    WriteReport {
        points_written,
        series_created,
        errors,
    }
}

/// Series of the measurements `runs` writes to. The memory adapter answers
/// without awaiting anything, so polling it to completion here is instant.
fn series_total(adapter: &MemoryAdapter, runs: &BTreeMap<TimelineKey, Vec<(i64, f64)>>) -> usize {
    let mut measurements: Vec<&str> = runs.keys().map(|(m, _, _)| m.as_str()).collect();
    measurements.dedup();
    measurements
        .into_iter()
        .map(|m| futures::executor::block_on(adapter.series_count(m)).unwrap_or(0))
        .sum()
}
