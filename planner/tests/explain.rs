//! EXPLAIN snapshots for a catalogue of queries covering every aggregation
//! operator choice of `docs/architecture.md`, "How a batch flows" (including the subtle cases: SAMPLE BY ALL,
//! FILL(previous/linear), counter rates that drop resets, percentiles),
//! every pushdown under full and reduced adapter capabilities, forced
//! strategies, and value filters (with a hidden column). Review changed `.snap` files by eye.

mod common;

use tsq_engine::spec::AggStrategy;
use tsq_engine::Capabilities;

const ALL: Capabilities = Capabilities::ALL;
const NONE: Capabilities = Capabilities::NONE;
const TIME_ONLY: Capabilities = Capabilities {
    time_pruning: true,
    tag_pushdown: false,
    ordered_by_group: false,
    last_point: false,
};
const TAGS_ONLY: Capabilities = Capabilities {
    time_pruning: false,
    tag_pushdown: true,
    ordered_by_group: false,
    last_point: false,
};
const ORDER_ONLY: Capabilities = Capabilities {
    time_pruning: false,
    tag_pushdown: false,
    ordered_by_group: true,
    last_point: false,
};

/// `(snapshot name, capabilities, forced strategy, query)`.
const CASES: &[(&str, Capabilities, Option<AggStrategy>, &str)] = &[
    ("raw_select", ALL, None, "SELECT usage FROM cpu"),
    ("raw_rate", ALL, None, "SELECT rate(usage) FROM cpu WHERE host = 'a'"),
    ("raw_downsampled", ALL, None, "SELECT usage FROM cpu SAMPLE BY 10ns max"),
    ("no_sample_by_grouped", ALL, None, "SELECT sum(usage) FROM cpu"),
    ("no_sample_by_group_by_host", ALL, None, "SELECT host, sum(usage) FROM cpu GROUP BY host"),
    ("fill_none_grouped", ALL, None, "SELECT sum(usage) FROM cpu SAMPLE BY 1m"),
    ("fill_zero_pipe", ALL, None, "SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(zero)"),
    ("fill_null_pipe", ALL, None, "SELECT avg(usage) FROM cpu GROUP BY dc SAMPLE BY 1m FILL(null)"),
    ("fill_nan_pipe", ALL, None, "SELECT min(usage) FROM cpu SAMPLE BY 1m FILL(nan)"),
    ("fill_previous_pipe", ALL, None, "SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(previous)"),
    ("fill_linear_pipe", ALL, None, "SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(linear)"),
    ("fill_number_pipe", ALL, None, "SELECT max(usage) FROM cpu SAMPLE BY 1m FILL(-1.5)"),
    ("sample_all_fill_none_pipe", ALL, None, "SELECT avg(usage) FROM cpu GROUP BY host SAMPLE BY ALL avg"),
    ("sample_all_percentile_grouped", ALL, None, "SELECT p95(usage) FROM cpu SAMPLE BY ALL"),
    ("percentile_fill_zero_grouped", ALL, None, "SELECT p99(usage) FROM cpu SAMPLE BY 1m FILL(zero)"),
    ("median_no_sample_grouped", ALL, None, "SELECT median(usage) FROM cpu GROUP BY dc"),
    (
        "rate_drop_resets_grouped",
        ALL,
        None,
        "SELECT sum(rate(usage, counter => true, drop_resets => true)) FROM cpu SAMPLE BY 1m FILL(zero)",
    ),
    (
        "rate_counter_pipe",
        ALL,
        None,
        "SELECT sum(rate(usage, counter => true, counter_max => 65536)) FROM cpu SAMPLE BY 1m FILL(zero)",
    ),
    (
        "rate_reset_value_pipe",
        ALL,
        None,
        "SELECT max(rate(usage, counter => true, reset_value => 1000)) AS r FROM cpu SAMPLE BY 1m FILL(previous)",
    ),
    ("count_group_all_pipe", ALL, None, "SELECT count(usage) FROM cpu GROUP BY * SAMPLE BY 10s FILL(zero)"),
    ("pfsum_zimsum_mimmax", ALL, None, "SELECT pfsum(usage), zimsum(usage), mimmax(usage) FROM cpu"),
    ("two_aggregates_pipe_and_grouped", ALL, None, "SELECT sum(usage), p99(usage) FROM cpu GROUP BY host SAMPLE BY 1m FILL(zero)"),
    ("two_fields", ALL, None, "SELECT sum(usage), sum(bytes) AS b FROM cpu GROUP BY host, dc SAMPLE BY 1m dev FILL(zero)"),
    (
        "time_range_rfc3339",
        ALL,
        None,
        "SELECT sum(usage) FROM cpu WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T01:00:00Z' SAMPLE BY 1m FILL(zero)",
    ),
    ("time_range_ns", ALL, None, "SELECT sum(usage) FROM cpu WHERE time > 5 AND time <= 20 AND 0 <= time"),
    ("tag_eq_in_like", ALL, None, "SELECT sum(usage) FROM cpu WHERE host = 'a' AND dc IN ('eu', 'us') AND host LIKE 'a%'"),
    ("tag_regex_or_not", ALL, None, "SELECT sum(usage) FROM cpu WHERE (host ~ '^a' OR host !~ 'b') AND NOT dc = 'us'"),
    ("tag_not_in_not_like", ALL, None, "SELECT sum(usage) FROM cpu WHERE host NOT IN ('b') AND dc NOT LIKE 'x%' AND host <> 'c'"),
    ("order_by_limit", ALL, None, "SELECT sum(usage) AS s FROM cpu GROUP BY dc SAMPLE BY 1m FILL(zero) ORDER BY s DESC, time LIMIT 5"),
    ("missing_measurement", ALL, None, "SELECT sum(v) FROM nope GROUP BY host SAMPLE BY 1m"),
    ("missing_field", ALL, None, "SELECT sum(nope), max(usage) FROM cpu SAMPLE BY 1m FILL(zero)"),
    ("none_no_sample_mt", NONE, None, "SELECT sum(usage) FROM cpu GROUP BY host"),
    ("none_fill_zero_pipe", NONE, None, "SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(zero)"),
    ("none_percentile_mt", NONE, None, "SELECT p90(usage) FROM cpu SAMPLE BY ALL"),
    (
        "none_time_and_tags_scanop",
        NONE,
        None,
        "SELECT sum(usage) FROM cpu WHERE time >= 0 AND time < 100 AND host = 'a' SAMPLE BY 10ns FILL(zero)",
    ),
    (
        "none_rate_drop_resets_mt",
        NONE,
        None,
        "SELECT sum(rate(usage, counter => true, drop_resets => true)) FROM cpu SAMPLE BY 1m FILL(linear)",
    ),
    ("time_only_fill_none_mt", TIME_ONLY, None, "SELECT sum(usage) FROM cpu WHERE time >= 0 AND host = 'a' SAMPLE BY 1m"),
    ("tags_only_percentile_mt", TAGS_ONLY, None, "SELECT p50(usage) FROM cpu WHERE time < 100 AND dc = 'eu' GROUP BY host"),
    ("order_only_grouped", ORDER_ONLY, None, "SELECT last(usage) FROM cpu WHERE host != 'b' GROUP BY dc"),
    (
        "value_filter_hidden_field",
        ALL,
        None,
        "SELECT usage FROM cpu WHERE host = 'a' AND bytes > 10 AND usage <= 2.5 AND time >= 0",
    ),
    ("value_filter_no_pushdown", NONE, None, "SELECT usage FROM cpu WHERE -1 < usage ORDER BY usage DESC LIMIT 2"),
    ("forced_mt", ALL, Some(AggStrategy::MT), "SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(zero)"),
    ("forced_grouped", ALL, Some(AggStrategy::Grouped), "SELECT sum(usage) FROM cpu GROUP BY host SAMPLE BY 1m FILL(zero)"),
    ("forced_pipe_sample_all", ALL, Some(AggStrategy::Pipe), "SELECT first(usage) FROM cpu SAMPLE BY ALL"),
    ("last_point_path", ALL, None, "SELECT dc, last(usage) FROM cpu WHERE time >= 0 GROUP BY dc SAMPLE BY ALL last"),
    ("last_point_needs_capability", TIME_ONLY, None, "SELECT last(usage) FROM cpu SAMPLE BY ALL last"),
    ("last_star_point_path", ALL, None, "SELECT last(*) FROM cpu GROUP BY host"),
    (
        "last_star_lastpoint_bounded",
        ALL,
        None,
        "SELECT host, last(*) FROM cpu WHERE time >= 0 GROUP BY host SAMPLE BY ALL last",
    ),
    (
        "last_points_apart",
        ALL,
        None,
        "SELECT host, last(usage), max(bytes) FROM cpu WHERE time >= 0 GROUP BY host SAMPLE BY ALL last",
    ),
    ("count_star_sums_counts", ALL, None, "SELECT count(*) FROM cpu GROUP BY dc"),
    (
        "tail_fill_null",
        ALL,
        None,
        "SELECT max(usage) FROM cpu WHERE host != 'c' SAMPLE BY 5ns max FILL(null) ORDER BY time DESC LIMIT 2",
    ),
    (
        "tail_falls_back_to_the_range",
        ALL,
        None,
        "SELECT max(usage) FROM cpu SAMPLE BY 5ns max FILL(null) ORDER BY time DESC LIMIT 2",
    ),
    ("tail_fill_zero_scans", ALL, None, "SELECT max(usage) FROM cpu SAMPLE BY 5ns FILL(zero) ORDER BY time DESC LIMIT 2"),
    ("fill_linear_max_gap", ALL, None, "SELECT sum(usage) FROM cpu WHERE time >= 5 SAMPLE BY 5ns FILL(linear, 10ns)"),
];

#[tokio::test]
async fn explain_catalogue() {
    assert!(CASES.len() >= 30);
    for (name, caps, force, q) in CASES {
        let s = common::session(*caps, *force);
        let out = s
            .execute(&format!("EXPLAIN {q}"))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = format!("{q}\n---\n{}", common::explain_text(&out));
        insta::assert_snapshot!(*name, text);
    }
}

/// Replaces what varies from run to run (times, the peak memory of
/// concurrent partitions) with `_`.
fn mask(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut line = line.to_string();
        for key in ["elapsed=", "wall=", "peak_bytes=", "peak memory: "] {
            let mut from = 0;
            while let Some(i) = line[from..].find(key) {
                let start = from + i + key.len();
                let end = line[start..]
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .map_or(line.len(), |j| start + j);
                line.replace_range(start..end, "_");
                from = start + 1;
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `(snapshot name, threads, forced strategy, query)`: partitioned plans.
const PARTITIONED: &[(&str, usize, Option<AggStrategy>, &str)] = &[
    (
        "partitioned_pipe",
        2,
        None,
        "SELECT sum(usage) FROM cpu GROUP BY dc SAMPLE BY 10ns FILL(zero)",
    ),
    (
        "partitioned_grouped",
        3,
        None,
        "SELECT host, p50(usage) FROM cpu GROUP BY host SAMPLE BY 10ns",
    ),
    (
        "partitioned_mt",
        2,
        Some(AggStrategy::MT),
        "SELECT max(usage) FROM cpu GROUP BY host",
    ),
    // one group cannot be split: one pipeline
    (
        "partitioned_mt_one_group",
        2,
        Some(AggStrategy::MT),
        "SELECT max(usage) FROM cpu",
    ),
    // two columns on two threads: one partition each
    (
        "partitioned_two_fields",
        2,
        None,
        "SELECT sum(usage), sum(bytes) FROM cpu SAMPLE BY 10ns FILL(zero)",
    ),
];

#[tokio::test]
async fn explain_partitioned() {
    use tsq_planner::{Session, SessionConfig};
    for (name, threads, force, q) in PARTITIONED {
        let config = SessionConfig::new()
            .with_threads(*threads)
            // the data set is tiny: split it anyway
            .with_min_points_per_partition(0)
            .with_force_strategy(*force);
        let s = Session::new(common::adapter(ALL), config);
        let plain = s.execute(&format!("EXPLAIN {q}")).await.unwrap();
        let analyze = s.execute(&format!("EXPLAIN ANALYZE {q}")).await.unwrap();
        let text = format!(
            "{q}\n---\n{}\n--- ANALYZE (times and peaks masked)\n{}",
            common::explain_text(&plain),
            mask(common::explain_text(&analyze))
        );
        insta::assert_snapshot!(*name, text);
    }
}
