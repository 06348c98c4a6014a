//! Seed case 1 on the in-memory adapter and on a compacted TSM store, the
//! pipelined engine (PipeAggOp) and the materialized executor:
//! `cargo run --release -p tsq-benches --example seed_tsm [RUNS [ONLY [TIMELINES]]]`
//! (TIMELINES: 1000, scale 1, by default; 20000 is `--scale 20`).
//! Prints, per adapter and engine, the median and the fastest of RUNS runs
//! after one warm-up run, then the TSM / memory and materialized / pipelined
//! ratios and the second core's speed-up (the pipelined engine on one thread
//! over the same split into two partitions, each a thread of its own, as
//! `tsq bench --threads 2` runs it) as medians of per-run ratios: the rows
//! run interleaved (run 1 of each, then run 2 of each, ...), so on a machine
//! shared with other work those ratios are much steadier than the times (see
//! docs/benchmarks.md, "TSM read path"). ONLY, a comma-separated list of
//! `memory`, `tsm`, `pipelined`, `partitioned`, `materialized`, keeps the
//! rows whose adapter and engine match every name (`tsm,pipelined`: one
//! row), so that a profile or `perf stat` sees one path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tsq_benches::measure::median_ratio;
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
                "partitioned" => matches!(engine, Engine::Partitioned(..)),
                "materialized" => matches!(engine, Engine::Materialized),
                _ => name == label,
            })
    };
    let timelines: usize = std::env::args()
        .nth(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let case = tsq_benches::cases::seed_case_1(timelines);
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
    let engines = [
        Engine::Pipelined(AggStrategy::Pipe),
        Engine::Partitioned(AggStrategy::Pipe, 2),
        Engine::Materialized,
    ];
    let rows: Vec<(&str, &Arc<dyn StorageAdapter>, Engine)> = adapters
        .iter()
        .flat_map(|(label, adapter)| engines.map(|engine| (*label, adapter, engine)))
        .filter(|&(label, _, engine)| keep(label, engine))
        .collect();
    println!("{} ({runs} runs, interleaved)", case.name);
    // Run r of every row, then run r + 1 of every row: a change in the load
    // of the machine falls on all rows alike, so the per-run ratios below
    // are steadier than the ratio of two medians.
    let ctx = TaskContext::default();
    let mut wall: Vec<Vec<Duration>> = vec![Vec::new(); rows.len()];
    for run in 0..=runs {
        for (times, &(label, adapter, engine)) in wall.iter_mut().zip(&rows) {
            let t0 = Instant::now();
            let out = run_once(engine, &case.spec, adapter, &ctx);
            let t1 = t0.elapsed();
            if let Err(e) = out {
                eprintln!("{label} {engine}: {e}");
                std::process::exit(1);
            }
            if run > 0 {
                times.push(t1);
            }
        }
    }
    for (times, (label, _, engine)) in wall.iter().zip(&rows) {
        let (median, fastest) = summary(times.clone());
        println!("{label} | {engine} | median {median:.3} ms | fastest {fastest:.3} ms");
    }
    let find =
        |label: &str, engine: Engine| rows.iter().position(|r| r.0 == label && r.2 == engine);
    let pipelined = Engine::Pipelined(AggStrategy::Pipe);
    let two = Engine::Partitioned(AggStrategy::Pipe, 2);
    let ratios = [
        (
            "1 → 2 threads, memory",
            ("memory", pipelined),
            ("memory", two),
        ),
        ("1 → 2 threads, tsm", ("tsm", pipelined), ("tsm", two)),
        (
            "tsm / memory, pipelined",
            ("tsm", pipelined),
            ("memory", pipelined),
        ),
        (
            "materialized / pipelined, tsm",
            ("tsm", Engine::Materialized),
            ("tsm", pipelined),
        ),
    ];
    for (name, a, b) in ratios {
        if let (Some(a), Some(b)) = (find(a.0, a.1), find(b.0, b.1)) {
            println!(
                "{name}: median of per-run ratios {:.2}x",
                median_ratio(&wall[a], &wall[b])
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
