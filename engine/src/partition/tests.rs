//! Tests of partitioned execution: property tests against the materialized
//! executor at P = 1, 2, 3, 7 for every aggregator and strategy on seeded
//! random data; a failing partition's error surfaces; cancellation and
//! dropping the root stop every partition.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::Array;
use async_trait::async_trait;
use proptest::prelude::*;

use super::*;
use crate::batch::{TimelineBatch, TimelineBatchBuilder};
use crate::context::{Spawner, TaskContext};
use crate::error::{EngineError, Result};
use crate::materialize::test_support::all_aggregators;
use crate::operator::{collect, format_tree};
use crate::pipeline::check_strategy;
use crate::read_path::{check_read_path, ReadPath};
use crate::registry::{SeriesInfo, SeriesRegistry};
use crate::spec::{
    AggStrategy, Aggregator, Downsample, FillPolicy, GroupBy, Interval, PipelineSpec,
};
use crate::storage::{Capabilities, ScanRequest, SeriesScan, StorageAdapter, TimeRange};

type Points = Vec<(i64, Option<f64>)>;

/// Series of `m`/`v` (key-sorted), delivered in series or group order, in
/// batches of `chunk` rows. `fail_at`: the scan fails when it reaches that
/// series; `endless`: the scan never ends. `live` counts open scans.
#[derive(Debug, Default)]
struct TestAdapter {
    registry: Arc<SeriesRegistry>,
    points: Vec<Points>,
    chunk: usize,
    fail_at: Option<u32>,
    endless: bool,
    live: Arc<AtomicUsize>,
}

struct TestScan {
    registry: Arc<SeriesRegistry>,
    rows: Vec<(u32, i64, Option<f64>)>,
    pos: usize,
    chunk: usize,
    fail_at: Option<u32>,
    endless: bool,
    live: Arc<AtomicUsize>,
}

impl Drop for TestScan {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl SeriesScan for TestScan {
    fn registry(&self) -> &Arc<SeriesRegistry> {
        &self.registry
    }

    async fn next_batch(&mut self, max_rows: usize) -> Result<Option<TimelineBatch>> {
        if self.endless {
            // a slow remote store: every batch gives the runtime a turn
            tokio::task::yield_now().await;
            let mut b = TimelineBatchBuilder::new(Arc::clone(&self.registry), 1);
            b.push(0, self.pos as i64, Some(1.0));
            self.pos += 1;
            return b.finish().map(Some);
        }
        let end = (self.pos + self.chunk.min(max_rows)).min(self.rows.len());
        if self.pos == end {
            return Ok(None);
        }
        let mut b = TimelineBatchBuilder::new(Arc::clone(&self.registry), end - self.pos);
        for &(id, t, v) in &self.rows[self.pos..end] {
            if Some(id) == self.fail_at {
                return Err(EngineError::Storage(format!("test failure at series {id}")));
            }
            b.push(id, t, v);
        }
        self.pos = end;
        b.finish().map(Some)
    }
}

#[async_trait]
impl StorageAdapter for TestAdapter {
    fn name(&self) -> &str {
        "test"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            ordered_by_group: true,
            ..Capabilities::NONE
        }
    }
    async fn scan(&self, request: &ScanRequest) -> Result<Box<dyn SeriesScan>> {
        let order: Vec<u32> = match &request.group_order {
            Some(by) => crate::group::Grouping::new(&self.registry, by, "").scan_order(),
            None => (0..self.points.len() as u32).collect(),
        };
        let rows = order
            .iter()
            .flat_map(|&id| {
                self.points[id as usize]
                    .iter()
                    .map(move |&(t, v)| (id, t, v))
            })
            .collect();
        self.live.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(TestScan {
            registry: Arc::clone(&self.registry),
            rows,
            pos: 0,
            chunk: self.chunk.max(1),
            fail_at: self.fail_at,
            endless: self.endless,
            live: Arc::clone(&self.live),
        }))
    }
    async fn time_span(&self, request: &ScanRequest) -> Result<Option<(i64, i64)>> {
        let times = self.points.iter().flatten().map(|p| p.0);
        Ok(times
            .filter(|&t| request.range.contains(t))
            .fold(None, |acc: Option<(i64, i64)>, t| {
                Some(acc.map_or((t, t), |(a, b)| (a.min(t), b.max(t))))
            }))
    }
    async fn measurements(&self) -> Result<Vec<String>> {
        Ok(vec!["m".into()])
    }
    async fn fields(&self, _m: &str) -> Result<Vec<String>> {
        Ok(vec!["v".into()])
    }
    async fn tag_keys(&self, _m: &str) -> Result<Vec<String>> {
        Ok(vec!["dc".into(), "host".into()])
    }
    async fn tag_values(&self, _m: &str, _k: &str) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    async fn series_count(&self, _m: &str) -> Result<usize> {
        Ok(self.points.len())
    }
}

use crate::test_rng::Lcg;

/// `n` series `host=hNN`, `dc` one of three, with random points: times
/// ascending from 0 to ~300, values with NaN and null mixed in.
fn random_adapter(rng: &mut Lcg) -> TestAdapter {
    let n = 1 + rng.below(12) as usize;
    let mut series: Vec<(SeriesInfo, Points)> = (0..n)
        .map(|i| {
            let dc = format!("d{}", rng.below(3));
            let host = format!("h{i:02}");
            let info = SeriesInfo::new("m", &[("dc", &dc), ("host", &host)], "v");
            let mut t = rng.below(30) as i64;
            let mut pts = Vec::new();
            for _ in 0..rng.below(25) {
                let v = match rng.below(10) {
                    0 => Some(f64::NAN),
                    1 => None,
                    _ => Some((rng.below(20_000) as f64 - 10_000.0) / 7.0),
                };
                pts.push((t, v));
                t += 1 + rng.below(20) as i64;
            }
            (info, pts)
        })
        .collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    TestAdapter {
        registry: Arc::new(SeriesRegistry::new(
            series.iter().map(|s| s.0.clone()).collect(),
        )),
        points: series.into_iter().map(|s| s.1).collect(),
        chunk: 1 + rng.below(40) as usize,
        ..TestAdapter::default()
    }
}

fn random_spec(rng: &mut Lcg) -> PipelineSpec {
    const FILLS: [FillPolicy; 6] = [
        FillPolicy::None,
        FillPolicy::Null,
        FillPolicy::NaN,
        FillPolicy::Value(0.0),
        FillPolicy::Previous,
        FillPolicy::Linear,
    ];
    const DS_AGGS: [Aggregator; 5] = [
        Aggregator::Avg,
        Aggregator::Sum,
        Aggregator::Max,
        Aggregator::Last,
        Aggregator::Count,
    ];
    let aggs = all_aggregators();
    let mut scan = ScanRequest::new("m", "v");
    if rng.below(2) == 0 {
        scan.range = TimeRange::new(rng.below(50) as i64, 150 + rng.below(200) as i64);
    }
    let downsample = (rng.below(5) != 0).then(|| {
        let interval = match rng.below(6) {
            0 => Interval::All,
            _ => Interval::Every(5 + rng.below(40) as i64),
        };
        let agg = DS_AGGS[rng.below(DS_AGGS.len() as u64) as usize];
        let fill = FILLS[rng.below(FILLS.len() as u64) as usize];
        // FILL(previous, d) / FILL(linear, d) bridge gaps of at most d
        let bridges = matches!(fill, FillPolicy::Previous | FillPolicy::Linear);
        let max_gap = (bridges && rng.below(3) == 0).then(|| 10 + rng.below(60) as i64);
        Downsample {
            interval,
            agg,
            fill,
            max_gap,
        }
    });
    let group_by = match rng.below(3) {
        0 => GroupBy::None,
        1 => GroupBy::Tags(vec!["dc".into()]),
        _ => GroupBy::All,
    };
    PipelineSpec {
        scan,
        downsample,
        rate: None,
        aggregate: Some(aggs[rng.below(aggs.len() as u64) as usize]),
        group_by,
        output_name: "out".into(),
    }
}

/// A context whose partitions run as tasks of `rt`.
fn spawned(rt: &tokio::runtime::Runtime, batch_size: usize) -> TaskContext {
    let handle = rt.handle().clone();
    TaskContext::with_batch_size(batch_size).with_spawner(Spawner::new(move |f| {
        handle.spawn(f);
    }))
}

fn rows(batches: &[TimelineBatch]) -> Vec<(u32, i64, Option<f64>)> {
    let mut out = Vec::new();
    for b in batches {
        let vals = b.values();
        for i in 0..b.num_rows() {
            let v = (!vals.is_null(i)).then(|| vals.value(i));
            out.push((b.series_ids()[i], b.times()[i], v));
        }
    }
    out
}

/// Sums (and what is built from them) within 1e-12 relative (of the larger
/// magnitude, at least 1); everything else bit for bit (NaN equal to NaN).
fn same(agg: Aggregator, a: Option<f64>, b: Option<f64>) -> bool {
    use Aggregator::*;
    match (a, b) {
        (Some(x), Some(y)) if x.is_nan() || y.is_nan() => x.is_nan() && y.is_nan(),
        (Some(x), Some(y)) if matches!(agg, Sum | Avg | Dev | ZimSum | PfSum) => {
            (x - y).abs() <= 1e-12 * x.abs().max(y.abs()).max(1.0)
        }
        (Some(x), Some(y)) => x == y,
        (None, None) => true,
        _ => false,
    }
}

/// The rows a read by `read` gives of the full result `all`: all of them,
/// or for a tail read of `n` buckets that read only its window, those of
/// the last `n` bucket times (with a fill, every bucket of the range has a
/// row in the full result). `got` is how many rows the read gave: a tail
/// read that could not be narrowed reads the whole range.
fn tail_of(all: &[Row], read: ReadPath, got: usize) -> Vec<Row> {
    let ReadPath::Tail { rows: n } = read else {
        return all.to_vec();
    };
    if got == all.len() || all.is_empty() {
        return all.to_vec();
    }
    let mut times: Vec<i64> = all.iter().map(|r| r.1).collect();
    times.sort_unstable();
    times.dedup();
    let cut = times[times.len().saturating_sub(n).min(times.len() - 1)];
    all.iter().copied().filter(|r| r.1 >= cut).collect()
}

type Row = (u32, i64, Option<f64>);

/// Checks one seeded case; returns the rows compared per strategy
/// (Pipe, Grouped, MT).
fn check_case(seed: u64, rt: &tokio::runtime::Runtime) -> [usize; 3] {
    let mut compared = [0; 3];
    let mut rng = Lcg(seed);
    let adapter: Arc<dyn StorageAdapter> = Arc::new(random_adapter(&mut rng));
    let spec = random_spec(&mut rng);
    let agg = spec.aggregate.expect("random_spec aggregates");
    let batch_size = 1 + rng.below(50) as usize;
    // a tail read, where valid, gives the rows of the scan
    let tail = ReadPath::Tail {
        rows: 1 + rng.below(4) as usize,
    };
    let read = match check_read_path(&spec, tail) {
        None if rng.below(2) == 0 => tail,
        _ => ReadPath::Scan,
    };
    let expected = rt
        .block_on(crate::materialized::execute(&spec, adapter.as_ref(), 4096))
        .map(|b| rows(&b));
    for (s, strategy) in [AggStrategy::Pipe, AggStrategy::Grouped, AggStrategy::MT]
        .into_iter()
        .enumerate()
    {
        if check_strategy(&spec, adapter.as_ref(), strategy).is_some() {
            continue;
        }
        let mut unsplit: Option<Vec<Row>> = None;
        for p in [1, 2, 3, 7] {
            let ctx = spawned(rt, batch_size);
            let got = rt.block_on(async {
                let adapter = Arc::clone(&adapter);
                let mut root = build_partitioned_with(&spec, adapter, strategy, read, p).await?;
                collect(root.as_mut(), &ctx).await
            });
            let what = format!("seed {seed} {strategy:?} P={p} read {read} {spec:?}");
            let (got, want) = match (&got, &expected) {
                (Ok(g), Ok(w)) => (rows(g), tail_of(w, read, rows(g).len())),
                (Err(g), Err(w)) => {
                    assert_eq!(g.to_string(), w.to_string(), "{what}");
                    continue;
                }
                _ => panic!("{what}: got {got:?}, expected {expected:?}"),
            };
            assert_eq!(got.len(), want.len(), "{what}\n{got:?}\n{want:?}");
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g.0, g.1) == (w.0, w.1) && same(agg, g.2, w.2),
                    "{what}: row {g:?} != {w:?}"
                );
            }
            compared[s] += got.len();
            // a split by whole groups aggregates every group whole, in the
            // unsplit order: bit for bit the rows of P = 1, sums included
            if split_for(&spec, strategy) != PartitionBy::Series || p == 1 {
                let bits = |rows: &[Row]| -> Vec<(u32, i64, Option<u64>)> {
                    rows.iter()
                        .map(|r| (r.0, r.1, r.2.map(f64::to_bits)))
                        .collect()
                };
                match &unsplit {
                    None => unsplit = Some(got),
                    Some(one) => assert_eq!(bits(&got), bits(one), "{what}"),
                }
            }
        }
    }
    compared
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn partitioned_equals_materialized(seed in any::<u64>()) {
        check_case(seed, &runtime());
    }
}

#[test]
fn the_random_cases_compare_rows_on_every_strategy() {
    // The property test above must not pass vacuously (all errors, or no
    // rows): over 40 fixed seeds every strategy compares rows.
    let rt = runtime();
    let mut total = [0; 3];
    for seed in 0..40 {
        let c = check_case(seed, &rt);
        (0..3).for_each(|s| total[s] += c[s]);
    }
    assert!(total.iter().all(|&n| n > 100), "{total:?}");
}

#[test]
fn every_aggregator_and_strategy_is_covered_at_every_partition_count() {
    // Forces each aggregator through each valid strategy on one data set,
    // partitions of every count, with and without a spawner.
    let rt = runtime();
    let adapter: Arc<dyn StorageAdapter> = Arc::new(random_adapter(&mut Lcg(11)));
    for agg in all_aggregators() {
        let spec = PipelineSpec {
            scan: ScanRequest::new("m", "v"),
            downsample: Some(Downsample {
                interval: Interval::Every(25),
                agg: Aggregator::Avg,
                fill: FillPolicy::Value(0.0),
                max_gap: None,
            }),
            rate: None,
            aggregate: Some(agg),
            group_by: GroupBy::Tags(vec!["dc".into()]),
            output_name: "out".into(),
        };
        let want = rows(
            &rt.block_on(crate::materialized::execute(&spec, adapter.as_ref(), 64))
                .unwrap(),
        );
        assert!(!want.is_empty());
        for strategy in [AggStrategy::Pipe, AggStrategy::Grouped, AggStrategy::MT] {
            if check_strategy(&spec, adapter.as_ref(), strategy).is_some() {
                assert!(!agg.is_incremental() && strategy == AggStrategy::Pipe);
                continue;
            }
            for p in [1, 2, 3, 7] {
                for ctx in [spawned(&rt, 5), TaskContext::with_batch_size(5)] {
                    let got = rt.block_on(async {
                        let mut root =
                            build_partitioned(&spec, Arc::clone(&adapter), strategy, p).await?;
                        collect(root.as_mut(), &ctx).await
                    });
                    let got = rows(&got.unwrap());
                    assert_eq!(got.len(), want.len(), "{agg} {strategy:?} P={p}");
                    for (g, w) in got.iter().zip(&want) {
                        assert!(
                            (g.0, g.1) == (w.0, w.1) && same(agg, g.2, w.2),
                            "{agg} {strategy:?} P={p}: {g:?} != {w:?}"
                        );
                    }
                }
            }
        }
    }
}

fn pipe_spec() -> PipelineSpec {
    PipelineSpec {
        scan: ScanRequest::new("m", "v"),
        downsample: Some(Downsample {
            interval: Interval::Every(10),
            agg: Aggregator::Sum,
            fill: FillPolicy::Value(0.0),
            max_gap: None,
        }),
        rate: None,
        aggregate: Some(Aggregator::Sum),
        group_by: GroupBy::Tags(vec!["dc".into()]),
        output_name: "s".into(),
    }
}

/// Four series, dc a, a, b, b, one point at t = 0..4 each.
fn four_series() -> TestAdapter {
    let infos: Vec<SeriesInfo> = [("a", "1"), ("a", "2"), ("b", "3"), ("b", "4")]
        .iter()
        .map(|(dc, h)| SeriesInfo::new("m", &[("dc", dc), ("host", h)], "v"))
        .collect();
    TestAdapter {
        registry: Arc::new(SeriesRegistry::new(infos)),
        points: (0..4)
            .map(|i| vec![(i as i64, Some(i as f64 + 1.0))])
            .collect(),
        chunk: 1,
        ..TestAdapter::default()
    }
}

#[test]
fn explain_shows_partitions_and_the_partial_and_final_steps() {
    // without GROUP BY: one group, split by series, partial states merged
    let mut spec = pipe_spec();
    spec.group_by = GroupBy::None;
    let adapter: Arc<dyn StorageAdapter> = Arc::new(four_series());
    let root = futures::executor::block_on(build_partitioned(
        &spec,
        Arc::clone(&adapter),
        AggStrategy::Pipe,
        2,
    ))
    .unwrap();
    assert_eq!(
        format_tree(root.as_ref()),
        "FinalAggOp: agg=sum group_by=[] partitions=2 (merges partial states)\n\
         \x20 PartialAggOp: agg=sum group_by=[] buckets=1 partition=1/2 by series\n\
         \x20   DsAggOp: interval=10ns agg=sum fill=zero\n\
         \x20     ScanOp: adapter=test measurement=m field=v range=[-∞, ∞) predicate=true pushdown=[none] filter=[none] partition=1/2 by series\n\
         \x20 PartialAggOp: agg=sum group_by=[] buckets=1 partition=2/2 by series\n\
         \x20   DsAggOp: interval=10ns agg=sum fill=zero\n\
         \x20     ScanOp: adapter=test measurement=m field=v range=[-∞, ∞) predicate=true pushdown=[none] filter=[none] partition=2/2 by series\n"
    );
    // by hand: 1 + 2 + 3 + 4 = 10, one bucket at 0
    let rt = runtime();
    let mut root = root;
    let got = rt
        .block_on(collect(root.as_mut(), &spawned(&rt, 16)))
        .unwrap();
    assert_eq!(rows(&got), vec![(0, 0, Some(10.0))]);
    // each partition read two of the four series
    for part in root.children() {
        let scan = part.children()[0].children()[0];
        assert_eq!(scan.metrics().rows_out, 2, "{}", part.display());
        assert!(part.display().contains(" wall="), "{}", part.display());
    }
}

#[test]
fn a_grouped_streaming_aggregation_splits_into_whole_groups_and_merges_them() {
    let adapter: Arc<dyn StorageAdapter> = Arc::new(four_series());
    let rt = runtime();
    let build = |p| {
        rt.block_on(build_partitioned(
            &pipe_spec(),
            Arc::clone(&adapter),
            AggStrategy::Pipe,
            p,
        ))
        .unwrap()
    };
    let mut root = build(2);
    assert_eq!(
        format_tree(root.as_ref()),
        "GroupMergeOp: partitions=2 by whole groups (merges groups in order)\n\
         \x20 PipeAggOp: agg=sum group_by=[dc] buckets=1 partition=1/2 by whole groups\n\
         \x20   DsAggOp: interval=10ns agg=sum fill=zero\n\
         \x20     ScanOp: adapter=test measurement=m field=v range=[-∞, ∞) predicate=true pushdown=[none] filter=[none] partition=1/2 by whole groups\n\
         \x20 PipeAggOp: agg=sum group_by=[dc] buckets=1 partition=2/2 by whole groups\n\
         \x20   DsAggOp: interval=10ns agg=sum fill=zero\n\
         \x20     ScanOp: adapter=test measurement=m field=v range=[-∞, ∞) predicate=true pushdown=[none] filter=[none] partition=2/2 by whole groups\n"
    );
    // by hand: dc=a: 1 + 2 = 3, dc=b: 3 + 4 = 7, one bucket at 0. At P =
    // 2 the series-id cut at 4 / 2 = 2 splits no group; at P = 3 and 7 the
    // balanced points (1, ...) cut group a and the slack is 0, so by group
    // range: b starts where 2 of the 4 series are before it, partition
    // 2 * P / 4 (1 of 3, 3 of 7)
    let want = vec![(0, 0, Some(3.0)), (1, 0, Some(7.0))];
    for (p, scanned) in [
        (2, vec![2, 2]),
        (3, vec![2, 2, 0]),
        (7, vec![2, 0, 0, 2, 0, 0, 0]),
    ] {
        for ctx in [
            spawned(&rt, 1),
            spawned(&rt, 16),
            TaskContext::with_batch_size(1),
        ] {
            let mut root = build(p);
            let got = rt.block_on(collect(root.as_mut(), &ctx)).unwrap();
            assert_eq!(rows(&got), want, "P={p}");
            let scans: Vec<u64> = root
                .children()
                .iter()
                .map(|part| part.children()[0].children()[0].metrics().rows_out)
                .collect();
            assert_eq!(scans, scanned, "P={p}");
        }
    }
    let got = rt
        .block_on(collect(root.as_mut(), &spawned(&rt, 16)))
        .unwrap();
    assert_eq!(rows(&got), want);
    assert_eq!(root.metrics().rows_out, 2);
}

/// Builds a registry of `m` series with tag `g` of the given group of each
/// series (and a distinct `host`).
fn grouped_registry(groups: &[&str]) -> SeriesRegistry {
    let mut infos: Vec<SeriesInfo> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| SeriesInfo::new("m", &[("g", g), ("host", &format!("h{i:02}"))], "v"))
        .collect();
    infos.sort();
    SeriesRegistry::new(infos)
}

#[test]
fn range_owners_in_one_pass_are_the_group_ranges() {
    use crate::group::Grouping;
    // seeded groupings of 1..40 series into up to 12 groups of any sizes
    let mut state = 7u64;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let by = GroupBy::Tags(vec!["g".into()]);
    for _ in 0..200 {
        let series = 1 + next(40) as usize;
        let groups = 1 + next(12);
        let names: Vec<String> = (0..series)
            .map(|_| format!("g{:02}", next(groups)))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let reg = grouped_registry(&names);
        let grouping = Grouping::new(&reg, &by, "");
        for count in 1..=9 {
            let mut want = vec![u32::MAX; grouping.num_groups()];
            for k in 0..count {
                for g in group_range(&grouping, k, count) {
                    want[g as usize] = k as u32;
                }
            }
            assert_eq!(
                super::owners::range_owners(&grouping, count),
                want,
                "{names:?} P={count}"
            );
        }
    }
}

#[test]
fn group_ranges_are_contiguous_balanced_by_series_and_cover_every_group() {
    use crate::group::Grouping;
    // groups g0..g4 with 3, 1, 1, 1, 2 series (8): g has before(g) = 0,
    // 3, 4, 5, 6 series below it and goes to partition before(g) * P / 8
    let reg = grouped_registry(&["g0", "g0", "g0", "g1", "g2", "g3", "g4", "g4"]);
    let by = GroupBy::Tags(vec!["g".into()]);
    let grouping = Grouping::new(&reg, &by, "");
    let ranges = |count| {
        (0..count)
            .map(|k| group_range(&grouping, k, count))
            .collect::<Vec<_>>()
    };
    assert_eq!(ranges(1), vec![0..5]);
    // P = 2: 0, 6/8, 8/8, 10/8, 12/8 -> 0, 0, 1, 1, 1
    assert_eq!(ranges(2), vec![0..2, 2..5]);
    // P = 3: 0, 9/8, 12/8, 15/8, 18/8 -> 0, 1, 1, 1, 2
    assert_eq!(ranges(3), vec![0..1, 1..4, 4..5]);
    // P = 7 (more partitions than groups): 0, 21/8, 28/8, 35/8, 42/8 ->
    // 0, 2, 3, 4, 5; partitions 2 and 7 get none
    assert_eq!(ranges(7), vec![0..1, 1..1, 1..2, 2..3, 3..4, 4..5, 5..5]);
    // the masks: every series in exactly the partition of its group
    for count in [1, 2, 3, 7] {
        let masks: Vec<Vec<bool>> = (0..count)
            .map(|index| {
                Partition {
                    index,
                    count,
                    by: PartitionBy::WholeGroups(by.clone()),
                }
                .mask(&reg)
            })
            .collect();
        let owner_of = group_owners(&grouping, count);
        for (id, _) in reg.iter() {
            let owners: Vec<usize> = (0..count).filter(|&k| masks[k][id as usize]).collect();
            let group = grouping.group_of(id);
            assert_eq!(
                owners,
                [owner_of[group as usize] as usize],
                "P={count} series {id}"
            );
        }
    }
    // whole groups: at P = 2 the balanced cut 8 / 2 = 4 lies between g1
    // and g2: the ranges above; at P = 3 (8 / 3 = 2, inside g0, slack 0)
    // and 7 (8 / 7 = 1, inside g0) no cut: the ranges above
    let owners = |count| group_owners(&grouping, count);
    assert_eq!(owners(2), [0, 0, 1, 1, 1]);
    assert_eq!(owners(3), [0, 1, 1, 1, 2]);
    assert_eq!(owners(7), [0, 2, 3, 4, 5]);
    // no series: every range empty
    let empty = Grouping::new(&SeriesRegistry::new(Vec::new()), &by, "");
    assert_eq!(group_range(&empty, 0, 2), 0..0);
    assert_eq!(group_range(&empty, 1, 2), 0..0);
}

#[test]
fn whole_groups_cut_the_series_ids_only_where_the_groups_follow_them() {
    use crate::group::Grouping;
    // one series a group, groups not in series order (as GROUP BY
    // hostname after leading tags): series ids 0..8 sort by `g` first
    let infos: Vec<SeriesInfo> = [
        ("a", "h5"),
        ("a", "h2"),
        ("a", "h7"),
        ("a", "h0"),
        ("b", "h3"),
        ("b", "h6"),
        ("b", "h1"),
        ("b", "h4"),
    ]
    .iter()
    .map(|(g, h)| SeriesInfo::new("m", &[("g", g), ("host", h)], "v"))
    .collect();
    let (reg, _) = SeriesRegistry::sorted(infos);
    let by = GroupBy::Tags(vec!["host".into()]);
    let grouping = Grouping::new(&reg, &by, "");
    // group id = the host's number; every series cut is valid, but the cut
    // at 4 would give hosts 0, 2, 5, 7 and 1, 3, 4, 6, interleaved in the
    // merge: the groups are cut instead, 0..4 and 4..8 (before(g) × 2 / 8)
    let ids: Vec<u32> = (0..8).map(|id| grouping.group_of(id)).collect();
    assert_eq!(ids, [0, 2, 5, 7, 1, 3, 4, 6]);
    assert_eq!(group_owners(&grouping, 2), [0, 0, 0, 0, 1, 1, 1, 1]);
    // P = 3: before(g) × 3 / 8 = 0, 0, 0, 1, 1, 1, 2, 2
    assert_eq!(group_owners(&grouping, 3), [0, 0, 0, 1, 1, 1, 2, 2]);
    let part = |index, count| Partition {
        index,
        count,
        by: PartitionBy::WholeGroups(by.clone()),
    };
    // hosts 4..8 are series 2 (h5), 3 (h7), 6 (h4), 7 (h6)
    let mask = part(1, 2).mask(&reg);
    assert_eq!(mask, [false, false, true, true, false, false, true, true]);
    let mine = OwnedGroups::of(&grouping, 1, 2);
    assert_eq!(mine.ids(), [4, 5, 6, 7]);
    assert_eq!((mine.local(4), mine.local(3)), (Some(0), None));
    assert_eq!(mine.global(3), 7);
    // grouped by `g` (the leading tag) the series cut at 4 is between the
    // groups and keeps their order: kept
    let leading = Grouping::new(&reg, &GroupBy::Tags(vec!["g".into()]), "");
    assert_eq!(group_owners(&leading, 2), [0, 1]);
    assert_eq!(
        Partition {
            index: 0,
            count: 2,
            by: PartitionBy::WholeGroups(GroupBy::Tags(vec!["g".into()])),
        }
        .mask(&reg),
        [true, true, true, true, false, false, false, false]
    );
    // P larger than the series: one series at most in each partition
    let owners = group_owners(&grouping, 16);
    let mut per_partition = [0; 16];
    owners.iter().for_each(|&k| per_partition[k as usize] += 1);
    assert_eq!(per_partition.iter().sum::<i32>(), 8);
    assert!(per_partition.iter().all(|&n| n <= 1), "{per_partition:?}");
}

#[test]
fn group_partitions_keep_groups_whole() {
    let mut spec = pipe_spec();
    spec.downsample = None;
    spec.aggregate = Some(Aggregator::Percentile(500));
    let adapter: Arc<dyn StorageAdapter> = Arc::new(four_series());
    let rt = runtime();
    let mut root = rt
        .block_on(build_partitioned(
            &spec,
            Arc::clone(&adapter),
            AggStrategy::MT,
            2,
        ))
        .unwrap();
    assert!(root
        .display()
        .starts_with("GroupMergeOp: partitions=2 by group"));
    let got = rows(
        &rt.block_on(collect(root.as_mut(), &spawned(&rt, 1)))
            .unwrap(),
    );
    let want = rt.block_on(crate::materialized::execute(&spec, adapter.as_ref(), 7));
    assert_eq!(got, rows(&want.unwrap()));
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 0, 1, 1]);
    // group a (id 0) in partition 1, group b in partition 2
    let scans: Vec<u64> = root
        .children()
        .iter()
        .map(|p| p.children()[0].metrics().rows_out)
        .collect();
    assert_eq!(scans, vec![2, 2]);
}

#[test]
fn an_error_in_one_partition_fails_the_query_with_it() {
    let rt = runtime();
    for (strategy, p) in [(AggStrategy::Pipe, 3), (AggStrategy::MT, 2)] {
        for spawner in [true, false] {
            let adapter: Arc<dyn StorageAdapter> = Arc::new(TestAdapter {
                fail_at: Some(3),
                ..four_series()
            });
            let ctx = if spawner {
                spawned(&rt, 4)
            } else {
                TaskContext::with_batch_size(4)
            };
            let err = rt
                .block_on(async {
                    let mut root = build_partitioned(&pipe_spec(), adapter, strategy, p).await?;
                    collect(root.as_mut(), &ctx).await
                })
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                "storage error: test failure at series 3",
                "{strategy:?} spawner={spawner}"
            );
        }
    }
}

/// Waits up to 2 s for every scan of `live` to be dropped.
fn wait_all_closed(live: &AtomicUsize) -> usize {
    wait_at_most(live, 0)
}

/// Waits up to 2 s for at most `n` scans of `live` to be open; the count
/// then.
fn wait_at_most(live: &AtomicUsize, n: usize) -> usize {
    for _ in 0..200 {
        if live.load(Ordering::SeqCst) <= n {
            return live.load(Ordering::SeqCst);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    live.load(Ordering::SeqCst)
}

#[test]
fn cancelling_or_dropping_the_root_stops_every_partition() {
    let rt = runtime();
    for (strategy, drop_root) in [
        (AggStrategy::Pipe, false),
        (AggStrategy::Pipe, true),
        (AggStrategy::MT, false),
        (AggStrategy::MT, true),
    ] {
        let live = Arc::new(AtomicUsize::new(0));
        let adapter: Arc<dyn StorageAdapter> = Arc::new(TestAdapter {
            endless: true,
            live: Arc::clone(&live),
            ..four_series()
        });
        let mut spec = pipe_spec();
        spec.downsample = None;
        spec.aggregate = Some(Aggregator::Max);
        let spec = if strategy == AggStrategy::Pipe {
            // SAMPLE BY ALL waits for the end of each endless timeline
            let mut s = pipe_spec();
            s.scan.range = TimeRange::new(0, i64::MAX);
            s.downsample = Some(Downsample {
                interval: Interval::All,
                agg: Aggregator::Sum,
                fill: FillPolicy::Value(0.0),
                max_gap: None,
            });
            s
        } else {
            spec
        };
        let ctx = spawned(&rt, 4);
        let cancel = ctx.cancel.clone();
        let mut root = rt
            .block_on(build_partitioned(&spec, adapter, strategy, 3))
            .unwrap();
        let waited = rt.block_on(async {
            root.open(&ctx).await.unwrap();
            tokio::time::timeout(Duration::from_millis(100), root.next()).await
        });
        assert!(waited.is_err(), "the endless query ended");
        assert_eq!(
            live.load(Ordering::SeqCst),
            3,
            "{strategy:?}: three partition scans"
        );
        if drop_root {
            drop(root);
        } else {
            cancel.cancel();
            // The spawned partitions stop by themselves; the first one runs
            // on the calling task (nothing polls it now) and stops with the
            // root's close.
            assert!(
                wait_at_most(&live, 1) <= 1,
                "{strategy:?}: the spawned partitions stopped"
            );
            let _ = rt.block_on(root.close());
        }
        assert_eq!(
            wait_all_closed(&live),
            0,
            "{strategy:?} drop_root={drop_root}"
        );
    }
}

/// The points of one group's run: `(time, value)`.
type Run<'a> = &'a [(i64, f64)];

/// One batch over a registry of four groups: `(group, points)`.
fn group_batch(registry: &Arc<SeriesRegistry>, runs: &[(u32, Run<'_>)]) -> TimelineBatch {
    let mut b = TimelineBatchBuilder::new(Arc::clone(registry), 16);
    for (g, points) in runs {
        let times: Vec<i64> = points.iter().map(|p| p.0).collect();
        let values: Vec<f64> = points.iter().map(|p| p.1).collect();
        b.push_slice(*g, &times, &values);
    }
    b.finish().unwrap()
}

#[test]
fn the_group_merge_hands_on_whole_batches_when_their_groups_come_first() {
    use crate::ops::values::ValuesOp;
    let rt = runtime();
    let registry = Arc::new(grouped_registry(&["a", "b", "c", "d"]));
    let (p0, p1): (Run<'_>, Run<'_>) = (&[(0, 1.0), (10, 2.0)], &[(0, 3.0), (10, 4.0)]);
    // (partition 0's batches, partition 1's, output batches)
    let cases = [
        // groups 0, 1 | 2, 3: a concatenation, each 4-row batch handed on
        (
            vec![vec![(0, p0), (1, p1)]],
            vec![vec![(2, p0), (3, p1)]],
            2,
        ),
        // groups 0, 2 | 1, 3: interleaved, copied run by run into one batch
        (
            vec![vec![(0, p0), (2, p1)]],
            vec![vec![(1, p0), (3, p1)]],
            1,
        ),
    ];
    // the merged rows, worked out by hand: group order, then time
    let expected = |groups: [(u32, Run<'_>); 4]| -> Vec<(u32, i64, Option<f64>)> {
        let mut all: Vec<_> = groups
            .iter()
            .flat_map(|(g, pts)| pts.iter().map(move |(t, v)| (*g, *t, Some(*v))))
            .collect();
        all.sort_by_key(|r| (r.0, r.1));
        all
    };
    for (k, (a, b, batches)) in cases.into_iter().enumerate() {
        let want = expected([a[0][0], a[0][1], b[0][0], b[0][1]]);
        for spawner in [true, false] {
            let make = |runs: &Vec<Vec<(u32, Run<'_>)>>| -> Box<dyn crate::operator::Operator> {
                let out = runs.iter().map(|r| group_batch(&registry, r)).collect();
                Box::new(ValuesOp::new(out))
            };
            let mut merge = GroupMergeOp::whole_groups(vec![make(&a), make(&b)]).unwrap();
            let ctx = if spawner {
                spawned(&rt, 8)
            } else {
                TaskContext::with_batch_size(8)
            };
            let out = rt.block_on(collect(&mut merge, &ctx)).unwrap();
            assert_eq!(rows(&out), want, "case {k} spawner={spawner}");
            assert_eq!(out.len(), batches, "case {k} spawner={spawner}");
        }
    }
}
