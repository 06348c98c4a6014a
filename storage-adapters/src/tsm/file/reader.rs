//! Reads one TSM file. Opening reads only the footer and the index (CRC
//! checked); blocks are fetched one at a time with positioned reads
//! (`FileExt::read_at`), so a query never loads a whole file. Tombstones of the
//! file are kept beside the index and applied to every decoded block. When the
//! file is retired (compaction, retention) it is marked and deleted once the
//! last reader drops it.

use std::collections::HashMap;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use super::block::{decode_block, decode_block_into, ScanValue};
use super::block_buf::BlockBuf;
use super::footer::Footer;
use super::index_block::{decode_index, BlockMeta, IndexEntry};
use super::{FileId, FOOTER_LEN, HEADER_LEN, MAGIC, VERSION};
use crate::sync::{lock, read, write};
use crate::tsm::error::{IoContext, Result, TsmError};
use crate::tsm::tombstone::{self, Tombstone, Tombstones};
use crate::tsm::value::{merge_chunks, FieldType, Number, Values};

/// Source of [`TsmReader`] serial numbers; 0 is never handed out.
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// An open TSM file.
#[derive(Debug)]
pub struct TsmReader {
    path: PathBuf,
    id: FileId,
    file: File,
    size: u64,
    /// Offset of the index: blocks lie before it.
    index_at: u64,
    /// Unique among the readers of this process, so a [`BlockBuf`] knows
    /// whose bytes it holds.
    serial: u64,
    index: Vec<IndexEntry>,
    tombstones: RwLock<Tombstones>,
    retired: AtomicBool,
    /// Blocks decoded by reads of this file (scans, point reads, last-point
    /// lookups): what tests of the read paths count.
    decoded: AtomicU64,
    /// The newest point of each series of this file (by index position),
    /// tombstones applied, once a last-point lookup decoded it: the file is
    /// immutable, so it stays true until a delete (which clears it).
    newest: Mutex<HashMap<usize, Option<(i64, Number)>>>,
}

impl TsmReader {
    /// Opens `path` (named as [`FileId::file_name`]), reading its index
    /// and its tombstones. Every check of the header, footer and index runs
    /// here; the error names the file and the offset of what failed. A
    /// damaged tombstone file does not fail the open: it fails every read of
    /// this file's series ([`TsmReader::deleted_ranges`]).
    pub fn open(path: &Path) -> Result<TsmReader> {
        let reader = TsmReader::open_without_tombstones(path)?;
        *write(&reader.tombstones) = Tombstones::load(path)?;
        Ok(reader)
    }

    /// Opens `path` like [`TsmReader::open`] but without reading its
    /// tombstone file (`tsq check` and `tsq repair` examine that apart).
    pub fn open_without_tombstones(path: &Path) -> Result<TsmReader> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let id =
            FileId::parse(name).ok_or_else(|| TsmError::corrupt(path, 0, "not a TSM file name"))?;
        let file = File::open(path).at(path)?;
        let size = file.metadata().at(path)?.len();
        if size < HEADER_LEN + FOOTER_LEN {
            return Err(TsmError::corrupt(
                path,
                0,
                format!("file of {size} bytes is too short"),
            ));
        }
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut header, 0).at(path)?;
        check_header(&header).map_err(|m| TsmError::corrupt(path, 0, m))?;
        let mut raw = [0u8; FOOTER_LEN as usize];
        let footer_at = size - FOOTER_LEN;
        file.read_exact_at(&mut raw, footer_at).at(path)?;
        let footer = Footer::decode(&raw).map_err(|m| TsmError::corrupt(path, footer_at, m))?;
        let index_at = footer.index_at;
        if index_at < HEADER_LEN || index_at > footer_at {
            return Err(TsmError::corrupt(
                path,
                footer_at,
                format!("index offset {index_at} out of range"),
            ));
        }
        let mut idx = vec![0u8; (footer_at - index_at) as usize];
        file.read_exact_at(&mut idx, index_at).at(path)?;
        if crc32fast::hash(&idx) != footer.index_crc {
            return Err(TsmError::corrupt(path, index_at, "index checksum mismatch"));
        }
        let index = decode_index(&idx).map_err(|m| TsmError::corrupt(path, index_at, m))?;
        Ok(TsmReader {
            path: path.to_path_buf(),
            id,
            file,
            size,
            index_at,
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
            index,
            tombstones: RwLock::new(Tombstones::default()),
            retired: AtomicBool::new(false),
            decoded: AtomicU64::new(0),
            newest: Mutex::new(HashMap::new()),
        })
    }

    /// Offset of the index: the blocks lie in `HEADER_LEN..index_at`.
    pub fn index_at(&self) -> u64 {
        self.index_at
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Generations and level.
    pub fn id(&self) -> FileId {
        self.id
    }

    /// File size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The whole index, sorted by key.
    pub fn index(&self) -> &[IndexEntry] {
        &self.index
    }

    /// How many blocks reads of this file have decoded since it was opened.
    pub fn blocks_decoded(&self) -> u64 {
        self.decoded.load(Ordering::Relaxed)
    }

    /// The newest point (tombstones applied) of the series at index
    /// position `at`: remembered, or computed by `compute` and remembered.
    /// The memo is locked while `compute` runs, and a delete takes the same
    /// lock, so a point computed before a delete is never kept after it.
    pub fn newest_or(
        &self,
        at: usize,
        compute: impl FnOnce() -> Result<Option<(i64, Number)>>,
    ) -> Result<Option<(i64, Number)>> {
        let mut memo = lock(&self.newest);
        if let Some(known) = memo.get(&at) {
            return Ok(*known);
        }
        let found = compute()?;
        memo.insert(at, found);
        Ok(found)
    }

    /// The index position of `key`.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.index
            .binary_search_by(|e| e.key.as_str().cmp(key))
            .ok()
    }

    /// The index entry of `key`.
    pub fn entry(&self, key: &str) -> Option<&IndexEntry> {
        self.index
            .binary_search_by(|e| e.key.as_str().cmp(key))
            .ok()
            .map(|i| &self.index[i])
    }

    /// The index position of `key`, searched forward from `hint` (this
    /// reader's serial and the position found last) when `key` comes after
    /// it, by galloping (1, 2, 4... entries ahead, then a binary search of
    /// the last step): a lookup that visits one field's series in key order
    /// finds each a few entries past the previous one (the other fields'
    /// keys lie between), in a few comparisons instead of a binary search
    /// of the whole index. Otherwise a binary search; `hint` is updated to
    /// the entry found.
    pub fn position_near(&self, key: &str, hint: &mut (u64, usize)) -> Option<usize> {
        let n = self.index.len();
        let ahead = hint.0 == self.serial && hint.1 < n && self.index[hint.1].key.as_str() < key;
        let found = if ahead {
            // every entry before `lo` sorts before `key`
            let (mut lo, mut step) = (hint.1 + 1, 1);
            let hi = loop {
                let hi = (lo + step).min(n);
                if hi == n || self.index[hi - 1].key.as_str() >= key {
                    break hi;
                }
                lo = hi;
                step *= 2;
            };
            self.index[lo..hi]
                .binary_search_by(|e| e.key.as_str().cmp(key))
                .ok()
                .map(|i| lo + i)
        } else {
            self.position(key)
        };
        if let Some(at) = found {
            *hint = (self.serial, at);
        }
        found
    }

    /// The index entry of `key`, searched forward from the entry after
    /// `hint`: a scan visits series in key order, so the key is usually the
    /// next entry (one comparison) or a few entries on (a partition's
    /// series skip the other partitions': doubling steps, then a binary
    /// search of the last step, O(log gap) comparisons of nearby keys
    /// instead of O(log entries) over the whole index). A key before the
    /// hint, or a hint of another reader, is searched in the whole index.
    /// `hint` (this reader's serial and an index position) is updated to
    /// the entry found.
    pub fn entry_near(&self, key: &str, hint: &mut (u64, usize)) -> Option<&IndexEntry> {
        self.entry_strided(key, hint, &mut 1)
    }

    /// [`entry_near`](Self::entry_near) that first tries the entry
    /// `stride` after the hint, the gap between the last two entries found
    /// (updated here): a scan of one field of many series finds its keys a
    /// fixed number of entries apart (the series' other fields between
    /// them), one comparison each.
    pub(super) fn entry_strided(
        &self,
        key: &str,
        hint: &mut (u64, usize),
        stride: &mut usize,
    ) -> Option<&IndexEntry> {
        let ours = hint.0 == self.serial;
        let guess = hint.1 + *stride;
        let at = if ours && *stride > 1 && self.index.get(guess).is_some_and(|e| e.key == key) {
            guess
        } else {
            self.search_from(key, if ours { hint.1 + 1 } else { 0 })?
        };
        if ours && at > hint.1 {
            *stride = at - hint.1;
        }
        *hint = (self.serial, at);
        self.index.get(at)
    }

    /// The position of `key` in the index, galloping forward from `from`
    /// when the key is not before it ([`entry_near`](Self::entry_near)).
    fn search_from(&self, key: &str, from: usize) -> Option<usize> {
        use std::cmp::Ordering::{Equal, Less};
        let index = &self.index;
        let cmp = |i: usize| index[i].key.as_str().cmp(key);
        match index.get(from).map(|_| cmp(from)) {
            Some(Equal) => Some(from),
            Some(Less) => {
                // index[lo] < key; step until index[hi] >= key or the end
                let (mut lo, mut step) = (from, 1);
                let mut hi = from + step;
                while hi < index.len() && cmp(hi) == Less {
                    lo = hi;
                    step *= 2;
                    hi = from + step;
                }
                let end = (hi + 1).min(index.len());
                let found = index[lo + 1..end].binary_search_by(|e| e.key.as_str().cmp(key));
                found.ok().map(|i| lo + 1 + i)
            }
            _ => index.binary_search_by(|e| e.key.as_str().cmp(key)).ok(),
        }
    }

    /// Reads and decodes one block (CRC checked), without tombstones.
    pub fn read_block(&self, entry: &IndexEntry, b: &BlockMeta) -> Result<(Vec<i64>, Values)> {
        if b.offset + u64::from(b.size) > self.size {
            return Err(TsmError::corrupt(
                &self.path,
                b.offset,
                "block extends past the end of the file",
            ));
        }
        let mut buf = vec![0u8; b.size as usize];
        self.file.read_exact_at(&mut buf, b.offset).at(&self.path)?;
        self.decoded.fetch_add(1, Ordering::Relaxed);
        decode_block(&buf, entry.ty, &self.path, b.offset)
    }

    /// The bytes of block `b`, from `buf` when it already holds them, else
    /// read into it (with read-ahead while reads move forward, see
    /// [`BlockBuf`]).
    pub fn block_bytes<'a>(&self, b: &BlockMeta, buf: &'a mut BlockBuf) -> Result<&'a [u8]> {
        let end = b.offset + u64::from(b.size);
        if end > self.size {
            return Err(TsmError::corrupt(
                &self.path,
                b.offset,
                "block extends past the end of the file",
            ));
        }
        if !buf.holds(self.serial, b.offset, end) {
            let window = buf.next_window(self.serial, b.offset) as u64;
            let limit = self.index_at.max(end);
            let len = window.min(limit - b.offset).max(u64::from(b.size));
            buf.file = 0;
            self.file
                .read_exact_at(buf.room(len as usize), b.offset)
                .at(&self.path)?;
            buf.file = self.serial;
            buf.at = b.offset;
            buf.window = window as usize;
        }
        buf.next = end;
        Ok(buf.slice(b.offset, end))
    }

    /// The scan fast path: appends the points of `key` with
    /// `min <= t <= max` to `times` / `values` (as f64), decoding each block
    /// straight onto them through `buf`. Returns false, having possibly
    /// appended some points, when the fast path does not apply: the series
    /// has tombstones here, or a block's points do not all come after those
    /// of the blocks appended before it by this call (overlap needs the
    /// merging path, [`read_series`]). What `times` held before the call is
    /// not compared with (the caller checks across files).
    ///
    /// [`read_series`]: TsmReader::read_series
    pub fn append_series<V: ScanValue>(
        &self,
        key: &str,
        min: i64,
        max: i64,
        buf: &mut BlockBuf,
        times: &mut Vec<i64>,
        values: &mut Vec<V>,
    ) -> Result<bool> {
        // this file's read-ahead and index hint, kept apart from the other
        // files a series is read from in turn (a range over two shards)
        let buf = buf.for_file(self.serial);
        let Some(entry) = self.entry_strided(key, &mut buf.entry_hint, &mut buf.entry_stride)
        else {
            return Ok(true);
        };
        if entry.ty == FieldType::String || self.has_deletes(key) {
            return Ok(false);
        }
        let from = times.len();
        // Held apart while `buf` lends out block bytes (lost on error: only a hint).
        let mut last_run = std::mem::take(&mut buf.last_run);
        for b in entry.blocks.iter().filter(|b| b.max >= min && b.min <= max) {
            let before = times.len();
            let bytes = self.block_bytes(b, buf)?;
            self.decoded.fetch_add(1, Ordering::Relaxed);
            let (ty, path) = (entry.ty, &self.path);
            decode_block_into(bytes, ty, path, b.offset, times, values, &mut last_run)?;
            let added = &times[before..];
            // A block whose first and last points lie in the range keeps them all (the
            // points of a block ascend): no search, nothing moved.
            let inside =
                added.first().is_some_and(|&t| t >= min) && added.last().is_some_and(|&t| t <= max);
            if !inside {
                let lo = before + added.partition_point(|&x| x < min);
                let hi = before + added.partition_point(|&x| x <= max);
                times.truncate(hi);
                values.truncate(hi);
                times.drain(before..lo);
                values.drain(before..lo);
            }
            if before > from && times.len() > before && times[before] <= times[before - 1] {
                buf.last_run = last_run;
                return Ok(false);
            }
        }
        buf.last_run = last_run;
        Ok(true)
    }

    /// True when a tombstone of this file may name `key` (always when the
    /// tombstone file is damaged, so the checked path is taken).
    fn has_deletes(&self, key: &str) -> bool {
        let t = read(&self.tombstones);
        t.may_name(key)
    }

    /// Time ranges deleted from series `key` in this file; fails when the
    /// tombstone file is damaged (a delete may be missing).
    pub fn deleted_ranges(&self, key: &str) -> Result<Vec<(i64, i64)>> {
        read(&self.tombstones).ranges(key)
    }

    /// The points of `key` with `min <= t <= max`, tombstones applied, read
    /// only from the blocks that overlap the range.
    pub fn read_series(&self, key: &str, min: i64, max: i64) -> Result<Option<(Vec<i64>, Values)>> {
        let Some(entry) = self.entry(key) else {
            return Ok(None);
        };
        let deleted = self.deleted_ranges(key)?;
        let mut chunks = Vec::new();
        for b in entry.blocks.iter().filter(|b| b.max >= min && b.min <= max) {
            let (t, v) = self.read_block(entry, b)?;
            let lo = t.partition_point(|&x| x < min);
            let hi = t.partition_point(|&x| x <= max);
            let (t, v) = if lo == 0 && hi == t.len() {
                (t, v)
            } else {
                (t[lo..hi].to_vec(), v.slice(lo, hi))
            };
            chunks.push(tombstone::apply(t, v, &deleted));
        }
        if chunks.is_empty() {
            return Ok(None);
        }
        Ok(Some(merge_chunks(chunks, entry.ty)))
    }

    /// Records deletes against this file (durably) and applies them at once.
    pub fn add_tombstones(&self, stones: Vec<Tombstone>) -> Result<()> {
        if stones.is_empty() {
            return Ok(());
        }
        let mut memo = lock(&self.newest);
        tombstone::append(&self.path, &stones)?;
        write(&self.tombstones).extend(stones);
        memo.clear();
        Ok(())
    }

    /// True when any tombstone is recorded.
    pub fn has_tombstones(&self) -> bool {
        !read(&self.tombstones).is_empty()
    }

    /// Marks the file for deletion when the last holder drops it.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
    }
}

/// Checks the 5-byte header: the magic, then the version (an older version
/// is refused by name, not as damage).
fn check_header(header: &[u8; HEADER_LEN as usize]) -> Result<(), String> {
    if &header[..4] != MAGIC {
        return Err("bad magic: not a TSM file".into());
    }
    match header[4] {
        VERSION => Ok(()),
        v if v < VERSION => Err(format!(
            "TSM format version {v} is no longer supported (this build reads version {VERSION}); \
             re-import the data with the version of tsq that wrote it"
        )),
        v => Err(format!(
            "unknown TSM format version {v} (this build reads version {VERSION})"
        )),
    }
}

impl Drop for TsmReader {
    fn drop(&mut self) {
        if self.retired.load(Ordering::SeqCst) {
            let _ = fs::remove_file(&self.path);
            let _ = fs::remove_file(tombstone::tombstone_path(&self.path));
            if let Some(dir) = self.path.parent() {
                // Succeeds only when the shard directory is now empty.
                let _ = fs::remove_dir(dir);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsm::file::writer::TsmWriter;
    use crate::tsm::test_dir;

    #[test]
    fn write_read_prune_and_corrupt() {
        let dir = test_dir("reader");
        let path = dir.join(
            FileId {
                min_gen: 1,
                max_gen: 1,
                level: 1,
            }
            .file_name(),
        );
        let mut w = TsmWriter::create(&path).unwrap();
        // 2500 points -> blocks of 1000, 1000, 500 points
        let times: Vec<i64> = (0..2500).map(|i| i * 10).collect();
        let vals = Values::Float((0..2500).map(|i| i as f64 / 4.0).collect());
        w.write_series("a#v", &times, &vals).unwrap();
        w.write_series("b#v", &[5, 6], &Values::Integer(vec![50, 60]))
            .unwrap();
        w.finish().unwrap();
        let r = TsmReader::open(&path).unwrap();
        let a = r.entry("a#v").unwrap();
        assert_eq!(a.blocks.len(), 3);
        assert_eq!((a.blocks[1].min, a.blocks[1].max), (10_000, 19_990));
        assert_eq!(a.blocks[0].offset, HEADER_LEN);
        // range 19_990..=20_010 touches blocks 1 and 2: points at 19990, 20000, 20010
        let (t, v) = r.read_series("a#v", 19_990, 20_010).unwrap().unwrap();
        assert_eq!(t, vec![19_990, 20_000, 20_010]);
        assert_eq!(v, Values::Float(vec![499.75, 500.0, 500.25]));
        r.add_tombstones(vec![Tombstone {
            key: "b#v".into(),
            min: 6,
            max: 6,
        }])
        .unwrap();
        assert_eq!(r.read_series("b#v", 0, 10).unwrap().unwrap().0, vec![5]);
        let off = r.entry("b#v").unwrap().blocks[0].offset;
        drop(r);
        let reopened = TsmReader::open(&path).unwrap();
        assert_eq!(
            reopened.read_series("b#v", 0, 10).unwrap().unwrap().0,
            vec![5]
        );
        drop(reopened);
        // Flip one byte inside the block of series "b#v".
        let mut bytes = fs::read(&path).unwrap();
        bytes[off as usize + 6] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let r = TsmReader::open(&path).unwrap();
        let err = r.read_series("b#v", 0, 10).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "corrupt file {} at offset {off}: block checksum mismatch",
                path.display()
            )
        );
        assert_eq!(r.read_series("a#v", 0, 0).unwrap().unwrap().0, vec![0]);
    }
    fn write_file(name: &str, series: &[(&str, Vec<i64>, Values)]) -> std::path::PathBuf {
        let dir = test_dir(name);
        let path = dir.join(
            FileId {
                min_gen: 1,
                max_gen: 1,
                level: 1,
            }
            .file_name(),
        );
        let mut w = TsmWriter::create(&path).unwrap();
        for (key, times, values) in series {
            w.write_series(key, times, values).unwrap();
        }
        w.finish().unwrap();
        path
    }

    /// `read_series` converted to f64: what the fast path must return.
    fn slow(r: &TsmReader, key: &str, min: i64, max: i64) -> (Vec<i64>, Vec<f64>) {
        r.read_series(key, min, max)
            .unwrap()
            .map_or((vec![], vec![]), |(t, v)| (t, v.to_f64().unwrap()))
    }

    #[test]
    fn damaged_headers_and_footers_and_old_versions_are_refused_by_offset() {
        let path = write_file(
            "reader_footer",
            &[("a#v", vec![1, 2], Values::Integer(vec![3, 4]))],
        );
        let good = fs::read(&path).unwrap();
        let size = good.len() as u64;
        let footer_at = size - FOOTER_LEN;
        let open_err = |bytes: &[u8]| {
            fs::write(&path, bytes).unwrap();
            TsmReader::open(&path).unwrap_err().to_string()
        };
        let at =
            |off: u64, m: &str| format!("corrupt file {} at offset {off}: {m}", path.display());
        let mut v1 = good.clone();
        v1[4] = 1;
        assert_eq!(
            open_err(&v1),
            at(
                0,
                "TSM format version 1 is no longer supported (this build reads version 2); \
                 re-import the data with the version of tsq that wrote it"
            )
        );
        let mut magic = good.clone();
        magic[0] ^= 0xFF;
        assert_eq!(open_err(&magic), at(0, "bad magic: not a TSM file"));
        for i in footer_at..size {
            let mut b = good.clone();
            b[i as usize] ^= 0xFF;
            let want = if i >= footer_at + 16 {
                "bad footer magic (file truncated or damaged)"
            } else {
                "footer checksum mismatch"
            };
            assert_eq!(open_err(&b), at(footer_at, want), "byte {i}");
        }
        // The index: 2 + 3 + 1 + 4 + 28 = 38 bytes before the footer.
        let index_at = footer_at - 38;
        let mut b = good.clone();
        b[index_at as usize + 3] ^= 0xFF;
        assert_eq!(open_err(&b), at(index_at, "index checksum mismatch"));
        // Cut short: the footer is read from the wrong place.
        let cut = &good[..good.len() - 1];
        assert_eq!(
            open_err(cut),
            at(
                footer_at - 1,
                "bad footer magic (file truncated or damaged)"
            )
        );
    }

    #[test]
    fn fast_series_reads_match_read_series() {
        // 40 series "s00#v".."s39#v" of 2100 points (blocks of 1000, 1000,
        // 100), times 0, 7, 14, ..; series i holds i + t / 7 as floats, odd
        // ones as integers.
        let series: Vec<(String, Vec<i64>, Values)> = (0..40)
            .map(|i| {
                let times: Vec<i64> = (0..2100).map(|k| k * 7).collect();
                let values = if i % 2 == 0 {
                    Values::Float((0..2100).map(|k| f64::from(i + k)).collect())
                } else {
                    Values::Integer((0..2100).map(|k| i64::from(i + k)).collect())
                };
                (format!("s{i:02}#v"), times, values)
            })
            .collect();
        let refs: Vec<(&str, Vec<i64>, Values)> = series
            .iter()
            .map(|(k, t, v)| (k.as_str(), t.clone(), v.clone()))
            .collect();
        let r = TsmReader::open(&write_file("reader_fast", &refs)).unwrap();
        let ranges = [
            (i64::MIN, i64::MAX),
            (0, 0),
            (6_993, 7_007), // the points 6993, 7000, 7007 straddle blocks 0 and 1
            (13_995, 20_000),
            (-10, -1),
            (14_693, i64::MAX), // the last point only
            (0, 6_993),         // exactly block 0 (k = 0..=999)
            (7_000, 13_993),    // exactly block 1
            (7_000, 13_992),    // block 1 less its last point
        ];
        // Key order (read-ahead grows), then reverse order (no read-ahead).
        let mut buf = BlockBuf::new();
        let orders: [Vec<usize>; 2] = [(0..40).collect(), (0..40).rev().collect()];
        for order in &orders {
            for &(min, max) in &ranges {
                for &i in order {
                    let key = &series[i].0;
                    let (mut t, mut v) = (Vec::new(), Vec::new());
                    assert!(r
                        .append_series(key, min, max, &mut buf, &mut t, &mut v)
                        .unwrap());
                    assert_eq!((t, v), slow(&r, key, min, max), "{key} {min}..={max}");
                }
            }
        }
        // Straddling range by hand: series 3 (integers) at k = 999, 1000, 1001.
        let (mut t, mut v) = (Vec::new(), Vec::new());
        r.append_series("s03#v", 6_993, 7_007, &mut buf, &mut t, &mut v)
            .unwrap();
        assert_eq!(
            (t, v),
            (vec![6_993, 7_000, 7_007], vec![1002.0, 1003.0, 1004.0])
        );
        // A missing key appends nothing and is not a failure of the fast path.
        let (mut t, mut v) = (vec![-1], vec![0.0]);
        assert!(r
            .append_series("zz#v", 0, 9, &mut buf, &mut t, &mut v)
            .unwrap());
        assert_eq!(t, vec![-1]);
    }

    #[test]
    fn fast_series_reads_decline_tombstones_and_overlap() {
        let times: Vec<i64> = (0..5).collect();
        let vals = Values::Float(vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        let path = write_file(
            "reader_decline",
            &[("a#v", times.clone(), vals.clone()), ("b#v", times, vals)],
        );
        let r = TsmReader::open(&path).unwrap();
        let mut buf = BlockBuf::new();
        // What the output held before is not compared with (the view checks
        // across files): the points are appended after it.
        let (mut t, mut v) = (vec![7], vec![9.0]);
        assert!(r
            .append_series("a#v", 0, 9, &mut buf, &mut t, &mut v)
            .unwrap());
        assert_eq!(t, vec![7, 0, 1, 2, 3, 4]);
        assert_eq!(v, vec![9.0, 0.0, 1.0, 2.0, 3.0, 4.0]);
        let (mut t, mut v) = (vec![-1], vec![9.0]);
        assert!(r
            .append_series("a#v", 0, 9, &mut buf, &mut t, &mut v)
            .unwrap());
        assert_eq!(t, vec![-1, 0, 1, 2, 3, 4]);
        r.add_tombstones(vec![Tombstone {
            key: "b#v".into(),
            min: 2,
            max: 2,
        }])
        .unwrap();
        let (mut t, mut v) = (Vec::new(), Vec::<f64>::new());
        assert!(!r
            .append_series("b#v", 0, 9, &mut buf, &mut t, &mut v)
            .unwrap());
        assert!(r
            .append_series("a#v", 0, 9, &mut buf, &mut t, &mut v)
            .unwrap());
    }

    #[test]
    fn fast_series_reads_report_corrupt_blocks_with_file_and_offset() {
        let times: Vec<i64> = (0..3).collect();
        let path = write_file(
            "reader_corrupt",
            &[("a#v", times, Values::Float(vec![1.0, 2.0, 3.0]))],
        );
        let off = TsmReader::open(&path).unwrap().entry("a#v").unwrap().blocks[0].offset;
        let mut bytes = fs::read(&path).unwrap();
        bytes[off as usize + 9] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        let r = TsmReader::open(&path).unwrap();
        let (mut t, mut v) = (Vec::new(), Vec::<f64>::new());
        let err = r
            .append_series("a#v", 0, 9, &mut BlockBuf::new(), &mut t, &mut v)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "corrupt file {} at offset {off}: block checksum mismatch",
                path.display()
            )
        );
        assert!(t.is_empty() && v.is_empty());
    }

    /// A file `name` of one point per key, keys `key(0..n)` (ascending).
    fn one_point_per_key(name: &str, n: i64, key: impl Fn(i64) -> String) -> TsmReader {
        let series: Vec<(String, Vec<i64>, Values)> = (0..n)
            .map(|i| (key(i), vec![i], Values::Float(vec![0.0])))
            .collect();
        let refs: Vec<(&str, Vec<i64>, Values)> = series
            .iter()
            .map(|(k, t, v)| (k.as_str(), t.clone(), v.clone()))
            .collect();
        TsmReader::open(&write_file(name, &refs)).unwrap()
    }

    #[test]
    fn hinted_entry_lookup_finds_every_key_in_any_order() {
        let r = one_point_per_key("reader_hint", 9, |i| format!("k{i}#v"));
        let mut hint = (0, 0);
        for i in [0, 1, 2, 7, 3, 3, 8, 0] {
            let key = format!("k{i}#v");
            assert_eq!(r.entry_near(&key, &mut hint).unwrap().key, key);
            assert_eq!(hint.1, i as usize);
        }
        assert!(r.entry_near("k9#v", &mut hint).is_none());
        // A hint from another reader is ignored.
        let mut foreign = (u64::MAX, 4);
        assert_eq!(r.entry_near("k0#v", &mut foreign).unwrap().key, "k0#v");
    }

    #[test]
    fn hinted_lookups_gallop_forward_over_gaps_and_search_back_when_behind() {
        // 300 keys k000..k299, visited forward with gaps from 1 to 299 (a
        // partition's series skip the others'), then backwards, and keys
        // between entries (absent)
        let r = one_point_per_key("reader_gallop", 300, |i| format!("k{i:03}#v"));
        for gap in [1, 2, 3, 7, 64, 150, 299] {
            let mut hint = (0, 0);
            let mut i = 0;
            while i < 300 {
                let key = format!("k{i:03}#v");
                assert_eq!(r.entry_near(&key, &mut hint).unwrap().key, key, "gap {gap}");
                assert_eq!(hint.1, i, "gap {gap}");
                // a key just after this one is in no entry, whatever the hint
                let absent = format!("k{i:03}#w");
                assert!(r.entry_near(&absent, &mut hint.clone()).is_none());
                i += gap;
            }
            for i in (0..300).rev().step_by(gap) {
                let key = format!("k{i:03}#v");
                assert_eq!(r.entry_near(&key, &mut hint).unwrap().key, key);
                assert_eq!(hint.1, i);
            }
            // with the stride of the last two found: a fixed gap hits the
            // guess, gaps that change miss it and are searched
            for gaps in [vec![gap], vec![gap, gap + 1, 1]] {
                let (mut hint, mut stride, mut i, mut k) = ((0, 0), 1, 0, 0);
                while i < 300 {
                    let key = format!("k{i:03}#v");
                    let found = r.entry_strided(&key, &mut hint, &mut stride);
                    assert_eq!(found.unwrap().key, key, "gaps {gaps:?}");
                    assert_eq!(hint.1, i);
                    let absent = format!("k{i:03}#w");
                    let (mut h, mut st) = (hint, stride);
                    assert!(r.entry_strided(&absent, &mut h, &mut st).is_none());
                    i += gaps[k % gaps.len()];
                    k += 1;
                }
            }
        }
        // past the last entry, and a hint at the last entry
        let mut hint = (0, 0);
        r.entry_near("k299#v", &mut hint).unwrap();
        assert!(r.entry_near("k300#v", &mut hint).is_none());
        assert_eq!(r.entry_near("k000#v", &mut hint).unwrap().key, "k000#v");
    }
}
