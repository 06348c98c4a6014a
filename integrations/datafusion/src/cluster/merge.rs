//! The coordinator's merge of the shards' answers (`docs/distributed.md`,
//! "What runs where"), until the partial aggregate states of the
//! partitioned execution are there.
//!
//! Rows are keyed by their key columns (`time` and the tags). Sharding is
//! by tag set, so a key found on one shard only is that shard's answer,
//! final: such rows are concatenated. A key found on several shards (a
//! group whose series span shards) is combined only where that is exact
//! without partial states (`max`, `min`); any other aggregate is refused
//! with an error saying partial states are needed. Then `ORDER BY` (or
//! tsq's default order: tags, then time) and `LIMIT`, which the workers
//! already applied to their own rows (each shard's first rows include its
//! part of the global first rows, so nothing is lost).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, RecordBatch, UInt32Array};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::compute::{cast, concat_batches, lexsort_to_indices, take, SortColumn};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::arrow::util::display::array_value_to_string;

use super::spec::{Combine, MergeSpec};
use crate::error::{Error, Result};

/// The final rows of a query from the shards' rows `batches`.
pub fn merge(spec: &MergeSpec, batches: &[RecordBatch]) -> Result<RecordBatch> {
    let schema = Arc::clone(&spec.schema);
    let all = concat_batches(&schema, batches)?;
    let keys: Vec<usize> = (0..spec.combine.len())
        .filter(|i| spec.combine[*i].is_none())
        .collect();
    let converter = RowConverter::new(
        keys.iter()
            .map(|i| SortField::new(schema.field(*i).data_type().clone()))
            .collect(),
    )?;
    let key_columns: Vec<ArrayRef> = keys.iter().map(|i| Arc::clone(all.column(*i))).collect();
    let rows = converter.convert_columns(&key_columns)?;

    let mut first: HashMap<&[u8], usize> = HashMap::with_capacity(all.num_rows());
    let mut keep: Vec<u32> = Vec::with_capacity(all.num_rows());
    let mut duplicates: Vec<(usize, usize)> = Vec::new();
    for r in 0..all.num_rows() {
        match first.entry(rows.row(r).data()) {
            Entry::Vacant(v) => {
                v.insert(keep.len());
                keep.push(r as u32);
            }
            Entry::Occupied(o) => duplicates.push((*o.get(), r)),
        }
    }
    let keep = UInt32Array::from(keep);
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (c, column) in all.columns().iter().enumerate() {
        let kept = take(column.as_ref(), &keep, None)?;
        columns.push(match (spec.combine[c], duplicates.is_empty()) {
            (Some(combine), false) => combined(&all, &keys, c, combine, &kept, &duplicates)?,
            _ => kept,
        });
    }
    let merged = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    order_and_limit(spec, &keys, merged)
}

/// Column `c` of the kept rows with each duplicate row folded in.
fn combined(
    all: &RecordBatch,
    keys: &[usize],
    c: usize,
    combine: Combine,
    kept: &ArrayRef,
    duplicates: &[(usize, usize)],
) -> Result<ArrayRef> {
    let name = all.schema().field(c).name().clone();
    if combine == Combine::NeedsPartials {
        let (_, row) = duplicates[0];
        let key: Vec<String> = keys
            .iter()
            .map(|k| array_value_to_string(all.column(*k), row).unwrap_or_default())
            .collect();
        return Err(Error::NeedsPartials {
            column: name,
            key: key.join(", "),
        });
    }
    let kept = cast(kept, &DataType::Float64)?;
    let source = cast(all.column(c), &DataType::Float64)?;
    let (kept, source) = (as_f64(&kept)?, as_f64(&source)?);
    let mut values: Vec<Option<f64>> = kept.iter().collect();
    for (slot, row) in duplicates {
        let other = (!source.is_null(*row)).then(|| source.value(*row));
        values[*slot] = match (values[*slot], other) {
            (Some(a), Some(b)) => Some(match combine {
                Combine::Max => a.max(b),
                _ => a.min(b),
            }),
            (a, b) => a.or(b),
        };
    }
    let out: ArrayRef = Arc::new(Float64Array::from(values));
    Ok(cast(&out, all.schema().field(c).data_type())?)
}

fn as_f64(a: &ArrayRef) -> Result<&Float64Array> {
    a.as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| Error::Protocol("a value column is not numeric".into()))
}

/// `ORDER BY` (default: tags, then time) and `LIMIT`.
fn order_and_limit(spec: &MergeSpec, keys: &[usize], batch: RecordBatch) -> Result<RecordBatch> {
    let order: Vec<(usize, bool)> = if spec.order_by.is_empty() {
        // tsq's order: group key (the tags), then time (column 0).
        keys.iter()
            .skip(1)
            .map(|k| (*k, false))
            .chain(keys.first().map(|k| (*k, false)))
            .collect()
    } else {
        spec.order_by.clone()
    };
    if order.is_empty() || batch.num_rows() == 0 {
        let n = spec.limit.unwrap_or(batch.num_rows()).min(batch.num_rows());
        return Ok(batch.slice(0, n));
    }
    let columns: Vec<SortColumn> = order
        .iter()
        .map(|(i, desc)| SortColumn {
            values: Arc::clone(batch.column(*i)),
            options: Some(SortOptions {
                descending: *desc,
                nulls_first: false,
            }),
        })
        .collect();
    let indices = lexsort_to_indices(&columns, spec.limit)?;
    let columns = batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), &indices, None))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}
