//! `tsq-bench [SCALE] [RUNS]`: runs the comparison suite once on freshly
//! generated data and prints the table (see docs/benchmarks.md).

#[global_allocator]
static ALLOC: tsq_benches::measure::CountingAlloc = tsq_benches::measure::CountingAlloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let scale: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    match tsq_benches::suite::run(scale, runs) {
        Ok(reports) => print!("{}", tsq_benches::report::format_table(&reports)),
        Err(e) => {
            eprintln!("tsq-bench: {e}");
            std::process::exit(1);
        }
    }
}
