//! The HTTP side of `tsq serve` (axum): InfluxDB-compatible line protocol
//! writes, SQL over HTTP in InfluxDB 3's shapes, health, ping and
//! Prometheus metrics (`docs/server.md`). One job per file:
//!
//! ```text
//! routes ──► auth (token) ──► write  ── body (limits, gzip) ──► Database::write_lp
//!                         ├─► query  ── encode (json, jsonl, csv, parquet) ◄── Query::stream
//!                         └─► metrics
//! errors: every failure as a status and InfluxDB's `{"error": …}` body
//! ```

mod body;
mod encode;
mod errors;
mod metrics;
mod query;
mod routes;
mod write;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::server::auth::Token;
use crate::server::Limits;
use crate::Database;

pub use encode::ResultFormat;
pub use metrics::Metrics;
pub use routes::router;

/// What every HTTP handler shares: the database the server opened once,
/// the token (if any), the limits, the metrics and the query slots.
#[derive(Debug)]
pub struct HttpState {
    db: Database,
    token: Option<Token>,
    limits: Limits,
    metrics: Arc<Metrics>,
    query_slots: Arc<Semaphore>,
}

impl HttpState {
    /// The state of a server over `db`; with `token`, every endpoint but
    /// `/health` and `/ping` requires it.
    pub fn new(db: Database, token: Option<Token>, limits: Limits, metrics: Arc<Metrics>) -> Self {
        let slots = limits.max_concurrent_queries.max(1);
        HttpState {
            db,
            token,
            limits,
            metrics,
            query_slots: Arc::new(Semaphore::new(slots)),
        }
    }
}

/// Serves HTTP on `listener` until `shutdown` completes, then stops
/// accepting and waits for the requests in flight (a streaming query runs
/// to its end or until its client goes).
pub async fn serve(
    listener: TcpListener,
    state: HttpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(Arc::new(state)))
        .with_graceful_shutdown(shutdown)
        .await
}
