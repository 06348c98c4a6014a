//! `TsqScanExec`: the DataFusion leaf that reads one measurement through a
//! tsq storage adapter.
//!
//! It opens one adapter scan per field it needs (with the pushed time range
//! and tag predicate) and merges them into wide rows (`rows.rs`). The
//! fields it needs are the projected ones plus the ones that say which rows
//! exist: every field, unless a pushed filter already drops the rows where
//! some field is NULL (`WHERE usage_user > 90`), in which case that field
//! alone decides (`docs/distributed.md`, "Rows of a measurement table").

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::Statistics;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::StatisticsArgs;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};
use tsq_engine::{ScanRequest, StorageAdapter};

use crate::error::Error;
use crate::pushdown::ScanFilters;
use crate::rows::{FieldInput, RowMerger};
use crate::schema::{Column, MeasurementSchema};
use crate::stats::statistics;

/// Reads a measurement table from a tsq adapter; see the module docs.
#[derive(Debug)]
pub struct TsqScanExec {
    adapter: Arc<dyn StorageAdapter>,
    table: MeasurementSchema,
    projection: Vec<Column>,
    filters: ScanFilters,
    /// The fields scanned, each with the output field column it fills.
    scanned: Vec<(usize, Option<usize>)>,
    limit: Option<usize>,
    /// Rows estimated from the adapter's index (`stats.rs`).
    rows: Option<u64>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl TsqScanExec {
    /// A scan of `table` producing the columns `projection` (indices into
    /// the table's schema), taking the pushed `filters` and `limit`.
    pub(crate) fn new(
        adapter: Arc<dyn StorageAdapter>,
        table: MeasurementSchema,
        projection: Vec<Column>,
        filters: ScanFilters,
        limit: Option<usize>,
        schema: SchemaRef,
    ) -> Self {
        let scanned = scanned_fields(&table, &projection, &filters);
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        TsqScanExec {
            adapter,
            table,
            projection,
            filters,
            scanned,
            limit,
            rows: None,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// This scan with `rows` as its estimated row count (before `LIMIT`).
    pub(crate) fn with_row_estimate(mut self, rows: Option<u64>) -> Self {
        self.rows = rows;
        self
    }

    /// The pushed filters.
    pub(crate) fn filters(&self) -> &ScanFilters {
        &self.filters
    }

    /// The names of the fields this scan reads.
    pub fn scanned_fields(&self) -> Vec<&str> {
        let fields = self.table.fields();
        self.scanned
            .iter()
            .map(|(f, _)| fields[*f].as_str())
            .collect()
    }
}

/// Which fields to read, each with its output slot (the position among the
/// projected fields) or `None` when it only tells which rows exist.
fn scanned_fields(
    table: &MeasurementSchema,
    projection: &[Column],
    filters: &ScanFilters,
) -> Vec<(usize, Option<usize>)> {
    let projected: Vec<usize> = projection
        .iter()
        .filter_map(|c| match c {
            Column::Field(f) => Some(*f),
            _ => None,
        })
        .collect();
    let slot = |f: usize| projected.iter().position(|&p| p == f);
    let fields = table.fields();
    (0..fields.len())
        .filter(|&f| {
            filters.required_fields.is_empty()
                || projected.contains(&f)
                || filters.required_fields.contains(&fields[f])
        })
        .map(|f| (f, slot(f)))
        .collect()
}

impl DisplayAs for TsqScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns: Vec<&str> = self
            .properties
            .eq_properties
            .schema()
            .fields()
            .iter()
            .map(|c| c.name().as_str())
            .collect();
        write!(
            f,
            "TsqScanExec: adapter={} measurement={} projection=[{}] fields=[{}] range={} \
             predicate={}",
            self.adapter.name(),
            self.table.measurement(),
            columns.join(", "),
            self.scanned_fields().join(", "),
            self.filters.range,
            self.filters.predicate,
        )?;
        if let Some(limit) = self.limit {
            write!(f, " limit={limit}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for TsqScanExec {
    fn name(&self) -> &str {
        "TsqScanExec"
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
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "TsqScanExec has one partition, asked for partition {partition}"
            )));
        }
        let schema = self.schema();
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let points = MetricBuilder::new(&self.metrics).counter("points_read", partition);
        let adapter = Arc::clone(&self.adapter);
        let table = self.table.clone();
        let scanned = self.scanned.clone();
        let filters = self.filters.clone();
        let projection = self.projection.clone();
        let limit = self.limit;
        let batch_size = context.session_config().batch_size();
        let out_schema = Arc::clone(&schema);
        let open = async move {
            let inputs = open_scans(adapter, &table, scanned, &filters).await?;
            let merger = RowMerger::new(
                inputs,
                table.tags(),
                projection,
                out_schema,
                batch_size,
                limit,
            );
            Ok::<_, DataFusionError>(batches(merger, baseline, points))
        };
        let stream = futures::stream::once(open).try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn fetch(&self) -> Option<usize> {
        self.limit
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> DfResult<Arc<Statistics>> {
        Ok(Arc::new(statistics(&self.schema(), self.rows, self.limit)))
    }
}

/// Opens one adapter scan per scanned field.
async fn open_scans(
    adapter: Arc<dyn StorageAdapter>,
    table: &MeasurementSchema,
    scanned: Vec<(usize, Option<usize>)>,
    filters: &ScanFilters,
) -> DfResult<Vec<FieldInput>> {
    let mut inputs = Vec::with_capacity(scanned.len());
    for (field, slot) in scanned {
        let mut request = ScanRequest::new(table.measurement(), &table.fields()[field]);
        request.predicate = filters.predicate.clone();
        request.range = filters.range;
        let scan = adapter.scan(&request).await.map_err(Error::from)?;
        inputs.push(FieldInput::new(scan, slot));
    }
    Ok(inputs)
}

/// The merger's batches as a stream, counted into the node's metrics.
fn batches(
    merger: RowMerger,
    baseline: BaselineMetrics,
    points: Count,
) -> impl futures::Stream<Item = DfResult<datafusion::arrow::array::RecordBatch>> {
    futures::stream::try_unfold(
        (merger, baseline, points, 0usize),
        |(mut merger, baseline, points, counted)| async move {
            let timer = baseline.elapsed_compute().timer();
            let batch = merger.next_batch().await.map_err(DataFusionError::from)?;
            timer.done();
            let read = merger.counts().points;
            points.add(read - counted);
            Ok(batch.map(|b| {
                baseline.record_output(b.num_rows());
                (b, (merger, baseline, points, read))
            }))
        },
    )
    .boxed()
}
