//! Scalar expressions over result columns: the arithmetic of the select
//! list (`avg(a) + avg(b)`, `max(bytes) / 1024`, `abs(usage)`) once its
//! terms are resolved to the value columns the pipelines compute.
//!
//! ```text
//!   Arith (ast) ──build: each distinct term → one Output──▶ ScalarExpr
//!   result batch (time, tags, outputs) ──eval.rs: arrow kernels──▶ column
//! ```
//!
//! Evaluation ([`ScalarExpr::evaluate`]) runs once per batch and node with
//! arrow's kernels (`numeric::add`, `neg`, `unary`): no per-value dispatch.
//! Division follows IEEE 754 (`x / 0` is ±inf, `0 / 0` NaN); a null
//! operand gives null (`docs/semantics.md`, §8).

mod eval;

use crate::ast::{ArithOp, MathFn};

/// An expression over value columns (by output index) and numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarExpr {
    /// The value column of output `i`.
    Column(usize),
    /// A number.
    Literal(f64),
    /// `-expr`.
    Neg(Box<ScalarExpr>),
    /// `left op right`.
    Binary {
        /// The operator.
        op: ArithOp,
        /// Left operand.
        left: Box<ScalarExpr>,
        /// Right operand.
        right: Box<ScalarExpr>,
    },
    /// `func(arg)`.
    Call {
        /// The function.
        func: MathFn,
        /// Its argument.
        arg: Box<ScalarExpr>,
    },
}

impl ScalarExpr {
    /// The expression with constant sub-expressions computed
    /// (`2 * 3 + avg(x)` → `6 + avg(x)`), by the same IEEE 754 rules.
    pub fn folded(self) -> ScalarExpr {
        match self {
            ScalarExpr::Neg(e) => match e.folded() {
                ScalarExpr::Literal(v) => ScalarExpr::Literal(-v),
                e => ScalarExpr::Neg(Box::new(e)),
            },
            ScalarExpr::Binary { op, left, right } => match (left.folded(), right.folded()) {
                (ScalarExpr::Literal(a), ScalarExpr::Literal(b)) => {
                    ScalarExpr::Literal(op.apply(a, b))
                }
                (l, r) => ScalarExpr::Binary {
                    op,
                    left: Box::new(l),
                    right: Box::new(r),
                },
            },
            ScalarExpr::Call { func, arg } => match arg.folded() {
                ScalarExpr::Literal(v) => ScalarExpr::Literal(func.apply(v)),
                a => ScalarExpr::Call {
                    func,
                    arg: Box::new(a),
                },
            },
            leaf => leaf,
        }
    }

    /// The output indices the expression reads, in order of first use.
    pub fn columns(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.visit(&mut |i| {
            if !out.contains(&i) {
                out.push(i);
            }
        });
        out
    }

    fn visit(&self, f: &mut impl FnMut(usize)) {
        match self {
            ScalarExpr::Column(i) => f(*i),
            ScalarExpr::Literal(_) => {}
            ScalarExpr::Neg(e) | ScalarExpr::Call { arg: e, .. } => e.visit(f),
            ScalarExpr::Binary { left, right, .. } => {
                left.visit(f);
                right.visit(f);
            }
        }
    }
}

#[cfg(test)]
mod tests;
