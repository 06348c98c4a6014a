//! Queries whose size is set by `SAMPLE BY` and fills: the bucket limit
//! refuses them before they run, and under the memory budget they stop with
//! `ResourcesExhausted` instead of growing; a query that fits gives exact
//! rows.

use std::sync::Arc;

use tsq_engine::{EngineError, StorageAdapter};
use tsq_planner::{Session, SessionConfig, TsqError};
use tsq_storage::memory::MemoryAdapter;

mod common;

/// Ten years of 365 days, in ns.
const TEN_YEARS: i64 = 3650 * 86_400 * 1_000_000_000;

/// `cpu,host=a usage` with a point at the start, one in the middle and one
/// just before the end of ten years.
fn adapter() -> Arc<dyn StorageAdapter> {
    let m = MemoryAdapter::new();
    m.insert(
        "cpu",
        &[("host", "a")],
        "usage",
        &[(0, 1.0), (TEN_YEARS / 2, 5.0), (TEN_YEARS - 1, 3.0)],
    );
    m.insert("cpu", &[("host", "b")], "usage", &[(7, 2.0), (40, 4.0)]);
    Arc::new(m)
}

fn session(budget: usize, max_buckets: u64) -> Session {
    Session::new(
        adapter(),
        SessionConfig::new()
            .with_memory_budget(budget)
            .with_max_buckets(max_buckets),
    )
}

fn ten_year_query(fill: &str, tail: &str) -> String {
    format!(
        "SELECT sum(usage) AS s FROM cpu WHERE time >= 0 AND time < {TEN_YEARS} \
         SAMPLE BY 1ns sum FILL({fill}) {tail}"
    )
}

const FILLS: [&str; 4] = ["zero", "linear", "previous", "null"];

#[tokio::test]
async fn sample_by_1ns_over_ten_years_is_refused_before_it_runs() {
    let s = session(64 << 20, SessionConfig::default().max_buckets);
    for fill in FILLS {
        for tail in ["", "LIMIT 5", "ORDER BY s DESC LIMIT 3"] {
            let q = ten_year_query(fill, tail);
            let err = s.execute(&q).await.unwrap_err();
            let col = q.find("SAMPLE").unwrap() + 1;
            // 3650 days × 86,400 s × 10^9 buckets of 1 ns
            let want = format!(
                "plan error at 1:{col}: SAMPLE BY 1ns over [1970-01-01T00:00:00Z, \
                 1979-12-30T00:00:00Z) would make 315360000000000000 buckets per timeline, \
                 more than the limit of 10000000: use a wider interval or a shorter time \
                 range, or raise the limit with --max-buckets on `tsq query` and `tsq`, \
                 `\\set max_buckets N` in the REPL, or SessionConfig::max_buckets"
            );
            assert!(matches!(err, TsqError::Plan { .. }), "{err:?}");
            assert_eq!(err.to_string(), want, "{q}");
        }
    }
}

#[tokio::test]
async fn an_unbounded_range_is_resolved_from_the_data_for_the_limit() {
    // no time bound: the range is the data's span [0, TEN_YEARS)
    let s = session(64 << 20, 1_000);
    let query = "SELECT max(usage) FROM cpu SAMPLE BY 1ms FILL(zero)";
    let err = s.execute(query).await.unwrap_err().to_string();
    // 315,360,000,000 ms buckets
    assert!(
        err.starts_with("plan error at 1:28: SAMPLE BY 1ms over [1970-01-01T00:00:00Z, 1979-12-30T00:00:00Z) would make 315360000000 buckets per timeline, more than the limit of 1000"),
        "{err}"
    );
    // A plain EXPLAIN reads no data, so it does not know the span: it
    // shows the plan, with the bucket count left to the run.
    let plan = s.execute(&format!("EXPLAIN {query}")).await.unwrap();
    let tsq_planner::QueryKind::Explain(text) = plan.kind else {
        panic!("EXPLAIN gave rows");
    };
    assert!(text.contains("buckets=from data"), "{text}");
}

#[tokio::test]
async fn without_the_limit_each_fill_stops_at_the_memory_budget() {
    let budget = 16 << 20;
    let s = session(budget, u64::MAX);
    for fill in FILLS {
        for tail in ["LIMIT 5", "ORDER BY s DESC LIMIT 3"] {
            let q = ten_year_query(fill, tail);
            let err = s.execute(&q).await.unwrap_err();
            match &err {
                TsqError::Execution(EngineError::ResourcesExhausted {
                    budget: b, used, ..
                }) => {
                    assert_eq!(*b, budget);
                    assert!(*used <= budget, "{err}");
                }
                other => panic!("{q}: expected ResourcesExhausted, got {other:?}"),
            }
            assert!(err.to_string().contains("--memory-budget"), "{err}");
        }
    }
}

#[tokio::test]
async fn raw_downsample_with_a_fill_stops_at_the_budget_in_ds_agg() {
    // no aggregate across timelines: DsAggOp's fill queue is what grows
    let s = session(8 << 20, u64::MAX);
    for fill in FILLS {
        let q = format!(
            "SELECT usage FROM cpu WHERE time >= 0 AND time < {TEN_YEARS} \
             SAMPLE BY 1ns max FILL({fill}) LIMIT 5"
        );
        let err = s.execute(&q).await.unwrap_err();
        match &err {
            TsqError::Execution(EngineError::ResourcesExhausted { operator, .. }) => {
                assert_eq!(operator, "DsAggOp", "{q}");
            }
            other => panic!("{q}: expected ResourcesExhausted, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_query_that_fits_gives_exact_rows_under_a_small_budget() {
    let s = session(4 << 20, SessionConfig::default().max_buckets);
    // host a: 1 at 0; host b: 2 at 7, 4 at 40; range [0, 50) at 1ns with
    // zero fill: sum is 1 at 0, 2 at 7, 4 at 40, 0 at the other 47 buckets
    let q = "SELECT sum(usage) AS s FROM cpu WHERE time >= 0 AND time < 50 \
             SAMPLE BY 1ns sum FILL(zero) ORDER BY s DESC LIMIT 3";
    let out = s.execute(q).await.unwrap();
    assert_eq!(common::rows(&out), ["40|4", "7|2", "0|1"]);
    // LIMIT without ORDER BY keeps the first rows in time order
    let q = "SELECT sum(usage) AS s FROM cpu WHERE time >= 0 AND time < 50 \
             SAMPLE BY 1ns sum FILL(zero) LIMIT 4";
    let out = s.execute(q).await.unwrap();
    assert_eq!(common::rows(&out), ["0|1", "1|0", "2|0", "3|0"]);
    // previous fill, per host, ordered by value then host and time
    let q = "SELECT max(usage) AS m FROM cpu WHERE time >= 0 AND time < 50 GROUP BY host \
             SAMPLE BY 1ns max FILL(previous) ORDER BY m DESC LIMIT 2";
    let out = s.execute(q).await.unwrap();
    // b carries 4 from 40 to 49: the two earliest are 40 and 41
    assert_eq!(common::rows(&out), ["40|b|4", "41|b|4"]);
}

/// Hosts in [`many_hosts`].
const HOSTS: usize = 2000;

/// `cpu,host=hNNNN usage` for `HOSTS` hosts: host i has i at 0 and 2i at 10.
fn many_hosts() -> Arc<dyn StorageAdapter> {
    let m = MemoryAdapter::new();
    for i in 0..HOSTS {
        let host = format!("h{i:04}");
        m.insert(
            "cpu",
            &[("host", &host)],
            "usage",
            &[(0, i as f64), (10, 2.0 * i as f64)],
        );
    }
    Arc::new(m)
}

/// One group per host, two buckets each, every bucket filled.
const PER_HOST: &str = "SELECT sum(usage) AS s FROM cpu WHERE time >= 0 AND time < 20 \
                        GROUP BY host SAMPLE BY 10ns sum FILL(zero)";

/// The rows of [`PER_HOST`]: per host (in key order), i at 0 and 2i at 10.
fn per_host_rows() -> Vec<String> {
    (0..HOSTS)
        .flat_map(|i| [format!("0|h{i:04}|{i}"), format!("10|h{i:04}|{}", 2 * i)])
        .collect()
}

fn many_hosts_session(budget: usize, config: SessionConfig) -> Session {
    Session::new(many_hosts(), config.with_memory_budget(budget))
}

/// The operator named by a `ResourcesExhausted` error, and its hint.
fn exhausted(err: &TsqError) -> (&str, &str) {
    match err {
        TsqError::Execution(EngineError::ResourcesExhausted { operator, hint, .. }) => {
            (operator, hint)
        }
        other => panic!("expected ResourcesExhausted, got {other:?}"),
    }
}

#[tokio::test]
async fn many_groups_stop_at_the_budget_in_each_aggregation_operator() {
    use tsq_engine::spec::AggStrategy;
    use tsq_engine::DEFAULT_BATCH_SIZE;
    // 2000 groups: the group table alone is about 2000 × 130 bytes, far
    // more than 224 KiB, while the downsampling before it holds about
    // 160 KB (one input batch's open buckets and queued fill rows)
    let budget = 224 << 10;
    // one thread: one pipeline; two: each partition builds the table. Two
    // partitions downsample at the same time, so they read batches of 1024
    // rows (about 40 KB of downsampling each): the group table, not the
    // two downsamplings together, is what exceeds the budget, whichever
    // partition runs first.
    let cases = [
        (None, 1, "PipeAggOp"),
        (Some(AggStrategy::Pipe), 1, "PipeAggOp"),
        (Some(AggStrategy::Grouped), 1, "GroupedAggOp"),
        (Some(AggStrategy::MT), 1, "MTAggOp"),
        (Some(AggStrategy::Pipe), 2, "PipeAggOp"),
        (Some(AggStrategy::Grouped), 2, "GroupedAggOp"),
    ];
    for (strategy, threads, name) in cases {
        let batch_size = if threads > 1 {
            1024
        } else {
            DEFAULT_BATCH_SIZE
        };
        let config = SessionConfig::new()
            .with_threads(threads)
            .with_min_points_per_partition(0)
            .with_batch_size(batch_size)
            .with_force_strategy(strategy);
        let s = many_hosts_session(budget, config);
        let err = s.execute(PER_HOST).await.unwrap_err();
        let (operator, hint) = exhausted(&err);
        assert_eq!(operator, name, "{strategy:?}: {err}");
        if name != "MTAggOp" {
            // the group table is the first state these operators build
            assert!(hint.contains("a table of every group and series"), "{err}");
        }
        // a sufficient budget gives the exact rows
        let config = SessionConfig::new()
            .with_threads(threads)
            .with_min_points_per_partition(0)
            .with_force_strategy(strategy);
        let s = many_hosts_session(64 << 20, config);
        let out = s.execute(PER_HOST).await.unwrap();
        assert_eq!(common::rows(&out), per_host_rows(), "{strategy:?}");
    }
}

#[tokio::test]
async fn the_materialized_executor_stops_at_the_budget_naming_its_step() {
    use tsq_planner::Executor;
    let materialized = || SessionConfig::new().with_executor(Executor::Materialized);
    // reading 2000 timelines (about 88 bytes each) and 4000 points (24
    // bytes each) needs more than 224 KiB
    let s = many_hosts_session(224 << 10, materialized());
    let err = s.execute(PER_HOST).await.unwrap_err();
    assert_eq!(exhausted(&err).0, "materialized read", "{err}");
    let s = many_hosts_session(64 << 20, materialized());
    let out = s.execute(PER_HOST).await.unwrap();
    assert_eq!(common::rows(&out), per_host_rows());
    // five points read, then a fill over ten years at 1ns: the downsample
    let s = Session::new(
        adapter(),
        materialized()
            .with_memory_budget(16 << 20)
            .with_max_buckets(u64::MAX),
    );
    for fill in FILLS {
        let q = ten_year_query(fill, "LIMIT 5");
        let err = s.execute(&q).await.unwrap_err();
        assert_eq!(exhausted(&err).0, "materialized downsample", "{q}: {err}");
    }
    // the same query over [0, 50) fits: sum is 1 at 0, 2 at 7, 4 at 40
    let s = Session::new(adapter(), materialized().with_memory_budget(1 << 20));
    let q = "SELECT sum(usage) AS s FROM cpu WHERE time >= 0 AND time < 50 \
             SAMPLE BY 1ns sum FILL(zero) ORDER BY s DESC LIMIT 3";
    let out = s.execute(q).await.unwrap();
    assert_eq!(common::rows(&out), ["40|4", "7|2", "0|1"]);
}
