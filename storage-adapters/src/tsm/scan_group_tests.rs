//! Tests of the TSM adapter's scan groups (`adapter.rs`,
//! `TsmAdapter::scan_group`; `docs/architecture.md`, "One scan for several
//! fields"): every member's scan gives exactly what its own `scan` or
//! `scan_partition` gives (registry, timelines, order), over series that
//! lack a field, points in files and in the cache, partitions and a group
//! order; and one walk orders several selections as one walk each would.

use std::sync::Arc;

use tsq_engine::{
    GroupBy, Partition, PartitionBy, ScanGroup, ScanMember, ScanRequest, SeriesInfo, SeriesScan,
    StorageAdapter, TagPredicate, TimeRange,
};

use crate::sync::read;
use crate::tsm::test_dir;
use crate::tsm::value::Values;
use crate::tsm::wal::SeriesPoints;
use crate::tsm::{Store, StoreOptions, TsmAdapter};

/// Host `h` in data centre `dc`, field `f`: `n` points t = 10·k, value
/// k + `base`.
fn series(h: &str, dc: &str, f: &str, n: i64, base: f64) -> SeriesPoints {
    SeriesPoints {
        series: SeriesInfo::new("cpu", &[("host", h), ("dc", dc)], f),
        times: (0..n).map(|k| 10 * k).collect(),
        values: Values::Float((0..n).map(|k| k as f64 + base).collect()),
    }
}

/// A store of 12 hosts × fields a, b, c (host h5 has no b), half of the
/// points flushed to a file and the rest in the cache.
fn store(name: &str) -> TsmAdapter {
    let dir = test_dir(name);
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    let write = |from: i64| {
        let mut all = Vec::new();
        for i in 0..12 {
            let (h, dc) = (format!("h{i:02}"), format!("dc{}", i % 3));
            for (j, f) in ["a", "b", "c"].iter().enumerate() {
                if i == 5 && *f == "b" {
                    continue;
                }
                let mut s = series(&h, &dc, f, 30, (100 * i + 10 * j as i64) as f64);
                s.times
                    .retain(|t| (*t >= from * 10) && (*t < (from + 15) * 10));
                let Values::Float(v) = &mut s.values else {
                    unreachable!("floats written above")
                };
                v.drain(..from as usize);
                v.truncate(15);
                all.push(s);
            }
        }
        all
    };
    store.write_series(write(0)).unwrap();
    store.flush().unwrap();
    store.write_series(write(15)).unwrap();
    TsmAdapter::new(Arc::new(store))
}

/// Every row of a scan, batch by batch: (series key, time, value), and its
/// registry's keys.
async fn drain(
    mut scan: Box<dyn SeriesScan>,
    rows: usize,
) -> (Vec<String>, Vec<(String, i64, f64)>) {
    let keys = scan.registry().iter().map(|(_, s)| s.key()).collect();
    let mut out = Vec::new();
    while let Some(b) = scan.next_batch(rows).await.unwrap() {
        for tl in b.timelines() {
            let key = b.registry().get(tl.series_id).unwrap().key();
            for i in 0..tl.len() {
                out.push((key.clone(), tl.times[i], tl.values[i]));
            }
        }
    }
    (keys, out)
}

fn member(field: &str, partition: Option<(usize, usize, PartitionBy)>) -> ScanMember {
    ScanMember {
        field: field.into(),
        partition: partition.map(|(index, count, by)| Partition { index, count, by }),
    }
}

#[tokio::test]
async fn every_member_reads_what_its_own_scan_reads() {
    let a = store("scan_group");
    let dc = GroupBy::Tags(vec!["dc".into()]);
    let requests = [
        // every series, the whole range
        ScanRequest::new("cpu", "a"),
        // a predicate, a range across the file and the cache, a group order
        ScanRequest {
            predicate: TagPredicate::NotEq("dc".into(), "dc1".into()),
            range: TimeRange::new(50, 230),
            group_order: Some(dc.clone()),
            ..ScanRequest::new("cpu", "a")
        },
        // an empty range
        ScanRequest {
            range: TimeRange::new(70, 70),
            ..ScanRequest::new("cpu", "a")
        },
    ];
    let members = vec![
        member("a", None),
        member("b", Some((0, 2, PartitionBy::Series))),
        member("b", Some((1, 2, PartitionBy::Series))),
        member("c", Some((0, 3, PartitionBy::Group(dc.clone())))),
        member("c", Some((2, 3, PartitionBy::Group(dc.clone())))),
        member("a", Some((1, 2, PartitionBy::Series))),
    ];
    for request in requests {
        let group = ScanGroup {
            request: request.clone(),
            members: members.clone(),
        };
        let scans = a.scan_group(&group).await.unwrap();
        assert_eq!(scans.len(), members.len());
        let mut rows_seen = 0;
        for (i, (scan, m)) in scans.into_iter().zip(&members).enumerate() {
            let own_request = group.request_of(i);
            assert_eq!(own_request.field, m.field);
            let own = match &m.partition {
                Some(p) => a.scan_partition(&own_request, p).await.unwrap(),
                None => a.scan(&own_request).await.unwrap(),
            };
            let (keys, got) = drain(scan, 7).await;
            let (want_keys, want) = drain(own, 7).await;
            assert_eq!(keys, want_keys, "member {i} of {request:?}");
            assert_eq!(got, want, "member {i} of {request:?}");
            // one row a batch: the same rows
            let again = a.scan_group(&group).await.unwrap().remove(i);
            assert_eq!(drain(again, 1).await.1, want, "member {i}, 1 row a batch");
            rows_seen += got.len();
        }
        // The whole-range group reads points (not a vacuous comparison):
        // 12 hosts × 30 points of a, a's second half, b (11 hosts) and
        // two of c's three dc partitions.
        if request.range == TimeRange::ALL {
            assert_eq!(rows_seen, 12 * 30 + 6 * 30 + 11 * 30 + 8 * 30);
        }
    }
}

#[tokio::test]
async fn one_walk_orders_several_selections_as_one_walk_each() {
    let a = store("scan_group_walk");
    let index = read(&a.store().inner.index);
    let selections: Vec<Vec<u32>> = ["a", "b", "c"]
        .iter()
        .map(|f| index.select("cpu", f, &TagPredicate::True))
        .collect();
    // b lacks h05: 12, 11 and 12 series
    let lens: Vec<usize> = selections.iter().map(Vec::len).collect();
    assert_eq!(lens, vec![12, 11, 12]);
    let many = index.in_series_order_many("cpu", &selections);
    let each: Vec<Vec<u32>> = selections
        .iter()
        .map(|s| index.in_series_order("cpu", s))
        .collect();
    assert_eq!(many, each);
    // series order: tags by key, dc before host, so by (dc, host)
    let hosts: Vec<String> = many[1]
        .iter()
        .map(|&id| index.series(id).unwrap().0.tag("host").unwrap().to_string())
        .collect();
    let mut want: Vec<i32> = (0..12).filter(|&i| i != 5).collect();
    want.sort_by_key(|i| (i % 3, *i));
    let want: Vec<String> = want.iter().map(|i| format!("h{i:02}")).collect();
    assert_eq!(hosts, want);
}
