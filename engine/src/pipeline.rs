//! The pipeline builder: turns one [`PipelineSpec`] into an operator DAG,
//! `ScanOp → [DsAggOp] → [RateOp] → [PipeAggOp | GroupedAggOp | MTAggOp]`.
//!
//! The planner decides the [`AggStrategy`] (with [`crate::strategy`], where
//! the rule lives) and calls [`build_pipeline`]; tests and benchmarks call
//! it directly to force a path. The builder refuses a strategy that is not
//! valid for the spec. It does no storage I/O, so that a plain `EXPLAIN`
//! does none: when a fill or `SAMPLE BY ALL` needs the query range and the
//! query has no bound, the `ScanOp` resolves it from the data at open
//! (`docs/semantics.md`: with no time bound, the range is the span of the
//! matching data), and each parent takes what it needs from its child
//! ([`Operator::output_range`], [`Operator::output_grid`]).

use std::sync::Arc;

use crate::error::{EngineError, Result};
use crate::operator::Operator;
use crate::ops::ds_agg::DsAggOp;
use crate::ops::grouped_agg::GroupedAggOp;
use crate::ops::mt_agg::MTAggOp;
use crate::ops::pipe_agg::PipeAggOp;
use crate::ops::rate::RateOp;
use crate::ops::scan::ScanOp;
use crate::spec::{AggStrategy, FillPolicy, Interval, PipelineSpec};
use crate::storage::StorageAdapter;

pub use crate::strategy::check_strategy;

/// Builds the operator DAG for `spec` with the aggregation operator of
/// `strategy` (ignored when the spec has no aggregate). Does no I/O; async
/// for the callers that await it.
pub async fn build_pipeline(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
) -> Result<Box<dyn Operator>> {
    plan_pipeline(spec, adapter, strategy)
}

/// [`build_pipeline`] without the `async`: builds the operator DAG of
/// `spec` and makes no adapter call.
pub fn plan_pipeline(
    spec: &PipelineSpec,
    adapter: Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
) -> Result<Box<dyn Operator>> {
    if let Some(reason) = check_strategy(spec, adapter.as_ref(), strategy) {
        return Err(EngineError::InvalidArgument(format!(
            "{strategy} cannot run {}: {reason}",
            spec.output_name
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
    let bounded = scan.range.start.zip(scan.range.end);
    let mut op: Box<dyn Operator> = if needs_range && bounded.is_none() {
        Box::new(ScanOp::resolving_range(Arc::clone(&adapter), scan))
    } else {
        Box::new(ScanOp::new(Arc::clone(&adapter), scan))
    };
    if let Some(ds) = spec.downsample {
        // The range is given once, in the scan request: DsAggOp takes it
        // from the ScanOp (at once when bounded, at open when resolved).
        op = Box::new(if needs_range || bounded.is_some() {
            DsAggOp::over_input_range(op, ds)?
        } else {
            DsAggOp::new(op, ds, None)?
        });
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
        AggStrategy::Pipe => Box::new(PipeAggOp::new(op, agg, by, name)?),
        AggStrategy::Grouped => Box::new(GroupedAggOp::new(op, agg, by, name)),
        AggStrategy::MT => Box::new(MTAggOp::new(op, agg, by, name)),
    })
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
    /// counts the scans and the time-span look-ups.
    #[derive(Debug, Default)]
    struct Counting {
        scans: AtomicUsize,
        spans: AtomicUsize,
    }

    struct OneScan(Option<TimelineBatch>, Arc<SeriesRegistry>);

    #[async_trait]
    impl SeriesScan for OneScan {
        fn registry(&self) -> &Arc<SeriesRegistry> {
            &self.1
        }

        async fn next_batch(&mut self, _: usize) -> Result<Option<TimelineBatch>> {
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
            Ok(Box::new(OneScan(Some(batch), reg)))
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
