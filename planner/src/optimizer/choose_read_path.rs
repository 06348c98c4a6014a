//! Rule `choose_read_path`: how each pipeline's leaf reads (`docs/semantics.md`
//! §10), so that queries about the end of the data do not read all of it.
//!
//! ```text
//!   SAMPLE BY ALL last, adapter with last_point  ──▶ last point (LastPointOp;
//!     every column one, over one selection       ──▶   one LastPointsOp for all)
//!   ORDER BY time DESC LIMIT n, SAMPLE BY d
//!     FILL(null | nan)                           ──▶ tail of n buckets
//!   else                                         ──▶ scan
//! ```
//!
//! Whether a path gives exactly the rows of a scan is the engine's call
//! (`tsq_engine::check_read_path`); this rule only asks it and records why.

use tsq_engine::ops::last_points::check_last_points;
use tsq_engine::{check_read_path, PipelineSpec, ReadPath};

use super::{OptimizerRule, RuleContext};
use crate::error::Result;
use crate::plan::LogicalPlan;

/// See the module docs.
#[derive(Debug, Clone, Copy)]
pub struct ChooseReadPath;

impl ChooseReadPath {
    /// The path worth trying for `plan`, with what makes it worth it.
    fn candidate(plan: &LogicalPlan, ctx: &RuleContext<'_>) -> Option<(ReadPath, String)> {
        let ds = plan.downsample?;
        if ds.interval == tsq_engine::Interval::All && ds.agg == tsq_engine::Aggregator::Last {
            if !ctx.catalog.capabilities.last_point {
                return None;
            }
            return Some((
                ReadPath::LastPoint,
                format!(
                    "SAMPLE BY ALL last needs only the newest point of each series, which \
                     adapter '{}' finds without a scan (TSM: the newest block that starts \
                     before the range's end, or the cache)",
                    ctx.catalog.adapter
                ),
            ));
        }
        let newest_first = plan
            .order_by
            .first()
            .is_some_and(|o| o.column.value == "time" && o.descending);
        let rows = plan.limit.filter(|_| newest_first)?;
        Some((
            ReadPath::Tail { rows },
            format!(
                "ORDER BY time DESC LIMIT {rows}: the first {rows} rows lie in the last {rows} \
                 buckets, so only they are read (when every timeline with a point in the range \
                 has one there, checked from its newest point; otherwise the whole range)"
            ),
        ))
    }
}

impl OptimizerRule for ChooseReadPath {
    fn name(&self) -> &'static str {
        "choose_read_path"
    }

    fn apply(&self, plan: &mut LogicalPlan, ctx: &RuleContext<'_>) -> Result<()> {
        let Some((path, why)) = Self::candidate(plan, ctx) else {
            return Ok(());
        };
        let mut notes = Vec::new();
        let mut taken = false;
        for p in &mut plan.pipelines {
            let name = p.spec.output_name.clone();
            match check_read_path(&p.spec, path) {
                None => {
                    p.read = path;
                    taken = true;
                    notes.push(format!("{name}: {path}"));
                }
                Some(reason) => notes.push(format!("{name}: scan, not {path}: {reason}")),
            }
        }
        let notes = notes.join(", ");
        if taken {
            plan.decide(self.name(), format!("{notes}; {why}"));
        } else {
            plan.decide(self.name(), notes);
        }
        if path == ReadPath::LastPoint && plan.pipelines.iter().all(|p| p.read == path) {
            let specs: Vec<&PipelineSpec> = plan.pipelines.iter().map(|p| &p.spec).collect();
            let note = match check_last_points(&specs) {
                None => {
                    plan.last_points_as_one = true;
                    format!(
                        "one LastPointsOp computes every value column ({}): the same \
                         selection, one newest-point lookup, one row per group with every column",
                        specs.len()
                    )
                }
                Some(reason) => format!("one pipeline per column, not one LastPointsOp: {reason}"),
            };
            plan.decide(self.name(), note);
        }
        Ok(())
    }
}
