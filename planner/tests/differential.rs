//! Differential test: on seeded random data, every query gives the same rows
//! (up to float rounding) through every aggregation operator that can run
//! it, with and without adapter capabilities.

mod common;

use std::sync::Arc;

use common::{rows, Lcg};
use tsq_engine::spec::AggStrategy;
use tsq_engine::{Capabilities, StorageAdapter};
use tsq_planner::{Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;

fn random_adapter(seed: u64, caps: Capabilities) -> Arc<dyn StorageAdapter> {
    let mut rng = Lcg(seed);
    let m = MemoryAdapter::new().with_capabilities(caps);
    for h in 0..6 {
        let host = format!("h{h}");
        let dc = format!("d{}", h % 2);
        let mut points = Vec::new();
        let mut t = rng.next(5) as i64;
        while t < 200 {
            points.push((t, rng.next(100) as f64 - 20.0));
            t += 1 + rng.next(7) as i64;
        }
        m.insert("m", &[("host", &host), ("dc", &dc)], "v", &points);
    }
    Arc::new(m)
}

fn same(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.split('|').zip(y.split('|')).all(|(p, q)| {
                p == q
                    || match (p.parse::<f64>(), q.parse::<f64>()) {
                        (Ok(u), Ok(v)) => (u - v).abs() <= 1e-9 * u.abs().max(v.abs()).max(1.0),
                        _ => false,
                    }
            })
        })
}

const QUERIES: &[(&str, bool)] = &[
    // (query, PipeAggOp can run it)
    ("SELECT sum(v) FROM m", false),
    ("SELECT avg(v), count(v) FROM m GROUP BY dc", false),
    ("SELECT min(v), max(v), zimsum(v) FROM m GROUP BY host", false),
    ("SELECT mimmin(v), mimmax(v), pfsum(v) FROM m GROUP BY dc", false),
    ("SELECT sum(v), dev(v) FROM m GROUP BY dc SAMPLE BY 10ns", false),
    ("SELECT sum(v), max(v) FROM m GROUP BY dc SAMPLE BY 10ns FILL(zero)", true),
    ("SELECT avg(v), first(v), last(v) FROM m SAMPLE BY 7ns max FILL(previous)", true),
    ("SELECT sum(v) FROM m WHERE time >= 13 AND time < 150 GROUP BY dc SAMPLE BY 20ns FILL(linear)", true),
    ("SELECT count(v) FROM m WHERE host IN ('h1', 'h2', 'h5') SAMPLE BY ALL", true),
    ("SELECT sum(rate(v)) FROM m GROUP BY dc SAMPLE BY 10ns FILL(nan)", true),
    ("SELECT p90(v) FROM m GROUP BY dc SAMPLE BY 10ns FILL(zero)", false),
    ("SELECT sum(rate(v, counter => true, drop_resets => true)) FROM m SAMPLE BY 10ns FILL(zero)", false),
];

#[tokio::test]
async fn every_path_gives_the_same_rows() {
    for seed in 1..=8u64 {
        for &(q, pipe_ok) in QUERIES {
            let mut strategies = vec![AggStrategy::Grouped, AggStrategy::MT];
            if pipe_ok {
                strategies.push(AggStrategy::Pipe);
            }
            let reference = {
                let s = Session::new(
                    random_adapter(seed, Capabilities::NONE),
                    SessionConfig::default(),
                );
                rows(&s.execute(q).await.unwrap())
            };
            assert!(!reference.is_empty(), "seed {seed}: {q} returned nothing");
            for s in strategies {
                let config = SessionConfig::new()
                    .with_force_strategy(Some(s))
                    .with_batch_size(1 + seed as usize * 3);
                let session = Session::new(random_adapter(seed, Capabilities::ALL), config);
                let got = rows(&session.execute(q).await.unwrap());
                assert!(
                    same(&got, &reference),
                    "seed {seed}, {s}: {q}\n got {got:?}\nwant {reference:?}"
                );
            }
        }
    }
}
