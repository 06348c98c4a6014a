//! The `tsq` command: parses the command line and runs it over the real
//! store and planner (see `tsq::cli`).

use clap::Parser;

fn main() {
    let cli = tsq::cli::args::Cli::parse();
    std::process::exit(tsq::cli::app::run(cli, &tsq::cli::wiring::open));
}
