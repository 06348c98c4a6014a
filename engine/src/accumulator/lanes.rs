//! Folding several segments side by side, each into its own slot state.
//!
//! The fold of one bucket is a chain of dependent updates (`a += v` for a
//! sum): one segment at a time, it runs at the latency of that chain. The
//! buckets of a timeline are independent chains, so [`Accumulators::fold_lanes`]
//! advances up to a few of them point by point in the same loop: the
//! processor overlaps their updates, while every bucket is still folded
//! value after value, in time order, from its own starting state, so the
//! results are bit-identical to [`Accumulators::fold_until`] on each
//! segment (`docs/architecture.md`, "Folding buckets side by side").

use super::{AccValue, Accumulators, Kernel, KernelLoop, SEEN, SEEN_NAN};

/// The state of one accumulator slot, held by value while segments are
/// folded into it ([`Accumulators::fold_lanes`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlotState<V> {
    /// sum / min / max / running mean / first / last, by aggregator.
    a: V,
    /// Welford's M2 for `dev`; 0 otherwise.
    b: f64,
    /// Non-NaN, non-null values seen.
    n: u32,
    flags: u8,
}

impl<V: AccValue> Accumulators<V> {
    /// The state of an empty slot.
    pub fn empty_state(&self) -> SlotState<V> {
        SlotState {
            a: self.init(),
            b: 0.0,
            n: 0,
            flags: 0,
        }
    }

    /// A copy of the state of `slot`.
    #[inline]
    pub fn state(&self, slot: usize) -> SlotState<V> {
        SlotState {
            a: self.a[slot],
            b: self.b.get(slot).copied().unwrap_or(0.0),
            n: self.n[slot],
            flags: self.flags[slot],
        }
    }

    /// Replaces the state of `slot` with `state`.
    #[inline]
    pub fn set_state(&mut self, slot: usize, state: SlotState<V>) {
        self.a[slot] = state.a;
        if let Some(b) = self.b.get_mut(slot) {
            *b = state.b;
        }
        self.n[slot] = state.n;
        self.flags[slot] = state.flags;
    }

    /// The aggregate of a slot holding `state` (as
    /// [`result`](Self::result)): `None` without input, `Some(None)` for
    /// null.
    #[inline]
    pub fn state_result(&self, state: &SlotState<V>) -> Option<Option<V>> {
        if state.flags & SEEN == 0 {
            return None;
        }
        if state.n == 0 {
            return Some(V::nan().filter(|_| state.flags & SEEN_NAN != 0));
        }
        Some(Some(V::finish(self.agg, state.a, state.b, state.n)))
    }

    /// Folds every value of `segments[j]` into `states[j]`, for each `j`,
    /// the segments side by side. No value may be null (the segments are
    /// value slices; a null's slot would count). Each state receives its
    /// segment's values in order, exactly as
    /// [`fold_until`](Self::fold_until) would, so the results are the same
    /// bit for bit; only the segments' chains overlap.
    pub fn fold_lanes<const L: usize>(&self, states: &mut [SlotState<V>; L], segments: [&[V]; L]) {
        V::dispatch(self.agg, LaneLoop { states, segments })
    }
}

/// [`Accumulators::fold_lanes`]'s loop, for one kernel.
struct LaneLoop<'s, 'v, V, const L: usize> {
    states: &'s mut [SlotState<V>; L],
    segments: [&'v [V]; L],
}

impl<V: AccValue, const L: usize> KernelLoop<V> for LaneLoop<'_, '_, V, L> {
    type Out = ();
    #[inline(always)]
    fn run<K: Kernel<V>>(self) {
        fold_side_by_side::<V, K, L>(self.states, self.segments)
    }
}

/// One value into one lane: NaN only marks the lane.
#[inline(always)]
fn step<V: AccValue, K: Kernel<V>>(a: &mut V, b: &mut f64, n: &mut u32, nan: &mut bool, v: V) {
    if v.is_nan() {
        *nan = true;
    } else {
        K::update(a, b, *n, v);
        *n += 1;
    }
}

/// Folds `segment` into `state` value by value, skipping NaN: the
/// reference order of every fold.
#[inline(never)]
fn fold_checked<V: AccValue, K: Kernel<V>>(state: SlotState<V>, segment: &[V]) -> SlotState<V> {
    let SlotState {
        mut a,
        mut b,
        mut n,
        flags,
    } = state;
    let mut nan = false;
    for &v in segment {
        step::<V, K>(&mut a, &mut b, &mut n, &mut nan, v);
    }
    let seen = if segment.is_empty() { 0 } else { SEEN };
    let nan_seen = if nan { SEEN_NAN } else { 0 };
    SlotState {
        a,
        b,
        n,
        flags: flags | seen | nan_seen,
    }
}

/// The segments' common length point by point across the lanes, then the
/// rest of each lane on its own.
///
/// Optimistic: the loop updates with every value, NaN included, so that
/// the lanes' chains hold nothing but the kernel's update. A lane that saw a
/// NaN (for a sum, whose `a` a NaN keeps NaN: a lane ending NaN) is folded
/// again from its starting state by [`fold_checked`], which skips NaN; a
/// lane without NaN received exactly the updates `fold_checked` would make,
/// in the same order.
#[inline(always)]
fn fold_side_by_side<V: AccValue, K: Kernel<V>, const L: usize>(
    states: &mut [SlotState<V>; L],
    segments: [&[V]; L],
) {
    let common = segments.iter().map(|s| s.len()).min().unwrap_or(0);
    let heads = segments.map(|s| &s[..common]);
    let mut a = states.map(|s| s.a);
    let mut b = states.map(|s| s.b);
    let mut n = states.map(|s| s.n);
    let mut nan = [false; L];
    // The lanes advance together by index: this shape compiles to one
    // unrolled loop of the lanes' updates (checked with `perf annotate`).
    #[allow(clippy::needless_range_loop)]
    for k in 0..common {
        for j in 0..L {
            let v = heads[j][k];
            if !K::NAN_STICKS {
                nan[j] |= v.is_nan();
            }
            K::update(&mut a[j], &mut b[j], n[j], v);
            n[j] += 1;
        }
    }
    for j in 0..L {
        for &v in &segments[j][common..] {
            if !K::NAN_STICKS {
                nan[j] |= v.is_nan();
            }
            K::update(&mut a[j], &mut b[j], n[j], v);
            n[j] += 1;
        }
        let suspect = if K::NAN_STICKS { a[j].is_nan() } else { nan[j] };
        states[j] = if suspect {
            fold_checked::<V, K>(states[j], segments[j])
        } else {
            let seen = if segments[j].is_empty() { 0 } else { SEEN };
            SlotState {
                a: a[j],
                b: b[j],
                n: n[j],
                flags: states[j].flags | seen,
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::TimelineBatch;
    use crate::registry::{SeriesInfo, SeriesRegistry};
    use crate::spec::Aggregator;
    use std::sync::Arc;

    use crate::test_rng::Lcg;

    use crate::accumulator::INCREMENTAL as AGGS;

    /// A random value: mostly finite with a fraction, sometimes NaN or an
    /// infinity (a sum of +inf and -inf is NaN without a NaN input).
    fn value(rng: &mut Lcg) -> f64 {
        match rng.below(40) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            _ => (rng.below(1 << 20) as f64 - 5e5) / 7.0,
        }
    }

    /// `segment` as a one-timeline batch (no nulls).
    fn batch<V: AccValue>(segment: &[V]) -> TimelineBatch {
        let registry = Arc::new(SeriesRegistry::new(vec![SeriesInfo::new("m", &[], "v")]));
        TimelineBatch::from_typed_columns(
            vec![0; segment.len()],
            (0..segment.len() as i64).collect(),
            segment.to_vec(),
            None,
            registry,
        )
        .unwrap()
    }

    /// The state `fold_until` leaves in a slot that held `start`.
    fn reference<V: AccValue>(
        acc: &mut Accumulators<V>,
        start: SlotState<V>,
        segment: &[V],
    ) -> SlotState<V> {
        acc.set_state(0, start);
        let b = batch(segment);
        let tl = b.timelines_as::<V>().unwrap().next();
        if let Some(tl) = tl {
            assert_eq!(acc.fold_until(0, &tl, None, false), segment.len());
        }
        acc.state(0)
    }

    fn bits(s: SlotState<f64>) -> (u64, u64, u32, u8) {
        (s.a.to_bits(), s.b.to_bits(), s.n, s.flags)
    }

    /// Lanes of random lengths (some empty), some starting from a state
    /// already holding values: every lane's state is `fold_until`'s, bit
    /// for bit, NaN and infinities included.
    #[test]
    fn lanes_equal_fold_until_bit_for_bit() {
        let mut rng = Lcg(0x1a9e5);
        for case in 0..300 {
            let agg = AGGS[case % AGGS.len()];
            let mut acc = Accumulators::new(agg, 1).unwrap();
            let lengths: [usize; 4] =
                std::array::from_fn(|_| [0, 1, 2, 7, 359, 360, 361][rng.below(7) as usize]);
            let data: Vec<Vec<f64>> = lengths
                .iter()
                .map(|&n| (0..n).map(|_| value(&mut rng)).collect())
                .collect();
            // Lane 0 continues a bucket that already has values.
            let prefix: Vec<f64> = (0..rng.below(3)).map(|_| value(&mut rng)).collect();
            let empty = acc.empty_state();
            let start0 = reference(&mut acc, empty, &prefix);
            let mut states = [start0, empty, empty, empty];
            let expected: Vec<_> = (0..4)
                .map(|j| reference(&mut acc, states[j], &data[j]))
                .collect();
            acc.fold_lanes(&mut states, std::array::from_fn(|j| &data[j][..]));
            for j in 0..4 {
                assert_eq!(
                    bits(states[j]),
                    bits(expected[j]),
                    "case {case} {agg} lane {j}"
                );
                let result = |s: &SlotState<f64>| acc.state_result(s).map(|v| v.map(f64::to_bits));
                assert_eq!(result(&states[j]), result(&expected[j]));
            }
            // Fewer lanes take the same path.
            let mut two = [start0, empty];
            acc.fold_lanes(&mut two, [&data[0][..], &data[1][..]]);
            assert_eq!(bits(two[0]), bits(expected[0]), "case {case} {agg}");
            assert_eq!(bits(two[1]), bits(expected[1]), "case {case} {agg}");
        }
    }

    /// Integer selectors stay exact side by side: values around 2^53,
    /// where f64 would merge neighbours.
    #[test]
    fn integer_lanes_are_exact() {
        const B: i64 = 9_007_199_254_740_992;
        let mut rng = Lcg(7);
        for agg in [
            Aggregator::Min,
            Aggregator::Max,
            Aggregator::First,
            Aggregator::Last,
        ] {
            let mut acc = Accumulators::<i64>::typed(agg, 1).unwrap();
            let data: Vec<Vec<i64>> = (0..3)
                .map(|_| (0..50).map(|_| B - 8 + rng.below(17) as i64).collect())
                .collect();
            let empty = acc.empty_state();
            let mut states = [empty; 3];
            acc.fold_lanes(&mut states, std::array::from_fn(|j| &data[j][..]));
            for j in 0..3 {
                let want = match agg {
                    Aggregator::Min => *data[j].iter().min().unwrap(),
                    Aggregator::Max => *data[j].iter().max().unwrap(),
                    Aggregator::First => data[j][0],
                    _ => data[j][49],
                };
                assert_eq!(acc.state_result(&states[j]), Some(Some(want)), "{agg}");
                assert_eq!(states[j], reference(&mut acc, empty, &data[j]));
            }
        }
    }

    /// By hand: a NaN in a sum's lane is skipped (the lane is folded
    /// again), an all-NaN lane gives NaN, an empty lane no row.
    #[test]
    fn nan_lanes_by_hand() {
        let acc = Accumulators::new(Aggregator::Sum, 1).unwrap();
        let e = acc.empty_state();
        let mut states = [e; 4];
        let nan = f64::NAN;
        acc.fold_lanes(
            &mut states,
            [&[1.0, nan, 2.5][..], &[nan, nan][..], &[][..], &[4.0][..]],
        );
        assert_eq!(acc.state_result(&states[0]), Some(Some(3.5)));
        assert!(acc.state_result(&states[1]).unwrap().unwrap().is_nan());
        assert_eq!(acc.state_result(&states[2]), None);
        assert_eq!(acc.state_result(&states[3]), Some(Some(4.0)));
        let max = Accumulators::new(Aggregator::Max, 1).unwrap();
        let mut m = [max.empty_state(); 2];
        max.fold_lanes(&mut m, [&[nan, -3.0][..], &[2.0, nan, 1.0][..]]);
        assert_eq!(max.state_result(&m[0]), Some(Some(-3.0)));
        assert_eq!(max.state_result(&m[1]), Some(Some(2.0)));
    }
}
