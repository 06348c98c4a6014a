//! `tsq bench --suite tsbs-store --data DIR`: the fifteen TSBS `cpu-only`
//! query types against an existing store, N instances each with random
//! parameters drawn as TSBS does (`tsq_bench_runner::tsbs::random`), run in
//! this process on the store opened once, read-only (the open is timed
//! apart). Prints per query type TSBS's report (count, min, median, mean,
//! p95, p99, max) with the peak RSS and the engine's peak, as a markdown
//! table or, with `--format json`, one JSON document (docs/benchmarks.md,
//! "TSBS at full scale").

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tsq_bench_runner::measure::process_peak_rss;
use tsq_bench_runner::tsbs::latency::{format_table, to_json, TypeSummary};
use tsq_bench_runner::tsbs::random::{QuerySpace, QueryType, QUERY_TYPES};
use tsq_bench_runner::tsbs::store::{query_space, run as run_queries, StoreRunOptions};
use tsq_engine::StorageAdapter;
use tsq_storage::tsm::{Access, Store, StoreOptions, TsmAdapter};

use crate::cli::backend::CliError;
use crate::cli::format::cell::format_time;
use crate::cli::format::OutputFormat;

/// What `tsq bench --suite tsbs-store` was asked.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreBenchOptions {
    /// The store's data directory.
    pub dir: PathBuf,
    /// Instances of each query type.
    pub queries: usize,
    /// Seed of the random parameters.
    pub seed: u64,
    /// Names of the query types to run; empty: all fifteen.
    pub query_types: Vec<String>,
    /// Threads of one query (default: the cores).
    pub threads: Option<usize>,
    /// Memory budget of one query (default: the session's).
    pub memory_budget: Option<usize>,
}

/// What was run and measured, for the report's heading.
#[derive(Debug, Clone, PartialEq)]
struct RunFacts {
    dir: String,
    open: Duration,
    space: QuerySpace,
    queries: usize,
    seed: u64,
    threads: usize,
    load_before: Option<String>,
    load_after: Option<String>,
    process_rss: Option<usize>,
}

/// Opens the store, runs the queries and prints the report to stdout.
pub fn run(options: &StoreBenchOptions, format: OutputFormat) -> Result<i32, CliError> {
    if !matches!(format, OutputFormat::Table | OutputFormat::Json) {
        return Err(CliError::Usage(
            "tsq bench prints --format table or --format json".into(),
        ));
    }
    if options.queries == 0 {
        return Err(CliError::Usage("--queries must be at least 1".into()));
    }
    let types = query_types(&options.query_types)?;
    let dir = &options.dir;
    if !dir.is_dir() {
        return Err(CliError::Data(format!(
            "no data directory at {}",
            dir.display()
        )));
    }
    let load_before = load_average();
    let opened = Instant::now();
    let store_options = StoreOptions {
        access: Access::ReadOnly,
        ..StoreOptions::default()
    };
    let (store, report) = Store::open(dir, store_options)
        .map_err(|e| CliError::Data(format!("cannot open the store in {}: {e}", dir.display())))?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    let store = Arc::new(store);
    let adapter: Arc<dyn StorageAdapter> = Arc::new(TsmAdapter::new(Arc::clone(&store)));
    let open = opened.elapsed();
    let data = |e: tsq_engine::EngineError| CliError::Data(format!("{}: {e}", dir.display()));
    let space = query_space(adapter.as_ref()).map_err(data)?;
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let run_options = StoreRunOptions {
        queries: options.queries,
        seed: options.seed,
        types,
        threads,
        memory_budget: options.memory_budget,
    };
    // Each type resets the high-water mark: keep the mark before them.
    let rss_before = process_peak_rss();
    let summaries = run_queries(adapter, &space, &run_options);
    for s in &summaries {
        if let Some(e) = &s.first_error {
            eprintln!(
                "{}: {} of {} failed; first: {e}",
                s.name, s.errors, options.queries
            );
        }
    }
    let facts = RunFacts {
        dir: dir.display().to_string(),
        open,
        space,
        queries: options.queries,
        seed: options.seed,
        threads,
        load_before,
        load_after: load_average(),
        process_rss: whole_run_rss(rss_before, &summaries, process_peak_rss()),
    };
    print!("{}", render(&facts, &summaries, format));
    let failed = summaries.iter().any(|s| s.errors > 0);
    Ok(if failed { 1 } else { 0 })
}

/// The process's peak RSS over the whole run: the most of the mark before
/// the queries, the marks of each type (reset before it) and the mark at
/// the end.
fn whole_run_rss(
    before: Option<usize>,
    summaries: &[TypeSummary],
    end: Option<usize>,
) -> Option<usize> {
    let marks = summaries.iter().map(|s| s.rss_peak);
    [before, end].into_iter().chain(marks).flatten().max()
}

/// The types named in `names` (all fifteen when empty), in TSBS's order.
fn query_types(names: &[String]) -> Result<Vec<QueryType>, CliError> {
    if names.is_empty() {
        return Ok(QUERY_TYPES.iter().map(|(_, t)| *t).collect());
    }
    let mut wanted = Vec::with_capacity(names.len());
    for name in names {
        let t = QueryType::parse(name.trim()).map_err(|e| CliError::Usage(e.to_string()))?;
        wanted.push(t);
    }
    Ok(QUERY_TYPES
        .iter()
        .map(|(_, t)| *t)
        .filter(|t| wanted.contains(t))
        .collect())
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), where the OS
/// reports them.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    (fields.len() == 3).then(|| fields.join(" "))
}

/// The report: a heading and the table, or one JSON object.
fn render(facts: &RunFacts, summaries: &[TypeSummary], format: OutputFormat) -> String {
    let open_ms = facts.open.as_secs_f64() * 1e3;
    if format == OutputFormat::Json {
        let object = serde_json::json!({
            "store": facts.dir,
            "open_ms": open_ms,
            "start": format_time(facts.space.start),
            "end": format_time(facts.space.end),
            "hosts": facts.space.hosts.len(),
            "queries_per_type": facts.queries,
            "seed": facts.seed,
            "threads": facts.threads,
            "load_average_before": facts.load_before,
            "load_average_after": facts.load_after,
            "query_types": to_json(summaries),
            "process_peak_rss_bytes": facts.process_rss,
        });
        return serde_json::to_string_pretty(&object).unwrap_or_default() + "\n";
    }
    let load = |l: &Option<String>| l.clone().unwrap_or_else(|| "n/a".into());
    let rss = facts.process_rss.map_or_else(
        || "not reported by this OS".to_string(),
        |b| format!("{:.1} MiB", b as f64 / 1048576.0),
    );
    format!(
        "## tsbs-store\n\n\
         store {} opened read-only in {open_ms:.1} ms; data {} to {}, {} hosts; \
         {} queries per type, seed {}, {} thread(s); load average {} before, {} after\n\n\
         {}\nProcess peak RSS (VmHWM, whole run): {rss}\n",
        facts.dir,
        format_time(facts.space.start),
        format_time(facts.space.end),
        facts.space.hosts.len(),
        facts.queries,
        facts.seed,
        facts.threads,
        load(&facts.load_before),
        load(&facts.load_after),
        format_table(summaries),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_types_keep_tsbs_order_and_refuse_unknown_names() {
        let names = vec!["lastpoint".to_string(), " cpu-max-all-8".to_string()];
        let types = query_types(&names).unwrap();
        let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["cpu-max-all-8", "lastpoint"]);
        assert_eq!(query_types(&[]).unwrap().len(), 15);
        let err = query_types(&["nope".to_string()]).unwrap_err();
        assert!(matches!(err, CliError::Usage(_)));
        assert!(
            err.to_string().contains("unknown query type 'nope'"),
            "{err}"
        );
    }

    #[test]
    fn the_whole_run_rss_is_the_highest_mark() {
        let mut a = TypeSummary::new("a", vec![]);
        a.rss_peak = Some(532);
        let b = TypeSummary::new("b", vec![]);
        assert_eq!(whole_run_rss(Some(100), &[a, b], Some(460)), Some(532));
        assert_eq!(whole_run_rss(None, &[], None), None);
    }

    #[test]
    fn the_heading_names_the_run() {
        let facts = RunFacts {
            dir: "/d".into(),
            open: Duration::from_millis(250),
            space: QuerySpace {
                start: 0,
                end: 3_600_000_000_000,
                hosts: vec!["host_0".into(), "host_1".into()],
            },
            queries: 4,
            seed: 9,
            threads: 2,
            load_before: Some("1.00 2.00 3.00".into()),
            load_after: None,
            process_rss: Some(2 << 20),
        };
        let s = TypeSummary::new("lastpoint", vec![Duration::from_millis(1); 4]);
        let text = render(&facts, std::slice::from_ref(&s), OutputFormat::Table);
        assert!(text.starts_with(
            "## tsbs-store\n\nstore /d opened read-only in 250.0 ms; data 1970-01-01T00:00:00Z to \
             1970-01-01T01:00:00Z, 2 hosts; 4 queries per type, seed 9, 2 thread(s); \
             load average 1.00 2.00 3.00 before, n/a after\n\n| query type |"
        ), "{text}");
        assert!(
            text.contains("\n| lastpoint | 4 | 1.0 | 1.0 | 1.0 | 1.0 | 1.0 | 1.0 | 0 |"),
            "{text}"
        );
        assert!(
            text.ends_with("Process peak RSS (VmHWM, whole run): 2.0 MiB\n"),
            "{text}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(&facts, &[s], OutputFormat::Json)).unwrap();
        assert_eq!(json["open_ms"], 250.0);
        assert_eq!(json["hosts"], 2);
        assert_eq!(json["query_types"][0]["count"], 4);
        assert_eq!(json["end"], "1970-01-01T01:00:00Z");
    }
}
