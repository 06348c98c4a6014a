//! `tsq worker`, `tsq query --cluster` and `tsq import --cluster`
//! (`docs/distributed.md`, "Scale-out"; `docs/cli.md`). They run with the
//! `cluster` cargo feature, which pulls in `tsq-datafusion` and DataFusion;
//! the default binary has the commands and says how to get them.

#[cfg(not(feature = "cluster"))]
use std::path::Path;

#[cfg(not(feature = "cluster"))]
use crate::cli::backend::CliError;

/// What a binary built without the feature says.
pub const NOT_BUILT: &str =
    "this tsq was built without the cluster feature: cargo build --release --features cluster";

/// `tsq worker --data DIR --listen ADDR`: serves the store until Ctrl-C.
#[cfg(not(feature = "cluster"))]
pub fn worker(
    _runtime: &tokio::runtime::Runtime,
    _dir: &Path,
    _listen: std::net::SocketAddr,
) -> Result<i32, CliError> {
    Err(CliError::Usage(NOT_BUILT.into()))
}

/// `tsq query --cluster FILE "…"`: the statement on every shard, merged.
#[cfg(not(feature = "cluster"))]
pub fn query(
    _runtime: &tokio::runtime::Runtime,
    _cluster: &Path,
    _text: &str,
    _format: crate::cli::format::OutputFormat,
) -> Result<i32, CliError> {
    Err(CliError::Usage(NOT_BUILT.into()))
}

/// `tsq import --cluster FILE …`: each line to its shard's worker.
#[cfg(not(feature = "cluster"))]
pub fn import(
    _runtime: &tokio::runtime::Runtime,
    _cluster: &Path,
    _files: &[String],
    _precision: crate::cli::backend::Precision,
) -> Result<i32, CliError> {
    Err(CliError::Usage(NOT_BUILT.into()))
}

#[cfg(feature = "cluster")]
pub use enabled::{import, query, worker};

#[cfg(feature = "cluster")]
mod enabled {
    use std::fs::File;
    use std::io::BufReader;
    use std::io::{self, Write};
    use std::net::SocketAddr;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::net::TcpListener;
    use tokio::runtime::Runtime;
    use tsq_datafusion::cluster::{
        import_lines, serve_with, ClusterConfig, Coordinator, ShardStore,
    };

    use crate::cli::backend::{CliError, Precision};
    use crate::cli::format::table::TableOptions;
    use crate::cli::format::{write_rows, OutputFormat};
    use crate::server::http::{router, HttpState, Metrics};
    use crate::server::Limits;
    use crate::Database;
    use crate::Precision as LpPrecision;

    /// How long a cluster query may take before it fails.
    const QUERY_TIMEOUT: Duration = Duration::from_secs(600);

    fn data(e: impl std::fmt::Display) -> CliError {
        CliError::Data(e.to_string())
    }

    /// `tsq worker --data DIR --listen ADDR`: serves the store until Ctrl-C.
    pub fn worker(runtime: &Runtime, dir: &Path, listen: SocketAddr) -> Result<i32, CliError> {
        runtime.block_on(async {
            let db = Database::open(dir).await.map_err(data)?;
            let listener = TcpListener::bind(listen)
                .await
                .map_err(|e| CliError::Data(format!("listening on {listen}: {e}")))?;
            let store = ShardStore {
                adapter: db.adapter(),
                config: db.session().config().clone(),
            };
            // `tsq serve`'s HTTP routes on the same port: POST /write
            // takes this shard's lines from `tsq import --cluster`.
            let http = HttpState::new(db.clone(), None, Limits::default(), Metrics::new());
            let handle = serve_with(store, listener, Some(router(Arc::new(http)))).map_err(data)?;
            eprintln!("tsq worker: {} on {}", dir.display(), handle.addr());
            tokio::signal::ctrl_c().await.map_err(data)?;
            handle.stop().await.map_err(data)?;
            db.close().await.map_err(data)?;
            Ok(0)
        })
    }

    /// `tsq query --cluster FILE "…"`: the statement on every shard, merged.
    pub fn query(
        runtime: &Runtime,
        cluster: &Path,
        text: &str,
        format: OutputFormat,
    ) -> Result<i32, CliError> {
        let config = ClusterConfig::load(cluster).map_err(|e| CliError::Usage(e.to_string()))?;
        let coordinator = Coordinator::new(config, QUERY_TIMEOUT).map_err(data)?;
        let answer = runtime
            .block_on(coordinator.query(text))
            .map_err(|e| CliError::Execution(e.to_string()))?;
        let mut out = io::stdout().lock();
        let table = TableOptions {
            max_width: None,
            max_rows: None,
        };
        let schema = answer.batch.schema();
        write_rows(&mut out, format, &schema, &[answer.batch], &table).map_err(data)?;
        out.flush().map_err(data)?;
        Ok(0)
    }

    /// `tsq import --cluster FILE …`: each line to its shard's worker,
    /// then the lines each shard took.
    pub fn import(
        runtime: &Runtime,
        cluster: &Path,
        files: &[String],
        precision: Precision,
    ) -> Result<i32, CliError> {
        let config = ClusterConfig::load(cluster).map_err(|e| CliError::Usage(e.to_string()))?;
        let precision = match precision {
            Precision::Ns => LpPrecision::Nanoseconds,
            Precision::Us => LpPrecision::Microseconds,
            Precision::Ms => LpPrecision::Milliseconds,
            Precision::S => LpPrecision::Seconds,
        };
        let mut total = vec![0u64; config.shards()];
        for name in files {
            let report = if name == "-" {
                let stdin = io::stdin().lock();
                runtime.block_on(import_lines(&config, "<stdin>", stdin, precision))
            } else {
                let file =
                    File::open(name).map_err(|e| CliError::Data(format!("opening {name}: {e}")))?;
                runtime.block_on(import_lines(&config, name, BufReader::new(file), precision))
            }
            .map_err(|e| CliError::Execution(e.to_string()))?;
            for (t, n) in total.iter_mut().zip(&report.lines) {
                *t += n;
            }
        }
        for (i, (worker, n)) in config.workers.iter().zip(&total).enumerate() {
            println!("shard {i} ({worker}): {n} lines");
        }
        Ok(0)
    }
}
