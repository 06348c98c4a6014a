//! `EXPLAIN ANALYZE` of one TSBS query on the in-memory demo dataset, run
//! several times in one process, each plan printed: the per-operator rows,
//! batches, compute time and memory of each run, to read the serial steps
//! (`GroupMergeOp`, `MergeJoin`) beside the partitions (docs/benchmarks.md,
//! "The result join, column-wise").
//!
//! ```text
//! cargo build --release -p tsq-benches --example tsbs_explain
//! tsbs_explain [QUERY] [THREADS] [RUNS] [SCALE]   (double-groupby-1 2 5 4)
//! ```

use std::sync::Arc;

use tsq_benches::tsbs::dataset::TsbsData;
use tsq_benches::tsbs::{config, queries::queries};
use tsq_engine::StorageAdapter;
use tsq_planner::{QueryKind, Session, SessionConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "double-groupby-1".into());
    let threads: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2);
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let scale: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(4.0);
    let data = TsbsData::generate(config(scale));
    let adapter: Arc<dyn StorageAdapter> = Arc::new(data.memory_adapter());
    let session = Session::new(adapter, SessionConfig::new().with_threads(threads));
    let Some(query) = queries(&data.config).into_iter().find(|q| q.name == name) else {
        eprintln!("no TSBS query named {name}");
        std::process::exit(2);
    };
    let sql = format!("EXPLAIN ANALYZE {}", query.tsq);
    for _ in 0..runs {
        match futures::executor::block_on(session.execute(&sql)) {
            Ok(out) => {
                if let QueryKind::Explain(text) = out.kind {
                    println!("{text}");
                }
            }
            Err(e) => {
                eprintln!("{name}: {e}");
                std::process::exit(1);
            }
        }
    }
}
