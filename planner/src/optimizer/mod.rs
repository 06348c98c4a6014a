//! The optimizer: named rules applied in order to a [`LogicalPlan`], each a
//! small unit in its own file that records why it decided what it did
//! (EXPLAIN prints those sentences).
//!
//! 1. [`PushDownTimeRange`]: top-level time bounds → the scan's time range.
//! 2. [`PushDownTagPredicate`]: the rest of `WHERE` → the scan's tag predicate.
//! 3. [`SplitFields`]: one engine pipeline per value column.
//! 4. [`ChooseAggregation`]: PipeAggOp, GroupedAggOp or MTAggOp (`docs/architecture.md`, "How a batch flows").
//! 5. [`ChooseReadPath`]: scan, last point or tail of each pipeline's leaf.

mod choose_aggregation;
mod choose_read_path;
mod push_down_tag_predicate;
pub(crate) mod push_down_time_range;
mod split_fields;

pub use choose_aggregation::ChooseAggregation;
pub use choose_read_path::ChooseReadPath;
pub(crate) use push_down_tag_predicate::convert as tag_predicate;
pub use push_down_tag_predicate::PushDownTagPredicate;
pub use push_down_time_range::PushDownTimeRange;
pub use split_fields::SplitFields;

use tsq_engine::spec::AggStrategy;

use crate::error::Result;
use crate::plan::{Catalog, LogicalPlan};

/// What rules may consult besides the plan.
#[derive(Debug, Clone, Copy)]
pub struct RuleContext<'a> {
    /// The measurement's catalog and the adapter's capabilities.
    pub catalog: &'a Catalog,
    /// The session's `force_strategy` setting.
    pub force_strategy: Option<AggStrategy>,
}

/// One rewrite of the logical plan.
pub trait OptimizerRule {
    /// The rule's name, as EXPLAIN prints it.
    fn name(&self) -> &'static str;

    /// Rewrites `plan`, recording its decision with [`LogicalPlan::decide`].
    fn apply(&self, plan: &mut LogicalPlan, ctx: &RuleContext<'_>) -> Result<()>;
}

/// The rules, in the order they run.
pub fn default_rules() -> Vec<Box<dyn OptimizerRule>> {
    vec![
        Box::new(PushDownTimeRange),
        Box::new(PushDownTagPredicate),
        Box::new(SplitFields),
        Box::new(ChooseAggregation),
        Box::new(ChooseReadPath),
    ]
}

/// Applies every default rule to `plan`.
pub fn optimize(mut plan: LogicalPlan, ctx: &RuleContext<'_>) -> Result<LogicalPlan> {
    for rule in default_rules() {
        rule.apply(&mut plan, ctx)?;
    }
    Ok(plan)
}

#[cfg(test)]
mod tests;
