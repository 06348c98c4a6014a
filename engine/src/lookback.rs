//! The lookback of `FILL(previous)` and `FILL(linear)` (`docs/semantics.md`
//! §5): the newest point of each series before the query's range, read with
//! [`StorageAdapter::last_points`] (at most one block per series on TSM)
//! and keyed by series so that any scan's registry can look it up. Both the
//! `DsAggOp` fill and the materialized executor seed from it.

use std::collections::HashMap;

use crate::error::Result;
use crate::registry::SeriesInfo;
use crate::spec::{Downsample, FillPolicy, Interval};
use crate::storage::{ScanRequest, StorageAdapter, TimeRange};

/// The newest point before the range of each series that has one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookback {
    points: HashMap<SeriesInfo, (i64, Option<f64>)>,
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
        let mut points = HashMap::new();
        for tl in batch.timelines() {
            let (Some(info), Some(&t)) = (batch.registry().get(tl.series_id), tl.times.last())
            else {
                continue;
            };
            points.insert(info.clone(), (t, tl.value(tl.len() - 1)));
        }
        Ok(Some(Lookback { points }))
    }

    /// A lookback of the given points (tests).
    pub fn from_points(points: impl IntoIterator<Item = (SeriesInfo, i64, Option<f64>)>) -> Self {
        Lookback {
            points: points.into_iter().map(|(s, t, v)| (s, (t, v))).collect(),
        }
    }

    /// The newest point of `series` before the range: `(time, value)`.
    pub fn get(&self, series: &SeriesInfo) -> Option<(i64, Option<f64>)> {
        self.points.get(series).copied()
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
