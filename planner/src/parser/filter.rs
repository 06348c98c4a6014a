//! `WHERE` → [`Filter`]: tag tests (`=`, `!=`/`<>`, `IN`, `NOT IN`, `LIKE`,
//! `~`, `!~`), time bounds (`time >= '2024-01-01T00:00:00Z'`,
//! `time < 1700000000000000000`, `time > now() - 1h`) and value comparisons
//! (`usage > 90`, `-1.5 <= usage`) joined by `AND`/`OR`/`NOT`. Whether a name
//! is a tag or a field, and whether the combination can be pushed down or
//! applied, is decided by the planner, not here.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value};

use super::literal::{parse_duration, parse_timestamp, DURATION_HELP};
use super::select::{name, pos_of};
use crate::ast::{
    ArithTest, Filter, Operand, TagOp, TagTest, TimeBound, TimeOp, ValueOp, ValueTest,
};
use crate::error::{Pos, Result, TsqError};

/// Converts a `WHERE` expression.
///
/// sqlparser builds `a OR b OR c ...` as a left-deep tree, as deep as the
/// chain is long; [`chain`] walks such a spine in a loop into one n-ary
/// node, so no recursion here grows with the length of a query (only with
/// its nesting of parentheses and `NOT`, which sqlparser's recursion limit
/// bounds).
pub(super) fn convert(e: &Expr, start: Pos, now: i64) -> Result<Filter> {
    let mut e = e;
    while let Expr::Nested(inner) = e {
        e = inner;
    }
    let pos = expr_pos(e, start);
    match e {
        Expr::BinaryOp {
            op: op @ (BinaryOperator::And | BinaryOperator::Or),
            ..
        } => chain(e, op, start, now),
        Expr::BinaryOp { left, op, right } => comparison(left, op, right, pos, now),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => Ok(Filter::Not(Box::new(convert(expr, start, now)?), pos)),
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let key = tag_name(expr, pos)?;
            let values = list
                .iter()
                .map(|v| string_value(v, &key.value, pos))
                .collect::<Result<Vec<_>>>()?;
            let op = if *negated {
                TagOp::NotIn(values)
            } else {
                TagOp::In(values)
            };
            Ok(Filter::Tag(TagTest { key, op }))
        }
        Expr::Like {
            negated,
            any: false,
            expr,
            pattern,
            escape_char: None,
        } => {
            let key = tag_name(expr, pos)?;
            let p = string_value(pattern, &key.value, pos)?;
            Ok(Filter::Tag(TagTest {
                key,
                op: TagOp::Like(p, *negated),
            }))
        }
        other => Err(TsqError::parse(
            pos,
            format!(
                "unsupported condition '{}': expected a tag test, a time bound or a value comparison",
                shown(other)
            ),
        )),
    }
}

/// The operands of the `op` chain rooted at `e` (`AND` or `OR`), found by
/// walking its left spine in a loop, converted into one n-ary node.
fn chain(e: &Expr, op: &BinaryOperator, start: Pos, now: i64) -> Result<Filter> {
    let mut operands = Vec::new();
    let mut node = e;
    loop {
        match node {
            Expr::BinaryOp { left, op: o, right } if o == op => {
                operands.push(right.as_ref());
                node = left;
            }
            Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: o, .. } if o == op) =>
            {
                node = inner;
            }
            other => {
                operands.push(other);
                break;
            }
        }
    }
    operands.reverse();
    let items = operands
        .into_iter()
        .map(|o| convert(o, start, now))
        .collect::<Result<Vec<_>>>()?;
    let joined = if *op == BinaryOperator::And {
        Filter::and(items)
    } else {
        Filter::or(items)
    };
    joined.ok_or_else(|| TsqError::parse(start, "empty condition"))
}

/// Where `e` starts: the start of its leftmost leaf, found in a loop (the
/// `Spanned` span of a binary expression recurses through both sides).
pub(super) fn expr_pos(e: &Expr, fallback: Pos) -> Pos {
    let mut node = e;
    loop {
        node = match node {
            Expr::BinaryOp { left, .. } => left,
            Expr::Nested(inner) | Expr::UnaryOp { expr: inner, .. } => inner,
            leaf => return pos_of(leaf, fallback),
        };
    }
}

/// `e` as SQL text for an error message, or a placeholder when it is too
/// large to print (its `Display` recurses through the whole tree).
pub(super) fn shown(e: &Expr) -> String {
    const MAX_NODES: usize = 64;
    let mut stack = vec![e];
    let mut seen = 0;
    while let Some(node) = stack.pop() {
        seen += 1;
        if seen > MAX_NODES {
            return "(an expression too long to show)".to_string();
        }
        match node {
            Expr::BinaryOp { left, right, .. } => stack.extend([left.as_ref(), right.as_ref()]),
            Expr::Nested(inner) | Expr::UnaryOp { expr: inner, .. } => stack.push(inner),
            _ => {}
        }
    }
    e.to_string()
}

/// Drops a sqlparser expression without recursion: dropping a left-deep
/// chain of 100,000 `OR`s the derived way needs one stack frame per level.
pub(super) fn drop_expr(e: Expr) {
    let mut stack = vec![e];
    while let Some(node) = stack.pop() {
        match node {
            Expr::BinaryOp { left, right, .. } => {
                stack.push(*left);
                stack.push(*right);
            }
            Expr::Nested(inner) | Expr::UnaryOp { expr: inner, .. } => stack.push(*inner),
            leaf => drop(leaf),
        }
    }
}

fn is_time(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("time"))
}

fn comparison(
    left: &Expr,
    op: &BinaryOperator,
    right: &Expr,
    pos: Pos,
    now: i64,
) -> Result<Filter> {
    if is_time(left) || is_time(right) {
        let (value, top) = if is_time(left) {
            (right, time_op(op, false))
        } else {
            (left, time_op(op, true))
        };
        let Some(top) = top else {
            return Err(TsqError::parse(
                pos,
                format!("time can be compared with >=, >, <, <= or =, not {op}"),
            ));
        };
        let at = if is_time(left) {
            pos
        } else {
            expr_pos(right, pos)
        };
        return Ok(Filter::Time(TimeBound {
            op: top,
            value: instant(value, pos, now)?,
            pos: at,
        }));
    }
    if let Some(test) = value_test(left, op, right, pos)? {
        return Ok(Filter::Value(test));
    }
    if let Some(vop) = value_op(op) {
        if is_computed(left) || is_computed(right) {
            return Ok(Filter::Arith(ArithTest {
                left: super::arith::convert(left, pos)?,
                op: vop,
                right: super::arith::convert(right, pos)?,
                pos,
            }));
        }
    }
    let key = tag_name(left, pos)?;
    if let Some(vop) = value_op(op).filter(|o| !matches!(o, ValueOp::Eq | ValueOp::NotEq)) {
        return Err(TsqError::parse(
            expr_pos(right, pos),
            format!(
                "a value comparison compares a field with a number (e.g. {} {vop} 90), found '{}'",
                key.value,
                shown(right)
            ),
        ));
    }
    let value = || string_value(right, &key.value, pos);
    let op = match op {
        BinaryOperator::Eq => TagOp::Eq(value()?),
        BinaryOperator::NotEq => TagOp::NotEq(value()?),
        BinaryOperator::PGRegexMatch => TagOp::Regex(value()?, false),
        BinaryOperator::PGRegexNotMatch => TagOp::Regex(value()?, true),
        other => {
            return Err(TsqError::parse(
                pos,
                format!(
                    "tags can be tested with =, !=, <>, IN, NOT IN, LIKE, ~ or !~, not {other}"
                ),
            ))
        }
    };
    Ok(Filter::Tag(TagTest { key, op }))
}

/// `name op number`, `number op name` (mirrored to `name op' number`), or
/// `name op 'string'` with an ordering operator; `None` for anything else
/// (a tag test, or an error the tag path reports).
fn value_test(
    left: &Expr,
    op: &BinaryOperator,
    right: &Expr,
    pos: Pos,
) -> Result<Option<ValueTest>> {
    let Some(op) = value_op(op) else {
        return Ok(None);
    };
    let test = |ident: &sqlparser::ast::Ident, op, operand, at| ValueTest {
        field: name(ident),
        op,
        operand,
        operand_pos: at,
    };
    match (left, right) {
        (Expr::Identifier(i), e) => {
            let at = expr_pos(e, pos);
            if let Some(n) = number(e, at)? {
                return Ok(Some(test(i, op, Operand::Number(n), at)));
            }
            let ordering = !matches!(op, ValueOp::Eq | ValueOp::NotEq);
            match e {
                Expr::Value(v) if ordering => match &v.value {
                    Value::SingleQuotedString(s) => {
                        Ok(Some(test(i, op, Operand::String(s.clone()), at)))
                    }
                    _ => Ok(None),
                },
                _ => Ok(None),
            }
        }
        (e, Expr::Identifier(i)) => {
            let at = expr_pos(e, pos);
            Ok(number(e, at)?.map(|n| test(i, op.mirrored(), Operand::Number(n), at)))
        }
        _ => Ok(None),
    }
}

/// True when `e` is arithmetic (an operator, parentheses or a function of
/// values), not a name or a (signed) number.
fn is_computed(e: &Expr) -> bool {
    use BinaryOperator as B;
    match e {
        Expr::UnaryOp { expr, .. } => !matches!(expr.as_ref(), Expr::Value(_)),
        Expr::BinaryOp { op, .. } => matches!(op, B::Plus | B::Minus | B::Multiply | B::Divide),
        Expr::Nested(inner) => is_computed(inner),
        Expr::Value(_) => false,
        other => super::arith::is_arith(other),
    }
}

fn value_op(op: &BinaryOperator) -> Option<ValueOp> {
    use BinaryOperator as B;
    Some(match op {
        B::Eq => ValueOp::Eq,
        B::NotEq => ValueOp::NotEq,
        B::Lt => ValueOp::Lt,
        B::LtEq => ValueOp::LtEq,
        B::Gt => ValueOp::Gt,
        B::GtEq => ValueOp::GtEq,
        _ => return None,
    })
}

/// A numeric literal, optionally signed: `None` when `e` is not one, an
/// error when it looks like one but is not a finite number (`90s`, `1e999`).
fn number(e: &Expr, at: Pos) -> Result<Option<f64>> {
    let (negative, inner) = match e {
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => (true, expr.as_ref()),
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => (false, expr.as_ref()),
        other => (false, other),
    };
    let Expr::Value(v) = inner else {
        return Ok(None);
    };
    let Value::Number(text, _) = &v.value else {
        return Ok(None);
    };
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(Some(if negative { -n } else { n })),
        _ => Err(TsqError::parse(
            at,
            format!(
                "bad number '{text}': expected an integer or a decimal such as 90, -1.5 or 2e3"
            ),
        )),
    }
}

/// `time op x` as written, or flipped when `time` is on the right.
fn time_op(op: &BinaryOperator, flipped: bool) -> Option<TimeOp> {
    use BinaryOperator as B;
    Some(match (op, flipped) {
        (B::GtEq, false) | (B::LtEq, true) => TimeOp::GtEq,
        (B::Gt, false) | (B::Lt, true) => TimeOp::Gt,
        (B::Lt, false) | (B::Gt, true) => TimeOp::Lt,
        (B::LtEq, false) | (B::GtEq, true) => TimeOp::LtEq,
        (B::Eq, _) => TimeOp::Eq,
        _ => return None,
    })
}

fn tag_name(e: &Expr, pos: Pos) -> Result<crate::ast::Name> {
    match e {
        Expr::Identifier(ident) => Ok(name(ident)),
        other => Err(TsqError::parse(
            expr_pos(other, pos),
            format!("expected a tag name, found '{}'", shown(other)),
        )),
    }
}

fn string_value(e: &Expr, key: &str, pos: Pos) -> Result<String> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Ok(s.clone()),
            _ => Err(TsqError::parse(
                expr_pos(e, pos),
                format!(
                    "tag {key} is compared with a string in single quotes, found {}",
                    shown(e)
                ),
            )),
        },
        _ => Err(TsqError::parse(
            expr_pos(e, pos),
            format!(
                "tag {key} is compared with a string in single quotes, found {}",
                shown(e)
            ),
        )),
    }
}

/// The current time in ns since the epoch (read once per statement, so
/// every `now()` of a statement is the same instant).
pub(super) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Evaluates an instant: an RFC 3339 string, integer ns, `now()`, or an
/// instant plus or minus a duration.
fn instant(e: &Expr, pos: Pos, now: i64) -> Result<i64> {
    let at = expr_pos(e, pos);
    match e {
        Expr::Nested(inner) => instant(inner, at, now),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => instant(expr, at, now)?
            .checked_neg()
            .ok_or_else(|| TsqError::parse(at, "time arithmetic overflows")),
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => parse_timestamp(s).ok_or_else(|| {
                TsqError::parse(
                    at,
                    format!("bad timestamp '{s}': expected RFC 3339 like '2024-01-01T00:00:00Z' or integer nanoseconds"),
                )
            }),
            Value::Number(n, _) => n.parse::<i64>().or_else(|_| duration_number(n, at)),
            _ => Err(TsqError::parse(at, format!("bad timestamp {}", shown(e)))),
        },
        Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("now") => Ok(now),
        Expr::BinaryOp { .. } => {
            // `now() - 1h - 1h ...` is a left-deep chain: walk it in a loop.
            let mut terms = Vec::new();
            let mut node = e;
            while let Expr::BinaryOp { left, op, right } = node {
                terms.push((op, right.as_ref()));
                node = left;
            }
            let mut base = instant(node, at, now)?;
            for (op, right) in terms.into_iter().rev() {
                let d = duration(right, expr_pos(right, at))?;
                let r = match op {
                    BinaryOperator::Plus => base.checked_add(d),
                    BinaryOperator::Minus => base.checked_sub(d),
                    other => {
                        return Err(TsqError::parse(
                            at,
                            format!("time arithmetic takes + or -, not {other}"),
                        ))
                    }
                };
                base = r.ok_or_else(|| TsqError::parse(at, "time arithmetic overflows"))?;
            }
            Ok(base)
        }
        other => Err(TsqError::parse(
            at,
            format!("bad timestamp '{}': expected RFC 3339 string, integer ns or now() - <duration>", shown(other)),
        )),
    }
}

fn duration_number(n: &str, at: Pos) -> Result<i64> {
    parse_duration(n)
        .ok_or_else(|| TsqError::parse(at, format!("bad duration '{n}': {DURATION_HELP}")))
}

/// A duration: `1h` or `'1h'`.
fn duration(e: &Expr, at: Pos) -> Result<i64> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) | Value::SingleQuotedString(n) => duration_number(n, at),
            _ => Err(TsqError::parse(
                at,
                format!("bad duration '{}': {DURATION_HELP}", shown(e)),
            )),
        },
        _ => Err(TsqError::parse(
            at,
            format!("bad duration '{}': {DURATION_HELP}", shown(e)),
        )),
    }
}
