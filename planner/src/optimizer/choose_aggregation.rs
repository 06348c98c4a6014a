//! Rule `choose_aggregation`: the cross-timeline aggregation operator of
//! each pipeline, exactly as DESIGN §4 says.
//!
//! Interpolation is needed iff there is no `SAMPLE BY`, or `FILL(none)` with
//! an interval (`SAMPLE BY ALL` never: one bucket per timeline at the range
//! start), or a counter rate with `drop_resets` (it removes interior points).
//! `previous` / `linear` fills leave gaps only at the edges of a timeline's
//! span, where it contributes nothing anyway.
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
use tsq_engine::{Aggregator, Downsample, FillPolicy, Interval, RateOptions};

use super::{OptimizerRule, RuleContext};
use crate::error::{Result, TsqError};
use crate::plan::LogicalPlan;

/// See the module docs.
#[derive(Debug, Clone, Copy)]
pub struct ChooseAggregation;

/// Whether cross-timeline interpolation is needed: `Ok(why not)` when it
/// is not, `Err(why)` when it is.
pub(crate) fn interpolation_reason(
    downsample: Option<&Downsample>,
    rate: Option<&RateOptions>,
) -> std::result::Result<&'static str, &'static str> {
    if rate.is_some_and(|r| r.may_drop_points()) {
        return Err(
            "rate(counter, drop_resets) removes interior points, so timelines can miss timestamps",
        );
    }
    match downsample {
        None => {
            Err("without SAMPLE BY, timelines are aggregated at every timestamp any of them has")
        }
        Some(d) if d.interval == Interval::All => {
            Ok("SAMPLE BY ALL gives one bucket per timeline, all at the range start")
        }
        Some(d) if d.fill == FillPolicy::None => {
            Err("FILL(none) leaves empty buckets out, so timelines can miss timestamps")
        }
        Some(d) if d.max_gap.is_some() => Err(
            "a FILL with a maximum gap leaves longer gaps empty, so timelines can miss timestamps",
        ),
        Some(d) if matches!(d.fill, FillPolicy::Previous | FillPolicy::Linear) => {
            Ok("FILL(previous/linear) leaves gaps only at the edges of a timeline's span")
        }
        Some(_) => Ok("the fill emits every bucket of a timeline's span"),
    }
}

impl OptimizerRule for ChooseAggregation {
    fn name(&self) -> &'static str {
        "choose_aggregation"
    }

    fn apply(&self, plan: &mut LogicalPlan, ctx: &RuleContext<'_>) -> Result<()> {
        let caps = ctx.catalog.capabilities;
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
            let interp = interpolation_reason(p.spec.downsample.as_ref(), p.spec.rate.as_ref());
            let (chosen, why) = choose(agg, interp, caps.ordered_by_group);
            let (strategy, why) = match ctx.force_strategy {
                None => (chosen, why),
                Some(forced) => {
                    check_forced(
                        forced,
                        agg,
                        interp,
                        caps.ordered_by_group,
                        &ctx.catalog.adapter,
                    )
                    .map_err(|m| {
                        TsqError::plan(
                            out.pos,
                            format!("cannot force {forced} for {}: {m}", out.name),
                        )
                    })?;
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

/// The DESIGN §4 choice and its reason.
fn choose(
    agg: Aggregator,
    interp: std::result::Result<&str, &str>,
    ordered: bool,
) -> (AggStrategy, String) {
    let ordered_why = if ordered {
        "and the adapter delivers timelines ordered by group"
    } else {
        "and the adapter cannot order timelines by group"
    };
    match interp {
        Ok(no_interp) if agg.is_incremental() => (
            AggStrategy::Pipe,
            format!("no interpolation needed ({no_interp}) and {agg} is incremental"),
        ),
        Ok(_) => {
            let s = if ordered {
                AggStrategy::Grouped
            } else {
                AggStrategy::MT
            };
            (s, format!("{agg} is not incremental {ordered_why}"))
        }
        Err(why) => {
            let s = if ordered {
                AggStrategy::Grouped
            } else {
                AggStrategy::MT
            };
            (s, format!("interpolation needed ({why}) {ordered_why}"))
        }
    }
}

fn check_forced(
    forced: AggStrategy,
    agg: Aggregator,
    interp: std::result::Result<&str, &str>,
    ordered: bool,
    adapter: &str,
) -> std::result::Result<(), String> {
    match forced {
        AggStrategy::Pipe => match interp {
            Err(why) => Err(format!("PipeAggOp cannot interpolate ({why})")),
            Ok(_) if !agg.is_incremental() => Err(format!("{agg} is not incremental")),
            Ok(_) => Ok(()),
        },
        AggStrategy::Grouped if !ordered => Err(format!(
            "adapter '{adapter}' cannot deliver timelines ordered by group"
        )),
        _ => Ok(()),
    }
}
