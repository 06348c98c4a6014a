//! The point threshold of partitioned execution (`docs/architecture.md`,
//! "Partitions and partial aggregates"): on two threads an aggregation
//! whose selection has fewer than `2 × MIN_POINTS_PER_PARTITION` points
//! runs as one pipeline, a larger one as two partitions; plain `EXPLAIN`
//! shows the tree that runs, and the rows are those of one thread and of a
//! naive sum worked out here.

mod common;

use std::sync::Arc;

use tsq_engine::partition::MIN_POINTS_PER_PARTITION;
use tsq_planner::{Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;

const S: i64 = 1_000_000_000;
const HOUR: i64 = 3600 * S;

/// Points per host of the large data set: four hosts hold 2.4 × the
/// threshold of two partitions.
const LARGE: i64 = 60_000;

/// The value of point `i` of host `h`: small integers, so that every sum
/// is exact whatever the order of the additions.
fn value(h: usize, i: i64) -> f64 {
    (i % 10) as f64 + 100.0 * h as f64
}

/// Four hosts (`a`..`d`) with `points` points each, one a second from 0.
fn session(points: i64, threads: usize) -> Session {
    let m = MemoryAdapter::new();
    for (h, host) in ["a", "b", "c", "d"].into_iter().enumerate() {
        let pts: Vec<(i64, f64)> = (0..points).map(|i| (i * S, value(h, i))).collect();
        m.insert("cpu", &[("host", host)], "usage", &pts);
    }
    Session::new(Arc::new(m), SessionConfig::new().with_threads(threads))
}

/// `time|host|sum` of hourly sums per host, summed naively.
fn naive_hourly_sums(points: i64, hosts: &[usize]) -> Vec<String> {
    let names = ["a", "b", "c", "d"];
    let mut rows = Vec::new();
    for &h in hosts {
        let buckets = (points * S + HOUR - 1) / HOUR;
        for b in 0..buckets {
            let sum: f64 = (0..points)
                .filter(|i| i * S / HOUR == b)
                .map(|i| value(h, i))
                .sum();
            rows.push(format!("{}|{}|{sum}", b * HOUR, names[h]));
        }
    }
    rows
}

/// `time|sum` of hourly sums over every host, summed naively.
fn naive_hourly_total(points: i64) -> Vec<String> {
    let buckets = (points * S + HOUR - 1) / HOUR;
    (0..buckets)
        .map(|b| {
            let sum: f64 = (0..4)
                .flat_map(|h| {
                    (0..points)
                        .filter(move |i| i * S / HOUR == b)
                        .map(move |i| value(h, i))
                })
                .sum();
            format!("{}|{sum}", b * HOUR)
        })
        .collect()
}

async fn explain(s: &Session, q: &str) -> (String, String) {
    let plain = s.execute(&format!("EXPLAIN {q}")).await.unwrap();
    let analyze = s.execute(&format!("EXPLAIN ANALYZE {q}")).await.unwrap();
    (
        common::explain_text(&plain).to_string(),
        common::explain_text(&analyze).to_string(),
    )
}

const PER_HOST: &str = "SELECT sum(usage) FROM cpu GROUP BY host SAMPLE BY 1h sum FILL(zero)";
const TOTAL: &str = "SELECT sum(usage) FROM cpu SAMPLE BY 1h sum FILL(zero)";

#[tokio::test]
async fn a_small_query_on_two_threads_runs_unpartitioned() {
    // 4 × 50 = 200 points: far under the threshold
    let two = session(50, 2);
    for q in [PER_HOST, TOTAL] {
        let (plain, analyze) = explain(&two, q).await;
        for text in [&plain, &analyze] {
            assert!(!text.contains("partition"), "{q}:\n{text}");
            assert!(text.contains("PipeAggOp"), "{q}:\n{text}");
        }
    }
    let one = session(50, 1);
    let rows = common::rows(&two.execute(PER_HOST).await.unwrap());
    assert_eq!(rows, common::rows(&one.execute(PER_HOST).await.unwrap()));
    assert_eq!(rows, naive_hourly_sums(50, &[0, 1, 2, 3]));
    let rows = common::rows(&two.execute(TOTAL).await.unwrap());
    assert_eq!(rows, naive_hourly_total(50));
}

#[tokio::test]
async fn a_large_query_on_two_threads_runs_in_two_partitions() {
    assert!(4 * LARGE as u64 >= 2 * MIN_POINTS_PER_PARTITION);
    let two = session(LARGE, 2);
    let (plain, analyze) = explain(&two, PER_HOST).await;
    for text in [&plain, &analyze] {
        assert!(
            text.contains("GroupMergeOp: partitions=2 by whole groups"),
            "{text}"
        );
        assert!(text.contains("partition=2/2"), "{text}");
    }
    let (plain, analyze) = explain(&two, TOTAL).await;
    for text in [&plain, &analyze] {
        assert!(text.contains("FinalAggOp"), "{text}");
        assert!(text.contains("partition=2/2 by series"), "{text}");
    }
    let one = session(LARGE, 1);
    let rows = common::rows(&two.execute(PER_HOST).await.unwrap());
    assert_eq!(rows, common::rows(&one.execute(PER_HOST).await.unwrap()));
    assert_eq!(rows, naive_hourly_sums(LARGE, &[0, 1, 2, 3]));
    let rows = common::rows(&two.execute(TOTAL).await.unwrap());
    assert_eq!(rows, common::rows(&one.execute(TOTAL).await.unwrap()));
    assert_eq!(rows, naive_hourly_total(LARGE));
}

#[tokio::test]
async fn the_threshold_counts_the_selection_not_the_measurement() {
    // one host of the large set: 60,000 points, under two partitions' worth
    let two = session(LARGE, 2);
    let q = "SELECT sum(usage) FROM cpu WHERE host = 'b' GROUP BY host SAMPLE BY 1h sum FILL(zero)";
    let (plain, analyze) = explain(&two, q).await;
    for text in [&plain, &analyze] {
        assert!(!text.contains("partition"), "{text}");
    }
    let rows = common::rows(&two.execute(q).await.unwrap());
    assert_eq!(rows, naive_hourly_sums(LARGE, &[1]));
    // and a threshold of 0 splits it anyway, with the same rows
    let m = MemoryAdapter::new();
    let pts: Vec<(i64, f64)> = (0..LARGE).map(|i| (i * S, value(1, i))).collect();
    m.insert("cpu", &[("host", "b")], "usage", &pts);
    let config = SessionConfig::new()
        .with_threads(2)
        .with_min_points_per_partition(0);
    let forced = Session::new(Arc::new(m), config);
    let (plain, _) = explain(&forced, q).await;
    assert!(plain.contains("partitions=2"), "{plain}");
    assert_eq!(common::rows(&forced.execute(q).await.unwrap()), rows);
}
