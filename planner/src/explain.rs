//! `EXPLAIN` and `EXPLAIN ANALYZE` text: a header with the adapter's
//! capabilities, the result columns, the value filter (if any) and each
//! optimizer rule's decision (which aggregation
//! operator was chosen, by which rule, and why), then the operator tree of
//! the result stage (`MergeJoin`, the join of the pipelines with the value
//! filters, `ORDER BY` and `LIMIT`; then `Projection`, the expressions, the
//! comparisons with arithmetic and what they move after the join), then
//! every pipeline — plain, or with per-operator metrics after a run, plus
//! the total rows and the query's peak memory.

use std::fmt::Write as _;

use tsq_engine::{format_tree, format_tree_with_metrics};

use crate::expr::ScalarExpr;
use crate::physical::PhysicalPlan;
use crate::plan::{Catalog, LogicalPlan, ResultColumn};

/// The EXPLAIN text of a plan that was not run.
pub fn explain(
    plan: &LogicalPlan,
    catalog: &Catalog,
    physical: &PhysicalPlan,
    join: &str,
) -> String {
    let mut out = header(plan, catalog);
    result_lines(&mut out, join);
    for (k, (output, root)) in physical.pipelines.iter().enumerate() {
        pipeline_title(&mut out, plan, k, *output);
        out.push_str(&indent(&format_tree(root.as_ref())));
    }
    notices(&mut out, plan);
    out
}

/// The EXPLAIN ANALYZE text of a plan that ran.
pub fn explain_analyze(
    plan: &LogicalPlan,
    catalog: &Catalog,
    physical: &PhysicalPlan,
    join: &str,
    total_rows: usize,
    peak_bytes: usize,
) -> String {
    let mut out = header(plan, catalog);
    result_lines(&mut out, join);
    for (k, (output, root)) in physical.pipelines.iter().enumerate() {
        pipeline_title(&mut out, plan, k, *output);
        out.push_str(&indent(&format_tree_with_metrics(root.as_ref())));
    }
    let _ = writeln!(out, "total rows: {total_rows}");
    let _ = writeln!(out, "peak memory: {peak_bytes} bytes");
    notices(&mut out, plan);
    out
}

fn header(plan: &LogicalPlan, catalog: &Catalog) -> String {
    let c = catalog.capabilities;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "adapter: {} (time_pruning={} tag_pushdown={} ordered_by_group={})",
        catalog.adapter, c.time_pruning, c.tag_pushdown, c.ordered_by_group
    );
    let _ = writeln!(out, "columns: {}", plan.column_names().join(", "));
    for c in &plan.columns {
        if let ResultColumn::Computed { name, expr, .. } = c {
            let _ = writeln!(out, "expression: {name} = {}", expr_text(plan, expr));
        }
    }
    if let Some(filter) = plan.value_filter_text() {
        let _ = writeln!(out, "value filter: {filter}");
    }
    out.push_str("rules:\n");
    for d in &plan.decisions {
        let _ = writeln!(out, "  {}: {}", d.rule, d.note);
    }
    out
}

fn pipeline_title(out: &mut String, plan: &LogicalPlan, k: usize, output: usize) {
    if plan.last_points_as_one {
        let names: Vec<&str> = plan
            .pipelines
            .iter()
            .map(|p| plan.outputs[p.output].name.as_str())
            .collect();
        let _ = writeln!(
            out,
            "pipeline 1 of 1: {} [one LastPointsOp for every column]",
            names.join(", ")
        );
        return;
    }
    let p = &plan.pipelines[k];
    let strategy = match p.spec.aggregate {
        Some(_) => p.strategy.to_string(),
        None => "raw".to_string(),
    };
    let o = &plan.outputs[output];
    let direct = plan.columns.contains(&ResultColumn::Output(output));
    let hidden = if o.hidden {
        " (read for the value filter, not in the result)"
    } else if !direct {
        " (a term of an expression, not in the result)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "pipeline {} of {}: {} [{strategy}]{hidden}",
        k + 1,
        plan.pipelines.len(),
        o.name
    );
}

fn indent(tree: &str) -> String {
    tree.lines().map(|l| format!("  {l}\n")).collect()
}

fn notices(out: &mut String, plan: &LogicalPlan) {
    for n in &plan.notices {
        let _ = writeln!(out, "notice: {n}");
    }
}

/// The result stage's lines (`MergeJoin`, then the projection if any),
/// each as a `result:` line.
fn result_lines(out: &mut String, result: &str) {
    for line in result.lines() {
        let _ = writeln!(out, "result: {line}");
    }
}

/// An expression over outputs as text, each output by its name in
/// brackets, every operation parenthesized: `([avg(a)] + [avg(b)])`.
fn expr_text(plan: &LogicalPlan, e: &ScalarExpr) -> String {
    match e {
        ScalarExpr::Column(i) => format!("[{}]", plan.outputs[*i].name),
        ScalarExpr::Literal(v) => v.to_string(),
        ScalarExpr::Neg(inner) => format!("-({})", expr_text(plan, inner)),
        ScalarExpr::Call { func, arg } => format!("{}({})", func.name(), expr_text(plan, arg)),
        ScalarExpr::Binary { op, left, right } => format!(
            "({} {} {})",
            expr_text(plan, left),
            op.symbol(),
            expr_text(plan, right)
        ),
    }
}
