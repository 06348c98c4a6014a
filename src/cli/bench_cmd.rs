//! `tsq bench`: generates fresh data, runs the benchmark suites (the HiTSDB
//! seed cases, the TSBS queries on the demo dataset, or the scaling series),
//! checks every engine's results equal, and prints one table per suite
//! (`--format table`, markdown) or one JSON document (`--format json`).
//! DataFusion joins the TSBS suite when the binary is built with
//! `--features datafusion`. `--suite tsbs-store` runs against an existing
//! store instead: [`crate::cli::bench_store`].

use crate::cli::backend::CliError;
use crate::cli::format::OutputFormat;
use tsq_bench_runner::report::{format_table, to_json, Report};

/// Which suites to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Suite {
    /// The seed cases, then the TSBS queries.
    #[default]
    All,
    /// HiTSDB's two seed cases, in memory and on TSM.
    Seed,
    /// The TSBS `cpu-only` queries on the `tsq demo` dataset.
    Tsbs,
    /// The TSBS `cpu-only` queries, random parameters, against the store at
    /// `--data` (read-only; see [`crate::cli::bench_store`]).
    TsbsStore,
}

/// What `tsq bench` was asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchOptions {
    /// Dataset scale (1.0 = the seed sizes; 100 hosts for TSBS).
    pub scale: f64,
    /// Runs per engine.
    pub runs: usize,
    /// Run the 1M/10M/100M scaling series instead of the suites.
    pub scaling: bool,
    /// Which suites.
    pub suite: Suite,
    /// Threads of the parallel engines (seed: pipelined on N partitions
    /// beside one thread; TSBS: tsq and DataFusion on N); default: the
    /// cores for TSBS, none beside one thread for the seed cases.
    pub threads: Option<usize>,
}

/// Runs the benchmarks and prints them in `format` to stdout.
pub fn run(options: &BenchOptions, format: OutputFormat) -> Result<i32, CliError> {
    if !(options.scale.is_finite() && options.scale > 0.0) {
        return Err(CliError::Usage(format!(
            "--scale must be positive, got {}",
            options.scale
        )));
    }
    if !matches!(format, OutputFormat::Table | OutputFormat::Json) {
        return Err(CliError::Usage(
            "tsq bench prints --format table or --format json".into(),
        ));
    }
    if options.suite == Suite::TsbsStore {
        return Err(CliError::Usage(
            "--suite tsbs-store runs against a store: give --data DIR".into(),
        ));
    }
    let data = |e: tsq_engine::EngineError| CliError::Data(e.to_string());
    let mut sections: Vec<(&str, Vec<Report>)> = Vec::new();
    if options.scaling {
        let sizes = [1_000_000, 10_000_000, 100_000_000];
        sections.push((
            "scaling",
            tsq_bench_runner::scaling::run(&sizes, options.runs).map_err(data)?,
        ));
    } else {
        if options.suite != Suite::Tsbs {
            let reports = tsq_bench_runner::suite::run_with_threads(
                options.scale,
                options.runs,
                options.threads.unwrap_or(1),
            )
            .map_err(data)?;
            sections.push(("seed", reports));
        }
        if options.suite != Suite::Seed {
            let reports = match options.threads {
                Some(n) => tsq_bench_runner::tsbs::run_with_threads(options.scale, options.runs, n),
                None => tsq_bench_runner::tsbs::run(options.scale, options.runs),
            }
            .map_err(data)?;
            sections.push(("tsbs", reports));
        }
    }
    if !tsq_bench_runner::HAS_DATAFUSION && sections.iter().any(|(name, _)| *name == "tsbs") {
        eprintln!(
            "note: DataFusion is not in this build; `cargo run --release --features datafusion -- bench` adds it"
        );
    }
    let rss = tsq_bench_runner::measure::process_peak_rss();
    print!("{}", render(&sections, rss, format));
    Ok(0)
}

/// The sections as markdown tables under `## name` headings, or as one
/// JSON object keyed by section name.
/// `rss` is the process's resident-set high-water mark, printed after the
/// tables (a `process_peak_rss_bytes` key in JSON).
fn render(sections: &[(&str, Vec<Report>)], rss: Option<usize>, format: OutputFormat) -> String {
    if format == OutputFormat::Json {
        let mut object: serde_json::Map<String, serde_json::Value> = sections
            .iter()
            .map(|(name, reports)| (name.to_string(), to_json(reports)))
            .collect();
        object.insert("process_peak_rss_bytes".into(), rss.into());
        return serde_json::to_string_pretty(&object).unwrap_or_default() + "\n";
    }
    let tables: Vec<String> = sections
        .iter()
        .map(|(name, reports)| format!("## {name}\n\n{}", format_table(reports)))
        .collect();
    let rss = rss.map_or_else(
        || "not reported by this OS".to_string(),
        |b| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    );
    format!(
        "{}\nProcess peak RSS (VmHWM, whole run): {rss}\n",
        tables.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tsq_bench_runner::report::EngineResult;

    fn reports() -> Vec<Report> {
        vec![Report {
            case: "lastpoint".into(),
            points: 1000,
            results: vec![EngineResult {
                engine: "tsq pipelined".into(),
                median: Duration::from_millis(2),
                rows: 4,
                engine_peak: Some(0),
                heap_peak: None,
            }],
            ceiling: None,
        }]
    }

    #[test]
    fn tables_have_a_heading_per_suite() {
        let text = render(
            &[("seed", reports()), ("tsbs", reports())],
            Some(3 << 20),
            OutputFormat::Table,
        );
        assert!(text.starts_with("## seed\n\n| case |"), "{text}");
        assert!(text.contains("\n## tsbs\n\n| case |"), "{text}");
        // 1000 points in 2 ms = 0.5 M/s
        assert!(text
            .contains("| lastpoint | tsq pipelined | 2.000 ms | 0.5 M | 0.0 MiB | n/a | 1.00x |"));
        assert!(
            text.ends_with("\nProcess peak RSS (VmHWM, whole run): 3.0 MiB\n"),
            "{text}"
        );
    }

    #[test]
    fn json_is_keyed_by_suite() {
        let text = render(&[("tsbs", reports())], None, OutputFormat::Json);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["tsbs"][0]["case"], "lastpoint");
        assert_eq!(v["tsbs"][0]["engines"][0]["rows"], 4);
        assert!(v["process_peak_rss_bytes"].is_null());
    }

    #[test]
    fn bad_options_are_usage_errors() {
        let mut o = BenchOptions {
            scale: 0.0,
            runs: 1,
            scaling: false,
            suite: Suite::Seed,
            threads: None,
        };
        let e = run(&o, OutputFormat::Table).unwrap_err();
        assert_eq!(e.to_string(), "--scale must be positive, got 0");
        o.scale = 1.0;
        let e = run(&o, OutputFormat::Csv).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tsq bench prints --format table or --format json"
        );
    }
}
