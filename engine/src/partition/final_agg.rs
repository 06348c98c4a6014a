//! `FinalAggOp`: the final step of a partitioned streaming aggregation. It
//! runs its [`PartialAggOp`] partitions as concurrent tasks, reads each
//! partition's partial states back from their Arrow form, merges them in
//! partition order (deterministic sums for a given partition count) and
//! emits the final values in (group, time) order, the batches `PipeAggOp`
//! would emit over all the timelines.

use std::sync::Arc;

use async_trait::async_trait;

use crate::batch::TimelineBatch;
use crate::context::{CancellationToken, TaskContext};
use crate::each_type;
use crate::error::{EngineError, Result};
use crate::materialize::RowBatcher;
use crate::memory::MemoryReservation;
use crate::metrics::OperatorMetrics;
use crate::operator::Operator;
use crate::partial::{PartialStates, StateValue};
use crate::spec::{Aggregator, GroupBy};
use crate::storage::ValueType;
use crate::value::ByType;

use super::partial_agg::{PartialAggOp, PartialOutput};
use super::tasks::{first_error, run_all};

const NAME: &str = "FinalAggOp";

/// A partition back from its task, with its output.
type Ran = (PartialAggOp, Result<PartialOutput>);

/// Merges the partial states of its partitions; see the module docs.
pub struct FinalAggOp {
    agg: Aggregator,
    group_by: GroupBy,
    /// `None` while the partition runs in its task.
    partitions: Vec<Option<PartialAggOp>>,
    ctx: Option<TaskContext>,
    /// The partitions' token, a child of the query's.
    cancel: Option<CancellationToken>,
    emit: Option<Emit>,
    done: bool,
    metrics: OperatorMetrics,
}

/// The merged states being emitted.
struct Emit {
    states: PartialStates,
    cursor: usize,
    /// Rows of the states' value type.
    out: ByType<RowBatcher<f64>, RowBatcher<i64>, RowBatcher<u64>>,
    _reservation: MemoryReservation,
}

impl FinalAggOp {
    /// The final step over `partitions` (at least one), which aggregate
    /// with `agg` by `group_by`.
    pub fn new(partitions: Vec<PartialAggOp>, agg: Aggregator, group_by: GroupBy) -> Result<Self> {
        if partitions.is_empty() {
            return Err(EngineError::InvalidArgument(format!(
                "{NAME} needs at least one partition"
            )));
        }
        Ok(FinalAggOp {
            agg,
            group_by,
            partitions: partitions.into_iter().map(Some).collect(),
            ctx: None,
            cancel: None,
            emit: None,
            done: false,
            metrics: OperatorMetrics::default(),
        })
    }

    /// Runs every partition, puts them back (for EXPLAIN ANALYZE), and
    /// merges their states; `None` when no partition had a timeline.
    async fn run_partitions(&mut self) -> Result<Option<Emit>> {
        let ctx = self
            .ctx
            .clone()
            .ok_or_else(|| EngineError::execution(NAME, "next called before open"))?;
        let cancel = ctx.cancel.child();
        self.cancel = Some(cancel.clone());
        let part_ctx = TaskContext {
            cancel: cancel.clone(),
            ..ctx.clone()
        };
        let mut tasks = Vec::with_capacity(self.partitions.len());
        for slot in &mut self.partitions {
            let mut op = slot.take().ok_or_else(|| {
                EngineError::execution(NAME, "a partition is missing (run twice?)")
            })?;
            let pctx = part_ctx.clone();
            tasks.push(Box::pin(async move {
                let out = op.run_partial(&pctx).await;
                (op, out)
            }) as futures::future::BoxFuture<'static, Ran>);
        }
        let ran = run_all(&ctx, &cancel, NAME, tasks, |(_, out): &Ran| out.is_err()).await;
        let mut outputs: Vec<PartialOutput> = Vec::with_capacity(ran.len());
        let mut errors = Vec::new();
        for (k, r) in ran.into_iter().enumerate() {
            match r {
                Ok((op, out)) => {
                    self.partitions[k] = Some(op);
                    match out {
                        Ok(o) => outputs.push(o),
                        Err(e) => errors.push(e),
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if let Some(e) = first_error(errors) {
            return Err(e);
        }
        let started = self.metrics.start();
        let merged = self.merge(outputs, &ctx);
        self.metrics.stop(started);
        merged
    }

    /// Reads and merges the partitions' states, in partition order.
    fn merge(&mut self, outputs: Vec<PartialOutput>, ctx: &TaskContext) -> Result<Option<Emit>> {
        let mut reservation = ctx.memory.reservation(
            NAME,
            "it merges the partial states of every partition: use fewer groups, a wider SAMPLE \
             BY interval, fewer threads, or raise the memory budget",
        );
        let mut merged: Option<PartialStates> = None;
        for (batch, groups) in outputs.into_iter().flatten() {
            self.metrics.record_in(batch.num_rows());
            reservation.try_grow(batch.get_array_memory_size())?;
            let groups = merged.as_ref().map_or(groups, |m| Arc::clone(m.groups()));
            let states = PartialStates::from_record_batch(&batch, self.agg, groups)?;
            drop(batch);
            merged = Some(match merged {
                None => states,
                Some(m) => m.merge(&states)?,
            });
            let held = merged.as_ref().map_or(0, PartialStates::memory_size);
            reservation.try_resize(held)?;
            self.metrics.record_bytes(reservation.peak());
        }
        Ok(merged.map(|states| Emit {
            out: {
                let (groups, rows) = (Arc::clone(states.groups()), ctx.batch_size);
                match states.value_type() {
                    ValueType::Integer => ByType::Int(RowBatcher::typed(groups, rows)),
                    ValueType::Unsigned => ByType::UInt(RowBatcher::typed(groups, rows)),
                    _ => ByType::Float(RowBatcher::new(groups, rows)),
                }
            },
            states,
            cursor: 0,
            _reservation: reservation,
        }))
    }

    /// Emits rows from the cursor until a batch is ready or all are out.
    fn emit(&mut self) -> Result<()> {
        let Some(e) = self.emit.as_mut() else {
            return Ok(());
        };
        let cancel = self.ctx.as_ref().map(|c| c.cancel.clone());
        let (states, cursor) = (&e.states, &mut e.cursor);
        each_type!(&mut e.out, out => emit_rows(states, cursor, out, cancel.as_ref()))
    }
}

/// Emits rows of `states` from `cursor` into `out` until a batch is ready
/// or all are out (then the last short batch is cut).
fn emit_rows<V: StateValue>(
    states: &PartialStates,
    cursor: &mut usize,
    out: &mut RowBatcher<V>,
    cancel: Option<&CancellationToken>,
) -> Result<()> {
    while !out.has_ready() && *cursor < states.len() {
        if cursor.is_multiple_of(4096) {
            cancel.map_or(Ok(()), |c| c.check())?;
        }
        let (group, time) = states.key(*cursor);
        let value = V::result(states, *cursor).ok_or_else(|| {
            EngineError::execution(NAME, "the merged states changed their value type")
        })?;
        out.push(group, time, value)?;
        *cursor += 1;
    }
    if *cursor == states.len() {
        out.flush()?;
    }
    Ok(())
}

#[async_trait]
impl Operator for FinalAggOp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn display(&self) -> String {
        format!(
            "{NAME}: agg={} group_by={} partitions={} (merges partial states)",
            self.agg,
            self.group_by,
            self.partitions.len()
        )
    }

    async fn open(&mut self, ctx: &TaskContext) -> Result<()> {
        // The partitions open in their own tasks, on the first `next`.
        self.ctx = Some(ctx.clone());
        self.emit = None;
        self.done = false;
        Ok(())
    }

    async fn next(&mut self) -> Result<Option<TimelineBatch>> {
        loop {
            let popped = self
                .emit
                .as_mut()
                .and_then(|e| each_type!(&mut e.out, o => o.pop()));
            if let Some(batch) = popped {
                self.metrics.record_out(batch.num_rows());
                return Ok(Some(batch));
            }
            if self.done {
                let started = self.metrics.start();
                self.emit()?;
                self.metrics.stop(started);
                let ready = self.emit.as_ref();
                if !ready.is_some_and(|e| each_type!(&e.out, o => o.has_ready())) {
                    self.emit = None;
                    return Ok(None);
                }
                continue;
            }
            self.emit = self.run_partitions().await?;
            self.done = true;
        }
    }

    async fn close(&mut self) -> Result<()> {
        if let Some(c) = &self.cancel {
            c.cancel();
        }
        self.emit = None;
        Ok(())
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }

    fn children(&self) -> Vec<&dyn Operator> {
        self.partitions
            .iter()
            .flatten()
            .map(|p| p as &dyn Operator)
            .collect()
    }
}

impl Drop for FinalAggOp {
    /// Stops partitions still running (the query was dropped).
    fn drop(&mut self) {
        if let Some(c) = &self.cancel {
            c.cancel();
        }
    }
}
