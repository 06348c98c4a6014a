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
        SessionConfig {
            executor,
            ..SessionConfig::default()
        },
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
