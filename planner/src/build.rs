//! Query → [`LogicalPlan`]: checks the statement against the catalog
//! (tags are tags, fields are fields, aggregates are not mixed with raw
//! fields, `FILL` has a `SAMPLE BY`, `ORDER BY` names a result column) and
//! resolves the result columns; `agg(*)` is expanded to one aggregate per
//! field by [`star`] first, and value comparisons are taken out of `WHERE`
//! by [`values`]. Pushdowns and pipelines are left to the optimizer rules.

mod exprs;
mod star;
mod values;

use tsq_engine::{Downsample, GroupBy, TagPredicate, TimeRange};

use crate::ast::{GroupByClause, Name, Projection, Query, ValueExpr};
use crate::error::{Result, TsqError};
use crate::plan::{Catalog, LogicalPlan, Output, ResultColumn};

/// Builds the logical plan of `query`.
pub(crate) fn build(query: &Query, catalog: &Catalog) -> Result<LogicalPlan> {
    if let Some(pos) = query.orphan_fill {
        return Err(TsqError::plan(pos, "FILL needs SAMPLE BY"));
    }
    let expanded = star::expand(query, catalog)?;
    let query = expanded.as_ref().map_or(query, |e| &e.query);
    let m = &query.measurement.value;
    let (filter, value_tests) = values::split(query.filter.clone(), catalog, m)?;
    let mut notices = Vec::new();
    if !catalog.measurement_exists {
        notices.push(format!(
            "measurement '{m}' does not exist: the result is empty"
        ));
    }
    let raw = !query.projections.iter().any(|p| match p {
        Projection::Aggregate { .. } | Projection::AggregateAll { .. } => true,
        Projection::Arith { expr, .. } => exprs::has_aggregate(expr),
        _ => false,
    });
    let (mut outputs, columns) = outputs(query, catalog, raw)?;
    for o in &outputs {
        if catalog.measurement_exists && !catalog.is_field(&o.field) {
            notices.push(format!(
                "field '{}' does not exist in measurement '{m}': column '{}' is empty",
                o.field, o.name
            ));
        }
    }
    let (value_filters, expr_filters) = values::resolve(
        &value_tests,
        raw,
        query.sample_by.is_some(),
        catalog,
        m,
        &mut outputs,
        &mut notices,
    )?;
    let (group_by, tag_columns) = grouping(query, catalog, raw)?;
    check_selected_tags(query, catalog, &group_by, raw)?;
    let downsample = query.sample_by.map(|s| Downsample {
        interval: s.interval,
        agg: s.agg,
        fill: s.fill,
        max_gap: s.max_gap,
    });
    let mut plan = LogicalPlan {
        measurement: m.clone(),
        filter,
        range: TimeRange::ALL,
        predicate: TagPredicate::True,
        group_by,
        tag_columns,
        downsample,
        sample_by_pos: query.sample_by.map(|s| s.pos),
        outputs,
        columns,
        value_filters,
        expr_filters,
        raw,
        pipelines: Vec::new(),
        last_points_as_one: false,
        order_by: query.order_by.clone(),
        limit: query.limit,
        notices,
        decisions: Vec::new(),
        field_types: catalog.field_types.clone(),
    };
    check_order_by(&plan)?;
    if let Some(e) = expanded {
        plan.decide("expand_star", e.note);
    }
    Ok(plan)
}

/// Errors when `name` is used as a field but is a tag.
fn check_field(name: &Name, catalog: &Catalog, measurement: &str) -> Result<()> {
    if catalog.is_tag(&name.value) && !catalog.is_field(&name.value) {
        return Err(TsqError::plan(
            name.pos,
            format!("'{}' is a tag of '{measurement}', not a field", name.value),
        ));
    }
    Ok(())
}

/// Errors unless `name` is a tag key (only checked when the measurement exists).
pub(crate) fn check_tag(name: &Name, catalog: &Catalog, measurement: &str) -> Result<()> {
    if !catalog.measurement_exists || catalog.is_tag(&name.value) {
        return Ok(());
    }
    let message = if catalog.is_field(&name.value) {
        format!("'{}' is a field of '{measurement}', not a tag", name.value)
    } else {
        format!(
            "unknown tag '{}' in measurement '{measurement}' (tags: {})",
            name.value,
            if catalog.tag_keys.is_empty() {
                "none".to_string()
            } else {
                catalog.tag_keys.join(", ")
            }
        )
    };
    Err(TsqError::plan(name.pos, message))
}

/// The outputs the pipelines compute and the result's value columns: the
/// plain select items first (one output each), then the terms of the
/// expressions (shared with a plain item or another expression computing
/// the same thing).
fn outputs(
    query: &Query,
    catalog: &Catalog,
    raw: bool,
) -> Result<(Vec<Output>, Vec<ResultColumn>)> {
    let m = &query.measurement.value;
    let mut out: Vec<Output> = Vec::new();
    // per select item that is a value column: its output, or `None` for an expression
    let mut slots: Vec<Option<usize>> = Vec::new();
    for p in &query.projections {
        let (expr, agg, alias, pos) = match p {
            Projection::Column(n) if catalog.is_tag(&n.value) => continue,
            Projection::Column(n) if !raw => {
                let message = if catalog.is_field(&n.value) {
                    format!("raw field '{}' cannot be selected next to aggregates; aggregate it, e.g. avg({})", n.value, n.value)
                } else {
                    format!("'{}' is neither a tag nor a field of '{m}'", n.value)
                };
                if catalog.measurement_exists || catalog.is_field(&n.value) {
                    return Err(TsqError::plan(n.pos, message));
                }
                continue;
            }
            Projection::Column(n) => (ValueExpr::Field(n.clone()), None, None, n.pos),
            Projection::Rate { expr, alias } if !raw => {
                let pos = expr.field().pos;
                return Err(TsqError::plan(
                    pos,
                    format!(
                        "{} needs an aggregator next to other aggregates, e.g. sum({})",
                        expr.text(),
                        expr.text()
                    ),
                ));
            }
            Projection::Rate { expr, alias } => {
                (expr.clone(), None, alias.clone(), expr.field().pos)
            }
            Projection::Aggregate {
                agg,
                pos,
                expr,
                alias,
            } => (expr.clone(), Some(*agg), alias.clone(), *pos),
            Projection::Arith { .. } => {
                slots.push(None);
                continue;
            }
            // expanded by `star::expand` before the outputs are resolved
            Projection::AggregateAll { .. } => continue,
        };
        check_field(expr.field(), catalog, m)?;
        let name = alias.unwrap_or_else(|| match agg {
            Some(a) => format!("{a}({})", expr.text()),
            None => expr.text(),
        });
        check_name(&name, pos, catalog, out.iter().map(|o| o.name.as_str()))?;
        slots.push(Some(out.len()));
        out.push(Output {
            name,
            field: expr.field().value.clone(),
            rate: expr.rate(),
            aggregate: agg,
            pos,
            hidden: false,
        });
    }
    let direct = out.len();
    let mut columns = Vec::with_capacity(slots.len());
    let mut exprs = query.projections.iter().filter_map(|p| match p {
        Projection::Arith { expr, alias, pos } => Some((expr, alias, *pos)),
        _ => None,
    });
    for slot in slots {
        if let Some(i) = slot {
            columns.push(ResultColumn::Output(i));
            continue;
        }
        let Some((expr, alias, pos)) = exprs.next() else {
            continue;
        };
        let scalar = exprs::resolve(expr, raw, catalog, m, &mut out)?;
        let name = alias.clone().unwrap_or_else(|| expr.text());
        let taken = columns
            .iter()
            .map(|c| match c {
                ResultColumn::Output(i) => out[*i].name.as_str(),
                ResultColumn::Computed { name, .. } => name.as_str(),
            })
            .chain(out[..direct].iter().map(|o| o.name.as_str()));
        check_name(&name, pos, catalog, taken)?;
        columns.push(ResultColumn::Computed {
            name,
            expr: scalar,
            pos,
        });
    }
    if out.is_empty() {
        return Err(TsqError::plan(
            query.measurement.pos,
            "nothing to compute: select a field or an aggregate such as avg(<field>)",
        ));
    }
    Ok((out, columns))
}

/// Errors when `name` cannot be a new result column: it is `time`, a tag,
/// or one of `taken`.
fn check_name<'a>(
    name: &str,
    pos: crate::error::Pos,
    catalog: &Catalog,
    mut taken: impl Iterator<Item = &'a str>,
) -> Result<()> {
    if name == "time" || catalog.is_tag(name) || taken.any(|t| t == name) {
        return Err(TsqError::plan(
            pos,
            format!("duplicate result column '{name}': give it another name with AS"),
        ));
    }
    Ok(())
}

fn grouping(query: &Query, catalog: &Catalog, raw: bool) -> Result<(GroupBy, Vec<String>)> {
    let m = &query.measurement.value;
    if raw {
        if let Some(g) = &query.group_by {
            let pos = match g {
                GroupByClause::All(p) => *p,
                GroupByClause::Tags(t) => t.first().map_or(query.measurement.pos, |n| n.pos),
            };
            return Err(TsqError::plan(
                pos,
                "GROUP BY needs an aggregate such as avg(<field>)",
            ));
        }
        return Ok((GroupBy::All, catalog.tag_keys.clone()));
    }
    match &query.group_by {
        None => Ok((GroupBy::None, Vec::new())),
        Some(GroupByClause::All(_)) => Ok((GroupBy::All, catalog.tag_keys.clone())),
        Some(GroupByClause::Tags(tags)) => {
            let mut names: Vec<String> = Vec::new();
            for t in tags {
                check_tag(t, catalog, m)?;
                if names.contains(&t.value) {
                    return Err(TsqError::plan(
                        t.pos,
                        format!("tag '{}' appears twice in GROUP BY", t.value),
                    ));
                }
                names.push(t.value.clone());
            }
            Ok((GroupBy::Tags(names.clone()), names))
        }
    }
}

/// Tag columns in the select list must be group tags of an aggregate query.
fn check_selected_tags(
    query: &Query,
    catalog: &Catalog,
    group_by: &GroupBy,
    raw: bool,
) -> Result<()> {
    if raw {
        return Ok(());
    }
    for p in &query.projections {
        let Projection::Column(n) = p else { continue };
        let grouped = match group_by {
            GroupBy::All => true,
            GroupBy::Tags(t) => t.contains(&n.value),
            GroupBy::None => false,
        };
        if catalog.is_tag(&n.value) && !grouped {
            return Err(TsqError::plan(
                n.pos,
                format!(
                    "tag '{}' is selected but not grouped: add it to GROUP BY",
                    n.value
                ),
            ));
        }
    }
    Ok(())
}

fn check_order_by(plan: &LogicalPlan) -> Result<()> {
    let names = plan.column_names();
    for item in &plan.order_by {
        if !names.contains(&item.column.value) {
            return Err(TsqError::plan(
                item.column.pos,
                format!(
                    "ORDER BY column '{}' is not in the result (columns: {})",
                    item.column.value,
                    names.join(", ")
                ),
            ));
        }
    }
    Ok(())
}
