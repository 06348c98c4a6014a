//! `\d`: the catalog as small tables, read with the `SHOW` statements of
//! the language (`tsq_planner::show`: `SHOW MEASUREMENTS`, `SHOW TAG KEYS`,
//! `SHOW FIELD KEYS`, answered from the index) plus the adapter's series
//! and tag value counts.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, UInt64Array};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use tsq_engine::memory::MemoryPool;
use tsq_engine::StorageAdapter;
use tsq_planner::ast::{Name, Show, ShowKind};
use tsq_planner::Pos;

use crate::cli::backend::{CliError, Result};

/// A titled table to print.
#[derive(Debug, Clone)]
pub struct Listing {
    /// A line printed above the table (may be empty).
    pub title: String,
    /// The table.
    pub batch: RecordBatch,
}

fn table(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, a)| Field::new(*name, a.data_type().clone(), false))
        .collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| CliError::Data(e.to_string()))
}

fn data_error(e: impl std::fmt::Display) -> CliError {
    CliError::Data(e.to_string())
}

/// The rows of `SHOW <what> [FROM measurement]`, one vector per column.
async fn show(
    adapter: &dyn StorageAdapter,
    what: ShowKind,
    measurement: Option<&str>,
) -> Result<Vec<Vec<String>>> {
    let at = Pos::new(1, 1);
    let statement = Show {
        what,
        from: measurement.map(|m| Name {
            value: m.to_string(),
            pos: at,
        }),
        filter: None,
        limit: None,
        pos: at,
    };
    // the catalog of `\d` is small: no budget of its own
    let pool = MemoryPool::new(usize::MAX);
    let batches = tsq_planner::show::execute(&statement, adapter, usize::MAX, &pool)
        .await
        .map_err(data_error)?;
    let width = tsq_planner::show::schema(&statement).fields().len();
    let mut columns = vec![Vec::new(); width];
    for b in &batches {
        for (c, column) in columns.iter_mut().enumerate() {
            let strings = b.column(c).as_string::<i32>();
            column.extend((0..strings.len()).map(|r| strings.value(r).to_string()));
        }
    }
    Ok(columns)
}

/// `\d`: every measurement (`SHOW MEASUREMENTS`) with its series count.
pub async fn list_measurements(adapter: &dyn StorageAdapter) -> Result<Vec<Listing>> {
    let names = show(adapter, ShowKind::Measurements, None).await?.remove(0);
    let mut counts = Vec::with_capacity(names.len());
    for m in &names {
        counts.push(adapter.series_count(m).await.map_err(data_error)? as u64);
    }
    let batch = table(vec![
        (
            "measurement",
            Arc::new(StringArray::from(names)) as ArrayRef,
        ),
        ("series", Arc::new(UInt64Array::from(counts))),
    ])?;
    Ok(vec![Listing {
        title: String::new(),
        batch,
    }])
}

/// `\d <measurement>`: its series count, tag keys (`SHOW TAG KEYS`, with
/// how many values each has) and fields with their types (`SHOW FIELD
/// KEYS`).
pub async fn describe_measurement(
    adapter: &dyn StorageAdapter,
    measurement: &str,
) -> Result<Vec<Listing>> {
    let mut field_rows = show(adapter, ShowKind::FieldKeys, Some(measurement)).await?;
    let (types, fields) = (field_rows.remove(2), field_rows.remove(1));
    if fields.is_empty() {
        return Err(CliError::Data(format!(
            "no measurement '{measurement}' (\\d lists the measurements)"
        )));
    }
    let series = adapter
        .series_count(measurement)
        .await
        .map_err(data_error)?;
    let keys = show(adapter, ShowKind::TagKeys, Some(measurement))
        .await?
        .remove(1);
    let mut values = Vec::with_capacity(keys.len());
    for k in &keys {
        values.push(
            adapter
                .tag_values(measurement, k)
                .await
                .map_err(data_error)?
                .len() as u64,
        );
    }
    let tags = table(vec![
        ("tag", Arc::new(StringArray::from(keys)) as ArrayRef),
        ("values", Arc::new(UInt64Array::from(values))),
    ])?;
    let field_table = table(vec![
        ("field", Arc::new(StringArray::from(fields)) as ArrayRef),
        ("type", Arc::new(StringArray::from(types))),
    ])?;
    Ok(vec![
        Listing {
            title: format!("measurement {measurement}: {series} series"),
            batch: tags,
        },
        Listing {
            title: String::new(),
            batch: field_table,
        },
    ])
}
