//! tsq storage adapters: implementations of `tsq_engine::StorageAdapter`.
//!
//! - [`memory::MemoryAdapter`]: an in-memory store with every capability (or
//!   fewer, on request), used by tests, examples and benchmarks.
//! - [`tsm::TsmAdapter`]: the TSM storage engine (block encodings, files, WAL,
//!   cache, inverted index, compaction) behind the adapter contract, fed by the
//!   InfluxDB [`line_protocol`] parser.

pub mod line_protocol;
pub mod memory;
mod sync;
pub mod tsm;
