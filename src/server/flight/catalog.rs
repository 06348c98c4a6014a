//! The store seen as SQL tables for `GetCatalogs`, `GetDbSchemas` and
//! `GetTables`: one catalog (`tsq`) with one schema (`public`) holding a
//! table per measurement, whose columns are `time`, its tags and its
//! fields, typed as a query returns them (`docs/server.md`).
//!
//! [`tables`] is the one place that reads the store's catalog (through the
//! storage adapter's catalog methods, as `\d` does).

use arrow::datatypes::SchemaRef;
use tsq_engine::{EngineError, StorageAdapter};
use tsq_planner::result::result_schema;

/// The name of the one catalog.
pub(crate) const CATALOG: &str = "tsq";
/// The name of the one schema.
pub(crate) const DB_SCHEMA: &str = "public";
/// The type of every table.
pub(crate) const TABLE_TYPE: &str = "TABLE";

/// A measurement as a table.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// The measurement.
    pub(crate) name: String,
    /// `time`, the tag columns, the field columns.
    pub(crate) schema: SchemaRef,
}

/// Every measurement of the store, with its columns.
pub(crate) async fn tables(adapter: &dyn StorageAdapter) -> Result<Vec<Table>, EngineError> {
    let mut tables = Vec::new();
    for name in adapter.measurements().await? {
        let tags = adapter.tag_keys(&name).await?;
        let fields = adapter.fields(&name).await?;
        tables.push(Table {
            schema: result_schema(&tags, &fields),
            name,
        });
    }
    Ok(tables)
}
