//! The operators, one per file. Each implements [`Operator`](crate::Operator).
//!
//! - [`values::ValuesOp`]: emits given batches (tests, benches).

pub mod values;
