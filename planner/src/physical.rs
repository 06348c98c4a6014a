//! Physical planning and execution: one engine pipeline per value column
//! (`tsq_engine::pipeline::build_pipeline_with`), split into partitions
//! (`tsq_engine::partition`, `docs/architecture.md` "Partitions and partial
//! aggregates"), whose scans of the same series share one adapter call
//! (`docs/architecture.md`, "One scan for several fields"), run under the
//! query's
//! [`TaskContext`] (memory budget, cancellation), their outputs joined by
//! the streaming [`ResultStage`] (`result/stage.rs`: the `MergeJoin` of
//! `result/merge.rs`, then the projection of expressions). What the join
//! holds, and the batches in flight between the pipelines and the join, are
//! reserved against the query's memory budget as `ResultJoin`.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tsq_engine::ops::last_points::LastPointsOp;
use tsq_engine::partition::{build_partitioned_in, partition_count, plan_partitioned_with};
use tsq_engine::shared_scan::ScanShares;
use tsq_engine::{materialized, Operator, StorageAdapter, TaskContext};

use crate::error::Result;
use crate::plan::{LogicalPlan, PlannedPipeline};
use crate::result::project::project_all;
use crate::result::{join_reservation, JoinOptions, ResultBuilder, ResultStage};

/// The operator trees of a plan, one per value column, in output order; or
/// one `LastPointsOp` for every column ([`LogicalPlan::last_points_as_one`]).
pub struct PhysicalPlan {
    /// `(output index, root operator)`.
    pub pipelines: Vec<(usize, Box<dyn Operator>)>,
    /// Whether the join may run the pipelines as tasks of their own (with
    /// `threads` above 1): false when the plan selects too few points for
    /// a second task to pay off ([`Parallelism::min_points_per_partition`]
    /// over every column together).
    pub column_tasks: bool,
}

impl PhysicalPlan {
    /// `options` for the join of this plan: one thread when its pipelines
    /// should not be tasks of their own.
    pub fn join_options(&self, options: JoinOptions) -> JoinOptions {
        JoinOptions {
            threads: if self.column_tasks {
                options.threads
            } else {
                1
            },
            ..options
        }
    }
}

impl std::fmt::Debug for PhysicalPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.pipelines.iter().map(|(i, op)| (i, op.display())))
            .finish()
    }
}

/// How a query's pipelines use the threads: how many
/// (`SessionConfig::threads`) and the points a partition must have to be
/// worth its task (`SessionConfig::min_points_per_partition`; 0 splits
/// whatever the size). `docs/architecture.md`, "Partitions and partial
/// aggregates".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Threads of the query (at least 1 is used).
    pub threads: usize,
    /// Points of the selection per partition below which a pipeline gets
    /// fewer partitions (one for a small query); 0: no threshold.
    pub min_points_per_partition: u64,
}

impl Parallelism {
    /// `threads` threads with no point threshold: every aggregate is split
    /// over its share of them, whatever its size.
    pub fn exactly(threads: usize) -> Self {
        Parallelism {
            threads,
            min_points_per_partition: 0,
        }
    }
}

/// Builds the operator tree of every pipeline of `plan`, each split into
/// up to [`partitions_per_column`] partitions (`docs/architecture.md`,
/// "Partitions and partial aggregates"), whatever its size
/// ([`build_physical_with`] with [`Parallelism::exactly`]).
pub async fn build_physical(
    plan: &LogicalPlan,
    adapter: &Arc<dyn StorageAdapter>,
    threads: usize,
) -> Result<PhysicalPlan> {
    build_physical_with(plan, adapter, Parallelism::exactly(threads)).await
}

/// Builds the operator tree of every pipeline of `plan`, each split into
/// up to [`partitions_per_column`] partitions, fewer (one) when its
/// selection has too few points for them (`tsq_engine::partition::partition_count`,
/// from the adapter's index), and starts the shared scans (one adapter call
/// per series selection, so that no chain waits for another's at its open).
pub async fn build_physical_with(
    plan: &LogicalPlan,
    adapter: &Arc<dyn StorageAdapter>,
    parallel: Parallelism,
) -> Result<PhysicalPlan> {
    if plan.last_points_as_one {
        return last_points_as_one(plan, adapter, parallel.threads);
    }
    let mut pipelines = Vec::with_capacity(plan.pipelines.len());
    let threads = partitions_per_column(plan, parallel.threads);
    let column_tasks = column_tasks(plan, adapter.as_ref(), parallel).await?;
    // The scans of every column that read the same series share one
    // adapter call (docs/architecture.md, "One scan for several fields").
    let shares = ScanShares::new();
    for p in &plan.pipelines {
        let (spec, read) = (&p.spec, p.read);
        let partitions = pipeline_partitions(p, adapter, parallel, threads).await?;
        let adapter = Arc::clone(adapter);
        let root = build_partitioned_in(spec, adapter, p.strategy, read, partitions, Some(&shares))
            .await?;
        pipelines.push((p.output, root));
    }
    // Every shared scan started here, on the query's task: no chain then
    // waits at its open for another's call (docs/architecture.md, "One
    // scan for several fields").
    for scan in shares.scans() {
        scan.start().await?;
    }
    Ok(PhysicalPlan {
        pipelines,
        column_tasks,
    })
}

/// The partitions pipeline `p` runs with out of `threads`: fewer (one) when
/// its selection has too few points for them (the adapter's index count;
/// the same for a run and for a plain `EXPLAIN`).
async fn pipeline_partitions(
    p: &PlannedPipeline,
    adapter: &Arc<dyn StorageAdapter>,
    parallel: Parallelism,
    threads: usize,
) -> Result<usize> {
    let min = parallel.min_points_per_partition;
    Ok(partition_count(&p.spec, adapter.as_ref(), p.strategy, p.read, threads, min).await?)
}

/// [`build_physical_with`] without reading points, for a plain `EXPLAIN`:
/// the trees have the same operators and partitions (the point threshold
/// asks the adapter's index for a count, as the run does; no block is
/// read), but a range resolved from the data shows as such, a tail read
/// shows the whole range (its window is decided when the pipeline is built
/// to run) and fills get no lookback seeds.
pub async fn plan_physical(
    plan: &LogicalPlan,
    adapter: &Arc<dyn StorageAdapter>,
    parallel: Parallelism,
) -> Result<PhysicalPlan> {
    if plan.last_points_as_one {
        return last_points_as_one(plan, adapter, parallel.threads);
    }
    let mut pipelines = Vec::with_capacity(plan.pipelines.len());
    let threads = partitions_per_column(plan, parallel.threads);
    for p in &plan.pipelines {
        let partitions = pipeline_partitions(p, adapter, parallel, threads).await?;
        let root =
            plan_partitioned_with(&p.spec, Arc::clone(adapter), p.strategy, p.read, partitions)?;
        pipelines.push((p.output, root));
    }
    Ok(PhysicalPlan {
        pipelines,
        column_tasks: true,
    })
}

/// The one pipeline of a plan whose columns are all last points of one
/// selection: a `LastPointsOp` computing every column
/// (`docs/architecture.md`, "Last point as one operator"), its lookup split
/// over up to `threads` tasks for a large selection. It stands under the
/// first column's output index; the join reads every column from it.
fn last_points_as_one(
    plan: &LogicalPlan,
    adapter: &Arc<dyn StorageAdapter>,
    threads: usize,
) -> Result<PhysicalPlan> {
    let specs = plan.pipelines.iter().map(|p| p.spec.clone()).collect();
    let op = LastPointsOp::new(Arc::clone(adapter), specs, threads)?;
    let output = plan.pipelines.first().map_or(0, |p| p.output);
    Ok(PhysicalPlan {
        pipelines: vec![(output, Box::new(op))],
        column_tasks: true,
    })
}

/// Whether the pipelines of a plan of several columns are worth a task
/// each on `parallel.threads` threads: yes unless the points of the plan
/// are fewer than two tasks' worth (`2 × min_points_per_partition`; a
/// count the adapter does not know, or a threshold of 0, gives yes). One
/// column needs no task: the join runs it. The points are estimated from
/// the first column's count (the adapter's index) times the columns: the
/// columns of one query read the same series and range, and each count
/// costs the adapter a pass over the selection's tags.
async fn column_tasks(
    plan: &LogicalPlan,
    adapter: &dyn StorageAdapter,
    parallel: Parallelism,
) -> Result<bool> {
    let min = parallel.min_points_per_partition;
    let (Some(first), columns) = (plan.pipelines.first(), plan.pipelines.len() as u64) else {
        return Ok(true);
    };
    if parallel.threads <= 1 || columns <= 1 || min == 0 {
        return Ok(true);
    }
    // enough for two tasks' worth; counting stops there
    let limit = min.saturating_mul(2).div_ceil(columns);
    Ok(
        match adapter.point_count_up_to(&first.spec.scan, limit).await? {
            Some(n) => n.saturating_mul(columns) / min >= 2,
            None => true,
        },
    )
}

/// Partitions per value column for `threads` threads: the threads are
/// shared between the columns, whose pipelines the `MergeJoin` of [`run`]
/// also runs as tasks of their own when `threads` is above 1, so that a
/// query keeps about `threads` tasks busy: one column gets every thread,
/// ten columns on two threads one partition each.
pub fn partitions_per_column(plan: &LogicalPlan, threads: usize) -> usize {
    (threads.max(1) / plan.pipelines.len().max(1)).max(1)
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
    let joined = builder.finish(ctx.batch_size)?;
    project_all(plan, joined, ctx.batch_size, &ctx.memory)
}

/// What running a plan gave: the result and the result stage's EXPLAIN
/// ANALYZE lines.
#[derive(Debug)]
pub struct Executed {
    /// The result schema.
    pub schema: SchemaRef,
    /// Every result batch, in order.
    pub batches: Vec<RecordBatch>,
    /// The result stage's display lines (the join, then the projection if
    /// any) with their metrics.
    pub join: String,
}

/// Runs every pipeline and joins their outputs with the `MergeJoin` of
/// [`ResultStage`] (a streaming merge: see `result/merge.rs`), projecting
/// expressions (`result/stage.rs`), collecting every result batch.
/// The operators are put back in `physical` with their metrics (for
/// EXPLAIN ANALYZE), also when the query fails. With `threads > 1` and
/// several pipelines, each pipeline runs as its own task on the dedicated
/// runtime (`docs/library.md`, "Async"); with 1, the join drives them in
/// turn.
pub async fn run(
    plan: &LogicalPlan,
    physical: &mut PhysicalPlan,
    ctx: &TaskContext,
    threads: usize,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let options = JoinOptions {
        threads,
        dictionary_tags: false,
    };
    let done = run_joined(plan, physical, ctx, options).await?;
    Ok((done.schema, done.batches))
}

/// [`run`] with the join's options, returning its EXPLAIN ANALYZE line too.
/// The batches collected are held (and reserved) until returned.
pub async fn run_joined(
    plan: &LogicalPlan,
    physical: &mut PhysicalPlan,
    ctx: &TaskContext,
    options: JoinOptions,
) -> Result<Executed> {
    let options = physical.join_options(options);
    let pipelines = std::mem::take(&mut physical.pipelines);
    let mut join = ResultStage::new(plan, pipelines, ctx, options)?;
    let mut held = join_reservation(&ctx.memory);
    let mut batches = Vec::new();
    let drained: Result<()> = async {
        while let Some(batch) = join.next().await? {
            held.try_grow(batch.get_array_memory_size())?;
            batches.push(batch);
        }
        Ok(())
    }
    .await;
    physical.pipelines = join.close().await;
    drained?;
    Ok(Executed {
        schema: join.schema(),
        batches,
        join: join.analyzed(),
    })
}

/// The tag columns of `batches` (built with plain `Utf8` tags) cast to
/// `schema`'s types: dictionary tags for the materialized executor.
pub fn cast_to(schema: &SchemaRef, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    batches
        .into_iter()
        .map(|b| {
            if b.schema() == *schema {
                return Ok(b);
            }
            let columns = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
        })
        .collect()
}
