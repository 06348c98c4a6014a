//! Physical planning and execution: one engine pipeline per value column
//! (`tsq_engine::pipeline::build_pipeline`), run one after the other under
//! the query's [`TaskContext`] (memory budget, cancellation), their outputs
//! joined by [`ResultBuilder`]. Each batch is handed to the join as the
//! pipeline emits it; what the join holds is reserved against the query's
//! memory budget as `ResultJoin` (and so are the batches that pipelines run
//! in parallel hold until the join takes them).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tsq_engine::memory::MemoryReservation;
use tsq_engine::pipeline::build_pipeline;
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
    let mut builder = ResultBuilder::for_plan(plan, &ctx.memory);
    for p in &plan.pipelines {
        ctx.cancel.check()?;
        for batch in materialized::execute(&p.spec, adapter.as_ref(), ctx.batch_size).await? {
            builder.add(p.output, &batch)?;
        }
    }
    builder.finish(ctx.batch_size)
}

/// Runs every pipeline to the end and joins their outputs. The operators
/// stay in `physical` with their metrics (for EXPLAIN ANALYZE). With
/// `threads > 1` and several pipelines (several value columns), the
/// pipelines are dealt round-robin to up to `threads` tasks on rayon's pool,
/// each running its share one after the other; the join is the same.
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
        for (output, batches, held) in collect_parallel(&mut physical.pipelines, ctx, threads)? {
            for batch in batches {
                builder.add(output, &batch)?;
            }
            drop(held);
        }
    }
    builder.finish(ctx.batch_size)
}

/// Opens `root`, hands each batch to the join as it comes, and closes it.
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

/// Runs `pipelines` as `threads` tasks on rayon's pool (pipeline `i` in task
/// `i % threads`) and returns their outputs in pipeline order. The first
/// error (in pipeline order) wins; a failing pipeline does not stop the
/// others early, but cancellation does.
fn collect_parallel(
    pipelines: &mut [Pipeline],
    ctx: &TaskContext,
    threads: usize,
) -> Result<Vec<PipelineOutput>> {
    let count = pipelines.len();
    let mut shares: Vec<Vec<(usize, &mut Pipeline)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, p) in pipelines.iter_mut().enumerate() {
        shares[i % threads].push((i, p));
    }
    // rayon's pool keeps its threads (and their allocator arenas) warm
    // across queries; a fresh thread per query cost more than small
    // pipelines take.
    let results = std::sync::Mutex::new(Vec::with_capacity(count));
    rayon::scope(|scope| {
        for share in shares {
            let results = &results;
            scope.spawn(move |_| {
                for (i, (output, root)) in share {
                    let run = match ctx.cancel.check() {
                        Ok(()) => futures::executor::block_on(collect_reserved(root.as_mut(), ctx)),
                        Err(e) => Err(e),
                    };
                    let run = run.map(|(b, r)| (*output, b, r)).map_err(Into::into);
                    results
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .push((i, run));
                }
            });
        }
    });
    let mut results: Vec<(usize, Result<PipelineOutput>)> = results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
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
        }
        Ok(())
    }
    .await;
    let closed = root.close().await;
    drained.and(closed).map(|_| (out, held))
}
