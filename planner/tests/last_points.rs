//! `LastPointsOp` (`docs/architecture.md`, "Last point as one operator"):
//! the rows of one operator for every last-point column equal the rows of
//! one pipeline per column, exactly (types included), over the memory
//! adapter and over a TSM store with files and cache, with float, integer
//! and unsigned fields, groups missing fields, fields ending at different
//! times and a NaN newest point; hand-worked values for the small cases;
//! and the lookup split by series gives the same rows as one lookup.

use std::sync::Arc;

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use tsq_engine::ops::last_points::LastPointsOp;
use tsq_engine::{Operator, SeriesInfo, Spawner, StorageAdapter, TaskContext};
use tsq_planner::{parse_statement, plan_query, Catalog, QueryKind, Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;
use tsq_storage::tsm::value::Values;
use tsq_storage::tsm::wal::SeriesPoints;
use tsq_storage::tsm::{Store, StoreOptions, TsmAdapter};

/// 2^53 + 1: not a float, so only an exact integer path keeps it.
const BIG: i64 = 9_007_199_254_740_993;

/// One series' points of one field.
#[derive(Clone)]
enum Points {
    F(Vec<(i64, f64)>),
    I(Vec<(i64, i64)>),
    U(Vec<(i64, u64)>),
}

/// The data set (times in ns), `cpu` tagged `dc` and `host`:
///
/// ```text
///            f (float)              i (integer)          u (unsigned)       n (float)
/// eu/a   (0,1.5) (10,2.5)      (0,-7) (20,-9)          (5,3)              (0,1) (10,NaN)
/// eu/b   (0,4)   (30,6)        (10,11)                 -                  (5,2)
/// us/c   (10,8)                -                       (15,u64::MAX)      -
/// us/d   -                     (25,2^53+1)             -                  -
/// ```
fn data() -> Vec<(&'static str, &'static str, &'static str, Points)> {
    vec![
        ("eu", "a", "f", Points::F(vec![(0, 1.5), (10, 2.5)])),
        ("eu", "a", "i", Points::I(vec![(0, -7), (20, -9)])),
        ("eu", "a", "u", Points::U(vec![(5, 3)])),
        ("eu", "a", "n", Points::F(vec![(0, 1.0), (10, f64::NAN)])),
        ("eu", "b", "f", Points::F(vec![(0, 4.0), (30, 6.0)])),
        ("eu", "b", "i", Points::I(vec![(10, 11)])),
        ("eu", "b", "n", Points::F(vec![(5, 2.0)])),
        ("us", "c", "f", Points::F(vec![(10, 8.0)])),
        ("us", "c", "u", Points::U(vec![(15, u64::MAX)])),
        ("us", "d", "i", Points::I(vec![(25, BIG)])),
    ]
}

fn memory() -> Arc<dyn StorageAdapter> {
    let m = MemoryAdapter::new();
    for (dc, host, field, points) in data() {
        let tags = [("dc", dc), ("host", host)];
        match points {
            Points::F(p) => m.try_insert("cpu", &tags, field, &p).unwrap(),
            Points::I(p) => m.try_insert("cpu", &tags, field, &p).unwrap(),
            Points::U(p) => m.try_insert("cpu", &tags, field, &p).unwrap(),
        }
    }
    Arc::new(m)
}

/// The points of `data` with time `< 12` in TSM files, the rest in the
/// cache only.
fn tsm(dir: &std::path::Path) -> Arc<dyn StorageAdapter> {
    let _ = std::fs::remove_dir_all(dir);
    let (store, _) = Store::open(dir, StoreOptions::default()).unwrap();
    for older in [true, false] {
        let mut batch = Vec::new();
        for (dc, host, field, points) in data() {
            let keep = |t: i64| (t < 12) == older;
            let (times, values) = match points {
                Points::F(p) => {
                    let p: Vec<_> = p.into_iter().filter(|x| keep(x.0)).collect();
                    (
                        p.iter().map(|x| x.0).collect::<Vec<_>>(),
                        Values::Float(p.iter().map(|x| x.1).collect()),
                    )
                }
                Points::I(p) => {
                    let p: Vec<_> = p.into_iter().filter(|x| keep(x.0)).collect();
                    (
                        p.iter().map(|x| x.0).collect(),
                        Values::Integer(p.iter().map(|x| x.1).collect()),
                    )
                }
                Points::U(p) => {
                    let p: Vec<_> = p.into_iter().filter(|x| keep(x.0)).collect();
                    (
                        p.iter().map(|x| x.0).collect(),
                        Values::Unsigned(p.iter().map(|x| x.1).collect()),
                    )
                }
            };
            if !times.is_empty() {
                batch.push(SeriesPoints {
                    series: SeriesInfo::new("cpu", &[("dc", dc), ("host", host)], field),
                    times,
                    values,
                });
            }
        }
        store.write_series(batch).unwrap();
        if older {
            store.flush().unwrap();
        }
    }
    Arc::new(TsmAdapter::new(Arc::new(store)))
}

/// The result of `q` (schema and rows in one batch) and its EXPLAIN ANALYZE.
async fn run(
    adapter: &Arc<dyn StorageAdapter>,
    config: SessionConfig,
    q: &str,
) -> (RecordBatch, String) {
    let s = Session::new(Arc::clone(adapter), config);
    let out = s.execute(q).await.unwrap();
    let QueryKind::Rows { schema, batches } = &out.kind else {
        panic!("rows expected");
    };
    let joined = concat_batches(schema, batches).unwrap();
    let analyzed = s.execute(&format!("EXPLAIN ANALYZE {q}")).await.unwrap();
    let QueryKind::Explain(text) = analyzed.kind else {
        panic!("EXPLAIN text expected");
    };
    (joined, text)
}

/// Every row as `cell|cell|...`, integers printed exactly.
fn lines(batch: &RecordBatch) -> Vec<String> {
    let options = FormatOptions::default().with_null("null");
    let formatters: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
        .collect();
    (0..batch.num_rows())
        .map(|r| {
            formatters
                .iter()
                .map(|f| f.value(r).to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

const QUERIES: &[&str] = &[
    "SELECT host, last(f), last(i), last(u) FROM cpu WHERE time >= 0 GROUP BY host SAMPLE BY ALL last",
    "SELECT dc, last(f), last(i), last(u) FROM cpu WHERE time >= 0 GROUP BY dc SAMPLE BY ALL last",
    "SELECT last(f), last(i), last(u) FROM cpu WHERE time >= 0 SAMPLE BY ALL last",
    "SELECT host, last(f), last(i), last(u) FROM cpu WHERE time >= 0 AND time < 12 GROUP BY host SAMPLE BY ALL last",
    "SELECT host, last(f), last(i) FROM cpu WHERE time >= 0 AND host != 'b' GROUP BY host SAMPLE BY ALL last",
    "SELECT last(*) FROM cpu GROUP BY host",
    "SELECT last(*) FROM cpu GROUP BY dc, host",
    "SELECT host, last(n), last(f) FROM cpu WHERE time >= 0 GROUP BY host SAMPLE BY ALL last",
    "SELECT host, last(f) + last(i) AS s, last(u) FROM cpu WHERE time >= 0 GROUP BY host SAMPLE BY ALL last ORDER BY s DESC LIMIT 2",
    "SELECT host, last(u) FROM cpu WHERE time >= 0 GROUP BY host SAMPLE BY ALL last LIMIT 1",
];

/// Every query with the operator on and off, at batch sizes 1 and 4096
/// and 1 to 3 threads, gives the same schema and rows; on, EXPLAIN shows
/// one `LastPointsOp` and no `LastPointOp`.
async fn same_rows_on_and_off(adapter: &Arc<dyn StorageAdapter>) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for q in QUERIES {
        let (reference, off_text) = run(
            adapter,
            SessionConfig::new()
                .with_threads(1)
                .with_last_points_as_one(false),
            q,
        )
        .await;
        assert!(!off_text.contains("LastPointsOp: adapter="), "{off_text}");
        for batch_size in [1, 4096] {
            for threads in 1..=3 {
                let config = SessionConfig::new()
                    .with_threads(threads)
                    .with_batch_size(batch_size);
                let (got, text) = run(adapter, config, q).await;
                assert_eq!(
                    got, reference,
                    "{q} (batch {batch_size}, {threads} threads)"
                );
                assert_eq!(text.matches("LastPointsOp: adapter=").count(), 1, "{text}");
                assert_eq!(text.matches("LastPointOp:").count(), 0, "{text}");
            }
        }
        all.push(lines(&reference));
    }
    all
}

/// The hand-worked rows of the first, second, third, fourth and eighth
/// queries (the others are checked against the per-column plan only).
fn check_by_hand(rows: &[Vec<String>]) {
    let t0 = "1970-01-01T00:00:00Z";
    let want_host = [
        format!("{t0}|a|2.5|-9|3"),
        format!("{t0}|b|6.0|11|null"),
        format!("{t0}|c|8.0|null|18446744073709551615"),
        format!("{t0}|d|null|{BIG}|null"),
    ];
    assert_eq!(rows[0], want_host);
    // across the series of a group: the last series (ascending key) with a point
    let want_dc = [
        format!("{t0}|eu|6.0|11|3"),
        format!("{t0}|us|8.0|{BIG}|18446744073709551615"),
    ];
    assert_eq!(rows[1], want_dc);
    assert_eq!(rows[2], [format!("{t0}|8.0|{BIG}|18446744073709551615")]);
    // before 12: a's i at 0, b's f at 0; c's u (15) and d's i (25) are out
    let want_early = [
        format!("{t0}|a|2.5|-7|3"),
        format!("{t0}|b|4.0|11|null"),
        format!("{t0}|c|8.0|null|null"),
    ];
    assert_eq!(rows[3], want_early);
    // a's newest n is NaN: `last` skips it, the column is scanned
    let want_nan = [
        format!("{t0}|a|1.0|2.5"),
        format!("{t0}|b|2.0|6.0"),
        format!("{t0}|c|null|8.0"),
    ];
    assert_eq!(rows[7], want_nan);
}

#[tokio::test]
async fn one_operator_equals_one_pipeline_per_column_in_memory() {
    let rows = same_rows_on_and_off(&memory()).await;
    check_by_hand(&rows);
}

#[tokio::test]
async fn one_operator_equals_one_pipeline_per_column_on_tsm_files_and_cache() {
    let dir = std::env::temp_dir().join(format!("tsq-last-points-{}", std::process::id()));
    let adapter = tsm(&dir);
    let rows = same_rows_on_and_off(&adapter).await;
    check_by_hand(&rows);
    // the same rows as in memory
    assert_eq!(rows, same_rows_on_and_off(&memory()).await);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The rows of `LastPointsOp` over `q`'s columns with its lookup split
/// into up to `split` chunks (every selection large enough), run on the
/// current tokio runtime; with the EXPLAIN line.
async fn split_rows(
    adapter: &Arc<dyn StorageAdapter>,
    q: &str,
    split: usize,
) -> (Vec<String>, String) {
    let statement = parse_statement(q).unwrap();
    let query = statement.query().unwrap();
    let fields = adapter.field_types("cpu").await.unwrap();
    let catalog = Catalog {
        adapter: adapter.name().to_string(),
        capabilities: adapter.capabilities(),
        measurement_exists: true,
        fields: fields.iter().map(|(f, _)| f.clone()).collect(),
        tag_keys: adapter.tag_keys("cpu").await.unwrap(),
        field_types: fields,
    };
    let plan = plan_query(query, &catalog, None).unwrap();
    assert!(plan.last_points_as_one);
    let specs = plan.pipelines.iter().map(|p| p.spec.clone()).collect();
    let mut op = LastPointsOp::new(Arc::clone(adapter), specs, split)
        .unwrap()
        .with_split_min_series(0);
    let handle = tokio::runtime::Handle::current();
    let ctx = TaskContext::with_batch_size(2).with_spawner(Spawner::new(move |task| {
        handle.spawn(task);
    }));
    op.open(&ctx).await.unwrap();
    let mut out = Vec::new();
    while let Some(b) = op.next_columns().await.unwrap() {
        for r in 0..b.num_rows() {
            let info = b.groups().get(r as u32).unwrap();
            let mut cells = vec![
                b.times()[r].to_string(),
                info.tag("host").unwrap_or("").to_string(),
            ];
            let options = FormatOptions::default().with_null("null");
            for c in b.columns() {
                let f = ArrayFormatter::try_new(c.as_ref(), &options).unwrap();
                cells.push(format!("{}:{}", c.data_type(), f.value(r)));
            }
            out.push(cells.join("|"));
        }
    }
    op.close().await.unwrap();
    (out, op.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn the_split_lookup_gives_the_rows_of_one_lookup() {
    let dir = std::env::temp_dir().join(format!("tsq-last-points-split-{}", std::process::id()));
    let q = "SELECT host, last(f), last(i), last(u), last(n) FROM cpu WHERE time >= 0 GROUP BY host SAMPLE BY ALL last";
    for adapter in [memory(), tsm(&dir)] {
        let (one, line) = split_rows(&adapter, q, 1).await;
        assert!(!line.contains("split"), "{line}");
        assert_eq!(
            one[0], "0|a|Float64:2.5|Int64:-9|UInt64:3|Float64:1.0",
            "{one:?}"
        );
        assert_eq!(one.len(), 4);
        for split in [2, 3] {
            let (rows, line) = split_rows(&adapter, q, split).await;
            assert_eq!(rows, one, "{split} chunks");
            assert!(
                line.contains(&format!("lookup split into {split} chunks")),
                "{line}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
