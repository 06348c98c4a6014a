//! `TsqShardExec`: one shard's part of a cluster query, the leaf of the
//! stage the coordinator ships to the workers (`docs/distributed.md`,
//! "What runs where").
//!
//! ```text
//!  coordinator                         worker i
//!  NetworkCoalesceExec(N → 1) ◀─ Flight ─ TsqShardExec{sql, shard i, catalog} ─▶ its store
//! ```
//!
//! The node carries the statement text, the shard id and (for the partial
//! step) the cluster's catalog, never a handle: the codec of a worker
//! builds it over that worker's own store. `Describe` returns the shard's
//! [`ShardCatalog`] of the statement; `Partial` plans the statement over
//! the cluster's catalog and runs the shard step of every pipeline
//! (`step.rs`), returning envelopes of partial states or timelines
//! (`wire.rs`).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{BinaryArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::StreamExt;
use tsq_engine::StorageAdapter;
use tsq_planner::SessionConfig;

use super::catalog::ShardCatalog;
use super::shard::ShardId;
use super::step::run_shard;
use super::wire::envelope_schema;
use crate::error::Error;

/// What a [`TsqShardExec`] does on its worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardMode {
    /// One row: the shard's encoded [`ShardCatalog`] of the statement.
    Describe,
    /// The shard step of every pipeline, planned over the cluster's
    /// catalog: envelopes (`wire.rs`).
    Partial(Arc<ShardCatalog>),
}

/// A shard's store: what a worker's codec builds nodes over.
#[derive(Debug, Clone)]
pub struct ShardStore {
    /// The shard's data.
    pub adapter: Arc<dyn StorageAdapter>,
    /// Batch size and memory budget of its queries (the planning settings
    /// must be the coordinator's: defaults).
    pub config: SessionConfig,
}

impl ShardStore {
    /// `adapter` with the default settings.
    pub fn new(adapter: Arc<dyn StorageAdapter>) -> Self {
        ShardStore {
            adapter,
            config: SessionConfig::default(),
        }
    }
}

/// One shard's part of a cluster query; see the module docs.
#[derive(Debug)]
pub struct TsqShardExec {
    sql: String,
    mode: ShardMode,
    /// `None` on the coordinator before the leaf is split into one task
    /// per shard.
    shard: Option<ShardId>,
    /// The worker's store; `None` on the coordinator.
    store: Option<ShardStore>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

/// The schema of a `Describe` answer.
pub fn describe_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "catalog",
        DataType::Binary,
        false,
    )]))
}

impl TsqShardExec {
    /// A node for `sql` in `mode`, on `shard` once split, over `store` on a
    /// worker.
    pub fn new(
        sql: &str,
        mode: ShardMode,
        shard: Option<ShardId>,
        store: Option<ShardStore>,
    ) -> Self {
        let schema = match mode {
            ShardMode::Describe => describe_schema(),
            ShardMode::Partial(_) => envelope_schema(),
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        TsqShardExec {
            sql: sql.to_string(),
            mode,
            shard,
            store,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The tsq statement.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Describe, or the partial step with the cluster's catalog.
    pub fn mode(&self) -> &ShardMode {
        &self.mode
    }

    /// The shard this node runs on, once split per shard.
    pub fn shard(&self) -> Option<ShardId> {
        self.shard
    }

    /// The same node for shard `shard`.
    pub fn for_shard(&self, shard: ShardId) -> Self {
        Self::new(
            &self.sql,
            self.mode.clone(),
            Some(shard),
            self.store.clone(),
        )
    }
}

impl DisplayAs for TsqShardExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shard = self.shard.map_or("all".to_string(), |s| s.to_string());
        let mode = match self.mode {
            ShardMode::Describe => "describe",
            ShardMode::Partial(_) => "partial",
        };
        write!(
            f,
            "TsqShardExec: mode={mode} shard={shard} sql={:?}",
            self.sql
        )
    }
}

impl ExecutionPlan for TsqShardExec {
    fn name(&self) -> &str {
        "TsqShardExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        crate::error::leaf_with_new_children(self, children)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let (Some(store), Some(shard)) = (self.store.clone(), self.shard) else {
            return Err(DataFusionError::Execution(format!(
                "TsqShardExec ({:?}) has no store here: it runs on the workers",
                self.sql
            )));
        };
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "TsqShardExec has one partition, asked for partition {partition}"
            )));
        }
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let sql = self.sql.clone();
        let schema = self.schema();
        let answer_schema = Arc::clone(&schema);
        let mode = self.mode.clone();
        let stream = futures::stream::once(async move {
            let timer = baseline.elapsed_compute().timer();
            let batch = match mode {
                ShardMode::Describe => {
                    let catalog =
                        ShardCatalog::describe(&store.adapter, &store.config, &sql).await?;
                    let column = BinaryArray::from_iter_values([catalog.encode()]);
                    RecordBatch::try_new(answer_schema, vec![Arc::new(column)])
                        .map_err(Error::from)?
                }
                ShardMode::Partial(catalog) => {
                    run_shard(store.adapter, &store.config, catalog, shard, &sql).await?
                }
            };
            timer.done();
            baseline.record_output(batch.num_rows());
            Ok::<_, Error>(batch)
        })
        .map(move |batch| {
            batch.map_err(|e| DataFusionError::from(e).context(format!("shard {shard}")))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}
