//! The streaming merge join (`MergeJoin`) against the materializing join it
//! replaced (`ResultBuilder`, the join of the materialized executor) on the
//! very same pipeline outputs: seeded random data over several fields, with
//! series that lack a tag (so some inputs are not in key order and take the
//! sorted path), value filters, `ORDER BY`, `LIMIT`, at batch sizes 1, 7 and
//! 4096 and with the pipelines inline or as tasks: identical rows and batch
//! sizes. Plus: a budget the merge fits in and the materializing join does
//! not, `LIMIT` stopping the pipelines after one batch, and a top-k over
//! ties checked against a naive sort.

mod common;

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use common::{rows, Lcg};
use tsq_engine::memory::MemoryPool;
use tsq_engine::{collect, CancellationToken, EngineError, StorageAdapter, TaskContext};
use tsq_planner::physical::build_physical;
use tsq_planner::result::{JoinOptions, MergeJoin, ResultBuilder};
use tsq_planner::{parse_statement, LogicalPlan, QueryKind, QueryOutput, Session, SessionConfig};
use tsq_planner::{Result, TsqError};
use tsq_storage::memory::MemoryAdapter;

const S: i64 = 1_000_000_000;

fn context(batch_size: usize, budget: usize) -> TaskContext {
    TaskContext {
        batch_size,
        memory: MemoryPool::new(budget),
        cancel: CancellationToken::new(),
        spawner: None,
    }
}

async fn plan(adapter: &Arc<dyn StorageAdapter>, sql: &str) -> LogicalPlan {
    let session = Session::new(Arc::clone(adapter), SessionConfig::new());
    let statement = parse_statement(sql).unwrap();
    session.plan(&statement).await.unwrap().0
}

/// The result through the materializing join: every pipeline collected,
/// then joined.
async fn materializing(
    adapter: &Arc<dyn StorageAdapter>,
    plan: &LogicalPlan,
    ctx: &TaskContext,
) -> Result<Vec<RecordBatch>> {
    let mut physical = build_physical(plan, adapter, 1).await?;
    let mut builder = ResultBuilder::for_plan(plan, &ctx.memory);
    for (output, root) in &mut physical.pipelines {
        for batch in collect(root.as_mut(), ctx).await? {
            builder.add(*output, &batch)?;
        }
    }
    Ok(builder.finish(ctx.batch_size)?.1)
}

/// The result through the merge join, and its pipelines afterwards.
async fn merged(
    adapter: &Arc<dyn StorageAdapter>,
    plan: &LogicalPlan,
    ctx: &TaskContext,
    threads: usize,
) -> (Result<Vec<RecordBatch>>, Vec<tsq_planner::result::Pipeline>) {
    // partitioned pipelines (by `threads`) feed the streaming join
    let mut physical = build_physical(plan, adapter, threads).await.unwrap();
    let options = JoinOptions {
        threads,
        dictionary_tags: false,
    };
    let pipelines = std::mem::take(&mut physical.pipelines);
    let mut join = MergeJoin::new(plan, pipelines, ctx, options).unwrap();
    let mut out = Vec::new();
    let result = async {
        while let Some(batch) = join.next().await? {
            out.push(batch);
        }
        Ok(())
    }
    .await;
    let pipelines = join.close().await;
    (result.map(|()| out), pipelines)
}

fn lines(batches: &[RecordBatch], plan: &LogicalPlan) -> Vec<String> {
    let schema = tsq_planner::result::result_schema(
        &plan.tag_columns,
        &plan
            .visible_outputs()
            .map(|o| o.name.clone())
            .collect::<Vec<_>>(),
    );
    rows(&QueryOutput {
        kind: QueryKind::Rows {
            schema,
            batches: batches.to_vec(),
        },
        notices: Vec::new(),
    })
}

fn sizes(batches: &[RecordBatch]) -> Vec<usize> {
    batches.iter().map(|b| b.num_rows()).collect()
}

/// Fields a, b, c of `m` over hosts h0..h4 in dc d0..d2; with `ragged`,
/// some series have no dc. Points at whole seconds of [0, 40 s), values
/// 0..12 (many ties), now and then NaN.
fn random_adapter(seed: u64, ragged: bool) -> Arc<dyn StorageAdapter> {
    let mut rng = Lcg(seed);
    let m = MemoryAdapter::new();
    for h in 0..5 {
        let host = format!("h{h}");
        let dc = format!("d{}", rng.next(3));
        let mut tags = vec![("host", host.as_str())];
        if !(ragged && rng.next(3) == 0) {
            tags.push(("dc", dc.as_str()));
        }
        for field in ["a", "b", "c"] {
            if rng.next(5) == 0 {
                continue;
            }
            let mut points: Vec<(i64, f64)> = Vec::new();
            for t in 0..40 {
                if rng.next(3) == 0 {
                    continue;
                }
                let v = if rng.next(40) == 0 {
                    f64::NAN
                } else {
                    rng.next(12) as f64
                };
                points.push((t * S, v));
            }
            m.insert("m", &tags, field, &points);
        }
    }
    Arc::new(m)
}

const QUERIES: [&str; 15] = [
    "SELECT a, b, c FROM m",
    "SELECT c FROM m",
    "SELECT b FROM m LIMIT 17",
    "SELECT max(a) FROM m GROUP BY host SAMPLE BY 5s",
    "SELECT a, b FROM m WHERE c > 5",
    "SELECT a FROM m WHERE b <= 6 AND a != 3",
    "SELECT sum(a), max(b), count(c) FROM m GROUP BY dc SAMPLE BY 10s",
    "SELECT avg(a), min(b) FROM m GROUP BY host SAMPLE BY 10s FILL(zero)",
    "SELECT sum(a), p50(b) FROM m GROUP BY *",
    "SELECT a, b FROM m LIMIT 13",
    "SELECT a, b FROM m ORDER BY a DESC LIMIT 9",
    "SELECT a, b FROM m ORDER BY b, host LIMIT 4",
    "SELECT a, c FROM m ORDER BY time DESC",
    "SELECT sum(a) AS sa, sum(b) AS sb FROM m GROUP BY host SAMPLE BY 10s ORDER BY sa DESC LIMIT 3",
    "SELECT a, b FROM m WHERE c >= 2 LIMIT 0",
];

#[tokio::test]
async fn the_merge_gives_the_rows_of_the_materializing_join() {
    for seed in 1..=4u64 {
        let adapter = random_adapter(seed, seed % 2 == 0);
        for sql in QUERIES {
            let plan = plan(&adapter, sql).await;
            for batch_size in [1, 7, 4096] {
                let ctx = context(batch_size, usize::MAX);
                let expected = materializing(&adapter, &plan, &ctx).await.unwrap();
                for threads in [1, 2] {
                    let ctx = context(batch_size, usize::MAX);
                    let (got, _) = merged(&adapter, &plan, &ctx, threads).await;
                    let got = got.unwrap();
                    let what = format!("seed {seed}, {sql}, batch {batch_size}, threads {threads}");
                    assert_eq!(lines(&got, &plan), lines(&expected, &plan), "{what}");
                    assert_eq!(sizes(&got), sizes(&expected), "{what}");
                    assert_eq!(ctx.memory.used(), 0, "{what}: everything released");
                }
            }
        }
    }
}

/// Two fields of one series, `points` points each at t = 0, 1, ... s.
fn two_fields(points: i64) -> Arc<dyn StorageAdapter> {
    let m = MemoryAdapter::new();
    let a: Vec<(i64, f64)> = (0..points).map(|t| (t * S, t as f64)).collect();
    let b: Vec<(i64, f64)> = (0..points).map(|t| (t * S, (2 * t) as f64)).collect();
    m.insert("big", &[("host", "a")], "a", &a);
    m.insert("big", &[("host", "a")], "b", &b);
    Arc::new(m)
}

#[tokio::test]
async fn the_merge_fits_a_budget_the_materializing_join_does_not() {
    let adapter = two_fields(50_000);
    let plan = plan(&adapter, "SELECT a, b FROM big").await;
    let budget = 256 << 10;
    let expected = materializing(&adapter, &plan, &context(512, usize::MAX))
        .await
        .unwrap();
    for threads in [1, 2] {
        let ctx = context(512, budget);
        let (got, _) = merged(&adapter, &plan, &ctx, threads).await;
        let got = got.unwrap();
        assert_eq!(lines(&got, &plan), lines(&expected, &plan));
        // in flight: per input at most four batches of 512 points (21
        // bytes each: id, time, value, validity), and 1,024 rows of the
        // batch being built (50 bytes each); 2 × 100,000 points would be
        // 4.2 MB
        let most = 2 * 4 * 512 * 21 + 1024 * 50 + 2 * 4 * 4 * 2;
        assert!(ctx.memory.peak() <= most, "peak {}", ctx.memory.peak());
    }
    // the materializing join holds 2 × 50,000 points: over the budget
    let err = materializing(&adapter, &plan, &context(512, budget))
        .await
        .unwrap_err();
    assert!(err.is_resources_exhausted(), "{err}");
    // a budget smaller than one batch in flight stops the merge too
    let (err, _) = merged(&adapter, &plan, &context(512, 4 << 10), 2).await;
    match err.unwrap_err() {
        TsqError::Execution(EngineError::ResourcesExhausted { operator, .. }) => {
            assert_eq!(operator, "ResultJoin")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_limit_stops_the_pipelines_after_the_batches_it_needs() {
    let adapter = two_fields(10_000);
    let plan = plan(&adapter, "SELECT a, b FROM big LIMIT 10").await;
    for (threads, most) in [(1, 100), (2, 400)] {
        let (got, pipelines) = merged(&adapter, &plan, &context(100, usize::MAX), threads).await;
        let got = got.unwrap();
        let want: Vec<String> = (0..10)
            .map(|t| format!("{}|a|{t}|{}", t * S, 2 * t))
            .collect();
        assert_eq!(lines(&got, &plan), want);
        for (_, root) in &pipelines {
            // the scan of 10,000 points emitted one batch of 100 (driven
            // inline), or at most four (one read, two in the channel, one
            // being sent) as a task
            let pulled = root.metrics().rows_out;
            assert!(
                pulled >= 100 && pulled <= most,
                "threads {threads}: {pulled} rows pulled"
            );
        }
    }
}

#[tokio::test]
async fn a_top_k_breaks_ties_by_group_then_time() {
    // v = (host + t) % 3 for hosts 0..5 at t = 0..20 s: 33 or 34 rows per value
    let m = MemoryAdapter::new();
    let mut all = Vec::new();
    for h in 0..5i64 {
        let host = format!("h{h}");
        let points: Vec<(i64, f64)> = (0..20).map(|t| (t * S, ((h + t) % 3) as f64)).collect();
        all.extend(points.iter().map(|&(t, v)| (v, host.clone(), t)));
        m.insert("t", &[("host", &host)], "v", &points);
    }
    let adapter: Arc<dyn StorageAdapter> = Arc::new(m);
    // the naive reference: sort every row by the ORDER BY, then host, then time
    let mut by_v_desc = all.clone();
    by_v_desc.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let mut by_v_desc_time_desc = all.clone();
    by_v_desc_time_desc.sort_by(|x, y| y.0.total_cmp(&x.0).then(y.2.cmp(&x.2)).then(x.1.cmp(&y.1)));
    let cases = [
        ("SELECT v FROM t ORDER BY v DESC LIMIT 7", &by_v_desc[..7]),
        ("SELECT v FROM t ORDER BY v DESC LIMIT 40", &by_v_desc[..40]),
        (
            "SELECT v FROM t ORDER BY v DESC, time DESC LIMIT 4",
            &by_v_desc_time_desc[..4],
        ),
    ];
    for (sql, want) in cases {
        let want: Vec<String> = want
            .iter()
            .map(|(v, h, t)| format!("{t}|{h}|{v}"))
            .collect();
        let plan = plan(&adapter, sql).await;
        for batch_size in [1, 7, 4096] {
            let (got, _) = merged(&adapter, &plan, &context(batch_size, usize::MAX), 1).await;
            assert_eq!(
                lines(&got.unwrap(), &plan),
                want,
                "{sql}, batch {batch_size}"
            );
        }
    }
}
