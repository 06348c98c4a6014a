//! Differential test: the same scans through `TsmAdapter` and through a
//! reference (points kept in a `BTreeMap`, last write wins) must return the
//! same timelines in the same order, the same time spans and catalog; the
//! engine's `MemoryAdapter` loaded with the same points is a second oracle.

mod common_tsm;

use std::collections::BTreeMap;
use std::sync::Arc;

use common_tsm::{dir, pts, scan_all, Timelines};
use tsq_engine::group::Grouping;
use tsq_engine::{
    GroupBy, Partition, PartitionBy, Pattern, ScanRequest, SeriesInfo, SeriesRegistry,
    StorageAdapter, TagPredicate as P, TimeRange,
};
use tsq_storage::memory::MemoryAdapter;
use tsq_storage::tsm::value::Values;
use tsq_storage::tsm::wal::SeriesPoints;
use tsq_storage::tsm::{Store, StoreOptions, TsmAdapter};

type Reference = BTreeMap<SeriesInfo, BTreeMap<i64, f64>>;

/// xorshift64: deterministic pseudo-random numbers.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn series(rng: &mut Rng) -> SeriesInfo {
    let host = format!("web-{}", rng.next(6));
    let dc = ["eu", "us", "ap"][rng.next(3) as usize];
    let field = ["u", "s"][rng.next(2) as usize];
    if rng.next(5) == 0 {
        SeriesInfo::new("cpu", &[("host", &host)], field)
    } else {
        SeriesInfo::new("cpu", &[("host", &host), ("dc", dc)], field)
    }
}

fn expected(r: &Reference, req: &ScanRequest) -> (Timelines, Vec<String>) {
    let matching: Vec<SeriesInfo> = r
        .keys()
        .filter(|s| *s.field == *req.field && req.predicate.matches(s))
        .cloned()
        .collect();
    let (reg, _) = SeriesRegistry::sorted(matching);
    let order: Vec<u32> = match &req.group_order {
        Some(by) => Grouping::new(&reg, by, &req.field).scan_order(),
        None => (0..reg.len() as u32).collect(),
    };
    let mut out = BTreeMap::new();
    let mut keys = Vec::new();
    for id in order {
        let s = reg.get(id).unwrap();
        let p: Vec<(i64, f64)> = r[s]
            .iter()
            .filter(|(t, _)| req.range.contains(**t))
            .map(|(t, v)| (*t, *v))
            .collect();
        if !p.is_empty() {
            keys.push(s.key());
            out.insert(s.key(), p);
        }
    }
    (out, keys)
}

#[tokio::test]
async fn tsm_adapter_matches_a_btreemap_reference() {
    let d = dir("adapter_diff");
    let options = StoreOptions {
        cache_snapshot_bytes: 8 << 10,
        compaction_fanout: 2,
        ..Default::default()
    };
    let store = Arc::new(Store::open(&d, options).unwrap().0);
    let a = TsmAdapter::new(Arc::clone(&store));
    let mut r = Reference::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..12 {
        let mut batch = Vec::new();
        for _ in 0..6 {
            let s = series(&mut rng);
            let p: Vec<(i64, f64)> = (0..rng.next(400) as i64 + 1)
                .map(|_| {
                    (
                        rng.next(20_000) as i64 * 10 - 50_000,
                        rng.next(10_000) as f64 / 100.0,
                    )
                })
                .collect();
            let e = r.entry(s.clone()).or_default();
            for (t, v) in &p {
                e.insert(*t, *v);
            }
            batch.push(pts(
                "cpu",
                &s.tags
                    .iter()
                    .map(|(k, v)| (k.as_ref(), v.as_ref()))
                    .collect::<Vec<_>>(),
                &s.field,
                &p,
            ));
        }
        store.write_series(batch).unwrap();
        if round % 4 == 3 {
            store.compact().unwrap();
        }
    }
    // delete dc=us in [-20_000, 30_000) from both
    let del = P::Eq("dc".into(), "us".into());
    store
        .delete("cpu", &del, TimeRange::new(-20_000, 30_000))
        .unwrap();
    for (s, p) in r.iter_mut() {
        if del.matches(s) {
            p.retain(|t, _| !(-20_000..30_000).contains(t));
        }
    }
    store.compact().unwrap();
    assert!(store.file_set().files().count() >= 1);

    let preds = vec![
        P::True,
        P::Eq("dc".into(), "eu".into()),
        P::NotEq("dc".into(), "eu".into()),
        P::In("host".into(), vec!["web-1".into(), "web-4".into()]),
        P::Like("host".into(), Pattern::like("web-_").unwrap()),
        P::Or(vec![
            P::Regex("host".into(), Pattern::regex("[02]$").unwrap()),
            P::Eq("dc".into(), "".into()),
        ]),
        P::Not(Box::new(P::NotIn("dc".into(), vec!["ap".into()]))),
    ];
    let ranges = [
        TimeRange::ALL,
        TimeRange::new(-10_000, 10_000),
        TimeRange {
            start: Some(100_000),
            end: None,
        },
        TimeRange::new(5, 5),
    ];
    let groups = [
        None,
        Some(GroupBy::Tags(vec!["dc".into()])),
        Some(GroupBy::All),
        Some(GroupBy::Tags(vec!["host".into(), "dc".into()])),
    ];
    // The engine's MemoryAdapter holding the final reference state is a second oracle.
    let mem = MemoryAdapter::new();
    for (si, p) in &r {
        let tags: Vec<(&str, &str)> = si
            .tags
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        let points: Vec<(i64, f64)> = p.iter().map(|(t, v)| (*t, *v)).collect();
        mem.insert(&si.measurement, &tags, &si.field, &points);
    }
    let mut checked = 0;
    for field in ["u", "s"] {
        for p in &preds {
            for range in ranges {
                for g in &groups {
                    let req = ScanRequest {
                        predicate: p.clone(),
                        range,
                        group_order: g.clone(),
                        ..ScanRequest::new("cpu", field)
                    };
                    let want = expected(&r, &req);
                    for batch in [1000, 97] {
                        let got = scan_all(&a, &req, batch).await.unwrap();
                        assert_eq!(got, want, "{p} {range} {g:?} batch {batch}");
                        let from_mem = scan_all(&mem, &req, batch).await.unwrap();
                        assert_eq!(got, from_mem, "memory: {p} {range} {g:?} batch {batch}");
                    }
                    let span = want.0.values().flat_map(|v| v.iter().map(|p| p.0)).fold(
                        None,
                        |acc: Option<(i64, i64)>, t| {
                            Some(acc.map_or((t, t), |(a, b)| (a.min(t), b.max(t))))
                        },
                    );
                    assert_eq!(a.time_span(&req).await.unwrap(), span, "{p} {range}");
                    assert_eq!(
                        mem.time_span(&req).await.unwrap(),
                        span,
                        "memory: {p} {range}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 2 * 7 * 4 * 4);
    assert_eq!(a.measurements().await.unwrap(), vec!["cpu"]);
    assert_eq!(a.fields("cpu").await.unwrap(), vec!["s", "u"]);
    assert_eq!(a.tag_keys("cpu").await.unwrap(), vec!["dc", "host"]);
    assert_eq!(
        a.tag_values("cpu", "dc").await.unwrap(),
        vec!["ap", "eu", "us"]
    );
    assert_eq!(a.series_count("cpu").await.unwrap(), r.len());
}

#[tokio::test]
async fn typed_fields_read_as_f64_and_strings_are_refused() {
    let d = dir("adapter_types");
    let store = Arc::new(Store::open(&d, StoreOptions::default()).unwrap().0);
    let sp = |field: &str, values: Values| SeriesPoints {
        series: SeriesInfo::new("m", &[], field),
        times: vec![1, 2],
        values,
    };
    store
        .write_series(vec![
            sp("i", Values::Integer(vec![-3, 4])),
            sp("u", Values::Unsigned(vec![5, 6])),
            sp("b", Values::Boolean(vec![true, false])),
            sp("s", Values::String(vec!["x".into(), "y".into()])),
        ])
        .unwrap();
    store.flush().unwrap();
    let a = TsmAdapter::new(store);
    let read = |f: &'static str| {
        let a = a.clone();
        async move {
            scan_all(&a, &ScanRequest::new("m", f), 10)
                .await
                .map(|r| r.0.into_values().next().unwrap())
        }
    };
    assert_eq!(read("i").await.unwrap(), vec![(1, -3.0), (2, 4.0)]);
    assert_eq!(read("u").await.unwrap(), vec![(1, 5.0), (2, 6.0)]);
    assert_eq!(read("b").await.unwrap(), vec![(1, 1.0), (2, 0.0)]);
    let err = read("s").await.unwrap_err().to_string();
    assert_eq!(err, "invalid argument: field 's' of measurement 'm' is a string field; only numeric fields can be queried");
}

/// The series a partition scan delivers: registry ids, in order.
async fn partition_ids(a: &TsmAdapter, req: &ScanRequest, p: &Partition) -> (usize, Vec<u32>) {
    let mut scan = a.scan_partition(req, p).await.unwrap();
    let registry_len = scan.registry().len();
    let mut ids = Vec::new();
    while let Some(b) = scan.next_batch(2).await.unwrap() {
        for t in b.timelines() {
            if ids.last() != Some(&t.series_id) {
                ids.push(t.series_id);
            }
        }
    }
    (registry_len, ids)
}

#[tokio::test]
async fn partition_scans_read_only_their_series_over_the_whole_registry() {
    let d = dir("adapter_partitions");
    let store = Arc::new(Store::open(&d, StoreOptions::default()).unwrap().0);
    // five hosts (ids 0..5 in key order), dc a, a, b, b, c
    let dcs = ["a", "a", "b", "b", "c"];
    let points: Vec<SeriesPoints> = dcs
        .iter()
        .enumerate()
        .map(|(i, dc)| {
            let host = format!("h{i}");
            pts(
                "cpu",
                &[("host", &host), ("dc", dc)],
                "u",
                &[(i as i64, 1.0)],
            )
        })
        .collect();
    store.write_series(points).unwrap();
    store.flush().unwrap();
    let a = TsmAdapter::new(store);
    let req = ScanRequest::new("cpu", "u");
    let part = |index, by| Partition {
        index,
        count: 2,
        by,
    };
    // by series: id * 2 / 5 = 0 for ids 0..3, 1 for 3..5; the registry
    // is the whole scan's
    assert_eq!(
        partition_ids(&a, &req, &part(0, PartitionBy::Series)).await,
        (5, vec![0, 1, 2])
    );
    assert_eq!(
        partition_ids(&a, &req, &part(1, PartitionBy::Series)).await,
        (5, vec![3, 4])
    );
    // by group of dc: groups a = 0, b = 1, c = 2 -> partition 0 has a and c
    let by_dc = PartitionBy::Group(GroupBy::Tags(vec!["dc".into()]));
    assert_eq!(
        partition_ids(&a, &req, &part(0, by_dc.clone())).await,
        (5, vec![0, 1, 4])
    );
    let mut ordered = req.clone();
    ordered.group_order = Some(GroupBy::Tags(vec!["dc".into()]));
    assert_eq!(
        partition_ids(&a, &ordered, &part(1, by_dc)).await,
        (5, vec![2, 3])
    );
}
