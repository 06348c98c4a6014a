//! Rule `push_down_tag_predicate`: what is left of `WHERE` after the time
//! range (tag tests under `AND`/`OR`/`NOT`) becomes the scan's
//! [`TagPredicate`]. Every key must be a tag of the measurement. An adapter
//! with `tag_pushdown` answers it from its index; otherwise `ScanOp` applies
//! it to the series the adapter returns.

use tsq_engine::{Pattern, TagPredicate};

use super::{OptimizerRule, RuleContext};
use crate::ast::{Filter, Name, TagOp, TagTest};
use crate::build::check_tag;
use crate::error::{Result, TsqError};
use crate::plan::LogicalPlan;

/// See the module docs.
#[derive(Debug, Clone, Copy)]
pub struct PushDownTagPredicate;

impl OptimizerRule for PushDownTagPredicate {
    fn name(&self) -> &'static str {
        "push_down_tag_predicate"
    }

    fn apply(&self, plan: &mut LogicalPlan, ctx: &RuleContext<'_>) -> Result<()> {
        let Some(filter) = plan.filter.take() else {
            plan.decide(
                self.name(),
                "no tag predicate: every series of the field is read",
            );
            return Ok(());
        };
        let m = plan.measurement.clone();
        let predicate = convert(&filter, &|n: &Name| check_tag(n, ctx.catalog, &m))?;
        let adapter = &ctx.catalog.adapter;
        let note = if ctx.catalog.capabilities.tag_pushdown {
            format!("{predicate} pushed into the scan: adapter '{adapter}' selects series from its tag index")
        } else {
            format!("{predicate} set on the scan: adapter '{adapter}' cannot filter tags, ScanOp drops the other series")
        };
        plan.predicate = predicate;
        plan.decide(self.name(), note);
        Ok(())
    }
}

/// Converts a time-free filter, checking each key with `check`.
pub(crate) fn convert(f: &Filter, check: &dyn Fn(&Name) -> Result<()>) -> Result<TagPredicate> {
    Ok(match f {
        Filter::And(items) => {
            let mut all = TagPredicate::True;
            for item in items {
                all = all.and(convert(item, check)?);
            }
            all
        }
        Filter::Or(items) => {
            let mut any = Vec::with_capacity(items.len());
            for item in items {
                match convert(item, check)? {
                    TagPredicate::Or(inner) => any.extend(inner),
                    p => any.push(p),
                }
            }
            TagPredicate::Or(any)
        }
        Filter::Not(inner, _) => TagPredicate::Not(Box::new(convert(inner, check)?)),
        Filter::Tag(t) => {
            check(&t.key)?;
            test(t)?
        }
        Filter::Time(b) => {
            return Err(TsqError::plan(
                b.pos,
                "time bound left in the tag predicate",
            ))
        }
        Filter::Value(t) => {
            return Err(TsqError::plan(
                t.field.pos,
                "value comparison left in the tag predicate",
            ))
        }
        Filter::Arith(t) => {
            return Err(TsqError::plan(
                t.pos,
                "value comparison left in the tag predicate",
            ))
        }
    })
}

fn test(t: &TagTest) -> Result<TagPredicate> {
    let k = t.key.value.clone();
    let pattern = |r: tsq_engine::Result<Pattern>| {
        r.map_err(|e| TsqError::plan(t.key.pos, e.to_string().replace("invalid argument: ", "")))
    };
    Ok(match &t.op {
        TagOp::Eq(v) => TagPredicate::Eq(k, v.clone()),
        TagOp::NotEq(v) => TagPredicate::NotEq(k, v.clone()),
        TagOp::In(vs) => TagPredicate::In(k, vs.clone()),
        TagOp::NotIn(vs) => TagPredicate::NotIn(k, vs.clone()),
        TagOp::Like(p, false) => TagPredicate::Like(k, pattern(Pattern::like(p))?),
        TagOp::Like(p, true) => {
            TagPredicate::Not(Box::new(TagPredicate::Like(k, pattern(Pattern::like(p))?)))
        }
        TagOp::Regex(p, false) => TagPredicate::Regex(k, pattern(Pattern::regex(p))?),
        TagOp::Regex(p, true) => TagPredicate::NotRegex(k, pattern(Pattern::regex(p))?),
    })
}
