//! Arithmetic in the select list over the hand-made data set of `common`
//! (values worked out by hand in the comments), through `execute` (the
//! result stage: the `MergeJoin`, then the projection) and `stream` (the
//! same stage, batch by batch), and its errors with their positions.

mod common;

use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use common::{columns, explain_text, rows, session};
use futures::StreamExt;
use tsq_engine::spec::AggStrategy;
use tsq_engine::Capabilities;
use tsq_planner::TsqError;

async fn run(q: &str) -> Vec<String> {
    let out = session(Capabilities::ALL, None).execute(q).await.unwrap();
    rows(&out)
}

async fn err(q: &str) -> String {
    session(Capabilities::ALL, None)
        .execute(q)
        .await
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

#[tokio::test]
async fn sum_of_aggregates_per_group() {
    // SAMPLE BY ALL (avg per timeline) over the data span [0, 20], stamped 0:
    // eu: a = avg(1, 2, 3) = 2, b = avg(10, 30) = 20 → max 20, min 2 → 22
    // us: c = 100 → 100 + 100 = 200
    let q = "SELECT dc, max(usage) + min(usage) AS spread, max(usage) FROM cpu GROUP BY dc SAMPLE BY ALL";
    let s = session(Capabilities::ALL, None);
    let out = s.execute(q).await.unwrap();
    assert_eq!(columns(&out), ["time", "dc", "spread", "max(usage)"]);
    assert_eq!(rows(&out), ["0|eu|22|20", "0|us|200|100"]);
    // the same rows through every aggregation operator
    for force in [AggStrategy::Pipe, AggStrategy::Grouped, AggStrategy::MT] {
        let out = session(Capabilities::ALL, Some(force))
            .execute(q)
            .await
            .unwrap();
        assert_eq!(rows(&out), ["0|eu|22|20", "0|us|200|100"], "{force}");
    }
}

#[tokio::test]
async fn unary_minus_division_and_precedence() {
    // per host, max of the maxima: a 3, b 30, c 100; -max / 4
    assert_eq!(
        run("SELECT host, -max(usage) / 4 AS q FROM cpu GROUP BY host SAMPLE BY ALL max").await,
        ["0|a|-0.75", "0|b|-7.5", "0|c|-25"]
    );
    // 1 + 2 * max = 1 + 6 = 7 for a; (1 + 2) * max = 9
    assert_eq!(
        run("SELECT 1 + 2 * max(usage) AS x, (1 + 2) * max(usage) AS y FROM cpu WHERE host = 'a' SAMPLE BY ALL max").await,
        ["0|7|9"]
    );
}

#[tokio::test]
async fn raw_field_arithmetic_joined_and_streamed() {
    // host a: usage 1, 2, 3 at 0, 10, 20 (raw selects carry every tag)
    let q = "SELECT usage * 100 FROM cpu WHERE host = 'a'";
    let s = session(Capabilities::ALL, None);
    let out = s.execute(q).await.unwrap();
    assert_eq!(columns(&out), ["time", "dc", "host", "usage * 100"]);
    let expected = ["0|eu|a|100", "10|eu|a|200", "20|eu|a|300"];
    assert_eq!(rows(&out), expected);
    // streamed: one pipeline, projected batch by batch
    let mut stream = s.stream(q).await.unwrap();
    assert_eq!(stream.schema().field(3).name(), "usage * 100");
    let mut batches = Vec::new();
    while let Some(b) = stream.next().await {
        batches.push(b.unwrap());
    }
    let streamed = tsq_planner::QueryOutput {
        kind: tsq_planner::QueryKind::Rows {
            schema: stream.schema(),
            batches,
        },
        notices: Vec::new(),
    };
    assert_eq!(rows(&streamed), expected);
}

#[tokio::test]
async fn a_null_operand_gives_null() {
    // host a: usage at 0, 10, 20; bytes only at 5: the join has rows 0, 5,
    // 10, 20 and usage + bytes is null in every one of them
    assert_eq!(
        run("SELECT usage + bytes AS s, usage FROM cpu WHERE host = 'a'").await,
        [
            "0|eu|a|null|1",
            "5|eu|a|null|null",
            "10|eu|a|null|2",
            "20|eu|a|null|3"
        ]
    );
}

#[tokio::test]
async fn functions_over_raw_values() {
    // host b: usage 10 and 30
    let q = "SELECT abs(-usage) AS a, round(usage / 4) AS r, floor(usage / 4) AS f, \
             ceil(usage / 4) AS c, sqrt(usage), ln(usage), log10(usage) FROM cpu WHERE host = 'b'";
    let (s10, s30) = (10f64.sqrt(), 30f64.sqrt());
    let (l10, l30) = (10f64.ln(), 30f64.ln());
    let lg30 = 30f64.log10();
    // 10 / 4 = 2.5 → round 3 (halves away from zero), floor 2, ceil 3;
    // 30 / 4 = 7.5 → 8, 7, 8; log10(10) = 1
    assert_eq!(
        run(q).await,
        [
            format!("0|eu|b|10|3|2|3|{s10}|{l10}|1"),
            format!("20|eu|b|30|8|7|8|{s30}|{l30}|{lg30}"),
        ]
    );
}

#[tokio::test]
async fn division_by_zero_follows_ieee_754() {
    // host a: max 3, min 1 (SAMPLE BY ALL max / min over one timeline)
    // 3 / (1 - 1) = +inf, -3 / 0 = -inf, (3 - 3) / 0 = NaN
    assert_eq!(
        run(
            "SELECT max(usage) / (min(usage) - min(usage)) AS p, -max(usage) / 0 AS n, \
             (max(usage) - max(usage)) / 0 AS z FROM cpu WHERE host = 'a' SAMPLE BY ALL"
        )
        .await,
        ["0|inf|-inf|NaN"]
    );
}

#[tokio::test]
async fn each_distinct_term_is_computed_once() {
    let q =
        "SELECT max(usage), max(usage) * 2, min(usage) + max(usage) AS s FROM cpu SAMPLE BY ALL";
    let s = session(Capabilities::ALL, None);
    let plan = s.sql(q).await.unwrap();
    let plan = plan.logical_plan().unwrap();
    // two pipelines: max(usage) and min(usage)
    let names: Vec<&str> = plan.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["max(usage)", "min(usage)"]);
    assert_eq!(plan.pipelines.len(), 2);
    let out = s.execute(&format!("EXPLAIN {q}")).await.unwrap();
    let text = explain_text(&out);
    assert!(
        text.contains("columns: time, max(usage), max(usage) * 2, s\n"),
        "{text}"
    );
    assert!(
        text.contains("expression: max(usage) * 2 = ([max(usage)] * 2)\n"),
        "{text}"
    );
    assert!(
        text.contains("expression: s = ([min(usage)] + [max(usage)])\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "pipeline 2 of 2: min(usage) [PipeAggOp] (a term of an expression, not in the result)"
        ),
        "{text}"
    );
    // avg per timeline a 2, b 20, c 100: max 100, min 2
    assert_eq!(run(q).await, ["0|100|200|102"]);
}

#[tokio::test]
async fn expression_errors_name_what_and_where() {
    assert_eq!(
        err("SELECT avg(usage) + usage FROM cpu").await,
        "plan error at 1:21: raw field 'usage' cannot be used next to aggregates; aggregate it, e.g. avg(usage)"
    );
    assert_eq!(
        err("SELECT usage * host FROM cpu").await,
        "plan error at 1:16: type error: 'host' is a tag of 'cpu': tags are strings, arithmetic takes numbers, fields and aggregates"
    );
    assert_eq!(
        err("SELECT avg(usage) + 'x' FROM cpu").await,
        "plan error at 1:21: type error: arithmetic takes numbers, fields and aggregates, found 'x'"
    );
    assert!(err("SELECT foo(usage) + 1 FROM cpu")
        .await
        .starts_with("plan error at 1:8: unknown function 'foo' (expected an aggregator: "));
    assert_eq!(
        err("SELECT max(abs(usage)) FROM cpu").await,
        "plan error at 1:12: max takes a field or rate(<field>), not abs(...): apply abs to the aggregate instead, e.g. abs(max(...))"
    );
    assert_eq!(
        err("SELECT abs(usage, 2) FROM cpu").await,
        "plan error at 1:8: abs takes exactly one argument"
    );
    assert_eq!(
        err("SELECT avg(usage) % 2 FROM cpu").await,
        "parse error at 1:8: unsupported expression 'avg(usage) % 2': % is not an arithmetic operator (expected +, -, * or /)"
    );
    assert_eq!(
        err("SELECT max(usage) AS m, min(usage) + 1 AS m FROM cpu").await,
        "plan error at 1:25: duplicate result column 'm': give it another name with AS"
    );
    assert_eq!(
        err("SELECT sum(rate(bytes)) + rate(bytes) FROM cpu").await,
        "plan error at 1:32: rate(bytes) needs an aggregator next to other aggregates, e.g. sum(rate(bytes))"
    );
    // 100 terms nest 99 operators deep
    let deep = format!("SELECT {} FROM cpu", vec!["usage"; 100].join(" + "));
    assert_eq!(
        err(&deep).await,
        "parse error at 1:8: expression nested too deeply (more than 64 levels of operators and calls)"
    );
    // a constant needs a value to compute next to it
    assert!(matches!(
        session(Capabilities::ALL, None)
            .execute("SELECT 1 + 1 FROM cpu")
            .await,
        Err(TsqError::Plan { .. })
    ));
}

#[tokio::test]
async fn value_comparisons_with_arithmetic() {
    // usage * 10 > 15 keeps usage > 1.5: a 2, 3; b 10, 30; c 100
    assert_eq!(
        run("SELECT usage FROM cpu WHERE usage * 10 > 15").await,
        [
            "10|eu|a|2",
            "20|eu|a|3",
            "0|eu|b|10",
            "20|eu|b|30",
            "10|us|c|100"
        ]
    );
    // LIMIT counts the rows that pass (the first joined row, a at 0, fails)
    assert_eq!(
        run("SELECT usage FROM cpu WHERE usage * 10 > 15 LIMIT 2").await,
        ["10|eu|a|2", "20|eu|a|3"]
    );
    // usage / 10 >= 1: b 10, b 30, c 100; newest... by value, best two
    assert_eq!(
        run("SELECT usage FROM cpu WHERE usage / 10 >= 1 ORDER BY usage DESC LIMIT 2").await,
        ["10|us|c|100", "20|eu|b|30"]
    );
    // -usage < -1.5 is usage > 1.5, next to a tag test
    assert_eq!(
        run("SELECT usage FROM cpu WHERE host = 'a' AND -usage < -1.5").await,
        ["10|eu|a|2", "20|eu|a|3"]
    );
    // a compared field that is not selected: usage and bytes never share a
    // time, so usage + bytes is always null and no row passes
    assert!(
        run("SELECT usage FROM cpu WHERE host = 'a' AND usage + bytes > 0")
            .await
            .is_empty()
    );
    // a field on both sides: usage > 2 * usage holds for no positive value
    assert!(run("SELECT usage FROM cpu WHERE usage > 2 * usage")
        .await
        .is_empty());
    let s = session(Capabilities::ALL, None);
    let out = s
        .execute("EXPLAIN SELECT usage FROM cpu WHERE usage * 10 > 15 AND usage < 50")
        .await
        .unwrap();
    assert!(
        explain_text(&out).contains("value filter: usage < 50 AND usage * 10 > 15\n"),
        "{}",
        explain_text(&out)
    );
}

#[tokio::test]
async fn arithmetic_comparison_errors() {
    assert_eq!(
        err("SELECT usage FROM cpu WHERE max(usage) * 2 > 1").await,
        "plan error at 1:29: an aggregate cannot be compared in WHERE: value comparisons compare the fields of each row"
    );
    assert_eq!(
        err("SELECT max(usage) FROM cpu WHERE usage * 2 > 1").await,
        "plan error at 1:34: value comparisons are supported in raw selects only"
    );
    assert_eq!(
        err("SELECT usage FROM cpu WHERE host = 'a' OR usage * 2 > 1").await,
        "plan error at 1:43: a value comparison must be joined with AND at the top of WHERE (it filters rows; it cannot be combined with OR/NOT)"
    );
    assert_eq!(
        err("SELECT usage FROM cpu WHERE usage * dc > 1").await,
        "plan error at 1:37: type error: 'dc' is a tag of 'cpu': tags are strings, arithmetic takes numbers, fields and aggregates"
    );
}

#[tokio::test]
async fn order_by_an_expression_column() {
    // per host, max of the maxima: a 3, b 30, c 100; doubled 6, 60, 200
    let q = "SELECT host, max(usage) * 2 AS m FROM cpu GROUP BY host SAMPLE BY ALL max";
    assert_eq!(
        run(&format!("{q} ORDER BY m DESC LIMIT 2")).await,
        ["0|c|200", "0|b|60"]
    );
    assert_eq!(
        run(&format!("{q} ORDER BY m")).await,
        ["0|a|6", "0|b|60", "0|c|200"]
    );
    // raw: -usage ascending is usage descending; LIMIT after the sort
    assert_eq!(
        run("SELECT -usage AS n FROM cpu ORDER BY n LIMIT 3").await,
        ["10|us|c|-100", "20|eu|b|-30", "0|eu|b|-10"]
    );
    // with a comparison: the rows that pass, sorted, then limited
    assert_eq!(
        run("SELECT usage / 10 AS d FROM cpu WHERE usage * 10 > 15 ORDER BY d LIMIT 2").await,
        ["10|eu|a|0.2", "20|eu|a|0.3"]
    );
}

#[tokio::test]
async fn a_streamed_comparison_with_arithmetic_keeps_the_same_rows() {
    // one pipeline, no ORDER BY / LIMIT: streamed batch by batch (batch
    // size 2), the comparison applied to each batch
    let q = "SELECT usage * 2 AS d FROM cpu WHERE usage * 10 > 15 AND usage < 50";
    let s = tsq_planner::Session::new(
        common::adapter(Capabilities::ALL),
        tsq_planner::SessionConfig::new().with_batch_size(2),
    );
    let mut stream = s.stream(q).await.unwrap();
    let mut batches = Vec::new();
    while let Some(b) = stream.next().await {
        batches.push(b.unwrap());
    }
    let streamed = tsq_planner::QueryOutput {
        kind: tsq_planner::QueryKind::Rows {
            schema: stream.schema(),
            batches,
        },
        notices: Vec::new(),
    };
    // usage in (1.5, 50): a 2, 3; b 10, 30 → doubled
    let expected = ["10|eu|a|4", "20|eu|a|6", "0|eu|b|20", "20|eu|b|60"];
    assert_eq!(rows(&streamed), expected);
    assert_eq!(run(q).await, expected);
}

/// Every batch of `q` streamed by a session with batch size `batch_size`
/// (and dictionary tags when asked), as `time|tag..|value..` rows with the
/// tags cast back to strings; also the tag columns' type.
async fn streamed(q: &str, batch_size: usize, dictionary: bool) -> (Vec<String>, DataType) {
    let s = tsq_planner::Session::new(
        common::adapter(Capabilities::ALL),
        tsq_planner::SessionConfig::new()
            .with_batch_size(batch_size)
            .with_dictionary_tags(dictionary),
    );
    let mut stream = s.stream(q).await.unwrap();
    let tag_type = stream.schema().field(1).data_type().clone();
    let plain = tsq_planner::result::result_schema(
        &["dc".to_string(), "host".to_string()],
        &[stream.schema().field(3).name().clone()],
    );
    let mut batches = Vec::new();
    while let Some(b) = stream.next().await {
        let b = b.unwrap();
        assert_eq!(b.schema(), stream.schema());
        assert!(b.num_rows() <= batch_size, "a batch of {}", b.num_rows());
        let columns = b
            .columns()
            .iter()
            .zip(plain.fields())
            .map(|(c, f)| cast(c, f.data_type()).unwrap())
            .collect();
        batches.push(RecordBatch::try_new(std::sync::Arc::clone(&plain), columns).unwrap());
    }
    let out = tsq_planner::QueryOutput {
        kind: tsq_planner::QueryKind::Rows {
            schema: plain,
            batches,
        },
        notices: Vec::new(),
    };
    (rows(&out), tag_type)
}

#[tokio::test]
async fn a_comparison_with_arithmetic_streams_and_limits_after_the_join() {
    // joined in (group, time) order: a 1, 2, 3; b 10, 30; c 100. usage * 10
    // > 15 keeps a 2, a 3, b 10, b 30, c 100; LIMIT 3 takes the first three
    // of those, not of the joined rows
    let q = "SELECT usage * 2 AS d FROM cpu WHERE usage * 10 > 15 LIMIT 3";
    let expected = ["10|eu|a|4", "20|eu|a|6", "0|eu|b|20"];
    for batch_size in [1, 2, 1024] {
        for dictionary in [false, true] {
            let (got, tags) = streamed(q, batch_size, dictionary).await;
            assert_eq!(got, expected, "batch size {batch_size}");
            let want = if dictionary {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            } else {
                DataType::Utf8
            };
            assert_eq!(tags, want);
        }
    }
    assert_eq!(run(q).await, expected);
}

#[tokio::test]
async fn the_result_stage_explains_the_join_then_the_projection() {
    let s = session(Capabilities::ALL, None);
    let text = |q: &'static str| {
        let s = &s;
        async move { explain_text(&s.execute(q).await.unwrap()).to_string() }
    };
    // the comparison and the LIMIT are the projection's, not the join's
    let t = text("EXPLAIN SELECT usage FROM cpu WHERE usage * 10 > 15 LIMIT 2").await;
    assert!(
        t.contains(
            "result: MergeJoin: on=(group, time) inputs=1\n\
             result: Projection: columns=[usage] filter=[usage * 10 > 15] limit=2\n"
        ),
        "{t}"
    );
    // a plain value filter and a LIMIT without arithmetic stay in the join
    let t = text("EXPLAIN SELECT usage * 2 AS d FROM cpu WHERE usage > 1 LIMIT 2").await;
    assert!(
        t.contains(
            "result: MergeJoin: on=(group, time) inputs=1 filter=[usage > 1] limit=2\n\
             result: Projection: columns=[d]\n"
        ),
        "{t}"
    );
    assert!(t.contains("expression: d = ([usage] * 2)\n"), "{t}");
    // ORDER BY an expression column: the join runs in natural order
    let t = text(
        "EXPLAIN SELECT host, max(usage) * 2 AS m FROM cpu GROUP BY host SAMPLE BY ALL max \
         ORDER BY m DESC LIMIT 2",
    )
    .await;
    assert!(
        t.contains(
            "result: MergeJoin: on=(group, time) inputs=1\n\
             result: Projection: columns=[m] order=[m DESC] (sort) limit=2\n"
        ),
        "{t}"
    );
    // ORDER BY a computed output stays a top-k of the join
    let t = text("EXPLAIN SELECT usage, -usage AS n FROM cpu ORDER BY usage LIMIT 1").await;
    assert!(
        t.contains(
            "result: MergeJoin: on=(group, time) inputs=1 order=[usage] (top-k) limit=1\n\
             result: Projection: columns=[usage, n]\n"
        ),
        "{t}"
    );
}

#[tokio::test]
async fn explain_analyze_shows_the_limit_stopping_the_join() {
    // batch size 2: the join hands out [a 1, a 2] (one passes), then
    // [a 3, b 10] (both pass, the LIMIT takes one); it is not asked for
    // more, so 4 joined rows went out of it
    let s = tsq_planner::Session::new(
        common::adapter(Capabilities::ALL),
        tsq_planner::SessionConfig::new().with_batch_size(2),
    );
    let out = s
        .execute("EXPLAIN ANALYZE SELECT usage FROM cpu WHERE usage * 10 > 15 LIMIT 2")
        .await
        .unwrap();
    let t = explain_text(&out);
    let line = |prefix: &str| {
        t.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line in {t}"))
            .to_string()
    };
    assert!(
        line("result: MergeJoin:").contains("rows_out=4 batches=2"),
        "{t}"
    );
    let projection = line("result: Projection:");
    assert!(projection.contains("rows_in=4 rows_out=2 batches=2"), "{t}");
    // streaming: the projection holds nothing
    assert!(projection.ends_with("peak_bytes=0]"), "{t}");
}

#[tokio::test]
async fn explain_analyze_of_an_expression_sort_holds_every_row() {
    // ORDER BY n: the join hands out all 6 rows (3 batches of 2), the stage
    // holds and sorts them, then cuts the best 3 into batches of 2 and 1
    let s = tsq_planner::Session::new(
        common::adapter(Capabilities::ALL),
        tsq_planner::SessionConfig::new().with_batch_size(2),
    );
    let q = "SELECT -usage AS n FROM cpu ORDER BY n LIMIT 3";
    let out = s.execute(&format!("EXPLAIN ANALYZE {q}")).await.unwrap();
    let t = explain_text(&out);
    let join = t.lines().find(|l| l.starts_with("result: MergeJoin:"));
    assert!(
        join.is_some_and(|l| l.contains("rows_out=6 batches=3")),
        "{t}"
    );
    let projection = t
        .lines()
        .find(|l| l.starts_with("result: Projection:"))
        .unwrap_or_else(|| panic!("{t}"));
    assert!(
        projection.contains("order=[n] (sort) limit=3, metrics=[rows_in=6 rows_out=3 batches=2"),
        "{t}"
    );
    assert!(!projection.ends_with("peak_bytes=0]"), "{t}");
    assert_eq!(
        rows(&s.execute(q).await.unwrap()),
        ["10|us|c|-100", "20|eu|b|-30", "0|eu|b|-10"]
    );
}
