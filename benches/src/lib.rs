//! Benchmarks of tsq: `cargo bench -p tsq-benches` drives the cases of the
//! runner ([`tsq_bench_runner`], re-exported here whole) with criterion,
//! and the `tsq-bench` binary prints its tables. The runner and the
//! datasets live in their own crates (`tsq-bench-runner`, `tsq-datagen`),
//! so that the `tsq` binary's `tsq bench` uses them without depending on
//! this crate or on criterion.

pub use tsq_bench_runner::*;
