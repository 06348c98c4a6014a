//! The execution context handed to every operator at `open`: batch size,
//! the query's memory pool and its cancellation token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::batch::DEFAULT_BATCH_SIZE;
use crate::error::{EngineError, Result};
use crate::memory::{MemoryPool, DEFAULT_MEMORY_BUDGET};

/// A flag shared by the caller and every operator of a query; operators check
/// it once per batch and stop with [`EngineError::Cancelled`] when it is set.
#[derive(Debug, Clone, Default)]
pub struct CancellationToken(Arc<AtomicBool>);

impl CancellationToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the query to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
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

/// Settings and shared state for one query execution.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// Target rows per emitted batch (results never depend on it).
    pub batch_size: usize,
    /// The query's memory budget.
    pub memory: Arc<MemoryPool>,
    /// The query's cancellation flag.
    pub cancel: CancellationToken,
}

impl Default for TaskContext {
    fn default() -> Self {
        TaskContext {
            batch_size: DEFAULT_BATCH_SIZE,
            memory: MemoryPool::new(DEFAULT_MEMORY_BUDGET),
            cancel: CancellationToken::new(),
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
}
