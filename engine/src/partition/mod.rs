//! Partitioned execution of one value column (`docs/architecture.md`,
//! "Partitions and partial aggregates"): the column's timelines are split
//! into P partitions, each with its own chain of operators running as a task
//! of its own, and one operator on top combines the partitions' outputs
//! into the same batches, in the same (group, time) order, as the
//! unpartitioned pipeline.
//!
//! ```text
//!   streaming aggregation (PipeAggOp's case) grouped by tags, partitions of
//!   whole groups (series-id ranges cut between groups where possible):
//!
//!   GroupMergeOp ◀─TimelineBatch── PipeAggOp (its groups) ◀ [RateOp] ◀ [DsAggOp] ◀ ScanOp(1/P)
//!       │        ◀─TimelineBatch── PipeAggOp (its groups) ◀ [RateOp] ◀ [DsAggOp] ◀ ScanOp(2/P)
//!       ▼ k-way merge of finished rows by group id (no state merge)
//!
//!   streaming aggregation into one group (no GROUP BY), partitions by
//!   series id range:
//!
//!   FinalAggOp ◀─PartialStates (RecordBatch)── PartialAggOp ◀ [RateOp] ◀ [DsAggOp] ◀ ScanOp(1/P)
//!       │      ◀─PartialStates (RecordBatch)── PartialAggOp ◀ [RateOp] ◀ [DsAggOp] ◀ ScanOp(2/P)
//!       ▼ merge in partition order, finish
//!
//!   interpolating aggregation (GroupedAggOp, MTAggOp), partitions by
//!   group id mod P:
//!
//!   GroupMergeOp ◀─TimelineBatch── GroupedAggOp | MTAggOp ◀ … ◀ ScanOp(1/P)
//!       │        ◀─TimelineBatch── GroupedAggOp | MTAggOp ◀ … ◀ ScanOp(2/P)
//!       ▼ k-way merge by group id (groups are disjoint between partitions)
//! ```
//!
//! Partitions run as tasks started through the query's
//! [`Spawner`](crate::context::Spawner) (`TaskContext::spawner`): the engine
//! depends on no runtime. Without a spawner they run one after the other on
//! the calling task. Every partition shares the query's memory pool and
//! runs under a child of its cancellation token, which the top operator
//! cancels when a partition fails, when it is closed and when it is
//! dropped.

mod build;
mod final_agg;
mod group_merge;
mod owners;
mod partial_agg;
mod shard;
mod tasks;

use std::fmt;
use std::ops::Range;

pub use build::{
    build_partitioned, build_partitioned_in, build_partitioned_with, partition_count,
    partitions_for, partitions_for_points, plan_partitioned_with, split_for,
    MIN_POINTS_PER_PARTITION,
};
pub use final_agg::FinalAggOp;
pub use group_merge::GroupMergeOp;
pub use owners::{group_owners, OwnedGroups};
pub use partial_agg::{PartialAggOp, PartialOutput};
pub use shard::{build_shard_step, ShardStep};

use crate::group::Grouping;
use crate::registry::SeriesRegistry;
use crate::spec::GroupBy;

/// One of `count` partitions of a scan's timelines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// This partition, `0..count`.
    pub index: usize,
    /// Number of partitions (at least 1).
    pub count: usize,
    /// How timelines are dealt to partitions.
    pub by: PartitionBy,
}

/// How timelines are dealt to partitions; decided on the scan's registry
/// (series ids dense and key-sorted), so every partition agrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionBy {
    /// Contiguous ranges of series ids: of `n` series, partition `k` of `P`
    /// has the ids `i` with `i * P / n == k` (balanced to one series;
    /// contiguous so that an in-memory scan still hands out zero-copy
    /// slices).
    Series,
    /// Group id (groups as [`Grouping`] numbers them for this `GROUP BY`)
    /// modulo the partition count: every timeline of a group in one
    /// partition, the groups of the partitions interleaved (the
    /// interpolating aggregations, whose partitions emit group by group
    /// while the others run).
    Group(GroupBy),
    /// Whole groups, balanced by the number of series ([`group_owners`]):
    /// contiguous series-id ranges cut where no group spans the cut, else
    /// contiguous ranges of group ids ([`group_range`]). Every timeline of
    /// a group in one partition (the streaming aggregation, which then
    /// needs no partial states).
    WholeGroups(GroupBy),
}

impl Partition {
    /// `keep[series_id]`: whether each series of `registry` belongs to this
    /// partition.
    pub fn mask(&self, registry: &SeriesRegistry) -> Vec<bool> {
        let count = self.count.max(1);
        match &self.by {
            PartitionBy::Series => {
                let n = registry.len();
                (0..n).map(|id| id * count / n == self.index).collect()
            }
            PartitionBy::Group(by) => {
                let grouping = Grouping::new(registry, by, "");
                (0..registry.len() as u32)
                    .map(|id| grouping.group_of(id) as usize % count == self.index)
                    .collect()
            }
            PartitionBy::WholeGroups(by) => {
                let grouping = Grouping::new(registry, by, "");
                let owners = group_owners(&grouping, count);
                (0..registry.len() as u32)
                    .map(|id| owners[grouping.group_of(id) as usize] as usize == self.index)
                    .collect()
            }
        }
    }
}

/// The group ids of partition `index` of `count` in a split into whole
/// groups ([`PartitionBy::WholeGroups`]) that cannot be cut by series id
/// ([`group_owners`]): the groups are cut, in id order, where the
/// series before a group reach `k / count` of all series, so that each
/// partition has about `1 / count` of the series (to one group) and its
/// groups are contiguous. Group `g`, with `before(g)` series in the groups
/// below it out of `n`, goes to partition `min(count - 1, before(g) * count
/// / n)`. Empty when the partition gets no group (more partitions than
/// groups, or a few large groups).
pub fn group_range(grouping: &Grouping, index: usize, count: usize) -> Range<u32> {
    let count = count.max(1);
    let groups = grouping.num_groups();
    let n = grouping.num_series();
    let mut sizes = vec![0usize; groups];
    for id in 0..n as u32 {
        sizes[grouping.group_of(id) as usize] += 1;
    }
    // start[k]: the first group of partition k (groups if none)
    let (mut start, mut end) = (groups, groups);
    let mut before = 0usize;
    for (g, size) in sizes.iter().enumerate() {
        let owner = (before * count / n.max(1)).min(count - 1);
        if owner >= index && start == groups {
            start = g;
        }
        if owner > index {
            end = g;
            break;
        }
        before += size;
    }
    start.min(end) as u32..end as u32
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by = match self.by {
            PartitionBy::Series => "series",
            PartitionBy::Group(_) => "group",
            PartitionBy::WholeGroups(_) => "whole groups",
        };
        write!(f, "{}/{} by {by}", self.index + 1, self.count)
    }
}

#[cfg(test)]
mod tests;
