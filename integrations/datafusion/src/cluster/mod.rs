//! Scale-out on datafusion-distributed (`docs/distributed.md`,
//! "Scale-out"): shards, workers, the coordinator.
//!
//! - `config.rs`: `cluster.toml` (the workers in shard order).
//! - `shard.rs`: the shard of a series (XXH64 of its tag set).
//! - `shard_exec.rs`: `TsqShardExec`, one shard's part of a query.
//! - `catalog.rs`: what every shard plans with (fields, tags, data spans).
//! - `codec.rs`: ships `TsqShardExec` (statement text, shard id, catalog).
//! - `step.rs`: a shard's partial step of every pipeline.
//! - `wire.rs`: the envelopes a shard sends (partial states, timelines).
//! - `final_merge.rs`: merges the shards' envelopes into the result.
//! - `source_op.rs`: the merged output as a tsq operator.
//! - `final_exec.rs`: `TsqFinalMergeExec` and the local partial/final plan.
//! - `worker.rs`: the Flight endpoint over one store (and HTTP writes).
//! - `import.rs`: `tsq import --cluster`, each line to its shard's worker.
//! - `coordinator.rs`: runs a statement on every shard.
//! - `gather_exec.rs`: the coordinator's end of a shard stage.

mod catalog;
mod codec;
mod config;
mod coordinator;
mod final_exec;
mod final_merge;
mod gather_exec;
mod import;
mod shard;
mod shard_exec;
mod source_op;
mod step;
mod wire;
mod worker;

pub use catalog::{CatalogView, ShardCatalog};
pub use codec::TsqCodec;
pub use config::ClusterConfig;
pub use coordinator::{ClusterAnswer, Coordinator};
pub use final_exec::{partial_final_plan, TsqFinalMergeExec};
pub use final_merge::final_merge;
pub use gather_exec::TsqGatherExec;
pub use import::{import_lines, ImportReport};
pub use shard::{series_key, shard_of, shard_of_key, ShardId};
pub use shard_exec::{describe_schema, ShardMode, ShardStore, TsqShardExec};
pub use source_op::ShardsOp;
pub use step::{plan_over, run_shard};
pub use wire::{envelope_schema, Envelope, PayloadKind};
pub use worker::{serve, serve_with, worker, WorkerHandle};
