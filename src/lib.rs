//! # tsq
//!
//! The facade crate of tsq: it re-exports the engine ([`engine`]), the
//! planner ([`planner`]) and the storage adapters ([`storage`]), holds the
//! deterministic TSBS-shaped demo data generator ([`demo`], reused by the
//! benchmarks), and the pieces of the `tsq` command ([`cli`]: output
//! formats, the chart, the REPL, import).

pub use tsq_engine as engine;
pub use tsq_planner as planner;
pub use tsq_storage as storage;

pub mod cli;
pub mod demo;
