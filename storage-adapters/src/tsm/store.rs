//! The TSM store: ties WAL, cache, series index and time-sharded TSM files
//! together (`docs/storage.md`).
//!
//! ```text
//! write ──► index (new series logged) ──► WAL append + fsync (= ack) ──► cache
//!                                                        │ cache > snapshot size
//!                                                        ▼
//!                    level-1 TSM file per shard ──► FileSet swap ──► old WAL segments removed
//! ```
//! Writers are serialized by one mutex while they append to the WAL and the
//! cache, then wait outside it for a shared fsync
//! ([`group_commit`](super::group_commit)); readers take a [`View`](super::view::View)
//! (the current `Arc<FileSet>` plus a copy of the cached points they need)
//! under a short read lock, so queries run while writes happen. Compaction,
//! deletes and retention take a second `maint` mutex (after the writer one)
//! so they never interleave.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use super::cache::Cache;
use super::error::{IoContext, Result, TsmError};
use super::file::reader::TsmReader;
use super::file::writer::TsmWriter;
use super::file::FileId;
use super::index::SeriesIndex;
use super::lock::{lock_writer, Confirmed, ReaderProbe, WriterLock};
use super::shard::{shard_dir, shard_start, FileSet};
use super::tombstone::Tombstone;
use super::value::Values;
use super::wal::{SeriesPoints, Wal, WalEntry};
use crate::sync::{lock, read, write};

/// Tuning of a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Snapshot the cache into TSM files once it holds more than this.
    pub cache_snapshot_bytes: usize,
    /// Width of a time shard (default one day).
    pub shard_duration: Duration,
    /// Keep points this long; `None` keeps everything.
    pub retention: Option<Duration>,
    /// Number of same-level files merged into one of the next level.
    pub compaction_fanout: usize,
    /// Run compaction (and retention) on a background thread at this period.
    pub background_interval: Option<Duration>,
    /// Read-write (one writer per directory) or read-only.
    pub access: Access,
}

/// How a store is opened (docs/storage.md, "Multi-process rules").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    /// The only writer: takes the exclusive lock on `<dir>/LOCK` for the
    /// store's lifetime, repairs what a crash left (torn tails, `.tmp`
    /// files) and may write.
    #[default]
    ReadWrite,
    /// Never creates, changes or removes a file: loads a consistent snapshot
    /// while no writer holds the directory, or fails with
    /// [`TsmError::InUse`]. Writes, flushes, compactions, deletes and
    /// retention fail with [`TsmError::ReadOnly`].
    ReadOnly,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_snapshot_bytes: 25 << 20,
            shard_duration: Duration::from_secs(86_400),
            retention: None,
            compaction_fanout: 4,
            background_interval: None,
            access: Access::ReadWrite,
        }
    }
}

/// What [`Store::open`] found.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// WAL entries replayed into the cache.
    pub wal_entries_replayed: usize,
    /// Recoverable problems: truncated WAL tails, skipped files.
    pub warnings: Vec<String>,
}

/// Outcome of [`Store::write_series`].
#[derive(Debug, Default)]
pub struct SeriesWrite {
    /// Points durably written.
    pub points_written: usize,
    /// Series created by this write.
    pub series_created: usize,
    /// Rejected series (position in the batch) and why, e.g. a type conflict.
    pub rejected: Vec<(usize, TsmError)>,
}

/// Per shard start: (series key, times, values) runs to write.
type ShardRuns = HashMap<i64, Vec<(String, Vec<i64>, Values)>>;

pub(crate) struct Writer {
    pub(crate) wal: Wal,
    pub(crate) next_gen: u64,
}

pub(crate) struct State {
    pub(crate) cache: Cache,
    pub(crate) files: Arc<FileSet>,
}

pub(crate) struct Inner {
    /// Held for the store's lifetime when read-write; `None` when read-only.
    lock: Option<WriterLock>,
    pub(crate) dir: PathBuf,
    pub(crate) options: StoreOptions,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) maint: Mutex<()>,
    pub(crate) index: RwLock<SeriesIndex>,
    pub(crate) state: RwLock<State>,
    /// Merges done by compaction since open (for metrics).
    pub(crate) compactions: AtomicU64,
}

/// A TSM store rooted at one directory; `Send + Sync`, share it with `Arc`.
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    background: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.inner.dir.display())
    }
}

/// Saturating ns of a duration.
pub(crate) fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX).max(1)
}

impl Store {
    /// Opens the store in `dir` as `options.access` says: read-write
    /// creates it if needed, takes the directory's writer lock, loads the TSM
    /// files and the series index (rebuilt from the files' keys when
    /// `series.log` is damaged) and replays the WAL into the cache. Damaged
    /// WAL records are skipped, torn WAL tails truncated, both reported in
    /// the [`OpenReport`], never a failure (`docs/storage.md`, "Recovery").
    /// Read-only does the same without changing any file.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<(Store, OpenReport)> {
        if options.compaction_fanout < 2 {
            return Err(TsmError::Invalid(
                "compaction_fanout must be at least 2".into(),
            ));
        }
        match options.access {
            Access::ReadWrite => Store::open_read_write(dir, options),
            Access::ReadOnly => Store::open_read_only(dir, options),
        }
    }

    fn open_read_write(dir: &Path, options: StoreOptions) -> Result<(Store, OpenReport)> {
        fs::create_dir_all(dir).at(dir)?;
        let writer_lock = lock_writer(dir)?;
        let mut report = OpenReport::default();
        let (mut files, index) = super::recover::load(dir, false, &mut report.warnings)?;
        let (wal, entries, w) = Wal::open(&dir.join("wal"))?;
        report.warnings.extend(w);
        files.add_damaged_wal(wal.damage());
        let inner = Inner::new(dir, options, Some(writer_lock), index, files, wal);
        report.wal_entries_replayed = entries.len();
        inner.replay(entries, &mut report.warnings)?;
        {
            let mut w = lock(&inner.writer);
            if read(&inner.state).cache.size_bytes() > inner.options.cache_snapshot_bytes {
                // The WAL keeps every point: a snapshot that fails here (a
                // full disk) must not make the store unopenable.
                if let Err(e) = inner.snapshot(&mut w) {
                    report.warnings.push(format!(
                        "snapshot at open failed, the WAL keeps the points: {e}"
                    ));
                }
            }
        }
        let store = Store {
            inner,
            background: Mutex::new(None),
        };
        if let Some(period) = store.inner.options.background_interval {
            store.start_background(period);
        }
        Ok((store, report))
    }

    /// Loads a read-only store between two checks of the writer lock; a
    /// load that raced a writer is retried, one that overlaps a live writer
    /// fails with [`TsmError::InUse`].
    fn open_read_only(dir: &Path, options: StoreOptions) -> Result<(Store, OpenReport)> {
        if !dir.is_dir() {
            let e = std::io::Error::new(std::io::ErrorKind::NotFound, "no store directory");
            return Err(TsmError::io(dir, e));
        }
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            let probe = ReaderProbe::begin(dir)?;
            let loaded = Store::load_read_only(dir, options.clone());
            // A live writer explains a failed load better than its error.
            if probe.confirm()? == Confirmed::Consistent {
                return loaded;
            }
        }
        Err(TsmError::InUse {
            dir: dir.to_path_buf(),
            holder: format!("writers that opened it {ATTEMPTS} times during the load"),
            reading: true,
        })
    }

    fn load_read_only(dir: &Path, options: StoreOptions) -> Result<(Store, OpenReport)> {
        let mut report = OpenReport::default();
        let (mut files, index) = super::recover::load(dir, true, &mut report.warnings)?;
        let (wal, entries, w) = Wal::read_only(&dir.join("wal"))?;
        report.warnings.extend(w);
        files.add_damaged_wal(wal.damage());
        let inner = Inner::new(dir, options, None, index, files, wal);
        report.wal_entries_replayed = entries.len();
        inner.replay(entries, &mut report.warnings)?;
        let store = Store {
            inner,
            background: Mutex::new(None),
        };
        Ok((store, report))
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Its options.
    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
    }

    /// Writes points grouped by series: logged (one fsync) before this
    /// returns, then cached. Series whose field type conflicts with the stored
    /// one are rejected as a whole and reported; the rest are written.
    /// Returns `(points written, series created, rejected series with reason)`.
    pub fn write_series(&self, batch: Vec<SeriesPoints>) -> Result<SeriesWrite> {
        self.inner.write_series(batch)
    }

    /// How the store was opened.
    pub fn access(&self) -> Access {
        self.inner.options.access
    }

    /// Snapshots the cache into level-1 TSM files now (no-op when empty).
    /// On failure (a full disk) the cache and the WAL keep every point and
    /// the partial files are removed.
    pub fn flush(&self) -> Result<()> {
        self.inner.check_writable("flush")?;
        let mut w = lock(&self.inner.writer);
        self.inner.snapshot(&mut w)
    }

    /// `fsync` calls made on the WAL since the store was opened: with
    /// concurrent writers, fewer than their writes (group commit).
    pub fn wal_fsyncs(&self) -> u64 {
        lock(&self.inner.writer).wal.group_commit().fsyncs()
    }

    /// Level merges compaction has done since the store was opened
    /// (background and [`Store::compact`]).
    pub fn compactions(&self) -> u64 {
        self.inner.compactions.load(Ordering::Relaxed)
    }

    /// Bytes of points held in the cache.
    pub fn cache_bytes(&self) -> usize {
        read(&self.inner.state).cache.size_bytes()
    }

    /// Blocks decoded so far by reads of the current TSM files (see
    /// [`TsmReader::blocks_decoded`](super::file::reader::TsmReader::blocks_decoded)).
    pub fn blocks_decoded(&self) -> u64 {
        self.file_set().files().map(|f| f.blocks_decoded()).sum()
    }

    /// The current set of TSM files.
    pub fn file_set(&self) -> Arc<FileSet> {
        Arc::clone(&read(&self.inner.state).files)
    }

    /// Starts the maintenance thread: it waits on a stop channel for up to
    /// `period`, runs compaction and retention when the wait times out, and
    /// ends as soon as the channel is closed ([`Store::stop_background`]).
    fn start_background(&self, period: Duration) {
        let (stop, stopped) = mpsc::channel::<()>();
        let inner = Arc::clone(&self.inner);
        let handle = std::thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                if let Err(e) = inner.compact_all() {
                    tracing::error!(
                        dir = %inner.dir.display(),
                        error = %e,
                        "background compaction failed"
                    );
                }
                if let Err(e) = inner.enforce_retention(super::maint::now_ns()) {
                    tracing::error!(
                        dir = %inner.dir.display(),
                        error = %e,
                        "background retention failed"
                    );
                }
            }
        });
        *lock(&self.background) = Some((stop, handle));
    }
}

/// Clean shutdown (docs/storage.md, "Close and instant open").
impl Store {
    /// Ends a session cleanly: stops the background thread, snapshots the
    /// cache into level-1 TSM files and deletes every WAL segment, so the
    /// next [`Store::open`] replays nothing. The store stays usable: later
    /// writes are logged in the WAL again. On a read-only store it only
    /// stops the background thread.
    pub fn close(&self) -> Result<()> {
        self.stop_background();
        if self.inner.lock.is_none() {
            return Ok(()); // read-only: nothing of ours to flush
        }
        let mut w = lock(&self.inner.writer);
        let cached = !read(&self.inner.state).cache.is_empty();
        if cached {
            return self.inner.snapshot(&mut w);
        }
        // Nothing cached: every logged write is in a TSM file and every
        // logged delete is a tombstone, so the old segments are redundant.
        let seq = w.wal.rotate()?;
        w.wal.remove_before(seq)
    }

    /// Stops and joins the background thread, if one runs.
    fn stop_background(&self) {
        if let Some((stop, handle)) = lock(&self.background).take() {
            // Closing the channel wakes the thread's wait at once.
            drop(stop);
            let _ = handle.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop_background();
    }
}

impl Inner {
    fn new(
        dir: &Path,
        options: StoreOptions,
        lock: Option<WriterLock>,
        index: SeriesIndex,
        files: FileSet,
        wal: Wal,
    ) -> Arc<Inner> {
        let next_gen = files.max_gen() + 1;
        Arc::new(Inner {
            lock,
            dir: dir.to_path_buf(),
            options,
            writer: Mutex::new(Writer { wal, next_gen }),
            maint: Mutex::new(()),
            index: RwLock::new(index),
            state: RwLock::new(State {
                cache: Cache::new(),
                files: Arc::new(files),
            }),
            compactions: AtomicU64::new(0),
        })
    }

    /// `Err(ReadOnly)` unless the store holds the writer lock.
    pub(crate) fn check_writable(&self, what: &'static str) -> Result<()> {
        match self.lock {
            Some(_) => Ok(()),
            None => Err(TsmError::ReadOnly(self.dir.clone(), what)),
        }
    }

    fn replay(&self, entries: Vec<WalEntry>, warnings: &mut Vec<String>) -> Result<()> {
        for entry in entries {
            match entry {
                WalEntry::Write(batch) => {
                    let mut index = write(&self.index);
                    let mut state = write(&self.state);
                    for sp in batch {
                        match index.get_or_create(&sp.series, sp.values.field_type()) {
                            Ok((id, _)) => state.cache.insert(id, &sp.times, &sp.values),
                            Err(e) => warnings.push(format!("WAL replay skipped points: {e}")),
                        }
                    }
                }
                WalEntry::Delete { series, min, max } => {
                    let keys: Vec<String> = series.iter().map(super::key::series_key).collect();
                    self.apply_delete(&keys, min, max)?;
                }
            }
        }
        write(&self.index).sync()
    }

    pub(crate) fn write_series(&self, batch: Vec<SeriesPoints>) -> Result<SeriesWrite> {
        self.check_writable("write")?;
        let mut w = lock(&self.writer);
        let mut accepted = Vec::with_capacity(batch.len());
        let mut ids = Vec::with_capacity(batch.len());
        let mut rejected = Vec::new();
        let mut created = 0;
        {
            let mut index = write(&self.index);
            for (i, sp) in batch.into_iter().enumerate() {
                if sp.times.len() != sp.values.len() {
                    let n = (sp.times.len(), sp.values.len());
                    let msg = format!("{} timestamps but {} values", n.0, n.1);
                    rejected.push((i, TsmError::Invalid(msg)));
                    continue;
                }
                if sp.times.is_empty() {
                    continue;
                }
                match index.get_or_create(&sp.series, sp.values.field_type()) {
                    Ok((id, new)) => {
                        created += usize::from(new);
                        ids.push(id);
                        accepted.push(sp);
                    }
                    Err(e) => rejected.push((i, e)),
                }
            }
            index.sync()?;
        }
        if accepted.is_empty() {
            return Ok(SeriesWrite {
                points_written: 0,
                series_created: created,
                rejected,
            });
        }
        let entry = WalEntry::Write(accepted);
        let ticket = w.wal.append_unsynced(&entry)?;
        let commit = w.wal.group_commit();
        let WalEntry::Write(accepted) = entry else {
            unreachable!("built above")
        };
        let points = accepted.iter().map(|s| s.times.len()).sum();
        let over = {
            let mut state = write(&self.state);
            for (id, sp) in ids.iter().zip(accepted) {
                state.cache.append(*id, sp.times, sp.values);
            }
            state.cache.size_bytes() > self.options.cache_snapshot_bytes
        };
        let snapshot = if over { self.snapshot(&mut w) } else { Ok(()) };
        // Group commit (docs/storage.md): leave the writer lock, then wait
        // for an fsync that covers this record, shared with the writers
        // that appended meanwhile. A failed snapshot is reported only once
        // the record is durable, as its error says.
        drop(w);
        commit.wait_durable(ticket)?;
        snapshot.map_err(|e| TsmError::SnapshotFailed {
            points,
            source: Box::new(e),
        })?;
        Ok(SeriesWrite {
            points_written: points,
            series_created: created,
            rejected,
        })
    }

    /// Writes the cache into one level-1 file per shard, swaps them in,
    /// clears the cache and drops the WAL segments they cover.
    pub(crate) fn snapshot(&self, w: &mut Writer) -> Result<()> {
        let snap = read(&self.state).cache.snapshot();
        if snap.is_empty() {
            return Ok(());
        }
        let seq = w.wal.rotate()?;
        let gen = w.next_gen;
        w.next_gen += 1;
        let dur = nanos(self.options.shard_duration);
        let mut by_shard = ShardRuns::new();
        {
            let index = read(&self.index);
            for (id, times, values) in snap.into_iter().filter(|s| !s.1.is_empty()) {
                let key = index.series(id).map(|s| s.2.to_string()).ok_or_else(|| {
                    TsmError::Invalid(format!("cached series id {id} is not in the index"))
                })?;
                split_by_shard(key, times, values, dur, &mut by_shard);
            }
        }
        let added = self.write_snapshot_files(gen, by_shard)?;
        {
            let mut state = write(&self.state);
            let mut files = (*state.files).clone();
            for (start, r) in added {
                files = files.with_added(start, r);
            }
            state.files = Arc::new(files);
            state.cache.clear();
        }
        w.wal.remove_before(seq)
    }

    /// Writes one level-1 file of generation `gen` per shard. On failure
    /// (a full disk) the files already renamed into place and the `.tmp` of
    /// the failed one are removed, best effort, so nothing half-done stays:
    /// the cache and the WAL still hold every point.
    fn write_snapshot_files(
        &self,
        gen: u64,
        by_shard: ShardRuns,
    ) -> Result<Vec<(i64, Arc<TsmReader>)>> {
        let mut added = Vec::new();
        let mut written: Vec<PathBuf> = Vec::new();
        for (i, (start, mut series)) in by_shard.into_iter().enumerate() {
            series.sort_by(|a, b| a.0.cmp(&b.0));
            let dir = shard_dir(&self.dir, start);
            let path = dir.join(
                FileId {
                    min_gen: gen,
                    max_gen: gen,
                    level: 1,
                }
                .file_name(),
            );
            let result = write_level1_file(&dir, &path, &series, i);
            let result = result.and_then(|()| TsmReader::open(&path));
            match result {
                Ok(reader) => {
                    written.push(path);
                    added.push((start, Arc::new(reader)));
                }
                Err(e) => {
                    let _ = fs::remove_file(path.with_extension("tsm.tmp"));
                    let _ = fs::remove_file(&path);
                    for p in &written {
                        let _ = fs::remove_file(p);
                    }
                    return Err(e);
                }
            }
        }
        Ok(added)
    }

    /// Adds tombstones for `keys` in `[min, max]` to every file holding them.
    pub(crate) fn apply_delete(&self, keys: &[String], min: i64, max: i64) -> Result<()> {
        let files = Arc::clone(&read(&self.state).files);
        for f in files.files() {
            let stones: Vec<Tombstone> = keys
                .iter()
                .filter(|k| {
                    f.entry(k)
                        .and_then(|e| e.span())
                        .is_some_and(|(lo, hi)| lo <= max && hi >= min)
                })
                .map(|k| Tombstone {
                    key: k.clone(),
                    min,
                    max,
                })
                .collect();
            f.add_tombstones(stones)?;
        }
        let ids: Vec<u32> = {
            let index = read(&self.index);
            keys.iter().filter_map(|k| index.id_of(k)).collect()
        };
        write(&self.state).cache.delete(&ids, min, max);
        Ok(())
    }
}

/// Writes `series` (sorted by key) as the TSM file `path` in shard `dir`;
/// `nth` is the file's position in its snapshot (for fault injection).
fn write_level1_file(
    dir: &Path,
    path: &Path,
    series: &[(String, Vec<i64>, Values)],
    nth: usize,
) -> Result<()> {
    fs::create_dir_all(dir).at(dir)?;
    let mut writer = TsmWriter::create(path)?;
    for (key, times, values) in series {
        writer.write_series(key, times, values)?;
    }
    fault::before_finish(nth, path)?;
    writer.finish()?;
    Ok(())
}

fn split_by_shard(key: String, times: Vec<i64>, values: Values, dur: i64, out: &mut ShardRuns) {
    let first = shard_start(times[0], dur);
    if shard_start(times[times.len() - 1], dur) == first {
        out.entry(first).or_default().push((key, times, values));
        return;
    }
    let mut start = 0;
    while start < times.len() {
        let shard = shard_start(times[start], dur);
        let end = times.partition_point(|&t| t < shard.saturating_add(dur));
        out.entry(shard).or_default().push((
            key.clone(),
            times[start..end].to_vec(),
            values.slice(start, end),
        ));
        start = end;
    }
}

/// Catalog questions answered from the series index.
impl Store {
    /// Measurement names, sorted.
    pub fn measurements(&self) -> Vec<String> {
        read(&self.inner.index).measurements()
    }

    /// Fields of `measurement` with their stored types, sorted by name.
    pub fn fields(&self, measurement: &str) -> Vec<(String, super::value::FieldType)> {
        read(&self.inner.index).fields(measurement)
    }

    /// Tag keys of `measurement`, sorted.
    pub fn tag_keys(&self, measurement: &str) -> Vec<String> {
        read(&self.inner.index).tag_keys(measurement)
    }

    /// Values of tag `key` in `measurement`, sorted.
    pub fn tag_values(&self, measurement: &str, key: &str) -> Vec<String> {
        read(&self.inner.index).tag_values(measurement, key)
    }

    /// Number of series (tag set × field) of `measurement`.
    pub fn series_count(&self, measurement: &str) -> usize {
        read(&self.inner.index).series_count(measurement)
    }
}

/// Test-only fault injection: make the `nth` file of the next snapshots on
/// this thread fail as a full disk would, after its `.tmp` is written.
#[cfg(test)]
pub(crate) mod fault {
    use std::cell::Cell;
    use std::path::Path;

    use crate::tsm::error::{Result, TsmError};

    thread_local! {
        static FAIL_NTH_FILE: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// Snapshots on this thread fail at their `nth` file (`None`: never).
    pub(crate) fn fail_nth_file(nth: Option<usize>) {
        FAIL_NTH_FILE.with(|f| f.set(nth));
    }

    pub(super) fn before_finish(nth: usize, path: &Path) -> Result<()> {
        if FAIL_NTH_FILE.with(Cell::get) == Some(nth) {
            let enospc = std::io::Error::from_raw_os_error(28);
            return Err(TsmError::io(&path.with_extension("tsm.tmp"), enospc));
        }
        Ok(())
    }
}

#[cfg(not(test))]
mod fault {
    use std::path::Path;

    use crate::tsm::error::Result;

    #[inline]
    pub(super) fn before_finish(_nth: usize, _path: &Path) -> Result<()> {
        Ok(())
    }
}
