//! The deterministic TSBS `cpu-only`-shaped demo data that `tsq demo` writes.
//! The generator lives in its own crate, `tsq-datagen` (`tsq_datagen::demo`),
//! because the benchmark runner's TSBS queries run on the same data; this
//! module re-exports it for the CLI and for library users.

pub use tsq_datagen::demo::*;
