//! The cost of the DataFusion route on one machine: each TSBS `cpu-only`
//! query (`benches/src/tsbs/queries.rs`) timed through tsq directly, as
//! DataFusion SQL over `TsqTable`, through `tsq('…')`, and as DataFusion SQL
//! over a `MemTable` of the same rows (for scale). Every route runs on one
//! thread and must give the same rows before its time counts.
//!
//! ```text
//! cargo run --release -p tsq-datafusion --example overhead -- [hosts] [runs]
//! ```
//!
//! Prints a Markdown table of median milliseconds (`docs/distributed.md`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig as DfConfig, SessionContext};
use tsq_benches::demo::{DemoConfig, DEFAULT_START};
use tsq_benches::tsbs::compare::{canonical, check_same};
use tsq_benches::tsbs::dataset::TsbsData;
use tsq_benches::tsbs::queries::queries;
use tsq_datafusion::{register_tsq, TsqFunction};
use tsq_engine::StorageAdapter;
use tsq_planner::{Session, SessionConfig};

type AnyError = Box<dyn std::error::Error>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), AnyError> {
    let mut args = std::env::args().skip(1);
    let hosts: usize = args.next().map_or(Ok(10), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(5), |a| a.parse())?;
    let config = DemoConfig {
        hosts,
        hours: 12,
        seed: 42,
        start: DEFAULT_START,
    };
    let data = TsbsData::generate(config);
    let adapter: Arc<dyn StorageAdapter> = Arc::new(data.memory_adapter());
    let session = Arc::new(Session::new(
        Arc::clone(&adapter),
        SessionConfig::default().with_threads(1),
    ));
    let df_config = DfConfig::new().with_target_partitions(1);
    let ctx = SessionContext::new_with_config(df_config.clone());
    register_tsq(&ctx, Arc::clone(&adapter)).await?;
    ctx.register_udtf("tsq", Arc::new(TsqFunction::new(Arc::clone(&session))));
    let mem = SessionContext::new_with_config(df_config);
    let table = MemTable::try_new(TsbsData::schema(), vec![data.record_batches(8192)?])?;
    mem.register_table("cpu", Arc::new(table))?;

    println!(
        "{hosts} hosts × 12 h, {} points, median of {runs} runs, ms\n",
        data.points()
    );
    println!("| query | tsq | TsqTable + DataFusion SQL | tsq('…') | MemTable + DataFusion SQL |");
    println!("|---|---:|---:|---:|---:|");
    for q in queries(&config) {
        let function_sql = format!("SELECT * FROM tsq('{}')", q.tsq.replace('\'', "''"));
        let tsq = || async { Ok::<_, AnyError>(session.sql(&q.tsq).await?.collect().await?) };
        let provider = || sql(&ctx, &q.sql);
        let function = || sql(&ctx, &function_sql);
        let memtable = || sql(&mem, &q.sql);
        let reference = canonical(&tsq().await?)?;
        check_same(q.name, &reference, &canonical(&provider().await?)?)?;
        check_same(q.name, &reference, &canonical(&function().await?)?)?;
        check_same(q.name, &reference, &canonical(&memtable().await?)?)?;
        let t = median(runs, tsq).await?;
        let p = median(runs, provider).await?;
        let f = median(runs, function).await?;
        let m = median(runs, memtable).await?;
        let ratio = |d: Duration| d.as_secs_f64() / t.as_secs_f64();
        println!(
            "| {} | {:.2} | {:.2} ({:.1}×) | {:.2} ({:.1}×) | {:.2} |",
            q.name,
            ms(t),
            ms(p),
            ratio(p),
            ms(f),
            ratio(f),
            ms(m)
        );
    }
    Ok(())
}

async fn sql(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, AnyError> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

async fn median<F, Fut>(runs: usize, mut run: F) -> Result<Duration, AnyError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<RecordBatch>, AnyError>>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        run().await?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
