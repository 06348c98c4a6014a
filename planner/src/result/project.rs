//! The projection stage of a result: from the joined batches (`time`, the
//! tag columns, one column per output the pipelines computed) to the
//! result's columns in select-list order, evaluating each expression
//! column once per batch with arrow's kernels (`crate::expr`), after
//! dropping the rows that fail a value comparison with arithmetic
//! (`usage_user + usage_system > 90`), and sorting by an expression
//! column (`super::sort`). It applies
//! to whatever the join hands on, batch by batch: the batches
//! [`MergeJoin`](super::MergeJoin) streams (`stage.rs`) and those of
//! [`ResultBuilder::finish`](super::ResultBuilder::finish) (the
//! materialized executor).
//!
//! ```text
//!   joined: time | host | avg(a) | avg(b) | max(c)
//!   result: time | host | max(c) | busy = avg(a) + avg(b)
//! ```

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::compute::kernels::boolean::and;
use arrow::datatypes::{Float64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use tsq_engine::memory::MemoryPool;

use super::sort::ExprSort;
use super::{join_reservation, result_schema_typed};
use crate::ast::ValueOp;
use crate::error::Result;
use crate::plan::{ExprFilter, LogicalPlan, ResultColumn};

/// The projection of a plan's joined batches onto its result columns.
#[derive(Debug, Clone)]
pub struct ResultProjection {
    /// Columns before the values: `time` and the tags.
    keys: usize,
    columns: Vec<ResultColumn>,
    /// Comparisons a row must pass (all of them).
    filters: Vec<ExprFilter>,
    schema: SchemaRef,
}

impl ResultProjection {
    /// The projection of `plan`; `None` when its result columns are the
    /// joined columns as they are. With `dictionary_tags` the tag columns
    /// are `Dictionary(Int32, Utf8)`, as the join builds them then.
    pub fn for_plan(plan: &LogicalPlan, dictionary_tags: bool) -> Option<Self> {
        if !plan.needs_projection() {
            return None;
        }
        Some(ResultProjection {
            keys: 1 + plan.tag_columns.len(),
            columns: plan.columns.clone(),
            filters: plan.expr_filters.clone(),
            schema: result_schema_typed(
                &plan.tag_columns,
                &plan.value_column_fields(),
                dictionary_tags,
            ),
        })
    }

    /// The schema of the projected batches.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// One joined batch as a result batch: the rows that pass the
    /// comparisons, with the result's columns.
    pub fn project(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let kept;
        let batch = match self.keep(batch)? {
            Some(mask) => {
                kept = filter_record_batch(batch, &mask)?;
                &kept
            }
            None => batch,
        };
        let all = batch.columns();
        let keys = self.keys.min(all.len());
        let values = &all[keys..];
        let mut out: Vec<ArrayRef> = Vec::with_capacity(keys + self.columns.len());
        out.extend(all[..keys].iter().map(Arc::clone));
        for c in &self.columns {
            out.push(match c {
                ResultColumn::Output(i) => match values.get(*i) {
                    Some(a) => Arc::clone(a),
                    None => {
                        return Err(crate::TsqError::Execution(
                            tsq_engine::EngineError::execution(
                                "ResultProjection",
                                format!("no joined column for output {i}"),
                            ),
                        ))
                    }
                },
                ResultColumn::Computed { expr, .. } => expr.evaluate(values, batch.num_rows())?,
            });
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), out)?)
    }
}

impl ResultProjection {
    /// The rows of `batch` that pass every comparison (`None`: no
    /// comparison); null never passes.
    fn keep(&self, batch: &RecordBatch) -> Result<Option<BooleanArray>> {
        let values = &batch.columns()[self.keys.min(batch.num_columns())..];
        let rows = batch.num_rows();
        let mut mask: Option<BooleanArray> = None;
        for f in &self.filters {
            let l = f.left.evaluate(values, rows)?;
            let r = f.right.evaluate(values, rows)?;
            let passed = compare(f.op, &l, &r);
            mask = Some(match mask {
                Some(m) => and(&m, &passed)?,
                None => passed,
            });
        }
        // `filter_record_batch` drops the rows whose mask is null
        Ok(mask)
    }
}

/// `l op r` row by row under IEEE 754 (every comparison with NaN is false
/// except `!=`); a null side gives null. The operator is matched once per
/// batch, each loop a plain comparison.
fn compare(op: ValueOp, l: &ArrayRef, r: &ArrayRef) -> BooleanArray {
    let (l, r) = (
        l.as_primitive::<Float64Type>(),
        r.as_primitive::<Float64Type>(),
    );
    match op {
        ValueOp::Eq => BooleanArray::from_binary(l, r, |a, b| a == b),
        ValueOp::NotEq => BooleanArray::from_binary(l, r, |a, b| a != b),
        ValueOp::Lt => BooleanArray::from_binary(l, r, |a, b| a < b),
        ValueOp::LtEq => BooleanArray::from_binary(l, r, |a, b| a <= b),
        ValueOp::Gt => BooleanArray::from_binary(l, r, |a, b| a > b),
        ValueOp::GtEq => BooleanArray::from_binary(l, r, |a, b| a >= b),
    }
}

/// The joined `(schema, batches)` of `plan` projected onto its result
/// columns (unchanged when no projection is needed): the materialized
/// executor's projection (queries that stream go through `stage.rs`). With
/// comparisons the join kept every row, so `LIMIT` is applied here, after
/// them.
pub(crate) fn project_all(
    plan: &LogicalPlan,
    joined: (SchemaRef, Vec<RecordBatch>),
    batch_size: usize,
    pool: &Arc<MemoryPool>,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let Some(p) = ResultProjection::for_plan(plan, false) else {
        return Ok(joined);
    };
    let sort = ExprSort::for_plan(plan);
    let mut left = match plan.limit {
        Some(n) if join_limit(plan).is_none() && sort.is_none() => n,
        _ => usize::MAX,
    };
    let mut batches = Vec::with_capacity(joined.1.len());
    for b in &joined.1 {
        if left == 0 {
            break;
        }
        let out = p.project(b)?;
        let out = if out.num_rows() > left {
            out.slice(0, left)
        } else {
            out
        };
        left -= out.num_rows();
        if out.num_rows() > 0 {
            batches.push(out);
        }
    }
    if let Some(sort) = sort {
        let schema = p.schema();
        let mut reservation = join_reservation(pool);
        reservation.try_grow(batches.iter().map(|b| b.get_array_memory_size()).sum())?;
        let batches = sort.sort(&schema, &batches, batch_size, &mut reservation)?;
        return Ok((schema, batches));
    }
    Ok((p.schema(), batches))
}

/// The limit the join applies for `plan`: none when comparisons with
/// arithmetic drop rows after it or an expression column orders the
/// result (the projection applies it then: `stage.rs`, or [`project_all`]
/// for the materialized executor).
pub(crate) fn join_limit(plan: &LogicalPlan) -> Option<usize> {
    if plan.expr_filters.is_empty() && !super::sort::sorts_after_projection(plan) {
        plan.limit
    } else {
        None
    }
}

/// The order the join produces for `plan`: none (group, then time) when an
/// expression column orders the result (`super::sort` sorts it then).
pub(crate) fn join_order(plan: &LogicalPlan) -> &[crate::ast::OrderItem] {
    if super::sort::sorts_after_projection(plan) {
        &[]
    } else {
        &plan.order_by
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, Float64Array};

    use super::*;

    #[test]
    fn comparisons_follow_ieee_754_and_null_gives_null() {
        let l: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.0),
            Some(f64::NAN),
            None,
            Some(2.0),
        ]));
        let r: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 1.0, 1.0, f64::NAN]));
        let got = |op| {
            let b = compare(op, &l, &r);
            (0..b.len())
                .map(|i| (!b.is_null(i)).then(|| b.value(i)))
                .collect::<Vec<_>>()
        };
        let (t, f) = (Some(true), Some(false));
        // 1 vs 1, NaN vs 1, null vs 1, 2 vs NaN
        assert_eq!(got(ValueOp::Eq), [t, f, None, f]);
        assert_eq!(got(ValueOp::NotEq), [f, t, None, t]);
        assert_eq!(got(ValueOp::Lt), [f, f, None, f]);
        assert_eq!(got(ValueOp::LtEq), [t, f, None, f]);
        assert_eq!(got(ValueOp::Gt), [f, f, None, f]);
        assert_eq!(got(ValueOp::GtEq), [t, f, None, f]);
    }
}
