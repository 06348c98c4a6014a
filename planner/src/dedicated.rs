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
use tsq_engine::{EngineError, Spawner};

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

/// A spawner of partition tasks on `runtime` (`docs/library.md`, "Async").
///
/// A task spawned from a worker of the runtime goes to that worker's LIFO
/// slot, which no other worker may steal from and which wakes no idle
/// worker: a partition spawned by a task that goes on computing (the first
/// partition runs on the spawning task) would wait for it to finish, and
/// the partitions would run one after the other. An empty task spawned
/// right after takes the slot, which moves the partition to the worker's
/// shared queue and wakes an idle worker to steal it. Spawned from
/// outside the runtime, both go to its shared queue.
pub(crate) fn spawner(runtime: Handle) -> Spawner {
    Spawner::new(move |task| {
        runtime.spawn(task);
        runtime.spawn(async {});
    })
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;

    /// A task on the dedicated runtime spawns a task and then computes
    /// without yielding until the spawned task has run (or 10 s passed):
    /// the spawned task must start on another worker meanwhile.
    #[test]
    fn a_spawned_partition_runs_beside_the_task_that_spawned_it() {
        let runtime = handle().unwrap();
        let spawn = spawner(runtime.clone());
        let waited = runtime.clone().block_on(async move {
            let ran = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&ran);
            let inner = runtime.spawn(async move {
                spawn.spawn(Box::pin(async move { flag.store(true, Ordering::SeqCst) }));
                let start = Instant::now();
                // no await here: the spawning task keeps its worker
                while !ran.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
                    std::hint::spin_loop();
                }
                (ran.load(Ordering::SeqCst), start.elapsed())
            });
            inner.await.unwrap()
        });
        assert!(
            waited.0,
            "the spawned task did not run within {:?}",
            waited.1
        );
    }
}
