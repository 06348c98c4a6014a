//! `GroupedAggOp`: the cross-timeline aggregator for input ordered by group
//! (`docs/architecture.md`, "How a batch flows"), used when interpolation may be needed or the aggregator is
//! not incremental and the scan can deliver timelines group by group.
//!
//! ```text
//!   input (ordered by group id, then series id; a timeline may span batches)
//!   g0:s1 g0:s4 | g0:s4 g1:s2 ...
//!   └── gathered ──┘ └─ g1 arrives: aggregate g0 (interpolating), emit, release
//! ```
//!
//! At most one group is materialized at a time, under a memory reservation.
//! Input that is not ordered by group (a lower group id, or a group coming
//! back) is an execution error, never a wrong answer.

use std::sync::Arc;

use crate::accumulator::AccValue;
use crate::batch::{Timeline, TimelineBatch};
use crate::context::TaskContext;
use crate::each_type;
use crate::error::{EngineError, Result};
use crate::group::{Grouping, GROUPS_HINT};
use crate::interpolate::{display_line, InterpolatingAggregator};
use crate::materialize::{group_label, RowBatcher, TimelineGatherer};
use crate::memory::MemoryReservation;
use crate::operator::Operator;
use crate::ops::driver::{Kernel, UnaryOp};
use crate::ops::pipe_agg::mixed_types;
use crate::registry::SeriesRegistry;
use crate::spec::{Aggregator, GroupBy};
use crate::storage::ValueType;
use crate::value::{selects, ByType};

const NAME: &str = "GroupedAggOp";
const HINT: &str = "it holds every point of one group at a time: narrow the time range or tag \
                    filter, or raise the memory budget";

/// Interpolating aggregation across timelines, one group at a time; see the
/// module docs. Runs under the shared driver ([`UnaryOp`]).
pub type GroupedAggOp = UnaryOp<GroupedAgg>;

/// The plan node of [`GroupedAggOp`]: what it aggregates.
#[derive(Debug, Clone)]
pub struct GroupedAgg {
    agg: Aggregator,
    group_by: GroupBy,
    output_name: String,
    /// No interpolation can be needed: a selector keeps integers exactly.
    aligned: bool,
}

/// The running state of one execution.
pub struct GroupedAggState {
    ctx: TaskContext,
    /// Built from the first input batch.
    groups: Option<State>,
    peak: usize,
}

/// The group table and the group being gathered.
struct State {
    registry: Arc<SeriesRegistry>,
    grouping: Grouping,
    /// Holds the group table until the state is dropped.
    _groups_reserved: MemoryReservation,
    /// The group being gathered.
    current: Option<u32>,
    /// Over the input's integer type for a selector on aligned input, else
    /// over f64.
    work: ByType<Work<f64>, Work<i64>, Work<u64>>,
}

/// The gathered group, its aggregation and the output rows, over `V`.
struct Work<V: AccValue> {
    gatherer: TimelineGatherer<V>,
    aggregator: InterpolatingAggregator<V>,
    out: RowBatcher<V>,
}

impl GroupedAggOp {
    /// Aggregates `input` (ordered by group of `group_by`) across timelines
    /// with `agg`; the output field is `output_name`.
    pub fn new(
        input: Box<dyn Operator>,
        agg: Aggregator,
        group_by: GroupBy,
        output_name: String,
    ) -> Self {
        let kernel = GroupedAgg {
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

impl GroupedAgg {
    fn init_state(
        &self,
        ctx: &TaskContext,
        registry: &Arc<SeriesRegistry>,
        input: ValueType,
    ) -> Result<State> {
        let mut groups_reserved = ctx.memory.reservation(NAME, GROUPS_HINT);
        let grouping = Grouping::reserved(
            registry,
            &self.group_by,
            &self.output_name,
            &mut groups_reserved,
        )?;
        let groups = grouping.groups();
        let exact = self.aligned && selects(self.agg);
        let work = match input {
            ValueType::Integer if exact => ByType::Int(Work::new(self.agg, ctx, groups)),
            ValueType::Unsigned if exact => ByType::UInt(Work::new(self.agg, ctx, groups)),
            _ => ByType::Float(Work::new(self.agg, ctx, groups)),
        };
        Ok(State {
            registry: Arc::clone(registry),
            grouping,
            _groups_reserved: groups_reserved,
            current: None,
            work,
        })
    }
}

impl Kernel for GroupedAgg {
    type State = GroupedAggState;
    const NAME: &'static str = NAME;

    fn display(&self) -> String {
        display_line(NAME, self.agg, &self.group_by)
    }

    fn open(&mut self, ctx: &TaskContext, _: &dyn Operator) -> Result<GroupedAggState> {
        Ok(GroupedAggState {
            ctx: ctx.clone(),
            groups: None,
            peak: 0,
        })
    }

    /// Gathers the timelines of `batch`, aggregating each group it finishes.
    fn consume(&self, run: &mut GroupedAggState, batch: &TimelineBatch) -> Result<()> {
        if run.groups.is_none() {
            run.groups = Some(self.init_state(&run.ctx, batch.registry(), batch.value_type())?);
        }
        let Some(state) = run.groups.as_mut() else {
            return Ok(());
        };
        if !Arc::ptr_eq(&state.registry, batch.registry()) {
            return Err(EngineError::execution(
                NAME,
                "input batches refer to different series registries",
            ));
        }
        let (grouping, current, ctx) = (&state.grouping, &mut state.current, &run.ctx);
        let reserved = each_type!(&mut state.work, w => {
            w.consume(batch, grouping, current, ctx)?;
            w.gatherer.reserved() + w.aggregator.reserved()
        });
        run.peak = run.peak.max(reserved);
        Ok(())
    }

    fn finish(&self, run: &mut GroupedAggState) -> Result<()> {
        if let Some(state) = run.groups.as_mut() {
            let (registry, current) = (&state.registry, state.current.take());
            let peak = each_type!(&mut state.work, w => {
                if let Some(group) = current {
                    w.finish_group(group, registry)?;
                }
                w.out.flush()?;
                let peak = w.gatherer.peak() + w.aggregator.peak();
                w.aggregator.release();
                peak
            });
            run.peak = run.peak.max(peak);
        }
        Ok(())
    }

    fn emit(&self, run: &mut GroupedAggState, _: bool) -> Result<Option<TimelineBatch>> {
        Ok(run
            .groups
            .as_mut()
            .and_then(|s| each_type!(&mut s.work, w => w.out.pop())))
    }

    fn peak_bytes(&self, run: &GroupedAggState) -> usize {
        run.peak
    }
}

impl<V: AccValue> Work<V> {
    fn new(agg: Aggregator, ctx: &TaskContext, groups: &Arc<SeriesRegistry>) -> Self {
        Work {
            gatherer: TimelineGatherer::typed(NAME, ctx.memory.reservation(NAME, HINT)),
            aggregator: InterpolatingAggregator::typed(agg, ctx.memory.reservation(NAME, HINT)),
            out: RowBatcher::typed(Arc::clone(groups), ctx.batch_size),
        }
    }

    /// Gathers the timelines of `batch` into the group `current`, first
    /// aggregating the group each new one finishes.
    fn consume(
        &mut self,
        batch: &TimelineBatch,
        grouping: &Grouping,
        current: &mut Option<u32>,
        ctx: &TaskContext,
    ) -> Result<()> {
        let Some(timelines) = batch.timelines_as::<V>() else {
            return Err(mixed_types(NAME, batch, V::VALUE_TYPE));
        };
        for tl in timelines {
            let group = grouping.group_of(tl.series_id);
            match *current {
                Some(cur) if group == cur => self.check_series_order(&tl, grouping, cur)?,
                Some(cur) if group < cur => {
                    let groups = grouping.groups();
                    return Err(EngineError::execution(
                        NAME,
                        format!(
                            "input is not ordered by group key (group {} after {})",
                            group_label(groups, group),
                            group_label(groups, cur)
                        ),
                    ));
                }
                Some(cur) => {
                    ctx.cancel.check()?;
                    self.finish_group(cur, batch.registry())?;
                }
                None => {}
            }
            *current = Some(group);
            self.gatherer.push(&tl)?;
        }
        Ok(())
    }

    /// Within a group, timelines must come in ascending series id (a run
    /// of the same id continues the previous timeline).
    fn check_series_order(
        &self,
        tl: &Timeline<'_, V>,
        grouping: &Grouping,
        group: u32,
    ) -> Result<()> {
        match self.gatherer.last() {
            Some((last, _)) if tl.series_id < last => Err(EngineError::execution(
                NAME,
                format!(
                    "input is not ordered by series id within group {} (series {} after {})",
                    group_label(grouping.groups(), group),
                    tl.series_id,
                    last
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Aggregates the gathered group into output rows and releases it.
    fn finish_group(&mut self, group: u32, registry: &Arc<SeriesRegistry>) -> Result<()> {
        let gathered = self.gatherer.finish(registry)?;
        let Some(timelines) = gathered.timelines_as::<V>() else {
            return Err(mixed_types(NAME, &gathered, V::VALUE_TYPE));
        };
        let timelines: Vec<Timeline<'_, V>> = timelines.collect();
        let out = &mut self.out;
        self.aggregator
            .aggregate(&timelines, |t, v| out.push(group, t, v))?;
        drop(timelines);
        drop(gathered);
        self.gatherer.release();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::materialize::test_support::*;
    use crate::ops::values::ValuesOp;

    fn by_dc() -> GroupBy {
        GroupBy::Tags(vec!["dc".into()])
    }

    fn op(reg: &Arc<SeriesRegistry>, rows: &[Row], chunk: usize, agg: Aggregator) -> GroupedAggOp {
        let input = Box::new(ValuesOp::new(batches(reg, rows, chunk)));
        GroupedAggOp::new(input, agg, by_dc(), format!("{agg}(u)"))
    }

    fn run_agg(reg: &Arc<SeriesRegistry>, rows: &[Row], agg: Aggregator) -> Result<Vec<Row>> {
        run(&mut op(reg, rows, 4096, agg), &TaskContext::default())
    }

    #[test]
    fn every_aggregator_by_hand_at_every_batch_size() {
        let (reg, rows) = misaligned();
        for agg in all_aggregators() {
            for chunk in [1, 3, 4096] {
                for batch_size in [1, 7, 4096] {
                    let ctx = TaskContext::with_batch_size(batch_size);
                    let got = run(&mut op(&reg, &rows, chunk, agg), &ctx).unwrap();
                    assert_rows(&got, &misaligned_expected(agg));
                }
            }
        }
    }

    #[test]
    fn nan_and_null_inputs() {
        let (reg, rows) = nan_null();
        let nan = f64::NAN;
        // a at 10: s0's lerp from NaN is NaN (skipped), s3 gives 1.
        // b at 5 and 10: only nulls (s1's lerp next to its null, s2's null).
        let sum = run_agg(&reg, &rows, Aggregator::Sum).unwrap();
        assert_rows(
            &sum,
            &[
                (0, 0, Some(nan)),
                (0, 10, Some(1.0)),
                (0, 20, Some(4.0)),
                (1, 0, Some(1.0)),
                (1, 5, None),
                (1, 10, None),
                (1, 15, Some(6.0)),
                (1, 20, Some(3.0)),
            ],
        );
        let p50 = run_agg(&reg, &rows, Aggregator::Percentile(500)).unwrap();
        assert_rows(&p50, &sum);
        // count: a at 0 saw only NaN -> NaN; b at 5 / 10 saw only a null.
        let count = run_agg(&reg, &rows, Aggregator::Count).unwrap();
        assert_rows(
            &count,
            &[
                (0, 0, Some(nan)),
                (0, 10, Some(1.0)),
                (0, 20, Some(1.0)),
                (1, 0, Some(1.0)),
                (1, 5, None),
                (1, 10, None),
                (1, 15, Some(1.0)),
                (1, 20, Some(1.0)),
            ],
        );
        // pfsum at b 5: s1's previous 1.0 + s2's null -> 1; at 10: s1's null
        // and s2's previous (null) -> null; at 15: s1's previous (null) + 6.
        let pfsum = run_agg(&reg, &rows, Aggregator::PfSum).unwrap();
        assert_rows(
            &pfsum,
            &[
                (0, 0, Some(nan)),
                (0, 10, Some(1.0)),
                (0, 20, Some(4.0)),
                (1, 0, Some(1.0)),
                (1, 5, Some(1.0)),
                (1, 10, None),
                (1, 15, Some(6.0)),
                (1, 20, Some(3.0)),
            ],
        );
    }

    #[test]
    fn empty_input_and_one_point() {
        let (reg, _) = misaligned();
        let ctx = TaskContext::default();
        let mut none = GroupedAggOp::new(
            Box::new(ValuesOp::empty()),
            Aggregator::Sum,
            by_dc(),
            "s".into(),
        );
        assert_eq!(run(&mut none, &ctx).unwrap(), vec![]);
        let empty = ValuesOp::new(vec![TimelineBatch::empty(Arc::clone(&reg))]);
        let mut op = GroupedAggOp::new(Box::new(empty), Aggregator::Sum, by_dc(), "s".into());
        assert_eq!(run(&mut op, &ctx).unwrap(), vec![]);
        let one = run_agg(&reg, &[(1, 42, Some(2.5))], Aggregator::Dev).unwrap();
        assert_rows(&one, &[(0, 42, Some(0.0))]);
    }

    #[test]
    fn unordered_input_is_an_error() {
        let (reg, rows) = misaligned();
        // group b (series 2) before group a
        let mut swapped = vec![rows[6]];
        swapped.extend_from_slice(&rows[..6]);
        let err = run_agg(&reg, &swapped, Aggregator::Sum)
            .unwrap_err()
            .to_string();
        assert!(err.contains("GroupedAggOp"), "{err}");
        assert!(
            err.contains("input is not ordered by group key (group dc=a after dc=b)"),
            "{err}"
        );
        // group a comes back after b, across batches
        let mut back = rows.clone();
        back.push((0, 50, Some(1.0)));
        let mut op = op(&reg, &back, 2, Aggregator::Sum);
        let err = run(&mut op, &TaskContext::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("(group dc=a after dc=b)"), "{err}");
        // series 1 before series 0 within group a
        let mut desc = rows[3..6].to_vec();
        desc.extend_from_slice(&rows[..3]);
        let err = run_agg(&reg, &desc, Aggregator::Sum)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not ordered by series id within group dc=a"),
            "{err}"
        );
    }

    #[test]
    fn memory_budget_names_the_operator() {
        let (reg, rows) = misaligned();
        let table = Grouping::new(&reg, &by_dc(), "sum(u)").memory_size();
        // the group table alone does not fit
        let ctx = TaskContext::default().with_memory_budget(table - 1);
        match run(&mut op(&reg, &rows, 4096, Aggregator::Sum), &ctx).unwrap_err() {
            EngineError::ResourcesExhausted { operator, hint, .. } => {
                assert_eq!(operator, "GroupedAggOp");
                assert!(hint.contains("a table of every group and series"), "{hint}");
            }
            other => panic!("expected ResourcesExhausted, got {other}"),
        }
        // the table fits, the points of a group do not
        let ctx = TaskContext::default().with_memory_budget(table + 64);
        let err = run(&mut op(&reg, &rows, 4096, Aggregator::Sum), &ctx).unwrap_err();
        match err {
            EngineError::ResourcesExhausted { operator, hint, .. } => {
                assert_eq!(operator, "GroupedAggOp");
                assert!(
                    hint.contains("narrow the time range or tag filter"),
                    "{hint}"
                );
            }
            other => panic!("expected ResourcesExhausted, got {other}"),
        }
    }

    #[test]
    fn display_and_metrics() {
        let (reg, rows) = misaligned();
        let mut op = op(&reg, &rows, 3, Aggregator::Percentile(990));
        assert_eq!(
            op.display(),
            "GroupedAggOp: agg=p99 group_by=[dc] interpolation=lerp"
        );
        let out = run(&mut op, &TaskContext::with_batch_size(4)).unwrap();
        let m = op.metrics();
        assert_eq!((m.rows_in, m.rows_out, m.batches_out), (7, 6, 2));
        assert_eq!(out.len(), 6);
        assert!(m.peak_bytes > 0);
    }

    #[test]
    fn stops_when_cancelled() {
        let (reg, rows) = misaligned();
        assert_stops_when_cancelled(&mut op(&reg, &rows, 1, Aggregator::Sum));
    }
}
