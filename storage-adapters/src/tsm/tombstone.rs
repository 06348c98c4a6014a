//! Tombstones: deletes recorded against one TSM file, in a sidecar file
//! `<name>.tsm.tombstone` of records `[u32 BE length][u32 BE CRC32][key]
//! [i64 BE min][i64 BE max]`. A tombstone hides the points of its series with
//! `min <= t <= max` in *that* file only, so points written after the delete
//! (in newer files or the cache) survive. Readers apply them to every block
//! they decode; compaction drops the hidden points for good.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::bytes::{put_str, Cursor};
use super::error::{IoContext, Result, TsmError};
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

/// Reads the tombstones of the TSM file `tsm` (none when there is no sidecar).
pub fn load(tsm: &Path) -> Result<Vec<Tombstone>> {
    let path = tombstone_path(tsm);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TsmError::io(&path, e)),
    };
    let mut out = Vec::new();
    let mut c = Cursor::new(&bytes);
    while !c.is_done() {
        let at = c.pos() as u64;
        let rec = (|| -> Result<Tombstone, String> {
            let len = c.u32()? as usize;
            let crc = c.u32()?;
            let payload = c.take(len)?;
            if crc32fast::hash(payload) != crc {
                return Err("CRC mismatch".into());
            }
            let mut p = Cursor::new(payload);
            Ok(Tombstone {
                key: p.str()?,
                min: p.i64()?,
                max: p.i64()?,
            })
        })();
        match rec {
            Ok(t) => out.push(t),
            // A torn tail is a delete that was never acknowledged.
            Err(_) if tail_is_torn(&bytes, at) => break,
            Err(m) => return Err(TsmError::corrupt(&path, at, format!("tombstone: {m}"))),
        }
    }
    Ok(out)
}

fn tail_is_torn(bytes: &[u8], at: u64) -> bool {
    let rest = &bytes[at as usize..];
    rest.len() < 8 || {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest.len() < 8 + len
    }
}

/// Appends `stones` to the sidecar of `tsm` and fsyncs it.
pub fn append(tsm: &Path, stones: &[Tombstone]) -> Result<()> {
    let path = tombstone_path(tsm);
    let mut buf = Vec::new();
    for t in stones {
        let mut payload = Vec::new();
        put_str(&mut payload, &t.key);
        payload.extend_from_slice(&t.min.to_be_bytes());
        payload.extend_from_slice(&t.max.to_be_bytes());
        buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        buf.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
        buf.extend_from_slice(&payload);
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .at(&path)?;
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
        assert!(load(&tsm).unwrap().is_empty());
        let t = Tombstone {
            key: "cpu#v".into(),
            min: 10,
            max: 20,
        };
        append(&tsm, std::slice::from_ref(&t)).unwrap();
        assert_eq!(load(&tsm).unwrap(), vec![t]);
        let (ts, vs) = apply(
            vec![5, 10, 15, 20, 25],
            Values::Integer(vec![1, 2, 3, 4, 5]),
            &[(10, 20)],
        );
        assert_eq!(ts, vec![5, 25]);
        assert_eq!(vs, Values::Integer(vec![1, 5]));
    }
}
