//! Benchmark support for tsq: deterministic datasets, the benchmark cases
//! (HiTSDB's two seed cases first), and a runner that executes each case
//! through the pipelined engine and through the materialized executor in the
//! same process, recording time and peak memory.
//!
//! `cargo bench -p tsq-benches` drives these cases with criterion; the
//! `tsq bench` command prints the same comparison as a table.

pub mod cases;
pub mod data;
pub mod demo;
pub mod measure;
pub mod runner;
pub mod scaling;
pub mod suite;
