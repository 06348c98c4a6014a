//! The dedicated executor: a tokio runtime of its own, on its own threads,
//! that runs the CPU-bound work of queries (planning, operator pipelines,
//! the result join) so that the caller's runtime never runs more than the
//! hand-over of one batch (the pattern InfluxDB IOx calls a dedicated
//! executor). Batches come back through bounded channels
//! (`docs/library.md`, "Async"). Being a tokio runtime with timers and I/O
//! enabled, it also runs adapters whose scans await tokio timers or
//! sockets, at every thread count.
//!
//! The runtime is created on first use, with one worker per available core,
//! and lives as long as the process (it is never dropped from inside an
//! async context, which tokio forbids).

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};
use tsq_engine::EngineError;

use crate::error::{Result, TsqError};

static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

/// The handle of the dedicated runtime (created on first use).
pub(crate) fn handle() -> Result<Handle> {
    let runtime = RUNTIME.get_or_init(|| {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("tsq-cpu")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    match runtime {
        Ok(rt) => Ok(rt.handle().clone()),
        Err(e) => Err(TsqError::Execution(EngineError::execution(
            "executor",
            format!("cannot start the query runtime: {e}"),
        ))),
    }
}

/// The error of a task of the dedicated runtime that panicked or was
/// aborted.
pub(crate) fn join_error(e: tokio::task::JoinError) -> TsqError {
    if e.is_cancelled() {
        TsqError::Execution(EngineError::Cancelled)
    } else {
        TsqError::Execution(EngineError::execution(
            "executor",
            format!("a query task panicked: {e}"),
        ))
    }
}
