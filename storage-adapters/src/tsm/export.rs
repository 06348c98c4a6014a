//! Typed series iteration for export (docs/cli.md, `tsq export`): the series
//! of a measurement grouped by tag set, and the points of one tag set within
//! one time window as rows (the union of its fields' timestamps), with every
//! field in its stored type, so integers beyond 2^53 leave exactly.
//!
//! ```text
//! tag_sets(m) ──► for each tag set ──► for each window (shard) ──► rows
//! ```
//! A caller that walks tag sets and windows holds one tag set's points of one
//! shard at a time: memory does not grow with the store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tsq_engine::TagPredicate;

use super::error::Result;
use super::shard::shard_start;
use super::store::{nanos, Store};
use super::value::{FieldType, Values};
use crate::sync::read;

/// Tags of a series, sorted by key.
type TagPairs = Vec<(Arc<str>, Arc<str>)>;

/// One series of a tag set: its field, stored type and identity in the store.
#[derive(Debug, Clone)]
pub struct FieldSeries {
    /// Field name.
    pub field: Arc<str>,
    /// Stored type.
    pub ty: FieldType,
    id: u32,
    key: String,
}

/// The series of one measurement sharing a tag set, fields sorted by name.
#[derive(Debug, Clone)]
pub struct TagSet {
    /// Tags, sorted by key.
    pub tags: TagPairs,
    /// Its field series.
    pub fields: Vec<FieldSeries>,
}

/// The values of one field within [`Rows`]: `values[k]` belongs to row
/// `rows[k]` (ascending); the field is null in the other rows.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRows {
    /// Row positions holding a value.
    pub rows: Vec<usize>,
    /// The values, in the field's stored type.
    pub values: Values,
}

/// Points of one tag set in a window, as rows sorted by time.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    /// Row timestamps (ns), ascending, distinct.
    pub times: Vec<i64>,
    /// One entry per field of the [`TagSet`], same order.
    pub fields: Vec<FieldRows>,
}

impl Store {
    /// The series of `measurement` grouped by tag set, in tag order.
    pub fn tag_sets(&self, measurement: &str) -> Vec<TagSet> {
        let index = read(&self.inner.index);
        let mut sets: BTreeMap<TagPairs, Vec<FieldSeries>> = BTreeMap::new();
        for (field, _) in index.fields(measurement) {
            for id in index.select(measurement, &field, &TagPredicate::True) {
                if let Some((info, ty, key)) = index.series(id) {
                    sets.entry(info.tags.clone())
                        .or_default()
                        .push(FieldSeries {
                            field: Arc::clone(&info.field),
                            ty,
                            id,
                            key: key.to_string(),
                        });
                }
            }
        }
        sets.into_iter()
            .map(|(tags, mut fields)| {
                fields.sort_by(|a, b| a.field.cmp(&b.field));
                TagSet { tags, fields }
            })
            .collect()
    }

    /// Inclusive time windows, one per shard, that may hold points of
    /// `sets` within `[min, max]`: the shards with files plus the shards
    /// spanned by cached points, clipped to the range, ascending.
    pub fn export_windows(&self, sets: &[TagSet], min: i64, max: i64) -> Vec<(i64, i64)> {
        let dur = nanos(self.inner.options.shard_duration);
        let mut starts = BTreeSet::new();
        let state = read(&self.inner.state);
        for (start, _) in state.files.shards() {
            starts.insert(start);
        }
        for f in sets.iter().flat_map(|s| &s.fields) {
            if let Some((lo, hi)) = state.cache.span(f.id) {
                let (lo, hi) = (lo.max(min), hi.min(max));
                let mut s = shard_start(lo, dur);
                while s <= hi {
                    starts.insert(s);
                    s = s.saturating_add(dur);
                    if s == i64::MAX {
                        break;
                    }
                }
            }
        }
        starts
            .into_iter()
            .map(|s| (s.max(min), s.saturating_add(dur - 1).min(max)))
            .filter(|(lo, hi)| lo <= hi)
            .collect()
    }

    /// The points of `set` with `min <= t <= max` as rows; `None` when the
    /// tag set has none there.
    pub fn tag_set_rows(&self, set: &TagSet, min: i64, max: i64) -> Result<Option<Rows>> {
        let ids: Vec<u32> = set.fields.iter().map(|f| f.id).collect();
        let view = self.inner.view(&ids, min, max);
        let mut series = Vec::with_capacity(set.fields.len());
        for f in &set.fields {
            series.push(view.read(f.id, &f.key, f.ty)?);
        }
        Ok(join_by_time(series, &set.fields))
    }
}

/// Joins sorted, deduplicated series on time: the union of their
/// timestamps, each series' values placed at its rows.
fn join_by_time(series: Vec<Option<(Vec<i64>, Values)>>, fields: &[FieldSeries]) -> Option<Rows> {
    let mut times: Vec<i64> = series
        .iter()
        .flatten()
        .flat_map(|(t, _)| t.iter().copied())
        .collect();
    if times.is_empty() {
        return None;
    }
    times.sort_unstable();
    times.dedup();
    let fields = series
        .into_iter()
        .zip(fields)
        .map(|(s, f)| match s {
            Some((t, values)) => FieldRows {
                // Both sorted: every lookup lands at or after the previous.
                rows: t
                    .iter()
                    .scan(0, |from, x| {
                        *from += times[*from..].partition_point(|y| y < x);
                        Some(*from)
                    })
                    .collect(),
                values,
            },
            None => FieldRows {
                rows: Vec::new(),
                values: Values::empty(f.ty),
            },
        })
        .collect();
    Some(Rows { times, fields })
}

#[cfg(test)]
mod tests {
    use tsq_engine::SeriesInfo;

    use super::*;
    use crate::tsm::test_dir;
    use crate::tsm::wal::SeriesPoints;
    use crate::tsm::StoreOptions;

    fn points(host: &str, field: &str, times: &[i64], values: Values) -> SeriesPoints {
        SeriesPoints {
            series: SeriesInfo::new("m", &[("host", host)], field),
            times: times.to_vec(),
            values,
        }
    }

    #[test]
    fn rows_join_fields_by_time_in_their_stored_types() {
        let dir = test_dir("export_rows");
        let options = StoreOptions {
            shard_duration: std::time::Duration::from_nanos(100),
            ..StoreOptions::default()
        };
        let (store, _) = Store::open(&dir, options).unwrap();
        let big = 9_007_199_254_740_993; // 2^53 + 1: not an f64
        store
            .write_series(vec![
                points("a", "i", &[10, 30], Values::Integer(vec![big, -1])),
                points(
                    "a",
                    "s",
                    &[20, 30],
                    Values::String(vec!["x".into(), "y".into()]),
                ),
                points("b", "i", &[150], Values::Integer(vec![7])),
            ])
            .unwrap();
        store.flush().unwrap();
        // one cached point in a third shard
        store
            .write_series(vec![points("a", "i", &[250], Values::Integer(vec![5]))])
            .unwrap();
        let sets = store.tag_sets("m");
        let hosts: Vec<&str> = sets.iter().map(|s| &*s.tags[0].1).collect();
        assert_eq!(hosts, vec!["a", "b"]);
        let fields: Vec<&str> = sets[0].fields.iter().map(|f| &*f.field).collect();
        assert_eq!(fields, vec!["i", "s"]);
        // shards [0, 99] and [100, 199] have files; [200, 299] only the cache
        let windows = store.export_windows(&sets, i64::MIN, i64::MAX);
        assert_eq!(windows, vec![(0, 99), (100, 199), (200, 299)]);
        assert_eq!(
            store.export_windows(&sets, 50, 120),
            vec![(50, 99), (100, 120)]
        );
        let rows = store.tag_set_rows(&sets[0], 0, 99).unwrap().unwrap();
        assert_eq!(rows.times, vec![10, 20, 30]);
        assert_eq!(
            rows.fields,
            vec![
                FieldRows {
                    rows: vec![0, 2],
                    values: Values::Integer(vec![big, -1])
                },
                FieldRows {
                    rows: vec![1, 2],
                    values: Values::String(vec!["x".into(), "y".into()])
                },
            ]
        );
        assert!(store.tag_set_rows(&sets[1], 0, 99).unwrap().is_none());
        let cached = store.tag_set_rows(&sets[0], 200, 299).unwrap().unwrap();
        assert_eq!(cached.times, vec![250]);
        assert_eq!(cached.fields[0].values, Values::Integer(vec![5]));
        assert_eq!(cached.fields[1].rows, Vec::<usize>::new());
    }
}
