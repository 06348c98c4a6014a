//! `tsq check`: verifies every file of a store directory and reports what it
//! found, without changing anything (no file is created, truncated or
//! removed). It reads the series log, every WAL segment, every TSM file
//! (header, footer, index, then every block: CRC, decoding, and that its
//! first and last timestamps are those the index records) and every
//! tombstone file (docs/storage.md, "Checking and repairing a store").
//!
//! The series log, WAL and tombstone files are checked as sequences of
//! framed records (docs/storage.md, "Record framing"): each damaged byte
//! range, each intact record whose payload does not decode and a torn tail
//! (an incomplete last record) is one [`Problem`]; a file in the older
//! record format is one problem at offset 0.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{IoContext, Result, TsmError};
use super::file::reader::TsmReader;
use super::file::FileId;
use super::framing::{self, Frame};
use super::index::series_log;
use super::{tombstone, wal};

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
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".wal") || name.ends_with(".wal.damaged") {
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

/// Checks a tombstone file record by record (framing, checksums, decoding).
pub fn check_tombstone(path: &Path) -> Result<FileCheck> {
    check_records(
        path,
        FileKind::Tombstone,
        framing::TOMBSTONE,
        "deletes",
        |p| tombstone::decode(p).map(drop),
    )
}

/// Checks the series log record by record (type byte and series key).
pub fn check_series_log(path: &Path) -> Result<FileCheck> {
    check_records(
        path,
        FileKind::SeriesLog,
        framing::SERIES_LOG,
        "series",
        |p| series_log::decode_record(p).map(drop),
    )
}

/// Checks a WAL segment record by record (framing, checksums, decoding of
/// every write and delete). A `.wal.damaged` segment is checked the same way.
pub fn check_wal_segment(path: &Path) -> Result<FileCheck> {
    check_records(path, FileKind::Wal, framing::WAL, "records", |p| {
        wal::decode_entry(p).map(drop)
    })
}

/// Splits the file at `path` into framed records of `frame_kind` and
/// decodes each intact one with `decode`. Every damaged range, undecodable
/// record and torn tail is a problem; the scan goes on after each (as the
/// readers do), so every damaged spot is listed.
fn check_records(
    path: &Path,
    kind: FileKind,
    frame_kind: framing::Kind,
    noun: &str,
    decode: impl Fn(&[u8]) -> Result<(), String>,
) -> Result<FileCheck> {
    let mut check = blank(path, kind)?;
    let bytes = fs::read(path).at(path)?;
    if let Err(e) = framing::check_version(&bytes, frame_kind, path) {
        check.problems.push(Problem {
            offset: 0,
            message: match e {
                TsmError::Unsupported { message, .. } => message,
                other => other.to_string(),
            },
        });
        return Ok(check);
    }
    let mut records = 0;
    for frame in framing::scan(&bytes, frame_kind) {
        let (at, message) = match frame {
            Frame::Record { at, payload } => match decode(payload) {
                Ok(()) => {
                    records += 1;
                    continue;
                }
                Err(m) => (
                    at,
                    format!(
                        "record of {} bytes does not decode: {m}",
                        framing::HEADER_LEN + payload.len()
                    ),
                ),
            },
            Frame::Damaged { at, end, reason } => {
                (at, format!("bytes {at}..{end} damaged: {reason}"))
            }
            Frame::TornTail { at, reason } => (
                at,
                format!(
                    "torn record at the end ({reason}): a write that never returned, \
                     cut off at the next read-write open"
                ),
            ),
        };
        check.problems.push(Problem {
            offset: at as u64,
            message,
        });
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
        // The flip is in c's payload: its header is intact, so the damaged
        // range is exactly its record.
        assert_eq!(
            damaged,
            vec![
                (
                    log,
                    vec![Problem {
                        offset: c_at,
                        message: format!(
                            "bytes {c_at}..{len} damaged: payload checksum mismatch ({} bytes)",
                            len as u64 - c_at - 16
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

    /// A tombstone payload: `[str key][i64 min][i64 max]` (27 bytes for a
    /// 10-byte key).
    fn stone(key: &str, min: i64, max: i64) -> Vec<u8> {
        let mut p = vec![key.len() as u8];
        p.extend_from_slice(key.as_bytes());
        p.extend_from_slice(&min.to_be_bytes());
        p.extend_from_slice(&max.to_be_bytes());
        p
    }

    #[test]
    fn record_files_list_every_damaged_range_undecodable_record_and_torn_tail() {
        let dir = test_dir("check_records");
        let path = dir.join("x.tsm.tombstone");
        let mut b = Vec::new();
        // Records of 16 + 27 = 43 bytes, except the second (one trailing
        // byte: 44): at 0, 43, 87, 130, 173; then 10 bytes of a header.
        let mut extra = stone("m,host=a#v", 1, 2);
        extra.push(0);
        for payload in [
            stone("m,host=a#v", 1, 2),
            extra,
            stone("m,host=b#v", 3, 4),
            stone("m,host=c#v", 5, 6),
            stone("m,host=d#v", 7, 8),
        ] {
            framing::put_record(&mut b, framing::TOMBSTONE, &payload);
        }
        assert_eq!(b.len(), 216);
        b[130 + 20] ^= 0x01; // inside the fourth record's payload
        let head: Vec<u8> = b[..10].to_vec();
        b.extend_from_slice(&head);
        fs::write(&path, &b).unwrap();
        let check = check_tombstone(&path).unwrap();
        assert_eq!(check.summary, "3 deletes");
        assert_eq!(
            check.problems,
            vec![
                Problem {
                    offset: 43,
                    message: "record of 44 bytes does not decode: 1 trailing bytes".into(),
                },
                Problem {
                    offset: 130,
                    message: "bytes 130..173 damaged: payload checksum mismatch (27 bytes)".into(),
                },
                Problem {
                    offset: 216,
                    message: "torn record at the end (10 of 16 header bytes): a write that \
                              never returned, cut off at the next read-write open"
                        .into(),
                },
            ]
        );

        // A flipped header byte: the scan resynchronises at the next marker.
        let mut b2 = b[..216].to_vec();
        b2[43 + 5] ^= 0x80; // the second record's length
        fs::write(&path, &b2).unwrap();
        let check = check_tombstone(&path).unwrap();
        assert_eq!(
            check.problems,
            vec![
                Problem {
                    offset: 43,
                    message: "bytes 43..87 damaged: record header checksum mismatch".into(),
                },
                Problem {
                    offset: 130,
                    message: "bytes 130..173 damaged: payload checksum mismatch (27 bytes)".into(),
                },
            ]
        );
        assert_eq!(check.summary, "3 deletes");
    }

    #[test]
    fn a_version_1_file_is_one_problem_at_offset_0() {
        let dir = test_dir("check_v1");
        let path = dir.join("series.log");
        let payload = b"\x00abc";
        let mut old = (payload.len() as u32).to_be_bytes().to_vec();
        old.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
        old.extend_from_slice(payload);
        fs::write(&path, &old).unwrap();
        let check = check_series_log(&path).unwrap();
        assert_eq!(check.problems.len(), 1, "{check:?}");
        assert_eq!(check.problems[0].offset, 0);
        assert!(
            check.problems[0]
                .message
                .starts_with("series log written in record format version 1 by an older tsq"),
            "{:?}",
            check.problems
        );
    }

    #[test]
    fn a_wal_segment_is_checked_record_by_record() {
        let dir = small_store("check_wal");
        let seg = dir.join("wal/00000002.wal");
        let clean = fs::read(&seg).unwrap();
        // Two records: the delete, then the write of c.
        let first = 16 + u32::from_be_bytes(clean[4..8].try_into().unwrap()) as usize;
        assert!(first < clean.len());
        let mut b = clean.clone();
        b[1] ^= 0xFF; // the first record's marker
        fs::write(&seg, &b).unwrap();
        let check = check_wal_segment(&seg).unwrap();
        assert_eq!(
            (check.summary.as_str(), check.problems),
            (
                "1 records",
                vec![Problem {
                    offset: 0,
                    message: format!("bytes 0..{first} damaged: no WAL segment record marker"),
                }]
            )
        );
        // Cut in the second record's payload: a torn tail.
        fs::write(&seg, &clean[..clean.len() - 3]).unwrap();
        let check = check_wal_segment(&seg).unwrap();
        assert_eq!(
            check.problems,
            vec![Problem {
                offset: first as u64,
                message: format!(
                    "torn record at the end (payload cut short, {} bytes left): a write that \
                     never returned, cut off at the next read-write open",
                    clean.len() - 3 - first
                ),
            }]
        );
    }
}
