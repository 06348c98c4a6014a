//! [`BatchColumns`]: the columns of the next batch of a TSM scan. The scan
//! decodes each series straight into them (no intermediate vector, no copy
//! into a builder), and [`BatchColumns::finish`] hands them to Arrow as they
//! are through `TimelineBatch::from_sorted_runs`, which checks the timeline
//! runs in O(runs) rather than O(rows).
//!
//! ```text
//!   block bytes ──decode──▶ times / values (open run) ──close_run(id)──▶ runs
//!                                                       └─overflow──▶ the scan's carry
//! ```
//!
//! The scan keeps a second handle on the buffers of the batch it emitted last
//! ([`Spare`]); once the consumer has dropped that batch, the next one is
//! built in the same buffers ([`BatchColumns::reusing`]): no allocation and
//! no free per batch, and the decoder writes into memory the cache holds.

use std::sync::Arc;

use arrow::buffer::ScalarBuffer;
use arrow::datatypes::ArrowNativeType;
use tsq_engine::{Result, SeriesRegistry, TimelineBatch, TimelineValue};

/// Rows of closed timeline runs plus, at the end of `times` / `values`, the
/// rows of the open run (a series being decoded).
#[derive(Debug, Default)]
pub(crate) struct BatchColumns<V = f64> {
    /// Times of every row, closed runs first, then the open run.
    pub(crate) times: Vec<i64>,
    /// Values of every row, like `times`, in the field's type.
    pub(crate) values: Vec<V>,
    /// Series id of each row of the closed runs.
    ids: Vec<u32>,
    /// Start row of each closed run.
    offsets: Vec<u32>,
    /// Rows of the longest closed run.
    longest: usize,
}

/// Room reserved for the runs of a batch (it grows past this as needed).
const RUNS: usize = 32;

/// The column buffers of the batch a scan emitted last, shared with that
/// batch; see the module docs.
#[derive(Debug)]
pub(crate) struct Spare<V: TimelineValue> {
    ids: ScalarBuffer<u32>,
    times: ScalarBuffer<i64>,
    values: ScalarBuffer<V>,
}

impl<V: TimelineValue> BatchColumns<V> {
    /// Empty columns with room for `rows` rows.
    #[cfg(test)]
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Self::reusing(None, rows)
    }

    /// Empty columns with room for `rows` rows, in the buffers of `spare`
    /// where nothing else holds them any more (new ones otherwise).
    pub(crate) fn reusing(spare: Option<Spare<V>>, rows: usize) -> Self {
        let (ids, times, values) = match spare {
            Some(s) => (Some(s.ids), Some(s.times), Some(s.values)),
            None => (None, None, None),
        };
        BatchColumns {
            times: reclaim(times, rows),
            values: reclaim(values, rows),
            ids: reclaim(ids, rows),
            offsets: Vec::with_capacity(RUNS),
            longest: 0,
        }
    }

    /// Rows in closed runs.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no run is closed.
    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Rows of the open run.
    pub(crate) fn open_len(&self) -> usize {
        self.times.len() - self.ids.len()
    }

    /// Rows of the longest run closed so far: what the scan expects the next
    /// series to take.
    pub(crate) fn longest_run(&self) -> usize {
        self.longest
    }

    /// Closes the open run as series `id`; nothing when it has no rows.
    pub(crate) fn close_run(&mut self, id: u32) {
        debug_assert_eq!(self.times.len(), self.values.len());
        let n = self.open_len();
        if n == 0 {
            return;
        }
        self.offsets.push(self.ids.len() as u32);
        self.ids.resize(self.times.len(), id);
        self.longest = self.longest.max(n);
    }

    /// Appends `times` / `values` (same length) as a closed run of `id`.
    pub(crate) fn push_run(&mut self, id: u32, times: &[i64], values: &[V]) {
        debug_assert_eq!(self.open_len(), 0);
        self.times.extend_from_slice(times);
        self.values.extend_from_slice(values);
        self.close_run(id);
    }

    /// Moves the open run into `times` / `values` (their old contents are
    /// dropped, their buffers reused here): no row is copied. For a series
    /// that alone fills more than a batch.
    pub(crate) fn take_open(&mut self, times: &mut Vec<i64>, values: &mut Vec<V>) {
        debug_assert!(self.is_empty());
        times.clear();
        values.clear();
        std::mem::swap(&mut self.times, times);
        std::mem::swap(&mut self.values, values);
    }

    /// Keeps the first `max_rows - len()` rows of the open run (closed as
    /// `id`) and moves the rest into `times` / `values` (cleared first).
    pub(crate) fn split_open(
        &mut self,
        id: u32,
        max_rows: usize,
        times: &mut Vec<i64>,
        values: &mut Vec<V>,
    ) {
        let cut = max_rows.max(self.len()).min(self.times.len());
        times.clear();
        values.clear();
        times.extend_from_slice(&self.times[cut..]);
        values.extend_from_slice(&self.values[cut..]);
        self.times.truncate(cut);
        self.values.truncate(cut);
        self.close_run(id);
    }

    /// The closed runs as a batch over `registry` (the open run, if any, is
    /// dropped), and a [`Spare`] handle on its buffers. Fails when an id is
    /// not in the registry.
    pub(crate) fn finish(
        mut self,
        registry: &Arc<SeriesRegistry>,
    ) -> Result<(TimelineBatch, Spare<V>)> {
        let rows = self.ids.len();
        self.times.truncate(rows);
        self.values.truncate(rows);
        let mut offsets = self.offsets;
        offsets.push(rows as u32);
        let spare = Spare {
            ids: ScalarBuffer::from(self.ids),
            times: ScalarBuffer::from(self.times),
            values: ScalarBuffer::from(self.values),
        };
        let batch = TimelineBatch::from_sorted_runs(
            spare.ids.clone(),
            spare.times.clone(),
            spare.values.clone(),
            offsets,
            Arc::clone(registry),
        )?;
        Ok((batch, spare))
    }
}

/// The vector behind `buffer`, emptied, with room for `rows`, when `buffer`
/// is its only owner; a new vector otherwise.
fn reclaim<T: ArrowNativeType>(buffer: Option<ScalarBuffer<T>>, rows: usize) -> Vec<T> {
    match buffer.map(|b| b.into_inner().into_vec::<T>()) {
        Some(Ok(mut v)) => {
            v.clear();
            v.reserve(rows);
            v
        }
        _ => Vec::with_capacity(rows),
    }
}

#[cfg(test)]
mod tests {
    use tsq_engine::SeriesInfo;

    use super::*;

    fn registry(n: usize) -> Arc<SeriesRegistry> {
        let infos = (0..n)
            .map(|i| SeriesInfo::new("m", &[("host", &format!("h{i}"))], "v"))
            .collect();
        Arc::new(SeriesRegistry::new(infos))
    }

    /// (series id, time, value) of every row of `b`.
    fn rows(b: &TimelineBatch) -> Vec<(u32, i64, f64)> {
        b.timelines()
            .flat_map(|tl| (0..tl.len()).map(move |i| (tl.series_id, tl.times[i], tl.values[i])))
            .collect()
    }

    #[test]
    fn runs_close_split_and_move_without_losing_rows() {
        let reg = registry(4);
        let mut cols = BatchColumns::with_capacity(6);
        // Series 2: three rows decoded in place, then closed.
        cols.times.extend([10, 20, 30]);
        cols.values.extend([1.0, 2.0, 3.0]);
        assert_eq!((cols.len(), cols.open_len()), (0, 3));
        cols.close_run(2);
        // An empty open run closes to nothing.
        cols.close_run(3);
        assert_eq!((cols.len(), cols.longest_run()), (3, 3));
        // Series 0 from a carry, then series 1 overflowing max_rows = 6.
        cols.push_run(0, &[5], &[0.5]);
        cols.times.extend([1, 2, 3, 4]);
        cols.values.extend([9.0, 8.0, 7.0, 6.0]);
        let (mut t, mut v) = (vec![77], vec![7.7]);
        cols.split_open(1, 6, &mut t, &mut v);
        assert_eq!((t, v), (vec![3, 4], vec![7.0, 6.0]));
        assert_eq!(cols.len(), 6);
        let (batch, _) = cols.finish(&reg).unwrap();
        assert_eq!(batch.num_timelines(), 3);
        assert_eq!(
            rows(&batch),
            vec![
                (2, 10, 1.0),
                (2, 20, 2.0),
                (2, 30, 3.0),
                (0, 5, 0.5),
                (1, 1, 9.0),
                (1, 2, 8.0)
            ]
        );
    }

    #[test]
    fn a_long_series_moves_whole_into_the_carry() {
        let mut cols = BatchColumns::with_capacity(2);
        cols.times.extend([1, 2, 3]);
        cols.values.extend([1.0, 2.0, 3.0]);
        let (mut t, mut v) = (vec![9], vec![9.0]);
        cols.take_open(&mut t, &mut v);
        assert_eq!((t, v), (vec![1, 2, 3], vec![1.0, 2.0, 3.0]));
        assert_eq!((cols.len(), cols.open_len()), (0, 0));
        assert!(cols.times.is_empty() && cols.values.is_empty());
        // Nothing closed: an empty batch.
        assert_eq!(cols.finish(&registry(1)).unwrap().0.num_rows(), 0);
    }

    #[test]
    fn the_next_batch_reuses_the_buffers_only_once_the_last_is_dropped() {
        let reg = registry(3);
        let mut cols = BatchColumns::with_capacity(4);
        cols.push_run(0, &[1, 2], &[1.0, 2.0]);
        let (held, spare) = cols.finish(&reg).unwrap();
        let held_times = held.timelines().next().unwrap().times.as_ptr();
        // The consumer still holds the batch: new buffers, its rows untouched.
        let mut cols = BatchColumns::reusing(Some(spare), 4);
        assert_ne!(cols.times.as_ptr(), held_times);
        cols.push_run(1, &[3], &[3.0]);
        let (second, spare) = cols.finish(&reg).unwrap();
        assert_eq!(rows(&held), vec![(0, 1, 1.0), (0, 2, 2.0)]);
        assert_eq!(rows(&second), vec![(1, 3, 3.0)]);
        // Dropped: the next batch is built in the same, emptied buffers.
        let second_times = second.timelines().next().unwrap().times.as_ptr();
        drop(second);
        let mut cols = BatchColumns::reusing(Some(spare), 4);
        assert_eq!(cols.times.as_ptr(), second_times);
        assert_eq!((cols.len(), cols.open_len()), (0, 0));
        assert!(cols.values.capacity() >= 4);
        cols.push_run(2, &[7, 8, 9], &[7.0, 8.0, 9.0]);
        let (third, _) = cols.finish(&reg).unwrap();
        assert_eq!(rows(&third), vec![(2, 7, 7.0), (2, 8, 8.0), (2, 9, 9.0)]);
        assert_eq!(rows(&held), vec![(0, 1, 1.0), (0, 2, 2.0)]);
    }

    #[test]
    fn ids_outside_the_registry_are_an_error() {
        let mut cols = BatchColumns::with_capacity(1);
        cols.push_run(5, &[1], &[1.0]);
        let err = cols.finish(&registry(2)).unwrap_err().to_string();
        let want = "series id 5 at row 0 is not in the registry (2 series)";
        assert!(err.ends_with(want), "{err}");
    }
}
