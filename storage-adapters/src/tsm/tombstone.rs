//! Tombstones: deletes recorded against one TSM file, in a sidecar file
//! `<name>.tsm.tombstone` of records framed by [`framing`] holding `[str key]
//! [i64 BE min][i64 BE max]`. A tombstone hides the points of its series with
//! `min <= t <= max` in *that* file only, so points written after the delete
//! (in newer files or the cache) survive. Readers apply them to every block
//! they decode; compaction drops the hidden points for good. A damaged
//! sidecar makes every read of its TSM file fail (a lost delete must not
//! bring points back), see [`Tombstones`].

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::bytes::{put_str, Cursor};
use super::error::{IoContext, Result, TsmError};
use super::framing::{self, Frame};
use super::value::Values;

/// One delete: series key and inclusive time bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// Series key.
    pub key: String,
    /// Inclusive lower bound.
    pub min: i64,
    /// Inclusive upper bound.
    pub max: i64,
}

/// The sidecar path of a TSM file.
pub fn tombstone_path(tsm: &Path) -> PathBuf {
    let mut p = tsm.as_os_str().to_owned();
    p.push(".tombstone");
    PathBuf::from(p)
}

/// Reads the tombstones of the TSM file `tsm` (none when there is no
/// sidecar), failing when the sidecar is damaged. For checks; readers keep a
/// [`Tombstones`] so that only reads of the file fail.
pub fn load(tsm: &Path) -> Result<Vec<Tombstone>> {
    let t = Tombstones::load(tsm)?;
    t.check()?;
    Ok(t.stones)
}

/// Why a tombstone file cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Damage {
    /// A record (other than a torn tail) failed its checksum or did not decode.
    Corrupt { offset: u64, message: String },
    /// Written in an older record format.
    Unsupported(String),
}

/// The tombstones of one TSM file as loaded from its sidecar. When the
/// sidecar is damaged, a delete may be missing, so every question about
/// deleted ranges fails with the damage instead of answering "none".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    path: PathBuf,
    stones: Vec<Tombstone>,
    damage: Option<Damage>,
}

impl Tombstones {
    /// Reads the tombstones of the TSM file `tsm` (none when there is no
    /// sidecar). Only I/O errors fail; damage is kept and reported by
    /// [`Tombstones::ranges`]. A torn tail (a delete that never returned) is
    /// ignored.
    pub fn load(tsm: &Path) -> Result<Tombstones> {
        let path = tombstone_path(tsm);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(TsmError::io(&path, e)),
        };
        let mut out = Tombstones {
            path,
            ..Tombstones::default()
        };
        if let Err(e) = framing::check_version(&bytes, framing::TOMBSTONE, &out.path) {
            out.damage = Some(Damage::Unsupported(match e {
                TsmError::Unsupported { message, .. } => message,
                other => other.to_string(),
            }));
            return Ok(out);
        }
        for frame in framing::scan(&bytes, framing::TOMBSTONE) {
            let (at, problem) = match frame {
                Frame::Record { at, payload } => match decode(payload) {
                    Ok(t) => {
                        out.stones.push(t);
                        continue;
                    }
                    Err(m) => (at, format!("undecodable record: {m}")),
                },
                Frame::Damaged { at, end, reason } => (at, format!("bytes {at}..{end}: {reason}")),
                Frame::TornTail { .. } => break,
            };
            if out.damage.is_none() {
                out.damage = Some(Damage::Corrupt {
                    offset: at as u64,
                    message: format!(
                        "damaged tombstone record ({problem}); the deletes recorded against \
                         this TSM file are unknown, so it is not read"
                    ),
                });
            }
        }
        Ok(out)
    }

    /// Fails with the damage of the sidecar, if any.
    pub fn check(&self) -> Result<()> {
        match &self.damage {
            None => Ok(()),
            Some(Damage::Corrupt { offset, message }) => {
                Err(TsmError::corrupt(&self.path, *offset, message.clone()))
            }
            Some(Damage::Unsupported(message)) => Err(TsmError::Unsupported {
                path: self.path.clone(),
                message: message.clone(),
            }),
        }
    }

    /// Time ranges deleted from series `key`; fails when the sidecar is damaged.
    pub fn ranges(&self, key: &str) -> Result<Vec<(i64, i64)>> {
        self.check()?;
        Ok(self
            .stones
            .iter()
            .filter(|t| t.key == key)
            .map(|t| (t.min, t.max))
            .collect())
    }

    /// True when a tombstone may name `key` (always, when damaged).
    pub fn may_name(&self, key: &str) -> bool {
        self.damage.is_some() || self.stones.iter().any(|t| t.key == key)
    }

    /// True when no tombstone is recorded and the sidecar is intact.
    pub fn is_empty(&self) -> bool {
        self.damage.is_none() && self.stones.is_empty()
    }

    /// The intact tombstones.
    pub fn stones(&self) -> &[Tombstone] {
        &self.stones
    }

    /// Adds tombstones just appended to the sidecar.
    pub fn extend(&mut self, stones: Vec<Tombstone>) {
        self.stones.extend(stones);
    }
}

pub(crate) fn decode(payload: &[u8]) -> Result<Tombstone, String> {
    let mut p = Cursor::new(payload);
    let t = Tombstone {
        key: p.str()?,
        min: p.i64()?,
        max: p.i64()?,
    };
    if !p.is_done() {
        return Err(format!("{} trailing bytes", payload.len() - p.pos()));
    }
    Ok(t)
}

/// Appends `stones` to the sidecar of `tsm` and fsyncs it. A torn tail left
/// by an earlier append that never returned is cut off first, so it cannot
/// turn into damage in the middle of the file.
pub fn append(tsm: &Path, stones: &[Tombstone]) -> Result<()> {
    let path = tombstone_path(tsm);
    let mut buf = Vec::new();
    for t in stones {
        let mut payload = Vec::new();
        put_str(&mut payload, &t.key);
        payload.extend_from_slice(&t.min.to_be_bytes());
        payload.extend_from_slice(&t.max.to_be_bytes());
        framing::put_record(&mut buf, framing::TOMBSTONE, &payload);
    }
    let torn_at = match fs::read(&path) {
        Ok(b) => match framing::scan(&b, framing::TOMBSTONE).last() {
            Some(Frame::TornTail { at, .. }) => Some(*at as u64),
            _ => None,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(TsmError::io(&path, e)),
    };
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .at(&path)?;
    if let Some(at) = torn_at {
        f.set_len(at).at(&path)?;
    }
    f.write_all(&buf).at(&path)?;
    f.sync_all().at(&path)
}

/// Removes from `(times, values)` the points hidden by any of `ranges`.
pub fn apply(times: Vec<i64>, values: Values, ranges: &[(i64, i64)]) -> (Vec<i64>, Values) {
    if ranges.is_empty() {
        return (times, values);
    }
    let keep: Vec<usize> = (0..times.len())
        .filter(|&i| {
            !ranges
                .iter()
                .any(|&(lo, hi)| lo <= times[i] && times[i] <= hi)
        })
        .collect();
    if keep.len() == times.len() {
        return (times, values);
    }
    (
        keep.iter().map(|&i| times[i]).collect(),
        values.gather(&keep),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsm::test_dir;

    #[test]
    fn tombstones_persist_and_hide_points() {
        let dir = test_dir("tombstone");
        let tsm = dir.join("0000000001-0000000001-1.tsm");
        assert!(Tombstones::load(&tsm).unwrap().is_empty());
        let t = Tombstone {
            key: "cpu#v".into(),
            min: 10,
            max: 20,
        };
        append(&tsm, std::slice::from_ref(&t)).unwrap();
        assert_eq!(
            Tombstones::load(&tsm).unwrap().stones(),
            std::slice::from_ref(&t)
        );
        let (ts, vs) = apply(
            vec![5, 10, 15, 20, 25],
            Values::Integer(vec![1, 2, 3, 4, 5]),
            &[(10, 20)],
        );
        assert_eq!(ts, vec![5, 25]);
        assert_eq!(vs, Values::Integer(vec![1, 5]));

        // Every flipped byte of a two-record sidecar fails reads, naming the
        // sidecar and the offset of the damaged record.
        let u = Tombstone {
            key: "mem#free".into(),
            min: -3,
            max: 3,
        };
        append(&tsm, std::slice::from_ref(&u)).unwrap();
        let path = tombstone_path(&tsm);
        let clean = fs::read(&path).unwrap();
        // Record 1: 16 header bytes + 1 + 5 key bytes + 16 = 38 bytes.
        assert_eq!(clean.len(), 38 + 16 + 1 + 8 + 16);
        for i in 0..clean.len() {
            let mut b = clean.clone();
            b[i] ^= 0x08;
            fs::write(&path, &b).unwrap();
            let stones = Tombstones::load(&tsm).unwrap();
            let at = if i < 38 { 0 } else { 38 };
            let err = stones.ranges("cpu#v").unwrap_err().to_string();
            let want = format!("corrupt file {} at offset {at}: damaged", path.display());
            assert!(err.starts_with(&want), "flip at {i}: {err}");
            assert!(stones.may_name("other") && !stones.is_empty());
            assert_eq!(load(&tsm).unwrap_err().to_string(), err);
        }
        // A torn tail is a delete that never returned: ignored, and cut off
        // before the next append.
        fs::write(&path, &clean[..clean.len() - 4]).unwrap();
        let stones = Tombstones::load(&tsm).unwrap();
        assert_eq!(stones.ranges("cpu#v").unwrap(), vec![(10, 20)]);
        assert_eq!(stones.ranges("mem#free").unwrap(), vec![]);
        append(&tsm, std::slice::from_ref(&u)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), clean);
    }
}
