//! Value comparisons of `WHERE` (`usage_user > 90`), checked against the
//! catalog and taken out of the filter before the pushdown rules see it.
//!
//! ```text
//!   WHERE host = 'a' AND usage > 90 AND time >= 0
//!     split ──▶ filter: host = 'a' AND time >= 0   (to the pushdown rules)
//!           ──▶ tests:  usage > 90                 (resolve ──▶ ValueFilter)
//! ```
//!
//! A comparison filters the joined result rows, so it must be a top-level
//! `AND` conjunct; it is supported in raw selects of plain fields without
//! `SAMPLE BY` (elsewhere it would be ambiguous whether it filters the
//! points before or the values after downsampling, rates and aggregates).
//! A compared field that is not selected is read by a hidden output.

use crate::ast::{Arith, ArithTest, Filter, Name, Operand, Term, ValueOp, ValueTest};
use crate::error::{Pos, Result, TsqError};
use crate::expr::ScalarExpr;
use crate::plan::{Catalog, ExprFilter, Output, ValueFilter};

/// The value comparisons taken out of `WHERE`.
#[derive(Debug, Default)]
pub(super) struct Tests {
    /// `field op number`.
    simple: Vec<ValueTest>,
    /// Comparisons with arithmetic on a side.
    arith: Vec<ArithTest>,
}

/// What tags can be tested with, for errors on other operators.
const TAG_OPS: &str = "=, !=, <>, IN, NOT IN, LIKE, ~ or !~";

/// Checks every comparison of `filter` against the catalog and takes the
/// value comparisons joined by `AND` at its top out of it: `(rest, tests)`.
pub(super) fn split(
    filter: Option<Filter>,
    catalog: &Catalog,
    measurement: &str,
) -> Result<(Option<Filter>, Tests)> {
    let Some(filter) = filter else {
        return Ok((None, Tests::default()));
    };
    check_names(&filter, catalog, measurement)?;
    if first_value_test(&filter).is_none() {
        return Ok((Some(filter), Tests::default()));
    }
    let conjuncts = filter.into_conjuncts();
    let mut tests = Tests::default();
    let mut rest = Vec::new();
    for c in conjuncts {
        match c {
            Filter::Value(t) => tests.simple.push(t),
            Filter::Arith(t) => tests.arith.push(t),
            other => {
                if let Some(pos) = first_value_test(&other) {
                    return Err(TsqError::plan(
                        pos,
                        "a value comparison must be joined with AND at the top of WHERE (it filters rows; it cannot be combined with OR/NOT)",
                    ));
                }
                rest.push(other);
            }
        }
    }
    let rest = Filter::and(rest);
    Ok((rest, tests))
}

/// Turns the value comparisons into filters over `outputs`, appending a
/// hidden output for each compared field that is not selected (a notice
/// when the field does not exist: no row can match).
pub(super) fn resolve(
    tests: &Tests,
    raw: bool,
    sampled: bool,
    catalog: &Catalog,
    measurement: &str,
    outputs: &mut Vec<Output>,
    notices: &mut Vec<String>,
) -> Result<(Vec<ValueFilter>, Vec<ExprFilter>)> {
    let first = tests
        .simple
        .first()
        .map(|t| t.field.pos)
        .or(tests.arith.first().map(|t| t.pos));
    let Some(first) = first else {
        return Ok((Vec::new(), Vec::new()));
    };
    check_placement(first, raw, sampled, outputs)?;
    // the fields of arithmetic comparisons are join columns (they are
    // compared after the join), so they come before the hidden outputs
    let mut exprs = Vec::with_capacity(tests.arith.len());
    for t in &tests.arith {
        exprs.push(ExprFilter {
            left: arith_side(&t.left, catalog, measurement, outputs, notices)?,
            op: t.op,
            right: arith_side(&t.right, catalog, measurement, outputs, notices)?,
            text: format!("{} {} {}", t.left.text(), t.op, t.right.text()),
        });
    }
    let tests = &tests.simple;
    let mut filters = Vec::with_capacity(tests.len());
    for t in tests {
        let Operand::Number(value) = t.operand else {
            // strings were rejected by `check_names`
            return Err(field_with_string(&t.field, measurement));
        };
        let field = &t.field.value;
        if catalog.measurement_exists && !catalog.is_field(field) {
            notices.push(format!(
                "field '{field}' does not exist in measurement '{measurement}': the value comparison {field} {} {value} matches no row, the result is empty",
                t.op
            ));
        }
        let output = match outputs.iter().position(|o| &o.field == field) {
            Some(i) => i,
            None => {
                outputs.push(Output {
                    name: field.clone(),
                    field: field.clone(),
                    rate: None,
                    aggregate: None,
                    pos: t.field.pos,
                    hidden: true,
                });
                outputs.len() - 1
            }
        };
        filters.push(ValueFilter {
            output,
            op: t.op,
            value,
        });
    }
    Ok((filters, exprs))
}

/// One side of an arithmetic comparison: raw fields only (a compared field
/// that is not selected is read as a join column the result drops).
fn arith_side(
    side: &Arith,
    catalog: &Catalog,
    measurement: &str,
    outputs: &mut Vec<Output>,
    notices: &mut Vec<String>,
) -> Result<ScalarExpr> {
    let mut bad = None;
    side.for_each_term(&mut |t| {
        if bad.is_none() {
            bad = match t {
                Term::Field(_) => None,
                Term::Rate(e) => Some((e.field().pos, "a rate")),
                Term::Aggregate { pos, .. } => Some((*pos, "an aggregate")),
            };
        }
    });
    if let Some((pos, what)) = bad {
        return Err(TsqError::plan(
            pos,
            format!("{what} cannot be compared in WHERE: value comparisons compare the fields of each row"),
        ));
    }
    let mut missing = Vec::new();
    side.for_each_term(&mut |t| {
        if let Term::Field(n) = t {
            if catalog.measurement_exists
                && !catalog.is_field(&n.value)
                && !catalog.is_tag(&n.value)
            {
                missing.push(n.value.clone());
            }
        }
    });
    for field in missing {
        let notice = format!(
            "field '{field}' does not exist in measurement '{measurement}': a value comparison over it matches no row, the result is empty"
        );
        if !notices.contains(&notice) {
            notices.push(notice);
        }
    }
    super::exprs::resolve(side, true, catalog, measurement, outputs)
}

/// Value comparisons are supported in raw selects of plain fields only.
fn check_placement(at: Pos, raw: bool, sampled: bool, outputs: &[Output]) -> Result<()> {
    let message = if !raw {
        "value comparisons are supported in raw selects only".to_string()
    } else if sampled {
        "value comparisons are supported in raw selects without SAMPLE BY only (it is ambiguous whether they filter the points or the downsampled values)".to_string()
    } else if let Some(o) = outputs.iter().find(|o| o.rate.is_some()) {
        format!(
            "value comparisons are supported next to plain fields only, not next to {} at {} (it is ambiguous whether they filter before or after the rate)",
            o.name, o.pos
        )
    } else {
        return Ok(());
    };
    Err(TsqError::plan(at, message))
}

/// Errors for a tag compared with a number or an ordering operator, and for
/// a field compared with a string, anywhere in `f`.
fn check_names(f: &Filter, catalog: &Catalog, measurement: &str) -> Result<()> {
    match f {
        Filter::And(items) | Filter::Or(items) => items
            .iter()
            .try_for_each(|i| check_names(i, catalog, measurement)),
        Filter::Not(inner, _) => check_names(inner, catalog, measurement),
        Filter::Time(_) => Ok(()),
        Filter::Tag(t) => {
            let key = &t.key.value;
            if catalog.is_field(key) && !catalog.is_tag(key) {
                return Err(field_with_string(&t.key, measurement));
            }
            Ok(())
        }
        Filter::Value(t) => check_value_names(t, catalog, measurement),
        // checked as its sides are resolved
        Filter::Arith(_) => Ok(()),
    }
}

fn check_value_names(t: &ValueTest, catalog: &Catalog, measurement: &str) -> Result<()> {
    let key = &t.field.value;
    let field = catalog.is_field(key);
    match &t.operand {
        Operand::String(_) if field && !catalog.is_tag(key) => {
            Err(field_with_string(&t.field, measurement))
        }
        Operand::String(_) => Err(tag_operator(t)),
        Operand::Number(n) if catalog.is_tag(key) && !field => match t.op {
            ValueOp::Eq | ValueOp::NotEq => Err(TsqError::plan(
                t.operand_pos,
                format!("tag {key} is compared with a string in single quotes, found {n}"),
            )),
            _ => Err(tag_operator(t)),
        },
        Operand::Number(_) => Ok(()),
    }
}

fn field_with_string(name: &Name, measurement: &str) -> TsqError {
    let key = &name.value;
    TsqError::plan(
        name.pos,
        format!("field '{key}' of '{measurement}' is compared with a string: compare a field with a number, e.g. {key} > 90"),
    )
}

fn tag_operator(t: &ValueTest) -> TsqError {
    TsqError::plan(
        t.field.pos,
        format!("tags can be tested with {TAG_OPS}, not {}", t.op),
    )
}

/// Where the first value comparison inside `f` is, if any.
fn first_value_test(f: &Filter) -> Option<Pos> {
    match f {
        Filter::Value(t) => Some(t.field.pos),
        Filter::Arith(t) => Some(t.pos),
        Filter::Tag(_) | Filter::Time(_) => None,
        Filter::Not(inner, _) => first_value_test(inner),
        Filter::And(items) | Filter::Or(items) => items.iter().find_map(first_value_test),
    }
}
