//! The query object and cooperative async: per-query cancellation (by
//! `cancel`, by dropping the stream, by timeout), the stream's schema, and a
//! caller's runtime that keeps running while queries do (`docs/library.md`).
//!
//! A `SlowAdapter` wraps the in-memory store and delays each scan batch,
//! either blocking its thread (standing for CPU work) or awaiting a tokio
//! timer (standing for a network adapter); with batch size 1 every point is
//! one batch, so a query of `N` points takes `N` delays.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, Float64Array};
use async_trait::async_trait;
use futures::StreamExt;
use tsq_engine::{
    Capabilities, Result as EngineResult, ScanRequest, SeriesRegistry, SeriesScan, StorageAdapter,
    TimelineBatch,
};
use tsq_planner::{Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;

/// How a scan batch is delayed.
#[derive(Debug, Clone, Copy)]
enum Delay {
    /// `std::thread::sleep`: blocks the thread, like CPU-bound work.
    Blocking(Duration),
    /// `tokio::time::sleep`: needs a tokio runtime with timers.
    Timer(Duration),
}

#[derive(Debug)]
struct SlowAdapter {
    inner: MemoryAdapter,
    delay: Delay,
    batches: Arc<AtomicUsize>,
}

struct SlowScan {
    inner: Box<dyn SeriesScan>,
    delay: Delay,
    batches: Arc<AtomicUsize>,
}

#[async_trait]
impl SeriesScan for SlowScan {
    fn registry(&self) -> &Arc<SeriesRegistry> {
        self.inner.registry()
    }

    async fn next_batch(&mut self, max_rows: usize) -> EngineResult<Option<TimelineBatch>> {
        match self.delay {
            Delay::Blocking(d) => std::thread::sleep(d),
            Delay::Timer(d) => tokio::time::sleep(d).await,
        }
        self.batches.fetch_add(1, Ordering::SeqCst);
        self.inner.next_batch(max_rows).await
    }
}

#[async_trait]
impl StorageAdapter for SlowAdapter {
    fn name(&self) -> &str {
        "slow"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }
    async fn scan(&self, request: &ScanRequest) -> EngineResult<Box<dyn SeriesScan>> {
        Ok(Box::new(SlowScan {
            inner: self.inner.scan(request).await?,
            delay: self.delay,
            batches: Arc::clone(&self.batches),
        }))
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

/// `cpu,host=a usage=t bytes=2t` at t = 0..points, and a small `mem`
/// measurement; a session with batch size 1 over it, and the counter of
/// scan batches.
fn slow_session(points: i64, delay: Delay, threads: usize) -> (Session, Arc<AtomicUsize>) {
    let m = MemoryAdapter::new();
    let usage: Vec<(i64, f64)> = (0..points).map(|t| (t, t as f64)).collect();
    let bytes: Vec<(i64, f64)> = (0..points).map(|t| (t, 2.0 * t as f64)).collect();
    m.insert("cpu", &[("host", "a")], "usage", &usage);
    m.insert("cpu", &[("host", "a")], "bytes", &bytes);
    m.insert("mem", &[("host", "a")], "used", &[(0, 7.0)]);
    let batches = Arc::new(AtomicUsize::new(0));
    let adapter = SlowAdapter {
        inner: m,
        delay,
        batches: Arc::clone(&batches),
    };
    let config = SessionConfig::new()
        .with_batch_size(1)
        .with_threads(threads);
    (Session::new(Arc::new(adapter), config), batches)
}

/// The values of the last column of `batches`, in order.
fn last_column(batches: &[arrow::record_batch::RecordBatch]) -> Vec<f64> {
    let mut out = Vec::new();
    for b in batches {
        let col = b.column(b.num_columns() - 1);
        let col = col.as_any().downcast_ref::<Float64Array>().unwrap();
        out.extend((0..col.len()).map(|i| col.value(i)));
    }
    out
}

const MS: Duration = Duration::from_millis(1);

/// A current-thread runtime with timers: the caller's own runtime, apart
/// from the dedicated one the queries run on.
fn callers_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[tokio::test]
async fn collect_and_schema() {
    let (s, _) = slow_session(3, Delay::Blocking(Duration::ZERO), 2);
    let q = s.sql("SELECT usage, bytes FROM cpu").await.unwrap();
    let names: Vec<String> = q
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["time", "host", "usage", "bytes"]);
    let batches = q.collect().await.unwrap();
    // bytes = 2t for t = 0, 1, 2
    assert_eq!(last_column(&batches), [0.0, 2.0, 4.0]);
}

#[tokio::test]
async fn an_empty_stream_still_has_its_schema() {
    let (s, _) = slow_session(3, Delay::Blocking(Duration::ZERO), 1);
    let q = s
        .sql("SELECT usage FROM cpu WHERE time >= 100 AND time < 200")
        .await
        .unwrap();
    let mut stream = q.stream().await.unwrap();
    let names: Vec<String> = stream
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["time", "host", "usage"]);
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn explain_does_not_scan_and_analyze_does() {
    let (s, batches) = slow_session(4, Delay::Blocking(Duration::ZERO), 1);
    let text = s.sql("SELECT usage FROM cpu").await.unwrap();
    let text = text.explain(false).await.unwrap();
    assert!(text.contains("ScanOp"), "{text}");
    assert_eq!(batches.load(Ordering::SeqCst), 0);
    let q = s.sql("SELECT usage FROM cpu").await.unwrap();
    let text = q.explain(true).await.unwrap();
    // 4 one-row batches and the final empty poll
    assert_eq!(batches.load(Ordering::SeqCst), 5);
    assert!(text.contains("rows_out=4 batches=4"), "{text}");
    assert!(text.contains("total rows: 4"), "{text}");
    // the result stage and what it did: 4 points in, 4 rows out
    assert!(
        text.contains(
            "result: MergeJoin: on=(group, time) inputs=1, metrics=[rows_in=4 rows_out=4 batches=4"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn cancelling_one_query_leaves_the_other_running() {
    let (s, _) = slow_session(20, Delay::Timer(2 * MS), 2);
    let a = s.sql("SELECT usage FROM cpu").await.unwrap();
    let b = s.sql("SELECT bytes FROM cpu").await.unwrap();
    a.cancel();
    let (a, b) = tokio::join!(a.collect(), b.collect());
    assert!(a.unwrap_err().is_cancelled());
    let expected: Vec<f64> = (0..20).map(|t| 2.0 * t as f64).collect();
    assert_eq!(last_column(&b.unwrap()), expected);
}

#[tokio::test]
async fn a_session_cancel_is_reset_when_the_stream_is_dropped() {
    let (s, _) = slow_session(5, Delay::Timer(MS), 1);
    let stream = s.stream("SELECT usage FROM cpu").await.unwrap();
    s.cancel_token().cancel();
    drop(stream);
    let out = s.sql("SELECT used FROM mem").await.unwrap();
    assert_eq!(last_column(&out.collect().await.unwrap()), [7.0]);
}

#[tokio::test]
async fn dropping_the_stream_stops_the_query() {
    let (s, batches) = slow_session(1000, Delay::Timer(2 * MS), 2);
    let mut stream = s.stream("SELECT usage FROM cpu").await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.num_rows(), 1);
    drop(stream);
    tokio::time::sleep(100 * MS).await;
    let stopped_at = batches.load(Ordering::SeqCst);
    tokio::time::sleep(100 * MS).await;
    assert_eq!(batches.load(Ordering::SeqCst), stopped_at);
    assert!(stopped_at < 100, "{stopped_at} of 1000 batches scanned");
}

#[tokio::test]
async fn a_two_column_query_streams_its_first_batch_early() {
    for threads in [1, 2] {
        let (s, batches) = slow_session(200, Delay::Blocking(Duration::ZERO), threads);
        let mut stream = s.stream("SELECT usage, bytes FROM cpu").await.unwrap();
        let first = stream.next().await.unwrap().unwrap();
        // one row (batch size 1): t = 0, usage 0, bytes 0
        assert_eq!(first.num_rows(), 1);
        assert_eq!(last_column(std::slice::from_ref(&first)), [0.0]);
        // two pipelines of 200 one-point batches (+ the empty end poll
        // each): the first row needed one batch of each; the rest is what
        // the bounded channels let run ahead, per pipeline at most one
        // batch read, two in its channel and one being sent, for each of
        // the three result rows the query's own channel (two) and its send
        // can hold: 2 × (4 + 3) + 2 scans in progress
        let scanned = batches.load(Ordering::SeqCst);
        assert!(
            scanned <= 16,
            "threads {threads}: {scanned} of 402 scan batches before the first row"
        );
        let mut rows = 1;
        while let Some(batch) = stream.next().await {
            rows += batch.unwrap().num_rows();
        }
        assert_eq!(rows, 200);
        assert_eq!(batches.load(Ordering::SeqCst), 402);
    }
}

#[tokio::test]
async fn dictionary_tags_on_request() {
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Int32Type};

    let m = MemoryAdapter::new();
    for (host, v) in [("a", 1.0), ("b", 2.0), ("a", 3.0)] {
        let t = v as i64;
        m.insert("cpu", &[("host", host)], "usage", &[(t, v)]);
    }
    let adapter: Arc<dyn tsq_engine::StorageAdapter> = Arc::new(m);
    let plain = Session::new(Arc::clone(&adapter), SessionConfig::new());
    let q = plain.sql("SELECT usage FROM cpu").await.unwrap();
    assert_eq!(q.schema().field(1).data_type(), &DataType::Utf8);
    let config = SessionConfig::new().with_dictionary_tags(true);
    let s = Session::new(Arc::clone(&adapter), config);
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    for sql in [
        "SELECT usage FROM cpu",
        "SELECT usage FROM cpu ORDER BY usage DESC LIMIT 5",
    ] {
        let q = s.sql(sql).await.unwrap();
        assert_eq!(q.schema().field(1).data_type(), &dictionary);
        let batches = q.collect().await.unwrap();
        let hosts = batches[0].column(1).as_dictionary::<Int32Type>();
        let values = hosts.values().as_string::<i32>();
        let decoded: Vec<&str> = hosts
            .keys()
            .values()
            .iter()
            .map(|&k| values.value(k as usize))
            .collect();
        // rows ordered by host then time: a@1, a@3, b@2; by usage: 3, 2, 1
        let want = if sql.contains("ORDER") {
            ["a", "b", "a"]
        } else {
            ["a", "a", "b"]
        };
        assert_eq!(decoded, want, "{sql}");
        assert_eq!(values.len(), 2, "{sql}: each host once in the dictionary");
    }
    // the materialized executor casts its result the same way
    let config = SessionConfig::new()
        .with_dictionary_tags(true)
        .with_executor(tsq_planner::Executor::Materialized);
    let s = Session::new(adapter, config);
    let batches = s
        .sql("SELECT usage FROM cpu")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(batches[0].schema().field(1).data_type(), &dictionary);
    let hosts = batches[0].column(1).as_dictionary::<Int32Type>();
    assert_eq!(hosts.keys().values(), &[0, 0, 1]);
}

#[tokio::test]
async fn dropping_a_two_column_stream_stops_every_pipeline_task() {
    let (s, batches) = slow_session(1000, Delay::Timer(2 * MS), 2);
    let mut stream = s.stream("SELECT usage, bytes FROM cpu").await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.num_rows(), 1);
    drop(stream);
    tokio::time::sleep(100 * MS).await;
    let stopped_at = batches.load(Ordering::SeqCst);
    tokio::time::sleep(100 * MS).await;
    // neither pipeline task scans on (each would add a batch every 2 ms)
    assert_eq!(batches.load(Ordering::SeqCst), stopped_at);
    assert!(stopped_at < 100, "{stopped_at} of 2000 batches scanned");
}

#[tokio::test]
async fn a_timeout_stops_the_query() {
    let (s, _) = slow_session(1000, Delay::Blocking(2 * MS), 2);
    let started = Instant::now();
    let q = s.sql("SELECT usage, bytes FROM cpu").await.unwrap();
    let err = q.with_timeout(50 * MS).collect().await.unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    assert_eq!(err.to_string(), "query timed out after 50ms");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_ticker_keeps_ticking_during_a_one_second_query() {
    let rt = callers_runtime();
    rt.block_on(async {
        // 100 points, 10 ms of blocking work each: about 1 s of query
        let (s, _) = slow_session(100, Delay::Blocking(10 * MS), 2);
        let q = s.sql("SELECT usage FROM cpu").await.unwrap();
        let query = tokio::spawn(q.collect());
        let mut ticks = 0;
        let mut worst = Duration::ZERO;
        let mut last = Instant::now();
        while !query.is_finished() {
            tokio::time::sleep(5 * MS).await;
            worst = worst.max(last.elapsed());
            last = Instant::now();
            ticks += 1;
        }
        let rows = query.await.unwrap().unwrap();
        assert_eq!(last_column(&rows).len(), 100);
        // 20 ms expected; 100 ms leaves room for a loaded CI machine
        assert!(worst < 100 * MS, "the runtime stalled for {worst:?}");
        assert!(ticks >= 20, "only {ticks} ticks");
    });
}

#[test]
fn timeout_on_the_callers_runtime_returns_promptly() {
    let rt = callers_runtime();
    rt.block_on(async {
        let (s, batches) = slow_session(200, Delay::Blocking(5 * MS), 2);
        let q = s.sql("SELECT usage, bytes FROM cpu").await.unwrap();
        let started = Instant::now();
        let out = tokio::time::timeout(20 * MS, q.collect()).await;
        let took = started.elapsed();
        assert!(out.is_err(), "the query finished within 20 ms");
        assert!(took < 100 * MS, "timeout returned after {took:?}");
        // the dropped future cancelled the query
        tokio::time::sleep(100 * MS).await;
        let stopped_at = batches.load(Ordering::SeqCst);
        tokio::time::sleep(100 * MS).await;
        assert_eq!(batches.load(Ordering::SeqCst), stopped_at);
    });
}

#[test]
fn dropping_an_execute_stops_its_query() {
    // execute runs the statement as one task on the dedicated runtime:
    // the caller giving up must abort it, and so stop the scan
    let rt = callers_runtime();
    rt.block_on(async {
        let (s, batches) = slow_session(1000, Delay::Timer(2 * MS), 2);
        let out = tokio::time::timeout(30 * MS, s.execute("SELECT usage FROM cpu")).await;
        assert!(out.is_err(), "the query finished within 30 ms");
        tokio::time::sleep(100 * MS).await;
        let stopped_at = batches.load(Ordering::SeqCst);
        tokio::time::sleep(100 * MS).await;
        assert_eq!(batches.load(Ordering::SeqCst), stopped_at);
        assert!(stopped_at < 200, "{stopped_at} of 1000 batches scanned");
        // and the session still answers
        let out = s.execute("SELECT used FROM mem").await.unwrap();
        assert_eq!(out.num_rows(), 1);
    });
}

#[test]
fn an_adapter_awaiting_tokio_timers_works_at_every_thread_count() {
    for threads in [1, 2, 4] {
        // no runtime at all on the caller's side
        let (s, _) = slow_session(5, Delay::Timer(MS), threads);
        let batches = futures::executor::block_on(async {
            s.sql("SELECT usage, bytes FROM cpu").await?.collect().await
        })
        .unwrap_or_else(|e| panic!("threads={threads}: {e}"));
        assert_eq!(last_column(&batches), [0.0, 2.0, 4.0, 6.0, 8.0]);
    }
}
