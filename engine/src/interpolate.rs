//! The interpolating aggregation across the timelines of one group
//! (`docs/semantics.md` §4), shared by `GroupedAggOp` and `MTAggOp` and matched exactly by
//! the materialized executor.
//!
//! At every timestamp `T` of the union of the group's timestamps, each
//! timeline, in ascending series id, contributes its value if it has a point
//! at `T`; else, if `T` lies strictly inside its first..last span, the value
//! its aggregator's [`Interpolation`] gives; else nothing.
//!
//! ```text
//!   union      0   10   15   20   30
//!   series 3   1.0  ·    ·   3.0        lerp at 10: 1 + (3-1)*10/20 = 2.0
//!   series 5        4.0  5.0      6.0   nothing at 0 (before its span)
//!   slots      0    1    2    3    4
//! ```
//!
//! One cursor walks the union alongside each timeline (a single binary search
//! per timeline finds where it starts), so there is no search per point. The
//! union is built by sort + dedup. Incremental aggregators fold contributions
//! into [`Accumulators`] (slot = index of `T` in the union); percentiles
//! collect the contributions per slot (a counting sort by slot) and apply
//! [`percentile`].

use crate::accumulator::{percentile, AccValue, Accumulators};
use crate::batch::Timeline;
use crate::error::Result;
use crate::memory::MemoryReservation;
use crate::spec::{Aggregator, GroupBy, Interpolation};
use crate::value::TimelineValue;

/// Aggregates the timelines of one group at a time, reusing its scratch
/// space across groups; every scratch byte is reserved before it is
/// allocated.
///
/// Over `V` values: f64, or an integer type for a selector where no
/// interpolation can be needed (`strategy::downsample_interpolation`), as
/// `GroupedAggOp` and `MTAggOp` choose it: interpolated contributions are
/// computed in f64 ([`TimelineValue::from_f64`]), so over integers only
/// `zim`'s 0 could occur, which is exact.
#[derive(Debug)]
pub struct InterpolatingAggregator<V: AccValue = f64> {
    agg: Aggregator,
    union: Vec<i64>,
    point_slots: Vec<usize>,
    acc: Option<Accumulators<V>>,
    acc_slots: usize,
    pct: PercentileSlots,
    reservation: MemoryReservation,
}

/// What a timeline contributes at a timestamp it has no point at.
enum Contribution<V> {
    Value(V),
    Null,
    Nothing,
}

/// Receives the contributions of one timeline of `V` values (static
/// dispatch).
trait Sink<V> {
    /// The timeline's own points, point `i` going to slot `slots[i]`.
    fn points(&mut self, tl: &Timeline<'_, V>, slots: &[usize]);
    /// An interpolated value in `slot`.
    fn value(&mut self, slot: usize, v: V);
    /// An interpolated null in `slot`.
    fn null(&mut self, slot: usize);
}

impl<V: AccValue> Sink<V> for Accumulators<V> {
    #[inline]
    fn points(&mut self, tl: &Timeline<'_, V>, slots: &[usize]) {
        self.update_timeline(tl, |i| slots[i]);
    }

    #[inline]
    fn value(&mut self, slot: usize, v: V) {
        self.update(slot, v);
    }

    #[inline]
    fn null(&mut self, slot: usize) {
        self.update_null(slot);
    }
}

impl InterpolatingAggregator<f64> {
    /// An aggregator of f64 values for `agg` whose scratch space is held in
    /// `reservation`.
    pub fn new(agg: Aggregator, reservation: MemoryReservation) -> Self {
        Self::typed(agg, reservation)
    }
}

impl<V: AccValue> InterpolatingAggregator<V> {
    /// An aggregator of `V` values for `agg` whose scratch space is held in
    /// `reservation` (fails at the first group when `agg` cannot run over
    /// `V`, as [`Accumulators::typed`]).
    pub fn typed(agg: Aggregator, reservation: MemoryReservation) -> Self {
        InterpolatingAggregator {
            agg,
            union: Vec::new(),
            point_slots: Vec::new(),
            acc: None,
            acc_slots: 0,
            pct: PercentileSlots::default(),
            reservation,
        }
    }

    /// Bytes currently reserved for scratch space.
    pub fn reserved(&self) -> usize {
        self.reservation.size()
    }

    /// Most bytes reserved at once.
    pub fn peak(&self) -> usize {
        self.reservation.peak()
    }

    /// Frees the scratch space and its reservation (after the last group).
    pub fn release(&mut self) {
        self.union = Vec::new();
        self.point_slots = Vec::new();
        self.acc = None;
        self.acc_slots = 0;
        self.pct = PercentileSlots::default();
        self.reservation.free();
    }

    /// Aggregates the timelines of one group, given in ascending series id,
    /// calling `emit(time, value)` for each output row in time order (a null
    /// value is `None`).
    pub fn aggregate<E>(&mut self, timelines: &[Timeline<'_, V>], mut emit: E) -> Result<()>
    where
        E: FnMut(i64, Option<V>) -> Result<()>,
    {
        let timelines: Vec<&Timeline<'_, V>> = timelines.iter().filter(|t| !t.is_empty()).collect();
        self.build_union(&timelines)?;
        if self.union.is_empty() {
            return Ok(());
        }
        let interp = self.agg.interpolation();
        match self.agg.quantile() {
            None => {
                self.prepare_accumulators()?;
                let acc = self.acc.as_mut().expect("prepared");
                for tl in &timelines {
                    feed(tl, &self.union, interp, &mut self.point_slots, acc);
                }
                for (slot, &t) in self.union.iter().enumerate() {
                    if let Some(v) = acc.result(slot) {
                        emit(t, v)?;
                    }
                }
            }
            Some(q) => {
                let entries = self.span_slots(&timelines);
                self.reserve_percentiles(entries, timelines.len())?;
                self.pct.begin(self.union.len());
                for tl in &timelines {
                    feed(
                        tl,
                        &self.union,
                        interp,
                        &mut self.point_slots,
                        &mut self.pct,
                    );
                }
                self.pct.sort_by_slot();
                for (slot, &t) in self.union.iter().enumerate() {
                    if let Some(v) = self.pct.result(slot, q) {
                        // Percentiles compute in f64 (only f64 input).
                        emit(t, v.map(V::from_f64))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The sorted, deduplicated timestamps of `timelines` into `self.union`.
    fn build_union(&mut self, timelines: &[&Timeline<'_, V>]) -> Result<()> {
        let points: usize = timelines.iter().map(|t| t.len()).sum();
        let longest = timelines.iter().map(|t| t.len()).max().unwrap_or(0);
        self.reserve_vectors(points, longest)?;
        // Fast path: timelines on the same timestamps (aligned input).
        if let Some((first, rest)) = timelines.split_first() {
            if rest.iter().all(|tl| tl.times == first.times) {
                self.union.extend_from_slice(first.times);
                return Ok(());
            }
        }
        for tl in timelines {
            self.union.extend_from_slice(tl.times);
        }
        self.union.sort_unstable();
        self.union.dedup();
        Ok(())
    }

    /// Bytes of all scratch vectors, by capacity.
    fn scratch_bytes(&self) -> usize {
        (self.union.capacity() + self.point_slots.capacity()) * 8
            + self.acc.as_ref().map_or(0, |a| a.memory_size())
            + self.pct.memory_size()
    }

    /// Reserves `extra` bytes on top of the scratch held, for an allocation
    /// about to happen.
    fn reserve_extra(&mut self, extra: usize) -> Result<()> {
        let bytes = self.scratch_bytes().saturating_add(extra);
        self.reservation.try_resize(bytes)
    }

    /// Settles the reservation on the scratch actually allocated.
    fn settle(&mut self) -> Result<()> {
        let bytes = self.scratch_bytes();
        self.reservation.try_resize(bytes)
    }

    /// Reserves, then allocates, room for `points` union entries and the
    /// slots of a timeline of `longest` points.
    fn reserve_vectors(&mut self, points: usize, longest: usize) -> Result<()> {
        let more_union = points.saturating_sub(self.union.capacity());
        let more_slots = longest.saturating_sub(self.point_slots.capacity());
        self.reserve_extra((more_union + more_slots) * 8)?;
        self.union.clear();
        self.union.reserve_exact(points);
        self.point_slots.clear();
        self.point_slots.reserve_exact(longest);
        self.settle()
    }

    /// Empty accumulators with one slot per union timestamp, reusing the
    /// previous ones when they are large enough.
    fn prepare_accumulators(&mut self) -> Result<()> {
        let slots = self.union.len();
        if let Some(acc) = self.acc.as_mut().filter(|_| slots <= self.acc_slots) {
            acc.resize(0);
            acc.resize(slots);
            return Ok(());
        }
        self.acc = None;
        let per_slot = 4 + 1 + 8 + if self.agg == Aggregator::Dev { 8 } else { 0 };
        self.reserve_extra(slots.saturating_mul(per_slot))?;
        self.acc = Some(Accumulators::typed(self.agg, slots)?);
        self.acc_slots = slots;
        self.settle()
    }

    /// How many contributions the timelines make at most: the union slots
    /// each timeline's span covers.
    fn span_slots(&self, timelines: &[&Timeline<'_, V>]) -> usize {
        let u = &self.union;
        timelines
            .iter()
            .map(|tl| {
                let lo = u.partition_point(|&x| x < tl.times[0]);
                let hi = u.partition_point(|&x| x <= tl.times[tl.len() - 1]);
                hi - lo
            })
            .sum()
    }

    /// Reserves, then allocates, room for `entries` contributions over the
    /// union's slots, at most `per_slot` of them in one slot.
    fn reserve_percentiles(&mut self, entries: usize, per_slot: usize) -> Result<()> {
        let slots = self.union.len();
        let extra = self
            .pct
            .projected_size(slots, entries, per_slot)
            .saturating_sub(self.pct.memory_size());
        self.reserve_extra(extra)?;
        self.pct.reserve(slots, entries, per_slot);
        self.settle()
    }
}

/// The name of an interpolation rule, as display lines print it.
pub fn interpolation_name(interp: Interpolation) -> &'static str {
    match interp {
        Interpolation::Lerp => "lerp",
        Interpolation::Zim => "zim",
        Interpolation::Max => "max",
        Interpolation::Min => "min",
        Interpolation::Prev => "prev",
        Interpolation::None => "none",
    }
}

/// The EXPLAIN line of an interpolating aggregation operator
/// (`GroupedAggOp` / `MTAggOp`): name, aggregator, grouping and the
/// aggregator's interpolation rule.
pub fn display_line(name: &str, agg: Aggregator, group_by: &GroupBy) -> String {
    format!(
        "{name}: agg={agg} group_by={group_by} interpolation={}",
        interpolation_name(agg.interpolation())
    )
}

/// Feeds the contributions of one non-empty timeline: walks the union from
/// the timeline's first point, one cursor step per union timestamp.
#[inline]
fn feed<V: TimelineValue, S: Sink<V>>(
    tl: &Timeline<'_, V>,
    union: &[i64],
    interp: Interpolation,
    slots: &mut Vec<usize>,
    sink: &mut S,
) {
    let times = tl.times;
    let mut j = union.partition_point(|&u| u < times[0]);
    slots.clear();
    for (i, &t) in times.iter().enumerate() {
        // Only for i > 0: union[j] == times[0] when i == 0.
        while union[j] < t {
            match interpolated(tl, i - 1, i, union[j], interp) {
                Contribution::Value(v) => sink.value(j, v),
                Contribution::Null => sink.null(j),
                Contribution::Nothing => {}
            }
            j += 1;
        }
        slots.push(j);
        j += 1;
    }
    sink.points(tl, slots);
}

/// The contribution at `t`, strictly between points `i0` and `i1 = i0 + 1`.
#[inline]
fn interpolated<V: TimelineValue>(
    tl: &Timeline<'_, V>,
    i0: usize,
    i1: usize,
    t: i64,
    interp: Interpolation,
) -> Contribution<V> {
    match interp {
        Interpolation::Lerp => match (tl.value(i0), tl.value(i1)) {
            (Some(v0), Some(v1)) => {
                let (t0, t1) = (tl.times[i0], tl.times[i1]);
                let (v0, v1) = (v0.to_f64(), v1.to_f64());
                let v = v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64;
                Contribution::Value(V::from_f64(v))
            }
            _ => Contribution::Null,
        },
        Interpolation::Zim => Contribution::Value(V::ZERO),
        Interpolation::Prev => tl.value(i0).map_or(Contribution::Null, Contribution::Value),
        Interpolation::Max | Interpolation::Min | Interpolation::None => Contribution::Nothing,
    }
}

/// Contributions collected per slot for the percentiles: appended as
/// `(slot, value)` entries, then counting-sorted by slot.
#[derive(Debug, Default)]
struct PercentileSlots {
    entry_slot: Vec<u32>,
    entry_value: Vec<f64>,
    null_seen: Vec<bool>,
    starts: Vec<usize>,
    sorted: Vec<f64>,
    scratch: Vec<f64>,
}

impl PercentileSlots {
    fn memory_size(&self) -> usize {
        self.entry_slot.capacity() * 4
            + (self.entry_value.capacity() + self.sorted.capacity() + self.scratch.capacity()) * 8
            + self.null_seen.capacity()
            + self.starts.capacity() * 8
    }

    /// Bytes after [`reserve`](Self::reserve)`(slots, entries, per_slot)`.
    fn projected_size(&self, slots: usize, entries: usize, per_slot: usize) -> usize {
        let e = self.entry_slot.capacity().max(entries);
        let s = self.null_seen.capacity().max(slots + 1);
        let p = self.scratch.capacity().max(per_slot);
        e * (4 + 8 + 8) + s * (1 + 8) + p * 8
    }

    fn reserve(&mut self, slots: usize, entries: usize, per_slot: usize) {
        self.entry_slot.clear();
        self.entry_value.clear();
        self.sorted.clear();
        self.null_seen.clear();
        self.starts.clear();
        self.scratch.clear();
        self.entry_slot.reserve_exact(entries);
        self.entry_value.reserve_exact(entries);
        self.sorted.reserve_exact(entries);
        self.null_seen.reserve_exact(slots + 1);
        self.starts.reserve_exact(slots + 1);
        self.scratch.reserve_exact(per_slot);
    }

    fn begin(&mut self, slots: usize) {
        self.entry_slot.clear();
        self.entry_value.clear();
        self.null_seen.clear();
        self.null_seen.resize(slots, false);
    }

    #[inline]
    fn push(&mut self, slot: usize, v: f64) {
        self.entry_slot.push(slot as u32);
        self.entry_value.push(v);
    }

    /// Orders the entries by slot into `sorted`; slot `s` is
    /// `sorted[starts[s]..starts[s + 1]]`.
    fn sort_by_slot(&mut self) {
        let slots = self.null_seen.len();
        self.starts.clear();
        self.starts.resize(slots + 1, 0);
        for &s in &self.entry_slot {
            self.starts[s as usize + 1] += 1;
        }
        for s in 0..slots {
            self.starts[s + 1] += self.starts[s];
        }
        self.sorted.clear();
        self.sorted.resize(self.entry_value.len(), 0.0);
        // Fill back to front, moving each slot's end down to its start.
        for (&s, &v) in self.entry_slot.iter().zip(&self.entry_value).rev() {
            let end = &mut self.starts[s as usize + 1];
            *end -= 1;
            self.sorted[*end] = v;
        }
        // Now starts[s + 1] is the start of slot s; shift back.
        self.starts.rotate_left(1);
        self.starts[slots] = self.sorted.len();
    }

    /// The percentile `q` of `slot`: NaN skipped; all NaN → NaN; only
    /// nulls → null; no contribution → no row.
    fn result(&mut self, slot: usize, q: f64) -> Option<Option<f64>> {
        let values = &self.sorted[self.starts[slot]..self.starts[slot + 1]];
        if values.is_empty() {
            return self.null_seen[slot].then_some(None);
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(values);
        Some(Some(percentile(&mut self.scratch, q).unwrap_or(f64::NAN)))
    }
}

impl<V: TimelineValue> Sink<V> for PercentileSlots {
    fn points(&mut self, tl: &Timeline<'_, V>, slots: &[usize]) {
        if tl.all_valid() {
            for (&s, &v) in slots.iter().zip(tl.values) {
                self.push(s, v.to_f64());
            }
        } else {
            for (i, (&s, &v)) in slots.iter().zip(tl.values).enumerate() {
                if tl.is_valid(i) {
                    self.push(s, v.to_f64());
                } else {
                    self.null_seen[s] = true;
                }
            }
        }
    }

    #[inline]
    fn value(&mut self, slot: usize, v: V) {
        self.push(slot, v.to_f64());
    }

    #[inline]
    fn null(&mut self, slot: usize) {
        self.null_seen[slot] = true;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::batch::{TimelineBatch, TimelineBatchBuilder};
    use crate::materialize::test_support::{all_aggregators, assert_rows, registry, Row};
    use crate::memory::MemoryPool;

    /// Builds one batch holding `timelines` (series id = position).
    fn batch(timelines: &[Vec<(i64, Option<f64>)>]) -> TimelineBatch {
        let tags: Vec<(&str, &str)> = timelines.iter().map(|_| ("a", "h")).collect();
        let mut b = TimelineBatchBuilder::new(registry(&tags), 16);
        for (id, tl) in timelines.iter().enumerate() {
            for &(t, v) in tl {
                b.push(id as u32, t, v);
            }
        }
        b.finish().unwrap()
    }

    fn aggregate(agg: &mut InterpolatingAggregator, batch: &TimelineBatch) -> Vec<Row> {
        let tls: Vec<Timeline<'_>> = batch.timelines().collect();
        let mut rows = Vec::new();
        agg.aggregate(&tls, |t, v| {
            rows.push((0, t, v));
            Ok(())
        })
        .unwrap();
        rows
    }

    /// The slow reference: at each union timestamp, every timeline's
    /// contribution found by search, folded by a fresh one-slot aggregate.
    fn reference(agg: Aggregator, timelines: &[Vec<(i64, Option<f64>)>]) -> Vec<Row> {
        let union: BTreeSet<i64> = timelines.iter().flatten().map(|p| p.0).collect();
        let mut rows = Vec::new();
        for t in union {
            let mut contributions: Vec<Option<f64>> = Vec::new();
            for tl in timelines.iter().filter(|tl| !tl.is_empty()) {
                let pos = tl.partition_point(|p| p.0 < t);
                if pos < tl.len() && tl[pos].0 == t {
                    contributions.push(tl[pos].1);
                } else if pos > 0 && pos < tl.len() {
                    let ((t0, v0), (t1, v1)) = (tl[pos - 1], tl[pos]);
                    match agg.interpolation() {
                        Interpolation::Lerp => contributions.push(match (v0, v1) {
                            (Some(a), Some(b)) => {
                                Some(a + (b - a) * (t - t0) as f64 / (t1 - t0) as f64)
                            }
                            _ => None,
                        }),
                        Interpolation::Zim => contributions.push(Some(0.0)),
                        Interpolation::Prev => contributions.push(v0),
                        _ => {}
                    }
                }
            }
            let value = match agg.quantile() {
                Some(q) => {
                    let mut vals: Vec<f64> = contributions.iter().flatten().copied().collect();
                    let any = !vals.is_empty();
                    match percentile(&mut vals, q) {
                        Some(v) => Some(Some(v)),
                        None if any => Some(Some(f64::NAN)),
                        None => (!contributions.is_empty()).then_some(None),
                    }
                }
                None => {
                    let mut acc = Accumulators::new(agg, 1).unwrap();
                    for c in &contributions {
                        match c {
                            Some(v) => acc.update(0, *v),
                            None => acc.update_null(0),
                        }
                    }
                    acc.result(0)
                }
            };
            if let Some(v) = value {
                rows.push((0, t, v));
            }
        }
        rows
    }

    #[test]
    fn lerp_at_a_misaligned_timestamp() {
        // s0: (0, 1), (30, 4); s1: (10, 100). At 10: 1 + (4 - 1) * 10 / 30 = 2.
        let b = batch(&[
            vec![(0, Some(1.0)), (30, Some(4.0))],
            vec![(10, Some(100.0))],
        ]);
        let pool = MemoryPool::unbounded();
        let mut agg = InterpolatingAggregator::new(Aggregator::Sum, pool.reservation("T", ""));
        let rows = aggregate(&mut agg, &b);
        assert_rows(
            &rows,
            &[(0, 0, Some(1.0)), (0, 10, Some(102.0)), (0, 30, Some(4.0))],
        );
    }

    #[test]
    fn scratch_is_reserved_reused_and_bounded_by_the_budget() {
        let big = batch(&[
            (0..40).map(|t| (t * 2, Some(t as f64))).collect(),
            (0..40).map(|t| (t * 2 + 1, Some(1.0))).collect(),
        ]);
        let pool = MemoryPool::unbounded();
        let mut agg = InterpolatingAggregator::new(Aggregator::Dev, pool.reservation("T", ""));
        assert_eq!(aggregate(&mut agg, &big).len(), 80);
        let held = agg.reserved();
        // union 80 x 8 + slots 40 x 8 + accumulators 80 x (4 + 1 + 8 + 8)
        assert_eq!(held, 640 + 320 + 80 * 21);
        assert_eq!(pool.used(), held);
        let small = batch(&[vec![(5, Some(1.0))]]);
        assert_rows(&aggregate(&mut agg, &small), &[(0, 5, Some(0.0))]);
        assert_eq!(agg.reserved(), held, "reused, not grown");
        let tight = MemoryPool::new(1000);
        let mut agg =
            InterpolatingAggregator::new(Aggregator::Percentile(500), tight.reservation("T", ""));
        let tls: Vec<Timeline<'_>> = big.timelines().collect();
        let err = agg.aggregate(&tls, |_, _| Ok(())).unwrap_err();
        assert!(
            matches!(err, crate::error::EngineError::ResourcesExhausted { .. }),
            "{err}"
        );
    }

    fn timelines_strategy() -> impl Strategy<Value = Vec<Vec<(i64, Option<f64>)>>> {
        let value = prop_oneof![
            6 => (-4i32..5).prop_map(|v| Some(v as f64)),
            1 => Just(Some(f64::NAN)),
            1 => Just(None),
        ];
        let timeline = proptest::collection::btree_map(0i64..30, value, 0..10)
            .prop_map(|m| m.into_iter().collect::<Vec<_>>());
        proptest::collection::vec(timeline, 1..5)
    }

    /// Timelines on one shared set of timestamps (the fast path).
    fn aligned_strategy() -> impl Strategy<Value = Vec<Vec<(i64, Option<f64>)>>> {
        (
            timelines_strategy(),
            proptest::collection::btree_set(0i64..30, 1..8),
        )
            .prop_map(|(tls, times)| {
                tls.iter()
                    .map(|tl| {
                        let vals = tl.iter().map(|p| p.1).chain(std::iter::repeat(Some(1.5)));
                        times.iter().copied().zip(vals).collect()
                    })
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn matches_the_slow_reference_on_aligned_timelines(timelines in aligned_strategy()) {
            let b = batch(&timelines);
            let pool = MemoryPool::unbounded();
            for agg in all_aggregators() {
                let mut op = InterpolatingAggregator::new(agg, pool.reservation("T", ""));
                assert_rows(&aggregate(&mut op, &b), &reference(agg, &timelines));
            }
        }

        #[test]
        fn matches_the_slow_reference(timelines in timelines_strategy()) {
            let b = batch(&timelines);
            let pool = MemoryPool::unbounded();
            for agg in all_aggregators() {
                let mut op = InterpolatingAggregator::new(agg, pool.reservation("T", ""));
                // twice: the second run reuses the scratch space
                for _ in 0..2 {
                    assert_rows(&aggregate(&mut op, &b), &reference(agg, &timelines));
                }
            }
        }
    }
}
