//! One newest-point lookup for several fields (`docs/architecture.md`, "One
//! scan for several fields"): the `LastPointOp`s of a query that read the
//! same series selection (measurement, tag predicate, time range) for
//! different fields, as TSBS `lastpoint` and `last(*)` do, join one
//! [`SharedLastPoints`] while the plan is built; the first of them to open
//! asks the adapter for every member's newest points with one
//! [`StorageAdapter::last_points_group`] call, and each member takes its own
//! batch.
//!
//! ```text
//!  build:  LastPointOp(usage_user)   ─┐
//!          LastPointOp(usage_system) ─┼─ join ──▶ SharedLastPoints { cpu [t0, ∞): 10 fields }
//!          ... (ten fields)          ─┘
//!  open:   first to open ──▶ adapter.last_points_group(all ten) ──▶ ten batches
//!          every LastPointOp takes its own (by slot)
//! ```
//!
//! What is shared is resolving the selection: the index look-ups and, on
//! TSM, the read view; each batch is what `last_points` gives for its
//! member alone, so the operators above it run as before.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::batch::TimelineBatch;
use crate::error::Result;
use crate::scan_group::{ScanGroup, ScanMember};
use crate::shared_group::{GroupCall, SharedGroup, Shares};
use crate::storage::{ScanRequest, StorageAdapter};

/// The shared newest-point lookups of one query, by series selection; part
/// of the query's [`ScanShares`](crate::shared_scan::ScanShares). Clones
/// share them.
#[derive(Debug, Clone, Default)]
pub struct LastPointShares {
    lookups: Shares<LastPointsCall>,
}

impl LastPointShares {
    /// Joins `request` read through `adapter` to the shared lookup of its
    /// series selection, making one if there is none; returns the lookup
    /// and the member's slot in it.
    pub fn join(
        &self,
        adapter: &Arc<dyn StorageAdapter>,
        request: &ScanRequest,
    ) -> (Arc<SharedLastPoints>, usize) {
        let member = ScanMember {
            field: request.field.clone(),
            partition: None,
        };
        // `last_points` ignores the group order
        let request = ScanRequest {
            group_order: None,
            ..request.clone()
        };
        self.lookups.join(adapter, request, member)
    }

    /// The shared lookups made so far.
    pub fn lookups(&self) -> Vec<Arc<SharedLastPoints>> {
        self.lookups.groups()
    }
}

/// The newest points of one series selection for several fields; see the
/// module docs.
pub type SharedLastPoints = SharedGroup<LastPointsCall>;

/// [`StorageAdapter::last_points_group`] as the call of a
/// [`SharedLastPoints`].
#[derive(Debug)]
pub struct LastPointsCall;

impl GroupCall for LastPointsCall {
    type Item = TimelineBatch;
    const NAME: &'static str = "SharedLastPoints";

    fn call<'a>(
        adapter: &'a dyn StorageAdapter,
        group: &'a ScanGroup,
    ) -> BoxFuture<'a, Result<Vec<Self::Item>>> {
        adapter.last_points_group(group)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use futures::executor::block_on;

    use super::*;
    use crate::batch::TimelineBatchBuilder;
    use crate::error::EngineError;
    use crate::registry::{SeriesInfo, SeriesRegistry};
    use crate::storage::{Capabilities, SeriesScan, TimeRange};

    /// One series `m,host=a#<field>` per field whose newest point is at
    /// the range start with the field's length as value; counts the
    /// `last_points` and `last_points_group` calls; fails the group call
    /// when `fail` is set.
    #[derive(Debug, Default)]
    struct Counting {
        groups: AtomicUsize,
        lookups: AtomicUsize,
        fail: bool,
    }

    #[async_trait]
    impl StorageAdapter for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::ALL
        }
        async fn scan(&self, _: &ScanRequest) -> Result<Box<dyn SeriesScan>> {
            Err(EngineError::Storage("no scan expected".into()))
        }
        async fn last_points(&self, request: &ScanRequest) -> Result<TimelineBatch> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            let info = SeriesInfo::new("m", &[("host", "a")], &request.field);
            let mut b = TimelineBatchBuilder::new(Arc::new(SeriesRegistry::new(vec![info])), 1);
            let t = request.range.start.unwrap_or(0);
            b.push(0, t, Some(request.field.len() as f64));
            b.finish()
        }
        async fn last_points_group(&self, group: &ScanGroup) -> Result<Vec<TimelineBatch>> {
            self.groups.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return Err(EngineError::Storage("group failed".into()));
            }
            let mut out = Vec::new();
            for i in 0..group.members.len() {
                out.push(self.last_points(&group.request_of(i)).await?);
            }
            Ok(out)
        }
        async fn time_span(&self, _: &ScanRequest) -> Result<Option<(i64, i64)>> {
            Ok(None)
        }
        async fn measurements(&self) -> Result<Vec<String>> {
            Ok(vec!["m".into()])
        }
        async fn fields(&self, _: &str) -> Result<Vec<String>> {
            Ok(vec![])
        }
        async fn tag_keys(&self, _: &str) -> Result<Vec<String>> {
            Ok(vec![])
        }
        async fn tag_values(&self, _: &str, _: &str) -> Result<Vec<String>> {
            Ok(vec![])
        }
        async fn series_count(&self, _: &str) -> Result<usize> {
            Ok(1)
        }
    }

    fn request(field: &str, start: i64) -> ScanRequest {
        ScanRequest {
            range: TimeRange::new(start, 100),
            ..ScanRequest::new("m", field)
        }
    }

    /// `(field, time, value)` of the one row of `batch`.
    fn row(batch: &TimelineBatch) -> (String, i64, f64) {
        let tl = batch.timelines().next().unwrap();
        let field = batch
            .registry()
            .get(tl.series_id)
            .unwrap()
            .field
            .to_string();
        (field, tl.times[0], tl.values[0])
    }

    #[test]
    fn fields_of_one_selection_are_looked_up_with_one_call() {
        let counting = Arc::new(Counting::default());
        let adapter: Arc<dyn StorageAdapter> = Arc::clone(&counting) as _;
        let shares = LastPointShares::default();
        let joined: Vec<_> = ["ab", "c", "defg"]
            .iter()
            .map(|f| shares.join(&adapter, &request(f, 5)))
            .collect();
        // another range is another selection; the group order does not count
        let other = shares.join(&adapter, &request("ab", 6));
        let ordered = ScanRequest {
            group_order: Some(crate::spec::GroupBy::All),
            ..request("xyz", 5)
        };
        let (same, slot) = shares.join(&adapter, &ordered);
        assert_eq!(shares.lookups().len(), 2);
        assert_eq!((other.1, slot), (0, 3));
        assert!(Arc::ptr_eq(&same, &joined[0].0));
        assert_eq!(
            joined.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        // taken in any order: one group call, each member its field
        let want = [("ab", 2.0), ("c", 1.0), ("defg", 4.0)];
        for &i in &[2, 0, 1] {
            let batch = block_on(joined[i].0.take(i)).unwrap().unwrap();
            assert_eq!(row(&batch), (want[i].0.to_string(), 5, want[i].1));
        }
        assert_eq!(counting.groups.load(Ordering::SeqCst), 1);
        assert_eq!(counting.lookups.load(Ordering::SeqCst), 4);
        // a slot is taken once; a member that joins after the call asks
        // on its own
        assert!(block_on(joined[0].0.take(0)).unwrap().is_none());
        let late = shares.join(&adapter, &request("h", 5));
        assert_eq!(late.1, 4);
        assert!(block_on(late.0.take(late.1)).unwrap().is_none());
        assert_eq!(counting.groups.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failed_group_call_fails_the_first_member_and_leaves_the_others_their_own() {
        let counting = Arc::new(Counting {
            fail: true,
            ..Counting::default()
        });
        let adapter: Arc<dyn StorageAdapter> = Arc::clone(&counting) as _;
        let shares = LastPointShares::default();
        let (shared, a) = shares.join(&adapter, &request("a", 0));
        let (_, b) = shares.join(&adapter, &request("b", 0));
        let err = block_on(shared.take(a)).err().unwrap();
        assert_eq!(err.to_string(), "storage error: group failed");
        assert!(block_on(shared.take(b)).unwrap().is_none());
        assert_eq!(counting.groups.load(Ordering::SeqCst), 1);
        assert_eq!(counting.lookups.load(Ordering::SeqCst), 0);
    }
}
