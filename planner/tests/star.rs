//! `agg(*)` in the select list (`docs/semantics.md` §11): the expansion to
//! one `<agg>_<field>` column per field, the `SAMPLE BY ALL <agg>` it implies
//! without `SAMPLE BY`, the last-point read of `last(*)`, and its errors.
//! Expected rows are worked out by hand from the data set of `common`:
//!
//! ```text
//! cpu,dc=eu,host=a  usage: (0,1) (10,2) (20,3)   bytes: (5,50)
//! cpu,dc=eu,host=b  usage: (0,10) (20,30)
//! cpu,dc=us,host=c  usage: (10,100)
//! ```
//!
//! The fields of `cpu`, sorted: `bytes`, `usage`.

mod common;

use std::sync::Arc;

use tsq_engine::{Capabilities, SeriesInfo, StorageAdapter};
use tsq_planner::{parse_statement, plan_query, Catalog, Executor, Session, SessionConfig};
use tsq_storage::tsm::value::Values;
use tsq_storage::tsm::wal::SeriesPoints;
use tsq_storage::tsm::{Store, StoreOptions, TsmAdapter};

/// Capabilities without the last-point read (every point is scanned).
const NO_LAST_POINT: Capabilities = Capabilities {
    last_point: false,
    ..Capabilities::ALL
};

/// The columns and rows of `q`, asserting that the operators with and
/// without the last-point read and the materialized executor agree.
async fn run(q: &str) -> (Vec<String>, Vec<String>) {
    let mut results = Vec::new();
    for (caps, executor) in [
        (Capabilities::ALL, Executor::Pipelined),
        (NO_LAST_POINT, Executor::Pipelined),
        (Capabilities::ALL, Executor::Materialized),
    ] {
        let s = Session::new(
            common::adapter(caps),
            SessionConfig::new()
                .with_executor(executor)
                .with_batch_size(1),
        );
        let out = s.execute(q).await.unwrap_or_else(|e| panic!("{q}: {e}"));
        results.push((common::columns(&out), common::rows(&out)));
    }
    assert_eq!(results[0], results[1], "{q}: last point vs scan");
    assert_eq!(results[0], results[2], "{q}: operators vs materialized");
    results.swap_remove(0)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn last_star_is_the_newest_point_of_every_field_per_host() {
    // no SAMPLE BY: SAMPLE BY ALL last per timeline; no time bound: every
    // row is stamped with the query's first point, 0 (usage of a and b),
    // although bytes starts at 5
    let (columns, rows) = run("SELECT last(*) FROM cpu GROUP BY host").await;
    assert_eq!(
        columns,
        strings(&["time", "host", "last_bytes", "last_usage"])
    );
    assert_eq!(rows, strings(&["0|a|50|3", "0|b|null|30", "0|c|null|100"]));
    // the same as the one-field form written out
    let (_, written) = run(
        "SELECT last(bytes) AS last_bytes, last(usage) AS last_usage FROM cpu \
         GROUP BY host SAMPLE BY ALL last",
    )
    .await;
    assert_eq!(rows, written);
}

#[tokio::test]
async fn last_star_with_a_lower_bound_is_stamped_with_it() {
    // from 15: a's bytes (5) is before the range; c has nothing in it
    let (columns, rows) = run("SELECT host, last(*) FROM cpu WHERE time >= 15 GROUP BY host").await;
    assert_eq!(
        columns,
        strings(&["time", "host", "last_bytes", "last_usage"])
    );
    assert_eq!(rows, strings(&["15|a|null|3", "15|b|null|30"]));
    let (_, rows) =
        run("SELECT last(*) FROM cpu WHERE time >= 5 AND time < 20 GROUP BY host").await;
    // [5, 20): a: bytes 50 (5), usage 2 (10); b: nothing; c: usage 100 (10)
    assert_eq!(rows, strings(&["5|a|50|2", "5|c|null|100"]));
}

#[tokio::test]
async fn last_star_across_several_timelines_takes_the_highest_series_id() {
    // eu holds a and b: per timeline last usage 3 (a) and 30 (b); across
    // them `last` takes the highest series id, b (inserted after a)
    let (_, rows) = run("SELECT dc, last(*) FROM cpu GROUP BY dc").await;
    assert_eq!(rows, strings(&["0|eu|50|30", "0|us|null|100"]));
    // no GROUP BY: one row; usage: c has the highest series id
    let (columns, rows) = run("SELECT first(*) FROM cpu").await;
    assert_eq!(columns, strings(&["time", "first_bytes", "first_usage"]));
    // first usage per timeline: a 1, b 10, c 100; first across: a
    assert_eq!(rows, strings(&["0|50|1"]));
}

#[tokio::test]
async fn last_star_by_every_tag_and_of_a_single_field() {
    let (columns, rows) = run("SELECT last(*) FROM cpu GROUP BY *").await;
    assert_eq!(
        columns,
        strings(&["time", "dc", "host", "last_bytes", "last_usage"])
    );
    assert_eq!(
        rows,
        strings(&["0|eu|a|50|3", "0|eu|b|null|30", "0|us|c|null|100"])
    );
    // mem,host=a used: (0, 7): one field, one column
    let (columns, rows) = run("SELECT host, last(*) FROM mem GROUP BY host").await;
    assert_eq!(columns, strings(&["time", "host", "last_used"]));
    assert_eq!(rows, strings(&["0|a|7"]));
}

#[tokio::test]
async fn count_star_counts_points_not_timelines() {
    // per timeline counts: a 3, b 2, c 1 (usage), a 1 (bytes); summed per
    // group: eu 3 + 2 = 5
    let (columns, rows) = run("SELECT count(*) FROM cpu GROUP BY dc").await;
    assert_eq!(
        columns,
        strings(&["time", "dc", "count_bytes", "count_usage"])
    );
    assert_eq!(rows, strings(&["0|eu|1|5", "0|us|null|1"]));
}

#[tokio::test]
async fn min_and_max_star_over_the_range() {
    let (columns, rows) = run("SELECT max(*) FROM cpu").await;
    assert_eq!(columns, strings(&["time", "max_bytes", "max_usage"]));
    assert_eq!(rows, strings(&["0|50|100"]));
    let (_, rows) = run("SELECT min(*) FROM cpu WHERE dc = 'eu'").await;
    assert_eq!(rows, strings(&["0|50|1"]));
}

#[tokio::test]
async fn with_sample_by_a_star_is_the_list_it_stands_for() {
    // explicit SAMPLE BY ALL max: min(*) is the min across timelines of the
    // per-timeline maxima (usage: 3, 30, 100 → 3), as min(usage) would be
    let (columns, rows) = run("SELECT max(*), min(*) FROM cpu SAMPLE BY ALL max").await;
    assert_eq!(
        columns,
        strings(&["time", "max_bytes", "max_usage", "min_bytes", "min_usage"])
    );
    assert_eq!(rows, strings(&["0|50|100|50|3"]));
    // buckets of 10ns, first per bucket, one timeline per field and host
    let (_, rows) = run(
        "SELECT host, first(*) FROM cpu WHERE time >= 0 AND time < 30 \
         GROUP BY host SAMPLE BY 10ns first",
    )
    .await;
    assert_eq!(
        rows,
        strings(&[
            "0|a|50|1",
            "10|a|null|2",
            "20|a|null|3",
            "0|b|null|10",
            "20|b|null|30",
            "10|c|null|100",
        ])
    );
    // count(*) with SAMPLE BY is count(field): timelines with a value
    let (_, rows) = run("SELECT count(*) FROM cpu WHERE time >= 0 SAMPLE BY ALL count").await;
    assert_eq!(rows, strings(&["0|1|3"]));
}

#[tokio::test]
async fn star_columns_order_and_limit_like_any_column() {
    let (_, rows) =
        run("SELECT host, last(*) FROM cpu GROUP BY host ORDER BY last_usage DESC LIMIT 2").await;
    assert_eq!(rows, strings(&["0|c|null|100", "0|b|null|30"]));
}

#[tokio::test]
async fn explain_of_last_star_shows_the_expansion_and_the_last_point_read() {
    let s = common::session(Capabilities::ALL, None);
    let out = s
        .execute("EXPLAIN SELECT last(*) FROM cpu GROUP BY host")
        .await
        .unwrap();
    let text = common::explain_text(&out);
    assert!(
        text.contains(
            "expand_star: last(*) → last_bytes, last_usage (the fields of 'cpu'); no SAMPLE BY"
        ),
        "{text}"
    );
    // every column a last point of one selection: one operator for both
    assert_eq!(text.matches("LastPointsOp:").count(), 1, "{text}");
    assert_eq!(text.matches("LastPointOp:").count(), 0, "{text}");
}

async fn err(q: &str) -> String {
    common::session(Capabilities::ALL, None)
        .execute(q)
        .await
        .unwrap_err()
        .to_string()
}

#[tokio::test]
async fn star_errors_name_what_and_where() {
    let cases = [
        (
            "SELECT last(*) + 1 FROM cpu",
            "plan error at 1:8: last(*) stands for one column per field, so it cannot be part of an expression: name the field, e.g. last(usage)",
        ),
        (
            "SELECT abs(max(*)) FROM cpu",
            "plan error at 1:12: max(*) stands for one column per field, so it cannot be part of an expression",
        ),
        (
            "SELECT last(*) AS l FROM cpu",
            "plan error at 1:19: last(*) makes one column per field (last_<field>), so it cannot be renamed with AS: name the field instead, e.g. last(usage) AS l",
        ),
        (
            "SELECT last(*) FROM cpu\nGROUP BY host, usage",
            "plan error at 2:16: 'usage' is a field of 'cpu', not a tag",
        ),
        (
            "SELECT rate(*) FROM cpu",
            "plan error at 1:8: rate(*) is not supported: rate reads one field",
        ),
        (
            "SELECT sum(rate(*)) FROM cpu",
            "plan error at 1:12: rate(*) is not supported: rate reads one field",
        ),
        (
            "SELECT abs(*) FROM cpu",
            "plan error at 1:8: abs(*) is not supported: abs takes a value",
        ),
        (
            "SELECT lats(*) FROM cpu",
            "plan error at 1:8: unknown aggregator 'lats'",
        ),
        (
            "SELECT last(*) FROM nope",
            "plan error at 1:8: last(*) names every field of 'nope', but there is no measurement 'nope'",
        ),
        (
            "SELECT last(*), max(*) FROM cpu GROUP BY host",
            "plan error at 1:17: max(*) next to last(*) at 1:8 needs SAMPLE BY: without it last(*) reduces each timeline with SAMPLE BY ALL last",
        ),
        (
            "SELECT last(*), last(usage) FROM cpu",
            "plan error at 1:17: last(usage) next to last(*) at 1:8 needs SAMPLE BY",
        ),
        (
            "SELECT max(*), max(usage) - min(usage) AS spread FROM cpu",
            "plan error at 1:16: 'max(usage) - min(usage)' next to max(*) at 1:8 needs SAMPLE BY",
        ),
        (
            "SELECT last(*), last(*) FROM cpu SAMPLE BY ALL last",
            "plan error at 1:17: duplicate result column 'last_bytes'",
        ),
        (
            "SELECT last(*), usage FROM cpu",
            "plan error at 1:17: raw field 'usage' cannot be selected next to aggregates",
        ),
        (
            "SELECT last(*) FROM cpu FILL(zero)",
            "plan error at 1:25: FILL needs SAMPLE BY",
        ),
    ];
    for (q, expected) in cases {
        let got = err(q).await;
        assert!(
            got.starts_with(expected),
            "{q}\n got: {got}\nwant: {expected}"
        );
    }
}

#[test]
fn a_measurement_without_fields_is_a_plan_error() {
    let catalog = Catalog {
        adapter: "test".into(),
        capabilities: Capabilities::ALL,
        measurement_exists: true,
        fields: Vec::new(),
        tag_keys: vec!["host".into()],
        field_types: Vec::new(),
    };
    let st = parse_statement("SELECT host, count(*) FROM empty GROUP BY host").unwrap();
    let e = plan_query(st.query().unwrap(), &catalog, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plan error at 1:14: count(*) names every field of 'empty', but 'empty' has no fields"
    );
}

const S: i64 = 1_000_000_000;

/// A TSM store of TSBS's shape: hosts h0..h2, `usage_user` every second
/// over [0, 2500) s with value `1000 h + t` (h2's last point NaN), and
/// `usage_system` over [100, 2400) s with value `-t - h`: several blocks
/// per series, fields that start and end at different times.
fn tsm_store(dir: &std::path::Path) -> Arc<dyn StorageAdapter> {
    let _ = std::fs::remove_dir_all(dir);
    let (store, _) = Store::open(dir, StoreOptions::default()).unwrap();
    let mut series = Vec::new();
    for h in 0..3i64 {
        let host = format!("h{h}");
        let tags = [("hostname", host.as_str())];
        let user: Vec<i64> = (0..2500).collect();
        let mut user_values: Vec<f64> = user.iter().map(|t| (1000 * h + t) as f64).collect();
        if h == 2 {
            *user_values.last_mut().unwrap() = f64::NAN;
        }
        series.push(SeriesPoints {
            series: SeriesInfo::new("cpu", &tags, "usage_user"),
            times: user.iter().map(|t| t * S).collect(),
            values: Values::Float(user_values),
        });
        let system: Vec<i64> = (100..2400).collect();
        series.push(SeriesPoints {
            series: SeriesInfo::new("cpu", &tags, "usage_system"),
            times: system.iter().map(|t| t * S).collect(),
            values: Values::Float(system.iter().map(|t| (-t - h) as f64).collect()),
        });
    }
    store.write_series(series).unwrap();
    store.flush().unwrap();
    Arc::new(TsmAdapter::new(Arc::new(store)))
}

#[tokio::test]
async fn tsbs_lastpoint_as_last_star_over_tsm() {
    let dir = std::env::temp_dir().join(format!("tsq-star-{}", std::process::id()));
    let adapter = tsm_store(&dir);
    let q = "SELECT last(*) FROM cpu GROUP BY hostname";
    let mut results = Vec::new();
    let configs = [
        SessionConfig::new(),
        SessionConfig::new().with_last_points_as_one(false),
        SessionConfig::new().with_executor(Executor::Materialized),
    ];
    for config in configs {
        let s = Session::new(Arc::clone(&adapter), config);
        let out = s.execute(q).await.unwrap();
        results.push((common::columns(&out), common::rows(&out)));
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0], results[2]);
    let (columns, rows) = &results[0];
    assert_eq!(
        *columns,
        strings(&["time", "hostname", "last_usage_system", "last_usage_user"])
    );
    // stamped 0 (usage_user's first point); system: -2399 - h at 2399 s;
    // user: 1000 h + 2499, except h2 whose last point is NaN: 2000 + 2498
    assert_eq!(
        *rows,
        strings(&["0|h0|-2399|2499", "0|h1|-2400|3499", "0|h2|-2401|4498"])
    );
    let s = Session::new(Arc::clone(&adapter), SessionConfig::new());
    let analyzed = s.execute(&format!("EXPLAIN ANALYZE {q}")).await.unwrap();
    let text = common::explain_text(&analyzed);
    assert_eq!(text.matches("LastPointsOp:").count(), 1, "{text}");
    // h2's newest usage_user is NaN: that column is scanned
    assert!(
        text.contains("(a newest point is NaN: scanned the range of usage_user)"),
        "{text}"
    );
    // the shared start of the one bucket: the query's first point
    assert!(text.contains("range=[0, ∞)"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
