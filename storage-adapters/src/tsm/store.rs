//! The TSM store: ties WAL, cache, series index and time-sharded TSM files
//! together (`docs/storage.md`).
//!
//! ```text
//! write ──► index (new series logged) ──► WAL append + fsync (= ack) ──► cache
//!                                                        │ cache > snapshot size
//!                                                        ▼
//!                    level-1 TSM file per shard ──► FileSet swap ──► old WAL segments removed
//! ```
//! The snapshot (`snapshot.rs`, docs/storage.md "Snapshots") runs inline, or on a
//! background thread while writes continue (`StoreOptions::background_snapshot`).
//! Writers are serialized by one mutex while they append to the WAL and the
//! cache, then wait outside it for a shared fsync
//! ([`group_commit`](super::group_commit)); readers take a [`View`](super::view::View)
//! (the current `Arc<FileSet>` plus a copy of the cached points they need)
//! under a short read lock, so queries run while writes happen. Compaction,
//! deletes and retention take a second `maint` mutex (after the writer one)
//! so they never interleave.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use super::cache::Cache;
use super::error::{IoContext, Result, TsmError};
use super::index::SeriesIndex;
use super::lock::{lock_writer, Confirmed, ReaderProbe, WriterLock};
use super::shard::FileSet;
use super::snapshot::Snapshots;
use super::tombstone::Tombstone;
use super::wal::{SeriesPoints, Wal, WalEntry};
use crate::sync::{lock, read, write};

/// Tuning of a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Snapshot the cache into TSM files once its active part holds more
    /// than this.
    pub cache_snapshot_bytes: usize,
    /// Write snapshots on a background thread while writes continue
    /// (docs/storage.md, "Snapshots"); false writes them inline, in the
    /// write that crossed `cache_snapshot_bytes`.
    pub background_snapshot: bool,
    /// Run level compaction ([`Store::compact`]) after every snapshot
    /// triggered by a write, so the files per shard stay bounded while a
    /// long import runs.
    pub compact_after_snapshot: bool,
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
            background_snapshot: false,
            compact_after_snapshot: false,
            shard_duration: Duration::from_secs(86_400),
            retention: None,
            compaction_fanout: 4,
            background_interval: None,
            access: Access::ReadWrite,
        }
    }
}

impl StoreOptions {
    /// Options for a bulk load (`tsq demo`, `tsq import`) within
    /// `memory_budget` bytes of cache (docs/storage.md, "Bulk loads"):
    /// snapshots of an eighth of the budget (between 25 MiB and 256 MiB;
    /// the active cache and one being written may coexist, and vectors
    /// grow by doubling), written in the background, each followed by
    /// level compaction.
    pub fn bulk_load(memory_budget: usize) -> StoreOptions {
        StoreOptions {
            cache_snapshot_bytes: (memory_budget / 8).clamp(25 << 20, 256 << 20),
            background_snapshot: true,
            compact_after_snapshot: true,
            ..StoreOptions::default()
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
    /// Background snapshots (docs/storage.md, "Snapshots").
    pub(crate) snapshots: Snapshots,
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
        let mut w = self.inner.lock_writer_idle();
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
    /// Ends a session cleanly: stops the background thread, waits for the
    /// background snapshots (and the compactions after them), snapshots the
    /// cache into level-1 TSM files and deletes every WAL segment, so the
    /// next [`Store::open`] replays nothing. The store stays usable: later
    /// writes are logged in the WAL again. On a read-only store it only
    /// stops the background thread.
    pub fn close(&self) -> Result<()> {
        self.stop_background();
        if self.inner.lock.is_none() {
            return Ok(()); // read-only: nothing of ours to flush
        }
        self.inner.join_snapshots();
        let mut w = self.inner.lock_writer_idle();
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
        self.inner.join_snapshots();
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
            snapshots: Snapshots::default(),
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

    pub(crate) fn write_series(self: &Arc<Self>, batch: Vec<SeriesPoints>) -> Result<SeriesWrite> {
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
            state.cache.active_bytes() > self.options.cache_snapshot_bytes
        };
        let (snapshot, wait) = if !over {
            (Ok(()), false)
        } else if !self.options.background_snapshot {
            (self.snapshot_and_compact(&mut w), false)
        } else if self.snapshot_running() {
            (Ok(()), true) // back-pressure: wait for it below
        } else {
            (self.start_snapshot(&mut w), false)
        };
        // Group commit (docs/storage.md): leave the writer lock, then wait
        // for an fsync that covers this record, shared with the writers
        // that appended meanwhile. A failed snapshot is reported only once
        // the record is durable, as its error says; a failed background
        // snapshot, by the next write.
        drop(w);
        commit.wait_durable(ticket)?;
        if wait {
            self.wait_snapshot();
        }
        let snapshot = snapshot.and_then(|()| self.take_snapshot_error().map_or(Ok(()), Err));
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

    /// An inline snapshot, then level compaction when
    /// `compact_after_snapshot` is set.
    fn snapshot_and_compact(&self, w: &mut Writer) -> Result<()> {
        self.snapshot(w)?;
        if self.options.compact_after_snapshot {
            self.compact_all()?;
        }
        Ok(())
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
