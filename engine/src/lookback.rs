//! The lookback of `FILL(previous)` and `FILL(linear)` (`docs/semantics.md`
//! §5): the newest point of each series before the query's range, read with
//! [`StorageAdapter::last_points`] (at most one block per series on TSM)
//! and keyed by series so that any scan's registry can look it up. Both the
//! `DsAggOp` fill and the materialized executor seed from it.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array};

use crate::batch::TimelineBatch;
use crate::error::Result;
use crate::registry::SeriesInfo;
use crate::spec::{Downsample, FillPolicy, Interval};
use crate::storage::{ScanRequest, StorageAdapter, TimeRange};
use crate::value::TimelineValue;

/// Value `row` of a timeline value column, as f64.
fn float_at(values: &dyn Array, row: usize) -> f64 {
    use arrow::datatypes::{Float64Type, Int64Type, UInt64Type};
    if let Some(v) = values.as_primitive_opt::<Float64Type>() {
        v.value(row)
    } else if let Some(v) = values.as_primitive_opt::<Int64Type>() {
        v.value(row) as f64
    } else {
        values
            .as_primitive_opt::<UInt64Type>()
            .map_or(f64::NAN, |v| v.value(row) as f64)
    }
}

/// The newest point before the range of each series that has one, its
/// value kept in the field's type (an integer seed of `FILL(previous)`
/// stays exact, `docs/semantics.md` §12).
#[derive(Debug, Clone)]
pub struct Lookback {
    /// Time and row in `values` of each series' point.
    points: HashMap<SeriesInfo, (i64, usize)>,
    /// The points' values, as the adapter returned them.
    values: ArrayRef,
}

impl PartialEq for Lookback {
    fn eq(&self, other: &Self) -> bool {
        self.points == other.points && self.values.to_data() == other.values.to_data()
    }
}

impl Default for Lookback {
    fn default() -> Self {
        Lookback {
            points: HashMap::new(),
            values: Arc::new(Float64Array::from(Vec::<f64>::new())),
        }
    }
}

impl Lookback {
    /// True when `ds` over `request` looks back: a `previous` or `linear`
    /// fill with an interval, and a lower time bound (without one the range
    /// starts at the data's first point, so nothing lies before it).
    pub fn applies(ds: &Downsample, request: &ScanRequest) -> bool {
        matches!(ds.fill, FillPolicy::Previous | FillPolicy::Linear)
            && matches!(ds.interval, Interval::Every(_))
            && request.range.start.is_some()
    }

    /// Reads the lookback of `request` (its series, before its start), or
    /// `None` when [`Lookback::applies`] is false.
    pub async fn fetch(
        ds: &Downsample,
        request: &ScanRequest,
        adapter: &dyn StorageAdapter,
    ) -> Result<Option<Lookback>> {
        let Some(start) = request
            .range
            .start
            .filter(|_| Lookback::applies(ds, request))
        else {
            return Ok(None);
        };
        let before = ScanRequest {
            range: TimeRange {
                start: None,
                end: Some(start),
            },
            group_order: None,
            ..request.clone()
        };
        let batch = adapter.last_points(&before).await?;
        Ok(Some(Lookback::of_batch(&batch)))
    }

    /// The newest point of each timeline of `batch`.
    fn of_batch(batch: &TimelineBatch) -> Lookback {
        let mut points = HashMap::new();
        let mut end = 0;
        for tl in batch.timelines() {
            end += tl.len();
            let Some((info, &t)) = batch.registry().get(tl.series_id).zip(tl.times.last()) else {
                continue;
            };
            points.insert(info.clone(), (t, end - 1));
        }
        Lookback {
            points,
            values: Arc::clone(batch.value_column()),
        }
    }

    /// A lookback of the given points (tests).
    pub fn from_points(points: impl IntoIterator<Item = (SeriesInfo, i64, Option<f64>)>) -> Self {
        let (mut map, mut values) = (HashMap::new(), Vec::new());
        for (row, (s, t, v)) in points.into_iter().enumerate() {
            map.insert(s, (t, row));
            values.push(v);
        }
        Lookback {
            points: map,
            values: Arc::new(Float64Array::from(values)),
        }
    }

    /// The newest point of `series` before the range: `(time, value)`,
    /// the value as f64.
    pub fn get(&self, series: &SeriesInfo) -> Option<(i64, Option<f64>)> {
        self.get_as::<f64>(series)
    }

    /// [`get`](Self::get) with the value as `V`: exact when the field has
    /// type `V`; else converted through f64 (integers to nearest, floats as
    /// Rust's `as` does).
    pub fn get_as<V: TimelineValue>(&self, series: &SeriesInfo) -> Option<(i64, Option<V>)> {
        let &(t, row) = self.points.get(series)?;
        if self.values.is_null(row) {
            return Some((t, None));
        }
        let v = match self.values.as_primitive_opt::<V::Arrow>() {
            Some(same) => same.value(row),
            None => V::from_f64(float_at(self.values.as_ref(), row)),
        };
        Some((t, Some(v)))
    }

    /// Number of series with a point before the range.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// True when no series has a point before the range.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}
