//! `tsq-bench [SCALE] [RUNS]`: runs the seed cases and the TSBS queries once
//! on freshly generated data and prints both tables (see
//! docs/benchmarks.md). `tsq bench` is the full command; this binary lets
//! `cargo run -p tsq-benches --features datafusion` time DataFusion without
//! building the `tsq` command.

#[global_allocator]
static ALLOC: tsq_benches::measure::CountingAlloc = tsq_benches::measure::CountingAlloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let scale: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let suites = tsq_benches::suite::run(scale, runs).and_then(|seed| {
        let tsbs = tsq_benches::tsbs::run(scale, runs)?;
        Ok((seed, tsbs))
    });
    match suites {
        Ok((seed, tsbs)) => {
            print!("## seed\n\n{}", tsq_benches::report::format_table(&seed));
            print!("\n## tsbs\n\n{}", tsq_benches::report::format_table(&tsbs));
        }
        Err(e) => {
            eprintln!("tsq-bench: {e}");
            std::process::exit(1);
        }
    }
}
