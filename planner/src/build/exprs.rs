//! The arithmetic of the select list, resolved against the outputs: each
//! distinct term (an aggregate, a raw field, a raw rate) is computed once
//! by a pipeline, as an output of its own or as the output a plain select
//! item already has, and the expression becomes a [`ScalarExpr`] over
//! output indices.
//!
//! ```text
//!   SELECT max(a), avg(a) + avg(b) AS s, avg(a) * 2
//!     outputs: 0 max(a)   1 avg(a)   2 avg(b)        (three pipelines)
//!     columns: Output(0)  Computed s = #1 + #2  Computed #1 * 2
//! ```

use crate::ast::{Arith, Term, ValueExpr};
use crate::error::{Result, TsqError};
use crate::expr::ScalarExpr;
use crate::plan::{Catalog, Output};

/// Resolves `expr` into a [`ScalarExpr`], adding an output for each term
/// no output computes yet.
pub(super) fn resolve(
    expr: &Arith,
    raw: bool,
    catalog: &Catalog,
    measurement: &str,
    outputs: &mut Vec<Output>,
) -> Result<ScalarExpr> {
    Ok(convert(expr, raw, catalog, measurement, outputs)?.folded())
}

fn convert(
    expr: &Arith,
    raw: bool,
    catalog: &Catalog,
    m: &str,
    outputs: &mut Vec<Output>,
) -> Result<ScalarExpr> {
    let mut sub = |e: &Arith| convert(e, raw, catalog, m, outputs).map(Box::new);
    Ok(match expr {
        Arith::Number { value, .. } => ScalarExpr::Literal(*value),
        Arith::Neg(e) => ScalarExpr::Neg(sub(e)?),
        Arith::Call { func, arg } => ScalarExpr::Call {
            func: *func,
            arg: sub(arg)?,
        },
        Arith::Binary { op, left, right } => ScalarExpr::Binary {
            op: *op,
            left: sub(left)?,
            right: sub(right)?,
        },
        Arith::Term(t) => ScalarExpr::Column(term_output(t, raw, catalog, m, outputs)?),
    })
}

/// The output computing `t`: an existing one with the same definition, or
/// a new one named by the term's text (made unique among the outputs).
fn term_output(
    t: &Term,
    raw: bool,
    catalog: &Catalog,
    m: &str,
    outputs: &mut Vec<Output>,
) -> Result<usize> {
    let (expr, aggregate) = match t {
        Term::Field(n) if catalog.is_tag(&n.value) && !catalog.is_field(&n.value) => {
            return Err(TsqError::plan(
                n.pos,
                format!("type error: '{}' is a tag of '{m}': tags are strings, arithmetic takes numbers, fields and aggregates", n.value),
            ))
        }
        Term::Field(n) if !raw => {
            return Err(TsqError::plan(
                n.pos,
                format!(
                    "raw field '{}' cannot be used next to aggregates; aggregate it, e.g. avg({})",
                    n.value, n.value
                ),
            ))
        }
        Term::Field(n) => (ValueExpr::Field(n.clone()), None),
        Term::Rate(e) if !raw => {
            return Err(TsqError::plan(
                e.field().pos,
                format!(
                    "{} needs an aggregator next to other aggregates, e.g. sum({})",
                    e.text(),
                    e.text()
                ),
            ))
        }
        Term::Rate(e) => (e.clone(), None),
        Term::Aggregate { agg, expr, .. } => (expr.clone(), Some(*agg)),
    };
    super::check_field(expr.field(), catalog, m)?;
    let field = expr.field().value.clone();
    let rate = expr.rate();
    let same =
        |o: &Output| !o.hidden && o.field == field && o.rate == rate && o.aggregate == aggregate;
    if let Some(i) = outputs.iter().position(same) {
        return Ok(i);
    }
    let mut name = t.text();
    let mut n = 1;
    while outputs.iter().any(|o| o.name == name) {
        n += 1;
        name = format!("{}#{n}", t.text());
    }
    outputs.push(Output {
        name,
        field,
        rate,
        aggregate,
        pos: t.pos(),
        hidden: false,
    });
    Ok(outputs.len() - 1)
}

/// True when `expr` holds an aggregate.
pub(super) fn has_aggregate(expr: &Arith) -> bool {
    let mut found = false;
    expr.for_each_term(&mut |t| found |= matches!(t, Term::Aggregate { .. }));
    found
}
