//! `LastPointOp`: the leaf of a pipeline whose downsample is
//! `SAMPLE BY ALL last` (TSBS `lastpoint`), chosen by the planner's
//! `choose_read_path` rule instead of a [`ScanOp`]. It asks the adapter for
//! the newest point of each series in the range
//! ([`StorageAdapter::last_points`]: one block per series on TSM, a binary
//! search in memory) and emits those points, which the `DsAggOp` above turns
//! into exactly the buckets a full scan would give: the last number of a
//! timeline in the range is its newest point, unless that point is NaN
//! (`last` skips NaN, `docs/semantics.md` §1). When any newest point is
//! NaN the operator scans the range instead, so the result never differs.
//! The points keep the field's type (`Int64` / `UInt64` for integers,
//! `docs/semantics.md` §12).

use std::sync::Arc;

use async_trait::async_trait;

use arrow::array::{ArrayRef, UInt32Array};

use crate::batch::TimelineBatch;
use crate::context::TaskContext;
use crate::error::{EngineError, Result};
use crate::group::Grouping;
use crate::metrics::OperatorMetrics;
use crate::operator::Operator;
use crate::ops::scan::ScanOp;
use crate::shared_last_points::{LastPointShares, SharedLastPoints};
use crate::storage::{ScanRequest, StorageAdapter};

/// Emits the newest point of each series of a request.
///
/// ```text
///   adapter.last_points(request) ──▶ one point per series ──▶ out
///          │ a newest point is NaN
///          └──▶ ScanOp(request) ──▶ every point of the range ──▶ out
/// ```
pub struct LastPointOp {
    adapter: Arc<dyn StorageAdapter>,
    request: ScanRequest,
    /// The points still to emit, last first: (series id, time, row of
    /// the point's value in `values`).
    points: Vec<(u32, i64, u32)>,
    /// The points' values, in the type the adapter returned.
    values: Option<ArrayRef>,
    registry: Option<Arc<crate::registry::SeriesRegistry>>,
    /// The query's lookup for several fields this one joined, and its slot
    /// (`crate::shared_last_points`).
    shared: Option<(Arc<SharedLastPoints>, usize)>,
    batch_size: usize,
    /// Set when a newest point was NaN: the scan that replaces the lookup.
    fallback: Option<ScanOp>,
    open: bool,
    metrics: OperatorMetrics,
}

impl std::fmt::Debug for LastPointOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LastPointOp")
            .field("adapter", &self.adapter)
            .field("request", &self.request)
            .finish()
    }
}

impl LastPointOp {
    /// The newest points of `request` through `adapter`.
    pub fn new(adapter: Arc<dyn StorageAdapter>, request: ScanRequest) -> Self {
        LastPointOp {
            adapter,
            request,
            points: Vec::new(),
            values: None,
            registry: None,
            shared: None,
            batch_size: 1,
            fallback: None,
            open: false,
            metrics: OperatorMetrics::default(),
        }
    }

    /// This operator looking its points up with the other fields of the
    /// same series selection in `shares` (`crate::shared_last_points`):
    /// the first of them to open asks the adapter for all of them at once.
    pub fn shared_in(mut self, shares: &LastPointShares) -> Self {
        self.shared = Some(shares.join(&self.adapter, &self.request));
        self
    }

    /// True when the operator scanned instead (a newest point was NaN).
    pub fn fell_back(&self) -> bool {
        self.fallback.is_some()
    }

    /// Takes the points of `batch` in delivery order: ascending id, or the
    /// scan order of the requested group key.
    fn take(&mut self, batch: &TimelineBatch) {
        let (ids, times) = (batch.series_ids(), batch.times());
        let mut points: Vec<(u32, i64, u32)> = (0..batch.num_rows())
            .map(|r| (ids[r], times[r], r as u32))
            .collect();
        if let Some(by) = &self.request.group_order {
            let grouping = Grouping::new(batch.registry(), by, &self.request.field);
            let mut rank = vec![0usize; batch.registry().len()];
            for (r, id) in grouping.scan_order().into_iter().enumerate() {
                rank[id as usize] = r;
            }
            points.sort_by_key(|p| rank[p.0 as usize]);
        }
        points.reverse(); // popped from the end
        self.points = points;
        self.values = Some(Arc::clone(batch.value_column()));
        self.registry = Some(Arc::clone(batch.registry()));
    }
}

#[async_trait]
impl Operator for LastPointOp {
    fn name(&self) -> &'static str {
        "LastPointOp"
    }

    fn display(&self) -> String {
        let r = &self.request;
        let mut line = format!(
            "LastPointOp: adapter={} measurement={} field={} range={} predicate={}",
            self.adapter.name(),
            r.measurement,
            r.field,
            r.range,
            r.predicate
        );
        if let Some(order) = &r.group_order {
            line.push_str(&format!(" order={order}"));
        }
        if self.fell_back() {
            line.push_str(" (a newest point is NaN: scanned the range)");
        }
        line
    }

    async fn open(&mut self, ctx: &TaskContext) -> Result<()> {
        self.batch_size = ctx.batch_size.max(1);
        let started = self.metrics.start();
        let shared = match &self.shared {
            Some((lookup, slot)) => lookup.take(*slot).await?,
            None => None,
        };
        let batch = match shared {
            Some(batch) => batch,
            None => self.adapter.last_points(&self.request).await?,
        };
        self.metrics.stop(started);
        self.metrics.record_in(batch.num_rows());
        let nan = batch
            .timelines()
            .any(|tl| tl.values.iter().any(|v| v.is_nan()));
        if nan {
            let mut scan = ScanOp::new(Arc::clone(&self.adapter), self.request.clone());
            scan.open(ctx).await?;
            self.fallback = Some(scan);
        } else {
            self.take(&batch);
        }
        self.open = true;
        Ok(())
    }

    async fn next(&mut self) -> Result<Option<TimelineBatch>> {
        if !self.open {
            return Err(EngineError::execution(
                "LastPointOp",
                "next called before open (or after close)",
            ));
        }
        if let Some(scan) = self.fallback.as_mut() {
            let out = scan.next().await?;
            if let Some(b) = &out {
                self.metrics.record_out(b.num_rows());
            }
            return Ok(out);
        }
        let (Some(registry), Some(values)) = (&self.registry, &self.values) else {
            return Ok(None);
        };
        if self.points.is_empty() {
            return Ok(None);
        }
        let n = self.batch_size.min(self.points.len());
        let chunk = self.points.split_off(self.points.len() - n);
        // One point per series: each is a run of its own.
        let rows = UInt32Array::from_iter_values(chunk.iter().rev().map(|p| p.2));
        let batch = TimelineBatch::from_sorted_run_arrays(
            chunk.iter().rev().map(|p| p.0).collect(),
            chunk.iter().rev().map(|p| p.1).collect(),
            arrow::compute::take(values.as_ref(), &rows, None)?,
            (0..=n as u32).collect(),
            Arc::clone(registry),
        )?;
        self.metrics.record_out(batch.num_rows());
        Ok(Some(batch))
    }

    async fn close(&mut self) -> Result<()> {
        self.open = false;
        self.points.clear();
        self.values = None;
        if let Some(scan) = self.fallback.as_mut() {
            scan.close().await?;
        }
        Ok(())
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }

    fn children(&self) -> Vec<&dyn Operator> {
        Vec::new()
    }
}
