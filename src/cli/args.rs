//! The command line (clap): `tsq [--data DIR]` opens the REPL, and the
//! subcommands `demo`, `import`, `query`, `bench`, `check` and `repair`. Usage errors exit with 2.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tsq_engine::spec::AggStrategy;

use crate::cli::backend::Precision;
use crate::cli::bench_cmd::Suite;
use crate::cli::format::OutputFormat;

/// tsq: a vectorized, pipelined time-series query engine.
///
/// Without a subcommand, opens the REPL on `--data DIR` (statements end with
/// `;`; `\help` lists the commands). With stdin not a terminal, runs the
/// statements read from it and exits.
#[derive(Debug, Parser)]
#[command(name = "tsq", version, about, long_about = None)]
pub struct Cli {
    /// Data directory of the store.
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Output format of result rows.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Force the aggregation operator: auto, pipe, grouped or mt.
    #[arg(long, global = true, value_name = "STRATEGY", value_parser = parse_strategy_choice)]
    pub strategy: Option<StrategyChoice>,
    /// What to do (default: the REPL).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The value of `--strategy`: a forced operator, or `None` for `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyChoice(pub Option<AggStrategy>);

fn parse_strategy_choice(s: &str) -> Result<StrategyChoice, String> {
    crate::cli::meta::parse_strategy(s).map(StrategyChoice)
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a TSBS cpu-only-shaped dataset once (default DIR ./tsq-demo-data), then open the REPL.
    Demo {
        /// Number of hosts (10 series each).
        #[arg(long, default_value_t = 100)]
        hosts: usize,
        /// Hours of data (360 points per series per hour).
        #[arg(long, default_value_t = 12)]
        hours: u64,
        /// Seed of the generator.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Only generate; do not open the REPL.
        #[arg(long)]
        no_repl: bool,
    },
    /// Import line protocol files (`-` reads stdin).
    Import {
        /// Timestamp precision of the input.
        #[arg(long, value_enum, default_value_t = Precision::Ns)]
        precision: Precision,
        /// Files to import (`-` for stdin).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
    },
    /// Run a query (or a `;`-separated script with -f) and print the result.
    Query {
        /// A script file of `;`-separated statements.
        #[arg(
            short = 'f',
            long = "file",
            value_name = "FILE",
            conflicts_with = "query"
        )]
        file: Option<PathBuf>,
        /// The query text.
        #[arg(required_unless_present = "file")]
        query: Option<String>,
        /// Run without the damaged files a query needs instead of failing,
        /// and print (on stderr) which files were left out.
        #[arg(long)]
        allow_partial: bool,
    },
    /// Verify every file of the store (read-only) and report damage; exit 1
    /// when any file is damaged (see docs/storage.md).
    Check,
    /// Repair a closed store: move unreadable TSM files into
    /// `DIR/quarantine/`, rewrite damaged ones from their readable blocks,
    /// rebuild the series index (see docs/storage.md).
    Repair,
    /// Run the comparison benchmarks (pipelined vs materialized, and
    /// DataFusion when built with `--features datafusion`) on freshly
    /// generated data and print a table, or JSON with `--format json` (see
    /// docs/benchmarks.md).
    Bench {
        /// Dataset scale: 1.0 is the seed cases' size (1000 timelines for
        /// case 1) and 100 hosts × 12 h for the TSBS queries.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Runs per engine; the table reports the median.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Instead of the suite, run the scaling series: seed case 1's query
        /// over 1M, 10M and 100M points (needs about 6 GiB of memory).
        #[arg(long)]
        scaling: bool,
        /// Which suites to run.
        #[arg(long, value_enum, default_value_t = Suite::All)]
        suite: Suite,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_a_query_command() {
        let cli = Cli::parse_from(["tsq", "query", "--data", "d", "--format", "csv", "SELECT 1"]);
        assert_eq!(cli.data, Some(PathBuf::from("d")));
        assert_eq!(cli.format, OutputFormat::Csv);
        assert!(matches!(
            cli.command,
            Some(Command::Query { query: Some(q), file: None, allow_partial: false }) if q == "SELECT 1"
        ));
        let cli = Cli::parse_from(["tsq", "query", "--allow-partial", "--data", "d", "SELECT 1"]);
        assert!(matches!(
            cli.command,
            Some(Command::Query {
                allow_partial: true,
                ..
            })
        ));
        let cli = Cli::parse_from(["tsq", "check", "--data", "d"]);
        assert!(matches!(cli.command, Some(Command::Check)));
        let cli = Cli::parse_from(["tsq", "repair", "--data", "d"]);
        assert!(matches!(cli.command, Some(Command::Repair)));
    }

    #[test]
    fn parses_a_strategy() {
        let cli = Cli::parse_from(["tsq", "--strategy", "mt"]);
        assert_eq!(cli.strategy, Some(StrategyChoice(Some(AggStrategy::MT))));
        let cli = Cli::parse_from(["tsq", "--strategy", "auto"]);
        assert_eq!(cli.strategy, Some(StrategyChoice(None)));
    }

    #[test]
    fn usage_errors_exit_with_2() {
        let err = Cli::try_parse_from(["tsq", "query", "--data", "d"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["tsq", "import", "--precision", "h", "f"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
