//! `tsq repair`: rebuilds what can be rebuilt in a store directory, never
//! deleting data (docs/storage.md, "Checking and repairing a store"). It runs
//! on a closed store: it takes the directory's writer lock before it moves
//! anything, so a store in use makes it fail with the "in use" error.
//!
//! - A TSM file whose header, footer or index is damaged cannot be read at
//!   all: its blocks carry no series key, so without the index no block can
//!   be attributed to a series. It is moved, with its tombstone file, into
//!   `<dir>/quarantine/shards/<start>/`.
//! - A TSM file whose index is intact but some blocks are damaged is moved
//!   into quarantine, and a new file of the same name is written from its
//!   readable blocks (its tombstones are copied back beside it).
//! - A TSM file whose tombstone file is damaged is quarantined with it:
//!   reading it without its deletes would bring deleted points back.
//! - A damaged series log is copied into quarantine (the open below
//!   rewrites it); damaged WAL segments stay until the store is opened.
//! - Then the store is opened read-write (which replays the WAL's intact
//!   records, cuts torn tails and rebuilds a damaged series log), the series
//!   index is rebuilt from the TSM files ([`Store::rebuild_index`]), and the
//!   store is closed, which flushes the replayed points into TSM files. WAL
//!   segments with damaged records, kept after that as
//!   `wal/NNNNNNNN.wal.damaged` to mark the lost points, are then moved into
//!   `<dir>/quarantine/wal/`.

use std::fs;
use std::path::{Path, PathBuf};

use super::check::{check_dir, CheckReport, FileCheck, FileKind};
use super::error::{IoContext, Result, TsmError};
use super::file::reader::TsmReader;
use super::file::writer::TsmWriter;
use super::lock::lock_writer;
use super::tombstone::{self, tombstone_path};
use super::value::{merge_chunks, Values};
use super::{Store, StoreOptions};

/// One thing `repair_dir` did or could not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairAction {
    /// A file was moved into quarantine as a whole.
    Quarantined {
        /// Where it was.
        path: PathBuf,
        /// Where it is now.
        to: PathBuf,
        /// Why (the check's finding).
        reason: String,
    },
    /// A TSM file was rewritten from its readable blocks; the original is in
    /// quarantine.
    Salvaged {
        /// The file (rewritten in place).
        path: PathBuf,
        /// Where the original is now.
        original: PathBuf,
        /// Blocks kept.
        kept_blocks: usize,
        /// Blocks lost.
        lost: Vec<LostBlock>,
    },
    /// A copy of a damaged file was put into quarantine before the file
    /// was rewritten.
    Copied {
        /// The file.
        path: PathBuf,
        /// Where the copy is.
        to: PathBuf,
        /// Why (the check's finding).
        reason: String,
    },
    /// A damaged file left alone, and why.
    Left {
        /// The file.
        path: PathBuf,
        /// Why nothing was done.
        reason: String,
    },
}

/// A block that could not be salvaged, as the index describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostBlock {
    /// Its series key.
    pub key: String,
    /// Its first timestamp.
    pub min: i64,
    /// Its last timestamp.
    pub max: i64,
}

/// What [`rebuild_series_index`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRebuild {
    /// Series the index held after the open (ids unchanged).
    pub kept: usize,
    /// Series added from the TSM files' indexes.
    pub added: usize,
    /// Keys that could not be added, with the reason.
    pub skipped: Vec<String>,
    /// The open's warnings (WAL records skipped, torn tails cut, a damaged
    /// series log rebuilt).
    pub open_warnings: Vec<String>,
}

/// Everything `repair_dir` did, and the check after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// What was done, file by file.
    pub actions: Vec<RepairAction>,
    /// The series index rebuild.
    pub index: IndexRebuild,
    /// [`check_dir`] after the repair.
    pub after: CheckReport,
}

/// Repairs the store in `dir` (closed): see the module docs. Fails with
/// [`TsmError::InUse`] before changing anything when a process has the
/// store open for writing.
pub fn repair_dir(dir: &Path) -> Result<RepairReport> {
    let before = check_dir(dir)?;
    let writer = lock_writer(dir)?;
    let mut actions = Vec::new();
    let mut done: Vec<PathBuf> = Vec::new();
    for f in before.damaged() {
        if done.contains(&f.path) {
            continue;
        }
        match f.kind {
            FileKind::Tsm => repair_tsm(dir, f, &mut actions, &mut done)?,
            FileKind::Tombstone if tombstone::load(&tsm_of_tombstone(&f.path)).is_ok() => {
                actions.push(RepairAction::Left {
                    path: f.path.clone(),
                    reason: format!(
                        "{}; a delete that never returned, ignored by reads and cut off \
                         before the next delete",
                        first_problem(f)
                    ),
                });
            }
            FileKind::Tombstone => {
                let tsm = tsm_of_tombstone(&f.path);
                let reason = format!(
                    "its tombstone file is damaged ({}); reading it without its deletes \
                     would bring deleted points back",
                    first_problem(f)
                );
                quarantine_tsm(dir, &tsm, &reason, &mut actions)?;
                done.push(tsm);
            }
            FileKind::SeriesLog => {
                let to = quarantine_path(dir, &f.path)?;
                copy_file(&f.path, &to)?;
                actions.push(RepairAction::Copied {
                    path: f.path.clone(),
                    to,
                    reason: format!(
                        "{}; the open below rebuilds the series index",
                        first_problem(f)
                    ),
                });
            }
            FileKind::Wal => actions.push(RepairAction::Left {
                path: f.path.clone(),
                reason: format!(
                    "{}; the open below replays its intact records and the close flushes \
                     them into TSM files",
                    first_problem(f)
                ),
            }),
            FileKind::Temporary => {}
        }
    }
    // The open takes the lock itself; between the two a writer could slip
    // in, and then the open fails with the "in use" error.
    drop(writer);
    let index = rebuild_series_index(dir)?;
    let writer = lock_writer(dir)?;
    quarantine_damaged_wal(dir, &mut actions)?;
    drop(writer);
    let after = check_dir(dir)?;
    Ok(RepairReport {
        actions,
        index,
        after,
    })
}

/// Rebuilds the series index of the store in `dir` from its TSM files and
/// WAL: opens the store read-write with the default options (replaying the
/// WAL), runs [`Store::rebuild_index`] and closes the store (its cache
/// flushed into TSM files). Fails with [`TsmError::InUse`] when the store is
/// open elsewhere.
pub fn rebuild_series_index(dir: &Path) -> Result<IndexRebuild> {
    let (store, opened) = Store::open(dir, StoreOptions::default())?;
    let report = store.rebuild_index()?;
    store.close()?;
    Ok(IndexRebuild {
        kept: report.kept,
        added: report.added,
        skipped: report.skipped,
        open_warnings: opened.warnings,
    })
}

/// Moves `wal/*.wal.damaged` (segments whose intact records are in TSM
/// files and whose damaged records are lost) into quarantine.
fn quarantine_damaged_wal(dir: &Path, actions: &mut Vec<RepairAction>) -> Result<()> {
    let wal = dir.join("wal");
    let entries = match fs::read_dir(&wal) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(TsmError::io(&wal, e)),
    };
    let mut damaged = Vec::new();
    for e in entries {
        let path = e.at(&wal)?.path();
        if path.to_string_lossy().ends_with(".wal.damaged") {
            damaged.push(path);
        }
    }
    damaged.sort();
    for path in damaged {
        let to = quarantine_path(dir, &path)?;
        move_file(&path, &to)?;
        actions.push(RepairAction::Quarantined {
            path,
            to,
            reason: "WAL segment with damaged records: its intact records are in TSM files, \
                     the points of the damaged ones are lost"
                .into(),
        });
    }
    Ok(())
}

fn first_problem(f: &FileCheck) -> String {
    f.problems.first().map_or_else(String::new, |p| {
        format!("at offset {}: {}", p.offset, p.message)
    })
}

/// `x.tsm` for `x.tsm.tombstone`.
fn tsm_of_tombstone(path: &Path) -> PathBuf {
    path.with_extension("")
}

/// A damaged TSM file: salvaged when its index reads, quarantined otherwise.
fn repair_tsm(
    dir: &Path,
    f: &FileCheck,
    actions: &mut Vec<RepairAction>,
    done: &mut Vec<PathBuf>,
) -> Result<()> {
    done.push(f.path.clone());
    let index_ok = TsmReader::open_without_tombstones(&f.path).is_ok();
    let stones = tombstone_path(&f.path);
    // A torn tail (a delete that never returned) is not damage.
    let stones_ok = tombstone::load(&f.path).is_ok();
    done.push(stones.clone());
    if !index_ok || !stones_ok {
        let reason = if index_ok {
            format!(
                "its tombstone file is damaged; reading it without its deletes would bring \
                 deleted points back (the file itself: {})",
                first_problem(f)
            )
        } else {
            format!(
                "{}; without its index no block can be attributed to a series",
                first_problem(f)
            )
        };
        return quarantine_tsm(dir, &f.path, &reason, actions);
    }
    let original = quarantine_path(dir, &f.path)?;
    move_file(&f.path, &original)?;
    let had_stones = stones.exists();
    if had_stones {
        move_file(&stones, &tombstone_path(&original))?;
    }
    let (kept_blocks, lost) = salvage(&original, &f.path)?;
    if had_stones && f.path.exists() {
        let copy = tombstone_path(&original);
        fs::copy(&copy, &stones).at(&stones)?;
    }
    actions.push(RepairAction::Salvaged {
        path: f.path.clone(),
        original,
        kept_blocks,
        lost,
    });
    Ok(())
}

/// Writes the readable blocks of `from` (whose index reads) into a new TSM
/// file `to`; returns the blocks kept and the blocks lost. Writes nothing
/// when no block is readable.
fn salvage(from: &Path, to: &Path) -> Result<(usize, Vec<LostBlock>)> {
    let reader = TsmReader::open_without_tombstones(from)?;
    let mut writer = TsmWriter::create(to)?;
    let mut kept = 0;
    let mut lost = Vec::new();
    for entry in reader.index() {
        let mut chunks: Vec<(Vec<i64>, Values)> = Vec::new();
        for b in &entry.blocks {
            match reader.read_block(entry, b) {
                Ok(chunk) if chunk.0.first() == Some(&b.min) && chunk.0.last() == Some(&b.max) => {
                    kept += 1;
                    chunks.push(chunk);
                }
                _ => lost.push(LostBlock {
                    key: entry.key.clone(),
                    min: b.min,
                    max: b.max,
                }),
            }
        }
        if !chunks.is_empty() {
            let (times, values) = merge_chunks(chunks, entry.ty);
            writer.write_series(&entry.key, &times, &values)?;
        }
    }
    if writer.is_empty() {
        let tmp = to.with_extension("tsm.tmp");
        drop(writer);
        fs::remove_file(&tmp).at(&tmp)?;
    } else {
        writer.finish()?;
    }
    Ok((kept, lost))
}

/// Moves a TSM file and its tombstone file (if any) into quarantine.
fn quarantine_tsm(
    dir: &Path,
    path: &Path,
    reason: &str,
    actions: &mut Vec<RepairAction>,
) -> Result<()> {
    let to = quarantine_path(dir, path)?;
    for (from, to) in [
        (path.to_path_buf(), to.clone()),
        (tombstone_path(path), tombstone_path(&to)),
    ] {
        if !from.exists() {
            continue;
        }
        move_file(&from, &to)?;
        actions.push(RepairAction::Quarantined {
            path: from,
            to,
            reason: reason.to_string(),
        });
    }
    Ok(())
}

/// `<dir>/quarantine/<path relative to dir>`, with `.1`, `.2`, ... appended
/// when that name is taken (an earlier repair).
fn quarantine_path(dir: &Path, path: &Path) -> Result<PathBuf> {
    let rel = path.strip_prefix(dir).map_err(|_| {
        TsmError::Invalid(format!(
            "{} is not inside {}",
            path.display(),
            dir.display()
        ))
    })?;
    let base = dir.join("quarantine").join(rel);
    let mut candidate = base.clone();
    let mut n = 0;
    while candidate.exists() || tombstone_path(&candidate).exists() {
        n += 1;
        let mut name = base.as_os_str().to_owned();
        name.push(format!(".{n}"));
        candidate = PathBuf::from(name);
    }
    Ok(candidate)
}

/// Copies `from` to `to` (creating `to`'s directory) and fsyncs the copy.
fn copy_file(from: &Path, to: &Path) -> Result<()> {
    let parent = to.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).at(parent)?;
    fs::copy(from, to).at(from)?;
    fs::File::open(to).and_then(|f| f.sync_all()).at(to)?;
    fs::File::open(parent).and_then(|f| f.sync_all()).at(parent)
}

/// Renames `from` to `to` (creating `to`'s directory) and fsyncs both directories.
fn move_file(from: &Path, to: &Path) -> Result<()> {
    let parent = to.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).at(parent)?;
    fs::rename(from, to).at(from)?;
    for d in [parent, from.parent().unwrap_or(Path::new("."))] {
        fs::File::open(d).and_then(|f| f.sync_all()).at(d)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsm::check::tests::small_store;

    #[test]
    fn bad_blocks_are_salvaged_and_a_bad_index_is_quarantined() {
        let dir = small_store("repair_salvage");
        let tsm = dir.join("shards/0/0000000001-0000000001-1.tsm");
        let r = TsmReader::open(&tsm).unwrap();
        let b_block = r.entry("m,host=b#v").unwrap().blocks[0];
        drop(r);
        let mut bytes = fs::read(&tsm).unwrap();
        bytes[b_block.offset as usize + 5] ^= 0xFF;
        fs::write(&tsm, &bytes).unwrap();
        let report = repair_dir(&dir).unwrap();
        let q = dir.join("quarantine/shards/0/0000000001-0000000001-1.tsm");
        assert_eq!(
            report.actions,
            vec![RepairAction::Salvaged {
                path: tsm.clone(),
                original: q.clone(),
                kept_blocks: 1,
                lost: vec![LostBlock {
                    key: "m,host=b#v".into(),
                    min: 1,
                    max: 3
                }],
            }]
        );
        // The series log names a, b and c (c only in the WAL): all kept.
        assert_eq!(
            report.index,
            IndexRebuild {
                kept: 3,
                added: 0,
                skipped: vec![],
                open_warnings: vec![],
            }
        );
        assert!(report.after.is_clean(), "{:?}", report.after);
        assert_eq!(
            fs::read(&q).unwrap(),
            bytes,
            "the original is kept as it was"
        );
        // The salvaged file holds a's points; its tombstone (the delete of
        // [2, 3), that is t = 2) still applies.
        let r = TsmReader::open(&tsm).unwrap();
        let keys: Vec<&str> = r.index().iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, vec!["m,host=a#v"]);
        let (t, v) = r.read_series("m,host=a#v", 0, 9).unwrap().unwrap();
        assert_eq!((t, v), (vec![1, 3], Values::Float(vec![1.0, 3.0])));
        drop(r);

        // Now damage the footer of the salvaged file: quarantined whole, with
        // its tombstones, under a new name since the first one is taken.
        let mut bytes = fs::read(&tsm).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 0xFF;
        fs::write(&tsm, &bytes).unwrap();
        let report = repair_dir(&dir).unwrap();
        let reason = format!(
            "at offset {}: bad footer magic (file truncated or damaged); without its index \
             no block can be attributed to a series",
            n - 20
        );
        let q1 = dir.join("quarantine/shards/0/0000000001-0000000001-1.tsm.1");
        assert_eq!(
            report.actions,
            vec![
                RepairAction::Quarantined {
                    path: tsm.clone(),
                    to: q1.clone(),
                    reason: reason.clone(),
                },
                RepairAction::Quarantined {
                    path: tombstone_path(&tsm),
                    to: tombstone_path(&q1),
                    reason,
                },
            ]
        );
        assert!(!tsm.exists() && report.after.is_clean());
    }

    #[test]
    fn a_store_in_use_is_refused_before_anything_moves() {
        let dir = small_store("repair_in_use");
        let tsm = dir.join("shards/0/0000000001-0000000001-1.tsm");
        let mut bytes = fs::read(&tsm).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 0xFF;
        fs::write(&tsm, &bytes).unwrap();
        let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
        let err = repair_dir(&dir).unwrap_err();
        assert!(
            matches!(err, TsmError::InUse { reading: false, .. }),
            "{err}"
        );
        assert!(
            err.to_string().starts_with(&format!(
                "store {} is in use by pid {}",
                dir.display(),
                std::process::id()
            )),
            "{err}"
        );
        assert_eq!(fs::read(&tsm).unwrap(), bytes, "nothing moved");
        assert!(!dir.join("quarantine").exists());
        drop(store);
        assert!(repair_dir(&dir).unwrap().after.is_clean());
    }

    #[test]
    fn a_damaged_series_log_is_copied_aside_and_rebuilt() {
        let dir = small_store("repair_series_log");
        let log = dir.join("series.log");
        let clean = fs::read(&log).unwrap();
        // Three records of equal size (a, b, c): damage b's payload.
        let rec = clean.len() / 3;
        let mut bytes = clean.clone();
        bytes[rec + 20] ^= 0xFF;
        fs::write(&log, &bytes).unwrap();
        let report = repair_dir(&dir).unwrap();
        let copy = dir.join("quarantine/series.log");
        assert_eq!(
            report.actions,
            vec![RepairAction::Copied {
                path: log.clone(),
                to: copy.clone(),
                reason: format!(
                    "at offset {rec}: bytes {rec}..{} damaged: payload checksum mismatch ({} \
                     bytes); the open below rebuilds the series index",
                    2 * rec,
                    rec - 16
                ),
            }]
        );
        assert_eq!(fs::read(&copy).unwrap(), bytes);
        // The open kept a and c and recovered b from the TSM file's index.
        assert_eq!((report.index.kept, report.index.added), (3, 0));
        assert_eq!(
            report.index.open_warnings.last().unwrap(),
            &format!(
                "series log {} was damaged; rebuilt it: 2 series kept, 1 recovered from TSM \
                 file indexes",
                log.display()
            )
        );
        assert!(report.after.is_clean(), "{:?}", report.after);
    }

    #[test]
    fn a_damaged_wal_segment_is_flushed_then_quarantined() {
        let dir = small_store("repair_wal");
        let seg = dir.join("wal/00000002.wal");
        let mut bytes = fs::read(&seg).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 0xFF; // in the write of c, the second record
        fs::write(&seg, &bytes).unwrap();
        let report = repair_dir(&dir).unwrap();
        let q = dir.join("quarantine/wal/00000002.wal.damaged");
        assert_eq!(report.actions.len(), 2, "{:?}", report.actions);
        assert!(
            matches!(&report.actions[0], RepairAction::Left { path, .. } if *path == seg),
            "{:?}",
            report.actions
        );
        assert_eq!(
            report.actions[1],
            RepairAction::Quarantined {
                path: dir.join("wal/00000002.wal.damaged"),
                to: q.clone(),
                reason: "WAL segment with damaged records: its intact records are in TSM \
                         files, the points of the damaged ones are lost"
                    .into(),
            }
        );
        assert_eq!(fs::read(&q).unwrap(), bytes, "kept as it was");
        assert!(report.after.is_clean(), "{:?}", report.after);
        // The store opens without warnings and c's lost points are gone.
        let (store, opened) = Store::open(&dir, StoreOptions::default()).unwrap();
        assert_eq!(opened.warnings, Vec::<String>::new());
        assert!(store.file_set().unreadable().is_empty());
    }
}
