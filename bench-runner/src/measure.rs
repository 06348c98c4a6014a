//! Measurement helpers: wall time and peak memory.
//!
//! Peak memory comes from two sources: the engine's own accounting
//! (`MemoryPool::peak`, bytes reserved by operators) and the process's heap,
//! counted by [`CountingAlloc`] when a binary installs it as its global
//! allocator (`tsq` and `tsq-bench` do). The heap peak of a run is the most
//! bytes live at once during the run minus the bytes live when it started,
//! so memory the process already held (the dataset) is not counted. The
//! process's RSS high-water mark is not used: memory freed earlier stays
//! resident in the allocator and hides later growth.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static USED: AtomicBool = AtomicBool::new(false);

/// The system allocator, counting live and peak heap bytes. Install it with
/// `#[global_allocator] static ALLOC: CountingAlloc = CountingAlloc;`.
#[derive(Debug)]
pub struct CountingAlloc;

impl CountingAlloc {
    #[inline]
    fn grew(bytes: usize) {
        let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK.fetch_max(live, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are
// updated around it.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        USED.store(true, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            Self::grew(new_size);
        }
        p
    }
}

/// Starts a heap-peak measurement: returns the bytes live now, or `None`
/// when [`CountingAlloc`] is not the global allocator.
pub fn start_heap_peak() -> Option<usize> {
    if !USED.load(Ordering::Relaxed) {
        return None;
    }
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    Some(live)
}

/// Most heap bytes live since [`start_heap_peak`] returned `base`, above `base`.
pub fn heap_peak_since(base: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

/// The median of `times` (which it sorts).
pub fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// The median over runs of `a[i] / b[i]`: for rows timed interleaved (run
/// k of each, then run k + 1), a ratio a change in the machine's load
/// disturbs far less than the ratio of two medians.
pub fn median_ratio(a: &[Duration], b: &[Duration]) -> f64 {
    let mut r: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
        .collect();
    r.sort_by(f64::total_cmp);
    r.get(r.len() / 2).copied().unwrap_or(f64::NAN)
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

/// The process's resident-set high-water mark (`VmHWM` of
/// `/proc/self/status`) in bytes, where the OS reports it. It covers the
/// whole run (data generation included) and never goes down, so it bounds
/// every engine's peak from above; the per-engine heap peak is finer.
pub fn process_peak_rss() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

/// Resets the process's resident-set high-water mark to its current RSS
/// (Linux: `5` written to `/proc/self/clear_refs`), so that the next
/// [`process_peak_rss`] covers only what runs after; false where the OS
/// does not allow it (the mark then keeps covering the whole run).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The `VmHWM:` line of a `/proc/<pid>/status` text, in bytes.
fn parse_vm_hwm(status: &str) -> Option<usize> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: usize = line
        .trim_start_matches("VmHWM:")
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod rss_tests {
    use super::*;

    #[test]
    fn vm_hwm_is_read_in_bytes() {
        let status = "Name:\ttsq\nVmPeak:\t  200 kB\nVmHWM:\t    1536 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(1536 * 1024));
        assert_eq!(parse_vm_hwm("VmRSS: 5 kB\n"), None);
        assert_eq!(parse_vm_hwm("VmHWM: lots\n"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_ratio_is_the_middle_per_run_ratio() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        // per-run ratios 2, 1, 4: the middle one is 2
        let a = ms(&[20, 30, 40]);
        let b = ms(&[10, 30, 10]);
        assert_eq!(median_ratio(&a, &b), 2.0);
        assert!(median_ratio(&[], &[]).is_nan());
    }
}
