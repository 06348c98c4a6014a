//! Tests of the last-point lookups of the TSM adapter: the points found
//! (against `last_points_by_scan`, which reads the whole range) and the
//! blocks decoded to find them (`Store::blocks_decoded`).

use std::sync::Arc;

use tsq_engine::lookback::Lookback;
use tsq_engine::storage::last_points_by_scan;
use tsq_engine::{
    Aggregator, Downsample, FillPolicy, Interval, ScanRequest, SeriesInfo, StorageAdapter,
    TagPredicate, TimeRange, TimelineBatch,
};

use crate::tsm::test_dir;
use crate::tsm::value::Values;
use crate::tsm::wal::SeriesPoints;
use crate::tsm::{Store, StoreOptions, TsmAdapter};

fn points(host: &str, times: &[i64], values: &[f64]) -> SeriesPoints {
    SeriesPoints {
        series: SeriesInfo::new("m", &[("host", host)], "v"),
        times: times.to_vec(),
        values: Values::Float(values.to_vec()),
    }
}

/// `(host, time, value)` of each row.
fn rows(batch: &TimelineBatch) -> Vec<(String, i64, f64)> {
    let mut out = Vec::new();
    for tl in batch.timelines() {
        let host = batch
            .registry()
            .get(tl.series_id)
            .unwrap()
            .tag("host")
            .unwrap();
        for i in 0..tl.len() {
            out.push((host.to_string(), tl.times[i], tl.values[i]));
        }
    }
    out
}

fn request(range: TimeRange) -> ScanRequest {
    ScanRequest {
        range,
        ..ScanRequest::new("m", "v")
    }
}

/// Two series of 2500 points (t = value = 0..2500): three blocks each,
/// [0, 999], [1000, 1999], [2000, 2499].
fn two_series(name: &str) -> (Arc<Store>, TsmAdapter) {
    let dir = test_dir(name);
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    let times: Vec<i64> = (0..2500).collect();
    let values: Vec<f64> = (0..2500).map(|t| t as f64).collect();
    store
        .write_series(vec![
            points("a", &times, &values),
            points("b", &times, &values.iter().map(|v| -v).collect::<Vec<_>>()),
        ])
        .unwrap();
    store.flush().unwrap();
    let store = Arc::new(store);
    (Arc::clone(&store), TsmAdapter::new(store))
}

#[tokio::test]
async fn newest_points_decode_one_block_per_series_and_are_remembered() {
    let (store, adapter) = two_series("last_point_blocks");
    assert_eq!(store.blocks_decoded(), 0);
    let all = adapter.last_points(&request(TimeRange::ALL)).await.unwrap();
    assert_eq!(
        rows(&all),
        [("a".into(), 2499, 2499.0), ("b".into(), 2499, -2499.0)]
    );
    // one block (the newest) per series
    assert_eq!(store.blocks_decoded(), 2);
    // the series' newest point in the file is remembered: nothing decoded
    let again = adapter.last_points(&request(TimeRange::ALL)).await.unwrap();
    assert_eq!(rows(&again), rows(&all));
    assert_eq!(store.blocks_decoded(), 2);
    // before 1500: the newest block starting at or before 1499 is the
    // second one, [1000, 1999]: one more block per series
    let before = TimeRange {
        start: None,
        end: Some(1500),
    };
    let mid = adapter.last_points(&request(before)).await.unwrap();
    assert_eq!(
        rows(&mid),
        [("a".into(), 1499, 1499.0), ("b".into(), 1499, -1499.0)]
    );
    assert_eq!(store.blocks_decoded(), 4);
    // a range that holds no point of the series: no row, nothing decoded
    // beyond the candidate block's bound check
    let host_a = ScanRequest {
        predicate: TagPredicate::Eq("host".into(), "a".into()),
        ..request(TimeRange::new(3000, 4000))
    };
    assert!(adapter.last_points(&host_a).await.unwrap().is_empty());
    assert_eq!(store.blocks_decoded(), 4);
}

#[tokio::test]
async fn newest_points_match_a_scan_across_files_tombstones_and_the_cache() {
    let dir = test_dir("last_point_merge");
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    // file 1: a at 1, 2, 3; b at 1, 2; c at 10
    store
        .write_series(vec![
            points("a", &[1, 2, 3], &[1.0, 2.0, 3.0]),
            points("b", &[1, 2], &[10.0, 20.0]),
            points("c", &[10], &[100.0]),
        ])
        .unwrap();
    store.flush().unwrap();
    // file 2 (newer): a at 3 again (wins the tie), b at 4
    store
        .write_series(vec![points("a", &[3], &[30.0]), points("b", &[4], &[40.0])])
        .unwrap();
    store.flush().unwrap();
    // cache: b at 6
    store
        .write_series(vec![points("b", &[6], &[60.0])])
        .unwrap();
    let store = Arc::new(store);
    let adapter = TsmAdapter::new(Arc::clone(&store));
    let ranges = [
        TimeRange::ALL,
        TimeRange::new(0, 4),
        TimeRange::new(2, 3),
        TimeRange::new(5, 11),
        TimeRange::new(11, 20),
    ];
    let expected: [&[(&str, i64, f64)]; 5] = [
        &[("a", 3, 30.0), ("b", 6, 60.0), ("c", 10, 100.0)],
        &[("a", 3, 30.0), ("b", 2, 20.0)],
        &[("a", 2, 2.0), ("b", 2, 20.0)],
        &[("b", 6, 60.0), ("c", 10, 100.0)],
        &[],
    ];
    for (range, want) in ranges.iter().zip(expected) {
        let want: Vec<(String, i64, f64)> = want
            .iter()
            .map(|&(h, t, v)| (h.to_string(), t, v))
            .collect();
        let got = adapter.last_points(&request(*range)).await.unwrap();
        assert_eq!(rows(&got), want, "{range}");
        let scanned = last_points_by_scan(&adapter, &request(*range))
            .await
            .unwrap();
        assert_eq!(rows(&scanned), want, "{range} by scan");
    }
    // a delete of a at [3, 3] hides both writes of 3: its newest is 2;
    // the remembered newest points are forgotten
    let host_a = TagPredicate::Eq("host".into(), "a".into());
    store.delete("m", &host_a, TimeRange::new(3, 4)).unwrap();
    let got = adapter.last_points(&request(TimeRange::ALL)).await.unwrap();
    assert_eq!(
        rows(&got),
        [
            ("a".into(), 2, 2.0),
            ("b".into(), 6, 60.0),
            ("c".into(), 10, 100.0)
        ]
    );
}

#[tokio::test]
async fn lookback_of_a_fill_reads_one_block_per_series() {
    let (store, adapter) = two_series("last_point_lookback");
    let ds = Downsample {
        interval: Interval::Every(100),
        agg: Aggregator::Avg,
        fill: FillPolicy::Previous,
        max_gap: None,
    };
    // the range starts at 2205: the seed is 2204, in the third block
    let req = request(TimeRange::new(2205, 2400));
    let lookback = Lookback::fetch(&ds, &req, &adapter).await.unwrap().unwrap();
    let a = SeriesInfo::new("m", &[("host", "a")], "v");
    let b = SeriesInfo::new("m", &[("host", "b")], "v");
    assert_eq!(lookback.get(&a), Some((2204, Some(2204.0))));
    assert_eq!(lookback.get(&b), Some((2204, Some(-2204.0))));
    assert_eq!(store.blocks_decoded(), 2);
    // starting at 1000 the seed is 999, the newest point of the first block
    let req = request(TimeRange::new(1000, 2400));
    let lookback = Lookback::fetch(&ds, &req, &adapter).await.unwrap().unwrap();
    assert_eq!(lookback.get(&a), Some((999, Some(999.0))));
    assert_eq!(store.blocks_decoded(), 4);
    // FILL(null) does not look back, nor does a range without a start
    let null = Downsample {
        fill: FillPolicy::Null,
        ..ds
    };
    assert_eq!(Lookback::fetch(&null, &req, &adapter).await.unwrap(), None);
    let open = request(TimeRange {
        start: None,
        end: Some(2400),
    });
    assert_eq!(Lookback::fetch(&ds, &open, &adapter).await.unwrap(), None);
    assert_eq!(store.blocks_decoded(), 4);
}

/// A second field `w` beside `v`: host a at 5 (value 50) and 8 (80), host
/// c at 7 (70); c has no `v`.
fn second_field(host: &str, times: &[i64], values: &[f64]) -> SeriesPoints {
    SeriesPoints {
        series: SeriesInfo::new("m", &[("host", host)], "w"),
        ..points(host, times, values)
    }
}

/// `(host, time, value)` written by hand.
type Row = (&'static str, i64, f64);

#[tokio::test]
async fn newest_points_of_several_fields_are_each_fields_own() {
    let dir = test_dir("last_point_group");
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    store
        .write_series(vec![
            points("a", &[1, 2, 3], &[1.0, 2.0, 3.0]),
            points("b", &[1, 9], &[10.0, 90.0]),
            second_field("a", &[5, 8], &[50.0, 80.0]),
            second_field("c", &[7], &[70.0]),
        ])
        .unwrap();
    store.flush().unwrap();
    // in the cache: b's v at 12
    store
        .write_series(vec![points("b", &[12], &[120.0])])
        .unwrap();
    let adapter = TsmAdapter::new(Arc::new(store));
    let group = |range| tsq_engine::ScanGroup {
        request: request(range),
        members: ["w", "v", "w"]
            .iter()
            .map(|f| tsq_engine::ScanMember {
                field: f.to_string(),
                partition: None,
            })
            .collect(),
    };
    let cases: [(TimeRange, &[Row], &[Row]); 3] = [
        (
            TimeRange::ALL,
            &[("a", 3, 3.0), ("b", 12, 120.0)],
            &[("a", 8, 80.0), ("c", 7, 70.0)],
        ),
        (
            TimeRange::new(2, 8),
            &[("a", 3, 3.0)],
            &[("a", 5, 50.0), ("c", 7, 70.0)],
        ),
        (TimeRange::new(9, 9), &[], &[]),
    ];
    let owned = |rows: &[Row]| -> Vec<(String, i64, f64)> {
        rows.iter()
            .map(|&(h, t, v)| (h.to_string(), t, v))
            .collect()
    };
    for (range, v, w) in cases {
        let got = adapter.last_points_group(&group(range)).await.unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(rows(&got[0]), owned(w), "{range} w");
        assert_eq!(rows(&got[1]), owned(v), "{range} v");
        assert_eq!(rows(&got[2]), owned(w), "{range} w again");
        // each batch is what last_points gives for the field alone
        for (i, field) in ["w", "v", "w"].iter().enumerate() {
            let alone = ScanRequest {
                range,
                ..ScanRequest::new("m", field)
            };
            let one = adapter.last_points(&alone).await.unwrap();
            assert_eq!(rows(&got[i]), rows(&one), "{range} {field}");
            assert_eq!(got[i].registry(), one.registry(), "{range} {field}");
        }
    }
}

#[tokio::test]
async fn a_repeated_selection_reuses_its_plan_until_a_series_is_added() {
    let (store, adapter) = two_series("last_point_plan_cache");
    let all = request(TimeRange::ALL);
    let first = adapter.last_points(&all).await.unwrap();
    let again = adapter.last_points(&all).await.unwrap();
    // the same registry: planned once
    assert!(Arc::ptr_eq(first.registry(), again.registry()));
    // a scan of the same selection too
    let scan = adapter.scan(&all).await.unwrap();
    assert!(Arc::ptr_eq(scan.registry(), first.registry()));
    // another predicate is another selection
    let host_b = ScanRequest {
        predicate: TagPredicate::Eq("host".into(), "b".into()),
        ..all.clone()
    };
    let b = adapter.last_points(&host_b).await.unwrap();
    assert_eq!(rows(&b), [("b".into(), 2499, -2499.0)]);
    // a new series of the field: planned again, and found
    store
        .write_series(vec![points("c", &[7], &[70.0])])
        .unwrap();
    let grown = adapter.last_points(&all).await.unwrap();
    assert!(!Arc::ptr_eq(grown.registry(), first.registry()));
    assert_eq!(
        rows(&grown),
        [
            ("a".into(), 2499, 2499.0),
            ("b".into(), 2499, -2499.0),
            ("c".into(), 7, 70.0)
        ]
    );
    // a new point of a known series does not change the plan
    store
        .write_series(vec![points("c", &[9], &[90.0])])
        .unwrap();
    let later = adapter.last_points(&all).await.unwrap();
    assert!(Arc::ptr_eq(later.registry(), grown.registry()));
    assert_eq!(rows(&later)[2], ("c".into(), 9, 90.0));
}

#[tokio::test]
async fn many_series_split_into_partitions_match_a_scan() {
    // 120 hosts × fields v and w, over two files and the cache: the
    // searches move forward through each file's index (w's keys lie
    // between v's), and hosts missing from a file are skipped
    let dir = test_dir("last_point_partitions");
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    let host = |h: usize| format!("h{h:03}");
    for round in 0..3i64 {
        let mut batch = Vec::new();
        for h in 0..120usize {
            if (h + round as usize).is_multiple_of(4) {
                continue;
            }
            let t = 10 * round + (h % 7) as i64;
            let value = (h * 100) as f64 + round as f64;
            batch.push(points(&host(h), &[t], &[value]));
            batch.push(second_field(&host(h), &[t + 1], &[-value]));
        }
        store.write_series(batch).unwrap();
        if round < 2 {
            store.flush().unwrap();
        }
    }
    let adapter = TsmAdapter::new(Arc::new(store));
    for field in ["v", "w"] {
        let whole = ScanRequest::new("m", field);
        let want = rows(&last_points_by_scan(&adapter, &whole).await.unwrap());
        assert_eq!(want.len(), 120);
        assert_eq!(rows(&adapter.last_points(&whole).await.unwrap()), want);
        for count in [2, 3] {
            let mut got = Vec::new();
            for index in 0..count {
                let group = tsq_engine::ScanGroup {
                    request: whole.clone(),
                    members: vec![tsq_engine::ScanMember {
                        field: field.into(),
                        partition: Some(tsq_engine::Partition {
                            index,
                            count,
                            by: tsq_engine::PartitionBy::Series,
                        }),
                    }],
                };
                let part = adapter.last_points_group(&group).await.unwrap();
                got.extend(rows(&part[0]));
            }
            assert_eq!(got, want, "{field} in {count} partitions");
        }
    }
}
