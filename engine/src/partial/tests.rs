//! Hand-worked tests of partial states: folding, merging (exact and Chan's
//! variance merge), finishing, and the RecordBatch round trip.

use std::sync::Arc;

use super::*;
use crate::error::EngineError;
use crate::materialize::test_support::all_aggregators;
use crate::registry::{SeriesInfo, SeriesRegistry};
use crate::spec::Aggregator;
use arrow::datatypes::DataType;

fn groups() -> Arc<SeriesRegistry> {
    Arc::new(SeriesRegistry::new(vec![
        SeriesInfo::new("cpu", &[("dc", "a")], "out"),
        SeriesInfo::new("cpu", &[("dc", "b")], "out"),
    ]))
}

/// Inputs `(group, time, (point time, series), value)` of two "partitions".
type Input = (u32, i64, (i64, u32), Option<f64>);

const LEFT: &[Input] = &[
    (0, 0, (0, 0), Some(2.0)),
    (0, 0, (0, 2), Some(4.0)),
    (0, 10, (10, 0), Some(f64::NAN)),
    (1, 0, (0, 1), None),
];
const RIGHT: &[Input] = &[
    (0, 0, (0, 1), Some(9.0)),
    (0, 10, (10, 1), None),
    (1, 0, (0, 3), Some(-1.0)),
    (1, 10, (10, 3), None),
];

fn build(agg: Aggregator, input: &[Input]) -> PartialStates {
    let mut s = PartialStates::new(agg, groups());
    for &(g, t, at, v) in input {
        s.fold(g, t, at, v).unwrap();
    }
    s
}

fn results(s: &PartialStates) -> Vec<(u32, i64, Option<f64>)> {
    (0..s.len())
        .map(|r| (s.key(r).0, s.key(r).1, s.result(r)))
        .collect()
}

/// Row (0, 0) holds 2, 4 (left) and 9 (right); (0, 10) a NaN and a null
/// (NaN); (1, 0) a null and -1; (1, 10) a null only (null).
fn expected(agg: Aggregator) -> f64 {
    use Aggregator::*;
    match agg {
        Sum | ZimSum | PfSum => 15.0,
        Avg => 5.0,
        Min | MimMin => 2.0,
        Max | MimMax => 9.0,
        Count => 3.0,
        // smallest / largest (time, series): series 0 has 2, series 2 has 4
        First => 2.0,
        Last => 4.0,
        // mean 5, squared deviations 9 + 1 + 16 = 26
        Dev => (26.0f64 / 3.0).sqrt(),
        // n = 3, p50: position 2 -> 4; p90: position 3.6 >= n -> 9
        Percentile(500) => 4.0,
        Percentile(_) => 9.0,
    }
}

#[test]
fn merge_by_hand_for_every_aggregator() {
    for agg in all_aggregators() {
        let merged = build(agg, LEFT).merge(&build(agg, RIGHT)).unwrap();
        let got = results(&merged);
        assert_eq!(got.len(), 4, "{agg}");
        assert_eq!((got[0].0, got[0].1), (0, 0));
        let v = got[0].2.unwrap();
        assert!((v - expected(agg)).abs() < 1e-12, "{agg}: {v}");
        assert!(got[1].2.unwrap().is_nan(), "{agg}");
        // one value, -1: count 1, dev 0
        let single = match agg {
            Aggregator::Count => 1.0,
            Aggregator::Dev => 0.0,
            _ => -1.0,
        };
        assert_eq!(got[2], (1, 0, Some(single)), "{agg}");
        assert_eq!(got[3], (1, 10, None), "{agg}");
        // the merge equals folding everything into one state
        let mut all: Vec<Input> = LEFT.iter().chain(RIGHT).copied().collect();
        all.sort_by_key(|i| (i.0, i.1));
        let one = results(&build(agg, &all));
        for (a, b) in got.iter().zip(&one) {
            let eq = match (a.2, b.2) {
                (Some(x), Some(y)) => (x.is_nan() && y.is_nan()) || (x - y).abs() < 1e-12,
                (x, y) => x == y,
            };
            assert!(eq && (a.0, a.1) == (b.0, b.1), "{agg}: {a:?} vs {b:?}");
        }
    }
}

#[test]
fn first_and_last_ties_do_not_depend_on_merge_order() {
    for agg in [Aggregator::First, Aggregator::Last] {
        let ab = build(agg, LEFT).merge(&build(agg, RIGHT)).unwrap();
        let ba = build(agg, RIGHT).merge(&build(agg, LEFT)).unwrap();
        assert_eq!(ab.result(0), ba.result(0), "{agg}");
        assert_eq!(ab.result(0), Some(expected(agg)));
    }
}

#[test]
fn record_batch_round_trip_for_every_aggregator() {
    for agg in all_aggregators() {
        let states = build(agg, LEFT).merge(&build(agg, RIGHT)).unwrap();
        let batch = states.to_record_batch().unwrap();
        assert_eq!(batch.schema(), partial_schema(agg), "{agg}");
        assert_eq!(batch.num_rows(), 4);
        assert_eq!(
            batch.schema().metadata().get(AGGREGATOR_METADATA_KEY),
            Some(&agg.to_string())
        );
        let back = PartialStates::from_record_batch(&batch, agg, groups()).unwrap();
        let bits = |s: &PartialStates| {
            results(s)
                .into_iter()
                .map(|(g, t, v)| (g, t, v.map(f64::to_bits)))
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&back), bits(&states), "{agg}");
        // and the round-tripped state still merges like the original
        let more = build(agg, RIGHT);
        assert_eq!(
            bits(&back.merge(&more).unwrap()),
            bits(&states.clone().merge(&more).unwrap()),
            "{agg}"
        );
    }
    let names: Vec<String> = partial_schema(Aggregator::First)
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "group",
            "time",
            "count",
            "nan",
            "first",
            "first_time",
            "first_series"
        ]
    );
}

#[test]
fn bad_batches_are_rejected_saying_why() {
    let batch = build(Aggregator::Sum, LEFT).to_record_batch().unwrap();
    let err = |r: Result<PartialStates, EngineError>| r.unwrap_err().to_string();
    let e = err(PartialStates::from_record_batch(
        &batch,
        Aggregator::Max,
        groups(),
    ));
    assert!(e.contains("holds states of sum, expected max"), "{e}");
    let other = Arc::new(SeriesRegistry::new(vec![SeriesInfo::new(
        "cpu",
        &[("dc", "z")],
        "out",
    )]));
    let e = err(PartialStates::from_record_batch(
        &batch,
        Aggregator::Sum,
        other,
    ));
    assert!(
        e.contains("row 0 has group 0 (cpu,dc=a#out), which is cpu,dc=z#out here"),
        "{e}"
    );
    let mut unsorted = PartialStates::new(Aggregator::Sum, groups());
    unsorted.fold(1, 0, (0, 0), Some(1.0)).unwrap();
    let e = unsorted
        .fold(0, 5, (5, 0), Some(1.0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("rows must ascend by (group, time)"), "{e}");
    let e = build(Aggregator::Sum, LEFT)
        .merge(&build(Aggregator::Avg, RIGHT))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot merge states of sum with states of avg"),
        "{e}"
    );
}

/// A selector over i64 / u64 keeps values f64 cannot hold (2^53 + 1, the
/// ends of the types) through the Arrow form (an `Int64` / `UInt64` value
/// column) and the merge; by hand: max(2^53, 2^53 + 1) = 2^53 + 1, first
/// is the smaller tie (left, series 0), last the larger (right, series 1).
#[test]
fn integer_selector_states_stay_exact_through_arrow_and_merge() {
    use crate::partial::StateValue;
    use crate::storage::ValueType;
    const B: i64 = 9_007_199_254_740_992;
    let one = |agg, v: i64, series| {
        let mut s = PartialStates::typed(agg, groups(), ValueType::Integer);
        s.push_raw((0, 0), (1, false, v, 0.0), (0, series));
        let batch = s.to_record_batch().unwrap();
        assert_eq!(batch.schema().field(4).data_type(), &DataType::Int64);
        PartialStates::from_record_batch(&batch, agg, groups()).unwrap()
    };
    for (agg, left, right, want) in [
        (Aggregator::Max, B, B + 1, B + 1),
        (Aggregator::Min, i64::MIN + 1, i64::MIN, i64::MIN),
        (Aggregator::First, B + 1, B, B + 1),
        (Aggregator::Last, B + 1, B, B),
        (Aggregator::MimMax, i64::MAX - 1, i64::MAX, i64::MAX),
    ] {
        let merged = one(agg, left, 0).merge(&one(agg, right, 1)).unwrap();
        assert_eq!(merged.value_type(), ValueType::Integer, "{agg}");
        assert_eq!(i64::result(&merged, 0), Some(Some(want)), "{agg}");
        // the f64 view rounds, as the DataFusion integration reads it
        assert_eq!(merged.result(0), Some(want as f64), "{agg}");
    }
    let mut u = PartialStates::typed(Aggregator::Max, groups(), ValueType::Unsigned);
    u.push_raw((0, 0), (2, false, u64::MAX, 0.0), (0, 0));
    u.push_raw((1, 0), (0, false, 0u64, 0.0), (0, 0));
    let batch = u.to_record_batch().unwrap();
    assert_eq!(batch.schema().field(4).data_type(), &DataType::UInt64);
    let back = PartialStates::from_record_batch(&batch, Aggregator::Max, groups()).unwrap();
    assert_eq!(u64::result(&back, 0), Some(Some(u64::MAX)));
    // a row that saw only nulls stays null
    assert_eq!(u64::result(&back, 1), Some(None));
    assert_eq!(i64::result(&back, 0), None, "not i64 states");
    // states of two types do not merge; integer states do not fold f64
    let e = back
        .merge(&build(Aggregator::Max, LEFT))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("states of unsigned values with states of float"),
        "{e}"
    );
    let mut ints = PartialStates::typed(Aggregator::Min, groups(), ValueType::Integer);
    let e = ints.fold(0, 0, (0, 0), Some(1.0)).unwrap_err().to_string();
    assert!(e.contains("fold takes f64 values"), "{e}");
    // sum over integers has no exact state: f64 as always
    let sum = PartialStates::typed(Aggregator::Sum, groups(), ValueType::Integer);
    assert_eq!(sum.value_type(), ValueType::Float);
}
