//! [`TsmAdapter`]: the TSM store as a `tsq_engine::StorageAdapter` with every
//! capability. A scan answers the tag predicate from the inverted index,
//! numbers the matching series in `SeriesInfo` order (the order of
//! `SeriesRegistry::sorted`, kept by the index so no scan sorts),
//! orders them by `Grouping::scan_order` when a group order is requested, takes
//! one consistent [`View`] and then decodes series by series, reading only the
//! blocks that overlap the time range. Integer, unsigned and boolean fields are
//! read as f64; a string field is an error.
//!
//! A scan whose time range overlaps the shard of a TSM file that failed its
//! checks at open (a [`Unreadable`] file), and that reads a series the file
//! may hold (any series, unless the file's index is intact and only its
//! tombstone file failed), fails with that file's error,
//! unless [`ReadOptions::allow_partial`] is set: then it runs without the
//! file and records it, for the caller to report, in
//! [`TsmAdapter::take_left_out`].

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tsq_engine::batch::TimelineBatchBuilder;
use tsq_engine::group::Grouping;
use tsq_engine::registry::TagPairs;
use tsq_engine::{
    Capabilities, EngineError, GroupBy, Partition, Result, ScanGroup, ScanRequest, SeriesInfo,
    SeriesRegistry, SeriesScan, StorageAdapter, TagPredicate, TimelineBatch, ValueType,
};

use super::error::TsmError;
use super::file::block::ScanValue;
use super::file::block_buf::{BlockBuf, BlockBufPool};
use super::index::SeriesIndex;
use super::scan_batch::{BatchColumns, Spare};
use super::shard::Unreadable;
use super::store::Store;
use super::value::{FieldType, Number};
use super::view::View;
use crate::sync::{lock, read};

/// How a [`TsmAdapter`] reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Run scans without the unreadable files they would need instead of
    /// failing; the files left out are collected for
    /// [`TsmAdapter::take_left_out`].
    pub allow_partial: bool,
}

/// A `StorageAdapter` over a [`Store`]. Clones share their options and
/// their record of left-out files.
#[derive(Debug, Clone)]
pub struct TsmAdapter {
    store: Arc<Store>,
    allow_partial: Arc<AtomicBool>,
    left_out: Arc<Mutex<Vec<Arc<Unreadable>>>>,
    plans: Arc<Mutex<PlanCache>>,
    /// Read buffers of finished scans, reused by the next ones.
    buffers: Arc<BlockBufPool>,
}

/// One series of a scan: registry id, store id, text key, type.
#[derive(Debug, Clone)]
struct Planned {
    reg_id: u32,
    store_id: u32,
    key: Arc<str>,
    ty: FieldType,
}

/// Most series of a field's selection whose plan [`PlanCache`] keeps.
const CACHED_SERIES: usize = 4096;

/// Selections remembered.
const CACHED_PLANS: usize = 64;

/// The plans of small selections, remembered between queries while the
/// series index does not grow (series are never removed from it, so the
/// same selection of an index of the same size has the same series): a
/// repeated small query (TSBS `lastpoint`, a dashboard's refresh) selects,
/// orders and registers its series once, and its registries stay the same
/// `Arc`s, whose groupings are remembered too (`Grouping::new`).
#[derive(Debug, Default)]
struct PlanCache {
    /// The index size the plans were made at.
    series: usize,
    /// (measurement, field, predicate, group order) → the field's plan.
    plans: Vec<(PlanKey, Arc<SeriesRegistry>, Vec<Planned>)>,
}

/// What a cached plan is for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PlanKey {
    measurement: String,
    field: String,
    predicate: String,
    group_order: String,
}

impl PlanKey {
    fn of(req: &ScanRequest, field: &str) -> Self {
        PlanKey {
            measurement: req.measurement.clone(),
            field: field.to_string(),
            predicate: format!("{:?}", req.predicate),
            group_order: format!("{:?}", req.group_order),
        }
    }
}

impl TsmAdapter {
    /// Wraps a store with the default [`ReadOptions`] (no partial results).
    pub fn new(store: Arc<Store>) -> Self {
        TsmAdapter::with_options(store, ReadOptions::default())
    }

    /// Wraps a store with `options`.
    pub fn with_options(store: Arc<Store>, options: ReadOptions) -> Self {
        TsmAdapter {
            store,
            allow_partial: Arc::new(AtomicBool::new(options.allow_partial)),
            left_out: Arc::default(),
            plans: Arc::default(),
            buffers: Arc::default(),
        }
    }

    /// Allows (or forbids) partial results for the scans started from now on.
    pub fn set_allow_partial(&self, on: bool) {
        self.allow_partial.store(on, Ordering::SeqCst);
    }

    /// The current options.
    pub fn options(&self) -> ReadOptions {
        ReadOptions {
            allow_partial: self.allow_partial.load(Ordering::SeqCst),
        }
    }

    /// The unreadable files that scans left out (partial results) since the
    /// last call, each once, in the order first left out; clears the record.
    pub fn take_left_out(&self) -> Vec<Arc<Unreadable>> {
        std::mem::take(&mut *lock(&self.left_out))
    }

    /// Fails when `view` would need unreadable files (their shard overlaps
    /// the range and they may hold one of the series `keys`) and partial
    /// results are not allowed; otherwise records those files as left out.
    /// `needed` is false when the range is empty.
    fn admit<'k>(
        &self,
        view: &View,
        keys: impl Iterator<Item = &'k str> + Clone,
        needed: bool,
    ) -> Result<()> {
        if !needed {
            return Ok(());
        }
        let mut missing = view.unreadable();
        missing.retain(|u| keys.clone().any(|k| u.may_hold(k)));
        let Some(first) = missing.first() else {
            return Ok(());
        };
        if !self.options().allow_partial {
            return Err(TsmError::NeededFileUnreadable {
                source: Arc::clone(&first.error),
                others: missing.len() - 1,
            }
            .into());
        }
        let mut left_out = lock(&self.left_out);
        for u in missing {
            if !left_out.iter().any(|l| l.path == u.path) {
                left_out.push(u);
            }
        }
        Ok(())
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A scan of `request`, of one partition's series when `partition` is set.
    fn scan_planned(
        &self,
        request: &ScanRequest,
        partition: Option<&Partition>,
    ) -> Result<Box<dyn SeriesScan>> {
        let (registry, mut planned, min, max) = self.plan(request)?;
        if let Some(p) = partition {
            let keep = p.mask(&registry);
            planned.retain(|s| keep[s.reg_id as usize]);
        }
        let ids: Vec<u32> = planned.iter().map(|p| p.store_id).collect();
        let view = self.store.inner.view(&ids, min, max);
        let keys = planned.iter().map(|p| &*p.key);
        self.admit(&view, keys, !request.range.is_empty())?;
        let empty = request.range.is_empty();
        // The scan delivers the field's type (`docs/semantics.md` §12).
        let ty = self.field_type(&request.measurement, &request.field);
        let view = Arc::new(view);
        Ok(typed_scan(
            ty,
            registry,
            view,
            planned,
            empty,
            &self.buffers,
        ))
    }

    /// The stored type of a field, `None` when it does not exist.
    fn field_type(&self, measurement: &str, field: &str) -> Option<FieldType> {
        let index = read(&self.store.inner.index);
        index
            .fields(measurement)
            .into_iter()
            .find(|(f, _)| *f == field)
            .map(|(_, t)| t)
    }

    /// The scans of every member of `group` (`docs/architecture.md`, "One
    /// scan for several fields"): each field's series are selected under
    /// one index lock and put in registry order by one walk for all fields
    /// ([`SeriesIndex::in_series_order_many`]); each field's registry and
    /// plan is made once and shared by its partitions; one [`View`] (one
    /// copy of the cached points) serves every member.
    fn scan_group_planned(&self, group: &ScanGroup) -> Result<Vec<Box<dyn SeriesScan>>> {
        let fields = group.fields();
        let plans = self.plan_fields(&group.request, &fields)?;
        let (min, max) = bounds(&group.request);
        let ids: Vec<u32> = plans
            .iter()
            .flat_map(|(_, planned)| planned.iter().map(|p| p.store_id))
            .collect();
        let view = Arc::new(self.store.inner.view(&ids, min, max));
        let keys = plans
            .iter()
            .flat_map(|(_, planned)| planned.iter().map(|p| &*p.key));
        let empty = group.request.range.is_empty();
        self.admit(&view, keys, !empty)?;
        let mut scans: Vec<Box<dyn SeriesScan>> = Vec::with_capacity(group.members.len());
        for m in &group.members {
            let k = fields.iter().position(|f| *f == m.field).unwrap_or(0);
            let (registry, planned) = &plans[k];
            let planned = match &m.partition {
                Some(p) => {
                    let keep = p.mask(registry);
                    planned
                        .iter()
                        .filter(|s| keep[s.reg_id as usize])
                        .cloned()
                        .collect()
                }
                None => planned.clone(),
            };
            let ty = self.field_type(&group.request.measurement, &m.field);
            scans.push(typed_scan(
                ty,
                Arc::clone(registry),
                Arc::clone(&view),
                planned,
                empty,
                &self.buffers,
            ));
        }
        Ok(scans)
    }

    /// The series of `req` in delivery order, their registry, and `[min, max]`.
    fn plan(&self, req: &ScanRequest) -> Result<(Arc<SeriesRegistry>, Vec<Planned>, i64, i64)> {
        let (registry, planned) = self
            .plan_fields(req, &[req.field.as_str()])?
            .pop()
            .unwrap_or_default();
        let (min, max) = bounds(req);
        Ok((registry, planned, min, max))
    }

    /// For each of `fields`, the series of `req` with that field in
    /// delivery order and their registry: one index lock and one walk of
    /// the measurement's series order for all of them, or the plan
    /// remembered from an earlier query ([`PlanCache`]).
    fn plan_fields(
        &self,
        req: &ScanRequest,
        fields: &[&str],
    ) -> Result<Vec<(Arc<SeriesRegistry>, Vec<Planned>)>> {
        let index = read(&self.store.inner.index);
        for &field in fields {
            check_numeric(&index, &req.measurement, field)?;
        }
        let keys: Vec<PlanKey> = fields.iter().map(|f| PlanKey::of(req, f)).collect();
        let mut cache = lock(&self.plans);
        if cache.series != index.len() {
            *cache = PlanCache {
                series: index.len(),
                plans: Vec::new(),
            };
        }
        let mut plans: Vec<Option<(Arc<SeriesRegistry>, Vec<Planned>)>> = keys
            .iter()
            .map(|k| {
                let hit = cache.plans.iter().find(|(c, _, _)| c == k);
                hit.map(|(_, registry, planned)| (Arc::clone(registry), planned.clone()))
            })
            .collect();
        let missing: Vec<usize> = (0..fields.len()).filter(|&i| plans[i].is_none()).collect();
        let selections: Vec<Vec<u32>> = missing
            .iter()
            .map(|&i| index.select(&req.measurement, fields[i], &req.predicate))
            .collect();
        // Already in `SeriesRegistry::sorted` order, every id with a series.
        let ordered = index.in_series_order_many(&req.measurement, &selections);
        for (&i, ids) in missing.iter().zip(&ordered) {
            let plan = plan_ordered(&index, req.group_order.as_ref(), fields[i], ids);
            if plan.1.len() <= CACHED_SERIES {
                if cache.plans.len() >= CACHED_PLANS {
                    cache.plans.remove(0);
                }
                let remembered = (keys[i].clone(), Arc::clone(&plan.0), plan.1.clone());
                cache.plans.push(remembered);
            }
            plans[i] = Some(plan);
        }
        Ok(plans.into_iter().flatten().collect())
    }

    /// The series of `req` as (store id, text key), ascending id: what
    /// [`time_span`](StorageAdapter::time_span) needs, without the registry
    /// and ordering a scan builds.
    fn keys(&self, req: &ScanRequest) -> Result<Vec<(u32, String)>> {
        let index = read(&self.store.inner.index);
        check_numeric(&index, &req.measurement, &req.field)?;
        let ids = index.select(&req.measurement, &req.field, &req.predicate);
        Ok(ids
            .into_iter()
            .filter_map(|id| index.series(id).map(|(_, _, key)| (id, key.to_string())))
            .collect())
    }
}

impl TsmAdapter {
    /// The newest point of every series of `request` for each of `fields`
    /// (`StorageAdapter::last_points`), one batch per field in their order:
    /// the series of all fields are selected under one index lock and read
    /// through one view. With `partition`, only the series of that
    /// partition of each field's registry are looked up (the lookup split
    /// by series, `docs/architecture.md` "Last point as one operator").
    fn last_points_of(
        &self,
        request: &ScanRequest,
        fields: &[&str],
        partition: Option<&Partition>,
    ) -> Result<Vec<TimelineBatch>> {
        let request = ScanRequest {
            group_order: None,
            ..request.clone()
        };
        let mut plans = self.plan_fields(&request, fields)?;
        if let Some(p) = partition {
            for (registry, planned) in &mut plans {
                let keep = p.mask(registry);
                planned.retain(|s| keep.get(s.reg_id as usize).copied().unwrap_or(false));
            }
        }
        let types: Vec<Option<FieldType>> = fields
            .iter()
            .map(|f| self.field_type(&request.measurement, f))
            .collect();
        if request.range.is_empty() {
            return Ok(plans
                .into_iter()
                .zip(&types)
                .map(|((registry, _), ty)| {
                    TimelineBatch::empty_of(value_type(ty.unwrap_or(FieldType::Float)), registry)
                })
                .collect());
        }
        let (min, max) = bounds(&request);
        let ids: Vec<u32> = plans
            .iter()
            .flat_map(|(_, planned)| planned.iter().map(|p| p.store_id))
            .collect();
        let view = self.store.inner.last_view(&ids, min, max);
        let keys = plans
            .iter()
            .flat_map(|(_, planned)| planned.iter().map(|p| &*p.key));
        self.admit(&view, keys, true)?;
        let mut batches = Vec::with_capacity(plans.len());
        for ((registry, planned), ty) in plans.into_iter().zip(types) {
            let mut points = Vec::with_capacity(planned.len());
            // the field's series in key order: each file's index is searched
            // forward from the previous series' entry
            let mut hints = Vec::new();
            for p in &planned {
                if let Some((t, v)) = view.last_point_near(p.store_id, &p.key, &mut hints)? {
                    points.push((p.reg_id, t, v));
                }
            }
            batches.push(match ty {
                Some(FieldType::Integer) => typed_points::<i64>(&points, registry)?,
                Some(FieldType::Unsigned) => typed_points::<u64>(&points, registry)?,
                _ => typed_points::<f64>(&points, registry)?,
            });
        }
        Ok(batches)
    }
}

/// The plan of the series `ids` (in registry order) of `field`: their
/// registry, and each series' registry id, store id, key and type, in
/// delivery order (by `group_order` when set).
fn plan_ordered(
    index: &SeriesIndex,
    group_order: Option<&GroupBy>,
    field: &str,
    ids: &[u32],
) -> (Arc<SeriesRegistry>, Vec<Planned>) {
    let mut infos: Vec<SeriesInfo> = Vec::with_capacity(ids.len());
    let mut planned: Vec<Planned> = Vec::with_capacity(ids.len());
    for &id in ids {
        if let Some((info, ty, key)) = index.series(id) {
            planned.push(Planned {
                reg_id: infos.len() as u32,
                store_id: id,
                key: Arc::from(key),
                ty,
            });
            infos.push(info.clone());
        }
    }
    let registry = SeriesRegistry::new(infos);
    if let Some(by) = group_order {
        let grouping = Grouping::new(&registry, by, field);
        // A permutation of the registry ids: each series is moved once.
        let mut by_reg: Vec<Option<Planned>> = planned.into_iter().map(Some).collect();
        planned = grouping
            .scan_order()
            .into_iter()
            .filter_map(|r| by_reg.get_mut(r as usize).and_then(Option::take))
            .collect();
    }
    (Arc::new(registry), planned)
}

/// An error when `field` of `measurement` holds strings.
fn check_numeric(index: &SeriesIndex, measurement: &str, field: &str) -> Result<()> {
    let ty = index
        .fields(measurement)
        .into_iter()
        .find(|(f, _)| *f == field);
    if let Some((_, FieldType::String)) = ty {
        return Err(EngineError::InvalidArgument(format!(
            "field '{field}' of measurement '{measurement}' is a string field; only numeric fields can be queried"
        )));
    }
    Ok(())
}

/// The request's time range as inclusive `[min, max]`.
fn bounds(req: &ScanRequest) -> (i64, i64) {
    let min = req.range.start.unwrap_or(i64::MIN);
    let max = req.range.end.map_or(i64::MAX, |e| e.saturating_sub(1));
    (min, max)
}

#[async_trait]
impl StorageAdapter for TsmAdapter {
    fn name(&self) -> &str {
        "tsm"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn scan(&self, request: &ScanRequest) -> Result<Box<dyn SeriesScan>> {
        self.scan_planned(request, None)
    }

    /// Reads only the series of `partition`: the others are not decoded.
    async fn scan_partition(
        &self,
        request: &ScanRequest,
        partition: &Partition,
    ) -> Result<Box<dyn SeriesScan>> {
        self.scan_planned(request, Some(partition))
    }

    /// Resolves the series of every field of the group in one index walk
    /// and shares each field's registry among its partitions.
    async fn scan_group(&self, group: &ScanGroup) -> Result<Vec<Box<dyn SeriesScan>>> {
        self.scan_group_planned(group)
    }

    async fn time_span(&self, request: &ScanRequest) -> Result<Option<(i64, i64)>> {
        if request.range.is_empty() {
            return Ok(None);
        }
        let keys = self.keys(request)?;
        let (min, max) = bounds(request);
        let ids: Vec<u32> = keys.iter().map(|(id, _)| *id).collect();
        let view = self.store.inner.span_view(&ids, min, max);
        self.admit(&view, keys.iter().map(|(_, k)| k.as_str()), true)?;
        let mut span: Option<(i64, i64)> = None;
        for (id, key) in &keys {
            if let Some((lo, hi)) = view.span(*id, key)? {
                span = Some(span.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
            }
        }
        Ok(span)
    }

    async fn last_points(&self, request: &ScanRequest) -> Result<TimelineBatch> {
        let fields = [request.field.as_str()];
        Ok(self
            .last_points_of(request, &fields, None)?
            .pop()
            .unwrap_or_else(|| {
                TimelineBatch::empty_of(ValueType::Float, Arc::new(SeriesRegistry::default()))
            }))
    }

    /// Selects the series of every field in one index walk and reads their
    /// newest points through one view; when the members share one
    /// partition, only its series (members of different partitions are
    /// looked up one by one).
    async fn last_points_group(&self, group: &ScanGroup) -> Result<Vec<TimelineBatch>> {
        let partition = group.members.first().and_then(|m| m.partition.as_ref());
        if group
            .members
            .iter()
            .any(|m| m.partition.as_ref() != partition)
        {
            let mut batches = Vec::with_capacity(group.members.len());
            for (i, m) in group.members.iter().enumerate() {
                let request = group.request_of(i);
                let fields = [m.field.as_str()];
                let part = m.partition.as_ref();
                batches.extend(self.last_points_of(&request, &fields, part)?);
            }
            return Ok(batches);
        }
        let fields = group.fields();
        let batches = self.last_points_of(&group.request, &fields, partition)?;
        Ok(group
            .members
            .iter()
            .map(|m| {
                let k = fields.iter().position(|f| *f == m.field).unwrap_or(0);
                batches[k].clone()
            })
            .collect())
    }

    async fn measurements(&self) -> Result<Vec<String>> {
        Ok(read(&self.store.inner.index).measurements())
    }

    async fn fields(&self, measurement: &str) -> Result<Vec<String>> {
        Ok(self
            .store
            .fields(measurement)
            .into_iter()
            .map(|(f, _)| f)
            .collect())
    }

    async fn tag_keys(&self, measurement: &str) -> Result<Vec<String>> {
        Ok(self.store.tag_keys(measurement))
    }

    async fn tag_values(&self, measurement: &str, key: &str) -> Result<Vec<String>> {
        Ok(self.store.tag_values(measurement, key))
    }

    async fn series_count(&self, measurement: &str) -> Result<usize> {
        Ok(self.store.series_count(measurement))
    }

    async fn field_types(&self, measurement: &str) -> Result<Vec<(String, ValueType)>> {
        Ok(self
            .store
            .fields(measurement)
            .into_iter()
            .map(|(f, t)| (f, value_type(t)))
            .collect())
    }

    async fn series_keys(
        &self,
        measurement: &str,
        predicate: &TagPredicate,
    ) -> Result<Vec<TagPairs>> {
        let index = read(&self.store.inner.index);
        let mut keys = BTreeSet::new();
        for (field, _) in index.fields(measurement) {
            for id in index.select(measurement, &field, predicate) {
                if let Some((info, _, _)) = index.series(id) {
                    keys.insert(info.tags.clone());
                }
            }
        }
        Ok(keys.into_iter().collect())
    }
}

/// The engine's name of a stored field type.
/// The newest points `(registry id, time, value)` as a batch of `V` values.
fn typed_points<V: ScanValue>(
    points: &[(u32, i64, Number)],
    registry: Arc<SeriesRegistry>,
) -> Result<TimelineBatch> {
    let mut builder = TimelineBatchBuilder::<V>::typed(Arc::clone(&registry), points.len());
    for &(id, t, v) in points {
        let Some(v) = V::from_number(v) else {
            return Err(EngineError::InvalidArgument(format!(
                "series {:?} holds a {v:?}, which cannot be read as {}",
                registry.get(id).map(|s| s.to_string()),
                V::VALUE_TYPE
            )));
        };
        builder.push(id, t, Some(v));
    }
    builder.finish()
}

fn value_type(t: FieldType) -> ValueType {
    match t {
        FieldType::Float => ValueType::Float,
        FieldType::Integer => ValueType::Integer,
        FieldType::Unsigned => ValueType::Unsigned,
        FieldType::Boolean => ValueType::Boolean,
        FieldType::String => ValueType::String,
    }
}

/// A scan delivering the values of a field of type `ty` (`docs/semantics.md`
/// §12): integers as i64, unsigned as u64, everything else as f64; it reads
/// through a buffer of `buffers` and gives it back when dropped.
fn typed_scan(
    ty: Option<FieldType>,
    registry: Arc<SeriesRegistry>,
    view: Arc<View>,
    planned: Vec<Planned>,
    empty: bool,
    buffers: &Arc<BlockBufPool>,
) -> Box<dyn SeriesScan> {
    let reads = Reads {
        buf: buffers.take(),
        pool: Arc::clone(buffers),
    };
    match ty {
        Some(FieldType::Integer) => {
            Box::new(TsmScan::<i64>::new(registry, view, planned, empty, reads))
        }
        Some(FieldType::Unsigned) => {
            Box::new(TsmScan::<u64>::new(registry, view, planned, empty, reads))
        }
        _ => Box::new(TsmScan::<f64>::new(registry, view, planned, empty, reads)),
    }
}

/// A scan's read buffer, given back to its pool when the scan is dropped.
struct Reads {
    buf: BlockBuf,
    pool: Arc<BlockBufPool>,
}

impl Drop for Reads {
    fn drop(&mut self) {
        self.pool.put(std::mem::take(&mut self.buf));
    }
}

/// An open scan: reads one series at a time from its view, decoding its
/// blocks straight into the columns of the batch being built
/// ([`BatchColumns`]) through one read buffer (from the adapter's
/// [`BlockBufPool`], given back when the scan is dropped). A series that does not
/// fit in the batch's room waits in `times` / `values` (reused from series to
/// series) and is emitted from there.
struct TsmScan<V: ScanValue> {
    registry: Arc<SeriesRegistry>,
    /// Shared by the scans of one scan group.
    view: Arc<View>,
    planned: Vec<Planned>,
    next: usize,
    empty: bool,
    reads: Reads,
    /// Times and values of the series being emitted from the carry.
    times: Vec<i64>,
    values: Vec<V>,
    /// The series being emitted from the carry: registry id, rows already sent.
    pending: Option<(u32, usize)>,
    /// The buffers of the batch emitted last, reused once it is dropped.
    spare: Option<Spare<V>>,
}

impl<V: ScanValue> TsmScan<V> {
    /// A scan of `planned` (in delivery order) through `view`, delivering
    /// `V` values; `empty` when the requested range holds no time.
    fn new(
        registry: Arc<SeriesRegistry>,
        view: Arc<View>,
        planned: Vec<Planned>,
        empty: bool,
        reads: Reads,
    ) -> Self {
        TsmScan {
            registry,
            view,
            planned,
            next: 0,
            empty,
            reads,
            times: Vec::new(),
            values: Vec::new(),
            pending: None,
            spare: None,
        }
    }

    /// Decodes the next series that has points in range onto the open run
    /// of `out`; its registry id, or `None` when no series is left.
    fn load_next(&mut self, out: &mut BatchColumns<V>) -> Result<Option<u32>> {
        while self.next < self.planned.len() && !self.empty {
            let p = &self.planned[self.next];
            self.next += 1;
            if p.ty == FieldType::String {
                if self.view.read(p.store_id, &p.key, p.ty)?.is_some() {
                    return Err(EngineError::InvalidArgument(format!(
                        "series '{}' holds strings; only numeric fields can be queried",
                        p.key
                    )));
                }
                continue;
            }
            let (times, values) = (&mut out.times, &mut out.values);
            if self
                .view
                .read_into(p.store_id, &p.key, p.ty, &mut self.reads.buf, times, values)?
            {
                return Ok(Some(p.reg_id));
            }
        }
        Ok(None)
    }

    /// Fills `out` with up to `max_rows` rows: the rest of the carried
    /// series first, then series decoded in place. It stops before a series
    /// when the room left is less than the longest run so far, so series are
    /// rarely split between batches (batches may be a little short); a series
    /// that overflows anyway leaves the overflow in the carry.
    fn fill(&mut self, out: &mut BatchColumns<V>, max_rows: usize) -> Result<()> {
        loop {
            if let Some((id, sent)) = self.pending {
                let take = (max_rows - out.len()).min(self.times.len() - sent);
                let rows = sent..sent + take;
                out.push_run(id, &self.times[rows.clone()], &self.values[rows]);
                let sent = sent + take;
                self.pending = (sent < self.times.len()).then_some((id, sent));
                if out.len() == max_rows {
                    return Ok(());
                }
                continue;
            }
            if !out.is_empty() && out.longest_run() > max_rows - out.len() {
                return Ok(());
            }
            let Some(id) = self.load_next(out)? else {
                return Ok(());
            };
            if out.len() + out.open_len() <= max_rows {
                out.close_run(id);
            } else if out.is_empty() {
                out.take_open(&mut self.times, &mut self.values);
                self.pending = Some((id, 0));
            } else {
                out.split_open(id, max_rows, &mut self.times, &mut self.values);
                self.pending = Some((id, 0));
                return Ok(());
            }
        }
    }
}

#[async_trait]
impl<V: ScanValue> SeriesScan for TsmScan<V> {
    fn registry(&self) -> &Arc<SeriesRegistry> {
        &self.registry
    }

    async fn next_batch(&mut self, max_rows: usize) -> Result<Option<TimelineBatch>> {
        let max_rows = max_rows.max(1);
        let mut out = BatchColumns::reusing(self.spare.take(), max_rows);
        self.fill(&mut out, max_rows)?;
        if out.is_empty() {
            return Ok(None);
        }
        let (batch, spare) = out.finish(&self.registry)?;
        self.spare = Some(spare);
        Ok(Some(batch))
    }
}
