//! Test data shared by the integration tests: a small measurement with a
//! missing tag and sparse fields, loaded into tsq adapters and, as the
//! oracle, into a DataFusion `MemTable` of wide rows built naively.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use tsq_engine::SeriesInfo;
use tsq_storage::memory::MemoryAdapter;
use tsq_storage::tsm::value::Values;
use tsq_storage::tsm::wal::SeriesPoints;
use tsq_storage::tsm::{Store, StoreOptions, TsmAdapter};

/// 1 s in ns.
pub const S: i64 = 1_000_000_000;

/// One point: measurement, tags, field, time, value.
#[derive(Debug, Clone)]
pub struct Point {
    pub measurement: &'static str,
    pub tags: Vec<(&'static str, String)>,
    pub field: &'static str,
    pub time: i64,
    pub value: f64,
}

/// `cpu` (tags `dc`, `host`; fields `idle`, `usage`) and `mem` (tag `host`,
/// field `used`). Host `h3` has no `dc`; `idle` is missing at every third
/// second and `usage` at every fifth, so some rows have one field only.
pub fn points() -> Vec<Point> {
    let mut out = Vec::new();
    for h in 0..4 {
        let mut tags = vec![("host", format!("h{h}"))];
        if h < 3 {
            tags.push(("dc", if h % 2 == 0 { "eu" } else { "us" }.to_string()));
        }
        for sec in 0..30i64 {
            let time = sec * S + h as i64;
            if sec % 5 != 0 {
                out.push(Point {
                    measurement: "cpu",
                    tags: tags.clone(),
                    field: "usage",
                    time,
                    value: ((h as i64 * 37 + sec * 11) % 100) as f64,
                });
            }
            if sec % 3 != 0 {
                out.push(Point {
                    measurement: "cpu",
                    tags: tags.clone(),
                    field: "idle",
                    time,
                    value: 100.0 - sec as f64 - h as f64 / 4.0,
                });
            }
        }
        out.push(Point {
            measurement: "mem",
            tags: vec![("host", format!("h{h}"))],
            field: "used",
            time: 7 * S,
            value: h as f64 * 1.5,
        });
    }
    out
}

fn tag_refs(p: &Point) -> Vec<(&str, &str)> {
    p.tags.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The points in tsq's in-memory adapter.
pub fn memory_adapter(points: &[Point]) -> MemoryAdapter {
    let adapter = MemoryAdapter::new();
    for p in points {
        adapter.insert(p.measurement, &tag_refs(p), p.field, &[(p.time, p.value)]);
    }
    adapter
}

/// The points in a TSM store under `dir`: the first half flushed to a TSM
/// file, the rest left in the cache (both paths of the adapter).
pub fn tsm_adapter(points: &[Point], dir: &std::path::Path) -> TsmAdapter {
    let (store, _) = Store::open(dir, StoreOptions::default()).expect("open store");
    let write = |ps: &[Point]| {
        let batch = ps
            .iter()
            .map(|p| SeriesPoints {
                series: SeriesInfo::new(p.measurement, &tag_refs(p), p.field),
                times: vec![p.time],
                values: Values::Float(vec![p.value]),
            })
            .collect();
        store.write_series(batch).expect("write");
    };
    let half = points.len() / 2;
    write(&points[..half]);
    store.flush().expect("flush");
    write(&points[half..]);
    TsmAdapter::new(Arc::new(store))
}

/// A DataFusion context holding the points as wide rows, one `MemTable`
/// per measurement: the oracle.
pub fn oracle(points: &[Point]) -> SessionContext {
    let ctx = SessionContext::new();
    for m in ["cpu", "mem"] {
        let ps: Vec<&Point> = points.iter().filter(|p| p.measurement == m).collect();
        let mut tag_keys: Vec<&str> = ps.iter().flat_map(|p| p.tags.iter().map(|t| t.0)).collect();
        tag_keys.sort();
        tag_keys.dedup();
        let mut fields: Vec<&str> = ps.iter().map(|p| p.field).collect();
        fields.sort();
        fields.dedup();
        // (sorted tags, time) -> field -> value
        type Key = (Vec<(&'static str, String)>, i64);
        let mut rows: BTreeMap<Key, BTreeMap<&str, f64>> = BTreeMap::new();
        for p in &ps {
            let mut tags = p.tags.clone();
            tags.sort();
            rows.entry((tags, p.time))
                .or_default()
                .insert(p.field, p.value);
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(
            TimestampNanosecondArray::from_iter_values(rows.keys().map(|k| k.1))
                .with_timezone("UTC"),
        )];
        let mut schema = vec![Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        )];
        for key in &tag_keys {
            let values = rows
                .keys()
                .map(|(tags, _)| tags.iter().find(|t| t.0 == *key).map(|t| t.1.clone()));
            columns.push(Arc::new(values.collect::<StringArray>()));
            schema.push(Field::new(*key, DataType::Utf8, true));
        }
        for field in &fields {
            let values = rows.values().map(|v| v.get(field).copied());
            columns.push(Arc::new(values.collect::<Float64Array>()));
            schema.push(Field::new(*field, DataType::Float64, true));
        }
        let schema = Arc::new(Schema::new(schema));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns).expect("oracle batch");
        let table = MemTable::try_new(schema, vec![vec![batch]]).expect("mem table");
        ctx.register_table(m, Arc::new(table)).expect("register");
    }
    ctx
}

/// Every row of `batches` as its cells' text (dictionaries and strings
/// alike), sorted.
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let row = b
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(r) || c.logical_nulls().is_some_and(|n| n.is_null(r)) {
                        "NULL".to_string()
                    } else {
                        array_value_to_string(c, r).expect("printable cell")
                    }
                })
                .collect();
            out.push(row);
        }
    }
    out.sort();
    out
}

/// The rows of `sql` in `ctx`.
pub async fn run(ctx: &SessionContext, sql: &str) -> Vec<Vec<String>> {
    let batches = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("planning {sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("running {sql}: {e}"));
    rows(&batches)
}

/// The physical plan of `sql` as text.
pub async fn physical_plan(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx
        .sql(&format!("EXPLAIN {sql}"))
        .await
        .expect("explain plans")
        .collect()
        .await
        .expect("explain runs");
    let mut text = String::new();
    for b in &batches {
        let kind = b
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("plan_type");
        let plan = b
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("plan");
        for r in 0..b.num_rows() {
            if kind.value(r) == "physical_plan" {
                text.push_str(plan.value(r));
            }
        }
    }
    text
}
