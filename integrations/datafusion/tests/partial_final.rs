//! The partial/final split across shards (`docs/distributed.md`, "What
//! runs where"): every aggregator, over groups whose series span shards,
//! gives the rows one store holding every series gives, through a 3-worker
//! loopback cluster and through the explicit DataFusion plan
//! (`partial_final_plan`: partial steps next to the scans, DataFusion's
//! exchange, tsq's final merge); and a small case checked by hand.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::physical_plan::collect;
use datafusion::prelude::SessionContext;
use tokio::net::TcpListener;
use tsq_datafusion::cluster::{
    partial_final_plan, serve, shard_of, ClusterConfig, Coordinator, ShardStore, WorkerHandle,
};
use tsq_engine::StorageAdapter;
use tsq_planner::{Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;

const SHARDS: usize = 3;
const S: i64 = 1_000_000_000;

/// One point: host, dc, field, time (s), value.
type Point = (String, String, &'static str, i64, f64);

/// 9 hosts in 3 data centres, fields `u` (with gaps) and `v`, every 5 s
/// for a minute; values are multiples of 1/4, so that every sum is exact.
fn points() -> Vec<Point> {
    let mut out = Vec::new();
    for h in 0..9i64 {
        let (host, dc) = (
            format!("h{h}"),
            ["x", "y", "z"][(h % 3) as usize].to_string(),
        );
        for k in 0..12i64 {
            if (h + k) % 7 != 0 {
                let u = ((h * 7 + k * 3) % 17) as f64 * 0.25;
                out.push((host.clone(), dc.clone(), "u", k * 5, u));
            }
            let v = ((h * 5 + k) % 11) as f64 * 0.5;
            out.push((host.clone(), dc.clone(), "v", k * 5, v));
        }
    }
    out
}

fn insert(adapter: &MemoryAdapter, p: &Point) {
    let tags = [("host", p.0.as_str()), ("dc", p.1.as_str())];
    adapter.insert("m", &tags, p.2, &[(p.3 * S, p.4)]);
}

/// One store with every point, and the shards the shard function makes.
fn stores(points: &[Point]) -> (Arc<dyn StorageAdapter>, Vec<Arc<dyn StorageAdapter>>) {
    let one = MemoryAdapter::new();
    let shards: Vec<MemoryAdapter> = (0..SHARDS).map(|_| MemoryAdapter::new()).collect();
    for p in points {
        insert(&one, p);
        let tags = [("host", p.0.as_str()), ("dc", p.1.as_str())];
        insert(&shards[shard_of("m", &tags, SHARDS).index()], p);
    }
    let shards = shards
        .into_iter()
        .map(|s| Arc::new(s) as Arc<dyn StorageAdapter>)
        .collect();
    (Arc::new(one), shards)
}

async fn start_workers(shards: &[Arc<dyn StorageAdapter>]) -> (Vec<WorkerHandle>, ClusterConfig) {
    let mut handles = Vec::new();
    let mut addrs = Vec::new();
    for s in shards {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let handle = serve(ShardStore::new(Arc::clone(s)), listener).expect("serve");
        addrs.push(handle.addr().to_string());
        handles.push(handle);
    }
    (handles, ClusterConfig::new(addrs).expect("config"))
}

/// Column names, then every row as strings.
fn table(batches: &[RecordBatch]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut names = Vec::new();
    let mut rows = Vec::new();
    for b in batches {
        names = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        for r in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| array_value_to_string(c, r).expect("display"))
                    .collect(),
            );
        }
    }
    (names, rows)
}

/// Same columns and rows: cells equal as text, except `dev`, whose
/// parallel merge (Chan et al.) rounds differently from one pass.
fn assert_same(sql: &str, got: &[RecordBatch], expected: &[RecordBatch]) {
    let (gn, gr) = table(got);
    let (en, er) = table(expected);
    if !er.is_empty() {
        assert_eq!(gn, en, "{sql}");
    }
    assert_eq!(gr.len(), er.len(), "{sql}: {gr:?}\nagainst {er:?}");
    let dev = sql.contains("dev(");
    for (g, e) in gr.iter().zip(&er) {
        let same = g.iter().zip(e).all(|(a, b)| {
            a == b
                || (dev
                    && matches!((a.parse::<f64>(), b.parse::<f64>()),
                        (Ok(x), Ok(y)) if (x - y).abs() <= 1e-12 * x.abs().max(y.abs())))
        });
        assert!(same, "{sql}: {g:?} against {e:?}");
    }
}

/// The statements compared: each aggregator in the streaming shape (per
/// dc, per bucket; all series together), the interpolating shape (no
/// SAMPLE BY), two columns, a value filter; raw selects; ends of data.
fn statements() -> Vec<String> {
    let aggs = [
        "sum", "avg", "min", "max", "count", "first", "last", "dev", "p50", "p90", "p99", "zimsum",
        "mimmin", "mimmax", "pfsum",
    ];
    let mut out = Vec::new();
    for a in aggs {
        out.push(format!("SELECT {a}(u) FROM m GROUP BY dc SAMPLE BY 10s"));
        out.push(format!("SELECT {a}(u) FROM m SAMPLE BY 20s max FILL(null)"));
        out.push(format!("SELECT {a}(u) FROM m GROUP BY dc"));
        out.push(format!(
            "SELECT {a}(u), {a}(v) FROM m WHERE time >= 10s GROUP BY dc SAMPLE BY 15s last"
        ));
    }
    out.extend(
        [
            "SELECT avg(u) FROM m WHERE u > 2 GROUP BY dc SAMPLE BY 10s",
            "SELECT avg(u) + max(v) AS s FROM m GROUP BY dc SAMPLE BY 30s",
            "SELECT u, v FROM m WHERE dc = 'x'",
            "SELECT u FROM m ORDER BY time DESC LIMIT 4",
            "SELECT last(*) FROM m GROUP BY host",
            "SELECT max(u) FROM m GROUP BY dc SAMPLE BY ALL last",
            "SELECT u FROM m GROUP BY host SAMPLE BY 10s avg FILL(linear)",
            "SELECT sum(u) FROM m GROUP BY dc SAMPLE BY 10s FILL(0) ORDER BY sum(u) DESC LIMIT 3",
        ]
        .map(String::from),
    );
    out
}

/// The groups span shards: some data centre has hosts on several.
fn assert_groups_span_shards(points: &[Point]) {
    let spread = ["x", "y", "z"].iter().any(|dc| {
        let mut shards: Vec<_> = points
            .iter()
            .filter(|p| p.1 == *dc)
            .map(|p| shard_of("m", &[("host", p.0.as_str()), ("dc", dc)], SHARDS))
            .collect();
        shards.sort();
        shards.dedup();
        shards.len() > 1
    });
    assert!(spread);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_aggregator_on_three_workers_matches_one_store() {
    let points = points();
    assert_groups_span_shards(&points);
    let (one, shards) = stores(&points);
    let one = Session::new(one, SessionConfig::default());
    let (workers, config) = start_workers(&shards).await;
    let coordinator = Coordinator::new(config, Duration::from_secs(20)).expect("coordinator");
    let mut compared = 0;
    for sql in statements() {
        let expected = match one.sql(&sql).await {
            Ok(q) => q.collect().await,
            Err(e) => Err(e),
        };
        let got = coordinator.query(&sql).await;
        match (expected, got) {
            (Ok(e), Ok(g)) => {
                assert_same(&sql, &[g.batch], &e);
                compared += 1;
            }
            (Err(_), Err(_)) => {}
            (e, g) => panic!("{sql}: one store {:?}, cluster {:?}", e.err(), g.err()),
        }
    }
    assert!(compared >= 60, "{compared}");
    for w in workers {
        w.stop().await.expect("stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_final_plan_in_datafusion_matches_one_store() {
    let points = points();
    let (one, shards) = stores(&points);
    let one = Session::new(one, SessionConfig::default());
    let stores: Vec<ShardStore> = shards.into_iter().map(ShardStore::new).collect();
    let ctx = SessionContext::new();
    let mut compared = 0;
    for sql in statements() {
        let Ok(query) = one.sql(&sql).await else {
            continue;
        };
        let expected = query.collect().await.expect("one store");
        let plan = partial_final_plan(&stores, &sql).await.expect("plan");
        let shown = datafusion::physical_plan::displayable(plan.as_ref())
            .indent(false)
            .to_string();
        assert!(shown.contains("TsqFinalMergeExec"), "{shown}");
        assert!(shown.contains("CoalescePartitionsExec"), "{shown}");
        assert_eq!(shown.matches("TsqShardExec: mode=partial").count(), 3);
        let got = collect(plan, ctx.task_ctx()).await.expect("run");
        assert_same(&sql, &got, &expected);
        compared += 1;
    }
    assert!(compared >= 60, "{compared}");
}

/// Two hosts of one data centre, on two different shards, the first by
/// series key on a later shard than the second; both with points at the
/// same times, so first/last ties are decided by the series key.
fn two_hosts() -> (String, String) {
    let names: Vec<String> = (0..100).map(|i| format!("a{i:02}")).collect();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            let sa = shard_of("m", &[("host", a), ("dc", "x")], SHARDS);
            let sb = shard_of("m", &[("host", b), ("dc", "x")], SHARDS);
            if sa > sb {
                return (a.clone(), b.clone());
            }
        }
    }
    panic!("no two hosts on different shards");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_across_two_shards_by_hand() {
    let (a, b) = two_hosts();
    // host a: 1 at 0 s, 3 at 10 s; host b: 2 at 0 s, 6 at 10 s.
    let points: Vec<Point> = vec![
        (a.clone(), "x".into(), "u", 0, 1.0),
        (a.clone(), "x".into(), "u", 10, 3.0),
        (b.clone(), "x".into(), "u", 0, 2.0),
        (b.clone(), "x".into(), "u", 10, 6.0),
    ];
    let (_, shards) = stores(&points);
    let (workers, config) = start_workers(&shards).await;
    let coordinator = Coordinator::new(config, Duration::from_secs(20)).expect("coordinator");
    let answer = coordinator
        .query(
            "SELECT avg(u), sum(u), count(u), first(u), last(u), min(u), dev(u) FROM m \
             GROUP BY dc SAMPLE BY 10s",
        )
        .await
        .expect("query");
    let (names, rows) = table(&[answer.batch]);
    assert_eq!(
        names,
        ["time", "dc", "avg(u)", "sum(u)", "count(u)", "first(u)", "last(u)", "min(u)", "dev(u)"]
    );
    // bucket 0: values 1 (a) and 2 (b): mean 1.5, population deviation 0.5;
    // first is a's (smaller series key at the same time), last is b's.
    // bucket 10 s: 3 and 6: mean 4.5, deviation 1.5.
    assert_eq!(
        rows,
        [
            [
                "1970-01-01T00:00:00Z",
                "x",
                "1.5",
                "3.0",
                "2.0",
                "1.0",
                "2.0",
                "1.0",
                "0.5"
            ],
            [
                "1970-01-01T00:00:10Z",
                "x",
                "4.5",
                "9.0",
                "2.0",
                "3.0",
                "6.0",
                "3.0",
                "1.5"
            ],
        ]
    );
    // two groups-by-bucket rows of states, one from each shard that holds data
    assert_eq!(answer.rows_received, 4 * 7);
    for w in workers {
        w.stop().await.expect("stop");
    }
}
