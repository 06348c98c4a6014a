//! What `tsq bench` prints: per case, every engine's median time, points per
//! second, peak memory (the engine's own accounting and the heap
//! high-water mark) and ratio to the best engine of the case, as a
//! markdown table or as JSON. The seed suite and the TSBS suite both report
//! through it.

use std::fmt::Write as _;
use std::time::Duration;

/// One engine's measurement of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineResult {
    /// The engine's label.
    pub engine: String,
    /// Median wall time over the runs.
    pub median: Duration,
    /// Result rows.
    pub rows: usize,
    /// Most bytes the engine reserved at once through its memory pool, when
    /// it accounts.
    pub engine_peak: Option<usize>,
    /// Most heap bytes live at once during the runs, above the bytes live
    /// before them (`None` without the counting allocator).
    pub heap_peak: Option<usize>,
}

/// One case: what it reads and how each engine did.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The case's name.
    pub case: String,
    /// Points the case reads.
    pub points: usize,
    /// One entry per engine.
    pub results: Vec<EngineResult>,
    /// The time a plain sum over as many in-memory `f64`s takes, when
    /// measured: the ceiling for aggregation throughput.
    pub ceiling: Option<Duration>,
}

impl Report {
    /// The fastest engine's median.
    pub fn best(&self) -> Duration {
        self.results
            .iter()
            .map(|r| r.median)
            .min()
            .unwrap_or_default()
    }
}

fn mib(bytes: Option<usize>) -> String {
    bytes.map_or_else(
        || "n/a".to_string(),
        |b| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    )
}

fn rate(points: usize, d: Duration) -> f64 {
    points as f64 / d.as_secs_f64().max(1e-12)
}

fn ratio(d: Duration, best: Duration) -> f64 {
    d.as_secs_f64() / best.as_secs_f64().max(1e-12)
}

/// The reports as a markdown table: case, engine, median, points/s, engine
/// peak, heap peak, ratio to best (and the ceiling row where measured).
pub fn format_table(reports: &[Report]) -> String {
    let mut out = String::from(
        "| case | engine | median | points/s | engine peak | heap peak | ratio to best |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let best = r.best();
        for m in &r.results {
            let _ = writeln!(
                out,
                "| {} | {} | {:.3} ms | {:.1} M | {} | {} | {:.2}x |",
                r.case,
                m.engine,
                m.median.as_secs_f64() * 1e3,
                rate(r.points, m.median) / 1e6,
                mib(m.engine_peak),
                mib(m.heap_peak),
                ratio(m.median, best)
            );
        }
        if let Some(c) = r.ceiling {
            let _ = writeln!(
                out,
                "| {} | ceiling: plain f64 slice sum | {:.3} ms | {:.1} M | - | - | - |",
                r.case,
                c.as_secs_f64() * 1e3,
                rate(r.points, c) / 1e6
            );
        }
    }
    out
}

/// The reports as a JSON array, one object per case with its engines
/// (times in seconds, memory in bytes, `null` where not measured).
pub fn format_json(reports: &[Report]) -> String {
    serde_json::to_string_pretty(&to_json(reports)).unwrap_or_default() + "\n"
}

/// The reports as a JSON value (see [`format_json`]).
pub fn to_json(reports: &[Report]) -> serde_json::Value {
    let cases: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            let best = r.best();
            let engines: Vec<serde_json::Value> = r
                .results
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "engine": m.engine,
                        "median_seconds": m.median.as_secs_f64(),
                        "points_per_second": rate(r.points, m.median),
                        "rows": m.rows,
                        "engine_peak_bytes": m.engine_peak,
                        "heap_peak_bytes": m.heap_peak,
                        "ratio_to_best": ratio(m.median, best),
                    })
                })
                .collect();
            serde_json::json!({
                "case": r.case,
                "points": r.points,
                "engines": engines,
                "ceiling_seconds": r.ceiling.map(|c| c.as_secs_f64()),
            })
        })
        .collect();
    serde_json::Value::Array(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Report> {
        vec![Report {
            case: "q".into(),
            points: 2_000_000,
            results: vec![
                EngineResult {
                    engine: "fast".into(),
                    median: Duration::from_millis(10),
                    rows: 3,
                    engine_peak: Some(1024 * 1024),
                    heap_peak: None,
                },
                EngineResult {
                    engine: "slow".into(),
                    median: Duration::from_millis(25),
                    rows: 3,
                    engine_peak: None,
                    heap_peak: Some(3 * 1024 * 1024),
                },
            ],
            ceiling: Some(Duration::from_millis(1)),
        }]
    }

    #[test]
    fn table_rows_carry_rate_memory_and_ratio() {
        let t = format_table(&sample());
        // 2M points in 10 ms = 200 M/s; 25 ms = 80 M/s, 2.5x the best
        assert!(
            t.contains("| q | fast | 10.000 ms | 200.0 M | 1.0 MiB | n/a | 1.00x |"),
            "{t}"
        );
        assert!(
            t.contains("| q | slow | 25.000 ms | 80.0 M | n/a | 3.0 MiB | 2.50x |"),
            "{t}"
        );
        assert!(
            t.contains("| q | ceiling: plain f64 slice sum | 1.000 ms | 2000.0 M | - | - | - |")
        );
    }

    #[test]
    fn json_has_one_object_per_case() {
        let v: serde_json::Value = serde_json::from_str(&format_json(&sample())).unwrap();
        assert_eq!(v[0]["case"], "q");
        assert_eq!(v[0]["engines"][1]["ratio_to_best"], 2.5);
        assert_eq!(v[0]["engines"][0]["engine_peak_bytes"], 1_048_576);
        assert!(v[0]["engines"][0]["heap_peak_bytes"].is_null());
        assert_eq!(v[0]["ceiling_seconds"], 0.001);
    }
}
