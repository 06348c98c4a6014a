//! The write-ahead log: the durability half of the write path.
//!
//! A WAL is a directory of numbered segment files (`00000001.wal`, ...) of
//! records framed by [`framing`] (marker, length, checksums); a payload is
//! one write call (the points of every series it touched) or one delete.
//! [`Wal::append`] writes a record and `fsync`s the segment before it
//! returns: that is the acknowledgement. On open every segment is replayed in
//! order; a damaged record is skipped with a warning and the records after it
//! are recovered; a torn tail (a write that never returned) is truncated.
//! Snapshots call
//! [`Wal::rotate`] so the closed segments hold exactly what the snapshot
//! covers, then [`Wal::remove_before`] once the TSM file is durable.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tsq_engine::SeriesInfo;

use super::bytes::{put_str, put_uvarint, Cursor};
use super::error::{IoContext, Result, TsmError};
use super::framing::{self, Frame};
use super::group_commit::{GroupCommit, Segment};
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

/// A WAL segment some of whose records were skipped (failed a checksum or
/// did not decode, not a torn tail): the acknowledged points they held are
/// lost, so queries fail naming the segment unless partial results are
/// allowed (docs/storage.md, "WAL").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalDamage {
    /// The segment (`NNNNNNNN.wal`, or `NNNNNNNN.wal.damaged` once its intact
    /// records are in TSM files).
    pub path: PathBuf,
    /// Offset of its first damaged record.
    pub offset: u64,
    /// What was wrong there.
    pub message: String,
}

impl WalDamage {
    /// The error a query that needs the lost points fails with.
    pub fn error(&self) -> TsmError {
        TsmError::corrupt(
            &self.path,
            self.offset,
            format!(
                "damaged WAL record ({}); the points it held are lost",
                self.message
            ),
        )
    }
}

/// Suffix of a damaged segment kept after a snapshot covered its intact
/// records: never replayed, it only marks the loss.
const DAMAGED_SUFFIX: &str = ".damaged";

/// An open WAL, appending to its newest segment. The segment file is
/// created on the first append, so opening and closing a store without
/// writing adds no file.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    /// The segment being appended to; `None` until the first append after
    /// an open or a rotation. Shared with [`GroupCommit`], whose leaders
    /// fsync it.
    file: Option<Arc<File>>,
    path: PathBuf,
    seq: u64,
    size: u64,
    /// False when opened by [`Wal::read_only`]: appends fail.
    writable: bool,
    /// Segments with damaged records, found at open.
    damaged: Vec<WalDamage>,
    /// Where appends wait for their fsync (docs/storage.md, "Group commit").
    commit: Arc<GroupCommit>,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:08}.wal"))
}

fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    list_with_suffix(dir, ".wal")
}

/// The numbers of the files `NNNNNNNN<suffix>` in `dir`, ascending.
fn list_with_suffix(dir: &Path, suffix: &str) -> Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for e in fs::read_dir(dir).at(dir)? {
        let name = e.at(dir)?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(suffix).and_then(|s| s.parse().ok()) {
            seqs.push(n);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// The path a damaged segment is renamed to once a snapshot covers it.
fn damaged_path(segment: &Path) -> PathBuf {
    let mut p = segment.as_os_str().to_owned();
    p.push(DAMAGED_SUFFIX);
    PathBuf::from(p)
}

impl Wal {
    /// Opens the WAL in `dir` for appending, returning it, every intact
    /// entry in log order and one warning per damaged range or torn tail. A
    /// damaged record is skipped and the records after it are replayed; only
    /// a torn tail (an incomplete last record, a write that was never
    /// acknowledged) is cut off the segment. Segments in an older record
    /// format are refused. Appends go to the newest segment when it read
    /// clean and has room, else to a new segment created by the first append.
    pub fn open(dir: &Path) -> Result<(Wal, Vec<WalEntry>, Vec<String>)> {
        fs::create_dir_all(dir).at(dir)?;
        let read = read_segments(dir, true)?;
        let (seqs, entries, warnings, last_clean) =
            (read.seqs, read.entries, read.warnings, read.last_clean);
        let mut wal = Wal {
            dir: dir.to_path_buf(),
            file: None,
            path: segment_path(dir, 1),
            seq: 1,
            size: 0,
            writable: true,
            damaged: read.damaged,
            commit: GroupCommit::new(),
        };
        if let Some(&last) = seqs.last() {
            wal.seq = last + 1;
            wal.path = segment_path(dir, wal.seq);
            let path = segment_path(dir, last);
            let size = fs::metadata(&path).at(&path)?.len();
            if last_clean && size < SEGMENT_BYTES {
                let file = Arc::new(OpenOptions::new().append(true).open(&path).at(&path)?);
                (wal.file, wal.path, wal.seq, wal.size) = (Some(file), path, last, size);
            }
        }
        Ok((wal, entries, warnings))
    }

    /// Reads every intact entry of the WAL in `dir` without changing any
    /// file (a missing directory is an empty WAL); damaged segments are
    /// reported, not truncated. The returned WAL refuses appends.
    pub fn read_only(dir: &Path) -> Result<(Wal, Vec<WalEntry>, Vec<String>)> {
        let mut wal = Wal {
            dir: dir.to_path_buf(),
            file: None,
            path: segment_path(dir, 1),
            seq: 1,
            size: 0,
            writable: false,
            damaged: Vec::new(),
            commit: GroupCommit::new(),
        };
        if !dir.is_dir() {
            return Ok((wal, Vec::new(), Vec::new()));
        }
        let read = read_segments(dir, false)?;
        wal.damaged = read.damaged;
        Ok((wal, read.entries, read.warnings))
    }

    /// The segments whose damaged records were skipped at open (their
    /// points are lost).
    pub fn damage(&self) -> &[WalDamage] {
        &self.damaged
    }

    /// The commit queue appends wait in ([`Wal::append_unsynced`]).
    pub fn group_commit(&self) -> Arc<GroupCommit> {
        Arc::clone(&self.commit)
    }

    /// The segment being appended to, created (and its directory entry
    /// fsynced) when it does not exist yet.
    fn segment(&mut self) -> Result<Arc<File>> {
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
            self.file = Some(Arc::new(file));
        }
        Ok(Arc::clone(self.file.as_ref().expect("created above")))
    }

    /// Appends one entry and fsyncs it: when this returns `Ok` the entry is
    /// durable (and so is every entry appended before it).
    pub fn append(&mut self, entry: &WalEntry) -> Result<()> {
        let ticket = self.append_unsynced(entry)?;
        self.commit.wait_durable(ticket)
    }

    /// Appends one entry without waiting for its fsync; returns its ticket
    /// for [`GroupCommit::wait_durable`], which makes it durable (sharing
    /// one fsync with the writers that appended meanwhile). Fails once an
    /// fsync of this WAL failed.
    pub fn append_unsynced(&mut self, entry: &WalEntry) -> Result<u64> {
        self.commit.check_healthy()?;
        let payload = encode_entry(entry);
        let mut rec = Vec::with_capacity(payload.len() + framing::HEADER_LEN);
        framing::put_record(&mut rec, framing::WAL, &payload);
        let size = self.size;
        let file = self.segment()?;
        if let Err(e) = (&*file).write_all(&rec) {
            // A partial record (disk full) would hide the records appended
            // after it: cut it off so the segment stays a clean prefix.
            let _ = file.set_len(size);
            return Err(TsmError::io(&self.path, e));
        }
        let ticket = self.commit.appended(&Segment {
            file,
            path: self.path.clone(),
        });
        self.size += rec.len() as u64;
        if self.size >= SEGMENT_BYTES {
            self.rotate()?;
        }
        Ok(ticket)
    }

    /// Closes the current segment; the next append starts segment
    /// `seq + 1`. Returns that number (every older segment is closed).
    /// The closed segment is fsynced first, so that every record appended
    /// so far is durable: a group-commit leader only syncs the newest
    /// segment.
    pub fn rotate(&mut self) -> Result<u64> {
        if let Some(file) = self.file.take() {
            if let Err(e) = file.sync_data() {
                self.commit.poison(self.path.clone(), &e);
                return Err(TsmError::io(&self.path, e));
            }
            self.commit.synced_all();
        }
        self.seq += 1;
        self.path = segment_path(&self.dir, self.seq);
        self.size = 0;
        Ok(self.seq)
    }

    /// Deletes every segment numbered below `seq`, except those with
    /// damaged records: renamed `NNNNNNNN.wal.damaged`, they keep marking
    /// the loss at later opens (and are never replayed again).
    pub fn remove_before(&self, seq: u64) -> Result<()> {
        let mut renamed = false;
        for s in list_segments(&self.dir)? {
            if s < seq {
                let p = segment_path(&self.dir, s);
                if self.damaged.iter().any(|d| d.path == p) {
                    let to = damaged_path(&p);
                    fs::rename(&p, &to).at(&p)?;
                    renamed = true;
                } else {
                    fs::remove_file(&p).at(&p)?;
                }
            }
        }
        if renamed {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .at(&self.dir)?;
        }
        Ok(())
    }
}

/// Reads every segment of the WAL in `dir` as [`Wal::open`] does, without
/// changing anything (no truncation, no new segment): the intact entries in
/// log order and the warnings. For read-only opens and checks.
pub fn read_all(dir: &Path) -> Result<(Vec<WalEntry>, Vec<String>)> {
    if !dir.is_dir() {
        return Ok((Vec::new(), Vec::new()));
    }
    let read = read_segments(dir, false)?;
    Ok((read.entries, read.warnings))
}

/// What [`read_segments`] found.
struct SegmentsRead {
    /// Numbers of the live segments.
    seqs: Vec<u64>,
    /// Intact entries in log order.
    entries: Vec<WalEntry>,
    warnings: Vec<String>,
    /// True when the last segment read without a problem.
    last_clean: bool,
    /// Segments with damaged records (live ones and kept `.damaged` ones).
    damaged: Vec<WalDamage>,
}

/// Replays every segment of `dir`; cuts torn tails off when `truncate_torn`.
/// Segments kept as `.wal.damaged` are not replayed, only reported.
fn read_segments(dir: &Path, truncate_torn: bool) -> Result<SegmentsRead> {
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    let mut damaged = Vec::new();
    for seq in list_with_suffix(dir, &format!(".wal{DAMAGED_SUFFIX}"))? {
        let path = damaged_path(&segment_path(dir, seq));
        let bytes = fs::read(&path).at(&path)?;
        let mut ignored = Vec::new();
        let (at, message) = read_segment(&path, &bytes, &mut ignored, &mut Vec::new())
            .1
            .unwrap_or((0, "kept after an earlier open found damage in it".into()));
        warnings.push(format!(
            "WAL segment {} holds damaged records (at byte {at}: {message}); the points \
             they held are lost, queries fail unless partial results are allowed",
            path.display()
        ));
        damaged.push(WalDamage {
            path,
            offset: at as u64,
            message,
        });
    }
    let seqs = list_segments(dir)?;
    let mut last_clean = true;
    for &seq in &seqs {
        let path = segment_path(dir, seq);
        let bytes = fs::read(&path).at(&path)?;
        framing::check_version(&bytes, framing::WAL, &path)?;
        let before = warnings.len();
        let (torn, damage) = read_segment(&path, &bytes, &mut entries, &mut warnings);
        if let Some((at, message)) = damage {
            damaged.push(WalDamage {
                path: path.clone(),
                offset: at as u64,
                message,
            });
        }
        last_clean = torn.is_none() && warnings.len() == before;
        let Some(torn_at) = torn else {
            continue;
        };
        let seg = path.display();
        if truncate_torn {
            truncate(&path, torn_at)?;
            warnings.push(format!(
                "WAL segment {seg}: torn record at byte {torn_at}; truncated at byte \
                 {torn_at} of {}",
                bytes.len()
            ));
        } else {
            warnings.push(format!(
                "WAL segment {seg}: torn record at byte {torn_at} of {} (left in place)",
                bytes.len()
            ));
        }
    }
    Ok(SegmentsRead {
        seqs,
        entries,
        warnings,
        last_clean,
        damaged,
    })
}

/// Decodes the records of segment `path` into `out`, skipping damaged
/// ones with a warning naming the byte range; returns the offset of a torn
/// tail, if any, and the offset and reason of the first damaged record.
fn read_segment(
    path: &Path,
    bytes: &[u8],
    out: &mut Vec<WalEntry>,
    warnings: &mut Vec<String>,
) -> (Option<usize>, Option<(usize, String)>) {
    let seg = path.display();
    let mut first_damage = None;
    for frame in framing::scan(bytes, framing::WAL) {
        match frame {
            Frame::Record { at, payload } => match decode_entry(payload) {
                Ok(e) => out.push(e),
                Err(m) => {
                    warnings.push(format!(
                        "WAL segment {seg}: skipped bytes {at}..{} (undecodable record: {m})",
                        at + framing::HEADER_LEN + payload.len()
                    ));
                    first_damage.get_or_insert((at, format!("undecodable record: {m}")));
                }
            },
            Frame::Damaged { at, end, reason } => {
                first_damage.get_or_insert((at, format!("bytes {at}..{end}: {reason}")));
                let after = if end < bytes.len() {
                    "; the records after them were recovered"
                } else {
                    ""
                };
                warnings.push(format!(
                    "WAL segment {seg}: skipped bytes {at}..{end} ({reason}){after}"
                ));
            }
            Frame::TornTail { at, .. } => return (Some(at), first_damage),
        }
    }
    (None, first_damage)
}

/// Cuts segment `path` to `len` bytes, durably.
fn truncate(path: &Path, len: usize) -> Result<()> {
    let f = OpenOptions::new().write(true).open(path).at(path)?;
    f.set_len(len as u64).at(path)?;
    f.sync_all().at(path)
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

pub(crate) fn decode_entry(payload: &[u8]) -> Result<WalEntry, String> {
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
        let (path, full) = two_records_second_torn(&dir);
        let (mut wal, e, w) = Wal::read_only(&dir).unwrap();
        assert_eq!(e, vec![write(1.0)]);
        assert!(
            w[0].ends_with(&format!(
                "torn record at byte {} of {} (left in place)",
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

    /// Writes `write(1.0)` and `write(2.0)` into a WAL in `dir`, then chops
    /// 3 bytes off the second record (it is torn); returns the segment's
    /// path and its length before the cut.
    fn two_records_second_torn(dir: &Path) -> (PathBuf, u64) {
        let (mut wal, _, _) = Wal::open(dir).unwrap();
        wal.append(&write(1.0)).unwrap();
        wal.append(&write(2.0)).unwrap();
        let path = wal.path.clone();
        drop(wal);
        let full = fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(full - 3).unwrap();
        (path, full)
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
        let (path, full) = two_records_second_torn(&dir);
        // Reading without opening changes nothing.
        let (e, w) = read_all(&dir).unwrap();
        assert_eq!(e, vec![write(1.0)]);
        assert!(
            w[0].ends_with(&format!("of {} (left in place)", full - 3)),
            "{}",
            w[0]
        );
        assert_eq!(fs::metadata(&path).unwrap().len(), full - 3);
        assert_eq!(list_segments(&dir).unwrap(), vec![1]);
        let (_, e, w) = Wal::open(&dir).unwrap();
        assert_eq!(e, vec![write(1.0)]);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("torn record at byte"), "{}", w[0]);
        // Two records of equal size: the intact prefix is half the original length.
        assert_eq!(fs::metadata(&path).unwrap().len(), full / 2);
    }

    #[test]
    fn a_damaged_record_is_skipped_and_the_rest_recovered() {
        let dir = test_dir("wal_skip");
        let (mut wal, _, _) = Wal::open(&dir).unwrap();
        for i in 0..5 {
            wal.append(&write(f64::from(i))).unwrap();
        }
        let path = wal.path.clone();
        drop(wal);
        let clean = fs::read(&path).unwrap();
        // Five records of equal size; record 2 spans [2 * rec, 3 * rec).
        let rec = clean.len() / 5;
        let want: Vec<WalEntry> = [0.0, 1.0, 3.0, 4.0].into_iter().map(write).collect();
        for i in 2 * rec..3 * rec {
            let mut bytes = clean.clone();
            bytes[i] ^= 0x01;
            let (mut got, mut warnings) = (Vec::new(), Vec::new());
            let (torn, damage) = read_segment(&path, &bytes, &mut got, &mut warnings);
            assert_eq!(torn, None, "flip at byte {i}");
            assert_eq!(damage.map(|d| d.0), Some(2 * rec), "flip at byte {i}");
            assert_eq!(got, want, "flip at byte {i}");
            let range = format!("skipped bytes {}..{} (", 2 * rec, 3 * rec);
            assert_eq!(warnings.len(), 1, "flip at byte {i}: {warnings:?}");
            assert!(warnings[0].contains(&range), "{}", warnings[0]);
        }
        // Through open: the segment is kept as it is (not truncated).
        let mut bytes = clean.clone();
        bytes[2 * rec + 5] ^= 0xFF; // a length byte
        fs::write(&path, &bytes).unwrap();
        let (wal, e, w) = Wal::open(&dir).unwrap();
        assert_eq!(e, want);
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with(&format!("WAL segment {}: skipped bytes", path.display())));
        assert_eq!(fs::read(&path).unwrap(), bytes);
        let header_damage = format!(
            "bytes {}..{}: record header checksum mismatch",
            2 * rec,
            3 * rec
        );
        assert_eq!(
            wal.damage(),
            &[WalDamage {
                path: path.clone(),
                offset: 2 * rec as u64,
                message: header_damage.clone(),
            }]
        );
        assert_eq!(
            wal.damage()[0].error().to_string(),
            format!(
                "corrupt file {} at offset {}: damaged WAL record ({header_damage}); the \
                 points it held are lost",
                path.display(),
                2 * rec
            )
        );
    }

    #[test]
    fn a_damaged_segment_is_kept_as_a_marker_once_a_snapshot_covers_it() {
        let dir = test_dir("wal_damaged_kept");
        let (mut wal, _, _) = Wal::open(&dir).unwrap();
        wal.append(&write(1.0)).unwrap();
        wal.append(&write(2.0)).unwrap();
        let path = wal.path.clone();
        drop(wal);
        let mut bytes = fs::read(&path).unwrap();
        bytes[0] ^= 0xFF; // the first record's marker
        fs::write(&path, &bytes).unwrap();
        let (mut wal, e, _) = Wal::open(&dir).unwrap();
        assert_eq!(e, vec![write(2.0)]);
        assert_eq!(wal.damage().len(), 1);
        // A snapshot covered segment 1: it is renamed, not deleted.
        let next = wal.rotate().unwrap();
        wal.remove_before(next).unwrap();
        let kept = dir.join("00000001.wal.damaged");
        assert_eq!(list_segments(&dir).unwrap(), Vec::<u64>::new());
        assert_eq!(fs::read(&kept).unwrap(), bytes);
        // Later opens replay nothing from it and still report the loss.
        let (wal, e, w) = Wal::open(&dir).unwrap();
        assert_eq!(e, Vec::<WalEntry>::new());
        let rec = bytes.len() / 2;
        let message = format!("bytes 0..{rec}: no WAL segment record marker");
        assert_eq!(
            wal.damage(),
            &[WalDamage {
                path: kept.clone(),
                offset: 0,
                message: message.clone(),
            }]
        );
        assert_eq!(
            w,
            vec![format!(
                "WAL segment {} holds damaged records (at byte 0: {message}); the points \
                 they held are lost, queries fail unless partial results are allowed",
                kept.display()
            )]
        );
        let (ro, _, _) = Wal::read_only(&dir).unwrap();
        assert_eq!(ro.damage(), wal.damage());
    }

    #[test]
    fn version_1_segments_are_refused() {
        let dir = test_dir("wal_v1");
        let payload = encode_entry(&write(1.0));
        let mut old = (payload.len() as u32).to_be_bytes().to_vec();
        old.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
        old.extend_from_slice(&payload);
        fs::write(segment_path(&dir, 1), &old).unwrap();
        let err = Wal::open(&dir).unwrap_err().to_string();
        assert!(
            err.contains("00000001.wal: WAL segment written in record format version 1"),
            "{err}"
        );
    }
}
