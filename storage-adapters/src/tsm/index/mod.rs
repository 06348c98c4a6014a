//! The inverted index: series key ↔ dense series id, and per measurement
//! `tagk=tagv` → posting list of series ids. It is persisted as the
//! [`series_log::SeriesLog`] (one appended record per new series) and held in
//! memory as hash maps and delta-varint [`posting::PostingList`]s. It answers
//! tag predicates with set operations ([`select`]) and the catalog questions
//! of the REPL (measurements, tag keys and values, fields with types, series
//! counts). A damaged log is rebuilt from the TSM files' keys
//! ([`SeriesIndex::rebuild`]).

pub mod order;
pub mod posting;
pub mod prefix;
pub mod select;
pub mod series_log;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use tsq_engine::SeriesInfo;

use self::posting::PostingList;
use self::series_log::SeriesLog;
use super::error::{Result, TsmError};
use super::key::{parse_series_key, series_key, write_series_key};
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
    /// scan registries), kept so a scan need not sort ([`order`]). Built on
    /// first use, not at open: sorting hundreds of thousands of series
    /// costs more than a query that selects a few of them.
    sorted: OnceLock<BTreeSet<(SeriesInfo, u32)>>,
}

/// The series index of a store.
#[derive(Debug)]
pub struct SeriesIndex {
    /// `None` when opened read-only: series are then only added in memory.
    log: Option<SeriesLog>,
    /// Identity, type and text key of each id (the key shared with `by_key`).
    series: Vec<(SeriesInfo, FieldType, Arc<str>)>,
    /// Id of each text key, hashed with foldhash: SipHash over keys of
    /// 150 bytes was a visible share of the write path (docs/storage.md).
    by_key: HashMap<Arc<str>, u32, foldhash::fast::RandomState>,
    /// Scratch buffer for the key of a series looked up by
    /// [`SeriesIndex::get_or_create`], so a known series costs no allocation.
    key_buf: String,
    measurements: BTreeMap<Arc<str>, Measurement>,
    /// The log failed a checksum at open: series may be missing until
    /// [`SeriesIndex::rebuild`] runs.
    damaged: bool,
}

/// What [`SeriesIndex::rebuild`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildReport {
    /// Series the index already held (ids unchanged).
    pub kept: usize,
    /// Series added from the keys given (TSM file indexes).
    pub added: usize,
    /// Keys that could not be added, with the reason.
    pub skipped: Vec<String>,
}

impl SeriesIndex {
    /// Opens the index persisted at `path`; the warning reports a cut tail
    /// or damaged records (then [`SeriesIndex::log_damaged`] is true).
    pub fn open(path: &Path) -> Result<(SeriesIndex, Option<String>)> {
        let (log, contents) = SeriesLog::open(path)?;
        Ok(SeriesIndex::from_log(Some(log), contents))
    }

    /// Reads the index persisted at `path` without changing any file; series
    /// the WAL adds at replay live only in memory.
    pub fn open_read_only(path: &Path) -> Result<(SeriesIndex, Option<String>)> {
        Ok(SeriesIndex::from_log(None, SeriesLog::read(path)?))
    }

    fn from_log(
        log: Option<SeriesLog>,
        contents: series_log::LogContents,
    ) -> (SeriesIndex, Option<String>) {
        let mut index = SeriesIndex {
            log,
            series: Vec::with_capacity(contents.series.len()),
            by_key: HashMap::with_capacity_and_hasher(contents.series.len(), Default::default()),
            key_buf: String::new(),
            measurements: BTreeMap::new(),
            damaged: contents.damaged,
        };
        for (s, ty) in contents.series {
            let key: Arc<str> = Arc::from(series_key(&s));
            if !index.by_key.contains_key(&key) {
                index.insert(s, ty, key);
            }
        }
        (index, contents.warning)
    }

    /// True when the log failed a checksum at open and has not been rebuilt.
    pub fn log_damaged(&self) -> bool {
        self.damaged
    }

    /// Rebuilds the index: adds every series of `keys` (text key and type,
    /// as listed by TSM file indexes) it does not hold, after the series it
    /// holds (whose ids do not change), then rewrites the series log from
    /// scratch (see [`SeriesLog::rewrite`]). Series known only to the WAL are
    /// added when the WAL is replayed. A key that does not parse or whose
    /// type conflicts with its measurement's field is skipped and reported.
    pub fn rebuild<'a>(
        &mut self,
        keys: impl IntoIterator<Item = (&'a str, FieldType)>,
    ) -> Result<RebuildReport> {
        let mut report = RebuildReport {
            kept: self.series.len(),
            ..RebuildReport::default()
        };
        for (key, ty) in keys {
            if self.by_key.contains_key(key) {
                continue;
            }
            let s = match parse_series_key(key) {
                Ok(s) => s,
                Err(m) => {
                    report.skipped.push(m);
                    continue;
                }
            };
            let stored = self
                .measurements
                .get(s.measurement.as_ref())
                .and_then(|m| m.fields.get(s.field.as_ref()))
                .map(|f| f.0);
            match stored {
                Some(t) if t != ty => report.skipped.push(format!(
                    "series '{key}' is {} in a TSM file but its field is {}",
                    ty.name(),
                    t.name()
                )),
                _ => {
                    self.add(s, ty);
                    report.added += 1;
                }
            }
        }
        // A read-only index rebuilds in memory only; its log stays as it is.
        if let Some(log) = &self.log {
            let path = log.path().to_path_buf();
            let series = self.series.iter().map(|(s, t, _)| (s, *t));
            self.log = Some(SeriesLog::rewrite(&path, series)?);
            self.damaged = false;
        }
        Ok(report)
    }

    fn add(&mut self, s: SeriesInfo, ty: FieldType) -> u32 {
        let key = Arc::from(series_key(&s));
        self.add_keyed(s, ty, key)
    }

    /// [`SeriesIndex::add`] with the text key already built.
    fn add_keyed(&mut self, s: SeriesInfo, ty: FieldType, key: Arc<str>) -> u32 {
        let id = self.insert(s.clone(), ty, key);
        let sorted = self
            .measurements
            .get_mut(s.measurement.as_ref())
            .and_then(|m| m.sorted.get_mut());
        if let Some(sorted) = sorted {
            sorted.insert((s, id));
        }
        id
    }

    /// Adds `s` with its text key `key` everywhere but the measurement's
    /// sorted set (which [`SeriesIndex::add`] keeps, once built).
    fn insert(&mut self, s: SeriesInfo, ty: FieldType, key: Arc<str>) -> u32 {
        let id = self.series.len() as u32;
        let m = self
            .measurements
            .entry(Arc::clone(&s.measurement))
            .or_default();
        m.all.push(id);
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
        self.by_key.insert(Arc::clone(&key), id);
        self.series.push((s, ty, key));
        id
    }

    /// The id of `s`, creating (and logging) it with type `ty` if new. Returns
    /// the id and whether it was created; a type mismatch is an error.
    pub fn get_or_create(&mut self, s: &SeriesInfo, ty: FieldType) -> Result<(u32, bool)> {
        let mut key = std::mem::take(&mut self.key_buf);
        key.clear();
        write_series_key(&mut key, s);
        let found = self.find_or_check(s, &key, ty);
        let result = match found {
            Ok(Some(id)) => Ok((id, false)),
            Ok(None) => self.create(s, ty, &key).map(|id| (id, true)),
            Err(e) => Err(e),
        };
        self.key_buf = key;
        result
    }

    /// The id of the series with text key `key`, or `None` when it is new
    /// and may be created with type `ty`; a type mismatch is an error.
    fn find_or_check(&self, s: &SeriesInfo, key: &str, ty: FieldType) -> Result<Option<u32>> {
        let conflict = |stored: FieldType| TsmError::TypeConflict {
            key: key.to_string(),
            stored: stored.name(),
            written: ty.name(),
        };
        if let Some(&id) = self.by_key.get(key) {
            let stored = self.series[id as usize].1;
            return if stored == ty {
                Ok(Some(id))
            } else {
                Err(conflict(stored))
            };
        }
        if let Some((stored, _)) = self
            .measurements
            .get(s.measurement.as_ref())
            .and_then(|m| m.fields.get(s.field.as_ref()))
        {
            if *stored != ty {
                return Err(conflict(*stored));
            }
        }
        Ok(None)
    }

    /// Logs and adds the new series `s` whose text key is `key`.
    fn create(&mut self, s: &SeriesInfo, ty: FieldType, key: &str) -> Result<u32> {
        if key.len() > usize::from(u16::MAX) {
            return Err(TsmError::Invalid(format!(
                "series key of {} bytes exceeds the limit of 65535 bytes: '{}...'",
                key.len(),
                key.chars().take(64).collect::<String>()
            )));
        }
        if let Some(log) = &mut self.log {
            log.append(s, ty)?;
        }
        Ok(self.add_keyed(s.clone(), ty, Arc::from(key)))
    }

    /// Fsyncs series created since the last sync.
    pub fn sync(&mut self) -> Result<()> {
        match &mut self.log {
            Some(log) => log.sync(),
            None => Ok(()),
        }
    }

    /// The id of the series with text key `key`.
    pub fn id_of(&self, key: &str) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// Series `id`: identity, type and text key.
    pub fn series(&self, id: u32) -> Option<(&SeriesInfo, FieldType, &str)> {
        self.series.get(id as usize).map(|(s, t, k)| (s, *t, &**k))
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
        let read = SeriesLog::read(&path).unwrap();
        assert_eq!((read.series.len(), read.damaged), (2, false));
        let w = read.warning.unwrap();
        assert!(
            w.ends_with(" of 16 header bytes)") || w.ends_with(" bytes left)"),
            "{w}"
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len - 3);
        let (idx, w) = SeriesIndex::open(&path).unwrap();
        assert!(w.unwrap().ends_with(", truncated"));
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.id_of("mem#free"), None);
    }

    #[test]
    fn a_damaged_log_is_flagged_and_rebuild_restores_every_series() {
        let dir = test_dir("index_rebuild");
        let path = dir.join("series.log");
        let (mut idx, _) = SeriesIndex::open(&path).unwrap();
        let names = ["a", "b", "c"];
        for n in names {
            let s = SeriesInfo::new("cpu", &[("host", n)], "v");
            idx.get_or_create(&s, FieldType::Float).unwrap();
        }
        idx.sync().unwrap();
        drop(idx);
        // Damage the middle record's payload: "a" and "c" survive.
        let mut bytes = std::fs::read(&path).unwrap();
        let third = bytes.len() / 3;
        bytes[third + 20] ^= 0x80;
        std::fs::write(&path, &bytes).unwrap();
        let (mut idx, w) = SeriesIndex::open(&path).unwrap();
        let w = w.unwrap();
        assert!(
            w.contains(&format!("bytes {third}..{} damaged", 2 * third)),
            "{w}"
        );
        assert!(idx.log_damaged());
        assert_eq!(idx.tag_values("cpu", "host"), vec!["a", "c"]);
        // The TSM keys bring "b" back (after the kept series), skip the
        // known ones and report what does not fit.
        let keys = [
            ("cpu,host=a#v", FieldType::Float),
            ("cpu,host=b#v", FieldType::Float),
            ("cpu,host=d#v", FieldType::Integer),
            ("cpu,host", FieldType::Float),
        ];
        let report = idx.rebuild(keys).unwrap();
        assert_eq!((report.kept, report.added), (2, 1));
        assert_eq!(
            report.skipped,
            vec![
                "series 'cpu,host=d#v' is integer in a TSM file but its field is float",
                "malformed series key 'cpu,host'"
            ]
        );
        assert!(!idx.log_damaged());
        assert_eq!(
            (
                idx.id_of("cpu,host=a#v"),
                idx.id_of("cpu,host=c#v"),
                idx.id_of("cpu,host=b#v")
            ),
            (Some(0), Some(1), Some(2))
        );
        drop(idx);
        // The rewritten log reads back whole, same ids, and takes appends.
        let (mut idx, w) = SeriesIndex::open(&path).unwrap();
        assert_eq!(w, None);
        assert_eq!(idx.id_of("cpu,host=b#v"), Some(2));
        let e = SeriesInfo::new("cpu", &[("host", "e")], "v");
        assert_eq!(idx.get_or_create(&e, FieldType::Float).unwrap(), (3, true));
        idx.sync().unwrap();
        drop(idx);
        let (idx, w) = SeriesIndex::open(&path).unwrap();
        assert_eq!((w, idx.len()), (None, 4));
        assert!(!dir.join("series.log.tmp").exists());
    }
}
