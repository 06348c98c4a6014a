//! `PartialAggOp`: the partial step of a partitioned streaming aggregation.
//! It folds one partition's grid-aligned timelines into one accumulator
//! per (group, bucket), exactly as `PipeAggOp` does, and hands back the
//! accumulators as [`PartialStates`] in their Arrow form instead of final
//! values; [`FinalAggOp`](super::FinalAggOp) merges the partitions'.
//!
//! Its output is a `RecordBatch` of partial states, not a timeline batch, so
//! it is driven by [`PartialAggOp::run_partial`]; `next` of the
//! [`Operator`] contract is an error. It is an operator for everything else
//! (EXPLAIN, metrics, children, open / close).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;

use crate::accumulator::{AccValue, Accumulators};
use crate::batch::TimelineBatch;
use crate::context::TaskContext;
use crate::each_type;
use crate::error::{EngineError, Result};
use crate::group::Grouping;
use crate::memory::MemoryReservation;
use crate::metrics::OperatorMetrics;
use crate::operator::Operator;
use crate::ops::pipe_agg::{grid_buckets, mixed_types, off_grid};
use crate::partial::{PartialStates, StateValue};
use crate::registry::SeriesRegistry;
use crate::spec::{Aggregator, BucketGrid, GroupBy};
use crate::storage::ValueType;
use crate::value::{selects, ByType};

use super::Partition;

const NAME: &str = "PartialAggOp";

/// No series yet (first / last tie tracking).
const NO_SERIES: u32 = u32::MAX;

/// The partial aggregation of one partition; see the module docs.
pub struct PartialAggOp {
    input: Box<dyn Operator>,
    agg: Aggregator,
    group_by: GroupBy,
    /// The child's grid: known at construction for a bounded query, at open
    /// when the range is resolved from the data (as for `PipeAggOp`).
    grid: Option<BucketGrid>,
    output_name: String,
    partition: Partition,
    state: Option<State>,
    ctx: Option<TaskContext>,
    metrics: OperatorMetrics,
    /// Wall time of the last `run_partial` (the partition's task).
    wall: Option<Duration>,
    /// The registry of the input series of the last `run_partial`: the
    /// series ids of the first / last ties refer to it.
    input_registry: Option<Arc<SeriesRegistry>>,
}

/// Built from the first input batch.
struct State {
    grid: BucketGrid,
    registry: Arc<SeriesRegistry>,
    grouping: Grouping,
    _groups_reserved: MemoryReservation,
    /// Over the input's integer type for a selector, else over f64.
    acc: ByType<Accumulators<f64>, Accumulators<i64>, Accumulators<u64>>,
    /// first / last: series id of each slot's value; empty otherwise.
    series: Vec<u32>,
    reservation: MemoryReservation,
    buckets: Vec<usize>,
}

/// What a partition hands to the final step: its partial states as Arrow,
/// and its groups (the same in every partition of a query).
pub type PartialOutput = Option<(RecordBatch, Arc<SeriesRegistry>)>;

impl PartialAggOp {
    /// The partial aggregation of `input` (one partition's timelines,
    /// grid-aligned as `PipeAggOp` needs) by `agg`, grouped by `group_by`,
    /// on the input's grid ([`Operator::output_grid`], as `PipeAggOp`
    /// takes it: at construction when the range is known, else at open).
    /// Fails for a non-incremental aggregator or an empty width.
    pub fn new(
        input: Box<dyn Operator>,
        agg: Aggregator,
        group_by: GroupBy,
        output_name: String,
        partition: Partition,
    ) -> Result<Self> {
        let grid = input.output_grid();
        if !agg.is_incremental() || grid.is_some_and(|g| g.width <= 0) {
            return Err(EngineError::InvalidArgument(format!(
                "{NAME} needs an incremental aggregator and a bucket width > 0, got {agg} and {}",
                grid.map_or(0, |g| g.width)
            )));
        }
        Ok(PartialAggOp {
            input,
            agg,
            group_by,
            grid,
            output_name,
            partition,
            state: None,
            ctx: None,
            metrics: OperatorMetrics::default(),
            wall: None,
            input_registry: None,
        })
    }

    /// The series registry of the input of the last
    /// [`run_partial`](Self::run_partial) (`None` before, or without
    /// input): the series ids of the `first_series` / `last_series` state
    /// columns are ids of this registry.
    pub fn input_registry(&self) -> Option<&Arc<SeriesRegistry>> {
        self.input_registry.as_ref()
    }

    /// Opens the operator, folds its whole input, closes it, and returns
    /// the partial states (`None` when the partition had no timeline).
    pub async fn run_partial(&mut self, ctx: &TaskContext) -> Result<PartialOutput> {
        let started = Instant::now();
        self.open(ctx).await?;
        let out = self.drain().await;
        let closed = self.close().await;
        self.wall = Some(started.elapsed());
        let out = out?;
        closed?;
        Ok(out)
    }

    async fn drain(&mut self) -> Result<PartialOutput> {
        while let Some(batch) = self.input.next().await? {
            self.check()?;
            let started = self.metrics.start();
            self.metrics.record_in(batch.num_rows());
            let folded = self.consume(&batch);
            self.metrics.stop(started);
            folded?;
        }
        let started = self.metrics.start();
        let out = self.finish();
        self.metrics.stop(started);
        out
    }

    fn check(&self) -> Result<()> {
        match &self.ctx {
            Some(ctx) => ctx.cancel.check(),
            None => Err(EngineError::execution(NAME, "run before open")),
        }
    }

    /// The grouping and accumulators for the registry of the first batch,
    /// reserved before they are allocated.
    fn init_state(
        &self,
        registry: &Arc<SeriesRegistry>,
        ctx: &TaskContext,
        input: ValueType,
    ) -> Result<State> {
        let (grouping, groups_reserved) = Grouping::reserved_for(
            NAME,
            &ctx.memory,
            registry,
            &self.group_by,
            &self.output_name,
        )?;
        let grid = self
            .grid
            .ok_or_else(|| EngineError::execution(NAME, "opened without a grid"))?;
        let slots = grouping
            .num_groups()
            .checked_mul(grid.count)
            .ok_or_else(|| EngineError::execution(NAME, "number of groups × buckets overflows"))?;
        let mut reservation = ctx.memory.reservation(
            NAME,
            "it keeps one accumulator per group and bucket in each partition: use fewer \
             groups, a wider SAMPLE BY interval, fewer threads, or raise the memory budget",
        );
        let ties = matches!(self.agg, Aggregator::First | Aggregator::Last);
        let per_slot = 13 + if self.agg == Aggregator::Dev { 8 } else { 0 } + 4 * ties as usize;
        reservation.try_grow(slots.saturating_mul(per_slot))?;
        let acc = match input {
            ValueType::Integer if selects(self.agg) => {
                ByType::Int(Accumulators::typed(self.agg, slots)?)
            }
            ValueType::Unsigned if selects(self.agg) => {
                ByType::UInt(Accumulators::typed(self.agg, slots)?)
            }
            _ => ByType::Float(Accumulators::new(self.agg, slots)?),
        };
        let series = if ties {
            vec![NO_SERIES; slots]
        } else {
            Vec::new()
        };
        Ok(State {
            grid,
            registry: Arc::clone(registry),
            grouping,
            _groups_reserved: groups_reserved,
            acc,
            series,
            reservation,
            buckets: Vec::new(),
        })
    }

    /// Folds every timeline of `batch`.
    fn consume(&mut self, batch: &TimelineBatch) -> Result<()> {
        if self.state.is_none() {
            let ctx = self.ctx.clone().expect("checked by the caller");
            self.state = Some(self.init_state(batch.registry(), &ctx, batch.value_type())?);
        }
        let state = self.state.as_mut().expect("initialized above");
        if !Arc::ptr_eq(&state.registry, batch.registry()) {
            return Err(EngineError::execution(
                NAME,
                "input batches refer to different series registries",
            ));
        }
        let last = self.agg == Aggregator::Last;
        let (grid, grouping) = (&state.grid, &state.grouping);
        let (buckets, series) = (&mut state.buckets, &mut state.series);
        each_type!(&mut state.acc, acc => {
            fold_batch(acc, batch, grid, grouping, buckets, series, last)?
        });
        self.metrics.record_bytes(state.reservation.peak());
        Ok(())
    }

    /// The accumulators as partial states, in (group, bucket) order.
    fn finish(&mut self) -> Result<PartialOutput> {
        let Some(mut state) = self.state.take() else {
            return Ok(None);
        };
        self.input_registry = Some(Arc::clone(&state.registry));
        let grid = state.grid;
        let value_type = each_type!(&state.acc, acc => value_type_of(acc));
        let groups = Arc::clone(state.grouping.groups());
        let mut states = PartialStates::typed(self.agg, groups, value_type);
        let series = &state.series;
        each_type!(&state.acc, acc => push_states(acc, &grid, series, &mut states));
        state
            .reservation
            .try_grow(states.memory_size())
            .inspect_err(|_| state.reservation.free())?;
        self.metrics.record_bytes(state.reservation.peak());
        self.metrics.record_out(states.len());
        let batch = states.to_record_batch()?;
        Ok(Some((batch, Arc::clone(states.groups()))))
    }
}

/// The type of the values `acc` holds.
fn value_type_of<V: AccValue>(_: &Accumulators<V>) -> ValueType {
    V::VALUE_TYPE
}

/// Folds every timeline of `batch` into `acc` (slot = group × bucket), and
/// for first / last (`series` not empty) notes the series of each slot's
/// value.
fn fold_batch<V: AccValue>(
    acc: &mut Accumulators<V>,
    batch: &TimelineBatch,
    grid: &BucketGrid,
    grouping: &Grouping,
    buckets: &mut Vec<usize>,
    series: &mut [u32],
    last: bool,
) -> Result<()> {
    let Some(timelines) = batch.timelines_as::<V>() else {
        return Err(mixed_types(NAME, batch, V::VALUE_TYPE));
    };
    for tl in timelines {
        if let Err(i) = grid_buckets(tl.times, grid, buckets) {
            return Err(off_grid(&tl, i, grid, batch.registry()));
        }
        let base = grouping.group_of(tl.series_id) as usize * grid.count;
        let buckets = &*buckets;
        acc.update_timeline(&tl, |i| base + buckets[i]);
        if series.is_empty() {
            continue;
        }
        // first / last: the series whose value each slot keeps; the
        // input arrives by ascending series id within the partition.
        for (i, &v) in tl.values.iter().enumerate() {
            if v.is_nan() || !tl.is_valid(i) {
                continue;
            }
            let s = &mut series[base + buckets[i]];
            if last || *s == NO_SERIES {
                *s = tl.series_id;
            }
        }
    }
    Ok(())
}

/// Appends the state of every slot of `acc` with input to `states`, in
/// (group, bucket) order.
fn push_states<V: AccValue + StateValue>(
    acc: &Accumulators<V>,
    grid: &BucketGrid,
    series: &[u32],
    states: &mut PartialStates,
) {
    let count = grid.count;
    for slot in 0..acc.len() {
        let Some(raw) = acc.raw(slot) else {
            continue;
        };
        let (group, bucket) = (slot / count, slot % count);
        let time = grid.time(bucket);
        let series = series.get(slot).copied().unwrap_or(0);
        states.push_raw((group as u32, time), raw, (time, series));
    }
}

#[async_trait]
impl Operator for PartialAggOp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn display(&self) -> String {
        let wall = self
            .wall
            .map(|w| format!(" wall={:.3}ms", w.as_secs_f64() * 1e3))
            .unwrap_or_default();
        let buckets = self
            .grid
            .map_or_else(|| "from data".to_string(), |g| g.count.to_string());
        format!(
            "{NAME}: agg={} group_by={} buckets={buckets} partition={}{wall}",
            self.agg, self.group_by, self.partition
        )
    }

    async fn open(&mut self, ctx: &TaskContext) -> Result<()> {
        self.ctx = Some(ctx.clone());
        self.state = None;
        self.input.open(ctx).await?;
        let grid = self.input.output_grid().ok_or_else(|| {
            EngineError::execution(
                NAME,
                format!(
                    "its input ({}) has no bucket grid: {NAME} needs input downsampled over a \
                     known or resolved time range",
                    self.input.display()
                ),
            )
        })?;
        if grid.width <= 0 {
            return Err(EngineError::InvalidArgument(format!(
                "{NAME} needs a bucket width > 0, got {}",
                grid.width
            )));
        }
        self.grid = Some(grid);
        Ok(())
    }

    async fn next(&mut self) -> Result<Option<TimelineBatch>> {
        Err(EngineError::execution(
            NAME,
            "it emits partial states, not timelines: drive it with run_partial",
        ))
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
