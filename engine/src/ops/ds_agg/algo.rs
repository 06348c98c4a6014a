//! The downsampling loop of `DsAggOp`: walks each timeline run of a batch,
//! cuts it into per-bucket segments arithmetically, folds each segment into
//! the open bucket and hands finished buckets to the [`Filler`].
//!
//! State carried between batches is one open bucket and the filler's last
//! bucket, for the one timeline that may continue in the next batch. Every
//! other timeline of a batch is finished (and its rows queued) at once.

use std::sync::Arc;

use crate::accumulator::{AccValue, Accumulators, SlotState};
use crate::batch::{Timeline, TimelineBatch};
use crate::error::{EngineError, Result};
use crate::registry::SeriesRegistry;

use super::bucket::{segment_end, segment_end_near, Bucket, BucketAgg, Buckets};
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
    /// The bucket segments of the run being folded (kept for its allocation).
    segments: Vec<Segment>,
    /// Points of the last bucket seen whole, the guess for the next one's.
    bucket_len: usize,
    /// Points folded into the open bucket by [`Downsampler::fold_run`] (a
    /// guess only: the other loop does not count them).
    open_len: usize,
    /// The folded state of each segment (kept for its allocation).
    states: Vec<SlotState<V>>,
}

/// The points `lo..hi` of a run, which fall in `bucket`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    bucket: Bucket,
    lo: usize,
    hi: usize,
}

/// How many buckets [`Downsampler::fold_run`] folds side by side.
const LANES: usize = 4;

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
            segments: Vec::new(),
            bucket_len: 0,
            open_len: 0,
            states: Vec::new(),
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

    /// Bytes held by the open bucket, the rows being built and the
    /// scratch of [`Downsampler::fold_run`].
    pub(super) fn memory_size(&self) -> usize {
        self.agg.memory_size()
            + self.sink.memory_size()
            + self.segments.capacity() * std::mem::size_of::<Segment>()
            + self.states.capacity() * std::mem::size_of::<SlotState<V>>()
    }

    /// The bucket of time `t` of series `series`: found by addition from the
    /// previous point's bucket `prev`, by division only after a gap.
    fn bucket_of(
        &self,
        prev: Option<Bucket>,
        t: i64,
        series: u32,
        registry: &SeriesRegistry,
    ) -> Result<Bucket> {
        match prev.and_then(|b| self.buckets.after(b, t)) {
            Some(b) => Ok(b),
            None => self.buckets.locate(t).ok_or_else(|| {
                point_error(registry, series, t, "has no representable bucket start")
            }),
        }
    }

    fn push_run(&mut self, tl: &Timeline<'_, V>, registry: &Arc<SeriesRegistry>) -> Result<()> {
        if self.current != Some(tl.series_id) {
            self.end_timeline()?;
            self.current = Some(tl.series_id);
            self.filler.begin(registry.get(tl.series_id));
        }
        let has_nulls = !tl.all_valid();
        if !has_nulls && matches!(self.agg, BucketAgg::Incremental(_)) {
            return self.fold_run(tl, registry);
        }
        self.check_range(tl, registry)?;
        let mut i = 0;
        let mut prev: Option<Bucket> = None;
        while i < tl.len() {
            let t = tl.times[i];
            let bucket = self.bucket_of(prev, t, tl.series_id, registry)?;
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

    /// Downsamples a run without nulls for an incremental aggregator: cuts
    /// it into its buckets' segments (two timestamps read per bucket when
    /// buckets hold as many points as the one before), then folds the
    /// segments [`LANES`] at a time side by side
    /// ([`Accumulators::fold_lanes`]). The first segment continues the open
    /// bucket; the last one stays open, as the timeline may go on in the
    /// next batch. The same buckets, values and order as `push_run`'s loop.
    fn fold_run(&mut self, tl: &Timeline<'_, V>, registry: &Arc<SeriesRegistry>) -> Result<()> {
        let mut segments = std::mem::take(&mut self.segments);
        // The range check after the cut, which read the run's last time.
        let folded = self
            .cut(tl, registry, &mut segments)
            .and_then(|()| self.check_range(tl, registry))
            .and_then(|()| self.fold_segments(tl.values, &segments));
        self.segments = segments;
        folded
    }

    /// Cuts `tl` into the segments of its buckets, in time order.
    fn cut(
        &mut self,
        tl: &Timeline<'_, V>,
        registry: &Arc<SeriesRegistry>,
        segments: &mut Vec<Segment>,
    ) -> Result<()> {
        segments.clear();
        // The first bucket's guessed end, asked for now: the guess below
        // waits for the bucket of `times[0]`, so its read would otherwise
        // start only once that one returned (two cache misses in a row).
        let first_end = match self.open {
            Some(_) => self.bucket_len.saturating_sub(self.open_len),
            None => self.bucket_len,
        };
        std::hint::black_box(tl.times.get(first_end).copied());
        let mut lo = 0;
        let mut prev: Option<Bucket> = None;
        while lo < tl.len() {
            if let Some(p) = prev {
                let (next_lo, last) = self.cut_equal(tl.times, lo, p, segments);
                (lo, prev) = (next_lo, Some(last));
                if lo == tl.len() {
                    break;
                }
            }
            let t = tl.times[lo];
            let bucket = self.bucket_of(prev, t, tl.series_id, registry)?;
            let rest = &tl.times[lo..];
            let guess = match self.open {
                // The rest of the open bucket, if it is as long as the last.
                Some((key, _)) if lo == 0 && key == bucket.key => {
                    self.bucket_len.saturating_sub(self.open_len)
                }
                _ => self.bucket_len,
            };
            let len = bucket
                .end
                .map_or(rest.len(), |e| segment_end_near(rest, e, guess));
            // The run's first and last buckets may be cut by the batch.
            if lo > 0 && len < rest.len() {
                self.bucket_len = len;
            }
            segments.push(Segment {
                bucket,
                lo,
                hi: lo + len,
            });
            lo += len;
            prev = Some(bucket);
        }
        Ok(())
    }

    /// Pushes the segments of the buckets after `prev`, from `times[lo]`
    /// on, for as long as each holds as many points as the last whole bucket
    /// (`bucket_len`); returns where the next segment starts and the last
    /// bucket pushed (`prev` if none). `times[lo]` must lie at or after
    /// `prev`'s end (it starts the next segment).
    ///
    /// The same segments as [`Downsampler::cut`]'s loop (whose guess is that
    /// length, and whose bucket is the one after `prev` when the guessed
    /// segment fits in it), but the two timestamps read per bucket sit at
    /// addresses that do not depend on what the reads before returned, so
    /// the processor overlaps their cache misses instead of waiting for one
    /// before it can ask for the next (`docs/architecture.md`, "Folding
    /// buckets side by side").
    fn cut_equal(
        &self,
        times: &[i64],
        mut lo: usize,
        mut prev: Bucket,
        segments: &mut Vec<Segment>,
    ) -> (usize, Bucket) {
        let len = self.bucket_len;
        if len == 0 {
            return (lo, prev);
        }
        while let Some(bucket) = self.buckets.next(prev) {
            let hi = lo + len;
            let (Some(end), Some(&last)) = (bucket.end, times.get(hi - 1)) else {
                break;
            };
            // Its last point inside, the next one (if any) after its end.
            if last >= end || times.get(hi).is_some_and(|&t| t < end) {
                break;
            }
            segments.push(Segment { bucket, lo, hi });
            (lo, prev) = (hi, bucket);
        }
        (lo, prev)
    }

    /// Folds `segments` of `values` and emits every bucket but the last,
    /// which is left open in the accumulator's slot.
    ///
    /// The first segment (continuing the open bucket) and the last (cut by
    /// the batch) are the ones whose length differs; the others go side by
    /// side in groups of [`LANES`] of equal length, then those two with
    /// what is left. Which buckets share a loop does not change any
    /// bucket's fold; the buckets are emitted in time order after.
    fn fold_segments(&mut self, values: &[V], segments: &[Segment]) -> Result<()> {
        let Some(first) = segments.first() else {
            return Ok(());
        };
        if self.open.is_some_and(|(key, _)| key != first.bucket.key) {
            self.close_bucket()?;
        }
        let (BucketAgg::Incremental(acc), Some(series)) = (&mut self.agg, self.current) else {
            return Ok(());
        };
        let states = &mut self.states;
        states.clear();
        states.resize(segments.len(), acc.empty_state());
        states[0] = acc.state(0);
        let last = segments.len() - 1;
        let interior = 1..last.max(1);
        let whole = interior.len() / LANES * LANES;
        for i in (1..1 + whole).step_by(LANES) {
            fold_group(acc, [i, i + 1, i + 2, i + 3], segments, values, states);
        }
        // What is left of the interior, then the first and the last segment.
        let mut rest = [0; LANES + 2];
        let mut len = 0;
        for i in (1 + whole..interior.end).chain([0, last]) {
            if !rest[..len].contains(&i) {
                rest[len] = i;
                len += 1;
            }
        }
        for chunk in rest[..len].chunks(LANES) {
            match *chunk {
                [a, b, c, d] => fold_group(acc, [a, b, c, d], segments, values, states),
                [a, b, c] => fold_group(acc, [a, b, c], segments, values, states),
                [a, b] => fold_group(acc, [a, b], segments, values, states),
                [a] => fold_group(acc, [a], segments, values, states),
                _ => {}
            }
        }
        for (seg, state) in segments[..last].iter().zip(states.iter()) {
            let b = seg.bucket;
            if let Some(value) = acc.state_result(state) {
                self.filler
                    .bucket(series, b.key, b.stamp, value, &mut self.sink)?;
            }
        }
        acc.set_state(0, states[last]);
        let (open, len) = (segments[last].bucket, segments[last].hi - segments[last].lo);
        self.open_len = match self.open {
            Some((key, _)) if last == 0 && key == open.key => self.open_len + len,
            _ => len,
        };
        self.open = Some((open.key, open.stamp));
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

/// Folds the segments numbered `group` side by side, each from its state
/// in `states`, and stores the new states there.
#[inline]
fn fold_group<V: AccValue, const L: usize>(
    acc: &Accumulators<V>,
    group: [usize; L],
    segments: &[Segment],
    values: &[V],
    states: &mut [SlotState<V>],
) {
    let mut folded = group.map(|i| states[i]);
    let slices = group.map(|i| &values[segments[i].lo..segments[i].hi]);
    acc.fold_lanes(&mut folded, slices);
    for (i, state) in group.into_iter().zip(folded) {
        states[i] = state;
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
