//! Snapshots with compaction after them and snapshots in the background
//! (docs/storage.md, "Snapshots" and "Bulk loads"): the files per shard stay
//! bounded, every point stays readable while a background snapshot runs,
//! writes continue meanwhile, and a crash in the middle of one loses nothing.

use std::path::Path;
use std::time::Duration;

use tsq_engine::SeriesInfo;

use super::value::{FieldType, Values};
use super::wal::SeriesPoints;
use super::{test_dir, Store, StoreOptions};
use crate::sync::read;

const KEY: &str = "m,host=a#v";

fn points(times: &[i64], values: &[f64]) -> SeriesPoints {
    SeriesPoints {
        series: SeriesInfo::new("m", &[("host", "a")], "v"),
        times: times.to_vec(),
        values: Values::Float(values.to_vec()),
    }
}

/// Every point of `KEY`, files and cache merged.
fn all(store: &Store) -> (Vec<i64>, Values) {
    let id = read(&store.inner.index).id_of(KEY).expect("series exists");
    let view = store.inner.view(&[id], i64::MIN, i64::MAX);
    view.read(id, KEY, FieldType::Float).unwrap().unwrap()
}

/// Levels of the files of the only shard, oldest first.
fn levels(store: &Store) -> Vec<u8> {
    store.file_set().files().map(|f| f.id().level).collect()
}

#[test]
fn compaction_after_each_snapshot_keeps_a_base_four_count_of_files() {
    let dir = test_dir("snapshot_compact_after");
    let options = StoreOptions {
        cache_snapshot_bytes: 1, // every write snapshots
        compact_after_snapshot: true,
        ..StoreOptions::default()
    };
    let (store, _) = Store::open(&dir, options).unwrap();
    for i in 1..=21i64 {
        store.write_series(vec![points(&[i], &[i as f64])]).unwrap();
        // Fanout 4: four files of a level become one of the next, so after
        // i snapshots the files are the base-4 digits of i (below 64).
        let digits = i % 4 + i / 4 % 4 + i / 16;
        assert_eq!(store.file_set().files().count() as i64, digits, "after {i}");
    }
    // 21 = 111 in base 4: one level-3 file, one level-2, one level-1.
    assert_eq!(levels(&store), vec![3, 2, 1]);
    let ids: Vec<_> = store
        .file_set()
        .files()
        .map(|f| (f.id().min_gen, f.id().max_gen))
        .collect();
    assert_eq!(ids, vec![(1, 16), (17, 20), (21, 21)]);
    let (t, v) = all(&store);
    assert_eq!(t, (1..=21).collect::<Vec<_>>());
    assert_eq!(v, Values::Float((1..=21).map(|i| i as f64).collect()));
}

fn background() -> StoreOptions {
    StoreOptions {
        // 10 points (10 × 16 bytes + 64) cross it, 2 points (96) do not.
        cache_snapshot_bytes: 200,
        background_snapshot: true,
        ..StoreOptions::default()
    }
}

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn points_stay_readable_and_writes_continue_during_a_background_snapshot() {
    let dir = test_dir("snapshot_background");
    let (store, _) = Store::open(&dir, background()).unwrap();
    let (reached, resume) = store.inner.pause_next_snapshot();
    let first: Vec<i64> = (0..10).collect();
    let first_v: Vec<f64> = first.iter().map(|&t| t as f64).collect();
    store.write_series(vec![points(&first, &first_v)]).unwrap();
    reached
        .recv_timeout(WAIT)
        .expect("snapshot reached its pause");
    // The file is renamed into place but not yet in the file set: the
    // frozen cache answers.
    assert_eq!(store.file_set().files().count(), 0);
    assert!(dir.join("shards/0/0000000001-0000000001-1.tsm").exists());
    assert_eq!(all(&store), (first.clone(), Values::Float(first_v.clone())));
    // A write during the snapshot returns; t=5 overwrites a frozen point.
    store
        .write_series(vec![points(&[5, 100], &[-5.0, 100.0])])
        .unwrap();
    let mut want_t = first.clone();
    want_t.push(100);
    let mut want_v = first_v.clone();
    want_v[5] = -5.0;
    want_v.push(100.0);
    let want = (want_t, Values::Float(want_v));
    assert_eq!(all(&store), want);
    resume.send(()).unwrap();
    store.inner.wait_snapshot();
    assert_eq!(levels(&store), vec![1]);
    // Only the write made during the snapshot is still cached.
    assert_eq!(store.cache_bytes(), 2 * 16 + 64);
    assert_eq!(all(&store), want);
    drop(store);
    let (store, report) = Store::open(&dir, background()).unwrap();
    assert_eq!(report.wal_entries_replayed, 1, "the first segment is gone");
    assert_eq!(all(&store), want);
}

/// Copies the store directory `from` to `to` as a `kill -9` would leave it.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn a_crash_during_a_background_snapshot_recovers_every_point() {
    let dir = test_dir("snapshot_crash");
    let (store, _) = Store::open(&dir, background()).unwrap();
    let (reached, resume) = store.inner.pause_next_snapshot();
    let first: Vec<i64> = (0..10).collect();
    let first_v: Vec<f64> = first.iter().map(|&t| 2.0 * t as f64).collect();
    store.write_series(vec![points(&first, &first_v)]).unwrap();
    reached
        .recv_timeout(WAIT)
        .expect("snapshot reached its pause");
    store
        .write_series(vec![points(&[3, 50], &[0.5, 50.0])])
        .unwrap();
    let mut want_v = first_v.clone();
    want_v[3] = 0.5;
    want_v.push(50.0);
    let mut want_t = first.clone();
    want_t.push(50);
    let want = (want_t, Values::Float(want_v));
    // Crash after the rename, before the swap and the WAL removal.
    let renamed = test_dir("snapshot_crash_renamed");
    copy_dir(&dir, &renamed);
    // Crash while the file was being written: only half a `.tmp`.
    let writing = test_dir("snapshot_crash_writing");
    copy_dir(&dir, &writing);
    let file = writing.join("shards/0/0000000001-0000000001-1.tsm");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(file.with_extension("tsm.tmp"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::remove_file(&file).unwrap();
    resume.send(()).unwrap();
    drop(store);
    // The replayed cache (12 points) is over the threshold: the open
    // snapshots it into a file of its own, beside the renamed one if any.
    for (copy, files) in [(&renamed, 2), (&writing, 1)] {
        let (store, report) = Store::open(copy, background()).unwrap();
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(report.wal_entries_replayed, 2, "{}", copy.display());
        assert_eq!(store.file_set().files().count(), files);
        assert_eq!(all(&store), want, "{}", copy.display());
    }
    assert!(!writing
        .join("shards/0/0000000001-0000000001-1.tsm.tmp")
        .exists());
}

#[test]
fn concurrent_writers_with_background_snapshots_and_compaction_keep_every_point() {
    let dir = test_dir("snapshot_concurrent");
    let options = StoreOptions {
        cache_snapshot_bytes: 1, // every write crosses it
        background_snapshot: true,
        compact_after_snapshot: true,
        ..StoreOptions::default()
    };
    let (store, _) = Store::open(&dir, options.clone()).unwrap();
    let store = std::sync::Arc::new(store);
    // Two writers: even and odd times 0..400, one point per write.
    let writers: Vec<_> = (0..2i64)
        .map(|k| {
            let store = std::sync::Arc::clone(&store);
            std::thread::spawn(move || {
                for t in (k..400).step_by(2) {
                    store.write_series(vec![points(&[t], &[t as f64])]).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let want = (
        (0..400).collect::<Vec<i64>>(),
        Values::Float((0..400).map(|t| t as f64).collect()),
    );
    assert_eq!(all(&store), want);
    store.close().unwrap();
    assert!(store.compactions() > 0);
    // After compaction at most three files per level (fanout 4), plus the
    // snapshot of close.
    assert!(store.file_set().files().count() <= 4 * 3 + 1);
    assert_eq!(all(&store), want);
    drop(store);
    let (store, report) = Store::open(&dir, options).unwrap();
    assert_eq!(report.wal_entries_replayed, 0);
    assert_eq!(all(&store), want);
}
