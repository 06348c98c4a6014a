//! One value of a joined row in its column's type: [`Num`]. Result value
//! columns are `Float64`, or `Int64` / `UInt64` for the raw points of
//! integer fields (`docs/semantics.md` §11), so the join carries each cell
//! as it was read and compares integers exactly: with each other (`ORDER
//! BY`) and with the number of a value filter (`WHERE v > 9007199254740992`).

use std::cmp::Ordering;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use tsq_engine::TimelineBatch;

use crate::ast::ValueOp;

/// A cell value: a float, a signed or an unsigned integer. A column holds
/// one kind only; `Option<Num>` (null = `None`) is as large as
/// `Option<f64>`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// A float (NaN included).
    Float(f64),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
}

impl Num {
    /// The value as f64 (integers rounded to nearest beyond 2^53).
    pub(crate) fn to_f64(self) -> f64 {
        match self {
            Num::Float(v) => v,
            Num::Int(v) => v as f64,
            Num::UInt(v) => v as f64,
        }
    }

    /// A total order for sorting: integers exactly, floats by
    /// `f64::total_cmp` (NaN last), a float and an integer by exact value
    /// (columns hold one kind, so that mix only orders equal-looking rows).
    pub(crate) fn total_cmp(&self, other: &Num) -> Ordering {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a.cmp(b),
            (Num::UInt(a), Num::UInt(b)) => a.cmp(b),
            (Num::Float(a), Num::Float(b)) => a.total_cmp(b),
            (Num::Int(a), Num::UInt(b)) => i128::from(*a).cmp(&i128::from(*b)),
            (Num::UInt(a), Num::Int(b)) => i128::from(*a).cmp(&i128::from(*b)),
            (Num::Float(a), b) => compare_int(b, *a).map_or(Ordering::Greater, Ordering::reverse),
            (a, Num::Float(b)) => compare_int(a, *b).unwrap_or(Ordering::Less),
        }
    }

    /// `self <op> value` with the exact values (no rounding of integers
    /// to f64); IEEE 754 for floats: with NaN only `!=` holds.
    pub(crate) fn holds(self, op: ValueOp, value: f64) -> bool {
        let order = match self {
            Num::Float(x) => return op.holds(x, value),
            int => compare_int(&int, value),
        };
        match (op, order) {
            (ValueOp::NotEq, None) => true,
            (_, None) => false,
            (ValueOp::Eq, Some(o)) => o == Ordering::Equal,
            (ValueOp::NotEq, Some(o)) => o != Ordering::Equal,
            (ValueOp::Lt, Some(o)) => o == Ordering::Less,
            (ValueOp::LtEq, Some(o)) => o != Ordering::Greater,
            (ValueOp::Gt, Some(o)) => o == Ordering::Greater,
            (ValueOp::GtEq, Some(o)) => o != Ordering::Less,
        }
    }
}

/// The values of a timeline batch's rows as cells, in its type.
pub(crate) fn batch_cells(batch: &TimelineBatch) -> Vec<Option<Num>> {
    array_cells(batch.value_column())
}

/// The values of an array of a result value type (`Float64`, `Int64`,
/// `UInt64`; another type reads as floats) as cells.
pub(crate) fn array_cells(values: &ArrayRef) -> Vec<Option<Num>> {
    match values.data_type() {
        DataType::Int64 => values
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map(Num::Int))
            .collect(),
        DataType::UInt64 => values
            .as_primitive::<UInt64Type>()
            .iter()
            .map(|v| v.map(Num::UInt))
            .collect(),
        DataType::Float64 => values
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.map(Num::Float))
            .collect(),
        _ => (0..values.len()).map(|_| None).collect(),
    }
}

/// The exact order of the integer `int` (an `Int` or `UInt`) against the
/// float `f`; `None` when `f` is NaN.
fn compare_int(int: &Num, f: f64) -> Option<Ordering> {
    let i = match *int {
        Num::Int(v) => i128::from(v),
        Num::UInt(v) => i128::from(v),
        Num::Float(x) => return x.partial_cmp(&f),
    };
    if f.is_nan() {
        return None;
    }
    // Every i64 and u64 lies in (-2^64, 2^64), where floor(f) fits i128.
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    if f >= TWO_64 {
        return Some(Ordering::Less);
    }
    if f <= -TWO_64 {
        return Some(Ordering::Greater);
    }
    let floor = f.floor();
    // `floor` is an integer with |floor| <= 2^64: exact as i128.
    let whole = floor as i128;
    Some(i.cmp(&whole).then(if f > floor {
        Ordering::Less
    } else {
        Ordering::Equal
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_compare_exactly_with_floats() {
        let big = Num::Int(9_007_199_254_740_993); // 2^53 + 1
                                                   // As f64 it would equal 2^53; exactly it is greater.
        assert!(big.holds(ValueOp::Gt, 9_007_199_254_740_992.0));
        assert!(!big.holds(ValueOp::Eq, 9_007_199_254_740_992.0));
        assert!(big.holds(ValueOp::NotEq, 9_007_199_254_740_992.0));
        assert!(Num::Int(3).holds(ValueOp::Lt, 3.5));
        assert!(Num::Int(3).holds(ValueOp::GtEq, 3.0));
        assert!(!Num::Int(4).holds(ValueOp::LtEq, 3.5));
        assert!(Num::Int(-4).holds(ValueOp::Lt, -3.5));
        assert!(Num::Int(-3).holds(ValueOp::Gt, -3.5));
        assert!(Num::UInt(u64::MAX).holds(ValueOp::Lt, 18_446_744_073_709_551_616.0));
        assert!(Num::Int(i64::MIN).holds(ValueOp::Eq, -9_223_372_036_854_775_808.0));
        assert!(Num::Int(i64::MIN).holds(ValueOp::Gt, f64::NEG_INFINITY));
        assert!(!Num::Int(0).holds(ValueOp::Eq, f64::NAN));
        assert!(Num::Int(0).holds(ValueOp::NotEq, f64::NAN));
        assert!(!Num::Float(f64::NAN).holds(ValueOp::Eq, 1.0));
    }

    #[test]
    fn integers_sort_exactly() {
        let (a, b) = (
            Num::Int(9_007_199_254_740_993),
            Num::Int(9_007_199_254_740_992),
        );
        assert_eq!(a.total_cmp(&b), Ordering::Greater);
        assert_eq!(
            Num::UInt(u64::MAX).total_cmp(&Num::UInt(u64::MAX - 1)),
            Ordering::Greater
        );
        assert_eq!(Num::Int(-1).total_cmp(&Num::UInt(0)), Ordering::Less);
        assert_eq!(Num::Float(2.5).total_cmp(&Num::Int(2)), Ordering::Greater);
        assert_eq!(Num::Int(2).total_cmp(&Num::Float(2.5)), Ordering::Less);
        assert_eq!(
            Num::Float(f64::NAN).total_cmp(&Num::Int(2)),
            Ordering::Greater
        );
    }
}
