//! `TsqExec`: a whole tsq query as one DataFusion execution plan node.
//!
//! The query is planned by tsq when the node is built (so its schema and
//! plan are known to DataFusion) and planned again and run by tsq each time
//! the node executes, on tsq's own runtime: DataFusion only receives the
//! result batches. One DataFusion partition per tsq partition: a tsq query
//! has one today (the partitioned execution of `docs/distributed.md` gives
//! each shard its own).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
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
use tsq_planner::{LogicalPlan, Session};

use crate::error::{Error, Result};

/// A tsq query run as a DataFusion leaf node; see the module docs.
#[derive(Debug)]
pub struct TsqExec {
    session: Arc<Session>,
    sql: String,
    /// The one-line summary of tsq's plan (EXPLAIN of the node).
    plan_line: String,
    /// Columns of tsq's result this node outputs (all when `None`).
    projection: Option<Vec<usize>>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl TsqExec {
    /// Plans `sql` with tsq and wraps it as an execution plan.
    pub async fn try_new(session: Arc<Session>, sql: &str) -> Result<Self> {
        let query = session.sql(sql).await?;
        let schema = query.schema();
        let line = plan_line(query.logical_plan());
        Ok(Self::planned(session, sql, schema, line, None))
    }

    /// A node for an already planned query with result schema `schema`,
    /// outputting the columns `projection` of it.
    pub(crate) fn planned(
        session: Arc<Session>,
        sql: &str,
        schema: SchemaRef,
        plan_line: String,
        projection: Option<Vec<usize>>,
    ) -> Self {
        let output = match &projection {
            Some(p) => Arc::new(schema.project(p).unwrap_or_else(|_| (*schema).clone())),
            None => schema,
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(output),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        TsqExec {
            session,
            sql: sql.to_string(),
            plan_line,
            projection,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The tsq statement this node runs.
    pub fn sql(&self) -> &str {
        &self.sql
    }
}

/// tsq's plan in one line: what is scanned, pushed and computed.
pub(crate) fn plan_line(plan: Option<&LogicalPlan>) -> String {
    // A SHOW statement has no logical plan: it reads the index.
    let Some(plan) = plan else {
        return "SHOW (answered from the index)".to_string();
    };
    let mut line = format!(
        "measurement={} range={} predicate={} group_by={}",
        plan.measurement, plan.range, plan.predicate, plan.group_by
    );
    if let Some(ds) = &plan.downsample {
        line.push_str(&format!(" sample_by={ds}"));
    }
    let strategies: Vec<String> = plan
        .pipelines
        .iter()
        .map(|p| p.strategy.to_string())
        .collect();
    line.push_str(&format!(" pipelines=[{}]", strategies.join(", ")));
    line
}

impl DisplayAs for TsqExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TsqExec: {} sql={:?}", self.plan_line, self.sql)
    }
}

impl ExecutionPlan for TsqExec {
    fn name(&self) -> &str {
        "TsqExec"
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
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "TsqExec has one partition, asked for partition {partition}"
            )));
        }
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let session = Arc::clone(&self.session);
        let sql = self.sql.clone();
        let projection = self.projection.clone();
        let start = async move {
            let query = session.sql(&sql).await.map_err(Error::from)?;
            let stream = query.stream().await.map_err(Error::from)?;
            Ok::<_, DataFusionError>(stream.map_err(|e| DataFusionError::from(Error::from(e))))
        };
        let stream = futures::stream::once(start)
            .try_flatten()
            .map(move |batch| {
                let batch = project(batch?, projection.as_deref())?;
                baseline.record_output(batch.num_rows());
                Ok(batch)
            });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            stream,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

fn project(batch: RecordBatch, projection: Option<&[usize]>) -> DfResult<RecordBatch> {
    match projection {
        Some(p) => Ok(batch.project(p)?),
        None => Ok(batch),
    }
}
