//! `TsqTable`: one measurement of a tsq store as a DataFusion table.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use tsq_engine::StorageAdapter;

use crate::error::Result;
use crate::pushdown::{support, ScanFilters};
use crate::scan_exec::TsqScanExec;
use crate::schema::MeasurementSchema;

/// A `TableProvider` over one measurement of any tsq [`StorageAdapter`]:
/// one row per (series, time); see the crate docs for the columns and
/// `pushdown.rs` for what is pushed into the adapter.
#[derive(Debug)]
pub struct TsqTable {
    adapter: Arc<dyn StorageAdapter>,
    table: MeasurementSchema,
}

impl TsqTable {
    /// The table of `measurement`, its columns read from the adapter now
    /// (tags and fields written later are not columns of this table).
    pub async fn try_new(adapter: Arc<dyn StorageAdapter>, measurement: &str) -> Result<Self> {
        let table = MeasurementSchema::load(adapter.as_ref(), measurement).await?;
        Ok(TsqTable { adapter, table })
    }

    /// The table's shape.
    pub fn measurement_schema(&self) -> &MeasurementSchema {
        &self.table
    }
}

#[async_trait]
impl TableProvider for TsqTable {
    fn schema(&self) -> SchemaRef {
        self.table.arrow()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let all: Vec<usize> = (0..self.table.arrow().fields().len()).collect();
        let indices = projection.unwrap_or(&all);
        let columns = indices
            .iter()
            .map(|&i| {
                self.table.column(i).ok_or_else(|| {
                    DataFusionError::Plan(format!(
                        "table {} has no column {i}",
                        self.table.measurement()
                    ))
                })
            })
            .collect::<DfResult<Vec<_>>>()?;
        let schema = Arc::new(self.table.arrow().project(indices)?);
        let filters = ScanFilters::from_filters(filters, &self.table);
        Ok(Arc::new(TsqScanExec::new(
            Arc::clone(&self.adapter),
            self.table.clone(),
            columns,
            filters,
            limit,
            schema,
        )))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        let capabilities = self.adapter.capabilities();
        Ok(filters
            .iter()
            .map(|f| support(f, &self.table, capabilities))
            .collect())
    }
}
