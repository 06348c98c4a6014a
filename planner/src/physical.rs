//! Physical planning and execution: one engine pipeline per value column
//! (`tsq_engine::pipeline::build_pipeline`), run one after the other under
//! the query's [`TaskContext`] (memory budget, cancellation), their outputs
//! joined by [`ResultBuilder`]. The points held for the join are reserved
//! against the query's memory budget as `ResultJoin`.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tsq_engine::pipeline::build_pipeline;
use tsq_engine::{materialized, Operator, StorageAdapter, TaskContext, TimelineBatch};

use crate::error::Result;
use crate::plan::LogicalPlan;
use crate::result::ResultBuilder;

/// Bytes the join holds per point: an `i64` time and an `Option<f64>`.
const ROW_BYTES: usize = 8 + 16;

/// The operator trees of a plan, one per value column, in output order.
pub struct PhysicalPlan {
    /// `(output index, root operator)`.
    pub pipelines: Vec<(usize, Box<dyn Operator>)>,
}

impl std::fmt::Debug for PhysicalPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.pipelines.iter().map(|(i, op)| (i, op.display())))
            .finish()
    }
}

/// Builds the operator tree of every pipeline of `plan`.
pub async fn build_physical(
    plan: &LogicalPlan,
    adapter: &Arc<dyn StorageAdapter>,
) -> Result<PhysicalPlan> {
    let mut pipelines = Vec::with_capacity(plan.pipelines.len());
    for p in &plan.pipelines {
        let root = build_pipeline(&p.spec, Arc::clone(adapter), p.strategy).await?;
        pipelines.push((p.output, root));
    }
    Ok(PhysicalPlan { pipelines })
}

/// Runs every pipeline's spec through the materialized executor instead of
/// the operators, and joins the outputs exactly as [`run`] does: the
/// baseline of the benchmarks, reachable from the library and the REPL.
pub async fn run_materialized(
    plan: &LogicalPlan,
    adapter: &Arc<dyn StorageAdapter>,
    ctx: &TaskContext,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let mut builder = result_builder(plan);
    let mut reservation = join_reservation(ctx);
    for p in &plan.pipelines {
        ctx.cancel.check()?;
        for batch in materialized::execute(&p.spec, adapter.as_ref(), ctx.batch_size).await? {
            reservation.try_grow(batch.num_rows() * ROW_BYTES)?;
            builder.add(p.output, &batch);
        }
    }
    builder.finish(&plan.order_by, plan.limit, ctx.batch_size)
}

/// The reservation for the points the result join holds.
fn join_reservation(ctx: &TaskContext) -> tsq_engine::memory::MemoryReservation {
    ctx.memory.reservation(
        "ResultJoin",
        "return fewer rows: narrow the time range or the tag predicate, or add SAMPLE BY",
    )
}

fn result_builder(plan: &LogicalPlan) -> ResultBuilder {
    ResultBuilder::for_plan(plan)
}

/// Runs every pipeline to the end and joins their outputs. The operators
/// stay in `physical` with their metrics (for EXPLAIN ANALYZE). With
/// `threads > 1` and several pipelines (several value columns), the
/// pipelines are dealt round-robin to up to `threads` tasks on the dedicated
/// runtime (`docs/library.md`, "Async"), each running its share one after
/// the other; the join is the same.
pub async fn run(
    plan: &LogicalPlan,
    physical: &mut PhysicalPlan,
    ctx: &TaskContext,
    threads: usize,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let mut builder = result_builder(plan);
    let mut reservation = join_reservation(ctx);
    let threads = threads.clamp(1, physical.pipelines.len().max(1));
    if threads == 1 {
        for (output, root) in &mut physical.pipelines {
            ctx.cancel.check()?;
            for batch in drain(root.as_mut(), ctx).await? {
                // time + value (+ null flag) per point held until the join
                reservation.try_grow(batch.num_rows() * ROW_BYTES)?;
                builder.add(*output, &batch);
            }
        }
    } else {
        for (output, batches) in collect_parallel(&mut physical.pipelines, ctx, threads).await? {
            for batch in batches {
                reservation.try_grow(batch.num_rows() * ROW_BYTES)?;
                builder.add(output, &batch);
            }
        }
    }
    builder.finish(&plan.order_by, plan.limit, ctx.batch_size)
}

/// Opens `root`, drains it and closes it, returning every batch. After each
/// batch the task yields to its runtime, so that one pipeline holds a
/// worker for one batch's work at a time and timers (a query's timeout)
/// and other queries get their turn (`docs/library.md`, "Async").
pub async fn drain(root: &mut dyn Operator, ctx: &TaskContext) -> Result<Vec<TimelineBatch>> {
    root.open(ctx).await?;
    let mut out = Vec::new();
    let result = async {
        while let Some(batch) = root.next().await? {
            out.push(batch);
            tokio::task::yield_now().await;
        }
        Ok::<(), tsq_engine::EngineError>(())
    }
    .await;
    let closed = root.close().await;
    result.and(closed)?;
    Ok(out)
}

/// Output batches of one pipeline, by output index.
type PipelineOutput = (usize, Vec<TimelineBatch>);

/// A pipeline of the plan: `(output index, root operator)`.
type Pipeline = (usize, Box<dyn Operator>);

/// What one task hands back per pipeline: its position, the pipeline (with
/// its metrics) and what it produced.
type Ran = (usize, Pipeline, Result<Vec<TimelineBatch>>);

/// Runs `pipelines` as `threads` tasks on the dedicated runtime (pipeline
/// `i` in task `i % threads`) and returns their outputs in pipeline order;
/// the pipelines are put back in `pipelines` for EXPLAIN ANALYZE. The first
/// error (in pipeline order) wins; a failing pipeline does not stop the
/// others early, but cancellation does. The tasks are tokio tasks, so an
/// adapter that awaits tokio timers works here too.
async fn collect_parallel(
    pipelines: &mut Vec<Pipeline>,
    ctx: &TaskContext,
    threads: usize,
) -> Result<Vec<PipelineOutput>> {
    let mut shares: Vec<Vec<(usize, Pipeline)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, p) in std::mem::take(pipelines).into_iter().enumerate() {
        shares[i % threads].push((i, p));
    }
    let runtime = crate::dedicated::handle()?;
    let tasks: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let ctx = ctx.clone();
            runtime.spawn(async move {
                let mut ran: Vec<Ran> = Vec::with_capacity(share.len());
                for (i, (output, mut root)) in share {
                    let run = match ctx.cancel.check() {
                        Ok(()) => drain(root.as_mut(), &ctx).await,
                        Err(e) => Err(e.into()),
                    };
                    ran.push((i, (output, root), run));
                }
                ran
            })
        })
        .collect();
    let mut ran = Vec::new();
    let mut failed = None;
    for task in tasks {
        match task.await {
            Ok(share) => ran.extend(share),
            Err(e) => failed = Some(crate::dedicated::join_error(e)),
        }
    }
    ran.sort_by_key(|(i, _, _)| *i);
    let mut outputs = Vec::with_capacity(ran.len());
    for (_, pipeline, run) in ran {
        outputs.push(run.map(|b| (pipeline.0, b)));
        pipelines.push(pipeline);
    }
    if let Some(e) = failed {
        return Err(e);
    }
    outputs.into_iter().collect()
}
