//! Example-based end-to-end tests on the `MemoryAdapter`: small queries whose
//! results are worked out by hand, checked on the materialized executor and
//! on every aggregation operator that can run them, at two batch sizes.

mod common;

use std::sync::Arc;

use common::{compare, run_materialized, run_pipeline, Row};
use tsq_engine::spec::{AggStrategy, PipelineSpec};
use tsq_engine::{
    check_strategy, Aggregator, Downsample, FillPolicy, GroupBy, Interval, RateOptions,
    ScanRequest, StorageAdapter, TagPredicate, TimeRange,
};
use tsq_storage::memory::MemoryAdapter;

const S: i64 = 1_000_000_000;

/// cpu usage: dc=a host=1 (0s,1) (5s,3) (10s,5) (30s,7); dc=a host=2
/// (2s,10) (12s,20); dc=b host=3 (10s,100). Series ids 0, 1, 2 in that order.
fn cpu() -> Arc<dyn StorageAdapter> {
    let m = MemoryAdapter::new();
    let h1 = [(0, 1.0), (5 * S, 3.0), (10 * S, 5.0), (30 * S, 7.0)];
    m.insert("cpu", &[("dc", "a"), ("host", "1")], "usage", &h1);
    m.insert(
        "cpu",
        &[("dc", "a"), ("host", "2")],
        "usage",
        &[(2 * S, 10.0), (12 * S, 20.0)],
    );
    m.insert(
        "cpu",
        &[("dc", "b"), ("host", "3")],
        "usage",
        &[(10 * S, 100.0)],
    );
    Arc::new(m)
}

fn spec(agg: Option<&str>, group_by: GroupBy) -> PipelineSpec {
    PipelineSpec {
        scan: ScanRequest::new("cpu", "usage"),
        downsample: None,
        rate: None,
        aggregate: agg.map(|a| a.parse().unwrap()),
        group_by,
        output_name: "out".into(),
    }
}

fn row(key: &str, t: i64, v: f64) -> Row {
    (key.to_string(), t * S, Some(v))
}

/// Checks `expected` on the materialized executor and every operator path
/// that can run `spec`; returns how many paths ran.
async fn check(spec: &PipelineSpec, adapter: &Arc<dyn StorageAdapter>, expected: &[Row]) -> usize {
    let mut paths = 0;
    for bs in [2, 4096] {
        let got = run_materialized(spec, adapter, bs).await;
        compare(&format!("materialized at {bs}"), expected, &got).unwrap();
        for strategy in [AggStrategy::MT, AggStrategy::Grouped, AggStrategy::Pipe] {
            if check_strategy(spec, adapter.as_ref(), strategy).is_none() {
                let got = run_pipeline(spec, adapter, strategy, bs).await;
                compare(&format!("{strategy} at {bs}"), expected, &got).unwrap();
                paths += 1;
            }
        }
    }
    paths / 2
}

#[tokio::test]
async fn sum_by_dc_of_zero_filled_averages() {
    // SELECT sum(usage) FROM cpu WHERE time >= 0 AND time < 40s
    //   GROUP BY dc SAMPLE BY 10s avg FILL(zero)
    // host1: avg(1,3)=2, 5, 0, 7; host2: 10, 20, 0, 0; host3: 0, 100, 0, 0.
    let mut s = spec(Some("sum"), GroupBy::Tags(vec!["dc".into()]));
    s.scan.range = TimeRange::new(0, 40 * S);
    s.downsample = Some(Downsample {
        interval: Interval::Every(10 * S),
        agg: Aggregator::Avg,
        fill: FillPolicy::Value(0.0),
        max_gap: None,
    });
    let expected = [
        row("cpu,dc=a#out", 0, 12.0),
        row("cpu,dc=a#out", 10, 25.0),
        row("cpu,dc=a#out", 20, 0.0),
        row("cpu,dc=a#out", 30, 7.0),
        row("cpu,dc=b#out", 0, 0.0),
        row("cpu,dc=b#out", 10, 100.0),
        row("cpu,dc=b#out", 20, 0.0),
        row("cpu,dc=b#out", 30, 0.0),
    ];
    assert_eq!(check(&s, &cpu(), &expected).await, 3);
}

#[tokio::test]
async fn raw_sum_interpolates_between_points() {
    // SELECT sum(usage) FROM cpu WHERE dc = 'a': union 0, 2, 5, 10, 12, 30 s.
    let mut s = spec(Some("sum"), GroupBy::None);
    s.scan.predicate = TagPredicate::Eq("dc".into(), "a".into());
    let k = "cpu#out";
    let expected = [
        row(k, 0, 1.0),         // host2 not started
        row(k, 2, 1.8 + 10.0),  // host1: 1 + 2 * 2/5
        row(k, 5, 3.0 + 13.0),  // host2: 10 + 10 * 3/10
        row(k, 10, 5.0 + 18.0), // host2: 10 + 10 * 8/10
        row(k, 12, 5.2 + 20.0), // host1: 5 + 2 * 2/20
        row(k, 30, 7.0),        // host2 ended
    ];
    // Pipe cannot run it (no SAMPLE BY): MT and Grouped.
    assert_eq!(check(&s, &cpu(), &expected).await, 2);
    // zimsum: missing values are 0; count: points present only.
    s.aggregate = Some(Aggregator::ZimSum);
    let zim = [1.0, 10.0, 3.0, 5.0, 20.0, 7.0];
    let times = [0, 2, 5, 10, 12, 30];
    let expected: Vec<Row> = times.iter().zip(zim).map(|(&t, v)| row(k, t, v)).collect();
    check(&s, &cpu(), &expected).await;
    s.aggregate = Some(Aggregator::Count);
    let expected: Vec<Row> = times.iter().map(|&t| row(k, t, 1.0)).collect();
    check(&s, &cpu(), &expected).await;
    // pfsum: the missing timeline contributes its previous value.
    let by_hand = |agg: Aggregator, values: [f64; 6]| {
        let rows: Vec<Row> = times
            .iter()
            .zip(values)
            .map(|(&t, v)| row(k, t, v))
            .collect();
        let mut s = s.clone();
        s.aggregate = Some(agg);
        (s, rows)
    };
    // 2: 1 + 10; 5: 3 + 10; 10: 5 + 10; 12: 5 + 20.
    let (pf, expected) = by_hand(Aggregator::PfSum, [1.0, 11.0, 13.0, 15.0, 25.0, 7.0]);
    check(&pf, &cpu(), &expected).await;
    // first / last: the missing timeline contributes 0 (host 1 has the lower id).
    let (first, expected) = by_hand(Aggregator::First, [1.0, 0.0, 3.0, 5.0, 0.0, 7.0]);
    check(&first, &cpu(), &expected).await;
    let (last, expected) = by_hand(Aggregator::Last, [1.0, 10.0, 0.0, 0.0, 20.0, 7.0]);
    check(&last, &cpu(), &expected).await;
}

#[tokio::test]
async fn sample_by_all_median_per_host_then_sum() {
    // SELECT sum(usage) FROM cpu GROUP BY * SAMPLE BY ALL p50: the range is the
    // data's [0, 30s]; one bucket per host at 0.
    // host1 p50 of 1,3,5,7: pos 2.5 → 3 + .5 * 2 = 4; host2: pos 1.5 → 15; host3: 100.
    let mut s = spec(Some("sum"), GroupBy::All);
    s.downsample = Some(Downsample {
        interval: Interval::All,
        agg: "p50".parse().unwrap(),
        fill: FillPolicy::None,
        max_gap: None,
    });
    let expected = [
        row("cpu,dc=a,host=1#out", 0, 4.0),
        row("cpu,dc=a,host=2#out", 0, 15.0),
        row("cpu,dc=b,host=3#out", 0, 100.0),
    ];
    assert_eq!(check(&s, &cpu(), &expected).await, 3);
    s.group_by = GroupBy::None;
    assert_eq!(check(&s, &cpu(), &[row("cpu#out", 0, 119.0)]).await, 3);
}

#[tokio::test]
async fn raw_points_with_predicate_and_range() {
    // SELECT usage FROM cpu WHERE host != '1' AND time >= 5s AND time < 15s
    let mut s = spec(None, GroupBy::None);
    s.scan.predicate = TagPredicate::NotEq("host".into(), "1".into());
    s.scan.range = TimeRange::new(5 * S, 15 * S);
    let expected = [
        row("cpu,dc=a,host=2#usage", 12, 20.0),
        row("cpu,dc=b,host=3#usage", 10, 100.0),
    ];
    check(&s, &cpu(), &expected).await;
}

#[tokio::test]
async fn counter_rates_wrap_reset_and_drop() {
    // bytes: 100, 200, 50, 150 at 0, 10, 20, 30 s; counter_max 1000.
    let m = MemoryAdapter::new();
    let pts = [(0, 100.0), (10 * S, 200.0), (20 * S, 50.0), (30 * S, 150.0)];
    m.insert("net", &[("host", "1")], "bytes", &pts);
    let adapter: Arc<dyn StorageAdapter> = Arc::new(m);
    let mut s = spec(Some("max"), GroupBy::None);
    s.scan = ScanRequest::new("net", "bytes");
    let counter = RateOptions {
        counter: true,
        counter_max: 1000.0,
        ..RateOptions::default()
    };
    s.rate = Some(counter);
    // 100/10 = 10; wrap (1000 - 200 + 50)/10 = 85; 100/10 = 10.
    let k = "net#out";
    let wrap = [row(k, 10, 10.0), row(k, 20, 85.0), row(k, 30, 10.0)];
    check(&s, &adapter, &wrap).await;
    // reset_value 50: the wrap rate 85 > 50 → 0.
    s.rate = Some(RateOptions {
        reset_value: 50.0,
        ..counter
    });
    let reset = [row(k, 10, 10.0), row(k, 20, 0.0), row(k, 30, 10.0)];
    check(&s, &adapter, &reset).await;
    // drop_resets: 20 s is skipped; 30 s is rated against it: (150 - 50)/10.
    s.rate = Some(RateOptions {
        drop_resets: true,
        ..counter
    });
    check(&s, &adapter, &[row(k, 10, 10.0), row(k, 30, 10.0)]).await;
}
