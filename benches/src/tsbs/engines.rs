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
}

impl TsqEngine {
    /// A session over `adapter` running plans on `executor`.
    pub fn new(adapter: Arc<dyn StorageAdapter>, executor: Executor) -> Self {
        let config = SessionConfig {
            executor,
            ..SessionConfig::default()
        };
        TsqEngine {
            session: Session::new(adapter, config),
            executor,
        }
    }
}

impl QueryEngine for TsqEngine {
    fn label(&self) -> String {
        match self.executor {
            Executor::Pipelined => "tsq pipelined".into(),
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
