//! DataFusion as a timed competitor (the `datafusion` feature): the TSBS
//! dataset as one `MemTable` of wide `cpu` rows, queried with SQL through a
//! `SessionContext` on its own tokio runtime. `partitions` sets both
//! DataFusion's target partitions and the runtime's worker threads, so one
//! partition compares single-threaded engines and more shows what its
//! parallelism buys.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use tsq_engine::{EngineError, Result};

use crate::tsbs::dataset::TsbsData;
use crate::tsbs::engines::QueryEngine;
use crate::tsbs::queries::TsbsQuery;

/// DataFusion over a `MemTable` named `cpu`.
pub struct DataFusionEngine {
    ctx: SessionContext,
    runtime: tokio::runtime::Runtime,
    partitions: usize,
}

impl std::fmt::Debug for DataFusionEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataFusionEngine")
            .field("partitions", &self.partitions)
            .finish()
    }
}

impl DataFusionEngine {
    /// Registers `data` as table `cpu`, split round-robin into `partitions`
    /// partitions of 8192-row batches (DataFusion's default batch size).
    pub fn new(data: &TsbsData, partitions: usize) -> Result<Self> {
        let partitions = partitions.max(1);
        let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); partitions];
        for (i, batch) in data.record_batches(8192)?.into_iter().enumerate() {
            parts[i % partitions].push(batch);
        }
        let table = MemTable::try_new(TsbsData::schema(), parts).map_err(df_error)?;
        let config = SessionConfig::new().with_target_partitions(partitions);
        let ctx = SessionContext::new_with_config(config);
        ctx.register_table("cpu", Arc::new(table))
            .map_err(df_error)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(partitions)
            .enable_all()
            .build()
            .map_err(|e| EngineError::execution("datafusion", e.to_string()))?;
        Ok(DataFusionEngine {
            ctx,
            runtime,
            partitions,
        })
    }
}

impl QueryEngine for DataFusionEngine {
    fn label(&self) -> String {
        let threads = if self.partitions == 1 {
            "thread"
        } else {
            "threads"
        };
        format!("datafusion ({} {threads})", self.partitions)
    }

    fn run(&self, query: &TsbsQuery) -> Result<(Vec<RecordBatch>, Option<usize>)> {
        let batches = self.runtime.block_on(async {
            let frame = self.ctx.sql(&query.sql).await?;
            frame.collect().await
        });
        let batches =
            batches.map_err(|e| EngineError::execution(query.name, format!("datafusion: {e}")))?;
        Ok((batches, None))
    }
}

fn df_error(e: datafusion::error::DataFusionError) -> EngineError {
    EngineError::execution("datafusion", e.to_string())
}
