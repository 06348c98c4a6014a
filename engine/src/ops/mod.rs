//! The operators, one per file. Each implements [`Operator`](crate::Operator).
//!
//! - [`values::ValuesOp`]: emits given batches (tests, benches).
//! - [`scan::ScanOp`]: reads a storage adapter, filtering what it did not.
//! - [`rate::RateOp`]: per-timeline rate of change (`rate(...)`).

pub mod rate;
pub mod scan;
pub mod values;
