//! The CLI's traits over the real engine: [`Ingest`] over the TSM
//! `Store`, [`QueryEngine`] over the planner's `Session` on a `TsmAdapter`.
//! Everything else in the CLI only sees the traits of `backend.rs`.
//!
//! With partial results allowed, the files a statement left out (damaged
//! TSM files, see docs/storage.md) become notices of its result.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures::StreamExt;
use tsq_engine::spec::AggStrategy;
use tsq_engine::{CancellationToken, StorageAdapter};
use tsq_planner::{Executor, QueryKind, QueryOutput, Session, SessionConfig, TsqError};
use tsq_storage::line_protocol::Precision as LineProtocolPrecision;
use tsq_storage::tsm::compact::CompactReport;
use tsq_storage::tsm::shard::Unreadable;
use tsq_storage::tsm::wal::SeriesPoints;
use tsq_storage::tsm::{Access, Store, StoreOptions, TsmAdapter, TsmError};

use crate::cli::backend::{
    Backend, CliError, Ingest, LineIssue, OpenMode, OutputKind, Precision, QueryEngine,
    QueryLimits, QueryResult, Result, Streamed, WriteSummary,
};
use crate::cli::error_render::escape_controls;
use crate::cli::format::cell::format_time;

/// Memory the store of a writing CLI command may give its cache: the
/// snapshot size is an eighth of it ([`StoreOptions::bulk_load`]).
const BULK_LOAD_MEMORY: usize = 1 << 30;

/// Opens the store in `dir` and a session over it: read-write for
/// [`OpenMode::Create`] (the directory's only writer), read-only for
/// [`OpenMode::Existing`] (docs/storage.md, "Multi-process rules");
/// [`OpenMode::ExistingWrite`] writes to a directory that must exist.
pub fn open(dir: &Path, mode: OpenMode) -> Result<Backend> {
    if mode != OpenMode::Create && !dir.is_dir() {
        let d = dir.display();
        return Err(CliError::Data(format!(
            "no data directory at {d} (create one with `tsq import --data {d} FILE` or `tsq demo --data {d}`)"
        )));
    }
    let access = match mode {
        OpenMode::Create | OpenMode::ExistingWrite => Access::ReadWrite,
        OpenMode::Existing => Access::ReadOnly,
    };
    // Imports and the demo are bulk loads: larger snapshots written in the
    // background, compacted as they come (docs/storage.md, "Bulk loads").
    let options = match access {
        Access::ReadWrite => StoreOptions::bulk_load(BULK_LOAD_MEMORY),
        Access::ReadOnly => StoreOptions::default(),
    };
    let options = StoreOptions { access, ..options };
    let (store, report) = Store::open(dir, options).map_err(|e| open_error(dir, &e))?;
    // The store returns its warnings; they are printed here, once.
    for warning in &report.warnings {
        eprintln!("warning: {}", escape_controls(warning));
    }
    let store = Arc::new(store);
    let tsm = Arc::new(TsmAdapter::new(Arc::clone(&store)));
    let adapter: Arc<dyn StorageAdapter> = Arc::clone(&tsm) as Arc<dyn StorageAdapter>;
    let mut engine = SessionEngine::new(adapter, SessionConfig::default());
    engine.tsm = Some(tsm);
    Ok(Backend {
        ingest: Box::new(StoreIngest(store)),
        engine: Arc::new(engine),
    })
}

/// The error of a failed open: a directory held by another process is
/// reported as the store words it (it names the holder).
fn open_error(dir: &Path, e: &TsmError) -> CliError {
    match e {
        TsmError::InUse { .. } => CliError::Data(e.to_string()),
        _ => CliError::Data(format!("cannot open the store in {}: {e}", dir.display())),
    }
}

/// [`Ingest`] over a TSM store.
struct StoreIngest(Arc<Store>);

impl Ingest for StoreIngest {
    fn write_lines(&self, text: &str, precision: Precision) -> Result<WriteSummary> {
        let precision = match precision {
            Precision::Ns => LineProtocolPrecision::Nanoseconds,
            Precision::Us => LineProtocolPrecision::Microseconds,
            Precision::Ms => LineProtocolPrecision::Milliseconds,
            Precision::S => LineProtocolPrecision::Seconds,
        };
        let report = self
            .0
            .write_lines(text, precision)
            .map_err(|e| CliError::Data(format!("write failed: {e}")))?;
        Ok(WriteSummary {
            points: report.points_written as u64,
            series_created: report.series_created as u64,
            errors: report
                .errors
                .into_iter()
                .map(|e| LineIssue {
                    line: e.line,
                    column: e.column,
                    message: e.message,
                })
                .collect(),
        })
    }

    fn write_series(&self, batch: Vec<SeriesPoints>) -> Result<WriteSummary> {
        self.series_summary(batch)
    }

    fn compact(&self) -> Result<()> {
        let dir = self.0.dir().display().to_string();
        self.0
            .compact_full()
            .map(|_| ())
            .map_err(|e| CliError::Data(format!("compaction of {dir} failed: {e}")))
    }

    fn close(&self, compact: bool) -> Result<Option<CompactReport>> {
        self.finish(compact)
    }
}

/// Typed writes and clean shutdown of the store.
impl StoreIngest {
    fn series_summary(&self, batch: Vec<SeriesPoints>) -> Result<WriteSummary> {
        let report = self
            .0
            .write_series(batch)
            .map_err(|e| CliError::Data(format!("write failed: {e}")))?;
        Ok(WriteSummary {
            points: report.points_written as u64,
            series_created: report.series_created as u64,
            errors: report
                .rejected
                .into_iter()
                .map(|(_, e)| LineIssue {
                    line: 0,
                    column: 0,
                    message: e.to_string(),
                })
                .collect(),
        })
    }

    fn finish(&self, compact: bool) -> Result<Option<CompactReport>> {
        let dir = self.0.dir().display().to_string();
        let report = if compact {
            let r = self.0.compact_full();
            Some(r.map_err(|e| CliError::Data(format!("compaction of {dir} failed: {e}")))?)
        } else {
            None
        };
        self.0
            .close()
            .map_err(|e| CliError::Data(format!("closing the store in {dir} failed: {e}")))?;
        Ok(report)
    }
}

/// [`QueryEngine`] over a planner session; `\strategy` swaps in a session
/// with another configuration.
pub struct SessionEngine {
    adapter: Arc<dyn StorageAdapter>,
    session: Mutex<Arc<Session>>,
    /// The TSM adapter behind `adapter`, when it is one: partial results.
    tsm: Option<Arc<TsmAdapter>>,
}

impl SessionEngine {
    /// A session over `adapter`.
    pub fn new(adapter: Arc<dyn StorageAdapter>, config: SessionConfig) -> Self {
        let session = Session::new(Arc::clone(&adapter), config);
        SessionEngine {
            adapter,
            session: Mutex::new(Arc::new(session)),
            tsm: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Arc<Session>> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn session(&self) -> Arc<Session> {
        Arc::clone(&self.lock())
    }
}

#[async_trait]
impl QueryEngine for SessionEngine {
    async fn execute(&self, sql: &str) -> Result<QueryResult> {
        let Some(tsm) = &self.tsm else {
            let output = self.session().execute(sql).await.map_err(query_error)?;
            return Ok(query_result(output));
        };
        tsm.take_left_out();
        let output = self.session().execute(sql).await;
        let left_out = tsm.take_left_out();
        let mut result = query_result(output.map_err(|e| damaged_hint(query_error(e), tsm))?);
        let shard = tsm.store().options().shard_duration;
        result.notices.extend(
            left_out
                .iter()
                .map(|u| left_out_notice(u, u.time_range(shard))),
        );
        Ok(result)
    }

    async fn stream(&self, sql: &str) -> Result<(Streamed, Vec<String>)> {
        if let Some(tsm) = &self.tsm {
            tsm.take_left_out();
        }
        let hint = {
            let tsm = self.tsm.clone();
            move |e: CliError| match &tsm {
                Some(tsm) => damaged_hint(e, tsm),
                None => e,
            }
        };
        let query = self.session().sql(sql).await.map_err(query_error)?;
        let notices = query.notices().to_vec();
        if let Some(mode) = query.explain_mode() {
            let analyze = mode == tsq_planner::ast::ExplainMode::Analyze;
            let text = query
                .explain(analyze)
                .await
                .map_err(|e| hint(query_error(e)))?;
            return Ok((Streamed::Explain(text), notices));
        }
        let stream = query.stream().await.map_err(|e| hint(query_error(e)))?;
        let schema = stream.schema();
        let batches = stream.map(move |b| b.map_err(|e| hint(query_error(e))));
        let streamed = Streamed::Rows {
            schema,
            batches: Box::pin(batches),
        };
        Ok((streamed, notices))
    }

    fn after_stream(&self) -> Vec<String> {
        let Some(tsm) = &self.tsm else {
            return Vec::new();
        };
        let shard = tsm.store().options().shard_duration;
        tsm.take_left_out()
            .iter()
            .map(|u| left_out_notice(u, u.time_range(shard)))
            .collect()
    }

    fn cancel_token(&self) -> CancellationToken {
        self.session().cancel_token()
    }

    fn catalog(&self) -> Arc<dyn StorageAdapter> {
        Arc::clone(&self.adapter)
    }

    fn set_strategy(&self, strategy: Option<AggStrategy>) {
        let mut session = self.lock();
        let mut config = session.config().clone();
        config.force_strategy = strategy;
        *session = Arc::new(Session::new(Arc::clone(&self.adapter), config));
    }

    fn strategy(&self) -> Option<AggStrategy> {
        self.session().config().force_strategy
    }

    fn set_executor(&self, executor: Executor) {
        let mut session = self.lock();
        let mut config = session.config().clone();
        config.executor = executor;
        *session = Arc::new(Session::new(Arc::clone(&self.adapter), config));
    }

    fn executor(&self) -> Executor {
        self.session().config().executor
    }

    fn set_limits(&self, limits: QueryLimits) -> Result<()> {
        let mut session = self.lock();
        let mut config = session.config().clone();
        config.memory_budget = limits.memory_budget;
        config.max_buckets = limits.max_buckets;
        config.threads = limits.threads.max(1);
        *session = Arc::new(Session::new(Arc::clone(&self.adapter), config));
        Ok(())
    }

    fn limits(&self) -> Option<QueryLimits> {
        let session = self.session();
        let config = session.config();
        Some(QueryLimits {
            memory_budget: config.memory_budget,
            max_buckets: config.max_buckets,
            threads: config.threads,
        })
    }

    fn set_allow_partial(&self, on: bool) -> bool {
        self.tsm.as_ref().map(|t| t.set_allow_partial(on)).is_some()
    }

    fn allow_partial(&self) -> bool {
        self.tsm.as_ref().is_some_and(|t| t.options().allow_partial)
    }
}

/// The notice for a file a statement left out: its error (file, offset,
/// what) and the time range its points may lie in (its shard).
pub fn left_out_notice(u: &Unreadable, (start, end): (i64, i64)) -> String {
    if u.any_time {
        // A damaged WAL record: which series and times it held is unknown.
        return format!(
            "partial result: left out {}; its points may lie at any time",
            u.error
        );
    }
    format!(
        "partial result: left out {}; its points lie in [{}, {})",
        u.error,
        format_time(start),
        format_time(end)
    )
}

/// Adds to an error caused by a damaged file how to query without it.
fn damaged_hint(e: CliError, tsm: &TsmAdapter) -> CliError {
    match e {
        CliError::Execution(m) if !tsm.store().file_set().unreadable().is_empty() => {
            CliError::Execution(format!(
                "{m}\nhint: `--allow-partial` (`\\set allow_partial on` in the REPL) runs \
                 queries without the damaged files; `tsq check` and `tsq repair` examine and fix \
                 the store"
            ))
        }
        other => other,
    }
}

fn query_result(output: QueryOutput) -> QueryResult {
    let kind = match output.kind {
        QueryKind::Rows { schema, batches } => OutputKind::Rows { schema, batches },
        QueryKind::Explain(text) => OutputKind::Explain(text),
    };
    QueryResult {
        kind,
        notices: output.notices,
    }
}

fn query_error(e: TsqError) -> CliError {
    let positioned = |kind: &str, line: u64, column: u64, message: String| CliError::Query {
        kind: kind.to_string(),
        line: line as usize,
        column: column as usize,
        message,
    };
    match e {
        TsqError::Parse {
            line,
            column,
            message,
        } => positioned("parse", line, column, message),
        TsqError::Plan {
            line,
            column,
            message,
        } => positioned("plan", line, column, message),
        other => CliError::Execution(other.to_string()),
    }
}
