//! `TsqTable`: one measurement of a tsq store as a DataFusion table.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Statistics;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use tsq_engine::{StorageAdapter, TagPredicate, TimeRange};

use crate::error::Result;
use crate::pushdown::{support, ScanFilters};
use crate::scan_exec::TsqScanExec;
use crate::schema::MeasurementSchema;
use crate::stats::{row_estimate, statistics};

/// A `TableProvider` over one measurement of any tsq [`StorageAdapter`]:
/// one row per (series, time); see the crate docs for the columns and
/// `pushdown.rs` for what is pushed into the adapter.
#[derive(Debug)]
pub struct TsqTable {
    adapter: Arc<dyn StorageAdapter>,
    table: MeasurementSchema,
    /// Rows of the whole table, estimated from the index when the adapter
    /// counts points (`stats.rs`).
    rows: Option<u64>,
}

impl TsqTable {
    /// The table of `measurement`, its columns read from the adapter now
    /// (tags and fields written later are not columns of this table).
    pub async fn try_new(adapter: Arc<dyn StorageAdapter>, measurement: &str) -> Result<Self> {
        let table = MeasurementSchema::load(adapter.as_ref(), measurement).await?;
        let fields: Vec<&str> = table.fields().iter().map(String::as_str).collect();
        let rows = row_estimate(
            &adapter,
            measurement,
            &fields,
            &TagPredicate::True,
            TimeRange::ALL,
        )
        .await;
        Ok(TsqTable {
            adapter,
            table,
            rows,
        })
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
        let scan = TsqScanExec::new(
            Arc::clone(&self.adapter),
            self.table.clone(),
            columns,
            filters,
            limit,
            schema,
        );
        let rows = row_estimate(
            &self.adapter,
            self.table.measurement(),
            &scan.scanned_fields(),
            &scan.filters().predicate,
            scan.filters().range,
        )
        .await;
        Ok(Arc::new(scan.with_row_estimate(rows)))
    }

    /// The rows of the table estimated from the adapter's index
    /// (`Precision::Inexact`), when the adapter counts points.
    fn statistics(&self) -> Option<Statistics> {
        self.rows
            .map(|rows| statistics(&self.table.arrow(), Some(rows), None))
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

#[cfg(test)]
mod tests {
    use datafusion::common::stats::Precision;
    use datafusion::physical_plan::StatisticsArgs;
    use datafusion::prelude::SessionContext;
    use tsq_storage::memory::MemoryAdapter;

    use super::*;

    /// Host a: 3 points of `u`, 2 of `v`; host b: 1 of `u` (times in ns).
    fn adapter() -> Arc<dyn StorageAdapter> {
        let m = MemoryAdapter::new();
        m.insert(
            "cpu",
            &[("host", "a")],
            "u",
            &[(10, 1.0), (20, 2.0), (30, 3.0)],
        );
        m.insert("cpu", &[("host", "a")], "v", &[(10, 1.0), (20, 2.0)]);
        m.insert("cpu", &[("host", "b")], "u", &[(20, 5.0)]);
        Arc::new(m)
    }

    #[tokio::test]
    async fn row_estimates_come_from_the_index() {
        let table = TsqTable::try_new(adapter(), "cpu").await.unwrap();
        // u has 4 points, v 2: the larger count
        let stats = table.statistics().unwrap();
        assert_eq!(stats.num_rows, Precision::Inexact(4));

        let ctx = SessionContext::new();
        let state = ctx.state();
        let filter = datafusion::prelude::col("host").eq(datafusion::prelude::lit("a"));
        let scan = table.scan(&state, None, &[filter], None).await.unwrap();
        let stats = scan
            .statistics_from_inputs(&[], &StatisticsArgs::new())
            .unwrap();
        // host a: u 3 points, v 2
        assert_eq!(stats.num_rows, Precision::Inexact(3));
        let limited = table.scan(&state, None, &[], Some(2)).await.unwrap();
        let stats = limited
            .statistics_from_inputs(&[], &StatisticsArgs::new())
            .unwrap();
        assert_eq!(stats.num_rows, Precision::Inexact(2));
    }
}
