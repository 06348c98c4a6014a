//! Cache snapshots (docs/storage.md, "Snapshots"): the active cache is
//! frozen and the WAL rotated under the writer lock; the frozen points are
//! written into one level-1 TSM file per shard, the files swapped into the
//! file set together with the release of the frozen part (one state lock, so
//! a query sees each point once), and only then are the WAL segments the
//! snapshot covers removed.
//!
//! ```text
//! writer lock:  rotate WAL (seq) ─ freeze cache ─ take generation
//!                          │
//!    inline or on a background thread (writes continue meanwhile):
//!                          ▼
//!   write .tmp per shard ─ fsync ─ rename ─ open ─► state lock: add files, release frozen
//!                                                         │
//!                                     writer lock: remove WAL segments < seq
//! ```
//! A crash at any point leaves the WAL holding every frozen point; a failed
//! snapshot removes its files and thaws the frozen part back into the cache.
//! One snapshot runs at a time: a writer that finds the active cache over
//! its threshold while one runs waits for it (back-pressure), so the cache
//! holds at most two snapshots' worth of points.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::cache::Frozen;
use super::error::{IoContext, Result, TsmError};
use super::file::reader::TsmReader;
use super::file::writer::TsmWriter;
use super::file::FileId;
use super::shard::{shard_dir, shard_start};
use super::store::{nanos, Inner, Writer};
use crate::sync::{lock, read, write};

/// A frozen cache on its way into TSM files.
pub(crate) struct Job {
    /// The WAL segments numbered below it hold only the frozen points
    /// (and older, already snapshotted ones).
    seq: u64,
    /// Generation of the files written.
    gen: u64,
    frozen: Arc<Frozen>,
}

/// The state of background snapshots of one store.
#[derive(Default)]
pub(crate) struct Snapshots {
    slot: Mutex<Slot>,
    done: Condvar,
}

#[derive(Default)]
struct Slot {
    /// A background snapshot is writing files.
    running: bool,
    /// The error of the last failed background snapshot, not yet reported.
    failed: Option<TsmError>,
    /// Threads of background snapshots (and the compactions they run).
    threads: Vec<JoinHandle<()>>,
    /// Tests: the next background snapshot stops after renaming its files,
    /// tells the first channel and waits on the second.
    #[cfg(test)]
    pause: Option<(
        std::sync::mpsc::SyncSender<()>,
        std::sync::mpsc::Receiver<()>,
    )>,
}

impl Inner {
    /// Rotates the WAL and freezes the active cache (`None` when it is
    /// empty); the caller holds the writer lock and no snapshot runs.
    fn freeze(&self, w: &mut Writer) -> Result<Option<Job>> {
        if read(&self.state).cache.active_is_empty() {
            return Ok(None);
        }
        let seq = w.wal.rotate()?;
        let Some(frozen) = write(&self.state).cache.freeze() else {
            return Err(TsmError::Invalid(
                "snapshot started while another one holds the cache".into(),
            ));
        };
        let gen = w.next_gen;
        w.next_gen += 1;
        Ok(Some(Job { seq, gen, frozen }))
    }

    /// Snapshots the cache inline: writes the files, swaps them in and
    /// drops the WAL segments they cover. On failure (a full disk) the
    /// cache and the WAL keep every point and the partial files are removed.
    pub(crate) fn snapshot(&self, w: &mut Writer) -> Result<()> {
        let Some(job) = self.freeze(w)? else {
            return Ok(());
        };
        let added = match self.write_job(&job) {
            Ok(added) => added,
            Err(e) => {
                drop(job);
                write(&self.state).cache.thaw();
                return Err(e);
            }
        };
        self.install(added);
        w.wal.remove_before(job.seq)
    }

    /// Starts a background snapshot of the cache (the caller holds the
    /// writer lock and saw none running). Compaction follows it on the same
    /// thread when `compact_after_snapshot` is set.
    pub(crate) fn start_snapshot(self: &Arc<Self>, w: &mut Writer) -> Result<()> {
        let Some(job) = self.freeze(w)? else {
            return Ok(());
        };
        let mut slot = lock(&self.snapshots.slot);
        slot.running = true;
        slot.threads.retain(|t| !t.is_finished());
        let inner = Arc::clone(self);
        let handle = std::thread::Builder::new()
            .name("tsq-snapshot".into())
            .spawn(move || inner.run_background(job))
            .map_err(|e| TsmError::io(&self.dir, e));
        match handle {
            Ok(h) => {
                slot.threads.push(h);
                Ok(())
            }
            Err(e) => {
                slot.running = false;
                write(&self.state).cache.thaw();
                Err(e)
            }
        }
    }

    /// The body of a background snapshot thread.
    fn run_background(&self, job: Job) {
        let seq = job.seq;
        let written = self.write_job(&job);
        drop(job);
        #[cfg(test)]
        self.pause_point();
        let result = match written {
            Ok(added) => {
                self.install(added);
                let w = lock(&self.writer);
                let removed = w.wal.remove_before(seq);
                self.end_background(removed.err());
                drop(w);
                if self.options.compact_after_snapshot {
                    if let Err(e) = self.compact_all() {
                        tracing::error!(dir = %self.dir.display(), error = %e, "compaction after a snapshot failed");
                    }
                }
                return;
            }
            Err(e) => e,
        };
        write(&self.state).cache.thaw();
        let w = lock(&self.writer);
        self.end_background(Some(result));
        drop(w);
    }

    /// Marks the background snapshot finished (the caller holds the writer
    /// lock), keeps its error for the next write, wakes the waiters.
    fn end_background(&self, error: Option<TsmError>) {
        let mut slot = lock(&self.snapshots.slot);
        slot.running = false;
        if let Some(e) = error {
            tracing::error!(dir = %self.dir.display(), error = %e, "background snapshot failed; the WAL keeps its points");
            slot.failed = Some(e);
        }
        self.snapshots.done.notify_all();
    }

    /// True while a background snapshot writes files.
    pub(crate) fn snapshot_running(&self) -> bool {
        lock(&self.snapshots.slot).running
    }

    /// Waits until no background snapshot runs (the caller must not hold
    /// the writer lock).
    pub(crate) fn wait_snapshot(&self) {
        let mut slot = lock(&self.snapshots.slot);
        while slot.running {
            slot = self
                .snapshots
                .done
                .wait(slot)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The writer lock, taken while no background snapshot runs (none can
    /// start while it is held): for flushes, deletes, retention and close.
    pub(crate) fn lock_writer_idle(&self) -> MutexGuard<'_, Writer> {
        loop {
            self.wait_snapshot();
            let w = lock(&self.writer);
            if !self.snapshot_running() {
                return w;
            }
        }
    }

    /// The error of a failed background snapshot not yet reported.
    pub(crate) fn take_snapshot_error(&self) -> Option<TsmError> {
        lock(&self.snapshots.slot).failed.take()
    }

    /// Joins every background snapshot thread (and the compaction it ran);
    /// the caller must not hold the writer lock.
    pub(crate) fn join_snapshots(&self) {
        let threads = std::mem::take(&mut lock(&self.snapshots.slot).threads);
        for t in threads {
            let _ = t.join();
        }
    }

    /// Swaps the new files into the file set and drops the frozen part they
    /// hold, under one state lock.
    fn install(&self, added: Vec<(i64, Arc<TsmReader>)>) {
        let mut state = write(&self.state);
        let mut files = (*state.files).clone();
        for (start, r) in added {
            files = files.with_added(start, r);
        }
        state.files = Arc::new(files);
        state.cache.release_frozen();
    }

    /// The series keys of the frozen points, sorted (the TSM key order).
    fn frozen_keys(&self, frozen: &Frozen) -> Result<Vec<(String, u32)>> {
        let index = read(&self.index);
        let mut keys = frozen
            .ids()
            .into_iter()
            .map(|id| {
                let key = index.series(id).map(|s| s.2.to_string()).ok_or_else(|| {
                    TsmError::Invalid(format!("cached series id {id} is not in the index"))
                })?;
                Ok((key, id))
            })
            .collect::<Result<Vec<_>>>()?;
        keys.sort_unstable();
        Ok(keys)
    }

    /// Writes the frozen points as one level-1 file of generation `job.gen`
    /// per shard, series by series in key order (one series copied at a
    /// time). On failure every file of the job, renamed or `.tmp`, is
    /// removed, best effort.
    fn write_job(&self, job: &Job) -> Result<Vec<(i64, Arc<TsmReader>)>> {
        let mut files: BTreeMap<i64, ShardFile> = BTreeMap::new();
        let result = self.write_shard_files(job, &mut files);
        if result.is_err() {
            for f in files.values() {
                let _ = fs::remove_file(f.path.with_extension("tsm.tmp"));
                let _ = fs::remove_file(&f.path);
            }
        }
        result
    }

    fn write_shard_files(
        &self,
        job: &Job,
        files: &mut BTreeMap<i64, ShardFile>,
    ) -> Result<Vec<(i64, Arc<TsmReader>)>> {
        let dur = nanos(self.options.shard_duration);
        let id = FileId {
            min_gen: job.gen,
            max_gen: job.gen,
            level: 1,
        };
        for (key, sid) in self.frozen_keys(&job.frozen)? {
            let Some((times, values)) = job.frozen.sorted(sid) else {
                continue;
            };
            for (start, lo, hi) in shard_runs(&times, dur) {
                let file = match files.entry(start) {
                    std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(ShardFile::create(&shard_dir(&self.dir, start), id)?)
                    }
                };
                if lo == 0 && hi == times.len() {
                    file.writer()?.write_series(&key, &times, &values)?;
                } else {
                    let part = values.slice(lo, hi);
                    file.writer()?.write_series(&key, &times[lo..hi], &part)?;
                }
            }
        }
        let mut added = Vec::with_capacity(files.len());
        for (nth, (start, file)) in files.iter_mut().enumerate() {
            fault::before_finish(nth, &file.path)?;
            if let Some(writer) = file.writer.take() {
                writer.finish()?;
            }
            added.push((*start, Arc::new(TsmReader::open(&file.path)?)));
        }
        Ok(added)
    }

    /// Tests: stops here when a pause was asked for, until resumed.
    #[cfg(test)]
    fn pause_point(&self) {
        let pause = lock(&self.snapshots.slot).pause.take();
        if let Some((reached, resume)) = pause {
            let _ = reached.send(());
            let _ = resume.recv();
        }
    }

    /// Tests: the next background snapshot stops once its files are renamed
    /// into place (before the swap and the WAL removal); returns the
    /// channel it reports on and the one that resumes it.
    #[cfg(test)]
    pub(crate) fn pause_next_snapshot(
        &self,
    ) -> (
        std::sync::mpsc::Receiver<()>,
        std::sync::mpsc::SyncSender<()>,
    ) {
        let (reached_tx, reached_rx) = std::sync::mpsc::sync_channel(1);
        let (resume_tx, resume_rx) = std::sync::mpsc::sync_channel(1);
        lock(&self.snapshots.slot).pause = Some((reached_tx, resume_rx));
        (reached_rx, resume_tx)
    }
}

/// One shard's file of a snapshot being written.
struct ShardFile {
    path: PathBuf,
    /// `None` once finished.
    writer: Option<TsmWriter>,
}

impl ShardFile {
    fn create(dir: &Path, id: FileId) -> Result<ShardFile> {
        fs::create_dir_all(dir).at(dir)?;
        let path = dir.join(id.file_name());
        let writer = Some(TsmWriter::create(&path)?);
        Ok(ShardFile { path, writer })
    }

    fn writer(&mut self) -> Result<&mut TsmWriter> {
        self.writer.as_mut().ok_or_else(|| {
            TsmError::Invalid(format!("{} was already finished", self.path.display()))
        })
    }
}

/// `(shard start, lo, hi)` of each shard's run of the sorted `times`.
fn shard_runs(times: &[i64], dur: i64) -> Vec<(i64, usize, usize)> {
    let mut runs = Vec::new();
    let mut lo = 0;
    while lo < times.len() {
        let start = shard_start(times[lo], dur);
        let hi = lo + times[lo..].partition_point(|&t| t < start.saturating_add(dur));
        runs.push((start, lo, hi));
        lo = hi;
    }
    runs
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

#[cfg(test)]
mod tests {
    use super::shard_runs;

    #[test]
    fn runs_split_sorted_times_at_shard_bounds() {
        // shards of 10: [-10, 0), [0, 10), [20, 30)
        let times = [-3, 0, 9, 20, 25];
        assert_eq!(
            shard_runs(&times, 10),
            vec![(-10, 0, 1), (0, 1, 3), (20, 3, 5)]
        );
        assert_eq!(shard_runs(&[], 10), vec![]);
    }
}
