//! Measures the protocol overhead of Arrow Flight SQL: each TSBS query is
//! timed in-process (`Session::sql(..).collect()`) and over Flight SQL on
//! loopback (`GetFlightInfo`, then `DoGet` read to the end, with
//! arrow-flight's client in the same process), medians of `--runs` runs
//! after two warm-ups, printed as the Markdown table of `docs/server.md`.
//!
//! ```text
//! tsq demo --data D --no-repl
//! cargo run --release --example flight_overhead -- --data D [--hosts 100 --hours 12] [--runs 20]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use arrow_flight::sql::client::FlightSqlServiceClient;
use clap::Parser;
use futures::TryStreamExt;
use tonic::transport::Channel;
use tsq::demo::DemoConfig;
use tsq::server::flight::{serve, FlightState};
use tsq::server::Limits;
use tsq::Database;

/// The command line.
#[derive(Debug, Parser)]
struct Args {
    /// The demo store (`tsq demo --data D --no-repl`).
    #[arg(long, value_name = "DIR")]
    data: std::path::PathBuf,
    /// Hosts of the demo data (for the TSBS query windows).
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    /// Hours of the demo data.
    #[arg(long, default_value_t = 12)]
    hours: u64,
    /// Timed runs per query and path.
    #[arg(long, default_value_t = 20)]
    runs: usize,
}

type Error = Box<dyn std::error::Error>;

async fn in_process(db: &Database, sql: &str) -> Result<usize, Error> {
    let batches = db.session().sql(sql).await?.collect().await?;
    Ok(rows(&batches))
}

async fn over_flight(
    client: &mut FlightSqlServiceClient<Channel>,
    sql: &str,
) -> Result<usize, Error> {
    let info = client.execute(sql.to_string(), None).await?;
    let mut total = 0;
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.ok_or("an endpoint without a ticket")?;
        let batches: Vec<RecordBatch> = client.do_get(ticket).await?.try_collect().await?;
        total += rows(&batches);
    }
    Ok(total)
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let db = Database::open(&args.data).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = FlightState {
        db: Arc::new(db.clone()),
        token: None,
        limits: Limits::default(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = FlightSqlServiceClient::new(channel);

    let config = DemoConfig {
        hosts: args.hosts,
        hours: args.hours,
        ..DemoConfig::default()
    };
    println!("| query | rows | in-process | Flight SQL | overhead |");
    println!("|---|---:|---:|---:|---:|");
    for q in tsq_bench_runner::tsbs::queries::queries(&config) {
        let mut local = Vec::new();
        let mut remote = Vec::new();
        let mut counts = (0, 0);
        for run in 0..args.runs + 2 {
            let t = Instant::now();
            counts.0 = in_process(&db, &q.tsq).await?;
            let a = t.elapsed();
            let t = Instant::now();
            counts.1 = over_flight(&mut client, &q.tsq).await?;
            let b = t.elapsed();
            if run >= 2 {
                local.push(a);
                remote.push(b);
            }
        }
        if counts.0 != counts.1 {
            return Err(format!(
                "{}: {} rows in-process, {} over Flight",
                q.name, counts.0, counts.1
            )
            .into());
        }
        let (a, b) = (median(local), median(remote));
        println!(
            "| {} | {} | {:.3} ms | {:.3} ms | +{:.3} ms ({:.2}x) |",
            q.name,
            counts.0,
            ms(a),
            ms(b),
            ms(b.saturating_sub(a)),
            b.as_secs_f64() / a.as_secs_f64()
        );
    }
    let _ = stop.send(());
    server.await??;
    db.close().await?;
    Ok(())
}
