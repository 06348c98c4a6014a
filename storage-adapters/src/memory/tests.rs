//! Unit tests of the in-memory adapter: overwrites, pruning, predicates,
//! ordered scans, batch splitting, capabilities switched off, catalog.

use super::*;
use tsq_engine::{GroupBy, TagPredicate};

/// Drains a scan at `max_rows`, returning `(series key, times, values)` runs
/// in delivery order (runs split across batches are joined) and the batch sizes.
async fn drain(
    adapter: &MemoryAdapter,
    req: &ScanRequest,
    max_rows: usize,
) -> (Vec<(String, Vec<i64>, Vec<f64>)>, Vec<usize>) {
    let mut scan = adapter.scan(req).await.unwrap();
    let registry = Arc::clone(scan.registry());
    let mut runs: Vec<(String, Vec<i64>, Vec<f64>)> = Vec::new();
    let mut sizes = Vec::new();
    let mut last_id = None;
    while let Some(b) = scan.next_batch(max_rows).await.unwrap() {
        sizes.push(b.num_rows());
        for tl in b.timelines() {
            if last_id != Some(tl.series_id) {
                let key = registry.get(tl.series_id).unwrap().key();
                runs.push((key, Vec::new(), Vec::new()));
                last_id = Some(tl.series_id);
            }
            let run = runs.last_mut().unwrap();
            run.1.extend_from_slice(tl.times);
            run.2.extend_from_slice(tl.values);
        }
    }
    (runs, sizes)
}

fn sample() -> MemoryAdapter {
    let m = MemoryAdapter::new();
    m.insert(
        "cpu",
        &[("host", "b"), ("dc", "x")],
        "u",
        &[(10, 1.0), (20, 2.0), (30, 3.0)],
    );
    m.insert(
        "cpu",
        &[("host", "a"), ("dc", "y")],
        "u",
        &[(15, 4.0), (25, 5.0)],
    );
    m.insert("cpu", &[("host", "c"), ("dc", "x")], "u", &[(5, 6.0)]);
    m.insert("cpu", &[("host", "a"), ("dc", "y")], "sys", &[(1, 9.0)]);
    m.insert("mem", &[("host", "a")], "free", &[(1, 1.0)]);
    m
}

#[tokio::test]
async fn later_write_wins_across_and_within_calls() {
    let m = MemoryAdapter::new();
    m.insert("m", &[], "v", &[(30, 1.0), (10, 2.0), (30, 3.0)]);
    m.insert("m", &[], "v", &[(20, 4.0), (10, 5.0)]);
    let (runs, _) = drain(&m, &ScanRequest::new("m", "v"), 100).await;
    // t=10: 2.0 overwritten by 5.0; t=30: 1.0 then 3.0 in the same call → 3.0.
    assert_eq!(
        runs,
        vec![("m#v".into(), vec![10, 20, 30], vec![5.0, 4.0, 3.0])]
    );
    assert_eq!(m.num_points(), 3);
}

#[tokio::test]
async fn time_range_is_pruned_half_open() {
    let m = sample();
    let mut req = ScanRequest::new("cpu", "u");
    req.range = TimeRange::new(15, 30);
    let (runs, _) = drain(&m, &req, 100).await;
    // [15, 30): host=a keeps 15,25; host=b keeps 20; host=c (t=5) has nothing.
    assert_eq!(
        runs,
        vec![
            ("cpu,dc=x,host=b#u".into(), vec![20], vec![2.0]),
            ("cpu,dc=y,host=a#u".into(), vec![15, 25], vec![4.0, 5.0]),
        ]
    );
    assert_eq!(m.time_span(&req).await.unwrap(), Some((15, 25)));
    req.range = TimeRange::new(100, 200);
    assert_eq!(m.time_span(&req).await.unwrap(), None);
    assert_eq!(
        m.time_span(&ScanRequest::new("cpu", "u")).await.unwrap(),
        Some((5, 30))
    );
}

#[tokio::test]
async fn predicate_selects_series_and_registry_is_key_sorted() {
    let m = sample();
    let mut req = ScanRequest::new("cpu", "u");
    req.predicate = TagPredicate::Eq("dc".into(), "x".into());
    let scan = m.scan(&req).await.unwrap();
    let keys: Vec<String> = scan.registry().iter().map(|(_, s)| s.key()).collect();
    assert_eq!(keys, vec!["cpu,dc=x,host=b#u", "cpu,dc=x,host=c#u"]);
    // time_span applies the predicate: min(10, 5), max(30, 5).
    assert_eq!(m.time_span(&req).await.unwrap(), Some((5, 30)));
}

#[tokio::test]
async fn ordered_scan_follows_group_order() {
    let m = sample();
    let mut req = ScanRequest::new("cpu", "u");
    req.group_order = Some(GroupBy::Tags(vec!["host".into()]));
    let (runs, _) = drain(&m, &req, 100).await;
    let keys: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    // ids: 0 = dc=x,host=b; 1 = dc=x,host=c; 2 = dc=y,host=a → by host: a, b, c.
    assert_eq!(
        keys,
        vec![
            "cpu,dc=y,host=a#u",
            "cpu,dc=x,host=b#u",
            "cpu,dc=x,host=c#u"
        ]
    );
    req.group_order = None;
    let (runs, _) = drain(&m, &req, 100).await;
    let keys: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "cpu,dc=x,host=b#u",
            "cpu,dc=x,host=c#u",
            "cpu,dc=y,host=a#u"
        ]
    );
}

#[tokio::test]
async fn batches_split_timelines_at_max_rows() {
    let m = sample();
    let (runs, sizes) = drain(&m, &ScanRequest::new("cpu", "u"), 2).await;
    // 3 + 1 + 2 = 6 rows in batches of 2; b's run is split over two batches.
    assert_eq!(sizes, vec![2, 2, 2]);
    assert_eq!(
        runs[0],
        (
            "cpu,dc=x,host=b#u".into(),
            vec![10, 20, 30],
            vec![1.0, 2.0, 3.0]
        )
    );
    assert_eq!(runs.len(), 3);
}

#[tokio::test]
async fn capabilities_off_return_everything_in_id_order() {
    let m = sample().with_capabilities(Capabilities::NONE);
    assert_eq!(m.capabilities(), Capabilities::NONE);
    let mut req = ScanRequest::new("cpu", "u");
    req.predicate = TagPredicate::Eq("dc".into(), "y".into());
    req.range = TimeRange::new(15, 16);
    req.group_order = Some(GroupBy::Tags(vec!["host".into()]));
    let (runs, _) = drain(&m, &req, 100).await;
    let keys: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "cpu,dc=x,host=b#u",
            "cpu,dc=x,host=c#u",
            "cpu,dc=y,host=a#u"
        ]
    );
    assert_eq!(runs[0].1, vec![10, 20, 30]);
    // time_span always applies predicate and range: only host=a's t=15.
    assert_eq!(m.time_span(&req).await.unwrap(), Some((15, 15)));
}

#[tokio::test]
async fn catalog_lists_names_sorted() {
    let m = sample();
    assert_eq!(m.measurements().await.unwrap(), vec!["cpu", "mem"]);
    assert_eq!(m.fields("cpu").await.unwrap(), vec!["sys", "u"]);
    assert_eq!(m.tag_keys("cpu").await.unwrap(), vec!["dc", "host"]);
    assert_eq!(
        m.tag_values("cpu", "host").await.unwrap(),
        vec!["a", "b", "c"]
    );
    assert_eq!(m.series_count("cpu").await.unwrap(), 4);
    assert_eq!(m.series_count("nope").await.unwrap(), 0);
    assert!(m.fields("nope").await.unwrap().is_empty());
}

/// Series `h=a` (3 points), `h=b` (2), `h=c` (4) of `m#v`, in key order.
fn three_series() -> MemoryAdapter {
    let m = MemoryAdapter::new();
    m.insert(
        "m",
        &[("h", "c")],
        "v",
        &[(5, 7.0), (15, 8.0), (25, 9.0), (35, 10.0)],
    );
    m.insert("m", &[("h", "a")], "v", &[(0, 1.0), (10, 2.0), (20, 3.0)]);
    m.insert("m", &[("h", "b")], "v", &[(0, 4.0), (10, 5.0)]);
    m
}

#[tokio::test]
async fn full_scans_slice_the_consolidated_block() {
    let m = three_series();
    let mut scan = m.scan(&ScanRequest::new("m", "v")).await.unwrap();
    let mut batches = Vec::new();
    while let Some(b) = scan.next_batch(4).await.unwrap() {
        batches.push(b);
    }
    // 9 rows in key order a a a b | b c c c | c, cut at 4 rows.
    let ids: Vec<Vec<u32>> = batches.iter().map(|b| b.series_ids().to_vec()).collect();
    assert_eq!(ids, vec![vec![0, 0, 0, 1], vec![1, 2, 2, 2], vec![2]]);
    assert_eq!(batches[1].times(), &[10, 5, 15, 25]);
    assert_eq!(batches[1].values().values(), &[5.0, 7.0, 8.0, 9.0]);
    assert_eq!(batches[1].num_timelines(), 2);
    // Zero-copy: the batches are consecutive windows of one buffer per column.
    let (t0, t1) = (batches[0].times().as_ptr(), batches[1].times().as_ptr());
    assert_eq!(t1, t0.wrapping_add(4));
    let (v1, v2) = (
        batches[1].values().values().as_ptr(),
        batches[2].values().values().as_ptr(),
    );
    assert_eq!(v2, v1.wrapping_add(4));
    let (i0, i2) = (
        batches[0].series_ids().as_ptr(),
        batches[2].series_ids().as_ptr(),
    );
    assert_eq!(i2, i0.wrapping_add(8));
}

#[tokio::test]
async fn point_counts_stop_at_the_limit_series_by_series() {
    // a: 3 points, b: 2, c: 4, counted in key order
    let m = three_series();
    let mut req = ScanRequest::new("m", "v");
    assert_eq!(m.point_count(&req).await.unwrap(), Some(9));
    for (limit, counted) in [
        (0, 3),
        (1, 3),
        (3, 3),
        (4, 5),
        (5, 5),
        (6, 9),
        (9, 9),
        (100, 9),
    ] {
        let got = m.point_count_up_to(&req, limit).await.unwrap();
        assert_eq!(got, Some(counted), "limit {limit}");
    }
    // [10, 30): a has 10, 20; b has 10; c has 15, 25
    req.range = TimeRange::new(10, 30);
    assert_eq!(m.point_count(&req).await.unwrap(), Some(5));
    assert_eq!(m.point_count_up_to(&req, 3).await.unwrap(), Some(3));
    assert_eq!(m.point_count_up_to(&req, 4).await.unwrap(), Some(5));
}

#[tokio::test]
async fn series_are_cut_to_the_range_as_the_scan_reaches_them() {
    // [12, 40): a keeps 20, b nothing, c keeps 15, 25, 35
    let m = three_series();
    let mut req = ScanRequest::new("m", "v");
    req.range = TimeRange::new(12, 40);
    let (runs, sizes) = drain(&m, &req, 2).await;
    assert_eq!(
        runs,
        vec![
            ("m,h=a#v".into(), vec![20], vec![3.0]),
            ("m,h=c#v".into(), vec![15, 25, 35], vec![8.0, 9.0, 10.0]),
        ]
    );
    // a's piece and c's do not lie back to back in the block: two batches
    // of slices, not one copied, then c's last row
    assert_eq!(sizes, vec![1, 2, 1]);
    // a range that leaves every series out gives no batch
    req.range = TimeRange::new(100, 200);
    assert_eq!(drain(&m, &req, 2).await, (vec![], vec![]));
}

#[tokio::test]
async fn pieces_that_do_not_follow_each_other_end_a_batch_instead_of_being_copied() {
    // block: a 0 10 20 | b 0 10 | c 5 15 25 35; [10, 40) keeps rows 1..3,
    // 4..5 and 6..9 of it: three pieces, none following the one before
    let m = three_series();
    let mut req = ScanRequest::new("m", "v");
    req.range = TimeRange::new(10, 40);
    let batches = |max_rows| {
        let (m, req) = (&m, &req);
        async move {
            let mut scan = m.scan(req).await.unwrap();
            let mut out = Vec::new();
            while let Some(b) = scan.next_batch(max_rows).await.unwrap() {
                out.push(b);
            }
            out
        }
    };
    // 8 rows: a piece of 2 (a quarter) ends the batch; b's 1 row ends
    // before c's 3: three zero-copy slices of the block
    let sliced = batches(8).await;
    let times: Vec<&[i64]> = sliced.iter().map(|b| b.times()).collect();
    assert_eq!(times, [&[10, 20][..], &[10], &[15, 25, 35]]);
    let at = |i: usize| sliced[i].times().as_ptr();
    assert_eq!(at(1), at(0).wrapping_add(3));
    assert_eq!(at(2), at(0).wrapping_add(5));
    assert_eq!(sliced[2].values().values(), &[8.0, 9.0, 10.0]);
    // 16 rows: every piece is under a quarter: one batch, copied
    let copied = batches(16).await;
    assert_eq!(copied.len(), 1);
    assert_eq!(copied[0].series_ids(), &[0, 0, 1, 2, 2, 2]);
    assert_eq!(copied[0].times(), &[10, 20, 10, 15, 25, 35]);
    assert_eq!(
        copied[0].values().values(),
        &[2.0, 3.0, 5.0, 8.0, 9.0, 10.0]
    );
}

#[tokio::test]
async fn a_write_after_a_scan_is_seen_by_the_next_scan_only() {
    let m = three_series();
    let req = ScanRequest::new("m", "v");
    let mut open = m.scan(&req).await.unwrap();
    // Overwrites h=b at 10 and adds a point: h=b leaves the block.
    m.insert("m", &[("h", "b")], "v", &[(10, 50.0), (20, 60.0)]);
    let old = open.next_batch(100).await.unwrap().unwrap();
    assert_eq!(
        old.values().values(),
        &[1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 9.0, 10.0]
    );
    let (runs, sizes) = drain(&m, &req, 100).await;
    assert_eq!(
        runs[1],
        ("m,h=b#v".into(), vec![0, 10, 20], vec![4.0, 50.0, 60.0])
    );
    assert_eq!((runs.len(), sizes), (3, vec![10]));
    assert_eq!(m.num_points(), 10);
}

#[tokio::test]
async fn cut_and_filtered_scans_copy_with_their_own_ids() {
    let m = three_series();
    // [10, 30) cuts every timeline: the rows are not back to back any more.
    let mut req = ScanRequest::new("m", "v");
    req.range = TimeRange::new(10, 30);
    let mut scan = m.scan(&req).await.unwrap();
    let b = scan.next_batch(100).await.unwrap().unwrap();
    assert_eq!(b.series_ids(), &[0, 0, 1, 2, 2]);
    assert_eq!(b.times(), &[10, 20, 10, 15, 25]);
    assert_eq!(b.values().values(), &[2.0, 3.0, 5.0, 8.0, 9.0]);
    // h != 'a': a registry of two series, renumbered 0 and 1, rows b b c c c c
    // still back to back in the block but with ids of their own.
    let mut req = ScanRequest::new("m", "v");
    req.predicate = TagPredicate::NotEq("h".into(), "a".into());
    let mut scan = m.scan(&req).await.unwrap();
    assert_eq!(scan.registry().len(), 2);
    let b = scan.next_batch(100).await.unwrap().unwrap();
    assert_eq!(b.series_ids(), &[0, 0, 1, 1, 1, 1]);
    assert_eq!(b.values().values(), &[4.0, 5.0, 7.0, 8.0, 9.0, 10.0]);
}

#[tokio::test]
async fn tag_keys_are_the_union_over_series_with_different_key_sets() {
    // In series-key order: cpu,dc=x,host=a; cpu,dc=x,host=b (same keys as
    // the previous series, skipped); cpu,host=c (a subset); cpu,host=d,rack=r
    // (a new key). Union: dc, host, rack. mem's key `zone` is not cpu's.
    let m = MemoryAdapter::new();
    m.insert("cpu", &[("dc", "x"), ("host", "a")], "u", &[(1, 1.0)]);
    m.insert("cpu", &[("dc", "x"), ("host", "b")], "u", &[(1, 1.0)]);
    m.insert("cpu", &[("host", "c")], "u", &[(1, 1.0)]);
    m.insert("cpu", &[("host", "d"), ("rack", "r")], "u", &[(1, 1.0)]);
    m.insert("mem", &[("zone", "z")], "u", &[(1, 1.0)]);
    assert_eq!(m.tag_keys("cpu").await.unwrap(), vec!["dc", "host", "rack"]);
    assert_eq!(m.tag_keys("mem").await.unwrap(), vec!["zone"]);
    assert!(m.tag_keys("nope").await.unwrap().is_empty());
}

#[test]
fn integers_keep_their_type_through_writes_scans_and_last_points() {
    let m = MemoryAdapter::new();
    let big = 9_007_199_254_740_993i64; // 2^53 + 1, not an f64
    m.try_insert("m", &[("host", "a")], "i", &[(1, big), (3, i64::MIN)])
        .unwrap();
    // An overwrite at 3 and a new point at 2, merged in time order.
    m.try_insert("m", &[("host", "a")], "i", &[(3, i64::MAX), (2, -1)])
        .unwrap();
    m.try_insert("m", &[("host", "b")], "i", &[(1, 5i64)])
        .unwrap();
    m.try_insert("m", &[("host", "a")], "u", &[(1, u64::MAX)])
        .unwrap();
    // The field's type is fixed by its first write.
    let err = m
        .try_insert("m", &[("host", "c")], "i", &[(1, 1.5f64)])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("field 'i' of measurement 'm' holds integer values; cannot write float"),
        "{err}"
    );
    futures::executor::block_on(async {
        let types = m.field_types("m").await.unwrap();
        assert_eq!(
            types,
            [
                ("i".to_string(), ValueType::Integer),
                ("u".to_string(), ValueType::Unsigned)
            ]
        );
        // Zero-copy slices (whole block) and copies (a cut range) alike.
        for (range, max_rows) in [(TimeRange::ALL, 100), (TimeRange::new(2, 4), 1)] {
            let mut req = ScanRequest::new("m", "i");
            req.range = range;
            let mut scan = m.scan(&req).await.unwrap();
            let mut rows = Vec::new();
            while let Some(b) = scan.next_batch(max_rows).await.unwrap() {
                assert_eq!(b.value_type(), ValueType::Integer);
                for tl in b.typed_timelines::<i64>().unwrap() {
                    rows.extend(
                        tl.times
                            .iter()
                            .zip(tl.values)
                            .map(|(t, v)| (tl.series_id, *t, *v)),
                    );
                }
            }
            let want: Vec<(u32, i64, i64)> = if range == TimeRange::ALL {
                vec![(0, 1, big), (0, 2, -1), (0, 3, i64::MAX), (1, 1, 5)]
            } else {
                vec![(0, 2, -1), (0, 3, i64::MAX)]
            };
            assert_eq!(rows, want, "{range}");
        }
        let last = m.last_points(&ScanRequest::new("m", "u")).await.unwrap();
        assert_eq!(last.typed_values::<u64>().unwrap().values(), &[u64::MAX]);
    });
}

#[tokio::test]
async fn remembered_catalog_answers_follow_writes() {
    let a = MemoryAdapter::new();
    a.insert("cpu", &[("host", "a")], "usage", &[(1, 1.0)]);
    assert_eq!(a.measurements().await.unwrap(), ["cpu"]);
    assert_eq!(a.tag_keys("cpu").await.unwrap(), ["host"]);
    let float = |f: &str| (f.to_string(), ValueType::Float);
    assert_eq!(a.field_types("cpu").await.unwrap(), [float("usage")]);
    // asked again: the same answers
    assert_eq!(a.tag_keys("cpu").await.unwrap(), ["host"]);
    // a write of a new measurement, tag and field is seen at once
    a.insert("cpu", &[("dc", "eu"), ("host", "b")], "idle", &[(2, 2.0)]);
    a.try_insert("mem", &[("host", "a")], "used", &[(1, 5i64)])
        .unwrap();
    assert_eq!(a.measurements().await.unwrap(), ["cpu", "mem"]);
    assert_eq!(a.tag_keys("cpu").await.unwrap(), ["dc", "host"]);
    assert_eq!(
        a.field_types("cpu").await.unwrap(),
        [float("idle"), float("usage")]
    );
    assert_eq!(
        a.field_types("mem").await.unwrap(),
        [("used".to_string(), ValueType::Integer)]
    );
}

#[tokio::test]
async fn newest_points_of_every_series_or_of_a_selection() {
    let a = sample();
    let newest = |req: ScanRequest| {
        let a = &a;
        async move {
            let b = a.last_points(&req).await.unwrap();
            let by_scan = tsq_engine::storage::last_points_by_scan(a, &req)
                .await
                .unwrap();
            let rows = |b: &TimelineBatch| -> Vec<(String, i64, f64)> {
                b.timelines()
                    .map(|tl| {
                        let key = b.registry().get(tl.series_id).unwrap().key();
                        (key, tl.times[0], tl.values[0])
                    })
                    .collect()
            };
            assert_eq!(rows(&b), rows(&by_scan));
            assert_eq!(b.registry(), by_scan.registry());
            rows(&b)
        }
    };
    let since = |s| TimeRange {
        start: Some(s),
        end: None,
    };
    let until = |e| TimeRange {
        start: None,
        end: Some(e),
    };
    // the newest point found without a search (the range holds a series'
    // last point) or by one (the range ends before it), at and around the
    // newest times 5, 25 and 30; empty ranges give no point
    for range in [
        TimeRange::ALL,
        TimeRange::new(0, 15),
        TimeRange::new(15, 16),
        since(5),
        since(26),
        since(30),
        since(31),
        until(30),
        until(31),
        until(5),
        TimeRange::new(25, 30),
        TimeRange::new(30, 31),
        TimeRange::new(20, 10),
    ] {
        let all = ScanRequest {
            range,
            ..ScanRequest::new("cpu", "u")
        };
        let one = ScanRequest {
            predicate: TagPredicate::Eq("host".into(), "b".into()),
            ..all.clone()
        };
        let every = newest(all).await;
        if range == TimeRange::ALL {
            let want = [
                ("cpu,dc=x,host=b#u", 30, 3.0),
                ("cpu,dc=x,host=c#u", 5, 6.0),
                ("cpu,dc=y,host=a#u", 25, 5.0),
            ];
            let want: Vec<_> = want
                .iter()
                .map(|&(k, t, v)| (k.to_string(), t, v))
                .collect();
            assert_eq!(every, want);
        }
        let some = newest(one).await;
        let of_b: Vec<_> = every
            .iter()
            .filter(|r| r.0.contains("host=b"))
            .cloned()
            .collect();
        assert_eq!(some, of_b, "{range}");
    }
}
