//! Arrow batches of exported rows (docs/cli.md, `tsq export`): column `time`
//! (Timestamp(ns, "+00:00"), as query results), one dictionary-encoded string column per tag, one
//! column per field in its stored type (Float64, Int64, UInt64, Boolean,
//! Utf8). [`BatchBuilder`] collects the rows of tag sets until a batch is
//! full; the Parquet and CSV writers take the batches one at a time.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, StringDictionaryBuilder,
    TimestampNanosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use tsq_storage::tsm::export::{FieldRows, Rows, TagSet};
use tsq_storage::tsm::value::{FieldType, Values};

use crate::cli::backend::{CliError, Result};

/// Rows per batch handed to a writer.
pub const BATCH_ROWS: usize = 65_536;

/// The Arrow type of a stored field type.
fn arrow_type(ty: FieldType) -> DataType {
    match ty {
        FieldType::Float => DataType::Float64,
        FieldType::Integer => DataType::Int64,
        FieldType::Unsigned => DataType::UInt64,
        FieldType::Boolean => DataType::Boolean,
        FieldType::String => DataType::Utf8,
    }
}

/// The export schema of a measurement; an error when a name is used twice
/// (a tag and a field of the same name, or one called `time`).
pub fn schema(
    measurement: &str,
    tags: &[String],
    fields: &[(String, FieldType)],
) -> Result<SchemaRef> {
    let mut columns = vec![Field::new(
        "time",
        DataType::Timestamp(TimeUnit::Nanosecond, Some(tsq_planner::TIME_ZONE.into())),
        false,
    )];
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    columns.extend(tags.iter().map(|t| Field::new(t, dict.clone(), true)));
    columns.extend(
        fields
            .iter()
            .map(|(f, ty)| Field::new(f, arrow_type(*ty), true)),
    );
    let mut names: Vec<&str> = columns.iter().map(|c| c.name().as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(CliError::Data(format!(
            "measurement '{measurement}' uses the column name '{}' twice (time, tags, fields); export it with --format lp",
            w[0]
        )));
    }
    Ok(Arc::new(Schema::new(columns)))
}

/// One field column being built.
enum FieldBuilder {
    Float(Float64Builder),
    Integer(Int64Builder),
    Unsigned(UInt64Builder),
    Boolean(BooleanBuilder),
    String(StringBuilder),
}

impl FieldBuilder {
    fn new(ty: FieldType) -> Self {
        match ty {
            FieldType::Float => FieldBuilder::Float(Float64Builder::new()),
            FieldType::Integer => FieldBuilder::Integer(Int64Builder::new()),
            FieldType::Unsigned => FieldBuilder::Unsigned(UInt64Builder::new()),
            FieldType::Boolean => FieldBuilder::Boolean(BooleanBuilder::new()),
            FieldType::String => FieldBuilder::String(StringBuilder::new()),
        }
    }

    /// Appends `n` rows: the values of `field` at its rows, null elsewhere
    /// (all null without `field`). A stored type that differs from the
    /// column's is an error.
    fn append(&mut self, n: usize, field: Option<&FieldRows>, name: &str) -> Result<()> {
        let empty = FieldRows {
            rows: Vec::new(),
            values: Values::Float(Vec::new()),
        };
        let f = field.unwrap_or(&empty);
        let rows = &f.rows;
        match (self, &f.values) {
            (FieldBuilder::Float(b), Values::Float(v)) => scatter(n, rows, v.iter().copied(), |x| b.append_option(x)),
            (FieldBuilder::Integer(b), Values::Integer(v)) => scatter(n, rows, v.iter().copied(), |x| b.append_option(x)),
            (FieldBuilder::Unsigned(b), Values::Unsigned(v)) => scatter(n, rows, v.iter().copied(), |x| b.append_option(x)),
            (FieldBuilder::Boolean(b), Values::Boolean(v)) => scatter(n, rows, v.iter().copied(), |x| b.append_option(x)),
            (FieldBuilder::String(b), Values::String(v)) => scatter(n, rows, v.iter(), |x| b.append_option(x)),
            (b, _) if rows.is_empty() => b.append_nulls(n),
            (_, v) => {
                return Err(CliError::Data(format!(
                    "field '{name}' is stored as {} in some series and with another type in others; export it with --format lp",
                    v.field_type().name()
                )))
            }
        }
        Ok(())
    }

    fn append_nulls(&mut self, n: usize) {
        match self {
            FieldBuilder::Float(b) => b.append_nulls(n),
            FieldBuilder::Integer(b) => b.append_nulls(n),
            FieldBuilder::Unsigned(b) => b.append_nulls(n),
            FieldBuilder::Boolean(b) => b.append_nulls(n),
            FieldBuilder::String(b) => (0..n).for_each(|_| b.append_null()),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            FieldBuilder::Float(b) => Arc::new(b.finish()),
            FieldBuilder::Integer(b) => Arc::new(b.finish()),
            FieldBuilder::Unsigned(b) => Arc::new(b.finish()),
            FieldBuilder::Boolean(b) => Arc::new(b.finish()),
            FieldBuilder::String(b) => Arc::new(b.finish()),
        }
    }
}

/// Calls `put` for rows `0..n`: the next value at the positions of `rows`
/// (ascending), `None` elsewhere.
fn scatter<T>(
    n: usize,
    rows: &[usize],
    values: impl Iterator<Item = T>,
    mut put: impl FnMut(Option<T>),
) {
    let mut next = rows.iter().zip(values).peekable();
    for i in 0..n {
        match next.next_if(|(r, _)| **r == i) {
            Some((_, v)) => put(Some(v)),
            None => put(None),
        }
    }
}

/// Collects rows of one measurement into Arrow columns.
pub struct BatchBuilder {
    schema: SchemaRef,
    tag_keys: Vec<String>,
    field_names: Vec<String>,
    time: TimestampNanosecondBuilder,
    tags: Vec<StringDictionaryBuilder<Int32Type>>,
    fields: Vec<FieldBuilder>,
    len: usize,
}

impl BatchBuilder {
    /// A builder for `schema` made by [`schema`] from these tags and fields.
    pub fn new(schema: SchemaRef, tags: &[String], fields: &[(String, FieldType)]) -> Self {
        BatchBuilder {
            schema,
            tag_keys: tags.to_vec(),
            field_names: fields.iter().map(|f| f.0.clone()).collect(),
            time: TimestampNanosecondBuilder::new().with_timezone(tsq_planner::TIME_ZONE),
            tags: tags
                .iter()
                .map(|_| StringDictionaryBuilder::new())
                .collect(),
            fields: fields.iter().map(|f| FieldBuilder::new(f.1)).collect(),
            len: 0,
        }
    }

    /// Rows collected so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no row is collected.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the rows of one tag set.
    pub fn push(&mut self, set: &TagSet, rows: &Rows) -> Result<()> {
        let n = rows.times.len();
        self.time.append_slice(&rows.times);
        for (key, b) in self.tag_keys.iter().zip(&mut self.tags) {
            match set.tags.iter().find(|(k, _)| **k == **key) {
                Some((_, v)) => (0..n).for_each(|_| b.append_value(&**v)),
                None => b.append_nulls(n),
            }
        }
        for (name, b) in self.field_names.iter().zip(&mut self.fields) {
            let pos = set.fields.iter().position(|f| *f.field == **name);
            b.append(n, pos.map(|p| &rows.fields[p]), name)?;
        }
        self.len += n;
        Ok(())
    }

    /// The collected rows as a batch; the builder starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = vec![Arc::new(self.time.finish())];
        columns.extend(
            self.tags
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        columns.extend(self.fields.iter_mut().map(FieldBuilder::finish));
        self.len = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| CliError::Data(format!("cannot build an export batch: {e}")))
    }
}
