//! Time shards and the file set. Points live in shards of `shard_duration`
//! (one directory `shards/<start ns>/` each); a shard holds TSM files ordered
//! by generation (newer wins on equal timestamps). The [`FileSet`] of all
//! shards is immutable: writers build a new one and swap the `Arc`, so a query
//! that took the old one keeps a consistent set of files until it finishes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{IoContext, Result};
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

/// Every open TSM file, by shard start, each list ascending by generation.
#[derive(Debug, Clone, Default)]
pub struct FileSet {
    shards: BTreeMap<i64, Vec<Arc<TsmReader>>>,
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

    /// The largest generation of any file (0 when empty).
    pub fn max_gen(&self) -> u64 {
        self.files().map(|f| f.id().max_gen).max().unwrap_or(0)
    }
}

/// Opens every shard under `root`. With `repair` (a read-write open),
/// leftover `.tmp` files (a snapshot or compaction that failed, e.g. on a
/// full disk, or crashed) and files superseded by a compaction output (a
/// crash between rename and delete) are removed; without it (read-only) they
/// are skipped and no file or directory is created or removed. An unreadable
/// file is skipped with a warning so the rest stays queryable.
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
        for path in live_files(&dir, repair)? {
            match TsmReader::open(&path) {
                Ok(r) => set = set.with_added(start, Arc::new(r)),
                Err(e) => warnings.push(format!("skipping unreadable TSM file: {e}")),
            }
        }
    }
    Ok(set)
}

/// The TSM files of shard directory `dir` that no compaction output covers.
/// With `repair`, `.tmp` leftovers and covered files are deleted.
fn live_files(dir: &Path, repair: bool) -> Result<Vec<PathBuf>> {
    let mut ids = Vec::new();
    for f in fs::read_dir(dir).at(dir)? {
        let path = f.at(dir)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".tmp") {
            if repair {
                fs::remove_file(&path).at(&path)?;
            }
        } else if let Some(id) = FileId::parse(name) {
            ids.push(id);
        }
    }
    let mut live = Vec::new();
    for id in &ids {
        let path = dir.join(id.file_name());
        if ids.iter().any(|o| o.covers(id)) {
            if repair {
                fs::remove_file(&path).at(&path)?;
                let _ = fs::remove_file(super::tombstone::tombstone_path(&path));
            }
            continue;
        }
        live.push(path);
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_starts_floor_toward_minus_infinity() {
        // day = 86_400 s; -1 ns lies in the shard starting one day before 0
        let day = 86_400_000_000_000;
        assert_eq!(shard_start(0, day), 0);
        assert_eq!(shard_start(day + 5, day), day);
        assert_eq!(shard_start(-1, day), -day);
    }
}
