//! Line-protocol ingest: turns parsed [`Line`]s into per-series point runs
//! (one series per measurement + tag set + field) and hands them to the
//! store's write path in one WAL entry (one fsync) per call. Bad lines and
//! rejected fields are reported with their line number; every valid line is
//! still written.

use std::collections::HashMap;

use tsq_engine::SeriesInfo;

use super::error::Result;
use super::key::{push_field, write_key_prefix};
use super::maint::now_ns;
use super::store::Store;
use super::value::{FieldType, Values};
use super::wal::SeriesPoints;
use crate::line_protocol::{parse_line, FieldValue, Line, LineError, Precision};

/// Outcome of one write call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteReport {
    /// Points (field values) durably written.
    pub points_written: usize,
    /// Series that did not exist before.
    pub series_created: usize,
    /// Lines (or fields of lines) that were not written, and why.
    pub errors: Vec<LineError>,
}

/// Points of one series gathered from a write call.
struct Run {
    points: SeriesPoints,
    lines: Vec<usize>,
}

fn field_type(v: &FieldValue) -> FieldType {
    match v {
        FieldValue::Float(_) => FieldType::Float,
        FieldValue::Integer(_) => FieldType::Integer,
        FieldValue::Unsigned(_) => FieldType::Unsigned,
        FieldValue::Boolean(_) => FieldType::Boolean,
        FieldValue::String(_) => FieldType::String,
    }
}

fn push_value(values: &mut Values, v: &FieldValue) -> bool {
    match (values, v) {
        (Values::Float(d), FieldValue::Float(x)) => d.push(*x),
        (Values::Integer(d), FieldValue::Integer(x)) => d.push(*x),
        (Values::Unsigned(d), FieldValue::Unsigned(x)) => d.push(*x),
        (Values::Boolean(d), FieldValue::Boolean(x)) => d.push(*x),
        (Values::String(d), FieldValue::String(x)) => d.push(x.clone()),
        _ => return false,
    }
    true
}

impl Store {
    /// Parses `text` and writes every valid line; invalid lines are reported
    /// in [`WriteReport::errors`]. Durable when it returns `Ok`.
    pub fn write_lines(&self, text: &str, precision: Precision) -> Result<WriteReport> {
        let mut lines = Vec::new();
        let mut errors = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            match parse_line(raw, i + 1, precision) {
                Ok(Some(l)) => lines.push((i + 1, l)),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        let mut report = self.write_numbered(&lines)?;
        errors.append(&mut report.errors);
        errors.sort_by_key(|e| (e.line, e.column));
        report.errors = errors;
        Ok(report)
    }

    /// Writes generated lines (a `None` timestamp is the current time);
    /// errors name the 1-based position in `lines`.
    pub fn write_points(&self, lines: &[Line]) -> Result<WriteReport> {
        let numbered: Vec<(usize, Line)> = lines
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .collect();
        self.write_numbered(&numbered)
    }

    fn write_numbered(&self, lines: &[(usize, Line)]) -> Result<WriteReport> {
        let now = now_ns();
        let mut runs: Vec<Run> = Vec::new();
        let mut by_key: HashMap<String, usize, foldhash::fast::RandomState> = HashMap::default();
        let mut errors = Vec::new();
        // Buffers reused across lines: the series prefix is escaped once per
        // line, the key of each field appended to a copy of it.
        let (mut prefix, mut key) = (String::new(), String::new());
        for (no, line) in lines {
            let t = line.timestamp.unwrap_or(now);
            prefix.clear();
            let tags = line.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            write_key_prefix(&mut prefix, &line.measurement, tags);
            for (field, value) in &line.fields {
                key.clear();
                key.push_str(&prefix);
                push_field(&mut key, field);
                let i = match by_key.get(key.as_str()) {
                    Some(&i) => i,
                    None => {
                        let tags: Vec<(&str, &str)> = line
                            .tags
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_str()))
                            .collect();
                        let series = SeriesInfo::new(&line.measurement, &tags, field);
                        runs.push(Run {
                            points: SeriesPoints {
                                series,
                                times: Vec::new(),
                                values: Values::empty(field_type(value)),
                            },
                            lines: Vec::new(),
                        });
                        by_key.insert(key.clone(), runs.len() - 1);
                        runs.len() - 1
                    }
                };
                let run = &mut runs[i];
                if push_value(&mut run.points.values, value) {
                    run.points.times.push(t);
                    run.lines.push(*no);
                } else {
                    errors.push(LineError {
                        line: *no,
                        column: 1,
                        message: format!(
                            "field '{field}' is {} here but {} earlier in the same write",
                            field_type(value).name(),
                            run.points.values.field_type().name()
                        ),
                    });
                }
            }
        }
        let (batch, line_nos): (Vec<SeriesPoints>, Vec<Vec<usize>>) =
            runs.into_iter().map(|r| (r.points, r.lines)).unzip();
        let outcome = self.write_series(batch)?;
        let (points_written, series_created) = (outcome.points_written, outcome.series_created);
        for (i, err) in outcome.rejected {
            for &line in &line_nos[i] {
                errors.push(LineError {
                    line,
                    column: 1,
                    message: err.to_string(),
                });
            }
        }
        errors.sort_by_key(|e| (e.line, e.column));
        Ok(WriteReport {
            points_written,
            series_created,
            errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::read;
    use crate::tsm::test_dir;
    use crate::tsm::StoreOptions;

    #[test]
    fn valid_lines_are_written_and_bad_ones_reported_by_line() {
        let dir = test_dir("ingest_lines");
        let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
        let text = "cpu,host=a usage=1.5,n=3i 10\n\
                    # comment\n\
                    cpu,host=a usage= 20\n\
                    cpu,host=b usage=2 20\r\n\
                    \n\
                    cpu,host=a n=4i,ok=t 30";
        let r = store.write_lines(text, Precision::Seconds).unwrap();
        // line 1: 2 points, line 4: 1, line 6: 2 -> 5 points; series: a#usage, a#n, b#usage, a#ok
        assert_eq!(r.points_written, 5);
        assert_eq!(r.series_created, 4);
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].line, 3);
        let index = read(&store.inner.index);
        let id = index.id_of("cpu,host=a#n").unwrap();
        drop(index);
        let view = store.inner.view(&[id], i64::MIN, i64::MAX);
        let (t, v) = view
            .read(id, "cpu,host=a#n", FieldType::Integer)
            .unwrap()
            .unwrap();
        // seconds precision: 10 s and 30 s in ns
        assert_eq!(t, vec![10_000_000_000, 30_000_000_000]);
        assert_eq!(v, Values::Integer(vec![3, 4]));
    }

    #[test]
    fn type_conflicts_are_reported_for_every_line_of_the_series() {
        let dir = test_dir("ingest_types");
        let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
        store
            .write_lines("m v=1 1", Precision::Nanoseconds)
            .unwrap();
        let r = store
            .write_lines(
                "m v=2i 2\nm w=1 2\nm v=3i 3\nm v=4 4",
                Precision::Nanoseconds,
            )
            .unwrap();
        // line 4 (float) conflicts with lines 1 and 3 of this write (integer first seen),
        // and the integer series conflicts with the stored float: lines 1 and 3 rejected too.
        assert_eq!(r.points_written, 1, "only m#w is written");
        let lines: Vec<usize> = r.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 3, 4]);
        assert!(r.errors[0]
            .message
            .contains("stored as float, written as integer"));
        assert_eq!(
            r.errors[2].message,
            "field 'v' is float here but integer earlier in the same write"
        );
    }

    #[test]
    fn generated_points_without_timestamp_get_the_current_time() {
        let dir = test_dir("ingest_points");
        let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
        let before = now_ns();
        let line = Line {
            measurement: "m".into(),
            tags: vec![("k".into(), "v".into())],
            fields: vec![("f".into(), FieldValue::Boolean(true))],
            timestamp: None,
        };
        let r = store.write_points(&[line]).unwrap();
        assert_eq!((r.points_written, r.series_created), (1, 1));
        let view = store.inner.view(&[0], i64::MIN, i64::MAX);
        let (t, _) = view
            .read(0, "m,k=v#f", FieldType::Boolean)
            .unwrap()
            .unwrap();
        assert!(t[0] >= before && t[0] <= now_ns());
    }
}
