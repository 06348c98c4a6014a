//! The inputs of the result join: one [`Source`] per pipeline (one per value
//! column) hands its timeline batches to [`MergeJoin`](super::merge::MergeJoin)
//! one at a time. A source either drives its pipeline itself when the join
//! asks (one task for the whole query, `SessionConfig::threads` = 1), or
//! runs it as its own task on the dedicated runtime that sends batches
//! through a bounded channel (`docs/library.md`, "Async"):
//!
//! ```text
//!   task: open ─ next ─ next ─ ... ─ close ──▶ mpsc(CHANNEL_BATCHES) ──▶ Source::next
//!              ▲ own cancellation token: the join stops one pipeline early (LIMIT)
//! ```
//!
//! Every batch in flight (in the channel or held by the join) carries its
//! own reservation on the query's budget as `ResultJoin`, released when the
//! join drops the batch. Each pipeline has a child of the query's
//! cancellation token, so the join can stop its pipelines once a `LIMIT` is
//! reached without cancelling the query.

use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tsq_engine::memory::MemoryReservation;
use tsq_engine::{EngineError, Operator, TaskContext, TimelineBatch};

use super::join_reservation;
use crate::error::Result;

/// A pipeline of the plan: `(output index, root operator)`.
pub type Pipeline = (usize, Box<dyn Operator>);

/// Batches a pipeline task may have sent that the join has not taken yet.
const CHANNEL_BATCHES: usize = 2;

/// A batch of a pipeline and the reservation of its bytes while the join
/// holds it.
pub(crate) struct Held {
    /// The batch.
    pub(crate) batch: TimelineBatch,
    _reserved: MemoryReservation,
}

impl Held {
    /// Reserves `batch` on the query's pool.
    fn new(batch: TimelineBatch, ctx: &TaskContext) -> tsq_engine::Result<Self> {
        let mut reserved = join_reservation(&ctx.memory);
        reserved.try_grow(held_bytes(&batch))?;
        Ok(Held {
            batch,
            _reserved: reserved,
        })
    }
}

/// The bytes a batch stands for: its rows (id, time, value, validity) and
/// run offsets. Not `memory_size`, which counts whole shared buffers when a
/// scan hands out zero-copy slices of the adapter's blocks.
pub(crate) fn held_bytes(batch: &TimelineBatch) -> usize {
    batch.num_rows() * (4 + 8 + 8 + 1) + (batch.num_timelines() + 1) * 4
}

/// Where a pipeline's batches come from.
pub(crate) enum Source {
    /// Driven by the join's own task.
    Inline(Inline),
    /// Run by a task of the dedicated runtime.
    Task(TaskSource),
}

/// A pipeline the join drives itself.
pub(crate) struct Inline {
    pipeline: Pipeline,
    ctx: TaskContext,
    state: State,
}

/// Where a pipeline the join drives itself stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// `open` not called yet.
    Unopened,
    /// Open: `next` may be called.
    Open,
    /// Finished, failed or closed.
    Done,
}

/// Opens `root` on the first call (closing it again when `open` fails);
/// `false` once the pipeline is done: the start of every pull of a
/// pipeline the join drives itself.
pub(super) async fn open_once(
    state: &mut State,
    root: &mut Box<dyn Operator>,
    ctx: &TaskContext,
) -> Result<bool> {
    if *state == State::Unopened {
        *state = State::Open;
        if let Err(e) = root.open(ctx).await {
            *state = State::Done;
            let _ = root.close().await;
            return Err(e.into());
        }
    }
    Ok(*state != State::Done)
}

/// What a pull of a pipeline the join drives itself makes of the root's
/// answer `next`: the batch, or (at its end or on an error) the root
/// closed and the pipeline done.
pub(super) async fn settle<T>(
    state: &mut State,
    root: &mut Box<dyn Operator>,
    next: tsq_engine::Result<Option<T>>,
) -> Result<Option<T>> {
    match next {
        Ok(Some(batch)) => Ok(Some(batch)),
        Ok(None) => {
            *state = State::Done;
            root.close().await?;
            Ok(None)
        }
        Err(e) => {
            *state = State::Done;
            let _ = root.close().await;
            Err(e.into())
        }
    }
}

/// A pipeline running as its own task.
pub(crate) struct TaskSource {
    rx: mpsc::Receiver<tsq_engine::Result<Held>>,
    handle: Option<JoinHandle<Pipeline>>,
    ctx: TaskContext,
    /// The pipeline, once its task ended and handed it back.
    returned: Option<Pipeline>,
}

impl Source {
    /// A source the join drives itself, under a child of `ctx`'s token.
    pub(crate) fn inline(pipeline: Pipeline, ctx: &TaskContext) -> Self {
        Source::Inline(Inline {
            pipeline,
            ctx: child_context(ctx),
            state: State::Unopened,
        })
    }

    /// A source whose pipeline runs as a task on `runtime`.
    pub(crate) fn spawn(pipeline: Pipeline, ctx: &TaskContext, runtime: &Handle) -> Self {
        let ctx = child_context(ctx);
        let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
        let handle = runtime.spawn(drive(pipeline, ctx.clone(), tx));
        Source::Task(TaskSource {
            rx,
            handle: Some(handle),
            ctx,
            returned: None,
        })
    }

    /// The next batch of the pipeline, reserved; `None` at its end.
    pub(crate) async fn next(&mut self) -> Result<Option<Held>> {
        match self {
            Source::Inline(s) => s.next().await,
            Source::Task(s) => s.next().await,
        }
    }

    /// Stops the pipeline (if it still runs), waits for it to close and
    /// hands its root back with its metrics (for EXPLAIN ANALYZE). Errors
    /// of a stopped pipeline are dropped: the join no longer needs its rows.
    pub(crate) async fn stop(self) -> Box<dyn Operator> {
        match self {
            Source::Inline(mut s) => {
                s.ctx.cancel.cancel();
                if s.state == State::Open {
                    let _ = s.pipeline.1.close().await;
                }
                s.pipeline.1
            }
            Source::Task(mut s) => {
                s.ctx.cancel.cancel();
                s.rx.close();
                while s.rx.try_recv().is_ok() {}
                if let Some(p) = s.returned.take() {
                    return p.1;
                }
                match s.handle.take() {
                    Some(handle) => match handle.await {
                        Ok(p) => p.1,
                        Err(_) => Box::new(Stopped),
                    },
                    None => Box::new(Stopped),
                }
            }
        }
    }
}

impl Inline {
    async fn next(&mut self) -> Result<Option<Held>> {
        let root = &mut self.pipeline.1;
        if !open_once(&mut self.state, root, &self.ctx).await? {
            return Ok(None);
        }
        let next = root.next().await;
        let Some(batch) = settle(&mut self.state, root, next).await? else {
            return Ok(None);
        };
        // one batch's work per turn of the runtime
        tokio::task::yield_now().await;
        Ok(Some(Held::new(batch, &self.ctx)?))
    }
}

impl TaskSource {
    async fn next(&mut self) -> Result<Option<Held>> {
        match self.rx.recv().await {
            Some(item) => Ok(Some(item?)),
            None => {
                // The task ended: normally (the sender is dropped after the
                // last batch), or by a panic.
                if let Some(handle) = self.handle.take() {
                    let pipeline = handle.await.map_err(crate::dedicated::join_error)?;
                    self.returned = Some(pipeline);
                }
                Ok(None)
            }
        }
    }
}

/// `ctx` with a child of its cancellation token.
fn child_context(ctx: &TaskContext) -> TaskContext {
    TaskContext {
        cancel: ctx.cancel.child(),
        ..ctx.clone()
    }
}

/// The task of one pipeline: opens it, sends each batch (reserved) as it
/// comes, yields after each, closes it and hands it back. A closed channel
/// (the join stopped) ends it like the end of its input; an error is sent
/// as the last item.
async fn drive(
    (output, mut root): Pipeline,
    ctx: TaskContext,
    tx: mpsc::Sender<tsq_engine::Result<Held>>,
) -> Pipeline {
    let run = async {
        root.open(&ctx).await?;
        while let Some(batch) = root.next().await? {
            if tx.send(Held::new(batch, &ctx)).await.is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok::<(), EngineError>(())
    }
    .await;
    let closed = root.close().await;
    if let Err(e) = run.and(closed) {
        if !matches!(e, EngineError::Cancelled) || !tx.is_closed() {
            let _ = tx.send(Err(e)).await;
        }
    }
    (output, root)
}

/// Stands for a pipeline whose task panicked (its operators are lost).
struct Stopped;

static STOPPED_METRICS: std::sync::OnceLock<tsq_engine::OperatorMetrics> =
    std::sync::OnceLock::new();

#[async_trait::async_trait]
impl Operator for Stopped {
    fn name(&self) -> &'static str {
        "Stopped"
    }
    fn display(&self) -> String {
        "Stopped: the pipeline's task panicked".into()
    }
    async fn open(&mut self, _ctx: &TaskContext) -> tsq_engine::Result<()> {
        Ok(())
    }
    async fn next(&mut self) -> tsq_engine::Result<Option<TimelineBatch>> {
        Ok(None)
    }
    async fn close(&mut self) -> tsq_engine::Result<()> {
        Ok(())
    }
    fn metrics(&self) -> &tsq_engine::OperatorMetrics {
        STOPPED_METRICS.get_or_init(Default::default)
    }
    fn children(&self) -> Vec<&dyn Operator> {
        Vec::new()
    }
}
