//! A read view: the consistent snapshot a query reads from — the `Arc` of the
//! file set and a copy of the cached points of the series it asked for, both
//! taken under one read lock. Reading a series merges its chunks oldest first
//! (files by generation, then the cache), so the newest write of a timestamp
//! wins.

use std::collections::HashMap;
use std::sync::Arc;

use super::error::{Result, TsmError};
use super::file::block::ScanValue;
use super::file::block_buf::BlockBuf;
use super::file::index_block::BlockMeta;
use super::file::reader::TsmReader;
use super::shard::{FileSet, Unreadable};
use super::store::{nanos, Inner};
use super::value::{merge_chunks, FieldType, Values};
use crate::sync::read;

/// Files and cached points as of the moment the view was taken.
#[derive(Debug)]
pub struct View {
    files: Arc<FileSet>,
    cache: HashMap<u32, (Vec<i64>, Values)>,
    spans: HashMap<u32, (i64, i64)>,
    shard_ns: i64,
    min: i64,
    max: i64,
}

impl Inner {
    /// A view of series `ids` restricted to `[min, max]`.
    pub(crate) fn view(&self, ids: &[u32], min: i64, max: i64) -> View {
        let state = read(&self.state);
        let mut cache = HashMap::new();
        let mut spans = HashMap::new();
        for &id in ids {
            if let Some(points) = state.cache.read(id, min, max) {
                spans.insert(id, (points.0[0], points.0[points.0.len() - 1]));
                cache.insert(id, points);
            }
        }
        View {
            files: Arc::clone(&state.files),
            cache,
            spans,
            shard_ns: nanos(self.options.shard_duration),
            min,
            max,
        }
    }

    /// A view for [`View::span`] only: the spans of the cached points of
    /// `ids` in `[min, max]`, taken without copying the points (reads through
    /// it see the files only).
    pub(crate) fn span_view(&self, ids: &[u32], min: i64, max: i64) -> View {
        let state = read(&self.state);
        let spans = ids
            .iter()
            .filter_map(|&id| state.cache.span_in(id, min, max).map(|s| (id, s)))
            .collect();
        View {
            files: Arc::clone(&state.files),
            cache: HashMap::new(),
            spans,
            shard_ns: nanos(self.options.shard_duration),
            min,
            max,
        }
    }
}

impl Inner {
    /// A view for [`View::last_point`] only: of the cached points of `ids`
    /// in `[min, max]` it copies the newest of each series.
    pub(crate) fn last_view(&self, ids: &[u32], min: i64, max: i64) -> View {
        let state = read(&self.state);
        let cache: HashMap<u32, (Vec<i64>, Values)> = ids
            .iter()
            .filter_map(|&id| state.cache.last_in(id, min, max).map(|p| (id, p)))
            .collect();
        let spans = cache
            .iter()
            .map(|(&id, p)| (id, (p.0[0], p.0[0])))
            .collect();
        View {
            files: Arc::clone(&state.files),
            cache,
            spans,
            shard_ns: nanos(self.options.shard_duration),
            min,
            max,
        }
    }
}

impl View {
    /// The view's range, inclusive: `[min, max]`.
    pub fn bounds(&self) -> (i64, i64) {
        (self.min, self.max)
    }

    /// The files whose shard overlaps the view's range, oldest first
    /// (shards by start time, then files by generation): the order in which
    /// a merged read lets the newer write of a timestamp win.
    pub fn files_overlapping(&self) -> impl Iterator<Item = &Arc<TsmReader>> {
        self.files
            .overlapping(self.min, self.max, self.shard_ns)
            .flat_map(|files| files.iter())
    }

    /// The cached points of series `id` the view copied, if any.
    pub fn cached(&self, id: u32) -> Option<(Vec<i64>, Values)> {
        self.cache.get(&id).cloned()
    }

    /// The unreadable files (failed their checks at open) whose shard
    /// overlaps the view's range: a complete answer would need them.
    pub fn unreadable(&self) -> Vec<Arc<Unreadable>> {
        if self.min > self.max {
            return Vec::new();
        }
        self.files
            .unreadable_overlapping(self.min, self.max, self.shard_ns)
    }

    /// The points of series `id` (text key `key`, type `ty`) in the view's range.
    pub fn read(&self, id: u32, key: &str, ty: FieldType) -> Result<Option<(Vec<i64>, Values)>> {
        let mut chunks = Vec::new();
        for files in self.files.overlapping(self.min, self.max, self.shard_ns) {
            for f in files {
                if let Some(c) = f.read_series(key, self.min, self.max)? {
                    chunks.push(c);
                }
            }
        }
        if let Some(c) = self.cache.get(&id) {
            chunks.push(c.clone());
        }
        let (t, v) = merge_chunks(chunks, ty);
        Ok((!t.is_empty()).then_some((t, v)))
    }

    /// Appends the points of series `id` in the view's range, as `V`
    /// ([`ScanValue`]: f64 reads every numeric type, integers their own
    /// type), to `times` / `values`; false when
    /// it has none (nothing appended). When only files hold the series,
    /// without tombstones and with blocks in time order, each block decodes
    /// straight onto the two vectors through `buf` (the scan decodes into its
    /// batch's columns this way); otherwise this is [`read`] converted, with
    /// the same result.
    ///
    /// [`read`]: View::read
    pub fn read_into<V: ScanValue>(
        &self,
        id: u32,
        key: &str,
        ty: FieldType,
        buf: &mut BlockBuf,
        times: &mut Vec<i64>,
        values: &mut Vec<V>,
    ) -> Result<bool> {
        let from = times.len();
        debug_assert_eq!(values.len(), from);
        if ty != FieldType::String && !self.cache.contains_key(&id) {
            if self.append_files(key, buf, times, values)? {
                return Ok(times.len() > from);
            }
            times.truncate(from);
            values.truncate(from);
        }
        let Some((t, v)) = self.read(id, key, ty)? else {
            return Ok(false);
        };
        let v = V::from_values(v).ok_or_else(|| {
            TsmError::Invalid(format!(
                "series '{key}' holds {} values, which cannot be read as {}",
                ty.name(),
                V::VALUE_TYPE
            ))
        })?;
        times.extend_from_slice(&t);
        values.extend_from_slice(&v);
        Ok(true)
    }

    /// The fast path of [`read_into`](View::read_into): appends the series'
    /// points file by file; false (with points possibly appended) when a
    /// file declines (tombstones, blocks out of order) or a file's first
    /// point does not come after the previous file's last one.
    fn append_files<V: ScanValue>(
        &self,
        key: &str,
        buf: &mut BlockBuf,
        times: &mut Vec<i64>,
        values: &mut Vec<V>,
    ) -> Result<bool> {
        let from = times.len();
        for files in self.files.overlapping(self.min, self.max, self.shard_ns) {
            for f in files {
                let at = times.len();
                if !f.append_series(key, self.min, self.max, buf, times, values)? {
                    return Ok(false);
                }
                if at > from && times.len() > at && times[at] <= times[at - 1] {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Smallest and largest timestamp of series `id` in the view's range,
    /// from block min/max where a block lies inside the range and has no
    /// tombstones, decoding only the edge blocks otherwise.
    pub fn span(&self, id: u32, key: &str) -> Result<Option<(i64, i64)>> {
        let mut span = self.spans.get(&id).copied();
        for files in self.files.overlapping(self.min, self.max, self.shard_ns) {
            for f in files {
                if let Some((lo, hi)) = self.file_span(f, key)? {
                    span = Some(span.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
                }
            }
        }
        Ok(span)
    }

    fn file_span(&self, f: &TsmReader, key: &str) -> Result<Option<(i64, i64)>> {
        let Some(entry) = f.entry(key) else {
            return Ok(None);
        };
        let deleted = f.deleted_ranges(key)?;
        let blocks: Vec<&BlockMeta> = entry
            .blocks
            .iter()
            .filter(|b| b.max >= self.min && b.min <= self.max)
            .collect();
        let exact = |b: &BlockMeta| deleted.is_empty() && b.min >= self.min && b.max <= self.max;
        let mut lo = None;
        for b in &blocks {
            lo = if exact(b) {
                Some(b.min)
            } else {
                self.edge(f, key, b)?.map(|(l, _)| l)
            };
            if lo.is_some() {
                break;
            }
        }
        let Some(lo) = lo else {
            return Ok(None);
        };
        for b in blocks.iter().rev() {
            let hi = if exact(b) {
                Some(b.max)
            } else {
                self.edge(f, key, b)?.map(|(_, h)| h)
            };
            if let Some(hi) = hi {
                return Ok(Some((lo, hi)));
            }
        }
        Ok(None)
    }

    fn edge(&self, f: &TsmReader, key: &str, b: &BlockMeta) -> Result<Option<(i64, i64)>> {
        let (lo, hi) = (b.min.max(self.min), b.max.min(self.max));
        Ok(f.read_series(key, lo, hi)?
            .and_then(|(t, _)| Some((*t.first()?, *t.last()?))))
    }
}

#[cfg(test)]
mod tests {
    use tsq_engine::{SeriesInfo, TagPredicate, TimeRange};

    use super::*;
    use crate::tsm::test_dir;
    use crate::tsm::wal::SeriesPoints;
    use crate::tsm::{Store, StoreOptions};

    fn points(host: &str, times: &[i64], values: Values) -> SeriesPoints {
        SeriesPoints {
            series: SeriesInfo::new("m", &[("host", host)], "v"),
            times: times.to_vec(),
            values,
        }
    }

    #[test]
    fn f64_reads_match_merged_reads_on_every_path() {
        let dir = test_dir("view_f64");
        let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
        let f = |v: &[f64]| Values::Float(v.to_vec());
        // a: two files overlapping at t = 2 (the newer 20.0 wins) plus cached
        // points; b: one file only (fast path); c: a tombstone hides t = 1.
        store
            .write_series(vec![
                points("a", &[1, 2], f(&[1.0, 2.0])),
                points("b", &[1, 2, 3], f(&[7.0, 8.0, 9.0])),
                points("c", &[1, 2], f(&[5.0, 6.0])),
            ])
            .unwrap();
        store.flush().unwrap();
        store
            .write_series(vec![points("a", &[2, 3], f(&[20.0, 30.0]))])
            .unwrap();
        store.flush().unwrap();
        store
            .write_series(vec![points("a", &[4], f(&[40.0]))])
            .unwrap();
        let host_c = TagPredicate::Eq("host".into(), "c".into());
        store.delete("m", &host_c, TimeRange::new(1, 2)).unwrap();
        // The paths are really taken: two files, c's tombstone, a cached point.
        let files: Vec<_> = store.file_set().files().cloned().collect();
        assert_eq!(files.len(), 2);
        assert!(files[0].has_tombstones());
        assert!(store.cache_bytes() > 0);
        let index = read(&store.inner.index);
        let series: Vec<(u32, String)> = ["a", "b", "c"]
            .iter()
            .map(|h| {
                let key = format!("m,host={h}#v");
                (index.id_of(&key).unwrap(), key)
            })
            .collect();
        drop(index);
        let ids: Vec<u32> = series.iter().map(|s| s.0).collect();
        let expected: [(Vec<i64>, Vec<f64>); 3] = [
            (vec![1, 2, 3, 4], vec![1.0, 20.0, 30.0, 40.0]),
            (vec![1, 2, 3], vec![7.0, 8.0, 9.0]),
            (vec![2], vec![6.0]),
        ];
        let mut buf = BlockBuf::new();
        for (min, max) in [(i64::MIN, i64::MAX), (2, 3), (5, 9)] {
            let view = store.inner.view(&ids, min, max);
            for ((id, key), (et, ev)) in series.iter().zip(&expected) {
                // Appends after what the vectors hold.
                let (mut t, mut v) = (vec![99], vec![99.0]);
                let found = view
                    .read_into(*id, key, FieldType::Float, &mut buf, &mut t, &mut v)
                    .unwrap();
                let keep: Vec<usize> = (0..et.len())
                    .filter(|&i| et[i] >= min && et[i] <= max)
                    .collect();
                let want_t: Vec<i64> = keep.iter().map(|&i| et[i]).collect();
                let want_v: Vec<f64> = keep.iter().map(|&i| ev[i]).collect();
                assert_eq!(found, !want_t.is_empty(), "{key} {min}..={max}");
                assert_eq!((t[0], v[0]), (99, 99.0), "{key} {min}..={max}");
                assert_eq!((&t[1..], &v[1..]), (&want_t[..], &want_v[..]), "{key}");
                let merged = view.read(*id, key, FieldType::Float).unwrap();
                let merged = merged.map_or((vec![], vec![]), |(t, v)| (t, v.to_f64().unwrap()));
                assert_eq!(merged, (want_t, want_v), "{key} {min}..={max}");
            }
        }
    }
}
