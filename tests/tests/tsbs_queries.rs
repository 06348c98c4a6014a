//! The TSBS query set of the benchmarks, on a small demo dataset: tsq's
//! pipelined engine, its materialized executor and DataFusion (SQL over a
//! `MemTable` of the same rows) must return the same rows for every query
//! before any of their timings mean anything. Row counts are worked out from
//! the dataset's shape.

use std::sync::Arc;

use tsq_benches::demo::{DemoConfig, DEFAULT_START};
use tsq_benches::df::DataFusionEngine;
use tsq_benches::tsbs::dataset::TsbsData;
use tsq_benches::tsbs::engines::{QueryEngine, TsqEngine};
use tsq_benches::tsbs::queries::queries;
use tsq_benches::tsbs::{check_query, engines};
use tsq_engine::StorageAdapter;
use tsq_planner::Executor;

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
