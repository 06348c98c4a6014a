//! The newest point of a series in a time range without scanning it
//! (`StorageAdapter::last_points`, `docs/storage.md` "Last points").
//!
//! Every TSM file's index lists the blocks of a series in time order with
//! their min and max timestamps, so the series' last timestamp in a file is
//! the max of its last block, known at open without decoding anything. The
//! newest point before `max` is in the newest block that starts at or before
//! `max`; it is decoded, and older blocks only when tombstones hid every
//! point of it. Across files (shards, or generations not yet compacted) and
//! the cache, candidates are visited newest first by the upper bound of what
//! they can hold, so a file whose candidate block ends before the newest
//! point already found is not decoded:
//!
//! ```text
//!   file gen 1:  [b0 0..99] [b1 100..199]          max = 250
//!   file gen 2:                [b0 150..260]       ← bound 250: decoded, 250 found
//!   gen 1 b1:    bound 199 < 250                   ← skipped, not decoded
//! ```
//!
//! A tie between two sources at the same timestamp goes to the newer one
//! (later generation, then the cache), as in a merged read. When the range
//! ends after the series' last timestamp in a file (TSBS `lastpoint`), the
//! point found is the series' newest in that file; the reader memoizes it
//! (files are immutable; a delete clears the memo), so repeated lookups
//! decode no block at all.

use std::sync::Arc;

use super::error::{Result, TsmError};
use super::file::index_block::IndexEntry;
use super::file::reader::TsmReader;
use super::value::{Number, Values};
use super::view::View;

/// The newest point of a series found so far: `(time, priority, value)`,
/// where a higher priority is a newer source.
type Found = (i64, usize, Number);

/// A file that may hold the newest point: the upper bound of the time it
/// can hold in range, its priority, the file, its entry and its index
/// position, and the index of the newest block that starts at or before
/// `max` (`None` when the blocks overlap each other and a merged read is
/// needed).
struct Candidate<'a> {
    bound: i64,
    priority: usize,
    file: &'a TsmReader,
    entry: &'a IndexEntry,
    at: usize,
    block: Option<usize>,
}

impl View {
    /// The newest point of series `id` (text key `key`) in the view's
    /// range, in its stored type; `None` when it has none. Decodes at most one block
    /// per file whose candidate block could hold a newer point than the one
    /// already found (see the module docs).
    pub fn last_point(&self, id: u32, key: &str) -> Result<Option<(i64, Number)>> {
        self.last_point_near(id, key, &mut Vec::new())
    }

    /// [`last_point`](Self::last_point) finding the series in each file's
    /// index from `hints` (one per file of the view, kept between calls):
    /// a lookup of many series in key order finds each near the previous
    /// one (`TsmReader::position_near`).
    pub fn last_point_near(
        &self,
        id: u32,
        key: &str,
        hints: &mut Vec<(u64, usize)>,
    ) -> Result<Option<(i64, Number)>> {
        let (min, max) = self.bounds();
        if min > max {
            return Ok(None);
        }
        let files: Vec<&Arc<TsmReader>> = self.files_overlapping().collect();
        if hints.len() < files.len() {
            hints.resize(files.len(), (0, 0));
        }
        let mut best: Option<Found> = None;
        if let Some((t, v)) = self.cached(id) {
            if let Some(&last) = t.last() {
                best = Some((last, files.len(), number(&v, t.len() - 1, key)?));
            }
        }
        let mut candidates: Vec<Candidate<'_>> = files
            .iter()
            .zip(hints.iter_mut())
            .enumerate()
            .filter_map(|(priority, (f, hint))| candidate(f, key, hint, priority, min, max))
            .collect();
        candidates.sort_by_key(|c| std::cmp::Reverse((c.bound, c.priority)));
        for c in candidates {
            let newer = |found: Option<Found>| {
                found.is_none_or(|(t, p, _)| c.bound > t || (c.bound == t && c.priority > p))
            };
            if !newer(best) {
                continue;
            }
            if let Some((t, v)) = newest_in_file(&c, key, min, max)? {
                if best.is_none_or(|(bt, bp, _)| t > bt || (t == bt && c.priority > bp)) {
                    best = Some((t, c.priority, v));
                }
            }
        }
        Ok(best.map(|(t, _, v)| (t, v)))
    }
}

/// The candidate of file `f` for series `key` in `[min, max]`, if it has
/// a block that starts at or before `max` and ends at or after `min`.
fn candidate<'a>(
    f: &'a TsmReader,
    key: &str,
    hint: &mut (u64, usize),
    priority: usize,
    min: i64,
    max: i64,
) -> Option<Candidate<'a>> {
    let at = f.position_near(key, hint)?;
    let entry = &f.index()[at];
    let n = entry.blocks.partition_point(|b| b.min <= max);
    let before = &entry.blocks[..n];
    let sorted = entry.blocks.windows(2).all(|w| w[0].max < w[1].min);
    let bound = before.iter().map(|b| b.max.min(max)).max()?;
    (bound >= min).then_some(Candidate {
        bound,
        priority,
        file: f,
        entry,
        at,
        block: sorted.then_some(n - 1),
    })
}

/// The newest point of `key` in `[min, max]` in the candidate's file,
/// tombstones applied. When `max` is past the series' last timestamp in
/// the file, that is the series' newest point in the file, which the
/// reader remembers: the next lookup decodes nothing.
fn newest_in_file(
    c: &Candidate<'_>,
    key: &str,
    min: i64,
    max: i64,
) -> Result<Option<(i64, Number)>> {
    let whole = c.entry.blocks.last().is_some_and(|b| b.max <= max);
    if whole {
        let newest = c
            .file
            .newest_or(c.at, || newest_in_blocks(c, key, i64::MIN, max))?;
        return Ok(newest.filter(|&(t, _)| t >= min));
    }
    newest_in_blocks(c, key, min, max)
}

/// [`newest_in_file`] by decoding, newest block first.
fn newest_in_blocks(
    c: &Candidate<'_>,
    key: &str,
    min: i64,
    max: i64,
) -> Result<Option<(i64, Number)>> {
    let Some(mut i) = c.block else {
        // Overlapping blocks: the merged read of the range decides.
        let Some((t, v)) = c.file.read_series(key, min, max)? else {
            return Ok(None);
        };
        let Some(&last) = t.last() else {
            return Ok(None);
        };
        return Ok(Some((last, number(&v, t.len() - 1, key)?)));
    };
    let deleted = c.file.deleted_ranges(key)?;
    loop {
        let b = &c.entry.blocks[i];
        if b.max < min {
            return Ok(None);
        }
        let (t, v) = c.file.read_block(c.entry, b)?;
        let hi = t.partition_point(|&x| x <= max);
        for j in (0..hi).rev() {
            if t[j] < min {
                return Ok(None);
            }
            if !deleted.iter().any(|&(a, z)| t[j] >= a && t[j] <= z) {
                return Ok(Some((t[j], number(&v, j, key)?)));
            }
        }
        // Every point of this block in range was deleted: the one before.
        if i == 0 {
            return Ok(None);
        }
        i -= 1;
    }
}

/// Value `i` of `values` as a [`Number`]; an error for strings.
fn number(values: &Values, i: usize, key: &str) -> Result<Number> {
    values.number(i).ok_or_else(|| {
        TsmError::Invalid(format!(
            "series '{key}' holds strings; only numeric fields can be queried"
        ))
    })
}
