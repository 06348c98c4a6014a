//! Result assembly: the outputs of the pipelines (one per value column) are
//! joined into the result schema of DESIGN §2 — `time` (ns, UTC), the tag
//! columns, one Float64 column per value — by a full outer join on
//! (group key, time), filtered by the value comparisons of `WHERE`, ordered
//! by group key then time unless `ORDER BY` says otherwise, with `LIMIT`
//! applied after ordering. Hidden columns (fields read only for a value
//! filter) take part in the join and the filter, then are dropped.
//!
//! Each pipeline's timelines are appended per group key as flat columns
//! (group lookups once per timeline); the join is then a merge of the
//! time-sorted columns of each group.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use tsq_engine::TimelineBatch;

use crate::ast::OrderItem;
use crate::error::Result;
use crate::plan::{LogicalPlan, ValueFilter};

mod filter;

pub(crate) use filter::retain;

/// The Arrow schema of a result: `time`, tag columns, value columns.
pub fn result_schema(tag_columns: &[String], value_columns: &[String]) -> SchemaRef {
    let mut fields = vec![Field::new(
        "time",
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        false,
    )];
    fields.extend(
        tag_columns
            .iter()
            .map(|t| Field::new(t, DataType::Utf8, false)),
    );
    fields.extend(
        value_columns
            .iter()
            .map(|v| Field::new(v, DataType::Float64, true)),
    );
    Arc::new(Schema::new(fields))
}

/// The points of one value column inside one group.
#[derive(Debug, Clone, Default)]
struct Column {
    times: Vec<i64>,
    values: Vec<Option<f64>>,
}

impl Column {
    /// Sorts by time when runs of several timelines were appended out of order.
    fn sort(&mut self) {
        if self.times.windows(2).all(|w| w[0] < w[1]) {
            return;
        }
        let mut idx: Vec<usize> = (0..self.times.len()).collect();
        idx.sort_by_key(|&i| self.times[i]);
        self.times = idx.iter().map(|&i| self.times[i]).collect();
        self.values = idx.iter().map(|&i| self.values[i]).collect();
    }
}

/// One result row before it is cut into batches; its values are
/// `cells[at * width .. (at + 1) * width]` of the joined table (one flat
/// vector for every row, no allocation per row).
#[derive(Debug, Clone, Copy)]
struct Row {
    group: usize,
    time: i64,
    at: usize,
}

/// The rows of the full outer join and their value cells.
#[derive(Debug, Default)]
struct Joined {
    rows: Vec<Row>,
    cells: Vec<Option<f64>>,
    width: usize,
}

impl Joined {
    fn value(&self, row: &Row, column: usize) -> Option<f64> {
        self.cells[row.at * self.width + column]
    }
}

/// Collects pipeline outputs and produces the joined result.
#[derive(Debug)]
pub struct ResultBuilder {
    tag_columns: Vec<String>,
    /// Every joined column: the result's value columns, then hidden ones.
    value_columns: Vec<String>,
    /// How many of `value_columns` are in the result.
    visible: usize,
    filters: Vec<ValueFilter>,
    groups: BTreeMap<Vec<String>, Vec<Column>>,
}

impl ResultBuilder {
    /// A builder for these tag and value columns (no value filter).
    pub fn new(tag_columns: Vec<String>, value_columns: Vec<String>) -> Self {
        ResultBuilder {
            tag_columns,
            visible: value_columns.len(),
            value_columns,
            filters: Vec::new(),
            groups: BTreeMap::new(),
        }
    }

    /// A builder for the outputs of `plan` (hidden ones included) that
    /// applies its value filters.
    pub fn for_plan(plan: &LogicalPlan) -> Self {
        let names = plan.outputs.iter().map(|o| o.name.clone()).collect();
        let mut builder = ResultBuilder::new(plan.tag_columns.clone(), names);
        builder.visible = plan.visible_outputs().count();
        debug_assert!(plan.outputs[builder.visible..].iter().all(|o| o.hidden));
        builder.filters = plan.value_filters.clone();
        builder
    }

    /// Adds a batch produced by the pipeline of value column `output`.
    pub fn add(&mut self, output: usize, batch: &TimelineBatch) {
        let registry = Arc::clone(batch.registry());
        let n = self.value_columns.len();
        for tl in batch.timelines() {
            let key: Vec<String> = match registry.get(tl.series_id) {
                Some(info) => self
                    .tag_columns
                    .iter()
                    .map(|k| info.tag(k).unwrap_or("").to_string())
                    .collect(),
                None => vec![String::new(); self.tag_columns.len()],
            };
            let col = &mut self
                .groups
                .entry(key)
                .or_insert_with(|| vec![Column::default(); n])[output];
            col.times.extend_from_slice(tl.times);
            col.values.extend((0..tl.len()).map(|i| tl.value(i)));
        }
    }

    /// Joins, orders, limits and cuts the result into batches.
    pub fn finish(
        mut self,
        order_by: &[OrderItem],
        limit: Option<usize>,
        batch_size: usize,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let keys: Vec<Vec<String>> = self.groups.keys().cloned().collect();
        let mut joined = Joined {
            width: self.value_columns.len(),
            ..Joined::default()
        };
        for (g, cols) in self.groups.values_mut().enumerate() {
            cols.iter_mut().for_each(Column::sort);
            merge_group(g, cols, &mut joined);
        }
        let mut rows = std::mem::take(&mut joined.rows);
        apply_filters(&mut rows, &self.filters, &joined);
        if !order_by.is_empty() {
            let names = (&self.tag_columns[..], &self.value_columns[..self.visible]);
            rows.sort_by(|a, b| compare(a, b, order_by, &keys, names, &joined));
        }
        if let Some(n) = limit {
            rows.truncate(n);
        }
        let schema = result_schema(&self.tag_columns, &self.value_columns[..self.visible]);
        let widths = (self.tag_columns.len(), self.visible);
        let batches = rows
            .chunks(batch_size.max(1))
            .map(|chunk| to_batch(&schema, chunk, &keys, widths, &joined))
            .collect::<Result<Vec<_>>>()?;
        Ok((schema, batches))
    }
}

/// Keeps the rows that pass every value filter.
fn apply_filters(rows: &mut Vec<Row>, filters: &[ValueFilter], joined: &Joined) {
    if filters.is_empty() {
        return;
    }
    let mut keep = vec![true; rows.len()];
    for f in filters {
        retain(&mut keep, rows.iter().map(|r| joined.value(r, f.output)), f);
    }
    let mut flags = keep.into_iter();
    rows.retain(|_| flags.next().unwrap_or(false));
}

/// Full outer join of the time-sorted columns of one group.
fn merge_group(group: usize, cols: &[Column], out: &mut Joined) {
    let mut at = vec![0usize; cols.len()];
    loop {
        let next = cols
            .iter()
            .zip(&at)
            .filter_map(|(c, &i)| c.times.get(i).copied())
            .min();
        let Some(time) = next else { return };
        let row = Row {
            group,
            time,
            at: out.rows.len(),
        };
        for (k, c) in cols.iter().enumerate() {
            if c.times.get(at[k]) == Some(&time) {
                out.cells.push(c.values[at[k]]);
                at[k] += 1;
            } else {
                out.cells.push(None);
            }
        }
        out.rows.push(row);
    }
}

fn compare(
    a: &Row,
    b: &Row,
    order_by: &[OrderItem],
    keys: &[Vec<String>],
    (tags, values): (&[String], &[String]),
    joined: &Joined,
) -> Ordering {
    for item in order_by {
        let name = item.column.value.as_str();
        let o = if name == "time" {
            a.time.cmp(&b.time)
        } else if let Some(t) = tags.iter().position(|t| t == name) {
            keys[a.group][t].cmp(&keys[b.group][t])
        } else if let Some(v) = values.iter().position(|v| v == name) {
            // nulls first, then by total order (NaN last)
            match (joined.value(a, v), joined.value(b, v)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (x, y) => x.is_some().cmp(&y.is_some()),
            }
        } else {
            Ordering::Equal
        };
        let o = if item.descending { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    (a.group, a.time).cmp(&(b.group, b.time))
}

fn to_batch(
    schema: &SchemaRef,
    rows: &[Row],
    keys: &[Vec<String>],
    (n_tags, n_values): (usize, usize),
    joined: &Joined,
) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(1 + n_tags + n_values);
    let times: TimestampNanosecondArray = rows.iter().map(|r| Some(r.time)).collect();
    columns.push(Arc::new(times.with_timezone("UTC")));
    columns.extend((0..n_tags).map(|t| -> ArrayRef {
        let tags: StringArray = rows
            .iter()
            .map(|r| Some(keys[r.group][t].as_str()))
            .collect();
        Arc::new(tags)
    }));
    columns.extend((0..n_values).map(|v| -> ArrayRef {
        let values: Float64Array = rows.iter().map(|r| joined.value(r, v)).collect();
        Arc::new(values)
    }));
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}
