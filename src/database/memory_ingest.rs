//! Line protocol into the in-memory adapter: the bridge behind
//! `Database::in_memory().write_lp(..)`. Integers and unsigned integers are
//! stored as such (queries read them exactly, `docs/semantics.md` §11),
//! floats and booleans (as 1 and 0) as floats, as the TSM store reads them;
//! string fields are reported per line and not stored. A field keeps the
//! type of its first write: a value of another type is reported for its
//! line and not stored. The report has the shape of the TSM store's.

use std::collections::BTreeMap;

use tsq_engine::{StorageAdapter, ValueType};
use tsq_storage::line_protocol::{parse_line, FieldValue, LineError, Precision};
use tsq_storage::memory::MemoryAdapter;
use tsq_storage::tsm::maint::now_ns;
use tsq_storage::tsm::WriteReport;

/// One timeline of a write: (measurement, tags, field).
type TimelineKey = (String, Vec<(String, String)>, String);

/// The points of one timeline of a write, in its field's type, with the
/// line of the first one (for an error).
#[derive(Debug)]
enum Run {
    Float(usize, Vec<(i64, f64)>),
    Integer(usize, Vec<(i64, i64)>),
    Unsigned(usize, Vec<(i64, u64)>),
}

impl Run {
    fn value_type(&self) -> ValueType {
        match self {
            Run::Float(..) => ValueType::Float,
            Run::Integer(..) => ValueType::Integer,
            Run::Unsigned(..) => ValueType::Unsigned,
        }
    }

    /// Appends `(t, value)`; false when the value has another type.
    fn push(&mut self, t: i64, value: &FieldValue) -> bool {
        match (self, value) {
            (Run::Integer(_, p), FieldValue::Integer(v)) => p.push((t, *v)),
            (Run::Unsigned(_, p), FieldValue::Unsigned(v)) => p.push((t, *v)),
            (Run::Float(_, p), v) => match as_float(v) {
                Some(v) => p.push((t, v)),
                None => return false,
            },
            _ => return false,
        }
        true
    }

    /// Number of points.
    fn len(&self) -> usize {
        match self {
            Run::Float(_, p) => p.len(),
            Run::Integer(_, p) => p.len(),
            Run::Unsigned(_, p) => p.len(),
        }
    }

    /// An empty run for `value`'s type, first written on `line`.
    fn of(value: &FieldValue, line: usize) -> Run {
        match value {
            FieldValue::Integer(_) => Run::Integer(line, Vec::new()),
            FieldValue::Unsigned(_) => Run::Unsigned(line, Vec::new()),
            _ => Run::Float(line, Vec::new()),
        }
    }
}

/// A float or boolean (as 1 / 0) as f64; `None` for the other types.
fn as_float(value: &FieldValue) -> Option<f64> {
    match value {
        FieldValue::Float(x) => Some(*x),
        FieldValue::Boolean(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// Parses `text` and writes every numeric field of every valid line into
/// `adapter`; bad lines, string fields and type conflicts are in the
/// report's errors.
/// Synchronous: call it from a blocking-pool thread.
pub(crate) fn write(adapter: &MemoryAdapter, text: &str, precision: Precision) -> WriteReport {
    let now = now_ns();
    let mut errors = Vec::new();
    let mut runs: BTreeMap<TimelineKey, Run> = BTreeMap::new();
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
            if let FieldValue::String(_) = value {
                errors.push(LineError {
                    line: i + 1,
                    column: 1,
                    message: format!(
                        "field '{field}' is a string; the in-memory database stores numeric fields only"
                    ),
                });
                continue;
            }
            let key = (line.measurement.clone(), line.tags.clone(), field.clone());
            let run = runs.entry(key).or_insert_with(|| Run::of(value, i + 1));
            if !run.push(t, value) {
                errors.push(LineError {
                    line: i + 1,
                    column: 1,
                    message: format!(
                        "field '{field}' holds {} values in this write; {value:?} has another type",
                        run.value_type()
                    ),
                });
                continue;
            }
            points_written += 1;
        }
    }
    let before = series_total(adapter, &runs);
    for ((measurement, tags, field), run) in &runs {
        let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (line, written) = match run {
            Run::Float(line, p) => (line, adapter.try_insert(measurement, &tags, field, p)),
            Run::Integer(line, p) => (line, adapter.try_insert(measurement, &tags, field, p)),
            Run::Unsigned(line, p) => (line, adapter.try_insert(measurement, &tags, field, p)),
        };
        if let Err(e) = written {
            points_written -= run.len();
            errors.push(LineError {
                line: *line,
                column: 1,
                message: e.to_string(),
            });
        }
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
fn series_total(adapter: &MemoryAdapter, runs: &BTreeMap<TimelineKey, Run>) -> usize {
    let mut measurements: Vec<&str> = runs.keys().map(|(m, _, _)| m.as_str()).collect();
    measurements.dedup();
    measurements
        .into_iter()
        .map(|m| futures::executor::block_on(adapter.series_count(m)).unwrap_or(0))
        .sum()
}
