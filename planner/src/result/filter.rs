//! The value filters of `WHERE` on joined rows: a row passes when its value
//! of each compared column satisfies the filter's comparison. Null never
//! passes; NaN follows IEEE 754 (only `!=` passes).

use super::cell::Num;
use crate::plan::ValueFilter;

/// True when the row of `cells` (one per joined column) passes every
/// filter; integers are compared exactly (`Num::holds`).
pub(crate) fn passes(cells: &[Option<Num>], filters: &[ValueFilter]) -> bool {
    filters
        .iter()
        .all(|f| cells[f.output].is_some_and(|x| x.holds(f.op, f.value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::ValueOp;

    fn run(op: ValueOp, value: f64, xs: &[Option<f64>]) -> Vec<bool> {
        let f = ValueFilter {
            output: 0,
            op,
            value,
        };
        xs.iter()
            .map(|x| passes(&[x.map(Num::Float)], &[f]))
            .collect()
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
        let gt = |output, value| ValueFilter {
            output,
            op: ValueOp::Gt,
            value,
        };
        let filters = [gt(0, -1.5), gt(1, 0.0)];
        // -2 > -1.5 fails; 0.5 > -1.5 and 1 > 0 pass; a null second cell fails
        let f = |x: f64| Some(Num::Float(x));
        assert!(!passes(&[f(-2.0), f(1.0)], &filters));
        assert!(passes(&[f(0.5), f(1.0)], &filters));
        assert!(!passes(&[f(0.5), None], &filters));
        assert!(passes(&[None, None], &[]));
        // An integer cell is compared exactly: 2^53 + 1 > 2^53.
        let big = [Some(Num::Int(9_007_199_254_740_993)), f(1.0)];
        assert!(passes(&big, &[gt(0, 9_007_199_254_740_992.0)]));
    }
}
