//! Group commit: concurrent writers share one WAL `fsync`
//! (docs/storage.md, "Group commit").
//!
//! A writer appends its record under the store's writer lock and gets a
//! *ticket* (the record's number); it then leaves the lock and waits in
//! [`GroupCommit::wait_durable`] until a sync covers its ticket. The first
//! writer to arrive while no sync runs becomes the leader: it reads how many
//! records are appended, fsyncs the segment holding the newest of them and
//! marks all of them durable, waking every writer whose record that covered.
//! Writers that appended while the leader's `fsync` ran are covered by the
//! next one, which one of them leads.
//!
//! ```text
//! writer A: append#1 ─┐ leader: fsync(1) ──────────► ack A
//! writer B:   append#2 ─ wait ┐ leader: fsync(2..3) ─► ack B
//! writer C:     append#3 ──── wait ───────────────────► ack C
//! ```
//!
//! A failed `fsync` poisons the WAL: the kernel may have dropped the dirty
//! pages, so a later `fsync` that succeeds proves nothing about them. Every
//! waiting and later writer fails until the store is reopened (which replays
//! what the segment really holds).

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::error::{Result, TsmError};
use crate::sync::lock;

/// The segment file the newest appended records are in, shared with the
/// [`Wal`](super::wal::Wal) that appends to it.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) file: Arc<File>,
    pub(crate) path: PathBuf,
}

#[derive(Debug, Default)]
struct State {
    /// Records appended (the newest ticket).
    appended: u64,
    /// Records known durable: every ticket up to this one.
    synced: u64,
    /// Where the newest records are; `None` before the first append.
    segment: Option<Segment>,
    /// A leader's `fsync` is running.
    syncing: bool,
    /// The first failed `fsync`: kind, message and segment.
    failed: Option<(io::ErrorKind, String, PathBuf)>,
}

/// The commit queue of one WAL. See the module documentation.
#[derive(Debug, Default)]
pub struct GroupCommit {
    state: Mutex<State>,
    woken: Condvar,
    fsyncs: AtomicU64,
    /// Test hook: how long each leader `fsync` is stretched (ms).
    delay_ms: AtomicU64,
}

impl GroupCommit {
    /// A queue with nothing appended.
    pub(crate) fn new() -> Arc<GroupCommit> {
        Arc::new(GroupCommit::default())
    }

    /// Records one appended record in `segment` (called under the writer
    /// lock, after the record's bytes are written); returns its ticket.
    pub(crate) fn appended(&self, segment: &Segment) -> u64 {
        let mut s = lock(&self.state);
        s.appended += 1;
        if s.segment.as_ref().map(|g| &g.path) != Some(&segment.path) {
            s.segment = Some(segment.clone());
        }
        s.appended
    }

    /// Notes that everything appended so far is durable (the writer synced
    /// the segment itself: a synchronous append or a segment rotation).
    pub(crate) fn synced_all(&self) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        let mut s = lock(&self.state);
        s.synced = s.appended;
        self.woken.notify_all();
    }

    /// Records a failed `fsync`: the WAL refuses every later commit.
    pub(crate) fn poison(&self, path: PathBuf, error: &io::Error) {
        let mut s = lock(&self.state);
        if s.failed.is_none() {
            s.failed = Some((error.kind(), error.to_string(), path));
        }
        self.woken.notify_all();
    }

    /// `Err` once an `fsync` of this WAL failed.
    pub(crate) fn check_healthy(&self) -> Result<()> {
        match &lock(&self.state).failed {
            Some(failed) => Err(poisoned(failed)),
            None => Ok(()),
        }
    }

    /// Returns once the record with `ticket` is durable: after a sync by
    /// this writer (the leader) or by another one that covered it.
    pub fn wait_durable(&self, ticket: u64) -> Result<()> {
        let mut s = lock(&self.state);
        loop {
            if s.synced >= ticket {
                return Ok(());
            }
            if let Some(failed) = &s.failed {
                return Err(poisoned(failed));
            }
            if !s.syncing {
                break;
            }
            s = self.woken.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.syncing = true;
        let target = s.appended;
        let segment = s.segment.clone();
        drop(s);
        let result = match &segment {
            Some(segment) => self.fsync(segment),
            None => Ok(()),
        };
        let mut s = lock(&self.state);
        s.syncing = false;
        let outcome = match result {
            Ok(()) => {
                s.synced = s.synced.max(target);
                Ok(())
            }
            Err((path, e)) => {
                if s.failed.is_none() {
                    s.failed = Some((e.kind(), e.to_string(), path.clone()));
                }
                Err(TsmError::io(&path, e))
            }
        };
        self.woken.notify_all();
        outcome
    }

    fn fsync(&self, segment: &Segment) -> Result<(), (PathBuf, io::Error)> {
        let delay = self.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            std::thread::sleep(std::time::Duration::from_millis(delay));
        }
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        segment
            .file
            .sync_data()
            .map_err(|e| (segment.path.clone(), e))
    }

    /// `fsync` calls made on the WAL so far (leaders' and writers' own).
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// The newest durable ticket.
    pub fn synced(&self) -> u64 {
        lock(&self.state).synced
    }

    /// Test hook: stretch every leader `fsync` by `ms` milliseconds, so
    /// that writers pile up behind it.
    #[cfg(test)]
    pub(crate) fn set_sync_delay_ms(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::Relaxed);
    }
}

fn poisoned((kind, message, path): &(io::ErrorKind, String, PathBuf)) -> TsmError {
    let e = io::Error::new(
        *kind,
        format!("an earlier WAL fsync failed ({message}); reopen the store to recover"),
    );
    TsmError::io(path, e)
}

#[cfg(test)]
mod tests {
    use std::sync::{Barrier, Mutex};

    use tsq_engine::SeriesInfo;

    use super::super::value::Values;
    use super::super::wal::{SeriesPoints, Wal, WalEntry};
    use super::*;

    fn entry(v: f64) -> WalEntry {
        WalEntry::Write(vec![SeriesPoints {
            series: SeriesInfo::new("m", &[], "v"),
            times: vec![1],
            values: Values::Float(vec![v]),
        }])
    }

    /// Eight writers released together behind a slow fsync: fewer fsyncs
    /// than writers, and each returns only once its own ticket is durable.
    #[test]
    fn concurrent_writers_share_fsyncs() {
        const WRITERS: usize = 8;
        let dir = crate::tsm::test_dir("group-commit");
        let (wal, _, _) = Wal::open(&dir).unwrap();
        let commit = wal.group_commit();
        commit.set_sync_delay_ms(40);
        let wal = Mutex::new(wal);
        let barrier = Barrier::new(WRITERS);
        std::thread::scope(|scope| {
            for i in 0..WRITERS {
                let (wal, barrier, commit) = (&wal, &barrier, &commit);
                scope.spawn(move || {
                    barrier.wait();
                    let ticket = lock(wal).append_unsynced(&entry(i as f64)).unwrap();
                    commit.wait_durable(ticket).unwrap();
                    assert!(commit.synced() >= ticket, "returned before its sync");
                });
            }
        });
        let fsyncs = commit.fsyncs();
        assert!(
            (1..WRITERS as u64).contains(&fsyncs),
            "{WRITERS} writers cost {fsyncs} fsyncs"
        );
        assert_eq!(commit.synced(), WRITERS as u64);
        drop(wal);
        let (_, entries, _) = Wal::open(&dir).unwrap();
        assert_eq!(entries.len(), WRITERS);
    }

    /// The same through the store: eight concurrent `write_lines` calls
    /// cost fewer fsyncs than writes, and every point is replayed after a
    /// reopen without a clean close.
    #[test]
    fn concurrent_store_writes_share_fsyncs() {
        use crate::line_protocol::Precision;
        use crate::tsm::{Store, StoreOptions};
        const WRITERS: usize = 8;
        let dir = crate::tsm::test_dir("group-commit-store");
        let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
        lock(&store.inner.writer)
            .wal
            .group_commit()
            .set_sync_delay_ms(40);
        let before = store.wal_fsyncs();
        let barrier = Barrier::new(WRITERS);
        std::thread::scope(|scope| {
            for i in 0..WRITERS {
                let (store, barrier) = (&store, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let lp = format!("m,w={i} v={i} 1");
                    let report = store.write_lines(&lp, Precision::Nanoseconds).unwrap();
                    assert_eq!(report.points_written, 1);
                });
            }
        });
        let fsyncs = store.wal_fsyncs() - before;
        assert!(
            (1..WRITERS as u64).contains(&fsyncs),
            "{WRITERS} writes cost {fsyncs} fsyncs"
        );
        drop(store);
        let (_, report) = Store::open(&dir, StoreOptions::default()).unwrap();
        assert_eq!(report.wal_entries_replayed, WRITERS);
    }

    #[test]
    fn a_failed_fsync_poisons_later_commits() {
        let dir = crate::tsm::test_dir("group-commit-poison");
        let (mut wal, _, _) = Wal::open(&dir).unwrap();
        let commit = wal.group_commit();
        let ticket = wal.append_unsynced(&entry(1.0)).unwrap();
        let e = io::Error::other("injected");
        commit.poison(dir.join("00000001.wal"), &e);
        let err = commit.wait_durable(ticket).unwrap_err().to_string();
        assert!(
            err.contains("an earlier WAL fsync failed (injected)"),
            "{err}"
        );
        let err = wal.append_unsynced(&entry(2.0)).unwrap_err().to_string();
        assert!(err.contains("reopen the store"), "{err}");
    }
}
