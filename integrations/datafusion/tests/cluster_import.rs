//! `tsq import --cluster` end to end (`docs/distributed.md`, "Writing to a
//! cluster"): three workers on 127.0.0.1, each a `tsq` database serving
//! `tsq serve`'s write routes beside the cluster's Flight service; the
//! importer sends each line to the shard of its series, and queries
//! through the cluster then give the rows one database holding every line
//! gives. A worker that is down stops the import with an error naming it.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use tokio::net::TcpListener;
use tsq::server::http::{router, HttpState, Metrics};
use tsq::server::Limits;
use tsq::{Database, Precision};
use tsq_datafusion::cluster::{
    import_lines, serve_with, shard_of, ClusterConfig, Coordinator, ShardStore, WorkerHandle,
};

const SHARDS: usize = 3;

/// Line protocol: 9 hosts in 3 data centres, one line per host every 5 s
/// for a minute, `u` missing on some lines.
fn lines() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for k in 0..12i64 {
        for h in 0..9i64 {
            let dc = ["x", "y", "z"][(h % 3) as usize];
            let v = ((h * 5 + k) % 11) as f64 * 0.5;
            let fields = if (h + k) % 7 == 0 {
                format!("v={v}")
            } else {
                format!("u={},v={v}", ((h * 7 + k * 3) % 17) as f64 * 0.25)
            };
            let line = format!("m,host=h{h},dc={dc} {fields} {}", k * 5_000_000_000);
            out.push((format!("h{h}"), dc.to_string(), line));
        }
    }
    out
}

async fn start_workers() -> (Vec<Database>, Vec<WorkerHandle>, ClusterConfig) {
    let (mut dbs, mut handles, mut addrs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..SHARDS {
        let db = Database::in_memory();
        let store = ShardStore::new(db.adapter());
        let http = HttpState::new(db.clone(), None, Limits::default(), Metrics::new());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let handle = serve_with(store, listener, Some(router(Arc::new(http)))).expect("serve");
        addrs.push(handle.addr().to_string());
        handles.push(handle);
        dbs.push(db);
    }
    (dbs, handles, ClusterConfig::new(addrs).expect("config"))
}

fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| array_value_to_string(c, r).expect("display"))
                    .collect(),
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_through_the_cluster_then_query_matches_one_store() {
    let lines = lines();
    let text: String = lines
        .iter()
        .map(|(_, _, l)| format!("{l}\n# comment\n"))
        .collect();
    let (dbs, workers, config) = start_workers().await;
    let report = import_lines(&config, "test", text.as_bytes(), Precision::Nanoseconds)
        .await
        .expect("import");
    // each shard took the lines of the hosts the shard function gives it
    let mut expected = vec![0u64; SHARDS];
    for (host, dc, _) in &lines {
        expected[shard_of("m", &[("host", host), ("dc", dc)], SHARDS).index()] += 1;
    }
    assert_eq!(report.lines, expected);
    assert_eq!(report.lines.iter().sum::<u64>(), 108);
    assert_eq!(report.batches, vec![1; SHARDS]);
    assert!(expected.iter().all(|&n| n > 0), "{expected:?}");

    let one = Database::in_memory();
    one.write_lp(text.clone()).await.expect("write");
    let one = one.session();
    let coordinator = Coordinator::new(config, Duration::from_secs(20)).expect("coordinator");
    for sql in [
        "SELECT avg(u), sum(v), count(u), first(u), last(v), p90(u) FROM m GROUP BY dc SAMPLE BY 10s",
        "SELECT max(u) FROM m SAMPLE BY 30s",
        "SELECT u, v FROM m WHERE host = 'h4'",
    ] {
        let expected = one.sql(sql).await.expect("plan").collect().await.expect("run");
        let got = coordinator.query(sql).await.expect("cluster");
        assert_eq!(rows(&[got.batch]), rows(&expected), "{sql}");
        assert!(!expected.is_empty());
    }
    drop(dbs);
    for w in workers {
        w.stop().await.expect("stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_worker_stops_the_import_naming_it() {
    let (_dbs, mut workers, config) = start_workers().await;
    let down = workers.remove(2);
    let addr = down.addr().to_string();
    down.stop().await.expect("stop");
    let text: String = lines().iter().map(|(_, _, l)| format!("{l}\n")).collect();
    let err = import_lines(&config, "test", text.as_bytes(), Precision::Nanoseconds)
        .await
        .expect_err("shard 2 is down");
    assert!(
        err.to_string()
            .starts_with(&format!("worker {addr} (shard 2): ")),
        "{err}"
    );
    let bad = import_lines(
        &config,
        "in.lp",
        "m,host=a u=1 1\nm u=\n".as_bytes(),
        Precision::Nanoseconds,
    )
    .await
    .expect_err("line 2 is invalid");
    assert!(
        bad.to_string().starts_with("in.lp: line 2, column"),
        "{bad}"
    );
    for w in workers {
        w.stop().await.expect("stop");
    }
}
