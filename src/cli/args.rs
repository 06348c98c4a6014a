//! The command line (clap): `tsq [--data DIR]` opens the REPL, and the
//! subcommands `demo`, `import`, `export`, `compact`, `serve`, `query`,
//! `bench`, `check` and `repair`. Usage errors exit with 2.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tsq_engine::spec::AggStrategy;

use crate::cli::backend::{CliError, Precision};
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
    /// Format: of result rows (table, the default, csv, json, ndjson); of
    /// `export` (parquet, csv, lp) and `import` (lp, the default, parquet).
    #[arg(long, global = true, value_enum)]
    pub format: Option<FormatArg>,
    /// Force the aggregation operator: auto, pipe, grouped or mt.
    #[arg(long, global = true, value_name = "STRATEGY", value_parser = parse_strategy_choice)]
    pub strategy: Option<StrategyChoice>,
    /// Memory budget of each query (`512MiB`, `2GiB`, `1GB`, plain bytes;
    /// default 2GiB): over it a query stops with "memory budget exceeded".
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_byte_size)]
    pub memory_budget: Option<usize>,
    /// Most SAMPLE BY buckets per timeline a query may make (default
    /// 10000000): over it the query is refused before it runs.
    #[arg(long, global = true, value_name = "N")]
    pub max_buckets: Option<u64>,
    /// Threads one query may use (default: the cores): a value column's
    /// timelines are split into that many partitions run in parallel
    /// (`tsq bench`: the parallel engines' thread count).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// What to do (default: the REPL).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The value of `--format`: one flag for result rows, exports and imports
/// (a subcommand cannot redefine a global flag), checked by each command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// Aligned table (results).
    Table,
    /// CSV (results, export).
    Csv,
    /// JSON array (results).
    Json,
    /// One JSON object per line (results).
    Ndjson,
    /// Apache Parquet (export, import).
    Parquet,
    /// Line protocol (export, import).
    Lp,
}

impl Cli {
    /// The result format: `table` unless `--format` names another one;
    /// `parquet` and `lp` are a usage error here.
    pub fn output_format(&self) -> Result<OutputFormat, CliError> {
        Ok(match self.format {
            None | Some(FormatArg::Table) => OutputFormat::Table,
            Some(FormatArg::Csv) => OutputFormat::Csv,
            Some(FormatArg::Json) => OutputFormat::Json,
            Some(FormatArg::Ndjson) => OutputFormat::Ndjson,
            Some(other) => {
                return Err(CliError::Usage(format!(
                "--format {} is for export and import; results print as table, csv, json or ndjson",
                format_name(other)
            )))
            }
        })
    }
}

/// The spelling of a `--format` value.
pub fn format_name(f: FormatArg) -> &'static str {
    match f {
        FormatArg::Table => "table",
        FormatArg::Csv => "csv",
        FormatArg::Json => "json",
        FormatArg::Ndjson => "ndjson",
        FormatArg::Parquet => "parquet",
        FormatArg::Lp => "lp",
    }
}

/// The value of `--strategy`: a forced operator, or `None` for `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyChoice(pub Option<AggStrategy>);

fn parse_strategy_choice(s: &str) -> Result<StrategyChoice, String> {
    crate::cli::meta::parse_strategy(s).map(StrategyChoice)
}

/// A size in bytes: a number (bytes) with an optional unit, binary (`KiB`,
/// `MiB`, `GiB`, `TiB`, also `K`, `M`, `G`, `T`) or decimal (`KB`, `MB`,
/// `GB`, `TB`), case-insensitive, with optional space: `512MiB`, `2 GiB`,
/// `1.5GB`, `1048576`.
pub fn parse_byte_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let scale: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "bad size '{text}': unknown unit '{unit}' (expected B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)"
            ))
        }
    };
    let bad = || {
        format!("bad size '{text}': expected a number of bytes such as 512MiB, 2GiB or 1073741824")
    };
    let bytes = if number.contains('.') {
        let x: f64 = number.parse().map_err(|_| bad())?;
        let b = (x * scale as f64).round();
        if !(b.is_finite() && b >= 0.0 && b <= usize::MAX as f64) {
            return Err(bad());
        }
        b as u64
    } else {
        let n: u64 = number.parse().map_err(|_| bad())?;
        n.checked_mul(scale).ok_or_else(bad)?
    };
    let bytes = usize::try_from(bytes).map_err(|_| bad())?;
    if bytes == 0 {
        return Err(format!(
            "bad size '{text}': the budget must be more than 0 bytes"
        ));
    }
    Ok(bytes)
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
    /// Import line protocol files (`-` reads stdin), or Parquet files with
    /// `--format parquet`; the points end compacted in TSM files.
    Import {
        /// Timestamp precision of the input.
        #[arg(long, value_enum, default_value_t = Precision::Ns)]
        precision: Precision,
        /// Parquet: the measurement (default: the file name without extension).
        #[arg(long, value_name = "M")]
        measurement: Option<String>,
        /// Parquet: the string columns that are tags (default: the
        /// dictionary-encoded string columns).
        #[arg(long, value_name = "A,B", value_delimiter = ',')]
        tags: Vec<String>,
        /// Leave the points in the WAL and cache: no snapshot or compaction
        /// at the end.
        #[arg(long)]
        no_compact: bool,
        /// Route each line to its shard's worker instead (`cluster.toml`;
        /// needs the `cluster` feature, docs/distributed.md).
        #[arg(long, value_name = "FILE")]
        cluster: Option<PathBuf>,
        /// Files to import (`-` for stdin).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
    },
    /// Write the points of the store to OUT: `--format parquet`, `csv` or
    /// `lp` (columns time, one per tag, one per field).
    Export {
        /// First time exported (RFC 3339 or ns since the epoch), inclusive.
        #[arg(long, value_name = "T")]
        from: Option<String>,
        /// End of the exported time range (RFC 3339 or ns), exclusive.
        #[arg(long, value_name = "T")]
        to: Option<String>,
        /// The measurement (needed for parquet and csv when the store holds
        /// several).
        #[arg(long, value_name = "M")]
        measurement: Option<String>,
        /// The output file.
        #[arg(value_name = "OUT")]
        out: PathBuf,
    },
    /// Snapshot the cache and merge every shard's TSM files into one.
    Compact,
    /// Serve the store over HTTP (InfluxDB line protocol writes, SQL,
    /// metrics) and Arrow Flight SQL until SIGINT or SIGTERM (see
    /// docs/server.md).
    Serve(crate::cli::serve_cmd::ServeArgs),
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
        /// Run the query on the workers of `cluster.toml` and merge their
        /// answers (needs the `cluster` feature, docs/distributed.md).
        #[arg(long, value_name = "FILE", conflicts_with = "file")]
        cluster: Option<PathBuf>,
    },
    /// Serve the store at --data as one shard of a cluster (Arrow Flight,
    /// datafusion-distributed) until Ctrl-C (needs the `cluster` feature,
    /// docs/distributed.md).
    Worker {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR")]
        listen: std::net::SocketAddr,
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
        /// Which suites to run (`tsbs-store`: the TSBS queries against the
        /// store at --data, read-only).
        #[arg(long, value_enum, default_value_t = Suite::All)]
        suite: Suite,
        /// `tsbs-store`: instances of each query type, parameters drawn at
        /// random as TSBS does.
        #[arg(long, value_name = "N", default_value_t = 20)]
        queries: usize,
        /// `tsbs-store`: seed of the random parameters (same seed, same
        /// store: same queries).
        #[arg(long, value_name = "S", default_value_t = 1)]
        seed: u64,
        /// `tsbs-store`: the query types to run (default: all fifteen).
        #[arg(long, value_name = "A,B", value_delimiter = ',')]
        query_types: Vec<String>,
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
        assert_eq!(cli.output_format().unwrap(), OutputFormat::Csv);
        assert!(matches!(
            cli.command,
            Some(Command::Query { query: Some(q), file: None, allow_partial: false, cluster: None }) if q == "SELECT 1"
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
    fn parses_serve_with_defaults_on_loopback() {
        let cli = Cli::parse_from(["tsq", "serve", "--data", "d", "--max-body", "1MiB"]);
        let Some(Command::Serve(args)) = cli.command else {
            panic!("expected serve")
        };
        assert_eq!(args.http.to_string(), "127.0.0.1:8181");
        assert_eq!(args.flight.to_string(), "127.0.0.1:8182");
        let limits = args.limits(Some(64 << 20));
        assert_eq!(limits.max_body_bytes, 1 << 20);
        assert_eq!(limits.max_decompressed_bytes, 100 << 20);
        assert_eq!(limits.max_concurrent_queries, 16);
        assert_eq!(limits.query_memory_bytes, 64 << 20);
    }

    #[test]
    fn format_serves_results_exports_and_imports() {
        let cli = Cli::parse_from(["tsq", "export", "--data", "d", "--format", "parquet", "o"]);
        assert_eq!(cli.format, Some(FormatArg::Parquet));
        assert!(matches!(cli.output_format(), Err(CliError::Usage(_))));
        let cli = Cli::parse_from(["tsq", "import", "--tags", "a,b", "--no-compact", "f"]);
        assert!(matches!(
            &cli.command,
            Some(Command::Import { tags, no_compact: true, .. }) if tags == &["a", "b"]
        ));
        assert_eq!(cli.output_format().unwrap(), OutputFormat::Table);
    }

    #[test]
    fn parses_a_strategy() {
        let cli = Cli::parse_from(["tsq", "--strategy", "mt"]);
        assert_eq!(cli.strategy, Some(StrategyChoice(Some(AggStrategy::MT))));
        let cli = Cli::parse_from(["tsq", "--strategy", "auto"]);
        assert_eq!(cli.strategy, Some(StrategyChoice(None)));
    }

    #[test]
    fn parses_a_memory_budget_before_or_after_the_subcommand() {
        let cli = Cli::parse_from(["tsq", "query", "--memory-budget", "64MiB", "SELECT 1"]);
        assert_eq!(cli.memory_budget, Some(64 << 20));
        let cli = Cli::parse_from(["tsq", "--memory-budget", "2GiB", "--max-buckets", "1000"]);
        assert_eq!(
            (cli.memory_budget, cli.max_buckets),
            (Some(2 << 30), Some(1000))
        );
        let err = Cli::try_parse_from(["tsq", "--memory-budget", "lots"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn parses_threads_for_query_and_bench() {
        let cli = Cli::parse_from(["tsq", "query", "--threads", "4", "SELECT 1"]);
        assert_eq!(cli.threads, Some(4));
        let cli = Cli::parse_from(["tsq", "--threads", "2", "bench"]);
        assert_eq!(cli.threads, Some(2));
        for bad in ["0", "many", "5000"] {
            let err = Cli::try_parse_from(["tsq", "--threads", bad]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn parses_the_tsbs_store_suite() {
        let cli = Cli::parse_from([
            "tsq",
            "bench",
            "--suite",
            "tsbs-store",
            "--data",
            "d",
            "--queries",
            "3",
            "--query-types",
            "lastpoint,high-cpu-1",
        ]);
        assert!(matches!(
            &cli.command,
            Some(Command::Bench { suite: Suite::TsbsStore, queries: 3, seed: 1, query_types, .. })
                if query_types == &["lastpoint", "high-cpu-1"]
        ));
    }

    #[test]
    fn byte_sizes_with_and_without_units() {
        assert_eq!(parse_byte_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_byte_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_byte_size("2 gib"), Ok(2 << 30));
        assert_eq!(parse_byte_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_byte_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_byte_size("64k"), Ok(65_536));
        assert!(parse_byte_size("0").unwrap_err().contains("more than 0"));
        assert!(parse_byte_size("5 parsecs")
            .unwrap_err()
            .contains("unknown unit 'parsecs'"));
        assert!(parse_byte_size("MiB")
            .unwrap_err()
            .starts_with("bad size 'MiB'"));
        assert!(parse_byte_size("99999999999TiB").is_err());
    }

    #[test]
    fn usage_errors_exit_with_2() {
        let err = Cli::try_parse_from(["tsq", "query", "--data", "d"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["tsq", "import", "--precision", "h", "f"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
