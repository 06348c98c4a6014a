//! A small HTTP service over tsq: `GET /query?q=SELECT ...` answers with the
//! result rows as JSON (`{"columns": [...], "rows": [[...], ...]}`), each
//! query under a 10 s timeout. Dropping the request (the client hangs up)
//! drops the query's future, which cancels the query. `cargo test` builds
//! this example and runs its test; `cargo run --example axum_query` serves
//! a small in-memory data set on 127.0.0.1:3000 (or the port in
//! `TSQ_PORT`). See `docs/library.md`.

use std::collections::HashMap;
use std::time::Duration;

use arrow::array::{Array, Float64Array, StringArray, TimestampNanosecondArray};
use arrow::record_batch::RecordBatch;
use axum::extract::{Query as Params, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tsq::{Database, TsqError};

/// Runs `?q=` and returns its rows as JSON.
async fn query(
    State(db): State<Database>,
    Params(params): Params<HashMap<String, String>>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let Some(text) = params.get("q") else {
        return Err((StatusCode::BAD_REQUEST, "missing ?q=<query>".to_string()));
    };
    let query = db.session().sql(text).await.map_err(status)?;
    let columns: Vec<String> = query
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let batches = query
        .with_timeout(Duration::from_secs(10))
        .collect()
        .await
        .map_err(status)?;
    let rows: Vec<Value> = batches.iter().flat_map(rows_of).collect();
    Ok(Json(json!({ "columns": columns, "rows": rows })))
}

/// The HTTP status of a query error: the client's fault for a bad query.
fn status(e: TsqError) -> (StatusCode, String) {
    let code = match &e {
        TsqError::Parse { .. } | TsqError::Plan { .. } => StatusCode::BAD_REQUEST,
        e if e.is_cancelled() => StatusCode::REQUEST_TIMEOUT,
        e if e.is_resources_exhausted() => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (code, e.to_string())
}

/// The rows of one batch as JSON arrays (time in ns, tags, values or null).
fn rows_of(batch: &RecordBatch) -> Vec<Value> {
    (0..batch.num_rows())
        .map(|r| {
            let cells = batch.columns().iter().map(|c| {
                let any = c.as_any();
                if c.is_null(r) {
                    Value::Null
                } else if let Some(t) = any.downcast_ref::<TimestampNanosecondArray>() {
                    json!(t.value(r))
                } else if let Some(s) = any.downcast_ref::<StringArray>() {
                    json!(s.value(r))
                } else if let Some(f) = any.downcast_ref::<Float64Array>() {
                    json!(f.value(r))
                } else {
                    Value::Null
                }
            });
            Value::Array(cells.collect())
        })
        .collect()
}

/// The service's routes over `db`.
fn app(db: Database) -> Router {
    Router::new().route("/query", get(query)).with_state(db)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = Database::in_memory();
    db.write_lp("cpu,host=a usage=1 0\ncpu,host=b usage=5 0\ncpu,host=a usage=3 60000000000")
        .await?;
    let port = std::env::var("TSQ_PORT").unwrap_or_else(|_| "3000".to_string());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("try: curl 'http://127.0.0.1:{port}/query?q=SELECT%20usage%20FROM%20cpu'");
    axum::serve(listener, app(db)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> Params<HashMap<String, String>> {
        Params(HashMap::from([("q".to_string(), q.to_string())]))
    }

    #[tokio::test]
    async fn serves_rows_and_bad_requests() {
        let db = Database::in_memory();
        db.write_lp("cpu,host=a usage=1 0\ncpu,host=b usage=5 0")
            .await
            .unwrap();
        let Json(body) = query(State(db.clone()), params("SELECT usage FROM cpu"))
            .await
            .unwrap();
        assert_eq!(
            body,
            json!({"columns": ["time", "host", "usage"], "rows": [[0, "a", 1.0], [0, "b", 5.0]]})
        );
        let (code, message) = query(State(db), params("SELECT nope(usage) FROM cpu"))
            .await
            .unwrap_err();
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(message.starts_with("plan error at 1:8"), "{message}");
    }
}
