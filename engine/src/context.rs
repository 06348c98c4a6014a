//! The execution context handed to every operator at `open`: batch size,
//! the query's memory pool and its cancellation token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::batch::DEFAULT_BATCH_SIZE;
use crate::error::{EngineError, Result};
use crate::memory::{MemoryPool, DEFAULT_MEMORY_BUDGET};

/// A flag shared by the caller and every operator of a query; operators check
/// it once per batch and stop with [`EngineError::Cancelled`] when it is set.
///
/// A token made with [`child`](Self::child) is also cancelled when its
/// parent is: the planner gives every query its own child of the session's
/// token, so cancelling the query stops that query only, while cancelling
/// the session's token stops every query of the session.
#[derive(Debug, Clone, Default)]
pub struct CancellationToken(Arc<TokenState>);

#[derive(Debug, Default)]
struct TokenState {
    cancelled: AtomicBool,
    parent: Option<CancellationToken>,
}

impl CancellationToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new token that is cancelled when `self` is (or when it is itself
    /// cancelled); cancelling it leaves `self` untouched.
    pub fn child(&self) -> Self {
        CancellationToken(Arc::new(TokenState {
            cancelled: AtomicBool::new(false),
            parent: Some(self.clone()),
        }))
    }

    /// Asks the query to stop.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Relaxed);
    }

    /// True once [`cancel`](Self::cancel) was called on this token or on
    /// one of its parents.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::Relaxed)
            || self.0.parent.as_ref().is_some_and(|p| p.is_cancelled())
    }

    /// `Err(Cancelled)` once cancelled.
    #[inline]
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(EngineError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Starts a future as a task of its own on the caller's executor. The engine
/// depends on no runtime: whoever runs a query (the planner, on its
/// dedicated runtime, `docs/library.md` "Async") hands one in through
/// [`TaskContext::spawner`], and partitioned operators
/// (`docs/architecture.md`, "Partitions") run their partitions with it.
/// Without one they run their partitions one after the other on the
/// calling task.
#[derive(Clone)]
pub struct Spawner(Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>);

impl Spawner {
    /// A spawner that calls `spawn` with each task (for tokio:
    /// `Spawner::new(move |f| { handle.spawn(f); })`).
    pub fn new(spawn: impl Fn(BoxFuture<'static, ()>) + Send + Sync + 'static) -> Self {
        Spawner(Arc::new(spawn))
    }

    /// Starts `task`; it runs to its end even if nobody waits for it.
    pub fn spawn(&self, task: BoxFuture<'static, ()>) {
        (self.0)(task)
    }
}

impl std::fmt::Debug for Spawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Spawner")
    }
}

/// Settings and shared state for one query execution.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// Target rows per emitted batch (results never depend on it).
    pub batch_size: usize,
    /// The query's memory budget.
    pub memory: Arc<MemoryPool>,
    /// The query's cancellation flag.
    pub cancel: CancellationToken,
    /// Where partitioned operators start their partitions' tasks; `None`:
    /// they run them one after the other on the calling task.
    pub spawner: Option<Spawner>,
}

impl Default for TaskContext {
    fn default() -> Self {
        TaskContext {
            batch_size: DEFAULT_BATCH_SIZE,
            memory: MemoryPool::new(DEFAULT_MEMORY_BUDGET),
            cancel: CancellationToken::new(),
            spawner: None,
        }
    }
}

impl TaskContext {
    /// A default context with another batch size (at least 1).
    pub fn with_batch_size(batch_size: usize) -> Self {
        TaskContext {
            batch_size: batch_size.max(1),
            ..Self::default()
        }
    }

    /// This context with a memory budget of `bytes`.
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory = MemoryPool::new(bytes);
        self
    }

    /// This context with `spawner` for partition tasks.
    pub fn with_spawner(mut self, spawner: Spawner) -> Self {
        self.spawner = Some(spawner);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_follows_parent_but_not_the_reverse() {
        let session = CancellationToken::new();
        let a = session.child();
        let b = session.child();
        a.cancel();
        assert!(a.is_cancelled());
        assert!(!b.is_cancelled());
        assert!(!session.is_cancelled());
        session.cancel();
        assert!(b.is_cancelled());
        assert!(matches!(b.check(), Err(EngineError::Cancelled)));
    }
}
