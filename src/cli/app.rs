//! Dispatch of the parsed command line to the commands, and their exit
//! codes: 0 ok, 1 query or data error, 2 usage error.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::error::ErrorKind;
use clap::CommandFactory;
use tokio::runtime::Runtime;

use crate::cli::args::{Cli, Command};
use crate::cli::backend::{Backend, CliError, OpenMode, Opener};
use crate::cli::bench_cmd::BenchOptions;
use crate::cli::demo_cmd::{ensure_demo_data, BANNER};
use crate::cli::import::import;
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
            Ok(repl(&cli, &backend, &dir, &runtime, None))
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
        Some(Command::Import { precision, files }) => require_data(&cli).and_then(|dir| {
            let backend = open(&dir, OpenMode::Create)?;
            let summary = import(
                backend.ingest.as_ref(),
                files,
                *precision,
                io::stderr().is_terminal(),
                &mut io::stderr(),
            )?;
            println!("{}", summary.describe());
            Ok(if summary.rejected > 0 { 1 } else { 0 })
        }),
        Some(Command::Query {
            file,
            query,
            allow_partial,
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
            let mut runner = runner(&cli, &backend, &runtime);
            runner.source_name = name;
            let ok = runner.run_script(&text, &mut io::stdout().lock(), &mut io::stderr());
            Ok(if ok { 0 } else { 1 })
        }),
        Some(Command::Bench {
            scale,
            runs,
            scaling,
            suite,
        }) => {
            let options = BenchOptions {
                scale: *scale,
                runs: *runs,
                scaling: *scaling,
                suite: *suite,
            };
            crate::cli::bench_cmd::run(&options, cli.format)
        }
        Some(Command::Check) => require_data(&cli)
            .and_then(|dir| crate::cli::check_cmd::check(&dir, &mut io::stdout().lock())),
        Some(Command::Repair) => require_data(&cli)
            .and_then(|dir| crate::cli::check_cmd::repair(&dir, &mut io::stdout().lock())),
    };
    result.unwrap_or_else(|e| fail(&e))
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
        eprintln!("error: {text}");
    }
    e.exit_code()
}

fn read_script(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| CliError::Data(format!("{}: {e}", path.display())))
}

/// A runner with the command line's format and strategy.
fn runner(cli: &Cli, backend: &Backend, runtime: &Runtime) -> Runner {
    if let Some(choice) = cli.strategy {
        backend.engine.set_strategy(choice.0);
    }
    let mut runner = Runner::new(
        std::sync::Arc::clone(&backend.engine),
        runtime.handle().clone(),
    );
    runner.format = cli.format;
    runner
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
    let progress = io::stderr().is_terminal();
    match ensure_demo_data(backend.ingest.as_ref(), dir, config, progress)? {
        Some(summary) => println!(
            "{} into {}",
            summary.describe().replacen("from 0 files ", "", 1),
            dir.display()
        ),
        None => println!("reusing the demo data in {}", dir.display()),
    }
    if no_repl {
        return Ok(0);
    }
    Ok(repl(cli, &backend, dir, runtime, Some(BANNER)))
}

/// The REPL on a terminal (banner, history, Ctrl-C, table cut to the
/// terminal), or the statements of piped stdin.
fn repl(cli: &Cli, backend: &Backend, dir: &Path, runtime: &Runtime, banner: Option<&str>) -> i32 {
    let mut runner = runner(cli, backend, runtime);
    let (mut out, mut err) = (io::stdout(), io::stderr());
    if !io::stdin().is_terminal() {
        runner.source_name = "stdin".into();
        let ok = run_repl(
            &mut runner,
            &mut ReaderSource(io::stdin().lock()),
            &mut out,
            &mut err,
        );
        return if ok { 0 } else { 1 };
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
            0
        }
        Err(e) => fail(&CliError::Data(format!(
            "cannot start the line editor: {e}"
        ))),
    }
}
