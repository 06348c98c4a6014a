//! Building the partitioned form of a pipeline: how many partitions a spec
//! can use ([`partitions_for`]), how many its selection is worth
//! ([`partition_count`]: none for a small one, from the adapter's point
//! count) and the operator tree, built to run
//! ([`build_partitioned_with`], which reads what the plan depends on) or
//! for a plain `EXPLAIN` ([`plan_partitioned_with`], no storage I/O). Each
//! partition's chain is built by the pipeline builder
//! (`crate::pipeline`), with the same read path, range and lookback seeds
//! as the unpartitioned pipeline.

use std::sync::Arc;

use crate::error::Result;
use crate::operator::Operator;
use crate::ops::grouped_agg::GroupedAggOp;
use crate::ops::mt_agg::MTAggOp;
use crate::ops::pipe_agg::PipeAggOp;
use crate::pipeline::{
    build_chain, build_pipeline_in, check, needs_range, plan_pipeline_with, prefetch,
    resolve_range, Prefetched,
};
use crate::read_path::ReadPath;
use crate::shared_scan::ScanShares;
use crate::spec::{AggStrategy, GroupBy, PipelineSpec};
use crate::storage::StorageAdapter;

use super::{FinalAggOp, GroupMergeOp, PartialAggOp, Partition, PartitionBy};

/// How many partitions `spec` run with `strategy`, read by `read`, can use
/// out of `threads`: 1 (no partitioning) without a cross-timeline
/// aggregate (raw and downsampled-only queries), for an interpolating
/// aggregation without `GROUP BY` (one group, which cannot be split) and
/// for a last-point read (one point per series: the read is the work, and
/// it is one adapter call); else `threads`. The partitions that end up
/// without a timeline (fewer timelines or groups than partitions) cost one
/// empty scan each.
pub fn partitions_for(
    spec: &PipelineSpec,
    strategy: AggStrategy,
    read: ReadPath,
    threads: usize,
) -> usize {
    let threads = threads.max(1);
    match (spec.aggregate, strategy) {
        _ if read == ReadPath::LastPoint => 1,
        (None, _) => 1,
        (Some(_), AggStrategy::Pipe) => threads,
        (Some(_), AggStrategy::Grouped | AggStrategy::MT) if spec.group_by == GroupBy::None => 1,
        (Some(_), _) => threads,
    }
}

/// The default of the point threshold of [`partition_count`]: points (as
/// the adapter counts them for the scan's selection and range from its
/// index, [`StorageAdapter::point_count`]) that each partition must have
/// to pay for its task. A partition costs a fixed 0.1–0.3 ms (its task's
/// start and wake-ups, its scan's set-up, the merge of its output), the
/// time one thread takes to scan and aggregate 15,000–45,000 points
/// (about 150 M points/s); with fewer than about twice that per partition
/// the second core loses time (seed case 2, 36,000 points: 0.06 ms on one
/// thread, 0.3 ms on two). 100,000 points per partition keeps that fixed
/// cost to about a fifth of a partition's work (`docs/benchmarks.md`,
/// "Second core and tiny queries (fifth session)").
pub const MIN_POINTS_PER_PARTITION: u64 = 100_000;

/// At most `partitions` partitions, fewer when `points` (the selection's
/// point count, if the adapter knows it) gives each fewer than
/// `min_points`; `partitions` when the count is unknown or `min_points` is
/// 0.
///
/// ```
/// use tsq_engine::partition::{partitions_for_points, MIN_POINTS_PER_PARTITION};
/// let min = MIN_POINTS_PER_PARTITION;
/// assert_eq!(partitions_for_points(2, Some(36_000), min), 1);
/// assert_eq!(partitions_for_points(2, Some(250_000), min), 2);
/// assert_eq!(partitions_for_points(8, Some(250_000), min), 2);
/// assert_eq!(partitions_for_points(2, None, min), 2);
/// assert_eq!(partitions_for_points(2, Some(10), 0), 2);
/// ```
pub fn partitions_for_points(partitions: usize, points: Option<u64>, min_points: u64) -> usize {
    let partitions = partitions.max(1);
    match (points, min_points) {
        (Some(n), min) if min > 0 => partitions.min(usize::try_from(n / min).unwrap_or(usize::MAX)),
        _ => partitions,
    }
    .max(1)
}

/// The partitions `spec` runs with out of `threads`: [`partitions_for`]'s
/// count, cut by [`partitions_for_points`] to what the selection's points
/// are worth at `min_points` per partition (0: no cut). The count comes
/// from the adapter's index ([`StorageAdapter::point_count`]: the
/// in-memory adapter's binary searches; no block is read), so a plain
/// `EXPLAIN` asks it too and shows the tree that runs.
pub async fn partition_count(
    spec: &PipelineSpec,
    adapter: &dyn StorageAdapter,
    strategy: AggStrategy,
    read: ReadPath,
    threads: usize,
    min_points: u64,
) -> Result<usize> {
    let p = partitions_for(spec, strategy, read, threads);
    if p <= 1 || min_points == 0 {
        return Ok(p);
    }
    // enough to give every partition its share; counting stops there
    let limit = min_points.saturating_mul(p as u64);
    let points = adapter.point_count_up_to(&spec.scan, limit).await?;
    Ok(partitions_for_points(p, points, min_points))
}

/// [`build_partitioned_with`] reading by scan.
pub async fn build_partitioned(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
    partitions: usize,
) -> Result<Box<dyn Operator>> {
    build_partitioned_with(spec, adapter, strategy, ReadPath::Scan, partitions).await
}

/// The operator tree of `spec` with `strategy`, read by `read`, over up to
/// `partitions` partitions ([`partitions_for`] decides how many it can
/// use, with no point threshold: a planner asks [`partition_count`] first;
/// with 1 it is [`build_pipeline_with`](crate::pipeline::build_pipeline_with)'s tree):
///
/// - `PipeAggOp`'s case grouped by tags (or `GROUP BY *`): `GroupMergeOp`
///   merging P × (`PipeAggOp` of its groups ← chain), timelines dealt
///   in whole groups ([`split_for`]);
/// - `PipeAggOp`'s case without `GROUP BY`: `FinalAggOp` over P ×
///   (`PartialAggOp` ← chain), timelines dealt by series id;
/// - `GroupedAggOp` / `MTAggOp`: `GroupMergeOp` over P × (aggregation ←
///   chain), timelines dealt by group.
///
/// The partitions' scans start with one adapter call
/// ([`StorageAdapter::scan_group`]; `docs/architecture.md`, "One scan for
/// several fields"). Reads what the plan depends on once, before splitting: the tail window
/// and the lookback seeds (as [`build_pipeline_with`](crate::pipeline::build_pipeline_with) does), and an
/// unbounded range that the downsampling needs, so that every partition
/// and the final merge agree on one bucket grid.
pub async fn build_partitioned_with(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
    read: ReadPath,
    partitions: usize,
) -> Result<Box<dyn Operator>> {
    // The partitions of one column read one series selection: their scans
    // start with one adapter call.
    let shares = ScanShares::new();
    build_partitioned_in(spec, adapter, strategy, read, partitions, Some(&shares)).await
}

/// [`build_partitioned_with`] whose scans join the query's shared scans
/// `shares` when given (`crate::shared_scan`; `docs/architecture.md`, "One
/// scan for several fields"): the first scan of the query to open starts
/// every field's and partition's scan of the same series with one adapter
/// call.
pub async fn build_partitioned_in(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
    read: ReadPath,
    partitions: usize,
    shares: Option<&ScanShares>,
) -> Result<Box<dyn Operator>> {
    let p = partitions_for(spec, strategy, read, partitions);
    if p <= 1 {
        return build_pipeline_in(spec, adapter, strategy, read, shares).await;
    }
    check(spec, adapter.as_ref(), strategy, read)?;
    let mut pre = prefetch(spec, adapter.as_ref(), read).await?;
    pre.shares = shares.cloned();
    let bounded = spec.scan.range.start.zip(spec.scan.range.end);
    if pre.window.is_none() && bounded.is_none() && needs_range(spec, strategy) {
        pre.resolved = Some(resolve_range(&spec.scan, adapter.as_ref()).await?);
    }
    assemble(spec, &adapter, strategy, read, &pre, p)
}

/// [`build_partitioned_with`] without the `async` and without storage I/O,
/// for a plain `EXPLAIN`: the same operators, but an unbounded range is
/// shown as resolved from the data (`buckets=from data`), a tail read
/// shows the whole range and fills get no lookback seeds, as
/// [`plan_pipeline_with`] does. Pass [`partition_count`]'s count (it reads
/// only index metadata) to show the tree that runs: this function applies
/// [`partitions_for`] only, not the point threshold.
pub fn plan_partitioned_with(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
    read: ReadPath,
    partitions: usize,
) -> Result<Box<dyn Operator>> {
    let p = partitions_for(spec, strategy, read, partitions);
    if p <= 1 {
        return plan_pipeline_with(spec, adapter, strategy, read);
    }
    check(spec, adapter.as_ref(), strategy, read)?;
    assemble(spec, &adapter, strategy, read, &Prefetched::default(), p)
}

/// How the timelines of `spec` aggregated with `strategy` are split into
/// partitions (`docs/architecture.md`, "Partitions and partial
/// aggregates"):
///
/// - a streaming aggregation (`PipeAggOp`) grouped by tags or by series:
///   into whole groups ([`group_owners`](super::group_owners): series-id
///   ranges cut between groups where possible, so that in-memory scans
///   keep zero-copy slices; else ranges of group ids). Each partition
///   aggregates whole groups into accumulators of its own groups and the
///   merge interleaves finished rows: no partial state is built, shipped
///   or merged, and the serial step is O(result rows), not O(P × groups ×
///   buckets).
/// - a streaming aggregation into one group (no `GROUP BY`): by series,
///   with partial states merged by [`FinalAggOp`] (one group cannot be
///   split otherwise).
/// - an interpolating aggregation (`GroupedAggOp`, `MTAggOp`): by group
///   modulo P, merged group by group (each partition streams its groups as
///   it goes, so the partitions' outputs are consumed side by side).
///
/// Decided from the query alone: with fewer groups than partitions a split
/// into whole groups leaves partitions without a group (correct, less
/// parallel).
pub fn split_for(spec: &PipelineSpec, strategy: AggStrategy) -> PartitionBy {
    match (strategy, &spec.group_by) {
        (AggStrategy::Pipe, GroupBy::None) => PartitionBy::Series,
        (AggStrategy::Pipe, by) => PartitionBy::WholeGroups(by.clone()),
        (AggStrategy::Grouped | AggStrategy::MT, by) => PartitionBy::Group(by.clone()),
    }
}

/// The partitioned tree over `p` (> 1) partitions, with what was read
/// before building.
fn assemble(
    spec: &PipelineSpec,
    adapter: &Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
    read: ReadPath,
    pre: &Prefetched,
    p: usize,
) -> Result<Box<dyn Operator>> {
    let by = split_for(spec, strategy);
    let part = |index| Partition {
        index,
        count: p,
        by: by.clone(),
    };
    let chain = |k| build_chain(spec, adapter, strategy, read, pre, Some(part(k)));
    let (Some(agg), name) = (spec.aggregate, &spec.output_name) else {
        // partitions_for gives one partition without an aggregate
        return build_chain(spec, adapter, strategy, read, pre, None);
    };
    if let PartitionBy::WholeGroups(_) = by {
        let mut parts: Vec<Box<dyn Operator>> = Vec::with_capacity(p);
        for k in 0..p {
            let by = spec.group_by.clone();
            parts.push(Box::new(PipeAggOp::in_partition(
                chain(k)?,
                agg,
                by,
                name.clone(),
                part(k),
            )?));
        }
        return Ok(Box::new(GroupMergeOp::whole_groups(parts)?));
    }
    if strategy == AggStrategy::Pipe {
        let mut parts = Vec::with_capacity(p);
        for k in 0..p {
            let by = spec.group_by.clone();
            parts.push(PartialAggOp::new(
                chain(k)?,
                agg,
                by,
                name.clone(),
                part(k),
            )?);
        }
        return Ok(Box::new(FinalAggOp::new(
            parts,
            agg,
            spec.group_by.clone(),
        )?));
    }
    let mut parts: Vec<Box<dyn Operator>> = Vec::with_capacity(p);
    let aligned = crate::strategy::interpolation(spec).is_ok();
    for k in 0..p {
        let by = spec.group_by.clone();
        parts.push(match strategy {
            AggStrategy::Grouped => Box::new(
                GroupedAggOp::new(chain(k)?, agg, by, name.clone()).with_aligned_input(aligned),
            ),
            _ => {
                Box::new(MTAggOp::new(chain(k)?, agg, by, name.clone()).with_aligned_input(aligned))
            }
        });
    }
    Ok(Box::new(GroupMergeOp::new(parts)?))
}
