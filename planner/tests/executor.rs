//! `SessionConfig::executor`: the materialized executor runs the same plan
//! and gives the same rows as the operator pipelines (the benchmarks rely on
//! it), values worked out by hand on the shared data set.

mod common;

use common::{adapter, rows};
use tsq_engine::Capabilities;
use tsq_planner::{Executor, Session, SessionConfig};

fn session(executor: Executor) -> Session {
    Session::new(
        adapter(Capabilities::ALL),
        SessionConfig::new().with_executor(executor),
    )
}

async fn both(q: &str) -> (Vec<String>, Vec<String>) {
    let p = rows(&session(Executor::Pipelined).execute(q).await.unwrap());
    let m = rows(&session(Executor::Materialized).execute(q).await.unwrap());
    (p, m)
}

#[tokio::test]
async fn materialized_sums_buckets_like_the_pipeline() {
    // usage per 20ns bucket, zero-filled, summed by dc:
    // eu: [0,20): a avg(1,2)=1.5 + b avg(10)=10 = 11.5; [20,40): a 3 + b 30 = 33
    // us: c has one point at 10: bucket 0 = 100; without a time bound the
    // fill spans the data's range [0, 20], so bucket 20 is filled: 0
    let q = "SELECT sum(usage) FROM cpu GROUP BY dc SAMPLE BY 20ns FILL(zero)";
    let (p, m) = both(q).await;
    let expected = ["0|eu|11.5", "20|eu|33", "0|us|100", "20|us|0"];
    assert_eq!(p, expected);
    assert_eq!(m, expected);
}

#[tokio::test]
async fn materialized_joins_two_values_and_orders_with_limit() {
    // SAMPLE BY ALL with the default bucket aggregator avg: one value per
    // timeline (a: (1+2+3)/3 = 2, b: (10+30)/2 = 20, c: 100), then max and
    // count across the one timeline of each host: c 100|1, b 20|1, a 2|1.
    // Ordered by max desc, LIMIT 2 keeps c and b.
    let q = "SELECT max(usage) AS hi, count(usage) AS n FROM cpu GROUP BY host SAMPLE BY ALL \
             ORDER BY hi DESC LIMIT 2";
    let (p, m) = both(q).await;
    assert_eq!(p, m);
    assert_eq!(m.len(), 2);
    assert!(m[0].ends_with("|c|100|1"), "{m:?}");
    assert!(m[1].ends_with("|b|20|1"), "{m:?}");
}

#[tokio::test]
async fn materialized_streams_the_same_rows() {
    use futures::StreamExt;
    let q = "SELECT usage FROM cpu WHERE host = 'b'";
    let s = session(Executor::Materialized);
    let mut stream = s.stream(q).await.unwrap();
    let mut n = 0;
    while let Some(batch) = stream.next().await {
        n += batch.unwrap().num_rows();
    }
    // host b has two usage points
    assert_eq!(n, 2);
}

fn threaded(threads: usize, memory_budget: usize) -> Session {
    Session::new(
        adapter(Capabilities::ALL),
        SessionConfig::new()
            .with_threads(threads)
            // the data set is tiny: split it anyway
            .with_min_points_per_partition(0)
            .with_memory_budget(memory_budget),
    )
}

#[tokio::test]
async fn parallel_pipelines_give_the_rows_of_sequential_ones() {
    // three value columns = three pipelines, dealt to up to four threads
    let q = "SELECT sum(usage) AS s, max(usage) AS hi, count(bytes) AS n FROM cpu \
             GROUP BY host SAMPLE BY 20ns FILL(zero)";
    let one = rows(&threaded(1, 1 << 30).execute(q).await.unwrap());
    for threads in [2, 3, 4] {
        let many = rows(&threaded(threads, 1 << 30).execute(q).await.unwrap());
        assert_eq!(many, one, "threads = {threads}");
    }
    // host a, bucket 0: usage 1, 2 -> avg 1.5 (sum and max of one timeline);
    // bytes has one point (5, 50) -> count 1 (with the usage fill span [0, 20])
    assert_eq!(one[0], "0|a|1.5|1.5|1");
}

#[tokio::test]
async fn parallel_pipelines_report_errors_and_cancellation() {
    let q = "SELECT sum(usage), p99(usage) FROM cpu GROUP BY host SAMPLE BY 10ns FILL(zero)";
    let err = threaded(2, 16).execute(q).await.unwrap_err().to_string();
    assert!(err.contains("memory budget"), "{err}");
    let s = threaded(2, 1 << 30);
    s.cancel_token().cancel();
    let err = s.execute(q).await.unwrap_err().to_string();
    assert!(err.contains("cancel"), "{err}");
}
