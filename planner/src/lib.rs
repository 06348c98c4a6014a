//! # tsq-planner
//!
//! From query text to results: the SQL-ish language of DESIGN §2 (parsed
//! with sqlparser through a custom dialect, plus hand-parsed `SAMPLE BY`,
//! `FILL`, `ORDER BY`, `LIMIT`), the logical plan, the optimizer's named
//! rules (time-range and tag-predicate pushdown, one pipeline per aggregate,
//! the choice of aggregation operator of DESIGN §4), physical planning onto
//! engine pipelines, `EXPLAIN [ANALYZE]`, and the `Session` API.

pub mod ast;
mod build;
pub mod error;
pub mod logical;
pub mod optimizer;
pub mod parser;
pub mod plan;

pub use error::{Pos, Result, TsqError};
pub use logical::plan_query;
pub use parser::{parse_script, parse_statement};
pub use plan::{Catalog, LogicalPlan};
pub mod explain;
pub mod physical;
pub mod result;
pub mod session;
mod stream;

pub use session::{QueryKind, QueryOutput, RecordBatchStream, Session, SessionConfig};
