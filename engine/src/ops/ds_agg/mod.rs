//! `DsAggOp`: per-timeline downsample and fill (`SAMPLE BY`), DESIGN §3
//! step 2. The operator here drives the loop; `algo` cuts timelines into
//! buckets, `bucket` does the bucket arithmetic and aggregation, `fill`
//! emits the empty buckets and `sink` cuts the output batches.

mod algo;
mod bucket;
mod fill;
mod sink;

use async_trait::async_trait;

use crate::batch::TimelineBatch;
use crate::context::{CancellationToken, TaskContext};
use crate::error::{EngineError, Result};
use crate::lookback::Lookback;
use crate::memory::MemoryReservation;
use crate::metrics::OperatorMetrics;
use crate::operator::Operator;
use crate::spec::{Downsample, FillPolicy, Interval};

use algo::Downsampler;
use bucket::{BucketAgg, Buckets};
use fill::Filler;
use sink::Sink;

/// Downsamples each timeline into buckets and fills the empty ones.
///
/// ```text
///   input (time-sorted per timeline)      output (one point per bucket)
///   t: 1  4  12       35 38         ──▶   t: 0  10  20  30   (fill=zero,
///   v: 1  3  5        7  9                v: 2  5   0   8     interval=10)
/// ```
///
/// Buckets are contiguous segments of a timeline, found from the bucket
/// arithmetic, so there is no hashing. Only the open bucket of the timeline
/// that continues into the next batch is held between batches (in a memory
/// reservation); the output does not depend on input or output batch sizes.
pub struct DsAggOp {
    input: Box<dyn Operator>,
    ds: Downsample,
    range: Option<(i64, i64)>,
    buckets: Buckets,
    /// Seeds of `previous` / `linear` fills (`docs/semantics.md` §5).
    lookback: Option<Lookback>,
    state: Option<Downsampler>,
    reservation: Option<MemoryReservation>,
    cancel: Option<CancellationToken>,
    input_done: bool,
    metrics: OperatorMetrics,
}

impl std::fmt::Debug for DsAggOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DsAggOp")
            .field("ds", &self.ds)
            .field("range", &self.range)
            .field("input", &self.input.display())
            .finish()
    }
}

impl DsAggOp {
    /// Downsamples `input` by `ds`. `range` is the resolved query range
    /// `[start, end)`; it is required for a fill other than `none` and for
    /// `SAMPLE BY ALL`, and every input point must lie in it.
    pub fn new(
        input: Box<dyn Operator>,
        ds: Downsample,
        range: Option<(i64, i64)>,
    ) -> Result<Self> {
        let buckets = match (range, ds.interval) {
            (Some((start, end)), Interval::All) if end.checked_sub(start).is_none() => {
                return Err(EngineError::InvalidArgument(format!(
                    "DsAggOp: SAMPLE BY ALL over [{start}, {end}) spans more than 2^63 ns"
                )))
            }
            (Some((start, end)), _) => Buckets::Grid(ds.grid(start, end)?),
            (None, _) if ds.fill != FillPolicy::None => {
                return Err(EngineError::InvalidArgument(format!(
                    "DsAggOp: fill={} needs the query's time range",
                    ds.fill
                )))
            }
            (None, Interval::All) => {
                return Err(EngineError::InvalidArgument(
                    "DsAggOp: SAMPLE BY ALL needs the query's time range".into(),
                ))
            }
            (None, Interval::Every(d)) if d <= 0 => {
                return Err(EngineError::InvalidArgument(format!(
                    "downsample interval must be positive, got {d}ns"
                )))
            }
            (None, Interval::Every(d)) => Buckets::Epoch(d),
        };
        // Fails early for an aggregator without a bucket aggregate.
        BucketAgg::new(ds.agg)?;
        Ok(DsAggOp {
            input,
            ds,
            range,
            buckets,
            lookback: None,
            state: None,
            reservation: None,
            cancel: None,
            input_done: false,
            metrics: OperatorMetrics::default(),
        })
    }

    /// Seeds the `previous` / `linear` fill of each timeline from the
    /// newest point before the range ([`Lookback::fetch`]).
    pub fn with_lookback(mut self, lookback: Option<Lookback>) -> Self {
        self.lookback = lookback;
        self
    }

    /// Downsamples one input batch and accounts the state it holds.
    fn consume(&mut self, batch: &TimelineBatch) -> Result<()> {
        let (Some(state), Some(res)) = (self.state.as_mut(), self.reservation.as_mut()) else {
            return Err(not_open());
        };
        state.push_batch(batch)?;
        res.try_resize(state.memory_size())?;
        self.metrics.record_bytes(res.peak() + state.sink.peak());
        Ok(())
    }
}

fn not_open() -> EngineError {
    EngineError::execution("DsAggOp", "next called before open (or after close)")
}

#[async_trait]
impl Operator for DsAggOp {
    fn name(&self) -> &'static str {
        "DsAggOp"
    }

    fn display(&self) -> String {
        format!("DsAggOp: {}", self.ds)
    }

    async fn open(&mut self, ctx: &TaskContext) -> Result<()> {
        self.input.open(ctx).await?;
        let grid = match self.buckets {
            Buckets::Grid(g) => Some(g),
            Buckets::Epoch(_) => None,
        };
        let filler = Filler::new(self.ds.fill, grid)
            .with_max_gap(self.ds.max_gap)
            .with_lookback(self.lookback.clone());
        let agg = BucketAgg::new(self.ds.agg)?;
        let queued = ctx.memory.reservation(
            "DsAggOp",
            "DsAggOp queues the rows of a fill until they are passed on, and FILL emits \
             every bucket of the range: use a wider SAMPLE BY interval, a shorter time \
             range, FILL(none), or raise the memory budget",
        );
        self.state = Some(Downsampler::new(
            self.buckets,
            self.range,
            agg,
            filler,
            Sink::new(ctx.batch_size, queued),
        ));
        self.reservation = Some(ctx.memory.reservation(
            "DsAggOp",
            "DsAggOp holds the open bucket of one timeline; a percentile holds all its raw \
             values: use a shorter SAMPLE BY interval or raise the memory budget",
        ));
        self.cancel = Some(ctx.cancel.clone());
        self.input_done = false;
        Ok(())
    }

    async fn next(&mut self) -> Result<Option<TimelineBatch>> {
        loop {
            let state = self.state.as_mut().ok_or_else(not_open)?;
            if let Some(batch) = state.sink.pop() {
                self.metrics.record_out(batch.num_rows());
                return Ok(Some(batch));
            }
            if self.input_done {
                return Ok(None);
            }
            if let Some(cancel) = &self.cancel {
                cancel.check()?;
            }
            let input = self.input.next().await?;
            let started = self.metrics.start();
            let result = match &input {
                Some(batch) => {
                    self.metrics.record_in(batch.num_rows());
                    self.consume(batch)
                }
                None => {
                    self.input_done = true;
                    let finished = state_mut(&mut self.state)?.finish();
                    if let Some(res) = self.reservation.as_mut() {
                        res.free();
                    }
                    finished
                }
            };
            self.metrics.stop(started);
            result?;
        }
    }

    async fn close(&mut self) -> Result<()> {
        self.state = None;
        self.reservation = None;
        self.input.close().await
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }

    fn children(&self) -> Vec<&dyn Operator> {
        vec![self.input.as_ref()]
    }
}

fn state_mut(state: &mut Option<Downsampler>) -> Result<&mut Downsampler> {
    state.as_mut().ok_or_else(not_open)
}

#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
mod tests;
