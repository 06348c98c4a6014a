//! `ORDER BY` an expression column: the join cannot rank rows by a value it
//! does not compute, so it joins in the natural order without a limit, and
//! this stage sorts the projected rows with arrow's `lexsort_to_indices`
//! (keeping only the first `LIMIT` indices) and takes them. It follows the
//! join's order: the `ORDER BY` items (a null value first when ascending,
//! last when descending; NaN above every number), then the tag columns,
//! then time. What it holds (the rows concatenated, then the sorted copy)
//! is reserved as `ResultJoin` by the stage that holds it (`stage.rs`, or
//! `project::project_all` for the materialized executor).

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::compute::{
    concat_batches, lexsort_to_indices, take_record_batch, SortColumn, SortOptions,
};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tsq_engine::memory::MemoryReservation;

use crate::ast::OrderItem;
use crate::error::Result;
use crate::plan::{LogicalPlan, ResultColumn};

/// True when `plan` orders by an expression column (this stage sorts).
pub(crate) fn sorts_after_projection(plan: &LogicalPlan) -> bool {
    plan.order_by.iter().any(|item| {
        plan.columns
            .iter()
            .any(|c| matches!(c, ResultColumn::Computed { name, .. } if *name == item.column.value))
    })
}

/// The sort of the projected rows by an expression column: the `ORDER BY`
/// items, then the tag columns, then time, keeping the first `LIMIT` rows.
#[derive(Debug, Clone)]
pub(crate) struct ExprSort {
    order_by: Vec<OrderItem>,
    tag_columns: Vec<String>,
    limit: Option<usize>,
}

impl ExprSort {
    /// The sort of `plan`; `None` unless it orders by an expression column.
    pub(crate) fn for_plan(plan: &LogicalPlan) -> Option<Self> {
        sorts_after_projection(plan).then(|| ExprSort {
            order_by: plan.order_by.clone(),
            tag_columns: plan.tag_columns.clone(),
            limit: plan.limit,
        })
    }

    /// Sorts the projected `batches` (already reserved on `reservation`),
    /// keeps the first `LIMIT` rows, and cuts them into batches of
    /// `batch_size`. The sorted copy is reserved on `reservation` too.
    pub(crate) fn sort(
        &self,
        schema: &SchemaRef,
        batches: &[RecordBatch],
        batch_size: usize,
        reservation: &mut MemoryReservation,
    ) -> Result<Vec<RecordBatch>> {
        let all = concat_batches(schema, batches)?;
        let mut keys: Vec<SortColumn> = Vec::new();
        for item in &self.order_by {
            keys.push(sort_column(
                &all,
                schema,
                &item.column.value,
                item.descending,
            )?);
        }
        for tag in &self.tag_columns {
            keys.push(sort_column(&all, schema, tag, false)?);
        }
        keys.push(sort_column(&all, schema, "time", false)?);
        let indices = lexsort_to_indices(&keys, self.limit)?;
        let sorted = take_record_batch(&all, &indices)?;
        reservation.try_grow(sorted.get_array_memory_size())?;
        let size = batch_size.max(1);
        let mut out = Vec::with_capacity(sorted.num_rows().div_ceil(size));
        let mut at = 0;
        while at < sorted.num_rows() {
            let n = size.min(sorted.num_rows() - at);
            out.push(sorted.slice(at, n));
            at += n;
        }
        Ok(out)
    }
}

/// The column `name` of `batch` as a sort key.
fn sort_column(
    batch: &RecordBatch,
    schema: &SchemaRef,
    name: &str,
    descending: bool,
) -> Result<SortColumn> {
    let i = schema.index_of(name)?;
    let values: ArrayRef = Arc::clone(batch.column(i));
    Ok(SortColumn {
        values,
        options: Some(SortOptions {
            descending,
            nulls_first: !descending,
        }),
    })
}
