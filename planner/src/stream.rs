//! Streaming results: a query with a single value column and no
//! `ORDER BY`/`LIMIT` needs no join, so each timeline batch the pipeline
//! emits is turned into a result batch as it arrives (the pipeline already
//! emits groups in key order, each time-sorted). Value filters on that one
//! column are applied batch by batch; a filter on another field needs a
//! hidden column, hence a second pipeline and the join.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, StringArray, TimestampNanosecondArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use tsq_engine::pipeline::build_pipeline_with;
use tsq_engine::{into_stream, StorageAdapter, TaskContext, TimelineBatch};

use crate::error::{Result, TsqError};
use crate::plan::{LogicalPlan, ValueFilter};
use crate::result::{result_schema, retain};
use crate::session::RecordBatchStream;

/// True when `plan` can stream without a join or a sort (every value filter
/// is on the one column).
pub(crate) fn streamable(plan: &LogicalPlan) -> bool {
    plan.pipelines.len() == 1
        && plan.order_by.is_empty()
        && plan.limit.is_none()
        && plan
            .value_filters
            .iter()
            .all(|f| f.output == plan.pipelines[0].output)
}

/// Streams the single pipeline of `plan`.
pub(crate) async fn stream_single(
    plan: &LogicalPlan,
    adapter: &Arc<dyn StorageAdapter>,
    ctx: TaskContext,
) -> Result<RecordBatchStream> {
    let p = &plan.pipelines[0];
    let root = build_pipeline_with(&p.spec, Arc::clone(adapter), p.strategy, p.read).await?;
    let tags = plan.tag_columns.clone();
    let schema = result_schema(&tags, &[plan.outputs[p.output].name.clone()]);
    let filters = plan.value_filters.clone();
    let stream = into_stream(root, ctx).filter_map(move |batch| {
        let out = match batch {
            Ok(b) if b.is_empty() => None,
            Ok(b) => match convert(&schema, &tags, &b).and_then(|r| keep(r, &b, &filters)) {
                Ok(r) if r.num_rows() == 0 => None,
                other => Some(other),
            },
            Err(e) => Some(Err(TsqError::from(e))),
        };
        futures::future::ready(out)
    });
    Ok(Box::pin(stream))
}

/// Turns the output of a hand-built operator DAG into result batches: one
/// [`RecordBatch`] per non-empty [`TimelineBatch`], in order, with the
/// columns of a query result (`time`, then `tag_columns` read from each
/// timeline's series, then the values as `value_column`). A series without
/// one of the tags gets an empty string.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Array, Float64Array, StringArray};
/// use tsq_engine::{SeriesInfo, SeriesRegistry, TimelineBatchBuilder};
///
/// let registry = Arc::new(SeriesRegistry::new(vec![
///     SeriesInfo::new("cpu", &[("host", "a")], "usage"),
///     SeriesInfo::new("cpu", &[("host", "b")], "usage"),
/// ]));
/// let mut b = TimelineBatchBuilder::new(registry, 8);
/// b.push_slice(0, &[0, 10], &[1.0, 2.0]);
/// b.push_slice(1, &[0], &[5.0]);
/// let rows = tsq_planner::timelines_to_record_batches(&[b.finish()?], &["host".into()], "usage")?;
/// let r = &rows[0];
/// assert_eq!(r.schema().field(2).name(), "usage");
/// let hosts = r.column(1).as_any().downcast_ref::<StringArray>().unwrap();
/// let values = r.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
/// assert_eq!((hosts.value(0), hosts.value(1), hosts.value(2)), ("a", "a", "b"));
/// assert_eq!(values.values(), &[1.0, 2.0, 5.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn timelines_to_record_batches(
    batches: &[TimelineBatch],
    tag_columns: &[String],
    value_column: &str,
) -> Result<Vec<RecordBatch>> {
    let schema = result_schema(tag_columns, &[value_column.to_string()]);
    batches
        .iter()
        .filter(|b| !b.is_empty())
        .map(|b| convert(&schema, tag_columns, b))
        .collect()
}

/// The rows of `rows` (converted from `batch`) whose value passes every filter.
fn keep(rows: RecordBatch, batch: &TimelineBatch, filters: &[ValueFilter]) -> Result<RecordBatch> {
    if filters.is_empty() {
        return Ok(rows);
    }
    let mut mask = vec![true; batch.num_rows()];
    for f in filters {
        retain(&mut mask, batch.values().iter(), f);
    }
    Ok(filter_record_batch(&rows, &BooleanArray::from(mask))?)
}

/// One timeline batch as result rows.
fn convert(schema: &SchemaRef, tags: &[String], batch: &TimelineBatch) -> Result<RecordBatch> {
    let registry = batch.registry();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(2 + tags.len());
    let times = TimestampNanosecondArray::from(batch.times().to_vec()).with_timezone("UTC");
    columns.push(Arc::new(times));
    for key in tags {
        let mut values: Vec<&str> = Vec::with_capacity(batch.num_rows());
        for tl in batch.timelines() {
            let v = registry
                .get(tl.series_id)
                .and_then(|s| s.tag(key))
                .unwrap_or("");
            values.extend(std::iter::repeat_n(v, tl.len()));
        }
        columns.push(Arc::new(StringArray::from(values)));
    }
    columns.push(Arc::new(batch.values().clone()));
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}
