//! Building the partitioned form of a pipeline: how many partitions a spec
//! can use ([`partitions_for`]) and the operator tree
//! ([`build_partitioned`]).

use std::sync::Arc;

use crate::error::Result;
use crate::operator::Operator;
use crate::ops::grouped_agg::GroupedAggOp;
use crate::ops::mt_agg::MTAggOp;
use crate::pipeline::{build_chain, build_pipeline, prepare};
use crate::spec::{AggStrategy, GroupBy, PipelineSpec};
use crate::storage::StorageAdapter;

use super::{FinalAggOp, GroupMergeOp, PartialAggOp, Partition, PartitionBy};

/// How many partitions `spec` run with `strategy` can use out of
/// `threads`: 1 (no partitioning) without a cross-timeline aggregate (raw
/// and downsampled-only queries), and for an interpolating aggregation
/// without `GROUP BY` (one group, which cannot be split); else `threads`.
/// The partitions that end up without a timeline (fewer timelines or
/// groups than partitions) cost one empty scan each.
pub fn partitions_for(spec: &PipelineSpec, strategy: AggStrategy, threads: usize) -> usize {
    let threads = threads.max(1);
    match (spec.aggregate, strategy) {
        (None, _) => 1,
        (Some(_), AggStrategy::Pipe) => threads,
        (Some(_), AggStrategy::Grouped | AggStrategy::MT) if spec.group_by == GroupBy::None => 1,
        (Some(_), _) => threads,
    }
}

/// The operator tree of `spec` with `strategy` over `partitions`
/// partitions ([`partitions_for`] decides how many it can use; with 1 it is
/// [`build_pipeline`]'s tree):
///
/// - `PipeAggOp`'s case: `FinalAggOp` over P × (`PartialAggOp` ← chain),
///   timelines dealt by series id;
/// - `GroupedAggOp` / `MTAggOp`: `GroupMergeOp` over P × (aggregation ←
///   chain), timelines dealt by group.
pub async fn build_partitioned(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
    partitions: usize,
) -> Result<Box<dyn Operator>> {
    let p = partitions_for(spec, strategy, partitions);
    let Some(agg) = spec.aggregate.filter(|_| p > 1) else {
        return build_pipeline(spec, adapter, strategy).await;
    };
    let (scan, range) = prepare(spec, adapter.as_ref(), strategy).await?;
    let by = match strategy {
        AggStrategy::Pipe => PartitionBy::Series,
        AggStrategy::Grouped | AggStrategy::MT => PartitionBy::Group(spec.group_by.clone()),
    };
    let part = |index| Partition {
        index,
        count: p,
        by: by.clone(),
    };
    let name = &spec.output_name;
    if strategy == AggStrategy::Pipe {
        let ds = spec.downsample.expect("checked by check_strategy");
        let (start, end) = range.expect("resolved for PipeAggOp");
        let grid = ds.grid(start, end)?;
        let mut parts = Vec::with_capacity(p);
        for k in 0..p {
            let chain = build_chain(spec, &adapter, &scan, Some(part(k)), range)?;
            let by = spec.group_by.clone();
            parts.push(PartialAggOp::new(
                chain,
                agg,
                by,
                grid,
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
    for k in 0..p {
        let chain = build_chain(spec, &adapter, &scan, Some(part(k)), range)?;
        let by = spec.group_by.clone();
        parts.push(match strategy {
            AggStrategy::Grouped => Box::new(GroupedAggOp::new(chain, agg, by, name.clone())),
            _ => Box::new(MTAggOp::new(chain, agg, by, name.clone())),
        });
    }
    Ok(Box::new(GroupMergeOp::new(parts)?))
}
