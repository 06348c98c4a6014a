//! The value-filter kernel: clears the keep flag of every row whose value of
//! the compared column fails a [`ValueFilter`]. The operator is matched once
//! per column, not per value, so each loop is a plain comparison over the
//! values. Null never passes; NaN follows IEEE 754 (only `!=` passes).

use crate::ast::ValueOp;
use crate::plan::ValueFilter;

/// `keep[i] &= values[i] <op> value` for every row `i` (null: false).
pub(crate) fn retain(
    keep: &mut [bool],
    values: impl ExactSizeIterator<Item = Option<f64>>,
    f: &ValueFilter,
) {
    debug_assert_eq!(keep.len(), values.len());
    let v = f.value;
    match f.op {
        ValueOp::Eq => apply(keep, values, |x| x == v),
        ValueOp::NotEq => apply(keep, values, |x| x != v),
        ValueOp::Lt => apply(keep, values, |x| x < v),
        ValueOp::LtEq => apply(keep, values, |x| x <= v),
        ValueOp::Gt => apply(keep, values, |x| x > v),
        ValueOp::GtEq => apply(keep, values, |x| x >= v),
    }
}

fn apply(keep: &mut [bool], values: impl Iterator<Item = Option<f64>>, test: impl Fn(f64) -> bool) {
    for (k, x) in keep.iter_mut().zip(values) {
        *k = *k && x.is_some_and(&test);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(op: ValueOp, value: f64, xs: &[Option<f64>]) -> Vec<bool> {
        let mut keep = vec![true; xs.len()];
        retain(
            &mut keep,
            xs.iter().copied(),
            &ValueFilter {
                output: 0,
                op,
                value,
            },
        );
        keep
    }

    #[test]
    fn every_operator_with_null_and_nan() {
        let xs = [Some(89.0), Some(90.0), Some(91.0), None, Some(f64::NAN)];
        // 89, 90, 91 against 90; null fails everything; NaN fails all but !=
        let t = true;
        let f = false;
        assert_eq!(run(ValueOp::Eq, 90.0, &xs), [f, t, f, f, f]);
        assert_eq!(run(ValueOp::NotEq, 90.0, &xs), [t, f, t, f, t]);
        assert_eq!(run(ValueOp::Lt, 90.0, &xs), [t, f, f, f, f]);
        assert_eq!(run(ValueOp::LtEq, 90.0, &xs), [t, t, f, f, f]);
        assert_eq!(run(ValueOp::Gt, 90.0, &xs), [f, f, t, f, f]);
        assert_eq!(run(ValueOp::GtEq, 90.0, &xs), [f, t, t, f, f]);
    }

    #[test]
    fn filters_combine_with_and() {
        let mut keep = vec![true, true, false];
        let xs = [Some(-2.0), Some(0.5), Some(3.0)];
        let f = ValueFilter {
            output: 0,
            op: ValueOp::Gt,
            value: -1.5,
        };
        // -2 > -1.5 fails; 0.5 passes; the third row was already dropped
        retain(&mut keep, xs.iter().copied(), &f);
        assert_eq!(keep, [false, true, false]);
    }
}
