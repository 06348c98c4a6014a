//! Store-level tests of the TSM engine: overwrite semantics across cache and
//! files, deletes, retention, compaction, WAL recovery and block corruption.

mod common_tsm;

use std::sync::Arc;
use std::time::Duration;

use common_tsm::{dir, pts, scan_all};
use tsq_engine::{ScanRequest, StorageAdapter, TagPredicate, TimeRange};
use tsq_storage::tsm::{Store, StoreOptions, TsmAdapter};

fn open(d: &std::path::Path, options: StoreOptions) -> TsmAdapter {
    TsmAdapter::new(Arc::new(Store::open(d, options).unwrap().0))
}

async fn read(a: &TsmAdapter, field: &str) -> Vec<(i64, f64)> {
    let (m, _) = scan_all(a, &ScanRequest::new("cpu", field), 7)
        .await
        .unwrap();
    m.into_values().flatten().collect()
}

#[tokio::test]
async fn overwrites_cache_over_files_newer_file_over_older() {
    let d = dir("overwrite");
    let a = open(&d, StoreOptions::default());
    let s = a.store();
    s.write_series(vec![pts("cpu", &[], "v", &[(10, 1.0), (20, 2.0)])])
        .unwrap();
    s.flush().unwrap();
    s.write_series(vec![pts("cpu", &[], "v", &[(10, 10.0)])])
        .unwrap();
    assert_eq!(
        read(&a, "v").await,
        vec![(10, 10.0), (20, 2.0)],
        "cache over file"
    );
    s.flush().unwrap();
    s.write_series(vec![pts("cpu", &[], "v", &[(20, 20.0), (20, 21.0)])])
        .unwrap();
    s.flush().unwrap();
    // three level-1 files now: gen 1 {10:1, 20:2}, gen 2 {10:10}, gen 3 {20:21}
    assert_eq!(s.file_set().files().count(), 3);
    assert_eq!(
        read(&a, "v").await,
        vec![(10, 10.0), (20, 21.0)],
        "newer file over older"
    );
    drop(a);
    let a = open(
        &d,
        StoreOptions {
            compaction_fanout: 3,
            ..Default::default()
        },
    );
    assert_eq!(a.store().compact().unwrap(), 1);
    let files: Vec<_> = a.store().file_set().files().map(|f| f.id()).collect();
    assert_eq!(files.len(), 1);
    assert_eq!(
        (files[0].min_gen, files[0].max_gen, files[0].level),
        (1, 3, 2)
    );
    assert_eq!(
        read(&a, "v").await,
        vec![(10, 10.0), (20, 21.0)],
        "compaction keeps newest"
    );
}

#[tokio::test]
async fn deletes_hide_points_until_rewritten_and_survive_reopen_and_compaction() {
    let d = dir("delete");
    let a = open(
        &d,
        StoreOptions {
            compaction_fanout: 2,
            ..Default::default()
        },
    );
    let s = a.store();
    let pts_a: Vec<(i64, f64)> = (0..10).map(|i| (i * 10, i as f64)).collect();
    s.write_series(vec![
        pts("cpu", &[("host", "a")], "v", &pts_a),
        pts("cpu", &[("host", "b")], "v", &pts_a),
    ])
    .unwrap();
    s.flush().unwrap();
    s.write_series(vec![pts("cpu", &[("host", "a")], "v", &[(95, 9.5)])])
        .unwrap();
    // delete host=a in [20, 60): points 20, 30, 40, 50 go (file via tombstone)
    let n = s
        .delete(
            "cpu",
            &TagPredicate::Eq("host".into(), "a".into()),
            TimeRange::new(20, 60),
        )
        .unwrap();
    assert_eq!(n, 1);
    // a write after the delete at a deleted time is visible
    s.write_series(vec![pts("cpu", &[("host", "a")], "v", &[(30, 33.0)])])
        .unwrap();
    let want_a = vec![
        (0, 0.0),
        (10, 1.0),
        (30, 33.0),
        (60, 6.0),
        (70, 7.0),
        (80, 8.0),
        (90, 9.0),
        (95, 9.5),
    ];
    let req = ScanRequest {
        predicate: TagPredicate::Eq("host".into(), "a".into()),
        ..ScanRequest::new("cpu", "v")
    };
    let got = scan_all(&a, &req, 3).await.unwrap().0;
    assert_eq!(got["cpu,host=a#v"], want_a);
    drop(a);
    // reopen: the delete is replayed from the WAL / tombstones
    let a = open(
        &d,
        StoreOptions {
            compaction_fanout: 2,
            ..Default::default()
        },
    );
    assert_eq!(
        scan_all(&a, &req, 3).await.unwrap().0["cpu,host=a#v"],
        want_a
    );
    a.store().flush().unwrap();
    assert_eq!(a.store().compact().unwrap(), 1);
    let all = scan_all(&a, &ScanRequest::new("cpu", "v"), 4)
        .await
        .unwrap()
        .0;
    assert_eq!(all["cpu,host=a#v"], want_a);
    assert_eq!(all["cpu,host=b#v"], pts_a, "host=b untouched");
}

#[tokio::test]
async fn retention_drops_whole_expired_shards() {
    let d = dir("retention");
    let hour = 3_600_000_000_000i64;
    let options = StoreOptions {
        shard_duration: Duration::from_secs(3600),
        retention: Some(Duration::from_secs(2 * 3600)),
        ..Default::default()
    };
    let a = open(&d, options);
    let s = a.store();
    // one point at the middle of each hour 0..6
    let p: Vec<(i64, f64)> = (0..6).map(|h| (h * hour + hour / 2, h as f64)).collect();
    s.write_series(vec![pts("cpu", &[], "v", &p)]).unwrap();
    s.flush().unwrap();
    assert_eq!(s.file_set().shards().count(), 6);
    s.write_series(vec![pts(
        "cpu",
        &[],
        "v",
        &[(hour / 4, -1.0), (5 * hour, 5.5)],
    )])
    .unwrap();
    // now = 5h + 1: cutoff = 3h + 1 lies in shard [3h, 4h), so shards 0h, 1h, 2h expire
    assert_eq!(s.enforce_retention(5 * hour + 1).unwrap(), 3);
    assert_eq!(s.file_set().shards().count(), 3);
    let got = read(&a, "v").await;
    assert_eq!(
        got,
        vec![
            (3 * hour + hour / 2, 3.0),
            (4 * hour + hour / 2, 4.0),
            (5 * hour, 5.5),
            (5 * hour + hour / 2, 5.0)
        ]
    );
    assert!(
        !d.join("shards").join("0").exists(),
        "expired shard directory removed"
    );
    assert!(d.join("shards").join((3 * hour).to_string()).exists());
}

#[tokio::test]
async fn compaction_climbs_levels_and_preserves_data() {
    let d = dir("compact");
    let a = open(
        &d,
        StoreOptions {
            compaction_fanout: 2,
            ..Default::default()
        },
    );
    let s = a.store();
    let mut want = Vec::new();
    // 8 snapshots of 300 points each (2400 points -> blocks of 1000 after merging)
    for g in 0..8i64 {
        let p: Vec<(i64, f64)> = (0..300)
            .map(|i| (g * 3000 + i * 10, (g * 300 + i) as f64 / 100.0))
            .collect();
        want.extend(p.clone());
        s.write_series(vec![pts("cpu", &[("host", "x")], "v", &p)])
            .unwrap();
        s.flush().unwrap();
    }
    // fanout 2 over 8 level-1 files: 4 merges to level 2, 2 to level 3, 1 to level 4
    assert_eq!(s.compact().unwrap(), 7);
    let ids: Vec<_> = s.file_set().files().map(|f| f.id()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!((ids[0].min_gen, ids[0].max_gen, ids[0].level), (1, 8, 4));
    let f = s.file_set().files().next().map(Arc::clone).unwrap();
    let blocks = &f.entry("cpu,host=x#v").unwrap().blocks;
    assert_eq!(
        blocks.iter().map(|b| b.max - b.min).collect::<Vec<_>>(),
        vec![9990, 9990, 3990]
    );
    assert_eq!(read(&a, "v").await, want);
    // only the compacted file is left on disk
    let shard = f.path().parent().unwrap().to_path_buf();
    drop(f);
    let names = std::fs::read_dir(&shard).unwrap().count();
    assert_eq!(names, 1);
}

#[tokio::test]
async fn corrupt_block_names_file_and_offset_and_other_series_stay_readable() {
    let d = dir("corrupt");
    let a = open(&d, StoreOptions::default());
    let s = a.store();
    s.write_series(vec![
        pts("cpu", &[("host", "a")], "v", &[(1, 1.0), (2, 2.0)]),
        pts("cpu", &[("host", "b")], "v", &[(1, 3.0)]),
    ])
    .unwrap();
    s.flush().unwrap();
    let f = s.file_set().files().next().map(Arc::clone).unwrap();
    let (path, off) = (
        f.path().to_path_buf(),
        f.entry("cpu,host=a#v").unwrap().blocks[0].offset,
    );
    drop((f, a));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[off as usize + 8] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let a = open(&d, StoreOptions::default());
    let bad = ScanRequest {
        predicate: TagPredicate::Eq("host".into(), "a".into()),
        ..ScanRequest::new("cpu", "v")
    };
    let err = scan_all(&a, &bad, 10).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "storage error: corrupt file {} at offset {off}: block checksum mismatch",
            path.display()
        )
    );
    let good = ScanRequest {
        predicate: TagPredicate::Eq("host".into(), "b".into()),
        ..ScanRequest::new("cpu", "v")
    };
    assert_eq!(
        scan_all(&a, &good, 10).await.unwrap().0["cpu,host=b#v"],
        vec![(1, 3.0)]
    );
}

#[tokio::test]
async fn unflushed_points_are_replayed_from_the_wal() {
    let d = dir("replay");
    let a = open(&d, StoreOptions::default());
    a.store()
        .write_series(vec![pts("cpu", &[("host", "a")], "v", &[(5, 0.5)])])
        .unwrap();
    drop(a);
    let (s, report) = Store::open(&d, StoreOptions::default()).unwrap();
    assert_eq!(report.wal_entries_replayed, 1);
    assert!(report.warnings.is_empty());
    let a = TsmAdapter::new(Arc::new(s));
    assert_eq!(read(&a, "v").await, vec![(5, 0.5)]);
    assert_eq!(a.series_count("cpu").await.unwrap(), 1);
}

#[tokio::test]
async fn queries_see_whole_writes_while_writes_snapshots_and_compactions_run() {
    let d = dir("concurrent");
    let options = StoreOptions {
        cache_snapshot_bytes: 16 << 10,
        compaction_fanout: 2,
        background_interval: Some(Duration::from_millis(20)),
        ..Default::default()
    };
    let a = open(&d, options);
    let store = Arc::clone(a.store());
    let writer = std::thread::spawn(move || {
        for b in 0..150i64 {
            // each write adds 20 points to each of 4 series
            let batch = (0..4)
                .map(|s| {
                    let p: Vec<(i64, f64)> = (0..20)
                        .map(|i| (b * 20 + i, (s * 1000 + b) as f64))
                        .collect();
                    pts("cpu", &[("host", &format!("h{s}"))], "v", &p)
                })
                .collect();
            store.write_series(batch).unwrap();
        }
    });
    let mut scans = 0;
    while !writer.is_finished() || scans == 0 {
        let (got, _) = scan_all(&a, &ScanRequest::new("cpu", "v"), 333)
            .await
            .unwrap();
        let lens: Vec<usize> = got.values().map(Vec::len).collect();
        // A consistent view holds the same whole writes for every series.
        assert!(lens.windows(2).all(|w| w[0] == w[1]), "torn view: {lens:?}");
        assert!(
            lens.iter().all(|n| n % 20 == 0),
            "partial write visible: {lens:?}"
        );
        scans += 1;
    }
    writer.join().unwrap();
    let (got, _) = scan_all(&a, &ScanRequest::new("cpu", "v"), 1000)
        .await
        .unwrap();
    assert_eq!(got["cpu,host=h3#v"].len(), 150 * 20);
    assert_eq!(got["cpu,host=h3#v"][2999], (2999, 3149.0));
    assert!(scans > 1);
}

#[tokio::test]
async fn empty_and_mismatched_runs_are_not_written() {
    let d = dir("empty_runs");
    let a = open(&d, StoreOptions::default());
    let mut bad = pts("cpu", &[], "v", &[(1, 1.0)]);
    bad.times.push(2); // 2 timestamps, 1 value
    let out = a
        .store()
        .write_series(vec![
            pts("cpu", &[], "e", &[]),
            bad,
            pts("cpu", &[], "v", &[(3, 3.0)]),
        ])
        .unwrap();
    assert_eq!((out.points_written, out.series_created), (1, 1));
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].0, 1);
    assert_eq!(
        out.rejected[0].1.to_string(),
        "invalid argument: 2 timestamps but 1 values"
    );
    a.store().flush().unwrap();
    assert_eq!(read(&a, "v").await, vec![(3, 3.0)]);
    assert_eq!(a.fields("cpu").await.unwrap(), vec!["v"]);
}

#[tokio::test]
async fn a_file_with_a_damaged_index_fails_the_queries_that_need_it_unless_partial() {
    let d = dir("bad_index");
    let hour = 3_600_000_000_000i64;
    let options = || StoreOptions {
        shard_duration: Duration::from_secs(3600),
        ..Default::default()
    };
    let a = open(&d, options());
    // two shards -> two files
    a.store()
        .write_series(vec![pts("cpu", &[], "v", &[(1, 1.0), (hour + 1, 2.0)])])
        .unwrap();
    a.store().flush().unwrap();
    let victim = a
        .store()
        .file_set()
        .files()
        .next()
        .unwrap()
        .path()
        .to_path_buf();
    drop(a);
    let mut bytes = std::fs::read(&victim).unwrap();
    let n = bytes.len();
    bytes[n - 21] ^= 0xFF; // last index byte, just before the 20-byte footer
    std::fs::write(&victim, &bytes).unwrap();
    let index_at = u64::from_be_bytes(bytes[n - 20..n - 12].try_into().unwrap());
    let (store, report) = Store::open(&d, options()).unwrap();
    let error = format!(
        "corrupt file {} at offset {index_at}: index checksum mismatch",
        victim.display()
    );
    assert_eq!(
        report.warnings,
        vec![format!(
            "unreadable TSM file: {error}; queries over its shard fail unless partial \
             results are allowed (`tsq repair` moves it aside)"
        )]
    );
    let a = TsmAdapter::new(Arc::new(store));
    // Any query whose range overlaps the damaged file's shard [0, 1h) fails.
    let err = scan_all(&a, &ScanRequest::new("cpu", "v"), 7)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "storage error: {error}; the query's time range needs this file \
             (allow partial results to leave it out)"
        )
    );
    let err = a
        .time_span(&ScanRequest::new("cpu", "v"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&error), "{err}");
    // A range over the other shard does not need it.
    let mut second = ScanRequest::new("cpu", "v");
    second.range = TimeRange::new(hour, 2 * hour);
    let (m, _) = scan_all(&a, &second, 7).await.unwrap();
    assert_eq!(
        m.into_values().flatten().collect::<Vec<_>>(),
        vec![(hour + 1, 2.0)]
    );
    assert!(a.take_left_out().is_empty());
    // With partial results, the query runs without it and says so.
    a.set_allow_partial(true);
    assert_eq!(read(&a, "v").await, vec![(hour + 1, 2.0)]);
    let left: Vec<(std::path::PathBuf, i64, String)> = a
        .take_left_out()
        .iter()
        .map(|u| (u.path.clone(), u.shard_start, u.error.to_string()))
        .collect();
    assert_eq!(left, vec![(victim, 0, error)]);
    assert!(a.take_left_out().is_empty());
}

#[test]
fn store_and_adapter_are_send_and_sync() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Store>();
    shareable::<TsmAdapter>();
}

#[tokio::test]
async fn a_damaged_tombstone_file_fails_only_the_series_its_file_holds() {
    let d = dir("bad_tombstone");
    let a = open(&d, StoreOptions::default());
    a.store()
        .write_series(vec![pts("cpu", &[], "v", &[(1, 1.0), (2, 2.0)])])
        .unwrap();
    a.store().flush().unwrap();
    a.store()
        .write_series(vec![pts("mem", &[], "v", &[(1, 5.0)])])
        .unwrap();
    a.store().flush().unwrap();
    a.store()
        .delete("cpu", &TagPredicate::True, TimeRange::new(2, 3))
        .unwrap();
    let tsm = a
        .store()
        .file_set()
        .files()
        .next()
        .unwrap()
        .path()
        .to_path_buf();
    drop(a);
    let stones = d.join(format!("{}.tombstone", tsm.display()));
    let mut bytes = std::fs::read(&stones).unwrap();
    // The first record's length (docs/storage.md, "Record framing": marker,
    // length, CRCs): its header checksum fails, and no later marker exists,
    // so the whole file is the damaged range.
    bytes[4] ^= 0xFF;
    std::fs::write(&stones, &bytes).unwrap();
    let a = open(&d, StoreOptions::default());
    let err = scan_all(&a, &ScanRequest::new("cpu", "v"), 7)
        .await
        .unwrap_err();
    // Since the merge of the record framing rework, a TSM file whose
    // tombstone file is damaged stays in the file set and every read of its
    // series fails with the tombstone error itself (docs/storage.md,
    // "Tombstones"), not with the "needs this file" wrapping of unreadable
    // files: partial results cannot leave it out.
    assert_eq!(
        err.to_string(),
        format!(
            "storage error: corrupt file {} at offset 0: damaged tombstone record (bytes 0..{}: \
             record header checksum mismatch); the deletes recorded against this TSM file are \
             unknown, so it is not read",
            stones.display(),
            bytes.len()
        )
    );
    // The file's index is intact and lacks mem#v: that query does not need it.
    let (m, _) = scan_all(&a, &ScanRequest::new("mem", "v"), 7)
        .await
        .unwrap();
    assert_eq!(
        m.into_values().flatten().collect::<Vec<_>>(),
        vec![(1, 5.0)]
    );
    assert!(a.take_left_out().is_empty());
}
