//! Expression evaluation against values worked out by hand: every
//! operator, the functions, IEEE 754 division, null propagation.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use arrow::datatypes::Float64Type;

use super::ScalarExpr;
use crate::ast::{ArithOp, MathFn};

fn col(i: usize) -> Box<ScalarExpr> {
    Box::new(ScalarExpr::Column(i))
}

fn lit(v: f64) -> Box<ScalarExpr> {
    Box::new(ScalarExpr::Literal(v))
}

fn bin(op: ArithOp, left: Box<ScalarExpr>, right: Box<ScalarExpr>) -> ScalarExpr {
    ScalarExpr::Binary { op, left, right }
}

fn values(a: &ArrayRef) -> Vec<Option<f64>> {
    let a = a.as_primitive::<Float64Type>();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i)))
        .collect()
}

fn columns() -> Vec<ArrayRef> {
    vec![
        Arc::new(Float64Array::from(vec![
            Some(1.0),
            Some(4.0),
            None,
            Some(-9.0),
        ])),
        Arc::new(Float64Array::from(vec![
            Some(2.0),
            Some(0.0),
            Some(5.0),
            Some(0.0),
        ])),
    ]
}

#[test]
fn arithmetic_between_columns_and_numbers() {
    let c = columns();
    // a + b: 3, 4, null (a is null), -9
    let e = bin(ArithOp::Add, col(0), col(1));
    assert_eq!(
        values(&e.evaluate(&c, 4).unwrap()),
        [Some(3.0), Some(4.0), None, Some(-9.0)]
    );
    // (a - b) * 10: -10, 40, null, -90
    let e = bin(
        ArithOp::Mul,
        Box::new(bin(ArithOp::Sub, col(0), col(1))),
        lit(10.0),
    );
    assert_eq!(
        values(&e.evaluate(&c, 4).unwrap()),
        [Some(-10.0), Some(40.0), None, Some(-90.0)]
    );
    // 100 / b: 50, +inf (IEEE 754), 20, +inf
    let e = bin(ArithOp::Div, lit(100.0), col(1));
    assert_eq!(
        values(&e.evaluate(&c, 4).unwrap()),
        [
            Some(50.0),
            Some(f64::INFINITY),
            Some(20.0),
            Some(f64::INFINITY)
        ]
    );
    // a / b: 0.5, +inf, null, -inf
    let e = bin(ArithOp::Div, col(0), col(1));
    assert_eq!(
        values(&e.evaluate(&c, 4).unwrap()),
        [
            Some(0.5),
            Some(f64::INFINITY),
            None,
            Some(f64::NEG_INFINITY)
        ]
    );
    // b / b: 1, NaN (0 / 0), 1, NaN
    let out = values(&bin(ArithOp::Div, col(1), col(1)).evaluate(&c, 4).unwrap());
    assert_eq!((out[0], out[2]), (Some(1.0), Some(1.0)));
    assert!(out[1].unwrap().is_nan() && out[3].unwrap().is_nan());
}

#[test]
fn negation_and_functions() {
    let c = columns();
    let neg = ScalarExpr::Neg(col(0));
    assert_eq!(
        values(&neg.evaluate(&c, 4).unwrap()),
        [Some(-1.0), Some(-4.0), None, Some(9.0)]
    );
    let call = |func, arg| ScalarExpr::Call { func, arg };
    let abs = call(MathFn::Abs, col(0));
    assert_eq!(
        values(&abs.evaluate(&c, 4).unwrap()),
        [Some(1.0), Some(4.0), None, Some(9.0)]
    );
    // sqrt: 1, 2, null, NaN (negative)
    let out = values(&call(MathFn::Sqrt, col(0)).evaluate(&c, 4).unwrap());
    assert_eq!(&out[..3], [Some(1.0), Some(2.0), None]);
    assert!(out[3].unwrap().is_nan());
    // ln(b): ln 2, -inf (ln 0), ln 5, -inf
    let out = values(&call(MathFn::Ln, col(1)).evaluate(&c, 4).unwrap());
    assert_eq!(out[1], Some(f64::NEG_INFINITY));
    assert!((out[0].unwrap() - std::f64::consts::LN_2).abs() < 1e-15);
    // log10(100 * b): log10 200 = 2.30103, -inf, log10 500 = 2.69897
    let out = values(
        &call(
            MathFn::Log10,
            Box::new(bin(ArithOp::Mul, lit(100.0), col(1))),
        )
        .evaluate(&c, 4)
        .unwrap(),
    );
    assert!((out[0].unwrap() - 2.301_029_995_663_981).abs() < 1e-12);
    assert!((out[2].unwrap() - 2.698_970_004_336_018_8).abs() < 1e-12);
    // round halves away from zero; floor and ceil
    let halves: Vec<ArrayRef> = vec![Arc::new(Float64Array::from(vec![2.5, -2.5, 1.4, -1.6]))];
    let run = |f| values(&call(f, col(0)).evaluate(&halves, 4).unwrap());
    assert_eq!(
        run(MathFn::Round),
        [Some(3.0), Some(-3.0), Some(1.0), Some(-2.0)]
    );
    assert_eq!(
        run(MathFn::Floor),
        [Some(2.0), Some(-3.0), Some(1.0), Some(-2.0)]
    );
    assert_eq!(
        run(MathFn::Ceil),
        [Some(3.0), Some(-2.0), Some(2.0), Some(-1.0)]
    );
}

#[test]
fn constants_fold_and_broadcast() {
    // 2 * 3 + a → 6 + a
    let e = bin(
        ArithOp::Add,
        Box::new(bin(ArithOp::Mul, lit(2.0), lit(3.0))),
        col(0),
    )
    .folded();
    assert_eq!(e, bin(ArithOp::Add, lit(6.0), col(0)));
    assert_eq!(e.columns(), [0]);
    // a constant column has one value per row
    let c = columns();
    let k = ScalarExpr::Neg(Box::new(ScalarExpr::Call {
        func: MathFn::Sqrt,
        arg: lit(16.0),
    }))
    .folded();
    assert_eq!(k, ScalarExpr::Literal(-4.0));
    assert_eq!(
        values(&k.evaluate(&c, 2).unwrap()),
        [Some(-4.0), Some(-4.0)]
    );
}
