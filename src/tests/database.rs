//! The `Database` handle end to end: open a TSM store in a temp dir, write
//! line protocol (per-line report), query through a session, close and
//! reopen; the in-memory database's line-protocol bridge; the memory pool
//! shared by a database's queries.

use arrow::array::{Array, Float64Array, StringArray};
use arrow::record_batch::RecordBatch;
use tsq::{Database, DatabaseOptions, Precision, SessionConfig};

/// Rows as `host=value` (tag column 1, last column the value).
fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let host = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        let v = b.column(b.num_columns() - 1);
        let v = v.as_any().downcast_ref::<Float64Array>().unwrap();
        for i in 0..b.num_rows() {
            out.push(format!("{}={}", host.value(i), v.value(i)));
        }
    }
    out
}

const LP: &str = "\
cpu,host=a usage=1 0
cpu,host=b usage=5 0
cpu,host=a usage=oops 10
cpu,host=a usage=3 60000000000
";

#[tokio::test]
async fn open_write_query_close_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).await.unwrap();
    let report = db.write_lp(LP).await.unwrap();
    assert_eq!((report.points_written, report.series_created), (3, 2));
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line, 3);
    let q = db
        .session()
        .sql("SELECT sum(usage) FROM cpu GROUP BY host")
        .await
        .unwrap();
    // without SAMPLE BY the sum is per timestamp: a at 0 and 60 s, b at 0
    assert_eq!(rows(&q.collect().await.unwrap()), ["a=1", "a=3", "b=5"]);
    db.close().await.unwrap();

    let db = Database::open(dir.path()).await.unwrap();
    // the cache was flushed at close: nothing to replay
    assert_eq!(db.open_report().wal_entries_replayed, 0);
    // max over hosts at t = 0: max(1, 5)
    let q = db
        .session()
        .sql("SELECT max(usage) FROM cpu")
        .await
        .unwrap();
    let batches = q.collect().await.unwrap();
    let v = batches[0].column(1);
    assert_eq!(
        v.as_any().downcast_ref::<Float64Array>().unwrap().value(0),
        5.0
    );
}

#[tokio::test]
async fn in_memory_ingests_line_protocol() {
    let db = Database::in_memory();
    let report = db
        .write_lp_with_precision(
            "cpu,host=a usage=1,ok=true 0\ncpu,host=b usage=2u,note=\"x\" 1\nbad line\n",
            Precision::Seconds,
        )
        .await
        .unwrap();
    // usage a, ok a; the string field, the unsigned usage of b (usage is a
    // float field, as its first write made it) and line 3 are errors
    assert_eq!((report.points_written, report.series_created), (2, 2));
    let lines: Vec<usize> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 2, 3]);
    assert!(
        report.errors[1]
            .message
            .contains("holds float values; cannot write unsigned"),
        "{:?}",
        report.errors
    );
    let q = db.session().sql("SELECT usage FROM cpu").await.unwrap();
    assert_eq!(rows(&q.collect().await.unwrap()), ["a=1"]);
    let q = db.session().sql("SELECT ok FROM cpu").await.unwrap();
    assert_eq!(rows(&q.collect().await.unwrap()), ["a=1"]);
    // a second write of an existing series creates none
    let again = db.write_lp("cpu,host=a usage=9 5").await.unwrap();
    assert_eq!((again.points_written, again.series_created), (1, 0));
}

#[tokio::test]
async fn queries_share_the_database_pool() {
    let lp: String = (0..50)
        .map(|t| format!("cpu,host=h{t} usage={t} {t}\n"))
        .collect();
    // the per-query budget (1 MiB) would allow the query; the pool does not
    let options = DatabaseOptions::new()
        .with_shared_memory(64)
        .with_session_config(SessionConfig::new().with_memory_budget(1 << 20));
    let db = Database::in_memory_with(options);
    db.write_lp(lp).await.unwrap();
    let err = db
        .session()
        .sql("SELECT p99(usage) FROM cpu")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert!(err.is_resources_exhausted(), "{err}");
    assert!(err.to_string().contains("budget 64 bytes"), "{err}");
    assert_eq!(db.memory_pool().used(), 0);
}
