//! A 3-worker loopback cluster (`docs/distributed.md`, "Scale-out"):
//! workers on 127.0.0.1 port 0, each over the series the shard function
//! gives it; the TSBS queries through the coordinator give the same rows
//! as one store holding all the data; a worker that is down fails the
//! query with an error naming it, within the timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tsq_benches::demo::{DemoConfig, DEFAULT_START, FIELDS, MEASUREMENT};
use tsq_benches::tsbs::compare::{canonical, check_same};
use tsq_benches::tsbs::dataset::TsbsData;
use tsq_benches::tsbs::queries::queries;
use tsq_datafusion::cluster::{serve, shard_of, ClusterConfig, Coordinator, WorkerHandle};
use tsq_engine::StorageAdapter;
use tsq_planner::{Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;

const SHARDS: usize = 3;

/// The data split by the shard function: one adapter per shard.
fn shard_adapters(data: &TsbsData) -> Vec<MemoryAdapter> {
    let shards: Vec<MemoryAdapter> = (0..SHARDS).map(|_| MemoryAdapter::new()).collect();
    let hosts = data.config.hosts;
    for (h, tags) in data.host_tags.iter().enumerate() {
        let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let shard = shard_of(MEASUREMENT, &tags, SHARDS);
        for (f, field) in FIELDS.iter().enumerate() {
            let points: Vec<(i64, f64)> = (h..data.rows())
                .step_by(hosts)
                .map(|i| (data.times[i], data.values[f][i]))
                .collect();
            shards[shard.index()].insert(MEASUREMENT, &tags, field, &points);
        }
    }
    shards
}

async fn start_workers(data: &TsbsData) -> (Vec<WorkerHandle>, ClusterConfig) {
    let mut handles = Vec::new();
    let mut workers = Vec::new();
    for adapter in shard_adapters(data) {
        let adapter: Arc<dyn StorageAdapter> = Arc::new(adapter);
        let session = Arc::new(Session::new(adapter, SessionConfig::default()));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let handle = serve(session, listener).expect("serve");
        workers.push(handle.addr().to_string());
        handles.push(handle);
    }
    (handles, ClusterConfig::new(workers).expect("config"))
}

fn data() -> TsbsData {
    TsbsData::generate(DemoConfig {
        hosts: 12,
        hours: 2,
        seed: 7,
        start: DEFAULT_START,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsbs_queries_on_three_workers_match_one_store() {
    let data = data();
    // the split is not degenerate: every shard holds some host
    let adapters = shard_adapters(&data);
    assert!(adapters.iter().all(|a| a.num_points() > 0));
    assert_eq!(
        adapters.iter().map(|a| a.num_points()).sum::<usize>(),
        data.points()
    );

    let one: Arc<dyn StorageAdapter> = Arc::new(data.memory_adapter());
    let one = Session::new(one, SessionConfig::default());
    let (workers, config) = start_workers(&data).await;
    let coordinator = Coordinator::new(config, Duration::from_secs(20)).expect("coordinator");

    let all = queries(&data.config);
    assert_eq!(all.len(), 15);
    let mut answered = 0;
    for q in &all {
        let expected = one
            .sql(&q.tsq)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let expected = canonical(&expected).expect("canonical");
        let answer = coordinator
            .query(&q.tsq)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", q.name));
        let got = canonical(std::slice::from_ref(&answer.batch)).expect("canonical");
        check_same(q.name, &got, &expected).expect("same rows");
        answered += usize::from(!expected.is_empty());
    }
    // high-cpu-1 finds nothing over 90 on host_0 in two hours
    assert!(answered >= 14, "{answered}");
    for w in workers {
        w.stop().await.expect("stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_worker_fails_the_query_naming_it() {
    let data = data();
    let (mut workers, config) = start_workers(&data).await;
    let dead = workers.remove(1);
    let dead_addr = dead.addr().to_string();
    dead.abort();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let coordinator = Coordinator::new(config, Duration::from_secs(5)).expect("coordinator");
    let started = Instant::now();
    let q = &queries(&data.config)[8];
    assert_eq!(q.name, "double-groupby-1");
    let err = coordinator
        .query(&q.tsq)
        .await
        .expect_err("a shard is down");
    let text = err.to_string();
    assert!(
        text.contains(&format!("worker {dead_addr} (shard 1)")),
        "{text}"
    );
    assert!(
        !text.contains("(shard 0)") && !text.contains("(shard 2)"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    for w in workers {
        w.stop().await.expect("stop");
    }
}
