//! `GroupMergeOp`: the top of a partitioned interpolating aggregation
//! (`GroupedAggOp` or `MTAggOp`, which need every timeline of a group, so
//! their partitions are by group). Each partition runs its whole chain in a
//! task of its own and sends its output batches through a bounded channel;
//! the groups of two partitions are disjoint and each partition emits in
//! (group, time) order, so a k-way merge on the group id of each timeline
//! run gives the unpartitioned order.
//!
//! The partitions of a streaming aggregation (`PipeAggOp`) hold whole
//! groups too (`PartitionBy::WholeGroups`, [`GroupMergeOp::whole_groups`]):
//! each emits its groups in group order once its input is done, and the
//! merge copies the finished rows, O(result rows), with no state merged.
//! A batch (of half the batch size or more) whose groups all come before
//! every other partition's next group is handed on whole, not copied: with whole groups cut by series
//! id (`docs/architecture.md`, "Partitions and partial aggregates") each
//! partition's groups form one range, so the merge is a concatenation.

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use futures::channel::{mpsc, oneshot};
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};

use crate::batch::TimelineBatch;
use crate::context::{CancellationToken, TaskContext};
use crate::each_type;
use crate::error::{EngineError, Result};
use crate::materialize::RowBatcher;
use crate::metrics::OperatorMetrics;
use crate::operator::Operator;
use crate::ops::pipe_agg::mixed_types;
use crate::storage::ValueType;
use crate::value::{ByType, TimelineValue};

use super::tasks::{start, vanished};

const NAME: &str = "GroupMergeOp";

/// Batches a partition may have sent and the merge not yet taken.
const CHANNEL_BATCHES: usize = 2;

/// Merges the outputs of partitions by group; see the module docs.
pub struct GroupMergeOp {
    /// `None` while the partition runs in its task.
    partitions: Vec<Option<Box<dyn Operator>>>,
    ctx: Option<TaskContext>,
    cancel: Option<CancellationToken>,
    sources: Vec<Source>,
    /// Each source's current batch and its next timeline run.
    heads: Vec<Option<(TimelineBatch, usize)>>,
    /// Rows of the type of the first batch (the partitions' common type).
    out: Option<Merged>,
    /// Batches to emit before anything in `out`: whole batches handed on,
    /// after the rows `out` held when they came.
    ready: VecDeque<TimelineBatch>,
    started: bool,
    done: bool,
    /// How the partitions were split, for the display.
    by: &'static str,
    metrics: OperatorMetrics,
}

/// The merged rows, of the partitions' value type.
type Merged = ByType<RowBatcher<f64>, RowBatcher<i64>, RowBatcher<u64>>;

/// Where a partition's batches come from.
enum Source {
    /// A task: its batches, then its operator back.
    Task {
        batches: mpsc::Receiver<Result<TimelineBatch>>,
        returned: Option<oneshot::Receiver<Box<dyn Operator>>>,
    },
    /// The first partition when the others are tasks: pulled batch by
    /// batch on the calling task (the operator stays in `partitions`,
    /// opened), which would otherwise only wait for the others; no
    /// hand-off to another thread and back.
    Inline,
    /// Run to the end on the calling task (no spawner).
    Ran(VecDeque<TimelineBatch>),
    Finished,
}

impl GroupMergeOp {
    /// The merge of `partitions` (at least one), each an aggregation over
    /// one partition by group of the timelines.
    pub fn new(partitions: Vec<Box<dyn Operator>>) -> Result<Self> {
        if partitions.is_empty() {
            return Err(EngineError::InvalidArgument(format!(
                "{NAME} needs at least one partition"
            )));
        }
        Ok(GroupMergeOp {
            partitions: partitions.into_iter().map(Some).collect(),
            ctx: None,
            cancel: None,
            sources: Vec::new(),
            heads: Vec::new(),
            out: None,
            ready: VecDeque::new(),
            started: false,
            done: false,
            by: "group",
            metrics: OperatorMetrics::default(),
        })
    }

    /// The merge of `partitions` (at least one), each a `PipeAggOp` over
    /// one partition of whole groups.
    pub fn whole_groups(partitions: Vec<Box<dyn Operator>>) -> Result<Self> {
        let mut op = Self::new(partitions)?;
        op.by = "whole groups";
        Ok(op)
    }

    /// Starts every partition (or, without a spawner, runs them). With a
    /// spawner the first partition is not spawned: it is opened here and
    /// pulled on the calling task ([`Source::Inline`]).
    async fn start_partitions(&mut self) -> Result<()> {
        let ctx = self
            .ctx
            .clone()
            .ok_or_else(|| EngineError::execution(NAME, "next called before open"))?;
        let cancel = ctx.cancel.child();
        self.cancel = Some(cancel.clone());
        let pctx = TaskContext {
            cancel: cancel.clone(),
            ..ctx.clone()
        };
        for k in 0..self.partitions.len() {
            if k == 0 && ctx.spawner.is_some() {
                // opened after the others are spawned, below
                self.sources.push(Source::Inline);
                self.heads.push(None);
                continue;
            }
            let mut op = self.partitions[k]
                .take()
                .ok_or_else(|| EngineError::execution(NAME, "a partition is missing"))?;
            let source = match &ctx.spawner {
                Some(spawner) => {
                    let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
                    let task_ctx = pctx.clone();
                    let task: BoxFuture<'static, Box<dyn Operator>> = Box::pin(async move {
                        drive(op.as_mut(), &task_ctx, tx).await;
                        op
                    });
                    Source::Task {
                        batches: rx,
                        returned: Some(start(spawner, task)),
                    }
                }
                None => {
                    let ran = tsq_collect(op.as_mut(), &pctx).await;
                    self.partitions[k] = Some(op);
                    match ran {
                        Ok(batches) => Source::Ran(batches.into()),
                        Err(e) => {
                            cancel.cancel();
                            return Err(e);
                        }
                    }
                }
            };
            self.sources.push(source);
            self.heads.push(None);
        }
        if let Some(Source::Inline) = self.sources.first() {
            if let Err(e) = self.inline_op(0)?.open(&pctx).await {
                cancel.cancel();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Partition `k`'s operator, run on the calling task.
    fn inline_op(&mut self, k: usize) -> Result<&mut Box<dyn Operator>> {
        self.partitions[k]
            .as_mut()
            .ok_or_else(|| EngineError::execution(NAME, "a partition is missing"))
    }

    /// Makes sure partition `k` has a current run, if it has any left.
    async fn fill(&mut self, k: usize) -> Result<()> {
        while self.heads[k].is_none() {
            let next = match &mut self.sources[k] {
                Source::Task { batches, .. } => batches.next().await,
                Source::Inline => self.inline_op(k)?.next().await.transpose(),
                Source::Ran(q) => q.pop_front().map(Ok),
                Source::Finished => return Ok(()),
            };
            match next {
                Some(Ok(b)) if b.num_timelines() > 0 => {
                    self.metrics.record_in(b.num_rows());
                    self.heads[k] = Some((b, 0));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    if let Some(c) = &self.cancel {
                        c.cancel();
                    }
                    return Err(e);
                }
                None => self.finish_source(k).await?,
            }
        }
        Ok(())
    }

    /// Takes back partition `k`'s operator once its batches ended (closes
    /// it when it ran on the calling task).
    async fn finish_source(&mut self, k: usize) -> Result<()> {
        let source = std::mem::replace(&mut self.sources[k], Source::Finished);
        match source {
            Source::Task {
                returned: Some(rx), ..
            } => match rx.await {
                Ok(op) => self.partitions[k] = Some(op),
                Err(_) => return Err(vanished(NAME, k)),
            },
            Source::Inline => self.inline_op(k)?.close().await?,
            _ => {}
        }
        Ok(())
    }

    /// Moves runs to the output until a batch is ready, a partition needs
    /// its next batch (fetched here first) or every partition is done
    /// (false). The runs move in one loop, with no `await` and no clock
    /// read per run: a partition of whole groups hands over hundreds of
    /// small runs (one group's buckets each) in one batch.
    async fn step(&mut self) -> Result<bool> {
        for k in 0..self.sources.len() {
            self.fill(k).await?;
        }
        // Only the moves are compute; the wait for the partitions is not.
        let started = self.metrics.start();
        let moved = self.move_runs();
        self.metrics.stop(started);
        moved
    }

    /// The loop of [`step`](Self::step), once every partition has a run
    /// or is done.
    fn move_runs(&mut self) -> Result<bool> {
        loop {
            if !self.move_smallest()? {
                return Ok(false);
            }
            let empty = (0..self.heads.len())
                .any(|k| self.heads[k].is_none() && !matches!(self.sources[k], Source::Finished));
            if empty || !self.ready.is_empty() || self.out_ready() {
                return Ok(true);
            }
        }
    }

    /// True when the merged rows hold a complete batch.
    fn out_ready(&self) -> bool {
        self.out
            .as_ref()
            .is_some_and(|o| each_type!(o, o => o.has_ready()))
    }

    /// One move of [`move_runs`](Self::move_runs): a whole batch when it
    /// can be handed on, else the run with the smallest group id; false
    /// when every partition is done.
    fn move_smallest(&mut self) -> Result<bool> {
        let pick = (0..self.heads.len())
            .filter_map(|k| {
                let (b, run) = self.heads[k].as_ref()?;
                Some((b.timeline(*run).series_id, k))
            })
            .min();
        let Some((_, k)) = pick else {
            return Ok(false);
        };
        let (batch, run) = self.heads[k].take().expect("picked above");
        let batch_size = self.ctx.as_ref().map_or(1, |c| c.batch_size);
        let out = self.out.get_or_insert_with(|| {
            let groups = Arc::clone(batch.registry());
            match batch.value_type() {
                ValueType::Integer => ByType::Int(RowBatcher::typed(groups, batch_size)),
                ValueType::Unsigned => ByType::UInt(RowBatcher::typed(groups, batch_size)),
                _ => ByType::Float(RowBatcher::new(groups, batch_size)),
            }
        });
        // Half a batch or more (a partition of whole groups emits full
        // batches): smaller ones are copied, so that the merge does not
        // hand on many tiny batches (a group at a time).
        let whole = run == 0 && batch.num_rows() * 2 >= batch_size;
        if whole && before_others(&batch, k, &self.heads) && same_type(out, &batch) {
            // Every group of the batch comes before the other partitions'
            // next group: the batch is the merge's next rows as it is.
            each_type!(out, o => o.flush())?;
            while let Some(b) = each_type!(out, o => o.pop()) {
                self.ready.push_back(b);
            }
            self.ready.push_back(batch);
            return Ok(true);
        }
        each_type!(out, o => copy_run(o, &batch, run))?;
        if run + 1 < batch.num_timelines() {
            self.heads[k] = Some((batch, run + 1));
        }
        Ok(true)
    }
}

/// True when the last group of `batch` (partition `k`'s) comes before the
/// current group of every other partition's head.
fn before_others(
    batch: &TimelineBatch,
    k: usize,
    heads: &[Option<(TimelineBatch, usize)>],
) -> bool {
    let n = batch.num_timelines();
    if n == 0 {
        return false;
    }
    let last = batch.timeline(n - 1).series_id;
    heads.iter().enumerate().all(|(j, h)| match h {
        Some((b, run)) if j != k => last < b.timeline(*run).series_id,
        _ => true,
    })
}

/// True when `batch` holds the values `out` batches (else the run by run
/// copy reports the mixed types).
fn same_type(out: &Merged, batch: &TimelineBatch) -> bool {
    matches!(
        (out, batch.value_type()),
        (ByType::Int(_), ValueType::Integer)
            | (ByType::UInt(_), ValueType::Unsigned)
            | (ByType::Float(_), ValueType::Float)
    )
}

/// Appends timeline run `run` of `batch` to `out`.
fn copy_run<V: TimelineValue>(
    out: &mut RowBatcher<V>,
    batch: &TimelineBatch,
    run: usize,
) -> Result<()> {
    let Some(tl) = batch.timeline_as::<V>(run) else {
        return Err(mixed_types(NAME, batch, V::VALUE_TYPE));
    };
    out.push_run(&tl)
}

/// Runs `op` to its end, sending each batch (or the error that stopped it)
/// to `tx`; stops early when the merge is gone.
async fn drive(
    op: &mut dyn Operator,
    ctx: &TaskContext,
    mut tx: mpsc::Sender<Result<TimelineBatch>>,
) {
    let result = async {
        op.open(ctx).await?;
        while let Some(batch) = op.next().await? {
            if tx.send(Ok(batch)).await.is_err() {
                break;
            }
        }
        Ok::<(), EngineError>(())
    }
    .await;
    let closed = op.close().await;
    if let Err(e) = result.and(closed) {
        let _ = tx.send(Err(e)).await;
    }
}

/// [`crate::operator::collect`] under another name, to keep the imports
/// readable.
async fn tsq_collect(op: &mut dyn Operator, ctx: &TaskContext) -> Result<Vec<TimelineBatch>> {
    crate::operator::collect(op, ctx).await
}

#[async_trait]
impl Operator for GroupMergeOp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn display(&self) -> String {
        format!(
            "{NAME}: partitions={} by {} (merges groups in order)",
            self.partitions.len(),
            self.by
        )
    }

    async fn open(&mut self, ctx: &TaskContext) -> Result<()> {
        self.ctx = Some(ctx.clone());
        self.started = false;
        self.done = false;
        Ok(())
    }

    async fn next(&mut self) -> Result<Option<TimelineBatch>> {
        if !self.started {
            self.started = true;
            self.start_partitions().await?;
        }
        loop {
            let next = self.ready.pop_front();
            if let Some(b) =
                next.or_else(|| self.out.as_mut().and_then(|o| each_type!(o, o => o.pop())))
            {
                self.metrics.record_out(b.num_rows());
                return Ok(Some(b));
            }
            if self.done {
                return Ok(None);
            }
            if let Some(ctx) = &self.ctx {
                ctx.cancel.check()?;
            }
            while self.ready.is_empty() && !self.out_ready() {
                if !self.step().await? {
                    self.done = true;
                    if let Some(out) = self.out.as_mut() {
                        each_type!(out, o => o.flush())?;
                    }
                    break;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<()> {
        if let Some(c) = &self.cancel {
            c.cancel();
        }
        // A partition pulled on this task and not finished (an error, or a
        // close before the end) is closed here.
        let mut closed = Ok(());
        for k in 0..self.sources.len() {
            if let Source::Inline = self.sources[k] {
                self.sources[k] = Source::Finished;
                if let Some(op) = self.partitions[k].as_mut() {
                    closed = closed.and(op.close().await);
                }
            }
        }
        self.sources.clear();
        self.heads.clear();
        self.out = None;
        self.ready.clear();
        closed
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }

    fn children(&self) -> Vec<&dyn Operator> {
        self.partitions
            .iter()
            .flatten()
            .map(|p| p.as_ref())
            .collect()
    }
}

impl Drop for GroupMergeOp {
    /// Stops partitions still running (the query was dropped).
    fn drop(&mut self) {
        if let Some(c) = &self.cancel {
            c.cancel();
        }
    }
}
