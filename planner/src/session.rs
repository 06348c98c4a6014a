//! The library API: a [`Session`] over one storage adapter runs statements
//! (`execute`), `;`-separated scripts (`execute_script`) and streams results
//! (`stream`), under the settings of a [`SessionConfig`] (batch size, memory
//! budget per query, an optional forced aggregation operator). Ctrl-C
//! handlers cancel the running query through [`Session::cancel_token`].

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::{Stream, StreamExt};
use tsq_engine::memory::{MemoryPool, DEFAULT_MEMORY_BUDGET};
use tsq_engine::spec::AggStrategy;
use tsq_engine::{CancellationToken, StorageAdapter, TaskContext, DEFAULT_BATCH_SIZE};

use crate::ast::{ExplainMode, Statement};
use crate::bucket_limit::check_bucket_limit;
use crate::error::Result;
use crate::explain::{explain, explain_analyze};
use crate::logical::plan_query;
use crate::physical::{build_physical, run, run_materialized};
use crate::plan::{Catalog, LogicalPlan};

/// Settings of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Threads that run the pipelines of one query (one pipeline per value
    /// column) side by side, as tasks on rayon's pool driven with
    /// `futures::executor::block_on`; 1 runs them one after the other on
    /// the caller's task. Default: the machine's available parallelism. Set
    /// 1 for an adapter whose scans need to run inside a tokio runtime.
    pub threads: usize,
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
        }
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

/// Runs statements against one storage adapter.
#[derive(Debug)]
pub struct Session {
    adapter: Arc<dyn StorageAdapter>,
    config: SessionConfig,
    cancel: Arc<Mutex<CancellationToken>>,
}

impl Session {
    /// A session over `adapter`.
    pub fn new(adapter: Arc<dyn StorageAdapter>, config: SessionConfig) -> Self {
        Session {
            adapter,
            config,
            cancel: Arc::new(Mutex::new(CancellationToken::new())),
        }
    }

    /// The settings.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Changes the settings for the next statements.
    pub fn set_config(&mut self, config: SessionConfig) {
        self.config = config;
    }

    /// The token that cancels the running query. Fetch it when Ctrl-C
    /// arrives: once a query has stopped, a cancelled token is replaced by a
    /// fresh one for the next query (a token cancelled while no query runs
    /// stops the next query).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Runs exactly one statement.
    pub async fn execute(&self, sql: &str) -> Result<QueryOutput> {
        let statement = crate::parser::parse_statement(sql)?;
        self.run_statement(&statement).await
    }

    /// Runs exactly one statement and also reports what it cost: the most
    /// bytes its operators (or the result join) reserved at once from the
    /// query's memory pool. The benchmarks read memory this way.
    pub async fn execute_with_stats(&self, sql: &str) -> Result<(QueryOutput, QueryStats)> {
        let statement = crate::parser::parse_statement(sql)?;
        self.run_statement_with_stats(&statement).await
    }

    /// Runs the `;`-separated statements of `script` in order, stopping at
    /// the first error.
    pub async fn execute_script(&self, script: &str) -> Result<Vec<QueryOutput>> {
        let mut out = Vec::new();
        for statement in crate::parser::parse_script(script)? {
            out.push(self.run_statement(&statement).await?);
        }
        Ok(out)
    }

    /// Runs one query and streams its batches. Queries with one value
    /// column and no `ORDER BY`/`LIMIT` stream straight from the pipeline;
    /// the others are joined first. EXPLAIN is not streamable.
    pub async fn stream(&self, sql: &str) -> Result<RecordBatchStream> {
        let statement = crate::parser::parse_statement(sql)?;
        let (plan, _) = self.plan(&statement).await?;
        let ctx = self.context();
        if statement.explain.is_none()
            && self.config.executor == Executor::Pipelined
            && crate::stream::streamable(&plan)
        {
            let stream = crate::stream::stream_single(&plan, &self.adapter, ctx).await?;
            let cancel = Arc::clone(&self.cancel);
            return Ok(Box::pin(stream.inspect(move |item| {
                if item.is_err() {
                    reset_cancelled(&cancel);
                }
            })));
        }
        let batches = match self.run_statement(&statement).await?.kind {
            QueryKind::Rows { batches, .. } => batches,
            QueryKind::Explain(text) => {
                return Err(crate::error::TsqError::plan(
                    crate::error::Pos::new(1, 1),
                    format!("EXPLAIN cannot be streamed; use execute:\n{text}"),
                ))
            }
        };
        Ok(Box::pin(futures::stream::iter(batches.into_iter().map(Ok))).boxed())
    }

    /// Plans a parsed statement against the adapter's catalog (no execution),
    /// refusing one that would make more than `max_buckets` buckets.
    pub async fn plan(&self, statement: &Statement) -> Result<(LogicalPlan, Catalog)> {
        let catalog = self.catalog(&statement.query.measurement.value).await?;
        let plan = plan_query(&statement.query, &catalog, self.config.force_strategy)?;
        check_bucket_limit(&plan, &self.adapter, self.config.max_buckets).await?;
        Ok((plan, catalog))
    }

    async fn catalog(&self, measurement: &str) -> Result<Catalog> {
        let a = &self.adapter;
        let exists = a.measurements().await?.iter().any(|m| m == measurement);
        let (fields, tag_keys) = if exists {
            (a.fields(measurement).await?, a.tag_keys(measurement).await?)
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Catalog {
            adapter: a.name().to_string(),
            capabilities: a.capabilities(),
            measurement_exists: exists,
            fields,
            tag_keys,
        })
    }

    /// A fresh context for one query, sharing the session's current token.
    fn context(&self) -> TaskContext {
        TaskContext {
            batch_size: self.config.batch_size.max(1),
            memory: MemoryPool::new(self.config.memory_budget),
            cancel: self.cancel_token(),
        }
    }

    async fn run_statement(&self, statement: &Statement) -> Result<QueryOutput> {
        Ok(self.run_statement_with_stats(statement).await?.0)
    }

    async fn run_statement_with_stats(
        &self,
        statement: &Statement,
    ) -> Result<(QueryOutput, QueryStats)> {
        let (plan, catalog) = self.plan(statement).await?;
        let mut physical = build_physical(&plan, &self.adapter).await?;
        let notices = plan.notices.clone();
        if statement.explain == Some(ExplainMode::Plan) {
            let text = explain(&plan, &catalog, &physical);
            let output = QueryOutput {
                kind: QueryKind::Explain(text),
                notices,
            };
            return Ok((output, QueryStats::default()));
        }
        let ctx = self.context();
        let result = match self.config.executor {
            Executor::Materialized if statement.explain.is_none() => {
                run_materialized(&plan, &self.adapter, &ctx).await
            }
            _ => run(&plan, &mut physical, &ctx, self.config.threads).await,
        };
        reset_cancelled(&self.cancel);
        let (schema, batches) = result?;
        let kind = if statement.explain == Some(ExplainMode::Analyze) {
            let rows = batches.iter().map(|b| b.num_rows()).sum();
            QueryKind::Explain(explain_analyze(
                &plan,
                &catalog,
                &physical,
                rows,
                ctx.memory.peak(),
            ))
        } else {
            QueryKind::Rows { schema, batches }
        };
        let stats = QueryStats {
            memory_peak: ctx.memory.peak(),
        };
        Ok((QueryOutput { kind, notices }, stats))
    }
}

/// After a query: a cancelled token is replaced, so that one Ctrl-C stops
/// one query.
fn reset_cancelled(cancel: &Mutex<CancellationToken>) {
    if let Ok(mut t) = cancel.lock() {
        if t.is_cancelled() {
            *t = CancellationToken::new();
        }
    }
}
