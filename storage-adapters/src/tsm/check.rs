//! `tsq check`: verifies every file of a store directory and reports what it
//! found, without changing anything (no file is created, truncated or
//! removed). It reads the series log, every WAL segment, every TSM file
//! (header, footer, index, then every block: CRC, decoding, and that its
//! first and last timestamps are those the index records) and every
//! tombstone file (docs/storage.md, "Checking and repairing a store").
//!
//! The series log, WAL and tombstone files are checked as sequences of
//! `[u32 length][u32 CRC32(payload)][payload]` records, their format on this
//! branch; a record that runs past the end of its file is reported too
//! (a torn write, or a damaged length).
// lead: after merging `recover`, point `check_series_log`, `check_wal_segment`
// and `check_tombstone` at the read-only verifiers of the reworked formats.

use std::fs;
use std::path::{Path, PathBuf};

use super::bytes::Cursor;
use super::error::{IoContext, Result, TsmError};
use super::file::reader::TsmReader;
use super::file::FileId;
use super::key::decode_series;
use super::value::FieldType;

/// What a file of a store directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `series.log`.
    SeriesLog,
    /// `wal/NNNNNNNN.wal`.
    Wal,
    /// `shards/<start>/<gens>-<level>.tsm`.
    Tsm,
    /// `<tsm file>.tombstone`.
    Tombstone,
    /// A leftover `*.tmp` file (removed at the next open).
    Temporary,
}

impl FileKind {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::SeriesLog => "series log",
            FileKind::Wal => "WAL segment",
            FileKind::Tsm => "TSM file",
            FileKind::Tombstone => "tombstones",
            FileKind::Temporary => "temporary file",
        }
    }
}

/// One damaged spot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Byte offset in the file.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    /// The file.
    pub path: PathBuf,
    /// Its kind.
    pub kind: FileKind,
    /// Its size in bytes.
    pub size: u64,
    /// What it holds when readable: "12 series", "3 records", "40 blocks".
    pub summary: String,
    /// Damage found (empty: the file is intact).
    pub problems: Vec<Problem>,
}

/// Everything `check_dir` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Every file checked, series log first, then WAL segments, then shards.
    pub files: Vec<FileCheck>,
}

impl CheckReport {
    /// True when no file has a problem.
    pub fn is_clean(&self) -> bool {
        self.files.iter().all(|f| f.problems.is_empty())
    }

    /// The files with problems.
    pub fn damaged(&self) -> impl Iterator<Item = &FileCheck> {
        self.files.iter().filter(|f| !f.problems.is_empty())
    }
}

/// Verifies every file of the store in `dir` (read-only).
pub fn check_dir(dir: &Path) -> Result<CheckReport> {
    if !dir.is_dir() {
        return Err(TsmError::Invalid(format!(
            "no store directory at {}",
            dir.display()
        )));
    }
    let mut report = CheckReport::default();
    let log = dir.join("series.log");
    if log.exists() {
        report.files.push(check_series_log(&log)?);
    }
    for path in sorted_entries(&dir.join("wal"))? {
        if path.extension().is_some_and(|e| e == "wal") {
            report.files.push(check_wal_segment(&path)?);
        }
    }
    for shard in sorted_entries(&dir.join("shards"))? {
        if !shard.is_dir() {
            continue;
        }
        for path in sorted_entries(&shard)? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".tmp") {
                report.files.push(FileCheck {
                    summary: "left by an interrupted write; removed at the next open".into(),
                    ..blank(&path, FileKind::Temporary)?
                });
            } else if FileId::parse(name).is_some() {
                report.files.push(check_tsm(&path)?);
            } else if name.ends_with(".tsm.tombstone") {
                report.files.push(check_tombstone(&path)?);
            }
        }
    }
    Ok(report)
}

/// The entries of `dir` sorted by name (none when it does not exist).
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TsmError::io(dir, e)),
    };
    let mut out = Vec::new();
    for e in entries {
        out.push(e.at(dir)?.path());
    }
    out.sort();
    Ok(out)
}

fn blank(path: &Path, kind: FileKind) -> Result<FileCheck> {
    Ok(FileCheck {
        path: path.to_path_buf(),
        kind,
        size: fs::metadata(path).at(path)?.len(),
        summary: String::new(),
        problems: Vec::new(),
    })
}

/// The offset and message of an error about one file.
fn problem_of(e: &TsmError) -> Problem {
    match e {
        TsmError::Corrupt {
            offset, message, ..
        } => Problem {
            offset: *offset,
            message: message.clone(),
        },
        other => Problem {
            offset: 0,
            message: other.to_string(),
        },
    }
}

/// Checks a TSM file: header, footer and index at open, then every block.
pub fn check_tsm(path: &Path) -> Result<FileCheck> {
    let mut check = blank(path, FileKind::Tsm)?;
    let reader = match TsmReader::open_without_tombstones(path) {
        Ok(r) => r,
        Err(e) => {
            check.problems.push(problem_of(&e));
            return Ok(check);
        }
    };
    let mut blocks = 0;
    let mut points = 0;
    for entry in reader.index() {
        for b in &entry.blocks {
            blocks += 1;
            match reader.read_block(entry, b) {
                Ok((times, _)) => {
                    points += times.len();
                    if times.first() != Some(&b.min) || times.last() != Some(&b.max) {
                        check.problems.push(Problem {
                            offset: b.offset,
                            message: format!(
                                "block of '{}' spans other times than its index entry",
                                entry.key
                            ),
                        });
                    }
                }
                Err(e) => check.problems.push(problem_of(&e)),
            }
        }
    }
    check.summary = format!(
        "{} series, {blocks} blocks, {points} points",
        reader.index().len()
    );
    Ok(check)
}

/// Checks a tombstone file record by record.
pub fn check_tombstone(path: &Path) -> Result<FileCheck> {
    check_records(path, FileKind::Tombstone, "deletes", |payload| {
        let mut c = Cursor::new(payload);
        c.str()?;
        c.i64()?;
        c.i64()?;
        finished(&c)
    })
}

/// Checks the series log record by record (type byte and series key).
pub fn check_series_log(path: &Path) -> Result<FileCheck> {
    check_records(path, FileKind::SeriesLog, "series", |payload| {
        let mut c = Cursor::new(payload);
        FieldType::from_code(c.u8()?).ok_or("unknown field type")?;
        decode_series(&mut c)?;
        finished(&c)
    })
}

/// Checks a WAL segment record by record (framing, CRC and entry kind).
pub fn check_wal_segment(path: &Path) -> Result<FileCheck> {
    check_records(path, FileKind::Wal, "records", |payload| {
        match payload.first() {
            Some(1 | 2) => Ok(()),
            Some(k) => Err(format!("unknown entry kind {k}")),
            None => Err("empty record".into()),
        }
    })
}

fn finished(c: &Cursor<'_>) -> Result<(), String> {
    if c.is_done() {
        Ok(())
    } else {
        Err("trailing bytes in the record".into())
    }
}

/// Walks `[u32 length][u32 CRC32][payload]` records, checking each CRC and
/// decoding each payload with `decode`. After a bad record the rest of the
/// file cannot be framed, so the walk stops there.
fn check_records(
    path: &Path,
    kind: FileKind,
    noun: &str,
    decode: impl Fn(&[u8]) -> Result<(), String>,
) -> Result<FileCheck> {
    let mut check = blank(path, kind)?;
    let bytes = fs::read(path).at(path)?;
    let mut pos = 0usize;
    let mut records = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let problem = if rest.len() < 8 {
            Some(format!(
                "record header cut short ({} of 8 bytes): torn write or damage",
                rest.len()
            ))
        } else {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let crc = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
            match rest.get(8..8 + len) {
                None => Some(format!(
                    "record of {len} bytes runs past the end of the file: torn write or damaged length"
                )),
                Some(p) if crc32fast::hash(p) != crc => Some("record checksum mismatch".into()),
                Some(p) => match decode(p) {
                    Ok(()) => {
                        records += 1;
                        pos += 8 + len;
                        None
                    }
                    Err(m) => Some(format!("record does not decode: {m}")),
                },
            }
        };
        if let Some(message) = problem {
            check.problems.push(Problem {
                offset: pos as u64,
                message: format!(
                    "{message}; the {} bytes from here are unreadable",
                    bytes.len() - pos
                ),
            });
            break;
        }
    }
    check.summary = format!("{records} {noun}");
    Ok(check)
}

#[cfg(test)]
pub(crate) mod tests {
    use tsq_engine::{SeriesInfo, TagPredicate, TimeRange};

    use super::*;
    use crate::tsm::test_dir;
    use crate::tsm::value::Values;
    use crate::tsm::wal::SeriesPoints;
    use crate::tsm::{Store, StoreOptions};

    /// A store with one TSM file (2 series of 3 points), a tombstone on it,
    /// and one write left in the WAL.
    pub(crate) fn small_store(name: &str) -> PathBuf {
        let dir = test_dir(name);
        let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
        let pts = |host: &str, v: f64| SeriesPoints {
            series: SeriesInfo::new("m", &[("host", host)], "v"),
            times: vec![1, 2, 3],
            values: Values::Float(vec![v, v + 1.0, v + 2.0]),
        };
        store
            .write_series(vec![pts("a", 1.0), pts("b", 10.0)])
            .unwrap();
        store.flush().unwrap();
        let host_a = TagPredicate::Eq("host".into(), "a".into());
        store.delete("m", &host_a, TimeRange::new(2, 3)).unwrap();
        store.write_series(vec![pts("c", 5.0)]).unwrap();
        dir
    }

    fn tsm_path(dir: &Path) -> PathBuf {
        dir.join("shards/0/0000000001-0000000001-1.tsm")
    }

    #[test]
    fn a_clean_store_checks_clean_and_lists_every_file() {
        let dir = small_store("check_clean");
        let before: Vec<(PathBuf, Vec<u8>)> = walk(&dir);
        let report = check_dir(&dir).unwrap();
        assert!(report.is_clean(), "{report:?}");
        let kinds: Vec<(FileKind, &str)> = report
            .files
            .iter()
            .map(|f| (f.kind, f.summary.as_str()))
            .collect();
        // The flush rotated the WAL to segment 2 and removed segment 1;
        // segment 2 holds the delete and the write of c.
        assert_eq!(
            kinds,
            vec![
                (FileKind::SeriesLog, "3 series"),
                (FileKind::Wal, "2 records"),
                (FileKind::Tsm, "2 series, 2 blocks, 6 points"),
                (FileKind::Tombstone, "1 deletes"),
            ]
        );
        assert_eq!(walk(&dir), before, "check changed the directory");
    }

    fn walk(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push((p.clone(), fs::read(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn damage_is_reported_with_file_and_offset() {
        let dir = small_store("check_damage");
        let tsm = tsm_path(&dir);
        let reader = TsmReader::open(&tsm).unwrap();
        let second = reader.index()[1].blocks[0].offset;
        drop(reader);
        let mut b = fs::read(&tsm).unwrap();
        b[second as usize + 6] ^= 0xFF;
        fs::write(&tsm, &b).unwrap();
        let log = dir.join("series.log");
        let mut l = fs::read(&log).unwrap();
        let len = l.len();
        l[len - 1] ^= 0xFF;
        fs::write(&log, &l).unwrap();
        let report = check_dir(&dir).unwrap();
        assert!(!report.is_clean());
        let damaged: Vec<(PathBuf, Vec<Problem>)> = report
            .damaged()
            .map(|f| (f.path.clone(), f.problems.clone()))
            .collect();
        // The records of a, b and c have the same length (one-letter host
        // values): c's, the damaged one, starts at two thirds of the file.
        assert_eq!(len % 3, 0);
        let c_at = (len / 3 * 2) as u64;
        assert_eq!(
            damaged,
            vec![
                (
                    log,
                    vec![Problem {
                        offset: c_at,
                        message: format!(
                            "record checksum mismatch; the {} bytes from here are unreadable",
                            len as u64 - c_at
                        ),
                    }]
                ),
                (
                    tsm,
                    vec![Problem {
                        offset: second,
                        message: "block checksum mismatch".into(),
                    }]
                ),
            ]
        );
    }
}
