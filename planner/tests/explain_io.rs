//! A plain `EXPLAIN` reads no storage: over an adapter that counts its
//! calls, `EXPLAIN` of every kind of query (fills and `SAMPLE BY ALL`
//! without a time bound, whose range comes from the data when the query
//! runs; a `SAMPLE BY` under the bucket limit; two value columns; each
//! aggregation operator) makes no scan and no time-span look-up. The only
//! calls are the catalog's (measurements, fields, tag keys), which
//! planning needs to know the columns. `EXPLAIN ANALYZE` runs the query,
//! so it does scan.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tsq_engine::{Capabilities, Result as EngineResult, ScanRequest, SeriesScan, StorageAdapter};
use tsq_planner::{QueryKind, Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;

/// Calls per method, in the order `scan, time_span, measurements, fields,
/// tag_keys, tag_values, series_count`.
#[derive(Debug, Default)]
struct Calls([AtomicUsize; 7]);

impl Calls {
    fn bump(&self, i: usize) {
        self.0[i].fetch_add(1, Ordering::SeqCst);
    }

    fn get(&self) -> [usize; 7] {
        std::array::from_fn(|i| self.0[i].load(Ordering::SeqCst))
    }

    fn reset(&self) {
        for c in &self.0 {
            c.store(0, Ordering::SeqCst);
        }
    }
}

#[derive(Debug)]
struct Counting {
    inner: MemoryAdapter,
    caps: Capabilities,
    calls: Arc<Calls>,
}

#[async_trait]
impl StorageAdapter for Counting {
    fn name(&self) -> &str {
        "counting"
    }
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
    async fn scan(&self, request: &ScanRequest) -> EngineResult<Box<dyn SeriesScan>> {
        self.calls.bump(0);
        self.inner.scan(request).await
    }
    async fn time_span(&self, request: &ScanRequest) -> EngineResult<Option<(i64, i64)>> {
        self.calls.bump(1);
        self.inner.time_span(request).await
    }
    async fn measurements(&self) -> EngineResult<Vec<String>> {
        self.calls.bump(2);
        self.inner.measurements().await
    }
    async fn fields(&self, measurement: &str) -> EngineResult<Vec<String>> {
        self.calls.bump(3);
        self.inner.fields(measurement).await
    }
    async fn tag_keys(&self, measurement: &str) -> EngineResult<Vec<String>> {
        self.calls.bump(4);
        self.inner.tag_keys(measurement).await
    }
    async fn tag_values(&self, measurement: &str, key: &str) -> EngineResult<Vec<String>> {
        self.calls.bump(5);
        self.inner.tag_values(measurement, key).await
    }
    async fn series_count(&self, measurement: &str) -> EngineResult<usize> {
        self.calls.bump(6);
        self.inner.series_count(measurement).await
    }
}

/// A session of `threads` threads over the counting adapter.
fn session(caps: Capabilities, threads: usize) -> (Session, Arc<Calls>) {
    let m = MemoryAdapter::new();
    m.insert(
        "cpu",
        &[("host", "a")],
        "usage",
        &[(0, 1.0), (60_000_000_000, 2.0)],
    );
    m.insert("cpu", &[("host", "b")], "usage", &[(30_000_000_000, 3.0)]);
    m.insert("cpu", &[("host", "a")], "bytes", &[(0, 5.0)]);
    let calls = Arc::new(Calls::default());
    let adapter = Counting {
        inner: m,
        caps,
        calls: Arc::clone(&calls),
    };
    let config = SessionConfig::new().with_threads(threads);
    (Session::new(Arc::new(adapter), config), calls)
}

const QUERIES: &[&str] = &[
    "SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(zero)",
    "SELECT first(usage) FROM cpu GROUP BY host SAMPLE BY ALL",
    "SELECT sum(usage) FROM cpu SAMPLE BY 1ns",
    "SELECT p99(usage) FROM cpu SAMPLE BY 1m FILL(linear)",
    "SELECT sum(usage) FROM cpu",
    "SELECT usage FROM cpu WHERE host = 'a'",
    "SELECT sum(usage), max(rate(bytes)) FROM cpu GROUP BY host SAMPLE BY 1m FILL(previous)",
    "SELECT avg(usage) FROM cpu WHERE time >= 0 AND time < 2m SAMPLE BY 1m FILL(null)",
    "SELECT last(*) FROM cpu GROUP BY host",
];

#[tokio::test]
async fn plain_explain_makes_no_data_call() {
    // two threads: partitioned plans, which read nothing either
    for (caps, threads) in [
        (Capabilities::ALL, 1),
        (Capabilities::NONE, 1),
        (Capabilities::ALL, 2),
    ] {
        let (session, calls) = session(caps, threads);
        for q in QUERIES {
            calls.reset();
            let out = session.execute(&format!("EXPLAIN {q}")).await.unwrap();
            let QueryKind::Explain(text) = out.kind else {
                panic!("EXPLAIN {q} gave rows");
            };
            assert!(text.contains("pipeline 1 of"), "{text}");
            // scan, time_span, measurements, fields, tag_keys, tag_values, series_count
            assert_eq!(
                calls.get(),
                [0, 0, 1, 1, 1, 0, 0],
                "EXPLAIN {q} ({threads})"
            );
        }
    }
}

#[tokio::test]
async fn explain_shows_a_range_from_the_data_as_such() {
    let sql = "EXPLAIN SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(zero)";
    let (one, _) = session(Capabilities::ALL, 1);
    let plain = one.sql(sql).await.unwrap().explain(false).await;
    let plain = plain.unwrap();
    assert!(
        plain.contains("PipeAggOp: agg=sum group_by=[] buckets=from data\n"),
        "{plain}"
    );
    // partitioned: each partial step shows it too
    let (two, _) = session(Capabilities::ALL, 2);
    let plain = two.sql(sql).await.unwrap().explain(false).await;
    let plain = plain.unwrap();
    for k in 1..=2 {
        let line = format!(
            "PartialAggOp: agg=sum group_by=[] buckets=from data partition={k}/2 by series\n"
        );
        assert!(plain.contains(&line), "{plain}");
    }
}

#[tokio::test]
async fn explain_analyze_reads_and_resolves_the_range() {
    let (session, calls) = session(Capabilities::ALL, 1);
    let out = session
        .execute("EXPLAIN ANALYZE SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(zero)")
        .await
        .unwrap();
    let QueryKind::Explain(text) = out.kind else {
        panic!("EXPLAIN ANALYZE gave rows");
    };
    // data from 0 to 60s: buckets 0, 1m
    assert!(
        text.contains("PipeAggOp: agg=sum group_by=[] buckets=2, metrics=[rows_in=4 rows_out=2 "),
        "{text}"
    );
    let [scans, spans, ..] = calls.get();
    // the bucket limit and the scan each look the span up once
    assert_eq!((scans, spans), (1, 2));
}

#[tokio::test]
async fn partitions_share_one_resolved_range() {
    let (session, calls) = session(Capabilities::ALL, 2);
    let out = session
        .execute("EXPLAIN ANALYZE SELECT sum(usage) FROM cpu SAMPLE BY 1m FILL(zero)")
        .await
        .unwrap();
    let QueryKind::Explain(text) = out.kind else {
        panic!("EXPLAIN ANALYZE gave rows");
    };
    // data from 0 to 60s: buckets 0, 1m in both partitions; host=a has
    // 2 points, host=b 1, each bucket gets a row from each series
    for k in 1..=2 {
        let line = format!("PartialAggOp: agg=sum group_by=[] buckets=2 partition={k}/2 by series");
        assert!(text.contains(&line), "{text}");
    }
    assert!(
        text.contains("FinalAggOp: agg=sum group_by=[] partitions=2 (merges partial states), metrics=[rows_in=4 rows_out=2 "),
        "{text}"
    );
    let [scans, spans, ..] = calls.get();
    // one scan per partition; the span is looked up by the bucket limit and
    // once for both partitions when the pipeline is built
    assert_eq!((scans, spans), (2, 2));
}
