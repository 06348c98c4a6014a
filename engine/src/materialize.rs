//! Gathering timelines out of batches, and cutting result rows back into
//! batches, for the materializing aggregators (`GroupedAggOp` gathers one
//! group at a time, `MTAggOp` every timeline).
//!
//! [`TimelineGatherer`] copies the timeline runs it is given into flat
//! columns, joining a run that continues the previous one (the same series
//! split across two input batches) into one timeline. Every byte it holds is
//! reserved in its [`MemoryReservation`] before the columns grow, so a query
//! that would gather too much stops with `ResourcesExhausted` instead of
//! running out of memory. [`TimelineGatherer::finish`] hands the gathered
//! points over as one [`TimelineBatch`] whose runs are the whole timelines.
//!
//! [`RowBatcher`] collects the output rows of an aggregator (group id, time,
//! value) and cuts them into batches of exactly `batch_size` rows (the last
//! one shorter), so results never depend on how the input was batched.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::batch::{Timeline, TimelineBatch, TimelineBatchBuilder};
use crate::error::{EngineError, Result};
use crate::memory::MemoryReservation;
use crate::registry::SeriesRegistry;
use crate::value::TimelineValue;

/// Bytes one gathered point takes: series id, time, value and validity.
pub const BYTES_PER_POINT: usize = 4 + 8 + 8 + 1;

/// Copies timeline runs of `V` values into flat columns under a memory
/// reservation.
#[derive(Debug)]
pub struct TimelineGatherer<V: TimelineValue = f64> {
    operator: &'static str,
    series_ids: Vec<u32>,
    times: Vec<i64>,
    values: Vec<V>,
    validity: Vec<bool>,
    has_nulls: bool,
    /// Bytes of points handed over by `finish` and not yet released.
    handed_over: usize,
    /// Bytes reserved through `reserve_extra` and not yet released.
    extra: usize,
    reservation: MemoryReservation,
}

impl TimelineGatherer<f64> {
    /// An empty gatherer of f64 values for `operator` (named in errors)
    /// holding its memory in `reservation`.
    pub fn new(operator: &'static str, reservation: MemoryReservation) -> Self {
        Self::typed(operator, reservation)
    }
}

impl<V: TimelineValue> TimelineGatherer<V> {
    /// An empty gatherer of `V` values for `operator` (named in errors)
    /// holding its memory in `reservation`.
    pub fn typed(operator: &'static str, reservation: MemoryReservation) -> Self {
        TimelineGatherer {
            operator,
            series_ids: Vec::new(),
            times: Vec::new(),
            values: Vec::new(),
            validity: Vec::new(),
            has_nulls: false,
            handed_over: 0,
            extra: 0,
            reservation,
        }
    }

    /// Number of points gathered since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// True when nothing was gathered since the last finish.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// The series id and time of the last gathered point.
    pub fn last(&self) -> Option<(u32, i64)> {
        Some((*self.series_ids.last()?, *self.times.last()?))
    }

    /// Appends the points of `tl`. A run of the same series as the last one
    /// gathered continues that timeline and must start after its last point.
    pub fn push(&mut self, tl: &Timeline<'_, V>) -> Result<()> {
        if let Some((id, last)) = self.last() {
            if id == tl.series_id && tl.times.first().is_some_and(|&t| t <= last) {
                return Err(EngineError::execution(
                    self.operator,
                    format!(
                        "timeline {} continues at time {} after {last}: it is not increasing in time",
                        tl.series_id, tl.times[0]
                    ),
                ));
            }
        }
        self.reserve(tl.len())?;
        let n = tl.len();
        self.series_ids.extend(std::iter::repeat_n(tl.series_id, n));
        self.times.extend_from_slice(tl.times);
        self.values.extend_from_slice(tl.values);
        if tl.all_valid() {
            self.validity.extend(std::iter::repeat_n(true, n));
        } else {
            self.validity.extend((0..n).map(|i| tl.is_valid(i)));
            self.has_nulls = true;
        }
        Ok(())
    }

    /// Makes room for `more` points, reserving the memory first. Capacity
    /// doubles so that appending stays amortized O(1).
    fn reserve(&mut self, more: usize) -> Result<()> {
        let needed = self.len() + more;
        let cap = self.times.capacity();
        if needed <= cap {
            return Ok(());
        }
        let new_cap = needed.max(cap.saturating_mul(2));
        let bytes = new_cap.saturating_mul(BYTES_PER_POINT);
        self.reservation
            .try_resize(bytes.saturating_add(self.handed_over + self.extra))?;
        let more = new_cap - self.len();
        self.series_ids.reserve_exact(more);
        self.times.reserve_exact(more);
        self.values.reserve_exact(more);
        self.validity.reserve_exact(more);
        Ok(())
    }

    /// Hands everything gathered over as one batch over `registry` (one run
    /// per timeline) and starts empty again. The memory stays reserved until
    /// [`release`](Self::release): the batch still holds it.
    pub fn finish(&mut self, registry: &Arc<SeriesRegistry>) -> Result<TimelineBatch> {
        self.handed_over += self.times.capacity() * BYTES_PER_POINT;
        let validity = std::mem::take(&mut self.validity);
        let nulls = self.has_nulls.then(|| validity.into());
        self.has_nulls = false;
        TimelineBatch::from_typed_columns(
            std::mem::take(&mut self.series_ids),
            std::mem::take(&mut self.times),
            std::mem::take(&mut self.values),
            nulls,
            Arc::clone(registry),
        )
    }

    /// Grows the reservation by `bytes` for state the owner keeps next to
    /// the gathered points (e.g. an index over them).
    pub fn reserve_extra(&mut self, bytes: usize) -> Result<()> {
        self.reservation.try_grow(bytes)?;
        self.extra += bytes;
        Ok(())
    }

    /// Releases the memory of the points handed over by the last finish
    /// (call once that batch is dropped) and of anything gathered since.
    pub fn release(&mut self) {
        let held = self.times.capacity() * BYTES_PER_POINT;
        self.reservation
            .try_resize(held)
            .expect("shrinking cannot fail");
    }

    /// Bytes currently reserved.
    pub fn reserved(&self) -> usize {
        self.reservation.size()
    }

    /// Most bytes reserved at once.
    pub fn peak(&self) -> usize {
        self.reservation.peak()
    }
}

/// Collects `(group id, time, value)` rows and cuts them into batches of
/// `batch_size` rows over the groups registry.
#[derive(Debug)]
pub struct RowBatcher<V: TimelineValue = f64> {
    builder: TimelineBatchBuilder<V>,
    batch_size: usize,
    ready: VecDeque<TimelineBatch>,
}

impl RowBatcher<f64> {
    /// A batcher producing batches of `batch_size` (at least 1) rows of f64
    /// values over `groups`.
    pub fn new(groups: Arc<SeriesRegistry>, batch_size: usize) -> Self {
        Self::typed(groups, batch_size)
    }
}

impl<V: TimelineValue> RowBatcher<V> {
    /// A batcher producing batches of `batch_size` (at least 1) rows of `V`
    /// values over `groups`.
    pub fn typed(groups: Arc<SeriesRegistry>, batch_size: usize) -> Self {
        let batch_size = batch_size.max(1);
        RowBatcher {
            builder: TimelineBatchBuilder::typed(groups, batch_size.min(1 << 16)),
            batch_size,
            ready: VecDeque::new(),
        }
    }

    /// Appends one row; a null value is `None`.
    #[inline]
    pub fn push(&mut self, group: u32, time: i64, value: Option<V>) -> Result<()> {
        self.builder.push(group, time, value);
        if self.builder.len() >= self.batch_size {
            self.ready.push_back(self.builder.finish()?);
        }
        Ok(())
    }

    /// Appends the points of `run` (nulls kept), cut into batches of
    /// `batch_size` rows as [`push`](Self::push) would cut them.
    pub fn push_run(&mut self, run: &Timeline<'_, V>) -> Result<()> {
        if !run.all_valid() {
            for i in 0..run.len() {
                self.push(run.series_id, run.times[i], run.value(i))?;
            }
            return Ok(());
        }
        let mut start = 0;
        while start < run.len() {
            let room = self.batch_size.saturating_sub(self.builder.len()).max(1);
            let end = (start + room).min(run.len());
            let (times, values) = (&run.times[start..end], &run.values[start..end]);
            self.builder.push_slice(run.series_id, times, values);
            if self.builder.len() >= self.batch_size {
                self.ready.push_back(self.builder.finish()?);
            }
            start = end;
        }
        Ok(())
    }

    /// Cuts the rows appended so far into a last, shorter batch.
    pub fn flush(&mut self) -> Result<()> {
        if !self.builder.is_empty() {
            self.ready.push_back(self.builder.finish()?);
        }
        Ok(())
    }

    /// The next complete batch, if one is ready.
    pub fn pop(&mut self) -> Option<TimelineBatch> {
        self.ready.pop_front()
    }

    /// True when a complete batch is ready.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }
}

/// Formats a group's tags for messages: `dc=a,host=h1`, or `(all)` for the
/// single group of an aggregation without `GROUP BY`.
pub fn group_label(groups: &SeriesRegistry, group: u32) -> String {
    match groups.get(group) {
        Some(info) if !info.tags.is_empty() => info
            .tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        Some(_) => "(all)".to_string(),
        None => format!("#{group}"),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers shared by the aggregation operators' tests.

    use std::sync::Arc;

    use arrow::array::Array;

    use crate::batch::{TimelineBatch, TimelineBatchBuilder};
    use crate::context::TaskContext;
    use crate::error::Result;
    use crate::operator::{collect, Operator};
    use crate::registry::{SeriesInfo, SeriesRegistry};
    use crate::spec::Aggregator;

    /// One row: (series or group id, time, value).
    pub(crate) type Row = (u32, i64, Option<f64>);

    /// A registry of `cpu` series with the given `(dc, host)` tags.
    pub(crate) fn registry(tags: &[(&str, &str)]) -> Arc<SeriesRegistry> {
        Arc::new(SeriesRegistry::new(
            tags.iter()
                .map(|(dc, host)| SeriesInfo::new("cpu", &[("dc", dc), ("host", host)], "u"))
                .collect(),
        ))
    }

    /// Cuts `rows` (already in the order the input should have) into
    /// batches of `rows_per_batch` rows.
    pub(crate) fn batches(
        reg: &Arc<SeriesRegistry>,
        rows: &[Row],
        rows_per_batch: usize,
    ) -> Vec<TimelineBatch> {
        rows.chunks(rows_per_batch.max(1))
            .map(|chunk| {
                let mut b = TimelineBatchBuilder::new(Arc::clone(reg), chunk.len());
                for &(id, t, v) in chunk {
                    b.push(id, t, v);
                }
                b.finish().unwrap()
            })
            .collect()
    }

    /// Runs `op` with `batch_size`, checks the batch size bound and returns
    /// every output row.
    pub(crate) fn run(op: &mut dyn Operator, ctx: &TaskContext) -> Result<Vec<Row>> {
        let out = futures::executor::block_on(collect(op, ctx))?;
        let mut rows = Vec::new();
        for b in &out {
            assert!(b.num_rows() <= ctx.batch_size && !b.is_empty());
            let ids = b.series_ids();
            let times = b.times();
            let vals = b.values();
            for i in 0..b.num_rows() {
                let v = (!vals.is_null(i)).then(|| vals.value(i));
                rows.push((ids[i], times[i], v));
            }
        }
        Ok(rows)
    }

    /// Every aggregator, in a fixed order, for tests that cover them all.
    pub(crate) fn all_aggregators() -> Vec<Aggregator> {
        use Aggregator::*;
        vec![
            Sum,
            Avg,
            Min,
            Max,
            Dev,
            Count,
            ZimSum,
            MimMin,
            MimMax,
            First,
            Last,
            PfSum,
            Percentile(500),
            Percentile(900),
        ]
    }

    /// Misaligned input for the interpolating aggregators, grouped by `dc`
    /// (group 0 = dc=a: series 0 and 1; group 1 = dc=b: series 2), in
    /// ordered-by-group order.
    ///
    /// ```text
    ///   T        0    5   10   20   30   40
    ///   s0 (a)  1.0   .    .  3.0  5.0    .
    ///   s1 (a)    .   .  4.0    .  8.0  2.0
    ///   s2 (b)    .  7.0   .    .    .    .
    /// ```
    pub(crate) fn misaligned() -> (Arc<SeriesRegistry>, Vec<Row>) {
        let reg = registry(&[("a", "1"), ("a", "2"), ("b", "3")]);
        let rows = vec![
            (0, 0, Some(1.0)),
            (0, 20, Some(3.0)),
            (0, 30, Some(5.0)),
            (1, 10, Some(4.0)),
            (1, 30, Some(8.0)),
            (1, 40, Some(2.0)),
            (2, 5, Some(7.0)),
        ];
        (reg, rows)
    }

    /// Hand-worked results of every aggregator on [`misaligned`], group a at
    /// T = 0, 10, 20, 30, 40 (group b is always its single point 7.0 at 5,
    /// count 1, dev 0).
    ///
    /// Contributions in group a (s0's lerp at 10: 1 + (3 - 1) * 10 / 20 = 2;
    /// s1's lerp at 20: 4 + (8 - 4) * 10 / 20 = 6; s1 has nothing at 0, s0
    /// nothing at 40):
    /// ```text
    ///   T    0      10         20         30      40
    ///   lerp [1]    [2, 4]     [3, 6]     [5, 8]  [2]
    ///   zim  [1]    [0, 4]     [3, 0]     [5, 8]  [2]
    ///   prev [1]    [1, 4]     [3, 4]     [5, 8]  [2]
    ///   none [1]    [4]        [3]        [5, 8]  [2]
    /// ```
    pub(crate) fn misaligned_expected(agg: Aggregator) -> Vec<Row> {
        use Aggregator::*;
        let a: [f64; 5] = match agg {
            Sum => [1.0, 6.0, 9.0, 13.0, 2.0],
            Avg => [1.0, 3.0, 4.5, 6.5, 2.0],
            Min => [1.0, 2.0, 3.0, 5.0, 2.0],
            Max => [1.0, 4.0, 6.0, 8.0, 2.0],
            // [2, 4]: mean 3, sqrt((1 + 1) / 2) = 1; [3, 6] and [5, 8]: 1.5
            Dev => [0.0, 1.0, 1.5, 1.5, 0.0],
            // only points present: s1 at 10, s0 at 20, both at 30
            Count => [1.0, 1.0, 1.0, 2.0, 1.0],
            ZimSum => [1.0, 4.0, 3.0, 13.0, 2.0],
            // mim*: the missing timeline is ignored
            MimMin => [1.0, 4.0, 3.0, 5.0, 2.0],
            MimMax => [1.0, 4.0, 3.0, 8.0, 2.0],
            // zim contributions: s0's 0 comes first at 10, s1's 0 last at 20
            First => [1.0, 0.0, 3.0, 5.0, 2.0],
            Last => [1.0, 4.0, 0.0, 8.0, 2.0],
            PfSum => [1.0, 5.0, 7.0, 13.0, 2.0],
            // p50 of two: pos 1.5 -> lower + 0.5 * (upper - lower)
            Percentile(500) => [1.0, 3.0, 4.5, 6.5, 2.0],
            // p90 of two: pos 2.7 >= 2 -> the larger
            Percentile(900) => [1.0, 4.0, 6.0, 8.0, 2.0],
            Percentile(_) => unreachable!("not in all_aggregators"),
        };
        let dev_or_count = match agg {
            Dev => 0.0,
            Count => 1.0,
            _ => 7.0,
        };
        let mut rows: Vec<Row> = [0, 10, 20, 30, 40]
            .iter()
            .zip(a)
            .map(|(&t, v)| (0, t, Some(v)))
            .collect();
        rows.push((1, 5, Some(dev_or_count)));
        rows
    }

    /// NaN and null input grouped by `dc` (a: series 0 and 3; b: series 1
    /// and 2), in ordered-by-group order.
    ///
    /// ```text
    ///   T        0     5    10    15    20
    ///   s0 (a)  NaN    .     .     .   4.0
    ///   s3 (a)    .    .   1.0     .     .
    ///   s1 (b)  1.0    .  null     .   3.0
    ///   s2 (b)    .  null    .   6.0     .
    /// ```
    pub(crate) fn nan_null() -> (Arc<SeriesRegistry>, Vec<Row>) {
        let reg = registry(&[("a", "1"), ("b", "2"), ("b", "3"), ("a", "4")]);
        let rows = vec![
            (0, 0, Some(f64::NAN)),
            (0, 20, Some(4.0)),
            (3, 10, Some(1.0)),
            (1, 0, Some(1.0)),
            (1, 10, None),
            (1, 20, Some(3.0)),
            (2, 5, None),
            (2, 15, Some(6.0)),
        ];
        (reg, rows)
    }

    /// Opens `op`, takes one batch, cancels the query and drains `op`:
    /// it must stop with `Cancelled` rather than finish.
    pub(crate) fn assert_stops_when_cancelled(op: &mut dyn Operator) {
        let ctx = TaskContext::with_batch_size(1);
        futures::executor::block_on(async {
            op.open(&ctx).await.unwrap();
            assert!(op.next().await.unwrap().is_some());
            ctx.cancel.cancel();
            loop {
                match op.next().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => panic!("{} finished after cancel", op.name()),
                    Err(e) => {
                        assert!(matches!(e, crate::error::EngineError::Cancelled), "{e}");
                        break;
                    }
                }
            }
            op.close().await.unwrap();
        });
    }

    /// Asserts rows equal, NaN equal to NaN and values within 1e-12.
    pub(crate) fn assert_rows(actual: &[Row], expected: &[Row]) {
        let same = actual.len() == expected.len()
            && actual.iter().zip(expected).all(|(a, e)| {
                a.0 == e.0
                    && a.1 == e.1
                    && match (a.2, e.2) {
                        (None, None) => true,
                        (Some(x), Some(y)) => {
                            (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-12 * y.abs().max(1.0)
                        }
                        _ => false,
                    }
            });
        assert!(
            same,
            "rows differ:\n  actual   {actual:?}\n  expected {expected:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::memory::MemoryPool;

    #[test]
    fn a_run_pushed_whole_is_cut_as_point_by_point() {
        let reg = registry(&[("a", "1"), ("a", "2")]);
        // a run without nulls (pushed as slices) and one with a null
        let points = [
            (0, 1, Some(1.0)),
            (0, 2, Some(2.0)),
            (0, 3, Some(3.0)),
            (0, 4, Some(-4.0)),
            (0, 5, Some(5.0)),
            (1, 1, Some(6.0)),
            (1, 2, None),
            (1, 3, Some(8.0)),
        ];
        let parts = batches(&reg, &points, 100);
        for batch_size in [1, 2, 3, 4096] {
            let mut whole = RowBatcher::new(Arc::clone(&reg), batch_size);
            let mut single = RowBatcher::new(Arc::clone(&reg), batch_size);
            // start mid-batch
            whole.push(0, 0, Some(0.5)).unwrap();
            single.push(0, 0, Some(0.5)).unwrap();
            for b in &parts {
                for tl in b.timelines() {
                    whole.push_run(&tl).unwrap();
                    for i in 0..tl.len() {
                        single.push(tl.series_id, tl.times[i], tl.value(i)).unwrap();
                    }
                }
            }
            whole.flush().unwrap();
            single.flush().unwrap();
            let (mut got, mut want) = (Vec::new(), Vec::new());
            while let Some(b) = whole.pop() {
                got.push(b.record_batch().clone());
            }
            while let Some(b) = single.pop() {
                want.push(b.record_batch().clone());
            }
            assert_eq!(
                got.len(),
                9usize.div_ceil(batch_size),
                "batch size {batch_size}"
            );
            assert_eq!(got, want, "batch size {batch_size}");
        }
    }

    #[test]
    fn continued_runs_join_and_memory_is_reserved_first() {
        let reg = registry(&[("a", "1"), ("a", "2")]);
        let parts = batches(
            &reg,
            &[
                (0, 1, Some(1.0)),
                (0, 2, None),
                (0, 3, Some(3.0)),
                (1, 1, Some(4.0)),
            ],
            2,
        );
        let pool = MemoryPool::new(1000);
        let mut g = TimelineGatherer::new("TestOp", pool.reservation("TestOp", ""));
        for b in &parts {
            for tl in b.timelines() {
                g.push(&tl).unwrap();
            }
        }
        assert_eq!(g.last(), Some((1, 1)));
        let batch = g.finish(&reg).unwrap();
        assert_eq!(batch.num_timelines(), 2);
        let t0 = batch.timeline(0);
        assert_eq!(t0.times, &[1, 2, 3]);
        assert_eq!(
            (t0.value(0), t0.value(1), t0.value(2)),
            (Some(1.0), None, Some(3.0))
        );
        // 4 points: capacity 2 (first run) -> 4 (doubled)
        assert_eq!(pool.used(), 4 * BYTES_PER_POINT);
        assert!(g.is_empty());
        // Gathering again keeps the handed-over points reserved.
        g.push(&parts[1].timeline(1)).unwrap();
        assert_eq!(pool.used(), 5 * BYTES_PER_POINT);
        drop(batch);
        g.release();
        assert_eq!(pool.used(), BYTES_PER_POINT);
        g.finish(&reg).unwrap();
        g.release();
        assert_eq!(pool.used(), 0);
    }

    #[test]
    fn budget_and_time_order_are_enforced() {
        let reg = registry(&[("a", "1")]);
        let b = &batches(&reg, &[(0, 1, Some(1.0)), (0, 2, Some(2.0))], 1);
        let pool = MemoryPool::new(BYTES_PER_POINT);
        let mut g = TimelineGatherer::new("TestOp", pool.reservation("TestOp", "hint"));
        g.push(&b[0].timeline(0)).unwrap();
        let err = g.push(&b[1].timeline(0)).unwrap_err().to_string();
        assert!(err.contains("TestOp") && err.contains("hint"), "{err}");
        let mut g = TimelineGatherer::new("TestOp", MemoryPool::unbounded().reservation("T", ""));
        g.push(&b[1].timeline(0)).unwrap();
        let err = g.push(&b[0].timeline(0)).unwrap_err().to_string();
        assert!(err.contains("continues at time 1 after 2"), "{err}");
    }

    #[test]
    fn row_batcher_cuts_exact_sizes() {
        let reg = registry(&[("a", "1")]);
        let mut rb = RowBatcher::new(reg, 2);
        for t in 0..5 {
            rb.push(0, t, Some(t as f64)).unwrap();
        }
        rb.flush().unwrap();
        let sizes: Vec<usize> = std::iter::from_fn(|| rb.pop())
            .map(|b| b.num_rows())
            .collect();
        assert_eq!(sizes, vec![2, 2, 1]);
    }
}
