//! The series log: the persisted half of the inverted index. Each series is
//! appended once when it is created, as a record framed by
//! [`framing`](crate::tsm::framing) holding `[field type byte][binary
//! series]`; its position among the intact records is its dense id (ids live
//! only in memory: the WAL and TSM files name series by key). At open a torn
//! tail is truncated with a warning (a series whose append never returned
//! has no data anywhere); any other damage marks the log damaged so the store
//! rebuilds it ([`SeriesLog::rewrite`]) from the intact records and the TSM
//! files' keys.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use tsq_engine::SeriesInfo;

use crate::tsm::bytes::Cursor;
use crate::tsm::error::{IoContext, Result, TsmError};
use crate::tsm::framing::{self, Frame};
use crate::tsm::key::{decode_series_in, encode_series, Interner};
use crate::tsm::value::FieldType;

/// An open series log.
#[derive(Debug)]
pub struct SeriesLog {
    path: PathBuf,
    file: File,
    dirty: bool,
}

/// What [`SeriesLog::open`] read.
#[derive(Debug, Default)]
pub struct LogContents {
    /// Series of the intact records, in log order.
    pub series: Vec<(SeriesInfo, FieldType)>,
    /// What was wrong, if anything (torn tail or damaged records).
    pub warning: Option<String>,
    /// True when a record other than a torn tail failed its checksum or did
    /// not decode: series may be missing and the log must be rebuilt.
    pub damaged: bool,
    /// Offset of a torn tail (an incomplete last record), if any.
    pub torn_at: Option<u64>,
}

impl SeriesLog {
    /// Opens (creating) the log at `path` and reads every intact record
    /// ([`SeriesLog::read`]); a torn tail is cut off.
    pub fn open(path: &Path) -> Result<(SeriesLog, LogContents)> {
        let mut contents = SeriesLog::read(path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .at(path)?;
        if let Some(at) = contents.torn_at {
            file.set_len(at).at(path)?;
            file.sync_all().at(path)?;
            if let Some(w) = &mut contents.warning {
                w.push_str(", truncated");
            }
        }
        let log = SeriesLog {
            path: path.to_path_buf(),
            file,
            dirty: false,
        };
        Ok((log, contents))
    }

    /// Reads every intact record of the log at `path` without changing
    /// anything (a missing log reads as empty). A log in an older record
    /// format is refused.
    pub fn read(path: &Path) -> Result<LogContents> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(TsmError::io(path, e)),
        };
        framing::check_version(&bytes, framing::SERIES_LOG, path)?;
        let mut contents = LogContents::default();
        let mut problems = Vec::new();
        let mut interner = Interner::default();
        for frame in framing::scan(&bytes, framing::SERIES_LOG) {
            match frame {
                Frame::Record { at, payload } => match decode_record_in(payload, &mut interner) {
                    Ok(s) => contents.series.push(s),
                    Err(m) => {
                        contents.damaged = true;
                        problems.push(format!("undecodable record at byte {at}: {m}"));
                    }
                },
                Frame::Damaged { at, end, reason } => {
                    contents.damaged = true;
                    problems.push(format!("bytes {at}..{end} damaged ({reason})"));
                }
                Frame::TornTail { at, reason } => {
                    problems.push(format!("torn record at byte {at} ({reason})"));
                    contents.torn_at = Some(at as u64);
                }
            }
        }
        if !problems.is_empty() {
            contents.warning = Some(format!(
                "series log {}: {}",
                path.display(),
                problems.join("; ")
            ));
        }
        Ok(contents)
    }

    /// Replaces the log at `path` with one holding `series` in order:
    /// written to `<path>.tmp`, fsynced, renamed over `path`, and the
    /// directory fsynced, so a crash leaves the old log or the new one.
    pub fn rewrite<'a>(
        path: &Path,
        series: impl IntoIterator<Item = (&'a SeriesInfo, FieldType)>,
    ) -> Result<SeriesLog> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut buf = Vec::new();
        for (s, ty) in series {
            put(&mut buf, s, ty);
        }
        let mut f = File::create(&tmp).at(&tmp)?;
        f.write_all(&buf).at(&tmp)?;
        f.sync_all().at(&tmp)?;
        drop(f);
        fs::rename(&tmp, path).at(path)?;
        if let Some(dir) = path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).at(dir)?;
        }
        let file = OpenOptions::new().append(true).open(path).at(path)?;
        Ok(SeriesLog {
            path: path.to_path_buf(),
            file,
            dirty: false,
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one series (made durable by [`SeriesLog::sync`]).
    pub fn append(&mut self, s: &SeriesInfo, ty: FieldType) -> Result<()> {
        let mut rec = Vec::new();
        put(&mut rec, s, ty);
        self.file.write_all(&rec).at(&self.path)?;
        self.dirty = true;
        Ok(())
    }

    /// Fsyncs appended entries, if any.
    pub fn sync(&mut self) -> Result<()> {
        if self.dirty {
            self.file.sync_data().at(&self.path)?;
            self.dirty = false;
        }
        Ok(())
    }
}

fn put(out: &mut Vec<u8>, s: &SeriesInfo, ty: FieldType) {
    let mut payload = vec![ty as u8];
    encode_series(&mut payload, s);
    framing::put_record(out, framing::SERIES_LOG, &payload);
}

pub(crate) fn decode_record(payload: &[u8]) -> Result<(SeriesInfo, FieldType), String> {
    decode_record_in(payload, &mut Interner::default())
}

/// [`decode_record`] sharing strings through `interner`.
fn decode_record_in(
    payload: &[u8],
    interner: &mut Interner,
) -> Result<(SeriesInfo, FieldType), String> {
    let mut p = Cursor::new(payload);
    let ty = FieldType::from_code(p.u8()?).ok_or("unknown field type")?;
    let s = decode_series_in(&mut p, interner)?;
    if !p.is_done() {
        return Err(format!("{} trailing bytes", payload.len() - p.pos()));
    }
    Ok((s, ty))
}
