//! One scan for several fields (`docs/architecture.md`, "One scan for
//! several fields"): the `ScanOp`s of a query that read the same series
//! selection (measurement, tag predicate, time range, group order) for
//! different fields or partitions join one [`SharedScan`] while the plan is
//! built; once the plan is built every member's scan is started with one
//! [`StorageAdapter::scan_group`] call, and each member takes its own.
//!
//! ```text
//!  build:  ScanOp(a 1/2) ─┐
//!          ScanOp(a 2/2) ─┼─ join ──▶ SharedScan { cpu WHERE … [t0,t1): a 1/2, a 2/2, b 1/2, b 2/2 }
//!          ScanOp(b 1/2) ─┤
//!          ScanOp(b 2/2) ─┘
//!  built:  adapter.scan_group(all four) ──▶ four SeriesScans
//!          every ScanOp takes its own (by slot) and reads it as before
//! ```
//!
//! The chains stay what they were (one per field and partition, each run
//! as before); what is shared is resolving the series selection: the index
//! look-ups, the registry, the ordering and, on TSM, the read view.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::Result;
use crate::partition::Partition;
use crate::scan_group::{ScanGroup, ScanMember};
use crate::shared_group::{GroupCall, SharedGroup, Shares};
use crate::shared_last_points::LastPointShares;
use crate::storage::{ScanRequest, SeriesScan, StorageAdapter};

/// The shared scans of one query, by series selection; made by the planner
/// for each query and handed to the pipeline builders. Clones share them.
#[derive(Debug, Clone, Default)]
pub struct ScanShares {
    scans: Shares<ScanCall>,
    /// The query's shared newest-point lookups (`crate::shared_last_points`).
    last_points: LastPointShares,
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
        self.scans.join(adapter, request.clone(), member)
    }

    /// The shared scans made so far.
    pub fn scans(&self) -> Vec<Arc<SharedScan>> {
        self.scans.groups()
    }

    /// The query's shared newest-point lookups, which its `LastPointOp`s
    /// join the same way.
    pub fn last_points(&self) -> &LastPointShares {
        &self.last_points
    }
}

/// The scans of one series selection for several fields and partitions;
/// see the module docs.
pub type SharedScan = SharedGroup<ScanCall>;

/// [`StorageAdapter::scan_group`] as the call of a [`SharedScan`].
#[derive(Debug)]
pub struct ScanCall;

impl GroupCall for ScanCall {
    type Item = Box<dyn SeriesScan>;
    const NAME: &'static str = "SharedScan";

    fn call<'a>(
        adapter: &'a dyn StorageAdapter,
        group: &'a ScanGroup,
    ) -> BoxFuture<'a, Result<Vec<Self::Item>>> {
        adapter.scan_group(group)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use futures::executor::block_on;

    use super::*;
    use crate::batch::TimelineBatch;
    use crate::error::EngineError;
    use crate::partition::PartitionBy;
    use crate::registry::{SeriesInfo, SeriesRegistry};
    use crate::scan_group::scan_each;
    use crate::storage::{Capabilities, TimeRange};

    /// One series `m,host=a#<field>` per field, no points; counts
    /// `scan_group` calls and the scans started; fails `scan_group` when
    /// `fail` is set.
    #[derive(Debug, Default)]
    struct Counting {
        groups: AtomicUsize,
        scans: AtomicUsize,
        fail: bool,
    }

    struct Empty(Arc<SeriesRegistry>);

    #[async_trait]
    impl SeriesScan for Empty {
        fn registry(&self) -> &Arc<SeriesRegistry> {
            &self.0
        }
        async fn next_batch(&mut self, _: usize) -> Result<Option<TimelineBatch>> {
            Ok(None)
        }
    }

    #[async_trait]
    impl StorageAdapter for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::ALL
        }
        async fn scan(&self, request: &ScanRequest) -> Result<Box<dyn SeriesScan>> {
            self.scans.fetch_add(1, Ordering::SeqCst);
            let info = SeriesInfo::new("m", &[("host", "a")], &request.field);
            Ok(Box::new(Empty(Arc::new(SeriesRegistry::new(vec![info])))))
        }
        async fn scan_group(&self, group: &ScanGroup) -> Result<Vec<Box<dyn SeriesScan>>> {
            self.groups.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return Err(EngineError::Storage("group failed".into()));
            }
            scan_each(self, group).await
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

    fn request(field: &str, range: TimeRange) -> ScanRequest {
        ScanRequest {
            range,
            ..ScanRequest::new("m", field)
        }
    }

    fn field_of(scan: &dyn SeriesScan) -> String {
        scan.registry().get(0).unwrap().field.to_string()
    }

    #[test]
    fn fields_and_partitions_of_one_selection_start_with_one_call() {
        let counting = Arc::new(Counting::default());
        let adapter: Arc<dyn StorageAdapter> = Arc::clone(&counting) as _;
        let shares = ScanShares::new();
        let range = TimeRange::new(0, 10);
        let half = |index| Partition {
            index,
            count: 2,
            by: PartitionBy::Series,
        };
        let mut joined = Vec::new();
        for field in ["a", "b", "c"] {
            for k in 0..2 {
                joined.push(shares.join(&adapter, &request(field, range), Some(&half(k))));
            }
        }
        // another range is another selection
        let other = shares.join(&adapter, &request("a", TimeRange::new(0, 5)), None);
        assert_eq!(shares.scans().len(), 2);
        assert_eq!(other.1, 0);
        let slots: Vec<usize> = joined.iter().map(|(_, s)| *s).collect();
        assert_eq!(slots, vec![0, 1, 2, 3, 4, 5]);
        assert!(joined.iter().all(|(s, _)| Arc::ptr_eq(s, &joined[0].0)));
        // taken in any order: one scan_group call, each member its field
        for &i in &[4, 0, 5, 1, 3, 2] {
            let scan = block_on(joined[i].0.take(i)).unwrap().unwrap();
            assert_eq!(field_of(scan.as_ref()), ["a", "b", "c"][i / 2]);
        }
        assert_eq!(counting.groups.load(Ordering::SeqCst), 1);
        assert_eq!(counting.scans.load(Ordering::SeqCst), 6);
        // a slot is taken once; a member that joins after the start starts
        // its own scan
        assert!(block_on(joined[0].0.take(0)).unwrap().is_none());
        let late = shares.join(&adapter, &request("d", range), None);
        assert_eq!(late.1, 6);
        assert!(block_on(late.0.take(late.1)).unwrap().is_none());
        assert_eq!(counting.groups.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn started_before_the_members_open_calls_once() {
        let counting = Arc::new(Counting::default());
        let adapter: Arc<dyn StorageAdapter> = Arc::clone(&counting) as _;
        let shares = ScanShares::new();
        let (shared, a) = shares.join(&adapter, &request("a", TimeRange::ALL), None);
        let (_, b) = shares.join(&adapter, &request("b", TimeRange::ALL), None);
        block_on(shared.start()).unwrap();
        assert_eq!(counting.groups.load(Ordering::SeqCst), 1);
        // started once only, and the members take what it started
        block_on(shared.start()).unwrap();
        let scan_b = block_on(shared.take(b)).unwrap().unwrap();
        let scan_a = block_on(shared.take(a)).unwrap().unwrap();
        assert_eq!(field_of(scan_a.as_ref()), "a");
        assert_eq!(field_of(scan_b.as_ref()), "b");
        assert_eq!(counting.groups.load(Ordering::SeqCst), 1);
        assert_eq!(counting.scans.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failed_start_fails_whoever_made_it_and_leaves_the_members_their_own() {
        // made early (the planner's start) or by the first member to open
        for early in [true, false] {
            let counting = Arc::new(Counting {
                fail: true,
                ..Counting::default()
            });
            let adapter: Arc<dyn StorageAdapter> = Arc::clone(&counting) as _;
            let shares = ScanShares::new();
            let (shared, a) = shares.join(&adapter, &request("a", TimeRange::ALL), None);
            let (_, b) = shares.join(&adapter, &request("b", TimeRange::ALL), None);
            let err = match early {
                true => block_on(shared.start()).err().unwrap(),
                false => block_on(shared.take(a)).err().unwrap(),
            };
            assert_eq!(err.to_string(), "storage error: group failed");
            // not retried: the members start their own scans (which report
            // their own errors)
            if early {
                assert!(block_on(shared.take(a)).unwrap().is_none());
            }
            assert!(block_on(shared.take(b)).unwrap().is_none());
            assert_eq!(counting.groups.load(Ordering::SeqCst), 1, "early: {early}");
            assert_eq!(counting.scans.load(Ordering::SeqCst), 0);
        }
    }
}
