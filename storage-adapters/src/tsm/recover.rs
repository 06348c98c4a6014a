//! Rebuilding the series index (`docs/storage.md`, "Recovery"). Every TSM
//! file's index lists the text keys and types of its series, and the WAL
//! names the series of every write it holds, so the series log can always be
//! rebuilt: at open when the log failed a checksum (or is missing while TSM
//! files exist), and on demand through [`Store::rebuild_index`] (`tsq
//! repair`). Series ids are in-memory positions only, so the rebuild at open,
//! which runs before the WAL is replayed, may renumber freely; an open
//! store's rebuild keeps every id it has handed out.

use std::path::Path;

use super::error::{Result, TsmError};
use super::index::{RebuildReport, SeriesIndex};
use super::shard::{self, FileSet};
use super::store::Store;
use crate::sync::{lock, write};

/// Loads the TSM files of the store in `dir` and its series index side by
/// side, on two threads (at 40,000 series each is about half of an open,
/// docs/storage.md "Opening a store"), then checks the index against the
/// files: the index is rebuilt from them (with a warning) when its log is
/// damaged, or missing while files exist; a `read_only` open rebuilds in
/// memory and leaves `series.log` as it is. Warnings come in the order
/// files, index.
pub(crate) fn load(
    dir: &Path,
    read_only: bool,
    warnings: &mut Vec<String>,
) -> Result<(FileSet, SeriesIndex)> {
    let path = dir.join("series.log");
    let (files, log) = std::thread::scope(|s| {
        let log = s.spawn(|| open_log(&path, read_only));
        let mut file_warnings = Vec::new();
        let files = shard::load(dir, !read_only, &mut file_warnings);
        (files.map(|f| (f, file_warnings)), log.join())
    });
    let (files, file_warnings) = files?;
    warnings.extend(file_warnings);
    let (index, warning) = log.map_err(|_| {
        TsmError::Invalid(format!(
            "opening the series index {} panicked",
            path.display()
        ))
    })??;
    warnings.extend(warning);
    let index = check_index(&path, index, &files, read_only, warnings)?;
    Ok((files, index))
}

/// The series log at `path`, opened for writing or read-only.
fn open_log(path: &Path, read_only: bool) -> Result<(SeriesIndex, Option<String>)> {
    if read_only {
        SeriesIndex::open_read_only(path)
    } else {
        SeriesIndex::open(path)
    }
}

/// `index` as loaded from `path`, rebuilt from `files` when damaged or
/// lost (see [`load`]).
fn check_index(
    path: &Path,
    mut index: SeriesIndex,
    files: &FileSet,
    read_only: bool,
    warnings: &mut Vec<String>,
) -> Result<SeriesIndex> {
    let lost = index.is_empty() && files.files().next().is_some();
    if index.log_damaged() || lost {
        let report = rebuild_from(&mut index, files)?;
        warnings.push(format!(
            "series log {} {}; {}: {} series kept, {} recovered from TSM file \
             indexes{}",
            path.display(),
            if lost { "was empty" } else { "was damaged" },
            if read_only {
                "rebuilt the index in memory (read-only open: the log is left as it is)"
            } else {
                "rebuilt it"
            },
            report.kept,
            report.added,
            skipped_note(&report)
        ));
    }
    Ok(index)
}

fn rebuild_from(index: &mut SeriesIndex, files: &FileSet) -> Result<RebuildReport> {
    index.rebuild(
        files
            .files()
            .flat_map(|f| f.index().iter().map(|e| (e.key.as_str(), e.ty))),
    )
}

fn skipped_note(report: &RebuildReport) -> String {
    if report.skipped.is_empty() {
        return String::new();
    }
    format!(
        "; {} keys skipped: {}",
        report.skipped.len(),
        report.skipped.join("; ")
    )
}

impl Store {
    /// Rebuilds the series index and rewrites `series.log` from the series
    /// the store knows plus every key of its TSM files (ids already handed
    /// out do not change). Writes wait while it runs.
    pub fn rebuild_index(&self) -> Result<RebuildReport> {
        let _w = lock(&self.inner.writer);
        let files = self.file_set();
        let mut index = write(&self.inner.index);
        rebuild_from(&mut index, &files)
    }
}
