//! `DsAggOp`: per-timeline downsample and fill (`SAMPLE BY`), step 2 of
//! the evaluation order of `docs/semantics.md`. The kernel here runs under
//! the shared driver; `algo` cuts timelines into
//! buckets, `bucket` does the bucket arithmetic and aggregation, `fill`
//! emits the empty buckets and `sink` cuts the output batches.

mod algo;
mod bucket;
mod fill;
mod sink;

use crate::accumulator::AccValue;
use crate::batch::TimelineBatch;
use crate::context::TaskContext;
use crate::each_type;
use crate::error::{EngineError, Result};
use crate::lookback::Lookback;
use crate::memory::MemoryReservation;
use crate::operator::Operator;
use crate::ops::driver::{Kernel, UnaryOp};
use crate::spec::{BucketGrid, Downsample, FillPolicy, Interval};
use crate::storage::ValueType;
use crate::value::{downsample_keeps_type, ByType};

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
/// Runs under the shared driver ([`UnaryOp`]).
pub type DsAggOp = UnaryOp<DsAgg>;

/// The plan node of [`DsAggOp`]: the downsample, and the range and buckets
/// (known at construction, or taken from the input at open).
#[derive(Debug, Clone)]
pub struct DsAgg {
    ds: Downsample,
    range: Option<(i64, i64)>,
    /// `None` until the input's range is known ([`DsAggOp::over_input_range`]).
    buckets: Option<Buckets>,
    /// The range comes from the input at every open.
    range_from_input: bool,
    /// Seeds of `previous` / `linear` fills (`docs/semantics.md` §5).
    lookback: Option<Lookback>,
}

/// The running state of one execution.
pub struct DsAggState {
    /// What the downsampler is built from, until the first batch.
    pending: Option<Pending>,
    /// Built at the first batch, over the type its output keeps.
    downsampler: Option<AnyDownsampler>,
    reservation: MemoryReservation,
}

/// What [`DsAgg::build`] makes a downsampler of, once the type of the
/// input is known.
struct Pending {
    buckets: Buckets,
    grid: Option<BucketGrid>,
    batch_size: usize,
    queued: MemoryReservation,
}

/// The downsampler over the values its output keeps: the input's integer
/// type for a selector whose fill keeps it
/// ([`downsample_keeps_type`]), f64 otherwise. Chosen once, at the first
/// batch; every call dispatches once per batch.
type AnyDownsampler = ByType<Downsampler<f64>, Downsampler<i64>, Downsampler<u64>>;

impl DsAggOp {
    /// Downsamples `input` by `ds`. `range` is the resolved query range
    /// `[start, end)`; it is required for a fill other than `none` and for
    /// `SAMPLE BY ALL`, and every input point must lie in it.
    pub fn new(
        input: Box<dyn Operator>,
        ds: Downsample,
        range: Option<(i64, i64)>,
    ) -> Result<Self> {
        let buckets = buckets(&ds, range)?;
        // Fails early for an aggregator without a bucket aggregate.
        BucketAgg::<f64>::new(ds.agg)?;
        let kernel = DsAgg {
            ds,
            range,
            buckets: Some(buckets),
            range_from_input: false,
            lookback: None,
        };
        Ok(UnaryOp::with_kernel(input, kernel))
    }

    /// Downsamples `input` by `ds` over the range the input reports
    /// ([`Operator::output_range`]): at once when it is known, else at
    /// open, once the input resolved it from the data (a `ScanOp` built
    /// with [`ScanOp::resolving_range`](crate::ops::scan::ScanOp::resolving_range)).
    /// Open fails when the input still has no range.
    pub fn over_input_range(input: Box<dyn Operator>, ds: Downsample) -> Result<Self> {
        if let Some(range) = input.output_range() {
            return Self::new(input, ds, Some(range));
        }
        if let Interval::Every(d) = ds.interval {
            if d <= 0 {
                return Err(EngineError::InvalidArgument(format!(
                    "downsample interval must be positive, got {d}ns"
                )));
            }
        }
        BucketAgg::<f64>::new(ds.agg)?;
        let kernel = DsAgg {
            ds,
            range: None,
            buckets: None,
            range_from_input: true,
            lookback: None,
        };
        Ok(UnaryOp::with_kernel(input, kernel))
    }

    /// Seeds the `previous` / `linear` fill of each timeline from the
    /// newest point before the range ([`Lookback::fetch`]).
    pub fn with_lookback(mut self, lookback: Option<Lookback>) -> Self {
        self.kernel_mut().lookback = lookback;
        self
    }
}

impl DsAgg {
    /// The downsampler for input of type `input`: over that type when the
    /// downsample keeps it ([`downsample_keeps_type`]), else over f64.
    fn build(&self, state: &mut DsAggState, input: ValueType) -> Result<AnyDownsampler> {
        let pending = state
            .pending
            .take()
            .ok_or_else(|| EngineError::execution("DsAggOp", "input before open"))?;
        let keeps = downsample_keeps_type(input, &self.ds);
        Ok(match input {
            ValueType::Integer if keeps => ByType::Int(self.downsampler(pending)?),
            ValueType::Unsigned if keeps => ByType::UInt(self.downsampler(pending)?),
            _ => ByType::Float(self.downsampler(pending)?),
        })
    }

    fn downsampler<V: AccValue>(&self, p: Pending) -> Result<Downsampler<V>> {
        let filler = Filler::new(self.ds.fill, p.grid)
            .with_max_gap(self.ds.max_gap)
            .with_lookback(self.lookback.clone());
        Ok(Downsampler::new(
            p.buckets,
            self.range,
            BucketAgg::new(self.ds.agg)?,
            filler,
            Sink::new(p.batch_size, p.queued),
        ))
    }
}

/// The buckets of `ds` over `range`, checking that a fill or `SAMPLE BY
/// ALL` has a range.
fn buckets(ds: &Downsample, range: Option<(i64, i64)>) -> Result<Buckets> {
    Ok(match (range, ds.interval) {
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
    })
}

impl Kernel for DsAgg {
    type State = DsAggState;
    const NAME: &'static str = "DsAggOp";

    fn display(&self) -> String {
        format!("DsAggOp: {}", self.ds)
    }

    fn open(&mut self, ctx: &TaskContext, input: &dyn Operator) -> Result<DsAggState> {
        let buckets = match self.buckets {
            Some(b) if !self.range_from_input => b,
            _ => {
                let range = input.output_range().ok_or_else(|| {
                    EngineError::execution(
                        "DsAggOp",
                        format!(
                            "its input ({}) did not resolve the query's time range, which \
                             fill={} / SAMPLE BY {} needs",
                            input.display(),
                            self.ds.fill,
                            self.ds.interval
                        ),
                    )
                })?;
                let b = buckets(&self.ds, Some(range))?;
                self.range = Some(range);
                self.buckets = Some(b);
                b
            }
        };
        let grid = match buckets {
            Buckets::Grid(g) => Some(g),
            Buckets::Epoch(_) => None,
        };
        let queued = ctx.memory.reservation(
            "DsAggOp",
            "DsAggOp queues the rows of a fill until they are passed on, and FILL emits \
             every bucket of the range: use a wider SAMPLE BY interval, a shorter time \
             range, FILL(none), or raise the memory budget",
        );
        let pending = Pending {
            buckets,
            grid,
            batch_size: ctx.batch_size,
            queued,
        };
        let reservation = ctx.memory.reservation(
            "DsAggOp",
            "DsAggOp holds the open bucket of one timeline; a percentile holds all its raw \
             values: use a shorter SAMPLE BY interval or raise the memory budget",
        );
        Ok(DsAggState {
            pending: Some(pending),
            downsampler: None,
            reservation,
        })
    }

    /// Downsamples one input batch and accounts the state it holds.
    fn consume(&self, state: &mut DsAggState, batch: &TimelineBatch) -> Result<()> {
        if state.downsampler.is_none() {
            state.downsampler = Some(self.build(state, batch.value_type())?);
        }
        let Some(any) = state.downsampler.as_mut() else {
            return Ok(());
        };
        each_type!(any, d => {
            d.push_batch(batch)?;
            state.reservation.try_resize(d.memory_size())
        })
    }

    fn finish(&self, state: &mut DsAggState) -> Result<()> {
        let finished = match state.downsampler.as_mut() {
            Some(any) => each_type!(any, d => d.finish()),
            None => Ok(()),
        };
        state.reservation.free();
        finished
    }

    fn emit(&self, state: &mut DsAggState, _: bool) -> Result<Option<TimelineBatch>> {
        Ok(match state.downsampler.as_mut() {
            Some(any) => each_type!(any, d => d.sink.pop()),
            None => None,
        })
    }

    fn peak_bytes(&self, state: &DsAggState) -> usize {
        let queued = match state.downsampler.as_ref() {
            Some(any) => each_type!(any, d => d.sink.peak()),
            None => 0,
        };
        state.reservation.peak() + queued
    }

    /// Bucket stamps may lie before the range start (the first bucket
    /// holds it): no output range is claimed.
    fn output_range(&self, _: &dyn Operator) -> Option<(i64, i64)> {
        None
    }

    fn output_grid(&self, _: &dyn Operator) -> Option<BucketGrid> {
        match self.buckets {
            Some(Buckets::Grid(g)) => Some(g),
            _ => None,
        }
    }
}

#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
mod tests;
