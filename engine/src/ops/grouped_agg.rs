//! `GroupedAggOp`: the cross-timeline aggregator for input ordered by group
//! (DESIGN §4), used when interpolation may be needed or the aggregator is
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

use async_trait::async_trait;

use crate::batch::{Timeline, TimelineBatch};
use crate::context::TaskContext;
use crate::error::{EngineError, Result};
use crate::group::Grouping;
use crate::interpolate::{interpolation_name, InterpolatingAggregator};
use crate::materialize::{group_label, RowBatcher, TimelineGatherer};
use crate::metrics::OperatorMetrics;
use crate::operator::Operator;
use crate::registry::SeriesRegistry;
use crate::spec::{Aggregator, GroupBy};

const NAME: &str = "GroupedAggOp";
const HINT: &str = "it holds every point of one group at a time: narrow the time range or tag \
                    filter, or raise the memory budget";

/// Interpolating aggregation across timelines, one group at a time; see the
/// module docs.
pub struct GroupedAggOp {
    input: Box<dyn Operator>,
    agg: Aggregator,
    group_by: GroupBy,
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
    /// The group being gathered.
    current: Option<u32>,
    gatherer: TimelineGatherer,
    aggregator: InterpolatingAggregator,
    out: RowBatcher,
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
        GroupedAggOp {
            input,
            agg,
            group_by,
            output_name,
            ctx: None,
            state: None,
            input_done: false,
            metrics: OperatorMetrics::default(),
        }
    }

    fn init_state(&self, registry: &Arc<SeriesRegistry>) -> State {
        let ctx = self
            .ctx
            .as_ref()
            .expect("GroupedAggOp::next called before open");
        let grouping = Grouping::new(registry, &self.group_by, &self.output_name);
        let out = RowBatcher::new(Arc::clone(grouping.groups()), ctx.batch_size);
        State {
            registry: Arc::clone(registry),
            grouping,
            current: None,
            gatherer: TimelineGatherer::new(NAME, ctx.memory.reservation(NAME, HINT)),
            aggregator: InterpolatingAggregator::new(self.agg, ctx.memory.reservation(NAME, HINT)),
            out,
        }
    }

    /// Gathers the timelines of `batch`, aggregating each group it finishes.
    fn consume(&mut self, batch: &TimelineBatch) -> Result<()> {
        if self.state.is_none() {
            self.state = Some(self.init_state(batch.registry()));
        }
        let state = self.state.as_mut().expect("initialized above");
        if !Arc::ptr_eq(&state.registry, batch.registry()) {
            return Err(EngineError::execution(
                NAME,
                "input batches refer to different series registries",
            ));
        }
        for tl in batch.timelines() {
            let group = state.grouping.group_of(tl.series_id);
            match state.current {
                Some(cur) if group == cur => state.check_series_order(&tl)?,
                Some(cur) if group < cur => {
                    let groups = state.grouping.groups();
                    return Err(EngineError::execution(
                        NAME,
                        format!(
                            "input is not ordered by group key (group {} after {})",
                            group_label(groups, group),
                            group_label(groups, cur)
                        ),
                    ));
                }
                Some(_) => {
                    self.ctx.as_ref().map_or(Ok(()), |c| c.cancel.check())?;
                    state.finish_group()?;
                }
                None => {}
            }
            state.current = Some(group);
            state.gatherer.push(&tl)?;
        }
        self.metrics
            .record_bytes(state.gatherer.reserved() + state.aggregator.reserved());
        Ok(())
    }
}

impl State {
    /// Within a group, timelines must come in ascending series id (a run
    /// of the same id continues the previous timeline).
    fn check_series_order(&self, tl: &Timeline<'_>) -> Result<()> {
        match self.gatherer.last() {
            Some((last, _)) if tl.series_id < last => Err(EngineError::execution(
                NAME,
                format!(
                    "input is not ordered by series id within group {} (series {} after {})",
                    group_label(self.grouping.groups(), self.current.unwrap_or(0)),
                    tl.series_id,
                    last
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Aggregates the gathered group into output rows and releases it.
    fn finish_group(&mut self) -> Result<()> {
        let Some(group) = self.current.take() else {
            return Ok(());
        };
        let gathered = self.gatherer.finish(&self.registry)?;
        let timelines: Vec<Timeline<'_>> = gathered.timelines().collect();
        let out = &mut self.out;
        self.aggregator
            .aggregate(&timelines, |t, v| out.push(group, t, v))?;
        drop(timelines);
        drop(gathered);
        self.gatherer.release();
        Ok(())
    }
}

#[async_trait]
impl Operator for GroupedAggOp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn display(&self) -> String {
        format!(
            "GroupedAggOp: agg={} group_by={} interpolation={}",
            self.agg,
            self.group_by,
            interpolation_name(self.agg.interpolation())
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
                return Ok(None);
            }
            let batch = self.input.next().await?;
            if let Some(ctx) = &self.ctx {
                ctx.cancel.check()?;
            }
            let started = self.metrics.start();
            match batch {
                Some(b) => {
                    self.metrics.record_in(b.num_rows());
                    self.consume(&b)?;
                }
                None => {
                    self.input_done = true;
                    if let Some(state) = self.state.as_mut() {
                        state.finish_group()?;
                        state.out.flush()?;
                        let peak = state.gatherer.peak() + state.aggregator.peak();
                        self.metrics.record_bytes(peak);
                    }
                }
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
