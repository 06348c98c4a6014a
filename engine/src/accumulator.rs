//! Incremental aggregation state, shared by every operator that aggregates:
//! `DsAggOp` (slots = buckets of one timeline), `PipeAggOp` (slots =
//! group × bucket) and the interpolating `GroupedAggOp` / `MTAggOp` (slots =
//! timestamps of one group).
//!
//! State is struct-of-arrays, one entry per slot. The aggregator is matched
//! once per call and the per-point loop is monomorphized over a [`Kernel`], so
//! the hot loop is a tight loop over the value slice with no dynamic call and
//! no hashing per point.
//!
//! NaN and null handling (`docs/semantics.md`): NaN and null inputs are skipped; a slot
//! whose inputs were all NaN (or a mix of NaN and null) yields NaN, a slot
//! whose inputs were all null yields null, and a slot with no input yields no
//! row. `first` / `last` keep the first / last non-NaN value in arrival order
//! (time within a bucket, ascending series id across timelines).

use crate::batch::Timeline;
use crate::error::{EngineError, Result};
use crate::spec::Aggregator;
use crate::value::{selects, TimelineValue};

mod lanes;

/// The eight incremental aggregators (every one but the percentiles), for
/// the tests that run each of them.
#[cfg(test)]
pub(crate) const INCREMENTAL: [Aggregator; 8] = [
    Aggregator::Sum,
    Aggregator::Avg,
    Aggregator::Min,
    Aggregator::Max,
    Aggregator::Dev,
    Aggregator::Count,
    Aggregator::First,
    Aggregator::Last,
];

pub use lanes::SlotState;

const SEEN: u8 = 1;
const SEEN_NAN: u8 = 2;

/// One aggregate per slot, updated one value at a time, over values of type
/// `V`: every incremental aggregator over f64; the selectors
/// ([`selects`]: `min`, `max`, `first`, `last`, `mimmin`, `mimmax`) over
/// `i64` and `u64` too, exactly (`docs/semantics.md` §12). The type is
/// chosen once per operator from its input's, so each gets its own
/// monomorphized loops and nothing dispatches per value.
#[derive(Debug, Clone)]
pub struct Accumulators<V: AccValue = f64> {
    agg: Aggregator,
    /// Non-NaN, non-null values seen.
    n: Vec<u32>,
    flags: Vec<u8>,
    /// sum / min / max / running mean / first / last, by aggregator.
    a: Vec<V>,
    /// Welford's M2 for `dev`; unused otherwise.
    b: Vec<f64>,
}

/// The per-value update of one aggregator over values of type `V`,
/// monomorphized into the loops.
pub trait Kernel<V> {
    /// Initial value of state `a`.
    const INIT: V;
    /// True when a NaN value always leaves `a` NaN (a sum), so that a fold
    /// that did not skip NaN shows it in `a` alone ([`Accumulators::fold_lanes`]).
    const NAN_STICKS: bool = false;
    /// Folds the non-NaN value `v` into `(a, b)`; `n` is the count before it.
    fn update(a: &mut V, b: &mut f64, n: u32, v: V);
}

/// Kernel of `sum`, `avg`, `zimsum`, `pfsum` (f64 only).
#[derive(Debug)]
pub struct SumK;
/// Kernel of `min`, `mimmin`.
#[derive(Debug)]
pub struct MinK;
/// Kernel of `max`, `mimmax`.
#[derive(Debug)]
pub struct MaxK;
/// Kernel of `count` (the count is kept beside the state).
#[derive(Debug)]
pub struct CountK;
/// Kernel of `first`.
#[derive(Debug)]
pub struct FirstK;
/// Kernel of `last`.
#[derive(Debug)]
pub struct LastK;
/// Kernel of `dev` (Welford; f64 only).
#[derive(Debug)]
pub struct DevK;

impl Kernel<f64> for SumK {
    const INIT: f64 = 0.0;
    const NAN_STICKS: bool = true;
    #[inline(always)]
    fn update(a: &mut f64, _: &mut f64, _: u32, v: f64) {
        *a += v
    }
}

impl<V: TimelineValue> Kernel<V> for MinK {
    const INIT: V = V::HIGHEST;
    #[inline(always)]
    fn update(a: &mut V, _: &mut f64, _: u32, v: V) {
        if v < *a {
            *a = v
        }
    }
}

impl<V: TimelineValue> Kernel<V> for MaxK {
    const INIT: V = V::LOWEST;
    #[inline(always)]
    fn update(a: &mut V, _: &mut f64, _: u32, v: V) {
        if v > *a {
            *a = v
        }
    }
}

impl<V: TimelineValue> Kernel<V> for CountK {
    const INIT: V = V::ZERO;
    #[inline(always)]
    fn update(_: &mut V, _: &mut f64, _: u32, _: V) {}
}

impl<V: TimelineValue> Kernel<V> for FirstK {
    const INIT: V = V::ZERO;
    #[inline(always)]
    fn update(a: &mut V, _: &mut f64, n: u32, v: V) {
        if n == 0 {
            *a = v
        }
    }
}

impl<V: TimelineValue> Kernel<V> for LastK {
    const INIT: V = V::ZERO;
    #[inline(always)]
    fn update(a: &mut V, _: &mut f64, _: u32, v: V) {
        *a = v
    }
}

impl Kernel<f64> for DevK {
    const INIT: f64 = 0.0;
    #[inline(always)]
    fn update(a: &mut f64, b: &mut f64, n: u32, v: f64) {
        // Welford: a = running mean, b = M2.
        let n1 = (n + 1) as f64;
        let delta = v - *a;
        *a += delta / n1;
        *b += delta * (v - *a);
    }
}

/// A loop to run with the kernel of an aggregator ([`AccValue::dispatch`]).
pub trait KernelLoop<V> {
    /// What the loop returns.
    type Out;
    /// Runs the loop monomorphized for kernel `K`.
    fn run<K: Kernel<V>>(self) -> Self::Out;
}

/// A value type [`Accumulators`] can hold: which aggregators it runs, and
/// how their state finishes.
pub trait AccValue: TimelineValue {
    /// True when `agg` can be accumulated over this type.
    fn accumulates(agg: Aggregator) -> bool;
    /// Runs `l` with the kernel of `agg` (one of [`accumulates`](Self::accumulates)).
    fn dispatch<L: KernelLoop<Self>>(agg: Aggregator, l: L) -> L::Out;
    /// The aggregate from the state of a slot with `n > 0` values.
    fn finish(agg: Aggregator, a: Self, b: f64, n: u32) -> Self;
}

impl AccValue for f64 {
    fn accumulates(agg: Aggregator) -> bool {
        agg.is_incremental()
    }

    #[inline(always)]
    fn dispatch<L: KernelLoop<f64>>(agg: Aggregator, l: L) -> L::Out {
        use Aggregator::*;
        match agg {
            Sum | Avg | ZimSum | PfSum => l.run::<SumK>(),
            Min | MimMin => l.run::<MinK>(),
            Max | MimMax => l.run::<MaxK>(),
            Count => l.run::<CountK>(),
            First => l.run::<FirstK>(),
            Last => l.run::<LastK>(),
            Dev => l.run::<DevK>(),
            Percentile(_) => unreachable!("rejected in Accumulators::typed"),
        }
    }

    #[inline]
    fn finish(agg: Aggregator, a: f64, b: f64, n: u32) -> f64 {
        match agg {
            Aggregator::Avg => a / n as f64,
            Aggregator::Count => n as f64,
            Aggregator::Dev => (b / n as f64).sqrt(),
            _ => a,
        }
    }
}

/// The selectors over an integer type.
fn dispatch_selector<V: TimelineValue, L: KernelLoop<V>>(agg: Aggregator, l: L) -> L::Out {
    use Aggregator::*;
    match agg {
        Min | MimMin => l.run::<MinK>(),
        Max | MimMax => l.run::<MaxK>(),
        First => l.run::<FirstK>(),
        Last => l.run::<LastK>(),
        _ => unreachable!("rejected in Accumulators::typed"),
    }
}

macro_rules! integer_acc_value {
    ($t:ty) => {
        impl AccValue for $t {
            fn accumulates(agg: Aggregator) -> bool {
                selects(agg)
            }

            #[inline(always)]
            fn dispatch<L: KernelLoop<$t>>(agg: Aggregator, l: L) -> L::Out {
                dispatch_selector(agg, l)
            }

            #[inline]
            fn finish(_: Aggregator, a: $t, _: f64, _: u32) -> $t {
                a
            }
        }
    };
}

integer_acc_value!(i64);
integer_acc_value!(u64);

/// [`Accumulators::update_timeline_with`]'s loop, for one kernel.
struct RunLoop<'s, 't, V: AccValue, F> {
    acc: &'s mut Accumulators<V>,
    values: &'t [V],
    timeline: Option<&'t Timeline<'t, V>>,
    slot_of: F,
}

impl<V: AccValue, F: Fn(usize) -> usize> KernelLoop<V> for RunLoop<'_, '_, V, F> {
    type Out = ();
    #[inline(always)]
    fn run<K: Kernel<V>>(self) {
        self.acc
            .run::<K, F>(self.values, self.timeline, self.slot_of)
    }
}

/// [`Accumulators::fold_until`]'s loop, for one kernel.
struct FoldLoop<'s, 't, V: AccValue> {
    acc: &'s mut Accumulators<V>,
    slot: usize,
    segment: &'t Timeline<'t, V>,
    last: i64,
    has_nulls: bool,
}

impl<V: AccValue> KernelLoop<V> for FoldLoop<'_, '_, V> {
    type Out = usize;
    #[inline(always)]
    fn run<K: Kernel<V>>(self) -> usize {
        if self.has_nulls {
            self.acc.fold::<K, true>(self.slot, self.segment, self.last)
        } else {
            self.acc
                .fold::<K, false>(self.slot, self.segment, self.last)
        }
    }
}

impl Accumulators<f64> {
    /// `slots` empty f64 accumulators for `agg`; fails for the percentiles,
    /// which are not incremental.
    pub fn new(agg: Aggregator, slots: usize) -> Result<Self> {
        Self::typed(agg, slots)
    }
}

impl<V: AccValue> Accumulators<V> {
    /// `slots` empty accumulators of `V` values for `agg`; fails when `agg`
    /// cannot run over `V` (the percentiles never, the aggregators that
    /// compute over the integers).
    pub fn typed(agg: Aggregator, slots: usize) -> Result<Self> {
        if !V::accumulates(agg) {
            return Err(EngineError::InvalidArgument(format!(
                "{agg} cannot be accumulated over {} values",
                V::VALUE_TYPE
            )));
        }
        let mut acc = Accumulators {
            agg,
            n: Vec::new(),
            flags: Vec::new(),
            a: Vec::new(),
            b: Vec::new(),
        };
        acc.resize(slots);
        Ok(acc)
    }

    /// The aggregator.
    pub fn aggregator(&self) -> Aggregator {
        self.agg
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.n.len()
    }

    /// True when there are no slots.
    pub fn is_empty(&self) -> bool {
        self.n.is_empty()
    }

    fn init(&self) -> V {
        match self.agg {
            Aggregator::Min | Aggregator::MimMin => V::HIGHEST,
            Aggregator::Max | Aggregator::MimMax => V::LOWEST,
            _ => V::ZERO,
        }
    }

    /// Grows (new slots empty) or truncates to `slots`.
    pub fn resize(&mut self, slots: usize) {
        let init = self.init();
        self.n.resize(slots, 0);
        self.flags.resize(slots, 0);
        self.a.resize(slots, init);
        if self.agg == Aggregator::Dev {
            self.b.resize(slots, 0.0);
        }
    }

    /// Empties every slot, keeping the allocation.
    pub fn reset(&mut self) {
        let init = self.init();
        self.n.fill(0);
        self.flags.fill(0);
        self.a.fill(init);
        self.b.fill(0.0);
    }

    /// Bytes held by the state.
    pub fn memory_size(&self) -> usize {
        self.n.capacity() * 4
            + self.flags.capacity()
            + self.a.capacity() * std::mem::size_of::<V>()
            + self.b.capacity() * 8
    }

    /// Folds one value into `slot`.
    #[inline]
    pub fn update(&mut self, slot: usize, value: V) {
        self.update_timeline_with(
            &[value],
            None::<&Timeline<'_, V>>,
            #[inline(always)]
            |_| slot,
        )
    }

    /// Records a null input in `slot` (it yields null if nothing else comes).
    #[inline]
    pub fn update_null(&mut self, slot: usize) {
        self.flags[slot] |= SEEN;
    }

    /// Folds point `i` of `timeline` into slot `slot_of(i)`, for every point.
    /// `slot_of` must return slots `< len()`.
    pub fn update_timeline<F: Fn(usize) -> usize>(
        &mut self,
        timeline: &Timeline<'_, V>,
        slot_of: F,
    ) {
        self.update_timeline_with(timeline.values, Some(timeline), slot_of)
    }

    fn update_timeline_with<F: Fn(usize) -> usize>(
        &mut self,
        values: &[V],
        timeline: Option<&Timeline<'_, V>>,
        slot_of: F,
    ) {
        let agg = self.agg;
        V::dispatch(
            agg,
            RunLoop {
                acc: self,
                values,
                timeline,
                slot_of,
            },
        )
    }

    #[inline(always)]
    fn run<K: Kernel<V>, F: Fn(usize) -> usize>(
        &mut self,
        values: &[V],
        timeline: Option<&Timeline<'_, V>>,
        slot_of: F,
    ) {
        let all_valid = timeline.is_none_or(|t| t.all_valid());
        let mut dummy = 0.0;
        let dev = !self.b.is_empty();
        for (i, &v) in values.iter().enumerate() {
            let s = slot_of(i);
            if !all_valid && !timeline.is_some_and(|t| t.is_valid(i)) {
                self.flags[s] |= SEEN;
                continue;
            }
            if v.is_nan() {
                self.flags[s] |= SEEN | SEEN_NAN;
                continue;
            }
            self.flags[s] |= SEEN;
            let b = if dev { &mut self.b[s] } else { &mut dummy };
            K::update(&mut self.a[s], b, self.n[s], v);
            self.n[s] += 1;
        }
    }

    /// Folds every point of `segment` into the one slot `slot`, in order.
    ///
    /// The same result as [`update_timeline`](Self::update_timeline) with a
    /// constant slot, bit for bit (values are folded one after the other in
    /// the same order), but the slot's state stays in registers for the whole
    /// segment and the null bitmap is not read when the segment has no null.
    pub fn fold_segment(&mut self, slot: usize, segment: &Timeline<'_, V>) {
        self.fold_until(slot, segment, None, !segment.all_valid());
    }

    /// Folds the leading points of `segment` with a time before `end`
    /// (`None`: every point) into `slot`, in order, and returns how many it
    /// folded: the kernel `DsAggOp` runs per bucket, which finds the bucket's
    /// end and aggregates its points in one pass over the time-sorted run.
    /// `has_nulls` false promises that no point of `segment` is null, so the
    /// bitmap is not read; true reads it per point.
    pub fn fold_until(
        &mut self,
        slot: usize,
        segment: &Timeline<'_, V>,
        end: Option<i64>,
        has_nulls: bool,
    ) -> usize {
        // Inclusive last time, so that `None` can be i64::MAX.
        let last = end.map_or(i64::MAX, |e| e.saturating_sub(1));
        if end.is_some_and(|e| e == i64::MIN) {
            return 0;
        }
        let agg = self.agg;
        V::dispatch(
            agg,
            FoldLoop {
                acc: self,
                slot,
                segment,
                last,
                has_nulls,
            },
        )
    }

    /// The loop of [`fold_until`](Self::fold_until) for one kernel.
    #[inline(always)]
    fn fold<K: Kernel<V>, const NULLS: bool>(
        &mut self,
        s: usize,
        segment: &Timeline<'_, V>,
        last: i64,
    ) -> usize {
        let dev = !self.b.is_empty();
        let (mut a, mut b, mut n) = (self.a[s], if dev { self.b[s] } else { 0.0 }, self.n[s]);
        let mut nan = false;
        let mut k = 0;
        for (&t, &v) in segment.times.iter().zip(segment.values) {
            if t > last {
                break;
            }
            if NULLS && !segment.is_valid(k) {
                k += 1;
                continue;
            }
            k += 1;
            if v.is_nan() {
                nan = true;
                continue;
            }
            K::update(&mut a, &mut b, n, v);
            n += 1;
        }
        if k > 0 {
            self.a[s] = a;
            if dev {
                self.b[s] = b;
            }
            self.n[s] = n;
            self.flags[s] |= SEEN | if nan { SEEN_NAN } else { 0 };
        }
        k
    }

    /// The aggregate of `slot` (as [`result`](Self::result)), emptying it.
    #[inline]
    pub fn take(&mut self, slot: usize) -> Option<Option<V>> {
        let result = self.result(slot);
        self.n[slot] = 0;
        self.flags[slot] = 0;
        self.a[slot] = self.init();
        if let Some(b) = self.b.get_mut(slot) {
            *b = 0.0;
        }
        result
    }

    /// The raw state of `slot`, for partial aggregation
    /// (`crate::partial`): `None` without input, else
    /// `(values counted, a NaN seen, a, b)` where `a` is the sum, min, max,
    /// first, last or running mean and `b` Welford's M2 (dev only; else 0).
    #[inline]
    pub fn raw(&self, slot: usize) -> Option<(u32, bool, V, f64)> {
        let flags = self.flags[slot];
        if flags & SEEN == 0 {
            return None;
        }
        let b = self.b.get(slot).copied().unwrap_or(0.0);
        Some((self.n[slot], flags & SEEN_NAN != 0, self.a[slot], b))
    }

    /// True when `slot` received any input (so it yields a row).
    #[inline]
    pub fn has_input(&self, slot: usize) -> bool {
        self.flags[slot] & SEEN != 0
    }

    /// The aggregate of `slot`: `None` without input, `Some(None)` for null.
    pub fn result(&self, slot: usize) -> Option<Option<V>> {
        self.state_result(&self.state(slot))
    }
}

/// The `q`-quantile (`0 < q <= 1`) of `values` by the estimator OpenTSDB
/// uses (Apache Commons Math `Percentile`, legacy estimation): position
/// `q * (n + 1)`, linear between the neighbouring order statistics, clamped
/// to the smallest / largest value. NaN values are skipped; `None` when no
/// value is left. Reorders `values`.
pub fn percentile(values: &mut Vec<f64>, q: f64) -> Option<f64> {
    values.retain(|v| !v.is_nan());
    let n = values.len();
    if n == 0 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    if n == 1 {
        return Some(values[0]);
    }
    let pos = q * (n as f64 + 1.0);
    if pos < 1.0 {
        return Some(values[0]);
    }
    if pos >= n as f64 {
        return Some(values[n - 1]);
    }
    let fpos = pos.floor();
    let lower = values[fpos as usize - 1];
    let upper = values[fpos as usize];
    Some(lower + (pos - fpos) * (upper - lower))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(agg: Aggregator, vals: &[f64]) -> Option<Option<f64>> {
        let mut acc = Accumulators::new(agg, 1).unwrap();
        for &v in vals {
            acc.update(0, v);
        }
        acc.result(0)
    }

    #[test]
    fn incremental_aggregates_by_hand() {
        let v = [2.0, f64::NAN, 4.0, 9.0];
        assert_eq!(run(Aggregator::Sum, &v), Some(Some(15.0)));
        assert_eq!(run(Aggregator::Avg, &v), Some(Some(5.0)));
        assert_eq!(run(Aggregator::Min, &v), Some(Some(2.0)));
        assert_eq!(run(Aggregator::Max, &v), Some(Some(9.0)));
        assert_eq!(run(Aggregator::Count, &v), Some(Some(3.0)));
        assert_eq!(
            run(Aggregator::First, &[f64::NAN, 7.0, 8.0]),
            Some(Some(7.0))
        );
        assert_eq!(
            run(Aggregator::Last, &[7.0, 8.0, f64::NAN]),
            Some(Some(8.0))
        );
        // population stddev of 2, 4, 9: mean 5, squares 9 + 1 + 16 = 26, /3
        let dev = run(Aggregator::Dev, &v).unwrap().unwrap();
        assert!((dev - (26.0f64 / 3.0).sqrt()).abs() < 1e-12, "{dev}");
        assert_eq!(run(Aggregator::Dev, &[3.0]), Some(Some(0.0)));
    }

    #[test]
    fn nan_null_and_empty_slots() {
        assert!(run(Aggregator::Sum, &[f64::NAN, f64::NAN])
            .unwrap()
            .unwrap()
            .is_nan());
        assert!(run(Aggregator::Count, &[f64::NAN])
            .unwrap()
            .unwrap()
            .is_nan());
        assert_eq!(run(Aggregator::Sum, &[]), None);
        let mut acc = Accumulators::new(Aggregator::Max, 2).unwrap();
        acc.update_null(1);
        assert_eq!(acc.result(1), Some(None));
        acc.update(1, f64::NAN);
        assert!(acc.result(1).unwrap().unwrap().is_nan());
        acc.update(1, -3.0);
        assert_eq!(acc.result(1), Some(Some(-3.0)));
        assert_eq!(acc.result(0), None);
        acc.reset();
        assert_eq!(acc.result(1), None);
    }

    use crate::batch::TimelineBatch;
    use crate::registry::{SeriesInfo, SeriesRegistry};
    use arrow::buffer::NullBuffer;
    use std::sync::Arc;

    /// One timeline `times`/`values`, `None` values null.
    fn timeline(times: &[i64], values: &[Option<f64>]) -> TimelineBatch {
        let registry = Arc::new(SeriesRegistry::new(vec![SeriesInfo::new("m", &[], "v")]));
        let nulls = NullBuffer::from(values.iter().map(Option::is_some).collect::<Vec<_>>());
        let vals = values.iter().map(|v| v.unwrap_or(0.0)).collect();
        TimelineBatch::from_columns(
            vec![0; times.len()],
            times.to_vec(),
            vals,
            Some(nulls),
            registry,
        )
        .unwrap()
    }

    #[test]
    fn fold_until_stops_at_the_bucket_end() {
        // Buckets [0, 10) and [10, 20): 1, NaN | 2, 4 (t = 10 is the boundary).
        let batch = timeline(
            &[0, 5, 10, 15],
            &[Some(1.0), Some(f64::NAN), Some(2.0), Some(4.0)],
        );
        let tl = batch.timeline(0);
        let mut acc = Accumulators::new(Aggregator::Sum, 2).unwrap();
        assert_eq!(acc.fold_until(0, &tl, Some(10), false), 2);
        assert_eq!(acc.fold_until(1, &tl.slice(2, 4), Some(20), false), 2);
        // 1 (NaN skipped); 2 + 4
        assert_eq!(
            (acc.result(0), acc.result(1)),
            (Some(Some(1.0)), Some(Some(6.0)))
        );
        // A point at the end itself is not folded; no end folds to i64::MAX.
        let edge = timeline(&[i64::MAX - 1, i64::MAX], &[Some(3.0), Some(5.0)]);
        assert_eq!(
            acc.fold_until(0, &edge.timeline(0), Some(i64::MAX), false),
            1
        );
        assert_eq!(acc.fold_until(1, &edge.timeline(0), None, false), 2);
        // slot 0: 1 + 3; slot 1: 6 + 3 + 5
        assert_eq!(
            (acc.take(0), acc.take(1)),
            (Some(Some(4.0)), Some(Some(14.0)))
        );
        assert_eq!((acc.result(0), acc.result(1)), (None, None));
    }

    #[test]
    fn fold_until_reads_nulls_only_when_told() {
        let batch = timeline(&[0, 1, 2, 3], &[None, Some(f64::NAN), None, None]);
        let tl = batch.timeline(0);
        let mut acc = Accumulators::new(Aggregator::Max, 2).unwrap();
        // null, NaN -> NaN; null, null -> null
        assert_eq!(acc.fold_until(0, &tl.slice(0, 2), None, true), 2);
        assert_eq!(acc.fold_until(1, &tl.slice(2, 4), None, true), 2);
        assert!(acc.result(0).unwrap().unwrap().is_nan());
        assert_eq!(acc.result(1), Some(None));
        // Without the bitmap, the nulls' slots (0.0) count: max(0, 0) = 0.
        acc.reset();
        assert_eq!(acc.fold_until(1, &tl.slice(2, 4), None, false), 2);
        assert_eq!(acc.result(1), Some(Some(0.0)));
    }

    #[test]
    fn fold_segment_equals_one_update_per_point() {
        // A timeline spread over three segments, as over three batches.
        let values = [
            Some(2.0),
            None,
            Some(f64::NAN),
            Some(4.0),
            Some(9.0),
            Some(-1.0),
        ];
        let batch = timeline(&[0, 1, 2, 3, 4, 5], &values);
        let tl = batch.timeline(0);
        for agg in crate::materialize::test_support::all_aggregators() {
            let Ok(mut one) = Accumulators::new(agg, 1) else {
                continue; // percentiles
            };
            let mut seg = one.clone();
            for v in values {
                match v {
                    Some(v) => one.update(0, v),
                    None => one.update_null(0),
                }
            }
            for (a, b) in [(0, 2), (2, 3), (3, 6)] {
                seg.fold_segment(0, &tl.slice(a, b));
            }
            let bits = |r: Option<Option<f64>>| r.map(|v| v.map(f64::to_bits));
            assert_eq!(bits(seg.result(0)), bits(one.result(0)), "{agg}");
        }
    }

    /// i64 / u64 selectors are exact where f64 is not (2^53 + 1 and 2^53
    /// are one f64), from one value at a time and from a segment alike;
    /// the aggregators that compute refuse integer state.
    #[test]
    fn integer_selectors_are_exact() {
        const B: i64 = 9_007_199_254_740_992;
        let values = [B, B + 1, i64::MIN, B - 1, i64::MAX, B + 1];
        let batch = TimelineBatch::from_typed_columns(
            vec![0; values.len()],
            (0..values.len() as i64).collect(),
            values.to_vec(),
            None,
            Arc::clone(timeline(&[], &[]).registry()),
        )
        .unwrap();
        let tl = batch.timelines_as::<i64>().unwrap().next().unwrap();
        for (agg, want) in [
            (Aggregator::Max, i64::MAX),
            (Aggregator::Min, i64::MIN),
            (Aggregator::First, B),
            (Aggregator::Last, B + 1),
            (Aggregator::MimMin, i64::MIN),
        ] {
            let mut one = Accumulators::<i64>::typed(agg, 1).unwrap();
            for v in values {
                one.update(0, v);
            }
            assert_eq!(one.result(0), Some(Some(want)), "{agg}");
            let mut seg = Accumulators::<i64>::typed(agg, 1).unwrap();
            seg.fold_segment(0, &tl.slice(0, 3));
            seg.fold_segment(0, &tl.slice(3, 6));
            assert_eq!(seg.take(0), Some(Some(want)), "{agg}");
            assert_eq!(seg.result(0), None);
        }
        // max of 2^53 and 2^53 + 1: the larger, which f64 cannot tell
        let mut max = Accumulators::<i64>::typed(Aggregator::Max, 1).unwrap();
        max.update(0, B + 1);
        max.update(0, B);
        assert_eq!(max.result(0), Some(Some(B + 1)));
        let mut u = Accumulators::<u64>::typed(Aggregator::Min, 2).unwrap();
        u.update(0, u64::MAX);
        u.update(0, u64::MAX - 1);
        u.update_null(1);
        assert_eq!(
            (u.result(0), u.result(1)),
            (Some(Some(u64::MAX - 1)), Some(None))
        );
        for agg in [
            Aggregator::Sum,
            Aggregator::Avg,
            Aggregator::Count,
            Aggregator::Dev,
        ] {
            let e = Accumulators::<i64>::typed(agg, 1).unwrap_err().to_string();
            assert!(
                e.contains("cannot be accumulated over integer values"),
                "{e}"
            );
        }
    }

    #[test]
    fn percentiles_follow_commons_math_legacy() {
        // n = 4, p50: pos = 2.5 -> 2 + 0.5 * (3 - 2)
        assert_eq!(percentile(&mut vec![4.0, 1.0, 3.0, 2.0], 0.5), Some(2.5));
        // p90 of 1..=4: pos = 4.5 >= n -> max
        assert_eq!(percentile(&mut vec![1.0, 2.0, 3.0, 4.0], 0.9), Some(4.0));
        // p75 of 1..=4: pos = 3.75 -> 3 + 0.75
        assert_eq!(percentile(&mut vec![1.0, 2.0, 3.0, 4.0], 0.75), Some(3.75));
        // p50 of 10, 20, 30: pos = 2 -> 20
        assert_eq!(percentile(&mut vec![30.0, 10.0, 20.0], 0.5), Some(20.0));
        assert_eq!(percentile(&mut vec![f64::NAN], 0.5), None);
        assert!(Accumulators::new(Aggregator::Percentile(500), 1).is_err());
    }
}
