//! The `tsq` command: parses the command line and runs it over the real
//! store and planner (see `tsq::cli`).

use clap::Parser;

/// Counts heap bytes so `tsq bench` can report each engine's peak memory
/// (the `count-alloc` feature, on by default).
#[cfg(feature = "count-alloc")]
#[global_allocator]
static ALLOC: tsq_bench_runner::measure::CountingAlloc = tsq_bench_runner::measure::CountingAlloc;

fn main() {
    let cli = tsq::cli::args::Cli::parse();
    std::process::exit(tsq::cli::app::run(cli, &tsq::cli::wiring::open));
}
