//! The numeric types a timeline's values can have, and how each maps to
//! Arrow (`docs/architecture.md`, "Timeline batches"; `docs/semantics.md`
//! §12 for what the aggregators do with integers).
//!
//! A [`TimelineBatch`](crate::TimelineBatch)'s `value` column is `Float64`,
//! `Int64` or `UInt64`: the stored type of the field (booleans read as
//! floats, 0 and 1). Code that is generic over the value type is written
//! over [`TimelineValue`], so each type gets its own monomorphized loop, as
//! arrow-rs kernels are generic over `ArrowPrimitiveType`; nothing
//! dispatches per value.

use std::fmt::Debug;

use arrow::datatypes::{
    ArrowNativeType, ArrowPrimitiveType, DataType, Float64Type, Int64Type, UInt64Type,
};

use crate::spec::{Aggregator, Downsample, FillPolicy, Interval};
use crate::storage::ValueType;

/// 2^63, exactly.
const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;

/// A native value type of a timeline: `f64`, `i64` or `u64`.
pub trait TimelineValue: ArrowNativeType + PartialOrd + Debug + Send + Sync + 'static {
    /// The Arrow type whose native type this is.
    type Arrow: ArrowPrimitiveType<Native = Self>;
    /// The stored field type it represents.
    const VALUE_TYPE: ValueType;
    /// The value as f64 (rounded to nearest beyond 2^53 for integers).
    fn to_f64(self) -> f64;
    /// True when the value is NaN (never for integers).
    fn is_nan(self) -> bool;
    /// Zero.
    const ZERO: Self;
    /// The least value (`max` of nothing starts here): -inf for f64.
    const LOWEST: Self;
    /// The greatest value (`min` of nothing starts here): +inf for f64.
    const HIGHEST: Self;
    /// NaN for f64; `None` for the integers, which have none.
    fn nan() -> Option<Self>;
    /// `x` converted as Rust's `as` does (toward zero, saturating). Only
    /// the f64 paths that compute (a linear fill, a percentile) call it,
    /// and [`output_value_type`] never sends integers there: it is the
    /// identity for f64.
    fn from_f64(x: f64) -> Self;
    /// `x` as this type when it is one exactly (a whole number in range),
    /// else `None`; any f64 for f64.
    fn exact_from_f64(x: f64) -> Option<Self>;
}

impl TimelineValue for f64 {
    type Arrow = Float64Type;
    const VALUE_TYPE: ValueType = ValueType::Float;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    const ZERO: f64 = 0.0;
    const LOWEST: f64 = f64::NEG_INFINITY;
    const HIGHEST: f64 = f64::INFINITY;
    fn nan() -> Option<f64> {
        Some(f64::NAN)
    }
    #[inline(always)]
    fn from_f64(x: f64) -> f64 {
        x
    }
    fn exact_from_f64(x: f64) -> Option<f64> {
        Some(x)
    }
}

/// The integer impls of [`TimelineValue`]: `$ty` as Arrow's `$arrow`,
/// stored as `$vt`, whose exact f64 values are the whole numbers in
/// `$range` (its ends are powers of two, exact in f64).
macro_rules! integer_value {
    ($ty:ty, $arrow:ty, $vt:expr, $range:expr) => {
        impl TimelineValue for $ty {
            type Arrow = $arrow;
            const VALUE_TYPE: ValueType = $vt;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                false
            }
            const ZERO: $ty = 0;
            const LOWEST: $ty = <$ty>::MIN;
            const HIGHEST: $ty = <$ty>::MAX;
            fn nan() -> Option<$ty> {
                None
            }
            #[inline(always)]
            fn from_f64(x: f64) -> $ty {
                x as $ty
            }
            fn exact_from_f64(x: f64) -> Option<$ty> {
                (x.fract() == 0.0 && ($range).contains(&x)).then_some(x as $ty)
            }
        }
    };
}

integer_value!(i64, Int64Type, ValueType::Integer, -TWO_TO_63..TWO_TO_63);
integer_value!(u64, UInt64Type, ValueType::Unsigned, 0.0..2.0 * TWO_TO_63);

/// One of three things, for f64, i64 and u64 values: the state of an
/// operator over the value type it keeps, chosen once (at its first batch)
/// so that every loop below it is monomorphized for that type.
/// [`each_type!`](crate::each_type) runs the same generic code on whichever
/// it holds.
#[derive(Debug)]
pub enum ByType<F, I, U> {
    /// Over f64 (floats, booleans, and integers computed in f64).
    Float(F),
    /// Over i64, exactly.
    Int(I),
    /// Over u64, exactly.
    UInt(U),
}

/// `each_type!(by_type, x => body)`: `body` with `x` bound to what a
/// [`ByType`] holds, whichever type it is (one match per call, not per
/// value).
#[macro_export]
macro_rules! each_type {
    ($e:expr, $x:ident => $body:expr) => {
        match $e {
            $crate::value::ByType::Float($x) => $body,
            $crate::value::ByType::Int($x) => $body,
            $crate::value::ByType::UInt($x) => $body,
        }
    };
}

impl ValueType {
    /// The Arrow type of a timeline's `value` column for a field of this
    /// type: `Int64` / `UInt64` for integers, `Float64` for floats and
    /// booleans; `None` for strings, which cannot be queried.
    pub fn timeline_data_type(self) -> Option<DataType> {
        match self {
            ValueType::Float | ValueType::Boolean => Some(DataType::Float64),
            ValueType::Integer => Some(DataType::Int64),
            ValueType::Unsigned => Some(DataType::UInt64),
            ValueType::String => None,
        }
    }

    /// The type of a timeline `value` column of Arrow type `data_type`.
    pub fn of_timeline_data_type(data_type: &DataType) -> Option<ValueType> {
        match data_type {
            DataType::Float64 => Some(ValueType::Float),
            DataType::Int64 => Some(ValueType::Integer),
            DataType::UInt64 => Some(ValueType::Unsigned),
            _ => None,
        }
    }

    /// True for the integer types, whose values stay exact where
    /// `docs/semantics.md` §12 says so.
    pub fn is_integer(self) -> bool {
        matches!(self, ValueType::Integer | ValueType::Unsigned)
    }
}

/// The type of the values a pipeline computes from a field of type
/// `field` (`docs/semantics.md` §12), with `rate` or not, a `SAMPLE BY`
/// and a cross-timeline aggregate:
///
/// - the raw points of an integer field (no rate, `SAMPLE BY` or
///   aggregate): the field's own type, `Integer` or `Unsigned`;
/// - a selector ([`selects`]: `min`, `max`, `first`, `last`, `mimmin`,
///   `mimmax`) of an integer field without rate: the field's type, as the
///   `SAMPLE BY` aggregator with a fill that gives values of that type
///   ([`downsample_keeps_type`]), and as the aggregate across timelines of
///   such values when no interpolation can be needed
///   ([`crate::strategy::downsample_interpolation`]);
/// - `count` of an integer field without rate: `Integer`, when the count
///   is the aggregate (unless `FILL(nan)` gives it NaN inputs) or the
///   `SAMPLE BY` aggregator with a fill that keeps counts integral (`none`,
///   `null`, `previous`, a whole number), and the sum of per-timeline
///   counts over `SAMPLE BY ALL` that `count(*)` stands for; a selector
///   across timelines of such counts keeps `Integer` as above;
/// - everything else (and every float or boolean field): `Float`.
pub fn output_value_type(
    field: ValueType,
    rate: bool,
    downsample: Option<&Downsample>,
    aggregate: Option<Aggregator>,
) -> ValueType {
    if !field.is_integer() || rate {
        return ValueType::Float;
    }
    match (downsample, aggregate) {
        (None, None) => field,
        (d, Some(Aggregator::Count)) if d.is_none_or(|d| !fills_nan(d.fill)) => ValueType::Integer,
        (Some(d), None) => sampled_type(field, d),
        (Some(d), Some(Aggregator::Sum))
            if d.agg == Aggregator::Count && d.interval == Interval::All =>
        {
            ValueType::Integer
        }
        (Some(d), Some(agg))
            if selects(agg) && crate::strategy::downsample_interpolation(Some(d)).is_ok() =>
        {
            sampled_type(field, d)
        }
        _ => ValueType::Float,
    }
}

/// The type of the downsampled values of the integer field `field`.
fn sampled_type(field: ValueType, d: &Downsample) -> ValueType {
    if d.agg == Aggregator::Count && keeps_integers(d.fill) {
        ValueType::Integer
    } else if downsample_keeps_type(field, d) {
        field
    } else {
        ValueType::Float
    }
}

/// True for the aggregators that select one of their inputs: `min`, `max`,
/// `first`, `last`, `mimmin`, `mimmax`. Over integers they are exact
/// wherever their inputs are the integers themselves.
pub fn selects(agg: Aggregator) -> bool {
    use Aggregator::*;
    matches!(agg, Min | Max | First | Last | MimMin | MimMax)
}

/// True when downsampling an integer `field` by `ds` gives values of the
/// field's type: a selector ([`selects`]) with `SAMPLE BY ALL` (no empty
/// bucket is ever filled) or a fill that emits nothing, null, a previous
/// value or a whole number of the field's type. `DsAggOp` keeps its output
/// in the field's type exactly then.
pub fn downsample_keeps_type(field: ValueType, ds: &Downsample) -> bool {
    if !selects(ds.agg) || !field.is_integer() {
        return false;
    }
    ds.interval == Interval::All
        || match ds.fill {
            FillPolicy::None | FillPolicy::Null | FillPolicy::Previous => true,
            FillPolicy::Value(x) if field == ValueType::Unsigned => {
                u64::exact_from_f64(x).is_some()
            }
            FillPolicy::Value(x) => i64::exact_from_f64(x).is_some(),
            FillPolicy::NaN | FillPolicy::Linear => false,
        }
}

/// True when the fill can emit NaN.
fn fills_nan(fill: FillPolicy) -> bool {
    matches!(fill, FillPolicy::NaN) || matches!(fill, FillPolicy::Value(v) if v.is_nan())
}

/// True when filling integral values gives integral values.
fn keeps_integers(fill: FillPolicy) -> bool {
    match fill {
        FillPolicy::None | FillPolicy::Null | FillPolicy::Previous => true,
        FillPolicy::Value(v) => v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15,
        FillPolicy::NaN | FillPolicy::Linear => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_arrow_and_back() {
        for (t, d) in [
            (ValueType::Float, DataType::Float64),
            (ValueType::Integer, DataType::Int64),
            (ValueType::Unsigned, DataType::UInt64),
        ] {
            assert_eq!(t.timeline_data_type(), Some(d.clone()));
            assert_eq!(ValueType::of_timeline_data_type(&d), Some(t));
        }
        assert_eq!(
            ValueType::Boolean.timeline_data_type(),
            Some(DataType::Float64)
        );
        assert_eq!(ValueType::String.timeline_data_type(), None);
        assert_eq!(ValueType::of_timeline_data_type(&DataType::Utf8), None);
        assert_eq!(<i64 as TimelineValue>::VALUE_TYPE, ValueType::Integer);
        // 2^53 + 1 is not a float: it rounds to 2^53.
        assert_eq!(9_007_199_254_740_993i64.to_f64(), 9_007_199_254_740_992.0);
    }

    #[test]
    fn raw_integers_and_their_counts_keep_integer_types() {
        use Aggregator::*;
        use ValueType::*;
        let ds = |agg, fill| Downsample {
            interval: Interval::Every(10),
            agg,
            fill,
            max_gap: None,
        };
        assert_eq!(output_value_type(Unsigned, false, None, None), Unsigned);
        assert_eq!(output_value_type(Integer, false, None, None), Integer);
        assert_eq!(output_value_type(Float, false, None, None), Float);
        assert_eq!(output_value_type(Boolean, false, None, None), Float);
        assert_eq!(output_value_type(Integer, true, None, None), Float);
        assert_eq!(
            output_value_type(Unsigned, false, None, Some(Count)),
            Integer
        );
        assert_eq!(output_value_type(Integer, false, None, Some(Max)), Float);
        assert_eq!(output_value_type(Integer, false, None, Some(Sum)), Float);
        assert_eq!(output_value_type(Float, false, None, Some(Count)), Float);
        let zero = FillPolicy::Value(0.0);
        let half = FillPolicy::Value(0.5);
        let count = |fill| output_value_type(Integer, false, Some(&ds(Count, fill)), None);
        assert_eq!(count(FillPolicy::None), Integer);
        assert_eq!(count(zero), Integer);
        assert_eq!(count(FillPolicy::Previous), Integer);
        assert_eq!(count(FillPolicy::Linear), Float);
        assert_eq!(count(FillPolicy::NaN), Float);
        assert_eq!(count(half), Float);
        let of_max = |fill| output_value_type(Integer, false, Some(&ds(Max, fill)), Some(Count));
        assert_eq!(of_max(FillPolicy::Linear), Integer);
        assert_eq!(of_max(FillPolicy::NaN), Float);
        let sum_of_counts = Some(&ds(Count, zero));
        assert_eq!(
            output_value_type(Integer, false, sum_of_counts, Some(Sum)),
            Float
        );
        // count(*): per-timeline counts over SAMPLE BY ALL, summed
        let all = Downsample {
            interval: Interval::All,
            ..ds(Count, FillPolicy::None)
        };
        assert_eq!(
            output_value_type(Unsigned, false, Some(&all), Some(Sum)),
            Integer
        );
        assert_eq!(
            output_value_type(Float, false, Some(&all), Some(Sum)),
            Float
        );
    }

    #[test]
    fn selectors_keep_integer_types_where_nothing_is_interpolated() {
        use Aggregator::*;
        use ValueType::*;
        let ds = |agg, fill| Downsample {
            interval: Interval::Every(10),
            agg,
            fill,
            max_gap: None,
        };
        let all = |agg| Downsample {
            interval: Interval::All,
            ..ds(agg, FillPolicy::NaN)
        };
        // downsample alone: the field's type when the fill gives it
        let sampled =
            |field, agg, fill| output_value_type(field, false, Some(&ds(agg, fill)), None);
        assert_eq!(sampled(Integer, Max, FillPolicy::None), Integer);
        assert_eq!(sampled(Unsigned, First, FillPolicy::Previous), Unsigned);
        assert_eq!(sampled(Integer, Last, FillPolicy::Value(-3.0)), Integer);
        assert_eq!(sampled(Unsigned, Min, FillPolicy::Value(-3.0)), Float);
        assert_eq!(sampled(Integer, Min, FillPolicy::Value(0.5)), Float);
        assert_eq!(sampled(Integer, Max, FillPolicy::Linear), Float);
        assert_eq!(sampled(Integer, Max, FillPolicy::NaN), Float);
        assert_eq!(sampled(Integer, Avg, FillPolicy::None), Float);
        assert_eq!(sampled(Float, Max, FillPolicy::None), Float);
        // SAMPLE BY ALL fills nothing: any fill keeps the type
        assert_eq!(
            output_value_type(Integer, false, Some(&all(Max)), None),
            Integer
        );
        // across timelines: only where no interpolation can be needed
        let across = |agg, d: &Downsample| output_value_type(Integer, false, Some(d), Some(agg));
        assert_eq!(across(Max, &all(Max)), Integer);
        assert_eq!(across(MimMin, &all(Last)), Integer);
        assert_eq!(across(First, &ds(Max, FillPolicy::Null)), Integer);
        assert_eq!(across(Last, &ds(Min, FillPolicy::Previous)), Integer);
        assert_eq!(across(Max, &ds(Max, FillPolicy::None)), Float);
        assert_eq!(across(Max, &ds(Avg, FillPolicy::Null)), Float);
        assert_eq!(across(Sum, &ds(Max, FillPolicy::Null)), Float);
        let gap = Downsample {
            max_gap: Some(20),
            ..ds(Max, FillPolicy::Previous)
        };
        assert_eq!(across(Max, &gap), Float);
        // a selector of counts keeps Int64
        assert_eq!(across(Max, &ds(Count, FillPolicy::Null)), Integer);
        // without SAMPLE BY timelines may be interpolated; rate is f64
        assert_eq!(output_value_type(Integer, false, None, Some(Max)), Float);
        assert_eq!(
            output_value_type(Integer, true, Some(&all(Max)), Some(Max)),
            Float
        );
        // exact conversions of fill values
        assert_eq!(
            i64::exact_from_f64(-9_223_372_036_854_775_808.0),
            Some(i64::MIN)
        );
        assert_eq!(i64::exact_from_f64(9_223_372_036_854_775_808.0), None);
        assert_eq!(
            u64::exact_from_f64(18_446_744_073_709_549_568.0),
            Some(u64::MAX - 2047)
        );
        assert_eq!(u64::exact_from_f64(f64::NAN), None);
    }
}
