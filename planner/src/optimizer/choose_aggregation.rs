//! Rule `choose_aggregation`: the cross-timeline aggregation operator of
//! each pipeline (`docs/architecture.md`, "How a batch flows").
//!
//! Which strategies are valid is the engine's rule
//! (`tsq_engine::strategy`): this rule asks it, picks the first valid one
//! in the order below, and writes down why (the engine's
//! `interpolation` reason and the aggregator's incrementality).
//!
//! ```text
//!   no interpolation && incremental aggregator ──▶ PipeAggOp
//!   else adapter delivers timelines by group     ──▶ GroupedAggOp
//!   else                                          ──▶ MTAggOp
//! ```
//!
//! The session's `force_strategy` overrides the choice; forcing PipeAggOp
//! where it would give wrong results, or GroupedAggOp on an adapter that
//! cannot order by group, is a plan error.

use tsq_engine::spec::AggStrategy;
use tsq_engine::strategy::{interpolation, strategy_error};
use tsq_engine::{Aggregator, Capabilities, PipelineSpec};

use super::{OptimizerRule, RuleContext};
use crate::error::{Result, TsqError};
use crate::plan::LogicalPlan;

/// See the module docs.
#[derive(Debug, Clone, Copy)]
pub struct ChooseAggregation;

impl OptimizerRule for ChooseAggregation {
    fn name(&self) -> &'static str {
        "choose_aggregation"
    }

    fn apply(&self, plan: &mut LogicalPlan, ctx: &RuleContext<'_>) -> Result<()> {
        let caps = ctx.catalog.capabilities;
        let adapter = ctx.catalog.adapter.as_str();
        let mut notes = Vec::new();
        for p in &mut plan.pipelines {
            let out = &plan.outputs[p.output];
            let Some(agg) = p.spec.aggregate else {
                notes.push(format!(
                    "{}: raw timelines, no cross-timeline aggregation",
                    out.name
                ));
                continue;
            };
            let (chosen, why) = choose(&p.spec, agg, caps, adapter);
            let (strategy, why) = match ctx.force_strategy {
                None => (chosen, why),
                Some(forced) => {
                    if let Some(m) = strategy_error(&p.spec, caps, adapter, forced) {
                        return Err(TsqError::plan(
                            out.pos,
                            format!("cannot force {forced} for {}: {m}", out.name),
                        ));
                    }
                    (
                        forced,
                        format!("forced by the session (the optimizer would pick {chosen}: {why})"),
                    )
                }
            };
            if strategy == AggStrategy::Grouped {
                p.spec.scan.group_order = Some(p.spec.group_by.clone());
            }
            p.strategy = strategy;
            notes.push(format!("{}: {strategy}, {why}", out.name));
        }
        for n in notes {
            plan.decide(self.name(), n);
        }
        Ok(())
    }
}

/// The first valid strategy of PipeAggOp, GroupedAggOp, MTAggOp (valid as
/// the engine decides), and the reason.
fn choose(
    spec: &PipelineSpec,
    agg: Aggregator,
    caps: Capabilities,
    adapter: &str,
) -> (AggStrategy, String) {
    let valid = |s| strategy_error(spec, caps, adapter, s).is_none();
    let (ordered, ordered_why) = if valid(AggStrategy::Grouped) {
        (
            AggStrategy::Grouped,
            "and the adapter delivers timelines ordered by group",
        )
    } else {
        (
            AggStrategy::MT,
            "and the adapter cannot order timelines by group",
        )
    };
    match interpolation(spec) {
        Ok(no_interp) if valid(AggStrategy::Pipe) => (
            AggStrategy::Pipe,
            format!("no interpolation needed ({no_interp}) and {agg} is incremental"),
        ),
        Ok(_) => (ordered, format!("{agg} is not incremental {ordered_why}")),
        Err(why) => (
            ordered,
            format!("interpolation needed ({why}) {ordered_why}"),
        ),
    }
}
