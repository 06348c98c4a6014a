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
use super::error::{IoContext, Result};
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

/// An open WAL, appending to its newest segment.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    seq: u64,
    size: u64,
    /// Whether the directory entry of this segment is known durable. The
    /// directory is fsynced before the first append, not at creation, so an
    /// open that writes nothing (a query) costs no fsync.
    dir_synced: bool,
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

impl Wal {
    /// Opens the WAL in `dir`, returning it, every intact entry in log order
    /// and one warning per truncated segment.
    pub fn open(dir: &Path) -> Result<(Wal, Vec<WalEntry>, Vec<String>)> {
        fs::create_dir_all(dir).at(dir)?;
        let mut entries = Vec::new();
        let mut warnings = Vec::new();
        let seqs = list_segments(dir)?;
        for &seq in &seqs {
            let path = segment_path(dir, seq);
            let bytes = fs::read(&path).at(&path)?;
            let (good, warning) = read_segment(&bytes, &mut entries);
            if let Some(w) = warning {
                warnings.push(format!(
                    "WAL segment {}: {w}; truncated at byte {good} of {}",
                    path.display(),
                    bytes.len()
                ));
                let f = OpenOptions::new().write(true).open(&path).at(&path)?;
                f.set_len(good as u64).at(&path)?;
                f.sync_all().at(&path)?;
            }
        }
        let seq = seqs.last().map_or(1, |s| s + 1);
        let wal = Wal::create_segment(dir, seq)?;
        Ok((wal, entries, warnings))
    }

    fn create_segment(dir: &Path, seq: u64) -> Result<Wal> {
        let path = segment_path(dir, seq);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .at(&path)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            file,
            path,
            seq,
            size: 0,
            dir_synced: false,
        })
    }

    /// Appends one entry and fsyncs it: when this returns `Ok` the entry is
    /// durable.
    pub fn append(&mut self, entry: &WalEntry) -> Result<()> {
        let payload = encode_entry(entry);
        let mut rec = Vec::with_capacity(payload.len() + 8);
        rec.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        rec.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
        rec.extend_from_slice(&payload);
        if !self.dir_synced {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .at(&self.dir)?;
            self.dir_synced = true;
        }
        self.file.write_all(&rec).at(&self.path)?;
        self.file.sync_data().at(&self.path)?;
        self.size += rec.len() as u64;
        if self.size >= SEGMENT_BYTES {
            self.rotate()?;
        }
        Ok(())
    }

    /// Closes the current segment and starts a new one; returns the new
    /// segment's number (every older segment is closed).
    pub fn rotate(&mut self) -> Result<u64> {
        *self = Wal::create_segment(&self.dir, self.seq + 1)?;
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
