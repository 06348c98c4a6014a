//! `PipeAggOp`: the streaming cross-timeline aggregator
//! (`docs/architecture.md`, "How a batch flows").
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
//!
//! In a partition of whole groups (`crate::partition`,
//! `PartitionBy::WholeGroups`: `docs/architecture.md`, "Partitions and
//! partial aggregates") it keeps accumulators for its own groups only (the
//! i-th of them in slot row i) and emits them, in group order, under their
//! query-wide ids.

use std::sync::Arc;

use crate::accumulator::{AccValue, Accumulators};
use crate::batch::{Timeline, TimelineBatch};
use crate::context::TaskContext;
use crate::each_type;
use crate::error::{EngineError, Result};
use crate::group::Grouping;
use crate::materialize::RowBatcher;
use crate::memory::MemoryReservation;
use crate::operator::Operator;
use crate::ops::driver::{Kernel, UnaryOp};
use crate::partition::{OwnedGroups, Partition, PartitionBy};
use crate::registry::SeriesRegistry;
use crate::spec::{Aggregator, BucketGrid, GroupBy};
use crate::storage::ValueType;
use crate::value::{selects, ByType};

const NAME: &str = "PipeAggOp";

/// Streaming aggregation across timelines on grid-aligned input; see the
/// module docs. Runs under the shared driver ([`UnaryOp`]).
pub type PipeAggOp = UnaryOp<PipeAgg>;

/// The plan node of [`PipeAggOp`]: what it aggregates, and the grid it
/// took from its child.
#[derive(Debug, Clone)]
pub struct PipeAgg {
    agg: Aggregator,
    group_by: GroupBy,
    /// The child's grid: known at construction for a bounded query, at open
    /// when the range is resolved from the data.
    grid: Option<BucketGrid>,
    output_name: String,
    /// The partition of whole groups this operator aggregates, if any: it
    /// keeps and emits that partition's groups only.
    partition: Option<Partition>,
}

/// The running state of one execution, built from the first input batch.
pub struct PipeAggState {
    ctx: TaskContext,
    grid: BucketGrid,
    groups: Option<Groups>,
}

/// The group table and the accumulators, once the registry is known.
struct Groups {
    registry: Arc<SeriesRegistry>,
    grouping: Grouping,
    /// Holds the group table until the state is dropped.
    _groups_reserved: MemoryReservation,
    /// Over the input's integer type for a selector, else over f64.
    slots: ByType<Slots<f64>, Slots<i64>, Slots<u64>>,
    reservation: MemoryReservation,
    /// Grid bucket of each point of the timeline being folded (reused).
    buckets: Vec<usize>,
    /// Next slot to emit once the input is exhausted.
    emit_cursor: usize,
    /// The groups with accumulators here: a partition's, or all (`None`).
    owned: Option<OwnedGroups>,
}

/// One accumulator per (group, bucket) over values of type `V`, and the
/// output rows.
struct Slots<V: AccValue> {
    acc: Accumulators<V>,
    out: RowBatcher<V>,
}

impl<V: AccValue> Slots<V> {
    fn new(
        agg: Aggregator,
        slots: usize,
        groups: &Arc<SeriesRegistry>,
        rows: usize,
    ) -> Result<Self> {
        Ok(Slots {
            acc: Accumulators::typed(agg, slots)?,
            out: RowBatcher::typed(Arc::clone(groups), rows),
        })
    }

    /// Folds every timeline of `batch` (of type `V`, or f64 for any input).
    fn fold_batch(
        &mut self,
        batch: &TimelineBatch,
        grid: &BucketGrid,
        (grouping, owned): (&Grouping, Option<&OwnedGroups>),
        buckets: &mut Vec<usize>,
    ) -> Result<()> {
        let Some(timelines) = batch.timelines_as::<V>() else {
            return Err(mixed_types(NAME, batch, V::VALUE_TYPE));
        };
        for tl in timelines {
            if let Err(i) = grid_buckets(tl.times, grid, buckets) {
                return Err(off_grid(&tl, i, grid, batch.registry()));
            }
            let group = grouping.group_of(tl.series_id);
            let row = match owned {
                None => group,
                Some(o) => o
                    .local(group)
                    .ok_or_else(|| not_owned(&tl, group, batch.registry()))?,
            };
            let base = row as usize * grid.count;
            let buckets = &*buckets;
            self.acc.update_timeline(&tl, |i| base + buckets[i]);
        }
        Ok(())
    }

    /// Emits slots with input from `cursor` until a batch is ready or every
    /// slot was visited; returns the new cursor.
    fn drain(
        &mut self,
        mut cursor: usize,
        (grid, owned): (&BucketGrid, Option<&OwnedGroups>),
        ctx: &TaskContext,
    ) -> Result<usize> {
        let count = grid.count;
        while !self.out.has_ready() && cursor < self.acc.len() {
            if cursor.is_multiple_of(count) {
                ctx.cancel.check()?;
            }
            if let Some(v) = self.acc.result(cursor) {
                let (group, bucket) = (cursor / count, cursor % count);
                let group = owned.map_or(group as u32, |o| o.global(group));
                self.out.push(group, grid.time(bucket), v)?;
            }
            cursor += 1;
        }
        Ok(cursor)
    }
}

/// The error for a timeline of group `group`, which another partition
/// owns.
fn not_owned<V>(tl: &Timeline<'_, V>, group: u32, registry: &SeriesRegistry) -> EngineError {
    let series = registry
        .get(tl.series_id)
        .map_or_else(|| tl.series_id.to_string(), |s| s.key());
    EngineError::execution(
        NAME,
        format!("series {series} of group {group} belongs to another partition's groups"),
    )
}

/// The error for an input batch of another value type than the operator's
/// earlier input (a field stored with two types).
pub(crate) fn mixed_types(op: &str, batch: &TimelineBatch, kept: ValueType) -> EngineError {
    EngineError::execution(
        op,
        format!(
            "an input batch has {} values after {kept} values: the field has two types",
            batch.value_type()
        ),
    )
}

impl PipeAggOp {
    /// Aggregates `input` across timelines with `agg`, grouped by
    /// `group_by`; the output field is `output_name`. The buckets are those
    /// of the input's grid ([`Operator::output_grid`]: a `DsAggOp` over the
    /// query range, possibly through a `RateOp`), taken at construction
    /// when the range is known, else at open. Fails for a non-incremental
    /// aggregator (percentiles) and, at open, for input without a grid.
    pub fn new(
        input: Box<dyn Operator>,
        agg: Aggregator,
        group_by: GroupBy,
        output_name: String,
    ) -> Result<Self> {
        if !agg.is_incremental() {
            return Err(EngineError::InvalidArgument(format!(
                "PipeAggOp needs an incremental aggregator, {agg} is not (use GroupedAggOp or MTAggOp)"
            )));
        }
        let grid = input.output_grid();
        if let Some(grid) = grid {
            check_grid(&grid)?;
        }
        let kernel = PipeAgg {
            agg,
            group_by,
            grid,
            output_name,
            partition: None,
        };
        Ok(UnaryOp::with_kernel(input, kernel))
    }

    /// [`PipeAggOp::new`] over one partition of whole groups of the
    /// timelines (`partition.by` is [`PartitionBy::WholeGroups`] of
    /// `group_by`): the accumulators cover that partition's groups only,
    /// and the output has only those groups, under the ids of the whole
    /// query. A timeline of another group is an error.
    pub fn in_partition(
        input: Box<dyn Operator>,
        agg: Aggregator,
        group_by: GroupBy,
        output_name: String,
        partition: Partition,
    ) -> Result<Self> {
        if partition.by != PartitionBy::WholeGroups(group_by.clone()) {
            return Err(EngineError::InvalidArgument(format!(
                "PipeAggOp by {group_by} needs a partition of whole groups of the same tags, \
                 got {partition}"
            )));
        }
        let mut op = Self::new(input, agg, group_by, output_name)?;
        op.kernel_mut().partition = Some(partition);
        Ok(op)
    }
}

fn check_grid(grid: &BucketGrid) -> Result<()> {
    if grid.width <= 0 {
        return Err(EngineError::InvalidArgument(format!(
            "PipeAggOp needs a bucket width > 0, got {}",
            grid.width
        )));
    }
    Ok(())
}

impl PipeAgg {
    /// Builds the grouping and the accumulators for the registry of the
    /// first batch, reserving their memory first.
    fn init_groups(
        &self,
        ctx: &TaskContext,
        grid: &BucketGrid,
        registry: &Arc<SeriesRegistry>,
        input: ValueType,
    ) -> Result<Groups> {
        let (grouping, groups_reserved) = Grouping::reserved_for(
            NAME,
            &ctx.memory,
            registry,
            &self.group_by,
            &self.output_name,
        )?;
        let owned = (self.partition.as_ref()).map(|p| OwnedGroups::of(&grouping, p.index, p.count));
        let slots = owned
            .as_ref()
            .map_or(grouping.num_groups(), OwnedGroups::len)
            .checked_mul(grid.count)
            .ok_or_else(|| EngineError::execution(NAME, "number of groups × buckets overflows"))?;
        let mut reservation = ctx.memory.reservation(
            NAME,
            "it keeps one accumulator per group and bucket: use fewer groups or a wider \
             SAMPLE BY interval, narrow the time range, or raise the memory budget",
        );
        let per_slot = 4 + 1 + 8 + if self.agg == Aggregator::Dev { 8 } else { 0 };
        reservation.try_grow(slots.saturating_mul(per_slot))?;
        let (groups, rows) = (grouping.groups(), ctx.batch_size);
        let slots = match input {
            ValueType::Integer if selects(self.agg) => {
                ByType::Int(Slots::new(self.agg, slots, groups, rows)?)
            }
            ValueType::Unsigned if selects(self.agg) => {
                ByType::UInt(Slots::new(self.agg, slots, groups, rows)?)
            }
            _ => ByType::Float(Slots::new(self.agg, slots, groups, rows)?),
        };
        reservation.try_resize(each_type!(&slots, s => s.acc.memory_size()))?;
        Ok(Groups {
            registry: Arc::clone(registry),
            grouping,
            _groups_reserved: groups_reserved,
            slots,
            reservation,
            buckets: Vec::new(),
            emit_cursor: 0,
            owned,
        })
    }

    /// Emits slots with input, from the cursor, until a batch is ready or
    /// every slot was visited (then the last short batch is cut).
    fn drain(&self, state: &mut PipeAggState) -> Result<()> {
        let Some(g) = state.groups.as_mut() else {
            return Ok(());
        };
        let (grid, ctx, agg) = (&state.grid, &state.ctx, self.agg);
        let (cursor, owned) = (g.emit_cursor, g.owned.as_ref());
        let (cursor, done) = each_type!(&mut g.slots, s => {
            let cursor = s.drain(cursor, (grid, owned), ctx)?;
            let done = cursor == s.acc.len();
            if done {
                s.out.flush()?;
                // Everything is emitted: free the accumulators.
                s.acc = Accumulators::typed(agg, 0)?;
            }
            (cursor, done)
        });
        g.emit_cursor = if done { 0 } else { cursor };
        if done {
            g.reservation.free();
        }
        Ok(())
    }
}

impl Kernel for PipeAgg {
    type State = PipeAggState;
    const NAME: &'static str = NAME;

    fn display(&self) -> String {
        let buckets = self
            .grid
            .map_or_else(|| "from data".to_string(), |g| g.count.to_string());
        let partition = self
            .partition
            .as_ref()
            .map(|p| format!(" partition={p}"))
            .unwrap_or_default();
        format!(
            "PipeAggOp: agg={} group_by={} buckets={buckets}{partition}",
            self.agg, self.group_by
        )
    }

    fn open(&mut self, ctx: &TaskContext, input: &dyn Operator) -> Result<PipeAggState> {
        let grid = input.output_grid().ok_or_else(|| {
            EngineError::execution(
                NAME,
                format!(
                    "its input ({}) has no bucket grid: PipeAggOp needs input downsampled \
                     over a known or resolved time range",
                    input.display()
                ),
            )
        })?;
        check_grid(&grid)?;
        self.grid = Some(grid);
        Ok(PipeAggState {
            ctx: ctx.clone(),
            grid,
            groups: None,
        })
    }

    /// Folds every timeline of `batch` into the accumulators.
    fn consume(&self, state: &mut PipeAggState, batch: &TimelineBatch) -> Result<()> {
        if state.groups.is_none() {
            let (ctx, grid) = (&state.ctx, &state.grid);
            let groups = self.init_groups(ctx, grid, batch.registry(), batch.value_type())?;
            state.groups = Some(groups);
        }
        let grid = state.grid;
        let Some(g) = state.groups.as_mut() else {
            return Ok(());
        };
        if !Arc::ptr_eq(&g.registry, batch.registry()) {
            return Err(EngineError::execution(
                NAME,
                "input batches refer to different series registries",
            ));
        }
        let (groups, buckets) = ((&g.grouping, g.owned.as_ref()), &mut g.buckets);
        each_type!(&mut g.slots, s => s.fold_batch(batch, &grid, groups, buckets))
    }

    fn emit(&self, state: &mut PipeAggState, input_done: bool) -> Result<Option<TimelineBatch>> {
        let pop = |state: &mut PipeAggState| {
            let g = state.groups.as_mut()?;
            each_type!(&mut g.slots, s => s.out.pop())
        };
        if let Some(batch) = pop(state) {
            return Ok(Some(batch));
        }
        if !input_done {
            return Ok(None);
        }
        self.drain(state)?;
        Ok(pop(state))
    }

    fn peak_bytes(&self, state: &PipeAggState) -> usize {
        state.groups.as_ref().map_or(0, |g| g.reservation.peak())
    }

    fn output_grid(&self, _: &dyn Operator) -> Option<BucketGrid> {
        self.grid
    }
}

/// Writes the grid bucket of each of `times` (one timeline, increasing)
/// into `out`; `Err(i)` when `times[i]` is not a bucket start of `grid`.
///
/// A point one width after the previous one is in the next bucket, found by
/// an addition; only the first point and the points after a gap pay for the
/// division and the remainder check.
pub(crate) fn grid_buckets(
    times: &[i64],
    grid: &BucketGrid,
    out: &mut Vec<usize>,
) -> std::result::Result<(), usize> {
    let (start, width, count) = (grid.start, grid.width, grid.count);
    let last = if count == 0 {
        i64::MIN
    } else {
        grid.time(count - 1)
    };
    out.clear();
    let mut expect = None;
    let mut k = 0usize;
    for (i, &t) in times.iter().enumerate() {
        if expect == Some(t) && k + 1 < count {
            k += 1;
        } else if t < start || t > last || (t - start) % width != 0 {
            return Err(i);
        } else {
            k = ((t - start) / width) as usize;
        }
        out.push(k);
        expect = t.checked_add(width);
    }
    Ok(())
}

/// The error for point `i` of `tl`, which is not a bucket start of `grid`.
pub(crate) fn off_grid<V>(
    tl: &Timeline<'_, V>,
    i: usize,
    grid: &BucketGrid,
    registry: &SeriesRegistry,
) -> EngineError {
    let series = registry
        .get(tl.series_id)
        .map_or_else(|| tl.series_id.to_string(), |s| s.key());
    EngineError::execution(
        NAME,
        format!(
            "series {series} has a point at {} that is not a bucket start of the grid \
             (start {}, width {}ns, {} buckets); PipeAggOp needs input \
             downsampled with a fill other than none",
            tl.times[i], grid.start, grid.width, grid.count
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::materialize::test_support::*;
    use crate::ops::mt_agg::MTAggOp;
    use crate::ops::values::ValuesOp;

    const GRID: BucketGrid = BucketGrid {
        start: 0,
        width: 10,
        count: 4,
    };

    fn by_dc() -> GroupBy {
        GroupBy::Tags(vec!["dc".into()])
    }

    /// Downsampled, filled input on `GRID`: group a = series 0 and 1,
    /// group b = series 2.
    ///
    /// ```text
    ///   T        0     10     20     30
    ///   s0 (a)  1.0   2.0    3.0    4.0
    ///   s1 (a)    .  10.0    NaN   null
    ///   s2 (b)  5.0   null     .      .
    /// ```
    fn aligned() -> (Arc<SeriesRegistry>, Vec<Row>) {
        let reg = registry(&[("a", "1"), ("a", "2"), ("b", "3")]);
        let rows = vec![
            (0, 0, Some(1.0)),
            (0, 10, Some(2.0)),
            (0, 20, Some(3.0)),
            (0, 30, Some(4.0)),
            (1, 10, Some(10.0)),
            (1, 20, Some(f64::NAN)),
            (1, 30, None),
            (2, 0, Some(5.0)),
            (2, 10, None),
        ];
        (reg, rows)
    }

    /// Group a at 0, 10, 20, 30 from [1], [2, 10], [3, NaN], [4, null]
    /// (NaN and null skipped); group b: [5] at 0, only a null at 10.
    fn aligned_expected(agg: Aggregator) -> Vec<Row> {
        use Aggregator::*;
        let a: [f64; 4] = match agg {
            Sum | ZimSum | PfSum => [1.0, 12.0, 3.0, 4.0],
            Avg => [1.0, 6.0, 3.0, 4.0],
            Min | MimMin | First => [1.0, 2.0, 3.0, 4.0],
            Max | MimMax | Last => [1.0, 10.0, 3.0, 4.0],
            // [2, 10]: mean 6, sqrt((16 + 16) / 2) = 4
            Dev => [0.0, 4.0, 0.0, 0.0],
            Count => [1.0, 2.0, 1.0, 1.0],
            Percentile(_) => unreachable!("not incremental"),
        };
        let b = match agg {
            Dev => 0.0,
            Count => 1.0,
            _ => 5.0,
        };
        let mut rows: Vec<Row> = [0, 10, 20, 30]
            .iter()
            .zip(a)
            .map(|(&t, v)| (0, t, Some(v)))
            .collect();
        rows.extend([(1, 0, Some(b)), (1, 10, None)]);
        rows
    }

    fn op(reg: &Arc<SeriesRegistry>, rows: &[Row], chunk: usize, agg: Aggregator) -> PipeAggOp {
        let input = Box::new(ValuesOp::new(batches(reg, rows, chunk)).with_grid(GRID));
        PipeAggOp::new(input, agg, by_dc(), format!("{agg}(u)")).unwrap()
    }

    fn incremental() -> Vec<Aggregator> {
        all_aggregators()
            .into_iter()
            .filter(|a| a.is_incremental())
            .collect()
    }

    /// Integer input keeps a selector exact in an `Int64` output; a later
    /// batch of another type (a field stored with two types) is an error.
    #[test]
    fn integer_selectors_stay_exact_and_mixed_types_are_refused() {
        use crate::batch::TimelineBatchBuilder;
        const B: i64 = 9_007_199_254_740_992;
        let reg = registry(&[("a", "1"), ("a", "2"), ("b", "3")]);
        let mut b = TimelineBatchBuilder::<i64>::typed(Arc::clone(&reg), 8);
        b.push_slice(0, &[0, 10], &[B, B + 1]);
        b.push_slice(1, &[0, 10], &[B + 1, B]);
        b.push_slice(2, &[0], &[i64::MIN]);
        let ints = b.finish().unwrap();
        let input = Box::new(ValuesOp::new(vec![ints.clone()]).with_grid(GRID));
        let mut op = PipeAggOp::new(input, Aggregator::Max, by_dc(), "max(u)".into()).unwrap();
        let out =
            futures::executor::block_on(crate::operator::collect(&mut op, &TaskContext::default()))
                .unwrap();
        // group a: max(2^53, 2^53 + 1) at 0 and at 10; group b: i64::MIN
        assert_eq!(out[0].value_type(), crate::storage::ValueType::Integer);
        let values = out[0].typed_values::<i64>().unwrap().values().to_vec();
        assert_eq!(values, [B + 1, B + 1, i64::MIN]);
        let floats = ints.to_float();
        let input = Box::new(ValuesOp::new(vec![ints, floats]).with_grid(GRID));
        let mut op = PipeAggOp::new(input, Aggregator::Max, by_dc(), "max(u)".into()).unwrap();
        let e =
            futures::executor::block_on(crate::operator::collect(&mut op, &TaskContext::default()))
                .unwrap_err()
                .to_string();
        assert!(e.contains("float values after integer values"), "{e}");
    }

    fn in_part(rows: &[Row], part: Partition, agg: Aggregator) -> PipeAggOp {
        let reg = aligned().0;
        let input = Box::new(ValuesOp::new(batches(&reg, rows, 2)).with_grid(GRID));
        PipeAggOp::in_partition(input, agg, by_dc(), format!("{agg}(u)"), part).unwrap()
    }

    fn whole_part(index: usize, count: usize) -> Partition {
        Partition {
            index,
            count,
            by: PartitionBy::WholeGroups(by_dc()),
        }
    }

    /// `aligned`'s 3 series in whole groups: no series-id cut within the
    /// slack (n / 4P = 0) at 3 / P = 1, where group a spans it, so by group
    /// range: a (2 series) starts at 0, b where 2 series of 3 are before
    /// it. At P = 2: 2 * 2 / 3 = 1, so a is partition 1's, b partition 2's;
    /// at P = 3: 2 * 3 / 3 = 2, so partition 2 of 3 has no group.
    #[test]
    fn a_partition_of_whole_groups_keeps_and_emits_its_groups_only() {
        let (_, rows) = aligned();
        let a: Vec<Row> = rows.iter().copied().filter(|r| r.0 < 2).collect();
        let b: Vec<Row> = rows.iter().copied().filter(|r| r.0 == 2).collect();
        for agg in incremental() {
            // group a is the first 4 rows of the unpartitioned output, b the rest
            let want = aligned_expected(agg);
            for batch_size in [1, 7] {
                let ctx = TaskContext::with_batch_size(batch_size);
                let got = run(&mut in_part(&a, whole_part(0, 2), agg), &ctx).unwrap();
                assert_rows(&got, &want[..4]);
                let got = run(&mut in_part(&b, whole_part(1, 2), agg), &ctx).unwrap();
                assert_rows(&got, &want[4..]);
                let got = run(&mut in_part(&b, whole_part(2, 3), agg), &ctx).unwrap();
                assert_rows(&got, &want[4..]);
            }
        }
        let op = in_part(&b, whole_part(1, 2), Aggregator::Sum);
        assert_eq!(
            op.display(),
            "PipeAggOp: agg=sum group_by=[dc] buckets=4 partition=2/2 by whole groups"
        );
        // the partition without a group emits nothing (it reads nothing)
        let ctx = TaskContext::default();
        let got = run(&mut in_part(&[], whole_part(1, 3), Aggregator::Sum), &ctx).unwrap();
        assert!(got.is_empty(), "{got:?}");
        // a timeline of another partition's group is an error, not a row
        let err = run(&mut in_part(&rows, whole_part(1, 2), Aggregator::Sum), &ctx)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "series cpu,dc=a,host=1#u of group 0 belongs to another partition's groups"
            ),
            "{err}"
        );
        // only a partition by whole groups of the same tags
        for by in [
            PartitionBy::Series,
            PartitionBy::Group(by_dc()),
            PartitionBy::WholeGroups(GroupBy::All),
        ] {
            let input = Box::new(ValuesOp::empty().with_grid(GRID));
            let part = Partition {
                index: 0,
                count: 2,
                by,
            };
            let Err(err) =
                PipeAggOp::in_partition(input, Aggregator::Sum, by_dc(), "s".into(), part)
            else {
                panic!("a partition that is not by whole groups of dc was accepted");
            };
            assert!(
                err.to_string()
                    .contains("needs a partition of whole groups"),
                "{err}"
            );
        }
    }

    /// An integer selector in a partition by whole groups stays exact, in an
    /// `Int64` output, under the query-wide group id.
    #[test]
    fn integer_selectors_stay_exact_in_a_partition_of_whole_groups() {
        use crate::batch::TimelineBatchBuilder;
        const B: i64 = 9_007_199_254_740_992;
        let reg = aligned().0;
        let typed = |series: &[(u32, &[i64], &[i64])]| {
            let mut b = TimelineBatchBuilder::<i64>::typed(Arc::clone(&reg), 8);
            for (id, times, values) in series {
                b.push_slice(*id, times, values);
            }
            b.finish().unwrap()
        };
        let ctx = TaskContext::default();
        for (index, input, want) in [
            // group a: max(2^53, 2^53 + 1) at 0 and at 10
            (
                0,
                typed(&[(0, &[0, 10], &[B, B + 1]), (1, &[0, 10], &[B + 1, B])]),
                vec![(0u32, 0i64, B + 1), (0, 10, B + 1)],
            ),
            // group b (id 1): i64::MIN at 0
            (1, typed(&[(2, &[0], &[i64::MIN])]), vec![(1, 0, i64::MIN)]),
        ] {
            let input = Box::new(ValuesOp::new(vec![input]).with_grid(GRID));
            let part = whole_part(index, 2);
            let mut op =
                PipeAggOp::in_partition(input, Aggregator::Max, by_dc(), "m".into(), part).unwrap();
            let out = futures::executor::block_on(crate::operator::collect(&mut op, &ctx)).unwrap();
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].value_type(), ValueType::Integer);
            let values = out[0].typed_values::<i64>().unwrap().values().to_vec();
            let got: Vec<(u32, i64, i64)> = (0..values.len())
                .map(|i| (out[0].series_ids()[i], out[0].times()[i], values[i]))
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn every_aggregator_by_hand_at_every_batch_size() {
        let (reg, rows) = aligned();
        for agg in incremental() {
            for chunk in [1, 3, 4096] {
                for batch_size in [1, 7, 4096] {
                    let ctx = TaskContext::with_batch_size(batch_size);
                    let got = run(&mut op(&reg, &rows, chunk, agg), &ctx).unwrap();
                    assert_rows(&got, &aligned_expected(agg));
                }
            }
        }
    }

    #[test]
    fn same_results_as_mt_agg_on_aligned_input() {
        let (reg, rows) = aligned();
        for agg in incremental() {
            let ctx = TaskContext::with_batch_size(3);
            let pipe = run(&mut op(&reg, &rows, 2, agg), &ctx).unwrap();
            let input = Box::new(ValuesOp::new(batches(&reg, &rows, 2)));
            let mut mt = MTAggOp::new(input, agg, by_dc(), "x".into());
            assert_rows(&pipe, &run(&mut mt, &ctx).unwrap());
        }
    }

    #[test]
    fn grid_buckets_add_along_runs_and_divide_after_gaps() {
        let mut out = Vec::new();
        // GRID: 0, 10, 20, 30
        assert_eq!(grid_buckets(&[0, 10, 20, 30], &GRID, &mut out), Ok(()));
        assert_eq!(out, [0, 1, 2, 3]);
        assert_eq!(grid_buckets(&[10, 30], &GRID, &mut out), Ok(()));
        assert_eq!(out, [1, 3]);
        // 25 is off the grid after a gap; 40 is one width after the last bucket.
        assert_eq!(grid_buckets(&[0, 10, 25], &GRID, &mut out), Err(2));
        assert_eq!(grid_buckets(&[20, 30, 40], &GRID, &mut out), Err(2));
        assert_eq!(grid_buckets(&[-10], &GRID, &mut out), Err(0));
        let shifted = BucketGrid { start: -5, ..GRID };
        assert_eq!(grid_buckets(&[-5, 5, 25], &shifted, &mut out), Ok(()));
        assert_eq!(out, [0, 1, 3]);
        let empty = BucketGrid { count: 0, ..GRID };
        assert_eq!(grid_buckets(&[0], &empty, &mut out), Err(0));
    }

    #[test]
    fn sample_by_all_has_one_bucket() {
        let reg = registry(&[("a", "1"), ("b", "2"), ("a", "3")]);
        // SAMPLE BY ALL over [5, 100): every timeline one point at 5.
        let grid = BucketGrid {
            start: 5,
            width: 95,
            count: 1,
        };
        let rows = [(0, 5, Some(1.5)), (1, 5, Some(4.0)), (2, 5, Some(2.5))];
        let input = Box::new(ValuesOp::new(batches(&reg, &rows, 1)).with_grid(grid));
        let mut op = PipeAggOp::new(input, Aggregator::Sum, GroupBy::None, "s".into()).unwrap();
        // 1.5 + 4 + 2.5
        let got = run(&mut op, &TaskContext::default()).unwrap();
        assert_rows(&got, &[(0, 5, Some(8.0))]);
    }

    #[test]
    fn empty_input_and_one_point() {
        let (reg, _) = aligned();
        let ctx = TaskContext::default();
        let mut none = PipeAggOp::new(
            Box::new(ValuesOp::empty().with_grid(GRID)),
            Aggregator::Sum,
            by_dc(),
            "s".into(),
        )
        .unwrap();
        assert_eq!(run(&mut none, &ctx).unwrap(), vec![]);
        let one = run(
            &mut op(&reg, &[(2, 30, Some(-1.0))], 1, Aggregator::Min),
            &ctx,
        )
        .unwrap();
        assert_rows(&one, &[(1, 30, Some(-1.0))]);
    }

    #[test]
    fn off_grid_points_and_percentiles_are_rejected() {
        let (reg, _) = aligned();
        let ctx = TaskContext::default();
        for t in [15, -10, 40] {
            let err = run(
                &mut op(&reg, &[(1, t, Some(1.0))], 1, Aggregator::Sum),
                &ctx,
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("PipeAggOp")
                    && err.contains(&format!("series cpu,dc=a,host=2#u has a point at {t}")),
                "{err}"
            );
        }
        let err = PipeAggOp::new(
            Box::new(ValuesOp::empty().with_grid(GRID)),
            Aggregator::Percentile(500),
            GroupBy::None,
            "p".into(),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("p50 is not"), "{err}");
    }

    #[test]
    fn memory_is_reserved_per_group_and_bucket() {
        let (reg, rows) = aligned();
        // the group table (its size is checked in `group`) is reserved
        // first, then 2 groups x 4 buckets x 13 bytes (sum) = 104 bytes
        let table = Grouping::new(&reg, &by_dc(), "sum(u)").memory_size();
        let ctx = TaskContext::default().with_memory_budget(table + 103);
        let err = run(&mut op(&reg, &rows, 4096, Aggregator::Sum), &ctx).unwrap_err();
        match err {
            EngineError::ResourcesExhausted {
                operator,
                requested,
                ..
            } => assert_eq!((operator.as_str(), requested), ("PipeAggOp", 104)),
            other => panic!("expected ResourcesExhausted, got {other}"),
        }
        // the table alone does not fit
        let ctx = TaskContext::default().with_memory_budget(table - 1);
        match run(&mut op(&reg, &rows, 4096, Aggregator::Sum), &ctx).unwrap_err() {
            EngineError::ResourcesExhausted { operator, hint, .. } => {
                assert_eq!(operator, "PipeAggOp");
                assert!(hint.contains("a table of every group and series"), "{hint}");
            }
            other => panic!("expected ResourcesExhausted, got {other}"),
        }
        let ctx = TaskContext::default().with_memory_budget(table + 104);
        let mut op = op(&reg, &rows, 1, Aggregator::Sum);
        run(&mut op, &ctx).unwrap();
        assert_eq!(op.metrics().peak_bytes, 104);
        assert_eq!(ctx.memory.used(), 0);
    }

    #[test]
    fn display_and_metrics() {
        let (reg, rows) = aligned();
        let grid = BucketGrid { count: 60, ..GRID };
        let input = Box::new(ValuesOp::new(batches(&reg, &rows, 4)).with_grid(grid));
        let mut op = PipeAggOp::new(input, Aggregator::Sum, by_dc(), "s".into()).unwrap();
        assert_eq!(op.display(), "PipeAggOp: agg=sum group_by=[dc] buckets=60");
        run(&mut op, &TaskContext::with_batch_size(4)).unwrap();
        let m = op.metrics();
        assert_eq!((m.rows_in, m.rows_out, m.batches_out), (9, 6, 2));
    }

    #[test]
    fn stops_when_cancelled() {
        let (reg, rows) = aligned();
        assert_stops_when_cancelled(&mut op(&reg, &rows, 4096, Aggregator::Sum));
    }

    #[test]
    fn batches_over_another_registry_are_rejected() {
        let (reg, rows) = aligned();
        let other = registry(&[("a", "1"), ("a", "2"), ("b", "3")]);
        let mut input = batches(&reg, &rows[..2], 4096);
        input.extend(batches(&other, &rows[2..], 4096));
        let mut op = PipeAggOp::new(
            Box::new(ValuesOp::new(input).with_grid(GRID)),
            Aggregator::Sum,
            by_dc(),
            "s".into(),
        )
        .unwrap();
        let err = run(&mut op, &TaskContext::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("different series registries"), "{err}");
    }

    #[test]
    fn the_grid_comes_from_the_child() {
        // a DsAggOp over [0, 40) with 10ns buckets gives GRID to its parent
        let (reg, rows) = aligned();
        let ds = crate::spec::Downsample {
            interval: crate::spec::Interval::Every(10),
            agg: Aggregator::Sum,
            fill: crate::spec::FillPolicy::Value(0.0),
            max_gap: None,
        };
        let values = Box::new(ValuesOp::new(batches(&reg, &rows, 4096)));
        let ds_op = crate::ops::ds_agg::DsAggOp::new(values, ds, Some((0, 40))).unwrap();
        assert_eq!(ds_op.output_grid(), Some(GRID));
        let op = PipeAggOp::new(Box::new(ds_op), Aggregator::Sum, by_dc(), "s".into()).unwrap();
        assert_eq!(op.display(), "PipeAggOp: agg=sum group_by=[dc] buckets=4");
        // without a grid below, the bucket count is unknown until open,
        // and open says what is missing
        let mut op = PipeAggOp::new(
            Box::new(ValuesOp::new(batches(&reg, &rows, 4096))),
            Aggregator::Sum,
            by_dc(),
            "s".into(),
        )
        .unwrap();
        assert_eq!(
            op.display(),
            "PipeAggOp: agg=sum group_by=[dc] buckets=from data"
        );
        let err = run(&mut op, &TaskContext::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("its input (ValuesOp: batches=1) has no bucket grid"),
            "{err}"
        );
    }
}
