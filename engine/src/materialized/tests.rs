//! Hand-worked tests of the materialized executor. A small adapter without
//! any capability feeds it, so the executor's own predicate and range
//! filtering is exercised too.

use std::sync::Arc;

use async_trait::async_trait;

use super::aggregate::aggregate_values;
use super::execute;
use crate::batch::{TimelineBatch, TimelineBatchBuilder};
use crate::error::Result;
use crate::predicate::TagPredicate;
use crate::registry::{SeriesInfo, SeriesRegistry};
use crate::spec::{
    Aggregator, Downsample, FillPolicy, GroupBy, Interval, PipelineSpec, RateOptions,
};
use crate::storage::{Capabilities, ScanRequest, SeriesScan, StorageAdapter, TimeRange};

/// The points of one test series; `None` is null.
type Points<'a> = &'a [(i64, Option<f64>)];

/// Series of measurement `m`, field `v`, in key order; no capability.
#[derive(Debug)]
struct TestAdapter {
    registry: Arc<SeriesRegistry>,
    points: Vec<Vec<(i64, Option<f64>)>>,
}

impl TestAdapter {
    /// `series`: (host tag, points), hosts given in ascending order.
    fn new(series: &[(&str, Points<'_>)]) -> Self {
        let infos = series
            .iter()
            .map(|(h, _)| SeriesInfo::new("m", &[("host", h), ("dc", "x")], "v"))
            .collect();
        TestAdapter {
            registry: Arc::new(SeriesRegistry::new(infos)),
            points: series.iter().map(|(_, p)| p.to_vec()).collect(),
        }
    }
}

struct TestScan(Option<TimelineBatch>, Arc<SeriesRegistry>);

#[async_trait]
impl SeriesScan for TestScan {
    fn registry(&self) -> &Arc<SeriesRegistry> {
        &self.1
    }
    async fn next_batch(&mut self, _max_rows: usize) -> Result<Option<TimelineBatch>> {
        Ok(self.0.take())
    }
}

#[async_trait]
impl StorageAdapter for TestAdapter {
    fn name(&self) -> &str {
        "test"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }
    async fn scan(&self, _request: &ScanRequest) -> Result<Box<dyn SeriesScan>> {
        let mut b = TimelineBatchBuilder::new(Arc::clone(&self.registry), 16);
        for (id, points) in self.points.iter().enumerate() {
            for &(t, v) in points {
                b.push(id as u32, t, v);
            }
        }
        Ok(Box::new(TestScan(
            Some(b.finish()?),
            Arc::clone(&self.registry),
        )))
    }
    async fn time_span(&self, request: &ScanRequest) -> Result<Option<(i64, i64)>> {
        let times = self.registry.iter().flat_map(|(id, s)| {
            let matches = request.predicate.matches(s);
            self.points[id as usize]
                .iter()
                .map(|p| p.0)
                .filter(move |&t| matches && request.range.contains(t))
        });
        Ok(times.fold(None, |acc: Option<(i64, i64)>, t| {
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

fn spec(agg: Option<Aggregator>) -> PipelineSpec {
    PipelineSpec {
        scan: ScanRequest::new("m", "v"),
        downsample: None,
        rate: None,
        aggregate: agg,
        group_by: GroupBy::None,
        output_name: "out".into(),
    }
}

/// Rows as `(series key, time, value)`; NaN printed as "NaN", null as "null".
async fn rows(
    spec: &PipelineSpec,
    adapter: &TestAdapter,
    batch: usize,
) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    for b in execute(spec, adapter, batch).await.unwrap() {
        assert!(b.num_rows() <= batch);
        for tl in b.timelines() {
            let key = b.registry().get(tl.series_id).unwrap().key();
            for i in 0..tl.len() {
                let v = tl.value(i).map_or("null".to_string(), |v| format!("{v}"));
                out.push((key.clone(), tl.times[i], v));
            }
        }
    }
    out
}

/// Just the `(time, value)` pairs, for single-group results.
async fn points(spec: &PipelineSpec, adapter: &TestAdapter) -> Vec<(i64, String)> {
    rows(spec, adapter, 4096)
        .await
        .into_iter()
        .map(|r| (r.1, r.2))
        .collect()
}

fn pts(v: &[(i64, &str)]) -> Vec<(i64, String)> {
    v.iter().map(|(t, s)| (*t, s.to_string())).collect()
}

#[test]
fn aggregators_over_a_list_of_values() {
    use Aggregator::*;
    let v = [Some(2.0), Some(f64::NAN), Some(4.0), None, Some(9.0)];
    assert_eq!(aggregate_values(Sum, &v), Some(15.0));
    assert_eq!(aggregate_values(Avg, &v), Some(5.0)); // 15 / 3
    assert_eq!(aggregate_values(Min, &v), Some(2.0));
    assert_eq!(aggregate_values(MimMax, &v), Some(9.0));
    assert_eq!(aggregate_values(Count, &v), Some(3.0));
    assert_eq!(aggregate_values(First, &v), Some(2.0));
    assert_eq!(aggregate_values(Last, &v), Some(9.0));
    // mean 5: (9 + 1 + 16) / 3
    assert_eq!(aggregate_values(Dev, &v), Some((26.0f64 / 3.0).sqrt()));
    assert_eq!(aggregate_values(Dev, &[Some(3.0)]), Some(0.0));
    assert!(aggregate_values(Sum, &[Some(f64::NAN), None])
        .unwrap()
        .is_nan());
    assert!(aggregate_values(Count, &[Some(f64::NAN)]).unwrap().is_nan());
    assert_eq!(aggregate_values(Max, &[None, None]), None);
}

#[test]
fn legacy_percentiles_by_hand() {
    let ten: Vec<Option<f64>> = (1..=10).rev().map(|v| Some(v as f64)).collect();
    let p = |name: &str, v: &[Option<f64>]| aggregate_values(name.parse().unwrap(), v).unwrap();
    assert_eq!(p("p50", &ten), 5.5); // pos 5.5: 5 + .5 * (6 - 5)
    assert_eq!(p("p75", &ten), 8.25); // pos 8.25
    assert!((p("p90", &ten) - 9.9).abs() < 1e-12); // pos 9.9
    assert_eq!(p("p99", &ten), 10.0); // pos 10.89 >= 10 → max
    let three = [Some(3.0), Some(1.0), Some(2.0)];
    assert_eq!(p("median", &three), 2.0); // pos 2 → s[1]
    assert_eq!(p("p999", &three), 3.0); // pos 3.996 >= 3 → max
                                        // over [1, 5]: p50 pos 0.5 * 3 = 1.5 → 1 + .5 * 4; p75 pos 2.25 >= 2 → max.
    assert_eq!(p("p50", &[Some(5.0), Some(1.0)]), 3.0);
    assert_eq!(p("p75", &[Some(5.0), Some(1.0)]), 5.0);
    assert_eq!(p("p50", &[Some(7.0)]), 7.0); // pos 1 >= n = 1 → max
}

/// A = (0,1) (20,3); B = (10,4) (15,5) (30,6). Union 0, 10, 15, 20, 30.
/// A lerp at 10: 1 + 2 * 10/20 = 2; at 15: 2.5. B lerp at 20: 5 + 1 * 5/15.
fn two_series() -> TestAdapter {
    TestAdapter::new(&[
        ("a", &[(0, Some(1.0)), (20, Some(3.0))]),
        ("b", &[(10, Some(4.0)), (15, Some(5.0)), (30, Some(6.0))]),
    ])
}

#[tokio::test]
async fn cross_timeline_interpolation_per_aggregator() {
    let a = two_series();
    let b20 = 5.0 + 5.0 / 15.0;
    let case = |agg: &str| spec(Some(agg.parse().unwrap()));
    let expect = |v: [f64; 5]| {
        [0, 10, 15, 20, 30]
            .iter()
            .zip(v)
            .map(|(&t, v)| (t, format!("{v}")))
            .collect::<Vec<_>>()
    };
    // lerp: sum = A + B where both exist in span.
    assert_eq!(
        points(&case("sum"), &a).await,
        expect([1.0, 6.0, 7.5, 3.0 + b20, 6.0])
    );
    assert_eq!(
        points(&case("avg"), &a).await,
        expect([1.0, 3.0, 3.75, (3.0 + b20) / 2.0, 6.0])
    );
    assert_eq!(
        points(&case("min"), &a).await,
        expect([1.0, 2.0, 2.5, 3.0, 6.0])
    );
    assert_eq!(
        points(&case("max"), &a).await,
        expect([1.0, 4.0, 5.0, b20, 6.0])
    );
    // dev of {2, 4} = 1; of {2.5, 5} = 1.25; of {3, b20} = (b20 - 3) / 2.
    assert_eq!(
        points(&case("dev"), &a).await,
        expect([0.0, 1.0, 1.25, (b20 - 3.0) / 2.0, 0.0])
    );
    // zim: missing = 0.
    assert_eq!(
        points(&case("zimsum"), &a).await,
        expect([1.0, 4.0, 5.0, 3.0, 6.0])
    );
    // first at 10: A's interpolated 0 comes before B's 4; last at 20: B's 0.
    assert_eq!(
        points(&case("first"), &a).await,
        expect([1.0, 0.0, 0.0, 3.0, 6.0])
    );
    assert_eq!(
        points(&case("last"), &a).await,
        expect([1.0, 4.0, 5.0, 0.0, 6.0])
    );
    // mim*: interpolated values do not count; count: only present points.
    assert_eq!(
        points(&case("mimmin"), &a).await,
        expect([1.0, 4.0, 5.0, 3.0, 6.0])
    );
    assert_eq!(
        points(&case("mimmax"), &a).await,
        expect([1.0, 4.0, 5.0, 3.0, 6.0])
    );
    assert_eq!(
        points(&case("count"), &a).await,
        expect([1.0, 1.0, 1.0, 1.0, 1.0])
    );
    // prev: A carries 1 at 10 and 15, B carries 5 at 20.
    assert_eq!(
        points(&case("pfsum"), &a).await,
        expect([1.0, 5.0, 6.0, 8.0, 6.0])
    );
    // p50 of two values: pos 1.5 → midpoint.
    assert_eq!(
        points(&case("p50"), &a).await,
        expect([1.0, 3.0, 3.75, (3.0 + b20) / 2.0, 6.0])
    );
}

#[tokio::test]
async fn nan_and_null_neighbours_in_interpolation() {
    // A = (0,NaN) (20,2): lerp at 10 is NaN; B = (10,null) (30,1): lerp at 20 is null.
    let a = TestAdapter::new(&[
        ("a", &[(0, Some(f64::NAN)), (20, Some(2.0))]),
        ("b", &[(10, None), (30, Some(1.0))]),
    ]);
    // t0: {NaN} → NaN; t10: {NaN, null} → NaN; t20: {2, null} → 2; t30: {1}.
    let expect = pts(&[(0, "NaN"), (10, "NaN"), (20, "2"), (30, "1")]);
    assert_eq!(points(&spec(Some(Aggregator::Sum)), &a).await, expect);
    // pfsum at 20: B's previous value is null → {2, null} → 2.
    assert_eq!(points(&spec(Some(Aggregator::PfSum)), &a).await, expect);
    let only_null = TestAdapter::new(&[("a", &[(0, None)])]);
    assert_eq!(
        points(&spec(Some(Aggregator::Max)), &only_null).await,
        pts(&[(0, "null")])
    );
}

/// One series, interval 10, range [0, 60): buckets 10 = avg(1, 3) = 2 and 40 = 8.
async fn filled(fill: FillPolicy) -> Vec<(i64, String)> {
    let a = TestAdapter::new(&[("a", &[(12, Some(1.0)), (14, Some(3.0)), (41, Some(8.0))])]);
    let mut s = spec(None);
    s.scan.range = TimeRange::new(0, 60);
    s.downsample = Some(Downsample {
        interval: Interval::Every(10),
        agg: Aggregator::Avg,
        fill,
        max_gap: None,
    });
    points(&s, &a).await
}

#[tokio::test]
async fn every_fill_policy() {
    assert_eq!(filled(FillPolicy::None).await, pts(&[(10, "2"), (40, "8")]));
    let nulls = [
        (0, "null"),
        (10, "2"),
        (20, "null"),
        (30, "null"),
        (40, "8"),
        (50, "null"),
    ];
    assert_eq!(filled(FillPolicy::Null).await, pts(&nulls));
    let nans = [
        (0, "NaN"),
        (10, "2"),
        (20, "NaN"),
        (30, "NaN"),
        (40, "8"),
        (50, "NaN"),
    ];
    assert_eq!(filled(FillPolicy::NaN).await, pts(&nans));
    let zeros = [
        (0, "0"),
        (10, "2"),
        (20, "0"),
        (30, "0"),
        (40, "8"),
        (50, "0"),
    ];
    assert_eq!(filled(FillPolicy::Value(0.0)).await, pts(&zeros));
    // previous: nothing before the first bucket, carried to the end of the range.
    let prev = [(10, "2"), (20, "2"), (30, "2"), (40, "8"), (50, "8")];
    assert_eq!(filled(FillPolicy::Previous).await, pts(&prev));
    // linear: 2 + 6 * 10/30 = 4, 2 + 6 * 20/30 = 6; nothing outside 10..40.
    let linear = [(10, "2"), (20, "4"), (30, "6"), (40, "8")];
    assert_eq!(filled(FillPolicy::Linear).await, pts(&linear));
}

#[tokio::test]
async fn unbounded_range_is_resolved_from_the_data_and_predicate_applied() {
    // host=b is filtered out by the executor (the adapter cannot); the span of
    // a's data is [5, 37], so the buckets are 0, 10, 20, 30.
    let a = TestAdapter::new(&[
        ("a", &[(5, Some(1.0)), (37, Some(4.0))]),
        ("b", &[(-100, Some(9.0)), (100, Some(9.0))]),
    ]);
    let mut s = spec(Some(Aggregator::Sum));
    s.scan.predicate = TagPredicate::Eq("host".into(), "a".into());
    s.downsample = Some(Downsample {
        interval: Interval::Every(10),
        agg: Aggregator::Max,
        fill: FillPolicy::Value(-1.0),
        max_gap: None,
    });
    assert_eq!(
        points(&s, &a).await,
        pts(&[(0, "1"), (10, "-1"), (20, "-1"), (30, "4")])
    );
    // SAMPLE BY ALL: one bucket at the range start, here the data's first point.
    s.downsample = Some(Downsample {
        interval: Interval::All,
        agg: Aggregator::Count,
        fill: FillPolicy::None,
        max_gap: None,
    });
    assert_eq!(points(&s, &a).await, pts(&[(5, "2")]));
    // A bounded range is applied by the executor, and ALL starts at its start.
    s.scan.range = TimeRange::new(0, 10);
    assert_eq!(points(&s, &a).await, pts(&[(0, "1")]));
    // No matching data: no rows.
    s.scan.range = TimeRange::new(1000, 2000);
    assert_eq!(points(&s, &a).await, pts(&[]));
}

#[tokio::test]
async fn rates_plain_and_counter() {
    const S: i64 = 1_000_000_000;
    let a = TestAdapter::new(&[(
        "a",
        &[
            (0, Some(10.0)),
            (S, Some(30.0)),
            (3 * S, Some(5.0)),
            (4 * S, Some(7.0)),
            (5 * S, None),
        ],
    )]);
    let mut s = spec(None);
    s.rate = Some(RateOptions::default());
    // (30-10)/1, (5-30)/2, (7-5)/1, null.
    let plain = [(S, "20"), (3 * S, "-12.5"), (4 * S, "2"), (5 * S, "null")];
    let plain: Vec<(i64, &str)> = plain.to_vec();
    assert_eq!(points(&s, &a).await, pts(&plain));
    // counter_max 100: the drop 30 → 5 is a wrap: (100 - 30 + 5) / 2 = 37.5.
    let counter = RateOptions {
        counter: true,
        counter_max: 100.0,
        ..RateOptions::default()
    };
    s.rate = Some(counter);
    let wrap = [(S, "20"), (3 * S, "37.5"), (4 * S, "2"), (5 * S, "null")];
    assert_eq!(points(&s, &a).await, pts(&wrap));
    // reset_value 30: the wrap rate 37.5 exceeds it → 0; the plain 20 is kept.
    s.rate = Some(RateOptions {
        reset_value: 30.0,
        ..counter
    });
    let reset = [(S, "20"), (3 * S, "0"), (4 * S, "2"), (5 * S, "null")];
    assert_eq!(points(&s, &a).await, pts(&reset));
    // drop_resets: the point at 3s is skipped but is the previous of 4s.
    s.rate = Some(RateOptions {
        drop_resets: true,
        ..counter
    });
    assert_eq!(
        points(&s, &a).await,
        pts(&[(S, "20"), (4 * S, "2"), (5 * S, "null")])
    );
}

#[tokio::test]
async fn timelines_and_groups_in_order_across_batch_sizes() {
    let a = TestAdapter::new(&[
        ("a", &[(0, Some(1.0)), (10, Some(2.0)), (99, Some(5.0))]),
        ("b", &[(0, Some(3.0))]),
        ("c", &[(10, Some(4.0))]),
    ]);
    let mut s = spec(None);
    s.scan.range = TimeRange::new(0, 50);
    let expect = vec![
        ("m,dc=x,host=a#v".to_string(), 0, "1".to_string()),
        ("m,dc=x,host=a#v".to_string(), 10, "2".to_string()),
        ("m,dc=x,host=b#v".to_string(), 0, "3".to_string()),
        ("m,dc=x,host=c#v".to_string(), 10, "4".to_string()),
    ];
    for batch in [1, 3, 4096] {
        assert_eq!(rows(&s, &a, batch).await, expect, "batch {batch}");
    }
    s.aggregate = Some(Aggregator::Sum);
    s.group_by = GroupBy::All;
    let mut grouped = expect.clone();
    for r in &mut grouped {
        r.0 = r.0.replace("#v", "#out");
    }
    assert_eq!(rows(&s, &a, 2).await, grouped);
    s.group_by = GroupBy::Tags(vec!["dc".into()]);
    // one group dc=x: t0 = 1 + 3, t10 = 2 + 4.
    let one = vec![
        ("m,dc=x#out".to_string(), 0, "4".to_string()),
        ("m,dc=x#out".to_string(), 10, "6".to_string()),
    ];
    assert_eq!(rows(&s, &a, 1).await, one);
}
