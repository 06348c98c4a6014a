//! tsq inside DataFusion (`docs/distributed.md`).
//!
//! Two bridges, both opt-in (this crate is never a dependency of the engine,
//! the storage adapters or the default `tsq` binary):
//!
//! - **A tsq store as DataFusion tables.** [`TsqTable`] is a
//!   `TableProvider` over any tsq [`StorageAdapter`]: one table per
//!   measurement, one row per (series, time), `time` as
//!   `Timestamp(ns, "+00:00")`, each tag as `Dictionary(Int32, Utf8)`, each
//!   field as `Float64`. Projection, time ranges and tag predicates are
//!   pushed into the adapter's scan, and `LIMIT` into the scan node;
//!   [`register_tsq`] registers every measurement.
//! - **tsq queries as DataFusion plans.** [`TsqExec`] runs a tsq query as an
//!   `ExecutionPlan`; the table function [`TsqFunction`] makes
//!   `SELECT … FROM tsq('SELECT avg(v) FROM cpu SAMPLE BY 1m')` a table of
//!   DataFusion SQL, joinable with any other.
//!
//! ```text
//!  DataFusion SQL ─▶ TableScan(cpu) ──▶ TsqScanExec ──▶ StorageAdapter::scan × fields
//!                                        (rows.rs merges the field timelines
//!                                         into wide rows per (series, time))
//!  DataFusion SQL ─▶ tsq('…')        ──▶ TsqExec     ──▶ tsq Session::sql(…).stream()
//! ```

pub mod cluster;
mod error;
mod pushdown;
mod query_exec;
mod register;
mod rows;
mod scan_exec;
mod schema;
mod stats;
mod table;
mod table_function;

pub use error::{Error, Result};
pub use query_exec::TsqExec;
pub use register::register_tsq;
pub use scan_exec::TsqScanExec;
pub use schema::MeasurementSchema;
pub use table::TsqTable;
pub use table_function::{TsqFunction, TsqQueryTable};

pub use tsq_engine::StorageAdapter;
