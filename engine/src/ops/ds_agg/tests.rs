//! Hand-worked cases for `DsAggOp`, each run over input batches of 1, 2 and
//! all rows and output batches of 1 and 4096 rows.

use std::sync::Arc;

use super::*;
use crate::batch::TimelineBatchBuilder;
use crate::operator::collect;
use crate::ops::values::ValuesOp;
use crate::registry::{SeriesInfo, SeriesRegistry};
use crate::spec::Aggregator;

/// A value that compares NaN equal to NaN, for exact assertions.
#[derive(Debug, Clone, Copy)]
struct V(Option<f64>);

impl PartialEq for V {
    fn eq(&self, o: &Self) -> bool {
        match (self.0, o.0) {
            (Some(a), Some(b)) => a == b || (a.is_nan() && b.is_nan()),
            (a, b) => a.is_none() && b.is_none(),
        }
    }
}

type In = (u32, i64, Option<f64>);
type Row = (u32, i64, V);

const NAN: Option<f64> = Some(f64::NAN);

fn rows(r: &[In]) -> Vec<Row> {
    r.iter().map(|&(s, t, v)| (s, t, V(v))).collect()
}

fn registry() -> Arc<SeriesRegistry> {
    Arc::new(SeriesRegistry::new(
        (0..3)
            .map(|i| SeriesInfo::new("m", &[("host", &format!("h{i}"))], "v"))
            .collect(),
    ))
}

fn batches(input: &[In], per_batch: usize) -> Vec<TimelineBatch> {
    input
        .chunks(per_batch.max(1))
        .map(|chunk| {
            let mut b = TimelineBatchBuilder::new(registry(), chunk.len());
            for &(s, t, v) in chunk {
                b.push(s, t, v);
            }
            b.finish().unwrap()
        })
        .collect()
}

fn ds(d: i64, agg: Aggregator, fill: FillPolicy) -> Downsample {
    let interval = if d == 0 {
        Interval::All
    } else {
        Interval::Every(d)
    };
    Downsample {
        interval,
        agg,
        fill,
        max_gap: None,
    }
}

async fn run(
    spec: Downsample,
    range: Option<(i64, i64)>,
    input: &[In],
    ctx: &TaskContext,
    per_batch: usize,
) -> Result<Vec<Row>> {
    let values = Box::new(ValuesOp::new(batches(input, per_batch)));
    let mut op = DsAggOp::new(values, spec, range)?;
    let out = collect(&mut op, ctx).await?;
    let mut got = Vec::new();
    for b in &out {
        assert!(!b.is_empty() && b.num_rows() <= ctx.batch_size);
        for tl in b.timelines() {
            for i in 0..tl.len() {
                got.push((tl.series_id, tl.times[i], V(tl.value(i))));
            }
        }
    }
    assert_eq!(op.metrics().rows_in as usize, input.len());
    assert_eq!(op.metrics().rows_out as usize, got.len());
    Ok(got)
}

/// Checks `expected` over the matrix of input and output batch sizes.
async fn check(spec: Downsample, range: Option<(i64, i64)>, input: &[In], expected: &[In]) {
    for ib in [1, 2, input.len().max(1)] {
        for ob in [1, 4096] {
            let ctx = TaskContext::with_batch_size(ob);
            let got = run(spec, range, input, &ctx, ib).await.unwrap();
            assert_eq!(
                got,
                rows(expected),
                "{spec}, input batch {ib}, output batch {ob}"
            );
        }
    }
}

#[tokio::test]
async fn avg_over_gaps_and_misaligned_points() {
    let input = [
        (0, 1, Some(1.0)),
        (0, 4, Some(3.0)),
        (0, 12, Some(5.0)),
        (0, 35, Some(7.0)),
        (0, 38, Some(9.0)),
        (1, 7, Some(10.0)),
    ];
    let expected = [
        (0, 0, Some(2.0)),  // (1 + 3) / 2
        (0, 10, Some(5.0)), // bucket 20 is empty: left out
        (0, 30, Some(8.0)), // (7 + 9) / 2
        (1, 0, Some(10.0)),
    ];
    let spec = ds(10, Aggregator::Avg, FillPolicy::None);
    check(spec, None, &input, &expected).await;
    // the same with a range: the grid starts at floor(1 / 10) * 10 = 0
    check(spec, Some((1, 40)), &input, &expected).await;
}

#[tokio::test]
async fn every_aggregator_by_hand() {
    // bucket 0: 2, NaN, 4, 9; bucket 10: 1, 2, 3, 4
    let input = [
        (0, 0, Some(2.0)),
        (0, 1, NAN),
        (0, 2, Some(4.0)),
        (0, 3, Some(9.0)),
        (0, 10, Some(1.0)),
        (0, 11, Some(2.0)),
        (0, 12, Some(3.0)),
        (0, 13, Some(4.0)),
    ];
    let cases = [
        ("sum", 15.0, 10.0),
        ("zimsum", 15.0, 10.0),
        ("pfsum", 15.0, 10.0),
        ("avg", 5.0, 2.5),
        ("min", 2.0, 1.0),
        ("mimmin", 2.0, 1.0),
        ("max", 9.0, 4.0),
        ("mimmax", 9.0, 4.0),
        ("count", 3.0, 4.0), // NaN is not counted
        ("first", 2.0, 1.0),
        ("last", 9.0, 4.0),
        // 2, 4, 9: pos 0.5 * 4 = 2 -> 4; 1..4: pos 2.5 -> 2 + 0.5 * (3 - 2)
        ("median", 4.0, 2.5),
        // 2, 4, 9: pos 0.75 * 4 = 3 >= n -> 9; 1..4: pos 3.75 -> 3 + 0.75 * 1
        ("p75", 9.0, 3.75),
        // 2, 4, 9: pos 0.9 * 4 = 3.6 >= n -> 9; 1..4: pos 4.5 >= n -> 4
        ("p90", 9.0, 4.0),
    ];
    for (name, b0, b10) in cases {
        let spec = ds(10, name.parse().unwrap(), FillPolicy::None);
        check(spec, None, &input, &[(0, 0, Some(b0)), (0, 10, Some(b10))]).await;
    }
    // dev: mean 5, squared deviations 9 + 1 + 16 = 26 -> sqrt(26 / 3);
    // mean 2.5, 2.25 + 0.25 + 0.25 + 2.25 = 5 -> sqrt(5 / 4)
    let ctx = TaskContext::default();
    let spec = ds(10, Aggregator::Dev, FillPolicy::None);
    let got = run(spec, None, &input, &ctx, 3).await.unwrap();
    let want = [(26.0f64 / 3.0).sqrt(), 1.25f64.sqrt()];
    assert_eq!(got.len(), 2);
    for (row, want) in got.iter().zip(want) {
        assert!(
            (row.2 .0.unwrap() - want).abs() < 1e-12,
            "{row:?} vs {want}"
        );
    }
}

#[tokio::test]
async fn nan_and_null_buckets() {
    let input = [
        (0, 0, NAN),
        (0, 1, NAN),
        (0, 10, None),
        (0, 11, None),
        (0, 20, None),
        (0, 21, NAN),
        (0, 30, None),
        (0, 31, Some(4.0)),
    ];
    // all NaN -> NaN; all null -> null; null + NaN -> NaN; null + 4 -> 4
    let expected = [(0, 0, NAN), (0, 10, None), (0, 20, NAN), (0, 30, Some(4.0))];
    for agg in [
        Aggregator::Sum,
        Aggregator::Max,
        Aggregator::Percentile(500),
    ] {
        check(ds(10, agg, FillPolicy::None), None, &input, &expected).await;
    }
}

/// Series 0: buckets 10 -> 2 and 40 -> (7 + 9) / 2 = 8; series 1: bucket
/// 60 -> 5; series 2: bucket 0 -> 1 (at the range start). Range [5, 65):
/// grid 0, 10, ..., 60.
const FILL_INPUT: [In; 5] = [
    (0, 12, Some(2.0)),
    (0, 41, Some(7.0)),
    (0, 47, Some(9.0)),
    (1, 60, Some(5.0)),
    (2, 5, Some(1.0)),
];

/// The grid rows of `series` from bucket `from` to `to` (inclusive), all `v`.
fn span(series: u32, from: i64, to: i64, v: Option<f64>) -> Vec<In> {
    (from / 10..=to / 10).map(|k| (series, k * 10, v)).collect()
}

async fn check_fill(fill: FillPolicy, expected: &[In]) {
    let spec = ds(10, Aggregator::Avg, fill);
    check(spec, Some((5, 65)), &FILL_INPUT, expected).await;
}

#[tokio::test]
async fn fill_none_and_constants() {
    check_fill(
        FillPolicy::None,
        &[
            (0, 10, Some(2.0)),
            (0, 40, Some(8.0)),
            (1, 60, Some(5.0)),
            (2, 0, Some(1.0)),
        ],
    )
    .await;
    for c in [None, NAN, Some(0.0), Some(-1.5)] {
        let fill = match c {
            None => FillPolicy::Null,
            Some(x) if x.is_nan() => FillPolicy::NaN,
            Some(x) => FillPolicy::Value(x),
        };
        let mut expected = vec![(0, 0, c), (0, 10, Some(2.0)), (0, 20, c), (0, 30, c)];
        expected.push((0, 40, Some(8.0)));
        expected.extend(span(0, 50, 60, c));
        expected.extend(span(1, 0, 50, c));
        expected.push((1, 60, Some(5.0)));
        expected.push((2, 0, Some(1.0)));
        expected.extend(span(2, 10, 60, c));
        check_fill(fill, &expected).await;
    }
}

#[tokio::test]
async fn fill_previous_carries_to_the_end() {
    let mut expected = span(0, 10, 30, Some(2.0)); // nothing before bucket 10
    expected.extend(span(0, 40, 60, Some(8.0)));
    expected.push((1, 60, Some(5.0)));
    expected.extend(span(2, 0, 60, Some(1.0)));
    check_fill(FillPolicy::Previous, &expected).await;
}

#[tokio::test]
async fn fill_linear_between_neighbours_only() {
    // 2 at 10, 8 at 40: 2 + 6 * 10 / 30 = 4 at 20, 2 + 6 * 20 / 30 = 6 at 30
    let expected = [
        (0, 10, Some(2.0)),
        (0, 20, Some(4.0)),
        (0, 30, Some(6.0)),
        (0, 40, Some(8.0)),
        (1, 60, Some(5.0)),
        (2, 0, Some(1.0)),
    ];
    check_fill(FillPolicy::Linear, &expected).await;
}

#[tokio::test]
async fn previous_and_linear_carry_nan_and_null() {
    // series 0: NaN at 0, 4 at 20; series 1: null at 0, 4 at 20; range [0, 40)
    let input = [
        (0, 1, NAN),
        (0, 25, Some(4.0)),
        (1, 2, None),
        (1, 22, Some(4.0)),
    ];
    let spec = |fill| ds(10, Aggregator::Sum, fill);
    let previous = [
        (0, 0, NAN),
        (0, 10, NAN),
        (0, 20, Some(4.0)),
        (0, 30, Some(4.0)),
        (1, 0, None),
        (1, 10, None),
        (1, 20, Some(4.0)),
        (1, 30, Some(4.0)),
    ];
    check(spec(FillPolicy::Previous), Some((0, 40)), &input, &previous).await;
    let linear = [
        (0, 0, NAN),
        (0, 10, NAN), // NaN neighbour
        (0, 20, Some(4.0)),
        (1, 0, None),
        (1, 10, None), // null neighbour
        (1, 20, Some(4.0)),
    ];
    check(spec(FillPolicy::Linear), Some((0, 40)), &input, &linear).await;
}

#[tokio::test]
async fn sample_by_all_is_one_bucket_stamped_at_start() {
    let input = [
        (0, 100, Some(1.0)),
        (0, 150, Some(2.0)),
        (0, 199, Some(3.0)),
        (1, 120, Some(5.0)),
    ];
    // series 2 has no point: never emitted, even with a fill
    let expected = [(0, 100, Some(6.0)), (1, 100, Some(5.0))];
    for fill in [FillPolicy::None, FillPolicy::Value(0.0)] {
        let spec = ds(0, Aggregator::Sum, fill);
        check(spec, Some((100, 200)), &input, &expected).await;
    }
    let op = DsAggOp::new(
        Box::new(ValuesOp::empty()),
        ds(0, Aggregator::Avg, FillPolicy::Value(0.0)),
        Some((0, 1)),
    )
    .unwrap();
    assert_eq!(op.display(), "DsAggOp: interval=all agg=avg fill=zero");
}

#[tokio::test]
async fn negative_timestamps_floor_to_the_bucket() {
    let input = [
        (0, -15, Some(1.0)),
        (0, -11, Some(3.0)),
        (0, -10, Some(5.0)),
        (0, -1, Some(7.0)),
        (0, 0, Some(9.0)),
    ];
    // [-20, -10): 1, 3 -> 2; [-10, 0): 5, 7 -> 6; [0, 10): 9
    let data = [(0, -20, Some(2.0)), (0, -10, Some(6.0)), (0, 0, Some(9.0))];
    let spec = |fill| ds(10, Aggregator::Avg, fill);
    check(spec(FillPolicy::None), None, &input, &data).await;
    // range [-25, 5): grid from floor(-25 / 10) * 10 = -30, buckets -30..0
    let mut zero = vec![(0, -30, Some(0.0))];
    zero.extend(data);
    check(spec(FillPolicy::Value(0.0)), Some((-25, 5)), &input, &zero).await;
}

#[tokio::test]
async fn empty_input_and_one_point() {
    let spec = ds(10, Aggregator::Avg, FillPolicy::Null);
    check(spec, Some((0, 30)), &[], &[]).await;
    // one point at 15: null at 0, 7 at 10, null at 20
    let expected = [(1, 0, None), (1, 10, Some(7.0)), (1, 20, None)];
    check(spec, Some((0, 30)), &[(1, 15, Some(7.0))], &expected).await;
}

#[tokio::test]
async fn point_outside_range_is_an_error() {
    let spec = ds(10, Aggregator::Avg, FillPolicy::None);
    let input = [(0, 10, Some(1.0)), (0, 25, Some(2.0))];
    let ctx = TaskContext::default();
    let err = run(spec, Some((10, 20)), &input, &ctx, 8)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, EngineError::Execution { .. }), "{msg}");
    assert!(
        msg.contains("m,host=h0#v at time 25") && msg.contains("[10, 20)"),
        "{msg}"
    );
    let err = run(spec, Some((11, 20)), &input, &ctx, 8)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at time 10 is outside"), "{err}");
}

#[test]
fn constructor_checks_the_range_requirement() {
    let new = |spec, range| DsAggOp::new(Box::new(ValuesOp::empty()), spec, range);
    let err = new(ds(10, Aggregator::Sum, FillPolicy::Value(0.0)), None).unwrap_err();
    assert!(matches!(err, EngineError::InvalidArgument(_)), "{err}");
    assert!(err.to_string().contains("fill=zero"), "{err}");
    let err = new(ds(0, Aggregator::Sum, FillPolicy::None), None).unwrap_err();
    assert!(err.to_string().contains("SAMPLE BY ALL"), "{err}");
    assert!(new(ds(-5, Aggregator::Sum, FillPolicy::None), None).is_err());
    assert!(new(ds(-5, Aggregator::Sum, FillPolicy::None), Some((0, 9))).is_err());
    let wide = new(
        ds(0, Aggregator::Sum, FillPolicy::None),
        Some((i64::MIN, 1)),
    );
    assert!(wide.unwrap_err().to_string().contains("spans more than"));
    let op = new(ds(60_000_000_000, Aggregator::Avg, FillPolicy::None), None).unwrap();
    assert_eq!(op.display(), "DsAggOp: interval=1m agg=avg fill=none");
}

#[tokio::test]
async fn memory_is_reserved_and_bounded() {
    // one p50 bucket holding 1000 values needs 8000 bytes of state
    let input: Vec<In> = (0..1000).map(|t| (0, t, Some(t as f64))).collect();
    let spec = ds(10_000, Aggregator::Percentile(500), FillPolicy::None);
    let tight = TaskContext::default().with_memory_budget(4000);
    let err = run(spec, None, &input, &tight, 100).await.unwrap_err();
    assert!(
        matches!(err, EngineError::ResourcesExhausted { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("DsAggOp"), "{err}");
    // with room: the median of 0..999 is pos 500.5 -> 499.5
    let ctx = TaskContext::default();
    let values = Box::new(ValuesOp::new(batches(&input, 100)));
    let mut op = DsAggOp::new(values, spec, None).unwrap();
    let out = collect(&mut op, &ctx).await.unwrap();
    assert_eq!(out[0].values().value(0), 499.5);
    assert!(op.metrics().peak_bytes >= 8000, "{}", op.metrics());
    assert_eq!(ctx.memory.used(), 0);
}

#[tokio::test]
async fn cancellation_stops_the_operator() {
    let input = [(0, 1, Some(1.0)), (1, 1, Some(1.0))];
    let values = Box::new(ValuesOp::new(batches(&input, 1)));
    let spec = ds(10, Aggregator::Sum, FillPolicy::None);
    let mut op = DsAggOp::new(values, spec, None).unwrap();
    let ctx = TaskContext::with_batch_size(1);
    op.open(&ctx).await.unwrap();
    // series 0 ends when series 1 starts, so the first row comes out
    assert!(op.next().await.unwrap().is_some());
    ctx.cancel.cancel();
    assert!(matches!(op.next().await, Err(EngineError::Cancelled)));
    op.close().await.unwrap();
}

#[tokio::test]
async fn consecutive_buckets_gaps_nulls_and_nan_across_batches() {
    // Buckets found by addition (0 -> 10 -> 20) and by division after the
    // gap (20 -> 50), with null-only and NaN-only buckets, over every cut.
    let input = [
        (0, 0, Some(1.0)),
        (0, 5, None),
        (0, 9, Some(3.0)),
        (0, 10, NAN),
        (0, 20, Some(4.0)),
        (0, 29, Some(6.0)),
        (0, 50, None),
        (0, 61, Some(8.0)),
        (1, 0, Some(7.0)),
    ];
    let expected = [
        (0, 0, Some(2.0)),  // (1 + 3) / 2, null skipped
        (0, 10, NAN),       // NaN only
        (0, 20, Some(5.0)), // (4 + 6) / 2
        (0, 50, None),      // null only
        (0, 60, Some(8.0)),
        (1, 0, Some(7.0)),
    ];
    check(
        ds(10, Aggregator::Avg, FillPolicy::None),
        None,
        &input,
        &expected,
    )
    .await;
}

#[tokio::test]
async fn buckets_next_to_i64_max() {
    // d = 10: bucket ...790 ends at ...800; bucket ...800 would end past
    // i64::MAX, so it takes every later point.
    let m = i64::MAX; // ...807
    let input = [
        (0, m - 12, Some(5.0)),
        (0, m - 6, Some(1.0)),
        (0, m, Some(3.0)),
    ];
    let expected = [(0, m - 17, Some(5.0)), (0, m - 7, Some(2.0))];
    check(
        ds(10, Aggregator::Avg, FillPolicy::None),
        None,
        &input,
        &expected,
    )
    .await;
}
