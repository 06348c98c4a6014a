//! `PipeAggOp`: the streaming cross-timeline aggregator (DESIGN §4).
//!
//! Valid when no interpolation can be needed: every input timestamp is a
//! bucket start of the query's [`BucketGrid`] (downsampled input with a fill
//! other than `none`, or `SAMPLE BY ALL`), and the aggregator is incremental.
//! The planner guarantees both; the operator checks the first and fails
//! with an execution error naming the series and timestamp otherwise.
//!
//! ```text
//!   slot = group * buckets + (t - grid.start) / grid.width
//!
//!   input batch ──▶ per timeline: group looked up once, grid check,
//!                   Accumulators::update_timeline(slot_of)   ──▶ batch dropped
//!   end of input ──▶ slots with input, in (group, bucket) order ──▶ output
//! ```
//!
//! State is one accumulator per (group, bucket), reserved before it is
//! allocated: memory is O(groups × buckets), independent of the points
//! scanned. Within a slot, values arrive in input order, which is ascending
//! series id for a plain scan (this decides `first` / `last`).

use std::sync::Arc;

use async_trait::async_trait;

use crate::accumulator::Accumulators;
use crate::batch::{Timeline, TimelineBatch};
use crate::context::TaskContext;
use crate::error::{EngineError, Result};
use crate::group::Grouping;
use crate::materialize::RowBatcher;
use crate::memory::MemoryReservation;
use crate::metrics::OperatorMetrics;
use crate::operator::Operator;
use crate::registry::SeriesRegistry;
use crate::spec::{Aggregator, BucketGrid, GroupBy};

const NAME: &str = "PipeAggOp";

/// Streaming aggregation across timelines on grid-aligned input; see the
/// module docs.
pub struct PipeAggOp {
    input: Box<dyn Operator>,
    agg: Aggregator,
    group_by: GroupBy,
    grid: BucketGrid,
    output_name: String,
    ctx: Option<TaskContext>,
    state: Option<State>,
    input_done: bool,
    metrics: OperatorMetrics,
}

/// Built from the first input batch.
struct State {
    registry: Arc<SeriesRegistry>,
    grouping: Grouping,
    acc: Accumulators,
    reservation: MemoryReservation,
    out: RowBatcher,
    /// Next slot to emit once the input is exhausted.
    emit_cursor: usize,
}

impl PipeAggOp {
    /// Aggregates `input` across timelines with `agg`, grouped by
    /// `group_by`, on the buckets of `grid`; the output field is
    /// `output_name`. Fails for a non-incremental aggregator (percentiles).
    pub fn new(
        input: Box<dyn Operator>,
        agg: Aggregator,
        group_by: GroupBy,
        grid: BucketGrid,
        output_name: String,
    ) -> Result<Self> {
        if !agg.is_incremental() {
            return Err(EngineError::InvalidArgument(format!(
                "PipeAggOp needs an incremental aggregator, {agg} is not (use GroupedAggOp or MTAggOp)"
            )));
        }
        if grid.width <= 0 {
            return Err(EngineError::InvalidArgument(format!(
                "PipeAggOp needs a bucket width > 0, got {}",
                grid.width
            )));
        }
        Ok(PipeAggOp {
            input,
            agg,
            group_by,
            grid,
            output_name,
            ctx: None,
            state: None,
            input_done: false,
            metrics: OperatorMetrics::default(),
        })
    }

    fn ctx(&self) -> &TaskContext {
        self.ctx
            .as_ref()
            .expect("PipeAggOp::next called before open")
    }

    /// Builds the grouping and the accumulators for the registry of the
    /// first batch, reserving their memory first.
    fn init_state(&self, registry: &Arc<SeriesRegistry>) -> Result<State> {
        let ctx = self.ctx();
        let grouping = Grouping::new(registry, &self.group_by, &self.output_name);
        let slots = grouping
            .num_groups()
            .checked_mul(self.grid.count)
            .ok_or_else(|| EngineError::execution(NAME, "number of groups × buckets overflows"))?;
        let mut reservation = ctx.memory.reservation(
            NAME,
            "it keeps one accumulator per group and bucket: use fewer groups or a wider \
             SAMPLE BY interval, narrow the time range, or raise the memory budget",
        );
        let per_slot = 4 + 1 + 8 + if self.agg == Aggregator::Dev { 8 } else { 0 };
        reservation.try_grow(slots.saturating_mul(per_slot))?;
        let acc = Accumulators::new(self.agg, slots)?;
        reservation.try_resize(acc.memory_size())?;
        let out = RowBatcher::new(Arc::clone(grouping.groups()), ctx.batch_size);
        Ok(State {
            registry: Arc::clone(registry),
            grouping,
            acc,
            reservation,
            out,
            emit_cursor: 0,
        })
    }

    /// Folds every timeline of `batch` into the accumulators.
    fn consume(&mut self, batch: &TimelineBatch) -> Result<()> {
        if self.state.is_none() {
            self.state = Some(self.init_state(batch.registry())?);
        }
        let state = self.state.as_mut().expect("initialized above");
        if !Arc::ptr_eq(&state.registry, batch.registry()) {
            return Err(EngineError::execution(
                NAME,
                "input batches refer to different series registries",
            ));
        }
        let grid = self.grid;
        for tl in batch.timelines() {
            check_on_grid(&tl, &grid, &state.registry)?;
            let base = state.grouping.group_of(tl.series_id) as usize * grid.count;
            let times = tl.times;
            state.acc.update_timeline(&tl, |i| {
                base + ((times[i] - grid.start) / grid.width) as usize
            });
        }
        self.metrics.record_bytes(state.reservation.peak());
        Ok(())
    }

    /// Emits slots with input, from the cursor, until a batch is ready or
    /// every slot was visited (then the last short batch is cut).
    fn emit(&mut self) -> Result<()> {
        let Some(state) = self.state.as_mut() else {
            return Ok(());
        };
        let count = self.grid.count;
        while !state.out.has_ready() && state.emit_cursor < state.acc.len() {
            let slot = state.emit_cursor;
            if slot % count == 0 {
                self.ctx.as_ref().map_or(Ok(()), |c| c.cancel.check())?;
            }
            if let Some(v) = state.acc.result(slot) {
                let (group, bucket) = (slot / count, slot % count);
                state.out.push(group as u32, self.grid.time(bucket), v)?;
            }
            state.emit_cursor += 1;
        }
        if state.emit_cursor == state.acc.len() {
            state.out.flush()?;
            state.acc.resize(0);
            state.reservation.free();
        }
        Ok(())
    }
}

/// Fails unless every timestamp of `tl` is a bucket start of `grid`.
fn check_on_grid(tl: &Timeline<'_>, grid: &BucketGrid, registry: &SeriesRegistry) -> Result<()> {
    let (start, width) = (grid.start, grid.width);
    let last = if grid.count == 0 {
        i64::MIN
    } else {
        grid.time(grid.count - 1)
    };
    let off = tl
        .times
        .iter()
        .position(|&t| t < start || t > last || (t - start) % width != 0);
    match off {
        None => Ok(()),
        Some(i) => {
            let series = registry
                .get(tl.series_id)
                .map_or_else(|| tl.series_id.to_string(), |s| s.key());
            Err(EngineError::execution(
                NAME,
                format!(
                    "series {series} has a point at {} that is not a bucket start of the grid \
                     (start {start}, width {width}ns, {} buckets); PipeAggOp needs input \
                     downsampled with a fill other than none",
                    tl.times[i], grid.count
                ),
            ))
        }
    }
}

#[async_trait]
impl Operator for PipeAggOp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn display(&self) -> String {
        format!(
            "PipeAggOp: agg={} group_by={} buckets={}",
            self.agg, self.group_by, self.grid.count
        )
    }

    async fn open(&mut self, ctx: &TaskContext) -> Result<()> {
        self.ctx = Some(ctx.clone());
        self.state = None;
        self.input_done = false;
        self.input.open(ctx).await
    }

    async fn next(&mut self) -> Result<Option<TimelineBatch>> {
        loop {
            if let Some(batch) = self.state.as_mut().and_then(|s| s.out.pop()) {
                self.metrics.record_out(batch.num_rows());
                return Ok(Some(batch));
            }
            if self.input_done {
                let started = self.metrics.start();
                self.emit()?;
                self.metrics.stop(started);
                let ready = self.state.as_ref().is_some_and(|s| s.out.has_ready());
                if !ready {
                    return Ok(None);
                }
                continue;
            }
            let batch = self.input.next().await?;
            self.ctx().cancel.check()?;
            let started = self.metrics.start();
            match batch {
                Some(b) => {
                    self.metrics.record_in(b.num_rows());
                    self.consume(&b)?;
                }
                None => self.input_done = true,
            }
            self.metrics.stop(started);
        }
    }

    async fn close(&mut self) -> Result<()> {
        self.state = None;
        self.input.close().await
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }

    fn children(&self) -> Vec<&dyn Operator> {
        vec![self.input.as_ref()]
    }
}
