//! The background maintenance thread (docs/storage.md, "Compaction"): it
//! runs compaction when its period elapses and stops at once when the store
//! is closed or dropped, however long the period.

use std::time::{Duration, Instant};

use tsq_engine::SeriesInfo;

use super::value::Values;
use super::wal::SeriesPoints;
use super::{test_dir, Store, StoreOptions};

fn point(t: i64) -> SeriesPoints {
    SeriesPoints {
        series: SeriesInfo::new("m", &[("host", "a")], "v"),
        times: vec![t],
        values: Values::Float(vec![t as f64]),
    }
}

fn options(period: Duration) -> StoreOptions {
    StoreOptions {
        background_interval: Some(period),
        compaction_fanout: 2,
        ..StoreOptions::default()
    }
}

#[test]
fn an_hour_long_wait_ends_at_once_on_drop_and_on_close() {
    let dir = test_dir("background_stop");
    let (store, _) = Store::open(&dir, options(Duration::from_secs(3600))).unwrap();
    let start = Instant::now();
    drop(store);
    let dropped_in = start.elapsed();
    assert!(
        dropped_in < Duration::from_secs(1),
        "drop took {dropped_in:?}"
    );

    let (store, _) = Store::open(&dir, options(Duration::from_secs(3600))).unwrap();
    let start = Instant::now();
    store.close().unwrap();
    let closed_in = start.elapsed();
    assert!(
        closed_in < Duration::from_secs(1),
        "close took {closed_in:?}"
    );
}

#[test]
fn the_thread_compacts_when_its_period_elapses() {
    let dir = test_dir("background_compacts");
    let (store, _) = Store::open(&dir, options(Duration::from_millis(10))).unwrap();
    // Two level-1 files in one shard: with fanout 2 they merge into one
    // level-2 file holding both points.
    for t in [1, 2] {
        store.write_series(vec![point(t)]).unwrap();
        store.flush().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let levels = loop {
        let levels: Vec<u8> = store.file_set().files().map(|f| f.id().level).collect();
        if levels == [2] || Instant::now() > deadline {
            break levels;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(levels, vec![2], "files after background compaction");
    let file = store.file_set().files().next().cloned().unwrap();
    assert_eq!(file.id().min_gen, 1);
    assert_eq!(file.id().max_gen, 2);
}
