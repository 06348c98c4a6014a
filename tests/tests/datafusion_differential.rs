//! Differential test against DataFusion (a dev-dependency only): for queries
//! DataFusion can express in SQL, random data is loaded both into tsq's
//! in-memory adapter and into a DataFusion `MemTable`, the tsq query runs
//! through the planner (so through the optimizer's chosen operators) and
//! the equivalent SQL runs in DataFusion, and the rows must agree.
//!
//! Expressible queries:
//! - per-timeline downsample without fill: `date_bin` + `GROUP BY host, bucket`;
//! - aggregates across timelines of zero-filled buckets: every (series,
//!   bucket) pair from a cross join with the bucket grid, `coalesce(avg, 0)`,
//!   then the aggregate per (group, bucket).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use tsq_benches::data::SplitMix64;
use tsq_planner::{QueryKind, Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;

const S: i64 = 1_000_000_000;
const WINDOW: i64 = 600 * S;

/// `(tag value, time ns, value)`, sorted.
type Rows = Vec<(String, i64, Option<f64>)>;

struct Point {
    host: String,
    grp: String,
    time: i64,
    value: f64,
}

fn random_points(seed: u64) -> Vec<Point> {
    let mut rng = SplitMix64::new(seed);
    let hosts = 2 + rng.below(12);
    let mut points = Vec::new();
    for h in 0..hosts {
        let density = 0.02 + rng.next_f64() * 0.3;
        for sec in 0..600 {
            if rng.next_f64() < density {
                points.push(Point {
                    host: format!("h{h:02}"),
                    grp: format!("g{}", h % 3),
                    time: sec * S + rng.below(1000) as i64 * 1_000_000,
                    value: (rng.next_f64() * 10_000.0).round() / 100.0,
                });
            }
        }
    }
    points
}

fn tsq_session(points: &[Point]) -> Session {
    let adapter = MemoryAdapter::new();
    for p in points {
        adapter.insert(
            "m",
            &[("host", &p.host), ("grp", &p.grp)],
            "v",
            &[(p.time, p.value)],
        );
    }
    Session::new(Arc::new(adapter), SessionConfig::default())
}

fn datafusion_context(points: &[Point]) -> SessionContext {
    let ts = DataType::Timestamp(TimeUnit::Nanosecond, None);
    let schema = Arc::new(Schema::new(vec![
        Field::new("host", DataType::Utf8, false),
        Field::new("grp", DataType::Utf8, false),
        Field::new("time", ts.clone(), false),
        Field::new("v", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            points.iter().map(|p| p.host.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            points.iter().map(|p| p.grp.as_str()),
        )),
        Arc::new(TimestampNanosecondArray::from_iter_values(
            points.iter().map(|p| p.time),
        )),
        Arc::new(Float64Array::from_iter_values(
            points.iter().map(|p| p.value),
        )),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).expect("valid batch");
    let ctx = SessionContext::new();
    let table = MemTable::try_new(schema, vec![vec![batch]]).expect("mem table");
    ctx.register_table("m", Arc::new(table))
        .expect("register m");
    // The bucket grid of the query range [0, 600 s) at 1 minute.
    let grid_schema = Arc::new(Schema::new(vec![Field::new("t", ts, false)]));
    let grid = RecordBatch::try_new(
        Arc::clone(&grid_schema),
        vec![Arc::new(TimestampNanosecondArray::from_iter_values(
            (0..10).map(|k| k * 60 * S),
        ))],
    )
    .expect("grid batch");
    let grid = MemTable::try_new(grid_schema, vec![vec![grid]]).expect("grid table");
    ctx.register_table("grid", Arc::new(grid))
        .expect("register grid");
    ctx
}

/// Flattens (tag, time, value) columns 0..3 of `batches` into sorted rows.
fn flatten(batches: &[RecordBatch], tag: usize, time: usize, value: usize) -> Rows {
    let mut rows = Vec::new();
    for b in batches {
        let tags = b
            .column(tag)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("tag column");
        let times = b
            .column(time)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .expect("time column");
        let values = b
            .column(value)
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("value column");
        for i in 0..b.num_rows() {
            let v = values.is_valid(i).then(|| values.value(i));
            rows.push((tags.value(i).to_string(), times.value(i), v));
        }
    }
    rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    rows
}

async fn run_tsq(session: &Session, sql: &str) -> Rows {
    let out = session
        .execute(sql)
        .await
        .unwrap_or_else(|e| panic!("tsq: {sql}: {e}"));
    match out.kind {
        // Columns: time, the one group tag, the one aggregate.
        QueryKind::Rows { batches, .. } => flatten(&batches, 1, 0, 2),
        QueryKind::Explain(_) => panic!("not rows"),
    }
}

async fn run_datafusion(ctx: &SessionContext, sql: &str) -> Rows {
    let df = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("datafusion: {sql}: {e}"));
    let batches = df.collect().await.expect("datafusion runs");
    flatten(&batches, 0, 1, 2)
}

fn assert_same(seed: u64, what: &str, tsq: &Rows, df: &Rows) {
    assert_eq!(
        tsq.len(),
        df.len(),
        "seed {seed}, {what}: row counts differ"
    );
    for (a, b) in tsq.iter().zip(df) {
        assert_eq!((&a.0, a.1), (&b.0, b.1), "seed {seed}, {what}: keys differ");
        let (x, y) = (a.2.expect("tsq value"), b.2.expect("datafusion value"));
        assert!(
            (x - y).abs() <= 1e-9 * x.abs().max(1.0),
            "seed {seed}, {what} at {} {}: tsq {x} vs datafusion {y}",
            a.0,
            a.1
        );
    }
}

const BUCKET: &str = "date_bin(INTERVAL '1 minute', time, TIMESTAMP '1970-01-01T00:00:00')";

#[tokio::test]
async fn per_timeline_downsample_matches_datafusion() {
    for seed in 0..12 {
        let points = random_points(seed);
        let (tsq, df) = (tsq_session(&points), datafusion_context(&points));
        for (ds, sql_agg) in [
            ("avg", "avg"),
            ("max", "max"),
            ("sum", "sum"),
            ("count", "count"),
        ] {
            let q = format!(
                "SELECT host, sum(v) FROM m WHERE time >= 0 AND time < {WINDOW} \
                 GROUP BY host SAMPLE BY 1m {ds}"
            );
            let sql = format!(
                "SELECT host, {BUCKET} AS t, CAST({sql_agg}(v) AS DOUBLE) FROM m GROUP BY host, {BUCKET}"
            );
            assert_same(
                seed,
                &q,
                &run_tsq(&tsq, &q).await,
                &run_datafusion(&df, &sql).await,
            );
        }
    }
}

#[tokio::test]
async fn aggregates_of_zero_filled_buckets_match_datafusion() {
    for seed in 100..112 {
        let points = random_points(seed);
        let (tsq, df) = (tsq_session(&points), datafusion_context(&points));
        for agg in ["sum", "max", "min", "avg", "count"] {
            let q = format!(
                "SELECT grp, {agg}(v) FROM m WHERE time >= 0 AND time < {WINDOW} \
                 GROUP BY grp SAMPLE BY 1m avg FILL(zero)"
            );
            let sql = format!(
                "WITH b AS (SELECT host, {BUCKET} AS t, avg(v) AS a FROM m GROUP BY host, {BUCKET}), \
                      s AS (SELECT DISTINCT host, grp FROM m) \
                 SELECT s.grp, g.t, CAST({agg}(coalesce(b.a, 0.0)) AS DOUBLE) \
                 FROM s CROSS JOIN grid g LEFT JOIN b ON b.host = s.host AND b.t = g.t \
                 GROUP BY s.grp, g.t"
            );
            assert_same(
                seed,
                &q,
                &run_tsq(&tsq, &q).await,
                &run_datafusion(&df, &sql).await,
            );
        }
    }
}

/// Select-list arithmetic over aggregates of zero-filled buckets: each
/// expression in tsq's language against the same expression in SQL over
/// DataFusion's aggregates (`x` is the zero-filled per-host average).
#[tokio::test]
async fn expressions_over_aggregates_match_datafusion() {
    let cases = [
        ("max(v) - min(v)", "max(x) - min(x)"),
        ("sum(v) / count(v)", "sum(x) / count(x)"),
        ("-abs(max(v) - 50) * 2 + 1", "-abs(max(x) - 50) * 2 + 1"),
        (
            "sqrt(sum(v)) + round(avg(v))",
            "sqrt(sum(x)) + round(avg(x))",
        ),
        (
            "ln(sum(v) + 1) - log10(max(v) + 1)",
            "ln(sum(x) + 1) - log10(max(x) + 1)",
        ),
        (
            "floor(avg(v) / 3) * ceil(min(v))",
            "floor(avg(x) / 3) * ceil(min(x))",
        ),
    ];
    for seed in 200..206 {
        let points = random_points(seed);
        let (tsq, df) = (tsq_session(&points), datafusion_context(&points));
        for (expr, sql_expr) in cases {
            let q = format!(
                "SELECT grp, {expr} FROM m WHERE time >= 0 AND time < {WINDOW} \
                 GROUP BY grp SAMPLE BY 1m avg FILL(zero)"
            );
            let sql = format!(
                "WITH b AS (SELECT host, {BUCKET} AS t, avg(v) AS a FROM m GROUP BY host, {BUCKET}), \
                      s AS (SELECT DISTINCT host, grp FROM m), \
                      f AS (SELECT s.grp, g.t, coalesce(b.a, 0.0) AS x \
                            FROM s CROSS JOIN grid g LEFT JOIN b ON b.host = s.host AND b.t = g.t) \
                 SELECT grp, t, CAST({sql_expr} AS DOUBLE) FROM f GROUP BY grp, t"
            );
            assert_same(
                seed,
                &q,
                &run_tsq(&tsq, &q).await,
                &run_datafusion(&df, &sql).await,
            );
        }
    }
}

/// Arithmetic over raw points and a value comparison with arithmetic,
/// against the same `SELECT ... WHERE` in DataFusion.
#[tokio::test]
async fn raw_expressions_and_comparisons_match_datafusion() {
    for seed in 300..306 {
        let points = random_points(seed);
        let (tsq, df) = (tsq_session(&points), datafusion_context(&points));
        let q = "SELECT v * 2 + 1 FROM m WHERE v - 50 > 0";
        let out = tsq.execute(q).await.unwrap_or_else(|e| panic!("{q}: {e}"));
        // raw columns: time, grp, host, the expression
        let QueryKind::Rows { batches, .. } = out.kind else {
            panic!("not rows")
        };
        let tsq_rows = flatten(&batches, 2, 0, 3);
        let sql = "SELECT host, time, v * 2 + 1 FROM m WHERE v - 50 > 0";
        let df_rows = run_datafusion(&df, sql).await;
        assert!(!df_rows.is_empty(), "seed {seed}: some values exceed 50");
        assert_same(seed, q, &tsq_rows, &df_rows);
    }
}
