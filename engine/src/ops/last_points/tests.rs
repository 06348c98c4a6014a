//! Unit tests of `LastPointsOp`'s planning check and group table; the
//! results against the per-column plan are in `planner/tests/last_points.rs`.

use std::sync::Arc;

use super::check_last_points;
use super::table::GroupTable;
use crate::batch::TimelineBatch;
use crate::registry::{SeriesInfo, SeriesRegistry};
use crate::spec::{Aggregator, Downsample, FillPolicy, GroupBy, Interval, PipelineSpec};
use crate::storage::{ScanRequest, TimeRange};

fn spec(field: &str, agg: Aggregator, start: i64) -> PipelineSpec {
    PipelineSpec {
        scan: ScanRequest {
            range: TimeRange::new(start, 100),
            ..ScanRequest::new("cpu", field)
        },
        downsample: Some(Downsample {
            interval: Interval::All,
            agg: Aggregator::Last,
            fill: FillPolicy::None,
            max_gap: None,
        }),
        rate: None,
        aggregate: Some(agg),
        group_by: GroupBy::Tags(vec!["host".into()]),
        output_name: format!("{agg}({field})"),
    }
}

#[test]
fn only_last_columns_of_one_selection_make_one_operator() {
    let (a, b) = (
        spec("a", Aggregator::Last, 0),
        spec("b", Aggregator::Last, 0),
    );
    assert_eq!(check_last_points(&[&a, &b]), None);
    let max = spec("b", Aggregator::Max, 0);
    assert_eq!(
        check_last_points(&[&a, &max]).as_deref(),
        Some("max(b): not last across timelines")
    );
    let later = spec("b", Aggregator::Last, 5);
    assert_eq!(
        check_last_points(&[&a, &later]).as_deref(),
        Some("last(b) reads another selection than last(a)")
    );
    let mut star = spec("b", Aggregator::Last, 0);
    star.group_by = GroupBy::All;
    assert!(check_last_points(&[&star]).is_some());
    assert_eq!(check_last_points(&[]).as_deref(), Some("no value column"));
}

/// One point per series `(host, time, value)` of field `f`.
fn batch(points: &[(&str, i64, Option<i64>)]) -> TimelineBatch {
    let infos = points
        .iter()
        .map(|(h, _, _)| SeriesInfo::new("cpu", &[("host", h)], "f"))
        .collect();
    let registry = Arc::new(SeriesRegistry::new(infos));
    let n = points.len() as u32;
    TimelineBatch::from_sorted_run_arrays(
        (0..n).collect(),
        points.iter().map(|p| p.1).collect(),
        Arc::new(arrow::array::Int64Array::from(
            points.iter().map(|p| p.2).collect::<Vec<_>>(),
        )),
        (0..=n).collect(),
        registry,
    )
    .unwrap()
}

/// Cells of a finished table as `host=value` (`null`) per row.
fn rows(table: GroupTable) -> Vec<String> {
    let out = table.finish(7, 2).unwrap();
    let mut rows = Vec::new();
    for b in &out {
        assert!(b.num_rows() <= 2);
        let values = b.columns()[0]
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        for r in 0..b.num_rows() {
            let host = b.groups().get(r as u32).unwrap().tag("host").unwrap_or("");
            let v = if values.is_valid(r) {
                values.value(r).to_string()
            } else {
                "null".into()
            };
            assert_eq!(b.times()[r], 7);
            rows.push(format!("{host}={v}"));
        }
    }
    rows
}

use arrow::array::Array;

#[test]
fn a_later_chunk_wins_and_nulls_only_fill_absent_groups() {
    // chunk 1: hosts b (null) and a (5); chunk 2: b (9), c (null)
    let mut first = GroupTable::new("cpu", &["host".into()], 1);
    first.add(0, &batch(&[("b", 3, None), ("a", 1, Some(5))]));
    let mut second = GroupTable::new("cpu", &["host".into()], 1);
    second.add(0, &batch(&[("b", 2, Some(9)), ("c", 4, None)]));
    first.absorb(second);
    // key order; b's valid value from the later chunk replaces its null
    assert_eq!(rows(first), ["a=5", "b=9", "c=null"]);
}

/// Every row of a finished table as `host: v0 v1 ...` (`-` for null).
fn wide_rows(table: GroupTable) -> Vec<String> {
    let mut rows = Vec::new();
    for b in &table.finish(7, 3).unwrap() {
        for r in 0..b.num_rows() {
            let mut row = format!(
                "{}:",
                b.groups().get(r as u32).unwrap().tag("host").unwrap()
            );
            for c in b.columns() {
                let v = c
                    .as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .unwrap();
                let cell = if v.is_valid(r) {
                    v.value(r).to_string()
                } else {
                    "-".into()
                };
                row.push(' ');
                row.push_str(&cell);
            }
            rows.push(row);
        }
    }
    rows
}

#[test]
fn registries_with_the_same_groups_share_the_group_mapping() {
    // Each column its own registry (as each field of the in-memory store):
    // 0 and 1 and 3 group into hosts a, b, c (1 and 3 list the series in
    // another order), 2 into b, d.
    let mut table = GroupTable::new("cpu", &["host".into()], 4);
    table.add(
        0,
        &batch(&[("a", 1, Some(1)), ("b", 1, Some(2)), ("c", 1, Some(3))]),
    );
    table.add(
        1,
        &batch(&[("c", 1, Some(30)), ("a", 1, None), ("b", 1, Some(20))]),
    );
    table.add(2, &batch(&[("d", 1, Some(400)), ("b", 1, Some(200))]));
    table.add(
        3,
        &batch(&[("b", 1, Some(8)), ("c", 1, Some(9)), ("a", 1, Some(7))]),
    );
    // worked out by hand: each host's value per column, null where the
    // column has no point of the host or only a null one
    assert_eq!(
        wide_rows(table),
        ["a: 1 - - 7", "b: 2 20 200 8", "c: 3 30 - 9", "d: - - 400 -"]
    );
}

#[test]
fn a_few_points_of_a_large_registry_find_the_groups_made_before() {
    // column 0 makes groups a, b, c from its whole registry; column 1 has
    // two points (b and z) of a registry of 40 series: they are grouped one
    // by one and must find b among the groups already made
    let mut table = GroupTable::new("cpu", &["host".into()], 2);
    table.add(
        0,
        &batch(&[("a", 1, Some(1)), ("b", 1, Some(2)), ("c", 1, Some(3))]),
    );
    let mut hosts: Vec<String> = (0..38).map(|i| format!("h{i:02}")).collect();
    hosts.extend(["b".to_string(), "z".to_string()]);
    let infos = hosts
        .iter()
        .map(|h| SeriesInfo::new("cpu", &[("host", h)], "g"))
        .collect();
    let registry = Arc::new(SeriesRegistry::new(infos));
    let wide = TimelineBatch::from_sorted_run_arrays(
        vec![38, 39].into(),
        vec![1, 1].into(),
        Arc::new(arrow::array::Int64Array::from(vec![Some(20), Some(26)])),
        vec![0, 1, 2],
        registry,
    )
    .unwrap();
    table.add(1, &wide);
    assert_eq!(wide_rows(table), ["a: 1 -", "b: 2 20", "c: 3 -", "z: - 26"]);
}
