//! Deterministic TSBS `cpu-only`-shaped demo data.
//!
//! One measurement, `cpu`, with ten float fields (`usage_user` …
//! `usage_guest_nice`) and ten tags per host (`hostname`, `region`, …), one
//! row per host every 10 s, values random walks in `[0, 100]` rounded to two
//! decimals. Everything comes from a seeded [`SplitMix64`], so the same
//! [`DemoConfig`] always yields the same points: `tsq demo` writes them into a
//! store, and the benchmarks reuse the generator directly.

use std::fmt::Write as _;
use std::sync::Arc;

use tsq_engine::registry::TagPairs;
use tsq_engine::SeriesInfo;
use tsq_storage::tsm::value::Values;
use tsq_storage::tsm::wal::SeriesPoints;

/// The measurement the generator writes.
pub const MEASUREMENT: &str = "cpu";

/// The ten float fields of every row, in TSBS order.
pub const FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

/// The ten tag keys of every host, sorted by key.
pub const TAG_KEYS: [&str; 10] = [
    "arch",
    "datacenter",
    "hostname",
    "os",
    "rack",
    "region",
    "service",
    "service_environment",
    "service_version",
    "team",
];

/// Seconds between two rows of a host.
pub const INTERVAL_SECONDS: i64 = 10;

/// 2024-01-01T00:00:00Z in ns, the default start of the data.
pub const DEFAULT_START: i64 = 1_704_067_200_000_000_000;

const REGIONS: [&str; 9] = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
];
const OSES: [&str; 3] = ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
const ARCHES: [&str; 2] = ["x64", "x86"];
const TEAMS: [&str; 4] = ["SF", "NYC", "LON", "CHI"];
const ENVIRONMENTS: [&str; 3] = ["production", "staging", "test"];

pub use crate::data::SplitMix64;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoConfig {
    /// Number of hosts (each is ten series, one per field).
    pub hosts: usize,
    /// Hours of data; each host has 360 rows per hour.
    pub hours: u64,
    /// PRNG seed.
    pub seed: u64,
    /// Timestamp of the first row, ns.
    pub start: i64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            hosts: 100,
            hours: 12,
            seed: 42,
            start: DEFAULT_START,
        }
    }
}

impl DemoConfig {
    /// Rows per host: one every 10 s.
    pub fn timestamps(&self) -> u64 {
        self.hours * 3600 / INTERVAL_SECONDS as u64
    }

    /// Rows in total (hosts × timestamps).
    pub fn rows(&self) -> u64 {
        self.hosts as u64 * self.timestamps()
    }

    /// Points in total (rows × 10 fields).
    pub fn points(&self) -> u64 {
        self.rows() * FIELDS.len() as u64
    }

    /// Series in total (hosts × 10 fields).
    pub fn series(&self) -> u64 {
        (self.hosts * FIELDS.len()) as u64
    }

    /// Exclusive end of the data, ns.
    pub fn end(&self) -> i64 {
        self.start + self.timestamps() as i64 * INTERVAL_SECONDS * 1_000_000_000
    }
}

/// One row: the ten field values of one host at one timestamp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoRow {
    /// Timestamp, ns.
    pub time: i64,
    /// Host index (`hostname` is `host_<host>`).
    pub host: usize,
    /// Values of [`FIELDS`], in order.
    pub values: [f64; 10],
}

/// Yields the rows of a [`DemoConfig`], time-major (every host at the first
/// timestamp, then every host at the next one), as TSBS does.
#[derive(Debug, Clone)]
pub struct DemoGenerator {
    config: DemoConfig,
    rng: SplitMix64,
    tags: Vec<Vec<(&'static str, String)>>,
    /// The same tags as shared strings, for typed batches.
    tag_pairs: Vec<TagPairs>,
    state: Vec<[f64; 10]>,
    next_step: u64,
    next_host: usize,
}

impl DemoGenerator {
    /// A generator for `config`; host tags and starting values are drawn here.
    pub fn new(config: DemoConfig) -> Self {
        let mut rng = SplitMix64::new(config.seed);
        let tags: Vec<_> = (0..config.hosts).map(|h| host_tags(h, &mut rng)).collect();
        let tag_pairs = shared_tags(&tags);
        let state = (0..config.hosts)
            .map(|_| std::array::from_fn(|_| round2(rng.next_f64() * 100.0)))
            .collect();
        DemoGenerator {
            config,
            rng,
            tags,
            tag_pairs,
            state,
            next_step: 0,
            next_host: 0,
        }
    }

    /// The configuration being generated.
    pub fn config(&self) -> &DemoConfig {
        &self.config
    }

    /// The tags of `host`, sorted by key (see [`TAG_KEYS`]).
    pub fn host_tags(&self, host: usize) -> &[(&'static str, String)] {
        &self.tags[host]
    }

    /// Steps over the next `n` rows without building them (the random walk
    /// advances as if they were taken), so that the rows after them are
    /// the same as in a full run: how `tsq demo` resumes. Returns how many
    /// rows were skipped (fewer at the end of the data).
    pub fn skip_rows(&mut self, n: u64) -> u64 {
        let mut skipped = 0;
        while skipped < n && self.next().is_some() {
            skipped += 1;
        }
        skipped
    }

    /// Appends `row` as one line of line protocol (ns timestamp) to `out`.
    pub fn write_line(&self, row: &DemoRow, out: &mut String) {
        out.push_str(MEASUREMENT);
        for (key, value) in &self.tags[row.host] {
            let _ = write!(out, ",{key}={value}");
        }
        for (i, (field, value)) in FIELDS.iter().zip(&row.values).enumerate() {
            let sep = if i == 0 { ' ' } else { ',' };
            let _ = write!(out, "{sep}{field}={value}");
        }
        let _ = writeln!(out, " {}", row.time);
    }

    /// Appends up to `max_rows` rows as line protocol to `out`; returns how
    /// many were written (0 when the data is exhausted).
    pub fn fill_chunk(&mut self, max_rows: usize, out: &mut String) -> usize {
        let mut n = 0;
        while n < max_rows {
            let Some(row) = self.next() else { break };
            self.write_line(&row, out);
            n += 1;
        }
        n
    }

    /// Takes up to `max_rows` rows as typed points grouped by series (one
    /// [`SeriesPoints`] per host and field, hosts in order of their first
    /// row, times ascending): the same points as [`DemoGenerator::fill_chunk`]
    /// without formatting and parsing text. Empty when the data is exhausted.
    pub fn fill_series(&mut self, max_rows: usize) -> Vec<SeriesPoints> {
        let hosts = self.config.hosts.max(1);
        // Rows are time-major, so a host gets at most this many of them.
        let per_host = max_rows.div_ceil(hosts) + 1;
        let mut slot = vec![usize::MAX; hosts];
        let mut runs: Vec<(usize, Vec<i64>, [Vec<f64>; 10])> = Vec::new();
        for _ in 0..max_rows {
            let Some(row) = self.next() else { break };
            if slot[row.host] == usize::MAX {
                slot[row.host] = runs.len();
                let values = std::array::from_fn(|_| Vec::with_capacity(per_host));
                runs.push((row.host, Vec::with_capacity(per_host), values));
            }
            let (_, times, values) = &mut runs[slot[row.host]];
            times.push(row.time);
            for (column, v) in values.iter_mut().zip(row.values) {
                column.push(v);
            }
        }
        let measurement: Arc<str> = Arc::from(MEASUREMENT);
        let fields: [Arc<str>; 10] = FIELDS.map(Arc::from);
        let mut batch = Vec::with_capacity(runs.len() * FIELDS.len());
        for (host, times, values) in runs {
            for (field, column) in fields.iter().zip(values) {
                batch.push(SeriesPoints {
                    series: SeriesInfo {
                        measurement: Arc::clone(&measurement),
                        tags: self.tag_pairs[host].clone(),
                        field: Arc::clone(field),
                    },
                    times: times.clone(),
                    values: Values::Float(column),
                });
            }
        }
        batch
    }
}

/// `tags` as shared strings: one `Arc` per distinct key and value.
fn shared_tags(tags: &[Vec<(&'static str, String)>]) -> Vec<TagPairs> {
    let keys: Vec<Arc<str>> = TAG_KEYS.iter().map(|k| Arc::from(*k)).collect();
    tags.iter()
        .map(|host| {
            keys.iter()
                .zip(host)
                .map(|(k, (_, v))| (Arc::clone(k), Arc::from(v.as_str())))
                .collect()
        })
        .collect()
}

impl Iterator for DemoGenerator {
    type Item = DemoRow;

    fn next(&mut self) -> Option<DemoRow> {
        if self.config.hosts == 0 || self.next_step >= self.config.timestamps() {
            return None;
        }
        let host = self.next_host;
        let time = self.config.start + self.next_step as i64 * INTERVAL_SECONDS * 1_000_000_000;
        let values = &mut self.state[host];
        if self.next_step > 0 {
            for v in values.iter_mut() {
                let step = self.rng.next_f64() * 2.0 - 1.0;
                *v = round2((*v + step).clamp(0.0, 100.0));
            }
        }
        let row = DemoRow {
            time,
            host,
            values: *values,
        };
        self.next_host += 1;
        if self.next_host == self.config.hosts {
            self.next_host = 0;
            self.next_step += 1;
        }
        Some(row)
    }
}

/// Rounds to two decimals (the nearest double to `n / 100`).
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Draws the TSBS-like tags of one host, in [`TAG_KEYS`] order.
fn host_tags(host: usize, rng: &mut SplitMix64) -> Vec<(&'static str, String)> {
    let region = REGIONS[rng.below(REGIONS.len())];
    let zone = ["a", "b", "c"][rng.below(3)];
    let values = [
        ARCHES[rng.below(ARCHES.len())].to_string(),
        format!("{region}{zone}"),
        format!("host_{host}"),
        OSES[rng.below(OSES.len())].to_string(),
        rng.below(100).to_string(),
        region.to_string(),
        rng.below(20).to_string(),
        ENVIRONMENTS[rng.below(ENVIRONMENTS.len())].to_string(),
        rng.below(2).to_string(),
        TEAMS[rng.below(TEAMS.len())].to_string(),
    ];
    TAG_KEYS.into_iter().zip(values).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // Reference outputs of splitmix64 seeded with 0 (Vigna's splitmix64.c).
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn counts_follow_the_config() {
        let config = DemoConfig {
            hosts: 2,
            hours: 1,
            ..DemoConfig::default()
        };
        // 3600 s / 10 s = 360 rows per host; 2 hosts → 720 rows, 7200 points.
        assert_eq!(config.timestamps(), 360);
        assert_eq!(config.rows(), 720);
        assert_eq!(config.points(), 7200);
        assert_eq!(config.series(), 20);
        assert_eq!(config.end(), DEFAULT_START + 3_600_000_000_000);
        let rows: Vec<DemoRow> = DemoGenerator::new(config).collect();
        assert_eq!(rows.len(), 720);
        assert_eq!((rows[0].time, rows[0].host), (DEFAULT_START, 0));
        assert_eq!((rows[1].time, rows[1].host), (DEFAULT_START, 1));
        assert_eq!(rows[2].time, DEFAULT_START + 10_000_000_000);
        assert_eq!(rows[719].time, DEFAULT_START + 359 * 10_000_000_000);
    }

    #[test]
    fn values_are_two_decimal_walks_in_range() {
        let config = DemoConfig {
            hosts: 3,
            hours: 1,
            ..DemoConfig::default()
        };
        let rows: Vec<DemoRow> = DemoGenerator::new(config).collect();
        for pair in rows.windows(4) {
            // Rows 3 apart are the same host one step later: |Δ| ≤ 1 (+ rounding).
            let (a, b) = (pair[0], pair[3]);
            assert_eq!(a.host, b.host);
            for (x, y) in a.values.iter().zip(&b.values) {
                assert!((0.0..=100.0).contains(y));
                assert!((x - y).abs() <= 1.005, "{x} -> {y}");
                assert_eq!(format!("{y}"), format!("{}", round2(*y)));
            }
        }
    }

    #[test]
    fn generation_is_deterministic_and_seeded() {
        let config = DemoConfig {
            hosts: 2,
            hours: 1,
            ..DemoConfig::default()
        };
        let a: Vec<DemoRow> = DemoGenerator::new(config).collect();
        let b: Vec<DemoRow> = DemoGenerator::new(config).collect();
        assert_eq!(a, b);
        let other = DemoConfig { seed: 7, ..config };
        let c: Vec<DemoRow> = DemoGenerator::new(other).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn typed_batches_store_the_same_points_as_line_protocol() {
        use tsq_storage::line_protocol::Precision;
        use tsq_storage::tsm::{Store, StoreOptions};

        // 3 hosts × 2 hours = 2160 rows; chunks of 500 rows split a
        // timestamp's hosts across two chunks (500 = 3 × 166 + 2).
        let config = DemoConfig {
            hosts: 3,
            hours: 2,
            ..DemoConfig::default()
        };
        let (text_dir, typed_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (text, _) = Store::open(text_dir.path(), StoreOptions::default()).unwrap();
        let (typed, _) = Store::open(typed_dir.path(), StoreOptions::default()).unwrap();
        let mut lines = DemoGenerator::new(config);
        let mut chunk = String::new();
        while {
            chunk.clear();
            lines.fill_chunk(500, &mut chunk) > 0
        } {
            let r = text.write_lines(&chunk, Precision::Nanoseconds).unwrap();
            assert!(r.errors.is_empty(), "{:?}", r.errors);
        }
        let mut series = DemoGenerator::new(config);
        let mut points = 0;
        loop {
            let batch = series.fill_series(500);
            if batch.is_empty() {
                break;
            }
            points += typed.write_series(batch).unwrap().points_written;
        }
        assert_eq!(points as u64, config.points());
        // Reference: the rows of the generator itself, per host.
        let rows: Vec<DemoRow> = DemoGenerator::new(config).collect();
        for store in [&text, &typed] {
            let sets = store.tag_sets(MEASUREMENT);
            assert_eq!(sets.len(), 3);
            for set in &sets {
                let host = set.tags.iter().find(|(k, _)| k.as_ref() == "hostname");
                let host: usize = host.unwrap().1["host_".len()..].parse().unwrap();
                let expected: Vec<&DemoRow> = rows.iter().filter(|r| r.host == host).collect();
                let got = store
                    .tag_set_rows(set, i64::MIN, i64::MAX)
                    .unwrap()
                    .unwrap();
                let times: Vec<i64> = expected.iter().map(|r| r.time).collect();
                assert_eq!(got.times, times);
                // Fields come sorted by name; FIELDS gives each one's column.
                for (f, field) in set.fields.iter().zip(&got.fields) {
                    let col = FIELDS.iter().position(|n| *n == f.field.as_ref());
                    let want: Vec<f64> = expected.iter().map(|r| r.values[col.unwrap()]).collect();
                    assert_eq!(field.values, Values::Float(want), "{}", f.field);
                }
            }
        }
    }

    #[test]
    fn skipping_rows_leaves_the_rest_unchanged() {
        let config = DemoConfig {
            hosts: 3,
            hours: 1,
            ..DemoConfig::default()
        };
        let all: Vec<DemoRow> = DemoGenerator::new(config).collect();
        let mut resumed = DemoGenerator::new(config);
        assert_eq!(resumed.skip_rows(500), 500);
        let rest: Vec<DemoRow> = resumed.collect();
        assert_eq!(rest[..], all[500..]);
        // 3 hosts × 360 rows: only 1080 to skip
        assert_eq!(DemoGenerator::new(config).skip_rows(5000), 1080);
    }

    #[test]
    fn line_protocol_has_every_tag_and_field() {
        let config = DemoConfig {
            hosts: 1,
            hours: 1,
            ..DemoConfig::default()
        };
        let mut generator = DemoGenerator::new(config);
        let mut text = String::new();
        assert_eq!(generator.fill_chunk(2, &mut text), 2);
        let first = text.lines().next().unwrap();
        let (series, rest) = first.split_once(' ').unwrap();
        let tags: Vec<&str> = series
            .split(',')
            .skip(1)
            .map(|t| t.split('=').next().unwrap())
            .collect();
        assert_eq!(tags, TAG_KEYS);
        assert!(series.contains(",hostname=host_0,"));
        let (fields, time) = rest.split_once(' ').unwrap();
        let names: Vec<&str> = fields
            .split(',')
            .map(|f| f.split('=').next().unwrap())
            .collect();
        assert_eq!(names, FIELDS);
        assert_eq!(time, DEFAULT_START.to_string());
    }
}
