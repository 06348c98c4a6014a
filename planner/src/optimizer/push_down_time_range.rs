//! Rule `push_down_time_range`: the time bounds joined by `AND` at the top
//! of `WHERE` become the scan's half-open range `[start, end)`. A time bound
//! under `OR` or `NOT` cannot become a range and is a plan error; so is a
//! range that holds no instant.

use tsq_engine::TimeRange;

use super::{OptimizerRule, RuleContext};
use crate::ast::{Filter, TimeBound, TimeOp};
use crate::error::{Pos, Result, TsqError};
use crate::plan::LogicalPlan;

/// See the module docs.
#[derive(Debug, Clone, Copy)]
pub struct PushDownTimeRange;

impl OptimizerRule for PushDownTimeRange {
    fn name(&self) -> &'static str {
        "push_down_time_range"
    }

    fn apply(&self, plan: &mut LogicalPlan, ctx: &RuleContext<'_>) -> Result<()> {
        let conjuncts = plan
            .filter
            .take()
            .map(Filter::into_conjuncts)
            .unwrap_or_default();
        let mut range = TimeRange::ALL;
        let mut first: Option<Pos> = None;
        let mut rest = Vec::new();
        for c in conjuncts {
            match c {
                Filter::Time(b) => {
                    first.get_or_insert(b.pos);
                    range = range.intersect(&bound(&b));
                }
                other => {
                    check_no_time(&other)?;
                    rest.push(other);
                }
            }
        }
        if let (true, Some(pos)) = (range.is_empty(), first) {
            return Err(TsqError::plan(
                pos,
                format!("empty time range {range}: the time bounds exclude every instant"),
            ));
        }
        plan.filter = Filter::and(rest);
        plan.range = range;
        let shown = show(&range);
        let note = if range == TimeRange::ALL {
            "no time bound: the scan reads every point (fills span the data)".to_string()
        } else if ctx.catalog.capabilities.time_pruning {
            format!(
                "range {shown} pushed into the scan: adapter '{}' prunes by time",
                ctx.catalog.adapter
            )
        } else {
            format!(
                "range {shown} set on the scan: adapter '{}' cannot prune by time, ScanOp drops points outside it",
                ctx.catalog.adapter
            )
        };
        plan.decide(self.name(), note);
        Ok(())
    }
}

/// `[start, end)` in RFC 3339 (UTC) where the ends are set.
pub(crate) fn show(range: &TimeRange) -> String {
    let end = |v: Option<i64>, open: &str| match v {
        None => open.to_string(),
        Some(ns) => arrow::temporal_conversions::timestamp_ns_to_datetime(ns).map_or_else(
            || ns.to_string(),
            |d| d.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
        ),
    };
    format!("[{}, {})", end(range.start, "-∞"), end(range.end, "∞"))
}

/// The range `time <op> value` allows (`v + 1` past `i64::MAX` is unbounded).
fn bound(b: &TimeBound) -> TimeRange {
    let v = b.value;
    let next = v.checked_add(1);
    let range = |start, end| TimeRange { start, end };
    match b.op {
        TimeOp::GtEq => range(Some(v), None),
        TimeOp::Gt if next.is_none() => range(Some(v), Some(v)),
        TimeOp::Gt => range(next, None),
        TimeOp::Lt => range(None, Some(v)),
        TimeOp::LtEq => range(None, next),
        TimeOp::Eq => range(Some(v), next),
    }
}

/// The position of the first time bound inside `f`, if any.
fn time_inside(f: &Filter) -> Option<Pos> {
    match f {
        Filter::Time(b) => Some(b.pos),
        Filter::Tag(_) | Filter::Value(_) | Filter::Arith(_) => None,
        Filter::Not(inner, _) => time_inside(inner),
        Filter::And(items) | Filter::Or(items) => items.iter().find_map(time_inside),
    }
}

/// Errors when a time bound hides under `OR` or `NOT`.
fn check_no_time(f: &Filter) -> Result<()> {
    let Some(pos) = time_inside(f) else {
        return Ok(());
    };
    let mut node = f;
    loop {
        match node {
            Filter::Not(..) => {
                return Err(TsqError::plan(
                    pos,
                    "a time bound inside NOT cannot be pushed down: write the opposite bound (time < x instead of NOT time >= x)",
                ))
            }
            Filter::Or(..) => {
                return Err(TsqError::plan(
                    pos,
                    "OR across time and tag predicates cannot be pushed down: join time bounds to the rest of WHERE with AND",
                ))
            }
            Filter::And(items) => match items.iter().find(|i| time_inside(i).is_some()) {
                Some(item) => node = item,
                None => return Ok(()),
            },
            Filter::Time(_) | Filter::Tag(_) | Filter::Value(_) | Filter::Arith(_) => return Ok(()),
        }
    }
}
