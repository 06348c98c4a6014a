//! What the CLI needs from the engine, as two small traits, plus the result
//! and error types the commands print.
//!
//! Commands depend on [`QueryEngine`] (run one statement, cancel it, read the
//! catalog) and [`Ingest`] (write line protocol), never on the planner or the
//! store directly; the implementations over `tsq_planner::Session` and
//! `tsq_storage::tsm::Store` live in `wiring.rs`, and tests can plug in fakes.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use tsq_engine::spec::AggStrategy;
use tsq_engine::{CancellationToken, StorageAdapter};
use tsq_planner::Executor;
use tsq_storage::tsm::compact::CompactReport;
use tsq_storage::tsm::wal::SeriesPoints;

/// The CLI's result alias.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// Everything a command can fail with; [`CliError::exit_code`] maps it to the
/// process exit status.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A query that does not parse or plan, with its 1-based position inside
    /// the statement text.
    #[error("{kind} error at {line}:{column}: {message}")]
    Query {
        /// `parse` or `plan`.
        kind: String,
        /// 1-based line inside the statement.
        line: usize,
        /// 1-based column (characters) inside the line.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The query failed while running (cancelled, out of memory, storage).
    #[error("{0}")]
    Execution(String),
    /// Reading or writing data failed (files, the store).
    #[error("{0}")]
    Data(String),
    /// The command line or a REPL command is wrong.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// What a statement returned.
#[derive(Debug, Clone)]
pub enum OutputKind {
    /// A result table.
    Rows {
        /// Its schema (also for zero batches).
        schema: SchemaRef,
        /// Its rows.
        batches: Vec<RecordBatch>,
    },
    /// EXPLAIN / EXPLAIN ANALYZE text.
    Explain(String),
}

/// One statement's output plus the notices the planner attached (for example
/// "measurement `cpux` does not exist").
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Rows or plan text.
    pub kind: OutputKind,
    /// Notices to show on stderr.
    pub notices: Vec<String>,
}

/// The batches of a result as the engine produces them.
pub type BatchStream = futures::stream::BoxStream<'static, Result<RecordBatch>>;

/// A statement's output handed over as it comes: result rows batch by
/// batch, or EXPLAIN text.
pub enum Streamed {
    /// Result rows.
    Rows {
        /// Their schema (also when no batch comes).
        schema: SchemaRef,
        /// The batches, in order.
        batches: BatchStream,
    },
    /// EXPLAIN / EXPLAIN ANALYZE text.
    Explain(String),
}

/// Runs statements; implemented over the planner's `Session`.
#[async_trait]
pub trait QueryEngine: Send + Sync {
    /// Runs one statement (without its trailing `;`).
    async fn execute(&self, sql: &str) -> Result<QueryResult>;

    /// Runs one statement and hands its rows over batch by batch, with the
    /// notices known before it runs. The default runs [`execute`]
    /// (Self::execute) and hands over what it returned.
    async fn stream(&self, sql: &str) -> Result<(Streamed, Vec<String>)> {
        let result = self.execute(sql).await?;
        let streamed = match result.kind {
            OutputKind::Rows { schema, batches } => Streamed::Rows {
                schema,
                batches: Box::pin(futures::stream::iter(batches.into_iter().map(Ok))),
            },
            OutputKind::Explain(text) => Streamed::Explain(text),
        };
        Ok((streamed, result.notices))
    }

    /// Notices about the statement that ran last, known only once its rows
    /// are all out (files a partial result left out); none by default.
    fn after_stream(&self) -> Vec<String> {
        Vec::new()
    }

    /// The token that cancels the statement currently running.
    fn cancel_token(&self) -> CancellationToken;

    /// The storage behind the session, for `\d`.
    fn catalog(&self) -> Arc<dyn StorageAdapter>;

    /// Forces the cross-timeline aggregation operator for the following
    /// statements (`None`: the planner chooses).
    fn set_strategy(&self, strategy: Option<AggStrategy>);

    /// The forced operator, if any.
    fn strategy(&self) -> Option<AggStrategy>;

    /// Runs the following statements on `executor`.
    fn set_executor(&self, executor: Executor);

    /// The executor statements run on.
    fn executor(&self) -> Executor;

    /// Sets the per-query limits of the following statements (an engine
    /// without limits says so).
    fn set_limits(&self, _limits: QueryLimits) -> Result<()> {
        Err(CliError::Usage(
            "this engine has no query limits to set".into(),
        ))
    }

    /// The per-query limits, if the engine has any.
    fn limits(&self) -> Option<QueryLimits> {
        None
    }

    /// Lets the following statements run without the damaged files they
    /// would need (partial results, reported as notices) instead of failing;
    /// false when this engine has no such option (the default).
    fn set_allow_partial(&self, _on: bool) -> bool {
        false
    }

    /// True when partial results are allowed.
    fn allow_partial(&self) -> bool {
        false
    }
}

/// Per-query resource limits (`--memory-budget`, `--max-buckets`, `\set`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Memory budget of each query in bytes.
    pub memory_budget: usize,
    /// Most `SAMPLE BY` buckets per timeline.
    pub max_buckets: u64,
    /// Threads (partitions per value column) of each query.
    pub threads: usize,
}

/// Timestamp precision of imported line protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Precision {
    /// Nanoseconds (the default).
    #[default]
    Ns,
    /// Microseconds.
    Us,
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
}

/// A rejected line of line protocol (positions are 1-based, relative to the
/// text handed to [`Ingest::write_lines`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIssue {
    /// Line number.
    pub line: usize,
    /// Column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// What one [`Ingest::write_lines`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Points written (acknowledged).
    pub points: u64,
    /// Series that did not exist before.
    pub series_created: u64,
    /// Lines rejected; the valid lines around them were written.
    pub errors: Vec<LineIssue>,
}

/// Writes line protocol; implemented over the TSM `Store`.
pub trait Ingest {
    /// Writes every valid line of `text`, reporting the invalid ones.
    fn write_lines(&self, text: &str, precision: Precision) -> Result<WriteSummary>;

    /// Writes typed points grouped by series (Parquet import); a rejected
    /// series (a type conflict) is reported in `errors` with line 0.
    fn write_series(&self, batch: Vec<SeriesPoints>) -> Result<WriteSummary> {
        let _ = batch;
        Err(CliError::Data("this store takes no typed writes".into()))
    }

    /// Merges the files of every shard into one (a full compaction) and
    /// stays open: `tsq demo` calls it once a day shard is complete, so
    /// the level-1 files of finished days are not all held at once.
    fn compact(&self) -> Result<()> {
        Ok(())
    }

    /// Ends the session cleanly: the cache is snapshotted so nothing is left
    /// to replay; with `compact`, a full compaction (its report returned).
    fn close(&self, compact: bool) -> Result<Option<CompactReport>> {
        let _ = compact;
        Ok(None)
    }
}

/// An opened data directory: a writer and a query engine over the same store.
pub struct Backend {
    /// Writes into the store.
    pub ingest: Box<dyn Ingest>,
    /// Queries the store.
    pub engine: Arc<dyn QueryEngine>,
}

/// How a command opens its data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the directory if needed and open it read-write, as its only
    /// writer (`import`, `demo`).
    Create,
    /// The directory must exist; opened read-only, changing no file
    /// (`query`, the REPL).
    Existing,
    /// The directory must exist; opened read-write as its only writer
    /// (`compact`).
    ExistingWrite,
}

/// Opens a data directory; `main` passes the implementation of `wiring.rs`.
pub type Opener = dyn Fn(&std::path::Path, OpenMode) -> Result<Backend>;
