//! Physical planning and execution: one engine pipeline per value column
//! (`tsq_engine::pipeline::build_pipeline_with`), run one after the other under
//! the query's [`TaskContext`] (memory budget, cancellation), their outputs
//! joined by [`ResultBuilder`]. Each batch is handed to the join as the
//! pipeline emits it; what the join holds is reserved against the query's
//! memory budget as `ResultJoin` (and so are the batches that pipelines run
//! in parallel hold until the join takes them).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tsq_engine::memory::MemoryReservation;
use tsq_engine::pipeline::build_pipeline_with;
use tsq_engine::{materialized, Operator, StorageAdapter, TaskContext, TimelineBatch};

use crate::error::Result;
use crate::plan::LogicalPlan;
use crate::result::{join_reservation, ResultBuilder};

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
        let root = build_pipeline_with(&p.spec, Arc::clone(adapter), p.strategy, p.read).await?;
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
    let mut builder = ResultBuilder::for_plan(plan, &ctx.memory);
    for p in &plan.pipelines {
        ctx.cancel.check()?;
        for batch in materialized::execute_in(&p.spec, adapter.as_ref(), ctx).await? {
            builder.add(p.output, &batch)?;
        }
    }
    builder.finish(ctx.batch_size)
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
    let mut builder = ResultBuilder::for_plan(plan, &ctx.memory);
    let threads = threads.clamp(1, physical.pipelines.len().max(1));
    if threads == 1 {
        for (output, root) in &mut physical.pipelines {
            ctx.cancel.check()?;
            drain_into(root.as_mut(), *output, &mut builder, ctx).await?;
        }
    } else {
        for (output, batches, held) in
            collect_parallel(&mut physical.pipelines, ctx, threads).await?
        {
            for batch in batches {
                builder.add(output, &batch)?;
            }
            drop(held);
        }
    }
    builder.finish(ctx.batch_size)
}

/// Opens `root`, hands each batch to the join as it comes, and closes it.
/// After each batch the task yields to its runtime, so that one pipeline
/// holds a worker for one batch's work at a time and timers (a query's
/// timeout) and other queries get their turn (`docs/library.md`, "Async").
async fn drain_into(
    root: &mut dyn Operator,
    output: usize,
    builder: &mut ResultBuilder,
    ctx: &TaskContext,
) -> Result<()> {
    root.open(ctx).await?;
    let drained: Result<()> = async {
        while let Some(batch) = root.next().await? {
            builder.add(output, &batch)?;
            tokio::task::yield_now().await;
        }
        Ok(())
    }
    .await;
    let closed = root.close().await;
    drained?;
    Ok(closed?)
}

/// Output batches of one pipeline, by output index, and their reservation.
type PipelineOutput = (usize, Vec<TimelineBatch>, MemoryReservation);

/// A pipeline of the plan: `(output index, root operator)`.
type Pipeline = (usize, Box<dyn Operator>);

/// What one task hands back per pipeline: its position, the pipeline (with
/// its metrics) and what it produced (with the reservation that holds it).
type Ran = (
    usize,
    Pipeline,
    tsq_engine::Result<(Vec<TimelineBatch>, MemoryReservation)>,
);

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
                        Ok(()) => collect_reserved(root.as_mut(), &ctx).await,
                        Err(e) => Err(e),
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
        outputs.push(run.map(|(b, r)| (pipeline.0, b, r)).map_err(Into::into));
        pipelines.push(pipeline);
    }
    if let Some(e) = failed {
        return Err(e);
    }
    outputs.into_iter().collect()
}

/// Like [`tsq_engine::collect`], reserving each batch as it is held.
async fn collect_reserved(
    root: &mut dyn Operator,
    ctx: &TaskContext,
) -> tsq_engine::Result<(Vec<TimelineBatch>, MemoryReservation)> {
    let mut held = join_reservation(&ctx.memory);
    root.open(ctx).await?;
    let mut out = Vec::new();
    let drained = async {
        while let Some(batch) = root.next().await? {
            held.try_grow(batch.memory_size())?;
            out.push(batch);
            tokio::task::yield_now().await;
        }
        Ok(())
    }
    .await;
    let closed = root.close().await;
    drained.and(closed).map(|_| (out, held))
}
