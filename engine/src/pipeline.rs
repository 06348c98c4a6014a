//! The pipeline builder: turns one resolved [`PipelineSpec`] into an operator
//! DAG, `ScanOp → [DsAggOp] → [RateOp] → [PipeAggOp | GroupedAggOp | MTAggOp]`.
//!
//! The planner decides the [`AggStrategy`] (DESIGN §4) and calls
//! [`build_pipeline`]; tests and benchmarks call it directly to force a path.
//! The builder checks that the strategy is valid for the spec and resolves an
//! unbounded query range from the data when a fill or `SAMPLE BY ALL` needs
//! one (DESIGN §3: "with no time bound, the range is the span of the matching
//! data").

use std::sync::Arc;

use crate::error::{EngineError, Result};
use crate::lookback::Lookback;
use crate::operator::Operator;
use crate::ops::ds_agg::DsAggOp;
use crate::ops::grouped_agg::GroupedAggOp;
use crate::ops::last_point::LastPointOp;
use crate::ops::mt_agg::MTAggOp;
use crate::ops::pipe_agg::PipeAggOp;
use crate::ops::rate::RateOp;
use crate::ops::scan::ScanOp;
use crate::read_path::{check_read_path, tail_window, ReadPath};
use crate::spec::{AggStrategy, FillPolicy, Interval, PipelineSpec};
use crate::storage::{StorageAdapter, TimeRange};

/// Why `strategy` cannot run `spec`, if it cannot.
pub fn check_strategy(
    spec: &PipelineSpec,
    adapter: &dyn StorageAdapter,
    strategy: AggStrategy,
) -> Option<String> {
    let agg = spec.aggregate?;
    match strategy {
        AggStrategy::Pipe => {
            let aligned = spec.downsample.is_some_and(|ds| {
                (ds.fill != FillPolicy::None && ds.max_gap.is_none())
                    || ds.interval == Interval::All
            });
            if !aligned {
                Some(
                    "PipeAggOp needs SAMPLE BY with a FILL other than none and without a maximum \
                     gap (or SAMPLE BY ALL), so that every timeline has every bucket and no \
                     interpolation is needed"
                        .into(),
                )
            } else if !agg.is_incremental() {
                Some(format!(
                    "PipeAggOp needs an incremental aggregator; {agg} is not"
                ))
            } else if spec.rate.is_some_and(|r| r.may_drop_points()) {
                Some(
                    "PipeAggOp cannot follow rate(counter => true, drop_resets => true): \
                     dropped resets leave gaps that need interpolation"
                        .into(),
                )
            } else {
                None
            }
        }
        AggStrategy::Grouped if !adapter.capabilities().ordered_by_group => Some(format!(
            "GroupedAggOp needs scans ordered by group key, which the {} adapter cannot deliver",
            adapter.name()
        )),
        AggStrategy::Grouped | AggStrategy::MT => None,
    }
}

/// Builds the operator DAG for `spec` with the aggregation operator of
/// `strategy` (ignored when the spec has no aggregate), reading by scan.
pub async fn build_pipeline(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
) -> Result<Box<dyn Operator>> {
    build_pipeline_with(spec, adapter, strategy, ReadPath::Scan).await
}

/// [`build_pipeline`] with the leaf reading by `read` ([`ReadPath`]).
pub async fn build_pipeline_with(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
    read: ReadPath,
) -> Result<Box<dyn Operator>> {
    if let Some(reason) = check_strategy(spec, adapter.as_ref(), strategy) {
        return Err(EngineError::InvalidArgument(reason));
    }
    if let Some(reason) = check_read_path(spec, read) {
        return Err(EngineError::InvalidArgument(format!(
            "read path {read}: {reason}"
        )));
    }
    let mut scan = spec.scan.clone();
    if spec.aggregate.is_some() && strategy == AggStrategy::Grouped {
        scan.group_order = Some(spec.group_by.clone());
    }
    let needs_range = spec.downsample.is_some_and(|ds| {
        ds.fill != FillPolicy::None
            || ds.interval == Interval::All
            || (spec.aggregate.is_some() && strategy == AggStrategy::Pipe)
    });
    let needs_range = needs_range || matches!(read, ReadPath::Tail { .. });
    // SAMPLE BY ALL stamps its bucket with the range start; with a lower
    // bound, the last-point path needs no data span for the end (the bucket
    // reaches to the largest time, which every point lies before).
    let open_end = match (read, scan.range.start, scan.range.end) {
        (ReadPath::LastPoint, Some(start), None) => {
            i64::MAX.checked_sub(start).map(|_| (start, i64::MAX))
        }
        _ => None,
    };
    let mut range = if let Some(range) = open_end {
        Some(range)
    } else if needs_range {
        Some(resolve_range(&scan, adapter.as_ref()).await?)
    } else {
        scan.range.start.zip(scan.range.end)
    };
    if let (ReadPath::Tail { rows }, Some(resolved)) = (read, range) {
        if let Some((w, end)) = tail_window(spec, adapter.as_ref(), resolved, rows).await? {
            scan.range = TimeRange::new(w, end);
            range = Some((w, end));
        }
    }

    let mut op: Box<dyn Operator> = match read {
        ReadPath::LastPoint => Box::new(LastPointOp::new(Arc::clone(&adapter), scan)),
        _ => Box::new(ScanOp::new(Arc::clone(&adapter), scan)),
    };
    if let Some(ds) = spec.downsample {
        let lookback = Lookback::fetch(&ds, &spec.scan, adapter.as_ref()).await?;
        op = Box::new(DsAggOp::new(op, ds, range)?.with_lookback(lookback));
    }
    if let Some(rate) = spec.rate {
        op = Box::new(RateOp::new(op, rate));
    }
    let Some(agg) = spec.aggregate else {
        return Ok(op);
    };
    let by = spec.group_by.clone();
    let name = spec.output_name.clone();
    Ok(match strategy {
        AggStrategy::Pipe => {
            let ds = spec.downsample.expect("checked by check_strategy");
            let (start, end) = range.expect("resolved for PipeAggOp");
            Box::new(PipeAggOp::new(op, agg, by, ds.grid(start, end)?, name)?)
        }
        AggStrategy::Grouped => Box::new(GroupedAggOp::new(op, agg, by, name)),
        AggStrategy::MT => Box::new(MTAggOp::new(op, agg, by, name)),
    })
}

/// The query range with unbounded ends taken from the matching data; an
/// empty range when nothing matches.
async fn resolve_range(
    scan: &crate::storage::ScanRequest,
    adapter: &dyn StorageAdapter,
) -> Result<(i64, i64)> {
    if let (Some(start), Some(end)) = (scan.range.start, scan.range.end) {
        return Ok((start, end.max(start)));
    }
    let span = adapter.time_span(scan).await?;
    Ok(scan.range.resolve(span).unwrap_or_else(|| {
        let at = scan.range.start.or(scan.range.end).unwrap_or(0);
        (at, at)
    }))
}
