//! Dispatch of the parsed command line to the commands, and their exit
//! codes: 0 ok, 1 query or data error, 2 usage error.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::error::ErrorKind;
use clap::CommandFactory;
use tokio::runtime::Runtime;

use tsq_storage::tsm::{Store, StoreOptions, TsmError};

use crate::cli::args::{format_name, Cli, Command, FormatArg};
use crate::cli::backend::{Backend, CliError, OpenMode, Opener};
use crate::cli::bench_cmd::{BenchOptions, Suite};
use crate::cli::bench_store::StoreBenchOptions;
use crate::cli::compact_cmd;
use crate::cli::demo_cmd::{disk_usage, ensure_demo_data, Progress, BANNER};
use crate::cli::error_render::escape_controls;
use crate::cli::export::{export, parse_time, ExportFormat, ExportOptions, ExportSummary};
use crate::cli::import::import;
use crate::cli::import_parquet::import_parquet;
use crate::cli::repl::{run_repl, EditorSource, ReaderSource, HISTORY_FILE};
use crate::cli::runner::{terminal_size, Runner};
use crate::cli::TableOptions;
use crate::demo::DemoConfig;

/// Default data directory of `tsq demo`.
pub const DEFAULT_DEMO_DIR: &str = "./tsq-demo-data";

/// Rows a REPL table shows before it says how many more there are.
const REPL_MAX_ROWS: usize = 100;

/// Runs the command; returns the process exit code.
pub fn run(cli: Cli, open: &Opener) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&CliError::Data(format!("cannot start the runtime: {e}"))),
    };
    let result = match &cli.command {
        None => require_data(&cli).and_then(|dir| {
            let backend = open(&dir, OpenMode::Existing)?;
            let code = repl(&cli, &backend, &dir, &runtime, None)?;
            backend.ingest.close(false)?;
            Ok(code)
        }),
        Some(Command::Demo {
            hosts,
            hours,
            seed,
            no_repl,
        }) => {
            let dir = cli
                .data
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DEMO_DIR));
            let config = DemoConfig {
                hosts: *hosts,
                hours: *hours,
                seed: *seed,
                ..DemoConfig::default()
            };
            demo(&cli, &dir, &config, *no_repl, &runtime, open)
        }
        Some(Command::Import {
            precision,
            measurement,
            tags,
            no_compact,
            cluster: None,
            files,
        }) => require_data(&cli).and_then(|dir| {
            let parquet = match cli.format {
                None | Some(FormatArg::Lp) => false,
                Some(FormatArg::Parquet) => true,
                Some(other) => {
                    return Err(CliError::Usage(format!(
                        "import reads --format lp (the default) or parquet, not {}",
                        format_name(other)
                    )))
                }
            };
            let backend = open(&dir, OpenMode::Create)?;
            let ingest = backend.ingest.as_ref();
            let summary = if parquet {
                import_parquet(ingest, files, measurement.as_deref(), tags, &mut io::stderr())?
            } else {
                import(ingest, files, *precision, io::stderr().is_terminal(), &mut io::stderr())?
            };
            println!("{}", summary.describe());
            // --no-compact leaves the points in the WAL and the cache.
            if !*no_compact {
                if let Some(report) = ingest.close(true)? {
                    println!("{}", compact_cmd::describe(&report));
                }
            }
            Ok(if summary.rejected > 0 { 1 } else { 0 })
        }),
        Some(Command::Export {
            from,
            to,
            measurement,
            out,
        }) => require_data(&cli).and_then(|dir| {
            let format = match cli.format {
                Some(FormatArg::Parquet) => ExportFormat::Parquet,
                Some(FormatArg::Csv) => ExportFormat::Csv,
                Some(FormatArg::Lp) => ExportFormat::Lp,
                _ => {
                    return Err(CliError::Usage(
                        "export needs --format parquet, csv or lp".into(),
                    ))
                }
            };
            let options = ExportOptions {
                format,
                measurement: measurement.clone(),
                from: from.as_deref().map(parse_time).transpose()?,
                to: to.as_deref().map(parse_time).transpose()?,
            };
            let summary = export_store(&dir, &options, out)?;
            println!(
                "exported {} rows ({} values) to {}",
                summary.rows,
                summary.points,
                out.display()
            );
            if summary.skipped > 0 {
                eprintln!(
                    "notice: {} NaN or infinite float values left out (line protocol cannot spell them)",
                    summary.skipped
                );
            }
            Ok(0)
        }),
        Some(Command::Compact) => require_data(&cli).and_then(|dir| {
            let backend = open(&dir, OpenMode::ExistingWrite)?;
            match backend.ingest.close(true)? {
                Some(report) => println!("{}", compact_cmd::describe(&report)),
                None => println!("nothing to compact"),
            }
            Ok(0)
        }),
        Some(Command::Import {
            cluster: Some(cluster),
            files,
            precision,
            ..
        }) => crate::cli::cluster_cmd::import(&runtime, cluster, files, *precision),
        Some(Command::Query {
            query: Some(text),
            cluster: Some(cluster),
            ..
        }) => cli.output_format().and_then(|format| {
            crate::cli::cluster_cmd::query(&runtime, cluster, text, format)
        }),
        Some(Command::Worker { listen }) => require_data(&cli)
            .and_then(|dir| crate::cli::cluster_cmd::worker(&runtime, &dir, *listen)),
        Some(Command::Query {
            file,
            query,
            allow_partial,
            ..
        }) => require_data(&cli).and_then(|dir| {
            let backend = open(&dir, OpenMode::Existing)?;
            if *allow_partial && !backend.engine.set_allow_partial(true) {
                return Err(CliError::Usage(
                    "--allow-partial is not supported by this engine".into(),
                ));
            }
            let (name, text) = match (file, query) {
                (Some(path), _) => (path.display().to_string(), read_script(path)?),
                (None, Some(q)) => ("query".to_string(), q.clone()),
                (None, None) => return Err(CliError::Usage("a query or -f FILE is needed".into())),
            };
            let mut runner = runner(&cli, &backend, &runtime)?;
            runner.source_name = name;
            let ok = runner.run_script(&text, &mut io::stdout().lock(), &mut io::stderr());
            backend.ingest.close(false)?;
            Ok(if ok { 0 } else { 1 })
        }),
        Some(Command::Bench {
            suite: Suite::TsbsStore,
            queries,
            seed,
            query_types,
            ..
        }) => require_data(&cli).and_then(|dir| {
            let options = StoreBenchOptions {
                dir,
                queries: *queries,
                seed: *seed,
                query_types: query_types.clone(),
                threads: cli.threads.map(usize::from),
                memory_budget: cli.memory_budget,
            };
            cli.output_format()
                .and_then(|format| crate::cli::bench_store::run(&options, format))
        }),
        Some(Command::Bench {
            scale,
            runs,
            scaling,
            suite,
            ..
        }) => {
            let options = BenchOptions {
                scale: *scale,
                runs: *runs,
                scaling: *scaling,
                suite: *suite,
                threads: cli.threads.map(usize::from),
            };
            cli.output_format()
                .and_then(|format| crate::cli::bench_cmd::run(&options, format))
        }
        Some(Command::Serve(args)) => require_data(&cli).and_then(|dir| {
            crate::cli::serve_cmd::run(&runtime, &dir, args, cli.memory_budget)
        }),
        Some(Command::Check) => require_data(&cli)
            .and_then(|dir| crate::cli::check_cmd::check(&dir, &mut io::stdout().lock())),
        Some(Command::Repair) => require_data(&cli)
            .and_then(|dir| crate::cli::check_cmd::repair(&dir, &mut io::stdout().lock())),
    };
    let code = result.unwrap_or_else(|e| fail(&e));
    crate::cli::runner::report_peak_rss();
    code
}

/// `--data`, or a clap usage error (exit code 2) when it is missing.
fn require_data(cli: &Cli) -> Result<PathBuf, CliError> {
    cli.data.clone().ok_or_else(|| {
        let err = Cli::command().error(
            ErrorKind::MissingRequiredArgument,
            "--data <DIR> is required",
        );
        let _ = err.print();
        CliError::Usage(String::new())
    })
}

fn fail(e: &CliError) -> i32 {
    let text = e.to_string();
    if !text.is_empty() {
        eprintln!("error: {}", escape_controls(&text));
    }
    e.exit_code()
}

fn read_script(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| CliError::Data(format!("{}: {e}", path.display())))
}

/// A runner with the command line's format, strategy and limits.
fn runner(cli: &Cli, backend: &Backend, runtime: &Runtime) -> Result<Runner, CliError> {
    let format = cli.output_format()?;
    if let Some(choice) = cli.strategy {
        backend.engine.set_strategy(choice.0);
    }
    if let Some(mut limits) = backend.engine.limits() {
        limits.memory_budget = cli.memory_budget.unwrap_or(limits.memory_budget);
        limits.max_buckets = cli.max_buckets.unwrap_or(limits.max_buckets);
        limits.threads = cli.threads.map_or(limits.threads, usize::from);
        if let Err(e) = backend.engine.set_limits(limits) {
            let _ = fail(&e);
        }
    }
    let mut runner = Runner::new(
        std::sync::Arc::clone(&backend.engine),
        runtime.handle().clone(),
    );
    runner.format = format;
    Ok(runner)
}

/// `tsq export`: opens the store itself (typed reads, not queries), exports,
/// and closes it.
fn export_store(
    dir: &Path,
    options: &ExportOptions,
    out: &Path,
) -> Result<ExportSummary, CliError> {
    if !dir.is_dir() {
        return Err(CliError::Data(format!(
            "no data directory at {}",
            dir.display()
        )));
    }
    let open_err = |e: TsmError| CliError::Data(format!("the store in {}: {e}", dir.display()));
    let (store, report) = Store::open(dir, StoreOptions::default()).map_err(open_err)?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    let summary = export(&store, options, out)?;
    store.close().map_err(open_err)?;
    Ok(summary)
}

fn demo(
    cli: &Cli,
    dir: &Path,
    config: &DemoConfig,
    no_repl: bool,
    runtime: &Runtime,
    open: &Opener,
) -> Result<i32, CliError> {
    let backend = open(dir, OpenMode::Create)?;
    let progress = if io::stderr().is_terminal() {
        Progress::Bar
    } else {
        Progress::Lines
    };
    match ensure_demo_data(backend.ingest.as_ref(), dir, config, progress)? {
        Some(run) => {
            if run.resumed_after_rows > 0 {
                println!(
                    "resumed an interrupted run after {} of {} rows",
                    run.resumed_after_rows,
                    config.rows()
                );
            }
            println!(
                "{} into {}",
                run.summary.describe().replacen("from 0 files ", "", 1),
                dir.display()
            );
            if let Some(report) = backend.ingest.close(true)? {
                println!("{}", compact_cmd::describe(&report));
            }
            let bytes = disk_usage(dir);
            println!(
                "{} uses {:.1} MiB on disk, {:.2} bytes per metric",
                dir.display(),
                bytes as f64 / 1048576.0,
                bytes as f64 / config.points().max(1) as f64
            );
        }
        None => println!("reusing the demo data in {}", dir.display()),
    }
    let code = if no_repl {
        0
    } else {
        repl(cli, &backend, dir, runtime, Some(BANNER))?
    };
    backend.ingest.close(false)?;
    Ok(code)
}

/// The REPL on a terminal (banner, history, Ctrl-C, table cut to the
/// terminal), or the statements of piped stdin.
fn repl(
    cli: &Cli,
    backend: &Backend,
    dir: &Path,
    runtime: &Runtime,
    banner: Option<&str>,
) -> Result<i32, CliError> {
    let mut runner = runner(cli, backend, runtime)?;
    let (mut out, mut err) = (io::stdout(), io::stderr());
    if !io::stdin().is_terminal() {
        runner.source_name = "stdin".into();
        let ok = run_repl(
            &mut runner,
            &mut ReaderSource(io::stdin().lock()),
            &mut out,
            &mut err,
        );
        return Ok(if ok { 0 } else { 1 });
    }
    runner.catch_ctrl_c = true;
    runner.source_name = "input".into();
    if io::stdout().is_terminal() {
        runner.table = TableOptions {
            max_width: Some(terminal_size().0),
            max_rows: Some(REPL_MAX_ROWS),
        };
    }
    let _ = write!(
        out,
        "{}",
        banner
            .unwrap_or("tsq: statements end with `;`, \\help lists the commands, Ctrl-D leaves.\n")
    );
    match EditorSource::new(dir.join(HISTORY_FILE)) {
        Ok(mut source) => {
            run_repl(&mut runner, &mut source, &mut out, &mut err);
            Ok(0)
        }
        Err(e) => Ok(fail(&CliError::Data(format!(
            "cannot start the line editor: {e}"
        )))),
    }
}
