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
