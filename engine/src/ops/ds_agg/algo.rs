//! The downsampling loop of `DsAggOp`: walks each timeline run of a batch,
//! cuts it into per-bucket segments arithmetically, folds each segment into
//! the open bucket and hands finished buckets to the [`Filler`].
//!
//! State carried between batches is one open bucket and the filler's last
//! bucket, for the one timeline that may continue in the next batch. Every
//! other timeline of a batch is finished (and its rows queued) at once.

use std::sync::Arc;

use crate::accumulator::AccValue;
use crate::batch::{Timeline, TimelineBatch};
use crate::error::{EngineError, Result};
use crate::registry::SeriesRegistry;

use super::bucket::{segment_end, Bucket, BucketAgg, Buckets};
use super::fill::Filler;
use super::sink::Sink;

/// Per-timeline downsample + fill state machine over values of type `V`.
#[derive(Debug)]
pub(super) struct Downsampler<V: AccValue = f64> {
    buckets: Buckets,
    /// Resolved query range `[start, end)`, if given.
    range: Option<(i64, i64)>,
    agg: BucketAgg<V>,
    filler: Filler<V>,
    /// The timeline being downsampled.
    current: Option<u32>,
    /// Its open bucket: `(key, stamp)`.
    open: Option<(i64, i64)>,
    /// Output rows.
    pub(super) sink: Sink<V>,
}

impl<V: AccValue> Downsampler<V> {
    /// A downsampler emitting batches of at most `batch_size` rows.
    pub(super) fn new(
        buckets: Buckets,
        range: Option<(i64, i64)>,
        agg: BucketAgg<V>,
        filler: Filler<V>,
        sink: Sink<V>,
    ) -> Self {
        Downsampler {
            buckets,
            range,
            agg,
            filler,
            current: None,
            open: None,
            sink,
        }
    }

    /// Downsamples every timeline run of `batch`.
    pub(super) fn push_batch(&mut self, batch: &TimelineBatch) -> Result<()> {
        self.sink.use_registry(batch.registry())?;
        let Some(timelines) = batch.timelines_as::<V>() else {
            return Err(EngineError::execution(
                "DsAggOp",
                format!(
                    "an input batch has {} values, after {} values",
                    batch.value_type(),
                    V::VALUE_TYPE
                ),
            ));
        };
        for tl in timelines {
            self.push_run(&tl, batch.registry())?;
        }
        Ok(())
    }

    /// Ends the last timeline and queues every remaining row.
    pub(super) fn finish(&mut self) -> Result<()> {
        self.end_timeline()?;
        self.sink.flush()
    }

    /// Bytes held by the open bucket and the rows being built.
    pub(super) fn memory_size(&self) -> usize {
        self.agg.memory_size() + self.sink.memory_size()
    }

    fn push_run(&mut self, tl: &Timeline<'_, V>, registry: &Arc<SeriesRegistry>) -> Result<()> {
        if self.current != Some(tl.series_id) {
            self.end_timeline()?;
            self.current = Some(tl.series_id);
            self.filler.begin(registry.get(tl.series_id));
        }
        self.check_range(tl, registry)?;
        let has_nulls = !tl.all_valid();
        let mut i = 0;
        let mut prev: Option<Bucket> = None;
        while i < tl.len() {
            let t = tl.times[i];
            // The next bucket is found by addition; division only after a gap.
            let next = prev.and_then(|b| self.buckets.after(b, t));
            let bucket = match next {
                Some(b) => b,
                None => self.buckets.locate(t).ok_or_else(|| {
                    point_error(
                        registry,
                        tl.series_id,
                        t,
                        "has no representable bucket start",
                    )
                })?,
            };
            prev = Some(bucket);
            if self.open.is_some_and(|(key, _)| key != bucket.key) {
                self.close_bucket()?;
            }
            self.open = Some((bucket.key, bucket.stamp));
            // Times are sorted: the bucket's points are the run up to its end.
            let rest = tl.slice(i, tl.len());
            i += match &mut self.agg {
                BucketAgg::Incremental(acc) => acc.fold_until(0, &rest, bucket.end, has_nulls),
                agg => {
                    let n = bucket
                        .end
                        .map_or(rest.len(), |e| segment_end(rest.times, e));
                    agg.fold(&rest.slice(0, n));
                    n
                }
            };
        }
        Ok(())
    }

    /// Errors on the first point of the run outside the query range.
    fn check_range(&self, tl: &Timeline<'_, V>, registry: &Arc<SeriesRegistry>) -> Result<()> {
        let (Some((start, end)), Some(&first), Some(&last)) =
            (self.range, tl.times.first(), tl.times.last())
        else {
            return Ok(());
        };
        let bad = if first < start {
            first
        } else if last >= end {
            tl.times[tl.times.partition_point(|&t| t < end)]
        } else {
            return Ok(());
        };
        let what = format!("is outside the query range [{start}, {end})");
        Err(point_error(registry, tl.series_id, bad, &what))
    }

    /// Emits the open bucket (with the fill before it).
    #[inline]
    fn close_bucket(&mut self) -> Result<()> {
        let (Some((key, stamp)), Some(series)) = (self.open.take(), self.current) else {
            return Ok(());
        };
        match self.agg.take() {
            Some(value) => self
                .filler
                .bucket(series, key, stamp, value, &mut self.sink),
            None => Ok(()),
        }
    }

    /// Emits the current timeline's open bucket and trailing fill.
    fn end_timeline(&mut self) -> Result<()> {
        self.close_bucket()?;
        match self.current.take() {
            Some(series) => self.filler.end(series, &mut self.sink),
            None => Ok(()),
        }
    }
}

/// An execution error about the point of `series` at `time`.
fn point_error(registry: &SeriesRegistry, series: u32, time: i64, what: &str) -> EngineError {
    let key = registry
        .get(series)
        .map_or_else(|| format!("series id {series}"), |s| s.key());
    EngineError::execution(
        "DsAggOp",
        format!("point of series {key} at time {time} {what}"),
    )
}
