//! `LastPointsOp`: every value column of a `SAMPLE BY ALL last` query in
//! one operator (`docs/architecture.md`, "Last point as one operator").
//! When each column of a query is `last(field)` over the same series
//! selection, grouped the same way, with the newest-point read path (TSBS
//! `lastpoint`: ten fields, `GROUP BY hostname`), the planner builds this
//! one operator instead of a `LastPointOp → DsAggOp → PipeAggOp` chain per
//! column joined by the result's `MergeJoin`: it asks the adapter for the
//! newest points of every field at once ([`lookup`]), keeps each group's
//! last point per column ([`table`]) and emits one row per group with all
//! the value columns ([`ColumnsBatch`]). The values keep the fields'
//! types (`Int64` / `UInt64` for integers, `docs/semantics.md` §12).
//!
//! ```text
//!   adapter.last_points_group(f1..fN) ──▶ GroupTable ──▶ ColumnsBatch { group, time, f1..fN }
//!        │ a newest point of fi is NaN
//!        └──▶ ScanOp → DsAggOp → PipeAggOp for fi (as the per-column plan) ──▶ column fi
//! ```
//!
//! The rows are exactly the per-column plan's: a group's value is the
//! newest point of its last series (ascending series id) with a valid one,
//! stamped with the range start; a column whose newest point is NaN (which
//! `last` skips) is computed by that column's own scan.

mod lookup;
mod table;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;

use crate::batch::TimelineBatch;
use crate::columns::ColumnsBatch;
use crate::context::TaskContext;
use crate::error::{EngineError, Result};
use crate::memory::MemoryReservation;
use crate::metrics::OperatorMetrics;
use crate::operator::{collect, Operator};
use crate::pipeline::build_pipeline_with;
use crate::read_path::ReadPath;
use crate::spec::{AggStrategy, Aggregator, FillPolicy, GroupBy, Interval, PipelineSpec};
use crate::storage::{ScanRequest, StorageAdapter};

pub use lookup::SPLIT_MIN_SERIES;
use lookup::{look_up, Chunks, Split};
use table::GroupTable;

const NAME: &str = "LastPointsOp";

/// What the user can change when the rows do not fit the budget.
const HINT: &str = "it holds one row per group until the result takes them: \
    narrow the tag predicate or group by fewer tags";

/// Why `specs` cannot be read by one [`LastPointsOp`]; `None` when they
/// can: at least one column, each `SAMPLE BY ALL last` with no fill and no
/// rate, aggregated across timelines with `last`, grouped by tags (or not
/// at all), all over the same measurement, tag predicate, range and
/// grouping.
pub fn check_last_points(specs: &[&PipelineSpec]) -> Option<String> {
    let Some(first) = specs.first() else {
        return Some("no value column".into());
    };
    for s in specs {
        let sample_all_last = s.downsample.is_some_and(|ds| {
            ds.interval == Interval::All
                && ds.agg == Aggregator::Last
                && ds.fill == FillPolicy::None
                && ds.max_gap.is_none()
        });
        if !sample_all_last || s.rate.is_some() {
            return Some(format!(
                "{}: not SAMPLE BY ALL last without fill or rate",
                s.output_name
            ));
        }
        if s.aggregate != Some(Aggregator::Last) {
            return Some(format!("{}: not last across timelines", s.output_name));
        }
        if s.group_by == GroupBy::All {
            return Some("GROUP BY * keeps every series apart".into());
        }
        let (a, b) = (&s.scan, &first.scan);
        let same = a.measurement == b.measurement
            && a.range == b.range
            && s.group_by == first.group_by
            && format!("{:?}", a.predicate) == format!("{:?}", b.predicate);
        if !same {
            return Some(format!(
                "{} reads another selection than {}",
                s.output_name, first.output_name
            ));
        }
    }
    None
}

/// Emits one row per group with the last point of every column; see the
/// module docs.
pub struct LastPointsOp {
    adapter: Arc<dyn StorageAdapter>,
    /// One per column, in column order.
    specs: Vec<PipelineSpec>,
    /// The selection every column reads (the first column's request).
    request: ScanRequest,
    /// Chunks the lookup may be split into (the query's threads).
    split: usize,
    /// The fewest series of the measurement for which the lookup is split.
    split_min_series: usize,
    /// The lookup's chunks, once open.
    chunks: Option<Chunks>,
    /// The columns computed by their own scan (a newest point was NaN).
    scanned: Vec<String>,
    out: VecDeque<ColumnsBatch>,
    /// The bytes of `out` while it is held.
    reserved: Option<MemoryReservation>,
    open: bool,
    metrics: OperatorMetrics,
}

impl std::fmt::Debug for LastPointsOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(NAME)
            .field("adapter", &self.adapter)
            .field("request", &self.request)
            .field("columns", &self.specs.len())
            .finish()
    }
}

impl LastPointsOp {
    /// The operator of the columns `specs` (which
    /// [`check_last_points`] accepts) read through `adapter`, its lookup
    /// split into up to `split` chunks over a large selection.
    pub fn new(
        adapter: Arc<dyn StorageAdapter>,
        specs: Vec<PipelineSpec>,
        split: usize,
    ) -> Result<Self> {
        let refs: Vec<&PipelineSpec> = specs.iter().collect();
        if let Some(reason) = check_last_points(&refs) {
            return Err(EngineError::InvalidArgument(format!(
                "{NAME} cannot read these columns: {reason}"
            )));
        }
        let request = ScanRequest {
            group_order: None,
            ..specs[0].scan.clone()
        };
        Ok(LastPointsOp {
            adapter,
            specs,
            request,
            split: split.max(1),
            split_min_series: SPLIT_MIN_SERIES,
            chunks: None,
            scanned: Vec::new(),
            out: VecDeque::new(),
            reserved: None,
            open: false,
            metrics: OperatorMetrics::default(),
        })
    }

    /// This operator splitting its lookup from `series` series of the
    /// measurement on (default [`SPLIT_MIN_SERIES`]; tests split small
    /// selections with 0).
    pub fn with_split_min_series(mut self, series: usize) -> Self {
        self.split_min_series = series;
        self
    }

    /// The `GROUP BY` tags.
    fn by(&self) -> Vec<String> {
        match &self.specs[0].group_by {
            GroupBy::Tags(t) => t.clone(),
            GroupBy::None | GroupBy::All => Vec::new(),
        }
    }

    /// The stamp of every row: the range start, or without a lower bound
    /// the first point of the columns' data (`docs/semantics.md` §5);
    /// `None` when no column has data.
    async fn stamp(&self) -> Result<Option<i64>> {
        if let Some(start) = self.request.range.start {
            return Ok(Some(start));
        }
        let mut first: Option<i64> = None;
        for s in &self.specs {
            if let Some((start, _)) = self.adapter.time_span(&s.scan).await? {
                first = Some(first.map_or(start, |f| f.min(start)));
            }
        }
        Ok(first)
    }

    /// Replaces `column` of `table` by the rows of its own per-column plan
    /// (a scan: a newest point was NaN).
    async fn scan_column(
        &mut self,
        table: &mut GroupTable,
        column: usize,
        ctx: &TaskContext,
    ) -> Result<()> {
        let spec = &self.specs[column];
        self.scanned.push(spec.scan.field.clone());
        let adapter = Arc::clone(&self.adapter);
        let mut chain =
            build_pipeline_with(spec, adapter, AggStrategy::Pipe, ReadPath::Scan).await?;
        let batches: Vec<TimelineBatch> = collect(chain.as_mut(), ctx).await?;
        table.clear_column(column);
        for b in &batches {
            table.add(column, b);
        }
        Ok(())
    }
}

#[async_trait]
impl Operator for LastPointsOp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn display(&self) -> String {
        let r = &self.request;
        let fields: Vec<&str> = self.specs.iter().map(|s| s.scan.field.as_str()).collect();
        let mut line = format!(
            "{NAME}: adapter={} measurement={} fields=[{}] range={} predicate={} group_by={}",
            self.adapter.name(),
            r.measurement,
            fields.join(", "),
            r.range,
            r.predicate,
            self.specs[0].group_by
        );
        if let Some(Chunks(n)) = self.chunks.filter(|c| c.0 > 1) {
            line.push_str(&format!(" (lookup split into {n} chunks of series)"));
        }
        if !self.scanned.is_empty() {
            line.push_str(&format!(
                " (a newest point is NaN: scanned the range of {})",
                self.scanned.join(", ")
            ));
        }
        line
    }

    async fn open(&mut self, ctx: &TaskContext) -> Result<()> {
        let started = self.metrics.start();
        self.scanned.clear();
        self.out.clear();
        let Some(time) = self.stamp().await? else {
            self.open = true;
            self.metrics.stop(started);
            return Ok(());
        };
        let fields: Vec<String> = self.specs.iter().map(|s| s.scan.field.clone()).collect();
        let by = self.by();
        let split = Split {
            chunks: self.split,
            min_series: self.split_min_series,
        };
        let (looked, chunks) =
            look_up(&self.adapter, &self.request, &fields, &by, split, ctx).await?;
        self.chunks = Some(chunks);
        self.metrics.record_in(looked.points);
        let mut table = looked.table;
        for (column, nan) in looked.nan.iter().enumerate() {
            if *nan {
                self.scan_column(&mut table, column, ctx).await?;
            }
        }
        self.out = table.finish(time, ctx.batch_size)?.into();
        let bytes = self.out.iter().map(ColumnsBatch::memory_size).sum();
        let mut reserved = ctx.memory.reservation(NAME, HINT);
        reserved.try_grow(bytes)?;
        self.reserved = Some(reserved);
        self.metrics.record_bytes(bytes);
        self.metrics.stop(started);
        self.open = true;
        Ok(())
    }

    async fn next(&mut self) -> Result<Option<TimelineBatch>> {
        Err(EngineError::execution(
            NAME,
            "emits several value columns: read it with next_columns",
        ))
    }

    fn emits_columns(&self) -> bool {
        true
    }

    async fn next_columns(&mut self) -> Result<Option<ColumnsBatch>> {
        if !self.open {
            return Err(EngineError::execution(
                NAME,
                "next_columns called before open (or after close)",
            ));
        }
        let out = self.out.pop_front();
        if let Some(b) = &out {
            self.metrics.record_out(b.num_rows());
        }
        Ok(out)
    }

    async fn close(&mut self) -> Result<()> {
        self.open = false;
        self.out.clear();
        self.reserved = None;
        Ok(())
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }

    fn children(&self) -> Vec<&dyn Operator> {
        Vec::new()
    }
}
