//! The operators, one per file. Each implements [`Operator`](crate::Operator).
//!
//! - [`values::ValuesOp`]: emits given batches (tests, benches).
//! - [`scan::ScanOp`]: reads a storage adapter, filtering what it did not.
//! - [`ds_agg::DsAggOp`]: per-timeline downsample and fill (`SAMPLE BY`).
//! - [`last_point::LastPointOp`]: the newest point of each series (`SAMPLE BY ALL last`).
//! - [`last_points::LastPointsOp`]: every `last` column of a `SAMPLE BY ALL last`
//!   query over one selection in one operator, one row per group.
//! - [`rate::RateOp`]: per-timeline rate of change (`rate(...)`).
//! - [`pipe_agg::PipeAggOp`], [`grouped_agg::GroupedAggOp`],
//!   [`mt_agg::MTAggOp`]: the cross-timeline aggregators.
//!
//! The operators with one child are [`driver::UnaryOp`]s over a
//! [`driver::Kernel`]: one driver owns their lifecycle, metrics,
//! cancellation checks and the lifetime of their memory reservations.

pub mod driver;
pub mod ds_agg;
pub mod grouped_agg;
pub mod last_point;
pub mod last_points;
pub mod mt_agg;
pub mod pipe_agg;
pub mod rate;
pub mod scan;
pub mod values;
