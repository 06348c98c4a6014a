//! `agg(*)` in the select list (`docs/semantics.md` §11): expanded against
//! the catalog into one aggregate per field of the measurement, in the
//! catalog's (sorted) field order, named `<agg>_<field>` as InfluxQL names
//! them (`last(*)` → `last_usage_system`, `last_usage_user`, ...).
//!
//! With `SAMPLE BY`, `agg(*)` is exactly the list of `agg(field) AS
//! agg_field` it stands for. Without it, the query reads as InfluxQL's
//! aggregate without `GROUP BY time()`: one row per group over the whole
//! range. In tsq's terms each timeline is reduced with `SAMPLE BY ALL agg`
//! and the timelines of a group are then aggregated with `agg` (`count`:
//! summed, so that it counts points rather than timelines). So TSBS
//! `lastpoint`, `SELECT last(*) FROM cpu GROUP BY hostname`, is
//! `SAMPLE BY ALL last` and rule `choose_read_path` can read it with
//! `LastPointOp`.

use tsq_engine::{Aggregator, FillPolicy, Interval};

use crate::ast::{Name, Projection, Query, SampleBy, ValueExpr};
use crate::error::{Pos, Result, TsqError};
use crate::plan::Catalog;

/// A query whose `agg(*)` items were expanded, and what EXPLAIN says about it.
pub(super) struct Expanded {
    /// The query with one `Projection::Aggregate` per field for each `agg(*)`,
    /// and the implied `SAMPLE BY ALL` if there is one.
    pub(super) query: Query,
    /// The decision line for EXPLAIN.
    pub(super) note: String,
}

/// Expands the `agg(*)` items of `query`; `None` when it has none.
pub(super) fn expand(query: &Query, catalog: &Catalog) -> Result<Option<Expanded>> {
    let stars: Vec<(Aggregator, Pos)> = query
        .projections
        .iter()
        .filter_map(|p| match p {
            Projection::AggregateAll { agg, pos } => Some((*agg, *pos)),
            _ => None,
        })
        .collect();
    let Some(&(first_agg, first_pos)) = stars.first() else {
        return Ok(None);
    };
    let m = &query.measurement.value;
    for &(agg, pos) in &stars {
        if !catalog.measurement_exists {
            return Err(TsqError::plan(
                pos,
                format!("{agg}(*) names every field of '{m}', but there is no measurement '{m}'"),
            ));
        }
        if catalog.fields.is_empty() {
            return Err(TsqError::plan(
                pos,
                format!("{agg}(*) names every field of '{m}', but '{m}' has no fields"),
            ));
        }
    }
    let implied = match query.sample_by {
        Some(_) => None,
        None => {
            check_implied(query, first_agg, first_pos)?;
            Some(SampleBy {
                interval: Interval::All,
                agg: first_agg,
                fill: FillPolicy::None,
                max_gap: None,
                pos: first_pos,
                fill_pos: None,
            })
        }
    };
    let mut expanded = query.clone();
    expanded.projections = Vec::with_capacity(query.projections.len() + catalog.fields.len());
    let mut columns = Vec::new();
    for p in &query.projections {
        let Projection::AggregateAll { agg, pos } = p else {
            expanded.projections.push(p.clone());
            continue;
        };
        // summing per-timeline counts counts points; counting them would count timelines
        let across = match (implied, agg) {
            (Some(_), Aggregator::Count) => Aggregator::Sum,
            _ => *agg,
        };
        for field in &catalog.fields {
            let name = format!("{agg}_{field}");
            columns.push(name.clone());
            expanded.projections.push(Projection::Aggregate {
                agg: across,
                pos: *pos,
                expr: ValueExpr::Field(Name {
                    value: field.clone(),
                    pos: *pos,
                }),
                alias: Some(name),
            });
        }
    }
    let written: Vec<String> = stars.iter().map(|(a, _)| format!("{a}(*)")).collect();
    let mut note = format!(
        "{} → {} (the fields of '{m}')",
        written.join(", "),
        columns.join(", ")
    );
    if implied.is_some() {
        note.push_str(&format!(
            "; no SAMPLE BY: one row per group over the range, each timeline reduced with \
             SAMPLE BY ALL {first_agg}, then {} across the timelines of a group",
            if first_agg == Aggregator::Count {
                "summed".to_string()
            } else {
                first_agg.to_string()
            }
        ));
    }
    expanded.sample_by = expanded.sample_by.or(implied);
    Ok(Some(Expanded {
        query: expanded,
        note,
    }))
}

/// Without `SAMPLE BY`, `agg(*)` implies `SAMPLE BY ALL agg` for the whole
/// query: every other aggregate must be an `agg(*)` of the same aggregator,
/// since the implied clause would change what a one-field aggregate means
/// and a query has one downsample aggregator.
fn check_implied(query: &Query, agg: Aggregator, pos: Pos) -> Result<()> {
    let needs_sample_by = |at: Pos, what: String| {
        Err(TsqError::plan(
            at,
            format!(
                "{what} next to {agg}(*) at {pos} needs SAMPLE BY: without it {agg}(*) \
                 reduces each timeline with SAMPLE BY ALL {agg}, which the whole query would \
                 share; write the SAMPLE BY clause (e.g. SAMPLE BY ALL {agg})"
            ),
        ))
    };
    for p in &query.projections {
        match p {
            Projection::AggregateAll {
                agg: other,
                pos: at,
            } if *other != agg => {
                return needs_sample_by(*at, format!("{other}(*)"));
            }
            Projection::Aggregate {
                agg: other,
                pos: at,
                expr,
                ..
            } => return needs_sample_by(*at, format!("{other}({})", expr.text())),
            Projection::Arith { expr, pos: at, .. } if super::exprs::has_aggregate(expr) => {
                return needs_sample_by(*at, format!("'{}'", expr.text()));
            }
            _ => {}
        }
    }
    Ok(())
}
