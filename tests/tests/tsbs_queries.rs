//! The TSBS query set of the benchmarks, on a small demo dataset: tsq's
//! pipelined engine, its materialized executor and DataFusion (SQL over a
//! `MemTable` of the same rows) must return the same rows for every query
//! before any of their timings mean anything. Row counts are worked out from
//! the dataset's shape. The random instances of `tsq bench --suite
//! tsbs-store` run on a TSM store written as `tsq demo` writes it, against
//! DataFusion and naive references.

use std::sync::Arc;

use tsq_benches::demo::{DemoConfig, DemoGenerator, DEFAULT_START};
use tsq_benches::df::DataFusionEngine;
use tsq_benches::tsbs::compare::{canonical, check_same, Row};
use tsq_benches::tsbs::dataset::TsbsData;
use tsq_benches::tsbs::engines::{QueryEngine, TsqEngine};
use tsq_benches::tsbs::queries::{queries, TsbsQuery};
use tsq_benches::tsbs::random::{generate, QueryType, QUERY_TYPES};
use tsq_benches::tsbs::store::{query_space, run as run_store, StoreRunOptions};
use tsq_benches::tsbs::{check_query, engines};
use tsq_engine::StorageAdapter;
use tsq_planner::Executor;
use tsq_storage::tsm::{Store, StoreOptions, TsmAdapter};

fn data() -> TsbsData {
    TsbsData::generate(DemoConfig {
        hosts: 10,
        hours: 3,
        seed: 42,
        start: DEFAULT_START,
    })
}

#[test]
fn every_engine_answers_every_tsbs_query_alike() {
    let data = data();
    let mut all: Vec<Box<dyn QueryEngine>> = engines(&data).unwrap();
    // the feature is on in this crate: tsq pipelined, tsq materialized,
    // DataFusion on one thread (and each on every core when there are several)
    assert!(all.len() >= 3);
    // whatever the machine: pipelines on 3 threads, DataFusion on 3 partitions
    let adapter: Arc<dyn StorageAdapter> = Arc::new(data.memory_adapter());
    all.push(Box::new(TsqEngine::new(adapter, Executor::Pipelined, 3)));
    all.push(Box::new(DataFusionEngine::new(&data, 3).unwrap()));
    let mut counts = Vec::new();
    for q in queries(&data.config) {
        let rows = check_query(&q, &all).unwrap_or_else(|e| panic!("{}: {e}", q.name));
        counts.push((q.name, rows));
    }
    // all fifteen TSBS cpu-only queries ran
    assert_eq!(counts.len(), 15);
    let count = |name: &str| counts.iter().find(|c| c.0 == name).unwrap().1;
    // one hour at 1 minute: 60 buckets
    assert_eq!(count("single-groupby-1-1-1"), 60);
    assert_eq!(count("single-groupby-1-8-1"), 60);
    assert_eq!(count("single-groupby-5-1-1"), 60);
    assert_eq!(count("single-groupby-5-8-1"), 60);
    // 12 hours clamped to the data's 3: 180 minutes
    assert_eq!(count("single-groupby-1-1-12"), 180);
    assert_eq!(count("single-groupby-5-1-12"), 180);
    // 3 hours (the data's whole span, less than 12 h) × 10 hosts
    assert_eq!(count("double-groupby-1"), 30);
    assert_eq!(count("double-groupby-5"), 30);
    assert_eq!(count("double-groupby-all"), 30);
    // 3 hours (less than 8) at 1 hour
    assert_eq!(count("cpu-max-all-1"), 3);
    assert_eq!(count("cpu-max-all-8"), 3);
    // one row per host
    assert_eq!(count("lastpoint"), 10);
    assert_eq!(count("groupby-orderby-limit"), 5);
}

#[test]
fn high_cpu_keeps_only_rows_above_90() {
    let data = data();
    let all = engines(&data).unwrap();
    let find = |name: &str| {
        queries(&data.config)
            .into_iter()
            .find(|q| q.name == name)
            .unwrap()
    };
    // the rows of host_0 with usage_user > 90, counted straight from the data
    let expected = (0..data.rows())
        .filter(|&i| data.hosts[i] == 0 && data.values[0][i] > 90.0)
        .count();
    assert_eq!(check_query(&find("high-cpu-1"), &all).unwrap(), expected);
    // every host's rows with usage_user > 90
    let expected_all = (0..data.rows())
        .filter(|&i| data.values[0][i] > 90.0)
        .count();
    assert!(expected_all > expected);
    assert_eq!(
        check_query(&find("high-cpu-all"), &all).unwrap(),
        expected_all
    );
}

/// The TSM store `tsq demo` writes for `data`: the same typed batches
/// (`DemoGenerator::fill_series` → `Store::write_series`), then compacted
/// into TSM files as `tsq demo` does at the end.
fn demo_store(data: &TsbsData, dir: &std::path::Path) -> Arc<Store> {
    let (store, _) = Store::open(dir, StoreOptions::default()).unwrap();
    let mut generator = DemoGenerator::new(data.config);
    loop {
        let batch = generator.fill_series(7_000);
        if batch.is_empty() {
            break;
        }
        assert!(store.write_series(batch).unwrap().rejected.is_empty());
    }
    store.compact_full().unwrap();
    Arc::new(store)
}

/// The rows of `query` on `engine`, without the rows whose values are all
/// null: `FILL(null)` (TSBS's InfluxQL default) stamps a bucket the window
/// touches between two readings, where SQL's GROUP BY has no row.
fn rows_with_values(engine: &dyn QueryEngine, query: &TsbsQuery) -> Vec<Row> {
    let rows = canonical(&engine.run(query).unwrap().0).unwrap();
    rows.into_iter()
        .filter(|(_, values)| values.iter().any(Option::is_some))
        .collect()
}

/// Naive `single-groupby-1-H-1` from the generated rows: max of
/// `usage_user` over the query's hosts per minute bucket the window
/// touches (null for a bucket with no reading), ascending.
fn naive_single_groupby(data: &TsbsData, query: &TsbsQuery) -> Vec<(i64, Option<f64>)> {
    const MINUTE: i64 = 60_000_000_000;
    let (from, to) = query.window;
    let first = from.div_euclid(MINUTE);
    let last = (to - 1).div_euclid(MINUTE);
    let mut out: Vec<(i64, Option<f64>)> = (first..=last).map(|m| (m * MINUTE, None)).collect();
    for i in 0..data.rows() {
        let (t, host) = (data.times[i], format!("host_{}", data.hosts[i]));
        if t >= from && t < to && query.hosts.contains(&host) {
            let slot = &mut out[(t.div_euclid(MINUTE) - first) as usize].1;
            let v = data.values[0][i];
            *slot = Some(slot.map_or(v, |m: f64| m.max(v)));
        }
    }
    out
}

#[test]
fn random_instances_on_a_tsm_store_match_datafusion_and_naive_references() {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    let adapter: Arc<dyn StorageAdapter> = Arc::new(TsmAdapter::new(demo_store(&data, dir.path())));
    // the span and hosts come from the store's index: 3 h from the start,
    // one second past the last row (10 s before the end)
    let space = query_space(adapter.as_ref()).unwrap();
    assert_eq!(space.start, DEFAULT_START);
    assert_eq!(space.end, data.config.end() - 9_000_000_000);
    let hosts: Vec<String> = (0..10).map(|h| format!("host_{h}")).collect();
    assert_eq!(space.hosts, hosts);

    let types: Vec<QueryType> = QUERY_TYPES.iter().map(|(_, t)| *t).collect();
    let generated = generate(&space, &types, 3, 11);
    // same seed, same texts
    assert_eq!(generated, generate(&space, &types, 3, 11));
    let tsm = TsqEngine::new(Arc::clone(&adapter), Executor::Pipelined, 2);
    let df = DataFusionEngine::new(&data, 1).unwrap();
    for (t, instances) in &generated {
        for q in instances {
            assert!(
                q.window.0 >= space.start && q.window.1 <= space.end,
                "{}",
                q.tsq
            );
            assert!(q.hosts.iter().all(|h| hosts.contains(h)), "{}", q.tsq);
            let ours = rows_with_values(&tsm, q);
            let theirs = canonical(&df.run(q).unwrap().0).unwrap();
            check_same(t.name(), &ours, &theirs).unwrap_or_else(|e| panic!("{}: {e}", q.tsq));
        }
    }

    let of = |name: &str| &generated.iter().find(|(t, _)| t.name() == name).unwrap().1;
    // single-groupby-1-8-1 against the naive per-minute max, null buckets included
    for q in of("single-groupby-1-8-1") {
        assert_eq!(q.hosts.len(), 8);
        let got = canonical(&tsm.run(q).unwrap().0).unwrap();
        let got: Vec<(i64, Option<f64>)> = got
            .into_iter()
            .map(|(key, values)| (key[0].parse().unwrap(), values[0]))
            .collect();
        assert_eq!(got, naive_single_groupby(&data, q), "{}", q.tsq);
    }
    // high-cpu-all: every row of the window with usage_user > 90
    for q in of("high-cpu-all") {
        let (from, to) = q.window;
        let expected = (0..data.rows())
            .filter(|&i| data.times[i] >= from && data.times[i] < to && data.values[0][i] > 90.0)
            .count();
        assert!(expected > 0);
        let got: usize = tsm.run(q).unwrap().0.iter().map(|b| b.num_rows()).sum();
        assert_eq!(got, expected, "{}", q.tsq);
    }
    // lastpoint: each host's last row, all ten fields
    let got = canonical(&tsm.run(&of("lastpoint")[0]).unwrap().0).unwrap();
    assert_eq!(got.len(), 10);
    for (key, values) in got {
        let h: u32 = key[1]["host_".len()..].parse().unwrap();
        let last = (0..data.rows())
            .rev()
            .find(|&i| data.hosts[i] == h)
            .unwrap();
        let want: Vec<Option<f64>> = (0..10).map(|f| Some(data.values[f][last])).collect();
        assert_eq!(values, want, "host_{h}");
    }

    // the suite's runner: fifteen rows, three instances each, none failed
    let options = StoreRunOptions {
        queries: 3,
        seed: 11,
        types,
        threads: 2,
        memory_budget: None,
    };
    let report = run_store(adapter, &space, &options);
    let names: Vec<&str> = report.iter().map(|r| r.name.as_str()).collect();
    let expected: Vec<&str> = QUERY_TYPES.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, expected);
    for r in &report {
        assert_eq!(
            (r.count, r.errors),
            (3, 0),
            "{}: {:?}",
            r.name,
            r.first_error
        );
    }
    let rows = |name: &str| report.iter().find(|r| r.name == name).unwrap().rows;
    // 10 hosts, 3 instances: lastpoint 10 rows each, five minutes each,
    // double-groupby over the whole 3 h (shorter than 12 h): 30 rows each
    assert_eq!(rows("lastpoint"), 30);
    assert_eq!(rows("groupby-orderby-limit"), 15);
    assert_eq!(rows("double-groupby-all"), 90);
    // cpu-max-all's 8 h window is the whole data too: 3 hours
    assert_eq!(rows("cpu-max-all-8"), 9);
}
