//! The engines the TSBS queries run on, behind one small trait: tsq's
//! planner and operator pipelines, the same plans through the materialized
//! executor, and (with the `datafusion` feature) DataFusion's SQL over a
//! `MemTable` of the same rows, see `crate::df`.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use tsq_engine::{EngineError, Result, StorageAdapter};
use tsq_planner::{Executor, QueryKind, Session, SessionConfig};

use super::queries::TsbsQuery;

/// Something that answers a [`TsbsQuery`].
pub trait QueryEngine {
    /// The engine's name in tables.
    fn label(&self) -> String;

    /// Runs `query` once: its result rows, and the engine's own peak memory
    /// accounting when it has one.
    fn run(&self, query: &TsbsQuery) -> Result<(Vec<RecordBatch>, Option<usize>)>;
}

/// tsq: the planner's query text, run by one of its executors.
#[derive(Debug)]
pub struct TsqEngine {
    session: Session,
    executor: Executor,
    threads: usize,
}

impl TsqEngine {
    /// A session over `adapter` running plans on `executor`, the pipelines
    /// of a query on up to `threads` threads (the materialized executor
    /// always runs them one after the other).
    pub fn new(adapter: Arc<dyn StorageAdapter>, executor: Executor, threads: usize) -> Self {
        Self::with_memory_budget(adapter, executor, threads, None)
    }

    /// [`TsqEngine::new`] with each query's memory budget set to `budget`
    /// bytes (`None`: the session's default).
    pub fn with_memory_budget(
        adapter: Arc<dyn StorageAdapter>,
        executor: Executor,
        threads: usize,
        budget: Option<usize>,
    ) -> Self {
        let threads = threads.max(1);
        let mut config = SessionConfig::new()
            .with_executor(executor)
            .with_threads(threads);
        if let Some(bytes) = budget {
            config = config.with_memory_budget(bytes);
        }
        TsqEngine {
            session: Session::new(adapter, config),
            executor,
            threads,
        }
    }
}

impl QueryEngine for TsqEngine {
    fn label(&self) -> String {
        match self.executor {
            Executor::Pipelined if self.threads == 1 => "tsq pipelined (1 thread)".into(),
            Executor::Pipelined => format!("tsq pipelined ({} threads)", self.threads),
            Executor::Materialized => "tsq materialized".into(),
        }
    }

    fn run(&self, query: &TsbsQuery) -> Result<(Vec<RecordBatch>, Option<usize>)> {
        let run = futures::executor::block_on(self.session.execute_with_stats(&query.tsq));
        let (output, stats) =
            run.map_err(|e| EngineError::execution(query.name, format!("{}: {e}", self.label())))?;
        let QueryKind::Rows { batches, .. } = output.kind else {
            return Err(EngineError::execution(
                query.name,
                "expected rows, got EXPLAIN text",
            ));
        };
        // The materialized executor accounts only for the result join, not
        // for the timelines it holds: its own peak would mislead.
        let peak = (self.executor == Executor::Pipelined).then_some(stats.memory_peak);
        Ok((batches, peak))
    }
}
