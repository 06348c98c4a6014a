//! The planner's error type, [`TsqError`]: everything a query can fail with,
//! from a syntax error (with line and column) through a planning error (with
//! the position of the offending construct) to the engine's execution and
//! storage errors, bridged in at the boundary.

use std::fmt;

use tsq_engine::EngineError;

/// Result alias of the planner.
pub type Result<T, E = TsqError> = std::result::Result<T, E>;

/// A 1-based position in the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Pos {
    /// Line, starting at 1.
    pub line: u64,
    /// Column, starting at 1.
    pub column: u64,
}

impl Pos {
    /// A position.
    pub fn new(line: u64, column: u64) -> Self {
        Pos { line, column }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

impl From<sqlparser::tokenizer::Location> for Pos {
    fn from(l: sqlparser::tokenizer::Location) -> Self {
        Pos::new(l.line, l.column)
    }
}

/// Everything that can go wrong running a query.
#[derive(Debug, thiserror::Error)]
pub enum TsqError {
    /// The text is not a valid statement.
    #[error("parse error at {line}:{column}: {message}")]
    Parse {
        /// Line, starting at 1.
        line: u64,
        /// Column, starting at 1.
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// The statement parses but cannot be planned (unknown aggregator,
    /// FILL without SAMPLE BY, a field used as a tag, ...).
    #[error("plan error at {line}:{column}: {message}")]
    Plan {
        /// Line, starting at 1.
        line: u64,
        /// Column, starting at 1.
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// An operator failed while the query ran (memory budget, cancellation...).
    /// The engine's error is kept whole: match it, or walk
    /// [`source`](std::error::Error::source) to the Arrow error under it.
    #[error(transparent)]
    Execution(EngineError),
    /// The query ran longer than the timeout given to
    /// `Query::with_timeout`, and was stopped.
    #[error("query timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The storage adapter failed.
    #[error("{0}")]
    Storage(String),
}

impl TsqError {
    /// A parse error at `pos`.
    pub fn parse(pos: Pos, message: impl Into<String>) -> Self {
        TsqError::Parse {
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }

    /// A plan error at `pos`.
    pub fn plan(pos: Pos, message: impl Into<String>) -> Self {
        TsqError::Plan {
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }
}

impl TsqError {
    /// True when the query was stopped on purpose: cancelled (a dropped
    /// stream or future, `Query::cancel`, the session's token) or timed
    /// out.
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            TsqError::Execution(EngineError::Cancelled) | TsqError::Timeout(_)
        )
    }

    /// True when the query stopped because it would have held more memory
    /// than its budget (or the database's shared pool) allows; the message
    /// names the operator and what to change.
    pub fn is_resources_exhausted(&self) -> bool {
        matches!(
            self,
            TsqError::Execution(EngineError::ResourcesExhausted { .. })
        )
    }
}

impl From<EngineError> for TsqError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Storage(m) => TsqError::Storage(format!("storage error: {m}")),
            other => TsqError::Execution(other),
        }
    }
}

impl From<arrow::error::ArrowError> for TsqError {
    fn from(e: arrow::error::ArrowError) -> Self {
        TsqError::Execution(EngineError::Arrow(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_position() {
        let e = TsqError::plan(Pos::new(1, 34), "FILL needs SAMPLE BY");
        assert_eq!(e.to_string(), "plan error at 1:34: FILL needs SAMPLE BY");
        let e = TsqError::from(EngineError::Storage("bad block at offset 7".into()));
        assert_eq!(e.to_string(), "storage error: bad block at offset 7");
    }

    #[test]
    fn classifies_cancellation_and_budget() {
        assert!(TsqError::from(EngineError::Cancelled).is_cancelled());
        assert!(TsqError::Timeout(std::time::Duration::from_millis(5)).is_cancelled());
        assert!(!TsqError::plan(Pos::new(1, 1), "x").is_cancelled());
        let budget = EngineError::ResourcesExhausted {
            operator: "MTAggOp".into(),
            requested: 8,
            held: 0,
            used: 0,
            budget: 4,
            hint: String::new(),
        };
        let e = TsqError::from(budget);
        assert!(e.is_resources_exhausted() && !e.is_cancelled());
        let arrow = arrow::error::ArrowError::ComputeError("boom".into());
        let e = TsqError::from(arrow);
        let source = std::error::Error::source(&e).expect("arrow error kept as source");
        assert_eq!(source.to_string(), "Compute error: boom");
    }
}
