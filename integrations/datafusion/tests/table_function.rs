//! `tsq('…')` inside DataFusion SQL: the same rows as tsq run directly, a
//! join with a `MemTable` giving rows worked out from the raw points, the
//! `TsqExec` line in EXPLAIN and its metrics in EXPLAIN ANALYZE.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{memory_adapter, physical_plan, points, rows, run, S};
use datafusion::arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use tsq_datafusion::{TsqExec, TsqFunction};
use tsq_planner::{Session, SessionConfig};

const QUERY: &str = "SELECT avg(usage) AS a FROM cpu GROUP BY host SAMPLE BY 10s";

fn session() -> Arc<Session> {
    let adapter = Arc::new(memory_adapter(&points()));
    Arc::new(Session::new(adapter, SessionConfig::default()))
}

fn context(session: &Arc<Session>) -> SessionContext {
    let ctx = SessionContext::new();
    ctx.register_udtf("tsq", Arc::new(TsqFunction::new(Arc::clone(session))));
    let schema = Arc::new(Schema::new(vec![
        Field::new("host", DataType::Utf8, false),
        Field::new("rack", DataType::Utf8, false),
    ]));
    let hosts = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(vec!["h0", "h1", "h2"])),
            Arc::new(StringArray::from(vec!["r1", "r1", "r2"])),
        ],
    )
    .expect("hosts batch");
    let table = MemTable::try_new(schema, vec![vec![hosts]]).expect("hosts table");
    ctx.register_table("hosts", Arc::new(table))
        .expect("register hosts");
    ctx
}

#[tokio::test]
async fn table_function_gives_the_rows_of_tsq_itself() {
    let session = session();
    let ctx = context(&session);
    for q in [
        QUERY,
        "SELECT max(idle), min(usage) FROM cpu GROUP BY dc SAMPLE BY 5s FILL(zero)",
        "SELECT usage FROM cpu WHERE host = 'h1' AND time >= 10000000000",
        "SELECT sum(used) FROM mem",
    ] {
        let direct = session
            .sql(q)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let through = run(
            &ctx,
            &format!("SELECT * FROM tsq('{}')", q.replace('\'', "''")),
        )
        .await;
        assert_eq!(through, rows(&direct), "{q}");
        assert!(!through.is_empty(), "{q} returns rows");
    }
}

/// `(host, bucket start ns) -> mean of usage`, from the raw points.
fn bucket_means() -> BTreeMap<(String, i64), f64> {
    let mut sums: BTreeMap<(String, i64), (f64, usize)> = BTreeMap::new();
    for p in points()
        .iter()
        .filter(|p| p.measurement == "cpu" && p.field == "usage")
    {
        let host = p
            .tags
            .iter()
            .find(|t| t.0 == "host")
            .expect("host")
            .1
            .clone();
        let bucket = p.time.div_euclid(10 * S) * 10 * S;
        let e = sums.entry((host, bucket)).or_default();
        e.0 += p.value;
        e.1 += 1;
    }
    sums.into_iter()
        .map(|(k, (s, n))| (k, s / n as f64))
        .collect()
}

#[tokio::test]
async fn joins_with_a_memtable() {
    let session = session();
    let ctx = context(&session);
    let sql = format!(
        "SELECT t.host, h.rack, CAST(t.time AS BIGINT) AS ns, t.a \
         FROM tsq('{}') AS t JOIN hosts h ON t.host = h.host",
        QUERY
    );
    let batches = ctx
        .sql(&sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let mut got = Vec::new();
    for b in &batches {
        let host = cast(b.column(0), &DataType::Utf8).expect("host");
        let host = host.as_any().downcast_ref::<StringArray>().expect("utf8");
        let rack = b
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("rack");
        let ns = b
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("ns");
        let a = b
            .column(3)
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("a");
        for r in 0..b.num_rows() {
            assert!(!a.is_null(r));
            let row = (
                host.value(r).to_string(),
                rack.value(r).to_string(),
                ns.value(r),
            );
            got.push((row, a.value(r)));
        }
    }
    got.sort_by(|x, y| x.0.cmp(&y.0));
    let rack = |h: &str| match h {
        "h0" | "h1" => Some("r1"),
        "h2" => Some("r2"),
        _ => None,
    };
    let expected: Vec<((String, String, i64), f64)> = bucket_means()
        .into_iter()
        .filter_map(|((host, t), mean)| {
            let r = rack(&host)?.to_string();
            Some(((host, r, t), mean))
        })
        .collect();
    // 3 joined hosts × 3 buckets of 10 s.
    assert_eq!(expected.len(), 9);
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g.0, e.0);
        assert!((g.1 - e.1).abs() < 1e-9, "{g:?} against {e:?}");
    }
}

#[tokio::test]
async fn explain_shows_the_tsq_plan_and_analyze_its_rows() {
    let session = session();
    let ctx = context(&session);
    let sql = format!("SELECT * FROM tsq('{QUERY}')");
    let plan = physical_plan(&ctx, &sql).await;
    assert!(
        plan.contains("TsqExec: measurement=cpu range=[-∞, ∞) predicate=true"),
        "{plan}"
    );
    assert!(plan.contains(&format!("sql={QUERY:?}")), "{plan}");
    let analyzed = ctx
        .sql(&format!("EXPLAIN ANALYZE {sql}"))
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&analyzed)
        .expect("printable")
        .to_string();
    // 4 hosts × 3 buckets.
    assert!(text.contains("output_rows=12"), "{text}");

    let exec = TsqExec::try_new(Arc::clone(&session), QUERY)
        .await
        .expect("plan");
    assert_eq!(exec.sql(), QUERY);
}

#[tokio::test]
async fn bad_arguments_and_bad_statements_are_planning_errors() {
    let session = session();
    let ctx = context(&session);
    let err = ctx
        .sql("SELECT * FROM tsq(1)")
        .await
        .expect_err("not a string");
    assert!(
        err.to_string().contains("expected one string literal"),
        "{err}"
    );
    let err = ctx
        .sql("SELECT * FROM tsq('SELECT avg(usage) FROM cpu FILL(zero)')")
        .await
        .expect_err("FILL without SAMPLE BY");
    assert!(err.to_string().contains("FILL needs SAMPLE BY"), "{err}");
}
