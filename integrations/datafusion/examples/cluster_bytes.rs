//! What a 3-worker loopback cluster ships and how long it takes, against one
//! store holding the same data (`docs/distributed.md`, "Measurements"):
//! `double-groupby-1` through the cluster (the shards' partial states), the
//! same window's points shipped raw (`SELECT usage_user …`: what shipping
//! the points would cost), and the time of every TSBS query on the cluster
//! and on one store, in the same run, with the rows and bytes the shards
//! sent for it (the `Partial` stage's envelopes as an Arrow IPC stream).
//!
//! `cargo run -p tsq-datafusion --example cluster_bytes -- HOSTS HOURS`

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tsq_benches::demo::{DemoConfig, DEFAULT_START, FIELDS, MEASUREMENT};
use tsq_benches::tsbs::dataset::TsbsData;
use tsq_benches::tsbs::queries::queries;
use tsq_datafusion::cluster::{serve, shard_of, ClusterConfig, Coordinator, ShardStore};
use tsq_engine::StorageAdapter;
use tsq_planner::{Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;

const SHARDS: usize = 3;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let config = DemoConfig {
        hosts: args.first().copied().unwrap_or(100),
        hours: args.get(1).copied().unwrap_or(12) as u64,
        seed: 1,
        start: DEFAULT_START,
    };
    let data = TsbsData::generate(config);
    let shards: Vec<MemoryAdapter> = (0..SHARDS).map(|_| MemoryAdapter::new()).collect();
    for (h, tags) in data.host_tags.iter().enumerate() {
        let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let shard = shard_of(MEASUREMENT, &tags, SHARDS);
        for (f, field) in FIELDS.iter().enumerate() {
            let points: Vec<(i64, f64)> = (h..data.rows())
                .step_by(config.hosts)
                .map(|i| (data.times[i], data.values[f][i]))
                .collect();
            shards[shard.index()].insert(MEASUREMENT, &tags, field, &points);
        }
    }
    let mut handles = Vec::new();
    let mut workers = Vec::new();
    for adapter in shards {
        let adapter: Arc<dyn StorageAdapter> = Arc::new(adapter);
        let handle = serve(
            ShardStore::new(adapter),
            TcpListener::bind("127.0.0.1:0").await?,
        )?;
        workers.push(handle.addr().to_string());
        handles.push(handle);
    }
    let coordinator = Coordinator::new(ClusterConfig::new(workers)?, Duration::from_secs(600))?;
    let one: Arc<dyn StorageAdapter> = Arc::new(data.memory_adapter());
    let one = Session::new(one, SessionConfig::default());

    println!(
        "{} hosts, {} h, {} points, {SHARDS} workers",
        config.hosts,
        config.hours,
        data.points()
    );
    let all = queries(&config);
    let dg1 = all
        .iter()
        .find(|q| q.name == "double-groupby-1")
        .ok_or("no query")?;
    let answer = coordinator.query(&dg1.tsq).await?;
    let window = dg1
        .tsq
        .split(" WHERE ")
        .nth(1)
        .and_then(|w| w.split(" GROUP BY").next());
    let raw = format!(
        "SELECT usage_user FROM cpu WHERE {}",
        window.ok_or("no window")?
    );
    let points = coordinator.query(&raw).await?;
    println!(
        "double-groupby-1: {} rows, {} bytes received; the points: {} rows, {} bytes ({:.0}x)",
        answer.rows_received,
        answer.bytes_received,
        points.rows_received,
        points.bytes_received,
        points.bytes_received as f64 / answer.bytes_received.max(1) as f64
    );
    println!("query                    one store   cluster   ratio  rows shipped  bytes shipped");
    for q in &all {
        let started = Instant::now();
        one.sql(&q.tsq).await?.collect().await?;
        let single = started.elapsed();
        let started = Instant::now();
        let answer = coordinator.query(&q.tsq).await?;
        let cluster = started.elapsed();
        println!(
            "{:<24} {:>8.1} ms {:>7.1} ms {:>6.2} {:>13} {:>14}",
            q.name,
            single.as_secs_f64() * 1e3,
            cluster.as_secs_f64() * 1e3,
            cluster.as_secs_f64() / single.as_secs_f64(),
            answer.rows_received,
            answer.bytes_received
        );
    }
    for h in handles {
        h.stop().await?;
    }
    Ok(())
}
