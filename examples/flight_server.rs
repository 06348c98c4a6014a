//! A test-only Arrow Flight SQL server: opens the TSM store in `--data`,
//! serves it with [`tsq::server::flight::serve`] on `--addr` (127.0.0.1,
//! any free port by default) and prints `flight sql listening on ADDR`
//! once it accepts connections. SIGINT or SIGTERM stops it and closes the
//! store. The Python client test (`tests/python/run_flight_sql.sh`) starts
//! it until `tsq serve --flight` takes its place; see `docs/server.md`.
//!
//! ```text
//! cargo run --example flight_server -- --data DIR [--addr 127.0.0.1:0] [--token-file F]
//! ```

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use tsq::server::auth::Token;
use tsq::server::flight::{serve, FlightState};
use tsq::server::Limits;
use tsq::Database;

/// The command line.
#[derive(Debug, Parser)]
struct Args {
    /// The store directory (created if missing).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Address to listen on (port 0: any free port, printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// File holding the token clients must present (none: no checks).
    #[arg(long, value_name = "F")]
    token_file: Option<PathBuf>,
}

/// Completes on SIGINT or SIGTERM.
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            eprintln!("cannot watch SIGTERM ({e}); stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let token = args
        .token_file
        .as_deref()
        .map(Token::from_file)
        .transpose()?;
    let db = Database::open(&args.data).await?;
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!("flight sql listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let state = FlightState {
        db: Arc::new(db.clone()),
        token,
        limits: Limits::default(),
    };
    serve(listener, state, stop_signal()).await?;
    db.close().await?;
    Ok(())
}
