//! Rule `split_fields`: one engine pipeline (scan → downsample → rate →
//! aggregate) per value column, each reading one field, plus one per field
//! read only for a value filter (a hidden column, dropped after the join). Columns that read
//! the same field with the same downsample could share the scan and the
//! downsample; they do not yet, and the rule says so.

use tsq_engine::spec::{AggStrategy, PipelineSpec};
use tsq_engine::ReadPath;
use tsq_engine::ScanRequest;

use super::{OptimizerRule, RuleContext};
use crate::error::Result;
use crate::plan::{LogicalPlan, PlannedPipeline};

/// See the module docs.
#[derive(Debug, Clone, Copy)]
pub struct SplitFields;

impl OptimizerRule for SplitFields {
    fn name(&self) -> &'static str {
        "split_fields"
    }

    fn apply(&self, plan: &mut LogicalPlan, _ctx: &RuleContext<'_>) -> Result<()> {
        let pipelines: Vec<PlannedPipeline> = plan
            .outputs
            .iter()
            .enumerate()
            .map(|(i, o)| PlannedPipeline {
                output: i,
                strategy: AggStrategy::Pipe,
                read: ReadPath::Scan,
                spec: PipelineSpec {
                    scan: ScanRequest {
                        measurement: plan.measurement.clone(),
                        field: o.field.clone(),
                        predicate: plan.predicate.clone(),
                        range: plan.range,
                        group_order: None,
                    },
                    downsample: plan.downsample,
                    rate: o.rate,
                    aggregate: o.aggregate,
                    group_by: plan.group_by.clone(),
                    output_name: o.name.clone(),
                },
            })
            .collect();
        let mut note = pipeline_count(plan);
        let shared = shared_scans(plan);
        if !shared.is_empty() {
            note.push_str(&format!(
                "; {} read the same field with the same downsample but share nothing yet",
                shared.join(", ")
            ));
        }
        plan.pipelines = pipelines;
        plan.decide(self.name(), note);
        Ok(())
    }
}

/// `2 value columns: 2 pipelines, joined on (group, time)`, naming the
/// fields read only for the value filter.
fn pipeline_count(plan: &LogicalPlan) -> String {
    let hidden: Vec<&str> = plan
        .outputs
        .iter()
        .filter(|o| o.hidden)
        .map(|o| o.field.as_str())
        .collect();
    let n = plan.outputs.len();
    let visible = n - hidden.len();
    let columns = if visible == 1 {
        "1 value column".to_string()
    } else {
        format!("{visible} value columns")
    };
    match (n, hidden.len()) {
        (1, _) => format!("{columns}: 1 pipeline"),
        (_, 0) => format!("{columns}: {n} pipelines, joined on (group, time)"),
        (_, h) => format!(
            "{columns} and {h} field{} read only for the value filter ({}): {n} pipelines, joined on (group, time)",
            if h == 1 { "" } else { "s" },
            hidden.join(", ")
        ),
    }
}

/// Column names of groups of columns that read the same field and rate.
fn shared_scans(plan: &LogicalPlan) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in plan.outputs.iter().enumerate() {
        let same: Vec<&str> = plan.outputs[i..]
            .iter()
            .filter(|b| b.field == a.field && b.rate == a.rate)
            .map(|b| b.name.as_str())
            .collect();
        let first_of_group = !plan.outputs[..i]
            .iter()
            .any(|b| b.field == a.field && b.rate == a.rate);
        if same.len() > 1 && first_of_group {
            out.push(format!("[{}]", same.join(", ")));
        }
    }
    out
}
