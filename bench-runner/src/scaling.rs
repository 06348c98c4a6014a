//! The scaling series: seed case 1's query (1m avg FILL(zero), sum by a tag
//! with 10 values) over growing data, 720 points per timeline and more
//! timelines, on the in-memory adapter. It shows how time and peak heap grow
//! for the pipelined engine (`PipeAggOp`) and the materialized executor.

use std::sync::Arc;

use tsq_engine::{AggStrategy, Result, StorageAdapter};

use crate::cases::seed_case_1;
use crate::data::gauge_dataset;
use crate::report::Report;
use crate::runner::{measure, Engine};

/// Points per timeline in seed case 1 (one every 5 s for an hour).
const POINTS_PER_TIMELINE: usize = 720;

/// Runs the query at each of `sizes` (points), `runs` times per engine:
/// one report per size, pipelined then materialized.
pub fn run(sizes: &[usize], runs: usize) -> Result<Vec<Report>> {
    let mut reports = Vec::new();
    for &points in sizes {
        let case = seed_case_1((points / POINTS_PER_TIMELINE).max(1));
        let adapter: Arc<dyn StorageAdapter> = Arc::new(gauge_dataset(case.shape, 42));
        let mut results = Vec::new();
        for engine in [Engine::Pipelined(AggStrategy::Pipe), Engine::Materialized] {
            results.push(measure(engine, &case.spec, &adapter, runs)?.into());
        }
        reports.push(Report {
            case: format!("{} points", case.shape.points()),
            points: case.shape.points(),
            results,
            ceiling: None,
        });
    }
    Ok(reports)
}
