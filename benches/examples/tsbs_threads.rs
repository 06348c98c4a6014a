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
//! ```
//!
//! Prints the median and the fastest run and the CPU milliseconds per run
//! (user + system of the process from `/proc/self/stat`, over the timed
//! runs only; Linux).

use std::sync::Arc;
use std::time::{Duration, Instant};

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
    let threads: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(300);
    let scale: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(4.0);
    let data = TsbsData::generate(config(scale));
    let adapter: Arc<dyn StorageAdapter> = Arc::new(data.memory_adapter());
    let engine = TsqEngine::new(adapter, Executor::Pipelined, threads);
    let Some(query) = queries(&data.config).into_iter().find(|q| q.name == name) else {
        eprintln!("no TSBS query named {name}");
        std::process::exit(2);
    };
    let run = || {
        if let Err(e) = engine.run(&query) {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
    };
    // warm-up: the in-memory adapter lays the field out on its first scan
    for _ in 0..5 {
        run();
    }
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    let cpu_start = cpu_ticks();
    for _ in 0..runs {
        let t0 = Instant::now();
        run();
        times.push(t0.elapsed());
    }
    let cpu = cpu_start
        .zip(cpu_ticks())
        .map(|(a, b)| (b - a) as f64 * 10.0 / runs.max(1) as f64);
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let cpu = cpu.map_or_else(|| "n/a".to_string(), |c| format!("{c:.3} ms"));
    println!(
        "{name} threads={threads} ({runs} runs): median {:.3} ms, fastest {:.3} ms, cpu {cpu} per run",
        ms(times[times.len() / 2]),
        ms(times[0]),
    );
}
