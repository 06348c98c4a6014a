//! A measurement seen as a table: its Arrow schema and which column is what.
//!
//! Columns: `time` (`Timestamp(ns, "+00:00")`, the type of tsq's own results),
//! then the tag keys (`Dictionary(Int32, Utf8)`, NULL where a series lacks
//! the tag), then the fields (`Float64`, the type the adapter returns),
//! both in the adapter's sorted order.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use tsq_engine::StorageAdapter;

use crate::error::{Error, Result};

/// The name of the time column.
const TIME: &str = "time";

/// The table shape of one measurement.
#[derive(Debug, Clone)]
pub struct MeasurementSchema {
    measurement: String,
    tags: Vec<String>,
    fields: Vec<String>,
    schema: SchemaRef,
}

impl MeasurementSchema {
    /// The shape of `measurement` with these tag keys and fields; an error
    /// when a name would be two columns (a tag and a field, or `time`).
    pub fn new(measurement: &str, tags: Vec<String>, fields: Vec<String>) -> Result<Self> {
        let clash = |name: &str, what: &str| Error::Schema {
            measurement: measurement.to_string(),
            message: format!("'{name}' is {what}: it cannot be two columns of one table"),
        };
        if let Some(t) = tags.iter().find(|t| fields.contains(t)) {
            return Err(clash(t, "both a tag and a field"));
        }
        if let Some(c) = tags.iter().chain(&fields).find(|c| *c == TIME) {
            return Err(clash(c, "a tag or field named like the time column"));
        }
        let mut columns = vec![Field::new(
            TIME,
            DataType::Timestamp(TimeUnit::Nanosecond, Some(tsq_planner::TIME_ZONE.into())),
            false,
        )];
        let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        columns.extend(tags.iter().map(|t| Field::new(t, dictionary.clone(), true)));
        columns.extend(
            fields
                .iter()
                .map(|f| Field::new(f, DataType::Float64, true)),
        );
        Ok(MeasurementSchema {
            measurement: measurement.to_string(),
            tags,
            fields,
            schema: Arc::new(Schema::new(columns)),
        })
    }

    /// Reads the tag keys and fields of `measurement` from `adapter`.
    pub async fn load(adapter: &dyn StorageAdapter, measurement: &str) -> Result<Self> {
        let tags = adapter.tag_keys(measurement).await?;
        let fields = adapter.fields(measurement).await?;
        Self::new(measurement, tags, fields)
    }

    /// The measurement.
    pub fn measurement(&self) -> &str {
        &self.measurement
    }

    /// The Arrow schema of the whole table.
    pub fn arrow(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The tag keys, in column order.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// The fields, in column order.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The time column's name.
    pub fn time_column(&self) -> &'static str {
        TIME
    }

    /// True when `name` is a tag column.
    pub fn is_tag(&self, name: &str) -> bool {
        self.tags.iter().any(|t| t == name)
    }

    /// True when `name` is a field column.
    pub fn is_field(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f == name)
    }

    /// What column `index` of the table is.
    pub(crate) fn column(&self, index: usize) -> Option<Column> {
        match index {
            0 => Some(Column::Time),
            i if i <= self.tags.len() => Some(Column::Tag(i - 1)),
            i => {
                let f = i - 1 - self.tags.len();
                (f < self.fields.len()).then_some(Column::Field(f))
            }
        }
    }
}

/// One column of a measurement table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    /// `time`.
    Time,
    /// The tag at this index of [`MeasurementSchema::tags`].
    Tag(usize),
    /// The field at this index of [`MeasurementSchema::fields`].
    Field(usize),
}
