//! The materialized executor: the "old architecture" that reads every
//! matching timeline fully into memory and then computes point by point.
//!
//! It is the baseline the benchmarks compare the pipelined operators against,
//! and an independent test oracle: it shares no code with the operators, the
//! [`Accumulators`](crate::accumulator::Accumulators) or the percentile
//! estimator of [`crate::accumulator`]; every rule of DESIGN §3 is written
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
use crate::error::Result;
use crate::group::Grouping;
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

/// Runs `spec` the materialized way and returns the result as batches of at
/// most `batch_size` rows.
///
/// Without an aggregate the rows are the per-timeline (downsampled, rated)
/// timelines over the scan's registry in ascending series id; with one, the
/// group timelines over [`Grouping::groups`] (field = `output_name`), ordered
/// by group id, then time.
pub async fn execute(
    spec: &PipelineSpec,
    adapter: &dyn StorageAdapter,
    batch_size: usize,
) -> Result<Vec<TimelineBatch>> {
    let (registry, mut series) = read::read_all(&spec.scan, adapter, batch_size).await?;
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
        series = series
            .iter()
            .map(|s| downsample::downsample(s, ds, range))
            .collect::<Result<_>>()?;
    }
    if let Some(opts) = &spec.rate {
        series = series.iter().map(|s| rate::rate(s, opts)).collect();
    }
    series.retain(|s| !s.times.is_empty());
    match spec.aggregate {
        None => emit(registry, &series, batch_size),
        Some(agg) => {
            let grouping = Grouping::new(&registry, &spec.group_by, &spec.output_name);
            let groups = aggregate::across_timelines(&series, &grouping, agg);
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
