//! A full disk during a snapshot (docs/storage.md, "Write path and the
//! durability promise"): the failure is injected after the `.tmp` of a
//! snapshot file is written, as `ENOSPC` would; the write or flush reports
//! it, nothing half-done stays on disk, and a reopen gives back every
//! acknowledged point exactly.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tsq_engine::{ScanRequest, SeriesInfo, StorageAdapter};

use super::snapshot::fault;
use super::value::Values;
use super::wal::SeriesPoints;
use super::{test_dir, Access, Store, StoreOptions, TsmAdapter, TsmError};

const DAY: i64 = 86_400_000_000_000;

/// `n` points of host `host` at `start + i` with value `start + i` (as f64).
fn points(host: &str, start: i64, n: i64) -> SeriesPoints {
    SeriesPoints {
        series: SeriesInfo::new("cpu", &[("host", host)], "v"),
        times: (start..start + n).collect(),
        values: Values::Float((start..start + n).map(|t| t as f64).collect()),
    }
}

/// Every (host, time, value) a scan of `cpu.v` returns, sorted.
async fn all_points(store: Store) -> Vec<(String, i64, f64)> {
    let adapter = TsmAdapter::new(Arc::new(store));
    let mut scan = adapter.scan(&ScanRequest::new("cpu", "v")).await.unwrap();
    let registry = Arc::clone(scan.registry());
    let mut out = Vec::new();
    while let Some(batch) = scan.next_batch(1000).await.unwrap() {
        for t in batch.timelines() {
            let key = registry.get(t.series_id).unwrap().key();
            for i in 0..t.len() {
                out.push((key.clone(), t.times[i], t.values[i]));
            }
        }
    }
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out
}

/// The expected scan of `(host, start, n)` runs.
fn expected(runs: &[(&str, i64, i64)]) -> Vec<(String, i64, f64)> {
    let mut out: Vec<_> = runs
        .iter()
        .flat_map(|&(h, s, n)| (s..s + n).map(move |t| (format!("cpu,host={h}#v"), t, t as f64)))
        .collect();
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out
}

/// Every file under `dir/shards`, relative names, sorted.
fn shard_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let root = dir.join("shards");
    for shard in std::fs::read_dir(&root).unwrap() {
        let shard: PathBuf = shard.unwrap().path();
        for f in std::fs::read_dir(&shard).unwrap() {
            let f = f.unwrap().path();
            out.push(f.strip_prefix(&root).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_failed_flush_keeps_every_point_and_leaves_no_partial_file() {
    let dir = test_dir("disk_full_flush");
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    // Two shards: day 0 and day 1; the snapshot writes one file per shard.
    store
        .write_series(vec![points("a", 0, 10), points("b", DAY, 5)])
        .unwrap();
    fault::fail_nth_file(Some(1));
    let err = store.flush().unwrap_err();
    fault::fail_nth_file(None);
    let text = err.to_string();
    assert!(text.starts_with("I/O error on "), "{text}");
    assert!(text.contains(".tsm.tmp: No space left on device"), "{text}");
    // The first shard's file (renamed) and the second's .tmp are gone.
    assert_eq!(shard_files(&dir), Vec::<String>::new());
    // The cache still answers, and so does a reopen (from the WAL).
    let want = expected(&[("a", 0, 10), ("b", DAY, 5)]);
    assert!(store.cache_bytes() > 0);
    drop(store);
    let (store, report) = Store::open(&dir, StoreOptions::default()).unwrap();
    assert_eq!(report.wal_entries_replayed, 1);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    // Space is back: the flush now works and the points stay exact.
    store.flush().unwrap();
    assert_eq!(shard_files(&dir).len(), 2);
    assert_eq!(all_points(store).await, want);
}

#[tokio::test]
async fn a_write_whose_snapshot_fails_is_durable_and_says_so() {
    let dir = test_dir("disk_full_write");
    let options = StoreOptions {
        cache_snapshot_bytes: 1,
        ..StoreOptions::default()
    };
    let (store, _) = Store::open(&dir, options.clone()).unwrap();
    store.write_series(vec![points("a", 0, 4)]).unwrap();
    fault::fail_nth_file(Some(0));
    let err = store.write_series(vec![points("a", 100, 3)]).unwrap_err();
    fault::fail_nth_file(None);
    assert!(
        matches!(err, TsmError::SnapshotFailed { points: 3, .. }),
        "{err}"
    );
    assert!(
        err.to_string().starts_with(
            "snapshot failed (3 points of this write are durable in the WAL): I/O error on "
        ),
        "{err}"
    );
    drop(store);
    // A crash during a snapshot leaves a .tmp: a read-only open ignores it,
    // a read-write open removes it.
    let leftover = dir.join("shards/0/0000000009-0000000009-1.tsm.tmp");
    std::fs::write(&leftover, b"half a file").unwrap();
    let read_only = StoreOptions {
        access: Access::ReadOnly,
        ..options.clone()
    };
    let (store, _) = Store::open(&dir, read_only).unwrap();
    assert_eq!(
        all_points(store).await,
        expected(&[("a", 0, 4), ("a", 100, 3)])
    );
    assert!(leftover.exists());
    let (store, report) = Store::open(&dir, options).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert!(!leftover.exists());
    assert_eq!(
        all_points(store).await,
        expected(&[("a", 0, 4), ("a", 100, 3)])
    );
}
