//! The `tsq` command: parses the command line and runs it over the real
//! store and planner (see `tsq::cli`).

use clap::Parser;

/// Counts heap bytes so `tsq bench` can report each engine's peak memory.
#[global_allocator]
static ALLOC: tsq_benches::measure::CountingAlloc = tsq_benches::measure::CountingAlloc;

fn main() {
    let cli = tsq::cli::args::Cli::parse();
    std::process::exit(tsq::cli::app::run(cli, &tsq::cli::wiring::open));
}
