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
//! The planner (`tsq-planner`) builds DAGs of these operators from queries;
//! they can also be built by hand, as the crate's doctests show.

pub mod accumulator;
pub mod batch;
pub mod context;
pub mod error;
pub mod group;
pub mod interpolate;
pub mod materialize;
pub mod memory;
pub mod metrics;
pub mod operator;
pub mod ops;
pub mod predicate;
pub mod registry;
pub mod spec;
pub mod storage;

pub use batch::{Timeline, TimelineBatch, TimelineBatchBuilder, DEFAULT_BATCH_SIZE};
pub use context::{CancellationToken, TaskContext};
pub use error::{EngineError, Result};
pub use metrics::OperatorMetrics;
pub use operator::{collect, format_tree, format_tree_with_metrics, into_stream, Operator};
pub use predicate::{Pattern, TagPredicate};
pub use registry::{SeriesInfo, SeriesRegistry};
pub use spec::{
    Aggregator, BucketGrid, Downsample, FillPolicy, GroupBy, Interpolation, Interval, RateOptions,
};
pub use storage::{Capabilities, ScanRequest, SeriesScan, StorageAdapter, TimeRange};
