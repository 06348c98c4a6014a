//! The series log: the persisted half of the inverted index. Each series is
//! appended once when it is created, as `[u32 BE length][u32 BE CRC32][field
//! type byte][binary series]`; its position in the log is its dense id. At
//! open the log is read back (not rebuilt from TSM data); a torn tail is
//! truncated with a warning — those series are re-created from the WAL.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use tsq_engine::SeriesInfo;

use crate::tsm::bytes::Cursor;
use crate::tsm::error::{IoContext, Result};
use crate::tsm::key::{decode_series, encode_series};
use crate::tsm::value::FieldType;

/// An open series log.
#[derive(Debug)]
pub struct SeriesLog {
    path: PathBuf,
    file: File,
    dirty: bool,
}

/// Series of a log in id order, and a warning when its tail was cut.
pub type LogContents = (Vec<(SeriesInfo, FieldType)>, Option<String>);

impl SeriesLog {
    /// Opens (creating) the log at `path` and reads every intact entry.
    pub fn open(path: &Path) -> Result<(SeriesLog, LogContents)> {
        let ((series, warning), pos) = read_log(path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .at(path)?;
        if warning.is_some() {
            file.set_len(pos as u64).at(path)?;
            file.sync_all().at(path)?;
        }
        let log = SeriesLog {
            path: path.to_path_buf(),
            file,
            dirty: false,
        };
        Ok((log, (series, warning)))
    }

    /// Reads every intact entry of the log at `path` without changing it (a
    /// missing log is empty); a damaged tail is reported, not truncated.
    pub fn read(path: &Path) -> Result<LogContents> {
        let ((series, warning), _) = read_log(path)?;
        let warning = warning.map(|w| w.replace("; truncated", "; ignored (read-only open)"));
        Ok((series, warning))
    }

    /// Appends one series (made durable by [`SeriesLog::sync`]).
    pub fn append(&mut self, s: &SeriesInfo, ty: FieldType) -> Result<()> {
        let mut payload = vec![ty as u8];
        encode_series(&mut payload, s);
        let mut rec = Vec::with_capacity(payload.len() + 8);
        rec.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        rec.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
        rec.extend_from_slice(&payload);
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

/// The intact entries of the log at `path`, the warning for a damaged tail
/// (worded for a truncation) and the length of the intact prefix.
fn read_log(path: &Path) -> Result<(LogContents, usize)> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(crate::tsm::TsmError::io(path, e)),
    };
    let mut series = Vec::new();
    let mut pos = 0;
    let mut warning = None;
    while pos < bytes.len() {
        match read_record(&bytes[pos..]) {
            Ok((s, n)) => {
                series.push(s);
                pos += n;
            }
            Err(m) => {
                warning = Some(format!(
                    "series log {}: {m} at byte {pos}; truncated",
                    path.display()
                ));
                break;
            }
        }
    }
    Ok(((series, warning), pos))
}

fn read_record(b: &[u8]) -> Result<((SeriesInfo, FieldType), usize), String> {
    let mut c = Cursor::new(b);
    let len = c.u32()? as usize;
    let crc = c.u32()?;
    let payload = c.take(len)?;
    if crc32fast::hash(payload) != crc {
        return Err("CRC mismatch".into());
    }
    let mut p = Cursor::new(payload);
    let ty = FieldType::from_code(p.u8()?).ok_or("unknown field type")?;
    let s = decode_series(&mut p)?;
    Ok(((s, ty), 8 + len))
}
