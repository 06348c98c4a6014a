//! Arithmetic of the select list and of value comparisons, as parsed:
//! numbers, terms the pipelines compute (aggregates, raw fields, rates),
//! `+ - * /`, unary minus and the functions of [`MathFn`]
//! (`docs/query-language.md`, "Expressions").

use tsq_engine::Aggregator;

use super::{Name, ValueExpr};
use crate::error::Pos;

/// An arithmetic expression (`docs/query-language.md`, "Expressions").
#[derive(Debug, Clone, PartialEq)]
pub enum Arith {
    /// A number literal.
    Number {
        /// Its value.
        value: f64,
        /// As written (for the column name).
        text: String,
    },
    /// A value the pipelines compute: an aggregate, a raw field or rate.
    Term(Term),
    /// `-expr`.
    Neg(Box<Arith>),
    /// `left op right`.
    Binary {
        /// The operator.
        op: ArithOp,
        /// Left operand.
        left: Box<Arith>,
        /// Right operand.
        right: Box<Arith>,
    },
    /// `func(arg)`.
    Call {
        /// The function.
        func: MathFn,
        /// Its argument.
        arg: Box<Arith>,
    },
}

impl Arith {
    /// Calls `f` on every term, left to right.
    pub fn for_each_term<'a>(&'a self, f: &mut impl FnMut(&'a Term)) {
        match self {
            Arith::Number { .. } => {}
            Arith::Term(t) => f(t),
            Arith::Neg(e) | Arith::Call { arg: e, .. } => e.for_each_term(f),
            Arith::Binary { left, right, .. } => {
                left.for_each_term(f);
                right.for_each_term(f);
            }
        }
    }

    /// The expression's text, as its output column is named: terms as
    /// their columns are (`avg(usage)`), numbers as written, one space
    /// around each operator, parentheses only where precedence needs them.
    pub fn text(&self) -> String {
        match self {
            Arith::Number { text, .. } => text.clone(),
            Arith::Term(t) => t.text(),
            Arith::Neg(e) => match e.as_ref() {
                Arith::Binary { .. } => format!("-({})", e.text()),
                _ => format!("-{}", e.text()),
            },
            Arith::Call { func, arg } => format!("{}({})", func.name(), arg.text()),
            Arith::Binary { op, left, right } => {
                let side = |e: &Arith, right_side: bool| match e {
                    Arith::Binary { op: inner, .. }
                        if inner.precedence() < op.precedence()
                            || (right_side
                                && inner.precedence() == op.precedence()
                                && !op.associative()) =>
                    {
                        format!("({})", e.text())
                    }
                    _ => e.text(),
                };
                format!(
                    "{} {} {}",
                    side(left, false),
                    op.symbol(),
                    side(right, true)
                )
            }
        }
    }
}

/// A leaf of an [`Arith`] that a pipeline computes.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// A bare name: a raw field (a tag is a plan error).
    Field(Name),
    /// `rate(field, ...)` without an aggregator.
    Rate(ValueExpr),
    /// `agg(value)`.
    Aggregate {
        /// The aggregator.
        agg: Aggregator,
        /// Where the aggregator name is.
        pos: Pos,
        /// Its argument.
        expr: ValueExpr,
    },
}

impl Term {
    /// The term's column name (`usage`, `rate(bytes)`, `max(usage)`).
    pub fn text(&self) -> String {
        match self {
            Term::Field(n) => n.value.clone(),
            Term::Rate(e) => e.text(),
            Term::Aggregate { agg, expr, .. } => format!("{agg}({})", expr.text()),
        }
    }

    /// Where the term is written.
    pub fn pos(&self) -> Pos {
        match self {
            Term::Field(n) => n.pos,
            Term::Rate(e) => e.field().pos,
            Term::Aggregate { pos, .. } => *pos,
        }
    }
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/` (IEEE 754: `x / 0` is ±inf, `0 / 0` NaN).
    Div,
}

impl ArithOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }

    /// Binding strength: `*` and `/` bind tighter than `+` and `-`.
    pub fn precedence(self) -> u8 {
        match self {
            ArithOp::Add | ArithOp::Sub => 1,
            ArithOp::Mul | ArithOp::Div => 2,
        }
    }

    /// True when `a op (b op' c)` equals `(a op b) op' c` for operators
    /// of its precedence (`+`, `*`).
    pub fn associative(self) -> bool {
        matches!(self, ArithOp::Add | ArithOp::Mul)
    }

    /// `a op b` on two numbers (IEEE 754).
    pub fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            ArithOp::Add => a + b,
            ArithOp::Sub => a - b,
            ArithOp::Mul => a * b,
            ArithOp::Div => a / b,
        }
    }
}

/// A function over values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathFn {
    /// `abs(x)`.
    Abs,
    /// `round(x)`: to the nearest integer, halves away from zero.
    Round,
    /// `floor(x)`.
    Floor,
    /// `ceil(x)`.
    Ceil,
    /// `ln(x)`: natural logarithm (`ln(0)` = -inf, negative → NaN).
    Ln,
    /// `log10(x)`.
    Log10,
    /// `sqrt(x)` (negative → NaN).
    Sqrt,
}

impl MathFn {
    /// Every function, for error messages.
    pub const NAMES: &'static str = "abs, round, floor, ceil, ln, log10, sqrt";

    /// The function named `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "abs" => MathFn::Abs,
            "round" => MathFn::Round,
            "floor" => MathFn::Floor,
            "ceil" => MathFn::Ceil,
            "ln" => MathFn::Ln,
            "log10" => MathFn::Log10,
            "sqrt" => MathFn::Sqrt,
            _ => return None,
        })
    }

    /// Its name in the language.
    pub fn name(self) -> &'static str {
        match self {
            MathFn::Abs => "abs",
            MathFn::Round => "round",
            MathFn::Floor => "floor",
            MathFn::Ceil => "ceil",
            MathFn::Ln => "ln",
            MathFn::Log10 => "log10",
            MathFn::Sqrt => "sqrt",
        }
    }

    /// The function on one number.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            MathFn::Abs => x.abs(),
            MathFn::Round => x.round(),
            MathFn::Floor => x.floor(),
            MathFn::Ceil => x.ceil(),
            MathFn::Ln => x.ln(),
            MathFn::Log10 => x.log10(),
            MathFn::Sqrt => x.sqrt(),
        }
    }
}
