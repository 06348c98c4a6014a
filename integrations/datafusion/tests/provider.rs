//! `TsqTable` against the oracle: DataFusion SQL over a tsq memory adapter
//! (with and without pushdown capabilities) and over a TSM store gives
//! exactly the rows of the same data in a `MemTable`, filters pushed or not.

mod common;

use std::sync::Arc;

use common::{memory_adapter, oracle, physical_plan, points, run, tsm_adapter, S};
use datafusion::prelude::{SessionConfig, SessionContext};
use tsq_datafusion::register_tsq;
use tsq_engine::{Capabilities, StorageAdapter};

/// Queries whose rows must match the oracle's; they cover each pushed
/// filter kind, the missing tag, sparse fields, aggregates and LIMIT.
fn queries() -> Vec<String> {
    let t = |s: i64| format!("to_timestamp_nanos({})", s * S);
    vec![
        "SELECT * FROM cpu".into(),
        "SELECT * FROM mem".into(),
        "SELECT count(*) FROM cpu".into(),
        "SELECT host, count(usage), count(idle) FROM cpu GROUP BY host".into(),
        "SELECT time, host, usage FROM cpu WHERE host = 'h1'".into(),
        format!(
            "SELECT host, time, usage FROM cpu WHERE host = 'h1' AND time >= {} AND time < {}",
            t(4),
            t(9)
        ),
        format!(
            "SELECT * FROM cpu WHERE time > {} AND time <= {}",
            t(20),
            t(22)
        ),
        format!(
            "SELECT time, idle FROM cpu WHERE time BETWEEN {} AND {}",
            t(3),
            t(5)
        ),
        "SELECT * FROM cpu WHERE host IN ('h0', 'h3')".into(),
        "SELECT * FROM cpu WHERE host NOT IN ('h0', 'h3')".into(),
        "SELECT * FROM cpu WHERE host LIKE 'h%' AND dc = 'eu'".into(),
        "SELECT * FROM cpu WHERE host ~ '^h[12]$'".into(),
        "SELECT * FROM cpu WHERE host !~ '1'".into(),
        "SELECT * FROM cpu WHERE dc != 'eu'".into(),
        "SELECT * FROM cpu WHERE dc IS NULL".into(),
        "SELECT * FROM cpu WHERE dc LIKE '%'".into(),
        "SELECT * FROM cpu WHERE host = 'h0' OR dc = 'us'".into(),
        "SELECT host, avg(usage) FROM cpu WHERE usage > 50 GROUP BY host".into(),
        "SELECT time, host FROM cpu WHERE idle IS NOT NULL".into(),
        "SELECT host, date_bin(INTERVAL '10 seconds', time) AS b, max(usage), min(idle) \
         FROM cpu GROUP BY host, b"
            .into(),
        "SELECT time, host, usage FROM cpu ORDER BY time, host LIMIT 7".into(),
        "SELECT count(*) FROM (SELECT * FROM cpu WHERE host = 'h2' LIMIT 5)".into(),
    ]
}

async fn check_against_oracle(adapter: Arc<dyn StorageAdapter>, what: &str) {
    check_with_batch_size(adapter, what, 8192).await
}

async fn check_with_batch_size(adapter: Arc<dyn StorageAdapter>, what: &str, batch: usize) {
    let data = points();
    let expected_ctx = oracle(&data);
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_batch_size(batch));
    let tables = register_tsq(&ctx, adapter).await.expect("register");
    assert_eq!(tables, vec!["cpu".to_string(), "mem".to_string()]);
    for sql in queries() {
        let expected = run(&expected_ctx, &sql).await;
        let got = run(&ctx, &sql).await;
        assert_eq!(got, expected, "{what}: {sql}");
    }
}

#[tokio::test]
async fn memory_adapter_matches_the_oracle() {
    check_against_oracle(Arc::new(memory_adapter(&points())), "memory").await;
}

#[tokio::test]
async fn batch_boundaries_do_not_change_rows() {
    // Scans and output batches of 1 and 7 rows: timelines and aligned runs
    // cut at every place.
    for batch in [1, 7] {
        let adapter = Arc::new(memory_adapter(&points()));
        check_with_batch_size(adapter, &format!("memory, batch {batch}"), batch).await;
    }
}

#[tokio::test]
async fn adapter_without_pushdown_matches_the_oracle() {
    let adapter = memory_adapter(&points()).with_capabilities(Capabilities::NONE);
    check_against_oracle(Arc::new(adapter), "memory, no capabilities").await;
}

#[tokio::test]
async fn tsm_store_matches_the_oracle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let adapter = tsm_adapter(&points(), dir.path());
    check_against_oracle(Arc::new(adapter), "tsm").await;
}

#[tokio::test]
async fn hand_checked_counts() {
    let ctx = SessionContext::new();
    register_tsq(&ctx, Arc::new(memory_adapter(&points())))
        .await
        .expect("register");
    // 4 hosts × 30 s, minus the seconds where neither field is written
    // (multiples of 15: 0 and 15) = 4 × 28 rows.
    assert_eq!(
        run(&ctx, "SELECT count(*) FROM cpu").await,
        vec![vec!["112"]]
    );
    // usage is missing at 0, 5, …, 25: 4 × 24 values.
    assert_eq!(
        run(&ctx, "SELECT count(usage) FROM cpu").await,
        vec![vec!["96"]]
    );
    assert_eq!(
        run(&ctx, "SELECT count(*) FROM cpu WHERE dc IS NULL").await,
        vec![vec!["28"]]
    );
}

#[tokio::test]
async fn explain_shows_what_was_pushed() {
    let ctx = SessionContext::new();
    register_tsq(&ctx, Arc::new(memory_adapter(&points())))
        .await
        .expect("register");
    let plan = physical_plan(
        &ctx,
        &format!(
            "SELECT time, usage FROM cpu WHERE host IN ('h1', 'h2') AND time >= to_timestamp_nanos({})",
            5 * S
        ),
    )
    .await;
    assert!(
        plan.contains(&format!(
            "TsqScanExec: adapter=memory measurement=cpu projection=[time, usage] \
             fields=[idle, usage] range=[{}, ∞) predicate=(host = 'h1' OR host = 'h2')",
            5 * S
        )),
        "{plan}"
    );
    // DataFusion rewrites a short IN list into ORs; both are exact.
    assert!(
        !plan.contains("FilterExec"),
        "exact filters are not re-applied: {plan}"
    );

    // A value filter: the scan reads only that field, DataFusion filters.
    let plan = physical_plan(&ctx, "SELECT time FROM cpu WHERE usage > 50").await;
    assert!(plan.contains("FilterExec: usage@1 > 50"), "{plan}");
    assert!(
        plan.contains("fields=[usage] range=[-∞, ∞) predicate=true"),
        "{plan}"
    );

    // Negation of a tag test: pushed (superset) and re-applied.
    let plan = physical_plan(&ctx, "SELECT * FROM cpu WHERE dc != 'eu'").await;
    assert!(plan.contains("predicate=dc != 'eu'"), "{plan}");
    assert!(plan.contains("FilterExec"), "{plan}");

    // LIMIT reaches the scan when every filter is exact.
    let plan = physical_plan(&ctx, "SELECT * FROM cpu WHERE host = 'h0' LIMIT 3").await;
    assert!(plan.contains("predicate=host = 'h0' limit=3"), "{plan}");
}
