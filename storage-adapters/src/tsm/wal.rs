//! The write-ahead log: the durability half of the write path.
//!
//! A WAL is a directory of numbered segment files (`00000001.wal`, ...). Each
//! record is `[u32 BE payload length][u32 BE CRC32 of payload][payload]`; a
//! payload is one write call (the points of every series it touched) or one
//! delete. [`Wal::append`] writes a record and `fsync`s the segment before it
//! returns: that is the acknowledgement. On open every segment is replayed in
//! order; a torn or corrupt record truncates its segment at that offset with a
//! warning (the bytes after it were never acknowledged). Snapshots call
//! [`Wal::rotate`] so the closed segments hold exactly what the snapshot
//! covers, then [`Wal::remove_before`] once the TSM file is durable.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use tsq_engine::SeriesInfo;

use super::bytes::{put_str, put_uvarint, Cursor};
use super::error::{IoContext, Result, TsmError};
use super::key::{decode_series, encode_series};
use super::value::{FieldType, Values};

/// A new segment is started once the current one passes this size.
const SEGMENT_BYTES: u64 = 16 << 20;
const KIND_WRITE: u8 = 1;
const KIND_DELETE: u8 = 2;

/// The points one write call added to one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoints {
    /// The series.
    pub series: SeriesInfo,
    /// Timestamps (ns), in write order.
    pub times: Vec<i64>,
    /// Values, parallel to `times`.
    pub values: Values,
}

/// One logged operation.
#[derive(Debug, Clone, PartialEq)]
pub enum WalEntry {
    /// Points written.
    Write(Vec<SeriesPoints>),
    /// Points of `series` with `min <= t <= max` deleted.
    Delete {
        /// Series affected.
        series: Vec<SeriesInfo>,
        /// Inclusive lower time bound.
        min: i64,
        /// Inclusive upper time bound.
        max: i64,
    },
}

/// An open WAL, appending to its newest segment. The segment file is
/// created on the first append, so opening and closing a store without
/// writing adds no file.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    /// The segment being appended to; `None` until the first append after
    /// an open or a rotation.
    file: Option<File>,
    path: PathBuf,
    seq: u64,
    size: u64,
    /// False when opened by [`Wal::read_only`]: appends fail.
    writable: bool,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:08}.wal"))
}

fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for e in fs::read_dir(dir).at(dir)? {
        let name = e.at(dir)?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".wal").and_then(|s| s.parse().ok()) {
            seqs.push(n);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// Every intact entry of the segments `seqs` of `dir`, in order, and one
/// warning per damaged segment with the intact length it was cut to. With
/// `repair`, a damaged segment is truncated to that length on disk.
fn replay(
    dir: &Path,
    seqs: &[u64],
    repair: bool,
) -> Result<(Vec<WalEntry>, Vec<String>, Option<u64>)> {
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    let mut last_damaged = None;
    for &seq in seqs {
        let path = segment_path(dir, seq);
        let bytes = fs::read(&path).at(&path)?;
        let (good, warning) = read_segment(&bytes, &mut entries);
        if let Some(w) = warning {
            let action = if repair {
                "truncated"
            } else {
                "ignored (read-only open)"
            };
            warnings.push(format!(
                "WAL segment {}: {w}; {action} at byte {good} of {}",
                path.display(),
                bytes.len()
            ));
            last_damaged = Some(seq);
            if repair {
                let f = OpenOptions::new().write(true).open(&path).at(&path)?;
                f.set_len(good as u64).at(&path)?;
                f.sync_all().at(&path)?;
            }
        }
    }
    Ok((entries, warnings, last_damaged))
}

impl Wal {
    /// Opens the WAL in `dir` for appending, returning it, every intact
    /// entry in log order and one warning per truncated segment. Appends go
    /// to the newest segment when it was intact and has room, else to a new
    /// segment created by the first append.
    pub fn open(dir: &Path) -> Result<(Wal, Vec<WalEntry>, Vec<String>)> {
        fs::create_dir_all(dir).at(dir)?;
        let seqs = list_segments(dir)?;
        let (entries, warnings, last_damaged) = replay(dir, &seqs, true)?;
        let mut wal = Wal {
            dir: dir.to_path_buf(),
            file: None,
            path: segment_path(dir, 1),
            seq: 1,
            size: 0,
            writable: true,
        };
        if let Some(&last) = seqs.last() {
            wal.seq = last + 1;
            wal.path = segment_path(dir, wal.seq);
            let path = segment_path(dir, last);
            let size = fs::metadata(&path).at(&path)?.len();
            if last_damaged != Some(last) && size < SEGMENT_BYTES {
                let file = OpenOptions::new().append(true).open(&path).at(&path)?;
                (wal.file, wal.path, wal.seq, wal.size) = (Some(file), path, last, size);
            }
        }
        Ok((wal, entries, warnings))
    }

    /// Reads every intact entry of the WAL in `dir` without changing any
    /// file (a missing directory is an empty WAL); damaged segments are
    /// reported, not truncated. The returned WAL refuses appends.
    pub fn read_only(dir: &Path) -> Result<(Wal, Vec<WalEntry>, Vec<String>)> {
        let wal = Wal {
            dir: dir.to_path_buf(),
            file: None,
            path: segment_path(dir, 1),
            seq: 1,
            size: 0,
            writable: false,
        };
        if !dir.is_dir() {
            return Ok((wal, Vec::new(), Vec::new()));
        }
        let seqs = list_segments(dir)?;
        let (entries, warnings, _) = replay(dir, &seqs, false)?;
        Ok((wal, entries, warnings))
    }

    /// The segment being appended to, created (and its directory entry
    /// fsynced) when it does not exist yet.
    fn segment(&mut self) -> Result<&mut File> {
        if !self.writable {
            return Err(TsmError::ReadOnly(self.dir.clone(), "append to the WAL"));
        }
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .at(&self.path)?;
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .at(&self.dir)?;
            self.size = 0;
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("created above"))
    }

    /// Appends one entry and fsyncs it: when this returns `Ok` the entry is
    /// durable.
    pub fn append(&mut self, entry: &WalEntry) -> Result<()> {
        let payload = encode_entry(entry);
        let mut rec = Vec::with_capacity(payload.len() + 8);
        rec.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        rec.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
        rec.extend_from_slice(&payload);
        let size = self.size;
        let path = self.path.clone();
        let file = self.segment()?;
        if let Err(e) = file.write_all(&rec).and_then(|()| file.sync_data()) {
            // A partial record (disk full) would hide the records appended
            // after it: cut it off so the segment stays a clean prefix.
            let _ = file.set_len(size);
            return Err(TsmError::io(&path, e));
        }
        self.size += rec.len() as u64;
        if self.size >= SEGMENT_BYTES {
            self.rotate()?;
        }
        Ok(())
    }

    /// Closes the current segment; the next append starts segment
    /// `seq + 1`. Returns that number (every older segment is closed).
    pub fn rotate(&mut self) -> Result<u64> {
        self.file = None;
        self.seq += 1;
        self.path = segment_path(&self.dir, self.seq);
        self.size = 0;
        Ok(self.seq)
    }

    /// Deletes every segment numbered below `seq`.
    pub fn remove_before(&self, seq: u64) -> Result<()> {
        for s in list_segments(&self.dir)? {
            if s < seq {
                let p = segment_path(&self.dir, s);
                fs::remove_file(&p).at(&p)?;
            }
        }
        Ok(())
    }
}

/// Decodes records from `bytes` into `out`; returns the length of the intact
/// prefix and, if the segment ends in a torn or corrupt record, why.
fn read_segment(bytes: &[u8], out: &mut Vec<WalEntry>) -> (usize, Option<String>) {
    let mut pos = 0;
    while pos < bytes.len() {
        let mut c = Cursor::new(&bytes[pos..]);
        let header = c.u32().and_then(|len| Ok((len, c.u32()?)));
        let Ok((len, crc)) = header else {
            return (pos, Some(format!("torn record header at byte {pos}")));
        };
        let Ok(payload) = c.take(len as usize) else {
            return (
                pos,
                Some(format!(
                    "torn record at byte {pos} ({len} payload bytes announced)"
                )),
            );
        };
        if crc32fast::hash(payload) != crc {
            return (pos, Some(format!("CRC mismatch in record at byte {pos}")));
        }
        match decode_entry(payload) {
            Ok(e) => out.push(e),
            Err(m) => return (pos, Some(format!("undecodable record at byte {pos}: {m}"))),
        }
        pos += 8 + len as usize;
    }
    (pos, None)
}

fn encode_entry(entry: &WalEntry) -> Vec<u8> {
    let mut b = Vec::new();
    match entry {
        WalEntry::Write(series) => {
            b.push(KIND_WRITE);
            put_uvarint(&mut b, series.len() as u64);
            for s in series {
                encode_series(&mut b, &s.series);
                encode_points(&mut b, &s.times, &s.values);
            }
        }
        WalEntry::Delete { series, min, max } => {
            b.push(KIND_DELETE);
            b.extend_from_slice(&min.to_be_bytes());
            b.extend_from_slice(&max.to_be_bytes());
            put_uvarint(&mut b, series.len() as u64);
            for s in series {
                encode_series(&mut b, s);
            }
        }
    }
    b
}

fn encode_points(b: &mut Vec<u8>, times: &[i64], values: &Values) {
    b.push(values.field_type() as u8);
    put_uvarint(b, times.len() as u64);
    for t in times {
        b.extend_from_slice(&t.to_be_bytes());
    }
    match values {
        Values::Float(v) => v
            .iter()
            .for_each(|x| b.extend_from_slice(&x.to_bits().to_be_bytes())),
        Values::Integer(v) => v.iter().for_each(|x| b.extend_from_slice(&x.to_be_bytes())),
        Values::Unsigned(v) => v.iter().for_each(|x| b.extend_from_slice(&x.to_be_bytes())),
        Values::Boolean(v) => v.iter().for_each(|&x| b.push(u8::from(x))),
        Values::String(v) => v.iter().for_each(|s| put_str(b, s)),
    }
}

fn decode_entry(payload: &[u8]) -> Result<WalEntry, String> {
    let mut c = Cursor::new(payload);
    let entry = match c.u8()? {
        KIND_WRITE => {
            let n = c.len(4)?;
            let mut series = Vec::with_capacity(n);
            for _ in 0..n {
                let info = decode_series(&mut c)?;
                let (times, values) = decode_points(&mut c)?;
                series.push(SeriesPoints {
                    series: info,
                    times,
                    values,
                });
            }
            WalEntry::Write(series)
        }
        KIND_DELETE => {
            let (min, max) = (c.i64()?, c.i64()?);
            let n = c.len(4)?;
            let series = (0..n)
                .map(|_| decode_series(&mut c))
                .collect::<Result<_, _>>()?;
            WalEntry::Delete { series, min, max }
        }
        k => return Err(format!("unknown entry kind {k}")),
    };
    if !c.is_done() {
        return Err(format!("{} trailing bytes", payload.len() - c.pos()));
    }
    Ok(entry)
}

fn decode_points(c: &mut Cursor<'_>) -> Result<(Vec<i64>, Values), String> {
    let at = c.pos();
    let ty = FieldType::from_code(c.u8()?).ok_or_else(|| format!("bad field type at byte {at}"))?;
    let n = c.len(9)?;
    let times = (0..n).map(|_| c.i64()).collect::<Result<Vec<_>, _>>()?;
    let values = match ty {
        FieldType::Float => Values::Float(
            (0..n)
                .map(|_| c.u64().map(f64::from_bits))
                .collect::<Result<_, _>>()?,
        ),
        FieldType::Integer => Values::Integer((0..n).map(|_| c.i64()).collect::<Result<_, _>>()?),
        FieldType::Unsigned => Values::Unsigned((0..n).map(|_| c.u64()).collect::<Result<_, _>>()?),
        FieldType::Boolean => Values::Boolean(
            (0..n)
                .map(|_| c.u8().map(|b| b != 0))
                .collect::<Result<_, _>>()?,
        ),
        FieldType::String => Values::String((0..n).map(|_| c.str()).collect::<Result<_, _>>()?),
    };
    Ok((times, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsm::test_dir;

    fn write(v: f64) -> WalEntry {
        WalEntry::Write(vec![SeriesPoints {
            series: SeriesInfo::new("cpu", &[("host", "a")], "v"),
            times: vec![10, 20],
            values: Values::Float(vec![v, v + 1.0]),
        }])
    }

    #[test]
    fn entries_replay_in_order_across_rotation() {
        let dir = test_dir("wal_replay");
        let (mut wal, e, w) = Wal::open(&dir).unwrap();
        assert!(e.is_empty() && w.is_empty());
        wal.append(&write(1.0)).unwrap();
        let del = WalEntry::Delete {
            series: vec![SeriesInfo::new("cpu", &[], "s")],
            min: -5,
            max: 5,
        };
        wal.append(&del).unwrap();
        assert_eq!(wal.rotate().unwrap(), 2);
        wal.append(&write(3.0)).unwrap();
        drop(wal);
        let (_, e, w) = Wal::open(&dir).unwrap();
        assert!(w.is_empty());
        assert_eq!(e, vec![write(1.0), del, write(3.0)]);
    }

    #[test]
    fn torn_tail_is_truncated_with_a_warning() {
        let dir = test_dir("wal_torn");
        let (mut wal, _, _) = Wal::open(&dir).unwrap();
        wal.append(&write(1.0)).unwrap();
        wal.append(&write(2.0)).unwrap();
        let path = wal.path.clone();
        drop(wal);
        let full = fs::metadata(&path).unwrap().len();
        // Chop 3 bytes off the second record: it is torn.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(full - 3).unwrap();
        let (_, e, w) = Wal::open(&dir).unwrap();
        assert_eq!(e, vec![write(1.0)]);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("torn record at byte"), "{}", w[0]);
        // Two records of equal size: the intact prefix is half the original length.
        assert_eq!(fs::metadata(&path).unwrap().len(), full / 2);
    }

    #[test]
    fn opens_reuse_the_last_segment_and_create_none_without_writes() {
        let dir = test_dir("wal_reuse");
        for _ in 0..5 {
            drop(Wal::open(&dir).unwrap());
        }
        assert_eq!(list_segments(&dir).unwrap(), Vec::<u64>::new());
        let (mut wal, _, _) = Wal::open(&dir).unwrap();
        wal.append(&write(1.0)).unwrap();
        drop(wal);
        for i in 0..3 {
            let (mut wal, e, w) = Wal::open(&dir).unwrap();
            assert!(w.is_empty());
            assert_eq!(e.len(), i + 1);
            wal.append(&write(2.0 + i as f64)).unwrap();
        }
        assert_eq!(list_segments(&dir).unwrap(), vec![1]);
        let (_, e, _) = Wal::open(&dir).unwrap();
        assert_eq!(e, vec![write(1.0), write(2.0), write(3.0), write(4.0)]);
    }

    #[test]
    fn a_rotation_creates_the_next_segment_on_the_first_append() {
        let dir = test_dir("wal_lazy_rotate");
        let (mut wal, _, _) = Wal::open(&dir).unwrap();
        wal.append(&write(1.0)).unwrap();
        assert_eq!(wal.rotate().unwrap(), 2);
        assert_eq!(list_segments(&dir).unwrap(), vec![1]);
        wal.remove_before(2).unwrap();
        assert_eq!(list_segments(&dir).unwrap(), Vec::<u64>::new());
        wal.append(&write(2.0)).unwrap();
        assert_eq!(list_segments(&dir).unwrap(), vec![2]);
    }

    #[test]
    fn a_read_only_replay_changes_no_file_and_refuses_appends() {
        let dir = test_dir("wal_read_only");
        let (mut wal, _, _) = Wal::open(&dir).unwrap();
        wal.append(&write(1.0)).unwrap();
        wal.append(&write(2.0)).unwrap();
        let path = wal.path.clone();
        drop(wal);
        let full = fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(full - 3).unwrap();
        let (mut wal, e, w) = Wal::read_only(&dir).unwrap();
        assert_eq!(e, vec![write(1.0)]);
        assert!(
            w[0].ends_with(&format!(
                "ignored (read-only open) at byte {} of {}",
                full / 2,
                full - 3
            )),
            "{}",
            w[0]
        );
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            full - 3,
            "not truncated"
        );
        let err = wal.append(&write(3.0)).unwrap_err().to_string();
        assert!(
            err.contains("is open read-only: cannot append to the WAL"),
            "{err}"
        );
        assert_eq!(list_segments(&dir).unwrap(), vec![1]);
        assert_eq!(fs::metadata(&path).unwrap().len(), full - 3);
        // A missing directory is an empty WAL, and is not created.
        let none = dir.join("absent");
        assert!(Wal::read_only(&none).unwrap().1.is_empty());
        assert!(!none.exists());
    }

    #[test]
    fn flipped_byte_fails_the_crc() {
        let dir = test_dir("wal_crc");
        let (mut wal, _, _) = Wal::open(&dir).unwrap();
        wal.append(&write(1.0)).unwrap();
        let path = wal.path.clone();
        drop(wal);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xFF;
        fs::write(&path, &bytes).unwrap();
        let (_, e, w) = Wal::open(&dir).unwrap();
        assert!(e.is_empty());
        assert!(
            w[0].contains("CRC mismatch in record at byte 0"),
            "{}",
            w[0]
        );
    }
}
