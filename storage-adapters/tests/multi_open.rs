//! Several opens of one store directory in one process (docs/storage.md,
//! "Multi-process rules"): the writer lock excludes a second read-write
//! `Store` exactly as it excludes another process; read-only opens change
//! no file, refuse every write, and see either a consistent prefix of the
//! acknowledged writes or the in-use error.

mod common_tsm;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use common_tsm::{dir, pts, scan_all};
use tsq_engine::{ScanRequest, TagPredicate, TimeRange};
use tsq_storage::tsm::{Access, Store, StoreOptions, TsmAdapter, TsmError};

/// Points per batch.
const BATCH: i64 = 100;

fn read_only() -> StoreOptions {
    StoreOptions {
        access: Access::ReadOnly,
        ..StoreOptions::default()
    }
}

/// Batch `k`: BATCH points of `cpu,host=a v` at t = k·BATCH + i, value t.
fn batch(k: i64) -> Vec<tsq_storage::tsm::wal::SeriesPoints> {
    let points: Vec<(i64, f64)> = (k * BATCH..(k + 1) * BATCH)
        .map(|t| (t, t as f64))
        .collect();
    vec![pts("cpu", &[("host", "a")], "v", &points)]
}

/// Every point of `cpu.v`, in time order.
async fn points(store: Store) -> Vec<(i64, f64)> {
    let adapter = TsmAdapter::new(Arc::new(store));
    let (m, _) = scan_all(&adapter, &ScanRequest::new("cpu", "v"), 64)
        .await
        .unwrap();
    m.into_values().flatten().collect()
}

/// The points of batches `0..k`.
fn batches(k: i64) -> Vec<(i64, f64)> {
    (0..k * BATCH).map(|t| (t, t as f64)).collect()
}

/// The error message of a call that must fail.
fn refusal<T>(r: Result<T, TsmError>) -> String {
    r.map(|_| ()).unwrap_err().to_string()
}

/// Path → (length, modification time) of every file under `root`.
fn tree(root: &Path) -> BTreeMap<String, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p.clone());
            }
            let name = p.strip_prefix(root).unwrap().display().to_string();
            out.insert(name, (meta.len(), meta.modified().unwrap()));
        }
    }
    out
}

#[tokio::test]
async fn a_second_writer_in_the_same_process_fails_at_once() {
    let d = dir("multi_two_writers");
    let (first, _) = Store::open(&d, StoreOptions::default()).unwrap();
    first.write_series(batch(0)).unwrap();
    let err = Store::open(&d, StoreOptions::default()).unwrap_err();
    let pid = std::process::id();
    assert!(
        matches!(&err, TsmError::InUse { reading: false, holder, .. } if holder.starts_with(&format!("pid {pid} ("))),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("; only one process may write to a store at a time"),
        "{err}"
    );
    first.write_series(batch(1)).unwrap();
    drop(first);
    let (store, _) = Store::open(&d, StoreOptions::default()).unwrap();
    assert_eq!(points(store).await, batches(2));
}

#[tokio::test]
async fn a_read_only_open_changes_no_file_and_refuses_writes() {
    let d = dir("multi_read_only");
    {
        let (store, _) = Store::open(&d, StoreOptions::default()).unwrap();
        store.write_series(batch(0)).unwrap();
        store.flush().unwrap();
        store.write_series(batch(1)).unwrap();
    }
    // What a crash leaves: a torn WAL tail, a torn series-log tail, a .tmp.
    let wal = std::fs::read_dir(d.join("wal"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes.extend_from_slice(&[0, 0, 0, 40, 1, 2]);
    std::fs::write(&wal, &bytes).unwrap();
    let mut log = std::fs::read(d.join("series.log")).unwrap();
    log.extend_from_slice(&[0, 0, 0, 9]);
    std::fs::write(d.join("series.log"), &log).unwrap();
    let shard = std::fs::read_dir(d.join("shards"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(shard.join("0000000007-0000000007-1.tsm.tmp"), b"half").unwrap();
    let before = tree(&d);

    for _ in 0..3 {
        let (store, report) = Store::open(&d, read_only()).unwrap();
        // The torn tails are reported and left in place (the wording is the
        // record framing's readers', docs/storage.md "Recovery"; the tree
        // check below shows nothing changed).
        assert_eq!(
            report.warnings,
            vec![
                format!(
                    "series log {}: torn record at byte {} (4 of 16 header bytes)",
                    d.join("series.log").display(),
                    log.len() - 4
                ),
                format!(
                    "WAL segment {}: torn record at byte {} of {} (left in place)",
                    wal.display(),
                    bytes.len() - 6,
                    bytes.len()
                ),
            ]
        );
        let ro = format!("store {} is open read-only: cannot ", d.display());
        assert_eq!(refusal(store.write_series(batch(2))), format!("{ro}write"));
        assert_eq!(refusal(store.flush()), format!("{ro}flush"));
        assert_eq!(refusal(store.compact()), format!("{ro}compact"));
        let all = TimeRange::default();
        assert_eq!(
            refusal(store.delete("cpu", &TagPredicate::True, all)),
            format!("{ro}delete")
        );
        assert_eq!(
            refusal(store.enforce_retention(0)),
            format!("{ro}enforce retention")
        );
        assert_eq!(points(store).await, batches(2));
    }
    assert_eq!(tree(&d), before, "a read-only open changed the directory");

    // The read-write open repairs what the reader left alone.
    let (store, report) = Store::open(&d, StoreOptions::default()).unwrap();
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
    assert!(!shard.join("0000000007-0000000007-1.tsm.tmp").exists());
    assert_eq!(points(store).await, batches(2));
}

#[tokio::test]
async fn a_read_only_open_of_a_store_no_writer_locked_creates_nothing() {
    let d = dir("multi_no_lock");
    let (store, _) = Store::open(&d, read_only()).unwrap();
    assert_eq!(points(store).await, vec![]);
    assert!(tree(&d).is_empty(), "{:?}", tree(&d));
    let missing = d.join("missing");
    let err = Store::open(&missing, read_only()).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("I/O error on {}: ", missing.display())),
        "{err}"
    );
    assert!(!missing.exists());
}

#[tokio::test]
async fn opens_without_writes_add_no_wal_segment() {
    let d = dir("multi_wal_reuse");
    for _ in 0..20 {
        drop(Store::open(&d, StoreOptions::default()).unwrap());
        drop(Store::open(&d, read_only()).unwrap());
    }
    assert_eq!(std::fs::read_dir(d.join("wal")).unwrap().count(), 0);
    for k in 0..3 {
        let (store, _) = Store::open(&d, StoreOptions::default()).unwrap();
        store.write_series(batch(k)).unwrap();
    }
    // Three writers, one segment: each reopened the intact last one.
    let segments: Vec<String> = std::fs::read_dir(d.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(segments, vec!["00000001.wal".to_string()]);
    let (store, _) = Store::open(&d, read_only()).unwrap();
    assert_eq!(points(store).await, batches(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_beside_a_writer_see_an_acknowledged_prefix_or_the_in_use_error() {
    const BATCHES: i64 = 40;
    let d = dir("multi_readers");
    // Batches acknowledged, and batches whose write has begun.
    let acked = Arc::new(AtomicUsize::new(0));
    let begun = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (d, acked, begun, done) = (
            d.clone(),
            Arc::clone(&acked),
            Arc::clone(&begun),
            Arc::clone(&done),
        );
        std::thread::spawn(move || {
            let options = StoreOptions {
                cache_snapshot_bytes: 4 << 10,
                ..StoreOptions::default()
            };
            for k in 0..BATCHES {
                // Each batch from a fresh writer: opens, writes (snapshots
                // now and then), closes; readers race all of it.
                begun.store(k as usize + 1, Ordering::SeqCst);
                let (store, _) = loop {
                    match Store::open(&d, options.clone()) {
                        Ok(s) => break s,
                        Err(TsmError::InUse { .. }) => std::thread::yield_now(),
                        Err(e) => panic!("writer open: {e}"),
                    }
                };
                store.write_series(batch(k)).unwrap();
                drop(store);
                acked.store(k as usize + 1, Ordering::SeqCst);
                // Leave readers a window between writers.
                std::thread::sleep(std::time::Duration::from_millis(3));
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let (mut prefixes, mut refused) = (0, 0);
    while !done.load(Ordering::SeqCst) {
        let lo = acked.load(Ordering::SeqCst);
        let opened = Store::open(&d, read_only());
        let hi = begun.load(Ordering::SeqCst);
        match opened {
            Ok((store, _)) => {
                let got = points(store).await;
                let k = got.len() / BATCH as usize;
                assert!((lo..=hi).contains(&k), "{k} batches, not in {lo}..={hi}");
                assert_eq!(got, batches(k as i64), "not a prefix of whole batches");
                prefixes += 1;
            }
            Err(TsmError::InUse { reading: true, .. }) => {
                refused += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(e) => panic!("reader open: {e}"),
        }
    }
    writer.join().unwrap();
    eprintln!("readers: {prefixes} saw a prefix, {refused} were refused");
    let (store, _) = Store::open(&d, StoreOptions::default()).unwrap();
    assert_eq!(points(store).await, batches(BATCHES));
}
