//! One scan for several fields (`docs/architecture.md`, "One scan for
//! several fields"): over a TSM store wrapped in an adapter that counts its
//! scan calls, a query of ten fields (and one of two fields split into
//! partitions) starts every field's and partition's scan with one
//! `scan_group` call (one index walk) instead of one scan per field and
//! partition, and gives exactly the rows of the materialized executor,
//! which scans each field on its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use tsq_engine::{
    Capabilities, Partition, Result as EngineResult, ScanGroup, ScanRequest, SeriesInfo,
    SeriesScan, StorageAdapter,
};
use tsq_planner::{Executor, QueryKind, Session, SessionConfig};
use tsq_storage::tsm::value::Values;
use tsq_storage::tsm::wal::SeriesPoints;
use tsq_storage::tsm::{Store, StoreOptions, TsmAdapter};

/// Calls of `scan`, `scan_partition`, `scan_group`, and the members of the
/// groups.
#[derive(Debug, Default)]
struct Calls {
    scan: AtomicUsize,
    scan_partition: AtomicUsize,
    scan_group: AtomicUsize,
    members: AtomicUsize,
}

impl Calls {
    fn get(&self) -> [usize; 4] {
        [
            &self.scan,
            &self.scan_partition,
            &self.scan_group,
            &self.members,
        ]
        .map(|c| c.load(Ordering::SeqCst))
    }
}

/// The TSM adapter, counting the calls that start scans.
#[derive(Debug)]
struct Counting {
    inner: TsmAdapter,
    calls: Arc<Calls>,
}

#[async_trait]
impl StorageAdapter for Counting {
    fn name(&self) -> &str {
        "counting"
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn scan(&self, request: &ScanRequest) -> EngineResult<Box<dyn SeriesScan>> {
        self.calls.scan.fetch_add(1, Ordering::SeqCst);
        self.inner.scan(request).await
    }
    async fn scan_partition(
        &self,
        request: &ScanRequest,
        partition: &Partition,
    ) -> EngineResult<Box<dyn SeriesScan>> {
        self.calls.scan_partition.fetch_add(1, Ordering::SeqCst);
        self.inner.scan_partition(request, partition).await
    }
    async fn scan_group(&self, group: &ScanGroup) -> EngineResult<Vec<Box<dyn SeriesScan>>> {
        self.calls.scan_group.fetch_add(1, Ordering::SeqCst);
        let members = group.members.len();
        self.calls.members.fetch_add(members, Ordering::SeqCst);
        self.inner.scan_group(group).await
    }
    async fn time_span(&self, request: &ScanRequest) -> EngineResult<Option<(i64, i64)>> {
        self.inner.time_span(request).await
    }
    async fn measurements(&self) -> EngineResult<Vec<String>> {
        self.inner.measurements().await
    }
    async fn fields(&self, measurement: &str) -> EngineResult<Vec<String>> {
        self.inner.fields(measurement).await
    }
    async fn tag_keys(&self, measurement: &str) -> EngineResult<Vec<String>> {
        self.inner.tag_keys(measurement).await
    }
    async fn tag_values(&self, measurement: &str, key: &str) -> EngineResult<Vec<String>> {
        self.inner.tag_values(measurement, key).await
    }
    async fn series_count(&self, measurement: &str) -> EngineResult<usize> {
        self.inner.series_count(measurement).await
    }
}

const S: i64 = 1_000_000_000;

/// 6 hosts in 3 data centres × fields f0..f9, 20 points each (t = 10 s·k,
/// integer values, so that every sum is exact); the first 10 points of
/// each flushed to a TSM file, the rest in the cache.
fn store(name: &str) -> TsmAdapter {
    let dir = std::env::temp_dir().join(format!("tsq-shared-scan-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    let write = |ks: std::ops::Range<i64>| {
        let mut all = Vec::new();
        for h in 0..6 {
            let (host, dc) = (format!("h{h}"), format!("dc{}", h % 3));
            for f in 0..10 {
                all.push(SeriesPoints {
                    series: SeriesInfo::new(
                        "cpu",
                        &[("host", &host), ("dc", &dc)],
                        &format!("f{f}"),
                    ),
                    times: ks.clone().map(|k| k * 10 * S).collect(),
                    values: Values::Float(ks.clone().map(|k| (k * (f + 1) + h) as f64).collect()),
                });
            }
        }
        all
    };
    store.write_series(write(0..10)).unwrap();
    store.flush().unwrap();
    store.write_series(write(10..20)).unwrap();
    TsmAdapter::new(Arc::new(store))
}

/// The result of `sql` as one batch.
async fn rows(session: &Session, sql: &str) -> RecordBatch {
    let out = session.execute(sql).await.unwrap();
    let QueryKind::Rows { schema, batches } = out.kind else {
        panic!("{sql} gave no rows");
    };
    concat_batches(&schema, &batches).unwrap()
}

fn avg_of(fields: &[usize]) -> String {
    let cols: Vec<String> = fields.iter().map(|f| format!("avg(f{f})")).collect();
    format!(
        "SELECT {} FROM cpu WHERE time >= 0 AND time < 200s GROUP BY dc SAMPLE BY 1m avg FILL(null)",
        cols.join(", ")
    )
}

#[tokio::test]
async fn ten_fields_start_their_scans_with_one_call() {
    let tsm = store("ten");
    let oracle = Session::new(
        Arc::new(tsm.clone()),
        SessionConfig::new().with_executor(Executor::Materialized),
    );
    let all: Vec<usize> = (0..10).collect();
    // (fields, threads, members: fields × partitions per field)
    let cases = [
        (all.clone(), 1, 10),
        (all.clone(), 2, 10),
        (all.clone(), 3, 10),
        // 4 threads for 2 columns: 2 partitions each
        (vec![3, 7], 4, 4),
    ];
    for (fields, threads, members) in cases {
        let sql = avg_of(&fields);
        let calls = Arc::new(Calls::default());
        let adapter = Counting {
            inner: tsm.clone(),
            calls: Arc::clone(&calls),
        };
        let config = SessionConfig::new().with_threads(threads);
        let session = Session::new(Arc::new(adapter), config);
        let got = rows(&session, &sql).await;
        // scan, scan_partition, scan_group, members
        assert_eq!(
            calls.get(),
            [0, 0, 1, members],
            "{sql} on {threads} threads"
        );
        let want = rows(&oracle, &sql).await;
        assert_eq!(got, want, "{sql} on {threads} threads");
        // 3 dcs × 4 buckets (0, 1m, 2m, 3m); time, dc, the fields
        assert_eq!(got.num_rows(), 12);
        assert_eq!(got.num_columns(), 2 + fields.len());
    }
}

#[tokio::test]
async fn a_range_resolved_at_open_is_not_shared() {
    // No time bound and a fill on one thread: each ScanOp resolves its
    // range from its own field's data when it opens, so it starts its own
    // scan (docs/architecture.md, "One scan for several fields").
    let tsm = store("unbounded");
    let calls = Arc::new(Calls::default());
    let adapter = Counting {
        inner: tsm.clone(),
        calls: Arc::clone(&calls),
    };
    let session = Session::new(Arc::new(adapter), SessionConfig::new().with_threads(1));
    let sql = "SELECT avg(f0), avg(f1) FROM cpu GROUP BY dc SAMPLE BY 1m avg FILL(null)";
    let got = rows(&session, sql).await;
    assert_eq!(calls.get(), [2, 0, 0, 0]);
    let oracle = Session::new(
        Arc::new(tsm),
        SessionConfig::new().with_executor(Executor::Materialized),
    );
    assert_eq!(got, rows(&oracle, sql).await);
}

#[tokio::test]
async fn the_shared_call_is_made_while_the_plan_is_built() {
    // Made on the query's task before any chain opens: a partition that
    // had to wait for another's call would be woken on that partition's
    // thread and could not run beside it (docs/architecture.md, "One scan
    // for several fields").
    let calls = Arc::new(Calls::default());
    let adapter: Arc<dyn StorageAdapter> = Arc::new(Counting {
        inner: store("built"),
        calls: Arc::clone(&calls),
    });
    let session = Session::new(Arc::clone(&adapter), SessionConfig::new());
    let statement = tsq_planner::parse_statement(&avg_of(&[2, 5])).unwrap();
    let plan = session.plan(&statement).await.unwrap().0;
    let physical = tsq_planner::physical::build_physical(&plan, &adapter, 4)
        .await
        .unwrap();
    // two columns × two partitions, no operator opened yet
    assert_eq!(calls.get(), [0, 0, 1, 4]);
    drop(physical);
}
