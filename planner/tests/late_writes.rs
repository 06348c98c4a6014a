//! A query without a time bound takes its range from the data when it
//! opens (`docs/semantics.md` §5); a point written between that look-up and
//! the scan is later than the range, and must not reach the operators
//! (before the scan was clipped to the resolved range, it failed the query
//! with "point … is outside the query range", as `tsq serve`'s load test
//! found under concurrent writes).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tsq_engine::{Capabilities, Result as EngineResult, ScanRequest, SeriesScan, StorageAdapter};
use tsq_planner::{Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;

const S: i64 = 1_000_000_000;

/// A memory store that writes `late` (once) just before its first scan,
/// as a concurrent writer would between the range look-up and the scan.
#[derive(Debug)]
struct WriteAfterSpan {
    inner: MemoryAdapter,
    late: (i64, f64),
    written: AtomicBool,
}

#[async_trait]
impl StorageAdapter for WriteAfterSpan {
    fn name(&self) -> &str {
        "write-after-span"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }
    async fn scan(&self, request: &ScanRequest) -> EngineResult<Box<dyn SeriesScan>> {
        if !self.written.swap(true, Ordering::SeqCst) {
            self.inner
                .insert("cpu", &[("host", "a")], "usage", &[self.late]);
        }
        self.inner.scan(request).await
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

#[tokio::test]
async fn a_point_written_after_the_range_was_resolved_is_not_read() {
    // two threads: the range is resolved once for both partitions, and
    // each partition's scan reads only it
    for threads in [1, 2] {
        let m = MemoryAdapter::new();
        m.insert("cpu", &[("host", "a")], "usage", &[(0, 1.0), (30 * S, 3.0)]);
        let adapter = WriteAfterSpan {
            inner: m,
            late: (100 * S, 7.0),
            written: AtomicBool::new(false),
        };
        let config = SessionConfig::new().with_threads(threads);
        let session = Session::new(Arc::new(adapter), config);
        let q = "SELECT sum(usage) FROM cpu SAMPLE BY 10s FILL(zero)";
        // The range is [0, 30s] as looked up: buckets 0, 10, 20, 30 s.
        let first = session.execute(q).await.unwrap();
        assert_eq!(
            common::rows(&first),
            [
                "0|1".to_string(),
                format!("{}|0", 10 * S),
                format!("{}|0", 20 * S),
                format!("{}|3", 30 * S),
            ],
            "{threads} threads"
        );
        // The next query sees the late point: [0, 100s], 11 buckets.
        let second = common::rows(&session.execute(q).await.unwrap());
        assert_eq!(second.len(), 11, "{threads} threads");
        assert_eq!(second[10], format!("{}|7", 100 * S));
    }
}
