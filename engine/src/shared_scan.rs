//! One scan for several fields (`docs/architecture.md`, "One scan for
//! several fields"): the `ScanOp`s of a query that read the same series
//! selection (measurement, tag predicate, time range, group order) for
//! different fields or partitions join one [`SharedScan`] while the plan is
//! built; the first of them to open starts every member's scan with one
//! [`StorageAdapter::scan_group`] call, and each member takes its own.
//!
//! ```text
//!  build:  ScanOp(a 1/2) ─┐
//!          ScanOp(a 2/2) ─┼─ join ──▶ SharedScan { cpu WHERE … [t0,t1): a 1/2, a 2/2, b 1/2, b 2/2 }
//!          ScanOp(b 1/2) ─┤
//!          ScanOp(b 2/2) ─┘
//!  open:   first ScanOp to open ──▶ adapter.scan_group(all four) ──▶ four SeriesScans
//!          every ScanOp takes its own (by slot) and reads it as before
//! ```
//!
//! The chains stay what they were (one per field and partition, each run
//! as before); what is shared is resolving the series selection: the index
//! look-ups, the registry, the ordering and, on TSM, the read view.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::Result;
use crate::partition::Partition;
use crate::scan_group::{ScanGroup, ScanMember};
use crate::storage::{ScanRequest, SeriesScan, StorageAdapter};

/// The shared scans of one query, by series selection; made by the planner
/// for each query and handed to the pipeline builders. Clones share them.
#[derive(Debug, Clone, Default)]
pub struct ScanShares {
    groups: Arc<Mutex<Vec<Arc<SharedScan>>>>,
}

impl ScanShares {
    /// No shared scan yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Joins `request` (of `partition` when set) read through `adapter` to
    /// the shared scan of its series selection, making one if there is
    /// none; returns the scan and the member's slot in it.
    pub fn join(
        &self,
        adapter: &Arc<dyn StorageAdapter>,
        request: &ScanRequest,
        partition: Option<&Partition>,
    ) -> (Arc<SharedScan>, usize) {
        let member = ScanMember {
            field: request.field.clone(),
            partition: partition.cloned(),
        };
        let mut groups = relock(&self.groups);
        if let Some(shared) = groups.iter().find(|g| g.selects(adapter, request)) {
            let slot = shared.add(member);
            return (Arc::clone(shared), slot);
        }
        let shared = Arc::new(SharedScan {
            adapter: Arc::clone(adapter),
            group: Mutex::new(ScanGroup {
                request: request.clone(),
                members: vec![member],
            }),
            started: futures::lock::Mutex::new(Started::No),
        });
        groups.push(Arc::clone(&shared));
        (shared, 0)
    }

    /// The shared scans made so far.
    pub fn scans(&self) -> Vec<Arc<SharedScan>> {
        relock(&self.groups).clone()
    }
}

/// The scans of one series selection for several fields and partitions;
/// see the module docs.
pub struct SharedScan {
    adapter: Arc<dyn StorageAdapter>,
    /// The selection and its members, registered while the plan is built.
    group: Mutex<ScanGroup>,
    /// The members' scans once the first member opened.
    started: futures::lock::Mutex<Started>,
}

/// Whether a [`SharedScan`] started its members' scans.
enum Started {
    /// Not yet: the first member to open starts them.
    No,
    /// Started: each member's scan until the member takes it.
    Yes(Vec<Option<Box<dyn SeriesScan>>>),
    /// Starting them failed; each member starts its own scan.
    Failed,
}

impl fmt::Debug for SharedScan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedScan")
            .field("adapter", &self.adapter)
            .field("group", &*relock(&self.group))
            .finish()
    }
}

impl SharedScan {
    /// The members registered so far.
    pub fn members(&self) -> Vec<ScanMember> {
        relock(&self.group).members.clone()
    }

    /// True when `request` through `adapter` reads this scan's series
    /// selection (any field).
    fn selects(&self, adapter: &Arc<dyn StorageAdapter>, request: &ScanRequest) -> bool {
        let same_adapter = std::ptr::addr_eq(Arc::as_ptr(&self.adapter), Arc::as_ptr(adapter));
        let group = relock(&self.group);
        let r = &group.request;
        same_adapter
            && r.measurement == request.measurement
            && r.range == request.range
            && r.group_order == request.group_order
            && format!("{:?}", r.predicate) == format!("{:?}", request.predicate)
    }

    /// Adds `member`, returning its slot.
    fn add(&self, member: ScanMember) -> usize {
        let mut group = relock(&self.group);
        group.members.push(member);
        group.members.len() - 1
    }

    /// The scan of the member in `slot`. The first call starts every
    /// member's scan with one [`StorageAdapter::scan_group`] and fails with
    /// its error if that fails; `None` when the member has to start its own
    /// scan (the group's start failed for an earlier member, or the member
    /// joined after the start).
    pub async fn take(&self, slot: usize) -> Result<Option<Box<dyn SeriesScan>>> {
        let mut started = self.started.lock().await;
        if let Started::No = *started {
            let group = relock(&self.group).clone();
            match self.adapter.scan_group(&group).await {
                Ok(scans) => *started = Started::Yes(scans.into_iter().map(Some).collect()),
                Err(e) => {
                    *started = Started::Failed;
                    return Err(e);
                }
            }
        }
        Ok(match &mut *started {
            Started::Yes(scans) => scans.get_mut(slot).and_then(Option::take),
            _ => None,
        })
    }
}

/// Locks `m`; a poisoned lock is still usable (a member list or group
/// list is never left half-updated).
fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
