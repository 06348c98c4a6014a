//! `TsqShardExec`: one shard's part of a cluster query, the leaf of the
//! stage the coordinator ships to the workers (`docs/distributed.md`,
//! "What runs where").
//!
//! ```text
//!  coordinator                         worker i
//!  NetworkCoalesceExec(N → 1) ◀─ Flight ─ TsqShardExec{sql, shard i} ─▶ tsq Session on its store
//! ```
//!
//! The node carries the statement text and the shard id, never a handle:
//! the codec of a worker builds it over that worker's own store. It runs
//! in one of two modes: `Describe` plans the statement and returns the
//! [`MergeSpec`] (the coordinator has no store to plan against), `Run`
//! runs it.

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
use futures::{StreamExt, TryStreamExt};
use tsq_planner::Session;

use super::shard::ShardId;
use super::spec::MergeSpec;
use crate::error::Error;
use crate::query_exec::plan_line;

/// What a [`TsqShardExec`] does on its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardMode {
    /// Plan the statement; one row: the encoded [`MergeSpec`].
    Describe,
    /// Run the statement; the result rows of this shard.
    Run,
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
    store: Option<Arc<Session>>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

/// The schema of a `Describe` answer.
pub fn describe_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "merge_spec",
        DataType::Binary,
        false,
    )]))
}

impl TsqShardExec {
    /// A node for `sql` whose rows have `schema` (a `Run`) or the
    /// [`describe_schema`] (a `Describe`).
    pub fn new(
        sql: &str,
        mode: ShardMode,
        shard: Option<ShardId>,
        schema: SchemaRef,
        store: Option<Arc<Session>>,
    ) -> Self {
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

    /// Describe or run.
    pub fn mode(&self) -> ShardMode {
        self.mode
    }

    /// The shard this node runs on, once split per shard.
    pub fn shard(&self) -> Option<ShardId> {
        self.shard
    }

    /// The same node for shard `shard`.
    pub fn for_shard(&self, shard: ShardId) -> Self {
        Self::new(
            &self.sql,
            self.mode,
            Some(shard),
            self.schema(),
            self.store.clone(),
        )
    }
}

impl DisplayAs for TsqShardExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shard = self.shard.map_or("all".to_string(), |s| s.to_string());
        write!(
            f,
            "TsqShardExec: mode={:?} shard={shard} sql={:?}",
            self.mode, self.sql
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
        let stream = match self.mode {
            ShardMode::Describe => {
                let schema = Arc::clone(&schema);
                futures::stream::once(async move {
                    let query = store.sql(&sql).await.map_err(Error::from)?;
                    let spec = MergeSpec::from_plan(
                        query.logical_plan(),
                        query.schema(),
                        plan_line(query.logical_plan()),
                    );
                    let bytes = spec.encode()?;
                    let column = BinaryArray::from_iter_values([bytes]);
                    Ok(RecordBatch::try_new(schema, vec![Arc::new(column)])?)
                })
                .boxed()
            }
            ShardMode::Run => {
                let start = async move {
                    let query = store.sql(&sql).await.map_err(Error::from)?;
                    let stream = query.stream().await.map_err(Error::from)?;
                    Ok::<_, DataFusionError>(
                        stream.map_err(move |e| DataFusionError::from(Error::from(e))),
                    )
                };
                futures::stream::once(start).try_flatten().boxed()
            }
        };
        let stream = stream.map(move |batch: DfResult<RecordBatch>| {
            let batch = batch.map_err(|e| e.context(format!("shard {shard}")))?;
            baseline.record_output(batch.num_rows());
            Ok(batch)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}
