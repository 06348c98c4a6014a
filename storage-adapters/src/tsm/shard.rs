//! Time shards and the file set. Points live in shards of `shard_duration`
//! (one directory `shards/<start ns>/` each); a shard holds TSM files ordered
//! by generation (newer wins on equal timestamps). The [`FileSet`] of all
//! shards is immutable: writers build a new one and swap the `Arc`, so a query
//! that took the old one keeps a consistent set of files until it finishes.
//!
//! A file that fails a check at open is not dropped silently: the set keeps
//! it as [`Unreadable`], and a query whose time range overlaps its shard
//! fails with the file's error unless partial results are allowed
//! (docs/storage.md, "Damaged files").

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{IoContext, Result, TsmError};
use super::file::reader::TsmReader;
use super::file::FileId;

/// Start (ns) of the shard holding time `t`.
pub fn shard_start(t: i64, duration: i64) -> i64 {
    t.div_euclid(duration).saturating_mul(duration)
}

/// Directory of the shard starting at `start`.
pub fn shard_dir(root: &Path, start: i64) -> PathBuf {
    root.join("shards").join(start.to_string())
}

/// Every open TSM file, by shard start, each list ascending by generation,
/// and the files that could not be opened.
#[derive(Debug, Clone, Default)]
pub struct FileSet {
    shards: BTreeMap<i64, Vec<Arc<TsmReader>>>,
    unreadable: Vec<Arc<Unreadable>>,
}

/// A TSM file of the store that failed a check when it was opened. Its
/// points may lie anywhere in its shard. Which series it holds is known only
/// when its own index is intact (its tombstone file is what failed).
#[derive(Debug)]
pub struct Unreadable {
    /// The file.
    pub path: PathBuf,
    /// Start (ns) of its shard: its points lie in `[shard_start, shard_start + shard duration)`.
    pub shard_start: i64,
    /// Its generations and level, from its name.
    pub id: FileId,
    /// Why it could not be opened (names the file and the byte offset).
    pub error: Arc<TsmError>,
    /// The series keys of its index, sorted, when the index is intact.
    pub keys: Option<Vec<String>>,
    /// True for a WAL segment with damaged records (`shard_start` and `id`
    /// mean nothing then): the points they held may lie at any time.
    pub any_time: bool,
}

impl Unreadable {
    /// False only when the file's index is intact and lacks `key`.
    pub fn may_hold(&self, key: &str) -> bool {
        self.keys
            .as_ref()
            .is_none_or(|k| k.binary_search_by(|x| x.as_str().cmp(key)).is_ok())
    }

    /// `[start, end)` of the times its points may have: its shard's range
    /// for shards of `shard_duration`.
    pub fn time_range(&self, shard_duration: std::time::Duration) -> (i64, i64) {
        if self.any_time {
            return (i64::MIN, i64::MAX);
        }
        let width = super::store::nanos(shard_duration);
        (self.shard_start, self.shard_start.saturating_add(width))
    }

    /// True when the file's shard may hold points in `[min, max]` (the same
    /// rule as [`FileSet::overlapping`]).
    pub fn overlaps(&self, min: i64, max: i64, duration: i64) -> bool {
        self.any_time || self.shard_start >= shard_start(min, duration) && self.shard_start <= max
    }
}

impl FileSet {
    /// Shards (start, files) that may hold points in `[min, max]`.
    pub fn overlapping(
        &self,
        min: i64,
        max: i64,
        duration: i64,
    ) -> impl Iterator<Item = &[Arc<TsmReader>]> {
        let lo = shard_start(min, duration);
        self.shards
            .range(lo..=max)
            .map(|(_, files)| files.as_slice())
    }

    /// All shards.
    pub fn shards(&self) -> impl Iterator<Item = (i64, &[Arc<TsmReader>])> {
        self.shards.iter().map(|(s, f)| (*s, f.as_slice()))
    }

    /// The files that failed their checks at open.
    pub fn unreadable(&self) -> &[Arc<Unreadable>] {
        &self.unreadable
    }

    /// Records the WAL segments whose damaged records were skipped at open:
    /// every query fails naming them unless partial results are allowed.
    pub(crate) fn add_damaged_wal(&mut self, damage: &[super::wal::WalDamage]) {
        for d in damage {
            self.unreadable.push(Arc::new(Unreadable {
                path: d.path.clone(),
                shard_start: 0,
                id: FileId {
                    min_gen: 0,
                    max_gen: 0,
                    level: 0,
                },
                error: Arc::new(d.error()),
                keys: None,
                any_time: true,
            }));
        }
    }

    /// The unreadable files whose shard may hold points in `[min, max]`.
    pub fn unreadable_overlapping(
        &self,
        min: i64,
        max: i64,
        duration: i64,
    ) -> Vec<Arc<Unreadable>> {
        self.unreadable
            .iter()
            .filter(|u| u.overlaps(min, max, duration))
            .cloned()
            .collect()
    }

    /// All files of all shards.
    pub fn files(&self) -> impl Iterator<Item = &Arc<TsmReader>> {
        self.shards.values().flatten()
    }

    /// A copy with `file` added to shard `start`.
    pub fn with_added(&self, start: i64, file: Arc<TsmReader>) -> FileSet {
        let mut next = self.clone();
        let files = next.shards.entry(start).or_default();
        files.push(file);
        files.sort_by_key(|f| (f.id().max_gen, f.id().level));
        next
    }

    /// A copy where the files `removed` of shard `start` are replaced by `added`.
    pub fn with_replaced(
        &self,
        start: i64,
        removed: &[FileId],
        added: Option<Arc<TsmReader>>,
    ) -> FileSet {
        let mut next = self.clone();
        let files = next.shards.entry(start).or_default();
        files.retain(|f| !removed.contains(&f.id()));
        files.extend(added);
        files.sort_by_key(|f| (f.id().max_gen, f.id().level));
        if files.is_empty() {
            next.shards.remove(&start);
        }
        next
    }

    /// A copy without the shards starting before `cutoff`, and the dropped files.
    pub fn without_shards_before(&self, cutoff: i64) -> (FileSet, Vec<Arc<TsmReader>>) {
        let mut next = self.clone();
        let kept = next.shards.split_off(&cutoff);
        let dropped = std::mem::replace(&mut next.shards, kept);
        (next, dropped.into_values().flatten().collect())
    }

    /// The largest generation of any file, unreadable ones included, so a
    /// new file never takes the name of a damaged one (0 when empty).
    pub fn max_gen(&self) -> u64 {
        let readable = self.files().map(|f| f.id().max_gen);
        let unreadable = self.unreadable.iter().map(|u| u.id.max_gen);
        readable.chain(unreadable).max().unwrap_or(0)
    }
}

/// Opens every shard under `root`. With `repair` (a read-write open),
/// leftover `.tmp` files (a snapshot or compaction that failed, e.g. on a
/// full disk, or crashed) and readable files superseded by a readable
/// compaction output (a crash between rename and delete) are removed;
/// without it (read-only) they are skipped and no file or directory is
/// created or removed. A file that fails its checks is kept in the set as
/// [`Unreadable`] (with a warning) so the rest stays queryable and the
/// queries that need it fail.
pub fn load(root: &Path, repair: bool, warnings: &mut Vec<String>) -> Result<FileSet> {
    let shards_root = root.join("shards");
    if repair {
        fs::create_dir_all(&shards_root).at(&shards_root)?;
    } else if !shards_root.is_dir() {
        return Ok(FileSet::default());
    }
    let mut set = FileSet::default();
    for e in fs::read_dir(&shards_root).at(&shards_root)? {
        let dir = e.at(&shards_root)?.path();
        let Some(start) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        let mut ids = Vec::new();
        for f in fs::read_dir(&dir).at(&dir)? {
            let path = f.at(&dir)?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            if name.ends_with(".tmp") {
                if repair {
                    fs::remove_file(&path).at(&path)?;
                }
            } else if let Some(id) = FileId::parse(&name) {
                ids.push(id);
            }
        }
        ids.sort();
        let mut opened = Vec::with_capacity(ids.len());
        for id in &ids {
            let path = dir.join(id.file_name());
            opened.push((*id, TsmReader::open(&path).map_err(|e| (path, e))));
        }
        let covering: Vec<FileId> = opened
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(id, _)| *id)
            .collect();
        for (id, reader) in opened {
            let path = dir.join(id.file_name());
            // An unreadable file is never deleted here, even when covered:
            // a compaction may have merged the files around it.
            if reader.is_ok() && covering.iter().any(|o| o.covers(&id)) {
                drop(reader);
                if repair {
                    fs::remove_file(&path).at(&path)?;
                    let _ = fs::remove_file(super::tombstone::tombstone_path(&path));
                }
                continue;
            }
            match reader {
                Ok(r) => set = set.with_added(start, Arc::new(r)),
                Err((path, error)) => {
                    warnings.push(format!(
                        "unreadable TSM file: {error}; queries over its shard fail \
                         unless partial results are allowed (`tsq repair` moves it aside)"
                    ));
                    let keys = TsmReader::open_without_tombstones(&path)
                        .ok()
                        .map(|r| r.index().iter().map(|e| e.key.clone()).collect());
                    set.unreadable.push(Arc::new(Unreadable {
                        path,
                        shard_start: start,
                        id,
                        error: Arc::new(error),
                        keys,
                        any_time: false,
                    }));
                }
            }
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsm::file::writer::TsmWriter;
    use crate::tsm::value::Values;

    #[test]
    fn covered_files_are_removed_only_when_readable_and_unreadable_ones_are_kept() {
        let root = crate::tsm::test_dir("shard_load");
        let dir = shard_dir(&root, 0);
        fs::create_dir_all(&dir).unwrap();
        let id = |min_gen, max_gen, level| FileId {
            min_gen,
            max_gen,
            level,
        };
        for f in [id(1, 1, 1), id(2, 2, 1), id(1, 3, 2), id(4, 4, 1)] {
            let mut w = TsmWriter::create(&dir.join(f.file_name())).unwrap();
            w.write_series("m#v", &[1], &Values::Float(vec![1.0]))
                .unwrap();
            w.finish().unwrap();
        }
        // 2-2-1 loses its header; 1-3-2 (readable) covers it and 1-1-1.
        let damaged = dir.join(id(2, 2, 1).file_name());
        let mut b = fs::read(&damaged).unwrap();
        b[0] ^= 0xFF;
        fs::write(&damaged, &b).unwrap();
        // 4-4-1, the newest, loses its footer magic: its generation still counts.
        let newest = dir.join(id(4, 4, 1).file_name());
        let mut b = fs::read(&newest).unwrap();
        let n = b.len();
        b[n - 1] ^= 0xFF;
        fs::write(&newest, &b).unwrap();
        let mut warnings = Vec::new();
        let set = load(&root, true, &mut warnings).unwrap();
        let readable: Vec<FileId> = set.files().map(|f| f.id()).collect();
        assert_eq!(readable, vec![id(1, 3, 2)]);
        assert!(!dir.join(id(1, 1, 1).file_name()).exists());
        assert!(damaged.exists(), "an unreadable file is never deleted");
        let u = &set.unreadable()[0];
        assert_eq!(
            (u.id, u.shard_start, set.unreadable().len()),
            (id(2, 2, 1), 0, 2)
        );
        assert_eq!(
            u.error.to_string(),
            format!(
                "corrupt file {} at offset 0: bad magic: not a TSM file",
                damaged.display()
            )
        );
        assert_eq!(set.unreadable()[1].id, id(4, 4, 1));
        // Neither index can be read: either may hold any series.
        assert!(set
            .unreadable()
            .iter()
            .all(|u| u.keys.is_none() && u.may_hold("x#v")));
        assert_eq!(warnings.len(), 2);
        assert_eq!(set.max_gen(), 4);
        // Its shard is [0, 10) for shards of 10 ns.
        assert!(u.overlaps(9, 20, 10) && !u.overlaps(10, 20, 10) && u.overlaps(-5, 0, 10));
        assert_eq!(u.time_range(std::time::Duration::from_nanos(10)), (0, 10));
    }

    #[test]
    fn shard_starts_floor_toward_minus_infinity() {
        // day = 86_400 s; -1 ns lies in the shard starting one day before 0
        let day = 86_400_000_000_000;
        assert_eq!(shard_start(0, day), 0);
        assert_eq!(shard_start(day + 5, day), day);
        assert_eq!(shard_start(-1, day), -day);
    }
}
