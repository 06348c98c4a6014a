//! The inverted index: series key ↔ dense series id, and per measurement
//! `tagk=tagv` → posting list of series ids. It is persisted as the
//! [`series_log::SeriesLog`] (one appended record per new series) and held in
//! memory as hash maps and delta-varint [`posting::PostingList`]s. It answers
//! tag predicates with set operations ([`select`]) and the catalog questions
//! of the REPL (measurements, tag keys and values, fields with types, series
//! counts).

pub mod order;
pub mod posting;
pub mod prefix;
pub mod select;
pub mod series_log;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use tsq_engine::SeriesInfo;

use self::posting::PostingList;
use self::series_log::SeriesLog;
use super::error::{Result, TsmError};
use super::key::series_key;
use super::value::FieldType;

/// Posting lists of one measurement.
#[derive(Debug, Default)]
struct Measurement {
    all: PostingList,
    /// field name → (type, series ids)
    fields: BTreeMap<Arc<str>, (FieldType, PostingList)>,
    /// tag key → tag value → series ids
    tags: BTreeMap<Arc<str>, BTreeMap<Arc<str>, PostingList>>,
    /// Every series of the measurement in `SeriesInfo` order (the order of
    /// scan registries), kept so a scan need not sort ([`order`]).
    sorted: BTreeSet<(SeriesInfo, u32)>,
}

/// The series index of a store.
#[derive(Debug)]
pub struct SeriesIndex {
    log: SeriesLog,
    series: Vec<(SeriesInfo, FieldType, String)>,
    by_key: HashMap<String, u32>,
    measurements: BTreeMap<Arc<str>, Measurement>,
}

impl SeriesIndex {
    /// Opens the index persisted at `path`; the warning reports a cut tail.
    pub fn open(path: &Path) -> Result<(SeriesIndex, Option<String>)> {
        let (log, (series, warning)) = SeriesLog::open(path)?;
        let mut index = SeriesIndex {
            log,
            series: Vec::with_capacity(series.len()),
            by_key: HashMap::with_capacity(series.len()),
            measurements: BTreeMap::new(),
        };
        for (s, ty) in series {
            index.add(s, ty);
        }
        Ok((index, warning))
    }

    fn add(&mut self, s: SeriesInfo, ty: FieldType) -> u32 {
        let id = self.series.len() as u32;
        let key = series_key(&s);
        let m = self
            .measurements
            .entry(Arc::clone(&s.measurement))
            .or_default();
        m.all.push(id);
        m.sorted.insert((s.clone(), id));
        m.fields
            .entry(Arc::clone(&s.field))
            .or_insert_with(|| (ty, PostingList::new()))
            .1
            .push(id);
        for (k, v) in &s.tags {
            m.tags
                .entry(Arc::clone(k))
                .or_default()
                .entry(Arc::clone(v))
                .or_default()
                .push(id);
        }
        self.by_key.insert(key.clone(), id);
        self.series.push((s, ty, key));
        id
    }

    /// The id of `s`, creating (and logging) it with type `ty` if new. Returns
    /// the id and whether it was created; a type mismatch is an error.
    pub fn get_or_create(&mut self, s: &SeriesInfo, ty: FieldType) -> Result<(u32, bool)> {
        let key = series_key(s);
        if let Some(&id) = self.by_key.get(&key) {
            let stored = self.series[id as usize].1;
            if stored != ty {
                return Err(TsmError::TypeConflict {
                    key,
                    stored: stored.name(),
                    written: ty.name(),
                });
            }
            return Ok((id, false));
        }
        if let Some((stored, _)) = self
            .measurements
            .get(s.measurement.as_ref())
            .and_then(|m| m.fields.get(s.field.as_ref()))
        {
            if *stored != ty {
                return Err(TsmError::TypeConflict {
                    key,
                    stored: stored.name(),
                    written: ty.name(),
                });
            }
        }
        if key.len() > usize::from(u16::MAX) {
            return Err(TsmError::Invalid(format!(
                "series key of {} bytes exceeds the limit of 65535 bytes: '{}...'",
                key.len(),
                key.chars().take(64).collect::<String>()
            )));
        }
        self.log.append(s, ty)?;
        Ok((self.add(s.clone(), ty), true))
    }

    /// Fsyncs series created since the last sync.
    pub fn sync(&mut self) -> Result<()> {
        self.log.sync()
    }

    /// The id of the series with text key `key`.
    pub fn id_of(&self, key: &str) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// Series `id`: identity, type and text key.
    pub fn series(&self, id: u32) -> Option<(&SeriesInfo, FieldType, &str)> {
        self.series
            .get(id as usize)
            .map(|(s, t, k)| (s, *t, k.as_str()))
    }

    /// Total number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when no series exists.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Measurement names, sorted.
    pub fn measurements(&self) -> Vec<String> {
        self.measurements.keys().map(|m| m.to_string()).collect()
    }

    /// Fields of `measurement` with their types, sorted by name.
    pub fn fields(&self, measurement: &str) -> Vec<(String, FieldType)> {
        self.measurements
            .get(measurement)
            .map_or_else(Vec::new, |m| {
                m.fields
                    .iter()
                    .map(|(f, (t, _))| (f.to_string(), *t))
                    .collect()
            })
    }

    /// Tag keys of `measurement`, sorted.
    pub fn tag_keys(&self, measurement: &str) -> Vec<String> {
        self.measurements
            .get(measurement)
            .map_or_else(Vec::new, |m| m.tags.keys().map(|k| k.to_string()).collect())
    }

    /// Values of tag `key` in `measurement`, sorted.
    pub fn tag_values(&self, measurement: &str, key: &str) -> Vec<String> {
        self.measurements
            .get(measurement)
            .and_then(|m| m.tags.get(key))
            .map_or_else(Vec::new, |vs| vs.keys().map(|v| v.to_string()).collect())
    }

    /// Number of series (tag set × field) of `measurement`.
    pub fn series_count(&self, measurement: &str) -> usize {
        self.measurements
            .get(measurement)
            .map_or(0, |m| m.all.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsm::test_dir;

    #[test]
    fn index_persists_and_reloads_with_the_same_ids() {
        let dir = test_dir("index_persist");
        let path = dir.join("series.log");
        let (mut idx, w) = SeriesIndex::open(&path).unwrap();
        assert!(w.is_none());
        let a = SeriesInfo::new("cpu", &[("host", "a")], "usage");
        let b = SeriesInfo::new("cpu", &[("host", "b"), ("dc", "eu")], "usage");
        let c = SeriesInfo::new("mem", &[], "free");
        assert_eq!(idx.get_or_create(&a, FieldType::Float).unwrap(), (0, true));
        assert_eq!(idx.get_or_create(&b, FieldType::Float).unwrap(), (1, true));
        assert_eq!(idx.get_or_create(&a, FieldType::Float).unwrap(), (0, false));
        assert_eq!(
            idx.get_or_create(&c, FieldType::Integer).unwrap(),
            (2, true)
        );
        let err = idx
            .get_or_create(
                &SeriesInfo::new("cpu", &[("host", "z")], "usage"),
                FieldType::String,
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field type conflict for series 'cpu,host=z#usage': stored as float, written as string"
        );
        let huge = SeriesInfo::new("m", &[("k", &"x".repeat(70_000))], "f");
        let err = idx
            .get_or_create(&huge, FieldType::Float)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("series key of 70006 bytes exceeds the limit"),
            "{err}"
        );
        idx.sync().unwrap();
        drop(idx);
        let (idx, w) = SeriesIndex::open(&path).unwrap();
        assert!(w.is_none());
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.id_of("cpu,dc=eu,host=b#usage"), Some(1));
        assert_eq!(idx.measurements(), vec!["cpu", "mem"]);
        assert_eq!(idx.tag_keys("cpu"), vec!["dc", "host"]);
        assert_eq!(idx.tag_values("cpu", "host"), vec!["a", "b"]);
        assert_eq!(
            idx.fields("mem"),
            vec![("free".to_string(), FieldType::Integer)]
        );
        assert_eq!(idx.series_count("cpu"), 2);
        assert_eq!(idx.series_count("nope"), 0);
        drop(idx);
        // A torn last record (3 bytes cut) loses that series only, with a warning.
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 3).unwrap();
        let (idx, w) = SeriesIndex::open(&path).unwrap();
        assert!(w.unwrap().contains("truncated"));
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.id_of("mem#free"), None);
    }
}
