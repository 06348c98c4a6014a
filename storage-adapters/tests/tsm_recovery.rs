//! Recovery from damaged record files (`docs/storage.md`, "Recovery"): a
//! flipped byte in a WAL record loses that record only; a flipped byte in
//! `series.log` hides no series (the index is rebuilt from the TSM files and
//! the WAL); a flipped byte in a tombstone file makes reads of its TSM file
//! fail instead of bringing deleted points back.

mod common_tsm;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common_tsm::{dir, pts, scan_all, Timelines};
use tsq_engine::{ScanRequest, TagPredicate, TimeRange};
use tsq_storage::tsm::{OpenReport, Store, StoreOptions, TsmAdapter};

fn open(d: &Path) -> (TsmAdapter, OpenReport) {
    let (store, report) = Store::open(d, StoreOptions::default()).unwrap();
    (TsmAdapter::new(Arc::new(store)), report)
}

async fn read_all(a: &TsmAdapter, req: &ScanRequest) -> tsq_engine::Result<Timelines> {
    Ok(scan_all(a, req, 1000).await?.0)
}

/// The WAL segments of `d` holding bytes.
fn wal_segments(d: &Path) -> Vec<PathBuf> {
    let mut segs: Vec<PathBuf> = fs::read_dir(d.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| fs::metadata(p).unwrap().len() > 0)
        .collect();
    segs.sort();
    segs
}

/// Record start offsets of a framed file (`docs/storage.md`, "Record
/// framing": 16 header bytes, the payload length in bytes 4..8), plus the
/// file length.
fn record_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    let mut at = 0;
    while at < bytes.len() {
        let len = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        at += 16 + len;
        starts.push(at);
    }
    assert_eq!(at, bytes.len());
    starts
}

/// Point `i` of write call `k` (host `h{k}`): time and value.
fn point(k: usize, i: usize) -> (i64, f64) {
    ((k * 100 + i) as i64, (k * 10 + i) as f64 + 0.25)
}

#[tokio::test]
async fn a_damaged_wal_record_loses_that_write_only() {
    const N: usize = 8;
    const K: usize = 3;
    let d = dir("rec_wal");
    {
        let (a, _) = open(&d);
        for k in 0..N {
            let points: Vec<(i64, f64)> = (0..5).map(|i| point(k, i)).collect();
            let host = format!("h{k}");
            a.store()
                .write_series(vec![pts("cpu", &[("host", &host)], "v", &points)])
                .unwrap();
        }
    }
    let segs = wal_segments(&d);
    assert_eq!(segs.len(), 1);
    let clean = fs::read(&segs[0]).unwrap();
    let starts = record_starts(&clean);
    assert_eq!(starts.len(), N + 1);
    // Every write but K, worked out from `point`.
    let want: Timelines = (0..N)
        .filter(|&k| k != K)
        .map(|k| {
            let points = (0..5).map(|i| point(k, i)).collect();
            (format!("cpu,host=h{k}#v"), points)
        })
        .collect();
    let (lo, hi) = (starts[K], starts[K + 1]);
    // Flip the marker, a length byte, a checksum byte and payload bytes.
    for at in [lo, lo + 5, lo + 9, lo + 13, lo + 16, (lo + hi) / 2, hi - 1] {
        let mut bytes = clean.clone();
        bytes[at] ^= 0x20;
        fs::write(&segs[0], &bytes).unwrap();
        let (a, report) = open(&d);
        let seg = segs[0].display();
        // The write's points are lost, so a query fails naming the segment
        // (docs/storage.md, "WAL": changed on purpose, it used to answer
        // without them); with partial results allowed it answers exactly
        // without that write and lists the segment as left out.
        let err = read_all(&a, &ScanRequest::new("cpu", "v"))
            .await
            .unwrap_err()
            .to_string();
        let named =
            format!("corrupt file {seg} at offset {lo}: damaged WAL record (bytes {lo}..{hi}: ");
        assert!(err.contains(&named), "flip at byte {at}: {err}");
        a.set_allow_partial(true);
        let got = read_all(&a, &ScanRequest::new("cpu", "v")).await.unwrap();
        assert_eq!(got, want, "flip at byte {at}");
        let left: Vec<PathBuf> = a.take_left_out().iter().map(|u| u.path.clone()).collect();
        assert_eq!(left, vec![segs[0].clone()], "flip at byte {at}");
        let warn = format!("WAL segment {seg}: skipped bytes {lo}..{hi} (");
        assert!(
            report.warnings.iter().any(|w| w.starts_with(&warn)),
            "flip at byte {at}: {:?}",
            report.warnings
        );
        assert_eq!(report.wal_entries_replayed, N - 1);
        drop(a);
        // The damaged segment was not truncated.
        assert_eq!(fs::read(&segs[0]).unwrap(), bytes);
    }
}

const HOSTS: usize = 200;
const POINTS: usize = 30;

/// The value of point `i` of host `h`.
fn value(h: usize, i: usize) -> f64 {
    (h * 1000 + i) as f64 / 4.0
}

/// A store of `HOSTS` series of `POINTS` points each in TSM files, plus
/// two series (`w0`, `w1`) that live only in the WAL.
fn build_store(d: &Path) {
    let (a, _) = open(d);
    for chunk in 0..4 {
        let batch = (chunk * HOSTS / 4..(chunk + 1) * HOSTS / 4)
            .map(|h| {
                let points: Vec<(i64, f64)> =
                    (0..POINTS).map(|i| (i as i64 * 10, value(h, i))).collect();
                let host = format!("h{h:03}");
                let rack = format!("r{}", h % 7);
                pts("cpu", &[("host", &host), ("rack", &rack)], "v", &points)
            })
            .collect();
        a.store().write_series(batch).unwrap();
        a.store().flush().unwrap();
    }
    for w in 0..2 {
        let host = format!("w{w}");
        a.store()
            .write_series(vec![pts("cpu", &[("host", &host)], "v", &[(5, 1.5)])])
            .unwrap();
    }
}

/// Checks that every series answers: all of them, one host by tag, one rack.
async fn assert_everything_answers(a: &TsmAdapter) {
    let store = a.store();
    assert_eq!(store.series_count("cpu"), HOSTS + 2);
    let all = read_all(a, &ScanRequest::new("cpu", "v")).await.unwrap();
    assert_eq!(all.len(), HOSTS + 2);
    assert_eq!(
        all.values().map(Vec::len).sum::<usize>(),
        HOSTS * POINTS + 2
    );
    assert_eq!(all["cpu,host=w1#v"], vec![(5, 1.5)]);
    let mut req = ScanRequest::new("cpu", "v");
    req.predicate = TagPredicate::Eq("host".into(), "h123".into());
    let one = read_all(a, &req).await.unwrap();
    let want: Vec<(i64, f64)> = (0..POINTS)
        .map(|i| (i as i64 * 10, value(123, i)))
        .collect();
    assert_eq!(
        one,
        BTreeMap::from([("cpu,host=h123,rack=r4#v".to_string(), want)])
    );
    req.predicate = TagPredicate::Eq("rack".into(), "r3".into());
    // Hosts h with h % 7 == 3 below 200: 3, 10, ..., 199 = 29 hosts.
    assert_eq!(read_all(a, &req).await.unwrap().len(), 29);
    let tag_values = store.tag_values("cpu", "rack");
    assert_eq!(
        tag_values,
        (0..7).map(|r| format!("r{r}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_damaged_series_log_is_rebuilt_from_tsm_files_and_wal() {
    let d = dir("rec_series");
    build_store(&d);
    let log = d.join("series.log");
    let clean = fs::read(&log).unwrap();
    let starts = record_starts(&clean);
    assert_eq!(starts.len(), HOSTS + 2 + 1);
    // One flip in the header and one in the payload of records spread over
    // the log (first, 44th as in the report that found the bug, middle, last).
    for rec in [0, 44, 100, HOSTS + 1] {
        for at in [starts[rec] + 6, starts[rec] + 20] {
            let mut bytes = clean.clone();
            bytes[at] ^= 0x04;
            fs::write(&log, &bytes).unwrap();
            let (a, report) = open(&d);
            let rebuilt = format!("series log {} was damaged; rebuilt it", log.display());
            assert!(
                report.warnings.iter().any(|w| w.starts_with(&rebuilt)),
                "flip at byte {at}: {:?}",
                report.warnings
            );
            assert_everything_answers(&a).await;
            drop(a);
            // The rewritten log is intact: the next open warns about nothing.
            let (a, report) = open(&d);
            assert_eq!(report.warnings, Vec::<String>::new());
            assert_everything_answers(&a).await;
        }
    }
    // A missing log is rebuilt too.
    fs::remove_file(&log).unwrap();
    let (a, report) = open(&d);
    assert!(
        report.warnings[0].contains("was empty; rebuilt it: 0 series kept, 200 recovered"),
        "{:?}",
        report.warnings
    );
    assert_everything_answers(&a).await;
    // On an open store the rebuild keeps every id and adds nothing.
    let r = a.store().rebuild_index().unwrap();
    assert_eq!((r.kept, r.added, r.skipped.len()), (HOSTS + 2, 0, 0));
    assert_everything_answers(&a).await;
}

#[tokio::test]
async fn a_damaged_tombstone_fails_reads_of_its_file() {
    let d = dir("rec_tomb");
    {
        let (a, _) = open(&d);
        let s = a.store();
        let points: Vec<(i64, f64)> = (0..10).map(|i| (i, i as f64)).collect();
        s.write_series(vec![
            pts("cpu", &[("host", "a")], "v", &points),
            pts("cpu", &[("host", "b")], "v", &points),
        ])
        .unwrap();
        s.flush().unwrap();
        let host_a = TagPredicate::Eq("host".into(), "a".into());
        assert_eq!(s.delete("cpu", &host_a, TimeRange::new(2, 5)).unwrap(), 1);
        // A second file, in another measurement; the snapshot also drops the
        // WAL segment holding the delete, so open does not replay it.
        s.write_series(vec![pts("mem", &[], "free", &[(1, 7.0)])])
            .unwrap();
        s.flush().unwrap();
    }
    let mut names: Vec<String> = fs::read_dir(d.join("shards/0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "0000000001-0000000001-1.tsm",
            "0000000001-0000000001-1.tsm.tombstone",
            "0000000002-0000000002-1.tsm"
        ]
    );
    let tomb = d.join("shards/0").join(&names[1]);
    let clean = fs::read(&tomb).unwrap();
    // The delete holds: host a lost t = 2, 3, 4.
    let (a, _) = open(&d);
    let got = read_all(&a, &ScanRequest::new("cpu", "v")).await.unwrap();
    let kept: Vec<(i64, f64)> = [0, 1, 5, 6, 7, 8, 9].map(|t| (t, t as f64)).to_vec();
    assert_eq!(got["cpu,host=a#v"], kept);
    drop(a);
    // Every flipped byte (a length byte too) fails the scan, naming the file.
    for at in 0..clean.len() {
        let mut bytes = clean.clone();
        bytes[at] ^= 0x01;
        fs::write(&tomb, &bytes).unwrap();
        let (a, _) = open(&d);
        let err = read_all(&a, &ScanRequest::new("cpu", "v"))
            .await
            .unwrap_err()
            .to_string();
        let want = format!(
            "storage error: corrupt file {} at offset 0: damaged tombstone record",
            tomb.display()
        );
        assert!(err.starts_with(&want), "flip at byte {at}: {err}");
        // The other file stays readable.
        let mem = read_all(&a, &ScanRequest::new("mem", "free"))
            .await
            .unwrap();
        assert_eq!(mem["mem#free"], vec![(1, 7.0)]);
    }
    // Compaction refuses to merge the file rather than drop the delete.
    let (store, _) = Store::open(&d, fanout_2()).unwrap();
    let err = store.compact().unwrap_err().to_string();
    assert!(err.contains(&tomb.display().to_string()), "{err}");
    drop(store);
    fs::write(&tomb, &clean).unwrap();
    let (store, _) = Store::open(&d, fanout_2()).unwrap();
    assert_eq!(store.compact().unwrap(), 1);
    let a = TsmAdapter::new(Arc::new(store));
    let got = read_all(&a, &ScanRequest::new("cpu", "v")).await.unwrap();
    assert_eq!(got["cpu,host=a#v"], kept);
    assert_eq!(got["cpu,host=b#v"].len(), 10);
}

fn fanout_2() -> StoreOptions {
    StoreOptions {
        compaction_fanout: 2,
        ..Default::default()
    }
}

/// Points of series `h{h}` written by the call `w` that stays in the WAL.
fn wal_points(w: usize) -> Vec<(i64, f64)> {
    (0..3)
        .map(|i| (100 + 10 * w as i64 + i, (w * 3) as f64 + 0.5))
        .collect()
}

#[tokio::test]
async fn flipped_bytes_of_wal_series_log_and_tombstones_are_recovered_or_reported() {
    let d = dir("rec_flip_all");
    let hosts = ["h0", "h1", "h2", "h3"];
    let tsm_points: Vec<(i64, f64)> = (0..10).map(|t| (t, t as f64)).collect();
    {
        let (a, _) = open(&d);
        let s = a.store();
        let batch = hosts
            .iter()
            .map(|h| pts("cpu", &[("host", h)], "v", &tsm_points))
            .collect();
        s.write_series(batch).unwrap();
        s.flush().unwrap();
        let h1 = TagPredicate::Eq("host".into(), "h1".into());
        s.delete("cpu", &h1, TimeRange::new(2, 5)).unwrap();
        s.write_series(vec![pts("cpu", &[("host", "h4")], "v", &tsm_points)])
            .unwrap();
        s.flush().unwrap();
        // Three writes that stay in the WAL: a new series, another, and
        // more points for h0.
        for (w, h) in ["h5", "h6", "h0"].iter().enumerate() {
            s.write_series(vec![pts("cpu", &[("host", h)], "v", &wal_points(w))])
                .unwrap();
        }
    }
    // The original result, worked out by hand.
    let mut want = Timelines::new();
    for h in ["h0", "h2", "h3", "h4"] {
        want.insert(format!("cpu,host={h}#v"), tsm_points.clone());
    }
    let h1: Vec<(i64, f64)> = [0, 1, 5, 6, 7, 8, 9].map(|t| (t, t as f64)).to_vec();
    want.insert("cpu,host=h1#v".into(), h1);
    want.insert("cpu,host=h5#v".into(), wal_points(0));
    want.insert("cpu,host=h6#v".into(), wal_points(1));
    want.get_mut("cpu,host=h0#v").unwrap().extend(wal_points(2));
    // Without WAL record w: the points it wrote are gone.
    let without = |w: usize| {
        let mut m = want.clone();
        match w {
            0 => drop(m.remove("cpu,host=h5#v")),
            1 => drop(m.remove("cpu,host=h6#v")),
            _ => m.get_mut("cpu,host=h0#v").unwrap().truncate(10),
        }
        m.retain(|_, v| !v.is_empty());
        m
    };
    let wal = wal_segments(&d);
    assert_eq!(wal.len(), 1);
    let wal_name = wal[0].strip_prefix(&d).unwrap().to_path_buf();
    let tomb = Path::new("shards/0/0000000001-0000000001-1.tsm.tombstone");
    let series_log = Path::new("series.log");
    let log_bytes = fs::read(d.join(series_log)).unwrap();
    let mut flips = 0;
    for name in [series_log, tomb, wal_name.as_path()] {
        let clean = fs::read(d.join(name)).unwrap();
        let starts = record_starts(&clean);
        // Every header byte and the first, middle and last payload byte of
        // every record (the framing's own tests flip every byte of a file
        // without I/O; here each flip costs an open with fsyncs).
        let mut offsets: Vec<usize> = Vec::new();
        for w in starts.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            offsets.extend(lo..lo + 16);
            offsets.extend([lo + 16, (lo + 16 + hi) / 2, hi - 1]);
        }
        for at in offsets {
            let mut bytes = clean.clone();
            bytes[at] ^= 1 << (at % 8);
            fs::write(d.join(name), &bytes).unwrap();
            let (a, report) = open(&d);
            let got = read_all(&a, &ScanRequest::new("cpu", "v")).await;
            let path = d.join(name).display().to_string();
            if name == tomb {
                let err = got.unwrap_err().to_string();
                assert!(
                    err.contains(&format!("corrupt file {path} at offset 0")),
                    "{err}"
                );
            } else if name == series_log {
                assert_eq!(got.unwrap(), want, "series.log flip at byte {at}");
            } else {
                let w = starts.iter().rposition(|&s| s <= at).unwrap();
                // Lost points fail the query naming the segment; partial
                // results are exactly the store without record w.
                let err = got.unwrap_err().to_string();
                let named = format!(
                    "corrupt file {path} at offset {}: damaged WAL record",
                    starts[w]
                );
                assert!(err.contains(&named), "WAL flip at byte {at}: {err}");
                a.set_allow_partial(true);
                let got = read_all(&a, &ScanRequest::new("cpu", "v")).await;
                assert_eq!(got.unwrap(), without(w), "WAL flip at byte {at}");
                let skipped = format!("WAL segment {path}: skipped bytes {}..", starts[w]);
                assert!(
                    report.warnings.iter().any(|m| m.starts_with(&skipped)),
                    "WAL flip at byte {at}: {:?}",
                    report.warnings
                );
            }
            drop(a);
            // Back to the clean store: the flipped file, the series log (a
            // rebuild rewrites it) and no WAL segment but the original (open
            // starts an empty one; a flip never makes a torn tail to cut).
            fs::write(d.join(name), &clean).unwrap();
            fs::write(d.join(series_log), &log_bytes).unwrap();
            for seg in fs::read_dir(d.join("wal")).unwrap() {
                let seg = seg.unwrap().path();
                if seg != wal[0] {
                    fs::remove_file(seg).unwrap();
                }
            }
            flips += 1;
        }
    }
    // 19 flips per record: 7 series-log records, 1 tombstone, 3 WAL records.
    assert_eq!(flips, 19 * (7 + 1 + 3));
}
