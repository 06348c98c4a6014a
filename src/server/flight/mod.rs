//! Arrow Flight SQL queries of `tsq serve` (`docs/server.md`): analytic
//! services (Python ADBC or `pyarrow.flight`, Grafana's Flight SQL data
//! source, JDBC) send tsq statements and read the results as Arrow record
//! batches, streamed as the engine produces them.
//!
//! ```text
//!  client ──gRPC──► Authenticator (every call: bearer token)
//!                     └─► TsqFlightSql (FlightSqlService)
//!                           GetFlightInfo: plan only → schema + self-contained ticket
//!                           DoGet: admission (semaphore) → Session::sql → Query::stream
//!                                  → FlightDataEncoder → client (drop = cancel)
//! ```
//!
//! [`serve`] is the entry point `tsq serve` calls with a listener it bound,
//! the shared [`FlightState`] and a shutdown future.

mod admission;
mod auth;
mod catalog;
mod handle;
mod results;
mod service;
mod sql_info;
mod status;

use crate::server::Limits;
use std::future::Future;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;

use crate::server::auth::Token;

/// Everything the Flight SQL server needs: the database opened once by
/// `tsq serve`, the token clients must present, and the query limits.
#[derive(Debug, Clone)]
pub struct FlightState {
    /// The database every query reads.
    pub db: Arc<crate::Database>,
    /// The bearer token every call must carry (`None`: no authentication,
    /// for loopback use only).
    pub token: Option<Token>,
    /// Concurrency, memory and size limits of queries.
    pub limits: Limits,
}

/// Why the Flight SQL server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum FlightError {
    /// The gRPC transport failed (accepting connections, HTTP/2).
    #[error("the Flight SQL server failed: {0}")]
    Transport(#[source] tonic::transport::Error),
}

/// Serves Arrow Flight SQL on `listener` until `shutdown` completes, then
/// stops accepting calls and returns once the running ones have ended.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: FlightState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), FlightError> {
    let authenticator = auth::Authenticator::new(state.token.clone());
    let service = service::TsqFlightSql::new(state);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .add_service(FlightServiceServer::with_interceptor(
            service,
            authenticator,
        ))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(FlightError::Transport)
}
