//! # tsq
//!
//! The facade crate of tsq: it re-exports the engine ([`engine`]), the
//! planner ([`planner`]) and the storage adapters ([`storage`]), the
//! deterministic TSBS-shaped demo data generator ([`demo`], from
//! `tsq-datagen`, shared with the benchmarks), and, with the default `cli`
//! feature, the pieces of the `tsq` command (`cli`: output formats, the
//! chart, the REPL, import, `tsq bench`). A service that uses tsq as a
//! library turns the command off (`default-features = false`): no clap,
//! rustyline, indicatif, console, parquet or benchmark runner.
//!
//! A service starts from [`Database`]: open a store (or one in memory),
//! write line protocol, query through a [`Session`]. See `docs/library.md`.

pub use tsq_engine as engine;
pub use tsq_planner as planner;
pub use tsq_storage as storage;

#[cfg(feature = "cli")]
pub mod cli;
pub mod database;
pub mod demo;
#[cfg(feature = "server")]
pub mod server;

#[doc = include_str!("../docs/library.md")]
pub mod guide {}

/// The query language (`docs/query-language.md`); its Rust example runs as
/// a doctest.
#[doc = include_str!("../docs/query-language.md")]
pub mod query_language {}

pub use database::{Database, DatabaseError, DatabaseOptions};
pub use tsq_planner::{Query, QueryStream, Session, SessionConfig, TsqError};
pub use tsq_storage::line_protocol::Precision;
pub use tsq_storage::tsm::WriteReport;
