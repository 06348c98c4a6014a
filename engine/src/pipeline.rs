//! The pipeline builder: turns one [`PipelineSpec`] into an operator DAG,
//! `ScanOp | LastPointOp → [DsAggOp] → [RateOp] → [PipeAggOp | GroupedAggOp | MTAggOp]`.
//!
//! The planner decides the [`AggStrategy`] (with [`crate::strategy`], where
//! the rule lives) and the [`ReadPath`] (with [`crate::read_path`]), and
//! calls [`build_pipeline_with`]; tests and benchmarks call it directly to
//! force a path. The builder refuses a strategy or read path that is not
//! valid for the spec.
//!
//! [`plan_pipeline`] does no storage I/O, so that a plain `EXPLAIN` does
//! none: when a fill or `SAMPLE BY ALL` needs the query range and the query
//! has no bound, the `ScanOp` resolves it from the data at open
//! (`docs/semantics.md`: with no time bound, the range is the span of the
//! matching data), and each parent takes what it needs from its child
//! ([`Operator::output_range`], [`Operator::output_grid`]).
//! [`build_pipeline_with`] reads what the plan depends on before building:
//! the tail window of a tail read and the lookback seeds of
//! `FILL(previous|linear)` (`docs/semantics.md` §5, §10).
//!
//! The partitioned form of a pipeline (`crate::partition`) builds the same
//! chain below the aggregation once per partition ([`build_chain`]), with
//! what [`prefetch`] read once for all of them.

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
use crate::partition::Partition;
use crate::read_path::{check_read_path, tail_window, ReadPath};
use crate::shared_scan::ScanShares;
use crate::spec::{AggStrategy, FillPolicy, Interval, PipelineSpec};
use crate::storage::{ScanRequest, StorageAdapter, TimeRange};

pub use crate::strategy::check_strategy;

/// Builds the operator DAG for `spec` with the aggregation operator of
/// `strategy` (ignored when the spec has no aggregate), reading by scan.
pub async fn build_pipeline(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
) -> Result<Box<dyn Operator>> {
    build_pipeline_with(spec, adapter, strategy, ReadPath::Scan).await
}

/// [`build_pipeline`] with the leaf reading by `read` ([`ReadPath`]). A
/// tail or last-point read resolves the range now (the tail window depends
/// on it), and `FILL(previous|linear)` with a lower bound fetches its
/// lookback seeds.
pub async fn build_pipeline_with(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
    read: ReadPath,
) -> Result<Box<dyn Operator>> {
    build_pipeline_in(spec, adapter, strategy, read, None).await
}

/// [`build_pipeline_with`] whose scan joins the query's shared scans
/// `shares` when given (`crate::shared_scan`; `docs/architecture.md`, "One
/// scan for several fields"): the pipelines of a query that read the same
/// series for different fields then resolve them with one adapter call.
pub async fn build_pipeline_in(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
    read: ReadPath,
    shares: Option<&ScanShares>,
) -> Result<Box<dyn Operator>> {
    check(spec, adapter.as_ref(), strategy, read)?;
    let mut pre = prefetch(spec, adapter.as_ref(), read).await?;
    pre.shares = shares.cloned();
    assemble(spec, adapter, strategy, read, &pre)
}

/// What the chain of a pipeline is built with, read from storage before
/// building ([`prefetch`]), or nothing for a plain `EXPLAIN`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prefetched {
    /// The range that replaces the scan's: resolved for a last-point read
    /// without a lower bound, the window of a tail read.
    pub(crate) window: Option<(i64, i64)>,
    /// The query range resolved from the data once for every partition
    /// (`crate::partition`), when unbounded; the scan keeps its request.
    pub(crate) resolved: Option<(i64, i64)>,
    /// The seeds of `FILL(previous|linear)`.
    pub(crate) lookback: Option<Lookback>,
    /// The query's shared scans, which the chain's scan joins.
    pub(crate) shares: Option<ScanShares>,
}

/// Reads what the plan of `spec` read by `read` depends on: the range of
/// a last-point read without a lower bound, the tail window of a tail
/// read, and the lookback seeds of `FILL(previous|linear)`.
pub(crate) async fn prefetch(
    spec: &PipelineSpec,
    adapter: &dyn StorageAdapter,
    read: ReadPath,
) -> Result<Prefetched> {
    let scan = &spec.scan;
    let window = match (read, scan.range.start, scan.range.end) {
        (ReadPath::Scan, _, _) => None,
        (ReadPath::LastPoint, _, _) if open_end(spec, read).is_some() => None,
        (ReadPath::LastPoint, _, _) => Some(resolve_range(scan, adapter).await?),
        (ReadPath::Tail { rows }, _, _) => {
            // Without a window the whole range is read, as by a scan.
            let resolved = resolve_range(scan, adapter).await?;
            tail_window(spec, adapter, resolved, rows).await?
        }
    };
    let lookback = match spec.downsample {
        Some(ds) => Lookback::fetch(&ds, scan, adapter).await?,
        None => None,
    };
    Ok(Prefetched {
        window,
        resolved: None,
        lookback,
        shares: None,
    })
}

/// [`build_pipeline`] without the `async`: builds the operator DAG of
/// `spec`, reading by scan, and makes no adapter call (`FILL(previous)`
/// and `FILL(linear)` get no lookback seeds: for `EXPLAIN`, whose plan
/// shape does not depend on them).
pub fn plan_pipeline(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
) -> Result<Box<dyn Operator>> {
    plan_pipeline_with(spec, adapter, strategy, ReadPath::Scan)
}

/// [`plan_pipeline`] with the leaf reading by `read`: a tail read shows
/// the whole range (the window is decided by [`build_pipeline_with`]).
pub fn plan_pipeline_with(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
    read: ReadPath,
) -> Result<Box<dyn Operator>> {
    check(spec, adapter.as_ref(), strategy, read)?;
    assemble(spec, adapter, strategy, read, &Prefetched::default())
}

/// Refuses a strategy or read path that cannot run `spec`.
pub(crate) fn check(
    spec: &PipelineSpec,
    adapter: &dyn StorageAdapter,
    strategy: AggStrategy,
    read: ReadPath,
) -> Result<()> {
    if let Some(reason) = check_strategy(spec, adapter, strategy) {
        return Err(EngineError::InvalidArgument(format!(
            "{strategy} cannot run {}: {reason}",
            spec.output_name
        )));
    }
    if let Some(reason) = check_read_path(spec, read) {
        return Err(EngineError::InvalidArgument(format!(
            "read path {read}: {reason}"
        )));
    }
    Ok(())
}

/// Builds the DAG with what was read before ([`Prefetched`]).
fn assemble(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
    read: ReadPath,
    pre: &Prefetched,
) -> Result<Box<dyn Operator>> {
    let op = build_chain(spec, &adapter, strategy, read, pre, None)?;
    let Some(agg) = spec.aggregate else {
        return Ok(op);
    };
    let by = spec.group_by.clone();
    let name = spec.output_name.clone();
    // Interpolating operators keep integer selectors exact when nothing
    // can be interpolated (`docs/semantics.md` §12).
    let aligned = crate::strategy::interpolation(spec).is_ok();
    Ok(match strategy {
        AggStrategy::Pipe => Box::new(PipeAggOp::new(op, agg, by, name)?),
        AggStrategy::Grouped => {
            Box::new(GroupedAggOp::new(op, agg, by, name).with_aligned_input(aligned))
        }
        AggStrategy::MT => Box::new(MTAggOp::new(op, agg, by, name).with_aligned_input(aligned)),
    })
}

/// How many batch sizes of rows the scan under a `DsAggOp` reads at a
/// time (`docs/architecture.md`, "Timeline batches"): the downsampling keeps one
/// row per bucket, so its input batches can be larger than the query's
/// batches without more memory downstream, and fewer of them cost fewer
/// per-batch steps (the scan's batch, the operators' calls and metrics)
/// and fewer timelines cut in two by a batch end. 4 (16,384 rows at the
/// default size) took `double-groupby-all` on one thread from 13.8 to
/// 9.3 ms (`docs/benchmarks.md`, "Larger scan batches under a
/// downsampling").
pub const DOWNSAMPLE_SCAN_BATCH_FACTOR: usize = 4;

/// `ScanOp | LastPointOp → [DsAggOp] → [RateOp]` for `spec`, the part
/// below the aggregation; of one partition's timelines when `partition`
/// is set (`docs/architecture.md`, "Partitions and partial aggregates").
pub(crate) fn build_chain(
    spec: &PipelineSpec,
    adapter: &Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
    read: ReadPath,
    pre: &Prefetched,
    partition: Option<Partition>,
) -> Result<Box<dyn Operator>> {
    let mut scan = spec.scan.clone();
    if spec.aggregate.is_some() && strategy == AggStrategy::Grouped {
        scan.group_order = Some(spec.group_by.clone());
    }
    if let Some((start, end)) = pre.window {
        scan.range = TimeRange::new(start, end);
    }
    let range = pre.window.or(open_end(spec, read)).or(pre.resolved);
    let needs_range = needs_range(spec, strategy);
    let bounded = range.or(scan.range.start.zip(scan.range.end));
    let mut op: Box<dyn Operator> = match read {
        ReadPath::LastPoint => {
            let op = LastPointOp::new(Arc::clone(adapter), scan);
            match &pre.shares {
                Some(shares) => Box::new(op.shared_in(shares.last_points())),
                None => Box::new(op),
            }
        }
        _ => {
            let scan_op = match pre.resolved {
                Some(r) => ScanOp::new(Arc::clone(adapter), scan).with_resolved_range(r),
                None if needs_range && bounded.is_none() => {
                    ScanOp::resolving_range(Arc::clone(adapter), scan)
                }
                None => ScanOp::new(Arc::clone(adapter), scan),
            };
            let scan_op = match partition {
                Some(p) => scan_op.with_partition(p),
                None => scan_op,
            };
            let scan_op = match spec.downsample {
                Some(_) => scan_op.with_batch_factor(DOWNSAMPLE_SCAN_BATCH_FACTOR),
                None => scan_op,
            };
            match &pre.shares {
                Some(shares) => Box::new(scan_op.shared_in(shares)),
                None => Box::new(scan_op),
            }
        }
    };
    if let Some(ds) = spec.downsample {
        // The range is given once, in the scan request: DsAggOp takes it
        // from the ScanOp (at once when bounded, at open when resolved),
        // or from `pre` when it was resolved for every partition.
        let ds_op = match bounded {
            Some(range) => DsAggOp::new(op, ds, Some(range))?,
            None if needs_range => DsAggOp::over_input_range(op, ds)?,
            None => DsAggOp::new(op, ds, None)?,
        };
        op = Box::new(ds_op.with_lookback(pre.lookback.clone()));
    }
    if let Some(rate) = spec.rate {
        op = Box::new(RateOp::new(op, rate));
    }
    Ok(op)
}

/// True when the downsampling of `spec` run with `strategy` needs the
/// query range: a fill, `SAMPLE BY ALL`, or the grid of `PipeAggOp`.
pub(crate) fn needs_range(spec: &PipelineSpec, strategy: AggStrategy) -> bool {
    spec.downsample.is_some_and(|ds| {
        ds.fill != FillPolicy::None
            || ds.interval == Interval::All
            || (spec.aggregate.is_some() && strategy == AggStrategy::Pipe)
    })
}

/// The range of a last-point read with a lower bound and no upper one.
/// SAMPLE BY ALL stamps its bucket with the range start, so the path needs
/// no data span for the end: the bucket reaches to the largest time, which
/// every point lies before.
fn open_end(spec: &PipelineSpec, read: ReadPath) -> Option<(i64, i64)> {
    match (read, spec.scan.range.start, spec.scan.range.end) {
        (ReadPath::LastPoint, Some(start), None) => {
            i64::MAX.checked_sub(start).map(|_| (start, i64::MAX))
        }
        _ => None,
    }
}

/// The query range with unbounded ends taken from the matching data; an
/// empty range when nothing matches.
pub(crate) async fn resolve_range(
    scan: &ScanRequest,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::TimelineBatch;
    use crate::context::TaskContext;
    use crate::operator::{collect, format_tree};
    use crate::registry::{SeriesInfo, SeriesRegistry};
    use crate::spec::{Aggregator, Downsample, GroupBy};
    use crate::storage::{Capabilities, ScanRequest, SeriesScan, TimeRange};
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// One series `cpu,host=a#u` with points at 10 and 25 (values 1, 2);
    /// counts the scans and the time-span look-ups, and keeps the rows per
    /// batch the last scan was asked for.
    #[derive(Debug, Default)]
    struct Counting {
        scans: AtomicUsize,
        spans: AtomicUsize,
        max_rows: Arc<AtomicUsize>,
    }

    struct OneScan(Option<TimelineBatch>, Arc<SeriesRegistry>, Arc<AtomicUsize>);

    #[async_trait]
    impl SeriesScan for OneScan {
        fn registry(&self) -> &Arc<SeriesRegistry> {
            &self.1
        }

        async fn next_batch(&mut self, max_rows: usize) -> Result<Option<TimelineBatch>> {
            self.2.store(max_rows, Ordering::SeqCst);
            Ok(self.0.take())
        }
    }

    #[async_trait]
    impl StorageAdapter for Counting {
        fn name(&self) -> &str {
            "counting"
        }

        fn capabilities(&self) -> Capabilities {
            Capabilities::ALL
        }

        async fn scan(&self, _: &ScanRequest) -> Result<Box<dyn SeriesScan>> {
            self.scans.fetch_add(1, Ordering::SeqCst);
            let reg = Arc::new(SeriesRegistry::new(vec![SeriesInfo::new(
                "cpu",
                &[("host", "a")],
                "u",
            )]));
            let batch = TimelineBatch::from_columns(
                vec![0, 0],
                vec![10, 25],
                vec![1.0, 2.0],
                None,
                Arc::clone(&reg),
            )?;
            let max_rows = Arc::clone(&self.max_rows);
            Ok(Box::new(OneScan(Some(batch), reg, max_rows)))
        }

        async fn time_span(&self, _: &ScanRequest) -> Result<Option<(i64, i64)>> {
            self.spans.fetch_add(1, Ordering::SeqCst);
            Ok(Some((10, 25)))
        }

        async fn measurements(&self) -> Result<Vec<String>> {
            Ok(vec!["cpu".into()])
        }

        async fn fields(&self, _: &str) -> Result<Vec<String>> {
            Ok(vec!["u".into()])
        }

        async fn tag_keys(&self, _: &str) -> Result<Vec<String>> {
            Ok(vec!["host".into()])
        }

        async fn tag_values(&self, _: &str, _: &str) -> Result<Vec<String>> {
            Ok(vec!["a".into()])
        }

        async fn series_count(&self, _: &str) -> Result<usize> {
            Ok(1)
        }
    }

    fn spec(range: TimeRange) -> PipelineSpec {
        let mut scan = ScanRequest::new("cpu", "u");
        scan.range = range;
        PipelineSpec {
            scan,
            downsample: Some(Downsample {
                interval: Interval::Every(10),
                agg: Aggregator::Sum,
                fill: FillPolicy::Value(0.0),
                max_gap: None,
            }),
            rate: None,
            aggregate: Some(Aggregator::Sum),
            group_by: GroupBy::None,
            output_name: "sum(u)".into(),
        }
    }

    #[test]
    fn building_does_no_io_and_open_resolves_the_range() {
        let adapter = Arc::new(Counting::default());
        let dyn_adapter: Arc<dyn StorageAdapter> = Arc::clone(&adapter) as _;
        let mut root =
            plan_pipeline(&spec(TimeRange::ALL), dyn_adapter, AggStrategy::Pipe).unwrap();
        assert_eq!(adapter.scans.load(Ordering::SeqCst), 0);
        assert_eq!(adapter.spans.load(Ordering::SeqCst), 0);
        assert!(format_tree(root.as_ref())
            .starts_with("PipeAggOp: agg=sum group_by=[] buckets=from data\n"));
        let out =
            futures::executor::block_on(collect(root.as_mut(), &TaskContext::default())).unwrap();
        // span [10, 25] resolves to [10, 26): buckets 10 and 20, 1 and 2.
        assert_eq!(out[0].times(), &[10, 20]);
        assert_eq!(out[0].values().values(), &[1.0, 2.0]);
        assert_eq!(adapter.spans.load(Ordering::SeqCst), 1);
        assert_eq!(adapter.scans.load(Ordering::SeqCst), 1);
        assert!(
            format_tree(root.as_ref()).starts_with("PipeAggOp: agg=sum group_by=[] buckets=2\n")
        );
    }

    #[test]
    fn a_bounded_range_needs_no_look_up() {
        let adapter = Arc::new(Counting::default());
        let dyn_adapter: Arc<dyn StorageAdapter> = Arc::clone(&adapter) as _;
        let range = TimeRange {
            start: Some(0),
            end: Some(30),
        };
        let mut root = plan_pipeline(&spec(range), dyn_adapter, AggStrategy::Pipe).unwrap();
        assert!(
            format_tree(root.as_ref()).starts_with("PipeAggOp: agg=sum group_by=[] buckets=3\n")
        );
        let out =
            futures::executor::block_on(collect(root.as_mut(), &TaskContext::default())).unwrap();
        // buckets 0 (filled), 10, 20
        assert_eq!(out[0].times(), &[0, 10, 20]);
        assert_eq!(out[0].values().values(), &[0.0, 1.0, 2.0]);
        assert_eq!(adapter.spans.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_scan_under_a_downsampling_reads_larger_batches() {
        for downsample in [true, false] {
            let adapter = Arc::new(Counting::default());
            let dyn_adapter: Arc<dyn StorageAdapter> = Arc::clone(&adapter) as _;
            let mut s = spec(TimeRange::ALL);
            if !downsample {
                s.downsample = None;
                s.aggregate = None;
            }
            let mut root = plan_pipeline(&s, dyn_adapter, AggStrategy::Pipe).unwrap();
            let ctx = TaskContext::with_batch_size(3);
            futures::executor::block_on(collect(root.as_mut(), &ctx)).unwrap();
            let asked = adapter.max_rows.load(Ordering::SeqCst);
            // 4 × 3 rows under the DsAggOp, the batch size itself without one
            assert_eq!(asked, if downsample { 12 } else { 3 }, "{downsample}");
        }
    }

    #[test]
    fn an_invalid_strategy_is_refused_with_the_rule_message() {
        let adapter: Arc<dyn StorageAdapter> = Arc::new(Counting::default());
        let mut s = spec(TimeRange::ALL);
        s.downsample = None;
        let err = plan_pipeline(&s, adapter, AggStrategy::Pipe).err().unwrap();
        assert_eq!(
            err.to_string(),
            "invalid argument: PipeAggOp cannot run sum(u): PipeAggOp cannot interpolate \
             (without SAMPLE BY, timelines are aggregated at every timestamp any of them has)"
        );
    }
}
