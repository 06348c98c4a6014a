//! Puts any engine's result in one canonical form, so that tsq's answer and
//! DataFusion's can be checked equal before a timing counts: every row as
//! its key (timestamps and strings, in column order) and its values (every
//! numeric column as `f64`), rows sorted by key. Column names are ignored
//! (`max(usage_user)` against DataFusion's `max(cpu.usage_user)`).

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use arrow::record_batch::RecordBatch;
use tsq_engine::{EngineError, Result};

/// One result row: key cells, then value cells (`None` for null).
pub type Row = (Vec<String>, Vec<Option<f64>>);

/// The rows of `batches`, sorted by key.
pub fn canonical(batches: &[RecordBatch]) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for batch in batches {
        let mut keys: Vec<Vec<String>> = vec![Vec::new(); batch.num_rows()];
        let mut values: Vec<Vec<Option<f64>>> = vec![Vec::new(); batch.num_rows()];
        for column in batch.columns() {
            match column.data_type() {
                DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                    let ns = cast(column, &DataType::Int64).map_err(arrow_error)?;
                    let ns = downcast::<Int64Array>(&ns)?;
                    for (r, key) in keys.iter_mut().enumerate() {
                        key.push(ns.value(r).to_string());
                    }
                }
                t if t.is_numeric() => {
                    let v = cast(column, &DataType::Float64).map_err(arrow_error)?;
                    let v = downcast::<Float64Array>(&v)?;
                    for (r, row) in values.iter_mut().enumerate() {
                        row.push((!v.is_null(r)).then(|| v.value(r)));
                    }
                }
                _ => {
                    let s = cast(column, &DataType::Utf8).map_err(arrow_error)?;
                    let s = downcast::<StringArray>(&s)?;
                    for (r, key) in keys.iter_mut().enumerate() {
                        key.push(s.value(r).to_string());
                    }
                }
            }
        }
        rows.extend(keys.into_iter().zip(values));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(rows)
}

/// `Ok` when `a` and `b` hold the same keys and values within a relative
/// 1e-9 (aggregation order differs between engines); otherwise an error
/// naming the first difference.
pub fn check_same(what: &str, a: &[Row], b: &[Row]) -> Result<()> {
    if a.len() != b.len() {
        return Err(mismatch(
            what,
            format!("{} rows against {}", a.len(), b.len()),
        ));
    }
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let values_match = x.1.len() == y.1.len()
            && x.1.iter().zip(&y.1).all(|(p, q)| match (p, q) {
                (Some(p), Some(q)) => {
                    (p.is_nan() && q.is_nan())
                        || (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1.0)
                }
                (p, q) => p.is_none() && q.is_none(),
            });
        if x.0 != y.0 || !values_match {
            return Err(mismatch(what, format!("row {i}: {x:?} against {y:?}")));
        }
    }
    Ok(())
}

fn mismatch(what: &str, detail: String) -> EngineError {
    EngineError::execution("bench", format!("results differ on {what}: {detail}"))
}

fn downcast<T: 'static>(array: &dyn Array) -> Result<&T> {
    array
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| EngineError::execution("bench", "unexpected array type after cast"))
}

fn arrow_error(e: arrow::error::ArrowError) -> EngineError {
    EngineError::execution("bench", e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, TimestampNanosecondArray};
    use std::sync::Arc;

    fn batch(times: &[i64], hosts: &[&str], v: &[Option<f64>]) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampNanosecondArray::from(times.to_vec())),
            Arc::new(StringArray::from(hosts.to_vec())),
            Arc::new(Float64Array::from(v.to_vec())),
        ];
        RecordBatch::try_from_iter(["time", "host", "v"].into_iter().zip(columns)).unwrap()
    }

    #[test]
    fn rows_are_sorted_by_key_and_compared_with_tolerance() {
        let a = canonical(&[batch(&[20, 10], &["a", "a"], &[Some(2.0), None])]).unwrap();
        assert_eq!(
            a,
            vec![
                (vec!["10".to_string(), "a".to_string()], vec![None]),
                (vec!["20".to_string(), "a".to_string()], vec![Some(2.0)]),
            ]
        );
        let b = canonical(&[batch(&[10, 20], &["a", "a"], &[None, Some(2.0 + 1e-12)])]).unwrap();
        assert!(check_same("q", &a, &b).is_ok());
        let c = canonical(&[batch(&[10, 20], &["a", "a"], &[None, Some(2.001)])]).unwrap();
        let err = check_same("q", &a, &c).unwrap_err().to_string();
        assert!(err.contains("results differ on q: row 1"), "{err}");
        let d = canonical(&[batch(&[10], &["a"], &[None])]).unwrap();
        assert!(check_same("q", &a, &d)
            .unwrap_err()
            .to_string()
            .contains("2 rows against 1"));
    }
}
