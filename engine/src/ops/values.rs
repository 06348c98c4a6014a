//! `ValuesOp`: a leaf operator that emits batches it was given. Used to feed
//! operators in tests, doctests and benchmarks without a storage adapter.

use std::collections::VecDeque;

use async_trait::async_trait;

use crate::batch::TimelineBatch;
use crate::context::TaskContext;
use crate::error::Result;
use crate::metrics::OperatorMetrics;
use crate::operator::Operator;
use crate::ops::driver::Lifecycle;
use crate::spec::BucketGrid;

const NAME: &str = "ValuesOp";

/// Emits a fixed list of timeline batches, in order.
#[derive(Debug, Default)]
pub struct ValuesOp {
    batches: VecDeque<TimelineBatch>,
    /// Number of batches given at construction (for a stable display).
    total: usize,
    ctx: Option<TaskContext>,
    range: Option<(i64, i64)>,
    grid: Option<BucketGrid>,
    lifecycle: Lifecycle,
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

    /// Declares that every point lies in `[start, end)`
    /// ([`Operator::output_range`]), as a scan of that range would.
    pub fn with_range(mut self, range: (i64, i64)) -> Self {
        self.range = Some(range);
        self
    }

    /// Declares that every timestamp is a bucket start of `grid`
    /// ([`Operator::output_grid`]), as a downsample over it would.
    pub fn with_grid(mut self, grid: BucketGrid) -> Self {
        self.grid = Some(grid);
        self
    }
}

#[async_trait]
impl Operator for ValuesOp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn display(&self) -> String {
        format!("ValuesOp: batches={}", self.total)
    }

    async fn open(&mut self, ctx: &TaskContext) -> Result<()> {
        self.lifecycle.check_open(NAME)?;
        self.ctx = Some(ctx.clone());
        self.lifecycle.opened();
        Ok(())
    }

    async fn next(&mut self) -> Result<Option<TimelineBatch>> {
        if !self.lifecycle.check_next(NAME)? {
            return Ok(None);
        }
        if let Some(ctx) = &self.ctx {
            ctx.cancel.check()?;
        }
        let batch = self.batches.pop_front();
        match &batch {
            Some(b) => {
                self.metrics.record_in(b.num_rows());
                self.metrics.record_out(b.num_rows());
            }
            None => self.lifecycle.done(),
        }
        Ok(batch)
    }

    async fn close(&mut self) -> Result<()> {
        self.batches.clear();
        self.lifecycle.closed();
        Ok(())
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }

    fn children(&self) -> Vec<&dyn Operator> {
        Vec::new()
    }

    fn output_range(&self) -> Option<(i64, i64)> {
        self.range
    }

    fn output_grid(&self) -> Option<BucketGrid> {
        self.grid
    }
}
