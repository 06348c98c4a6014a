//! Integer and unsigned fields end to end (`docs/semantics.md` §12):
//! written as line protocol into the TSM store (read back from its cache
//! and WAL, then from TSM files after a reopen) and into the in-memory
//! database, raw selects return them exactly in `Int64` / `UInt64` columns,
//! value filters and `ORDER BY` compare them exactly, `count` is `Int64`,
//! `min`, `max`, `first` and `last` are exact in the field's type wherever
//! no interpolation can be needed (every path: threads 1 and 2, every
//! aggregation operator, the last-point read), and the other aggregates
//! are computed in f64 as documented.
//!
//! The values are chosen where f64 fails: 2^53 + 1 = 9007199254740993 is
//! not an f64 (it reads as 2^53), nor are i64::MAX and u64::MAX.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use tsq::engine::AggStrategy;
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
        // max selects: exact, the largest u of a is 2^64 - 1 (not 2^64).
        let sql = "SELECT max(u) FROM m GROUP BY host SAMPLE BY ALL max";
        let batches = query(&db, sql).await;
        assert_eq!(batches[0].schema().field(2).data_type(), &DataType::UInt64);
        assert_eq!(
            column(&batches, 2, uint),
            [
                (s("a"), Some(u64::MAX)),
                (s("b"), Some(9_007_199_254_740_992))
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

/// Every way a query can run: threads 1 and 2 (two partitions: the point
/// threshold is off, the test data being tiny), and each
/// aggregation operator (`None`: the optimizer's choice, `PipeAggOp` for
/// these queries; `MTAggOp` and `GroupedAggOp` forced).
fn configs() -> Vec<(String, SessionConfig)> {
    let mut out = Vec::new();
    for threads in [1, 2] {
        for strategy in [None, Some(AggStrategy::MT), Some(AggStrategy::Grouped)] {
            let config = SessionConfig::new()
                .with_threads(threads)
                .with_min_points_per_partition(0)
                .with_force_strategy(strategy);
            out.push((format!("threads={threads} strategy={strategy:?}"), config));
        }
    }
    out
}

async fn query_with(db: &Database, config: &SessionConfig, sql: &str) -> Vec<RecordBatch> {
    let q = db.session_with(config.clone()).sql(sql).await.unwrap();
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

/// The EXPLAIN text of `sql`.
async fn explain(db: &Database, config: &SessionConfig, sql: &str) -> String {
    let batches = query_with(db, config, &format!("EXPLAIN {sql}")).await;
    let mut plan = String::new();
    for b in &batches {
        for c in b.columns() {
            if let Some(text) = c.as_string_opt::<i32>() {
                plan.extend(text.iter().flatten().map(|l| format!("{l}\n")));
            }
        }
    }
    plan
}

/// The operators `config` must run for a selector query (`how` from
/// [`configs`]), so that the tests below cover every path.
fn expected_operators(how: &str) -> &'static [&'static str] {
    match (how.contains("threads=2"), how) {
        (true, h) if h.contains("MT") => &["GroupMergeOp", "MTAggOp"],
        (true, h) if h.contains("Grouped") => &["GroupMergeOp", "GroupedAggOp"],
        (true, _) => &["GroupMergeOp", "PipeAggOp", "by whole groups"],
        (false, h) if h.contains("MT") => &["MTAggOp"],
        (false, h) if h.contains("Grouped") => &["GroupedAggOp"],
        (false, _) => &["PipeAggOp"],
    }
}

/// Column `c` of every batch (no tag columns), the value read with `read`.
fn values<T>(
    batches: &[RecordBatch],
    c: usize,
    read: impl Fn(&dyn Array, usize) -> T,
) -> Vec<Option<T>> {
    let mut out = Vec::new();
    for b in batches {
        let values = b.column(c);
        for r in 0..b.num_rows() {
            out.push(values.is_valid(r).then(|| read(values.as_ref(), r)));
        }
    }
    out
}

/// The time column of every batch, in ns.
fn times(batches: &[RecordBatch]) -> Vec<i64> {
    use arrow::datatypes::TimestampNanosecondType;
    batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_primitive::<TimestampNanosecondType>()
                .values()
                .to_vec()
        })
        .collect()
}

const TWO_53: i64 = 9_007_199_254_740_992;

/// `min`, `max`, `first`, `last` per host over the whole range. By hand
/// from `LP`: i of a is 2^53 + 1, i64::MIN, 2^53 (in time order), of b
/// i64::MAX; u of a is u64::MAX, 0, 2^53 + 1, of b 2^53.
#[tokio::test]
async fn selectors_per_host_are_exact_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    for (store, db) in stores(dir.path()).await {
        for (how, config) in configs() {
            let at = format!("{store} {how}");
            let ints: [(&str, [i64; 2]); 4] = [
                ("max", [TWO_53 + 1, i64::MAX]),
                ("min", [i64::MIN, i64::MAX]),
                ("first", [TWO_53 + 1, i64::MAX]),
                ("last", [TWO_53, i64::MAX]),
            ];
            for (agg, [a, b]) in ints {
                let sql = format!("SELECT {agg}(i) FROM m GROUP BY host SAMPLE BY ALL {agg}");
                // `last` reads last points (`last_point_reads_are_exact`).
                let plan = explain(&db, &config, &sql).await;
                for op in expected_operators(&how).iter().filter(|_| agg != "last") {
                    assert!(plan.contains(op), "{at}: {sql} runs {op}: {plan}");
                }
                let batches = query_with(&db, &config, &sql).await;
                assert_eq!(batches[0].schema().field(2).data_type(), &DataType::Int64);
                let want = [(s("a"), Some(a)), (s("b"), Some(b))];
                assert_eq!(column(&batches, 2, int), want, "{at}: {sql}");
            }
            let uints: [(&str, [u64; 2]); 4] = [
                ("max", [u64::MAX, TWO_53 as u64]),
                ("min", [0, TWO_53 as u64]),
                ("first", [u64::MAX, TWO_53 as u64]),
                ("last", [TWO_53 as u64 + 1, TWO_53 as u64]),
            ];
            for (agg, [a, b]) in uints {
                let sql = format!("SELECT {agg}(u) FROM m GROUP BY host SAMPLE BY ALL {agg}");
                let batches = query_with(&db, &config, &sql).await;
                assert_eq!(batches[0].schema().field(2).data_type(), &DataType::UInt64);
                let want = [(s("a"), Some(a)), (s("b"), Some(b))];
                assert_eq!(column(&batches, 2, uint), want, "{at}: {sql}");
            }
        }
    }
}

/// Across hosts (one group): the per-host values of the test above,
/// aggregated again; `first` / `last` across timelines take the lowest /
/// highest series id (a, b).
#[tokio::test]
async fn selectors_across_hosts_are_exact_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    for (store, db) in stores(dir.path()).await {
        for (how, config) in configs() {
            let at = format!("{store} {how}");
            for (sql, want) in [
                ("SELECT max(i) FROM m SAMPLE BY ALL max", i64::MAX),
                ("SELECT min(i) FROM m SAMPLE BY ALL min", i64::MIN),
                // a's first, a's last
                ("SELECT first(i) FROM m SAMPLE BY ALL first", TWO_53 + 1),
                ("SELECT last(i) FROM m SAMPLE BY ALL last", i64::MAX),
                ("SELECT mimmax(i) FROM m SAMPLE BY ALL max", i64::MAX),
            ] {
                let batches = query_with(&db, &config, sql).await;
                assert_eq!(batches[0].schema().field(1).data_type(), &DataType::Int64);
                assert_eq!(times(&batches), [1000], "{at}: {sql}");
                assert_eq!(values(&batches, 1, int), [Some(want)], "{at}: {sql}");
            }
            for (sql, want) in [
                ("SELECT max(u) FROM m SAMPLE BY ALL max", u64::MAX),
                ("SELECT min(u) FROM m SAMPLE BY ALL min", 0),
                ("SELECT first(u) FROM m SAMPLE BY ALL first", u64::MAX),
                // b's last (2^53), not a's (2^53 + 1): b has the higher id
                ("SELECT last(u) FROM m SAMPLE BY ALL last", TWO_53 as u64),
            ] {
                let batches = query_with(&db, &config, sql).await;
                assert_eq!(batches[0].schema().field(1).data_type(), &DataType::UInt64);
                assert_eq!(values(&batches, 1, uint), [Some(want)], "{at}: {sql}");
            }
        }
    }
}

/// Time buckets of 2 µs over [0, 4000): a has 2^53 + 1 in bucket 0 and
/// i64::MIN, 2^53 in bucket 2000; b has i64::MAX in bucket 0 only, so its
/// bucket 2000 is filled.
#[tokio::test]
async fn selectors_per_time_bucket_are_exact_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let range = "WHERE time >= 0 AND time < 4000";
    for (store, db) in stores(dir.path()).await {
        for (how, config) in configs() {
            let at = format!("{store} {how}");
            let sql =
                format!("SELECT max(i) FROM m {range} GROUP BY host SAMPLE BY 2us max FILL(null)");
            let batches = query_with(&db, &config, &sql).await;
            assert_eq!(batches[0].schema().field(2).data_type(), &DataType::Int64);
            assert_eq!(times(&batches), [0, 2000, 0, 2000], "{at}: {sql}");
            let want = [
                (s("a"), Some(TWO_53 + 1)),
                (s("a"), Some(TWO_53)),
                (s("b"), Some(i64::MAX)),
                (s("b"), None),
            ];
            assert_eq!(column(&batches, 2, int), want, "{at}: {sql}");
            // previous carries b's i64::MAX into bucket 2000
            let sql = format!(
                "SELECT min(i) FROM m {range} GROUP BY host SAMPLE BY 2us min FILL(previous)"
            );
            let batches = query_with(&db, &config, &sql).await;
            let want = [
                (s("a"), Some(TWO_53 + 1)),
                (s("a"), Some(i64::MIN)),
                (s("b"), Some(i64::MAX)),
                (s("b"), Some(i64::MAX)),
            ];
            assert_eq!(column(&batches, 2, int), want, "{at}: {sql}");
            // a whole-number fill of the unsigned field stays UInt64
            let sql =
                format!("SELECT first(u) FROM m {range} GROUP BY host SAMPLE BY 2us first FILL(7)");
            let batches = query_with(&db, &config, &sql).await;
            assert_eq!(batches[0].schema().field(2).data_type(), &DataType::UInt64);
            let want = [
                (s("a"), Some(u64::MAX)),
                (s("a"), Some(0)),
                (s("b"), Some(TWO_53 as u64)),
                (s("b"), Some(7)),
            ];
            assert_eq!(column(&batches, 2, uint), want, "{at}: {sql}");
            // across hosts: bucket 0 max(u64::MAX, 2^53), bucket 2000 a's
            // max(0, 2^53 + 1) with b's null skipped
            let sql = format!("SELECT max(u) FROM m {range} SAMPLE BY 2us max FILL(null)");
            let batches = query_with(&db, &config, &sql).await;
            assert_eq!(batches[0].schema().field(1).data_type(), &DataType::UInt64);
            let want = [Some(u64::MAX), Some(TWO_53 as u64 + 1)];
            assert_eq!(values(&batches, 1, uint), want, "{at}: {sql}");
            // FILL(previous) seeded from before the range (a's 2^53 + 1 at
            // 1000) fills bucket 1500 exactly; b has no point in the range.
            let sql = "SELECT last(i) FROM m WHERE time >= 1500 AND time < 3500 GROUP BY host \
                       SAMPLE BY 500ns last FILL(previous)";
            let batches = query_with(&db, &config, sql).await;
            assert_eq!(times(&batches), [1500, 2000, 2500, 3000], "{at}: {sql}");
            let want = [
                (s("a"), Some(TWO_53 + 1)),
                (s("a"), Some(i64::MIN)),
                (s("a"), Some(i64::MIN)),
                (s("a"), Some(TWO_53)),
            ];
            assert_eq!(column(&batches, 2, int), want, "{at}: {sql}");
            // last across hosts, bucket 2000: b's null is skipped, a's 2^53
            let sql = format!("SELECT last(i) FROM m {range} SAMPLE BY 2us last FILL(null)");
            let batches = query_with(&db, &config, &sql).await;
            assert_eq!(
                values(&batches, 1, int),
                [Some(i64::MAX), Some(TWO_53)],
                "{at}"
            );
        }
    }
}

/// The last-point read (`LastPointsOp`, `docs/semantics.md` §10) keeps the
/// points' types: `last(*)` and `SAMPLE BY ALL last`, with and without a
/// lower bound.
#[tokio::test]
async fn last_point_reads_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    for (store, db) in stores(dir.path()).await {
        for threads in [1, 2] {
            let config = SessionConfig::new().with_threads(threads);
            let at = format!("{store} threads={threads}");
            let sql = "SELECT last(i) FROM m GROUP BY host SAMPLE BY ALL last";
            let plan = explain(&db, &config, sql).await;
            assert!(plan.contains("LastPointsOp: adapter="), "{at}: {plan}");
            let batches = query_with(&db, &config, sql).await;
            let want = [(s("a"), Some(TWO_53)), (s("b"), Some(i64::MAX))];
            assert_eq!(column(&batches, 2, int), want, "{at}");
            // From 1500 only a has points: its newest, 2^53 at 3000.
            let sql = "SELECT last(i) FROM m WHERE time >= 1500 GROUP BY host SAMPLE BY ALL last";
            let batches = query_with(&db, &config, sql).await;
            assert_eq!(column(&batches, 2, int), [(s("a"), Some(TWO_53))], "{at}");
            // last(*): fields f, i, u in the catalog's order
            let batches = query_with(&db, &config, "SELECT last(*) FROM m GROUP BY host").await;
            let schema = batches[0].schema();
            let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
            assert_eq!(
                &types[2..],
                [&DataType::Float64, &DataType::Int64, &DataType::UInt64],
                "{at}"
            );
            assert_eq!(
                column(&batches, 3, int),
                [(s("a"), Some(TWO_53)), (s("b"), Some(i64::MAX))],
                "{at}"
            );
            assert_eq!(
                column(&batches, 4, uint),
                [
                    (s("a"), Some(TWO_53 as u64 + 1)),
                    (s("b"), Some(TWO_53 as u64))
                ],
                "{at}"
            );
        }
    }
}

/// Where a selector's inputs may be interpolated or filled with a
/// non-integer, it is `Float64` (computed in f64, `docs/semantics.md`
/// §12); a downsample alone keeps the type with `FILL(none)`.
#[tokio::test]
async fn selectors_that_may_interpolate_are_float64() {
    let dir = tempfile::tempdir().unwrap();
    for (store, db) in stores(dir.path()).await {
        // Per timeline, FILL(none): exact.
        let batches = query(&db, "SELECT i FROM m SAMPLE BY 2us max").await;
        assert_eq!(batches[0].schema().field(2).data_type(), &DataType::Int64);
        let want = [
            (s("a"), Some(TWO_53 + 1)),
            (s("a"), Some(TWO_53)),
            (s("b"), Some(i64::MAX)),
        ];
        assert_eq!(column(&batches, 2, int), want, "{store}");
        // Across timelines without SAMPLE BY: lerp may be needed, f64. At
        // 1000: max(2^53 + 1, i64::MAX) as f64; at 2000 and 3000 only a.
        let batches = query(&db, "SELECT max(i) FROM m").await;
        assert_eq!(batches[0].schema().field(1).data_type(), &DataType::Float64);
        let want = [
            Some(9.223_372_036_854_776e18),
            Some(-9.223_372_036_854_776e18),
            Some(9_007_199_254_740_992.0),
        ];
        assert_eq!(values(&batches, 1, float), want, "{store}");
        // FILL(none) across hosts, FILL(linear), a negative fill of u: f64
        for sql in [
            "SELECT max(i) FROM m SAMPLE BY 2us max",
            "SELECT max(i) FROM m WHERE time >= 0 AND time < 4000 SAMPLE BY 2us max FILL(linear)",
            "SELECT u FROM m WHERE time >= 0 AND time < 4000 SAMPLE BY 2us first FILL(-1)",
        ] {
            let batches = query(&db, sql).await;
            let schema = batches[0].schema();
            let last = schema.fields().len() - 1;
            assert_eq!(
                schema.field(last).data_type(),
                &DataType::Float64,
                "{store}: {sql}"
            );
        }
        let sql = "SELECT u FROM m WHERE time >= 0 AND time < 4000 SAMPLE BY 2us first FILL(-1)";
        let batches = query(&db, sql).await;
        let want = [
            (s("a"), Some(18_446_744_073_709_551_616.0)),
            (s("a"), Some(0.0)),
            (s("b"), Some(9_007_199_254_740_992.0)),
            (s("b"), Some(-1.0)),
        ];
        assert_eq!(column(&batches, 2, float), want, "{store}");
    }
}

/// A field keeps the type of its first write on both stores: a float
/// written to the integer field `i` (another series, later shard) is
/// refused, and the selectors stay exact.
#[tokio::test]
async fn a_float_written_to_an_integer_field_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (store, db) in stores(dir.path()).await {
        let day = 86_400_000_000_000i64;
        let report = db
            .write_lp(&format!("m,host=c i=1.5 {}", 30 * day))
            .await
            .unwrap();
        assert_eq!(report.points_written, 0, "{store}");
        assert_eq!(report.errors.len(), 1, "{store}: {:?}", report.errors);
        let sql = "SELECT max(i) FROM m GROUP BY host SAMPLE BY ALL max";
        let batches = query(&db, sql).await;
        let want = [(s("a"), Some(TWO_53 + 1)), (s("b"), Some(i64::MAX))];
        assert_eq!(column(&batches, 2, int), want, "{store}");
    }
}
