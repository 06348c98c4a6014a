//! Criterion benchmarks of the TSM block decoders on one core, reported as values per second:
//! ALP float blocks (two-decimal gauges, the codec seed case 1's store uses), ALP-RD, Gorilla,
//! and run-length and Simple-8b timestamp blocks (run-length ones also through
//! `timestamp::decode_remembered`, hit and missed). Each decodes up to 1,000 blocks of 720 values
//! (seed case 1's series; the blocks whose sample chose the benchmarked codec) into one reused
//! vector. `cargo bench -p tsq-storage --bench decode`; figures
//! in docs/benchmarks.md ("TSM read path") and docs/storage.md ("Float codecs").

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tsq_storage::tsm::encoding::{float, timestamp};

/// Blocks per iteration and values per block.
const BLOCKS: usize = 1000;
const VALUES: usize = 720;

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

/// `BLOCKS` random walks of `VALUES` values in 0..100; `full` adds 1/3 (full precision).
fn gauges(rng: &mut Rng, full: bool) -> Vec<Vec<f64>> {
    (0..BLOCKS)
        .map(|_| {
            let mut v = 50.0;
            (0..VALUES)
                .map(|_| {
                    v = (v + rng.step()).clamp(0.0, 100.0);
                    let cents = (v * 100.0f64).round() / 100.0;
                    if full {
                        cents + 1.0 / 3.0
                    } else {
                        cents
                    }
                })
                .collect()
        })
        .collect()
}

/// The blocks `encode` writes with codec `kind` (its header's high four bits); blocks whose
/// sample chose another codec are left out.
fn encode_all<T>(
    blocks: &[Vec<T>],
    kind: u8,
    encode: impl Fn(&[T], &mut Vec<u8>) -> tsq_storage::tsm::encoding::Result<()>,
) -> Vec<Vec<u8>> {
    let encoded: Vec<Vec<u8>> = blocks
        .iter()
        .map(|b| {
            let mut out = Vec::new();
            encode(b, &mut out).expect("encodes");
            out
        })
        .filter(|out| out[0] >> 4 == kind)
        .collect();
    assert!(!encoded.is_empty(), "no block chose codec {kind}");
    encoded
}

fn decoders(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut group = c.benchmark_group("decode");
    let float_cases = [
        (
            "alp",
            encode_all(&gauges(&mut rng, false), 2, float::encode),
        ),
        (
            "alp-rd",
            encode_all(&gauges(&mut rng, true), 3, float::encode),
        ),
        (
            "gorilla",
            encode_all(&gauges(&mut rng, false), 1, float::encode_gorilla),
        ),
    ];
    for (name, blocks) in &float_cases {
        let mut out: Vec<f64> = Vec::with_capacity(VALUES);
        group.throughput(Throughput::Elements((blocks.len() * VALUES) as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                for block in blocks {
                    out.clear();
                    float::decode(black_box(block), &mut out).expect("decodes");
                    black_box(&out);
                }
            })
        });
    }
    let regular: Vec<Vec<i64>> = (0..BLOCKS as i64)
        .map(|s| (0..VALUES as i64).map(|i| s + i * 5_000_000_000).collect())
        .collect();
    let jittered: Vec<Vec<i64>> = regular
        .iter()
        .map(|b| {
            b.iter()
                .map(|t| t + (rng.next() % 1000) as i64 * 1000)
                .collect()
        })
        .collect();
    let time_cases = [
        ("timestamps-rle", encode_all(&regular, 2, timestamp::encode)),
        (
            "timestamps-simple8b",
            encode_all(&jittered, 1, timestamp::encode),
        ),
    ];
    for (name, blocks) in &time_cases {
        let mut out: Vec<i64> = Vec::with_capacity(VALUES);
        group.throughput(Throughput::Elements((blocks.len() * VALUES) as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                for block in blocks {
                    out.clear();
                    timestamp::decode(black_box(block), &mut out).expect("decodes");
                    black_box(&out);
                }
            })
        });
    }
    // Through `decode_remembered`: every block on one schedule (the same run-length block, as
    // in seed case 1, where every series is sampled at the same instants), and the blocks
    // above, each starting 1 ns later than the one before (a miss every time: each decoded,
    // then remembered).
    let aligned = encode_all(&vec![regular[0].clone(); BLOCKS], 2, timestamp::encode);
    let remembered = [
        ("timestamps-rle-remembered-aligned", aligned),
        (
            "timestamps-rle-remembered-staggered",
            encode_all(&regular, 2, timestamp::encode),
        ),
    ];
    for (name, blocks) in &remembered {
        let mut out: Vec<i64> = Vec::with_capacity(VALUES);
        let mut last = timestamp::LastRun::default();
        group.throughput(Throughput::Elements((blocks.len() * VALUES) as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                for block in blocks {
                    out.clear();
                    timestamp::decode_remembered(black_box(block), &mut out, &mut last)
                        .expect("decodes");
                    black_box(&out);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decoders);
criterion_main!(benches);
