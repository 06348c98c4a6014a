//! tsq storage adapters: implementations of `tsq_engine::StorageAdapter`.
//!
//! - [`memory::MemoryAdapter`]: an in-memory store with every capability (or
//!   fewer, on request), used by tests, examples and benchmarks.

pub mod memory;
