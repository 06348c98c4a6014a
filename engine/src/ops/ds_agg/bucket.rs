//! Bucket arithmetic and the aggregate of the one open bucket of `DsAggOp`.
//!
//! [`Buckets`] maps a timestamp to its bucket arithmetically (no hashing):
//! on the query's [`BucketGrid`] when a range is known, else on epoch-aligned
//! buckets of the interval. [`BucketAgg`] folds the contiguous segment of a
//! timeline that falls in one bucket, with the shared incremental
//! [`Accumulators`] or, for percentiles, by keeping the bucket's raw values.

use crate::accumulator::{percentile, AccValue, Accumulators};
use crate::batch::Timeline;
use crate::error::Result;
use crate::spec::{Aggregator, BucketGrid};

/// A bucket located for a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bucket {
    /// Bucket number: grid index, or `t.div_euclid(d)` without a grid.
    pub(super) key: i64,
    /// Bucket start, the timestamp of the output point.
    pub(super) stamp: i64,
    /// Exclusive end; `None` when it lies beyond `i64::MAX`.
    pub(super) end: Option<i64>,
}

/// How timestamps map to buckets.
#[derive(Debug, Clone, Copy)]
pub(super) enum Buckets {
    /// Buckets of the resolved query range (needed for fills and `ALL`).
    Grid(BucketGrid),
    /// Epoch-aligned buckets of this width in ns, no range known.
    Epoch(i64),
}

impl Buckets {
    /// The bucket holding `t`; `None` when its start is not representable
    /// (a timestamp within one interval of `i64::MIN`). For a grid, `t` must
    /// not lie before the grid start (the range check guarantees it).
    #[inline]
    pub(super) fn locate(&self, t: i64) -> Option<Bucket> {
        let (key, stamp, width) = match *self {
            Buckets::Grid(g) => {
                let key = (t as i128 - g.start as i128) / g.width as i128;
                let stamp = g.start as i128 + key * g.width as i128;
                (key as i64, stamp as i64, g.width)
            }
            Buckets::Epoch(d) => {
                let key = t.div_euclid(d);
                (key, key.checked_mul(d)?, d)
            }
        };
        Some(Bucket {
            key,
            stamp,
            end: stamp.checked_add(width),
        })
    }
}

impl Buckets {
    /// The bucket right after `prev` when it holds `t`, found without a
    /// division; `None` otherwise (then [`Buckets::locate`] finds it). Buckets
    /// are contiguous and all as wide, so this is exactly what `locate(t)`
    /// returns for such a `t`.
    #[inline]
    pub(super) fn after(&self, prev: Bucket, t: i64) -> Option<Bucket> {
        let next = self.next(prev)?;
        (t >= next.stamp && next.end.is_none_or(|e| t < e)).then_some(next)
    }

    /// The bucket right after `prev`; `None` when its start or number is not
    /// representable.
    #[inline]
    pub(super) fn next(&self, prev: Bucket) -> Option<Bucket> {
        let width = match *self {
            Buckets::Grid(g) => g.width,
            Buckets::Epoch(d) => d,
        };
        let stamp = prev.end?;
        Some(Bucket {
            key: prev.key.checked_add(1)?,
            stamp,
            end: stamp.checked_add(width),
        })
    }
}

/// The index of the first of `times` (sorted, `times[0] < end`) at or after
/// `end`: an exponential search from the front, then a binary search in the
/// last step, so a short bucket costs a few comparisons however long the
/// rest of the timeline is.
#[inline]
pub(super) fn segment_end(times: &[i64], end: i64) -> usize {
    debug_assert!(times.first().is_some_and(|&t| t < end));
    let mut lo = 0;
    let mut step = 1;
    while lo + step < times.len() && times[lo + step] < end {
        lo += step;
        step *= 2;
    }
    let hi = (lo + step).min(times.len());
    lo + times[lo..hi].partition_point(|&x| x < end)
}

/// The index of the first of `times` (sorted, `times[0] < end`) at or after
/// `end`, trying `guess` first. A timeline's buckets mostly hold as many
/// points as the one before, so passing the previous bucket's length reads
/// two timestamps per bucket; when it is wrong, a run that ends inside the
/// bucket costs one more, and otherwise the times are read from the front
/// (in order, which the memory prefetcher follows: a search's scattered
/// probes each wait for memory).
#[inline]
pub(super) fn segment_end_near(times: &[i64], end: i64, guess: usize) -> usize {
    let fits = guess > 0
        && guess <= times.len()
        && times[guess - 1] < end
        && times.get(guess).is_none_or(|&t| t >= end);
    if fits {
        guess
    } else if times.last().is_some_and(|&t| t < end) {
        times.len()
    } else {
        times.iter().position(|&t| t >= end).unwrap_or(times.len())
    }
}

/// The aggregate of one bucket over values of type `V`, reset after each
/// result.
#[derive(Debug)]
pub(super) enum BucketAgg<V: AccValue = f64> {
    /// Every aggregator but the percentiles: one accumulator slot.
    Incremental(Accumulators<V>),
    /// Percentiles: the bucket's non-null values (NaN included).
    Percentile {
        /// The quantile in `(0, 1]`.
        q: f64,
        /// Non-null values of the bucket so far.
        values: Vec<f64>,
        /// True once the bucket received any point, null or not.
        seen: bool,
    },
}

impl<V: AccValue> BucketAgg<V> {
    /// An empty bucket aggregate for `agg`.
    pub(super) fn new(agg: Aggregator) -> Result<Self> {
        Ok(match agg.quantile() {
            Some(q) => BucketAgg::Percentile {
                q,
                values: Vec::new(),
                seen: false,
            },
            None => BucketAgg::Incremental(Accumulators::typed(agg, 1)?),
        })
    }

    /// Folds every point of `segment` (all in the open bucket).
    pub(super) fn fold(&mut self, segment: &Timeline<'_, V>) {
        match self {
            BucketAgg::Incremental(acc) => acc.fold_segment(0, segment),
            BucketAgg::Percentile { values, seen, .. } => {
                *seen |= !segment.is_empty();
                // Percentiles compute in f64 (only f64 input reaches them).
                if segment.all_valid() {
                    values.extend(segment.values.iter().map(|v| v.to_f64()));
                } else {
                    let valid = (0..segment.len()).filter(|&i| segment.is_valid(i));
                    values.extend(valid.map(|i| segment.values[i].to_f64()));
                }
            }
        }
    }

    /// The bucket's result (`None` without points, `Some(None)` for null),
    /// emptying the bucket. NaN / null rules are the accumulator's: all NaN
    /// (or NaN and null) gives NaN, all null gives null.
    #[inline]
    pub(super) fn take(&mut self) -> Option<Option<V>> {
        match self {
            BucketAgg::Incremental(acc) => acc.take(0),
            BucketAgg::Percentile { q, values, seen } => {
                if !std::mem::take(seen) {
                    return None;
                }
                let any_value = !values.is_empty();
                let result = percentile(values, *q).map(V::from_f64);
                values.clear();
                Some(result.or(V::nan().filter(|_| any_value)))
            }
        }
    }

    /// Bytes held.
    pub(super) fn memory_size(&self) -> usize {
        match self {
            BucketAgg::Incremental(acc) => acc.memory_size(),
            BucketAgg::Percentile { values, .. } => values.capacity() * 8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_is_locate_for_the_next_bucket() {
        let grid = Buckets::Grid(BucketGrid {
            start: -5,
            width: 10,
            count: 4,
        });
        let b0 = grid.locate(-5).unwrap();
        // [-5, 5) then [5, 15): 5 and 14 are in the next bucket, 15 is not.
        assert_eq!(grid.after(b0, 5), grid.locate(5));
        assert_eq!(grid.after(b0, 14), grid.locate(14));
        assert_eq!(grid.after(b0, 15), None);
        let epoch = Buckets::Epoch(10);
        let b = epoch.locate(-1).unwrap(); // [-10, 0)
        assert_eq!(epoch.after(b, 0), epoch.locate(0));
        assert_eq!(epoch.after(b, 0).unwrap().stamp, 0);
    }

    #[test]
    fn next_is_the_following_bucket_until_it_overflows() {
        let grid = Buckets::Grid(BucketGrid {
            start: -5,
            width: 10,
            count: 4,
        });
        let b0 = grid.locate(-5).unwrap();
        let b1 = Bucket {
            key: 1,
            stamp: 5,
            end: Some(15),
        };
        assert_eq!(grid.next(b0), Some(b1));
        let epoch = Buckets::Epoch(10);
        // [i64::MAX - 7, ...) ends past i64::MAX; nothing follows it.
        let top = Bucket {
            key: 7,
            stamp: i64::MAX - 17,
            end: Some(i64::MAX - 7),
        };
        let last = epoch.next(top).unwrap();
        assert_eq!((last.key, last.stamp, last.end), (8, i64::MAX - 7, None));
        assert_eq!(epoch.next(last), None);
    }

    #[test]
    fn segment_end_finds_the_first_time_at_or_after_the_end() {
        let times = [0, 1, 2, 3, 10, 11, 30];
        // 0..4 below 10: the galloping steps 1, 2, 4 overshoot to index 7.
        assert_eq!(segment_end(&times, 10), 4);
        assert_eq!(segment_end(&times, 4), 4);
        assert_eq!(segment_end(&times, 1), 1);
        assert_eq!(segment_end(&times, 31), 7);
        assert_eq!(segment_end(&times, 30), 6);
        assert_eq!(segment_end(&[5], 6), 1);
    }

    #[test]
    fn segment_end_near_is_segment_end_whatever_the_guess() {
        let times = [0, 1, 2, 3, 10, 11, 30];
        for end in [1, 4, 10, 11, 12, 30, 31, 100] {
            for guess in 0..=9 {
                assert_eq!(
                    segment_end_near(&times, end, guess),
                    segment_end(&times, end),
                    "end {end} guess {guess}"
                );
            }
        }
        // The right guess; a guess one short and one long are searched.
        assert_eq!(segment_end_near(&times, 10, 4), 4);
        assert_eq!(segment_end_near(&times, 10, 3), 4);
        assert_eq!(segment_end_near(&times, 10, 5), 4);
    }
}
