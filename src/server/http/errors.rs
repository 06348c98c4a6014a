//! Every way an HTTP request fails, as a status code and InfluxDB's error
//! body `{"error": "<message>"}` (`docs/server.md`, "Errors"). The partial
//! write body, which lists lines, is built in `write.rs`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::{DatabaseError, TsqError};

/// A request that failed before (or instead of) its normal answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// No `Authorization` header carrying the server's token.
    #[error(
        "unauthorized: send the token as 'Authorization: Bearer <token>' (or 'Token <token>')"
    )]
    Unauthorized,
    /// The body as sent is over `--max-body`.
    #[error("request body is over the limit of {limit} bytes (--max-body)")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The gunzipped body is over `--max-decompressed`.
    #[error("decompressed request body is over the limit of {limit} bytes (--max-decompressed)")]
    DecompressedTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The query text is over `--max-query`.
    #[error("query is {len} bytes, over the limit of {limit} bytes (--max-query)")]
    QueryTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A bad parameter or body.
    #[error("{0}")]
    BadRequest(String),
    /// A `Content-Encoding` other than gzip or identity.
    #[error("unsupported Content-Encoding '{0}' (expected gzip or identity)")]
    UnsupportedEncoding(String),
    /// No query slot came free within `--query-wait`.
    #[error("too many concurrent queries: all {limit} slots stayed busy for {waited_ms} ms (--max-concurrent-queries); retry later")]
    Busy {
        /// The number of slots.
        limit: usize,
        /// How long the query waited.
        waited_ms: u128,
    },
    /// The write failed as a whole (WAL I/O...).
    #[error("write failed: {0}")]
    Write(#[source] DatabaseError),
    /// The query did not parse, plan or run.
    #[error("{0}")]
    Query(#[source] TsqError),
    /// Encoding the result failed.
    #[error("encoding the result failed: {0}")]
    Encode(String),
}

impl ApiError {
    /// The status code the error is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::BodyTooLarge { .. }
            | ApiError::DecompressedTooLarge { .. }
            | ApiError::QueryTooLong { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Query(TsqError::Parse { .. } | TsqError::Plan { .. }) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Write(_) | ApiError::Query(_) | ApiError::Encode(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

/// `{"error": message}` with `status`.
pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    json_response(status, body)
}

/// A JSON body with `status`.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_error(self.status(), &self.to_string());
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tsq\""),
            );
        }
        response
    }
}
