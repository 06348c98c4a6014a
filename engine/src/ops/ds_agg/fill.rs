//! Fill of empty buckets (`docs/semantics.md` §5), streamed per timeline.
//!
//! [`Filler`] sees the non-empty buckets of one timeline in time order and
//! emits, before each of them, the fill rows of the gap since the previous
//! one; at the end of the timeline it emits the trailing fill. It only ever
//! remembers the last non-empty bucket, so no timeline is buffered:
//!
//! ```text
//!   grid:     0   1   2   3   4   5   6
//!   buckets:      a           b
//!   null:     ∅   a   ∅   ∅   b   ∅   ∅      (same for nan / value)
//!   previous:     a   a   a   b   b   b
//!   linear:       a   ·   ·   b              (· interpolated)
//! ```

use crate::error::Result;
use crate::spec::{BucketGrid, FillPolicy};

use super::sink::Sink;

/// Fill state of the current timeline.
#[derive(Debug)]
pub(super) struct Filler {
    policy: FillPolicy,
    /// The query range's buckets; always set when `policy` is not `None`.
    grid: Option<BucketGrid>,
    /// Last non-empty bucket of the current timeline: `(grid index, value)`.
    last: Option<(i64, Option<f64>)>,
}

impl Filler {
    /// A filler for `policy` over `grid` (required unless the policy is `None`).
    pub(super) fn new(policy: FillPolicy, grid: Option<BucketGrid>) -> Self {
        Filler {
            policy,
            grid,
            last: None,
        }
    }

    /// Emits the fill before bucket `key` (stamped `stamp`), then the bucket.
    #[inline]
    pub(super) fn bucket(
        &mut self,
        series: u32,
        key: i64,
        stamp: i64,
        value: Option<f64>,
        sink: &mut Sink,
    ) -> Result<()> {
        if let Some(grid) = self.grid.filter(|_| self.policy != FillPolicy::None) {
            let from = match self.last {
                Some((k, _)) => k + 1,
                None if self.fills_edges() => 0,
                None => key,
            };
            for k in from..key {
                let v = self.gap_value(&grid, k, (key, value));
                sink.push(series, grid.time(k as usize), v)?;
            }
        }
        sink.push(series, stamp, value)?;
        self.last = Some((key, value));
        Ok(())
    }

    /// Emits the trailing fill of the timeline and forgets it.
    pub(super) fn end(&mut self, series: u32, sink: &mut Sink) -> Result<()> {
        let last = self.last.take();
        let (Some(grid), Some((key, value))) = (self.grid, last) else {
            return Ok(());
        };
        let carried = match self.policy {
            FillPolicy::Previous => value,
            _ if self.fills_edges() => self.constant(),
            _ => return Ok(()),
        };
        for k in key + 1..grid.count as i64 {
            sink.push(series, grid.time(k as usize), carried)?;
        }
        Ok(())
    }

    /// True for the constant fills, which cover the whole grid.
    fn fills_edges(&self) -> bool {
        matches!(
            self.policy,
            FillPolicy::Null | FillPolicy::NaN | FillPolicy::Value(_)
        )
    }

    /// The value of a constant fill.
    fn constant(&self) -> Option<f64> {
        match self.policy {
            FillPolicy::NaN => Some(f64::NAN),
            FillPolicy::Value(x) => Some(x),
            _ => None,
        }
    }

    /// The fill of empty bucket `k`, before the non-empty bucket `next`.
    fn gap_value(&self, grid: &BucketGrid, k: i64, next: (i64, Option<f64>)) -> Option<f64> {
        let prev = self.last;
        match (self.policy, prev) {
            (FillPolicy::Previous, Some((_, v))) => v,
            (FillPolicy::Linear, Some((k0, v0))) => {
                let (k1, v1) = next;
                let (t0, t1, t) = (
                    grid.time(k0 as usize),
                    grid.time(k1 as usize),
                    grid.time(k as usize),
                );
                let (v0, v1) = (v0?, v1?);
                Some(v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64)
            }
            _ => self.constant(),
        }
    }
}
