//! Integer and unsigned fields end to end (`docs/semantics.md` §11):
//! written as line protocol into the TSM store (read back from its cache
//! and WAL, then from TSM files after a reopen) and into the in-memory
//! database, raw selects return them exactly in `Int64` / `UInt64` columns,
//! value filters and `ORDER BY` compare them exactly, `count` is `Int64`,
//! and the other aggregates are computed in f64 as documented.
//!
//! The values are chosen where f64 fails: 2^53 + 1 = 9007199254740993 is
//! not an f64 (it reads as 2^53), nor are i64::MAX and u64::MAX.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use tsq::planner::Executor;
use tsq::{Database, SessionConfig};

const LP: &str = "\
m,host=a i=9007199254740993i,u=18446744073709551615u,f=1.5 1000
m,host=a i=-9223372036854775808i,u=0u,f=2.5 2000
m,host=a i=9007199254740992i,u=9007199254740993u,f=3.5 3000
m,host=b i=9223372036854775807i,u=9007199254740992u 1000
";

/// The three stores of the same points: TSM before and after a reopen
/// (cache, then files), and memory.
async fn stores(dir: &std::path::Path) -> Vec<(&'static str, Database)> {
    let tsm = Database::open(&dir.join("cache")).await.unwrap();
    let report = tsm.write_lp(LP).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.points_written, 11);
    // A second store, closed and reopened so its points are in TSM files.
    let files_dir = dir.join("files");
    let files = Database::open(&files_dir).await.unwrap();
    files.write_lp(LP).await.unwrap();
    files.close().await.unwrap();
    let files = Database::open(&files_dir).await.unwrap();
    assert_eq!(files.open_report().wal_entries_replayed, 0);
    let memory = Database::in_memory();
    let report = memory.write_lp(LP).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.points_written, 11);
    vec![("tsm cache", tsm), ("tsm files", files), ("memory", memory)]
}

async fn query(db: &Database, sql: &str) -> Vec<RecordBatch> {
    let q = db.session().sql(sql).await.unwrap();
    let schema = q.schema();
    let batches = q.collect().await.unwrap();
    for b in &batches {
        assert_eq!(
            b.schema(),
            schema,
            "{sql}: batches have the announced schema"
        );
    }
    batches
}

/// Column `c` of every batch as `(host, value)` pairs, the value read
/// with `read` (`None` for null).
fn column<T>(
    batches: &[RecordBatch],
    c: usize,
    read: impl Fn(&dyn Array, usize) -> T,
) -> Vec<(String, Option<T>)> {
    let mut out = Vec::new();
    for b in batches {
        let hosts = b.column(1).as_string::<i32>();
        let values = b.column(c);
        for r in 0..b.num_rows() {
            let v = values.is_valid(r).then(|| read(values.as_ref(), r));
            out.push((hosts.value(r).to_string(), v));
        }
    }
    out
}

fn int(a: &dyn Array, r: usize) -> i64 {
    a.as_primitive::<Int64Type>().value(r)
}

fn uint(a: &dyn Array, r: usize) -> u64 {
    a.as_primitive::<UInt64Type>().value(r)
}

fn float(a: &dyn Array, r: usize) -> f64 {
    a.as_primitive::<Float64Type>().value(r)
}

fn s(host: &str) -> String {
    host.to_string()
}

#[tokio::test]
async fn raw_selects_return_integers_exactly_in_their_types() {
    let dir = tempfile::tempdir().unwrap();
    for (store, db) in stores(dir.path()).await {
        let batches = query(&db, "SELECT i, u, f FROM m").await;
        let schema = batches[0].schema();
        let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
        assert_eq!(
            &types[2..],
            [&DataType::Int64, &DataType::UInt64, &DataType::Float64],
            "{store}"
        );
        // rows by host, then time: a@1000, a@2000, a@3000, b@1000
        assert_eq!(
            column(&batches, 2, int),
            [
                (s("a"), Some(9_007_199_254_740_993)),
                (s("a"), Some(i64::MIN)),
                (s("a"), Some(9_007_199_254_740_992)),
                (s("b"), Some(i64::MAX)),
            ],
            "{store}"
        );
        assert_eq!(
            column(&batches, 3, uint),
            [
                (s("a"), Some(u64::MAX)),
                (s("a"), Some(0)),
                (s("a"), Some(9_007_199_254_740_993)),
                (s("b"), Some(9_007_199_254_740_992)),
            ],
            "{store}"
        );
        assert_eq!(
            column(&batches, 4, float),
            [
                (s("a"), Some(1.5)),
                (s("a"), Some(2.5)),
                (s("a"), Some(3.5)),
                (s("b"), None),
            ],
            "{store}"
        );
    }
}

#[tokio::test]
async fn value_filters_and_order_by_compare_integers_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for (store, db) in stores(dir.path()).await {
        // As f64 both 2^53 and 2^53 + 1 would equal the bound.
        let batches = query(&db, "SELECT i FROM m WHERE i > 9007199254740992").await;
        assert_eq!(
            column(&batches, 2, int),
            [
                (s("a"), Some(9_007_199_254_740_993)),
                (s("b"), Some(i64::MAX))
            ],
            "{store}"
        );
        let batches = query(&db, "SELECT u FROM m ORDER BY u DESC LIMIT 3").await;
        assert_eq!(
            column(&batches, 2, uint),
            [
                (s("a"), Some(u64::MAX)),
                (s("a"), Some(9_007_199_254_740_993)),
                (s("b"), Some(9_007_199_254_740_992)),
            ],
            "{store}"
        );
        // Arithmetic is in f64: 2^53 + 1 + 0 reads as 2^53.
        let batches = query(&db, "SELECT i + 0 AS x FROM m WHERE time = 1000").await;
        assert_eq!(
            column(&batches, 2, float),
            [
                (s("a"), Some(9_007_199_254_740_992.0)),
                (s("b"), Some(9.223_372_036_854_776e18))
            ],
            "{store}"
        );
    }
}

#[tokio::test]
async fn counts_are_int64_and_other_aggregates_compute_in_f64() {
    let dir = tempfile::tempdir().unwrap();
    for (store, db) in stores(dir.path()).await {
        // Timelines with a point at each time: a and b at 1000, a alone
        // at 2000 and 3000 (count never interpolates).
        let batches = query(&db, "SELECT count(i) FROM m").await;
        assert_eq!(batches[0].schema().field(1).data_type(), &DataType::Int64);
        let counts: Vec<i64> = batches
            .iter()
            .flat_map(|b| b.column(1).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert_eq!(counts, [2, 1, 1], "{store}");
        // Per 2 µs bucket of each host: a has 1 point in [0, 2000) and 2
        // in [2000, 4000), b one in [0, 2000).
        let sql = "SELECT u FROM m SAMPLE BY 2us count";
        let batches = query(&db, sql).await;
        assert_eq!(batches[0].schema().field(2).data_type(), &DataType::Int64);
        assert_eq!(
            column(&batches, 2, int),
            [(s("a"), Some(1)), (s("a"), Some(2)), (s("b"), Some(1))],
            "{store}"
        );
        // count(*): per-timeline counts summed; a float field's stay Float64
        let batches = query(&db, "SELECT count(*) FROM m GROUP BY host").await;
        let schema = batches[0].schema();
        let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
        assert_eq!(
            &types[2..],
            [&DataType::Float64, &DataType::Int64, &DataType::Int64],
            "{store}"
        );
        assert_eq!(
            column(&batches, 2, float),
            [(s("a"), Some(3.0)), (s("b"), None)],
            "{store}"
        );
        for c in [3, 4] {
            let want = [(s("a"), Some(3)), (s("b"), Some(1))];
            assert_eq!(column(&batches, c, int), want, "{store} column {c}");
        }
        // max is computed in f64: the largest u of a, 2^64 - 1, reads as 2^64.
        let sql = "SELECT max(u) FROM m GROUP BY host SAMPLE BY ALL max";
        let batches = query(&db, sql).await;
        assert_eq!(batches[0].schema().field(2).data_type(), &DataType::Float64);
        assert_eq!(
            column(&batches, 2, float),
            [
                (s("a"), Some(18_446_744_073_709_551_616.0)),
                (s("b"), Some(9_007_199_254_740_992.0))
            ],
            "{store}"
        );
        // sum in f64: 2^53 + 1 + i64::MIN + 2^53 = 2^54 + 1 - 2^63, rounded.
        let sql = "SELECT sum(i) FROM m WHERE host = 'a' GROUP BY host SAMPLE BY ALL sum";
        let batches = query(&db, sql).await;
        let want = 9_007_199_254_740_992.0 + -9_223_372_036_854_775_808.0 + 9_007_199_254_740_992.0;
        assert_eq!(
            column(&batches, 2, float),
            [(s("a"), Some(want))],
            "{store}"
        );
    }
}

/// The materialized executor computes in f64 and converts at the end: below
/// 2^53 it gives the pipelined engine's columns, types and values.
#[tokio::test]
async fn the_materialized_executor_agrees_below_two_to_the_53() {
    let lp = "\
m,host=a i=7i,u=70u 1000
m,host=a i=-3i,u=30u 2000
m,host=a i=12i,u=120u 3000
m,host=b i=5i,u=50u 1000
m,host=b i=-8i,u=80u 4000
";
    let db = Database::in_memory();
    db.write_lp(lp).await.unwrap();
    let materialized = SessionConfig::new().with_executor(Executor::Materialized);
    for sql in [
        "SELECT i, u FROM m",
        "SELECT i FROM m WHERE i > 4",
        "SELECT count(i) FROM m",
        "SELECT count(*) FROM m GROUP BY host",
        "SELECT u FROM m SAMPLE BY 2us count FILL(zero)",
        "SELECT max(i) FROM m GROUP BY host SAMPLE BY 2us max FILL(null)",
        "SELECT sum(u) FROM m SAMPLE BY ALL sum",
    ] {
        let pipelined = query(&db, sql).await;
        let q = db
            .session_with(materialized.clone())
            .sql(sql)
            .await
            .unwrap();
        let oracle = q.collect().await.unwrap();
        let concat = |b: &[RecordBatch]| arrow::compute::concat_batches(&b[0].schema(), b).unwrap();
        assert_eq!(concat(&pipelined), concat(&oracle), "{sql}");
    }
}
