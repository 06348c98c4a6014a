//! The crate's error and its one bridge into DataFusion's error
//! (`DataFusionError::External`, keeping the source).

use datafusion::error::DataFusionError;

/// What can go wrong while exposing a tsq store or query to DataFusion.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage adapter failed (catalog lookup or scan).
    #[error("tsq storage adapter: {0}")]
    Engine(#[from] tsq_engine::EngineError),
    /// The tsq query could not be parsed, planned or run.
    #[error("tsq query: {0}")]
    Query(#[from] tsq_planner::TsqError),
    /// A measurement cannot be a table as it stands.
    #[error("measurement '{measurement}': {message}")]
    Schema {
        /// The measurement.
        measurement: String,
        /// What is wrong with it.
        message: String,
    },
    /// DataFusion refused to register a measurement's table.
    #[error("registering measurement '{measurement}' with DataFusion: {source}")]
    Register {
        /// The measurement.
        measurement: String,
        /// DataFusion's error.
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// The `tsq(...)` table function was called with bad arguments.
    #[error("tsq() table function: {0}")]
    Arguments(String),
    /// Arrow could not build a batch.
    #[error("building a batch: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for DataFusionError {
    fn from(e: Error) -> Self {
        DataFusionError::External(Box::new(e))
    }
}
