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
use crate::error::{EngineError, Result};
use crate::materialize::RowBatcher;
use crate::memory::MemoryReservation;
use crate::metrics::OperatorMetrics;
use crate::operator::Operator;
use crate::partial::PartialStates;
use crate::spec::{Aggregator, GroupBy};

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
    out: RowBatcher,
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
            out: RowBatcher::new(Arc::clone(states.groups()), ctx.batch_size),
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
        while !e.out.has_ready() && e.cursor < e.states.len() {
            if e.cursor % 4096 == 0 {
                cancel.as_ref().map_or(Ok(()), |c| c.check())?;
            }
            let (group, time) = e.states.key(e.cursor);
            e.out.push(group, time, e.states.result(e.cursor))?;
            e.cursor += 1;
        }
        if e.cursor == e.states.len() {
            e.out.flush()?;
        }
        Ok(())
    }
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
            if let Some(batch) = self.emit.as_mut().and_then(|e| e.out.pop()) {
                self.metrics.record_out(batch.num_rows());
                return Ok(Some(batch));
            }
            if self.done {
                let started = self.metrics.start();
                self.emit()?;
                self.metrics.stop(started);
                if !self.emit.as_ref().is_some_and(|e| e.out.has_ready()) {
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
