//! Per-timeline downsample and fill (`docs/semantics.md` §5), written plainly: the
//! points are cut into buckets, each bucket is aggregated with
//! [`aggregate_values`], then the empty buckets of the range are filled.

use super::aggregate::aggregate_values;
use super::{Series, POINT_BYTES};
use crate::error::{EngineError, Result};
use crate::memory::MemoryReservation;
use crate::spec::{Downsample, FillPolicy, Interval};

/// Downsamples `s` by `ds`. `range` is the resolved query range `[start,
/// end)`; it is given whenever the fill is not `none` or the interval is
/// `ALL`, and every point of `s` lies in it. The output timeline (and, with
/// a fill, the list of the range's buckets) is reserved on `reservation`
/// before it is built; the reservation keeps the output's bytes.
/// `seed` is the newest point of the series before the range, for a
/// `previous` / `linear` fill that looks back (`docs/semantics.md` §5).
pub(super) fn downsample(
    s: &Series,
    ds: &Downsample,
    range: Option<(i64, i64)>,
    seed: Option<(i64, Option<f64>)>,
    reservation: &mut MemoryReservation,
) -> Result<Series> {
    // Bucket of each point: (bucket number, bucket start).
    let locate = |t: i64| -> Result<(i64, i64)> {
        match (ds.interval, range) {
            (Interval::All, Some((start, _))) => Ok((0, start)),
            (Interval::Every(d), _) if d > 0 => Ok((t.div_euclid(d), t.div_euclid(d) * d)),
            (interval, _) => Err(EngineError::InvalidArgument(format!(
                "materialized: cannot downsample by {interval} without a positive interval and a range"
            ))),
        }
    };
    // The non-empty buckets: (number, start, aggregate).
    let mut buckets: Vec<(i64, i64, Option<f64>)> = Vec::new();
    let mut i = 0;
    while i < s.times.len() {
        let (key, stamp) = locate(s.times[i])?;
        let mut members = Vec::new();
        while i < s.times.len() && locate(s.times[i])?.0 == key {
            members.push(s.values[i]);
            i += 1;
        }
        buckets.push((key, stamp, aggregate_values(ds.agg, &members)));
    }
    let mut out = Series {
        id: s.id,
        times: Vec::new(),
        values: Vec::new(),
    };
    if ds.fill == FillPolicy::None || buckets.is_empty() {
        reservation.try_grow(buckets.len().saturating_mul(POINT_BYTES))?;
        for (_, stamp, v) in buckets {
            out.times.push(stamp);
            out.values.push(v);
        }
        return Ok(out);
    }
    // The seed stands for the bucket that holds it, and for one just before
    // the range when that is the range's first bucket.
    if let (Some((t, v)), Interval::Every(d), Some((start, _))) = (seed, ds.interval, range) {
        let key = t.div_euclid(d);
        buckets.insert(0, (key.min(start.div_euclid(d) - 1), key * d, v));
    }
    let (start, end) = range.ok_or_else(|| {
        EngineError::InvalidArgument(format!("materialized: fill={} needs a range", ds.fill))
    })?;
    // Every bucket number of the range, with its start time.
    let keys = match ds.interval {
        Interval::All => 0..=0,
        Interval::Every(d) => start.div_euclid(d)..=(end - 1).div_euclid(d),
    };
    let count = (*keys.end() as i128 - *keys.start() as i128 + 1).max(0);
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    // the list of the range's buckets and an output point for each, held
    // together until the list is dropped
    let bucket_list = count.saturating_mul(std::mem::size_of::<(i64, i64)>());
    reservation.try_grow(bucket_list)?;
    reservation.try_grow(count.saturating_mul(POINT_BYTES))?;
    let all: Vec<(i64, i64)> = match ds.interval {
        Interval::All => vec![(0, start)],
        Interval::Every(d) => keys.map(|k| (k, k * d)).collect(),
    };
    out.times.reserve_exact(count);
    out.values.reserve_exact(count);
    for (key, stamp) in all {
        if let Some(v) = fill_value(&buckets, key, stamp, ds.fill, ds.max_gap) {
            out.times.push(stamp);
            out.values.push(v);
        }
    }
    reservation.shrink(bucket_list);
    Ok(out)
}

/// The value at bucket `key` (starting at `stamp`): the bucket's aggregate
/// if it is non-empty, else the fill; `None` when nothing is emitted there.
fn fill_value(
    buckets: &[(i64, i64, Option<f64>)],
    key: i64,
    stamp: i64,
    fill: FillPolicy,
    max_gap: Option<i64>,
) -> Option<Option<f64>> {
    // Binary search: the first non-empty bucket at or after `key`.
    let idx = buckets.partition_point(|b| b.0 < key);
    let after = buckets.get(idx);
    let before = match after {
        Some(b) if b.0 == key => Some(b),
        _ => idx.checked_sub(1).map(|i| &buckets[i]),
    };
    if let Some(b) = before.filter(|b| b.0 == key) {
        return Some(b.2);
    }
    match fill {
        FillPolicy::None => None,
        FillPolicy::Null => Some(None),
        FillPolicy::NaN => Some(Some(f64::NAN)),
        FillPolicy::Value(x) => Some(Some(x)),
        FillPolicy::Previous => {
            let b = before?;
            // The gap ends at the next non-empty bucket, or (none in the
            // range) at this bucket.
            let gap_end = after.map_or(stamp, |a| a.1);
            max_gap.is_none_or(|m| gap_end - b.1 <= m).then_some(b.2)
        }
        FillPolicy::Linear => {
            let ((_, t0, v0), (_, t1, v1)) = (before?, after?);
            if max_gap.is_some_and(|m| t1 - t0 > m) {
                return None;
            }
            match (v0, v1) {
                (Some(v0), Some(v1)) => Some(Some(
                    v0 + (v1 - v0) * (stamp - t0) as f64 / (t1 - t0) as f64,
                )),
                _ => Some(None),
            }
        }
    }
}
