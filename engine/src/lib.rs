//! # tsq-engine
//!
//! The execution layer of tsq: [`TimelineBatch`]es (Arrow record batches
//! holding many timelines), the Open / Next / Close [`Operator`] contract with
//! per-operator metrics, memory reservations and cancellation, the
//! [`StorageAdapter`] trait scans read through, the operators of a query DAG
//! (`ScanOp`, `DsAggOp`, `RateOp`, and the three cross-timeline aggregators
//! `PipeAggOp`, `GroupedAggOp`, `MTAggOp`), and the materialized executor that
//! serves as benchmark baseline and test oracle.
//!
//! The planner (`tsq-planner`) builds DAGs of these operators from queries
//! (through [`build_pipeline`]); they can also be built by hand:
//!
//! ```
//! use std::sync::Arc;
//! use tsq_engine::ops::{ds_agg::DsAggOp, pipe_agg::PipeAggOp, values::ValuesOp};
//! use tsq_engine::*;
//!
//! const S: i64 = 1_000_000_000; // one second in ns
//! let registry = Arc::new(SeriesRegistry::new(vec![
//!     SeriesInfo::new("cpu", &[("host", "a")], "usage"),
//!     SeriesInfo::new("cpu", &[("host", "b")], "usage"),
//! ]));
//! let mut input = TimelineBatchBuilder::new(Arc::clone(&registry), 8);
//! input.push_slice(0, &[0, 10 * S], &[1.0, 3.0]); // host=a
//! input.push_slice(1, &[0, 20 * S], &[5.0, 7.0]); // host=b
//! let input = input.finish()?;
//!
//! // SELECT sum(usage) FROM cpu WHERE time >= 0 AND time < 30s SAMPLE BY 10s avg FILL(zero)
//! let ds = Downsample { interval: Interval::Every(10 * S), agg: Aggregator::Avg, fill: FillPolicy::Value(0.0), max_gap: None };
//! let range = (0, 30 * S);
//! let scan = Box::new(ValuesOp::new(vec![input]));
//! let downsample = Box::new(DsAggOp::new(scan, ds, Some(range))?);
//! // PipeAggOp takes its bucket grid from its DsAggOp child.
//! let mut root = PipeAggOp::new(downsample, Aggregator::Sum, GroupBy::None, "sum(usage)".into())?;
//!
//! let out = futures::executor::block_on(collect(&mut root, &TaskContext::default()))?;
//! // a: 1, 3, 0 (filled)   b: 5, 0 (filled), 7   →   sum: 6, 3, 7
//! assert_eq!(out[0].times(), &[0, 10 * S, 20 * S]);
//! assert_eq!(out[0].values().values(), &[6.0, 3.0, 7.0]);
//! assert_eq!(
//!     format_tree(&root),
//!     "PipeAggOp: agg=sum group_by=[] buckets=3\n  DsAggOp: interval=10s agg=avg fill=zero\n    ValuesOp: batches=1\n"
//! );
//! # Ok::<(), EngineError>(())
//! ```

pub mod accumulator;
pub mod batch;
pub mod columns;
pub mod context;
pub mod error;
pub mod group;
pub mod interpolate;
pub mod lookback;
pub mod materialize;
pub mod materialized;
pub mod memory;
pub mod metrics;
pub mod operator;
pub mod ops;
pub mod partial;
pub mod partition;
pub mod pipeline;
pub mod predicate;
pub mod read_path;
pub mod registry;
pub mod scan_group;
pub mod shared_group;
pub mod shared_last_points;
pub mod shared_scan;
pub mod spec;
pub mod storage;
pub mod strategy;
pub mod value;

#[cfg(test)]
mod test_rng;

pub use batch::{
    timeline_schema_of, Timeline, TimelineBatch, TimelineBatchBuilder, DEFAULT_BATCH_SIZE,
};
pub use columns::ColumnsBatch;
pub use context::{CancellationToken, Spawner, TaskContext};
pub use error::{EngineError, Result};
pub use metrics::OperatorMetrics;
pub use operator::{collect, format_tree, format_tree_with_metrics, into_stream, Operator};
pub use partial::{partial_schema, PartialStates};
pub use partition::{
    build_partitioned, build_partitioned_in, build_partitioned_with, partitions_for,
    plan_partitioned_with, Partition, PartitionBy,
};
pub use pipeline::{build_pipeline, build_pipeline_in, build_pipeline_with, plan_pipeline};
pub use predicate::{Pattern, TagPredicate};
pub use read_path::{check_read_path, ReadPath};
pub use registry::{SeriesInfo, SeriesRegistry};
pub use scan_group::{ScanGroup, ScanMember};
pub use shared_scan::{ScanShares, SharedScan};
pub use spec::{
    AggStrategy, Aggregator, BucketGrid, Downsample, FillPolicy, GroupBy, Interpolation, Interval,
    PipelineSpec, RateOptions,
};
pub use storage::{Capabilities, ScanRequest, SeriesScan, StorageAdapter, TimeRange, ValueType};
pub use strategy::{check_strategy, strategy_error};
pub use value::TimelineValue;
