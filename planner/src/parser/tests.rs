//! Parser unit tests: the AST of each construct, and errors with positions.

use tsq_engine::{Aggregator, FillPolicy, Interval};

use super::*;
use crate::ast::{
    ExplainMode, Filter, GroupByClause, Operand, Projection, TagOp, TimeOp, ValueExpr, ValueOp,
};

fn err(q: &str) -> String {
    parse_statement(q).unwrap_err().to_string()
}

#[test]
fn full_query() {
    let st = parse_statement(
        "SELECT host, sum(usage) AS total, p99(rate(bytes, counter => true, counter_max => 100, drop_resets => true)) \
         FROM cpu WHERE host =~ 'x' OR (dc IN ('a','b') AND NOT host LIKE 'web%') GROUP BY host, dc \
         SAMPLE BY 1m max FILL(-1.5) ORDER BY time DESC, host LIMIT 10;",
    );
    // `=~` is not an operator of the language
    assert!(st.is_err());
    let st = parse_statement(
        "SELECT host, sum(usage) AS total, p99(rate(bytes, counter => true, counter_max => 100, drop_resets => true)) \
         FROM cpu WHERE host ~ 'x' OR (dc IN ('a','b') AND NOT host LIKE 'web%') GROUP BY host, dc \
         SAMPLE BY 1m max FILL(-1.5) ORDER BY time DESC, host LIMIT 10;",
    )
    .unwrap();
    let q = st.query().unwrap();
    assert_eq!(st.explain, None);
    assert_eq!(q.measurement.value, "cpu");
    assert_eq!(q.projections.len(), 3);
    assert!(matches!(&q.projections[0], Projection::Column(n) if n.value == "host"));
    match &q.projections[1] {
        Projection::Aggregate {
            agg, expr, alias, ..
        } => {
            assert_eq!(*agg, Aggregator::Sum);
            assert_eq!(expr, &ValueExpr::Field(expr.field().clone()));
            assert_eq!(alias.as_deref(), Some("total"));
        }
        other => panic!("{other:?}"),
    }
    match &q.projections[2] {
        Projection::Aggregate { agg, expr, .. } => {
            assert_eq!(*agg, Aggregator::Percentile(990));
            let o = expr.rate().unwrap();
            assert!(o.counter && o.drop_resets);
            assert_eq!((o.counter_max, o.reset_value), (100.0, 0.0));
            assert_eq!(expr.text(), "rate(bytes)");
        }
        other => panic!("{other:?}"),
    }
    match q.filter.as_ref().unwrap() {
        Filter::Or(items) => {
            let [a, b] = &items[..] else {
                panic!("{items:?}")
            };
            assert!(matches!(a, Filter::Tag(t) if t.op == TagOp::Regex("x".into(), false)));
            assert!(matches!(b, Filter::And(v) if matches!(v[..], [_, Filter::Not(..)])));
        }
        other => panic!("{other:?}"),
    }
    let Some(GroupByClause::Tags(tags)) = &q.group_by else {
        panic!()
    };
    assert_eq!(
        tags.iter().map(|t| t.value.as_str()).collect::<Vec<_>>(),
        ["host", "dc"]
    );
    let s = q.sample_by.unwrap();
    assert_eq!(s.interval, Interval::Every(60_000_000_000));
    assert_eq!((s.agg, s.fill), (Aggregator::Max, FillPolicy::Value(-1.5)));
    assert_eq!(q.order_by.len(), 2);
    assert!(q.order_by[0].descending && !q.order_by[1].descending);
    assert_eq!(q.limit, Some(10));
}

#[test]
fn time_bounds_and_positions() {
    let q = parse_statement(
        "SELECT v FROM m WHERE time >= '2024-01-01T00:00:00Z' AND time < 1704067260000000000\n  AND time > now() - '1h' AND 5 <= time",
    )
    .unwrap()
    .into_query().unwrap();
    let mut bounds = Vec::new();
    fn walk(f: &Filter, out: &mut Vec<(TimeOp, i64, u64, u64)>) {
        match f {
            Filter::And(items) => items.iter().for_each(|i| walk(i, out)),
            Filter::Time(t) => out.push((t.op, t.value, t.pos.line, t.pos.column)),
            _ => panic!(),
        }
    }
    walk(q.filter.as_ref().unwrap(), &mut bounds);
    assert_eq!(bounds[0], (TimeOp::GtEq, 1_704_067_200_000_000_000, 1, 23));
    assert_eq!(bounds[1], (TimeOp::Lt, 1_704_067_260_000_000_000, 1, 58));
    assert_eq!((bounds[2].0, bounds[2].2, bounds[2].3), (TimeOp::Gt, 2, 7));
    // `5 <= time` is `time >= 5`
    assert_eq!((bounds[3].0, bounds[3].1), (TimeOp::GtEq, 5));
    let q = parse_statement("SELECT v FROM m WHERE time >= -(1s)")
        .unwrap()
        .into_query()
        .unwrap();
    assert!(matches!(q.filter, Some(Filter::Time(t)) if t.value == -1_000_000_000));
}

#[test]
fn explain_group_all_and_sample_all() {
    let st = parse_statement("EXPLAIN ANALYZE SELECT avg(v) FROM m GROUP BY * SAMPLE BY ALL avg")
        .unwrap();
    assert_eq!(st.explain, Some(ExplainMode::Analyze));
    assert!(matches!(
        st.query().unwrap().group_by,
        Some(GroupByClause::All(_))
    ));
    assert_eq!(
        st.query().unwrap().sample_by.unwrap().interval,
        Interval::All
    );
    let st = parse_statement("explain select v from m").unwrap();
    assert_eq!(st.explain, Some(ExplainMode::Plan));
    assert_eq!(st.text, "explain select v from m");
}

#[test]
fn script_statements_keep_script_positions() {
    let all =
        parse_script("SELECT a FROM m;\nSELECT b FROM n SAMPLE BY 10s FILL(previous);").unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].query().unwrap().measurement.pos, Pos::new(2, 15));
    assert_eq!(
        all[1].query().unwrap().sample_by.unwrap().fill,
        FillPolicy::Previous
    );
    let e = parse_script("SELECT a FROM m;\nSELECT b FROM n SAMPLE BY 10x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "parse error at 2:27: bad duration '10x': expected a positive integer followed by ns, us, ms, s, m, h, d or w, e.g. 500ms, 10s, 1h"
    );
}

#[test]
fn errors_name_what_and_where() {
    assert_eq!(
        err("SELECT foo(v) FROM m"),
        format!(
            "plan error at 1:8: unknown aggregator 'foo' (expected one of {})",
            Aggregator::NAMES
        )
    );
    assert_eq!(
        err("SELECT sum(rate(rate(v))) FROM m"),
        "plan error at 1:17: rate of a rate is not supported"
    );
    assert_eq!(
        err("SELECT sum(avg(v)) FROM m"),
        "plan error at 1:12: avg(...) inside sum(...): aggregates cannot be nested"
    );
    assert_eq!(
        err("SELECT v FROM m WHERE time > 'yesterday'"),
        "parse error at 1:30: bad timestamp 'yesterday': expected RFC 3339 like '2024-01-01T00:00:00Z' or integer nanoseconds"
    );
    assert_eq!(
        err("SELECT v FROM m SAMPLE BY 1m FILL(sideways)"),
        "parse error at 1:35: expected FILL none, null, nan, zero, previous, linear or a number, found 'sideways'"
    );
    assert_eq!(
        err("SELECT v FROM m LIMIT 5 SAMPLE BY 1m"),
        "parse error at 1:25: unexpected 'SAMPLE' (clauses go in the order SAMPLE BY, FILL, ORDER BY, LIMIT)"
    );
    assert_eq!(
        err("SELECT sum(v) FROM m SAMPLE BY 1m median2"),
        format!(
            "plan error at 1:35: unknown aggregator 'median2' (expected one of {})",
            Aggregator::NAMES
        )
    );
    assert_eq!(
        err("SELECT rate(v, counter => 3) FROM m"),
        "plan error at 1:27: counter must be true or false, found '3'"
    );
    assert!(
        err("SELECT v FROM").starts_with("parse error at 1:"),
        "{}",
        err("SELECT v FROM")
    );
    assert_eq!(err("  ;  "), "parse error at 1:1: empty query");
}

#[test]
fn orphan_fill_is_recorded() {
    let q = parse_statement("SELECT sum(v) FROM m GROUP BY host FILL(zero)")
        .unwrap()
        .into_query()
        .unwrap();
    assert_eq!(q.orphan_fill, Some(Pos::new(1, 36)));
}

/// The value tests of a `WHERE` joined by `AND`, as
/// `(name, op, operand, name column, operand column)`.
fn value_tests(q: &str) -> Vec<(String, ValueOp, Operand, u64, u64)> {
    fn walk(f: &Filter, out: &mut Vec<(String, ValueOp, Operand, u64, u64)>) {
        match f {
            Filter::And(items) => items.iter().for_each(|i| walk(i, out)),
            Filter::Value(t) => out.push((
                t.field.value.clone(),
                t.op,
                t.operand.clone(),
                t.field.pos.column,
                t.operand_pos.column,
            )),
            other => panic!("{other:?}"),
        }
    }
    let mut out = Vec::new();
    walk(
        parse_statement(q)
            .unwrap()
            .into_query()
            .unwrap()
            .filter
            .as_ref()
            .unwrap(),
        &mut out,
    );
    out
}

#[test]
fn value_comparisons_every_operator_both_forms() {
    use Operand::Number as N;
    use ValueOp::*;
    // columns: `SELECT v FROM m WHERE ` is 22 characters, so the first
    // condition starts at 23
    let got = value_tests(
        "SELECT v FROM m WHERE u = 1 AND u != 2 AND u <> 3 AND u < 4 AND u <= 5 AND u > 6 AND u >= 7",
    );
    assert_eq!(
        got,
        [
            ("u".into(), Eq, N(1.0), 23, 27),
            ("u".into(), NotEq, N(2.0), 33, 38),
            ("u".into(), NotEq, N(3.0), 44, 49),
            ("u".into(), Lt, N(4.0), 55, 59),
            ("u".into(), LtEq, N(5.0), 65, 70),
            ("u".into(), Gt, N(6.0), 76, 80),
            ("u".into(), GtEq, N(7.0), 86, 91),
        ]
    );
    // mirrored: `1 = u` is `u = 1`, `4 < u` is `u > 4`, `5 <= u` is `u >= 5`,
    // `6 > u` is `u < 6`, `7 >= u` is `u <= 7`; positions stay where written
    let got = value_tests(
        "SELECT v FROM m WHERE 1 = u AND 2 != u AND 3 <> u AND 4 < u AND 5 <= u AND 6 > u AND 7 >= u",
    );
    assert_eq!(
        got,
        [
            ("u".into(), Eq, N(1.0), 27, 23),
            ("u".into(), NotEq, N(2.0), 38, 33),
            ("u".into(), NotEq, N(3.0), 49, 44),
            ("u".into(), Gt, N(4.0), 59, 55),
            ("u".into(), GtEq, N(5.0), 70, 65),
            ("u".into(), Lt, N(6.0), 80, 76),
            ("u".into(), LtEq, N(7.0), 91, 86),
        ]
    );
}

#[test]
fn value_comparison_numbers() {
    use Operand::Number as N;
    let one = |cond: &str| {
        let got = value_tests(&format!("SELECT v FROM m WHERE {cond}"));
        assert_eq!(got.len(), 1, "{cond}");
        (got[0].1, got[0].2.clone())
    };
    assert_eq!(one("usage_user > 90"), (ValueOp::Gt, N(90.0)));
    assert_eq!(one("usage_user > -90"), (ValueOp::Gt, N(-90.0)));
    assert_eq!(one("usage_user > - 4"), (ValueOp::Gt, N(-4.0)));
    assert_eq!(one("usage_user > +3"), (ValueOp::Gt, N(3.0)));
    assert_eq!(one("usage_user <= 90.25"), (ValueOp::LtEq, N(90.25)));
    assert_eq!(one("usage_user <> .5"), (ValueOp::NotEq, N(0.5)));
    // 1e3 = 1000, 1.5e-3 = 0.0015
    assert_eq!(one("usage_user >= 1e3"), (ValueOp::GtEq, N(1000.0)));
    assert_eq!(one("usage_user < 1.5e-3"), (ValueOp::Lt, N(0.0015)));
    // `-2.5 <= x` is `x >= -2.5`
    assert_eq!(one("-2.5 <= usage_user"), (ValueOp::GtEq, N(-2.5)));
    assert_eq!(one("\"my field\" = 0"), (ValueOp::Eq, N(0.0)));
    let got = value_tests("SELECT v FROM m WHERE \"my field\" = 0");
    assert_eq!(got[0].0, "my field");
    // a string under an ordering operator is kept for the planner to judge
    assert_eq!(
        one("usage_user > 'x'"),
        (ValueOp::Gt, Operand::String("x".into()))
    );
}

#[test]
fn value_comparisons_mix_with_tags_and_time() {
    let q = parse_statement(
        "SELECT usage_user FROM cpu WHERE hostname = 'host_3' AND (usage_user > 90 OR NOT 1 > usage_system) AND time >= 0",
    )
    .unwrap()
    .into_query().unwrap();
    // one flat AND of three operands
    let Some(Filter::And(items)) = &q.filter else {
        panic!("{:?}", q.filter)
    };
    let [tag, or, time] = &items[..] else {
        panic!("{items:?}")
    };
    assert!(matches!(time, Filter::Time(_)));
    assert!(matches!(tag, Filter::Tag(t) if t.op == TagOp::Eq("host_3".into())));
    let Filter::Or(ors) = or else {
        panic!("{or:?}")
    };
    let [a, b] = &ors[..] else { panic!("{ors:?}") };
    assert!(matches!(a, Filter::Value(t) if t.op == ValueOp::Gt));
    // `1 > usage_system` is `usage_system < 1`
    assert!(
        matches!(b, Filter::Not(inner, _) if matches!(inner.as_ref(), Filter::Value(t) if t.op == ValueOp::Lt && t.field.value == "usage_system" && t.operand == Operand::Number(1.0)))
    );
    // `time` stays a time bound, on either side
    let q = parse_statement("SELECT v FROM m WHERE 5 < time")
        .unwrap()
        .into_query()
        .unwrap();
    assert!(matches!(q.filter, Some(Filter::Time(t)) if t.op == TimeOp::Gt && t.value == 5));
}

#[test]
fn value_comparison_parse_errors() {
    assert_eq!(
        err("SELECT v FROM m WHERE v > 90s"),
        "parse error at 1:27: bad number '90s': expected an integer or a decimal such as 90, -1.5 or 2e3"
    );
    // 1e999 overflows f64 to infinity
    assert_eq!(
        err("SELECT v FROM m\nWHERE v > 1e999"),
        "parse error at 2:11: bad number '1e999': expected an integer or a decimal such as 90, -1.5 or 2e3"
    );
    assert_eq!(
        err("SELECT v FROM m WHERE v > w"),
        "parse error at 1:27: a value comparison compares a field with a number (e.g. v > 90), found 'w'"
    );
    assert_eq!(
        err("SELECT v FROM m WHERE v >= now()"),
        "parse error at 1:28: a value comparison compares a field with a number (e.g. v >= 90), found 'now()'"
    );
    // arithmetic on a side makes it a comparison of computed values
    let q = parse_statement("SELECT v FROM m WHERE v >= abs(3)")
        .unwrap()
        .into_query()
        .unwrap();
    assert!(
        matches!(q.filter, Some(Filter::Arith(ref t)) if t.op == ValueOp::GtEq && t.pos == Pos::new(1, 23)),
        "{:?}",
        q.filter
    );
    assert_eq!(
        err("SELECT v FROM m WHERE 1 > 2"),
        "parse error at 1:23: expected a tag name, found '1'"
    );
}

/// `host = 'h0' <op> host = 'h1' <op> ...` with `n` terms.
fn chain_query(n: usize, op: &str) -> String {
    let terms: Vec<String> = (0..n).map(|i| format!("host = 'h{i}'")).collect();
    format!("SELECT v FROM m WHERE {}", terms.join(op))
}

/// Runs `f` on a thread with the default 2 MiB stack of spawned threads
/// (and of tokio's workers), where the CLI runs queries.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn hundred_thousand_or_terms_become_one_flat_node() {
    let n = on_small_stack(|| {
        let q = parse_statement(&chain_query(100_000, " OR "))
            .unwrap()
            .into_query()
            .unwrap();
        let Some(Filter::Or(items)) = q.filter else {
            panic!("not an OR")
        };
        // every operand in order, each a plain tag test
        let in_order = items
            .iter()
            .enumerate()
            .all(|(i, f)| matches!(f, Filter::Tag(t) if t.op == TagOp::Eq(format!("h{i}"))));
        (items.len(), in_order)
    });
    assert_eq!(n, (100_000, true));
}

#[test]
fn hundred_thousand_and_terms_and_mixed_chains_parse() {
    let (and, mixed) = on_small_stack(|| {
        let and = parse_statement(&chain_query(100_000, " AND "))
            .unwrap()
            .into_query()
            .unwrap();
        // a AND b OR c AND d OR ...: one OR of 50,000 two-operand ANDs
        let terms: Vec<String> = (0..100_000)
            .map(|i| format!("host = 'h{i}'"))
            .collect::<Vec<_>>()
            .chunks(2)
            .map(|c| c.join(" AND "))
            .collect();
        let mixed2 = parse_statement(&format!("SELECT v FROM m WHERE {}", terms.join(" OR ")))
            .unwrap()
            .into_query()
            .unwrap();
        let and_len = match and.filter {
            Some(Filter::And(items)) => items.len(),
            _ => 0,
        };
        let shape = match mixed2.filter {
            Some(Filter::Or(items)) => (
                items.len(),
                items
                    .iter()
                    .all(|i| matches!(i, Filter::And(v) if v.len() == 2)),
            ),
            _ => (0, false),
        };
        (and_len, shape)
    });
    assert_eq!(and, 100_000);
    assert_eq!(mixed, (50_000, true));
}

#[test]
fn a_long_chain_with_an_error_at_the_end_fails_cleanly() {
    let errors = on_small_stack(|| {
        // a syntax error after 100,000 terms (sqlparser drops what it built)
        let syntax = parse_statement(&format!("{} OR", chain_query(100_000, " OR ")))
            .unwrap_err()
            .to_string();
        // an unsupported operand at the end of the chain
        let unsupported =
            parse_statement(&format!("{} OR host IS NULL", chain_query(100_000, " OR ")))
                .unwrap_err()
                .to_string();
        // trailing tokens after a valid chain
        let trailing = parse_statement(&format!("{} )", chain_query(100_000, " OR ")))
            .unwrap_err()
            .to_string();
        (syntax, unsupported, trailing)
    });
    assert!(errors.0.contains("Expected: an expression"), "{}", errors.0);
    assert!(
        errors.1.contains("unsupported condition 'host IS NULL'"),
        "{}",
        errors.1
    );
    assert!(errors.2.contains("unexpected ')'"), "{}", errors.2);
}

#[test]
fn deep_parentheses_hit_the_recursion_limit_not_the_stack() {
    let err = on_small_stack(|| {
        let open = "(".repeat(5_000);
        let close = ")".repeat(5_000);
        parse_statement(&format!("SELECT v FROM m WHERE {open}host = 'a'{close}"))
            .unwrap_err()
            .to_string()
    });
    assert!(err.contains("nested too deeply"), "{err}");
}

#[test]
fn long_time_arithmetic_is_evaluated_in_a_loop() {
    let v = on_small_stack(|| {
        // 9,990 `+ 1s`: a run of 19,988 tokens (with `SELECT v FROM m WHERE
        // time >= 0`), just under the limit
        let q = format!("SELECT v FROM m WHERE time >= 0{}", " + 1s".repeat(9_990));
        match parse_statement(&q).unwrap().into_query().unwrap().filter {
            Some(Filter::Time(t)) => t.value,
            other => panic!("{other:?}"),
        }
    });
    assert_eq!(v, 9_990 * 1_000_000_000);
}

#[test]
fn long_chains_outside_where_fail_cleanly() {
    let errors = on_small_stack(|| {
        let chain = vec!["usage"; 100_000].join(" + ");
        [
            format!("SELECT {chain} FROM m"),
            format!("SELECT max({chain}) FROM m"),
            format!("SELECT max(usage) FROM m GROUP BY {chain}"),
            format!("SELECT max(usage) FROM m WHERE host = 'a' AND usage > {chain}"),
            format!(
                "SELECT max(usage) FROM m WHERE {}",
                vec!["host = 'a'"; 50_000].join(" = ")
            ),
        ]
        .map(|q| parse_statement(&q).unwrap_err().to_string())
    });
    for e in &errors {
        assert!(e.starts_with("parse error at 1:"), "{e}");
    }
}

#[test]
fn aggregate_of_star() {
    let st = parse_statement("SELECT host,\n  LAST(*), count(*) FROM cpu GROUP BY host").unwrap();
    let q = st.query().unwrap();
    assert_eq!(
        q.projections[1..],
        [
            Projection::AggregateAll {
                agg: Aggregator::Last,
                pos: Pos::new(2, 3),
            },
            Projection::AggregateAll {
                agg: Aggregator::Count,
                pos: Pos::new(2, 12),
            },
        ]
    );
    // the sample-by clause is left to the planner (it may imply one)
    assert_eq!(q.sample_by, None);
    assert_eq!(
        err("SELECT last(*) AS everything FROM cpu"),
        "plan error at 1:19: last(*) makes one column per field (last_<field>), so it cannot be \
         renamed with AS: name the field instead, e.g. last(usage) AS everything"
    );
    assert_eq!(
        err("SELECT 2 * max(*) FROM cpu"),
        "plan error at 1:12: max(*) stands for one column per field, so it cannot be part of an \
         expression: name the field, e.g. max(usage)"
    );
}
