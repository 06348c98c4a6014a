//! The in-memory storage adapter: every timeline held as two sorted vectors
//! (`times`, `values`) behind one `RwLock`.
//!
//! [`MemoryAdapter`] implements [`StorageAdapter`] with every capability (time
//! pruning by binary search, tag pushdown, ordered-by-group scans). Tests of
//! `ScanOp` and of the planner's "adapter cannot order → `MTAggOp`" rule
//! declare fewer with [`MemoryAdapter::with_capabilities`]; a capability that
//! is off is then really not exercised (all series, all points, id order), so
//! the engine has to do that work itself.
//!
//! A scan snapshots the matching series (`Arc` clones of their point vectors)
//! under the read lock, so later writes do not disturb it, and then cuts
//! batches of at most `max_rows` rows without holding the lock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use tsq_engine::group::Grouping;
use tsq_engine::{
    Capabilities, Result, ScanRequest, SeriesInfo, SeriesRegistry, SeriesScan, StorageAdapter,
    TimeRange, TimelineBatch, TimelineBatchBuilder,
};

/// The points of one timeline, sorted by time, one value per timestamp.
#[derive(Debug, Clone, Default)]
struct Points {
    times: Vec<i64>,
    values: Vec<f64>,
}

impl Points {
    /// The index range of the points inside `range` (binary search).
    fn bounds(&self, range: &TimeRange) -> (usize, usize) {
        let lo = range
            .start
            .map_or(0, |s| self.times.partition_point(|&t| t < s));
        let hi = range
            .end
            .map_or(self.times.len(), |e| self.times.partition_point(|&t| t < e));
        (lo, hi.max(lo))
    }

    /// Merges sorted, deduplicated `new` points in; `new` wins on a tie.
    fn merge(&mut self, new: &[(i64, f64)]) {
        let old_t = std::mem::take(&mut self.times);
        let old_v = std::mem::take(&mut self.values);
        let n = old_t.len() + new.len();
        let (mut times, mut values) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut i, mut j) = (0, 0);
        while i < old_t.len() || j < new.len() {
            let take_new = j < new.len() && (i == old_t.len() || new[j].0 <= old_t[i]);
            if take_new {
                if i < old_t.len() && old_t[i] == new[j].0 {
                    i += 1; // overwritten
                }
                times.push(new[j].0);
                values.push(new[j].1);
                j += 1;
            } else {
                times.push(old_t[i]);
                values.push(old_v[i]);
                i += 1;
            }
        }
        self.times = times;
        self.values = values;
    }
}

/// An in-memory time-series store; see the module docs.
///
/// ```
/// use tsq_engine::{ScanRequest, StorageAdapter, TimeRange};
/// use tsq_storage::memory::MemoryAdapter;
///
/// let store = MemoryAdapter::new();
/// store.insert("cpu", &[("host", "a")], "usage", &[(10, 1.0), (20, 2.0), (30, 3.0)]);
/// store.insert("cpu", &[("host", "a")], "usage", &[(20, 5.0)]); // overwrites t=20
///
/// let mut request = ScanRequest::new("cpu", "usage");
/// request.range = TimeRange::new(15, 40);
/// futures::executor::block_on(async {
///     let mut scan = store.scan(&request).await?;
///     let batch = scan.next_batch(1024).await?.expect("one batch");
///     assert_eq!(batch.times(), &[20, 30]);
///     assert_eq!(batch.values().values(), &[5.0, 3.0]);
///     assert_eq!(store.time_span(&request).await?, Some((20, 30)));
///     Ok::<(), tsq_engine::EngineError>(())
/// })?;
/// # Ok::<(), tsq_engine::EngineError>(())
/// ```
#[derive(Debug)]
pub struct MemoryAdapter {
    series: RwLock<BTreeMap<SeriesInfo, Arc<Points>>>,
    capabilities: Capabilities,
}

impl Default for MemoryAdapter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryAdapter {
    /// An empty store with every capability.
    pub fn new() -> Self {
        MemoryAdapter {
            series: RwLock::new(BTreeMap::new()),
            capabilities: Capabilities::ALL,
        }
    }

    /// This store declaring (and doing) only `capabilities`.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Writes `points` to the timeline `measurement,tags#field`. A timestamp
    /// that already exists is overwritten; within one call the last
    /// occurrence of a timestamp wins.
    pub fn insert(
        &self,
        measurement: &str,
        tags: &[(&str, &str)],
        field: &str,
        points: &[(i64, f64)],
    ) {
        let mut new = points.to_vec();
        // Stable sort keeps equal timestamps in write order; keep the last.
        new.sort_by_key(|p| p.0);
        let mut deduped: Vec<(i64, f64)> = Vec::with_capacity(new.len());
        for p in new {
            match deduped.last_mut() {
                Some(last) if last.0 == p.0 => *last = p,
                _ => deduped.push(p),
            }
        }
        let key = SeriesInfo::new(measurement, tags, field);
        let mut map = self.write();
        let entry = map.entry(key).or_default();
        Arc::make_mut(entry).merge(&deduped);
    }

    /// Total number of points stored, over every series.
    pub fn num_points(&self) -> usize {
        self.read().values().map(|p| p.times.len()).sum()
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<SeriesInfo, Arc<Points>>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (merge replaces the vectors at the end), so a poisoned lock is usable.
        self.series.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<SeriesInfo, Arc<Points>>> {
        self.series.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The series of measurement + field, filtered by the predicate when
    /// `filter` is set, in `SeriesInfo` order.
    fn select(&self, request: &ScanRequest, filter: bool) -> Vec<(SeriesInfo, Arc<Points>)> {
        self.read()
            .iter()
            .filter(|(s, _)| {
                &*s.measurement == request.measurement.as_str()
                    && &*s.field == request.field.as_str()
                    && (!filter || request.predicate.matches(s))
            })
            .map(|(s, p)| (s.clone(), Arc::clone(p)))
            .collect()
    }

    /// Applies `f` to every series of `measurement`.
    fn of_measurement<T>(&self, measurement: &str, mut f: impl FnMut(&SeriesInfo) -> T) -> Vec<T> {
        self.read()
            .keys()
            .filter(|s| &*s.measurement == measurement)
            .map(&mut f)
            .collect()
    }
}

/// One timeline of an open scan: its id and the index range to deliver.
#[derive(Debug)]
struct Run {
    id: u32,
    points: Arc<Points>,
    lo: usize,
    hi: usize,
}

/// An open scan over a snapshot of the store.
#[derive(Debug)]
struct MemoryScan {
    registry: Arc<SeriesRegistry>,
    runs: Vec<Run>,
    /// Next run to deliver.
    next: usize,
}

#[async_trait]
impl SeriesScan for MemoryScan {
    fn registry(&self) -> &Arc<SeriesRegistry> {
        &self.registry
    }

    async fn next_batch(&mut self, max_rows: usize) -> Result<Option<TimelineBatch>> {
        let max_rows = max_rows.max(1);
        let mut builder = TimelineBatchBuilder::new(Arc::clone(&self.registry), max_rows);
        while builder.len() < max_rows && self.next < self.runs.len() {
            let run = &mut self.runs[self.next];
            let take = (run.hi - run.lo).min(max_rows - builder.len());
            let (lo, hi) = (run.lo, run.lo + take);
            builder.push_slice(
                run.id,
                &run.points.times[lo..hi],
                &run.points.values[lo..hi],
            );
            run.lo = hi;
            if run.lo == run.hi {
                self.next += 1;
            }
        }
        if builder.is_empty() {
            return Ok(None);
        }
        builder.finish().map(Some)
    }
}

#[async_trait]
impl StorageAdapter for MemoryAdapter {
    fn name(&self) -> &str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn scan(&self, request: &ScanRequest) -> Result<Box<dyn SeriesScan>> {
        let caps = self.capabilities;
        let selected = self.select(request, caps.tag_pushdown);
        let (infos, points): (Vec<SeriesInfo>, Vec<Arc<Points>>) = selected.into_iter().unzip();
        let (registry, order) = SeriesRegistry::sorted(infos);
        let ids: Vec<u32> = match (&request.group_order, caps.ordered_by_group) {
            (Some(by), true) => Grouping::new(&registry, by, "").scan_order(),
            _ => (0..registry.len() as u32).collect(),
        };
        let range = if caps.time_pruning {
            request.range
        } else {
            TimeRange::ALL
        };
        let runs = ids
            .into_iter()
            .filter_map(|id| {
                let points = Arc::clone(&points[order[id as usize]]);
                let (lo, hi) = points.bounds(&range);
                (lo < hi).then_some(Run { id, points, lo, hi })
            })
            .collect();
        Ok(Box::new(MemoryScan {
            registry: Arc::new(registry),
            runs,
            next: 0,
        }))
    }

    async fn time_span(&self, request: &ScanRequest) -> Result<Option<(i64, i64)>> {
        let mut span: Option<(i64, i64)> = None;
        for (_, points) in self.select(request, true) {
            let (lo, hi) = points.bounds(&request.range);
            if lo < hi {
                let (first, last) = (points.times[lo], points.times[hi - 1]);
                span = Some(span.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
            }
        }
        Ok(span)
    }

    async fn measurements(&self) -> Result<Vec<String>> {
        let names: BTreeSet<String> = self
            .read()
            .keys()
            .map(|s| s.measurement.to_string())
            .collect();
        Ok(names.into_iter().collect())
    }

    async fn fields(&self, measurement: &str) -> Result<Vec<String>> {
        let set: BTreeSet<String> = self
            .of_measurement(measurement, |s| s.field.to_string())
            .into_iter()
            .collect();
        Ok(set.into_iter().collect())
    }

    async fn tag_keys(&self, measurement: &str) -> Result<Vec<String>> {
        let set: BTreeSet<String> = self
            .of_measurement(measurement, |s| {
                s.tags
                    .iter()
                    .map(|(k, _)| k.to_string())
                    .collect::<Vec<_>>()
            })
            .into_iter()
            .flatten()
            .collect();
        Ok(set.into_iter().collect())
    }

    async fn tag_values(&self, measurement: &str, key: &str) -> Result<Vec<String>> {
        let set: BTreeSet<String> = self
            .of_measurement(measurement, |s| s.tag(key).map(str::to_string))
            .into_iter()
            .flatten()
            .collect();
        Ok(set.into_iter().collect())
    }

    async fn series_count(&self, measurement: &str) -> Result<usize> {
        Ok(self.of_measurement(measurement, |_| ()).len())
    }
}

#[cfg(test)]
mod tests;
