//! `ValuesOp`: a leaf operator that emits batches it was given. Used to feed
//! operators in tests, doctests and benchmarks without a storage adapter.

use std::collections::VecDeque;

use async_trait::async_trait;

use crate::batch::TimelineBatch;
use crate::context::TaskContext;
use crate::error::Result;
use crate::metrics::OperatorMetrics;
use crate::operator::Operator;

/// Emits a fixed list of timeline batches, in order.
#[derive(Debug, Default)]
pub struct ValuesOp {
    batches: VecDeque<TimelineBatch>,
    /// Number of batches given at construction (for a stable display).
    total: usize,
    ctx: Option<TaskContext>,
    metrics: OperatorMetrics,
}

impl ValuesOp {
    /// An operator that will emit `batches`.
    pub fn new(batches: Vec<TimelineBatch>) -> Self {
        ValuesOp {
            total: batches.len(),
            batches: batches.into(),
            ..Self::default()
        }
    }

    /// An operator that emits nothing.
    pub fn empty() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Operator for ValuesOp {
    fn name(&self) -> &'static str {
        "ValuesOp"
    }

    fn display(&self) -> String {
        format!("ValuesOp: batches={}", self.total)
    }

    async fn open(&mut self, ctx: &TaskContext) -> Result<()> {
        self.ctx = Some(ctx.clone());
        Ok(())
    }

    async fn next(&mut self) -> Result<Option<TimelineBatch>> {
        if let Some(ctx) = &self.ctx {
            ctx.cancel.check()?;
        }
        let batch = self.batches.pop_front();
        if let Some(b) = &batch {
            self.metrics.record_in(b.num_rows());
            self.metrics.record_out(b.num_rows());
        }
        Ok(batch)
    }

    async fn close(&mut self) -> Result<()> {
        self.batches.clear();
        Ok(())
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }

    fn children(&self) -> Vec<&dyn Operator> {
        Vec::new()
    }
}
