//! The value filters of `WHERE` on joined rows: a row passes when its value
//! of each compared column satisfies the filter's comparison. Null never
//! passes; NaN follows IEEE 754 (only `!=` passes).

use crate::plan::ValueFilter;

/// True when the row of `cells` (one per joined column) passes every
/// filter.
pub(crate) fn passes(cells: &[Option<f64>], filters: &[ValueFilter]) -> bool {
    filters
        .iter()
        .all(|f| cells[f.output].is_some_and(|x| f.op.holds(x, f.value)))
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
        xs.iter().map(|x| passes(&[*x], &[f])).collect()
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
        assert!(!passes(&[Some(-2.0), Some(1.0)], &filters));
        assert!(passes(&[Some(0.5), Some(1.0)], &filters));
        assert!(!passes(&[Some(0.5), None], &filters));
        assert!(passes(&[None, None], &[]));
    }
}
