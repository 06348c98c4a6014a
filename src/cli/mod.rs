//! The pieces of the `tsq` command, one job per file.
//!
//! `main.rs` parses the command line ([`args`]) and [`app`] dispatches to the
//! commands: [`import`] (line protocol; [`import_parquet`]), [`export`]
//! (with [`export_batch`]), [`compact_cmd`], [`check_cmd`] (`check`,
//! `repair`), [`demo_cmd`], [`serve_cmd`] (`tsq serve`, over
//! [`crate::server`]), queries and the [`repl`], which run
//! statements through a [`runner::Runner`]. They talk to the engine only
//! through the small traits of [`backend`] ([`backend::QueryEngine`],
//! [`backend::Ingest`]); [`wiring`] implements them over the planner's
//! `Session` and the TSM `Store`. Results are printed by [`mod@format`]
//! (table, CSV, JSON, NDJSON) and [`chart`], errors by [`error_render`].

pub mod app;
pub mod args;
pub mod backend;
pub mod bench_cmd;
pub mod bench_store;
pub mod chart;
pub mod check_cmd;
pub mod cluster_cmd;
pub mod compact_cmd;

pub mod demo_cmd;
pub mod describe;
pub mod error_render;
pub mod export;
pub mod export_batch;
pub mod format;

pub mod import;
pub mod import_parquet;
pub mod meta;

pub mod repl;
#[cfg(test)]
mod repl_tests;
pub mod runner;
pub mod serve_cmd;
pub mod statements;
pub mod wiring;

pub use format::TableOptions;
