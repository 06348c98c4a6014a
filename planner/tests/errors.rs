//! Bad input through the whole session: each error's exact text, with the
//! line and column of the offending construct.

mod common;

use tsq_engine::Capabilities;

async fn err(q: &str) -> String {
    common::session(Capabilities::ALL, None)
        .execute(q)
        .await
        .unwrap_err()
        .to_string()
}

#[tokio::test]
async fn errors_name_what_and_where() {
    let names = tsq_engine::Aggregator::NAMES;
    let cases: Vec<(&str, String)> = vec![
        (
            "SELECT sum(usage) FROM cpu GROUP BY host FILL(zero)",
            "plan error at 1:42: FILL needs SAMPLE BY".into(),
        ),
        (
            "SELECT smu(usage) FROM cpu",
            format!("plan error at 1:8: unknown aggregator 'smu' (expected one of {names})"),
        ),
        (
            "SELECT sum(usage) FROM cpu GROUP BY hots",
            "plan error at 1:37: unknown tag 'hots' in measurement 'cpu' (tags: dc, host)".into(),
        ),
        (
            "SELECT sum(usage) FROM cpu\nWHERE bytes = 'x'",
            "plan error at 2:7: field 'bytes' of 'cpu' is compared with a string: compare a field with a number, e.g. bytes > 90".into(),
        ),
        (
            "SELECT sum(rate(rate(usage))) FROM cpu",
            "plan error at 1:17: rate of a rate is not supported".into(),
        ),
        (
            "SELECT sum(usage) FROM cpu SAMPLE BY 1 h",
            "parse error at 1:38: bad duration '1': expected a positive integer followed by ns, us, ms, s, m, h, d or w, e.g. 500ms, 10s, 1h".into(),
        ),
        (
            "SELECT sum(usage) FROM cpu WHERE time > '2024-02-30T00:00:00Z'",
            "parse error at 1:41: bad timestamp '2024-02-30T00:00:00Z': expected RFC 3339 like '2024-01-01T00:00:00Z' or integer nanoseconds".into(),
        ),
        (
            "SELECT sum(usage) FROM cpu WHERE host = 'a' OR time > 5",
            "plan error at 1:48: OR across time and tag predicates cannot be pushed down: join time bounds to the rest of WHERE with AND".into(),
        ),
        (
            "SELECT sum(usage) FROM cpu WHERE NOT (time > 5 AND host = 'a')",
            "plan error at 1:39: a time bound inside NOT cannot be pushed down: write the opposite bound (time < x instead of NOT time >= x)".into(),
        ),
        (
            "SELECT sum(usage) FROM cpu WHERE time > 10 AND time < 5",
            "plan error at 1:34: empty time range [11, 5): the time bounds exclude every instant".into(),
        ),
        (
            "SELECT sum(usage) FROM cpu WHERE time >= now() AND time < now() - 1h",
            "plan error at 1:34: empty time range".into(),
        ),
        (
            "SELECT sum(usage) FROM cpu LIMIT x",
            "parse error at 1:34: expected a row count after LIMIT, found 'x'".into(),
        ),
        (
            "SELECT sum(usage) FROM cpu, mem",
            "parse error at 1:1: expected FROM <measurement> with exactly one measurement".into(),
        ),
        (
            "SELECT sum(usage) FROM cpu WHERE host > 'a'",
            "plan error at 1:34: tags can be tested with =, !=, <>, IN, NOT IN, LIKE, ~ or !~, not >".into(),
        ),
        (
            "SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(zero",
            "parse error at 1:50: expected ) after the FILL policy, found end of query".into(),
        ),
        (
            "SELECT sum(usage, usage) FROM cpu",
            "plan error at 1:8: sum takes exactly one argument: a field or rate(<field>)".into(),
        ),
        (
            "SELECT rate(usage, wrap => true) FROM cpu",
            "plan error at 1:20: unknown rate option 'wrap' (expected one of counter, counter_max, reset_value, drop_resets)".into(),
        ),
        (
            "SELECT usage FROM cpu\nWHERE host = 'a'\n  OR usage > 90",
            "plan error at 3:6: a value comparison must be joined with AND at the top of WHERE (it filters rows; it cannot be combined with OR/NOT)".into(),
        ),
        (
            "SELECT usage FROM cpu WHERE NOT (90 <= usage)",
            "plan error at 1:40: a value comparison must be joined with AND at the top of WHERE (it filters rows; it cannot be combined with OR/NOT)".into(),
        ),
        (
            "SELECT max(usage) FROM cpu\nWHERE usage > 90 GROUP BY host",
            "plan error at 2:7: value comparisons are supported in raw selects only".into(),
        ),
        (
            "SELECT usage FROM cpu WHERE usage > 'high'",
            "plan error at 1:29: field 'usage' of 'cpu' is compared with a string: compare a field with a number, e.g. usage > 90".into(),
        ),
        (
            "SELECT usage FROM cpu WHERE host = 3",
            "plan error at 1:36: tag host is compared with a string in single quotes, found 3".into(),
        ),
        (
            "SELECT usage FROM cpu WHERE usage > 9O",
            "parse error at 1:37: bad number '9O': expected an integer or a decimal such as 90, -1.5 or 2e3".into(),
        ),
        (
            "SELECT * FROM cpu",
            "parse error at 1:8: unsupported select item '*': name the fields and tags".into(),
        ),
    ];
    for (q, expected) in cases {
        let got = err(q).await;
        assert!(
            got.starts_with(&expected),
            "{q}\n got: {got}\nwant: {expected}"
        );
    }
}

#[tokio::test]
async fn script_errors_carry_script_lines() {
    let s = common::session(Capabilities::ALL, None);
    let e = s
        .execute_script("SELECT used FROM mem;\n\nSELECT sum(usage) FROM cpu GROUP BY usage;")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "plan error at 3:37: 'usage' is a field of 'cpu', not a tag"
    );
}

#[tokio::test]
async fn forcing_pipe_where_it_is_wrong_is_a_plan_error() {
    let s = common::session(Capabilities::ALL, Some(tsq_engine::spec::AggStrategy::Pipe));
    let e = s
        .execute("SELECT p99(usage) FROM cpu SAMPLE BY 1m FILL(zero)")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "plan error at 1:8: cannot force PipeAggOp for p99(usage): p99 is not incremental"
    );
}
