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
    /// `cluster.toml` is wrong.
    #[error("{}{}: {message}", path.as_ref().map_or("cluster config".to_string(), |p| p.display().to_string()), line.map_or(String::new(), |l| format!(":{l}")))]
    Config {
        /// The file, if read from one.
        path: Option<std::path::PathBuf>,
        /// 1-based line, where known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// `cluster.toml` could not be read.
    #[error("reading {}: {source}", path.display())]
    ConfigRead {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A worker could not be started or stopped.
    #[error("worker {worker}: {message}")]
    Worker {
        /// The worker's address.
        worker: String,
        /// What happened.
        message: String,
    },
    /// A cluster query failed (names the workers that do not answer).
    #[error("{0}")]
    Cluster(String),
    /// A message between coordinator and worker is malformed.
    #[error("cluster protocol: {0}")]
    Protocol(String),
    /// `tsq import --cluster` could not read or parse its input.
    #[error("{source_name}: {message}")]
    Import {
        /// The file (or `-`).
        source_name: String,
        /// What is wrong, with the line and column.
        message: String,
    },
    /// DataFusion failed (planning or running a cluster stage).
    #[error("datafusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
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

/// `ExecutionPlan::with_new_children` of a leaf node: the node itself when
/// given no children, an internal error naming it otherwise.
pub(crate) fn leaf_with_new_children(
    node: std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    children: Vec<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
) -> datafusion::error::Result<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
    if children.is_empty() {
        Ok(node)
    } else {
        Err(datafusion::error::DataFusionError::Internal(format!(
            "{} is a leaf: it takes no children",
            node.name()
        )))
    }
}
