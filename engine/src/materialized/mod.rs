//! The materialized executor: the "old architecture" that reads every
//! matching timeline fully into memory and then computes point by point.
//!
//! It is the baseline the benchmarks compare the pipelined operators against,
//! and an independent test oracle: it shares no code with the operators, the
//! [`Accumulators`](crate::accumulator::Accumulators) or the percentile
//! estimator of [`crate::accumulator`]; every rule of `docs/semantics.md` is written
//! again here, plainly.
//!
//! ```text
//!   adapter ──read all──▶ Vec<Series> ──per series──▶ downsample + fill
//!            (predicate / range applied here        ──per series──▶ rate
//!             when the adapter cannot)               ──per group, per T──▶ aggregate
//! ```

mod aggregate;
mod downsample;
mod rate;
mod read;
#[cfg(test)]
mod tests;

use crate::batch::{TimelineBatch, TimelineBatchBuilder};
use crate::context::TaskContext;
use crate::error::Result;
use crate::group::Grouping;
use crate::lookback::Lookback;
use crate::memory::MemoryPool;
use crate::registry::SeriesRegistry;
use crate::spec::{FillPolicy, Interval, PipelineSpec};
use crate::storage::StorageAdapter;
use std::sync::Arc;

/// One timeline held in memory: time-sorted points, `None` is a null value.
#[derive(Debug, Clone, PartialEq)]
struct Series {
    /// Series id in the scan's registry.
    id: u32,
    /// Timestamps in ns, strictly increasing.
    times: Vec<i64>,
    /// Values, `None` for null.
    values: Vec<Option<f64>>,
}

/// Names the executor's steps in memory errors (`docs/semantics.md` §5).
const READ: &str = "materialized read";
/// See [`READ`].
const DOWNSAMPLE: &str = "materialized downsample";
/// See [`READ`].
const RATE: &str = "materialized rate";
/// See [`READ`].
const AGGREGATE: &str = "materialized aggregate";
/// What the user can change when a step runs out of budget.
const HINT: &str = "the materialized executor holds every point of the query: narrow the time \
                    range or tag filter, use the pipelined executor, or raise the memory budget";

/// Bytes held by one in-memory timeline.
impl Series {
    fn memory_size(&self) -> usize {
        std::mem::size_of::<Series>()
            + self.times.capacity() * std::mem::size_of::<i64>()
            + self.values.capacity() * std::mem::size_of::<Option<f64>>()
    }
}

/// Bytes of one point held by a [`Series`].
const POINT_BYTES: usize = std::mem::size_of::<i64>() + std::mem::size_of::<Option<f64>>();

/// Runs `spec` the materialized way with no memory budget and returns the
/// result as batches of at most `batch_size` rows; see [`execute_in`].
pub async fn execute(
    spec: &PipelineSpec,
    adapter: &dyn StorageAdapter,
    batch_size: usize,
) -> Result<Vec<TimelineBatch>> {
    let ctx = TaskContext {
        batch_size,
        memory: MemoryPool::unbounded(),
        ..TaskContext::default()
    };
    execute_in(spec, adapter, &ctx).await
}

/// Runs `spec` the materialized way under `ctx`'s memory budget and returns
/// the result as batches of at most `ctx.batch_size` rows.
///
/// Every step reserves what it holds before (or, for a timeline it just
/// computed, as soon as) it holds it: the read points, each downsampled
/// (filled) timeline, each rated timeline, the group table and the group
/// timelines. A step that would exceed the budget fails with
/// [`EngineError::ResourcesExhausted`](crate::EngineError::ResourcesExhausted)
/// naming it (`materialized read`, `materialized downsample`, ...). A step's
/// input is released once its output replaces it.
///
/// Without an aggregate the rows are the per-timeline (downsampled, rated)
/// timelines over the scan's registry in ascending series id; with one, the
/// group timelines over [`Grouping::groups`] (field = `output_name`), ordered
/// by group id, then time.
pub async fn execute_in(
    spec: &PipelineSpec,
    adapter: &dyn StorageAdapter,
    ctx: &TaskContext,
) -> Result<Vec<TimelineBatch>> {
    let batch_size = ctx.batch_size;
    let mut held = ctx.memory.reservation(READ, HINT);
    let (registry, mut series) = read::read_all(&spec.scan, adapter, batch_size, &mut held).await?;
    if let Some(ds) = &spec.downsample {
        let needs_range = ds.fill != FillPolicy::None || ds.interval == Interval::All;
        let range = if needs_range {
            match spec
                .scan
                .range
                .resolve(adapter.time_span(&spec.scan).await?)
            {
                Some(range) => Some(range),
                // No matching point: nothing to downsample.
                None => return Ok(Vec::new()),
            }
        } else {
            None
        };
        let lookback = Lookback::fetch(ds, &spec.scan, adapter).await?;
        let seed = |s: &Series| {
            let info = registry.get(s.id)?;
            lookback.as_ref()?.get(info)
        };
        let mut next = ctx.memory.reservation(DOWNSAMPLE, HINT);
        series = series
            .iter()
            .map(|s| {
                ctx.cancel.check()?;
                downsample::downsample(s, ds, range, seed(s), &mut next)
            })
            .collect::<Result<_>>()?;
        held = next;
    }
    if let Some(opts) = &spec.rate {
        let mut next = ctx.memory.reservation(RATE, HINT);
        series = series
            .iter()
            .map(|s| {
                let rated = rate::rate(s, opts);
                next.try_grow(rated.memory_size())?;
                Ok(rated)
            })
            .collect::<Result<_>>()?;
        held = next;
    }
    series.retain(|s| !s.times.is_empty());
    match spec.aggregate {
        None => emit(registry, &series, batch_size),
        Some(agg) => {
            let mut table = ctx.memory.reservation(AGGREGATE, HINT);
            let grouping =
                Grouping::reserved(&registry, &spec.group_by, &spec.output_name, &mut table)?;
            let groups = aggregate::across_timelines(&series, &grouping, agg);
            let mut out = ctx.memory.reservation(AGGREGATE, HINT);
            out.try_grow(groups.iter().map(Series::memory_size).sum())?;
            drop(series);
            held.free();
            emit(Arc::clone(grouping.groups()), &groups, batch_size)
        }
    }
}

/// Cuts `series` (in order) into batches of at most `batch_size` rows.
fn emit(
    registry: Arc<SeriesRegistry>,
    series: &[Series],
    batch_size: usize,
) -> Result<Vec<TimelineBatch>> {
    let batch_size = batch_size.max(1);
    let mut builder = TimelineBatchBuilder::new(registry, batch_size);
    let mut out = Vec::new();
    for s in series {
        for (&t, &v) in s.times.iter().zip(&s.values) {
            builder.push(s.id, t, v);
            if builder.len() == batch_size {
                out.push(builder.finish()?);
            }
        }
    }
    if !builder.is_empty() {
        out.push(builder.finish()?);
    }
    Ok(out)
}
