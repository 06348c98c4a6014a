//! Starting partition tasks: through the query's [`Spawner`] when it has
//! one (each task's output comes back through a oneshot channel; the first
//! runs on the calling task, which would otherwise only wait), else one
//! after the other on the calling task.

use futures::channel::oneshot;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::context::{CancellationToken, TaskContext};
use crate::error::{EngineError, Result};

/// Runs every task and returns their outputs in task order. Tasks run
/// concurrently through `ctx.spawner` (all but the first, which the calling
/// task polls alongside the others' results: it would only wait for them
/// otherwise, and a spawned task costs a hand-off to another thread and a
/// wake-up back), or one after the other without one.
/// As soon as one output is an error (`failed` says so), `cancel` is
/// cancelled so that the others stop at their next batch. A task that
/// ended without an output (it panicked) is an execution error of
/// `operator`.
pub(crate) async fn run_all<T: Send + 'static>(
    ctx: &TaskContext,
    cancel: &CancellationToken,
    operator: &str,
    tasks: Vec<BoxFuture<'static, T>>,
    failed: impl Fn(&T) -> bool,
) -> Vec<Result<T>> {
    let mut outputs: Vec<Option<Result<T>>> = (0..tasks.len()).map(|_| None).collect();
    match &ctx.spawner {
        Some(spawner) => {
            let mut tasks = tasks.into_iter();
            let first = tasks.next();
            let mut pending: FuturesUnordered<BoxFuture<'_, (usize, Option<T>)>> = tasks
                .enumerate()
                .map(|(k, task)| {
                    let rx = start(spawner, task);
                    Box::pin(async move { (k + 1, rx.await.ok()) }) as BoxFuture<'_, _>
                })
                .collect();
            if let Some(task) = first {
                pending.push(Box::pin(async move { (0, Some(task.await)) }));
            }
            while let Some((k, out)) = pending.next().await {
                let out = out.ok_or_else(|| vanished(operator, k));
                if out.as_ref().map_or(true, &failed) {
                    cancel.cancel();
                }
                outputs[k] = Some(out);
            }
        }
        None => {
            for (k, task) in tasks.into_iter().enumerate() {
                let out = task.await;
                if failed(&out) {
                    cancel.cancel();
                }
                outputs[k] = Some(Ok(out));
            }
        }
    }
    outputs
        .into_iter()
        .enumerate()
        .map(|(k, o)| o.unwrap_or_else(|| Err(vanished(operator, k))))
        .collect()
}

/// Starts `task` through `spawner`; its output arrives on the receiver
/// (which reports `Canceled` if the task ends without one).
pub(crate) fn start<T: Send + 'static>(
    spawner: &crate::context::Spawner,
    task: BoxFuture<'static, T>,
) -> oneshot::Receiver<T> {
    let (tx, rx) = oneshot::channel();
    spawner.spawn(Box::pin(async move {
        let _ = tx.send(task.await);
    }));
    rx
}

/// The error of partition `k` whose task ended without a result.
pub(crate) fn vanished(operator: &str, k: usize) -> EngineError {
    EngineError::execution(
        operator,
        format!(
            "partition {} stopped without a result (its task panicked or was dropped)",
            k + 1
        ),
    )
}

/// The error to report among the partitions' errors: the first that is not
/// a cancellation (the others were cancelled because of it), else the
/// first.
pub(crate) fn first_error(errors: Vec<EngineError>) -> Option<EngineError> {
    let real = errors
        .iter()
        .position(|e| !matches!(e, EngineError::Cancelled));
    let mut errors = errors;
    match real {
        Some(i) => Some(errors.swap_remove(i)),
        None => errors.into_iter().next(),
    }
}
