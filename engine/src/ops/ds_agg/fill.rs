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
//!   seed s before the range (lookback), FILL(previous):
//!   previous: s   a   a   a   b   b   b
//!   FILL(previous, 2 buckets): the gap a..b (3 buckets) is not bridged
//!   previous: s   a           b   b   b
//! ```
//!
//! `previous` and `linear` start from the newest point before the range
//! (a [`Lookback`] seed, standing for the bucket that holds it) and bridge
//! at most `max_gap` between the stamps of two non-empty buckets; at the end
//! of the range, where no next bucket is known, `previous` carries a value
//! while the bucket is at most `max_gap` after it (`docs/semantics.md` §5).

use crate::error::Result;
use crate::lookback::Lookback;
use crate::registry::SeriesInfo;
use crate::spec::{BucketGrid, FillPolicy};
use crate::value::TimelineValue;

use super::sink::Sink;

/// The last non-empty bucket of a timeline: its grid index (negative for a
/// seed before the grid), its stamp and its value.
#[derive(Debug, Clone, Copy)]
struct Last<V> {
    key: i64,
    stamp: i64,
    value: Option<V>,
}

/// Fill state of the current timeline, whose values have type `V`: f64, or
/// an integer type when the fill keeps it (`value::downsample_keeps_type`:
/// never `linear` or `nan`).
#[derive(Debug)]
pub(super) struct Filler<V = f64> {
    policy: FillPolicy,
    /// The query range's buckets; always set when `policy` is not `None`.
    grid: Option<BucketGrid>,
    /// The longest gap `previous` / `linear` bridge, ns.
    max_gap: Option<i64>,
    /// The newest point before the range of each series, if looked up.
    lookback: Option<Lookback>,
    /// Last non-empty bucket of the current timeline.
    last: Option<Last<V>>,
}

impl<V: TimelineValue> Filler<V> {
    /// A filler for `policy` over `grid` (required unless the policy is `None`).
    pub(super) fn new(policy: FillPolicy, grid: Option<BucketGrid>) -> Self {
        Filler {
            policy,
            grid,
            max_gap: None,
            lookback: None,
            last: None,
        }
    }

    /// Bridges gaps of at most `max_gap` ns only (`previous`, `linear`).
    pub(super) fn with_max_gap(mut self, max_gap: Option<i64>) -> Self {
        self.max_gap = max_gap;
        self
    }

    /// Seeds each timeline from `lookback` (`previous`, `linear`).
    pub(super) fn with_lookback(mut self, lookback: Option<Lookback>) -> Self {
        self.lookback = lookback;
        self
    }

    /// Starts a timeline: its last bucket is its lookback seed, if any. The
    /// seed stands for the bucket that holds it; when that is the grid's
    /// first bucket (a range start inside a bucket), it counts as just
    /// before it, so that bucket can still be filled.
    pub(super) fn begin(&mut self, series: Option<&SeriesInfo>) {
        self.last = None;
        let seeded = matches!(self.policy, FillPolicy::Previous | FillPolicy::Linear);
        let (Some(grid), Some(lookback), Some(series)) = (self.grid, &self.lookback, series) else {
            return;
        };
        let Some((t, value)) = lookback.get_as::<V>(series).filter(|_| seeded) else {
            return;
        };
        let key = (t - grid.start).div_euclid(grid.width).min(0);
        self.last = Some(Last {
            key: key.min(-1),
            stamp: grid.start + key * grid.width,
            value,
        });
    }

    /// Emits the fill before bucket `key` (stamped `stamp`), then the bucket.
    #[inline]
    pub(super) fn bucket(
        &mut self,
        series: u32,
        key: i64,
        stamp: i64,
        value: Option<V>,
        sink: &mut Sink<V>,
    ) -> Result<()> {
        if let Some(grid) = self.grid.filter(|_| self.policy != FillPolicy::None) {
            let from = match self.last {
                Some(last) => (last.key + 1).max(0),
                None if self.fills_edges() => 0,
                None => key,
            };
            for k in from..key {
                if let Some(v) = self.gap_value(&grid, k, stamp, value) {
                    sink.push(series, grid.time(k as usize), v)?;
                }
            }
        }
        sink.push(series, stamp, value)?;
        self.last = Some(Last { key, stamp, value });
        Ok(())
    }

    /// Emits the trailing fill of the timeline and forgets it.
    pub(super) fn end(&mut self, series: u32, sink: &mut Sink<V>) -> Result<()> {
        let last = self.last.take();
        let (Some(grid), Some(last)) = (self.grid, last) else {
            return Ok(());
        };
        let carried = match self.policy {
            FillPolicy::Previous => last.value,
            _ if self.fills_edges() => self.constant(),
            _ => return Ok(()),
        };
        for k in (last.key + 1).max(0)..grid.count as i64 {
            let t = grid.time(k as usize);
            if self.policy == FillPolicy::Previous && !self.bridges(last.stamp, t) {
                break;
            }
            sink.push(series, t, carried)?;
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

    /// True when a gap from stamp `t0` to stamp `t1` may be bridged.
    fn bridges(&self, t0: i64, t1: i64) -> bool {
        self.max_gap.is_none_or(|max| t1.saturating_sub(t0) <= max)
    }

    /// The value of a constant fill (a whole number when `V` is an
    /// integer type, `value::downsample_keeps_type`).
    fn constant(&self) -> Option<V> {
        match self.policy {
            FillPolicy::NaN => V::nan(),
            FillPolicy::Value(x) => Some(V::from_f64(x)),
            _ => None,
        }
    }

    /// The fill of empty bucket `k`, before the non-empty bucket stamped
    /// `t1` with value `v1`: `None` when nothing is emitted there.
    fn gap_value(&self, grid: &BucketGrid, k: i64, t1: i64, v1: Option<V>) -> Option<Option<V>> {
        match (self.policy, self.last) {
            (FillPolicy::Previous | FillPolicy::Linear, None) => None,
            (FillPolicy::Previous | FillPolicy::Linear, Some(last))
                if !self.bridges(last.stamp, t1) =>
            {
                None
            }
            (FillPolicy::Previous, Some(last)) => Some(last.value),
            (FillPolicy::Linear, Some(last)) => {
                let (t0, t) = (last.stamp, grid.time(k as usize));
                // In f64 (only f64 values are filled linearly).
                Some(last.value.zip(v1).map(|(v0, v1)| {
                    let (v0, v1) = (v0.to_f64(), v1.to_f64());
                    V::from_f64(v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64)
                }))
            }
            _ => Some(self.constant()),
        }
    }
}
