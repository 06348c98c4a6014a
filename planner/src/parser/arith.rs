//! Arithmetic of the select list: sqlparser's expression → [`Arith`]
//! (`+ - * /`, unary minus, parentheses, numbers, the functions of
//! [`MathFn`], and as leaves the terms the pipelines compute: aggregates,
//! raw fields and rates). Whether a term fits the query (an aggregate next
//! to a raw field, a tag in arithmetic) is checked by the planner.

use std::str::FromStr;

use sqlparser::ast::{
    BinaryOperator, CeilFloorKind, DateTimeField, Expr, FunctionArg, FunctionArgExpr,
    UnaryOperator, Value,
};
use tsq_engine::Aggregator;

use super::filter::{expr_pos, shown};
use super::select::{aggregate_arg, args, name, rate, single_name};
use crate::ast::{Arith, ArithOp, MathFn, Name, Term};
use crate::error::{Pos, Result, TsqError};

/// Deepest nesting of operators and calls accepted in one expression (its
/// conversion and evaluation recurse once per level).
pub(crate) const MAX_DEPTH: usize = 64;

/// True when `e` is written as arithmetic (an operator, a sign,
/// parentheses, a number or a function of [`MathFn`]) rather than a bare
/// term.
pub(super) fn is_arith(e: &Expr) -> bool {
    match e {
        Expr::BinaryOp { .. }
        | Expr::UnaryOp { .. }
        | Expr::Nested(_)
        | Expr::Value(_)
        | Expr::Ceil { .. }
        | Expr::Floor { .. } => true,
        Expr::Function(f) => {
            f.name.0.len() == 1 && MathFn::from_name(&f.name.to_string()).is_some()
        }
        _ => false,
    }
}

/// Converts an arithmetic expression.
pub(super) fn convert(e: &Expr, start: Pos) -> Result<Arith> {
    convert_at(e, start, 0)
}

fn convert_at(e: &Expr, start: Pos, depth: usize) -> Result<Arith> {
    let pos = expr_pos(e, start);
    if depth > MAX_DEPTH {
        return Err(TsqError::parse(
            pos,
            format!("expression nested too deeply (more than {MAX_DEPTH} levels of operators and calls)"),
        ));
    }
    let next = depth + 1;
    match e {
        Expr::Nested(inner) => convert_at(inner, start, next),
        Expr::BinaryOp { left, op, right } => {
            let op = match op {
                BinaryOperator::Plus => ArithOp::Add,
                BinaryOperator::Minus => ArithOp::Sub,
                BinaryOperator::Multiply => ArithOp::Mul,
                BinaryOperator::Divide => ArithOp::Div,
                other => {
                    return Err(TsqError::parse(
                        pos,
                        format!(
                            "unsupported expression '{}': {other} is not an arithmetic operator (expected +, -, * or /)",
                            shown(e)
                        ),
                    ))
                }
            };
            Ok(Arith::Binary {
                op,
                left: Box::new(convert_at(left, start, next)?),
                right: Box::new(convert_at(right, start, next)?),
            })
        }
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match convert_at(expr, start, next)? {
            Arith::Number { value, text } => Ok(Arith::Number {
                value: -value,
                text: format!("-{text}"),
            }),
            other => Ok(Arith::Neg(Box::new(other))),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => convert_at(expr, start, next),
        Expr::Value(v) => match &v.value {
            Value::Number(text, _) => match text.parse::<f64>() {
                Ok(value) if value.is_finite() => Ok(Arith::Number {
                    value,
                    text: text.clone(),
                }),
                _ => Err(TsqError::parse(
                    pos,
                    format!("bad number '{text}': expected an integer or a decimal such as 90, -1.5 or 2e3"),
                )),
            },
            _ => Err(TsqError::plan(
                pos,
                format!(
                    "type error: arithmetic takes numbers, fields and aggregates, found {}",
                    shown(e)
                ),
            )),
        },
        Expr::Identifier(ident) => Ok(Arith::Term(Term::Field(name(ident)))),
        // sqlparser parses these two itself (for `CEIL(x TO DAY)`)
        Expr::Ceil { expr, field } | Expr::Floor { expr, field } => {
            let func = if matches!(e, Expr::Ceil { .. }) {
                MathFn::Ceil
            } else {
                MathFn::Floor
            };
            if !matches!(field, CeilFloorKind::DateTimeField(DateTimeField::NoDateTime)) {
                return Err(TsqError::plan(
                    pos,
                    format!("{} takes exactly one argument", func.name()),
                ));
            }
            Ok(Arith::Call {
                func,
                arg: Box::new(convert_at(expr, start, next)?),
            })
        }
        Expr::Function(f) => {
            let fname = single_name(&f.name, start)?;
            if let Some(func) = MathFn::from_name(&fname.value) {
                let arg = one_arg(f, &fname)?;
                return Ok(Arith::Call {
                    func,
                    arg: Box::new(convert_at(arg, start, next)?),
                });
            }
            if fname.value.eq_ignore_ascii_case("rate") {
                return Ok(Arith::Term(Term::Rate(rate(f, fname.pos, start)?)));
            }
            let agg = Aggregator::from_str(&fname.value).map_err(|_| unknown_function(&fname))?;
            let expr = aggregate_arg(f, &fname, start)?;
            Ok(Arith::Term(Term::Aggregate {
                agg,
                pos: fname.pos,
                expr,
            }))
        }
        other => Err(TsqError::parse(
            pos,
            format!(
                "unsupported expression '{}': expected numbers, fields, aggregates, + - * /, or {}",
                shown(other),
                MathFn::NAMES
            ),
        )),
    }
}

/// The single argument of a function call.
fn one_arg<'a>(f: &'a sqlparser::ast::Function, fname: &Name) -> Result<&'a Expr> {
    match args(f, fname)? {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => Ok(e),
        _ => Err(TsqError::plan(
            fname.pos,
            format!("{} takes exactly one argument", fname.value),
        )),
    }
}

fn unknown_function(fname: &Name) -> TsqError {
    TsqError::plan(
        fname.pos,
        format!(
            "unknown function '{}' (expected an aggregator: {}; or one of {})",
            fname.value,
            Aggregator::NAMES,
            MathFn::NAMES
        ),
    )
}
