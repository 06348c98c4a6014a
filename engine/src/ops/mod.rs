//! The operators, one per file. Each implements [`Operator`](crate::Operator).
//!
//! - [`values::ValuesOp`]: emits given batches (tests, benches).

pub mod grouped_agg;
pub mod mt_agg;
pub mod pipe_agg;
pub mod values;
