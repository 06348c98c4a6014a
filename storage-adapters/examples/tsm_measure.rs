//! Measures the TSM engine: bytes per point on disk for (1) regular 10 s
//! gauge series with two-decimal values and (2) a TSBS-like `cpu` dataset
//! (100 hosts × 10 integer fields 0..100 random walk, 10 tags), and import
//! throughput through `Store::write_series` (one WAL fsync per write call) and
//! through `Store::write_lines` (line-protocol parsing included), and scan
//! throughput through `TsmAdapter`.
//! Parquet+zstd sizes of the same data are printed for comparison, and the float
//! codecs are timed on their own: each of ALP, ALP-RD and Gorilla decoding blocks
//! of 1000 values into a reused `Vec<f64>` on one core.
//! Run in release: `cargo run --release -p tsq-storage --example tsm_measure`.
//! The numbers are quoted in docs/storage.md.

use std::path::Path;
use std::time::Instant;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, StringArray,
    TimestampNanosecondArray,
};
use arrow::datatypes::Int32Type;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use tsq_engine::{ScanRequest, SeriesInfo, StorageAdapter};
use tsq_storage::line_protocol::{parse_lines, Precision};
use tsq_storage::tsm::encoding::float;
use tsq_storage::tsm::value::Values;
use tsq_storage::tsm::wal::SeriesPoints;
use tsq_storage::tsm::{Store, StoreOptions, TsmAdapter};

const TEN_S: i64 = 10_000_000_000;
const T0: i64 = 1_700_000_000_000_000_000;

/// xorshift64 pseudo-random numbers.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-1, 1).
    fn step(&mut self) -> f64 {
        (self.next() % 2001) as f64 / 1000.0 - 1.0
    }
}

fn tsm_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for shard in std::fs::read_dir(dir.join("shards")).unwrap() {
        for f in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let f = f.unwrap();
            if f.file_name().to_string_lossy().ends_with(".tsm") {
                total += f.metadata().unwrap().len();
            }
        }
    }
    total
}

fn fresh(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tsq-measure-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn report(name: &str, dir: &Path, store: &Store, points: u64, write_secs: f64) {
    let t = Instant::now();
    store.flush().unwrap();
    let flush = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let merges = store.compact().unwrap();
    let compact = t.elapsed().as_secs_f64();
    let bytes = tsm_bytes(dir);
    println!(
        "{name}: {points} points, import {:.0} points/s ({write_secs:.2} s incl. WAL fsyncs and snapshots), \
         final flush {flush:.2} s, {merges} compactions in {compact:.2} s, TSM {bytes} bytes = {:.3} bytes/point",
        points as f64 / write_secs,
        bytes as f64 / points as f64
    );
}

/// 100 gauge series, one day at 10 s, values with two decimals; returns them.
fn gauge() -> Vec<Vec<f64>> {
    let dir = fresh("gauge");
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    let (series, steps, per_write) = (100, 8640, 96);
    let mut rng = Rng(42);
    let mut level: Vec<f64> = (0..series).map(|s| 20.0 + s as f64).collect();
    let mut kept: Vec<Vec<f64>> = vec![Vec::new(); series];
    let t = Instant::now();
    for chunk in 0..steps / per_write {
        let batch = (0..series)
            .map(|s| {
                let times = (0..per_write)
                    .map(|i| T0 + (chunk * per_write + i) as i64 * TEN_S)
                    .collect();
                let values: Vec<f64> = (0..per_write)
                    .map(|_| {
                        level[s] = ((level[s] + rng.step() / 2.0) * 100.0).round() / 100.0;
                        level[s]
                    })
                    .collect();
                kept[s].extend_from_slice(&values);
                let host = format!("host_{s}");
                SeriesPoints {
                    series: SeriesInfo::new("gauge", &[("host", &host)], "value"),
                    times,
                    values: Values::Float(values),
                }
            })
            .collect();
        store.write_series(batch).unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    report(
        "gauge 10s two-decimal",
        &dir,
        &store,
        (series * steps) as u64,
        secs,
    );
    // Parquet: host (dictionary), time, value; sorted by host then time.
    let n = series * steps;
    let hosts: Vec<String> = (0..series).map(|s| format!("host_{s}")).collect();
    let host_keys: Vec<i32> = (0..n).map(|i| (i / steps) as i32).collect();
    let times: Vec<i64> = (0..n).map(|i| T0 + (i % steps) as i64 * TEN_S).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("host", dict(host_keys, &hosts)),
        ("time", Arc::new(TimestampNanosecondArray::from(times))),
        ("value", Arc::new(Float64Array::from(kept.concat()))),
    ];
    let bytes = parquet_bytes("gauge", columns);
    println!(
        "  Parquet+zstd of the same data: {bytes} bytes = {:.3} bytes/point",
        bytes as f64 / n as f64
    );
    kept
}

/// Decode throughput of each float codec on blocks of 1000 values: the gauge
/// series (ALP), the same values made full-precision by adding 1/3 (ALP-RD, or
/// whatever the sample picks) and forced Gorilla blocks of the gauge values.
fn float_decode(gauge: &[Vec<f64>]) {
    let blocks = |series: &[Vec<f64>], gorilla: bool| -> Vec<Vec<u8>> {
        series
            .iter()
            .flat_map(|s| s.chunks(1000))
            .map(|chunk| {
                let mut block = Vec::new();
                if gorilla {
                    float::encode_gorilla(chunk, &mut block).unwrap();
                } else {
                    float::encode(chunk, &mut block).unwrap();
                }
                block
            })
            .collect()
    };
    let real: Vec<Vec<f64>> = gauge
        .iter()
        .map(|s| s.iter().map(|v| v + 1.0 / 3.0).collect())
        .collect();
    for (name, set) in [
        ("gauge, chosen codec", blocks(gauge, false)),
        ("gauge + 1/3, chosen codec", blocks(&real, false)),
        ("gauge, Gorilla", blocks(gauge, true)),
    ] {
        let mut kinds = [0usize; 16];
        set.iter().for_each(|b| kinds[usize::from(b[0] >> 4)] += 1);
        let bytes: usize = set.iter().map(Vec::len).sum();
        let mut out: Vec<f64> = Vec::with_capacity(1000);
        let (mut values, mut checksum) = (0usize, 0.0);
        let (t, cpu) = (Instant::now(), cpu_ns());
        for _ in 0..20 {
            for block in &set {
                out.clear();
                float::decode(block, &mut out).unwrap();
                values += out.len();
                checksum += out[out.len() - 1];
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu_secs = (cpu_ns() - cpu) as f64 / 1e9;
        println!(
            "  float decode, {name}: blocks by codec gorilla/alp/alp-rd = {}/{}/{}, {:.3} bytes/value, \
             {:.2} G values/s wall, {:.2} G values per CPU second (checksum {checksum:.1})",
            kinds[1],
            kinds[2],
            kinds[3],
            bytes as f64 * 20.0 / values as f64,
            values as f64 / secs / 1e9,
            values as f64 / cpu_secs / 1e9
        );
    }
}

/// The ten fields of TSBS `cpu-only`.
const CPU_FIELDS: [&str; 10] = [
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

/// TSBS-like cpu: 100 hosts × 10 integer fields, 10 tags, one day at 10 s.
fn tsbs_cpu() {
    let dir = fresh("tsbs");
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    let fields = CPU_FIELDS;
    let (hosts, steps, per_write) = (100usize, 8640usize, 10usize);
    let regions = ["us-east-1", "us-west-1", "eu-central-1", "ap-southeast-2"];
    let tags: Vec<Vec<(String, String)>> = (0..hosts)
        .map(|h| {
            let region = regions[h % regions.len()];
            vec![
                ("arch".into(), ["x64", "x86"][h % 2].into()),
                (
                    "datacenter".into(),
                    format!("{region}{}", ["a", "b", "c"][h % 3]),
                ),
                ("hostname".into(), format!("host_{h}")),
                (
                    "os".into(),
                    ["Ubuntu16.04LTS", "Ubuntu15.10", "Ubuntu16.10"][h % 3].into(),
                ),
                ("rack".into(), (h % 100).to_string()),
                ("region".into(), region.into()),
                ("service".into(), (h % 20).to_string()),
                (
                    "service_environment".into(),
                    ["production", "staging", "test"][h % 3].into(),
                ),
                ("service_version".into(), (h % 2).to_string()),
                ("team".into(), ["SF", "NYC", "LON", "CHI"][h % 4].into()),
            ]
        })
        .collect();
    let mut rng = Rng(7);
    let mut level: Vec<f64> = (0..hosts * fields.len())
        .map(|i| (i * 37 % 100) as f64)
        .collect();
    let mut kept: Vec<Vec<i64>> = vec![Vec::new(); hosts * fields.len()];
    let t = Instant::now();
    for chunk in 0..steps / per_write {
        let mut batch = Vec::with_capacity(hosts * fields.len());
        for (h, host_tags) in tags.iter().enumerate() {
            let tag_refs: Vec<(&str, &str)> = host_tags
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            for (f, field) in fields.iter().enumerate() {
                let l = &mut level[h * fields.len() + f];
                let times = (0..per_write)
                    .map(|i| T0 + (chunk * per_write + i) as i64 * TEN_S)
                    .collect();
                let values: Vec<i64> = (0..per_write)
                    .map(|_| {
                        *l = (*l + rng.step() * 5.0).clamp(0.0, 100.0);
                        l.round() as i64
                    })
                    .collect();
                kept[h * fields.len() + f].extend_from_slice(&values);
                batch.push(SeriesPoints {
                    series: SeriesInfo::new("cpu", &tag_refs, field),
                    times,
                    values: Values::Integer(values),
                });
            }
        }
        store.write_series(batch).unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    report(
        "TSBS-like cpu (integers)",
        &dir,
        &store,
        (hosts * fields.len() * steps) as u64,
        secs,
    );
    // Parquet: one row per (host, time) with 10 tag columns (dictionary) and 10 field
    // columns, sorted by host then time (TSBS's wide layout, the best order for Parquet).
    let rows = hosts * steps;
    let mut columns: Vec<(&str, ArrayRef)> = Vec::new();
    for (ti, (name, _)) in tags[0].iter().enumerate() {
        let mut distinct: Vec<String> = tags.iter().map(|t| t[ti].1.clone()).collect();
        distinct.sort();
        distinct.dedup();
        let keys: Vec<i32> = (0..rows)
            .map(|r| distinct.binary_search(&tags[r / steps][ti].1).unwrap() as i32)
            .collect();
        columns.push((name.as_str(), dict(keys, &distinct)));
    }
    let times: Vec<i64> = (0..rows).map(|r| T0 + (r % steps) as i64 * TEN_S).collect();
    columns.push(("time", Arc::new(TimestampNanosecondArray::from(times))));
    for (f, field) in fields.iter().enumerate() {
        let v: Vec<i64> = (0..hosts)
            .flat_map(|h| kept[h * fields.len() + f].iter().copied())
            .collect();
        columns.push((field, Arc::new(Int64Array::from(v))));
    }
    let bytes = parquet_bytes("tsbs", columns);
    let points = rows * fields.len();
    println!(
        "  Parquet+zstd of the same data: {bytes} bytes = {:.3} bytes/point",
        bytes as f64 / points as f64
    );
}

/// A dictionary column of `keys` into `values`.
fn dict(keys: Vec<i32>, values: &[String]) -> ArrayRef {
    let values: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
    Arc::new(DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), values).unwrap())
}

/// Size of a Parquet file (zstd default level, default dictionary encoding) holding `columns`.
fn parquet_bytes(name: &str, columns: Vec<(&str, ArrayRef)>) -> u64 {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let path = std::env::temp_dir().join(format!("tsq-measure-{name}.parquet"));
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    let _ = std::fs::remove_file(&path);
    len
}

/// The TSBS-like cpu data as line protocol (6 hours), imported with
/// `write_lines` in bodies of 1000 lines (10 000 points), then scanned.
fn tsbs_lines() {
    let dir = fresh("tsbs-lines");
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    let fields = CPU_FIELDS;
    let (hosts, steps) = (100usize, 2160usize);
    let mut rng = Rng(11);
    let mut level: Vec<f64> = (0..hosts * fields.len())
        .map(|i| (i * 37 % 100) as f64)
        .collect();
    let mut bodies = Vec::new();
    for chunk in 0..steps / 10 {
        let mut text = String::with_capacity(1000 * 400);
        for step in chunk * 10..chunk * 10 + 10 {
            for h in 0..hosts {
                text.push_str(&format!(
                    "cpu,arch=x64,datacenter=eu-central-1a,hostname=host_{h},os=Ubuntu16.04LTS,rack={},region=eu-central-1,\
                     service={},service_environment=production,service_version=0,team=LON ",
                    h % 100,
                    h % 20
                ));
                for (f, field) in fields.iter().enumerate() {
                    let l = &mut level[h * fields.len() + f];
                    *l = (*l + rng.step() * 5.0).clamp(0.0, 100.0);
                    let sep = if f == 0 { "" } else { "," };
                    text.push_str(&format!("{sep}{field}={}i", l.round() as i64));
                }
                text.push_str(&format!(" {}\n", T0 + step as i64 * TEN_S));
            }
        }
        bodies.push(text);
    }
    let bytes: usize = bodies.iter().map(String::len).sum();
    let t = Instant::now();
    let parsed: usize = bodies
        .iter()
        .map(|b| parse_lines(b, Precision::Nanoseconds).lines.len())
        .sum();
    let parse_secs = t.elapsed().as_secs_f64();
    println!(
        "  parsing alone: {parsed} lines in {parse_secs:.2} s = {:.0} lines/s, {:.1} MB/s",
        parsed as f64 / parse_secs,
        bytes as f64 / parse_secs / 1e6
    );
    let t = Instant::now();
    let mut points = 0;
    for body in &bodies {
        let r = store.write_lines(body, Precision::Nanoseconds).unwrap();
        assert!(r.errors.is_empty());
        points += r.points_written;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "TSBS-like cpu via write_lines: {points} points ({bytes} bytes of line protocol), import {:.0} points/s, {:.1} MB/s",
        points as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    store.flush().unwrap();
    store.compact().unwrap();
    let adapter = TsmAdapter::new(Arc::new(store));
    let t = Instant::now();
    let mut rows = 0;
    futures::executor::block_on(async {
        for field in fields {
            let mut scan = adapter.scan(&ScanRequest::new("cpu", field)).await.unwrap();
            while let Some(b) = scan.next_batch(4096).await.unwrap() {
                rows += b.num_rows();
            }
        }
    });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "TSBS-like cpu full scan through TsmAdapter: {rows} points, {:.0} points/s",
        rows as f64 / secs
    );
}

/// Nanoseconds this thread has run on a CPU (Linux `/proc/thread-self/schedstat`), so a
/// throughput figure does not count time the thread waited for a shared core; 0 elsewhere.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// `--floats` runs only the gauge dataset and the float decode timings.
fn main() {
    let kept = gauge();
    float_decode(&kept);
    if std::env::args().any(|a| a == "--floats") {
        return;
    }
    tsbs_cpu();
    tsbs_lines();
}
