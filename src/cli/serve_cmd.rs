//! `tsq serve --data DIR`: opens the store once and serves it over HTTP
//! (InfluxDB-compatible writes, SQL, metrics) and Arrow Flight SQL until
//! SIGINT or SIGTERM; then stops accepting, lets the requests in flight
//! finish (at most [`DRAIN_TIMEOUT`]), flushes and closes the store
//! (`docs/server.md`).
//!
//! On startup it prints one line per bound address on stdout, e.g.
//! `tsq serve: http listening on 127.0.0.1:8181` (with `--http
//! 127.0.0.1:0` the line carries the port the system chose).

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tsq_storage::tsm::StoreOptions;

use crate::cli::args::parse_byte_size;
use crate::cli::backend::CliError;
use crate::server::auth::Token;
use crate::server::http::{self, HttpState, Metrics};
use crate::server::limits::{self, Limits};
use crate::{Database, DatabaseOptions};

/// Longest wait for the requests in flight after a shutdown signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Period of the store's background compaction while serving.
const COMPACTION_PERIOD: Duration = Duration::from_secs(30);

/// The flags of `tsq serve` (the data directory and the per-query memory
/// budget are the global `--data` and `--memory-budget`).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address of the HTTP server (writes, SQL, metrics).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8181")]
    pub http: SocketAddr,
    /// Address of the Arrow Flight SQL server.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8182")]
    pub flight: SocketAddr,
    /// A file holding the token clients must send (`Authorization: Bearer
    /// <token>`); without it the server accepts every request.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Most bytes of a request body as sent.
    #[arg(long, value_name = "SIZE", value_parser = parse_byte_size, default_value_t = limits::DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// Most bytes of a gzip request body once decompressed.
    #[arg(long, value_name = "SIZE", value_parser = parse_byte_size, default_value_t = limits::DEFAULT_MAX_DECOMPRESSED)]
    pub max_decompressed: usize,
    /// Most bytes of one line of line protocol.
    #[arg(long, value_name = "SIZE", value_parser = parse_byte_size, default_value_t = limits::DEFAULT_MAX_LINE)]
    pub max_line: usize,
    /// Most bytes of a query's text.
    #[arg(long, value_name = "SIZE", value_parser = parse_byte_size, default_value_t = limits::DEFAULT_MAX_QUERY)]
    pub max_query: usize,
    /// Most queries running at once; the others wait for a slot.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_CONCURRENT_QUERIES)]
    pub max_concurrent_queries: usize,
    /// Seconds a query waits for a slot before it is refused (503).
    #[arg(long, value_name = "SECS", default_value_t = limits::DEFAULT_QUERY_WAIT.as_secs())]
    pub query_wait: u64,
}

impl ServeArgs {
    /// The limits these flags (and the global `--memory-budget`) set.
    pub fn limits(&self, memory_budget: Option<usize>) -> Limits {
        Limits {
            max_body_bytes: self.max_body,
            max_decompressed_bytes: self.max_decompressed,
            max_line_bytes: self.max_line,
            max_query_bytes: self.max_query,
            max_concurrent_queries: self.max_concurrent_queries.max(1),
            query_wait: Duration::from_secs(self.query_wait),
            query_memory_bytes: memory_budget.unwrap_or(limits::DEFAULT_QUERY_MEMORY),
        }
    }
}

/// Runs the server on `runtime` until a shutdown signal; returns the exit
/// code (0 after a clean shutdown).
pub fn run(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    args: &ServeArgs,
    memory_budget: Option<usize>,
) -> Result<i32, CliError> {
    runtime.block_on(serve(dir, args, memory_budget))
}

async fn serve(
    dir: &Path,
    args: &ServeArgs,
    memory_budget: Option<usize>,
) -> Result<i32, CliError> {
    let token = match &args.token_file {
        Some(path) => Some(Token::from_file(path).map_err(|e| CliError::Usage(e.to_string()))?),
        None => None,
    };
    let limits = args.limits(memory_budget);
    let store = StoreOptions {
        background_interval: Some(COMPACTION_PERIOD),
        ..StoreOptions::default()
    };
    let db = Database::open_with(dir, DatabaseOptions::new().with_store_options(store))
        .await
        .map_err(|e| CliError::Data(e.to_string()))?;
    for warning in &db.open_report().warnings {
        eprintln!("tsq serve: warning: {warning}");
    }
    let (stop, stopped) = watch::channel(false);
    let shutdown = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let listener = bind(args.http, "http").await?;
    let metrics = Metrics::new();
    let state = HttpState::new(
        db.clone(),
        token.clone(),
        limits.clone(),
        Arc::clone(&metrics),
    );
    let http_task = tokio::spawn(http::serve(listener, state, shutdown()));
    let flight_task = start_flight(args.flight, &db, token, &limits, shutdown()).await?;
    let _ = std::io::stdout().flush();

    let signal = wait_for_signal().await;
    eprintln!("tsq serve: {signal}: stopping (draining for at most {DRAIN_TIMEOUT:?})");
    let _ = stop.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        let http = http_task.await;
        if let Some(flight) = flight_task {
            let _ = flight.await;
        }
        http
    })
    .await;
    match drained {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("tsq serve: http server error: {e}"),
        Ok(Err(e)) => eprintln!("tsq serve: http server task failed: {e}"),
        Err(_) => {
            eprintln!("tsq serve: requests still running after {DRAIN_TIMEOUT:?}: closing anyway")
        }
    }
    db.close()
        .await
        .map_err(|e| CliError::Data(e.to_string()))?;
    eprintln!("tsq serve: store flushed and closed");
    Ok(0)
}

/// Binds `addr` and prints `tsq serve: <what> listening on <bound>`.
async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, CliError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::Data(format!("cannot listen on {addr} ({what}): {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| CliError::Data(format!("cannot read the {what} address: {e}")))?;
    println!("tsq serve: {what} listening on {bound}");
    Ok(listener)
}

/// Starts the Arrow Flight SQL server on `addr` (`docs/server.md`), stopped
/// by `shutdown`; it shares the database, token and limits of the HTTP side.
async fn start_flight(
    addr: SocketAddr,
    db: &Database,
    token: Option<Token>,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Option<tokio::task::JoinHandle<()>>, CliError> {
    let listener = bind(addr, "flight").await?;
    let state = crate::server::flight::FlightState {
        db: std::sync::Arc::new(db.clone()),
        token,
        limits: limits.clone(),
    };
    let task = tokio::spawn(async move {
        if let Err(e) = crate::server::flight::serve(listener, state, shutdown).await {
            eprintln!("tsq serve: flight server error: {e}");
        }
    });
    Ok(Some(task))
}

/// Waits for SIGINT or SIGTERM; returns its name.
async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
