//! Result rows from a hand-built operator DAG: each timeline batch it
//! emits becomes one result batch (`time`, the tag columns, the values).
//! Queries stream through the join (`result/merge.rs`).

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, TimestampNanosecondArray};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tsq_engine::TimelineBatch;

use crate::error::Result;
use crate::result::result_schema;

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

/// One timeline batch as result rows.
fn convert(schema: &SchemaRef, tags: &[String], batch: &TimelineBatch) -> Result<RecordBatch> {
    let registry = batch.registry();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(2 + tags.len());
    let times = TimestampNanosecondArray::from(batch.times().to_vec())
        .with_timezone(crate::result::TIME_ZONE);
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
