//! Which partition owns each group in a split into whole groups
//! ([`PartitionBy::WholeGroups`](super::PartitionBy::WholeGroups);
//! `docs/architecture.md`, "Partitions and partial aggregates").
//!
//! ```text
//!   series ids  0 ─────────────── n/P ─────────────── n
//!   groups      │ a  a  b  c  c  d │ e  e  f  g  h  h │      cut where no group spans it
//!               └── partition 1 ───┴── partition 2 ───┘      (near k·n/P): contiguous series
//!
//!   no such cut near k·n/P  ──▶  contiguous ranges of group ids instead ([`group_range`](super::group_range))
//! ```
//!
//! Cutting the series ids keeps each partition's series adjacent, so an
//! adapter that hands out zero-copy slices of a block (the in-memory one)
//! still can; when every group is one series (`GROUP BY hostname`) any cut
//! is valid, when the grouping tag sorts first the group boundaries are.

use crate::group::Grouping;

/// Partition of each group (indexed by group id) when `grouping`'s groups
/// are split whole over `count` partitions: by series-id cuts that no group
/// spans, each within `n / (4 × count)` series of the balanced point
/// `k × n / count`, when there are such cuts; else by [`group_range`](super::group_range).
pub fn group_owners(grouping: &Grouping, count: usize) -> Vec<u32> {
    let count = count.max(1);
    let groups = grouping.num_groups();
    let mut owners = vec![0u32; groups];
    if let Some((cuts, first)) = series_cuts(grouping, count) {
        for (g, owner) in owners.iter_mut().enumerate() {
            *owner = cuts.partition_point(|&c| c <= first[g]) as u32;
        }
        // Kept only when each partition's groups are consecutive too, so
        // that the merge hands the partitions' batches on whole
        if owners.windows(2).all(|w| w[0] <= w[1]) {
            return owners;
        }
    }
    range_owners(grouping, count)
}

/// The owner of each group in a split into contiguous ranges of group ids
/// ([`group_range`](super::group_range)'s ranges), in one pass: group `g`, with `before(g)`
/// series in the groups below it out of `n`, goes to partition
/// `min(count - 1, before(g) * count / n)`.
pub(super) fn range_owners(grouping: &Grouping, count: usize) -> Vec<u32> {
    let count = count.max(1);
    let n = grouping.num_series();
    let mut sizes = vec![0usize; grouping.num_groups()];
    for id in 0..n as u32 {
        sizes[grouping.group_of(id) as usize] += 1;
    }
    let mut before = 0usize;
    sizes
        .iter()
        .map(|size| {
            let owner = (before * count / n.max(1)).min(count - 1);
            before += size;
            owner as u32
        })
        .collect()
}

/// The `count - 1` series-id cuts (ascending) that no group spans, near
/// the balanced points, and the first series id of each group; `None`
/// when some balanced point has no such cut within the slack.
fn series_cuts(grouping: &Grouping, count: usize) -> Option<(Vec<usize>, Vec<usize>)> {
    let (groups, n) = (grouping.num_groups(), grouping.num_series());
    let mut first = vec![usize::MAX; groups];
    let mut last = vec![0usize; groups];
    for id in 0..n {
        let g = grouping.group_of(id as u32) as usize;
        first[g] = first[g].min(id);
        last[g] = id;
    }
    // spanning[c]: groups with first < c <= last, i.e. cut c splits them
    let mut delta = vec![0i64; n + 2];
    for g in 0..groups {
        if first[g] < last[g] {
            delta[first[g] + 1] += 1;
            delta[last[g] + 1] -= 1;
        }
    }
    let mut valid = vec![false; n + 1];
    let mut spanning = 0i64;
    for (c, ok) in valid.iter_mut().enumerate() {
        spanning += delta[c];
        *ok = spanning == 0;
    }
    let slack = n / (4 * count);
    let mut cuts = Vec::with_capacity(count - 1);
    let mut prev = 0;
    for k in 1..count {
        let target = k * n / count;
        let near = (0..=slack).find_map(|d| {
            [target.checked_sub(d), Some(target + d)]
                .into_iter()
                .flatten()
                .find(|&c| c >= prev && c <= n && valid[c])
        })?;
        cuts.push(near);
        prev = near;
    }
    Some((cuts, first))
}

/// The groups one partition of a split into whole groups owns, in group id
/// order, and each group's place among them.
#[derive(Debug, Clone)]
pub struct OwnedGroups {
    /// Owned group ids, ascending.
    mine: Vec<u32>,
    /// For each group id: its index in `mine`, or `u32::MAX` when another
    /// partition owns it.
    local_of: Vec<u32>,
}

impl OwnedGroups {
    /// The groups of partition `index` of `count` ([`group_owners`]).
    pub fn of(grouping: &Grouping, index: usize, count: usize) -> Self {
        let owners = group_owners(grouping, count);
        let mut mine = Vec::new();
        let mut local_of = vec![u32::MAX; owners.len()];
        for (g, &owner) in owners.iter().enumerate() {
            if owner as usize == index {
                local_of[g] = mine.len() as u32;
                mine.push(g as u32);
            }
        }
        OwnedGroups { mine, local_of }
    }

    /// Number of owned groups.
    pub fn len(&self) -> usize {
        self.mine.len()
    }

    /// Whether no group is owned.
    pub fn is_empty(&self) -> bool {
        self.mine.is_empty()
    }

    /// The index among the owned groups of group `group`; `None` when
    /// another partition owns it.
    pub fn local(&self, group: u32) -> Option<u32> {
        self.local_of
            .get(group as usize)
            .copied()
            .filter(|&l| l != u32::MAX)
    }

    /// The group id of owned group `local`.
    pub fn global(&self, local: usize) -> u32 {
        self.mine[local]
    }

    /// The owned group ids, ascending.
    pub fn ids(&self) -> &[u32] {
        &self.mine
    }
}
