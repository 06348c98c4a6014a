//! Differential test of value comparisons: on seeded random data with gaps
//! (a field missing at some times) and NaNs, the rows of raw selects with
//! value filters equal those of a brute-force oracle over the wide table
//! (one row per host + time where a selected or compared field has a point),
//! through `execute` and `stream`, on both executors, at several batch sizes.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{rows, Lcg};
use futures::StreamExt;
use tsq_engine::{Capabilities, StorageAdapter};
use tsq_planner::{Executor, QueryKind, QueryOutput, Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;

/// `host → time → (u, s)`: each field has a point at a time with
/// probability 3/4; one value in 16 is NaN, the others integers in [0, 100).
type Table = BTreeMap<String, BTreeMap<i64, Cells>>;

/// The values of u and s at one time.
type Cells = (Option<f64>, Option<f64>);

fn random_table(seed: u64) -> Table {
    let mut rng = Lcg(seed);
    let mut table = Table::new();
    for h in 0..4 {
        let rows = table.entry(format!("h{h}")).or_default();
        for t in 0..60 {
            let value = |rng: &mut Lcg| {
                if rng.next(4) == 0 {
                    None
                } else if rng.next(16) == 0 {
                    Some(f64::NAN)
                } else {
                    Some(rng.next(100) as f64)
                }
            };
            let (u, s) = (value(&mut rng), value(&mut rng));
            if u.is_some() || s.is_some() {
                rows.insert(t, (u, s));
            }
        }
    }
    table
}

fn adapter(table: &Table, caps: Capabilities) -> Arc<dyn StorageAdapter> {
    let m = MemoryAdapter::new().with_capabilities(caps);
    for (host, rows) in table {
        let points = |pick: fn(&Cells) -> Option<f64>| {
            rows.iter()
                .filter_map(|(t, r)| pick(r).map(|v| (*t, v)))
                .collect::<Vec<_>>()
        };
        m.insert("m", &[("host", host)], "u", &points(|r| r.0));
        m.insert("m", &[("host", host)], "s", &points(|r| r.1));
    }
    Arc::new(m)
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "null".to_string(), |x| x.to_string())
}

/// The oracle: `SELECT u FROM m WHERE s > a AND u <= b` — rows of the wide
/// table of u and s (both read) where both comparisons hold (null fails,
/// NaN fails), by host then time.
fn oracle_u_where_s_gt_and_u_le(table: &Table, a: f64, b: f64) -> Vec<String> {
    let mut out = Vec::new();
    for (host, rows) in table {
        for (t, (u, s)) in rows {
            if s.is_some_and(|s| s > a) && u.is_some_and(|u| u <= b) {
                out.push(format!("{t}|{host}|{}", cell(*u)));
            }
        }
    }
    out
}

/// The oracle: `SELECT u FROM m WHERE s > a` — a row where s passes is kept
/// even where u has no point (u is null there).
fn oracle_u_where_s_gt(table: &Table, a: f64) -> Vec<String> {
    let mut out = Vec::new();
    for (host, rows) in table {
        for (t, (u, s)) in rows {
            if s.is_some_and(|s| s > a) {
                out.push(format!("{t}|{host}|{}", cell(*u)));
            }
        }
    }
    out
}

/// The oracle: `SELECT u FROM m WHERE u != a` — u alone is read, so the
/// rows are u's points; NaN != a holds.
fn oracle_u_ne(table: &Table, a: f64) -> Vec<String> {
    let mut out = Vec::new();
    for (host, rows) in table {
        for (t, (u, _)) in rows {
            if u.is_some_and(|u| u != a) {
                out.push(format!("{t}|{host}|{}", cell(*u)));
            }
        }
    }
    out
}

/// The oracle: `SELECT s, u FROM m WHERE s >= a` (both selected).
fn oracle_s_u_where_s_ge(table: &Table, a: f64) -> Vec<String> {
    let mut out = Vec::new();
    for (host, rows) in table {
        for (t, (u, s)) in rows {
            if s.is_some_and(|s| s >= a) {
                out.push(format!("{t}|{host}|{}|{}", cell(*s), cell(*u)));
            }
        }
    }
    out
}

async fn streamed(s: &Session, q: &str) -> Vec<String> {
    let mut stream = s.stream(q).await.unwrap();
    let mut batches = Vec::new();
    while let Some(b) = stream.next().await {
        batches.push(b.unwrap());
    }
    let Some(first) = batches.first() else {
        return Vec::new();
    };
    let schema = first.schema();
    rows(&QueryOutput {
        kind: QueryKind::Rows { schema, batches },
        notices: vec![],
    })
}

#[tokio::test]
async fn value_filters_match_the_oracle() {
    for seed in 1..=6u64 {
        let table = random_table(seed);
        let cases = [
            (
                "SELECT u FROM m WHERE s > 40 AND u <= 70".to_string(),
                oracle_u_where_s_gt_and_u_le(&table, 40.0, 70.0),
            ),
            (
                "SELECT u FROM m WHERE 40 < s AND 70 >= u".to_string(),
                oracle_u_where_s_gt_and_u_le(&table, 40.0, 70.0),
            ),
            (
                "SELECT u FROM m WHERE s > 80".to_string(),
                oracle_u_where_s_gt(&table, 80.0),
            ),
            (
                "SELECT u FROM m WHERE u <> 50".to_string(),
                oracle_u_ne(&table, 50.0),
            ),
            (
                "SELECT s, u FROM m WHERE s >= 90.5".to_string(),
                oracle_s_u_where_s_ge(&table, 90.5),
            ),
        ];
        for (q, expected) in &cases {
            assert!(!expected.is_empty(), "seed {seed}: {q} keeps nothing");
            for executor in [Executor::Pipelined, Executor::Materialized] {
                for caps in [Capabilities::ALL, Capabilities::NONE] {
                    let config = SessionConfig::new()
                        .with_batch_size(1 + seed as usize * 5)
                        .with_executor(executor);
                    let s = Session::new(adapter(&table, caps), config);
                    let how = format!("seed {seed}, {executor:?}: {q}");
                    assert_eq!(&rows(&s.execute(q).await.unwrap()), expected, "{how}");
                    assert_eq!(&streamed(&s, q).await, expected, "{how} streamed");
                }
            }
        }
    }
}
