//! Per-operator execution metrics, the numbers `EXPLAIN ANALYZE` prints.
//!
//! Every operator owns one [`OperatorMetrics`]: it times its own compute in
//! `next` (not the time spent waiting on its child), counts rows and batches
//! on the way in and out, and records the peak bytes it held (from its
//! [`MemoryReservation`](crate::memory::MemoryReservation)).

use std::fmt;
use std::time::{Duration, Instant};

/// Counters kept by one operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorMetrics {
    /// Rows received from children (or read from storage for a scan).
    pub rows_in: u64,
    /// Rows emitted.
    pub rows_out: u64,
    /// Batches emitted.
    pub batches_out: u64,
    /// Time spent computing inside this operator, children excluded.
    pub elapsed_compute: Duration,
    /// Most bytes held at once by this operator's state.
    pub peak_bytes: usize,
}

impl OperatorMetrics {
    /// Starts a compute timer; pass it to [`OperatorMetrics::stop`].
    #[inline]
    pub fn start(&self) -> Instant {
        Instant::now()
    }

    /// Adds the time since `started` to `elapsed_compute`.
    #[inline]
    pub fn stop(&mut self, started: Instant) {
        self.elapsed_compute += started.elapsed();
    }

    /// Records `rows` received.
    #[inline]
    pub fn record_in(&mut self, rows: usize) {
        self.rows_in += rows as u64;
    }

    /// Records one emitted batch of `rows` rows.
    #[inline]
    pub fn record_out(&mut self, rows: usize) {
        self.rows_out += rows as u64;
        self.batches_out += 1;
    }

    /// Raises the peak to `bytes` if it is higher.
    #[inline]
    pub fn record_bytes(&mut self, bytes: usize) {
        self.peak_bytes = self.peak_bytes.max(bytes);
    }
}

impl fmt::Display for OperatorMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rows_in={} rows_out={} batches={} elapsed={:.3}ms peak_bytes={}",
            self.rows_in,
            self.rows_out,
            self.batches_out,
            self.elapsed_compute.as_secs_f64() * 1e3,
            self.peak_bytes
        )
    }
}
