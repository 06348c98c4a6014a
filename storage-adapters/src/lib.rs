//! # tsq-storage
//!
//! Storage adapters for the tsq engine: the TSM engine ([`tsm`]) with its
//! `StorageAdapter` implementation.

pub mod tsm;
