//! The library API: a [`Session`] over one storage adapter turns statements
//! into [`Query`] objects (`sql`) to collect, stream or explain, and keeps
//! the one-call forms (`execute`, `execute_script`, `stream`), under the
//! settings of a [`SessionConfig`] (batch size, memory budget per query,
//! threads, an optional forced aggregation operator). Every query has its
//! own cancellation token; [`Session::cancel_token`] stops every query of
//! the session at once (what a Ctrl-C handler wants).

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::{Stream, StreamExt};
use tsq_engine::memory::{MemoryPool, DEFAULT_MEMORY_BUDGET};
use tsq_engine::spec::AggStrategy;
use tsq_engine::{CancellationToken, StorageAdapter, DEFAULT_BATCH_SIZE};

use crate::ast::{ExplainMode, Statement, StatementBody};
use crate::bucket_limit::check_bucket_limit;
use crate::error::Result;
use crate::logical::plan_query;
use crate::plan::{Catalog, LogicalPlan};
use crate::query::{Query, QueryEnv, QueryStream};
use crate::shared_start::share_sample_all_start;

/// Settings of a session. Build one with [`SessionConfig::new`] and the
/// `with_*` methods; more settings may come, so it cannot be written as a
/// struct literal outside this crate.
///
/// ```
/// use tsq_planner::SessionConfig;
///
/// let config = SessionConfig::new()
///     .with_batch_size(1024)
///     .with_memory_budget(64 << 20)
///     .with_threads(2);
/// assert_eq!((config.batch_size, config.memory_budget, config.threads), (1024, 64 << 20, 2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Target rows per batch (results never depend on it).
    pub batch_size: usize,
    /// Memory budget of each query in bytes (default 2 GiB). Every buffer
    /// that grows with the data (operator state, fills, the result join,
    /// ordering and limits) is reserved against it; over it the query stops
    /// with `memory budget exceeded in <operator>`.
    pub memory_budget: usize,
    /// Most `SAMPLE BY` buckets a query may make per timeline (its resolved
    /// time range divided by the interval; default
    /// [`DEFAULT_MAX_BUCKETS`](crate::DEFAULT_MAX_BUCKETS)). Over it the
    /// query is refused before it runs, with a plan error at `SAMPLE BY`.
    pub max_buckets: u64,
    /// Run every aggregate through this operator instead of the optimizer's
    /// choice (a plan error where the operator would give wrong results).
    pub force_strategy: Option<AggStrategy>,
    /// Which executor runs the planned pipelines: the operator pipelines
    /// (the default), or the materialized executor that the benchmarks
    /// compare against (same plan, same results, whole timelines in memory).
    pub executor: Executor,
    /// Above 1, each pipeline of a query (one per value column) runs as
    /// its own task on the dedicated runtime, feeding the result join
    /// through a bounded channel; 1 lets the join pull a batch from each
    /// pipeline in turn, on one task. Default: the machine's available parallelism. Every query
    /// runs on the dedicated runtime whatever this is, so adapters that
    /// await tokio timers work at every thread count.
    pub threads: usize,
    /// Points (of a pipeline's selection, as the adapter's index counts
    /// them) that each partition of an aggregation must have: fewer
    /// partitions, one for a small query, below that; 0 splits every
    /// aggregation over its threads whatever its size. Default
    /// [`MIN_POINTS_PER_PARTITION`](tsq_engine::partition::MIN_POINTS_PER_PARTITION)
    /// (`docs/architecture.md`, "Partitions and partial aggregates"). An
    /// adapter that cannot count points without reading them is split
    /// over every thread.
    pub min_points_per_partition: u64,
    /// Tag columns come back as `Dictionary(Int32, Utf8)` instead of
    /// `Utf8` (default false): each batch holds every distinct tag value
    /// once.
    pub dictionary_tags: bool,
    /// When every value column of a query is a last point of one series
    /// selection, compute them with one `LastPointsOp` (default true;
    /// `docs/architecture.md`, "Last point as one operator"); false keeps
    /// one pipeline per column (the results are the same).
    pub last_points_as_one: bool,
}

/// The executor that runs a plan's pipelines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Executor {
    /// Open/Next/Close operator pipelines over batches of timelines.
    #[default]
    Pipelined,
    /// `tsq_engine::materialized::execute`: reads every timeline whole, then
    /// downsamples and aggregates. EXPLAIN still shows the operator tree the
    /// pipelined executor would run.
    Materialized,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            batch_size: DEFAULT_BATCH_SIZE,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            max_buckets: crate::bucket_limit::DEFAULT_MAX_BUCKETS,
            force_strategy: None,
            executor: Executor::Pipelined,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            min_points_per_partition: tsq_engine::partition::MIN_POINTS_PER_PARTITION,
            dictionary_tags: false,
            last_points_as_one: true,
        }
    }
}

impl SessionConfig {
    /// The default settings (same as [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Target rows per batch (at least 1 is used).
    pub fn with_batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows;
        self
    }

    /// Memory budget of each query, in bytes.
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self
    }

    /// Pipelines of one query run as tasks of their own above 1 (at least
    /// 1 is used).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Points each partition of an aggregation must have (0: split
    /// whatever the size); see [`SessionConfig::min_points_per_partition`].
    pub fn with_min_points_per_partition(mut self, points: u64) -> Self {
        self.min_points_per_partition = points;
        self
    }

    /// Forces every aggregate through `strategy` (`None`: the optimizer's
    /// choice).
    pub fn with_force_strategy(mut self, strategy: Option<AggStrategy>) -> Self {
        self.force_strategy = strategy;
        self
    }

    /// Which executor runs the pipelines.
    pub fn with_executor(mut self, executor: Executor) -> Self {
        self.executor = executor;
        self
    }

    /// Tag columns as `Dictionary(Int32, Utf8)` (`true`) or `Utf8` (the
    /// default): a result with many rows per tag value is smaller, and
    /// Arrow kernels can work on the codes.
    pub fn with_dictionary_tags(mut self, dictionary: bool) -> Self {
        self.dictionary_tags = dictionary;
        self
    }

    /// Whether one `LastPointsOp` computes the value columns of a query
    /// that are all last points of one selection (`true`, the default), or
    /// one pipeline per column does (`false`; same rows).
    pub fn with_last_points_as_one(mut self, one: bool) -> Self {
        self.last_points_as_one = one;
        self
    }

    /// Most `SAMPLE BY` buckets one timeline range may make before the
    /// query is refused at planning (`docs/semantics.md` §5).
    pub fn with_max_buckets(mut self, buckets: u64) -> Self {
        self.max_buckets = buckets;
        self
    }
}

/// What a statement returned.
#[derive(Debug, Clone)]
pub enum QueryKind {
    /// Result rows.
    Rows {
        /// `time`, tag columns, value columns.
        schema: SchemaRef,
        /// The rows, in order.
        batches: Vec<RecordBatch>,
    },
    /// The text of `EXPLAIN` / `EXPLAIN ANALYZE`.
    Explain(String),
}

/// The output of one statement.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// Rows or EXPLAIN text.
    pub kind: QueryKind,
    /// Messages that are not errors (a missing measurement or field...).
    pub notices: Vec<String>,
}

impl QueryOutput {
    /// Total number of result rows (0 for EXPLAIN).
    pub fn num_rows(&self) -> usize {
        match &self.kind {
            QueryKind::Rows { batches, .. } => batches.iter().map(|b| b.num_rows()).sum(),
            QueryKind::Explain(_) => 0,
        }
    }
}

/// What running one statement cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Most bytes reserved at once from the query's memory pool (operators
    /// and the result join; 0 for EXPLAIN, and the materialized executor
    /// accounts only for the join).
    pub memory_peak: usize,
}

/// A stream of result batches.
pub type RecordBatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>;

/// Runs statements against one storage adapter. Share it with `Arc`: its
/// queries are independent of each other.
#[derive(Debug)]
pub struct Session {
    adapter: Arc<dyn StorageAdapter>,
    config: SessionConfig,
    cancel: Arc<Mutex<CancellationToken>>,
    shared_memory: Option<Arc<MemoryPool>>,
}

impl Session {
    /// A session over `adapter`.
    pub fn new(adapter: Arc<dyn StorageAdapter>, config: SessionConfig) -> Self {
        Session {
            adapter,
            config,
            cancel: Arc::new(Mutex::new(CancellationToken::new())),
            shared_memory: None,
        }
    }

    /// This session with every query's reservations also counted against
    /// `pool` (a database's pool, shared by all its sessions), on top of the
    /// per-query budget of the config.
    pub fn with_shared_memory(mut self, pool: Arc<MemoryPool>) -> Self {
        self.shared_memory = Some(pool);
        self
    }

    /// The settings.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Changes the settings for the next statements.
    pub fn set_config(&mut self, config: SessionConfig) {
        self.config = config;
    }

    /// The token that cancels every running query of this session (each
    /// query also has its own: [`Query::cancel`]). Fetch it when Ctrl-C
    /// arrives: once a query has stopped, a cancelled token is replaced by a
    /// fresh one for the next query (a token cancelled while no query runs
    /// stops the next query).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Parses and plans exactly one statement into a [`Query`] (no
    /// execution yet).
    pub async fn sql(&self, sql: &str) -> Result<Query> {
        let statement = crate::parser::parse_statement(sql)?;
        self.query(statement).await
    }

    /// Plans a parsed statement into a [`Query`]. Planning reads the
    /// adapter's catalog; it runs on the dedicated runtime like execution.
    pub async fn query(&self, statement: Statement) -> Result<Query> {
        if let StatementBody::Show(show) = &statement.body {
            let show = show.clone();
            let notices = crate::show::notices(&show, self.adapter.as_ref()).await?;
            return Ok(Query::show(self.env(), statement, show, notices));
        }
        let adapter = Arc::clone(&self.adapter);
        let config = self.config.clone();
        let planned = crate::dedicated::handle()?.spawn(async move {
            let (plan, catalog) = plan_statement(&adapter, &statement, &config).await?;
            Ok::<_, crate::error::TsqError>((statement, plan, catalog))
        });
        let (statement, plan, catalog) = planned.await.map_err(crate::dedicated::join_error)??;
        Ok(Query::new(self.env(), statement, plan, catalog))
    }

    /// Runs exactly one statement.
    pub async fn execute(&self, sql: &str) -> Result<QueryOutput> {
        Ok(self.execute_with_stats(sql).await?.0)
    }

    /// Runs exactly one statement and also reports what it cost: the most
    /// bytes its operators (or the result join) reserved at once from the
    /// query's memory pool. The benchmarks read memory this way.
    pub async fn execute_with_stats(&self, sql: &str) -> Result<(QueryOutput, QueryStats)> {
        // parsed on the statement's task too: the caller's thread, which
        // only waits, does not run the parser
        let sql = sql.to_string();
        self.on_runtime(move |session| async move {
            let statement = crate::parser::parse_statement(&sql)?;
            session.run_statement_here(statement).await
        })
        .await
    }

    /// Runs the `;`-separated statements of `script` in order, stopping at
    /// the first error.
    pub async fn execute_script(&self, script: &str) -> Result<Vec<QueryOutput>> {
        let mut out = Vec::new();
        for statement in crate::parser::parse_script(script)? {
            out.push(self.run_statement(statement).await?.0);
        }
        Ok(out)
    }

    /// Runs one query and streams its batches (`sql(..)` then
    /// [`Query::stream`]): every query streams, each batch handed over as
    /// soon as the join has completed its rows (an `ORDER BY` only once
    /// its pipelines ended). An EXPLAIN statement streams its text as a
    /// `plan` column.
    pub async fn stream(&self, sql: &str) -> Result<QueryStream> {
        self.sql(sql).await?.stream().await
    }

    /// Plans a parsed statement against the adapter's catalog (no execution),
    /// refusing one that would make more than `max_buckets` buckets.
    pub async fn plan(&self, statement: &Statement) -> Result<(LogicalPlan, Catalog)> {
        plan_statement(&self.adapter, statement, &self.config).await
    }

    fn env(&self) -> QueryEnv {
        QueryEnv {
            adapter: Arc::clone(&self.adapter),
            config: self.config.clone(),
            session_cancel: Arc::clone(&self.cancel),
            shared_memory: self.shared_memory.clone(),
        }
    }

    /// Runs one statement as one task on the dedicated runtime: planning,
    /// execution and the collection of the batches hand over to each other
    /// on its worker, so the caller's thread is woken once, for the output,
    /// instead of once per step and per batch (`docs/library.md`, "Async").
    /// Dropping the returned future aborts the task, which drops its query
    /// and so cancels it.
    async fn run_statement(&self, statement: Statement) -> Result<(QueryOutput, QueryStats)> {
        self.on_runtime(move |session| async move { session.run_statement_here(statement).await })
            .await
    }

    /// Runs `work` over a copy of this session as one task on the dedicated
    /// runtime ([`run_statement`](Self::run_statement)); dropping the
    /// returned future aborts the task.
    async fn on_runtime<F, W>(&self, work: W) -> Result<(QueryOutput, QueryStats)>
    where
        W: FnOnce(Session) -> F,
        F: std::future::Future<Output = Result<(QueryOutput, QueryStats)>> + Send + 'static,
    {
        let session = Session {
            adapter: Arc::clone(&self.adapter),
            config: self.config.clone(),
            cancel: Arc::clone(&self.cancel),
            shared_memory: self.shared_memory.clone(),
        };
        let task = crate::dedicated::handle()?.spawn(work(session));
        let mut task = AbortOnDrop(task);
        (&mut task.0).await.map_err(crate::dedicated::join_error)?
    }

    /// [`run_statement`](Self::run_statement)'s work, on the calling task.
    async fn run_statement_here(&self, statement: Statement) -> Result<(QueryOutput, QueryStats)> {
        let query = self.query(statement).await?;
        let notices = query.notices().to_vec();
        let (kind, memory_peak) = match query.explain_mode() {
            Some(mode) => {
                let (text, peak) = query
                    .explain_with_peak(mode == ExplainMode::Analyze)
                    .await?;
                (QueryKind::Explain(text), peak)
            }
            None => {
                let mut stream = query.stream().await?;
                let mut batches = Vec::new();
                while let Some(batch) = stream.next().await {
                    batches.push(batch?);
                }
                let schema = stream.schema();
                let kind = QueryKind::Rows { schema, batches };
                (kind, stream.memory_peak())
            }
        };
        let stats = QueryStats { memory_peak };
        Ok((QueryOutput { kind, notices }, stats))
    }
}

/// A task handle that aborts its task when dropped (a caller that gives up
/// on a statement stops it).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Plans `statement` against the catalog of `adapter`.
async fn plan_statement(
    adapter: &Arc<dyn StorageAdapter>,
    statement: &Statement,
    config: &SessionConfig,
) -> Result<(LogicalPlan, Catalog)> {
    let query = match &statement.body {
        StatementBody::Select(query) => query,
        StatementBody::Show(show) => {
            return Err(crate::error::TsqError::plan(
                show.pos,
                "SHOW statements are answered from the index, not planned",
            ))
        }
    };
    let catalog = catalog(adapter, &query.measurement.value).await?;
    let mut plan = plan_query(query, &catalog, config.force_strategy)?;
    if plan.last_points_as_one && !config.last_points_as_one {
        plan.last_points_as_one = false;
        plan.decide(
            "choose_read_path",
            "one LastPointsOp: off in the session's settings, one pipeline per column",
        );
    }
    // A plain EXPLAIN reads no storage (it looks up no data span).
    let resolve = statement.explain != Some(ExplainMode::Plan);
    check_bucket_limit(&mut plan, adapter, config.max_buckets, resolve).await?;
    if resolve {
        share_sample_all_start(&mut plan, adapter).await?;
    }
    Ok((plan, catalog))
}

async fn catalog(a: &Arc<dyn StorageAdapter>, measurement: &str) -> Result<Catalog> {
    let exists = a.measurements().await?.iter().any(|m| m == measurement);
    let (field_types, tag_keys) = if exists {
        (
            a.field_types(measurement).await?,
            a.tag_keys(measurement).await?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Catalog {
        adapter: a.name().to_string(),
        capabilities: a.capabilities(),
        measurement_exists: exists,
        fields: field_types.iter().map(|(f, _)| f.clone()).collect(),
        tag_keys,
        field_types,
    })
}
