//! `GET /metrics` in the Prometheus text format (version 0.0.4), written
//! by hand: a dozen counters, one gauge of open queries and one latency
//! histogram do not need a metrics crate and its registry
//! (`docs/server.md`, "Metrics"). Store-side values (cache bytes,
//! compactions, WAL fsyncs) are read from the store at scrape time.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::HttpState;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the query latency buckets.
const LATENCY_BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A latency histogram with [`LATENCY_BOUNDS`] (cumulative on output).
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket; the last one is `+Inf`.
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BOUNDS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = LATENCY_BOUNDS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {}", self.count.load(Ordering::Relaxed));
    }
}

/// Everything the server counts. Shared by the HTTP and Flight SQL sides.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Write requests received (any outcome).
    pub write_requests: Counter,
    /// Points durably written.
    pub points_written: Counter,
    /// Lines rejected (parse errors, type conflicts, over-long lines).
    pub rejected_lines: Counter,
    /// Queries received (any outcome).
    pub queries: Counter,
    /// Queries that failed (refused, bad SQL, failed while running).
    pub query_errors: Counter,
    /// Queries running now.
    pub open_queries: AtomicU64,
    /// Time from a query's arrival to its last byte (or its client leaving).
    pub query_latency: Histogram,
}

impl Metrics {
    /// A new set of zeroes.
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    /// Marks a query open until the guard is dropped, which records its
    /// latency.
    pub fn query_started(self: &Arc<Self>) -> QueryGuard {
        self.queries.inc();
        self.open_queries.fetch_add(1, Ordering::Relaxed);
        QueryGuard {
            metrics: Arc::clone(self),
            started: Instant::now(),
        }
    }
}

/// An open query (see [`Metrics::query_started`]).
#[derive(Debug)]
pub struct QueryGuard {
    metrics: Arc<Metrics>,
    started: Instant,
}

impl Drop for QueryGuard {
    fn drop(&mut self) {
        self.metrics.open_queries.fetch_sub(1, Ordering::Relaxed);
        self.metrics.query_latency.observe(self.started.elapsed());
    }
}

/// Store-side values read at scrape time.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StoreGauges {
    pub(crate) cache_bytes: u64,
    pub(crate) compactions: u64,
    pub(crate) wal_fsyncs: u64,
}

/// The whole exposition text.
pub(crate) fn render(m: &Metrics, store: StoreGauges) -> String {
    let mut out = String::new();
    let counters: [(&str, &str, u64); 7] = [
        (
            "tsq_http_write_requests_total",
            "Write requests received.",
            m.write_requests.get(),
        ),
        (
            "tsq_points_written_total",
            "Points durably written.",
            m.points_written.get(),
        ),
        (
            "tsq_write_rejected_lines_total",
            "Lines of line protocol rejected.",
            m.rejected_lines.get(),
        ),
        ("tsq_queries_total", "Queries received.", m.queries.get()),
        (
            "tsq_query_errors_total",
            "Queries refused or failed.",
            m.query_errors.get(),
        ),
        (
            "tsq_compactions_total",
            "TSM compaction merges since the store was opened.",
            store.compactions,
        ),
        (
            "tsq_wal_fsyncs_total",
            "WAL fsyncs since the store was opened (group commit shares them).",
            store.wal_fsyncs,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    let gauges: [(&str, &str, u64); 2] = [
        (
            "tsq_open_queries",
            "Queries running now.",
            m.open_queries.load(Ordering::Relaxed),
        ),
        (
            "tsq_cache_bytes",
            "Bytes of points in the store's write cache.",
            store.cache_bytes,
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
    m.query_latency.render(
        &mut out,
        "tsq_query_duration_seconds",
        "Query latency from arrival to the last byte sent.",
    );
    out
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
    let gauges = match state.db.store() {
        Some(store) => StoreGauges {
            cache_bytes: store.cache_bytes() as u64,
            compactions: store.compactions(),
            wal_fsyncs: store.wal_fsyncs(),
        },
        None => StoreGauges::default(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state.metrics, gauges),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::new();
        m.query_latency.observe(Duration::from_micros(500));
        m.query_latency.observe(Duration::from_millis(30));
        m.query_latency.observe(Duration::from_secs(20));
        let text = render(&m, StoreGauges::default());
        assert!(text.contains("tsq_query_duration_seconds_bucket{le=\"0.001\"} 1\n"));
        assert!(text.contains("tsq_query_duration_seconds_bucket{le=\"0.025\"} 1\n"));
        assert!(text.contains("tsq_query_duration_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("tsq_query_duration_seconds_bucket{le=\"10\"} 2\n"));
        assert!(text.contains("tsq_query_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("tsq_query_duration_seconds_sum 20.0305\n"));
        assert!(text.contains("tsq_query_duration_seconds_count 3\n"));
    }

    #[test]
    fn a_guard_counts_an_open_query_until_dropped() {
        let m = Metrics::new();
        let g = m.query_started();
        assert!(render(&m, StoreGauges::default()).contains("\ntsq_open_queries 1\n"));
        drop(g);
        let text = render(&m, StoreGauges::default());
        assert!(text.contains("\ntsq_open_queries 0\n"));
        assert!(text.contains("\ntsq_queries_total 1\n"));
        assert!(text.contains("tsq_query_duration_seconds_count 1\n"));
    }
}
