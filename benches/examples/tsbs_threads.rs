//! One TSBS query on the in-memory demo dataset, tsq pipelined on a given
//! number of threads, run many times in one process: the wall time of a run
//! and the CPU time of the whole process (every thread) per run, so that the
//! parallel overhead of partitioned execution can be read on a machine whose
//! cores are busy with other work (docs/benchmarks.md, "Split by group
//! range").
//!
//! ```text
//! cargo build --release -p tsq-benches --example tsbs_threads
//! tsbs_threads [QUERY] [THREADS] [RUNS] [SCALE]   (double-groupby-1 1 300 4)
//! tsbs_threads double-groupby-1 1,2 300 4            (interleaved)
//! ```
//!
//! Prints the median and the fastest run and the CPU milliseconds per run
//! (user + system of the process from `/proc/self/stat`, over the timed
//! runs only; Linux). THREADS may list several counts (`1,2`): each has
//! its own session, their runs are interleaved (run k of each, then run
//! k + 1), and the median of the per-run ratios of the first count's time
//! to each other's is printed too, which a machine shared with other work
//! disturbs far less than separate processes (the CPU time is then not
//! split by count and shows as n/a).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tsq_benches::measure::median_ratio;
use tsq_benches::tsbs::dataset::TsbsData;
use tsq_benches::tsbs::engines::{QueryEngine, TsqEngine};
use tsq_benches::tsbs::{config, queries::queries};
use tsq_engine::StorageAdapter;
use tsq_planner::Executor;

/// User + system CPU time of this process (all threads), in clock ticks of
/// 10 ms; `None` where `/proc/self/stat` cannot be read.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the fields after the command name, which is in parentheses
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "double-groupby-1".into());
    let threads: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "1".into())
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(300);
    let scale: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(4.0);
    let data = TsbsData::generate(config(scale));
    let adapter: Arc<dyn StorageAdapter> = Arc::new(data.memory_adapter());
    let engines: Vec<TsqEngine> = threads
        .iter()
        .map(|&t| TsqEngine::new(Arc::clone(&adapter), Executor::Pipelined, t))
        .collect();
    let Some(query) = queries(&data.config).into_iter().find(|q| q.name == name) else {
        eprintln!("no TSBS query named {name}");
        std::process::exit(2);
    };
    let run = |engine: &TsqEngine| {
        if let Err(e) = engine.run(&query) {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
    };
    // warm-up: the in-memory adapter lays the field out on its first scan
    for _ in 0..5 {
        engines.iter().for_each(run);
    }
    // interleaved: run k of every thread count, then run k + 1
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); engines.len()];
    let cpu_start = cpu_ticks();
    for _ in 0..runs {
        for (engine, times) in engines.iter().zip(&mut times) {
            let t0 = Instant::now();
            run(engine);
            times.push(t0.elapsed());
        }
    }
    // with one thread count only, the process's CPU is that count's
    let cpu = cpu_start
        .zip(cpu_ticks())
        .filter(|_| engines.len() == 1)
        .map(|(a, b)| (b - a) as f64 * 10.0 / runs.max(1) as f64);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let cpu = cpu.map_or_else(|| "n/a".to_string(), |c| format!("{c:.3} ms"));
    for (t, times) in threads.iter().zip(&times) {
        let mut sorted = times.clone();
        sorted.sort();
        println!(
            "{name} threads={t} ({runs} runs): median {:.3} ms, fastest {:.3} ms, cpu {cpu} per run",
            ms(sorted[sorted.len() / 2]),
            ms(sorted[0]),
        );
    }
    for k in 1..times.len() {
        println!(
            "{name} threads={} / threads={}: median of per-run ratios {:.2}x",
            threads[0],
            threads[k],
            median_ratio(&times[0], &times[k])
        );
    }
}
