//! The deterministic TSBS `cpu-only`-shaped demo data that `tsq demo` writes.
//! The generator lives in `tsq_benches::demo`, because the benchmarks' TSBS
//! queries run on the same data; this module re-exports it for the CLI and
//! for library users.

pub use tsq_benches::demo::*;
