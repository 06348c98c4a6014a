//! tsq's partial aggregation inside a DataFusion plan, without a cluster
//! (`docs/distributed.md`, "The partial/final split in DataFusion"): the
//! explicit API [`partial_final_plan`] builds
//!
//! ```text
//!  TsqFinalMergeExec          (tsq's exact merge of partial states, result join, ORDER BY, LIMIT)
//!    CoalescePartitionsExec   (DataFusion's exchange, N → 1)
//!      UnionExec
//!        TsqShardExec{partial, shard 0} ─▶ store 0   (partial states next to the scan)
//!        TsqShardExec{partial, shard 1} ─▶ store 1
//! ```
//!
//! over stores that each hold some of the series (split as the shard
//! function splits them). The cluster runs the same leaf behind a
//! `NetworkCoalesceExec` and the same merge on the coordinator. Any
//! DataFusion exchange may sit between the two: [`TsqFinalMergeExec`]
//! reads every partition of its input.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};
use tsq_planner::result::result_schema_with;
use tsq_planner::{LogicalPlan, SessionConfig};

use super::catalog::ShardCatalog;
use super::final_merge::final_merge;
use super::shard::ShardId;
use super::shard_exec::{ShardMode, ShardStore, TsqShardExec};
use super::step::plan_over;
use super::wire::Envelope;
use crate::error::Error;
use crate::query_exec::plan_line;

/// The final step of a tsq query over envelopes of partial states and
/// timelines (`wire.rs`) from any number of input partitions; see the
/// module docs.
#[derive(Debug)]
pub struct TsqFinalMergeExec {
    plan: Arc<LogicalPlan>,
    config: SessionConfig,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl TsqFinalMergeExec {
    /// The merge of `input`'s envelopes for `plan` (planned over the
    /// shards' catalog, as [`plan_over`] does), under `config`.
    pub fn new(
        plan: Arc<LogicalPlan>,
        config: SessionConfig,
        input: Arc<dyn ExecutionPlan>,
    ) -> Self {
        let schema = final_schema(&plan, &config);
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        TsqFinalMergeExec {
            plan,
            config,
            input,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for TsqFinalMergeExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TsqFinalMergeExec: {}", plan_line(Some(&self.plan)))
    }
}

impl ExecutionPlan for TsqFinalMergeExec {
    fn name(&self) -> &str {
        "TsqFinalMergeExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(TsqFinalMergeExec::new(
                Arc::clone(&self.plan),
                self.config.clone(),
                input,
            ))),
            _ => Err(DataFusionError::Internal(
                "TsqFinalMergeExec takes one child".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "TsqFinalMergeExec has one partition, asked for partition {partition}"
            )));
        }
        let inputs = (0..self.input.properties().partitioning.partition_count())
            .map(|p| self.input.execute(p, Arc::clone(&context)))
            .collect::<DfResult<Vec<_>>>()?;
        let (plan, config, schema) = (Arc::clone(&self.plan), self.config.clone(), self.schema());
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let expected = Arc::clone(&schema);
        let merged = async move {
            let batches: Vec<_> = futures::stream::select_all(inputs).try_collect().await?;
            let timer = baseline.elapsed_compute().timer();
            let envelopes = Envelope::decode_all(&batches)?;
            let (got, rows) = final_merge(&plan, &config, envelopes).await?;
            timer.done();
            if got.fields() != expected.fields() {
                return Err(DataFusionError::Internal(format!(
                    "TsqFinalMergeExec: the merge made columns {:?}, planned {:?}",
                    got.fields(),
                    expected.fields()
                )));
            }
            baseline.record_output(rows.iter().map(|b| b.num_rows()).sum());
            Ok::<_, DataFusionError>(futures::stream::iter(rows.into_iter().map(Ok)))
        };
        let stream = futures::stream::once(merged).try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            stream.boxed(),
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The DataFusion plan of tsq statement `sql` over `shards` (stores that
/// each hold some of the series, none shared): each shard's partial step
/// next to its scan, DataFusion's exchange, and tsq's final merge above it
/// (see the module docs). Its rows are those of one store holding every
/// shard's series. Describes each shard first (reads their catalogs and
/// data spans).
pub async fn partial_final_plan(
    shards: &[ShardStore],
    sql: &str,
) -> crate::Result<Arc<dyn ExecutionPlan>> {
    let mut catalogs = Vec::with_capacity(shards.len());
    for s in shards {
        catalogs.push(ShardCatalog::describe(&s.adapter, &s.config, sql).await?);
    }
    let catalog = Arc::new(ShardCatalog::union(&catalogs)?);
    let config = SessionConfig::default();
    let (plan, _) = plan_over(Arc::clone(&catalog), None, &config, sql).await?;
    let leaves: Vec<Arc<dyn ExecutionPlan>> = shards
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Arc::new(TsqShardExec::new(
                sql,
                ShardMode::Partial(Arc::clone(&catalog)),
                Some(ShardId(i as u32)),
                Some(s.clone()),
            )) as Arc<dyn ExecutionPlan>
        })
        .collect();
    if leaves.is_empty() {
        return Err(Error::Cluster("a partial/final plan needs a shard".into()));
    }
    let exchange = Arc::new(CoalescePartitionsExec::new(UnionExec::try_new(leaves)?));
    Ok(Arc::new(TsqFinalMergeExec::new(
        Arc::new(plan),
        config,
        exchange,
    )))
}

/// The schema [`TsqFinalMergeExec`] has for `plan` under `config`.
fn final_schema(plan: &LogicalPlan, config: &SessionConfig) -> SchemaRef {
    result_schema_with(
        &plan.tag_columns,
        &plan.value_column_names(),
        config.dictionary_tags,
    )
}
