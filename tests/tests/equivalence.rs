//! Differential property test: on random data and random queries, the
//! materialized executor, `MTAggOp`, `GroupedAggOp` and (where it applies)
//! `PipeAggOp` give identical rows, at batch sizes 1, 7 and 4096, and an
//! adapter without any capability gives the same rows as one with all.
//!
//! Data: 1–6 timelines with random gaps, occasional millisecond jitter, NaN values and
//! timestamps written twice (the later write wins); tag `dc` is `a`, `b` or
//! missing. Queries: every aggregator (or none), every `GROUP BY` shape, no
//! `SAMPLE BY` / an interval / `ALL` with every fill policy and bucket
//! aggregator, optional rate (plain, counter, counter with reset value,
//! counter dropping resets), an optional tag predicate, unbounded,
//! half-bounded and bounded time ranges.

mod common;

use std::sync::Arc;

use common::{compare, run_materialized, run_pipeline};
use proptest::prelude::*;
use proptest::sample::Index;
use tsq_engine::spec::{AggStrategy, PipelineSpec};
use tsq_engine::{
    check_strategy, Aggregator, Capabilities, Downsample, FillPolicy, GroupBy, Interval,
    RateOptions, ScanRequest, StorageAdapter, TagPredicate, TimeRange,
};
use tsq_storage::memory::MemoryAdapter;

const S: i64 = 1_000_000_000;

/// One generated timeline.
#[derive(Debug, Clone)]
struct SeriesGen {
    /// Tag `dc`: 0 = missing, 1 = `a`, 2 = `b`.
    dc: u8,
    /// Points, time-sorted, distinct timestamps.
    points: Vec<(i64, f64)>,
    /// Points written again in the same call, after the originals.
    same_call: Vec<(Index, f64)>,
    /// Points written again in a later call.
    later_call: Vec<(Index, f64)>,
}

/// One generated query over generated data.
#[derive(Debug, Clone)]
struct Case {
    series: Vec<SeriesGen>,
    spec: PipelineSpec,
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => (-10_000i32..10_000).prop_map(|v| v as f64 / 100.0),
        1 => Just(f64::NAN),
    ]
}

fn series() -> impl Strategy<Value = SeriesGen> {
    // Mostly whole seconds, so that timelines often share timestamps.
    let jitter_ms = prop_oneof![3 => Just(0i64), 1 => 0i64..1000];
    let steps = prop::collection::vec((1i64..40, jitter_ms, value()), 0..20);
    let rewrites = || prop::collection::vec((any::<Index>(), value()), 0..3);
    (0u8..3, 0i64..60, steps, rewrites(), rewrites()).prop_map(
        |(dc, start, steps, same_call, later_call)| {
            let mut t = start * S;
            let points = steps
                .into_iter()
                .map(|(gap_s, jitter_ms, v)| {
                    t += gap_s * S;
                    (t + jitter_ms * 1_000_000, v)
                })
                .collect();
            SeriesGen {
                dc,
                points,
                same_call,
                later_call,
            }
        },
    )
}

fn all_aggregators() -> Vec<Aggregator> {
    Aggregator::NAMES
        .split(", ")
        .map(|n| n.parse().expect("known name"))
        .collect()
}

fn downsample() -> impl Strategy<Value = Option<Downsample>> {
    let interval = prop::sample::select(vec![
        Interval::Every(10 * S),
        Interval::Every(25 * S),
        Interval::Every(60 * S),
        Interval::All,
    ]);
    let fill = prop::sample::select(vec![
        FillPolicy::None,
        FillPolicy::Null,
        FillPolicy::NaN,
        FillPolicy::Value(0.0),
        FillPolicy::Value(-1.5),
        FillPolicy::Previous,
        FillPolicy::Linear,
    ]);
    let agg = prop::sample::select(all_aggregators());
    prop::option::weighted(
        0.75,
        (interval, agg, fill).prop_map(|(interval, agg, fill)| Downsample {
            interval,
            agg,
            fill,
            max_gap: None,
        }),
    )
}

fn rate() -> impl Strategy<Value = Option<RateOptions>> {
    let counter = RateOptions {
        counter: true,
        counter_max: 150.0,
        ..RateOptions::default()
    };
    prop::sample::select(vec![
        None,
        None,
        None,
        Some(RateOptions::default()),
        Some(counter),
        Some(RateOptions {
            reset_value: 5.0,
            ..counter
        }),
        Some(RateOptions {
            drop_resets: true,
            ..counter
        }),
    ])
}

fn range() -> impl Strategy<Value = TimeRange> {
    (0u8..4, -10i64..150, 50i64..600).prop_map(|(kind, lo, len)| match kind {
        0 | 1 => TimeRange::ALL,
        2 => TimeRange {
            start: Some(lo * S),
            end: None,
        },
        _ => TimeRange::new(lo * S, (lo + len) * S),
    })
}

fn group_by() -> impl Strategy<Value = GroupBy> {
    prop::sample::select(vec![
        GroupBy::None,
        GroupBy::Tags(vec!["dc".into()]),
        GroupBy::All,
        GroupBy::Tags(vec!["dc".into(), "host".into()]),
    ])
}

fn predicate() -> impl Strategy<Value = TagPredicate> {
    prop::sample::select(vec![
        TagPredicate::True,
        TagPredicate::True,
        TagPredicate::NotEq("host".into(), "h0".into()),
        TagPredicate::In("dc".into(), vec!["a".into(), "".into()]),
    ])
}

fn case() -> impl Strategy<Value = Case> {
    let aggregate = prop::option::weighted(0.9, prop::sample::select(all_aggregators()));
    (
        prop::collection::vec(series(), 1..7),
        aggregate,
        group_by(),
        downsample(),
        rate(),
        range(),
        predicate(),
    )
        .prop_map(
            |(series, aggregate, group_by, downsample, rate, range, predicate)| {
                let mut scan = ScanRequest::new("m", "v");
                scan.range = range;
                scan.predicate = predicate;
                Case {
                    series,
                    spec: PipelineSpec {
                        scan,
                        downsample,
                        rate,
                        aggregate,
                        group_by,
                        output_name: "out".into(),
                    },
                }
            },
        )
}

/// A store holding the case's data, declaring `caps`.
fn store(series: &[SeriesGen], caps: Capabilities) -> Arc<dyn StorageAdapter> {
    let m = MemoryAdapter::new().with_capabilities(caps);
    for (i, s) in series.iter().enumerate() {
        let host = format!("h{i}");
        let dc = ["", "a", "b"][s.dc as usize];
        let mut tags = vec![("host", host.as_str())];
        if !dc.is_empty() {
            tags.push(("dc", dc));
        }
        let rewrite = |r: &[(Index, f64)]| -> Vec<(i64, f64)> {
            if s.points.is_empty() {
                return Vec::new();
            }
            r.iter()
                .map(|(at, v)| (s.points[at.index(s.points.len())].0, *v))
                .collect()
        };
        let mut first = s.points.clone();
        first.extend(rewrite(&s.same_call));
        m.insert("m", &tags, "v", &first);
        m.insert("m", &tags, "v", &rewrite(&s.later_call));
        // Another field and measurement that the scan must not see.
        m.insert("m", &tags, "other", &[(0, 1.0)]);
        m.insert("n", &tags, "v", &[(S, 2.0)]);
    }
    Arc::new(m)
}

/// Every path and batch size against the materialized executor at 4096.
async fn check(case: &Case) -> Result<(), String> {
    let spec = &case.spec;
    let full = store(&case.series, Capabilities::ALL);
    let expected = run_materialized(spec, &full, 4096).await;
    for bs in [1, 7] {
        let got = run_materialized(spec, &full, bs).await;
        compare(&format!("materialized at {bs}"), &expected, &got)?;
    }
    let strategies = match spec.aggregate {
        None => vec![AggStrategy::MT],
        Some(_) => vec![AggStrategy::MT, AggStrategy::Grouped, AggStrategy::Pipe],
    };
    for strategy in strategies {
        if check_strategy(spec, full.as_ref(), strategy).is_some() {
            continue;
        }
        for bs in [1, 7, 4096] {
            let got = run_pipeline(spec, &full, strategy, bs).await;
            compare(&format!("{strategy} at {bs}"), &expected, &got)?;
        }
    }
    let bare = store(&case.series, Capabilities::NONE);
    let got = run_materialized(spec, &bare, 7).await;
    compare("materialized without capabilities", &expected, &got)?;
    let got = run_pipeline(spec, &bare, AggStrategy::MT, 7).await;
    compare("MTAggOp without capabilities", &expected, &got)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_path_gives_the_same_rows(case in case()) {
        if let Err(e) = futures::executor::block_on(check(&case)) {
            return Err(TestCaseError::fail(e));
        }
    }
}
