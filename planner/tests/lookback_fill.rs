//! `FILL(previous)` / `FILL(linear)` seeded from the newest point before
//! the range, and the maximum gap they bridge: the worked example of
//! `docs/semantics.md` §5 ("Lookback and maximum gap"), on both executors
//! and every batch size.

mod common;

use std::sync::Arc;

use tsq_planner::{Executor, Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;

const S: i64 = 1_000_000_000;

/// The data of the example (times in seconds):
///
/// ```text
/// host a: (0, 1) (10, 2) (20, 3)
/// host b: (0, 10) (20, 30)
/// host c: (10, 100)
/// host d: (12, 5) (27, 8)
/// ```
fn adapter() -> Arc<MemoryAdapter> {
    let m = MemoryAdapter::new();
    let pts = |p: &[(i64, f64)]| p.iter().map(|&(t, v)| (t * S, v)).collect::<Vec<_>>();
    m.insert(
        "cpu",
        &[("host", "a")],
        "usage",
        &pts(&[(0, 1.0), (10, 2.0), (20, 3.0)]),
    );
    m.insert(
        "cpu",
        &[("host", "b")],
        "usage",
        &pts(&[(0, 10.0), (20, 30.0)]),
    );
    m.insert("cpu", &[("host", "c")], "usage", &pts(&[(10, 100.0)]));
    m.insert(
        "cpu",
        &[("host", "d")],
        "usage",
        &pts(&[(12, 5.0), (27, 8.0)]),
    );
    Arc::new(m)
}

/// The rows of `SAMPLE BY 5s` over [12 s, 30 s) with `fill`, per host, as
/// `seconds|host|value`, checked to be the same on both executors and at
/// batch sizes 1, 3 and 4096.
async fn filled(fill: &str) -> Vec<String> {
    let q = format!(
        "SELECT host, sum(usage) FROM cpu WHERE time >= {} AND time < {} \
         GROUP BY host SAMPLE BY 5s FILL({fill})",
        12 * S,
        30 * S
    );
    let mut seen: Option<Vec<String>> = None;
    for executor in [Executor::Pipelined, Executor::Materialized] {
        for batch in [1, 3, 4096] {
            let config = SessionConfig::new()
                .with_executor(executor)
                .with_batch_size(batch);
            let out = Session::new(adapter(), config).execute(&q).await.unwrap();
            let rows: Vec<String> = common::rows(&out)
                .into_iter()
                .map(|r| {
                    let (t, rest) = r.split_once('|').unwrap();
                    format!("{}|{rest}", t.parse::<i64>().unwrap() / S)
                })
                .collect();
            match &seen {
                Some(first) => assert_eq!(&rows, first, "{fill} {executor:?} batch {batch}"),
                None => seen = Some(rows),
            }
        }
    }
    seen.unwrap()
}

#[tokio::test]
async fn previous_is_seeded_from_the_point_before_the_range() {
    // a: seed (10, 2) lies in the range's first bucket [10, 15): it fills
    // 10 and 15; b: seed (0, 10) fills 10 and 15; c has no point in the
    // range: no row; d has no seed: nothing before its first bucket.
    assert_eq!(
        filled("previous").await,
        [
            "10|a|2", "15|a|2", "20|a|3", "25|a|3", //
            "10|b|10", "15|b|10", "20|b|30", "25|b|30", //
            "10|d|5", "15|d|5", "20|d|5", "25|d|8",
        ]
    );
}

#[tokio::test]
async fn previous_with_a_maximum_gap() {
    // a: 10 (seed's bucket) .. 20 is 10 s: bridged; b: 0 .. 20 is 20 s: not;
    // d: 10 .. 25 is 15 s: not. Trailing 25 is 5 s after 20: carried.
    assert_eq!(
        filled("previous, 10s").await,
        [
            "10|a|2", "15|a|2", "20|a|3", "25|a|3", //
            "20|b|30", "25|b|30", //
            "10|d|5", "25|d|8",
        ]
    );
}

#[tokio::test]
async fn linear_is_seeded_from_the_point_before_the_range() {
    // a: from (10, 2) to (20, 3): 15 → 2 + 1 × 5/10 = 2.5, and 10 → 2;
    // b: from (0, 10) to (20, 30): 10 → 10 + 20 × 10/20 = 20, 15 → 25;
    // d: from (10, 5) to (25, 8): 15 → 5 + 3 × 5/15 = 6, 20 → 7.
    // Linear never fills after the last non-empty bucket.
    assert_eq!(
        filled("linear").await,
        [
            "10|a|2", "15|a|2.5", "20|a|3", //
            "10|b|20", "15|b|25", "20|b|30", //
            "10|d|5", "15|d|6", "20|d|7", "25|d|8",
        ]
    );
}

#[tokio::test]
async fn linear_with_a_maximum_gap() {
    assert_eq!(
        filled("linear, 10s").await,
        [
            "10|a|2", "15|a|2.5", "20|a|3",  //
            "20|b|30", //
            "10|d|5", "25|d|8",
        ]
    );
}

#[tokio::test]
async fn a_maximum_gap_needs_previous_or_linear_and_a_duration() {
    let s = Session::new(adapter(), SessionConfig::new());
    let e = s
        .execute("SELECT sum(usage) FROM cpu SAMPLE BY 5s FILL(zero, 5m)")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("FILL(zero) takes no maximum gap"), "{e}");
    let e = s
        .execute("SELECT sum(usage) FROM cpu SAMPLE BY 5s FILL(linear, 5x)")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad maximum gap '5x'"), "{e}");
}
