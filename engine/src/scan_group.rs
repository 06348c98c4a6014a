//! A scan group: several scans of one series selection (the same
//! measurement, tag predicate, time range and group order) that differ only
//! in their field and partition, asked of the adapter in one call
//! ([`StorageAdapter::scan_group`]) so that it can resolve the selection
//! once (`docs/architecture.md`, "One scan for several fields").
//!
//! ```text
//!   SELECT avg(a), avg(b) ... with 2 partitions per field:
//!
//!   ScanGroup { request: cpu WHERE … [t0, t1),
//!               members: [a 1/2, a 2/2, b 1/2, b 2/2] }
//!        │ adapter.scan_group (one index walk for a and b)
//!        ▼
//!   [SeriesScan a 1/2, SeriesScan a 2/2, SeriesScan b 1/2, SeriesScan b 2/2]
//! ```
//!
//! Each scan of the answer is exactly what [`StorageAdapter::scan`] (or
//! [`StorageAdapter::scan_partition`]) would give for its member's request:
//! the same registry, the same timelines in the same order.

use std::sync::Arc;

use arrow::array::UInt32Array;

use crate::batch::TimelineBatch;
use crate::error::Result;
use crate::partition::Partition;
use crate::storage::{ScanRequest, SeriesScan, StorageAdapter};

/// Scans of one series selection: `request` with each member's field, of
/// the member's partition when it has one.
#[derive(Debug, Clone)]
pub struct ScanGroup {
    /// What every member reads; its `field` is replaced by each member's.
    pub request: ScanRequest,
    /// The scans asked for, in the order the answer gives them.
    pub members: Vec<ScanMember>,
}

/// One scan of a [`ScanGroup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanMember {
    /// The field it reads.
    pub field: String,
    /// Its partition of the field's series, if partitioned.
    pub partition: Option<Partition>,
}

impl ScanGroup {
    /// The request of member `i` on its own: the group's with its field.
    pub fn request_of(&self, i: usize) -> ScanRequest {
        let mut request = self.request.clone();
        if let Some(m) = self.members.get(i) {
            request.field.clone_from(&m.field);
        }
        request
    }

    /// The distinct fields of the members, in first-seen order.
    pub fn fields(&self) -> Vec<&str> {
        let mut fields: Vec<&str> = Vec::new();
        for m in &self.members {
            if !fields.contains(&m.field.as_str()) {
                fields.push(&m.field);
            }
        }
        fields
    }
}

/// [`StorageAdapter::scan_group`] member by member: one
/// [`scan`](StorageAdapter::scan) or
/// [`scan_partition`](StorageAdapter::scan_partition) each (the default for
/// adapters that have nothing to share between them).
pub async fn scan_each<A: StorageAdapter + ?Sized>(
    adapter: &A,
    group: &ScanGroup,
) -> Result<Vec<Box<dyn SeriesScan>>> {
    let mut scans = Vec::with_capacity(group.members.len());
    for (i, m) in group.members.iter().enumerate() {
        let request = group.request_of(i);
        scans.push(match &m.partition {
            Some(p) => adapter.scan_partition(&request, p).await?,
            None => adapter.scan(&request).await?,
        });
    }
    Ok(scans)
}

/// The rows of `batch` whose series are in `partition` (its
/// [`mask`](Partition::mask) over the batch's registry), over the same
/// registry: how a partitioned member of
/// [`StorageAdapter::last_points_group`] is cut from the whole lookup.
pub fn keep_partition(batch: &TimelineBatch, partition: &Partition) -> Result<TimelineBatch> {
    let keep = partition.mask(batch.registry());
    let ids = batch.series_ids();
    let rows: Vec<u32> = (0..batch.num_rows() as u32)
        .filter(|&r| keep.get(ids[r as usize] as usize).copied().unwrap_or(false))
        .collect();
    if rows.len() == batch.num_rows() {
        return Ok(batch.clone());
    }
    let kept_ids: Vec<u32> = rows.iter().map(|&r| ids[r as usize]).collect();
    let times: Vec<i64> = rows.iter().map(|&r| batch.times()[r as usize]).collect();
    let values = arrow::compute::take(
        batch.value_column().as_ref(),
        &UInt32Array::from(rows),
        None,
    )?;
    // a run per series: the kept rows of each id are contiguous
    let mut offsets = vec![0u32];
    for (i, w) in kept_ids.windows(2).enumerate() {
        if w[0] != w[1] {
            offsets.push(i as u32 + 1);
        }
    }
    if !kept_ids.is_empty() {
        offsets.push(kept_ids.len() as u32);
    }
    TimelineBatch::from_sorted_run_arrays(
        kept_ids.into(),
        times.into(),
        values,
        offsets,
        Arc::clone(batch.registry()),
    )
}
