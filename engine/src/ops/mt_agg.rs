//! `MTAggOp`: the materializing cross-timeline aggregator
//! (`docs/architecture.md`, "How a batch flows"), the
//! fallback when interpolation may be needed (or the aggregator is not
//! incremental) and the input is not ordered by group. It is what HiTSDB did
//! before its streaming engine.
//!
//! ```text
//!   open..end of input: gather every timeline (reserved)   ──▶ one batch
//!   then: runs sorted by (group id, series id)
//!         group by group: interpolating aggregation ──▶ output batches
//! ```
//!
//! Memory is O(points scanned); the error when the budget is exceeded says
//! how to let the query stream through `PipeAggOp` instead.

use std::sync::Arc;

use crate::accumulator::AccValue;
use crate::batch::{Timeline, TimelineBatch};
use crate::context::TaskContext;
use crate::each_type;
use crate::error::{EngineError, Result};
use crate::group::Grouping;
use crate::interpolate::{display_line, InterpolatingAggregator};
use crate::materialize::{RowBatcher, TimelineGatherer};
use crate::memory::MemoryReservation;
use crate::operator::Operator;
use crate::ops::driver::{Kernel, UnaryOp};
use crate::ops::pipe_agg::mixed_types;
use crate::registry::SeriesRegistry;
use crate::spec::{Aggregator, GroupBy};
use crate::storage::ValueType;
use crate::value::{selects, ByType};

const NAME: &str = "MTAggOp";
const HINT: &str = "it holds every point of the query: add SAMPLE BY <interval> FILL(zero) so the \
                    query can stream through PipeAggOp, narrow the time range or tag filter, or \
                    raise the memory budget";

/// Materializing, interpolating aggregation across timelines; see the
/// module docs. Runs under the shared driver ([`UnaryOp`]).
pub type MTAggOp = UnaryOp<MTAgg>;

/// The plan node of [`MTAggOp`]: what it aggregates.
#[derive(Debug, Clone)]
pub struct MTAgg {
    agg: Aggregator,
    group_by: GroupBy,
    output_name: String,
    /// No interpolation can be needed: a selector keeps integers exactly.
    aligned: bool,
}

/// The running state of one execution: gathering, then output.
pub struct MTAggState {
    ctx: TaskContext,
    registry: Option<Arc<SeriesRegistry>>,
    /// Built at the first batch: over the input's integer type for a
    /// selector on aligned input, else over f64.
    work: Option<ByType<Work<f64>, Work<i64>, Work<u64>>>,
    peak: usize,
}

/// The gathered points and, once gathered, the output, over `V`.
struct Work<V: AccValue> {
    gatherer: TimelineGatherer<V>,
    output: Option<Output<V>>,
}

/// The aggregation phase, once every timeline is gathered.
struct Output<V: AccValue> {
    gathered: TimelineBatch,
    /// Runs of `gathered` in (group id, series id) order.
    order: Vec<RunKey>,
    /// Next position in `order`.
    pos: usize,
    aggregator: InterpolatingAggregator<V>,
    out: RowBatcher<V>,
    /// Holds the group table until the state is dropped.
    _groups_reserved: MemoryReservation,
}

impl MTAggOp {
    /// Aggregates `input` across timelines with `agg`, grouped by
    /// `group_by`; the output field is `output_name`.
    pub fn new(
        input: Box<dyn Operator>,
        agg: Aggregator,
        group_by: GroupBy,
        output_name: String,
    ) -> Self {
        let kernel = MTAgg {
            agg,
            group_by,
            output_name,
            aligned: false,
        };
        UnaryOp::with_kernel(input, kernel)
    }

    /// Declares that the input has a value at every timestamp of each
    /// timeline's span, so no interpolation can be needed
    /// ([`downsample_interpolation`](crate::strategy::downsample_interpolation)):
    /// a selector over an integer field then stays exact, in the field's
    /// type (`docs/semantics.md` §12).
    pub fn with_aligned_input(mut self, aligned: bool) -> Self {
        self.kernel_mut().aligned = aligned;
        self
    }
}

impl MTAgg {
    /// The gatherer for input of type `input`.
    fn work(&self, ctx: &TaskContext, input: ValueType) -> ByType<Work<f64>, Work<i64>, Work<u64>> {
        let exact = self.aligned && selects(self.agg);
        match input {
            ValueType::Integer if exact => ByType::Int(Work::new(ctx)),
            ValueType::Unsigned if exact => ByType::UInt(Work::new(ctx)),
            _ => ByType::Float(Work::new(ctx)),
        }
    }
}

impl<V: AccValue> Work<V> {
    fn new(ctx: &TaskContext) -> Self {
        Work {
            gatherer: TimelineGatherer::typed(NAME, ctx.memory.reservation(NAME, HINT)),
            output: None,
        }
    }

    /// Ends the gathering phase: orders the timelines by group.
    fn start_output(
        &mut self,
        plan: &MTAgg,
        ctx: &TaskContext,
        registry: &Arc<SeriesRegistry>,
    ) -> Result<()> {
        let gatherer = &mut self.gatherer;
        let gathered = gatherer.finish(registry)?;
        gatherer.reserve_extra(gathered.num_timelines() * std::mem::size_of::<RunKey>())?;
        let mut groups_reserved = ctx.memory.reservation(NAME, HINT);
        let grouping = Grouping::reserved(
            registry,
            &plan.group_by,
            &plan.output_name,
            &mut groups_reserved,
        )?;
        let mut order: Vec<RunKey> = gathered
            .timelines()
            .enumerate()
            .map(|(run, tl)| (grouping.group_of(tl.series_id), tl.series_id, run))
            .collect();
        order.sort_unstable();
        if let Some(w) = order.windows(2).find(|w| w[0].1 == w[1].1) {
            let id = w[0].1;
            let series = registry.get(id).map_or_else(|| id.to_string(), |s| s.key());
            return Err(EngineError::execution(
                NAME,
                format!(
                    "timeline {series} arrives in two separate runs: the input must keep each \
                     timeline contiguous"
                ),
            ));
        }
        let out = RowBatcher::typed(Arc::clone(grouping.groups()), ctx.batch_size);
        let reservation = ctx.memory.reservation(NAME, HINT);
        let aggregator = InterpolatingAggregator::typed(plan.agg, reservation);
        self.output = Some(Output {
            gathered,
            order,
            pos: 0,
            aggregator,
            out,
            _groups_reserved: groups_reserved,
        });
        Ok(())
    }

    /// Aggregates groups until an output batch is ready or every group is
    /// done (then cuts the last batch and releases the gathered points);
    /// returns the peak of the reservations.
    fn drain(&mut self, ctx: &TaskContext) -> Result<usize> {
        let Some(o) = self.output.as_mut() else {
            return Ok(0);
        };
        while !o.out.has_ready() && o.pos < o.order.len() {
            ctx.cancel.check()?;
            let group = o.order[o.pos].0;
            let end = o.pos + o.order[o.pos..].partition_point(|k| k.0 == group);
            let mut timelines: Vec<Timeline<'_, V>> = Vec::with_capacity(end - o.pos);
            for &(_, _, run) in &o.order[o.pos..end] {
                let tl = o.gathered.timeline_as::<V>(run);
                timelines.push(tl.ok_or_else(|| mixed_types(NAME, &o.gathered, V::VALUE_TYPE))?);
            }
            let out = &mut o.out;
            o.aggregator
                .aggregate(&timelines, |t, v| out.push(group, t, v))?;
            o.pos = end;
        }
        let peak = o.aggregator.peak() + self.gatherer.peak();
        if o.pos == o.order.len() {
            o.out.flush()?;
            o.order = Vec::new();
            o.gathered = TimelineBatch::empty(Arc::clone(o.gathered.registry()));
            o.aggregator.release();
            self.gatherer.release();
        }
        Ok(peak)
    }

    fn pop(&mut self) -> Option<TimelineBatch> {
        self.output.as_mut().and_then(|o| o.out.pop())
    }
}

impl Kernel for MTAgg {
    type State = MTAggState;
    const NAME: &'static str = NAME;

    fn display(&self) -> String {
        display_line(NAME, self.agg, &self.group_by)
    }

    fn open(&mut self, ctx: &TaskContext, _: &dyn Operator) -> Result<MTAggState> {
        Ok(MTAggState {
            ctx: ctx.clone(),
            registry: None,
            work: None,
            peak: 0,
        })
    }

    /// Gathers every timeline of `batch`.
    fn consume(&self, s: &mut MTAggState, batch: &TimelineBatch) -> Result<()> {
        let registry = s
            .registry
            .get_or_insert_with(|| Arc::clone(batch.registry()));
        if !Arc::ptr_eq(registry, batch.registry()) {
            return Err(EngineError::execution(
                NAME,
                "input batches refer to different series registries",
            ));
        }
        let ctx = &s.ctx;
        let work = s
            .work
            .get_or_insert_with(|| self.work(ctx, batch.value_type()));
        let reserved = each_type!(work, w => {
            let Some(timelines) = batch.timelines_as() else {
                return Err(mixed_types(NAME, batch, w.gatherer_type()));
            };
            for tl in timelines {
                w.gatherer.push(&tl)?;
            }
            w.gatherer.reserved()
        });
        s.peak = s.peak.max(reserved);
        Ok(())
    }

    fn finish(&self, s: &mut MTAggState) -> Result<()> {
        let (Some(registry), Some(work)) = (s.registry.as_ref(), s.work.as_mut()) else {
            return Ok(());
        };
        each_type!(work, w => w.start_output(self, &s.ctx, registry))
    }

    fn emit(&self, s: &mut MTAggState, input_done: bool) -> Result<Option<TimelineBatch>> {
        let Some(work) = s.work.as_mut() else {
            return Ok(None);
        };
        if let Some(batch) = each_type!(&mut *work, w => w.pop()) {
            return Ok(Some(batch));
        }
        if !input_done {
            return Ok(None);
        }
        let peak = each_type!(&mut *work, w => w.drain(&s.ctx)?);
        s.peak = s.peak.max(peak);
        Ok(each_type!(work, w => w.pop()))
    }

    fn peak_bytes(&self, s: &MTAggState) -> usize {
        s.peak
    }
}

impl<V: AccValue> Work<V> {
    /// The type gathered.
    fn gatherer_type(&self) -> ValueType {
        V::VALUE_TYPE
    }
}

/// (group id, series id, run index in the gathered batch).
type RunKey = (u32, u32, usize);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::materialize::test_support::*;
    use crate::ops::values::ValuesOp;

    fn by_dc() -> GroupBy {
        GroupBy::Tags(vec!["dc".into()])
    }

    /// `rows` sorted by series id, as a plain scan delivers them.
    fn by_id(rows: &[Row]) -> Vec<Row> {
        let mut rows = rows.to_vec();
        rows.sort_by_key(|r| (r.0, r.1));
        rows
    }

    fn op(reg: &Arc<SeriesRegistry>, rows: &[Row], chunk: usize, agg: Aggregator) -> MTAggOp {
        let input = Box::new(ValuesOp::new(batches(reg, rows, chunk)));
        MTAggOp::new(input, agg, by_dc(), format!("{agg}(u)"))
    }

    fn run_agg(reg: &Arc<SeriesRegistry>, rows: &[Row], agg: Aggregator) -> Result<Vec<Row>> {
        run(&mut op(reg, rows, 4096, agg), &TaskContext::default())
    }

    #[test]
    fn every_aggregator_by_hand_at_every_batch_size() {
        let (reg, rows) = misaligned();
        // Group b's series first: MTAggOp does not need group order.
        let mut rows_b_first = vec![rows[6]];
        rows_b_first.extend_from_slice(&rows[..6]);
        for agg in all_aggregators() {
            for input in [&rows, &rows_b_first] {
                for chunk in [1, 3, 4096] {
                    for batch_size in [1, 7, 4096] {
                        let ctx = TaskContext::with_batch_size(batch_size);
                        let got = run(&mut op(&reg, input, chunk, agg), &ctx).unwrap();
                        assert_rows(&got, &misaligned_expected(agg));
                    }
                }
            }
        }
    }

    #[test]
    fn nan_and_null_inputs_in_series_id_order() {
        let (reg, rows) = nan_null();
        let rows = by_id(&rows);
        let nan = f64::NAN;
        // Same contributions as in GroupedAggOp's test: a at 0 only NaN, a at
        // 10 NaN (lerp from NaN) and 1; b at 5 and 10 only nulls.
        let sum = run_agg(&reg, &rows, Aggregator::Sum).unwrap();
        let expected = [
            (0, 0, Some(nan)),
            (0, 10, Some(1.0)),
            (0, 20, Some(4.0)),
            (1, 0, Some(1.0)),
            (1, 5, None),
            (1, 10, None),
            (1, 15, Some(6.0)),
            (1, 20, Some(3.0)),
        ];
        assert_rows(&sum, &expected);
        // mimmax: s0 contributes nothing at 10, s1 nothing at 5 and 15.
        let mimmax = run_agg(&reg, &rows, Aggregator::MimMax).unwrap();
        assert_rows(&mimmax, &expected);
        // p90 at a 10: [NaN, 1] -> NaN skipped -> 1.
        let p90 = run_agg(&reg, &rows, Aggregator::Percentile(900)).unwrap();
        assert_rows(&p90, &expected);
        // first at b 5: s1's zim 0.0 comes before s2's null.
        let first = run_agg(&reg, &rows, Aggregator::First).unwrap();
        assert_eq!(first[4], (1, 5, Some(0.0)));
    }

    #[test]
    fn empty_input_and_one_point() {
        let (reg, _) = misaligned();
        let ctx = TaskContext::default();
        let mut none = MTAggOp::new(
            Box::new(ValuesOp::empty()),
            Aggregator::Sum,
            by_dc(),
            "s".into(),
        );
        assert_eq!(run(&mut none, &ctx).unwrap(), vec![]);
        let empty = ValuesOp::new(vec![TimelineBatch::empty(Arc::clone(&reg))]);
        let mut op = MTAggOp::new(Box::new(empty), Aggregator::Sum, by_dc(), "s".into());
        assert_eq!(run(&mut op, &ctx).unwrap(), vec![]);
        let one = run_agg(&reg, &[(2, -7, Some(2.5))], Aggregator::Percentile(500)).unwrap();
        assert_rows(&one, &[(1, -7, Some(2.5))]);
    }

    #[test]
    fn a_timeline_in_two_separate_runs_is_an_error() {
        let (reg, rows) = misaligned();
        let mut split = rows.clone();
        split.push((0, 50, Some(1.0)));
        let err = run_agg(&reg, &split, Aggregator::Sum)
            .unwrap_err()
            .to_string();
        assert!(err.contains("MTAggOp"), "{err}");
        assert!(
            err.contains("timeline cpu,dc=a,host=1#u arrives in two separate runs"),
            "{err}"
        );
    }

    #[test]
    fn memory_budget_names_the_operator_and_suggests_a_fill() {
        let (reg, rows) = misaligned();
        let ctx = TaskContext::default().with_memory_budget(100);
        let err = run(&mut op(&reg, &rows, 1, Aggregator::Avg), &ctx).unwrap_err();
        match err {
            EngineError::ResourcesExhausted { operator, hint, .. } => {
                assert_eq!(operator, "MTAggOp");
                assert!(hint.contains("SAMPLE BY <interval> FILL(zero)"), "{hint}");
            }
            other => panic!("expected ResourcesExhausted, got {other}"),
        }
    }

    #[test]
    fn display_and_metrics() {
        let (reg, rows) = misaligned();
        let mut op = MTAggOp::new(
            Box::new(ValuesOp::new(batches(&reg, &rows, 2))),
            Aggregator::Sum,
            GroupBy::All,
            "sum(u)".into(),
        );
        assert_eq!(
            op.display(),
            "MTAggOp: agg=sum group_by=* interpolation=lerp"
        );
        // Every timeline its own group: its own points back.
        let out = run(&mut op, &TaskContext::with_batch_size(3)).unwrap();
        assert_rows(&out, &rows);
        let m = op.metrics();
        assert_eq!((m.rows_in, m.rows_out, m.batches_out), (7, 7, 3));
        assert!(m.peak_bytes >= 7 * crate::materialize::BYTES_PER_POINT);
    }

    #[test]
    fn stops_when_cancelled() {
        let (reg, rows) = misaligned();
        assert_stops_when_cancelled(&mut op(&reg, &rows, 4096, Aggregator::Sum));
    }
}
