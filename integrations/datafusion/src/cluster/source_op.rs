//! `ShardsOp`: a pipeline's output rebuilt on the coordinator from what the
//! shards sent, handed to tsq's result join (or to the aggregation of an
//! interpolating pipeline) as the operator it replaces.

use std::collections::VecDeque;

use async_trait::async_trait;
use tsq_engine::{Operator, OperatorMetrics, TaskContext, TimelineBatch};

/// Hands out batches built in advance; see the module docs.
pub struct ShardsOp {
    what: &'static str,
    batches: VecDeque<TimelineBatch>,
    shards: usize,
    metrics: OperatorMetrics,
}

impl ShardsOp {
    /// An operator returning `batches`, merged from `shards` shards'
    /// `what` ("partial states" or "timelines", for EXPLAIN).
    pub fn new(what: &'static str, batches: Vec<TimelineBatch>, shards: usize) -> Self {
        ShardsOp {
            what,
            batches: batches.into(),
            shards,
            metrics: OperatorMetrics::default(),
        }
    }
}

#[async_trait]
impl Operator for ShardsOp {
    fn name(&self) -> &'static str {
        "ShardsOp"
    }

    fn display(&self) -> String {
        format!("ShardsOp: merged {} of {} shards", self.what, self.shards)
    }

    async fn open(&mut self, _ctx: &TaskContext) -> tsq_engine::Result<()> {
        Ok(())
    }

    async fn next(&mut self) -> tsq_engine::Result<Option<TimelineBatch>> {
        let batch = self.batches.pop_front();
        if let Some(b) = &batch {
            self.metrics.record_out(b.num_rows());
        }
        Ok(batch)
    }

    async fn close(&mut self) -> tsq_engine::Result<()> {
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
