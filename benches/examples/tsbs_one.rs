//! One TSBS query on the demo dataset, tsq pipelined on one thread, run many
//! times in one process: the loop to profile (`perf record`, `perf stat`) a
//! single query without the rest of the suite.
//! `cargo run --release -p tsq-benches --example tsbs_one [QUERY] [RUNS] [SCALE]`
//! (default `double-groupby-all`, 200 runs, scale 1). Prints the median and
//! the fastest run (see docs/benchmarks.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tsq_benches::tsbs::dataset::TsbsData;
use tsq_benches::tsbs::engines::{QueryEngine, TsqEngine};
use tsq_benches::tsbs::{config, queries::queries};
use tsq_engine::StorageAdapter;
use tsq_planner::Executor;

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "double-groupby-all".into());
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let scale: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let data = TsbsData::generate(config(scale));
    let adapter: Arc<dyn StorageAdapter> = Arc::new(data.memory_adapter());
    let engine = TsqEngine::new(adapter, Executor::Pipelined, 1);
    let Some(query) = queries(&data.config).into_iter().find(|q| q.name == name) else {
        eprintln!("no TSBS query named {name}");
        std::process::exit(2);
    };
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    for run in 0..=runs {
        let t0 = Instant::now();
        if let Err(e) = engine.run(&query) {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
        if run > 0 {
            times.push(t0.elapsed());
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name} ({runs} runs): median {:.3} ms, fastest {:.3} ms",
        ms(times[times.len() / 2]),
        ms(times[0])
    );
}
