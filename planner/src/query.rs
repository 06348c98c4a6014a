//! The query object of the library API, shaped like DataFusion's
//! `DataFrame`: [`Session::sql`](crate::Session::sql) parses and plans a
//! statement into a [`Query`], which is then collected, streamed or
//! explained. Every query owns its cancellation token (a child of the
//! session's): [`Query::cancel`], a timeout, or dropping the future or the
//! [`QueryStream`] stops that query and no other.
//!
//! Execution runs on the dedicated runtime (`crate::dedicated`); result
//! batches come back through a bounded channel, so awaiting a query never
//! blocks the caller's runtime for more than the hand-over of one batch
//! (`docs/library.md`, "Async").
//!
//! ```text
//!  caller's runtime                 dedicated runtime (tsq-cpu threads)
//!  QueryStream::poll_next ◄─ mpsc(2) ◄─ producer task: MergeJoin ◄─ pipeline tasks
//!  drop(QueryStream) ── cancel token + abort ──► operators stop at the next batch
//! ```

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use arrow::array::StringArray;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tsq_engine::memory::MemoryPool;
use tsq_engine::{CancellationToken, EngineError, StorageAdapter, TaskContext};

use crate::ast::{ExplainMode, Show, Statement};
use crate::error::{Result, TsqError};
use crate::explain::{explain, explain_analyze};
use crate::physical::{
    build_physical_with, cast_to, plan_physical, run_joined, run_materialized, Parallelism,
};
use crate::plan::{Catalog, LogicalPlan};
use crate::result::{result_schema_typed, JoinOptions, ResultStage};
use crate::session::{Executor, SessionConfig};

/// Result batches in flight between the producer task and the stream.
const CHANNEL_BATCHES: usize = 2;

/// What a query needs from its session, owned so that the query outlives
/// the borrow of the session (a handler can move it into a task).
#[derive(Debug, Clone)]
pub(crate) struct QueryEnv {
    pub(crate) adapter: Arc<dyn StorageAdapter>,
    pub(crate) config: SessionConfig,
    /// The session's token slot: reset after a query stops if cancelled.
    pub(crate) session_cancel: Arc<Mutex<CancellationToken>>,
    /// The pool shared by every query of the database, if any.
    pub(crate) shared_memory: Option<Arc<MemoryPool>>,
}

/// A planned statement, ready to run. Build one with
/// [`Session::sql`](crate::Session::sql); run it with [`collect`](Self::collect),
/// [`stream`](Self::stream) or [`explain`](Self::explain).
#[derive(Debug)]
pub struct Query {
    env: QueryEnv,
    statement: Statement,
    body: Body,
    cancel: CancellationToken,
    timeout: Option<Duration>,
}

/// What a [`Query`] runs.
#[derive(Debug)]
enum Body {
    /// A planned `SELECT`.
    Select {
        plan: Box<LogicalPlan>,
        catalog: Catalog,
    },
    /// A `SHOW` statement (`crate::show`) and its notices.
    Show {
        show: Box<Show>,
        notices: Vec<String>,
    },
}

impl Query {
    pub(crate) fn new(
        env: QueryEnv,
        statement: Statement,
        plan: LogicalPlan,
        catalog: Catalog,
    ) -> Self {
        let body = Body::Select {
            plan: Box::new(plan),
            catalog,
        };
        Self::with_body(env, statement, body)
    }

    /// A `SHOW` statement, run when the query is collected or streamed.
    pub(crate) fn show(
        env: QueryEnv,
        statement: Statement,
        show: Show,
        notices: Vec<String>,
    ) -> Self {
        let show = Box::new(show);
        Self::with_body(env, statement, Body::Show { show, notices })
    }

    fn with_body(env: QueryEnv, statement: Statement, body: Body) -> Self {
        let session_token = env
            .session_cancel
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        Query {
            env,
            statement,
            body,
            cancel: session_token.child(),
            timeout: None,
        }
    }

    /// The schema of the result: `time`, the tag columns, the value columns
    /// (one `plan` text column for an `EXPLAIN` statement). Known before
    /// the query runs, and carried by the stream even when no row comes.
    pub fn schema(&self) -> SchemaRef {
        if self.statement.explain.is_some() {
            return explain_schema();
        }
        match &self.body {
            Body::Select { plan, .. } => result_schema_typed(
                &plan.tag_columns,
                &plan.value_column_fields(),
                self.env.config.dictionary_tags,
            ),
            Body::Show { show, .. } => crate::show::schema(show),
        }
    }

    /// The logical plan (with the optimizer's decisions) of a `SELECT`;
    /// `None` for a `SHOW` statement.
    pub fn logical_plan(&self) -> Option<&LogicalPlan> {
        match &self.body {
            Body::Select { plan, .. } => Some(plan),
            Body::Show { .. } => None,
        }
    }

    /// Messages that are not errors (a missing measurement or field...).
    pub fn notices(&self) -> &[String] {
        match &self.body {
            Body::Select { plan, .. } => &plan.notices,
            Body::Show { notices, .. } => notices,
        }
    }

    /// The `EXPLAIN` prefix of the statement, if it had one.
    pub fn explain_mode(&self) -> Option<ExplainMode> {
        self.statement.explain
    }

    /// Stops the query after `timeout`: its stream then yields
    /// [`TsqError::Timeout`] and ends.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// This query's own cancellation token: cancel it from anywhere to stop
    /// this query (and no other).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Cancels this query: a running stream yields
    /// `TsqError::Execution(EngineError::Cancelled)` at the next batch.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Runs the query and returns every result batch.
    pub async fn collect(self) -> Result<Vec<RecordBatch>> {
        let mut stream = self.stream().await?;
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            batches.push(batch?);
        }
        Ok(batches)
    }

    /// Starts the query and returns its batches as a stream. Dropping the
    /// stream cancels the query.
    pub async fn stream(self) -> Result<QueryStream> {
        let schema = self.schema();
        let mode = self.statement.explain;
        self.spawn(schema, move |job, ctx, tx| {
            async move {
                match mode {
                    Some(mode) => {
                        let (text, _) = job.explain(&ctx, mode == ExplainMode::Analyze).await?;
                        send(&tx, explain_batch(&text)?).await
                    }
                    None => job.rows(ctx, &tx).await,
                }
            }
            .boxed()
        })
    }

    /// The plan as text: `EXPLAIN` (no execution, no storage scan) or, with
    /// `analyze`, `EXPLAIN ANALYZE` (runs the query and shows each
    /// operator's rows, batches, time and memory).
    pub async fn explain(self, analyze: bool) -> Result<String> {
        Ok(self.explain_with_peak(analyze).await?.0)
    }

    /// [`explain`](Self::explain), with the query's memory peak.
    pub(crate) async fn explain_with_peak(self, analyze: bool) -> Result<(String, usize)> {
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let mut stream = self.spawn(explain_schema(), move |job, ctx, _| {
            async move {
                let out = job.explain(&ctx, analyze).await?;
                let _ = tx.send(out);
                Ok(())
            }
            .boxed()
        })?;
        while let Some(item) = stream.next().await {
            item?;
        }
        rx.try_recv()
            .map_err(|_| TsqError::Execution(EngineError::Cancelled))
    }

    /// Runs `work` on the dedicated runtime under this query's context.
    fn spawn<F>(self, schema: SchemaRef, work: F) -> Result<QueryStream>
    where
        F: FnOnce(Job, TaskContext, mpsc::Sender<Result<RecordBatch>>) -> WorkFuture
            + Send
            + 'static,
    {
        let runtime = crate::dedicated::handle()?;
        let config = &self.env.config;
        let memory = match &self.env.shared_memory {
            Some(shared) => MemoryPool::with_parent(config.memory_budget, Arc::clone(shared)),
            None => MemoryPool::new(config.memory_budget),
        };
        let ctx = TaskContext {
            batch_size: config.batch_size.max(1),
            memory: Arc::clone(&memory),
            cancel: self.cancel.clone(),
            // partitions run as tasks of the dedicated runtime
            spawner: Some(crate::dedicated::spawner(runtime.clone())),
        };
        let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
        let cancel = self.cancel.clone();
        let timeout = self.timeout;
        let session_cancel = Arc::clone(&self.env.session_cancel);
        let job = Job {
            env: self.env,
            body: self.body,
        };
        let task = runtime.spawn(async move {
            let errors = tx.clone();
            let work = AssertUnwindSafe(work(job, ctx, tx)).catch_unwind();
            let outcome = match timeout {
                Some(limit) => match tokio::time::timeout(limit, work).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        cancel.cancel();
                        Ok(Err(TsqError::Timeout(limit)))
                    }
                },
                None => work.await,
            };
            let result = outcome.unwrap_or_else(|_| {
                Err(TsqError::Execution(EngineError::execution(
                    "executor",
                    "the query task panicked",
                )))
            });
            if let Err(e) = result {
                let _ = errors.send(Err(e)).await;
            }
        });
        Ok(QueryStream {
            schema,
            rx,
            cancel: self.cancel,
            session_cancel,
            task,
            memory,
        })
    }
}

/// The boxed future of a query's work on the dedicated runtime.
type WorkFuture = futures::future::BoxFuture<'static, Result<()>>;

/// What runs on the dedicated runtime.
struct Job {
    env: QueryEnv,
    body: Body,
}

impl Job {
    /// Runs the plan and sends its result batches as the join completes
    /// them (`result/merge.rs`), projected (`result/stage.rs`); a `SHOW`
    /// statement sends its rows.
    async fn rows(self, ctx: TaskContext, tx: &mpsc::Sender<Result<RecordBatch>>) -> Result<()> {
        let Job { env, body } = self;
        let plan = match body {
            Body::Select { plan, .. } => plan,
            Body::Show { show, .. } => {
                let batches =
                    crate::show::execute(&show, env.adapter.as_ref(), ctx.batch_size, &ctx.memory);
                return send_all(tx, batches.await?).await;
            }
        };
        let options = join_options(&env.config);
        if env.config.executor == Executor::Materialized {
            let (plain, batches) = run_materialized(&plan, &env.adapter, &ctx).await?;
            let values = plan.value_column_fields();
            let schema = result_schema_typed(&plan.tag_columns, &values, options.dictionary_tags);
            debug_assert_eq!(plain.fields().len(), schema.fields().len());
            return send_all(tx, cast_to(&schema, batches)?).await;
        }
        let mut physical =
            build_physical_with(&plan, &env.adapter, parallelism(&env.config)).await?;
        let options = physical.join_options(options);
        let pipelines = std::mem::take(&mut physical.pipelines);
        let mut join = ResultStage::new(&plan, pipelines, &ctx, options)?;
        let sent: Result<()> = async {
            while let Some(batch) = join.next().await? {
                send(tx, batch).await?;
                // one batch's work per turn of the dedicated runtime
                tokio::task::yield_now().await;
            }
            Ok(())
        }
        .await;
        join.close().await;
        sent
    }

    /// The EXPLAIN (or, with `analyze`, EXPLAIN ANALYZE) text and the
    /// query's memory peak.
    async fn explain(self, ctx: &TaskContext, analyze: bool) -> Result<(String, usize)> {
        let Body::Select { plan, catalog } = &self.body else {
            return Err(TsqError::plan(
                crate::Pos::new(1, 1),
                "EXPLAIN takes a SELECT statement, not SHOW",
            ));
        };
        let options = join_options(&self.env.config);
        let parallel = parallelism(&self.env.config);
        if !analyze {
            let physical = plan_physical(plan, &self.env.adapter, parallel).await?;
            let result = ResultStage::describe(plan, options);
            return Ok((explain(plan, catalog, &physical, &result), 0));
        }
        let mut physical = build_physical_with(plan, &self.env.adapter, parallel).await?;
        let done = run_joined(plan, &mut physical, ctx, options).await?;
        let rows = done.batches.iter().map(|b| b.num_rows()).sum();
        let peak = ctx.memory.peak();
        let text = explain_analyze(plan, catalog, &physical, &done.join, rows, peak);
        Ok((text, peak))
    }
}

/// How the join of a query runs, from the session's settings.
fn join_options(config: &SessionConfig) -> JoinOptions {
    JoinOptions {
        threads: config.threads,
        dictionary_tags: config.dictionary_tags,
    }
}

/// How a query's pipelines use the threads, from the session's settings.
fn parallelism(config: &SessionConfig) -> Parallelism {
    Parallelism {
        threads: config.threads,
        min_points_per_partition: config.min_points_per_partition,
    }
}

/// Sends one batch; a dropped receiver (the caller gave up) stops the work.
async fn send(tx: &mpsc::Sender<Result<RecordBatch>>, batch: RecordBatch) -> Result<()> {
    tx.send(Ok(batch))
        .await
        .map_err(|_| TsqError::Execution(EngineError::Cancelled))
}

async fn send_all(tx: &mpsc::Sender<Result<RecordBatch>>, batches: Vec<RecordBatch>) -> Result<()> {
    for batch in batches {
        send(tx, batch).await?;
    }
    Ok(())
}

/// The schema of an `EXPLAIN` result: one text column, one row per line.
fn explain_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("plan", DataType::Utf8, false)]))
}

fn explain_batch(text: &str) -> Result<RecordBatch> {
    let lines = StringArray::from(text.lines().collect::<Vec<_>>());
    Ok(RecordBatch::try_new(
        explain_schema(),
        vec![Arc::new(lines)],
    )?)
}

/// The result batches of a running query, in order; implements
/// [`futures::Stream`] and carries the result's schema (also when no batch
/// comes). Dropping it cancels the query (only this one).
#[derive(Debug)]
pub struct QueryStream {
    schema: SchemaRef,
    rx: mpsc::Receiver<Result<RecordBatch>>,
    cancel: CancellationToken,
    session_cancel: Arc<Mutex<CancellationToken>>,
    task: JoinHandle<()>,
    memory: Arc<MemoryPool>,
}

impl QueryStream {
    /// The schema of every batch of this stream.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Most bytes the query reserved at once so far (operators and the
    /// result join).
    pub fn memory_peak(&self) -> usize {
        self.memory.peak()
    }

    /// Cancels the query; the stream then yields the cancellation error.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

impl Stream for QueryStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for QueryStream {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.task.abort();
        // A session token cancelled to stop this query must not stop the
        // next one.
        if let Ok(mut t) = self.session_cancel.lock() {
            if t.is_cancelled() {
                *t = CancellationToken::new();
            }
        }
    }
}
