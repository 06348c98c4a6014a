//! Parser unit tests: the AST of each construct, and errors with positions.

use tsq_engine::{Aggregator, FillPolicy, Interval};

use super::*;
use crate::ast::{ExplainMode, Filter, GroupByClause, Projection, TagOp, TimeOp, ValueExpr};

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
    let q = &st.query;
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
        Filter::Or(a, b) => {
            assert!(
                matches!(a.as_ref(), Filter::Tag(t) if t.op == TagOp::Regex("x".into(), false))
            );
            assert!(
                matches!(b.as_ref(), Filter::And(_, n) if matches!(n.as_ref(), Filter::Not(..)))
            );
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
    .query;
    let mut bounds = Vec::new();
    fn walk(f: &Filter, out: &mut Vec<(TimeOp, i64, u64, u64)>) {
        match f {
            Filter::And(a, b) => {
                walk(a, out);
                walk(b, out);
            }
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
        .query;
    assert!(matches!(q.filter, Some(Filter::Time(t)) if t.value == -1_000_000_000));
}

#[test]
fn explain_group_all_and_sample_all() {
    let st = parse_statement("EXPLAIN ANALYZE SELECT avg(v) FROM m GROUP BY * SAMPLE BY ALL avg")
        .unwrap();
    assert_eq!(st.explain, Some(ExplainMode::Analyze));
    assert!(matches!(st.query.group_by, Some(GroupByClause::All(_))));
    assert_eq!(st.query.sample_by.unwrap().interval, Interval::All);
    let st = parse_statement("explain select v from m").unwrap();
    assert_eq!(st.explain, Some(ExplainMode::Plan));
    assert_eq!(st.text, "explain select v from m");
}

#[test]
fn script_statements_keep_script_positions() {
    let all =
        parse_script("SELECT a FROM m;\nSELECT b FROM n SAMPLE BY 10s FILL(previous);").unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].query.measurement.pos, Pos::new(2, 15));
    assert_eq!(all[1].query.sample_by.unwrap().fill, FillPolicy::Previous);
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
        err("SELECT v FROM m WHERE host = 5"),
        "parse error at 1:30: tag host is compared with a string in single quotes, found 5"
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
        .query;
    assert_eq!(q.orphan_fill, Some(Pos::new(1, 36)));
}
