//! Compaction: merges `fanout` consecutive files of one level (in generation
//! order, so "newer wins" is preserved) into one file of the next level, up to
//! level 4. Tombstones are applied while merging and the output has none. The
//! output is written under a temporary name and renamed; the file-set swap
//! replaces the inputs in the *current* set (snapshots may have added files
//! meanwhile), and the inputs are deleted once no query holds them.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::error::Result;
use super::file::reader::TsmReader;
use super::file::writer::TsmWriter;
use super::file::FileId;
use super::shard::shard_dir;
use super::store::{lock, Inner, Store};
use super::value::merge_chunks;

/// Highest compaction level.
pub const MAX_LEVEL: u8 = 4;

/// The first run of `fanout` consecutive files sharing a level below
/// [`MAX_LEVEL`], if any (`files` ascending by generation).
pub fn plan(files: &[Arc<TsmReader>], fanout: usize) -> Option<&[Arc<TsmReader>]> {
    (0..files.len().saturating_sub(fanout - 1)).find_map(|i| {
        let run = &files[i..i + fanout];
        let level = run[0].id().level;
        (level < MAX_LEVEL && run.iter().all(|f| f.id().level == level)).then_some(run)
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

impl Store {
    /// Runs compactions until no level has `fanout` mergeable files; returns
    /// how many merges were done.
    pub fn compact(&self) -> Result<usize> {
        self.inner.compact_all()
    }
}

impl Inner {
    pub(crate) fn compact_all(&self) -> Result<usize> {
        let _m = lock(&self.maint);
        let mut done = 0;
        loop {
            let files = Arc::clone(&self.state.read().expect("state lock").files);
            let job = files.shards().find_map(|(start, fs)| {
                plan(fs, self.options.compaction_fanout).map(|run| (start, run.to_vec()))
            });
            let Some((start, inputs)) = job else {
                return Ok(done);
            };
            let id = FileId {
                min_gen: inputs.iter().map(|f| f.id().min_gen).min().unwrap_or(0),
                max_gen: inputs.iter().map(|f| f.id().max_gen).max().unwrap_or(0),
                level: inputs[0].id().level + 1,
            };
            let path = shard_dir(&self.dir, start).join(id.file_name());
            let output = if merge(&inputs, &path)? {
                Some(Arc::new(TsmReader::open(&path)?))
            } else {
                None
            };
            let removed: Vec<FileId> = inputs.iter().map(|f| f.id()).collect();
            {
                let mut state = self.state.write().expect("state lock");
                state.files = Arc::new(state.files.with_replaced(start, &removed, output));
            }
            for f in &inputs {
                f.retire();
            }
            done += 1;
        }
    }
}
