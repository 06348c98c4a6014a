//! One adapter call for the operators of a query that read the same series
//! selection (`docs/architecture.md`, "One scan for several fields"): the
//! mechanism behind [`SharedScan`](crate::shared_scan::SharedScan) (one
//! [`StorageAdapter::scan_group`]) and
//! [`SharedLastPoints`](crate::shared_last_points::SharedLastPoints) (one
//! [`StorageAdapter::last_points_group`]). Operators join a [`Shares`] while
//! the plan is built; the group's call is made by [`SharedGroup::start`]
//! (the planner starts the shared scans once the plan is built) or else by
//! the first member to open, and each member takes its own result by slot.
//! When the call fails, the one that made it gets the error and the members
//! fall back to their own call.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;

use crate::error::Result;
use crate::scan_group::{ScanGroup, ScanMember};
use crate::storage::{ScanRequest, StorageAdapter};

/// The adapter call a [`SharedGroup`] makes once for all its members.
pub trait GroupCall: Send + Sync + 'static {
    /// What each member gets.
    type Item: Send;
    /// The name `Debug` shows.
    const NAME: &'static str;
    /// Calls the adapter for every member of `group`, one item per member
    /// in slot order.
    fn call<'a>(
        adapter: &'a dyn StorageAdapter,
        group: &'a ScanGroup,
    ) -> BoxFuture<'a, Result<Vec<Self::Item>>>;
}

/// The shared calls of one query, by series selection. Clones share them.
pub struct Shares<C: GroupCall> {
    groups: Arc<Mutex<Vec<Arc<SharedGroup<C>>>>>,
}

impl<C: GroupCall> Clone for Shares<C> {
    fn clone(&self) -> Self {
        Self {
            groups: Arc::clone(&self.groups),
        }
    }
}

impl<C: GroupCall> Default for Shares<C> {
    fn default() -> Self {
        Self {
            groups: Arc::default(),
        }
    }
}

impl<C: GroupCall> fmt::Debug for Shares<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shares")
            .field("groups", &*relock(&self.groups))
            .finish()
    }
}

impl<C: GroupCall> Shares<C> {
    /// Joins `member` of `request` read through `adapter` to the group of
    /// its series selection (measurement, predicate, range, group order),
    /// making one if there is none; returns the group and the member's
    /// slot in it.
    pub fn join(
        &self,
        adapter: &Arc<dyn StorageAdapter>,
        request: ScanRequest,
        member: ScanMember,
    ) -> (Arc<SharedGroup<C>>, usize) {
        let mut groups = relock(&self.groups);
        if let Some(shared) = groups.iter().find(|g| g.selects(adapter, &request)) {
            let slot = shared.add(member);
            return (Arc::clone(shared), slot);
        }
        let shared = Arc::new(SharedGroup {
            adapter: Arc::clone(adapter),
            group: Mutex::new(ScanGroup {
                request,
                members: vec![member],
            }),
            started: futures::lock::Mutex::new(Started::No),
            call: PhantomData,
        });
        groups.push(Arc::clone(&shared));
        (shared, 0)
    }

    /// The groups made so far.
    pub fn groups(&self) -> Vec<Arc<SharedGroup<C>>> {
        relock(&self.groups).clone()
    }
}

/// One series selection read for several members with one call; see the
/// module docs.
pub struct SharedGroup<C: GroupCall> {
    adapter: Arc<dyn StorageAdapter>,
    /// The selection and its members, registered while the plan is built.
    group: Mutex<ScanGroup>,
    /// The members' items once the first member opened.
    started: futures::lock::Mutex<Started<C::Item>>,
    call: PhantomData<C>,
}

/// Whether a [`SharedGroup`] made its call yet.
enum Started<T> {
    /// Not yet: the first member to open makes it.
    No,
    /// Made: each member's item until the member takes it.
    Yes(Vec<Option<T>>),
    /// The call failed; each member makes its own.
    Failed,
}

impl<C: GroupCall> fmt::Debug for SharedGroup<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(C::NAME)
            .field("adapter", &self.adapter)
            .field("group", &*relock(&self.group))
            .finish()
    }
}

impl<C: GroupCall> SharedGroup<C> {
    /// The members registered so far.
    pub fn members(&self) -> Vec<ScanMember> {
        relock(&self.group).members.clone()
    }

    /// The item of the member in `slot`. The first call makes the group's
    /// adapter call and fails with its error if that fails; `None` when the
    /// member has to make its own call (the group's failed for an earlier
    /// member, or the member joined after it).
    pub async fn take(&self, slot: usize) -> Result<Option<C::Item>> {
        let mut started = self.started.lock().await;
        Self::call_once(&self.adapter, &self.group, &mut started).await?;
        Ok(match &mut *started {
            Started::Yes(items) => items.get_mut(slot).and_then(Option::take),
            _ => None,
        })
    }

    /// Makes the group's adapter call now, if no member made it yet, so
    /// that members opening later (on other threads) take their item
    /// without waiting for one another; fails with the call's error.
    /// The planner calls it when the physical plan is built, before any
    /// chain starts (`docs/architecture.md`, "One scan for several
    /// fields"): a member that waits for another's call is woken on that
    /// member's thread, where it would stay until that member's chain is
    /// done.
    pub async fn start(&self) -> Result<()> {
        let mut started = self.started.lock().await;
        Self::call_once(&self.adapter, &self.group, &mut started).await
    }

    /// Makes the call into `started` unless it was made.
    async fn call_once(
        adapter: &Arc<dyn StorageAdapter>,
        group: &Mutex<ScanGroup>,
        started: &mut Started<C::Item>,
    ) -> Result<()> {
        if let Started::No = *started {
            let group = relock(group).clone();
            match C::call(adapter.as_ref(), &group).await {
                Ok(items) => *started = Started::Yes(items.into_iter().map(Some).collect()),
                Err(e) => {
                    *started = Started::Failed;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// True when `request` through `adapter` reads this group's series
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
}

/// Locks `m`; a poisoned lock is still usable (a member list or group
/// list is never left half-updated).
fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
