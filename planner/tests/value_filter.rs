//! Value comparisons in `WHERE` (`usage_user > 90`, TSBS high-cpu-1) over a
//! small hand-made data set: which joined rows survive, worked out by hand,
//! through `execute` and `stream`, at several batch sizes, with and without
//! adapter capabilities, and through the materialized executor.

mod common;

use std::sync::Arc;

use common::{columns, rows};
use futures::StreamExt;
use tsq_engine::{Capabilities, StorageAdapter};
use tsq_planner::{Executor, QueryKind, QueryOutput, Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;

/// The data set (times in ns; `-` = no point):
///
/// ```text
///                    t=0   10   20   30   40
/// host=a usage_user   95   80  NaN   91   99
///        usage_system  5    6    7    -    2
/// host=b usage_user   50   92    -   93    -
///        usage_system  1    8    9    3    -
/// ```
fn adapter(caps: Capabilities) -> Arc<dyn StorageAdapter> {
    let m = MemoryAdapter::new().with_capabilities(caps);
    let a = [("host", "a")];
    let b = [("host", "b")];
    m.insert(
        "cpu",
        &a,
        "usage_user",
        &[
            (0, 95.0),
            (10, 80.0),
            (20, f64::NAN),
            (30, 91.0),
            (40, 99.0),
        ],
    );
    m.insert(
        "cpu",
        &a,
        "usage_system",
        &[(0, 5.0), (10, 6.0), (20, 7.0), (40, 2.0)],
    );
    m.insert(
        "cpu",
        &b,
        "usage_user",
        &[(0, 50.0), (10, 92.0), (30, 93.0)],
    );
    m.insert(
        "cpu",
        &b,
        "usage_system",
        &[(0, 1.0), (10, 8.0), (20, 9.0), (30, 3.0)],
    );
    Arc::new(m)
}

fn session(caps: Capabilities, batch_size: usize) -> Session {
    session_on(caps, batch_size, Executor::Pipelined)
}

fn session_on(caps: Capabilities, batch_size: usize, executor: Executor) -> Session {
    Session::new(
        adapter(caps),
        SessionConfig::new()
            .with_batch_size(batch_size)
            .with_executor(executor),
    )
}

/// The rows of `q` through `stream`.
async fn streamed(s: &Session, q: &str) -> Vec<String> {
    let mut stream = s.stream(q).await.unwrap();
    let mut batches = Vec::new();
    while let Some(b) = stream.next().await {
        batches.push(b.unwrap());
    }
    let Some(first) = batches.first() else {
        return Vec::new();
    };
    let out = QueryOutput {
        kind: QueryKind::Rows {
            schema: first.schema(),
            batches,
        },
        notices: vec![],
    };
    rows(&out)
}

/// Runs `q` through `execute` and `stream`, at batch sizes 1, 2 and the
/// default, with every adapter capability and with none, on both executors:
/// all must give `expected`.
async fn check(q: &str, expected: &[&str]) {
    for executor in [Executor::Pipelined, Executor::Materialized] {
        for caps in [Capabilities::ALL, Capabilities::NONE] {
            for batch_size in [1, 2, 4096] {
                let s = session_on(caps, batch_size, executor);
                let how = format!("{q} ({executor:?}, batch {batch_size})");
                let out = s.execute(q).await.unwrap();
                assert_eq!(rows(&out), expected, "{how}");
                assert_eq!(streamed(&s, q).await, expected, "{how} streamed");
            }
        }
    }
}

#[tokio::test]
async fn keeps_rows_where_the_comparison_holds() {
    // usage_user > 90: a@0 95, a@30 91, a@40 99, b@10 92, b@30 93;
    // a@10 80 fails, a@20 NaN fails, b@0 50 fails, b@20 has no usage_user
    // (null never matches). a@30 has no usage_system: null in the result.
    check(
        "SELECT usage_user, usage_system FROM cpu WHERE usage_user > 90",
        &[
            "0|a|95|5",
            "30|a|91|null",
            "40|a|99|2",
            "10|b|92|8",
            "30|b|93|3",
        ],
    )
    .await;
    let out = session(Capabilities::ALL, 4096)
        .execute("SELECT usage_user, usage_system FROM cpu WHERE usage_user > 90")
        .await
        .unwrap();
    assert_eq!(
        columns(&out),
        ["time", "host", "usage_user", "usage_system"]
    );
    assert!(out.notices.is_empty());
}

#[tokio::test]
async fn filter_on_a_field_that_is_not_selected() {
    // the same rows as above, usage_user read but dropped from the result
    check(
        "SELECT usage_system FROM cpu WHERE usage_user > 90",
        &["0|a|5", "30|a|null", "40|a|2", "10|b|8", "30|b|3"],
    )
    .await;
    let out = session(Capabilities::ALL, 4096)
        .execute("SELECT usage_system FROM cpu WHERE usage_user > 90")
        .await
        .unwrap();
    assert_eq!(columns(&out), ["time", "host", "usage_system"]);
}

#[tokio::test]
async fn two_comparisons_on_different_fields() {
    // usage_user > 90 leaves a@0 (system 5), a@30 (null), a@40 (2),
    // b@10 (8), b@30 (3); usage_system < 5 keeps a@40 and b@30
    check(
        "SELECT usage_user, usage_system FROM cpu WHERE usage_user > 90 AND usage_system < 5",
        &["40|a|99|2", "30|b|93|3"],
    )
    .await;
    // one field not selected, compared twice (5 <= usage_system <= 8):
    // a@0 5, a@10 6, a@20 7 (usage_user NaN, still a row), b@10 8
    check(
        "SELECT usage_user FROM cpu WHERE usage_system >= 5 AND 8 >= usage_system",
        &["0|a|95", "10|a|80", "20|a|NaN", "10|b|92"],
    )
    .await;
}

#[tokio::test]
async fn null_never_matches_and_nan_follows_ieee() {
    // != 80: NaN != 80 holds (IEEE), null does not: b@20 (usage_user
    // missing) is dropped, a@30 (usage_system missing) is kept
    check(
        "SELECT usage_system FROM cpu WHERE usage_user != 80",
        &[
            "0|a|5",
            "20|a|7",
            "30|a|null",
            "40|a|2",
            "0|b|1",
            "10|b|8",
            "30|b|3",
        ],
    )
    .await;
    // every other comparison fails on NaN: <= 1e9 keeps every number
    check(
        "SELECT usage_user FROM cpu WHERE usage_user <= 1e9",
        &[
            "0|a|95", "10|a|80", "30|a|91", "40|a|99", "0|b|50", "10|b|92", "30|b|93",
        ],
    )
    .await;
    // = on a value: a@10 only; <> is !=
    check(
        "SELECT usage_user FROM cpu WHERE usage_user = 80",
        &["10|a|80"],
    )
    .await;
    check(
        "SELECT usage_user FROM cpu WHERE host = 'b' AND usage_user <> 92",
        &["0|b|50", "30|b|93"],
    )
    .await;
}

#[tokio::test]
async fn high_cpu_1_shape_with_tag_and_time() {
    // host a in [10, 40): 80 fails, NaN fails, 91 passes; `90 < x` is `x > 90`
    check(
        "SELECT usage_user, usage_system FROM cpu WHERE host = 'a' AND 90 < usage_user AND time >= 10 AND time < 40",
        &["30|a|91|null"],
    )
    .await;
    // negative and decimal numbers: every usage_system > -0.5 and < 7.5
    // (a@0 5, a@10 6, a@20 7, a@40 2, b@0 1, b@30 3)
    check(
        "SELECT usage_system FROM cpu WHERE usage_system > -0.5 AND usage_system < 7.5",
        &["0|a|5", "10|a|6", "20|a|7", "40|a|2", "0|b|1", "30|b|3"],
    )
    .await;
}

#[tokio::test]
async fn filter_applies_before_order_by_and_limit() {
    // usage_user > 90: 95 (a@0), 91 (a@30), 99 (a@40), 92 (b@10), 93 (b@30);
    // descending, first 3: 99, 95, 93 (without the filter NaN would sort first)
    check(
        "SELECT usage_user FROM cpu WHERE usage_user > 90 ORDER BY usage_user DESC LIMIT 3",
        &["40|a|99", "0|a|95", "30|b|93"],
    )
    .await;
    // hidden column, ordered by time (ties by group): a@0, b@10, then a@30, b@30
    check(
        "SELECT usage_system FROM cpu WHERE usage_user > 90 ORDER BY time LIMIT 3",
        &["0|a|5", "10|b|8", "30|a|null"],
    )
    .await;
}

#[tokio::test]
async fn missing_compared_field_gives_an_empty_result_and_a_notice() {
    check("SELECT usage_user FROM cpu WHERE nope > 0", &[]).await;
    let out = session(Capabilities::ALL, 4096)
        .execute("SELECT usage_user FROM cpu WHERE nope > 0")
        .await
        .unwrap();
    assert_eq!(columns(&out), ["time", "host", "usage_user"]);
    assert_eq!(
        out.notices,
        ["field 'nope' does not exist in measurement 'cpu': the value comparison nope > 0 matches no row, the result is empty"]
    );
}

#[tokio::test]
async fn explain_shows_the_filter_and_the_hidden_pipeline() {
    let out = session(Capabilities::ALL, 4096)
        .execute("EXPLAIN SELECT usage_system FROM cpu WHERE usage_user > 90")
        .await
        .unwrap();
    let text = common::explain_text(&out);
    assert!(text.contains("value filter: usage_user > 90\n"), "{text}");
    assert!(
        text.contains(
            "pipeline 2 of 2: usage_user [raw] (read for the value filter, not in the result)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("columns: time, host, usage_system\n"),
        "{text}"
    );
}
