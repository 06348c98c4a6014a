//! Compaction: merges `fanout` consecutive files of one level (in generation
//! order, so "newer wins" is preserved) into one file of the next level, up to
//! level 4; `fanout` level-4 files merge into one level-4 file (a full
//! compaction), so deleted points do not linger there forever. Tombstones
//! are applied while merging and the output has none. A full compaction
//! ([`Store::compact_full`]) merges every file of a shard into one. The
//! output is written under a temporary name and renamed; the file-set swap
//! replaces the inputs in the *current* set (snapshots may have added files
//! meanwhile), and the inputs are deleted once no query holds them.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::error::Result;
use super::file::reader::TsmReader;
use super::file::writer::TsmWriter;
use super::file::FileId;
use super::shard::{shard_dir, FileSet};
use super::store::{Inner, Store};
use super::value::merge_chunks;
use crate::sync::{lock, read, write};

/// Highest compaction level.
pub const MAX_LEVEL: u8 = 4;

/// The first run of `fanout` consecutive files sharing a level, if any
/// (`files` ascending by generation).
pub fn plan(files: &[Arc<TsmReader>], fanout: usize) -> Option<&[Arc<TsmReader>]> {
    (0..files.len().saturating_sub(fanout - 1)).find_map(|i| {
        let run = &files[i..i + fanout];
        let level = run[0].id().level;
        run.iter().all(|f| f.id().level == level).then_some(run)
    })
}

/// Merges `inputs` (oldest first) into the file `out`; false when every
/// point was deleted and no file was written.
pub fn merge(inputs: &[Arc<TsmReader>], out: &std::path::Path) -> Result<bool> {
    let keys: BTreeSet<&str> = inputs
        .iter()
        .flat_map(|f| f.index().iter().map(|e| e.key.as_str()))
        .collect();
    let mut w = TsmWriter::create(out)?;
    for key in keys {
        let mut chunks = Vec::new();
        let mut ty = None;
        for f in inputs {
            if let Some(e) = f.entry(key) {
                ty = Some(e.ty);
                chunks.extend(f.read_series(key, i64::MIN, i64::MAX)?);
            }
        }
        let Some(ty) = ty else { continue };
        let (times, values) = merge_chunks(chunks, ty);
        w.write_series(key, &times, &values)?;
    }
    if w.is_empty() {
        drop(w);
        let _ = std::fs::remove_file(out.with_extension("tsm.tmp"));
        return Ok(false);
    }
    w.finish()?;
    Ok(true)
}

/// What [`Store::compact_full`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// TSM files before (after the cache snapshot).
    pub files_before: usize,
    /// Their total size in bytes.
    pub bytes_before: u64,
    /// TSM files after: at most one per shard.
    pub files_after: usize,
    /// Their total size in bytes.
    pub bytes_after: u64,
    /// Shards rewritten.
    pub shards_merged: usize,
}

impl Store {
    /// Runs compactions until no level has `fanout` mergeable files; returns
    /// how many merges were done.
    pub fn compact(&self) -> Result<usize> {
        self.inner.check_writable("compact")?;
        self.inner.compact_all()
    }

    /// A full compaction: snapshots the cache, then merges all the files of
    /// every shard into one level-4 file (a shard already held in one file
    /// without tombstones is left alone). Afterwards the WAL holds nothing
    /// to replay and each shard is one file.
    pub fn compact_full(&self) -> Result<CompactReport> {
        self.inner.check_writable("compact")?;
        {
            let mut w = self.inner.lock_writer_idle();
            self.inner.snapshot(&mut w)?;
        }
        self.inner.compact_full()
    }
}

/// Number of files and their total size.
fn file_stats(files: &FileSet) -> (usize, u64) {
    files
        .files()
        .fold((0, 0), |(n, b), f| (n + 1, b + f.size()))
}

impl Inner {
    pub(crate) fn compact_all(&self) -> Result<usize> {
        let _m = lock(&self.maint);
        let mut done = 0;
        loop {
            let files = Arc::clone(&read(&self.state).files);
            let job = files.shards().find_map(|(start, fs)| {
                plan(fs, self.options.compaction_fanout).map(|run| (start, run.to_vec()))
            });
            let Some((start, inputs)) = job else {
                return Ok(done);
            };
            let level = (inputs[0].id().level + 1).min(MAX_LEVEL);
            self.merge_and_swap(start, &inputs, level)?;
            done += 1;
        }
    }

    fn compact_full(&self) -> Result<CompactReport> {
        let _m = lock(&self.maint);
        let files = Arc::clone(&read(&self.state).files);
        let (files_before, bytes_before) = file_stats(&files);
        let mut shards_merged = 0;
        for (start, inputs) in files.shards() {
            if inputs.len() == 1 && !inputs[0].has_tombstones() {
                continue;
            }
            self.merge_and_swap(start, inputs, MAX_LEVEL)?;
            shards_merged += 1;
        }
        let files = Arc::clone(&read(&self.state).files);
        let (files_after, bytes_after) = file_stats(&files);
        Ok(CompactReport {
            files_before,
            bytes_before,
            files_after,
            bytes_after,
            shards_merged,
        })
    }

    /// Merges `inputs` (one shard, oldest first) into one file of `level`,
    /// swaps it into the current file set and retires the inputs.
    fn merge_and_swap(&self, start: i64, inputs: &[Arc<TsmReader>], level: u8) -> Result<()> {
        let id = FileId {
            min_gen: inputs.iter().map(|f| f.id().min_gen).min().unwrap_or(0),
            max_gen: inputs.iter().map(|f| f.id().max_gen).max().unwrap_or(0),
            level,
        };
        let path = shard_dir(&self.dir, start).join(id.file_name());
        let output = if merge(inputs, &path)? {
            Some(Arc::new(TsmReader::open(&path)?))
        } else {
            None
        };
        let removed: Vec<FileId> = inputs.iter().map(|f| f.id()).collect();
        {
            let mut state = write(&self.state);
            state.files = Arc::new(state.files.with_replaced(start, &removed, output));
        }
        for f in inputs {
            f.retire();
        }
        self.compactions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsm::test_dir;
    use crate::tsm::value::Values;

    fn file(
        dir: &std::path::Path,
        min_gen: u64,
        max_gen: u64,
        level: u8,
        t: i64,
        v: f64,
    ) -> Arc<TsmReader> {
        let path = dir.join(
            FileId {
                min_gen,
                max_gen,
                level,
            }
            .file_name(),
        );
        let mut w = TsmWriter::create(&path).unwrap();
        w.write_series("k#f", &[t, 100], &Values::Float(vec![v, v]))
            .unwrap();
        w.finish().unwrap();
        Arc::new(TsmReader::open(&path).unwrap())
    }

    #[test]
    fn plans_consecutive_same_level_runs_and_merges_newest_last() {
        let dir = test_dir("compact_plan");
        // levels by generation: 2, 1, 1, 2, 1, 1, 1
        let files = vec![
            file(&dir, 1, 4, 2, 1, 1.0),
            file(&dir, 5, 5, 1, 2, 5.0),
            file(&dir, 6, 6, 1, 3, 6.0),
            file(&dir, 7, 10, 2, 4, 7.0),
            file(&dir, 11, 11, 1, 5, 11.0),
            file(&dir, 12, 12, 1, 6, 12.0),
            file(&dir, 13, 13, 1, 7, 13.0),
        ];
        let ids = |run: &[Arc<TsmReader>]| run.iter().map(|f| f.id().min_gen).collect::<Vec<_>>();
        // fanout 2: first run of two equal levels is gens 5, 6
        assert_eq!(ids(plan(&files, 2).unwrap()), vec![5, 6]);
        // fanout 3: gens 5, 6 are only two in a row; 11, 12, 13 qualify
        assert_eq!(ids(plan(&files, 3).unwrap()), vec![11, 12, 13]);
        assert!(plan(&files, 4).is_none());
        let level4 = vec![file(&dir, 20, 21, 4, 1, 0.0), file(&dir, 22, 23, 4, 1, 0.0)];
        assert_eq!(
            ids(plan(&level4, 2).unwrap()),
            vec![20, 22],
            "level 4 merges into level 4"
        );
        // merging gens 11..13: every file has a point at t=100, the newest (13.0) wins
        let out = dir.join(
            FileId {
                min_gen: 11,
                max_gen: 13,
                level: 2,
            }
            .file_name(),
        );
        assert!(merge(&files[4..], &out).unwrap());
        let merged = TsmReader::open(&out).unwrap();
        let (t, v) = merged
            .read_series("k#f", i64::MIN, i64::MAX)
            .unwrap()
            .unwrap();
        assert_eq!(t, vec![5, 6, 7, 100]);
        assert_eq!(v, Values::Float(vec![11.0, 12.0, 13.0, 13.0]));
    }

    #[test]
    fn full_compaction_leaves_one_file_per_shard_and_close_an_empty_wal() {
        use crate::tsm::wal::SeriesPoints;
        use crate::tsm::StoreOptions;
        use tsq_engine::SeriesInfo;
        let dir = test_dir("compact_full");
        let options = StoreOptions {
            shard_duration: std::time::Duration::from_nanos(100),
            ..StoreOptions::default()
        };
        let write = |store: &Store, t: i64, v: f64| {
            let series = SeriesInfo::new("m", &[("host", "a")], "v");
            let times = vec![t, t + 100];
            let values = Values::Float(vec![v, v]);
            store
                .write_series(vec![SeriesPoints {
                    series,
                    times,
                    values,
                }])
                .unwrap();
        };
        let (store, _) = Store::open(&dir, options.clone()).unwrap();
        // three snapshots of points in shards 0 and 100, then one cached write
        for (t, v) in [(1, 1.0), (2, 2.0), (1, 3.0)] {
            write(&store, t, v);
            store.flush().unwrap();
        }
        write(&store, 3, 4.0);
        let report = store.compact_full().unwrap();
        // the cached write became a 4th file in each of the two shards
        assert_eq!((report.files_before, report.files_after), (8, 2));
        assert_eq!(report.shards_merged, 2);
        assert_eq!(
            report.bytes_after,
            store.file_set().files().map(|f| f.size()).sum::<u64>()
        );
        // again: nothing to do
        let again = store.compact_full().unwrap();
        assert_eq!(
            (again.files_before, again.files_after, again.shards_merged),
            (2, 2, 0)
        );
        write(&store, 4, 5.0);
        store.close().unwrap();
        assert_eq!(store.cache_bytes(), 0);
        drop(store);
        let (store, report) = Store::open(&dir, options).unwrap();
        assert_eq!(report.wal_entries_replayed, 0);
        let files: Vec<_> = store.file_set().files().cloned().collect();
        assert_eq!(files.len(), 4, "two compacted files and the close snapshot");
        assert!(files.iter().any(|f| f.id().level == MAX_LEVEL));
        // shard 0 after merging: t=1 -> 3.0 (newest of 1.0, 3.0), 2 -> 2.0, 3 -> 4.0, 4 -> 5.0
        let view = store.inner.view(&[0], 0, 99);
        let (t, v) = view
            .read(0, "m,host=a#v", crate::tsm::value::FieldType::Float)
            .unwrap()
            .unwrap();
        assert_eq!(t, vec![1, 2, 3, 4]);
        assert_eq!(v, Values::Float(vec![3.0, 2.0, 4.0, 5.0]));
    }
}
