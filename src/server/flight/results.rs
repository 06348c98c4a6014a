//! Running one statement for a Flight SQL call: the query-length limit,
//! planning with the per-query memory budget, and, for `DoGet`, admission
//! (one slot of the concurrency limit, held until the stream ends) and
//! the result batches encoded as Flight data while the engine produces
//! them. Dropping the response stream (a client that disconnects or
//! cancels) drops the [`QueryStream`](tsq_planner::QueryStream), which
//! cancels the query, and frees its slot.

use std::pin::Pin;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError as EncodeError;
use arrow_flight::FlightData;
use futures::{Stream, StreamExt, TryStreamExt};
use tonic::Status;
use tsq_planner::Query;

use super::admission::Admission;
use super::status::from_tsq;
use crate::server::Limits;
use crate::Database;

/// The Flight data of one result, as `DoGet` returns it.
pub(crate) type FlightDataStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send>>;

/// What running a statement needs: the database, the limits and the
/// concurrency slots.
#[derive(Debug, Clone)]
pub(crate) struct Runner {
    db: Arc<Database>,
    limits: Limits,
    admission: Admission,
}

impl Runner {
    /// A runner over `db` with `limits`.
    pub(crate) fn new(db: Arc<Database>, limits: Limits) -> Self {
        let admission = Admission::new(limits.max_concurrent_queries, limits.query_wait);
        Runner {
            db,
            limits,
            admission,
        }
    }

    /// The database.
    pub(crate) fn db(&self) -> &Database {
        &self.db
    }

    /// Parses and plans `sql` (no storage scan): its result schema is then
    /// known.
    pub(crate) async fn plan(&self, sql: &str) -> Result<Query, Status> {
        if sql.len() > self.limits.max_query_bytes {
            return Err(Status::invalid_argument(format!(
                "the query is {} bytes long; the server accepts at most {} bytes",
                sql.len(),
                self.limits.max_query_bytes
            )));
        }
        let config = self
            .db
            .session()
            .config()
            .clone()
            .with_memory_budget(self.limits.query_memory_bytes);
        self.db
            .session_with(config)
            .sql(sql)
            .await
            .map_err(|e| from_tsq(&e))
    }

    /// The result schema of `sql`.
    pub(crate) async fn schema(&self, sql: &str) -> Result<SchemaRef, Status> {
        Ok(self.plan(sql).await?.schema())
    }

    /// Runs `sql` once a slot is free and streams its result.
    pub(crate) async fn run(&self, sql: &str) -> Result<FlightDataStream, Status> {
        let slot = self.admission.admit().await?;
        let query = self.plan(sql).await?;
        let stream = query.stream().await.map_err(|e| from_tsq(&e))?;
        let schema = stream.schema();
        let batches = stream.map(move |batch| {
            // The slot is freed when the stream is dropped, not before.
            let _slot = &slot;
            batch.map_err(|e| EncodeError::Tonic(Box::new(from_tsq(&e))))
        });
        let data = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from);
        Ok(Box::pin(data))
    }
}
