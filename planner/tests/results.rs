//! Results of queries over the hand-made data set of `common`, with the
//! expected values worked out by hand, each aggregate query run through
//! every aggregation operator that can run it (identical rows required).

mod common;

use common::{columns, rows, session};
use tsq_engine::spec::AggStrategy;
use tsq_engine::Capabilities;

/// Runs `q` with the optimizer's choice and with every strategy in
/// `forced`, checking that all give `expected`.
async fn check(q: &str, forced: &[AggStrategy], expected: &[&str]) {
    let out = session(Capabilities::ALL, None).execute(q).await.unwrap();
    assert_eq!(rows(&out), expected, "{q}");
    let out = session(Capabilities::NONE, None).execute(q).await.unwrap();
    assert_eq!(rows(&out), expected, "{q} (no capabilities)");
    for &s in forced {
        let out = session(Capabilities::ALL, Some(s))
            .execute(q)
            .await
            .unwrap();
        assert_eq!(rows(&out), expected, "{q} forced {s}");
    }
}

const ALL3: [AggStrategy; 3] = [AggStrategy::Pipe, AggStrategy::Grouped, AggStrategy::MT];
const MATERIALIZING: [AggStrategy; 2] = [AggStrategy::Grouped, AggStrategy::MT];

#[tokio::test]
async fn sum_without_sample_by_interpolates() {
    // timestamps 0, 10, 20; b is interpolated at 10: 10 + (30-10)*10/20 = 20;
    // c exists only at 10 and contributes nothing elsewhere.
    // t0 = 1 + 10 = 11, t10 = 2 + 20 + 100 = 122, t20 = 3 + 30 = 33
    check(
        "SELECT sum(usage) FROM cpu",
        &MATERIALIZING,
        &["0|11", "10|122", "20|33"],
    )
    .await;
}

#[tokio::test]
async fn group_by_dc() {
    // eu: t0 = 1 + 10 = 11, t10 = 2 + 20 (lerp) = 22, t20 = 3 + 30 = 33; us: t10 = 100
    check(
        "SELECT dc, sum(usage) FROM cpu GROUP BY dc",
        &MATERIALIZING,
        &["0|eu|11", "10|eu|22", "20|eu|33", "10|us|100"],
    )
    .await;
}

#[tokio::test]
async fn fill_zero_runs_on_all_three_paths() {
    // buckets 0, 10, 20 of 10ns; a = 1, 2, 3; b = 10, 0 (fill), 30; c = 0, 100, 0
    // t0 = 11, t10 = 102, t20 = 33
    check(
        "SELECT sum(usage) FROM cpu WHERE time >= 0 AND time < 30 SAMPLE BY 10ns FILL(zero)",
        &ALL3,
        &["0|11", "10|102", "20|33"],
    )
    .await;
}

#[tokio::test]
async fn sample_by_all_one_row_per_host() {
    // range = data span [0, 21), one bucket at 0: a = (1+2+3)/3 = 2, b = (10+30)/2 = 20, c = 100
    check(
        "SELECT avg(usage) FROM cpu GROUP BY host SAMPLE BY ALL avg",
        &ALL3,
        &["0|a|2", "0|b|20", "0|c|100"],
    )
    .await;
}

#[tokio::test]
async fn group_by_star_has_every_tag_column() {
    let s = session(Capabilities::ALL, None);
    let out = s
        .execute("SELECT max(usage) FROM cpu GROUP BY * SAMPLE BY ALL")
        .await
        .unwrap();
    assert_eq!(columns(&out), ["time", "dc", "host", "max(usage)"]);
    // one bucket per timeline at the span start 0, downsampled with the
    // default avg: a = (1+2+3)/3 = 2, b = (10+30)/2 = 20, c = 100; each group
    // holds one timeline, so max changes nothing
    assert_eq!(rows(&out), ["0|eu|a|2", "0|eu|b|20", "0|us|c|100"]);
    let out = s
        .execute("SELECT max(usage) FROM cpu GROUP BY * SAMPLE BY ALL max")
        .await
        .unwrap();
    assert_eq!(rows(&out), ["0|eu|a|3", "0|eu|b|30", "0|us|c|100"]);
}

#[tokio::test]
async fn two_fields_full_outer_join() {
    let s = session(Capabilities::ALL, None);
    let out = s
        .execute("SELECT sum(usage) AS u, sum(bytes) FROM cpu GROUP BY host")
        .await
        .unwrap();
    assert_eq!(columns(&out), ["time", "host", "u", "sum(bytes)"]);
    assert_eq!(
        rows(&out),
        [
            "0|a|1|null",
            "5|a|null|50",
            "10|a|2|null",
            "20|a|3|null",
            "0|b|10|null",
            "20|b|30|null",
            "10|c|100|null",
        ]
    );
}

#[tokio::test]
async fn raw_select_and_raw_rate() {
    let s = session(Capabilities::ALL, None);
    let out = s
        .execute("SELECT usage FROM cpu WHERE host = 'b'")
        .await
        .unwrap();
    assert_eq!(columns(&out), ["time", "dc", "host", "usage"]);
    assert_eq!(rows(&out), ["0|eu|b|10", "20|eu|b|30"]);
    // (2 - 1) / 10ns = 0.1 per ns = 1e8 per second
    let out = s
        .execute("SELECT rate(usage) FROM cpu WHERE host = 'a'")
        .await
        .unwrap();
    assert_eq!(rows(&out), ["10|eu|a|100000000", "20|eu|a|100000000"]);
}

#[tokio::test]
async fn order_by_and_limit() {
    check(
        "SELECT sum(usage) FROM cpu ORDER BY time DESC LIMIT 2",
        &MATERIALIZING,
        &["20|33", "10|122"],
    )
    .await;
    // eu/us sums ordered by value: 11, 22, 33, 100 → descending, 3 rows
    check(
        "SELECT sum(usage) AS s FROM cpu GROUP BY dc ORDER BY s DESC LIMIT 3",
        &MATERIALIZING,
        &["10|us|100", "20|eu|33", "10|eu|22"],
    )
    .await;
}

#[tokio::test]
async fn tag_predicates_with_and_without_pushdown() {
    // hosts a and c: t0 = 1, t10 = 2 + 100 = 102, t20 = 3
    check(
        "SELECT sum(usage) FROM cpu WHERE host ~ '^[ac]$' SAMPLE BY 10ns FILL(none)",
        &MATERIALIZING,
        &["0|1", "10|102", "20|3"],
    )
    .await;
    // NOT dc = 'eu' leaves c only
    check(
        "SELECT max(usage) FROM cpu WHERE NOT dc = 'eu' AND time >= 0 AND time < 20",
        &MATERIALIZING,
        &["10|100"],
    )
    .await;
}

#[tokio::test]
async fn missing_measurement_and_field_give_notices() {
    let s = session(Capabilities::ALL, None);
    let out = s
        .execute("SELECT sum(x) FROM nope GROUP BY host")
        .await
        .unwrap();
    assert_eq!(out.num_rows(), 0);
    assert_eq!(
        out.notices,
        ["measurement 'nope' does not exist: the result is empty"]
    );
    let out = s.execute("SELECT sum(nope) FROM mem").await.unwrap();
    assert_eq!(out.num_rows(), 0);
    assert_eq!(
        out.notices,
        ["field 'nope' does not exist in measurement 'mem': column 'sum(nope)' is empty"]
    );
}

#[tokio::test]
async fn script_runs_every_statement() {
    let s = session(Capabilities::ALL, None);
    let outs = s
        .execute_script(
            "SELECT used FROM mem;\n-- comment\nSELECT max(usage) FROM cpu SAMPLE BY ALL;",
        )
        .await
        .unwrap();
    assert_eq!(outs.len(), 2);
    assert_eq!(rows(&outs[0]), ["0|a|7"]);
    // one bucket at the span start 0: max over a (3), b (30), c (100) = 100
    assert_eq!(rows(&outs[1]), ["0|100"]);
}

#[tokio::test]
async fn stream_matches_execute() {
    use futures::StreamExt;
    let s = session(Capabilities::ALL, None);
    for q in [
        "SELECT avg(usage) FROM cpu GROUP BY host SAMPLE BY ALL",
        "SELECT sum(usage), max(usage) FROM cpu GROUP BY dc",
    ] {
        let expected = rows(&s.execute(q).await.unwrap());
        let mut stream = s.stream(q).await.unwrap();
        let mut batches = Vec::new();
        while let Some(b) = stream.next().await {
            batches.push(b.unwrap());
        }
        let schema = batches[0].schema();
        let out = tsq_planner::QueryOutput {
            kind: tsq_planner::QueryKind::Rows { schema, batches },
            notices: vec![],
        };
        assert_eq!(rows(&out), expected, "{q}");
    }
}

#[tokio::test]
async fn tiny_memory_budget_stops_mt_agg() {
    let s = tsq_planner::Session::new(
        common::adapter(Capabilities::NONE),
        tsq_planner::SessionConfig::new().with_memory_budget(16),
    );
    let err = s
        .execute("SELECT p99(usage) FROM cpu")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("memory budget exceeded in MTAggOp"),
        "{err}"
    );
    assert!(err.contains("query budget 16 bytes"), "{err}");
}

#[tokio::test]
async fn result_join_counts_against_the_budget() {
    // a raw select buffers nothing in its operators; the join holds the 6
    // usage points at 24 bytes each = 144 bytes > 48
    let s = tsq_planner::Session::new(
        common::adapter(Capabilities::ALL),
        tsq_planner::SessionConfig::new().with_memory_budget(48),
    );
    let err = s
        .execute("SELECT usage FROM cpu")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("memory budget exceeded in ResultJoin"),
        "{err}"
    );
}

#[tokio::test]
async fn one_cancel_stops_one_query() {
    let s = session(Capabilities::ALL, None);
    s.cancel_token().cancel();
    let err = s.execute("SELECT used FROM mem").await.unwrap_err();
    assert_eq!(err.to_string(), "query cancelled");
    // the cancelled token was replaced: the next query runs
    let out = s.execute("SELECT used FROM mem").await.unwrap();
    assert_eq!(rows(&out), ["0|a|7"]);
}

#[tokio::test]
async fn explain_analyze_reports_rows_and_memory() {
    let s = session(Capabilities::ALL, None);
    let out = s
        .execute("EXPLAIN ANALYZE SELECT sum(usage) FROM cpu GROUP BY host")
        .await
        .unwrap();
    let text = common::explain_text(&out);
    assert!(text.contains("metrics=[rows_in="), "{text}");
    assert!(text.contains("total rows: 6"), "{text}");
    assert!(text.contains("peak memory: "), "{text}");
    assert!(
        text.contains("choose_aggregation: sum(usage): GroupedAggOp"),
        "{text}"
    );
}
