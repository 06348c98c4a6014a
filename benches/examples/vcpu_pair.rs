//! How much two threads slow each other down on this machine when each
//! streams through memory of its own, the work a partition's scan does: the
//! ceiling of any second-core speed-up that does not come from doing less
//! (`docs/benchmarks.md`, "The second core's ceiling on this machine").
//!
//! ```text
//! cargo build --release -p tsq-benches --example vcpu_pair
//! vcpu_pair [MIB] [ROUNDS]      (7 300: half of double-groupby-1's values at scale 4)
//! ```
//!
//! Each thread sums its own buffer of MIB MiB of `f64`, eight sums side by
//! side (the way `DsAggOp` folds lanes), ROUNDS times, first one thread
//! alone, then two threads at once, alternately, five times each. Prints
//! the medians of both and the speed-up two partitions could reach if each
//! did exactly half the work: 2 × alone / side by side.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Sums `values` with eight independent sums (no dependency chain limits
/// the loads), `rounds` times; the time it took.
fn stream(values: &[f64], rounds: usize) -> Duration {
    let started = Instant::now();
    for _ in 0..rounds {
        let mut sums = [0.0f64; 8];
        for chunk in black_box(values).chunks_exact(8) {
            for (s, v) in sums.iter_mut().zip(chunk) {
                *s += v;
            }
        }
        black_box(sums);
    }
    started.elapsed()
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(7);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(300);
    let n = mib * (1 << 20) / 8;
    let buffers: Vec<Vec<f64>> = (0..2)
        .map(|k| (0..n).map(|i| (i + k) as f64).collect())
        .collect();
    let (mut alone, mut pair) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        alone.push(stream(&buffers[0], rounds));
        let both: Vec<Duration> = std::thread::scope(|scope| {
            let handles: Vec<_> = buffers
                .iter()
                .map(|b| scope.spawn(move || stream(b, rounds)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        pair.push(both.into_iter().max().unwrap());
    }
    let (alone, pair) = (median(alone), median(pair));
    let gib = |secs: f64| (mib * rounds) as f64 / 1024.0 / secs;
    println!(
        "{mib} MiB x {rounds}: one thread alone {:.1} ms ({:.1} GiB/s); two side by side {:.1} ms \
         ({:.1} GiB/s each); each {:.0} % slower side by side; two halves at best {:.2}x",
        alone * 1e3,
        gib(alone),
        pair * 1e3,
        gib(pair),
        (pair / alone - 1.0) * 100.0,
        2.0 * alone / pair,
    );
}
