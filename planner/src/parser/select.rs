//! sqlparser's AST of the SQL head (`SELECT ... FROM ... [WHERE] [GROUP BY]`)
//! → the tsq [`Query`]: the select list (tag columns, aggregates with
//! aliases, `rate(...)` with named options, raw fields), the measurement and
//! the grouping. `WHERE` is converted by [`super::filter`].

use std::str::FromStr;

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident,
    ObjectName, ObjectNamePart, Select, SelectItem, SetExpr, Spanned, TableFactor, Value,
};
use tsq_engine::{Aggregator, RateOptions};

use super::arith;
use crate::ast::{Arith, GroupByClause, MathFn, Name, Projection, Query, Term, ValueExpr};
use crate::error::{Pos, Result, TsqError};

/// The position of a sqlparser node, or `fallback` when it has no span.
pub(super) fn pos_of(node: &impl Spanned, fallback: Pos) -> Pos {
    let start = node.span().start;
    if start.line == 0 {
        fallback
    } else {
        start.into()
    }
}

/// An identifier as a [`Name`].
pub(super) fn name(ident: &Ident) -> Name {
    Name {
        value: ident.value.clone(),
        pos: ident.span.start.into(),
    }
}

/// Converts a parsed `SELECT` into a [`Query`] (tail clauses left empty).
pub(super) fn convert(q: &sqlparser::ast::Query, start: Pos, now: i64) -> Result<Query> {
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return Err(TsqError::parse(start, "unsupported clause in query"));
    }
    let SetExpr::Select(select) = q.body.as_ref() else {
        return Err(TsqError::parse(
            pos_of(q.body.as_ref(), start),
            "expected a single SELECT (UNION, VALUES and subqueries are not supported)",
        ));
    };
    reject_unsupported(select, start)?;
    let projections = select
        .projection
        .iter()
        .map(|item| projection(item, start))
        .collect::<Result<Vec<_>>>()?;
    let filter = select
        .selection
        .as_ref()
        .map(|e| super::filter::convert(e, start, now))
        .transpose()?;
    Ok(Query {
        projections,
        measurement: measurement(select, start)?,
        filter,
        group_by: group_by(&select.group_by, start)?,
        sample_by: None,
        orphan_fill: None,
        order_by: Vec::new(),
        limit: None,
    })
}

fn reject_unsupported(s: &Select, start: Pos) -> Result<()> {
    let what = if s.distinct.is_some() {
        "DISTINCT"
    } else if s.having.is_some() {
        "HAVING"
    } else if s.top.is_some() {
        "TOP"
    } else if s.into.is_some() {
        "INTO"
    } else if !s.named_window.is_empty() || s.qualify.is_some() {
        "WINDOW"
    } else {
        return Ok(());
    };
    Err(TsqError::parse(start, format!("{what} is not supported")))
}

fn measurement(s: &Select, start: Pos) -> Result<Name> {
    let [from] = s.from.as_slice() else {
        return Err(TsqError::parse(
            start,
            "expected FROM <measurement> with exactly one measurement",
        ));
    };
    if let Some(join) = from.joins.first() {
        return Err(TsqError::parse(
            pos_of(&join.relation, start),
            "joins are not supported",
        ));
    }
    match &from.relation {
        TableFactor::Table {
            name: table,
            alias: None,
            args: None,
            ..
        } => single_name(table, start),
        other => Err(TsqError::parse(
            pos_of(other, start),
            format!("expected a measurement name after FROM, found '{other}'"),
        )),
    }
}

pub(super) fn single_name(n: &ObjectName, start: Pos) -> Result<Name> {
    match n.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => Ok(name(ident)),
        _ => Err(TsqError::parse(
            pos_of(n, start),
            format!("expected a plain name, found '{n}'"),
        )),
    }
}

fn projection(item: &SelectItem, start: Pos) -> Result<Projection> {
    let (expr, alias_ident) = match item {
        SelectItem::UnnamedExpr(e) => (e, None),
        SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias)),
        other => {
            return Err(TsqError::parse(
                pos_of(other, start),
                format!("unsupported select item '{other}': name the fields and tags"),
            ))
        }
    };
    let alias = alias_ident.map(|a| a.value.clone());
    let pos = pos_of(expr, start);
    if let Expr::Function(f) = expr {
        if let Some(all) = aggregate_all(f, alias_ident, start)? {
            return Ok(all);
        }
    }
    if arith::is_arith(expr) {
        return arith_projection(arith::convert(expr, start)?, alias, pos);
    }
    match expr {
        Expr::Identifier(ident) if alias.is_none() => Ok(Projection::Column(name(ident))),
        Expr::Identifier(_) => Err(TsqError::plan(
            pos,
            "a tag or raw field cannot be renamed; only aggregates and rates take AS",
        )),
        Expr::Function(f) => {
            let fname = single_name(&f.name, start)?;
            if fname.value.eq_ignore_ascii_case("rate") {
                let expr = rate(f, fname.pos, start)?;
                return Ok(Projection::Rate { expr, alias });
            }
            let agg = aggregator(&fname)?;
            let expr = aggregate_arg(f, &fname, start)?;
            Ok(Projection::Aggregate {
                agg,
                pos: fname.pos,
                expr,
                alias,
            })
        }
        other => Err(TsqError::parse(
            pos,
            format!("unsupported expression '{other}' in SELECT: expected a tag, a field, <agg>(<field>), <agg>(rate(<field>)) or arithmetic over them"),
        )),
    }
}

/// The aggregator named `fname`.
fn aggregator(fname: &Name) -> Result<Aggregator> {
    Aggregator::from_str(&fname.value).map_err(|_| {
        TsqError::plan(
            fname.pos,
            format!(
                "unknown aggregator '{}' (expected one of {})",
                fname.value,
                Aggregator::NAMES
            ),
        )
    })
}

/// True when the call's only argument is `*` (`last(*)`).
fn is_star_call(f: &Function) -> bool {
    matches!(
        &f.args,
        FunctionArguments::List(list)
            if matches!(list.args.as_slice(), [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)])
    )
}

/// `<agg>(*)` as a whole select item: [`Projection::AggregateAll`], expanded
/// by the planner to one column per field (`docs/semantics.md` §11). `None`
/// when `f` is not a call of `*`.
fn aggregate_all(f: &Function, alias: Option<&Ident>, start: Pos) -> Result<Option<Projection>> {
    if !is_star_call(f) {
        return Ok(None);
    }
    let fname = single_name(&f.name, start)?;
    args(f, &fname)?;
    if fname.value.eq_ignore_ascii_case("rate") {
        return Err(star_in_rate(&fname));
    }
    if MathFn::from_name(&fname.value).is_some() {
        return Err(TsqError::plan(
            fname.pos,
            format!(
                "{}(*) is not supported: {} takes a value, e.g. {}(last(usage))",
                fname.value, fname.value, fname.value
            ),
        ));
    }
    let agg = aggregator(&fname)?;
    if let Some(alias) = alias {
        return Err(TsqError::plan(
            alias.span.start.into(),
            format!(
                "{}(*) makes one column per field ({agg}_<field>), so it cannot be renamed \
                 with AS: name the field instead, e.g. {}(usage) AS {}",
                fname.value, fname.value, alias.value
            ),
        ));
    }
    Ok(Some(Projection::AggregateAll {
        agg,
        pos: fname.pos,
    }))
}

/// The error of `rate(*)`.
fn star_in_rate(fname: &Name) -> TsqError {
    TsqError::plan(
        fname.pos,
        "rate(*) is not supported: rate reads one field, e.g. rate(bytes) or sum(rate(bytes))",
    )
}

/// An arithmetic select item; one that is a bare term after all (`(avg(x))`)
/// is that term's projection.
fn arith_projection(expr: Arith, alias: Option<String>, pos: Pos) -> Result<Projection> {
    match expr {
        Arith::Term(Term::Field(n)) if alias.is_none() => Ok(Projection::Column(n)),
        Arith::Term(Term::Field(_)) => Err(TsqError::plan(
            pos,
            "a tag or raw field cannot be renamed; only aggregates, rates and expressions take AS",
        )),
        Arith::Term(Term::Rate(expr)) => Ok(Projection::Rate { expr, alias }),
        Arith::Term(Term::Aggregate { agg, pos, expr }) => Ok(Projection::Aggregate {
            agg,
            pos,
            expr,
            alias,
        }),
        expr => Ok(Projection::Arith { expr, alias, pos }),
    }
}

/// The list of a function's arguments, rejecting `DISTINCT`, `OVER`, ...
pub(super) fn args<'a>(f: &'a Function, fname: &Name) -> Result<&'a [FunctionArg]> {
    match &f.args {
        FunctionArguments::List(list)
            if list.duplicate_treatment.is_none()
                && list.clauses.is_empty()
                && f.over.is_none()
                && f.filter.is_none() =>
        {
            Ok(&list.args)
        }
        FunctionArguments::List(_) => Err(TsqError::parse(
            fname.pos,
            format!("unsupported modifiers in call to {}", fname.value),
        )),
        _ => Err(TsqError::parse(
            fname.pos,
            format!("{} needs an argument list", fname.value),
        )),
    }
}

pub(super) fn aggregate_arg(f: &Function, fname: &Name, start: Pos) -> Result<ValueExpr> {
    let args = args(f, fname)?;
    let [FunctionArg::Unnamed(arg)] = args else {
        return Err(TsqError::plan(
            fname.pos,
            format!(
                "{} takes exactly one argument: a field or rate(<field>)",
                fname.value
            ),
        ));
    };
    match arg {
        FunctionArgExpr::Expr(Expr::Identifier(ident)) => Ok(ValueExpr::Field(name(ident))),
        FunctionArgExpr::Wildcard => Err(TsqError::plan(
            fname.pos,
            format!(
                "{}(*) stands for one column per field, so it cannot be part of an expression: \
                 name the field, e.g. {}(usage)",
                fname.value, fname.value
            ),
        )),
        FunctionArgExpr::Expr(Expr::Function(inner)) => {
            let iname = single_name(&inner.name, start)?;
            if iname.value.eq_ignore_ascii_case("rate") {
                rate(inner, iname.pos, start)
            } else if let Some(func) = MathFn::from_name(&iname.value) {
                Err(TsqError::plan(
                    iname.pos,
                    format!(
                        "{} takes a field or rate(<field>), not {}(...): apply {} to the aggregate instead, e.g. {}({}(...))",
                        fname.value,
                        iname.value,
                        func.name(),
                        func.name(),
                        fname.value
                    ),
                ))
            } else {
                Err(TsqError::plan(
                    iname.pos,
                    format!(
                        "{}(...) inside {}(...): aggregates cannot be nested",
                        iname.value, fname.value
                    ),
                ))
            }
        }
        FunctionArgExpr::Expr(e) => Err(TsqError::plan(
            pos_of(e, fname.pos),
            format!(
                "{} takes a field or rate(<field>), found '{e}'",
                fname.value
            ),
        )),
        other => Err(TsqError::plan(
            fname.pos,
            format!(
                "{} takes a field or rate(<field>), found '{other}'",
                fname.value
            ),
        )),
    }
}

pub(super) fn rate(f: &Function, pos: Pos, start: Pos) -> Result<ValueExpr> {
    let fname = Name {
        value: "rate".into(),
        pos,
    };
    let args = args(f, &fname)?;
    let field = match args.first() {
        Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(ident)))) => name(ident),
        Some(FunctionArg::Unnamed(FunctionArgExpr::Wildcard)) => return Err(star_in_rate(&fname)),
        Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Function(inner)))) => {
            let iname = single_name(&inner.name, start)?;
            let message = if iname.value.eq_ignore_ascii_case("rate") {
                "rate of a rate is not supported".to_string()
            } else {
                format!("rate takes a field, not {}(...)", iname.value)
            };
            return Err(TsqError::plan(iname.pos, message));
        }
        _ => {
            return Err(TsqError::plan(
                pos,
                "rate needs a field as its first argument: rate(<field>, counter => true, ...)",
            ))
        }
    };
    let mut options = RateOptions::default();
    for arg in &args[1..] {
        rate_option(arg, pos, &mut options)?;
    }
    Ok(ValueExpr::Rate {
        field,
        options,
        pos,
    })
}

const RATE_OPTIONS: &str = "counter, counter_max, reset_value, drop_resets";

fn rate_option(arg: &FunctionArg, pos: Pos, o: &mut RateOptions) -> Result<()> {
    let FunctionArg::Named {
        name: key,
        arg: FunctionArgExpr::Expr(value),
        ..
    } = arg
    else {
        return Err(TsqError::plan(
            pos_of(arg, pos),
            format!("rate options are written name => value (one of {RATE_OPTIONS})"),
        ));
    };
    let at = pos_of(value, key.span.start.into());
    let key_name = key.value.to_ascii_lowercase();
    match key_name.as_str() {
        "counter" => o.counter = bool_value(value, &key_name, at)?,
        "drop_resets" => o.drop_resets = bool_value(value, &key_name, at)?,
        "counter_max" => o.counter_max = number_value(value, &key_name, at)?,
        "reset_value" => o.reset_value = number_value(value, &key_name, at)?,
        other => {
            return Err(TsqError::plan(
                key.span.start.into(),
                format!("unknown rate option '{other}' (expected one of {RATE_OPTIONS})"),
            ))
        }
    }
    Ok(())
}

fn bool_value(e: &Expr, key: &str, at: Pos) -> Result<bool> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Boolean(b) => Ok(*b),
            _ => Err(TsqError::plan(
                at,
                format!("{key} must be true or false, found '{e}'"),
            )),
        },
        _ => Err(TsqError::plan(
            at,
            format!("{key} must be true or false, found '{e}'"),
        )),
    }
}

fn number_value(e: &Expr, key: &str, at: Pos) -> Result<f64> {
    let bad = || {
        TsqError::plan(
            at,
            format!("{key} must be a non-negative number, found '{e}'"),
        )
    };
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse::<f64>().ok().filter(|x| *x >= 0.0).ok_or_else(bad),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

fn group_by(g: &GroupByExpr, start: Pos) -> Result<Option<GroupByClause>> {
    let exprs = match g {
        GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => exprs,
        _ => {
            return Err(TsqError::parse(
                start,
                "expected GROUP BY <tag>, ... or GROUP BY *",
            ))
        }
    };
    if exprs.is_empty() {
        return Ok(None);
    }
    if let [e @ Expr::Wildcard(_)] = exprs.as_slice() {
        return Ok(Some(GroupByClause::All(pos_of(e, start))));
    }
    let mut tags = Vec::with_capacity(exprs.len());
    for e in exprs {
        match e {
            Expr::Identifier(ident) => tags.push(name(ident)),
            other => {
                return Err(TsqError::parse(
                    pos_of(other, start),
                    format!("GROUP BY takes tag names or *, found '{other}'"),
                ))
            }
        }
    }
    Ok(Some(GroupByClause::Tags(tags)))
}
