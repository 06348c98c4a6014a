//! # tsq-datagen
//!
//! tsq's deterministic, seeded data: [`demo`], the TSBS `cpu-only`-shaped
//! data that `tsq demo` writes (and the TSBS benchmarks query), and
//! [`data`], the synthetic datasets of the benchmark cases (in memory or in
//! a TSM store). A crate of its own so that the `tsq` facade (which
//! re-exports [`demo`] as `tsq::demo`) and the benchmark runner share it
//! without the `tsq` binary depending on the benchmarks.

pub mod data;
pub mod demo;
