//! The scaling series: seed case 1's query (1m avg FILL(zero), sum by a tag
//! with 10 values) over growing data, 720 points per timeline and more
//! timelines, on the in-memory adapter. It shows how time and peak heap grow
//! for the pipelined engine (`PipeAggOp`) and the materialized executor.

use std::fmt::Write as _;
use std::sync::Arc;

use tsq_engine::{AggStrategy, Result, StorageAdapter};

use crate::cases::seed_case_1;
use crate::data::gauge_dataset;
use crate::runner::{measure, Engine, Measurement};

/// Points per timeline in seed case 1 (one every 5 s for an hour).
const POINTS_PER_TIMELINE: usize = 720;

/// One size of the series.
#[derive(Debug, Clone)]
pub struct ScalingRow {
    /// Points scanned.
    pub points: usize,
    /// Pipelined, then materialized.
    pub runs: Vec<Measurement>,
}

/// Runs the query at each of `sizes` (points), `runs` times per engine.
pub fn run(sizes: &[usize], runs: usize) -> Result<Vec<ScalingRow>> {
    let mut rows = Vec::new();
    for &points in sizes {
        let case = seed_case_1((points / POINTS_PER_TIMELINE).max(1));
        let adapter: Arc<dyn StorageAdapter> = Arc::new(gauge_dataset(case.shape, 42));
        let mut measured = Vec::new();
        for engine in [Engine::Pipelined(AggStrategy::Pipe), Engine::Materialized] {
            measured.push(measure(engine, &case.spec, &adapter, runs)?);
        }
        rows.push(ScalingRow {
            points: case.shape.points(),
            runs: measured,
        });
    }
    Ok(rows)
}

/// The series as a text table.
pub fn format_table(rows: &[ScalingRow]) -> String {
    let mut out = String::from(
        "| points | engine | median | points/s | engine peak | heap peak |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        for m in &r.runs {
            let secs = m.median.as_secs_f64().max(1e-12);
            let mib = |b: usize| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0));
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} ms | {:.1} M | {} | {} |",
                r.points,
                m.engine,
                secs * 1e3,
                r.points as f64 / secs / 1e6,
                mib(m.engine_peak_bytes),
                m.heap_peak_bytes.map_or_else(|| "n/a".to_string(), mib)
            );
        }
    }
    out
}
