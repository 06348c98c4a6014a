//! Line protocol writes (`docs/server.md`, "Writes"): InfluxDB 1.x
//! `POST /write?db=&precision=`, 2.x `POST /api/v2/write?bucket=&precision=`
//! (what Telegraf's `influxdb_v2` output and the InfluxDB client libraries
//! send) and 3.x `POST /api/v3/write_lp?db=&precision=&accept_partial=`.
//!
//! Every valid line is written and the answer is 204; when some lines are
//! bad, the valid ones are still written and the answer is 400 with InfluxDB
//! 3's partial-write body listing each rejected line. With
//! `accept_partial=false` a body with a line that does not parse is refused
//! whole. Any 2xx or partial 400 means every accepted point is durable
//! (the store's group-committed WAL fsync, `docs/storage.md`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tsq_storage::line_protocol::{parse_lines, LineError};

use super::body::{decode, read_limited, utf8};
use super::errors::{json_response, ApiError};
use super::HttpState;
use crate::Precision;

/// Most rejected lines listed in one error body (all are counted in the
/// metrics; the client sees the first ones).
const MAX_LISTED_ERRORS: usize = 1000;
/// Most characters of a rejected line echoed back as `original_line`.
const MAX_ECHOED_CHARS: usize = 256;
/// Most bytes of a database name.
const MAX_DB_NAME: usize = 64;

/// Which API a write came through: they differ in parameter names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    V1,
    V2,
    V3,
}

/// `POST /write` (InfluxDB 1.x).
pub(crate) async fn write_v1(
    State(state): State<Arc<HttpState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(write(&state, Api::V1, &params, &headers, body).await)
}

/// `POST /api/v2/write` (InfluxDB 2.x).
pub(crate) async fn write_v2(
    State(state): State<Arc<HttpState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(write(&state, Api::V2, &params, &headers, body).await)
}

/// `POST /api/v3/write_lp` (InfluxDB 3).
pub(crate) async fn write_v3(
    State(state): State<Arc<HttpState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(write(&state, Api::V3, &params, &headers, body).await)
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn write(
    state: &HttpState,
    api: Api,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.metrics.write_requests.inc();
    let db_param = if api == Api::V2 { "bucket" } else { "db" };
    validate_db(params.get(db_param).map(String::as_str), db_param, true)?;
    let precision = parse_precision(api, params.get("precision").map(String::as_str))?;
    let accept_partial = match params.get("accept_partial").map(String::as_str) {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "accept_partial must be true or false, not '{other}'"
            )))
        }
    };
    let limits = &state.limits;
    let raw = read_limited(headers, body, limits.max_body_bytes).await?;
    let text = utf8(decode(headers, raw, limits.max_decompressed_bytes)?)?;
    let (kept, mut errors) = cut_long_lines(&text, limits.max_line_bytes);
    if !accept_partial {
        if let Some(first) = errors
            .first()
            .cloned()
            .or_else(|| parse_lines(&kept, precision).errors.into_iter().next())
        {
            state.metrics.rejected_lines.inc();
            let body = json!({
                "error": "parsing failed for write_lp endpoint",
                "data": line_json(&text, &first),
            });
            return Ok(json_response(StatusCode::BAD_REQUEST, body.to_string()));
        }
    }
    let report = state
        .db
        .write_lp_with_precision(kept, precision)
        .await
        .map_err(ApiError::Write)?;
    state
        .metrics
        .points_written
        .add(report.points_written as u64);
    errors.extend(report.errors);
    if errors.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    errors.sort_by_key(|e| (e.line, e.column));
    state.metrics.rejected_lines.add(distinct_lines(&errors));
    let listed: Vec<Value> = errors
        .iter()
        .take(MAX_LISTED_ERRORS)
        .map(|e| line_json(&text, e))
        .collect();
    let body = json!({
        "error": "partial write of line protocol occurred",
        "data": listed,
    });
    Ok(json_response(StatusCode::BAD_REQUEST, body.to_string()))
}

/// Number of distinct lines among `errors` (sorted by line).
fn distinct_lines(errors: &[LineError]) -> u64 {
    let mut n = 0;
    let mut last = None;
    for e in errors {
        if last != Some(e.line) {
            n += 1;
            last = Some(e.line);
        }
    }
    n
}

/// One rejected line in InfluxDB 3's shape.
fn line_json(text: &str, e: &LineError) -> Value {
    let original = text
        .split('\n')
        .nth(e.line.saturating_sub(1))
        .unwrap_or("")
        .trim_end_matches('\r');
    let echoed: String = original.chars().take(MAX_ECHOED_CHARS).collect();
    json!({
        "original_line": echoed,
        "line_number": e.line,
        "error_message": format!("column {}: {}", e.column, e.message),
    })
}

/// The body with every line over `max` bytes blanked (so that line numbers
/// stay), and one error per such line.
fn cut_long_lines(text: &str, max: usize) -> (String, Vec<LineError>) {
    if text.split('\n').all(|l| l.len() <= max) {
        return (text.to_string(), Vec::new());
    }
    let mut errors = Vec::new();
    let kept: Vec<&str> = text
        .split('\n')
        .enumerate()
        .map(|(i, line)| {
            if line.len() > max {
                errors.push(LineError {
                    line: i + 1,
                    column: 1,
                    message: format!(
                        "line is {} bytes, over the limit of {max} bytes (--max-line)",
                        line.len()
                    ),
                });
                ""
            } else {
                line
            }
        })
        .collect();
    (kept.join("\n"), errors)
}

/// Checks a database name (`docs/server.md`, "Databases"): the server has
/// one store and every valid name writes to it, but the name must be
/// 1..=64 bytes of ASCII letters, digits, `_`, `-` and `.`, not starting
/// with `.` (so no path separator or `..` can ever reach a file name).
pub(crate) fn validate_db(name: Option<&str>, param: &str, required: bool) -> Result<(), ApiError> {
    let Some(name) = name else {
        return match required {
            true => Err(ApiError::BadRequest(format!(
                "missing the '{param}' parameter (the database name)"
            ))),
            false => Ok(()),
        };
    };
    let bad = |why: String| {
        ApiError::BadRequest(format!(
            "invalid database name '{}': {why}",
            name.escape_debug()
        ))
    };
    if name.is_empty() || name.len() > MAX_DB_NAME {
        return Err(bad(format!("it must be 1 to {MAX_DB_NAME} bytes")));
    }
    if name.starts_with('.') {
        return Err(bad("it must not start with '.'".into()));
    }
    if let Some((at, c)) = name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(bad(format!(
            "character {:?} at byte {at} (allowed: ASCII letters, digits, '_', '-', '.')",
            c
        )));
    }
    Ok(())
}

/// The `precision` parameter as each API spells it; missing is
/// nanoseconds.
fn parse_precision(api: Api, value: Option<&str>) -> Result<Precision, ApiError> {
    let Some(value) = value else {
        return Ok(Precision::Nanoseconds);
    };
    let precision = match (api, value) {
        (_, "ns") | (Api::V1, "n") | (Api::V3, "nanosecond") => Precision::Nanoseconds,
        (_, "us") | (Api::V1, "u" | "µ") | (Api::V3, "microsecond") => Precision::Microseconds,
        (_, "ms") | (Api::V3, "millisecond") => Precision::Milliseconds,
        (_, "s") | (Api::V3, "second") => Precision::Seconds,
        _ => {
            let expected = match api {
                Api::V1 => "n, ns, u, us, ms or s",
                Api::V2 => "ns, us, ms or s",
                Api::V3 => "nanosecond, microsecond, millisecond or second",
            };
            return Err(ApiError::BadRequest(format!(
                "unsupported precision '{value}' (expected {expected})"
            )));
        }
    };
    Ok(precision)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names() {
        assert!(validate_db(Some("metrics_1.db-x"), "db", true).is_ok());
        assert!(validate_db(None, "db", false).is_ok());
        let msg = |n: Option<&str>| validate_db(n, "db", true).unwrap_err().to_string();
        assert_eq!(msg(None), "missing the 'db' parameter (the database name)");
        assert_eq!(
            msg(Some("a/b")),
            "invalid database name 'a/b': character '/' at byte 1 (allowed: ASCII letters, digits, '_', '-', '.')"
        );
        assert_eq!(
            msg(Some("..")),
            "invalid database name '..': it must not start with '.'"
        );
        assert_eq!(
            msg(Some("")),
            "invalid database name '': it must be 1 to 64 bytes"
        );
        assert!(msg(Some("a\\b")).contains("character '\\\\' at byte 1"));
    }

    #[test]
    fn precisions_per_api() {
        assert_eq!(
            parse_precision(Api::V1, Some("u")).unwrap(),
            Precision::Microseconds
        );
        assert_eq!(
            parse_precision(Api::V3, Some("second")).unwrap(),
            Precision::Seconds
        );
        assert_eq!(
            parse_precision(Api::V2, None).unwrap(),
            Precision::Nanoseconds
        );
        assert_eq!(
            parse_precision(Api::V3, Some("auto")).unwrap_err().to_string(),
            "unsupported precision 'auto' (expected nanosecond, microsecond, millisecond or second)"
        );
        assert!(parse_precision(Api::V1, Some("h")).is_err());
    }

    #[test]
    fn long_lines_are_blanked_and_reported() {
        let (kept, errors) = cut_long_lines("m v=1 1\nmmmmmmmmmmmm v=1 2\nm v=2 3", 10);
        assert_eq!(kept, "m v=1 1\n\nm v=2 3");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert_eq!(
            errors[0].message,
            "line is 18 bytes, over the limit of 10 bytes (--max-line)"
        );
    }
}
