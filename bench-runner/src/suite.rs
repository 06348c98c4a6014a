//! The comparison suite behind `tsq bench`: every case on every engine,
//! results checked equal before the timings count, printed as a table with
//! the ratio of each engine's median time to the best one of its case.

use std::sync::Arc;
use std::time::Duration;

use tsq_engine::{AggStrategy, EngineError, Result, StorageAdapter, TaskContext, TimelineBatch};

use crate::cases::{seed_case_1, seed_case_2, Case};
use crate::data::{gauge_dataset, tsm_gauge_dataset};
use crate::report::Report;
use crate::runner::{measure, run_once, slice_sum, Engine};

/// The suite's cases at `scale` (1.0 = the seed sizes).
pub fn cases(scale: f64) -> Vec<Case> {
    let timelines = ((1000.0 * scale).round() as usize).max(1);
    vec![seed_case_1(timelines), seed_case_2()]
}

/// Runs every case, on the in-memory adapter and on a TSM store written to a
/// temporary directory, on the pipelined engine (PipeAggOp, MTAggOp) and the
/// materialized executor, `runs` times each.
pub fn run(scale: f64, runs: usize) -> Result<Vec<Report>> {
    run_with_threads(scale, runs, 1)
}

/// [`run`], adding the pipelined engines on `threads` partitions (when
/// more than 1) beside the one-thread ones, measured in the same run.
pub fn run_with_threads(scale: f64, runs: usize, threads: usize) -> Result<Vec<Report>> {
    let mut reports = Vec::new();
    for case in cases(scale) {
        let dir = std::env::temp_dir().join(format!("tsq-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tsm = tsm_gauge_dataset(case.shape, 42, &dir);
        let adapters: Vec<(&str, Arc<dyn StorageAdapter>)> = match tsm {
            Ok(tsm) => vec![
                ("memory", Arc::new(gauge_dataset(case.shape, 42))),
                ("tsm", Arc::new(tsm)),
            ],
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        for (label, adapter) in adapters {
            reports.push(run_case(&case, label, &adapter, runs, threads)?);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(reports)
}

/// One case on one adapter, every engine.
fn run_case(
    case: &Case,
    label: &str,
    adapter: &Arc<dyn StorageAdapter>,
    runs: usize,
    threads: usize,
) -> Result<Report> {
    let mut engines = vec![Engine::Pipelined(AggStrategy::Pipe)];
    if threads > 1 {
        engines.push(Engine::Partitioned(AggStrategy::Pipe, threads));
    }
    engines.push(Engine::Pipelined(AggStrategy::MT));
    if threads > 1 {
        engines.push(Engine::Partitioned(AggStrategy::MT, threads));
    }
    engines.push(Engine::Materialized);
    check_equal(case, adapter, &engines)?;
    let mut results = Vec::new();
    for engine in engines.iter().copied() {
        results.push(measure(engine, &case.spec, adapter, runs)?.into());
    }
    Ok(Report {
        case: format!("{} [{label}]", case.name),
        points: case.shape.points(),
        results,
        ceiling: Some(slice_sum_ceiling(case.shape.points(), runs.max(5))),
    })
}

/// Fails unless every engine returns the same rows (values within 1e-9).
fn check_equal(case: &Case, adapter: &Arc<dyn StorageAdapter>, engines: &[Engine]) -> Result<()> {
    let ctx = TaskContext::default();
    let rows = |e: Engine| -> Result<Vec<(u32, i64, Option<f64>)>> {
        Ok(flatten(&run_once(e, &case.spec, adapter, &ctx)?))
    };
    let reference = rows(engines[0])?;
    for &engine in &engines[1..] {
        let other = rows(engine)?;
        let same = other.len() == reference.len()
            && other.iter().zip(&reference).all(|(a, b)| {
                a.0 == b.0
                    && a.1 == b.1
                    && match (a.2, b.2) {
                        (Some(x), Some(y)) => {
                            (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-9 * x.abs().max(1.0)
                        }
                        (x, y) => x.is_none() && y.is_none(),
                    }
            });
        if !same {
            return Err(EngineError::execution(
                "bench",
                format!("{engine} and {} disagree on {}", engines[0], case.name),
            ));
        }
    }
    Ok(())
}

fn flatten(batches: &[TimelineBatch]) -> Vec<(u32, i64, Option<f64>)> {
    let mut out = Vec::new();
    for b in batches {
        for tl in b.timelines() {
            for i in 0..tl.len() {
                out.push((tl.series_id, tl.times[i], tl.value(i)));
            }
        }
    }
    out
}

/// The time a plain sum over `points` in-memory `f64`s takes (median of
/// `runs`): the ceiling for aggregation throughput.
pub fn slice_sum_ceiling(points: usize, runs: usize) -> Duration {
    let values: Vec<f64> = (0..points).map(|i| i as f64).collect();
    let (mut times, _) =
        crate::measure::time_runs(runs, || std::hint::black_box(slice_sum(&values)));
    crate::measure::median(&mut times)
}
