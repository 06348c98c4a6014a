//! SQL over HTTP: `GET /api/v3/query_sql?db=&q=&format=` and `POST` with
//! the JSON body `{"db": …, "q": …, "format": …}`, as InfluxDB 3 takes
//! them (`docs/server.md`, "Queries").
//!
//! A query waits for one of `--max-concurrent-queries` slots (at most
//! `--query-wait`, then 503), runs with the per-query memory budget, and
//! its batches are encoded and sent as the engine produces them. The first
//! batch is awaited before the status line, so errors of parsing, planning
//! and most execution errors get a proper status; a later error cuts the
//! response off (the client sees an incomplete body). When the client goes
//! away, hyper drops the body, which drops the [`QueryStream`] and so
//! cancels the query; its slot is freed at the same moment.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::OwnedSemaphorePermit;

use super::body::{decode, read_limited, utf8};
use super::encode::{Encoder, ResultFormat};
use super::errors::ApiError;
use super::metrics::{Metrics, QueryGuard};
use super::write::validate_db;
use super::HttpState;
use crate::QueryStream;

/// One query request, from the URL or the JSON body.
#[derive(Debug, Default)]
struct Request {
    db: Option<String>,
    q: Option<String>,
    format: Option<String>,
}

/// `GET /api/v3/query_sql`.
pub(crate) async fn query_get(
    State(state): State<Arc<HttpState>>,
    Query(mut params): Query<HashMap<String, String>>,
) -> Response {
    let request = Request {
        db: params.remove("db"),
        q: params.remove("q"),
        format: params.remove("format"),
    };
    run(&state, Ok(request)).await
}

/// `POST /api/v3/query_sql` with a JSON body (the URL's parameters fill in
/// what the body leaves out).
pub(crate) async fn query_post(
    State(state): State<Arc<HttpState>>,
    Query(mut params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request = async {
        let limits = &state.limits;
        // The body is the query plus a few parameters: the query limit
        // bounds it (with room for the JSON around the text).
        let cap = limits
            .max_query_bytes
            .saturating_mul(2)
            .saturating_add(4096);
        let raw = read_limited(&headers, body, cap.min(limits.max_body_bytes)).await?;
        let text = utf8(decode(&headers, raw, cap)?)?;
        let mut request = Request {
            db: params.remove("db"),
            q: params.remove("q"),
            format: params.remove("format"),
        };
        if !text.trim().is_empty() {
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                ApiError::BadRequest(format!(
                    "the body is not a JSON object (line {}, column {}): {e}",
                    e.line(),
                    e.column()
                ))
            })?;
            let field = |name: &str| -> Result<Option<String>, ApiError> {
                match json.get(name) {
                    None | Some(serde_json::Value::Null) => Ok(None),
                    Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(ApiError::BadRequest(format!(
                        "'{name}' in the body must be a string"
                    ))),
                }
            };
            request.db = field("db")?.or(request.db);
            request.q = field("q")?.or(request.q);
            request.format = field("format")?.or(request.format);
        }
        Ok(request)
    }
    .await;
    run(&state, request).await
}

async fn run(state: &Arc<HttpState>, request: Result<Request, ApiError>) -> Response {
    let guard = state.metrics.query_started();
    match start(state, request, guard).await {
        Ok(response) => response,
        Err(e) => {
            state.metrics.query_errors.inc();
            e.into_response()
        }
    }
}

async fn start(
    state: &Arc<HttpState>,
    request: Result<Request, ApiError>,
    guard: QueryGuard,
) -> Result<Response, ApiError> {
    let request = request?;
    let limits = &state.limits;
    validate_db(request.db.as_deref(), "db", false)?;
    let format = match request.format.as_deref() {
        None => ResultFormat::Json,
        Some(name) => ResultFormat::parse(name).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown format '{name}' (expected json, jsonl, csv or parquet)"
            ))
        })?,
    };
    let q = request
        .q
        .ok_or_else(|| ApiError::BadRequest("missing the 'q' parameter (the SQL query)".into()))?;
    if q.len() > limits.max_query_bytes {
        return Err(ApiError::QueryTooLong {
            len: q.len(),
            limit: limits.max_query_bytes,
        });
    }
    let waiting = Instant::now();
    let slots = Arc::clone(&state.query_slots);
    let permit = match tokio::time::timeout(limits.query_wait, slots.acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        // Timed out, or the semaphore was closed (never: it lives in the
        // state).
        _ => {
            return Err(ApiError::Busy {
                limit: limits.max_concurrent_queries,
                waited_ms: waiting.elapsed().as_millis(),
            })
        }
    };
    let config = state
        .db
        .session()
        .config()
        .clone()
        .with_memory_budget(limits.query_memory_bytes);
    let session = state.db.session_with(config);
    let mut stream = session
        .sql(&q)
        .await
        .map_err(ApiError::Query)?
        .stream()
        .await
        .map_err(ApiError::Query)?;
    let mut encoder = Encoder::new(format, &stream.schema()).map_err(ApiError::Encode)?;
    let first = match stream.next().await {
        Some(batch) => {
            let batch = batch.map_err(ApiError::Query)?;
            encoder.batch(&batch).map_err(ApiError::Encode)?
        }
        None => Vec::new(),
    };
    let streaming = Streaming {
        stream: Some(stream),
        encoder: Some(encoder),
        pending: Some(first),
        metrics: Arc::clone(&state.metrics),
        _permit: permit,
        _guard: guard,
    };
    let body = Body::from_stream(futures::stream::unfold(streaming, next_chunk));
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        body,
    )
        .into_response())
}

/// A response body being produced: it owns the query (dropping it cancels
/// the query), its slot and its metrics guard.
struct Streaming {
    stream: Option<QueryStream>,
    encoder: Option<Encoder>,
    pending: Option<Vec<u8>>,
    metrics: Arc<Metrics>,
    _permit: OwnedSemaphorePermit,
    _guard: QueryGuard,
}

type Chunk = Result<Bytes, std::io::Error>;

/// The next piece of the body: the first batch's bytes, then each batch's,
/// then the format's closing bytes; `None` at the end.
async fn next_chunk(mut s: Streaming) -> Option<(Chunk, Streaming)> {
    if let Some(first) = s.pending.take().filter(|b| !b.is_empty()) {
        return Some((Ok(Bytes::from(first)), s));
    }
    loop {
        let stream = s.stream.as_mut()?;
        let encoder = s.encoder.as_mut()?;
        let bytes = match stream.next().await {
            Some(Ok(batch)) => encoder.batch(&batch),
            Some(Err(e)) => Err(e.to_string()),
            None => {
                s.stream = None;
                let tail = s.encoder.take()?.finish();
                return Some((tail.map(Bytes::from).map_err(std::io::Error::other), s));
            }
        };
        match bytes {
            Ok(bytes) if bytes.is_empty() => continue,
            Ok(bytes) => return Some((Ok(Bytes::from(bytes)), s)),
            Err(e) => {
                s.metrics.query_errors.inc();
                s.stream = None;
                s.encoder = None;
                return Some((Err(std::io::Error::other(e)), s));
            }
        }
    }
}
