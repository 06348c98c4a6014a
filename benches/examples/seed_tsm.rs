//! Seed case 1 on the in-memory adapter and on a compacted TSM store, the
//! pipelined engine (PipeAggOp) and the materialized executor:
//! `cargo run --release -p tsq-benches --example seed_tsm [RUNS [ONLY]]`.
//! Prints, per adapter and engine, the median and the fastest of RUNS runs
//! after one warm-up run; on a machine shared with other work the fastest run
//! is the steadier figure (see docs/benchmarks.md, "TSM read path"). ONLY, a
//! comma-separated list of `memory`, `tsm`, `pipelined`, `materialized`,
//! keeps the rows whose adapter and engine match every name (`tsm,pipelined`:
//! one row), so that a profile or `perf stat` sees one path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tsq_benches::runner::{run_once, Engine};
use tsq_engine::{AggStrategy, StorageAdapter, TaskContext};

/// Milliseconds of the median and of the fastest run.
fn summary(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(v[v.len() / 2]), ms(v[0]))
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100)
        .max(1);
    let only = std::env::args().nth(2).unwrap_or_default();
    let keep = |label: &str, engine: Engine| {
        only.split(',')
            .filter(|name| !name.is_empty())
            .all(|name| match name {
                "pipelined" => matches!(engine, Engine::Pipelined(_)),
                "materialized" => matches!(engine, Engine::Materialized),
                _ => name == label,
            })
    };
    let case = tsq_benches::cases::seed_case_1(1000);
    let dir = std::env::temp_dir().join(format!("tsq-seed-cpu-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tsm = match tsq_benches::data::tsm_gauge_dataset(case.shape, 42, &dir) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot write the TSM store in {}: {e}", dir.display());
            std::process::exit(1);
        }
    };
    let adapters: [(&str, Arc<dyn StorageAdapter>); 2] = [
        (
            "memory",
            Arc::new(tsq_benches::data::gauge_dataset(case.shape, 42)),
        ),
        ("tsm", Arc::new(tsm)),
    ];
    println!("{} ({runs} runs, medians)", case.name);
    for (label, adapter) in &adapters {
        for engine in [Engine::Pipelined(AggStrategy::Pipe), Engine::Materialized] {
            if !keep(label, engine) {
                continue;
            }
            let ctx = TaskContext::default();
            let mut wall = Vec::new();
            for run in 0..=runs {
                let t0 = Instant::now();
                let out = run_once(engine, &case.spec, adapter, &ctx);
                let t1 = t0.elapsed();
                if let Err(e) = out {
                    eprintln!("{label} {engine}: {e}");
                    std::process::exit(1);
                }
                if run > 0 {
                    wall.push(t1);
                }
            }
            let (median, fastest) = summary(wall);
            println!("{label} | {engine} | median {median:.3} ms | fastest {fastest:.3} ms");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
