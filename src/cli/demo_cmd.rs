//! `tsq demo`: writes the demo dataset into a data directory once, then
//! reuses it; the REPL opens afterwards with [`BANNER`].
//!
//! A marker file records the configuration once every point is written. A
//! directory without the marker (new, or an interrupted run) is (re)filled:
//! writes of the same series and timestamp overwrite, so a rerun is
//! idempotent. A marker with another configuration is an error rather than a
//! silent mix of two datasets.

use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::backend::{CliError, Ingest, Result};
use crate::cli::import::ImportSummary;
use crate::demo::{DemoConfig, DemoGenerator};

/// The marker file written after the last point.
pub const MARKER: &str = "tsq-demo.conf";

/// Rows of the generator written per store call: 500,000 points, about 8
/// MB of values; at 4,000 hosts each series gets 12 or 13 points per call,
/// so the per-series costs of a write (index lookup, WAL key, cache entry)
/// are shared by a dozen points.
const ROWS_PER_CHUNK: usize = 50_000;

/// Batches generated ahead of the one being written: the generator thread
/// stops when this many wait, so memory stays bounded.
const BATCHES_AHEAD: usize = 1;

/// The REPL greeting after `tsq demo`: one example query per aggregation
/// path.
pub const BANNER: &str = "\
tsq demo: measurement `cpu`, 10 fields (usage_user ... usage_guest_nice), tags hostname, region,
datacenter, rack, os, arch, team, service, service_version, service_environment; one row per host
every 10 s from 2024-01-01T00:00:00Z. Try (\\help for more, \\chart after a query):

  -- PipeAggOp (buckets filled, incremental aggregate: streams, one accumulator per group and bucket)
  SELECT region, max(usage_user) FROM cpu GROUP BY region SAMPLE BY 1h max FILL(zero);
  -- GroupedAggOp (FILL(none) leaves gaps to interpolate; the TSM scan is ordered by group)
  SELECT hostname, avg(usage_system) FROM cpu WHERE hostname IN ('host_0', 'host_1') GROUP BY hostname SAMPLE BY 30m;
  -- MTAggOp (no SAMPLE BY and a percentile, forced through the materializing path)
  \\strategy mt
  SELECT p99(usage_idle) FROM cpu WHERE hostname ~ '^host_[0-4]$' AND time < '2024-01-01T00:05:00Z';
  \\strategy auto
  EXPLAIN SELECT avg(usage_user) FROM cpu GROUP BY region SAMPLE BY 1h FILL(zero);
";

/// The marker text for `config`.
fn marker_text(config: &DemoConfig) -> String {
    format!(
        "hosts={} hours={} seed={} start={}\n",
        config.hosts, config.hours, config.seed, config.start
    )
}

/// Generates the data into `dir` through `ingest` unless the marker says it
/// is already there. Returns `None` when the data was reused.
pub fn ensure_demo_data(
    ingest: &dyn Ingest,
    dir: &Path,
    config: &DemoConfig,
    progress: bool,
) -> Result<Option<ImportSummary>> {
    let marker = dir.join(MARKER);
    let wanted = marker_text(config);
    match std::fs::read_to_string(&marker) {
        Ok(found) if found == wanted => return Ok(None),
        Ok(found) => {
            return Err(CliError::Data(format!(
                "{} holds demo data generated with {}; it was asked for {} (use another --data directory)",
                dir.display(),
                found.trim(),
                wanted.trim()
            )))
        }
        Err(_) => {}
    }
    let summary = generate(ingest, config, progress)?;
    std::fs::write(&marker, wanted)
        .map_err(|e| CliError::Data(format!("cannot write {}: {e}", marker.display())))?;
    Ok(Some(summary))
}

/// Writes every row of `config` in typed batches ([`DemoGenerator::fill_series`]):
/// a second thread generates the next batch while this one writes the
/// previous one (docs/cli.md, `tsq demo`).
fn generate(ingest: &dyn Ingest, config: &DemoConfig, progress: bool) -> Result<ImportSummary> {
    let started = Instant::now();
    let bar = if progress {
        ProgressBar::new(config.points()).with_style(
            ProgressStyle::with_template(
                "generating [{bar:40}] {human_pos}/{human_len} points {per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        )
    } else {
        ProgressBar::hidden()
    };
    let mut summary = ImportSummary {
        files: 0,
        ..ImportSummary::default()
    };
    let (send, batches) = mpsc::sync_channel(BATCHES_AHEAD);
    let mut generator = DemoGenerator::new(*config);
    std::thread::scope(|scope| {
        scope.spawn(move || loop {
            let batch = generator.fill_series(ROWS_PER_CHUNK);
            // An empty batch ends the data; a closed channel, the writer.
            if batch.is_empty() || send.send(batch).is_err() {
                break;
            }
        });
        // Returning early drops `batches`, which stops the generator.
        for batch in batches {
            let report = ingest.write_series(batch)?;
            if let Some(e) = report.errors.first() {
                return Err(CliError::Data(format!(
                    "the store rejected generated points: {}",
                    e.message
                )));
            }
            summary.points += report.points;
            summary.series += report.series_created;
            bar.inc(report.points);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::cli::backend::{Precision, WriteSummary};
    use tsq_storage::tsm::wal::SeriesPoints;

    /// Counts typed writes, their series and points.
    #[derive(Default)]
    struct Counter {
        calls: Cell<usize>,
        series: Cell<usize>,
    }

    impl Ingest for Counter {
        fn write_lines(&self, _: &str, _: Precision) -> Result<WriteSummary> {
            Err(CliError::Data("the demo writes typed points".into()))
        }

        fn write_series(&self, batch: Vec<SeriesPoints>) -> Result<WriteSummary> {
            self.calls.set(self.calls.get() + 1);
            self.series.set(self.series.get() + batch.len());
            Ok(WriteSummary {
                points: batch.iter().map(|s| s.times.len() as u64).sum(),
                series_created: 0,
                errors: vec![],
            })
        }
    }

    #[test]
    fn generates_once_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let config = DemoConfig {
            hosts: 2,
            hours: 1,
            ..DemoConfig::default()
        };
        let ingest = Counter::default();
        let first = ensure_demo_data(&ingest, dir.path(), &config, false)
            .unwrap()
            .unwrap();
        // 2 hosts × 360 rows = 720 rows, 7200 points, in one 50,000-row
        // batch of 2 hosts × 10 fields = 20 series.
        assert_eq!(
            (ingest.calls.get(), ingest.series.get(), first.points),
            (1, 20, 7200)
        );
        assert!(ensure_demo_data(&ingest, dir.path(), &config, false)
            .unwrap()
            .is_none());
        assert_eq!(ingest.calls.get(), 1);
        let other = DemoConfig { hosts: 3, ..config };
        let err = ensure_demo_data(&ingest, dir.path(), &other, false).unwrap_err();
        assert!(
            err.to_string().contains("generated with hosts=2 hours=1"),
            "{err}"
        );
    }
}
