//! The projection stage of a result: from the joined batches (`time`, the
//! tag columns, one column per output the pipelines computed) to the
//! result's columns in select-list order, evaluating each expression
//! column once per batch with arrow's kernels (`crate::expr`). It applies
//! to whatever the join hands on, batch by batch: the batches of
//! [`ResultBuilder::finish`](super::ResultBuilder::finish) and those a
//! single pipeline streams.
//!
//! ```text
//!   joined: time | host | avg(a) | avg(b) | max(c)
//!   result: time | host | max(c) | busy = avg(a) + avg(b)
//! ```

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::result_schema;
use crate::error::Result;
use crate::plan::{LogicalPlan, ResultColumn};

/// The projection of a plan's joined batches onto its result columns.
#[derive(Debug, Clone)]
pub struct ResultProjection {
    /// Columns before the values: `time` and the tags.
    keys: usize,
    columns: Vec<ResultColumn>,
    schema: SchemaRef,
}

impl ResultProjection {
    /// The projection of `plan`; `None` when its result columns are the
    /// joined columns as they are.
    pub fn for_plan(plan: &LogicalPlan) -> Option<Self> {
        if !plan.needs_projection() {
            return None;
        }
        Some(ResultProjection {
            keys: 1 + plan.tag_columns.len(),
            columns: plan.columns.clone(),
            schema: result_schema(&plan.tag_columns, &plan.value_column_names()),
        })
    }

    /// The schema of the projected batches.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// One joined batch as a result batch.
    pub fn project(&self, batch: &RecordBatch) -> Result<RecordBatch> {
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

/// The joined `(schema, batches)` of `plan` projected onto its result
/// columns (unchanged when no projection is needed).
pub(crate) fn project_all(
    plan: &LogicalPlan,
    joined: (SchemaRef, Vec<RecordBatch>),
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let Some(p) = ResultProjection::for_plan(plan) else {
        return Ok(joined);
    };
    let batches = joined
        .1
        .iter()
        .map(|b| p.project(b))
        .collect::<Result<Vec<_>>>()?;
    Ok((p.schema(), batches))
}
