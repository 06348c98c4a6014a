//! The in-memory storage adapter: every timeline held as sorted `times` and
//! `values` column buffers behind one `RwLock`.
//!
//! Values keep the type they were written with: `Float64`, `Int64` or
//! `UInt64` Arrow arrays ([`MemoryAdapter::try_insert`]); every timeline of
//! a measurement + field has the same type, and scans deliver it
//! (`docs/semantics.md` §11).
//!
//! [`MemoryAdapter`] implements [`StorageAdapter`] with every capability (time
//! pruning by binary search, tag pushdown, ordered-by-group scans). Tests of
//! `ScanOp` and of the planner's "adapter cannot order → `MTAggOp`" rule
//! declare fewer with [`MemoryAdapter::with_capabilities`]; a capability that
//! is off is then really not exercised (all series, all points, id order), so
//! the engine has to do that work itself.
//!
//! Layout: a write gives the timeline its own pair of buffers and marks its
//! measurement + field as dirty. The next scan of that measurement + field
//! first *consolidates* it: one `times` and one `values` Arrow buffer holding
//! all its timelines back to back in series-key order, the layout of a
//! [`TimelineBatch`]; each timeline keeps a slice of them.
//!
//! ```text
//!   block.times   | h=a: 0 10 20 | h=b: 0 10 | h=c: 5 15 25 35 |
//!   batch 1 (max_rows 4)  ───────────────┘ ids: a a a b   (times, values
//!   batch 2 ───────────────────────────────────┘  b c c c    are slices)
//! ```
//!
//! A scan snapshots the matching series (`Arc` clones of their points) under
//! the read lock, so later writes do not disturb it, and then cuts batches of
//! at most `max_rows` rows without holding the lock. When the rows of a batch
//! lie back to back in one block (every series of a time range that covers
//! them, in id order), the batch's `time` and `value` columns are zero-copy
//! slices of the block and only the `series_id` column is written. A batch
//! ends before a piece that does not follow the one before (a timeline cut
//! by the time range, or a partition's series that are not adjacent) when
//! the batch or that piece holds a quarter of the batch's rows or more;
//! only smaller pieces are copied together into one batch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use arrow::array::{Array, ArrayRef, PrimitiveArray, UInt64Array};
use arrow::buffer::ScalarBuffer;
use arrow::compute::{concat, interleave, take};
use async_trait::async_trait;
use tsq_engine::group::Grouping;
use tsq_engine::registry::TagPairs;
use tsq_engine::{
    Capabilities, EngineError, Partition, Result, ScanRequest, SeriesInfo, SeriesRegistry,
    SeriesScan, StorageAdapter, TagPredicate, TimeRange, TimelineBatch, TimelineValue, ValueType,
};

use crate::sync::{lock, read, write};

/// The points of one timeline, sorted by time, one value per timestamp: rows
/// `start..start + len` of a pair of column buffers, its own or the block of
/// its measurement + field.
#[derive(Debug, Clone)]
struct Points {
    times: ScalarBuffer<i64>,
    /// `Float64`, `Int64` or `UInt64`, without nulls.
    values: ArrayRef,
    start: usize,
    len: usize,
}

impl Points {
    /// A timeline holding its own buffers.
    fn own(times: Vec<i64>, values: ArrayRef) -> Self {
        debug_assert_eq!(times.len(), values.len());
        Points {
            len: times.len(),
            times: times.into(),
            values,
            start: 0,
        }
    }

    fn times(&self) -> &[i64] {
        &self.times[self.start..self.start + self.len]
    }

    /// Values `lo..hi` of this timeline (a zero-copy slice).
    fn values(&self, lo: usize, hi: usize) -> ArrayRef {
        self.values.slice(self.start + lo, hi - lo)
    }

    /// The type of the values.
    fn value_type(&self) -> ValueType {
        ValueType::of_timeline_data_type(self.values.data_type()).unwrap_or(ValueType::Float)
    }

    /// True when `self` and `other` are slices of the same buffers (a
    /// block's times and values are laid out together, so the same times
    /// buffer means the same values buffer).
    fn same_block(&self, other: &Points) -> bool {
        self.times.inner().as_ptr() == other.times.inner().as_ptr()
            && self.times.len() == other.times.len()
    }

    /// The index range of the points inside `range` (binary search).
    fn bounds(&self, range: &TimeRange) -> (usize, usize) {
        let times = self.times();
        let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
            return (0, 0);
        };
        if range.contains(first) && range.contains(last) {
            return (0, times.len()); // the common case, without a search
        }
        let lo = range.start.map_or(0, |s| times.partition_point(|&t| t < s));
        let hi = range
            .end
            .map_or(times.len(), |e| times.partition_point(|&t| t < e));
        (lo, hi.max(lo))
    }

    /// The index and time of the newest point inside `range`: the last
    /// point when the range holds it (no search), else one binary search
    /// for the range's end.
    fn newest_in(&self, range: &TimeRange) -> Option<(usize, i64)> {
        let times = self.times();
        let &last = times.last()?;
        let hi = if range.end.is_none_or(|e| last < e) {
            times.len()
        } else {
            let (lo, hi) = self.bounds(range);
            if lo >= hi {
                return None;
            }
            hi
        };
        let time = times[hi - 1];
        range
            .start
            .is_none_or(|s| time >= s)
            .then_some((hi - 1, time))
    }

    /// These points with sorted, deduplicated `new` points (`new_values`,
    /// of the same type) merged in (`new` wins on a tie), in buffers of
    /// their own.
    fn merged(&self, new: &[i64], new_values: &ArrayRef) -> Result<Points> {
        let old_t = self.times();
        let old_v = self.values(0, self.len);
        let n = old_t.len() + new.len();
        let mut times = Vec::with_capacity(n);
        // (array, row): 0 = the old values, 1 = the new ones.
        let mut rows = Vec::with_capacity(n);
        let (mut i, mut j) = (0, 0);
        while i < old_t.len() || j < new.len() {
            let take_new = j < new.len() && (i == old_t.len() || new[j] <= old_t[i]);
            if take_new {
                if i < old_t.len() && old_t[i] == new[j] {
                    i += 1; // overwritten
                }
                times.push(new[j]);
                rows.push((1, j));
                j += 1;
            } else {
                times.push(old_t[i]);
                rows.push((0, i));
                i += 1;
            }
        }
        let values = interleave(&[old_v.as_ref(), new_values.as_ref()], &rows)?;
        Ok(Points::own(times, values))
    }
}

/// The series map plus the `(measurement, field)` pairs written since they
/// were last consolidated.
#[derive(Debug, Default)]
struct Series {
    map: BTreeMap<SeriesInfo, Arc<Points>>,
    dirty: BTreeSet<(String, String)>,
    /// The consolidated `(measurement, field)` pairs that were not written since.
    blocks: BTreeMap<(String, String), Arc<Block>>,
    /// The type of each `(measurement, field)`, fixed by its first write.
    types: BTreeMap<(String, String), ValueType>,
}

/// Every timeline of one measurement + field, laid out back to back.
#[derive(Debug)]
struct Block {
    /// The timelines in series-key order: the registry of a scan of all of
    /// them, shared by every such scan.
    registry: Arc<SeriesRegistry>,
    /// Their points, by id.
    points: Vec<Arc<Points>>,
    /// The id of each row of the block: the `series_id` column of a
    /// zero-copy batch of a scan that uses `registry`.
    ids: ScalarBuffer<u32>,
}

impl Series {
    /// Lays the timelines of `measurement` + `field` back to back in one
    /// block, in series-key order, and points each timeline at its slice.
    fn consolidate(&mut self, measurement: &str, field: &str) {
        let key = (measurement.to_string(), field.to_string());
        if !self.dirty.remove(&key) {
            return;
        }
        let of = |s: &SeriesInfo| &*s.measurement == measurement && &*s.field == field;
        let total: usize = self
            .map
            .iter()
            .filter(|(s, _)| of(s))
            .map(|(_, p)| p.len)
            .sum();
        let mut times = Vec::with_capacity(total);
        let mut values: Vec<ArrayRef> = Vec::new();
        let mut ids: Vec<u32> = Vec::with_capacity(total);
        let mut infos = Vec::new();
        for (s, p) in self.map.iter().filter(|(s, _)| of(s)) {
            times.extend_from_slice(p.times());
            values.push(p.values(0, p.len));
            ids.resize(ids.len() + p.len, infos.len() as u32);
            infos.push(s.clone());
        }
        let parts: Vec<&dyn Array> = values.iter().map(|v| v.as_ref()).collect();
        // Every timeline of a field has the field's type, so this cannot
        // fail; were it to, the timelines keep their own buffers.
        let Ok(values) = concat(&parts) else {
            tracing::error!(measurement, field, "timelines of one field differ in type");
            return;
        };
        let whole = Points::own(times, values);
        let mut points = Vec::with_capacity(infos.len());
        let mut start = 0;
        for (_, p) in self.map.iter_mut().filter(|(s, _)| of(s)) {
            let len = p.len;
            *p = Arc::new(Points {
                start,
                len,
                ..whole.clone()
            });
            points.push(Arc::clone(p));
            start += len;
        }
        let block = Block {
            registry: Arc::new(SeriesRegistry::new(infos)),
            points,
            ids: ids.into(),
        };
        self.blocks.insert(key, Arc::new(block));
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
    series: RwLock<Series>,
    capabilities: Capabilities,
    /// The catalog calls' answers since the last write.
    catalog: Mutex<CatalogMemo>,
}

/// What the catalog calls answered, per measurement, kept until the next
/// write (which clears it under the write lock, so an answer computed
/// under the read lock before the write never outlives it). Every
/// statement's planning asks them; over many series they cost as much as
/// a small query.
#[derive(Debug, Default)]
struct CatalogMemo {
    measurements: Option<Vec<String>>,
    tag_keys: BTreeMap<String, Vec<String>>,
    field_types: BTreeMap<String, Vec<(String, ValueType)>>,
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
            series: RwLock::new(Series::default()),
            capabilities: Capabilities::ALL,
            catalog: Mutex::default(),
        }
    }

    /// This store declaring (and doing) only `capabilities`.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Writes float `points` to the timeline `measurement,tags#field`. A
    /// timestamp that already exists is overwritten; within one call the
    /// last occurrence of a timestamp wins. Floats written to a field that
    /// holds integers are refused (logged); [`try_insert`](Self::try_insert)
    /// returns that error.
    pub fn insert(
        &self,
        measurement: &str,
        tags: &[(&str, &str)],
        field: &str,
        points: &[(i64, f64)],
    ) {
        if let Err(e) = self.try_insert(measurement, tags, field, points) {
            tracing::error!(%e, "points not written");
        }
    }

    /// Writes `points` of type `V` (`f64`, `i64` or `u64`) to the timeline
    /// `measurement,tags#field`, as [`insert`](Self::insert) does; fails
    /// when the field already holds values of another type (the type of a
    /// field is fixed by its first write, as in the TSM store).
    pub fn try_insert<V: TimelineValue>(
        &self,
        measurement: &str,
        tags: &[(&str, &str)],
        field: &str,
        points: &[(i64, V)],
    ) -> Result<()> {
        let mut new = points.to_vec();
        // Stable sort keeps equal timestamps in write order; keep the last.
        new.sort_by_key(|p| p.0);
        let mut deduped: Vec<(i64, V)> = Vec::with_capacity(new.len());
        for p in new {
            match deduped.last_mut() {
                Some(last) if last.0 == p.0 => *last = p,
                _ => deduped.push(p),
            }
        }
        let times: Vec<i64> = deduped.iter().map(|p| p.0).collect();
        let values: ArrayRef = Arc::new(PrimitiveArray::<V::Arrow>::from_iter_values(
            deduped.iter().map(|p| p.1),
        ));
        let key = SeriesInfo::new(measurement, tags, field);
        let field_key = (measurement.to_string(), field.to_string());
        let mut series = self.write();
        let stored = *series
            .types
            .entry(field_key.clone())
            .or_insert(V::VALUE_TYPE);
        if stored != V::VALUE_TYPE {
            return Err(EngineError::InvalidArgument(format!(
                "field '{field}' of measurement '{measurement}' holds {stored} values; \
                 cannot write {} values to it",
                V::VALUE_TYPE
            )));
        }
        let merged = match series.map.get(&key) {
            Some(old) => old.merged(&times, &values)?,
            None => Points::own(times, values),
        };
        series.map.insert(key, Arc::new(merged));
        series.blocks.remove(&field_key);
        series.dirty.insert(field_key);
        *lock(&self.catalog) = CatalogMemo::default();
        Ok(())
    }

    /// Total number of points stored, over every series.
    pub fn num_points(&self) -> usize {
        self.read().map.values().map(|p| p.len).sum()
    }

    fn read(&self) -> RwLockReadGuard<'_, Series> {
        // A panic while holding the lock cannot leave the map half-updated
        // (a series is replaced by a finished one), so a poisoned lock is usable.
        read(&self.series)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Series> {
        write(&self.series)
    }

    /// The block of `measurement` + `field`, consolidated first if it was
    /// written since the last time (see the module docs); `None` when it has
    /// no series.
    fn block(&self, measurement: &str, field: &str) -> Option<Arc<Block>> {
        let key = (measurement.to_string(), field.to_string());
        if self.read().dirty.contains(&key) {
            self.write().consolidate(measurement, field);
        }
        self.read().blocks.get(&key).map(Arc::clone)
    }

    /// The series of measurement + field, filtered by the predicate when
    /// `filter` is set, in `SeriesInfo` order.
    fn select(&self, request: &ScanRequest, filter: bool) -> Vec<(SeriesInfo, Arc<Points>)> {
        self.read()
            .map
            .iter()
            .filter(|(s, _)| {
                &*s.measurement == request.measurement.as_str()
                    && &*s.field == request.field.as_str()
                    && (!filter || request.predicate.matches(s))
            })
            .map(|(s, p)| (s.clone(), Arc::clone(p)))
            .collect()
    }

    /// Applies `f` to every series of `request` whose tags match its
    /// predicate, with its points, in id order: over the consolidated block
    /// of the measurement + field, so that nothing is cloned and no other
    /// field's series is visited.
    fn each_matching(&self, request: &ScanRequest, mut f: impl FnMut(&SeriesInfo, &Points)) {
        self.each_matching_while(request, |s, points| {
            f(s, points);
            true
        });
    }

    /// [`each_matching`](Self::each_matching) until `f` returns false.
    fn each_matching_while(
        &self,
        request: &ScanRequest,
        mut f: impl FnMut(&SeriesInfo, &Points) -> bool,
    ) {
        let Some(block) = self.block(&request.measurement, &request.field) else {
            return;
        };
        let every = request.predicate.is_true();
        for ((_, s), points) in block.registry.iter().zip(&block.points) {
            if (every || request.predicate.matches(s)) && !f(s, points) {
                return;
            }
        }
    }

    /// The registry a scan of `request` with tag pushdown has (the block's
    /// own, shared, when the predicate selects every series) and the points
    /// of each of its series, by id.
    fn last_point_selection(&self, request: &ScanRequest) -> (Arc<SeriesRegistry>, Selected) {
        if request.predicate.is_true() {
            return match self.block(&request.measurement, &request.field) {
                Some(b) => (Arc::clone(&b.registry), Selected::Block(b)),
                None => (Arc::default(), Selected::Own(Vec::new())),
            };
        }
        let (infos, points): (Vec<SeriesInfo>, Vec<_>) =
            self.select(request, true).into_iter().unzip();
        (Arc::new(SeriesRegistry::new(infos)), Selected::Own(points))
    }

    /// Applies `f` to every series of `measurement`.
    fn of_measurement<T>(&self, measurement: &str, mut f: impl FnMut(&SeriesInfo) -> T) -> Vec<T> {
        self.read()
            .map
            .keys()
            .filter(|s| &*s.measurement == measurement)
            .map(&mut f)
            .collect()
    }
}

/// The points of the series of a selection, by id: every series of a
/// block (borrowed from it), or some of them.
#[derive(Debug)]
enum Selected {
    /// Every series of the block.
    Block(Arc<Block>),
    /// The series a predicate selected.
    Own(Vec<Arc<Points>>),
}

impl Selected {
    fn points(&self) -> &[Arc<Points>] {
        match self {
            Selected::Block(b) => &b.points,
            Selected::Own(points) => points,
        }
    }
}

/// One timeline of an open scan: its id (its points are the scan's
/// `points[id]`) and the index range to deliver, found by the scan when it
/// reaches the run ([`MemoryScan::resolve`]).
#[derive(Debug)]
struct Run {
    id: u32,
    lo: usize,
    hi: usize,
}

/// Rows `lo..hi` of run `run`, one piece of the batch being cut.
#[derive(Debug, Clone, Copy)]
struct Piece {
    run: usize,
    lo: usize,
    hi: usize,
}

/// An open scan over a snapshot of the store.
#[derive(Debug)]
struct MemoryScan {
    registry: Arc<SeriesRegistry>,
    /// The points of each series of `registry`, by id: borrowed from the
    /// block, so that opening a scan touches no series' points.
    points: Selected,
    runs: Vec<Run>,
    /// Next run to deliver.
    next: usize,
    /// The pieces of the batch being cut (reused).
    pieces: Vec<Piece>,
    /// The block's `series_id` column, when the scan's registry is the
    /// block's (every series of the measurement + field).
    block_ids: Option<ScalarBuffer<u32>>,
    /// The time range the runs are cut to.
    range: TimeRange,
    /// Runs `..resolved` have their index range; the others are cut to
    /// `range` when the scan reaches them, so that opening a scan costs no
    /// search per series: a partition's scan searches its own series in
    /// its own task (`docs/architecture.md`, "Partitions and partial
    /// aggregates").
    resolved: usize,
}

impl MemoryScan {
    /// Takes the next pieces, at most `max_rows` rows in all: the rows
    /// taken, and whether every piece follows the previous one in the same
    /// block (the batch can be sliced). A batch whose pieces lie back to
    /// back so far ends before a piece that does not follow them when it,
    /// or that piece, has a quarter of `max_rows` or more: two zero-copy
    /// batches instead of one copied.
    fn take_pieces(&mut self, max_rows: usize) -> (usize, bool) {
        self.pieces.clear();
        let mut rows = 0;
        let mut adjacent = true;
        while rows < max_rows && self.next < self.runs.len() {
            if !self.resolve(self.next) {
                self.next += 1;
                continue;
            }
            let run = &self.runs[self.next];
            if let Some(last) = self.pieces.last() {
                let points = self.points.points();
                let (prev, this) = (
                    &points[self.runs[last.run].id as usize],
                    &points[run.id as usize],
                );
                let follows = prev.same_block(this) && prev.start + last.hi == this.start + run.lo;
                if !follows {
                    let big = max_rows / 4;
                    if adjacent && (rows >= big || run.hi - run.lo >= big) {
                        break;
                    }
                    adjacent = false;
                }
            }
            let run = &mut self.runs[self.next];
            let take = (run.hi - run.lo).min(max_rows - rows);
            self.pieces.push(Piece {
                run: self.next,
                lo: run.lo,
                hi: run.lo + take,
            });
            run.lo += take;
            rows += take;
            if run.lo == run.hi {
                self.next += 1;
            }
        }
        (rows, adjacent)
    }

    /// Cuts run `k` to the scan's range when it was not yet (binary
    /// searches of its times); false when no point of it is in the range.
    fn resolve(&mut self, k: usize) -> bool {
        if k >= self.resolved {
            let run = &mut self.runs[k];
            (run.lo, run.hi) = self.points.points()[run.id as usize].bounds(&self.range);
            self.resolved = k + 1;
        }
        let run = &self.runs[k];
        run.lo < run.hi
    }

    /// The pieces as one batch whose time and value columns are slices of
    /// their block (they must lie back to back: [`take_pieces`](Self::take_pieces)).
    fn slice_batch(&self, rows: usize) -> Result<TimelineBatch> {
        let first = self.pieces[0];
        let points = &self.points.points()[self.runs[first.run].id as usize];
        let at = points.start + first.lo;
        let mut offsets = Vec::with_capacity(self.pieces.len() + 1);
        let mut row = 0;
        for p in &self.pieces {
            offsets.push(row as u32);
            row += p.hi - p.lo;
        }
        offsets.push(rows as u32);
        let ids = match &self.block_ids {
            Some(ids) => ids.slice(at, rows),
            None => {
                let mut ids = Vec::with_capacity(rows);
                for p in &self.pieces {
                    ids.resize(ids.len() + (p.hi - p.lo), self.runs[p.run].id);
                }
                ids.into()
            }
        };
        TimelineBatch::from_sorted_run_arrays(
            ids,
            points.times.slice(at, rows),
            points.values.slice(at, rows),
            offsets,
            Arc::clone(&self.registry),
        )
    }

    /// The pieces copied into a new batch.
    fn copy_batch(&self, rows: usize) -> Result<TimelineBatch> {
        let (mut ids, mut times) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        let mut values = Vec::with_capacity(self.pieces.len());
        let mut offsets = Vec::with_capacity(self.pieces.len() + 1);
        for p in &self.pieces {
            let run = &self.runs[p.run];
            let points = &self.points.points()[run.id as usize];
            offsets.push(ids.len() as u32);
            ids.resize(ids.len() + (p.hi - p.lo), run.id);
            times.extend_from_slice(&points.times()[p.lo..p.hi]);
            values.push(points.values(p.lo, p.hi));
        }
        offsets.push(rows as u32);
        let parts: Vec<&dyn Array> = values.iter().map(|v| v.as_ref()).collect();
        TimelineBatch::from_sorted_run_arrays(
            ids.into(),
            times.into(),
            concat(&parts)?,
            offsets,
            Arc::clone(&self.registry),
        )
    }
}

#[async_trait]
impl SeriesScan for MemoryScan {
    fn registry(&self) -> &Arc<SeriesRegistry> {
        &self.registry
    }

    async fn next_batch(&mut self, max_rows: usize) -> Result<Option<TimelineBatch>> {
        let (rows, adjacent) = self.take_pieces(max_rows.max(1));
        if rows == 0 {
            return Ok(None);
        }
        if adjacent {
            self.slice_batch(rows).map(Some)
        } else {
            self.copy_batch(rows).map(Some)
        }
    }
}

impl MemoryAdapter {
    /// A scan of `request`, of one partition's series when `partition` is set.
    fn scan_part(
        &self,
        request: &ScanRequest,
        partition: Option<&Partition>,
    ) -> Result<Box<dyn SeriesScan>> {
        let caps = self.capabilities;
        let block = self.block(&request.measurement, &request.field);
        let every_series = !caps.tag_pushdown || request.predicate.is_true();
        let (registry, block_ids, points) = match block {
            // Every series of the block: its registry, ids and all, is ours.
            Some(b) if every_series => (
                Arc::clone(&b.registry),
                Some(b.ids.clone()),
                Selected::Block(b),
            ),
            _ => {
                let selected = self.select(request, caps.tag_pushdown);
                let (infos, points): (Vec<SeriesInfo>, Vec<_>) = selected.into_iter().unzip();
                // The map iterates in `SeriesInfo` order, the registry's
                // canonical order, so position = id and no sort is needed.
                debug_assert!(infos.windows(2).all(|w| w[0] < w[1]));
                (
                    Arc::new(SeriesRegistry::new(infos)),
                    None,
                    Selected::Own(points),
                )
            }
        };
        let mut ids: Vec<u32> = match (&request.group_order, caps.ordered_by_group) {
            (Some(by), true) => Grouping::new(&registry, by, "").scan_order(),
            _ => (0..registry.len() as u32).collect(),
        };
        if let Some(p) = partition {
            let keep = p.mask(&registry);
            ids.retain(|&id| keep[id as usize]);
        }
        let range = if caps.time_pruning {
            request.range
        } else {
            TimeRange::ALL
        };
        // Cut to the range as the scan reaches each run (`resolve`), not
        // here: the call that opens every partition's scan stays O(series).
        let runs = ids.into_iter().map(|id| Run { id, lo: 0, hi: 0 }).collect();
        Ok(Box::new(MemoryScan {
            registry,
            points,
            runs,
            next: 0,
            pieces: Vec::new(),
            block_ids,
            range,
            resolved: 0,
        }))
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
        self.scan_part(request, None)
    }

    /// Delivers only the series of `partition` (zero-copy slices still,
    /// when the partition's series are contiguous in the block).
    async fn scan_partition(
        &self,
        request: &ScanRequest,
        partition: &Partition,
    ) -> Result<Box<dyn SeriesScan>> {
        self.scan_part(request, Some(partition))
    }

    async fn time_span(&self, request: &ScanRequest) -> Result<Option<(i64, i64)>> {
        let mut span: Option<(i64, i64)> = None;
        self.each_matching(request, |_, points| {
            let (lo, hi) = points.bounds(&request.range);
            if lo < hi {
                let (first, last) = (points.times()[lo], points.times()[hi - 1]);
                span = Some(span.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
            }
        });
        Ok(span)
    }

    async fn point_count(&self, request: &ScanRequest) -> Result<Option<u64>> {
        self.point_count_up_to(request, u64::MAX).await
    }

    /// Two binary searches per series, series by series until `limit`
    /// points are counted: the count is known, not read.
    async fn point_count_up_to(&self, request: &ScanRequest, limit: u64) -> Result<Option<u64>> {
        let mut count = 0u64;
        self.each_matching_while(request, |_, points| {
            let (lo, hi) = points.bounds(&request.range);
            count += hi.saturating_sub(lo) as u64;
            count < limit
        });
        Ok(Some(count))
    }

    async fn last_points(&self, request: &ScanRequest) -> Result<TimelineBatch> {
        if !self.capabilities.last_point {
            return tsq_engine::storage::last_points_by_scan(self, request).await;
        }
        let (registry, selected) = self.last_point_selection(request);
        let points = selected.points();
        let n = points.len();
        let (mut ids, mut times, mut rows) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (id, points) in points.iter().enumerate() {
            if let Some((row, time)) = points.newest_in(&request.range) {
                ids.push(id as u32);
                times.push(time);
                rows.push(row);
            }
        }
        if ids.is_empty() {
            return Ok(TimelineBatch::empty(registry));
        }
        let values = newest_values(&ids, &rows, points)?;
        let offsets = (0..=ids.len() as u32).collect();
        TimelineBatch::from_sorted_run_arrays(ids.into(), times.into(), values, offsets, registry)
    }

    // The catalog calls run once per statement: they collect borrowed names
    // into sets and allocate only the distinct ones (formatting every tag of
    // every series dominated small queries over many series).
    async fn measurements(&self) -> Result<Vec<String>> {
        let guard = self.read();
        let mut memo = lock(&self.catalog);
        if let Some(names) = &memo.measurements {
            return Ok(names.clone());
        }
        let names: BTreeSet<&str> = guard.map.keys().map(|s| &*s.measurement).collect();
        let names: Vec<String> = names.into_iter().map(str::to_string).collect();
        memo.measurements = Some(names.clone());
        Ok(names)
    }

    async fn fields(&self, measurement: &str) -> Result<Vec<String>> {
        let guard = self.read();
        let set: BTreeSet<&str> = guard
            .map
            .keys()
            .filter(|s| &*s.measurement == measurement)
            .map(|s| &*s.field)
            .collect();
        Ok(set.into_iter().map(str::to_string).collect())
    }

    /// The type each field was first written with (every timeline of a
    /// field has it).
    async fn field_types(&self, measurement: &str) -> Result<Vec<(String, ValueType)>> {
        let guard = self.read();
        let mut memo = lock(&self.catalog);
        if let Some(types) = memo.field_types.get(measurement) {
            return Ok(types.clone());
        }
        let mut types: BTreeMap<&str, ValueType> = BTreeMap::new();
        for (s, p) in guard
            .map
            .iter()
            .filter(|(s, _)| &*s.measurement == measurement)
        {
            types.entry(&*s.field).or_insert_with(|| p.value_type());
        }
        let types: Vec<(String, ValueType)> =
            types.into_iter().map(|(f, t)| (f.to_string(), t)).collect();
        memo.field_types
            .insert(measurement.to_string(), types.clone());
        Ok(types)
    }

    async fn tag_keys(&self, measurement: &str) -> Result<Vec<String>> {
        let guard = self.read();
        let mut memo = lock(&self.catalog);
        if let Some(keys) = memo.tag_keys.get(measurement) {
            return Ok(keys.clone());
        }
        let mut set: BTreeSet<&str> = BTreeSet::new();
        let mut previous: Option<&TagPairs> = None;
        for s in guard.map.keys().filter(|s| &*s.measurement == measurement) {
            // Neighbouring series mostly share their key set: skip repeats.
            let same = previous.is_some_and(|p| {
                p.len() == s.tags.len() && p.iter().zip(&s.tags).all(|(a, b)| a.0 == b.0)
            });
            if !same {
                set.extend(s.tags.iter().map(|(k, _)| &**k));
                previous = Some(&s.tags);
            }
        }
        let keys: Vec<String> = set.into_iter().map(str::to_string).collect();
        memo.tag_keys.insert(measurement.to_string(), keys.clone());
        Ok(keys)
    }

    async fn tag_values(&self, measurement: &str, key: &str) -> Result<Vec<String>> {
        let guard = self.read();
        let set: BTreeSet<&str> = guard
            .map
            .keys()
            .filter(|s| &*s.measurement == measurement)
            .filter_map(|s| s.tag(key))
            .collect();
        Ok(set.into_iter().map(str::to_string).collect())
    }

    async fn series_count(&self, measurement: &str) -> Result<usize> {
        Ok(self.of_measurement(measurement, |_| ()).len())
    }

    async fn series_keys(
        &self,
        measurement: &str,
        predicate: &TagPredicate,
    ) -> Result<Vec<TagPairs>> {
        let guard = self.read();
        let mut keys: Vec<TagPairs> = Vec::new();
        // Series come in key order, the fields of one tag set side by side.
        for s in guard.map.keys().filter(|s| &*s.measurement == measurement) {
            if keys.last() != Some(&s.tags) && predicate.matches(s) {
                keys.push(s.tags.clone());
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

/// The values at `rows` (row indexes within each timeline) of the series
/// `ids` of `points`: one `take` from the block's buffer when every
/// timeline is a slice of the same block, slices concatenated otherwise.
fn newest_values(ids: &[u32], rows: &[usize], points: &[Arc<Points>]) -> Result<ArrayRef> {
    let of = |i: usize| &points[ids[i] as usize];
    let first = of(0);
    if (1..ids.len()).all(|i| of(i).same_block(first)) {
        let at: UInt64Array = (0..ids.len())
            .map(|i| (of(i).start + rows[i]) as u64)
            .collect();
        return Ok(take(first.values.as_ref(), &at, None)?);
    }
    let parts: Vec<ArrayRef> = (0..ids.len())
        .map(|i| of(i).values(rows[i], rows[i] + 1))
        .collect();
    let parts: Vec<&dyn Array> = parts.iter().map(|v| v.as_ref()).collect();
    Ok(concat(&parts)?)
}

#[cfg(test)]
mod tests;
