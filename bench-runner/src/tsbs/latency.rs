//! The per-query-type summary of a TSBS run, in the shape of TSBS's own
//! report (`tsbs_run_queries`: count, min, median, mean, max per query
//! type) with p95 and p99 added, as a markdown table or JSON.

use std::time::Duration;

/// The timings and memory of one query type's instances.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeSummary {
    /// The TSBS name of the type.
    pub name: String,
    /// Instances that ran to the end.
    pub count: usize,
    /// Instances that failed (not timed).
    pub errors: usize,
    /// The first failure's message.
    pub first_error: Option<String>,
    /// Latencies of the instances that ran, ascending.
    pub times: Vec<Duration>,
    /// Result rows, summed over the instances.
    pub rows: usize,
    /// Largest engine memory peak of an instance (bytes reserved by
    /// operators), when the engine reports one.
    pub engine_peak: Option<usize>,
    /// Largest heap peak of an instance above the heap live before it,
    /// when the counting allocator is installed.
    pub heap_peak: Option<usize>,
    /// The process's resident-set high-water mark over this type's
    /// instances (reset before them where the OS allows it), bytes.
    pub rss_peak: Option<usize>,
}

impl TypeSummary {
    /// A summary of `times` (any order) for `name`.
    pub fn new(name: &str, mut times: Vec<Duration>) -> Self {
        times.sort();
        TypeSummary {
            name: name.to_string(),
            count: times.len(),
            errors: 0,
            first_error: None,
            times,
            rows: 0,
            engine_peak: None,
            heap_peak: None,
            rss_peak: None,
        }
    }

    /// The fastest instance.
    pub fn min(&self) -> Option<Duration> {
        self.times.first().copied()
    }

    /// The slowest instance.
    pub fn max(&self) -> Option<Duration> {
        self.times.last().copied()
    }

    /// The mean of the two middle times (of the middle one for an odd count).
    pub fn median(&self) -> Option<Duration> {
        let n = self.times.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(self.times[n / 2]),
            _ => Some((self.times[n / 2 - 1] + self.times[n / 2]) / 2),
        }
    }

    /// The arithmetic mean.
    pub fn mean(&self) -> Option<Duration> {
        let n = u32::try_from(self.times.len()).ok().filter(|&n| n > 0)?;
        Some(self.times.iter().sum::<Duration>() / n)
    }

    /// The `p`-th percentile by nearest rank: the smallest time at or below
    /// which at least `p` % of the times lie.
    pub fn percentile(&self, p: u32) -> Option<Duration> {
        let n = self.times.len();
        if n == 0 {
            return None;
        }
        let rank = (n * p as usize).div_ceil(100).clamp(1, n);
        Some(self.times[rank - 1])
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "–".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
}

fn mib(b: Option<usize>) -> String {
    b.map_or_else(|| "n/a".into(), |b| format!("{:.1}", b as f64 / 1048576.0))
}

/// The summaries as a markdown table, times in ms, memory in MiB.
pub fn format_table(rows: &[TypeSummary]) -> String {
    let mut out = String::from(
        "| query type | count | min ms | median ms | mean ms | p95 ms | p99 ms | max ms | rows | peak RSS MiB | engine peak MiB | heap peak MiB |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let count = if r.errors > 0 {
            format!("{} ({} failed)", r.count, r.errors)
        } else {
            r.count.to_string()
        };
        out.push_str(&format!(
            "| {} | {count} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.name,
            ms(r.min()),
            ms(r.median()),
            ms(r.mean()),
            ms(r.percentile(95)),
            ms(r.percentile(99)),
            ms(r.max()),
            r.rows,
            mib(r.rss_peak),
            mib(r.engine_peak),
            mib(r.heap_peak),
        ));
    }
    out
}

/// The summaries as a JSON array, times in ms (`null` when none ran).
pub fn to_json(rows: &[TypeSummary]) -> serde_json::Value {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    rows.iter()
        .map(|r| {
            serde_json::json!({
                "query_type": r.name,
                "count": r.count,
                "errors": r.errors,
                "first_error": r.first_error,
                "min_ms": ms(r.min()),
                "median_ms": ms(r.median()),
                "mean_ms": ms(r.mean()),
                "p95_ms": ms(r.percentile(95)),
                "p99_ms": ms(r.percentile(99)),
                "max_ms": ms(r.max()),
                "rows": r.rows,
                "peak_rss_bytes": r.rss_peak,
                "engine_peak_bytes": r.engine_peak,
                "heap_peak_bytes": r.heap_peak,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(ms: &[u64]) -> TypeSummary {
        TypeSummary::new("q", ms.iter().map(|&m| Duration::from_millis(m)).collect())
    }

    #[test]
    fn statistics_of_twenty_times() {
        // 1..=20 ms shuffled
        let s = summary(&[
            7, 3, 20, 1, 15, 9, 2, 11, 18, 4, 6, 13, 5, 17, 8, 19, 10, 12, 16, 14,
        ]);
        let d = Duration::from_millis;
        assert_eq!((s.min(), s.max()), (Some(d(1)), Some(d(20))));
        // middle two are 10 and 11
        assert_eq!(s.median(), Some(Duration::from_micros(10_500)));
        // sum 210 / 20
        assert_eq!(s.mean(), Some(Duration::from_micros(10_500)));
        // nearest rank: ceil(0.95 × 20) = 19th, ceil(0.99 × 20) = 20th
        assert_eq!(s.percentile(95), Some(d(19)));
        assert_eq!(s.percentile(99), Some(d(20)));
        assert_eq!(s.percentile(50), Some(d(10)));
    }

    #[test]
    fn odd_count_and_empty() {
        let s = summary(&[5, 1, 3]);
        assert_eq!(s.median(), Some(Duration::from_millis(3)));
        // ceil(0.95 × 3) = 3rd
        assert_eq!(s.percentile(95), Some(Duration::from_millis(5)));
        let none = summary(&[]);
        assert_eq!(
            (none.median(), none.mean(), none.percentile(99)),
            (None, None, None)
        );
    }

    #[test]
    fn table_and_json_rows() {
        let mut s = summary(&[2, 4]);
        s.name = "lastpoint".into();
        s.rows = 8;
        s.engine_peak = Some(1 << 20);
        s.errors = 1;
        let table = format_table(std::slice::from_ref(&s));
        assert!(
            table.ends_with(
                "| lastpoint | 2 (1 failed) | 2.0 | 3.0 | 3.0 | 4.0 | 4.0 | 4.0 | 8 | n/a | 1.0 | n/a |\n"
            ),
            "{table}"
        );
        let json = to_json(&[s]);
        assert_eq!(json[0]["count"], 2);
        assert_eq!(json[0]["median_ms"], 3.0);
        assert_eq!(json[0]["p95_ms"], 4.0);
        assert!(json[0]["peak_rss_bytes"].is_null());
    }
}
