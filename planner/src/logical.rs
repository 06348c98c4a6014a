//! The logical planning entry point: build the plan from a parsed query and
//! run the optimizer rules over it.

use tsq_engine::spec::AggStrategy;

use crate::ast::Query;
use crate::build::build;
use crate::error::Result;
use crate::optimizer::{optimize, RuleContext};
use crate::plan::{Catalog, LogicalPlan};

/// Builds and optimizes the plan of `query`.
pub fn plan_query(
    query: &Query,
    catalog: &Catalog,
    force_strategy: Option<AggStrategy>,
) -> Result<LogicalPlan> {
    let plan = build(query, catalog)?;
    optimize(
        plan,
        &RuleContext {
            catalog,
            force_strategy,
        },
    )
}
