//! Scale-out on datafusion-distributed (`docs/distributed.md`,
//! "Scale-out"): shards, workers, the coordinator.
//!
//! - `config.rs`: `cluster.toml` (the workers in shard order).
//! - `shard.rs`: the shard of a series (XXH64 of its tag set).
//! - `shard_exec.rs`: `TsqShardExec`, one shard's part of a query.
//! - `codec.rs`: ships `TsqShardExec` (statement text + shard id).
//! - `spec.rs`: what the coordinator needs to merge the answers.
//! - `worker.rs`: the Flight endpoint over one store.
//! - `coordinator.rs`: runs a statement on every shard.
//! - `gather_exec.rs`: the coordinator's end of a shard stage.
//! - `merge.rs`: merges the shards' rows.

mod codec;
mod config;
mod coordinator;
mod gather_exec;
mod merge;
mod shard;
mod shard_exec;
mod spec;
mod worker;

pub use codec::TsqCodec;
pub use config::ClusterConfig;
pub use coordinator::{ClusterAnswer, Coordinator};
pub use gather_exec::TsqGatherExec;
pub use merge::merge;
pub use shard::{series_key, shard_of, shard_of_key, ShardId};
pub use shard_exec::{describe_schema, ShardMode, TsqShardExec};
pub use spec::{Combine, MergeSpec};
pub use worker::{serve, worker, WorkerHandle};
