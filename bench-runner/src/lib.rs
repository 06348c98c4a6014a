//! The benchmark runner of tsq: the benchmark cases
//! (HiTSDB's two seed cases, the TSBS `cpu-only` queries on the `tsq demo`
//! dataset, a 1M/10M/100M scaling series), and runners that execute each
//! case through the pipelined engine, the materialized executor and (with
//! the `datafusion` feature) DataFusion in the same process, check the
//! results equal, then record time and peak memory.
//!
//! `cargo bench -p tsq-benches` drives the cases with criterion; the
//! `tsq bench` command prints the same comparison as a table or JSON
//! ([`report`]). The datasets come from `tsq-datagen` (re-exported as
//! [`data`] and [`demo`]).

pub mod cases;
#[cfg(feature = "datafusion")]
pub mod df;
pub mod measure;
pub mod report;
pub mod runner;
pub mod scaling;
pub mod suite;
pub mod tsbs;

pub use tsq_datagen::{data, demo};

/// True when this build includes DataFusion as a timed competitor (the
/// `datafusion` feature).
pub const HAS_DATAFUSION: bool = cfg!(feature = "datafusion");
