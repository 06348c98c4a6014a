//! Measurement helpers: wall time and the process's peak resident memory.
//!
//! Peak memory comes from two sources: the engine's own accounting
//! (`MemoryPool::peak`, bytes reserved by operators) and the process's
//! high-water mark (`VmHWM` in `/proc/self/status`), which is reset before
//! each run by writing `5` to `/proc/self/clear_refs` (Linux ≥ 4.0).

use std::time::{Duration, Instant};

/// Resets the process's peak-RSS counter; false where unsupported.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The process's peak resident set size in bytes since the last reset.
pub fn peak_rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The process's current resident set size in bytes.
pub fn current_rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The median of `times` (which it sorts).
pub fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// Runs `f` `runs` times and returns each wall time.
pub fn time_runs<T>(runs: usize, mut f: impl FnMut() -> T) -> (Vec<Duration>, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let out = f();
        times.push(start.elapsed());
        last = Some(out);
    }
    (times, last.expect("at least one run"))
}
