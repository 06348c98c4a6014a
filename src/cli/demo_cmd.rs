//! `tsq demo`: writes the demo dataset into a data directory once, then
//! reuses it; the REPL opens afterwards with [`BANNER`].
//!
//! A marker file records the configuration once every point is written. A
//! marker with another configuration is an error rather than a silent mix
//! of two datasets. While it writes, `tsq demo` keeps a progress file (the
//! configuration and the rows the store has accepted, rewritten after each
//! batch): a run that was interrupted (Ctrl-C, `kill -9`, a full disk)
//! resumes after those rows, the generator stepping over them so the rest
//! is the same. The store may hold rows past that count (the batch in
//! flight); they are written again with the same values, which overwrite
//! (same series and timestamp), so a resumed run ends with exactly the
//! points of an uninterrupted one (docs/cli.md, `tsq demo`). A directory
//! with neither file is filled from the first row.

use std::io::Write as _;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::backend::{CliError, Ingest, Result};
use crate::cli::import::ImportSummary;
use crate::demo::{DemoConfig, DemoGenerator, FIELDS};

/// The marker file written after the last point.
pub const MARKER: &str = "tsq-demo.conf";

/// The progress file: the configuration, then `rows=N`, the rows written.
pub const PROGRESS: &str = "tsq-demo.progress";

/// Rows of the generator written per store call: 500,000 points, about 8
/// MB of values; at 4,000 hosts each series gets 12 or 13 points per call,
/// so the per-series costs of a write (index lookup, WAL key, cache entry)
/// are shared by a dozen points.
const ROWS_PER_CHUNK: usize = 50_000;

/// Batches generated ahead of the one being written: the generator thread
/// stops when this many wait, so memory stays bounded.
const BATCHES_AHEAD: usize = 1;

/// Width of the store's time shards (docs/storage.md): once a batch starts
/// in a later shard, the earlier ones receive no more points (the rows are
/// time-major) and are compacted.
const SHARD_NS: i64 = 86_400 * 1_000_000_000;

/// How `tsq demo` shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A progress bar (stderr is a terminal).
    Bar,
    /// A line on stderr every 5 % (stderr is a file or a pipe).
    Lines,
    /// Nothing.
    Quiet,
}

/// What a generation did.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoRun {
    /// Points written by this run, time, series created.
    pub summary: ImportSummary,
    /// Rows an interrupted run had written, stepped over here.
    pub resumed_after_rows: u64,
}

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
/// is already there (then `None`), resuming after the rows of the progress
/// file when there is one.
pub fn ensure_demo_data(
    ingest: &dyn Ingest,
    dir: &Path,
    config: &DemoConfig,
    progress: Progress,
) -> Result<Option<DemoRun>> {
    ensure_demo_data_in_chunks(ingest, dir, config, progress, ROWS_PER_CHUNK)
}

/// [`ensure_demo_data`] writing `chunk_rows` rows per store call.
fn ensure_demo_data_in_chunks(
    ingest: &dyn Ingest,
    dir: &Path,
    config: &DemoConfig,
    progress: Progress,
    chunk_rows: usize,
) -> Result<Option<DemoRun>> {
    let marker = dir.join(MARKER);
    let wanted = marker_text(config);
    match std::fs::read_to_string(&marker) {
        Ok(found) if found == wanted => return Ok(None),
        Ok(found) => return Err(other_dataset(dir, &found, &wanted)),
        Err(_) => {}
    }
    let resumed_after_rows = rows_written(dir, &wanted)?;
    let record = |rows: u64| write_progress(dir, &wanted, rows);
    let summary = generate(
        ingest,
        config,
        progress,
        chunk_rows,
        resumed_after_rows,
        &record,
    )?;
    std::fs::write(&marker, &wanted)
        .map_err(|e| CliError::Data(format!("cannot write {}: {e}", marker.display())))?;
    // The marker says everything is there: the progress file has no more use.
    let _ = std::fs::remove_file(dir.join(PROGRESS));
    Ok(Some(DemoRun {
        summary,
        resumed_after_rows,
    }))
}

fn other_dataset(dir: &Path, found: &str, wanted: &str) -> CliError {
    CliError::Data(format!(
        "{} holds demo data generated with {}; it was asked for {} (use another --data directory)",
        dir.display(),
        found.trim(),
        wanted.trim()
    ))
}

/// The rows an interrupted run of `wanted` recorded in the progress file;
/// 0 without a readable one.
fn rows_written(dir: &Path, wanted: &str) -> Result<u64> {
    let Ok(text) = std::fs::read_to_string(dir.join(PROGRESS)) else {
        return Ok(0);
    };
    let Some((config, rows)) = text.split_once("rows=") else {
        return Ok(0);
    };
    if config != wanted {
        return Err(other_dataset(dir, config, wanted));
    }
    Ok(rows.trim().parse().unwrap_or(0))
}

/// Records that the store holds the first `rows` rows: written beside, then
/// renamed over the progress file, so it is always whole.
fn write_progress(dir: &Path, wanted: &str, rows: u64) -> Result<()> {
    let path = dir.join(PROGRESS);
    let tmp = dir.join(format!("{PROGRESS}.tmp"));
    std::fs::write(&tmp, format!("{wanted}rows={rows}\n"))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| CliError::Data(format!("cannot write {}: {e}", path.display())))
}

/// Total bytes of the files under `dir` (the store's disk use).
pub fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_usage(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Writes the rows of `config` after the first `skip` in typed batches of
/// `chunk_rows` rows ([`DemoGenerator::fill_series`]): a second thread
/// generates the next batch while this one writes the previous one
/// (docs/cli.md, `tsq demo`). After each batch the store accepted,
/// `record` is told how many rows it holds; finished day shards are
/// compacted as the writing moves on.
fn generate(
    ingest: &dyn Ingest,
    config: &DemoConfig,
    progress: Progress,
    chunk_rows: usize,
    skip: u64,
    record: &dyn Fn(u64) -> Result<()>,
) -> Result<ImportSummary> {
    let started = Instant::now();
    let total = config.points();
    let mut shown = ShownProgress::new(progress, total);
    let mut summary = ImportSummary {
        files: 0,
        ..ImportSummary::default()
    };
    let mut generator = DemoGenerator::new(*config);
    let mut rows = generator.skip_rows(skip);
    shown.advance(rows * FIELDS.len() as u64);
    // Days before this one are complete and compacted.
    let mut compacted_before = config.start.div_euclid(SHARD_NS);
    let (send, batches) = mpsc::sync_channel(BATCHES_AHEAD);
    std::thread::scope(|scope| {
        scope.spawn(move || loop {
            let batch = generator.fill_series(chunk_rows);
            // An empty batch ends the data; a closed channel, the writer.
            if batch.is_empty() || send.send(batch).is_err() {
                break;
            }
        });
        // Returning early drops `batches`, which stops the generator.
        for batch in batches {
            let first = batch.iter().filter_map(|s| s.times.first()).min().copied();
            // Every row is one point of each of the ten fields.
            let batch_rows = batch.iter().map(|s| s.times.len()).sum::<usize>() / FIELDS.len();
            let report = ingest.write_series(batch)?;
            if let Some(e) = report.errors.first() {
                return Err(CliError::Data(format!(
                    "the store rejected generated points: {}",
                    e.message
                )));
            }
            rows += batch_rows as u64;
            record(rows)?;
            summary.points += report.points;
            summary.series += report.series_created;
            shown.advance(report.points);
            let day = first.map_or(compacted_before, |t| t.div_euclid(SHARD_NS));
            if day > compacted_before {
                ingest.compact()?;
                compacted_before = day;
            }
        }
        Ok(())
    })?;
    shown.finish();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The progress shown while generating: a bar, or a line every 5 %.
struct ShownProgress {
    bar: ProgressBar,
    lines: bool,
    total: u64,
    done: u64,
    next_line: u64,
    started: Instant,
}

impl ShownProgress {
    fn new(progress: Progress, total: u64) -> Self {
        let bar = if progress == Progress::Bar {
            ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "generating [{bar:40}] {human_pos}/{human_len} points {per_sec} {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            )
        } else {
            ProgressBar::hidden()
        };
        ShownProgress {
            bar,
            lines: progress == Progress::Lines,
            total,
            done: 0,
            next_line: 0,
            started: Instant::now(),
        }
    }

    fn advance(&mut self, points: u64) {
        self.done += points;
        self.bar.set_position(self.done);
        if !self.lines || self.total == 0 {
            return;
        }
        let percent = self.done * 100 / self.total;
        if percent >= self.next_line && self.done > 0 {
            let secs = self.started.elapsed().max(Duration::from_millis(1));
            let _ = writeln!(
                std::io::stderr(),
                "generated {percent}% ({} of {} points, {:.0} s)",
                self.done,
                self.total,
                secs.as_secs_f64()
            );
            self.next_line = percent / 5 * 5 + 5;
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::cli::backend::{Precision, WriteSummary};
    use tsq_storage::tsm::value::Values;
    use tsq_storage::tsm::wal::SeriesPoints;
    use tsq_storage::tsm::{Store, StoreOptions};

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
        let first = ensure_demo_data(&ingest, dir.path(), &config, Progress::Quiet)
            .unwrap()
            .unwrap()
            .summary;
        // 2 hosts × 360 rows = 720 rows, 7200 points, in one 50,000-row
        // batch of 2 hosts × 10 fields = 20 series.
        assert_eq!(
            (ingest.calls.get(), ingest.series.get(), first.points),
            (1, 20, 7200)
        );
        assert!(
            ensure_demo_data(&ingest, dir.path(), &config, Progress::Quiet)
                .unwrap()
                .is_none()
        );
        assert_eq!(ingest.calls.get(), 1);
        let other = DemoConfig { hosts: 3, ..config };
        let err = ensure_demo_data(&ingest, dir.path(), &other, Progress::Quiet).unwrap_err();
        assert!(
            err.to_string().contains("generated with hosts=2 hours=1"),
            "{err}"
        );
    }

    /// The real store's ingest, stopping (as a `kill -9` would) right after
    /// the store accepted batch number `stop_after` (1-based), before the
    /// progress file records it; counts the compactions asked.
    struct Interrupted {
        inner: Box<dyn Ingest>,
        stop_after: usize,
        calls: Cell<usize>,
        compactions: Cell<usize>,
    }

    impl Interrupted {
        fn open(dir: &Path, stop_after: usize) -> Self {
            let backend = crate::cli::wiring::open(dir, crate::cli::backend::OpenMode::Create);
            Interrupted {
                inner: backend.unwrap().ingest,
                stop_after,
                calls: Cell::new(0),
                compactions: Cell::new(0),
            }
        }
    }

    impl Ingest for Interrupted {
        fn write_lines(&self, _: &str, _: Precision) -> Result<WriteSummary> {
            Err(CliError::Data("the demo writes typed points".into()))
        }

        fn write_series(&self, batch: Vec<SeriesPoints>) -> Result<WriteSummary> {
            let written = self.inner.write_series(batch)?;
            self.calls.set(self.calls.get() + 1);
            if self.calls.get() == self.stop_after {
                return Err(CliError::Data("killed".into()));
            }
            Ok(written)
        }

        fn compact(&self) -> Result<()> {
            self.compactions.set(self.compactions.get() + 1);
            self.inner.compact()
        }

        fn close(&self, compact: bool) -> Result<Option<tsq_storage::tsm::compact::CompactReport>> {
            self.inner.close(compact)
        }
    }

    /// Every point of the store in `dir`, per series key, in time order.
    fn points(dir: &Path) -> Vec<(String, Vec<i64>, Values)> {
        let (store, _) = Store::open(dir, StoreOptions::default()).unwrap();
        let mut out = Vec::new();
        for set in store.tag_sets("cpu") {
            let rows = store
                .tag_set_rows(&set, i64::MIN, i64::MAX)
                .unwrap()
                .unwrap();
            for (f, field) in set.fields.iter().zip(rows.fields) {
                let key = format!("{:?}#{}", set.tags, f.field);
                out.push((key, rows.times.clone(), field.values));
            }
        }
        store.close().unwrap();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn an_interrupted_run_resumes_to_the_same_points() {
        // 3 hosts × 2 h across midnight (2,160 rows), 500-row batches: the
        // batch from row 1,500 (timestamp 500, after 360 in the first day)
        // is the first of day two
        let config = DemoConfig {
            hosts: 3,
            hours: 2,
            start: DemoConfig::default().start + SHARD_NS - 3_600_000_000_000,
            ..DemoConfig::default()
        };
        let (whole, cut) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let reference = Interrupted::open(whole.path(), usize::MAX);
        let run =
            ensure_demo_data_in_chunks(&reference, whole.path(), &config, Progress::Quiet, 500);
        let run = run.unwrap().unwrap();
        assert_eq!((run.summary.points, run.resumed_after_rows), (21_600, 0));
        // five batches, one compaction when day two began
        assert_eq!((reference.calls.get(), reference.compactions.get()), (5, 1));
        reference.close(false).unwrap();
        drop(reference);

        // killed right after the store took batch 2 (rows 500..1000): the
        // progress file says 500 rows
        let first = Interrupted::open(cut.path(), 2);
        let err = ensure_demo_data_in_chunks(&first, cut.path(), &config, Progress::Quiet, 500);
        assert_eq!(err.unwrap_err().to_string(), "killed");
        drop(first);
        let progress = std::fs::read_to_string(cut.path().join(PROGRESS)).unwrap();
        assert_eq!(progress, format!("{}rows=500\n", marker_text(&config)));
        assert!(!cut.path().join(MARKER).exists());

        let second = Interrupted::open(cut.path(), usize::MAX);
        let run = ensure_demo_data_in_chunks(&second, cut.path(), &config, Progress::Quiet, 500);
        let run = run.unwrap().unwrap();
        // 500 rows stepped over, 1,660 written (rows 500..1000 a second time)
        assert_eq!((run.resumed_after_rows, run.summary.points), (500, 16_600));
        second.close(false).unwrap();
        drop(second);
        assert!(cut.path().join(MARKER).exists());
        assert!(!cut.path().join(PROGRESS).exists());

        let (want, got) = (points(whole.path()), points(cut.path()));
        // 3 hosts × 10 fields, 720 points each: no point twice, none missing
        assert_eq!(got.len(), 30);
        assert!(got.iter().all(|(_, times, _)| times.len() == 720));
        assert_eq!(got, want);
    }

    #[test]
    fn a_progress_file_of_another_dataset_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = DemoConfig {
            hosts: 2,
            hours: 1,
            ..DemoConfig::default()
        };
        let other = DemoConfig { hosts: 5, ..config };
        write_progress(dir.path(), &marker_text(&other), 100).unwrap();
        assert_eq!(rows_written(dir.path(), &marker_text(&other)).unwrap(), 100);
        let err = ensure_demo_data(&Counter::default(), dir.path(), &config, Progress::Quiet);
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("generated with hosts=5 hours=1"),
            "wrong error"
        );
    }

    #[test]
    fn disk_usage_sums_the_files_below() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 10]).unwrap();
        std::fs::write(dir.path().join("sub").join("b"), [0u8; 32]).unwrap();
        assert_eq!(disk_usage(dir.path()), 42);
    }
}
