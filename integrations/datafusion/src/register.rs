//! Registering a whole tsq store with a DataFusion session.

use std::sync::Arc;

use datafusion::common::TableReference;
use datafusion::prelude::SessionContext;
use tsq_engine::StorageAdapter;

use crate::error::{Error, Result};
use crate::table::TsqTable;

/// Registers every measurement of `adapter` as a table of `ctx` (named
/// after the measurement) and returns the names, sorted.
pub async fn register_tsq(
    ctx: &SessionContext,
    adapter: Arc<dyn StorageAdapter>,
) -> Result<Vec<String>> {
    let measurements = adapter.measurements().await?;
    for m in &measurements {
        let table = TsqTable::try_new(Arc::clone(&adapter), m).await?;
        // A bare name: a measurement `a.b` is not table `b` of schema `a`.
        ctx.register_table(TableReference::bare(m.as_str()), Arc::new(table))
            .map_err(|source| Error::Register {
                measurement: m.clone(),
                source,
            })?;
    }
    Ok(measurements)
}
