//! # tsq-planner
//!
//! From query text to results: the SQL-ish language of `docs/query-language.md` (parsed
//! with sqlparser through a custom dialect, plus hand-parsed `SAMPLE BY`,
//! `FILL`, `ORDER BY`, `LIMIT`), the logical plan, the optimizer's named
//! rules (time-range and tag-predicate pushdown, one pipeline per aggregate,
//! the choice of aggregation operator of `docs/architecture.md`, "How a batch flows"), physical planning onto
//! engine pipelines, `EXPLAIN [ANALYZE]`, and the `Session` API.
//!
//! ```
//! use std::sync::Arc;
//! use tsq_planner::{QueryKind, Session, SessionConfig};
//! use tsq_storage::memory::MemoryAdapter;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = MemoryAdapter::new();
//! store.insert("cpu", &[("host", "a")], "usage", &[(0, 1.0), (60_000_000_000, 3.0)]);
//! store.insert("cpu", &[("host", "b")], "usage", &[(0, 5.0)]);
//! let session = Session::new(Arc::new(store), SessionConfig::default());
//! let out = session
//!     .execute("SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(zero)")
//!     .await
//!     .unwrap();
//! // bucket 0: 1 + 5 = 6; bucket 1m: 3 + 0 (b filled with zero) = 3
//! assert_eq!(out.num_rows(), 2);
//! let explain = session
//!     .execute("EXPLAIN SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(zero)")
//!     .await
//!     .unwrap();
//! let QueryKind::Explain(text) = explain.kind else { unreachable!() };
//! assert!(text.contains("choose_aggregation: sum(usage): PipeAggOp"));
//! # });
//! ```

pub mod ast;
mod bucket_limit;
mod build;
pub mod error;
pub mod expr;
pub mod logical;
pub mod optimizer;
pub mod parser;
pub mod plan;

pub use bucket_limit::DEFAULT_MAX_BUCKETS;
pub use error::{Pos, Result, TsqError};
pub use logical::plan_query;
pub use parser::{parse_script, parse_statement};
pub use plan::{Catalog, LogicalPlan};
pub mod explain;
pub mod physical;
pub mod query;
pub mod result;
pub mod session;
mod shared_start;
pub mod show;
mod stream;

mod dedicated;

pub use query::{Query, QueryStream};
pub use result::TIME_ZONE;
pub use session::{
    Executor, QueryKind, QueryOutput, QueryStats, RecordBatchStream, Session, SessionConfig,
};
pub use stream::timelines_to_record_batches;
