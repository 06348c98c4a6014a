//! The HTTP routes and the token check in front of them
//! (`docs/server.md`, "Endpoints" and "Security"). `/health` and `/ping`
//! answer without a token: they tell only that the server is up and its
//! version, which load balancers and Telegraf probe without credentials.
//! Every other route needs the token when one is configured.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::errors::{json_error, json_response, ApiError};
use super::{metrics, query, write, HttpState};

/// The version reported by `/ping` and `/health`.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every route of the HTTP server over `state`.
pub fn router(state: Arc<HttpState>) -> Router {
    let guarded = Router::new()
        .route("/write", post(write::write_v1))
        .route("/api/v2/write", post(write::write_v2))
        .route("/api/v3/write_lp", post(write::write_v3))
        .route(
            "/api/v3/query_sql",
            get(query::query_get).post(query::query_post),
        )
        .route("/metrics", get(metrics::metrics))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_token,
        ));
    Router::new()
        .route("/health", get(health))
        .route("/ping", get(ping).head(ping))
        .merge(guarded)
        .fallback(not_found)
        // Bodies are read with their own limits (`body.rs`).
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// 401 unless the request carries the configured token (nothing is
/// checked when the server has none). The header is never logged.
async fn require_token(
    State(state): State<Arc<HttpState>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !token.matches_header(presented) {
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(request).await
}

/// `GET /health`: 200 with InfluxDB's health object.
async fn health() -> Response {
    let body = serde_json::json!({
        "name": "tsq",
        "message": "ready for queries and writes",
        "status": "pass",
        "version": VERSION,
    });
    json_response(StatusCode::OK, body.to_string())
}

/// `GET|HEAD /ping`: 204 with the version headers InfluxDB 1.x sends, or
/// 200 with `{"version": …}` when `verbose=true`.
async fn ping(Query(params): Query<HashMap<String, String>>) -> Response {
    let mut response = if params.get("verbose").map(String::as_str) == Some("true") {
        json_response(
            StatusCode::OK,
            serde_json::json!({ "version": VERSION }).to_string(),
        )
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    let headers = response.headers_mut();
    headers.insert("X-Influxdb-Build", HeaderValue::from_static("tsq"));
    headers.insert("X-Influxdb-Version", HeaderValue::from_static(VERSION));
    response
}

async fn not_found(request: Request) -> Response {
    let message = format!(
        "no such endpoint: {} {}",
        request.method(),
        request.uri().path()
    );
    json_error(StatusCode::NOT_FOUND, &message)
}
