//! The engine's error type. Every operator, adapter and the materialized
//! executor report failures through [`EngineError`]; the planner and the
//! storage adapters bridge their own errors into it at the boundary.

use arrow::error::ArrowError;

/// Result alias used throughout the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Everything that can go wrong while executing a query pipeline.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The storage adapter failed (I/O, corruption, checksum...). The message
    /// names the file and offset where that applies.
    #[error("storage error: {0}")]
    Storage(String),
    /// An operator was given input that violates its contract (for example
    /// `GroupedAggOp` receiving timelines that are not ordered by group key).
    #[error("execution error in {operator}: {message}")]
    Execution {
        /// The operator that failed (its EXPLAIN name).
        operator: String,
        /// What went wrong.
        message: String,
    },
    /// An operator would have held more memory than the query's budget.
    #[error(
        "memory budget exceeded in {operator}: it needed {requested} more bytes while holding {held} \
         (query budget {budget} bytes, {used} in use). {hint}. The budget is set with \
         --memory-budget on `tsq query` and `tsq repl`, `\\set memory_budget` in the REPL, or \
         SessionConfig::memory_budget"
    )]
    ResourcesExhausted {
        /// The operator that asked for memory.
        operator: String,
        /// Bytes it asked for.
        requested: usize,
        /// Bytes it already held.
        held: usize,
        /// Bytes in use by the whole query when it asked.
        used: usize,
        /// The query's budget.
        budget: usize,
        /// What the user can change so the query fits.
        hint: String,
    },
    /// The query was cancelled (Ctrl-C in the REPL, a dropped stream...).
    #[error("query cancelled")]
    Cancelled,
    /// An invalid specification was handed to an operator constructor.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An Arrow kernel or array constructor failed.
    #[error("arrow error: {0}")]
    Arrow(#[from] ArrowError),
}

impl EngineError {
    /// Shorthand for an [`EngineError::Execution`] raised by `operator`.
    pub fn execution(operator: impl Into<String>, message: impl Into<String>) -> Self {
        EngineError::Execution {
            operator: operator.into(),
            message: message.into(),
        }
    }
}
