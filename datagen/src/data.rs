//! Deterministic synthetic datasets for the benchmarks, loaded into the
//! in-memory adapter.

use std::path::Path;
use std::sync::Arc;

use tsq_engine::{EngineError, Result, SeriesInfo};
use tsq_storage::memory::MemoryAdapter;
use tsq_storage::tsm::value::Values;
use tsq_storage::tsm::wal::SeriesPoints;
use tsq_storage::tsm::{Store, StoreOptions, TsmAdapter};

/// One second in nanoseconds.
pub const SECOND: i64 = 1_000_000_000;

/// The splitmix64 generator (Steele, Lea, Flood 2014): tiny, fast and seeded,
/// so datasets are identical on every run and machine. Shared with the demo
/// dataset of the `tsq` command.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)` (53 random bits).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform index in `[0, n)`; `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Shape of a generated gauge dataset: `timelines` series of measurement
/// `m`, field `v`, tags `host=h<i>` and `grp=g<i % groups>`, one point every
/// `interval_s` seconds over `window_s` seconds starting at 0, random-walk
/// values with two decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaugeShape {
    /// Number of timelines.
    pub timelines: usize,
    /// Seconds between points.
    pub interval_s: i64,
    /// Length of the window in seconds.
    pub window_s: i64,
    /// Number of distinct `grp` tag values.
    pub groups: usize,
}

impl GaugeShape {
    /// Points per timeline.
    pub fn points_per_timeline(&self) -> usize {
        (self.window_s / self.interval_s) as usize
    }

    /// Total points.
    pub fn points(&self) -> usize {
        self.timelines * self.points_per_timeline()
    }
}

/// One generated timeline: its `(tag, value)` pairs and its points.
pub type GaugeSeries = (Vec<(String, String)>, Vec<(i64, f64)>);

/// The timelines of `shape`, deterministic for `seed`.
pub fn gauge_series(shape: GaugeShape, seed: u64) -> Vec<GaugeSeries> {
    let mut rng = SplitMix64::new(seed);
    let n = shape.points_per_timeline();
    (0..shape.timelines)
        .map(|i| {
            let mut v = 50.0 + rng.next_f64() * 10.0;
            let points = (0..n)
                .map(|k| {
                    v = (v + (rng.next_f64() - 0.5) * 2.0).clamp(0.0, 100.0);
                    (
                        k as i64 * shape.interval_s * SECOND,
                        (v * 100.0).round() / 100.0,
                    )
                })
                .collect();
            let tags = vec![
                ("host".to_string(), format!("h{i:05}")),
                (
                    "grp".to_string(),
                    format!("g{:02}", i % shape.groups.max(1)),
                ),
            ];
            (tags, points)
        })
        .collect()
}

/// Generates `shape` into a new in-memory adapter.
pub fn gauge_dataset(shape: GaugeShape, seed: u64) -> MemoryAdapter {
    let adapter = MemoryAdapter::new();
    for (tags, points) in gauge_series(shape, seed) {
        let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        adapter.insert("m", &tags, "v", &points);
    }
    adapter
}

/// Generates `shape` into a fresh TSM store in `dir` (which must not hold
/// one), snapshots the cache to TSM files and compacts them, so queries read
/// compressed blocks from disk rather than the cache.
pub fn tsm_gauge_dataset(shape: GaugeShape, seed: u64, dir: &Path) -> Result<TsmAdapter> {
    let storage = |e: tsq_storage::tsm::TsmError| EngineError::Storage(e.to_string());
    let (store, _) = Store::open(dir, StoreOptions::default()).map_err(storage)?;
    let batch: Vec<SeriesPoints> = gauge_series(shape, seed)
        .into_iter()
        .map(|(tags, points)| {
            let tags: Vec<(&str, &str)> =
                tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            SeriesPoints {
                series: SeriesInfo::new("m", &tags, "v"),
                times: points.iter().map(|p| p.0).collect(),
                values: Values::Float(points.iter().map(|p| p.1).collect()),
            }
        })
        .collect();
    store.write_series(batch).map_err(storage)?;
    store.flush().map_err(storage)?;
    store.compact().map_err(storage)?;
    Ok(TsmAdapter::new(Arc::new(store)))
}
