//! The storage adapter contract that `ScanOp` reads through.
//!
//! An adapter turns a [`ScanRequest`] (measurement, field, tag predicate, time
//! range, optional group order) into a [`SeriesScan`]: a registry of the
//! series it will deliver plus a stream of [`TimelineBatch`]es. It declares
//! what it can do in [`Capabilities`]; the planner pushes work down only as far
//! as those allow, and `ScanOp` applies the rest. An adapter may always return
//! *more* than asked (unpruned times, unfiltered series) when it does not
//! declare the capability, never less.
//!
//! Contract for every scan:
//! - the registry numbers series in ascending [`SeriesInfo`](crate::registry::SeriesInfo) order
//!   (measurement, tags, field), so ascending id is the canonical order;
//! - each timeline is delivered once, time-sorted, one value per timestamp
//!   (the last write wins), possibly split across consecutive batches;
//! - without a group order, timelines come in ascending id; with one (and the
//!   capability), in ascending `(group key, id)` as [`crate::group`] defines it.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::batch::{TimelineBatch, TimelineBatchBuilder};
use crate::error::{EngineError, Result};
use crate::partition::Partition;
use crate::predicate::TagPredicate;
use crate::registry::{SeriesRegistry, TagPairs};
use crate::scan_group::ScanGroup;
use crate::spec::GroupBy;
use crate::value::TimelineValue;

/// A half-open time range `[start, end)` in ns; `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    /// Inclusive start.
    pub start: Option<i64>,
    /// Exclusive end.
    pub end: Option<i64>,
}

impl TimeRange {
    /// The unbounded range.
    pub const ALL: TimeRange = TimeRange {
        start: None,
        end: None,
    };

    /// `[start, end)`.
    pub fn new(start: i64, end: i64) -> Self {
        TimeRange {
            start: Some(start),
            end: Some(end),
        }
    }

    /// True when `t` lies in the range.
    #[inline]
    pub fn contains(&self, t: i64) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e)
    }

    /// True when both ends are set.
    pub fn is_bounded(&self) -> bool {
        self.start.is_some() && self.end.is_some()
    }

    /// True when the range can hold no timestamp.
    pub fn is_empty(&self) -> bool {
        matches!((self.start, self.end), (Some(s), Some(e)) if s >= e)
    }

    /// The intersection of two ranges.
    pub fn intersect(&self, other: &TimeRange) -> TimeRange {
        let max = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let min = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        TimeRange {
            start: max(self.start, other.start),
            end: min(self.end, other.end),
        }
    }

    /// Fills unbounded ends from the data span `[min, max]` (inclusive), the
    /// rule of `docs/semantics.md` for queries without a time bound.
    pub fn resolve(&self, span: Option<(i64, i64)>) -> Option<(i64, i64)> {
        let (lo, hi) = match span {
            Some((lo, hi)) => (Some(lo), Some(hi.saturating_add(1))),
            None => (None, None),
        };
        let start = self.start.or(lo)?;
        let end = self.end.or(hi)?;
        Some((start, end))
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = |v: Option<i64>| v.map_or_else(|| "∞".to_string(), |v| v.to_string());
        let start = self
            .start
            .map_or_else(|| "-∞".to_string(), |v| v.to_string());
        write!(f, "[{start}, {})", end(self.end))
    }
}

/// What an adapter can do itself, declared once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// It returns only points inside the requested time range.
    pub time_pruning: bool,
    /// It returns only series matching the tag predicate.
    pub tag_pushdown: bool,
    /// It can deliver timelines ordered by a requested group key.
    pub ordered_by_group: bool,
    /// [`StorageAdapter::last_points`] reads at most one block per series
    /// (TSM: the newest block that starts before the range's end, or the
    /// cache; memory: a binary search) instead of scanning the range.
    pub last_point: bool,
}

impl Capabilities {
    /// Every capability.
    pub const ALL: Capabilities = Capabilities {
        time_pruning: true,
        tag_pushdown: true,
        ordered_by_group: true,
        last_point: true,
    };
    /// No capability: the adapter returns every series of the measurement and
    /// field, with all their points, in id order.
    pub const NONE: Capabilities = Capabilities {
        time_pruning: false,
        tag_pushdown: false,
        ordered_by_group: false,
        last_point: false,
    };
}

/// What to read.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// Measurement name.
    pub measurement: String,
    /// Field name.
    pub field: String,
    /// Tag predicate (honoured when the adapter has `tag_pushdown`).
    pub predicate: TagPredicate,
    /// Time range (honoured when the adapter has `time_pruning`).
    pub range: TimeRange,
    /// When set (and the adapter has `ordered_by_group`), deliver timelines in
    /// ascending `(group, id)` order as [`crate::group::Grouping`] numbers groups.
    pub group_order: Option<GroupBy>,
}

impl ScanRequest {
    /// A request for every point of `measurement`/`field`.
    pub fn new(measurement: &str, field: &str) -> Self {
        ScanRequest {
            measurement: measurement.to_string(),
            field: field.to_string(),
            predicate: TagPredicate::True,
            range: TimeRange::ALL,
            group_order: None,
        }
    }
}

/// An open scan: its series and its batches.
#[async_trait]
pub trait SeriesScan: Send {
    /// The series this scan delivers (ids are dense and key-sorted).
    fn registry(&self) -> &Arc<SeriesRegistry>;

    /// The next batch of at most `max_rows` rows (it may be shorter), or `None`.
    async fn next_batch(&mut self, max_rows: usize) -> Result<Option<TimelineBatch>>;
}

/// A source of timelines: the in-memory store, TSM files, a remote service.
#[async_trait]
pub trait StorageAdapter: Send + Sync + fmt::Debug {
    /// Short name for EXPLAIN (`memory`, `tsm`).
    fn name(&self) -> &str;

    /// What this adapter does itself.
    fn capabilities(&self) -> Capabilities;

    /// Starts a scan.
    async fn scan(&self, request: &ScanRequest) -> Result<Box<dyn SeriesScan>>;

    /// Starts a scan of the series of `partition` only
    /// (`docs/architecture.md`, "Partitions and partial aggregates"); its
    /// registry is the whole request's, so that series and group ids are
    /// the same in every partition. The default scans every series:
    /// `ScanOp` drops the other partitions' timelines itself, so an adapter
    /// overrides this only to skip reading them.
    async fn scan_partition(
        &self,
        request: &ScanRequest,
        partition: &Partition,
    ) -> Result<Box<dyn SeriesScan>> {
        let _ = partition;
        self.scan(request).await
    }

    /// Starts every scan of `group` (one series selection read for several
    /// fields and partitions), in the order of its members; each is the
    /// scan [`scan`](Self::scan) or [`scan_partition`](Self::scan_partition)
    /// would start for its member (`docs/architecture.md`, "One scan for
    /// several fields"). The default starts them one by one
    /// ([`scan_each`](crate::scan_group::scan_each)); an adapter with an
    /// index overrides it to resolve the selection once.
    async fn scan_group(&self, group: &ScanGroup) -> Result<Vec<Box<dyn SeriesScan>>> {
        crate::scan_group::scan_each(self, group).await
    }

    /// The smallest and largest timestamp (inclusive) of the points matching
    /// the request, always applying its predicate and range; `None` if no
    /// point matches. Used to resolve unbounded query ranges for fills.
    async fn time_span(&self, request: &ScanRequest) -> Result<Option<(i64, i64)>>;

    /// The newest point of every series of `request` inside its range (the
    /// predicate and the range always applied; `group_order` ignored): one
    /// row per series that has a point in the range, in ascending id, over
    /// the registry the scan of `request` would have. With the
    /// [`Capabilities::last_point`] capability this reads at most one block
    /// per series; the default scans the range ([`last_points_by_scan`]).
    async fn last_points(&self, request: &ScanRequest) -> Result<TimelineBatch> {
        last_points_by_scan(self, request).await
    }

    /// [`last_points`](Self::last_points) of every member of `group` (one
    /// series selection read for several fields), in the order of its
    /// members: each batch is exactly what `last_points` gives for the
    /// member's request, keeping only the series of the member's partition
    /// when it has one ([`Partition::mask`](crate::partition::Partition::mask)
    /// over that registry; same registry). The default asks member by
    /// member; an adapter with an index overrides it to resolve the
    /// selection once (`docs/architecture.md`, "One scan for several
    /// fields") and to look up only the partition's series.
    async fn last_points_group(&self, group: &ScanGroup) -> Result<Vec<TimelineBatch>> {
        let mut batches = Vec::with_capacity(group.members.len());
        for (i, m) in group.members.iter().enumerate() {
            let batch = self.last_points(&group.request_of(i)).await?;
            batches.push(match &m.partition {
                Some(p) => crate::scan_group::keep_partition(&batch, p)?,
                None => batch,
            });
        }
        Ok(batches)
    }

    /// The number of points matching `request` (its predicate and range
    /// always applied), when the adapter knows it from its index without
    /// decoding points; `None` when it does not (the default). Planners
    /// outside tsq use it as a row estimate (`docs/distributed.md`,
    /// `TsqTable` statistics).
    async fn point_count(&self, request: &ScanRequest) -> Result<Option<u64>> {
        let _ = request;
        Ok(None)
    }

    /// [`point_count`](Self::point_count) where a count of `limit` or more
    /// need not be exact: an adapter may stop counting once it has counted
    /// `limit` points and return that partial count (at least `limit`).
    /// The planner asks whether a selection has enough points to pay for
    /// its partitions, and the answer is known long before every series is
    /// counted. The default counts them all.
    async fn point_count_up_to(&self, request: &ScanRequest, limit: u64) -> Result<Option<u64>> {
        let _ = limit;
        self.point_count(request).await
    }

    /// Names of all measurements, sorted.
    async fn measurements(&self) -> Result<Vec<String>>;

    /// Field names of `measurement`, sorted (empty if it does not exist).
    async fn fields(&self, measurement: &str) -> Result<Vec<String>>;

    /// Tag keys used by any series of `measurement`, sorted.
    async fn tag_keys(&self, measurement: &str) -> Result<Vec<String>>;

    /// Values of tag `key` among the series of `measurement`, sorted.
    async fn tag_values(&self, measurement: &str, key: &str) -> Result<Vec<String>>;

    /// Number of series (timelines: tag set × field) of `measurement`.
    async fn series_count(&self, measurement: &str) -> Result<usize>;

    /// Field names of `measurement` with the type of their stored values,
    /// sorted by name (`SHOW FIELD KEYS`). The default calls every field a
    /// float, which is right for adapters that store only floats.
    async fn field_types(&self, measurement: &str) -> Result<Vec<(String, ValueType)>> {
        let fields = self.fields(measurement).await?;
        Ok(fields.into_iter().map(|f| (f, ValueType::Float)).collect())
    }

    /// The distinct tag sets (series keys without the field) of
    /// `measurement` whose tags match `predicate`, sorted (`SHOW SERIES`,
    /// `SHOW TAG VALUES ... WHERE`). The default opens a scan of every
    /// field over an empty time range (so no point is read) and takes the
    /// series of its registry; adapters with an index answer from it.
    async fn series_keys(
        &self,
        measurement: &str,
        predicate: &TagPredicate,
    ) -> Result<Vec<TagPairs>> {
        let mut keys = std::collections::BTreeSet::new();
        for field in self.fields(measurement).await? {
            let mut request = ScanRequest::new(measurement, &field);
            request.predicate = predicate.clone();
            request.range = TimeRange::new(0, 0);
            let scan = self.scan(&request).await?;
            for (_, info) in scan.registry().iter() {
                if predicate.matches(info) {
                    keys.insert(info.tags.clone());
                }
            }
        }
        Ok(keys.into_iter().collect())
    }
}

/// The type of a field's stored values, as `SHOW FIELD KEYS` reports it.
/// Scans deliver integers and unsigned integers as `Int64` / `UInt64`
/// values, floats and booleans as `Float64` ([`ValueType::timeline_data_type`];
/// `docs/semantics.md` §12 says which results stay exact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ValueType {
    /// 64-bit float.
    Float,
    /// Signed 64-bit integer.
    Integer,
    /// Unsigned 64-bit integer.
    Unsigned,
    /// Boolean.
    Boolean,
    /// UTF-8 string (cannot be queried).
    String,
}

impl ValueType {
    /// The name InfluxQL's `SHOW FIELD KEYS` uses (`float`, `integer`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Float => "float",
            ValueType::Integer => "integer",
            ValueType::Unsigned => "unsigned",
            ValueType::Boolean => "boolean",
            ValueType::String => "string",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// [`StorageAdapter::last_points`] by scanning `request`: every point of the
/// range is read and the newest of each series kept. Applies the predicate
/// and the range itself, whatever the adapter's capabilities.
pub async fn last_points_by_scan<A: StorageAdapter + ?Sized>(
    adapter: &A,
    request: &ScanRequest,
) -> Result<TimelineBatch> {
    let request = ScanRequest {
        group_order: None,
        ..request.clone()
    };
    let mut scan = adapter.scan(&request).await?;
    let registry = Arc::clone(scan.registry());
    let Some(first) = scan.next_batch(4096).await? else {
        return Ok(TimelineBatch::empty(registry));
    };
    // The points keep the type the scan delivers.
    match first.value_type() {
        ValueType::Integer => newest_points::<i64>(first, scan.as_mut(), request, registry).await,
        ValueType::Unsigned => newest_points::<u64>(first, scan.as_mut(), request, registry).await,
        _ => newest_points::<f64>(first, scan.as_mut(), request, registry).await,
    }
}

/// The newest point in range of each series of `scan` (from batch `first`
/// on), with values of type `V`.
async fn newest_points<V: TimelineValue>(
    first: TimelineBatch,
    scan: &mut dyn SeriesScan,
    request: ScanRequest,
    registry: Arc<SeriesRegistry>,
) -> Result<TimelineBatch> {
    let matches: Vec<bool> = registry
        .iter()
        .map(|(_, s)| request.predicate.matches(s))
        .collect();
    // newest[id] = (time, value) of the newest point in range so far.
    let mut newest: Vec<Option<(i64, Option<V>)>> = vec![None; registry.len()];
    let mut next = Some(first);
    while let Some(batch) = next.take() {
        let Some(timelines) = batch.typed_timelines::<V>() else {
            return Err(EngineError::InvalidArgument(format!(
                "the scan of {}.{} changed its value type from {} to {}",
                request.measurement,
                request.field,
                V::VALUE_TYPE,
                batch.value_type()
            )));
        };
        for tl in timelines {
            let id = tl.series_id as usize;
            if !matches.get(id).copied().unwrap_or(false) {
                continue;
            }
            let hi = request
                .range
                .end
                .map_or(tl.len(), |e| tl.times.partition_point(|&t| t < e));
            let lo = request
                .range
                .start
                .map_or(0, |s| tl.times.partition_point(|&t| t < s));
            if hi > lo && newest[id].is_none_or(|(t, _)| t <= tl.times[hi - 1]) {
                newest[id] = Some((tl.times[hi - 1], tl.value(hi - 1)));
            }
        }
        next = scan.next_batch(4096).await?;
    }
    let mut builder = TimelineBatchBuilder::<V>::typed(Arc::clone(&registry), registry.len());
    for (id, point) in newest.into_iter().enumerate() {
        if let Some((t, v)) = point {
            builder.push(id as u32, t, v);
        }
    }
    builder.finish()
}
