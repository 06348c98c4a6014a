//! Runs a case through the pipelined engine or the materialized executor and
//! records what the comparison table reports.

use std::sync::Arc;
use std::time::Duration;

use tsq_engine::partition::{partition_count, MIN_POINTS_PER_PARTITION};
use tsq_engine::{
    build_partitioned, build_pipeline, collect, materialized, AggStrategy, PipelineSpec, ReadPath,
    Result, Spawner, StorageAdapter, TaskContext, TimelineBatch,
};

use crate::measure::{heap_peak_since, median, start_heap_peak, time_runs};
use crate::report::EngineResult;

/// Which executor ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The operator pipeline with this aggregation operator.
    Pipelined(AggStrategy),
    /// The operator pipeline with this aggregation operator, its timelines
    /// split into this many partitions run on as many threads
    /// (`docs/architecture.md`, "Partitions and partial aggregates").
    Partitioned(AggStrategy, usize),
    /// The materialized executor (the old architecture).
    Materialized,
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::Pipelined(s) => write!(f, "pipelined ({s})"),
            Engine::Partitioned(s, n) => write!(f, "pipelined ({s}, {n} threads)"),
            Engine::Materialized => f.write_str("materialized"),
        }
    }
}

/// One measured run.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Which executor.
    pub engine: Engine,
    /// Median wall time.
    pub median: Duration,
    /// Output rows.
    pub rows: usize,
    /// Peak bytes reserved by operators (0 for the materialized executor,
    /// which does not account).
    pub engine_peak_bytes: usize,
    /// Most heap bytes the runs allocated above what was live before them
    /// (`None` without [`CountingAlloc`](crate::measure::CountingAlloc)).
    pub heap_peak_bytes: Option<usize>,
}

impl From<Measurement> for EngineResult {
    fn from(m: Measurement) -> Self {
        EngineResult {
            engine: m.engine.to_string(),
            median: m.median,
            rows: m.rows,
            // The materialized executor does no accounting.
            engine_peak: (m.engine != Engine::Materialized).then_some(m.engine_peak_bytes),
            heap_peak: m.heap_peak_bytes,
        }
    }
}

/// A spawner that runs each partition on a thread of its own (the benches
/// have no async runtime; a thread costs tens of microseconds).
fn thread_spawner() -> Spawner {
    Spawner::new(|task| {
        std::thread::spawn(move || futures::executor::block_on(task));
    })
}

/// Runs `spec` once on `engine`, returning its output.
pub fn run_once(
    engine: Engine,
    spec: &PipelineSpec,
    adapter: &Arc<dyn StorageAdapter>,
    ctx: &TaskContext,
) -> Result<Vec<TimelineBatch>> {
    futures::executor::block_on(async {
        match engine {
            Engine::Pipelined(strategy) => {
                let mut root = build_pipeline(spec, Arc::clone(adapter), strategy).await?;
                collect(root.as_mut(), ctx).await
            }
            Engine::Partitioned(strategy, n) => {
                // as a session does: one partition for a small selection
                // (docs/architecture.md, "Partitions and partial aggregates")
                let min = MIN_POINTS_PER_PARTITION;
                let read = ReadPath::Scan;
                let n = partition_count(spec, adapter.as_ref(), strategy, read, n, min).await?;
                let mut root = build_partitioned(spec, Arc::clone(adapter), strategy, n).await?;
                let ctx = ctx.clone().with_spawner(thread_spawner());
                collect(root.as_mut(), &ctx).await
            }
            Engine::Materialized => {
                materialized::execute(spec, adapter.as_ref(), ctx.batch_size).await
            }
        }
    })
}

/// Runs `spec` once to warm up, then `runs` times on `engine`, and
/// measures those runs.
pub fn measure(
    engine: Engine,
    spec: &PipelineSpec,
    adapter: &Arc<dyn StorageAdapter>,
    runs: usize,
) -> Result<Measurement> {
    // One untimed warm-up run first: the in-memory adapter lays a field's
    // timelines out in one block on the first scan after a write (a one-time
    // copy of its storage), which is not the query's memory or time.
    run_once(engine, spec, adapter, &TaskContext::default())?;
    let base = start_heap_peak();
    let mut engine_peak = 0;
    let (mut times, out) = time_runs(runs, || {
        let ctx = TaskContext::default();
        let out = run_once(engine, spec, adapter, &ctx);
        engine_peak = engine_peak.max(ctx.memory.peak());
        out
    });
    let heap_peak = base.map(heap_peak_since);
    let out = out?;
    Ok(Measurement {
        engine,
        median: median(&mut times),
        rows: out.iter().map(TimelineBatch::num_rows).sum(),
        engine_peak_bytes: engine_peak,
        heap_peak_bytes: heap_peak,
    })
}

/// Sums an in-memory `f64` slice: the ceiling any aggregation can approach.
pub fn slice_sum(values: &[f64]) -> f64 {
    values.iter().sum()
}
