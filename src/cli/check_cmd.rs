//! `tsq check` and `tsq repair` (docs/cli.md): print what
//! `tsq_storage::tsm::check` found in a data directory, or what
//! `tsq_storage::tsm::repair` did to it. One line per file, paths relative to
//! the directory:
//!
//! ```text
//! series.log: ok, 3 series
//! shards/0/0000000001-0000000002-2.tsm: DAMAGED at offset 181: block checksum mismatch
//! 5 files checked: 1 damaged (`tsq repair --data d` moves damaged TSM files aside and salvages their readable blocks)
//! ```
//! `check` exits 0 when every file is intact, 1 otherwise; `repair` exits 0
//! when the store checks clean afterwards.

use std::io::Write;
use std::path::Path;

use tsq_storage::tsm::check::{check_dir, CheckReport};
use tsq_storage::tsm::repair::{repair_dir, IndexRebuild, RepairAction};

use crate::cli::backend::{CliError, Result};

/// `tsq check --data DIR`: verifies every file read-only; the exit code.
pub fn check(dir: &Path, out: &mut dyn Write) -> Result<i32> {
    require_dir(dir)?;
    let report = check_dir(dir).map_err(|e| CliError::Data(e.to_string()))?;
    write_report(dir, &report, out).map_err(io_error)?;
    let damaged = report.damaged().count();
    let n = report.files.len();
    if damaged == 0 {
        writeln!(out, "{n} files checked: all intact").map_err(io_error)?;
        return Ok(0);
    }
    writeln!(
        out,
        "{n} files checked: {damaged} damaged (`tsq repair --data {}` moves damaged TSM files \
         aside and salvages their readable blocks)",
        dir.display()
    )
    .map_err(io_error)?;
    Ok(1)
}

/// `tsq repair --data DIR`: repairs a closed store; the exit code.
pub fn repair(dir: &Path, out: &mut dyn Write) -> Result<i32> {
    require_dir(dir)?;
    let report = repair_dir(dir).map_err(|e| CliError::Data(e.to_string()))?;
    for action in &report.actions {
        writeln!(out, "{}", describe_action(dir, action)).map_err(io_error)?;
    }
    write_index(&report.index, out).map_err(io_error)?;
    writeln!(out, "after the repair:").map_err(io_error)?;
    write_report(dir, &report.after, out).map_err(io_error)?;
    let damaged = report.after.damaged().count();
    let verdict = if damaged == 0 {
        "all intact".to_string()
    } else {
        format!("{damaged} still damaged")
    };
    writeln!(out, "{} files: {verdict}", report.after.files.len()).map_err(io_error)?;
    Ok(if damaged == 0 { 0 } else { 1 })
}

/// The open's warnings, then `series index: rebuilt: K series kept, M added
/// from TSM file indexes` and the keys skipped.
fn write_index(index: &IndexRebuild, out: &mut dyn Write) -> std::io::Result<()> {
    for w in &index.open_warnings {
        writeln!(out, "open: {w}")?;
    }
    writeln!(
        out,
        "series index: rebuilt: {} series kept, {} added from TSM file indexes",
        index.kept, index.added
    )?;
    for k in &index.skipped {
        writeln!(out, "series index: skipped {k}")?;
    }
    Ok(())
}

fn require_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    Err(CliError::Data(format!(
        "no data directory at {}",
        dir.display()
    )))
}

/// One line per file: `path: ok, summary` or `path: DAMAGED at offset N: what`.
fn write_report(dir: &Path, report: &CheckReport, out: &mut dyn Write) -> std::io::Result<()> {
    for f in &report.files {
        let path = relative(dir, &f.path);
        if f.problems.is_empty() {
            writeln!(out, "{path}: ok, {}", f.summary)?;
        }
        for p in &f.problems {
            writeln!(out, "{path}: DAMAGED at offset {}: {}", p.offset, p.message)?;
        }
    }
    Ok(())
}

fn describe_action(dir: &Path, action: &RepairAction) -> String {
    match action {
        RepairAction::Quarantined { path, to, reason } => format!(
            "{}: moved to {} ({reason})",
            relative(dir, path),
            relative(dir, to)
        ),
        RepairAction::Salvaged {
            path,
            original,
            kept_blocks,
            lost,
        } => {
            let lost_text: Vec<String> = lost
                .iter()
                .map(|b| format!("{} {}..={}", b.key, b.min, b.max))
                .collect();
            format!(
                "{}: rewritten from its {kept_blocks} readable blocks; {} blocks lost ({}); \
                 the original is in {}",
                relative(dir, path),
                lost.len(),
                lost_text.join(", "),
                relative(dir, original)
            )
        }
        RepairAction::Copied { path, to, reason } => format!(
            "{}: copied to {} ({reason})",
            relative(dir, path),
            relative(dir, to)
        ),
        RepairAction::Left { path, reason } => {
            format!("{}: left as is ({reason})", relative(dir, path))
        }
    }
}

fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

fn io_error(e: std::io::Error) -> CliError {
    CliError::Data(format!("cannot write the output: {e}"))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::Arc;

    use tsq_storage::tsm::file::reader::TsmReader;

    use super::*;
    use crate::cli::backend::{OpenMode, Precision};
    use crate::cli::repl::{run_repl, ReaderSource};
    use crate::cli::runner::Runner;
    use crate::cli::wiring::open;

    /// Points of m,host=a at t = 1 s, 2 s flushed into
    /// `shards/0/0000000001-0000000001-1.tsm` (one day shards), plus `extra`
    /// line protocol (seconds).
    fn store(name: &str, extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(name);
        {
            let backend = open(&dir, OpenMode::Create).unwrap();
            backend
                .ingest
                .write_lines(
                    &format!("m,host=a v=1 1\nm,host=a v=2 2\n{extra}"),
                    Precision::S,
                )
                .unwrap();
        }
        let (store, _) =
            tsq_storage::tsm::Store::open(&dir, tsq_storage::tsm::StoreOptions::default()).unwrap();
        store.flush().unwrap();
        (tmp, dir)
    }

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn check_reports_each_file_then_repair_salvages_nothing_and_quarantines() {
        let (_tmp, dir) = store("d", "");
        let mut out = Vec::new();
        assert_eq!(check(&dir, &mut out).unwrap(), 0);
        let wal: Vec<String> = fs::read_dir(dir.join("wal"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(wal.iter().all(|w| w.ends_with(".wal")));
        let report = text(out);
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines[0], "series.log: ok, 1 series");
        assert_eq!(
            lines[lines.len() - 2],
            "shards/0/0000000001-0000000001-1.tsm: ok, 1 series, 1 blocks, 2 points"
        );
        assert_eq!(
            lines[lines.len() - 1],
            format!("{} files checked: all intact", 2 + wal.len())
        );

        // Damage the file's only block: check says where; repair keeps
        // nothing (no readable block) and moves the original aside.
        let tsm = dir.join("shards/0/0000000001-0000000001-1.tsm");
        let at = TsmReader::open(&tsm).unwrap().index()[0].blocks[0].offset;
        let mut b = fs::read(&tsm).unwrap();
        b[at as usize] ^= 0xFF;
        fs::write(&tsm, &b).unwrap();
        let mut out = Vec::new();
        assert_eq!(check(&dir, &mut out).unwrap(), 1);
        let report = text(out);
        assert!(
            report.contains(&format!(
                "shards/0/0000000001-0000000001-1.tsm: DAMAGED at offset {at}: block checksum mismatch\n"
            )),
            "{report}"
        );
        let mut out = Vec::new();
        assert_eq!(repair(&dir, &mut out).unwrap(), 0);
        let report = text(out);
        assert!(
            report.starts_with(
                "shards/0/0000000001-0000000001-1.tsm: rewritten from its 0 readable blocks; \
                 1 blocks lost (m,host=a#v 1000000000..=2000000000); the original is in \
                 quarantine/shards/0/0000000001-0000000001-1.tsm\n\
                 series index: rebuilt: 1 series kept, 0 added from TSM file indexes\n\
                 after the repair:\n"
            ),
            "{report}"
        );
        assert_eq!(
            fs::read(dir.join("quarantine/shards/0/0000000001-0000000001-1.tsm")).unwrap(),
            b
        );
        assert!(!tsm.exists());
    }

    #[test]
    fn a_missing_directory_is_an_error_and_is_not_created() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("none");
        for run in [check, repair] {
            let err = run(&dir, &mut Vec::new()).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("no data directory at {}", dir.display())
            );
        }
        assert!(!dir.exists());
    }

    #[test]
    fn queries_fail_on_a_damaged_file_unless_partial_results_are_allowed() {
        // A third point, 5, in the next day's shard.
        let (_tmp, dir) = store("p", "m,host=a v=5 86401\n");
        let tsm = dir.join("shards/0/0000000001-0000000001-1.tsm");
        let mut b = fs::read(&tsm).unwrap();
        let n = b.len();
        b[n - 1] ^= 0xFF; // the footer magic
        fs::write(&tsm, &b).unwrap();
        let backend = open(&dir, OpenMode::Existing).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut runner = Runner::new(Arc::clone(&backend.engine), rt.handle().clone());
        runner.format = crate::cli::format::OutputFormat::Csv;
        let q = "SELECT max(v) FROM m";
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(!runner.run_script(q, &mut out, &mut err));
        let problem = format!(
            "corrupt file {} at offset {}: bad footer magic (file truncated or damaged)",
            tsm.display(),
            n - 20
        );
        assert_eq!(
            text(err),
            format!(
                "error: storage error: {problem}; the query's time range needs this file \
                 (allow partial results to leave it out)\n\
                 hint: `--allow-partial` (`\\set allow_partial on` in the REPL) runs queries \
                 without the damaged files; `tsq check` and `tsq repair` examine and fix the store\n"
            )
        );
        // A range that needs only the second day's shard runs.
        let day2 = "SELECT max(v) FROM m WHERE time >= '1970-01-02T00:00:00Z' \
                    AND time < '1970-01-03T00:00:00Z'";
        let (mut day2_out, mut err) = (Vec::new(), Vec::new());
        assert!(runner.run_script(day2, &mut day2_out, &mut err));
        assert_eq!(text(err), "");
        let day2_out = text(day2_out);
        assert!(day2_out.ends_with(",5\n"), "{day2_out}");
        assert!(!backend.engine.allow_partial());
        assert!(backend.engine.set_allow_partial(true));
        assert!(backend.engine.allow_partial());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(runner.run_script(q, &mut out, &mut err));
        assert_eq!(
            text(err),
            format!(
                "notice: partial result: left out {problem}; its points lie in \
                 [1970-01-01T00:00:00Z, 1970-01-02T00:00:00Z)\n"
            )
        );
        // Without day 1 the maximum is day 2's 5: the same rows.
        assert_eq!(text(out), day2_out);

        // The REPL's `\set allow_partial`.
        let input = "\\set allow_partial\n\\set allow_partial off\nSELECT max(v) FROM m;\n\
                     \\set allow_partial maybe\n";
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut source = ReaderSource(input.as_bytes());
        assert!(!run_repl(&mut runner, &mut source, &mut out, &mut err));
        assert_eq!(
            text(out),
            "allow_partial is on (queries run without damaged files and list them).\n\
             allow_partial is off (a query that needs a damaged file fails).\n"
        );
        let err = text(err);
        assert!(
            err.starts_with(&format!("error: storage error: {problem};")),
            "{err}"
        );
        assert!(
            err.ends_with("error: \\set allow_partial: expected on or off, got 'maybe'\n"),
            "{err}"
        );
        assert!(!backend.engine.allow_partial());
    }

    #[test]
    fn a_damaged_wal_record_fails_queries_unless_partial_results_are_allowed() {
        let (_tmp, dir) = store("w", "");
        {
            // b's point at 3 s stays in the WAL (no flush, no close).
            let (store, _) =
                tsq_storage::tsm::Store::open(&dir, tsq_storage::tsm::StoreOptions::default())
                    .unwrap();
            let lines = "m,host=b v=7 3000000000";
            let written = store
                .write_lines(lines, tsq_storage::line_protocol::Precision::Nanoseconds)
                .unwrap();
            assert_eq!(written.points_written, 1);
        }
        let mut segments: Vec<std::path::PathBuf> = fs::read_dir(dir.join("wal"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| fs::metadata(p).unwrap().len() > 0)
            .collect();
        assert_eq!(segments.len(), 1, "{segments:?}");
        let seg = segments.pop().unwrap();
        let mut b = fs::read(&seg).unwrap();
        let n = b.len();
        b[n - 1] ^= 0xFF; // in the payload of the only record
        fs::write(&seg, &b).unwrap();

        let backend = open(&dir, OpenMode::Existing).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut runner = Runner::new(Arc::clone(&backend.engine), rt.handle().clone());
        runner.format = crate::cli::format::OutputFormat::Csv;
        let q = "SELECT max(v) FROM m";
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(!runner.run_script(q, &mut out, &mut err));
        let problem = format!(
            "corrupt file {} at offset 0: damaged WAL record (bytes 0..{n}: payload checksum \
             mismatch ({} bytes)); the points it held are lost",
            seg.display(),
            n - 16
        );
        let err = text(err);
        assert!(
            err.starts_with(&format!(
                "error: storage error: {problem}; the query's time range needs this file \
                 (allow partial results to leave it out)\n"
            )),
            "{err}"
        );
        assert!(backend.engine.set_allow_partial(true));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(runner.run_script(q, &mut out, &mut err));
        assert_eq!(
            text(err),
            format!("notice: partial result: left out {problem}; its points may lie at any time\n")
        );
        // Without the lost point the maximum is a's 2.
        let out = text(out);
        assert!(out.ends_with(",2\n"), "{out}");
    }
}
