//! The input of the result join when one operator computes every value
//! column (`LastPointsOp`, `docs/architecture.md` "Last point as one
//! operator"): its rows, one per group in key order, are the result's rows,
//! taken one at a time with their group key. The join drives the operator
//! on its own task (it emits one batch of a few rows per group count).
//!
//! ```text
//!   LastPointsOp ─▶ ColumnsBatch { group, time, c1..cN } ─▶ row ─▶ cells[output of ci] ─▶ filters ─▶ sink
//! ```

use std::sync::Arc;

use arrow::datatypes::DataType;
use tsq_engine::memory::MemoryReservation;
use tsq_engine::{ColumnsBatch, TaskContext};

use super::cell::Num;
use super::input::{key_of, RunValues};
use super::join_reservation;
use super::output::Key;
use super::source::{open_once, settle, Pipeline, State};
use crate::error::Result;

/// A batch being read: its rows, its columns in their result types, the
/// next row and the reservation of its bytes.
struct Current {
    batch: ColumnsBatch,
    values: Vec<RunValues>,
    row: usize,
    _reserved: MemoryReservation,
}

/// The rows of an operator that emits every value column; see the module
/// docs.
pub(super) struct ColumnsInput {
    pipeline: Pipeline,
    ctx: TaskContext,
    state: State,
    /// The output index of each of the operator's columns.
    outputs: Vec<usize>,
    /// The result type of each of the operator's columns.
    types: Vec<DataType>,
    tags: Arc<[String]>,
    current: Option<Current>,
    /// Rows taken.
    pub(super) rows_in: u64,
}

impl ColumnsInput {
    /// The input of `pipeline`, whose columns are the outputs `outputs`
    /// of result types `types`, keyed by the tag columns `tags`, run under
    /// a child of `ctx`'s cancellation token.
    pub(super) fn new(
        pipeline: Pipeline,
        outputs: Vec<usize>,
        types: Vec<DataType>,
        tags: Arc<[String]>,
        ctx: &TaskContext,
    ) -> Self {
        ColumnsInput {
            pipeline,
            ctx: TaskContext {
                cancel: ctx.cancel.child(),
                ..ctx.clone()
            },
            state: State::Unopened,
            outputs,
            types,
            tags,
            current: None,
            rows_in: 0,
        }
    }

    /// The next row: its value of every column set in `cells` (by output
    /// index; the other cells are left alone), and its group key and time;
    /// `None` at the end.
    pub(super) async fn next_row(
        &mut self,
        cells: &mut [Option<Num>],
    ) -> Result<Option<(Key, i64)>> {
        loop {
            if let Some(c) = &mut self.current {
                if c.row < c.batch.num_rows() {
                    let r = c.row;
                    c.row += 1;
                    for (values, &output) in c.values.iter().zip(&self.outputs) {
                        cells[output] = values.cell(r);
                    }
                    self.rows_in += 1;
                    let key = key_of(c.batch.groups().get(r as u32), &self.tags);
                    return Ok(Some((key, c.batch.times()[r])));
                }
            }
            self.current = None;
            let Some(batch) = self.pull().await? else {
                return Ok(None);
            };
            let values = batch
                .columns()
                .iter()
                .zip(&self.types)
                .map(|(c, t)| RunValues::new(c, t))
                .collect::<Result<Vec<_>>>()?;
            let mut reserved = join_reservation(&self.ctx.memory);
            reserved.try_grow(batch.memory_size())?;
            self.current = Some(Current {
                batch,
                values,
                row: 0,
                _reserved: reserved,
            });
        }
    }

    /// The operator's next batch (opening it first, closing it at its end
    /// or on an error).
    async fn pull(&mut self) -> Result<Option<ColumnsBatch>> {
        let root = &mut self.pipeline.1;
        if !open_once(&mut self.state, root, &self.ctx).await? {
            return Ok(None);
        }
        let next = root.next_columns().await;
        settle(&mut self.state, root, next).await
    }

    /// Stops the operator (closing it if open) and hands back its pipeline
    /// with its metrics.
    pub(super) async fn stop(mut self) -> Pipeline {
        self.ctx.cancel.cancel();
        if self.state == State::Open {
            let _ = self.pipeline.1.close().await;
        }
        self.pipeline
    }
}

/// True when `pipelines` is one operator that emits every value column.
pub(super) fn emits_columns(pipelines: &[Pipeline]) -> bool {
    matches!(pipelines, [(_, root)] if root.emits_columns())
}
