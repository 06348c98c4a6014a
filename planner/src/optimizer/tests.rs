//! Optimizer rule tests over a hand-made catalog: pushdowns, pipelines and
//! the operator choice of `docs/architecture.md`, "How a batch flows", and the plan errors with positions.

use tsq_engine::spec::AggStrategy;
use tsq_engine::{Capabilities, TimeRange};

use crate::ast::ValueOp;
use crate::logical::plan_query;
use crate::parser::parse_statement;
use crate::plan::{Catalog, LogicalPlan};

fn catalog(caps: Capabilities) -> Catalog {
    Catalog {
        adapter: "memory".into(),
        capabilities: caps,
        measurement_exists: true,
        fields: vec!["bytes".into(), "usage".into()],
        tag_keys: vec!["dc".into(), "host".into()],
        field_types: Vec::new(),
    }
}

fn plan_with(
    q: &str,
    caps: Capabilities,
    force: Option<AggStrategy>,
) -> crate::Result<LogicalPlan> {
    let st = parse_statement(q)?;
    plan_query(st.query().unwrap(), &catalog(caps), force)
}

fn plan(q: &str) -> LogicalPlan {
    plan_with(q, Capabilities::ALL, None).unwrap()
}

fn strategies(q: &str, caps: Capabilities) -> Vec<AggStrategy> {
    plan_with(q, caps, None)
        .unwrap()
        .pipelines
        .iter()
        .map(|p| p.strategy)
        .collect()
}

fn err(q: &str) -> String {
    plan_with(q, Capabilities::ALL, None)
        .unwrap_err()
        .to_string()
}

#[test]
fn time_range_is_intersection_of_top_level_bounds() {
    let p = plan(
        "SELECT sum(usage) FROM cpu WHERE time >= 10 AND host = 'a' AND time < 50 AND time <= 40",
    );
    // [10, ∞) ∩ (-∞, 50) ∩ (-∞, 41) = [10, 41)
    assert_eq!(p.range, TimeRange::new(10, 41));
    assert_eq!(p.predicate.to_string(), "host = 'a'");
    assert_eq!(p.pipelines[0].spec.scan.range, TimeRange::new(10, 41));
    let p = plan("SELECT sum(usage) FROM cpu WHERE time > 10 AND time = 11");
    assert_eq!(p.range, TimeRange::new(11, 12));
    let p = plan("SELECT sum(usage) FROM cpu WHERE time >= now() - 1h AND time < now()");
    let (s, e) = (p.range.start.unwrap(), p.range.end.unwrap());
    assert_eq!(e - s, 3_600_000_000_000);
}

#[test]
fn tag_predicate_keeps_structure() {
    let p = plan("SELECT sum(usage) FROM cpu WHERE (host = 'a' OR host ~ '^b') AND NOT dc IN ('x') AND dc NOT LIKE 'y%'");
    assert_eq!(
        p.predicate.to_string(),
        "((host = 'a' OR host ~ '^b') AND NOT dc IN ('x') AND NOT dc LIKE 'y%')"
    );
    assert!(
        p.decisions[1].note.contains("pushed into the scan"),
        "{:?}",
        p.decisions
    );
    let p = plan_with(
        "SELECT sum(usage) FROM cpu WHERE host = 'a'",
        Capabilities::NONE,
        None,
    )
    .unwrap();
    assert!(
        p.decisions[1]
            .note
            .contains("ScanOp drops the other series"),
        "{:?}",
        p.decisions
    );
}

#[test]
fn operator_choice_follows_design_4() {
    use AggStrategy::*;
    let all = Capabilities::ALL;
    let none = Capabilities::NONE;
    let cases: [(&str, AggStrategy, AggStrategy); 12] = [
        // no SAMPLE BY: interpolation
        ("SELECT sum(usage) FROM cpu", Grouped, MT),
        // FILL(none) with an interval: interpolation
        ("SELECT sum(usage) FROM cpu SAMPLE BY 1m", Grouped, MT),
        ("SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(zero)", Pipe, Pipe),
        ("SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(null)", Pipe, Pipe),
        ("SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(previous)", Pipe, Pipe),
        ("SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(linear)", Pipe, Pipe),
        // SAMPLE BY ALL never interpolates, even with FILL(none)
        ("SELECT sum(usage) FROM cpu SAMPLE BY ALL", Pipe, Pipe),
        // percentiles are never incremental
        ("SELECT p99(usage) FROM cpu SAMPLE BY 1m FILL(zero)", Grouped, MT),
        ("SELECT median(usage) FROM cpu SAMPLE BY ALL", Grouped, MT),
        // counter rate that drops resets removes interior points
        ("SELECT sum(rate(bytes, counter => true, drop_resets => true)) FROM cpu SAMPLE BY 1m FILL(zero)", Grouped, MT),
        ("SELECT sum(rate(bytes, counter => true)) FROM cpu SAMPLE BY 1m FILL(zero)", Pipe, Pipe),
        ("SELECT count(usage) FROM cpu GROUP BY host SAMPLE BY 10s FILL(nan)", Pipe, Pipe),
    ];
    for (q, with_all, with_none) in cases {
        assert_eq!(strategies(q, all), [with_all], "{q}");
        assert_eq!(strategies(q, none), [with_none], "{q}");
    }
    let p = plan("SELECT sum(usage), p99(usage) FROM cpu GROUP BY host SAMPLE BY 1m FILL(zero)");
    assert_eq!(
        p.pipelines.iter().map(|p| p.strategy).collect::<Vec<_>>(),
        [Pipe, Grouped]
    );
    assert_eq!(
        p.pipelines[1].spec.scan.group_order,
        Some(tsq_engine::GroupBy::Tags(vec!["host".into()]))
    );
    assert_eq!(p.pipelines[0].spec.scan.group_order, None);
    assert!(
        p.decisions[2].note.contains("share nothing yet"),
        "{:?}",
        p.decisions
    );
}

#[test]
fn forced_strategy_is_checked() {
    let q = "SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(zero)";
    for s in [AggStrategy::Pipe, AggStrategy::Grouped, AggStrategy::MT] {
        let p = plan_with(q, Capabilities::ALL, Some(s)).unwrap();
        assert_eq!(p.pipelines[0].strategy, s);
    }
    let e = plan_with(
        "SELECT sum(usage) FROM cpu",
        Capabilities::ALL,
        Some(AggStrategy::Pipe),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "plan error at 1:8: cannot force PipeAggOp for sum(usage): PipeAggOp cannot interpolate (without SAMPLE BY, timelines are aggregated at every timestamp any of them has)"
    );
    let e = plan_with(q, Capabilities::NONE, Some(AggStrategy::Grouped)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plan error at 1:8: cannot force GroupedAggOp for sum(usage): adapter 'memory' cannot deliver timelines ordered by group"
    );
}

#[test]
fn result_columns() {
    let p = plan("SELECT dc, host, sum(usage) AS s, max(rate(bytes)) FROM cpu GROUP BY host, dc SAMPLE BY 1m");
    assert_eq!(
        p.column_names(),
        ["time", "host", "dc", "s", "max(rate(bytes))"]
    );
    let p = plan("SELECT avg(usage) FROM cpu GROUP BY *");
    assert_eq!(p.column_names(), ["time", "dc", "host", "avg(usage)"]);
    let p = plan("SELECT usage, rate(bytes) FROM cpu");
    assert!(p.raw);
    assert_eq!(
        p.column_names(),
        ["time", "dc", "host", "usage", "rate(bytes)"]
    );
}

#[test]
fn plan_errors_name_what_and_where() {
    assert_eq!(
        err("SELECT sum(usage) FROM cpu FILL(zero)"),
        "plan error at 1:28: FILL needs SAMPLE BY"
    );
    assert_eq!(
        err("SELECT sum(usage) FROM cpu GROUP BY hots"),
        "plan error at 1:37: unknown tag 'hots' in measurement 'cpu' (tags: dc, host)"
    );
    assert_eq!(
        err("SELECT sum(usage) FROM cpu GROUP BY usage"),
        "plan error at 1:37: 'usage' is a field of 'cpu', not a tag"
    );
    assert_eq!(
        err("SELECT sum(usage) FROM cpu WHERE bytes = 'x'"),
        "plan error at 1:34: field 'bytes' of 'cpu' is compared with a string: compare a field with a number, e.g. bytes > 90"
    );
    assert_eq!(
        err("SELECT sum(host) FROM cpu"),
        "plan error at 1:12: 'host' is a tag of 'cpu', not a field"
    );
    assert_eq!(
        err("SELECT sum(usage) FROM cpu WHERE host = 'a' OR time > 5"),
        "plan error at 1:48: OR across time and tag predicates cannot be pushed down: join time bounds to the rest of WHERE with AND"
    );
    assert_eq!(
        err("SELECT sum(usage) FROM cpu WHERE NOT time > 5"),
        "plan error at 1:38: a time bound inside NOT cannot be pushed down: write the opposite bound (time < x instead of NOT time >= x)"
    );
    assert_eq!(
        err("SELECT sum(usage) FROM cpu WHERE time >= 50 AND time < 50"),
        "plan error at 1:34: empty time range [50, 50): the time bounds exclude every instant"
    );
    assert_eq!(
        err("SELECT host, sum(usage) FROM cpu"),
        "plan error at 1:8: tag 'host' is selected but not grouped: add it to GROUP BY"
    );
    assert_eq!(
        err("SELECT usage, sum(usage) FROM cpu"),
        "plan error at 1:8: raw field 'usage' cannot be selected next to aggregates; aggregate it, e.g. avg(usage)"
    );
    assert_eq!(
        err("SELECT sum(usage), sum(usage) FROM cpu"),
        "plan error at 1:20: duplicate result column 'sum(usage)': give it another name with AS"
    );
    assert_eq!(
        err("SELECT sum(usage) FROM cpu ORDER BY usage"),
        "plan error at 1:37: ORDER BY column 'usage' is not in the result (columns: time, sum(usage))"
    );
    assert_eq!(
        err("SELECT usage FROM cpu GROUP BY host"),
        "plan error at 1:32: GROUP BY needs an aggregate such as avg(<field>)"
    );
    assert_eq!(
        err("SELECT sum(usage) FROM cpu WHERE host ~ '('"),
        "plan error at 1:34: invalid regular expression '(': regex parse error:\n    (\n    ^\nerror: unclosed group"
    );
    assert_eq!(
        err("SELECT host FROM cpu"),
        "plan error at 1:18: nothing to compute: select a field or an aggregate such as avg(<field>)"
    );
}

#[test]
fn missing_measurement_and_field_are_notices() {
    let mut cat = catalog(Capabilities::ALL);
    let st = parse_statement("SELECT sum(nope), sum(usage) FROM cpu").unwrap();
    let p = plan_query(st.query().unwrap(), &cat, None).unwrap();
    assert_eq!(
        p.notices,
        ["field 'nope' does not exist in measurement 'cpu': column 'sum(nope)' is empty"]
    );
    cat.measurement_exists = false;
    cat.fields.clear();
    cat.tag_keys.clear();
    let st = parse_statement("SELECT sum(v) FROM gone GROUP BY host").unwrap();
    let p = plan_query(st.query().unwrap(), &cat, None).unwrap();
    assert_eq!(
        p.notices,
        ["measurement 'gone' does not exist: the result is empty"]
    );
}

#[test]
fn value_comparisons_become_filters_over_hidden_columns() {
    let p = plan(
        "SELECT usage FROM cpu WHERE host = 'a' AND bytes > 90 AND time >= 10 AND 0.5 >= usage",
    );
    // `usage` is selected (output 0); `bytes` is not, so it is read by a
    // hidden output 1; `0.5 >= usage` is `usage <= 0.5`
    assert_eq!(p.column_names(), ["time", "dc", "host", "usage"]);
    assert_eq!(p.outputs.len(), 2);
    assert_eq!(
        (p.outputs[1].field.as_str(), p.outputs[1].hidden),
        ("bytes", true)
    );
    assert!(!p.outputs[0].hidden);
    assert_eq!(
        p.value_filter_text().as_deref(),
        Some("bytes > 90 AND usage <= 0.5")
    );
    assert_eq!(
        p.value_filters
            .iter()
            .map(|f| (f.output, f.op, f.value))
            .collect::<Vec<_>>(),
        [(1, ValueOp::Gt, 90.0), (0, ValueOp::LtEq, 0.5)]
    );
    // the rest of WHERE is pushed down as before
    assert_eq!(p.predicate.to_string(), "host = 'a'");
    assert_eq!((p.range.start, p.range.end), (Some(10), None));
    assert_eq!(p.pipelines.len(), 2);
    assert_eq!(p.pipelines[1].spec.scan.field, "bytes");
    assert_eq!(p.pipelines[1].spec.scan.predicate.to_string(), "host = 'a'");
    assert_eq!(
        p.decisions[2].note,
        "1 value column and 1 field read only for the value filter (bytes): 2 pipelines, joined on (group, time)"
    );
    // two comparisons on one field share its column; none adds a pipeline
    let p = plan("SELECT usage FROM cpu WHERE usage > 1 AND usage < 5");
    assert_eq!(p.outputs.len(), 1);
    assert_eq!(p.pipelines.len(), 1);
    assert_eq!(
        p.value_filter_text().as_deref(),
        Some("usage > 1 AND usage < 5")
    );
    assert_eq!(p.decisions[2].note, "1 value column: 1 pipeline");
}

#[test]
fn value_comparison_on_missing_field_is_a_notice() {
    let p = plan("SELECT usage FROM cpu WHERE nope >= -1");
    assert_eq!(
        p.notices,
        ["field 'nope' does not exist in measurement 'cpu': the value comparison nope >= -1 matches no row, the result is empty"]
    );
    assert_eq!(p.outputs[1].field, "nope");
    assert!(p.outputs[1].hidden);
}

#[test]
fn value_comparison_plan_errors() {
    let placement = "a value comparison must be joined with AND at the top of WHERE (it filters rows; it cannot be combined with OR/NOT)";
    assert_eq!(
        err("SELECT usage FROM cpu WHERE host = 'a' OR usage > 90"),
        format!("plan error at 1:43: {placement}")
    );
    assert_eq!(
        err("SELECT usage FROM cpu WHERE NOT usage > 90"),
        format!("plan error at 1:33: {placement}")
    );
    // mirrored: the position is the field's: `time` at 29, `(` at 29 + 13 = 42,
    // the inner `(` at 42 + 16 = 58, `90 < ` spans 59..63, `usage` at 64
    assert_eq!(
        err("SELECT usage FROM cpu WHERE time > 0 AND (host = 'a' AND (90 < usage OR dc = 'x'))"),
        format!("plan error at 1:64: {placement}")
    );
    assert_eq!(
        err("SELECT sum(usage) FROM cpu WHERE usage > 90"),
        "plan error at 1:34: value comparisons are supported in raw selects only"
    );
    assert_eq!(
        err("SELECT usage FROM cpu WHERE usage > 90 SAMPLE BY 1m"),
        "plan error at 1:29: value comparisons are supported in raw selects without SAMPLE BY only (it is ambiguous whether they filter the points or the downsampled values)"
    );
    assert_eq!(
        err("SELECT usage, rate(bytes) FROM cpu WHERE usage > 90"),
        "plan error at 1:42: value comparisons are supported next to plain fields only, not next to rate(bytes) at 1:20 (it is ambiguous whether they filter before or after the rate)"
    );
    // a tag compared with a number, as before value comparisons existed
    assert_eq!(
        err("SELECT usage FROM cpu WHERE host = 5"),
        "plan error at 1:36: tag host is compared with a string in single quotes, found 5"
    );
    assert_eq!(
        err("SELECT usage FROM cpu WHERE host <> -1.5"),
        "plan error at 1:38: tag host is compared with a string in single quotes, found -1.5"
    );
    assert_eq!(
        err("SELECT usage FROM cpu WHERE 5 < host"),
        "plan error at 1:33: tags can be tested with =, !=, <>, IN, NOT IN, LIKE, ~ or !~, not >"
    );
    assert_eq!(
        err("SELECT usage FROM cpu WHERE host > 'a'"),
        "plan error at 1:29: tags can be tested with =, !=, <>, IN, NOT IN, LIKE, ~ or !~, not >"
    );
    // a field compared with a string
    let field = "field 'bytes' of 'cpu' is compared with a string: compare a field with a number, e.g. bytes > 90";
    assert_eq!(
        err("SELECT usage FROM cpu WHERE bytes >= '90'"),
        format!("plan error at 1:29: {field}")
    );
    assert_eq!(
        err("SELECT usage FROM cpu WHERE host = 'a' OR bytes IN ('1')"),
        format!("plan error at 1:43: {field}")
    );
    // the tag/field errors come before the placement error
    assert_eq!(
        err("SELECT sum(usage) FROM cpu WHERE NOT host = 1"),
        "plan error at 1:45: tag host is compared with a string in single quotes, found 1"
    );
}

/// The planner decides nothing the engine's rule (`tsq_engine::strategy`)
/// does not: a forced strategy is refused exactly when the engine says it
/// is invalid, with the engine's words, and the chosen one is the first
/// valid one of PipeAggOp, GroupedAggOp, MTAggOp.
#[test]
fn the_strategy_rule_is_the_engines() {
    use tsq_engine::strategy::strategy_error;
    let queries = [
        "SELECT sum(usage) FROM cpu",
        "SELECT sum(usage) FROM cpu SAMPLE BY 1m",
        "SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(zero)",
        "SELECT max(usage) FROM cpu SAMPLE BY 1m FILL(linear)",
        "SELECT p99(usage) FROM cpu SAMPLE BY 1m FILL(zero)",
        "SELECT avg(usage) FROM cpu GROUP BY host SAMPLE BY ALL",
        "SELECT sum(rate(usage, counter => true, drop_resets => true)) FROM cpu SAMPLE BY 1m FILL(zero)",
    ];
    let order = [AggStrategy::Pipe, AggStrategy::Grouped, AggStrategy::MT];
    let mut refused = 0;
    for caps in [Capabilities::ALL, Capabilities::NONE] {
        for q in queries {
            let chosen = plan_with(q, caps, None).unwrap();
            let spec = &chosen.pipelines[0].spec;
            let valid: Vec<AggStrategy> = order
                .into_iter()
                .filter(|&s| strategy_error(spec, caps, "memory", s).is_none())
                .collect();
            assert_eq!(chosen.pipelines[0].strategy, valid[0], "{q}");
            for forced in order {
                match (
                    plan_with(q, caps, Some(forced)),
                    strategy_error(spec, caps, "memory", forced),
                ) {
                    (Ok(p), None) => assert_eq!(p.pipelines[0].strategy, forced),
                    (Err(e), Some(why)) => {
                        refused += 1;
                        assert!(
                            e.to_string().ends_with(&format!(
                                "cannot force {forced} for {}: {why}",
                                chosen.outputs[0].name
                            )),
                            "{e}"
                        );
                    }
                    (got, want) => panic!("{q} forced {forced}: planner {got:?}, engine {want:?}"),
                }
            }
        }
    }
    // Pipe refused for 4 queries (no SAMPLE BY, FILL(none), p99, drop_resets)
    // under both capability sets; Grouped refused for all 7 without ordering.
    assert_eq!(refused, 4 * 2 + 7);
}
