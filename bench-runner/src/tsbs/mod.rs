//! The TSBS `cpu-only` query set on the `tsq demo` dataset: each query runs
//! on every engine (tsq pipelined, tsq materialized, and DataFusion with the
//! `datafusion` feature), the results are checked equal, and only then are
//! the runs timed. `scale` sets the number of hosts (1.0 = 100 hosts, 12 h:
//! 4.32 M points), as TSBS's `--scale` does. [`store`] runs the same query
//! types with random parameters ([`random`]) against an existing store and
//! summarizes them per type ([`latency`]).

pub mod compare;
pub mod dataset;
pub mod engines;
pub mod latency;
pub mod queries;
pub mod random;
pub mod store;

use std::sync::Arc;

use tsq_engine::{Result, StorageAdapter};
use tsq_planner::Executor;

use crate::demo::{DemoConfig, DEFAULT_START};
use crate::measure::{heap_peak_since, median, start_heap_peak, time_runs};
use crate::report::{EngineResult, Report};
use compare::{canonical, check_same};
use dataset::TsbsData;
use engines::{QueryEngine, TsqEngine};
use queries::{queries, TsbsQuery};

/// The dataset of `scale`: `round(100 × scale)` hosts (at least one), 12 h.
pub fn config(scale: f64) -> DemoConfig {
    DemoConfig {
        hosts: ((100.0 * scale).round() as usize).max(1),
        hours: 12,
        seed: 42,
        start: DEFAULT_START,
    }
}

/// The engines available in this build over `data`: tsq's pipelined engine
/// on one thread and on every core, its materialized executor, and
/// DataFusion on one thread and on every core with the `datafusion`
/// feature.
pub fn engines(data: &TsbsData) -> Result<Vec<Box<dyn QueryEngine>>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    engines_with_threads(data, cores)
}

/// [`engines`] with `cores` threads for the parallel engines.
pub fn engines_with_threads(data: &TsbsData, cores: usize) -> Result<Vec<Box<dyn QueryEngine>>> {
    let adapter: Arc<dyn StorageAdapter> = Arc::new(data.memory_adapter());
    let mut engines: Vec<Box<dyn QueryEngine>> = vec![Box::new(TsqEngine::new(
        Arc::clone(&adapter),
        Executor::Pipelined,
        1,
    ))];
    if cores > 1 {
        let parallel = TsqEngine::new(Arc::clone(&adapter), Executor::Pipelined, cores);
        engines.push(Box::new(parallel));
    }
    engines.push(Box::new(TsqEngine::new(adapter, Executor::Materialized, 1)));
    #[cfg(feature = "datafusion")]
    {
        use crate::df::DataFusionEngine;
        engines.push(Box::new(DataFusionEngine::new(data, 1)?));
        if cores > 1 {
            engines.push(Box::new(DataFusionEngine::new(data, cores)?));
        }
    }
    Ok(engines)
}

/// Checks every engine's answer to `query` against the first engine's.
pub fn check_query(query: &TsbsQuery, engines: &[Box<dyn QueryEngine>]) -> Result<usize> {
    let reference = canonical(&engines[0].run(query)?.0)?;
    for engine in &engines[1..] {
        let other = canonical(&engine.run(query)?.0)?;
        let what = format!(
            "{} ({} vs {})",
            query.name,
            engines[0].label(),
            engine.label()
        );
        check_same(&what, &reference, &other)?;
    }
    Ok(reference.len())
}

/// Generates the data of `scale`, checks then times every query on every
/// engine, `runs` runs each.
pub fn run(scale: f64, runs: usize) -> Result<Vec<Report>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    run_with_threads(scale, runs, cores)
}

/// [`run`] with the parallel engines on `threads` threads.
pub fn run_with_threads(scale: f64, runs: usize, threads: usize) -> Result<Vec<Report>> {
    let data = TsbsData::generate(config(scale));
    let engines = engines_with_threads(&data, threads)?;
    let mut reports = Vec::new();
    for query in queries(&data.config) {
        let rows = check_query(&query, &engines)?;
        let mut results = Vec::new();
        for engine in &engines {
            let base = start_heap_peak();
            let mut engine_peak = None;
            let (mut times, out) = time_runs(runs, || {
                let out = engine.run(&query);
                if let Ok((_, Some(p))) = &out {
                    engine_peak = Some(engine_peak.unwrap_or(0).max(*p));
                }
                out.map(|_| ())
            });
            out?;
            results.push(EngineResult {
                engine: engine.label(),
                median: median(&mut times),
                rows,
                engine_peak,
                heap_peak: base.map(heap_peak_since),
            });
        }
        reports.push(Report {
            case: query.name.to_string(),
            points: query.points,
            results,
            ceiling: None,
        });
    }
    Ok(reports)
}
