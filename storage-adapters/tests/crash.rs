//! Crash test: a writer process (this test binary re-run with
//! `TSQ_CRASH_WRITER=<dir>`) imports line-protocol batches and prints `ACK <id>` after each
//! acknowledged write; the parent SIGKILLs it mid-import, reopens the store
//! and checks that every acknowledged point is there with its value. Three
//! rounds on the same directory, with snapshots and background compaction
//! running while the kills land.

mod common_tsm;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common_tsm::{dir, scan_all};
use tsq_engine::ScanRequest;
use tsq_storage::line_protocol::Precision;
use tsq_storage::tsm::{Store, StoreOptions, TsmAdapter};

const SERIES: i64 = 20;
const POINTS: i64 = 50;

fn options() -> StoreOptions {
    StoreOptions {
        cache_snapshot_bytes: 128 << 10,
        compaction_fanout: 3,
        background_interval: Some(Duration::from_millis(100)),
        ..Default::default()
    }
}

/// The value of point `i` of series `s` in batch `b` (two decimals).
fn value(b: i64, s: i64, i: i64) -> f64 {
    ((b * 7 + s * 13 + i) % 10_000) as f64 / 100.0
}

fn run_writer(dir: &str, start: i64) {
    let (store, _) = Store::open(std::path::Path::new(dir), options()).unwrap();
    for b in start.. {
        // One batch of line protocol: SERIES hosts × POINTS timestamps.
        let mut text = String::new();
        for s in 0..SERIES {
            for i in 0..POINTS {
                text.push_str(&format!(
                    "crash,host=h{s:02} v={} {}\n",
                    value(b, s, i),
                    b * POINTS + i
                ));
            }
        }
        let report = store.write_lines(&text, Precision::Nanoseconds).unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.points_written, (SERIES * POINTS) as usize);
        println!("ACK {b}");
    }
}

#[tokio::test]
async fn sigkill_mid_import_keeps_every_acknowledged_point() {
    if let Ok(d) = std::env::var("TSQ_CRASH_WRITER") {
        let start = std::env::var("TSQ_CRASH_START").unwrap().parse().unwrap();
        run_writer(&d, start);
        return;
    }
    let d = dir("crash");
    let mut acked: Option<i64> = None;
    for round in 0..3u64 {
        let start = acked.map_or(0, |a| a + 1);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "sigkill_mid_import_keeps_every_acknowledged_point",
                "--exact",
                "--nocapture",
            ])
            .env("TSQ_CRASH_WRITER", &d)
            .env("TSQ_CRASH_START", start.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut last = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(id) = line.strip_prefix("ACK ") {
                    last = Some(id.parse::<i64>().unwrap());
                }
            }
            last
        });
        // Let it write for a while (longer each round), then SIGKILL.
        std::thread::sleep(Duration::from_millis(700 + 400 * round));
        child.kill().unwrap();
        child.wait().unwrap();
        let last = reader.join().unwrap();
        assert!(
            last.is_some(),
            "round {round}: the writer acknowledged nothing"
        );
        acked = last.or(acked);
        let t0 = Instant::now();
        let (store, report) = Store::open(&d, StoreOptions::default()).unwrap();
        let a = TsmAdapter::new(Arc::new(store));
        let (got, _) = scan_all(&a, &ScanRequest::new("crash", "v"), 4096)
            .await
            .unwrap();
        let upto = acked.unwrap();
        assert_eq!(got.len(), SERIES as usize);
        for s in 0..SERIES {
            let series = &got[&format!("crash,host=h{s:02}#v")];
            let mut at = 0;
            for b in 0..=upto {
                for i in 0..POINTS {
                    let want = (b * POINTS + i, value(b, s, i));
                    assert_eq!(
                        series.get(at),
                        Some(&want),
                        "round {round}, series {s}, batch {b}, point {i}"
                    );
                    at += 1;
                }
            }
            // At most the one unacknowledged batch in flight may also be there.
            assert!(
                series.len() - at <= POINTS as usize,
                "round {round}: unexpected extra points"
            );
        }
        eprintln!(
            "round {round}: {} batches acknowledged, reopen+verify {:?}, warnings {:?}",
            upto + 1,
            t0.elapsed(),
            report.warnings
        );
    }
}
