//! One shard's part of a pipeline, for a cluster whose shards each hold
//! some of the series (`docs/distributed.md`, "What runs where"): the part
//! below the final merge, built over the shard's store.
//!
//! ```text
//!   streaming aggregation:   PartialAggOp ◀ [RateOp] ◀ [DsAggOp] ◀ ScanOp   → partial states
//!   interpolating one:       [RateOp] ◀ [DsAggOp] ◀ ScanOp                  → timelines
//!   no aggregate:            the whole pipeline                            → timelines
//! ```
//!
//! The states merge with the other shards' exactly as the partitions of
//! one store do ([`PartialStates::merge`](crate::partial::PartialStates::merge));
//! the timelines of an interpolating aggregation are aggregated where all
//! shards' timelines meet, since a group's timelines may span shards.

use std::sync::Arc;

use crate::error::Result;
use crate::operator::Operator;
use crate::pipeline::{
    build_chain, build_pipeline_with, check, needs_range, prefetch, resolve_range,
};
use crate::read_path::ReadPath;
use crate::spec::{AggStrategy, PipelineSpec};
use crate::storage::StorageAdapter;

use super::{PartialAggOp, Partition, PartitionBy};

/// What a shard runs of one pipeline; see the module docs.
pub enum ShardStep {
    /// A streaming aggregation's partial step: run it with
    /// [`PartialAggOp::run_partial`].
    Partial(Box<PartialAggOp>),
    /// The timelines below an interpolating aggregation (which the merge
    /// side aggregates), ordered as the scan delivers them.
    Below(Box<dyn Operator>),
    /// A pipeline without a cross-timeline aggregate: its final timelines
    /// (every timeline lives on one shard).
    Whole(Box<dyn Operator>),
}

/// The shard step of `spec` with `strategy`, read by `read`, over `adapter`
/// (the shard's store). Reads what the chain depends on first, as
/// [`build_partitioned_with`](super::build_partitioned_with) does; an
/// unbounded range is resolved through `adapter.time_span`, which a
/// cluster answers with the span of every shard's data so that all shards
/// share one bucket grid.
pub async fn build_shard_step(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
    read: ReadPath,
) -> Result<ShardStep> {
    let Some(agg) = spec.aggregate else {
        return Ok(ShardStep::Whole(
            build_pipeline_with(spec, adapter, strategy, read).await?,
        ));
    };
    check(spec, adapter.as_ref(), strategy, read)?;
    let mut pre = prefetch(spec, adapter.as_ref(), read).await?;
    let bounded = spec.scan.range.start.zip(spec.scan.range.end);
    if pre.window.is_none() && bounded.is_none() && needs_range(spec, strategy) {
        pre.resolved = Some(resolve_range(&spec.scan, adapter.as_ref()).await?);
    }
    let chain = build_chain(spec, &adapter, strategy, read, &pre, None)?;
    if strategy != AggStrategy::Pipe {
        return Ok(ShardStep::Below(chain));
    }
    let whole = Partition {
        index: 0,
        count: 1,
        by: PartitionBy::Series,
    };
    let name = spec.output_name.clone();
    Ok(ShardStep::Partial(Box::new(PartialAggOp::new(
        chain,
        agg,
        spec.group_by.clone(),
        name,
        whole,
    )?)))
}
