//! Differential test: `DsAggOp` against a naive per-bucket oracle on seeded
//! random timelines (negative times, NaN, null, every fill, `ALL`), with
//! random input and output batch sizes.

use crate::accumulator::INCREMENTAL;
use std::sync::Arc;

use super::*;
use crate::accumulator::{percentile, Accumulators};
use crate::batch::TimelineBatchBuilder;
use crate::operator::collect;
use crate::ops::values::ValuesOp;
use crate::registry::{SeriesInfo, SeriesRegistry};
use crate::spec::{Aggregator, BucketGrid};

type In = (u32, i64, Option<f64>);

use crate::test_rng::Lcg;

/// The aggregate of one bucket's points, straight from the definitions.
fn bucket_value(agg: Aggregator, pts: &[In]) -> Option<Option<f64>> {
    if pts.is_empty() {
        return None;
    }
    if let Some(q) = agg.quantile() {
        let mut vals: Vec<f64> = pts.iter().filter_map(|p| p.2).collect();
        let any = !vals.is_empty();
        return Some(percentile(&mut vals, q).or(any.then_some(f64::NAN)));
    }
    let mut acc = Accumulators::new(agg, 1).unwrap();
    for p in pts {
        match p.2 {
            Some(v) => acc.update(0, v),
            None => acc.update_null(0),
        }
    }
    acc.result(0)
}

/// The oracle's rows of every timeline (series 0, 1, 2) of `input` over
/// `range`, in series order.
fn oracle(spec: &Downsample, range: (i64, i64), input: &[In]) -> Vec<In> {
    let grid = spec.grid(range.0, range.1).unwrap();
    let mut expected = Vec::new();
    for s in 0..3u32 {
        let pts: Vec<In> = input.iter().copied().filter(|p| p.0 == s).collect();
        if !pts.is_empty() {
            oracle_series(spec, &grid, &pts, &mut expected);
        }
    }
    expected
}

/// Bucket-by-bucket downsample and fill of one timeline over `grid`.
fn oracle_series(spec: &Downsample, grid: &BucketGrid, pts: &[In], out: &mut Vec<In>) {
    let s = pts[0].0;
    let mut in_bucket: Vec<Vec<In>> = vec![Vec::new(); grid.count];
    for p in pts {
        if let Some(k) = grid.index(p.1) {
            in_bucket[k].push(*p);
        }
    }
    let res: Vec<Option<Option<f64>>> = in_bucket
        .iter()
        .map(|in_k| bucket_value(spec.agg, in_k))
        .collect();
    let prev = |k: usize| (0..k).rev().find_map(|j| res[j].map(|v| (j, v)));
    let next = |k: usize| (k + 1..grid.count).find_map(|j| res[j].map(|v| (j, v)));
    for (k, &bucket) in res.iter().enumerate() {
        let v = match (bucket, spec.fill) {
            (Some(v), _) => Some(v),
            (None, FillPolicy::None) => None,
            (None, FillPolicy::Null) => Some(None),
            (None, FillPolicy::NaN) => Some(Some(f64::NAN)),
            (None, FillPolicy::Value(x)) => Some(Some(x)),
            (None, FillPolicy::Previous) => prev(k).map(|p| p.1),
            (None, FillPolicy::Linear) => prev(k).zip(next(k)).map(|((k0, v0), (k1, v1))| {
                let (t0, t1, t) = (grid.time(k0), grid.time(k1), grid.time(k));
                Some(v0? + (v1? - v0?) * (t - t0) as f64 / (t1 - t0) as f64)
            }),
        };
        if let Some(v) = v {
            out.push((s, grid.time(k), v));
        }
    }
}

fn random_case(rng: &mut Lcg) -> (Downsample, (i64, i64), Vec<In>) {
    const FILLS: [FillPolicy; 7] = [
        FillPolicy::None,
        FillPolicy::Null,
        FillPolicy::NaN,
        FillPolicy::Value(0.0),
        FillPolicy::Value(-2.5),
        FillPolicy::Previous,
        FillPolicy::Linear,
    ];
    let start = rng.below(200) as i64 - 100;
    let end = start + 1 + rng.below(300) as i64;
    let interval = match rng.below(8) {
        0 => Interval::All,
        _ => Interval::Every(1 + rng.below(50) as i64),
    };
    // the eight incremental aggregators and a percentile, equally likely
    let agg = match rng.below(INCREMENTAL.len() as u64 + 1) as usize {
        k if k < INCREMENTAL.len() => INCREMENTAL[k],
        _ => Aggregator::Percentile(900),
    };
    let spec = Downsample {
        interval,
        agg,
        fill: FILLS[rng.below(FILLS.len() as u64) as usize],
        max_gap: None,
    };
    let mut input = Vec::new();
    for s in 0..3u32 {
        let mut t = start + rng.below(20) as i64;
        for _ in 0..rng.below(30) {
            if t >= end {
                break;
            }
            let v = match rng.below(10) {
                0 => None,
                1 => Some(f64::NAN),
                _ => Some(rng.below(1000) as f64 / 8.0 - 50.0),
            };
            input.push((s, t, v));
            t += 1 + rng.below(25) as i64;
        }
    }
    (spec, (start, end), input)
}

async fn run(spec: Downsample, range: (i64, i64), input: &[In], ib: usize, ob: usize) -> Vec<In> {
    let registry = Arc::new(SeriesRegistry::new(
        (0..3)
            .map(|i| SeriesInfo::new("m", &[("s", &i.to_string())], "v"))
            .collect(),
    ));
    let batches = input
        .chunks(ib)
        .map(|chunk| {
            let mut b = TimelineBatchBuilder::new(Arc::clone(&registry), chunk.len());
            for &(s, t, v) in chunk {
                b.push(s, t, v);
            }
            b.finish().unwrap()
        })
        .collect();
    let values = Box::new(ValuesOp::new(batches));
    let mut op = DsAggOp::new(values, spec, Some(range)).unwrap();
    let out = collect(&mut op, &TaskContext::with_batch_size(ob))
        .await
        .unwrap();
    let mut got = Vec::new();
    for b in &out {
        assert!(b.num_rows() <= ob);
        for tl in b.timelines() {
            got.extend((0..tl.len()).map(|i| (tl.series_id, tl.times[i], tl.value(i))));
        }
    }
    got
}

/// Bit-exact comparison that treats every NaN alike.
fn same(a: &[In], b: &[In]) -> bool {
    let key = |r: &In| {
        (
            r.0,
            r.1,
            r.2.map(|v| if v.is_nan() { u64::MAX } else { v.to_bits() }),
        )
    };
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| key(x) == key(y))
}

#[tokio::test]
async fn matches_the_naive_oracle_on_random_timelines() {
    let mut rng = Lcg(0x5eed);
    for case in 0..400 {
        let (spec, range, input) = random_case(&mut rng);
        let expected = oracle(&spec, range, &input);
        let ib = 1 + rng.below(7) as usize;
        let ob = 1 + rng.below(5) as usize;
        for (ib, ob) in [(ib, ob), (input.len().max(1), 4096)] {
            let got = run(spec, range, &input, ib, ob).await;
            assert!(
                same(&got, &expected),
                "case {case}: {spec} range {range:?} batches {ib}/{ob}\ninput {input:?}\n\
                 got {got:?}\nexpected {expected:?}"
            );
        }
    }
}

/// Long timelines without nulls (the side-by-side fold of `fold_run`):
/// many buckets per batch, gaps of several buckets, the last bucket cut by
/// the range end, NaN and infinities, fractional values.
fn dense_case(rng: &mut Lcg) -> (Downsample, (i64, i64), Vec<In>) {
    const AGGS: [Aggregator; 8] = INCREMENTAL;
    const FILLS: [FillPolicy; 4] = [
        FillPolicy::None,
        FillPolicy::Null,
        FillPolicy::Previous,
        FillPolicy::Linear,
    ];
    let start = rng.below(1000) as i64 - 500;
    let end = start + 200 + rng.below(1500) as i64;
    let width = 5 + rng.below(40) as i64;
    let spec = Downsample {
        interval: Interval::Every(width),
        agg: AGGS[rng.below(AGGS.len() as u64) as usize],
        fill: FILLS[rng.below(FILLS.len() as u64) as usize],
        max_gap: None,
    };
    let step = 1 + rng.below(3) as i64;
    let mut input = Vec::new();
    for s in 0..3u32 {
        let mut t = start + rng.below(10) as i64;
        while t < end {
            let v = match rng.below(200) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                _ => (rng.below(1 << 20) as f64 - 5e5) / 7.0,
            };
            input.push((s, t, Some(v)));
            // Now and then a gap of up to five buckets.
            t += match rng.below(100) {
                0 => 1 + rng.below(5 * width as u64) as i64,
                _ => step,
            };
        }
    }
    (spec, (start, end), input)
}

#[tokio::test]
async fn dense_runs_match_the_naive_oracle() {
    let mut rng = Lcg(0xd15e);
    for case in 0..60 {
        let (spec, range, input) = dense_case(&mut rng);
        let expected = oracle(&spec, range, &input);
        let ib = 1 + rng.below(700) as usize;
        for (ib, ob) in [(ib, 4096), (4096, 1 + rng.below(50) as usize), (1, 4096)] {
            let got = run(spec, range, &input, ib, ob).await;
            assert!(
                same(&got, &expected),
                "case {case}: {spec} range {range:?} batches {ib}/{ob}"
            );
        }
    }
}

/// Long timelines whose buckets mostly hold the same number of points (a
/// step that divides the width: the cut by equal buckets of `cut_equal`),
/// now and then one bucket with a point fewer, one more (between two
/// steps), a gap, or a first point off the bucket start, so that the equal
/// stretch ends at every kind of mismatch.
fn regular_case(rng: &mut Lcg) -> (Downsample, (i64, i64), Vec<In>) {
    const AGGS: [Aggregator; 4] = [
        Aggregator::Sum,
        Aggregator::Avg,
        Aggregator::Max,
        Aggregator::Last,
    ];
    let step = 2 + 2 * rng.below(3) as i64;
    let width = step * (1 + rng.below(12) as i64);
    let start = (rng.below(40) as i64 - 20) * width;
    let end = start + width * (4 + rng.below(30) as i64) - rng.below(2) as i64 * step;
    let spec = Downsample {
        interval: Interval::Every(width),
        agg: AGGS[rng.below(AGGS.len() as u64) as usize],
        fill: FillPolicy::Null,
        max_gap: None,
    };
    let mut input = Vec::new();
    for s in 0..3u32 {
        let mut t = start + rng.below(2) as i64 * step;
        while t < end {
            let v = (rng.below(1 << 20) as f64 - 5e5) / 7.0;
            input.push((s, t, Some(v)));
            t += match rng.below(60) {
                0 => 2 * step,                          // a point fewer
                1 => step / 2,                          // a point more, between two steps
                2 => width * (1 + rng.below(3) as i64), // a gap
                _ => step,
            };
            if t % (step / 2) != 0 {
                t += step / 2 - t.rem_euclid(step / 2);
            }
        }
    }
    (spec, (start, end), input)
}

#[tokio::test]
async fn regular_runs_match_the_naive_oracle() {
    let mut rng = Lcg(0x7e9);
    for case in 0..80 {
        let (spec, range, input) = regular_case(&mut rng);
        let expected = oracle(&spec, range, &input);
        let ib = 1 + rng.below(300) as usize;
        for (ib, ob) in [(ib, 4096), (input.len().max(1), 4096), (7, 5)] {
            let got = run(spec, range, &input, ib, ob).await;
            assert!(
                same(&got, &expected),
                "case {case}: {spec} range {range:?} batches {ib}/{ob}"
            );
        }
    }
}

/// Integer selectors over long null-free timelines stay exact (values
/// around 2^53, where f64 merges neighbours), whatever the batch size.
#[tokio::test]
async fn dense_integer_selectors_are_exact() {
    const B: i64 = 9_007_199_254_740_992;
    let registry = Arc::new(SeriesRegistry::new(
        (0..2)
            .map(|i| SeriesInfo::new("m", &[("s", &i.to_string())], "v"))
            .collect(),
    ));
    let mut rng = Lcg(0x1e7);
    // Two series, t = 0..600 step 1, buckets of 16: [0, 600) has 38 buckets.
    let mut rows: Vec<(u32, i64, i64)> = Vec::new();
    for s in 0..2u32 {
        for t in 0..600 {
            rows.push((s, t, B - 20 + rng.below(41) as i64));
        }
    }
    for agg in [
        Aggregator::Max,
        Aggregator::Min,
        Aggregator::First,
        Aggregator::Last,
    ] {
        let spec = Downsample {
            interval: Interval::Every(16),
            agg,
            fill: FillPolicy::None,
            max_gap: None,
        };
        let mut expected = Vec::new();
        for s in 0..2u32 {
            for k in 0..38i64 {
                let mut vals = rows
                    .iter()
                    .filter(|r| r.0 == s && r.1 / 16 == k)
                    .map(|r| r.2);
                let want = match agg {
                    Aggregator::Max => vals.max(),
                    Aggregator::Min => vals.min(),
                    Aggregator::First => vals.next(),
                    _ => vals.next_back(),
                };
                expected.push((s, k * 16, want));
            }
        }
        for ib in [1, 100, 4096] {
            let batches = rows
                .chunks(ib)
                .map(|c| {
                    TimelineBatch::from_typed_columns(
                        c.iter().map(|r| r.0).collect(),
                        c.iter().map(|r| r.1).collect(),
                        c.iter().map(|r| r.2).collect::<Vec<i64>>(),
                        None,
                        Arc::clone(&registry),
                    )
                    .unwrap()
                })
                .collect();
            let mut op =
                DsAggOp::new(Box::new(ValuesOp::new(batches)), spec, Some((0, 600))).unwrap();
            let out = collect(&mut op, &TaskContext::default()).await.unwrap();
            let mut got = Vec::new();
            for b in &out {
                for tl in b.timelines_as::<i64>().unwrap() {
                    got.extend(
                        (0..tl.len()).map(|i| (tl.series_id, tl.times[i], Some(tl.values[i]))),
                    );
                }
            }
            assert_eq!(got, expected, "{agg} batches of {ib}");
        }
    }
}
