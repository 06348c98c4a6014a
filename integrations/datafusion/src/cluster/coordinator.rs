//! The coordinator of a cluster query (`tsq query --cluster`,
//! `docs/distributed.md`, "What runs where").
//!
//! ```text
//!  final_merge.rs ◀── NetworkCoalesceExec(N → 1) ◀── Flight ── TsqShardExec{sql, shard i, catalog} on worker i
//! ```
//!
//! A query is two stages through datafusion-distributed: `Describe` (each
//! shard returns its catalog of the statement: fields, tag keys, data
//! spans) and `Partial` (each shard plans the statement over the union of
//! the catalogs and runs the partial step of every pipeline). The
//! coordinator plans over the same union, so it has the plan every shard
//! ran, and merges the partial states with tsq's own merge and result join
//! (`final_merge.rs`). The leaf is split into one task per shard and task
//! *i* is routed to worker *i* of `cluster.toml`. A failed stage is
//! reported naming the workers that do not answer; every stage is bounded
//! by a timeout.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{BinaryArray, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::Session as DfSession;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion_distributed::{
    DistributedExt, DistributedLeafExec, NetworkCoalesceExec, RouteTasksEvent,
    RouteTasksEventResponse, ScaleUpLeafNodeEvent, ScaleUpLeafNodeEventResponse,
    SessionStateBuilderExt, WorkerResolver,
};
use tsq_planner::SessionConfig;
use url::Url;

use super::catalog::ShardCatalog;
use super::codec::TsqCodec;
use super::config::ClusterConfig;
use super::final_merge::final_merge;
use super::gather_exec::TsqGatherExec;
use super::shard::ShardId;
use super::shard_exec::{ShardMode, TsqShardExec};
use super::step::plan_over;
use super::wire::{envelope_schema, Envelope};
use crate::error::{Error, Result};
use crate::query_exec::plan_line;

/// The answer of a cluster query, with what it cost on the network.
#[derive(Debug, Clone)]
pub struct ClusterAnswer {
    /// The result rows (one batch).
    pub batch: RecordBatch,
    /// Bytes of the batches the shards sent for the `Partial` stage, as
    /// one uncompressed Arrow IPC stream (what Flight carries).
    pub bytes_received: u64,
    /// Rows of partial states and timelines the shards sent.
    pub rows_received: u64,
    /// tsq's plan in one line.
    pub plan_line: String,
}

/// How many times a failed stage probes the workers before saying that
/// every one answers ([`Coordinator`]'s error naming the dead ones).
const PROBES: usize = 3;

/// Runs tsq statements on a cluster; see the module docs.
#[derive(Clone)]
pub struct Coordinator {
    config: Arc<ClusterConfig>,
    ctx: SessionContext,
    timeout: Duration,
}

impl Coordinator {
    /// A coordinator of the cluster `config`; each stage fails after
    /// `timeout`.
    pub fn new(config: ClusterConfig, timeout: Duration) -> Result<Self> {
        let config = Arc::new(config);
        let urls = (0..config.shards())
            .map(|s| config.url(ShardId(s as u32)))
            .collect::<Result<Vec<_>>>()?;
        let routing = Arc::clone(&config);
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_distributed_worker_resolver(Workers(urls))
            .with_distributed_planner()
            .with_distributed_user_codec(TsqCodec::coordinator())
            .with_distributed_scale_up_leaf_node_handler(one_task_per_shard)
            .with_distributed_route_tasks_handler(move |ev: RouteTasksEvent| {
                route_to_shard_worker(&routing, ev)
            })
            .build();
        Ok(Coordinator {
            config,
            ctx: SessionContext::from(state),
            timeout,
        })
    }

    /// The cluster.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Runs `sql` on every shard: the partial step there, the final merge
    /// here.
    pub async fn query(&self, sql: &str) -> Result<ClusterAnswer> {
        super::catalog::measurement_of(sql)?;
        let described = self.stage(sql, ShardMode::Describe).await?;
        let catalog = Arc::new(union_of(&described)?);
        let config = SessionConfig::default();
        let (plan, _) = plan_over(Arc::clone(&catalog), None, &config, sql).await?;
        let shards = self.stage(sql, ShardMode::Partial(catalog)).await?;
        let bytes_received = ipc_bytes(&envelope_schema(), &shards)?;
        let envelopes = Envelope::decode_all(&shards)?;
        let rows_received = envelopes.iter().map(|e| e.payload.num_rows() as u64).sum();
        let (schema, batches) = final_merge(&plan, &config, envelopes).await?;
        Ok(ClusterAnswer {
            batch: concat_batches(&schema, &batches)?,
            bytes_received,
            rows_received,
            plan_line: plan_line(Some(&plan)),
        })
    }

    /// One stage over every shard, bounded by the timeout.
    async fn stage(&self, sql: &str, mode: ShardMode) -> Result<Vec<RecordBatch>> {
        let leaf = TsqShardExec::new(sql, mode, None, None);
        let schema = leaf.schema();
        let table = ShardStage {
            leaf: Arc::new(leaf),
            shards: self.config.shards(),
            schema,
        };
        let run = async {
            let frame = self.ctx.read_table(Arc::new(table))?;
            frame.collect().await
        };
        match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(batches)) => Ok(batches),
            Ok(Err(e)) => Err(self.name_failed_workers(e.to_string()).await),
            Err(_) => Err(self
                .name_failed_workers(format!("no answer within {:?}", self.timeout))
                .await),
        }
    }

    /// The error of a failed stage, naming the workers that refuse a
    /// connection (or all of them when every one answers). A worker that
    /// died mid-query may still accept connections for a moment while its
    /// process or runtime shuts down, so when every worker answers the
    /// probe is repeated, [`PROBES`] times in all, 100 ms apart (at most
    /// 0.2 s more on the error path only).
    async fn name_failed_workers(&self, message: String) -> Error {
        let mut down = Vec::new();
        for attempt in 0..PROBES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            for (i, w) in self.config.workers.iter().enumerate() {
                let probe = tokio::net::TcpStream::connect(w.as_str());
                match tokio::time::timeout(Duration::from_secs(1), probe).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => down.push(format!("worker {w} (shard {i}): {e}")),
                    Err(_) => down.push(format!("worker {w} (shard {i}): no answer in 1 s")),
                }
            }
            if !down.is_empty() {
                break;
            }
        }
        if down.is_empty() {
            Error::Cluster(format!(
                "query failed on the cluster ({}): {message}",
                self.config.workers.join(", ")
            ))
        } else {
            Error::Cluster(format!("{}; the query failed: {message}", down.join("; ")))
        }
    }
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("workers", &self.config.workers)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Size of `batches` as one Arrow IPC stream.
fn ipc_bytes(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<u64> {
    let mut buf = Vec::new();
    let mut writer = StreamWriter::try_new(&mut buf, schema)?;
    for b in batches {
        writer.write(b)?;
    }
    writer.finish()?;
    drop(writer);
    Ok(buf.len() as u64)
}

/// The union of the catalogs the shards described.
fn union_of(described: &[RecordBatch]) -> Result<ShardCatalog> {
    let mut catalogs = Vec::new();
    for batch in described {
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .ok_or_else(|| Error::Protocol("describe answer is not binary".into()))?;
        for bytes in column.iter().flatten() {
            catalogs.push(ShardCatalog::decode(bytes)?);
        }
    }
    ShardCatalog::union(&catalogs)
}

/// The worker URLs, in shard order.
struct Workers(Vec<Url>);

impl WorkerResolver for Workers {
    fn get_urls(&self) -> DfResult<Vec<Url>> {
        Ok(self.0.clone())
    }
}

/// Splits the unsplit [`TsqShardExec`] into one variant per shard.
fn one_task_per_shard(ev: ScaleUpLeafNodeEvent) -> Option<DfResult<ScaleUpLeafNodeEventResponse>> {
    let leaf = ev.plan.downcast_ref::<TsqShardExec>()?;
    if leaf.shard().is_some() {
        return None;
    }
    let variants = (0..ev.task_count)
        .map(|i| Arc::new(leaf.for_shard(ShardId(i as u32))) as Arc<dyn ExecutionPlan>);
    Some(
        DistributedLeafExec::try_new(Arc::clone(ev.plan), variants)
            .map(|p| ScaleUpLeafNodeEventResponse::new(Arc::new(p))),
    )
}

/// Task *i* of a stage over [`TsqShardExec`] goes to the worker of the
/// shard its variant holds.
fn route_to_shard_worker(
    config: &ClusterConfig,
    ev: RouteTasksEvent,
) -> Option<DfResult<RouteTasksEventResponse>> {
    let mut shards: Option<Vec<ShardId>> = None;
    let walked = ev.plan.apply(|node| {
        if let Some(leaf) = node.downcast_ref::<DistributedLeafExec>() {
            if leaf.original().downcast_ref::<TsqShardExec>().is_some() {
                shards = Some(
                    leaf.variants()
                        .iter()
                        .filter_map(|v| v.downcast_ref::<TsqShardExec>()?.shard())
                        .collect(),
                );
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    if let Err(e) = walked {
        return Some(Err(e));
    }
    let shards = shards?;
    if shards.len() != ev.task_count {
        return Some(Err(DataFusionError::Internal(format!(
            "{} tasks for {} shards",
            ev.task_count,
            shards.len()
        ))));
    }
    Some(
        shards
            .into_iter()
            .map(|s| config.url(s).map_err(DataFusionError::from))
            .collect::<DfResult<Vec<_>>>()
            .map(RouteTasksEventResponse::new),
    )
}

/// A stage as a table: its scan is `TsqGatherExec ← NetworkCoalesceExec`
/// over the leaf.
#[derive(Debug)]
struct ShardStage {
    leaf: Arc<TsqShardExec>,
    shards: usize,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for ShardStage {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if projection.is_some_and(|p| p.len() != self.schema.fields().len()) {
            return Err(DataFusionError::Internal(
                "a shard stage is read whole".into(),
            ));
        }
        let leaf: Arc<dyn ExecutionPlan> = Arc::clone(&self.leaf) as _;
        let network = NetworkCoalesceExec::try_new(leaf, self.shards, 1)?;
        Ok(Arc::new(TsqGatherExec::new(Arc::new(network))))
    }
}
