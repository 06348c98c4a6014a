//! `\d`: the catalog as small tables, read through the adapter's catalog
//! methods (measurements, tag keys and values, fields, series counts).

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, UInt64Array};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use tsq_engine::StorageAdapter;

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

/// `\d`: every measurement with its series count.
pub async fn list_measurements(adapter: &dyn StorageAdapter) -> Result<Vec<Listing>> {
    let names = adapter.measurements().await.map_err(data_error)?;
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

/// `\d <measurement>`: its series count, tag keys (with how many values
/// each has) and fields.
pub async fn describe_measurement(
    adapter: &dyn StorageAdapter,
    measurement: &str,
) -> Result<Vec<Listing>> {
    let fields = adapter.fields(measurement).await.map_err(data_error)?;
    if fields.is_empty() {
        return Err(CliError::Data(format!(
            "no measurement '{measurement}' (\\d lists the measurements)"
        )));
    }
    let series = adapter
        .series_count(measurement)
        .await
        .map_err(data_error)?;
    let keys = adapter.tag_keys(measurement).await.map_err(data_error)?;
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
    let field_table = table(vec![(
        "field",
        Arc::new(StringArray::from(fields)) as ArrayRef,
    )])?;
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
