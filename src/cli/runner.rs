//! Runs statements and backslash commands and prints what they return.
//!
//! The REPL, `tsq query` and scripts all go through [`Runner`]: it executes a
//! statement on the tokio runtime (as its own task, so that Ctrl-C can set
//! the session's cancellation token while the query computes), prints notices
//! to stderr, rows in the current [`OutputFormat`], EXPLAIN text as is, errors
//! like a compiler, and keeps the last result for `\chart`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use tokio::runtime::Handle;
use tsq_planner::Executor;

use crate::cli::backend::{CliError, OutputKind, QueryEngine, QueryResult, Result, Streamed};
use crate::cli::chart::{render_chart, series_from_result, ChartOptions};
use crate::cli::describe::{describe_measurement, list_measurements, Listing};
use crate::cli::error_render::render_error;
use crate::cli::format::{write_rows, OutputFormat, RowWriter, TableOptions};
use crate::cli::meta::{MetaCommand, Setting, HELP};
use crate::cli::statements::{split_statements, Statement};

/// Most rows of a result kept for `\chart` (a longer one is printed, not
/// kept).
const CHART_ROWS: usize = 100_000;

/// What a backslash command asks of the loop that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// The command failed (its error is printed); keep reading.
    Failed,
    /// Leave the REPL.
    Quit,
}

/// Executes statements on one engine and prints their results.
pub struct Runner {
    engine: Arc<dyn QueryEngine>,
    runtime: Handle,
    /// Output format of result rows.
    pub format: OutputFormat,
    /// Print each statement's elapsed time.
    pub timing: bool,
    /// Limits for tables (the terminal size in the REPL).
    pub table: TableOptions,
    /// Ctrl-C cancels the running statement instead of ending the process.
    pub catch_ctrl_c: bool,
    /// Name of the input in error locations (`query`, a file name, `stdin`).
    pub source_name: String,
    last: Option<QueryResult>,
}

impl Runner {
    /// A runner printing tables without limits, Ctrl-C not caught.
    pub fn new(engine: Arc<dyn QueryEngine>, runtime: Handle) -> Self {
        Runner {
            engine,
            runtime,
            format: OutputFormat::Table,
            timing: false,
            table: TableOptions::default(),
            catch_ctrl_c: false,
            source_name: "query".to_string(),
            last: None,
        }
    }

    /// The engine statements run on.
    pub fn engine(&self) -> &Arc<dyn QueryEngine> {
        &self.engine
    }

    /// Runs every statement of `script`; false if any failed (the others
    /// still run).
    pub fn run_script(&mut self, script: &str, out: &mut dyn Write, err: &mut dyn Write) -> bool {
        let mut ok = true;
        for stmt in split_statements(script) {
            ok &= self.run_statement(&stmt, script, out, err);
        }
        ok
    }

    /// Runs one statement of `script` and prints its result or its error.
    pub fn run_statement(
        &mut self,
        stmt: &Statement<'_>,
        script: &str,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> bool {
        let started = Instant::now();
        let result = self.stream_statement(stmt.text, out, err);
        if self.timing {
            let _ = writeln!(out, "Time: {:.3} ms", started.elapsed().as_secs_f64() * 1e3);
        }
        match result {
            Ok(()) => true,
            Err(e) => {
                let _ = write!(
                    err,
                    "{}",
                    render_error(&e, Some((stmt, script)), &self.source_name)
                );
                false
            }
        }
    }

    /// Runs `sql` and prints its result as it comes: notices to `err`
    /// first, then the rows batch by batch (`RowWriter`), then notices only
    /// known at the end. With `catch_ctrl_c`, a Ctrl-C meanwhile cancels
    /// the statement through the session's token (fetched when it arrives:
    /// the session hands a fresh one to each query after a cancellation).
    fn stream_statement(
        &mut self,
        sql: &str,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<()> {
        let engine = Arc::clone(&self.engine);
        let sql = sql.to_string();
        let started = self.runtime.spawn(async move { engine.stream(&sql).await });
        let started = self.until_done_or_ctrl_c(started);
        let (streamed, notices) =
            started.map_err(|e| CliError::Execution(format!("the query task failed: {e}")))??;
        for notice in &notices {
            let _ = writeln!(err, "notice: {notice}");
        }
        let (schema, mut batches) = match streamed {
            Streamed::Explain(text) => {
                let newline = if text.ends_with('\n') { "" } else { "\n" };
                write!(out, "{text}{newline}").map_err(io_error)?;
                self.last = Some(QueryResult {
                    kind: OutputKind::Explain(text),
                    notices,
                });
                return Ok(());
            }
            Streamed::Rows { schema, batches } => (schema, batches),
        };
        let mut writer = RowWriter::new(self.format, Arc::clone(&schema), &self.table);
        // `\chart` draws the last result: kept while it is small
        let mut kept = Some(Vec::new());
        let mut kept_rows = 0;
        loop {
            let next = self.until_done_or_ctrl_c(batches.next());
            let Some(batch) = next else {
                break;
            };
            let batch = batch?;
            writer.write(out, &batch).map_err(io_error)?;
            kept_rows += batch.num_rows();
            match &mut kept {
                Some(k) if kept_rows <= CHART_ROWS => k.push(batch),
                _ => kept = None,
            }
        }
        writer.finish(out).map_err(io_error)?;
        let late = self.engine.after_stream();
        for notice in &late {
            let _ = writeln!(err, "notice: {notice}");
        }
        self.last = kept.map(|batches| QueryResult {
            kind: OutputKind::Rows { schema, batches },
            notices: notices.into_iter().chain(late).collect(),
        });
        Ok(())
    }

    /// Blocks on `work`; with `catch_ctrl_c`, a Ctrl-C meanwhile cancels
    /// the running statement, and `work` then ends with its error.
    fn until_done_or_ctrl_c<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        if !self.catch_ctrl_c {
            return self.runtime.block_on(work);
        }
        let engine = Arc::clone(&self.engine);
        self.runtime.block_on(async move {
            tokio::pin!(work);
            tokio::select! {
                r = &mut work => r,
                _ = tokio::signal::ctrl_c() => {
                    engine.cancel_token().cancel();
                    work.await
                }
            }
        })
    }

    /// Runs a backslash command; errors are printed, not returned.
    pub fn run_meta(&mut self, cmd: MetaCommand, out: &mut dyn Write, err: &mut dyn Write) -> Flow {
        let result = match cmd {
            MetaCommand::Quit => return Flow::Quit,
            MetaCommand::Help => write!(out, "{HELP}").map_err(io_error),
            MetaCommand::Timing(on) => {
                self.timing = on.unwrap_or(!self.timing);
                let state = if self.timing { "on" } else { "off" };
                writeln!(out, "Timing is {state}.").map_err(io_error)
            }
            MetaCommand::Format(None) => {
                writeln!(out, "Output format is {}.", self.format).map_err(io_error)
            }
            MetaCommand::Format(Some(f)) => {
                self.format = f;
                writeln!(out, "Output format is {f}.").map_err(io_error)
            }
            MetaCommand::Strategy(set) => {
                if let Some(strategy) = set {
                    self.engine.set_strategy(strategy);
                }
                let shown = self
                    .engine
                    .strategy()
                    .map_or("auto (the planner chooses)".to_string(), |s| s.to_string());
                writeln!(out, "Aggregation strategy is {shown}.").map_err(io_error)
            }
            MetaCommand::Executor(set) => {
                if let Some(executor) = set {
                    self.engine.set_executor(executor);
                }
                let shown = match self.engine.executor() {
                    Executor::Pipelined => "pipelined (the operators)",
                    Executor::Materialized => "materialized (whole timelines in memory)",
                };
                writeln!(out, "Executor is {shown}.").map_err(io_error)
            }
            MetaCommand::Set(setting) => self.set(setting, out),
            MetaCommand::Describe(m) => self.describe(m.as_deref(), out),
            MetaCommand::Chart => self.chart(out),
        };
        if let Err(e) = result {
            let _ = write!(err, "{}", render_error(&e, None, &self.source_name));
            return Flow::Failed;
        }
        Flow::Continue
    }

    /// `\set`: changes a limit (if given), then shows both.
    fn set(&self, setting: Option<Setting>, out: &mut dyn Write) -> Result<()> {
        if let Some(setting) = setting {
            let Some(mut limits) = self.engine.limits() else {
                return Err(CliError::Usage(
                    "this engine has no query limits to set".into(),
                ));
            };
            match setting {
                Setting::MemoryBudget(b) => limits.memory_budget = b,
                Setting::MaxBuckets(n) => limits.max_buckets = n,
                Setting::Threads(n) => limits.threads = n,
            }
            self.engine.set_limits(limits)?;
        }
        match self.engine.limits() {
            Some(l) => writeln!(
                out,
                "memory_budget is {} ({} bytes); max_buckets is {}; threads is {}.",
                show_bytes(l.memory_budget),
                l.memory_budget,
                l.max_buckets,
                l.threads
            )
            .map_err(io_error),
            None => writeln!(out, "This engine has no query limits.").map_err(io_error),
        }
    }

    fn describe(&self, measurement: Option<&str>, out: &mut dyn Write) -> Result<()> {
        let adapter = self.engine.catalog();
        let listings: Vec<Listing> = self.runtime.block_on(async {
            match measurement {
                None => list_measurements(adapter.as_ref()).await,
                Some(m) => describe_measurement(adapter.as_ref(), m).await,
            }
        })?;
        for listing in listings {
            if !listing.title.is_empty() {
                writeln!(out, "{}", listing.title).map_err(io_error)?;
            }
            let batch = listing.batch;
            write_rows(
                out,
                OutputFormat::Table,
                &batch.schema(),
                std::slice::from_ref(&batch),
                &TableOptions::default(),
            )
            .map_err(io_error)?;
        }
        Ok(())
    }

    fn chart(&self, out: &mut dyn Write) -> Result<()> {
        let Some(QueryResult {
            kind: OutputKind::Rows { schema, batches },
            ..
        }) = &self.last
        else {
            return Err(CliError::Usage(
                "\\chart draws the last result: run a query first".into(),
            ));
        };
        let series = series_from_result(schema, batches).map_err(CliError::Usage)?;
        let (cols, rows) = terminal_size();
        let options = ChartOptions {
            width: cols.saturating_sub(12).clamp(10, 200),
            height: rows.saturating_sub(8).clamp(4, 24),
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        let text = render_chart(&series, &options).map_err(CliError::Usage)?;
        write!(out, "{text}").map_err(io_error)
    }
}

/// Columns and rows of the terminal on stdout (80 × 24 when it is not one).
pub fn terminal_size() -> (usize, usize) {
    console::Term::stdout()
        .size_checked()
        .map_or((80, 24), |(rows, cols)| (cols as usize, rows as usize))
}

/// Bytes in the largest binary unit that divides them (`1GiB`, `1536KiB`).
fn show_bytes(bytes: usize) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// With `TSQ_REPORT_PEAK_RSS` set, prints the process's peak resident set
/// size (`VmHWM` of /proc/self/status) to stderr: the tests of the memory
/// budget read it at exit. Silent where /proc is not available. Also
/// prints the most heap bytes live at once in the process, when the
/// binary counts them (`docs/benchmarks.md`, "Streaming a raw select").
pub fn report_peak_rss() {
    if std::env::var_os("TSQ_REPORT_PEAK_RSS").is_none() {
        return;
    }
    // the peak since the process started (0: the heap is not counted)
    let heap = tsq_bench_runner::measure::heap_peak_since(0);
    if heap > 0 {
        eprintln!("tsq peak heap: {:.1} MiB", heap as f64 / (1 << 20) as f64);
    }
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return;
    };
    if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) {
        eprintln!("tsq peak RSS: {}", line["VmHWM:".len()..].trim());
    }
}

fn io_error(e: std::io::Error) -> CliError {
    CliError::Data(format!("cannot write the output: {e}"))
}
