//! Differential tests of the read paths of rule `choose_read_path`
//! (`docs/semantics.md` §10): `SAMPLE BY ALL last` through `LastPointOp`
//! and `ORDER BY time DESC LIMIT n` through a tail read give exactly the
//! rows of the materialized executor, which reads every point, on seeded
//! random data in memory and in a TSM store (blocks of 1000 points, so
//! buckets span block boundaries), with several timelines per group, ties
//! on time across groups, NaN values and timelines that stop early.

mod common;

use std::sync::Arc;

use common::Lcg;
use tsq_engine::{Capabilities, SeriesInfo, StorageAdapter};
use tsq_planner::{Executor, Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;
use tsq_storage::tsm::value::Values;
use tsq_storage::tsm::wal::SeriesPoints;
use tsq_storage::tsm::{Store, StoreOptions, TsmAdapter};

const S: i64 = 1_000_000_000;

/// One timeline: `(dc, host)` and its points.
type Timeline = ((String, String), Vec<(i64, f64)>);

/// Seeded random timelines: 2 data centres × 3 hosts, 1100–1599 points
/// each at irregular steps of 1–4 s from t = 0, some values NaN; with an
/// even seed, host us-0 stops at about half of the others' span, so a tail
/// window misses it and the whole range must be read.
fn timelines(seed: u64) -> Vec<Timeline> {
    let mut rng = Lcg(seed);
    let mut out = Vec::new();
    for dc in ["eu", "us"] {
        for h in 0..3 {
            let n = 1100 + rng.next(500) as usize;
            let stops_early = seed.is_multiple_of(2) && dc == "us" && h == 0;
            let n = if stops_early { n / 2 } else { n };
            let mut t = 0;
            let mut pts = Vec::with_capacity(n);
            for _ in 0..n {
                t += (1 + rng.next(4) as i64) * S;
                let v = if rng.next(20) == 0 {
                    f64::NAN
                } else {
                    rng.next(1000) as f64 / 10.0
                };
                pts.push((t, v));
            }
            out.push(((dc.to_string(), format!("{dc}-{h}")), pts));
        }
    }
    out
}

fn memory(data: &[Timeline], caps: Capabilities) -> Arc<dyn StorageAdapter> {
    let m = MemoryAdapter::new().with_capabilities(caps);
    for ((dc, host), pts) in data {
        m.insert("cpu", &[("dc", dc), ("host", host)], "usage", pts);
    }
    Arc::new(m)
}

fn tsm(data: &[Timeline], name: &str) -> Arc<dyn StorageAdapter> {
    let dir = std::env::temp_dir().join(format!("tsq-tail-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    let series = data
        .iter()
        .map(|((dc, host), pts)| SeriesPoints {
            series: SeriesInfo::new("cpu", &[("dc", dc), ("host", host)], "usage"),
            times: pts.iter().map(|p| p.0).collect(),
            values: Values::Float(pts.iter().map(|p| p.1).collect()),
        })
        .collect();
    store.write_series(series).unwrap();
    store.flush().unwrap();
    Arc::new(TsmAdapter::new(Arc::new(store)))
}

/// The rows of `q` on `adapter` with the operators, and by the
/// materialized executor (which reads every point); asserts they are equal.
async fn same_rows(adapter: &Arc<dyn StorageAdapter>, q: &str) -> Vec<String> {
    let run = |executor| {
        let s = Session::new(
            Arc::clone(adapter),
            SessionConfig::new()
                .with_executor(executor)
                .with_batch_size(7),
        );
        async move { common::rows(&s.execute(q).await.unwrap()) }
    };
    let piped = run(Executor::Pipelined).await;
    let materialized = run(Executor::Materialized).await;
    assert_eq!(piped, materialized, "{q}");
    piped
}

/// The EXPLAIN text of `q` on `adapter`.
/// The EXPLAIN ANALYZE text of `q`: the pipelines as they ran (a plain
/// EXPLAIN reads nothing, so it does not show the tail window).
async fn explain(adapter: &Arc<dyn StorageAdapter>, q: &str) -> String {
    let s = Session::new(Arc::clone(adapter), SessionConfig::new());
    common::explain_text(&s.execute(&format!("EXPLAIN ANALYZE {q}")).await.unwrap()).to_string()
}

#[tokio::test]
async fn last_point_reads_match_a_full_read() {
    let no_last_point = Capabilities {
        last_point: false,
        ..Capabilities::ALL
    };
    for seed in 1..=2 {
        let data = timelines(seed);
        let adapters = [
            memory(&data, Capabilities::ALL),
            memory(&data, no_last_point),
            tsm(&data, &format!("last-{seed}")),
        ];
        let end = (1000 + seed as i64 * 500) * S;
        let queries = [
            "SELECT dc, last(usage), sum(usage) AS s FROM cpu GROUP BY dc SAMPLE BY ALL last".to_string(),
            "SELECT last(usage), p50(usage) AS m FROM cpu GROUP BY * SAMPLE BY ALL last".to_string(),
            format!("SELECT dc, last(usage) FROM cpu WHERE time >= {} GROUP BY dc SAMPLE BY ALL last", 900 * S),
            format!("SELECT max(usage) FROM cpu WHERE time < {end} AND host != 'us-1' SAMPLE BY ALL last"),
        ];
        for q in &queries {
            let want = same_rows(&adapters[1], q).await;
            assert!(!want.is_empty(), "{q}");
            for a in [&adapters[0], &adapters[2]] {
                assert_eq!(same_rows(a, q).await, want, "seed {seed}: {q}");
                // a newest-point read: per column, or one operator for all
                let text = explain(a, q).await;
                assert!(
                    text.contains("LastPointOp:") || text.contains("LastPointsOp: adapter="),
                    "{q}"
                );
            }
            let text = explain(&adapters[1], q).await;
            assert!(!text.contains("LastPointOp:") && !text.contains("LastPointsOp: adapter="));
        }
    }
}

#[tokio::test]
async fn tail_reads_match_a_full_read() {
    let mut tail_used = 0;
    let mut fell_back = 0;
    for seed in 1..=2 {
        let data = timelines(seed);
        let adapters = [
            memory(&data, Capabilities::ALL),
            tsm(&data, &format!("tail-{seed}")),
        ];
        for (k, limit) in [1usize, 5, 12].into_iter().enumerate() {
            let end = (1500 + 333 * (seed as i64 + k as i64)) * S;
            let queries = [
                format!("SELECT max(usage) FROM cpu WHERE time < {end} SAMPLE BY 1m max FILL(null) ORDER BY time DESC LIMIT {limit}"),
                format!("SELECT dc, avg(usage) FROM cpu GROUP BY dc SAMPLE BY 7s FILL(nan) ORDER BY time DESC LIMIT {limit}"),
                format!("SELECT host, count(usage), min(usage) AS lo FROM cpu WHERE time >= {} AND time < {end} GROUP BY host SAMPLE BY 10s last FILL(null) ORDER BY time DESC, host LIMIT {limit}", 100 * S),
            ];
            for (i, q) in queries.iter().enumerate() {
                let full = q.split(" LIMIT ").next().unwrap().to_string();
                for a in &adapters {
                    let rows = same_rows(a, q).await;
                    // the first `limit` rows of the unlimited query
                    let all = same_rows(a, &full).await;
                    assert_eq!(rows, all[..limit.min(all.len())], "seed {seed}: {q}");
                    let text = explain(a, q).await;
                    assert!(text.contains("choose_read_path"), "{text}");
                    // a tail read scans `limit` buckets; a fallback the
                    // range, resolved from the data when unbounded
                    let interval = [60 * S, 7 * S][i.min(1)];
                    if i < 2 && scanned_width(&text) > limit as i64 * interval {
                        fell_back += 1;
                    } else if i < 2 {
                        tail_used += 1;
                    }
                }
            }
        }
    }
    // both the window and the fallback (a timeline stops early) were taken
    assert!(tail_used > 0 && fell_back > 0, "{tail_used} {fell_back}");
}

/// The width of the range the `ScanOp` of an EXPLAIN ANALYZE text read
/// (`range=[a, b)`; `i64::MAX` when unbounded).
fn scanned_width(text: &str) -> i64 {
    let range = text
        .lines()
        .find(|l| l.contains("ScanOp:"))
        .and_then(|l| l.split("range=[").nth(1))
        .and_then(|r| r.split(')').next())
        .unwrap_or("");
    let mut ends = range.split(", ").map(|v| v.parse::<i64>().ok());
    match (ends.next().flatten(), ends.next().flatten()) {
        (Some(a), Some(b)) => b - a,
        _ => i64::MAX,
    }
}
