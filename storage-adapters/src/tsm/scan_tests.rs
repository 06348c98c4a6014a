//! Tests of the TSM scan's batches (`adapter.rs`, `scan_batch.rs`): series
//! decoded straight into batch columns, the carry of series that do not fit,
//! and the merging paths (cache, tombstones, files that overlap), against a
//! naive reference at every batch size.

use std::collections::BTreeMap;
use std::sync::Arc;

use tsq_engine::{ScanRequest, SeriesInfo, StorageAdapter, TagPredicate, TimeRange};

use crate::tsm::test_dir;
use crate::tsm::value::Values;
use crate::tsm::wal::SeriesPoints;
use crate::tsm::{Store, StoreOptions, TsmAdapter};

fn points(host: &str, times: &[i64], values: &[f64]) -> SeriesPoints {
    SeriesPoints {
        series: SeriesInfo::new("m", &[("host", host)], "v"),
        times: times.to_vec(),
        values: Values::Float(values.to_vec()),
    }
}

/// A whole scan: the rows of each batch as `(host, time, value)`.
async fn batches(
    a: &TsmAdapter,
    range: TimeRange,
    max_rows: usize,
) -> Vec<Vec<(String, i64, f64)>> {
    let req = ScanRequest {
        range,
        ..ScanRequest::new("m", "v")
    };
    let mut scan = a.scan(&req).await.unwrap();
    let mut out = Vec::new();
    while let Some(b) = scan.next_batch(max_rows).await.unwrap() {
        let mut rows = Vec::new();
        for tl in b.timelines() {
            let host = b.registry().get(tl.series_id).unwrap().tag("host").unwrap();
            for i in 0..tl.len() {
                rows.push((host.to_string(), tl.times[i], tl.values[i]));
            }
        }
        out.push(rows);
    }
    out
}

/// Host `h` with `n` points: t = 10·k, value = k + offset.
fn series(h: &str, n: i64, offset: f64) -> SeriesPoints {
    let times: Vec<i64> = (0..n).map(|k| 10 * k).collect();
    let values: Vec<f64> = (0..n).map(|k| k as f64 + offset).collect();
    points(h, &times, &values)
}

#[tokio::test]
async fn regular_series_fill_batches_whole_without_splitting() {
    // Ten series of 300 points, one block each. With 1000 rows a batch, a
    // batch takes three whole series (900 rows): a fourth would not fit.
    let dir = test_dir("scan_whole");
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    let all: Vec<SeriesPoints> = (0..10)
        .map(|i| series(&format!("h{i}"), 300, f64::from(i) * 1000.0))
        .collect();
    store.write_series(all).unwrap();
    store.flush().unwrap();
    let a = TsmAdapter::new(Arc::new(store));
    let got = batches(&a, TimeRange::ALL, 1000).await;
    let sizes: Vec<usize> = got.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![900, 900, 900, 300]);
    // Batch 2 holds h3, h4, h5 whole: first row h3 at t = 0 (3000.0), last
    // row h5 at t = 2990 (5299.0).
    assert_eq!(got[1][0], ("h3".to_string(), 0, 3000.0));
    assert_eq!(got[1][899], ("h5".to_string(), 2990, 5299.0));
    // 250 rows a batch: every series is longer than a batch, so each one is
    // split and its rest carried into the next batch, which fills up with the
    // start of the next series, until a carried rest (h2's 150 rows) leaves
    // less room than itself: [h0 250] [h0 50, h1 200] [h1 100, h2 150]
    // [h2 150], then the same for h3..h5 and h6..h8, then h9.
    let got = batches(&a, TimeRange::ALL, 250).await;
    let sizes: Vec<usize> = got.iter().map(Vec::len).collect();
    let mut want = [250, 250, 250, 150].repeat(3);
    want.extend([250, 50]);
    assert_eq!(sizes, want);
    assert_eq!(got[1][49], ("h0".to_string(), 2990, 299.0));
    assert_eq!(got[1][50], ("h1".to_string(), 0, 1000.0));
    assert_eq!(got[3][0], ("h2".to_string(), 1500, 2150.0));
    assert_eq!(got[13][49], ("h9".to_string(), 2990, 9299.0));
}

#[tokio::test]
async fn batches_kept_by_the_consumer_are_not_overwritten() {
    // The scan builds a batch in the buffers of the one before only once the
    // consumer has dropped that one (`scan_batch::Spare`). Here every batch
    // is kept until the scan ends: each must still hold its own rows, the
    // same as when each batch is dropped at once (`batches`, which reuses).
    let dir = test_dir("scan_kept");
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    let all: Vec<SeriesPoints> = (0..6)
        .map(|i| {
            series(
                &format!("h{i}"),
                120 + 30 * i64::from(i),
                f64::from(i) * 1000.0,
            )
        })
        .collect();
    store.write_series(all).unwrap();
    store.flush().unwrap();
    let a = TsmAdapter::new(Arc::new(store));
    for max_rows in [1, 7, 100, 4096] {
        let req = ScanRequest::new("m", "v");
        let mut scan = a.scan(&req).await.unwrap();
        let mut kept = Vec::new();
        while let Some(b) = scan.next_batch(max_rows).await.unwrap() {
            kept.push(b);
        }
        let held: Vec<Vec<(String, i64, f64)>> = kept
            .iter()
            .map(|b| {
                b.timelines()
                    .flat_map(|tl| {
                        let host = b.registry().get(tl.series_id).unwrap().tag("host").unwrap();
                        (0..tl.len()).map(move |i| (host.to_string(), tl.times[i], tl.values[i]))
                    })
                    .collect()
            })
            .collect();
        let dropped = batches(&a, TimeRange::ALL, max_rows).await;
        assert_eq!(held, dropped, "max_rows = {max_rows}");
        // Every point once: h_i has 120 + 30·i points, t = 10·k, k + 1000·i.
        let rows: Vec<(String, i64, f64)> = held.into_iter().flatten().collect();
        let want: Vec<(String, i64, f64)> = (0..6)
            .flat_map(|i: i64| {
                (0..120 + 30 * i).map(move |k| (format!("h{i}"), 10 * k, (k + 1000 * i) as f64))
            })
            .collect();
        assert_eq!(rows, want, "max_rows = {max_rows}");
    }
}

/// The reference: host → time → value, the newest write winning.
type Reference = BTreeMap<String, BTreeMap<i64, f64>>;

fn write(store: &Store, r: &mut Reference, host: &str, times: &[i64], values: &[f64]) {
    store
        .write_series(vec![points(host, times, values)])
        .unwrap();
    let e = r.entry(host.to_string()).or_default();
    for (t, v) in times.iter().zip(values) {
        e.insert(*t, *v);
    }
}

#[tokio::test]
async fn every_path_matches_a_reference_at_every_batch_size() {
    let dir = test_dir("scan_paths");
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    let mut r = Reference::new();
    let ramp = |n: i64, step: i64, base: f64| -> (Vec<i64>, Vec<f64>) {
        (
            (0..n).map(|k| k * step).collect(),
            (0..n).map(|k| base + k as f64).collect(),
        )
    };
    // File 1: "a" 2500 points (blocks of 1000, 1000, 500), "b" 40, "c" 1200,
    // "d" 30, "e" 20.
    let (t, v) = ramp(2500, 3, 0.0);
    write(&store, &mut r, "a", &t, &v);
    let (t, v) = ramp(40, 7, 100.0);
    write(&store, &mut r, "b", &t, &v);
    let (t, v) = ramp(1200, 2, 500.0);
    write(&store, &mut r, "c", &t, &v);
    let (t, v) = ramp(30, 5, 900.0);
    write(&store, &mut r, "d", &t, &v);
    let (t, v) = ramp(20, 1, 50.0);
    write(&store, &mut r, "e", &t, &v);
    store.flush().unwrap();
    // File 2: "b" overlaps file 1 (t = 70..=140 rewritten), "d" continues
    // after file 1 (t = 150.., the fast path across two files).
    let (t, v): (Vec<i64>, Vec<f64>) = ((10..=20).map(|k| 7 * k).collect(), vec![-1.0; 11]);
    write(&store, &mut r, "b", &t, &v);
    let (t, v): (Vec<i64>, Vec<f64>) = ((30..60).map(|k| 5 * k).collect(), vec![-2.0; 30]);
    write(&store, &mut r, "d", &t, &v);
    store.flush().unwrap();
    // Tombstone on "c" (t = 100..=199), then cached points on "e" (one new,
    // one overwriting t = 3).
    store
        .delete(
            "m",
            &TagPredicate::Eq("host".into(), "c".into()),
            TimeRange::new(100, 200),
        )
        .unwrap();
    r.get_mut("c")
        .unwrap()
        .retain(|t, _| !(100..200).contains(t));
    write(&store, &mut r, "e", &[3, 25], &[-3.0, -4.0]);
    assert_eq!(store.file_set().files().count(), 2);
    assert!(store.cache_bytes() > 0);
    let a = TsmAdapter::new(Arc::new(store));
    let ranges = [
        TimeRange::ALL,
        TimeRange::new(0, 1),           // the first point only
        TimeRange::new(2997, 3003),     // "a" across its first two blocks
        TimeRange::new(7, 141),         // "b"'s overlap edges
        TimeRange::new(99, 201),        // around "c"'s tombstone
        TimeRange::new(7497, 7498),     // "a"'s last point
        TimeRange::new(10_000, 20_000), // nothing
    ];
    for range in ranges {
        let want: Vec<(String, i64, f64)> = r
            .iter()
            .flat_map(|(h, pts)| {
                pts.iter()
                    .filter(|(t, _)| range.contains(**t))
                    .map(|(t, v)| (h.clone(), *t, *v))
            })
            .collect();
        for max_rows in [1, 7, 333, 1000, 4096] {
            let got = batches(&a, range, max_rows).await;
            assert!(got.iter().all(|b| !b.is_empty() && b.len() <= max_rows));
            let flat: Vec<(String, i64, f64)> = got.into_iter().flatten().collect();
            assert_eq!(flat, want, "{range} batch {max_rows}");
        }
    }
    // Spot checks of the reference itself, by hand: "b" at t = 70 is the
    // rewrite, "d" at t = 150 comes from file 2, "e" at t = 3 from the cache.
    assert_eq!(r["b"][&70], -1.0);
    assert_eq!(r["b"][&63], 109.0);
    assert_eq!(r["d"][&145], 929.0);
    assert_eq!(r["d"][&150], -2.0);
    assert_eq!((r["e"][&3], r["e"][&25]), (-3.0, -4.0));
    assert!(!r["c"].contains_key(&150) && r["c"].contains_key(&98));
}

#[tokio::test]
async fn pooled_read_buffers_serve_later_scans_and_files_alike() {
    // Scans of one adapter read through the buffers of the scans before them
    // (`BlockBufPool`): a later scan, one that runs while another holds a
    // buffer, and one after a compaction replaced the files must each see
    // exactly the store's points.
    let dir = test_dir("scan_pooled");
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    let all: Vec<SeriesPoints> = (0..40)
        .map(|i| series(&format!("h{i:02}"), 900, f64::from(i) * 1000.0))
        .collect();
    store.write_series(all).unwrap();
    store.flush().unwrap();
    let store = Arc::new(store);
    let a = TsmAdapter::new(Arc::clone(&store));
    let want = |offset: f64, n: i64| -> Vec<(String, i64, f64)> {
        (0..40)
            .flat_map(|i| {
                (0..n).map(move |k| {
                    let value = k as f64 + f64::from(i) * 1000.0 + offset;
                    (format!("h{i:02}"), 10 * k, value)
                })
            })
            .collect()
    };
    let first: Vec<_> = batches(&a, TimeRange::ALL, 4096).await.concat();
    assert_eq!(first, want(0.0, 900));
    // Again, with the first scan's buffer; and two scans open at once.
    let req = ScanRequest::new("m", "v");
    let held = a.scan(&req).await.unwrap();
    let again: Vec<_> = batches(&a, TimeRange::ALL, 4096).await.concat();
    assert_eq!(again, first);
    drop(held);
    // New points for every series (a later time, other values), flushed and
    // compacted into a new file: a kept buffer holds bytes of the old one.
    let more: Vec<SeriesPoints> = (0..40)
        .map(|i| {
            let times: Vec<i64> = (900..1000).map(|k| 10 * k).collect();
            let values: Vec<f64> = (900..1000)
                .map(|k| f64::from(k) + f64::from(i) * 1000.0)
                .collect();
            points(&format!("h{i:02}"), &times, &values)
        })
        .collect();
    store.write_series(more).unwrap();
    store.flush().unwrap();
    store.compact_full().unwrap();
    let after: Vec<_> = batches(&a, TimeRange::ALL, 4096).await.concat();
    assert_eq!(after, want(0.0, 1000));
}
