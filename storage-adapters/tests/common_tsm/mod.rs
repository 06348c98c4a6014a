//! Helpers shared by the TSM integration tests (included with `mod`).

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use tsq_engine::{ScanRequest, SeriesInfo, StorageAdapter};
use tsq_storage::tsm::value::Values;
use tsq_storage::tsm::wal::SeriesPoints;

/// Series key → its points, as a scan returned them.
pub type Timelines = BTreeMap<String, Vec<(i64, f64)>>;

/// A fresh directory for one test.
pub fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tsq-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Float points of one series.
pub fn pts(m: &str, tags: &[(&str, &str)], field: &str, points: &[(i64, f64)]) -> SeriesPoints {
    SeriesPoints {
        series: SeriesInfo::new(m, tags, field),
        times: points.iter().map(|p| p.0).collect(),
        values: Values::Float(points.iter().map(|p| p.1).collect()),
    }
}

/// Runs a scan to the end: series key → points, plus the order series came in.
pub async fn scan_all(
    a: &dyn StorageAdapter,
    req: &ScanRequest,
    batch: usize,
) -> tsq_engine::Result<(Timelines, Vec<String>)> {
    let mut scan = a.scan(req).await?;
    let reg = std::sync::Arc::clone(scan.registry());
    let mut out = Timelines::new();
    let mut order: Vec<String> = Vec::new();
    while let Some(b) = scan.next_batch(batch).await? {
        assert!(b.num_rows() <= batch);
        for t in b.timelines() {
            let key = reg.get(t.series_id).unwrap().key();
            if order.last() != Some(&key) {
                order.push(key.clone());
            }
            let e = out.entry(key).or_default();
            for i in 0..t.len() {
                e.push((t.times[i], t.values[i]));
            }
        }
    }
    Ok((out, order))
}
