//! One TSM block: the points of one series (at most 1000), as
//! `[u32 BE CRC32 of the rest][type byte][uvarint timestamp-block length]
//! [encoded timestamps][encoded values]`, with the codecs of
//! `tsm::encoding`. Decoding checks the CRC first and reports failures with
//! the file and block offset.

use std::path::Path;

use crate::tsm::bytes::{put_uvarint, Cursor};
use tsq_engine::TimelineValue;

use crate::tsm::encoding::timestamp::LastRun;
use crate::tsm::encoding::{self, boolean, float, integer, string, timestamp};
use crate::tsm::error::{Result, TsmError};
use crate::tsm::value::{FieldType, Number, Values};

/// Encodes `times` / `values` (same length, sorted by time) into a block.
pub fn encode_block(times: &[i64], values: &Values, dst: &mut Vec<u8>) -> Result<()> {
    let start = dst.len();
    dst.extend_from_slice(&[0; 4]);
    dst.push(values.field_type() as u8);
    let mut ts = Vec::with_capacity(times.len());
    timestamp::encode(times, &mut ts).map_err(|e| TsmError::Invalid(format!("timestamps: {e}")))?;
    put_uvarint(dst, ts.len() as u64);
    dst.extend_from_slice(&ts);
    let r = match values {
        Values::Float(v) => float::encode(v, dst),
        Values::Integer(v) => integer::encode(v, dst),
        Values::Unsigned(v) => integer::encode_unsigned(v, dst),
        Values::Boolean(v) => boolean::encode(v, dst),
        Values::String(v) => string::encode(v, dst),
    };
    r.map_err(|e| TsmError::Invalid(format!("values: {e}")))?;
    let crc = crc32fast::hash(&dst[start + 4..]);
    dst[start..start + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Decodes a block read from `path` at `offset`, checking its CRC and that
/// it holds type `ty`.
pub fn decode_block(
    buf: &[u8],
    ty: FieldType,
    path: &Path,
    offset: u64,
) -> Result<(Vec<i64>, Values)> {
    let bad = |m: String| TsmError::corrupt(path, offset, format!("block: {m}"));
    let (ts, rest) = open_block(buf, ty, path, offset)?;
    let mut times = Vec::new();
    timestamp::decode(ts, &mut times).map_err(|e| bad(format!("timestamps: {e}")))?;
    let mut values = Values::empty(ty);
    let r = match &mut values {
        Values::Float(v) => float::decode(rest, v),
        Values::Integer(v) => integer::decode(rest, v),
        Values::Unsigned(v) => integer::decode_unsigned(rest, v),
        Values::Boolean(v) => boolean::decode(rest, v),
        Values::String(v) => {
            let mut raw = Vec::new();
            let r = string::decode(rest, &mut raw);
            for s in raw {
                v.push(String::from_utf8(s).map_err(|_| bad("string value is not UTF-8".into()))?);
            }
            r
        }
    };
    r.map_err(|e| bad(format!("values: {e}")))?;
    check_lengths(times.len(), values.len(), path, offset)?;
    Ok((times, values))
}

/// Decodes a numeric block like [`decode_block`] (same checks, same errors),
/// appending its times to `times` and its values, as `V`, to `values`: the
/// scan path, which decodes straight into the caller's vectors. What a
/// block of each type decodes to is [`ScanValue::decode`]'s rule (floats:
/// every numeric type, booleans as 0/1; integers and unsigned integers:
/// their own type only); another type is an error. Both vectors are left as
/// they were on error. Timestamps go through `last_run`
/// ([`timestamp::decode_remembered`]): a scan's blocks on one schedule copy
/// them rather than decode them again.
pub fn decode_block_into<V: ScanValue>(
    buf: &[u8],
    ty: FieldType,
    path: &Path,
    offset: u64,
    times: &mut Vec<i64>,
    values: &mut Vec<V>,
    last_run: &mut LastRun,
) -> Result<()> {
    let (t0, v0) = (times.len(), values.len());
    let r = decode_parts(buf, ty, path, offset, times, values, last_run)
        .and_then(|()| check_lengths(times.len() - t0, values.len() - v0, path, offset));
    if r.is_err() {
        times.truncate(t0);
        values.truncate(v0);
    }
    r
}

fn decode_parts<V: ScanValue>(
    buf: &[u8],
    ty: FieldType,
    path: &Path,
    offset: u64,
    times: &mut Vec<i64>,
    values: &mut Vec<V>,
    last_run: &mut LastRun,
) -> Result<()> {
    let bad = |m: String| TsmError::corrupt(path, offset, format!("block: {m}"));
    let (ts, rest) = open_block(buf, ty, path, offset)?;
    timestamp::decode_remembered(ts, times, last_run)
        .map_err(|e| bad(format!("timestamps: {e}")))?;
    match V::decode(ty, rest, values) {
        Ok(true) => Ok(()),
        Ok(false) => Err(bad(format!(
            "{} values cannot be read as {}",
            ty.name(),
            V::VALUE_TYPE
        ))),
        Err(e) => Err(bad(format!("values: {e}"))),
    }
}

/// A value type scans decode numeric blocks into: `f64`, `i64`, `u64`.
pub trait ScanValue: TimelineValue {
    /// Appends the encoded values `src` of a block of type `ty` to `dst`;
    /// `Ok(false)` (nothing appended) when that type is not read as `Self`.
    fn decode(ty: FieldType, src: &[u8], dst: &mut Vec<Self>) -> encoding::Result<bool>;
    /// A decoded column as `Self` values; `None` when its type is not read
    /// as `Self`.
    fn from_values(values: Values) -> Option<Vec<Self>>;
    /// One value as `Self`; `None` when its type is not read as `Self`.
    fn from_number(n: Number) -> Option<Self>;
}

impl ScanValue for f64 {
    fn decode(ty: FieldType, src: &[u8], dst: &mut Vec<f64>) -> encoding::Result<bool> {
        if ty == FieldType::Float {
            float::decode(src, dst)?;
            return Ok(true);
        }
        let mut typed = Values::empty(ty);
        match &mut typed {
            Values::Integer(v) => integer::decode(src, v)?,
            Values::Unsigned(v) => integer::decode_unsigned(src, v)?,
            Values::Boolean(v) => boolean::decode(src, v)?,
            _ => return Ok(false),
        }
        dst.extend(typed.to_f64().unwrap_or_default());
        Ok(true)
    }

    fn from_values(values: Values) -> Option<Vec<f64>> {
        match values {
            Values::Float(v) => Some(v),
            other => other.to_f64(),
        }
    }

    fn from_number(n: Number) -> Option<f64> {
        Some(n.to_f64())
    }
}

impl ScanValue for i64 {
    fn decode(ty: FieldType, src: &[u8], dst: &mut Vec<i64>) -> encoding::Result<bool> {
        if ty != FieldType::Integer {
            return Ok(false);
        }
        integer::decode(src, dst)?;
        Ok(true)
    }

    fn from_values(values: Values) -> Option<Vec<i64>> {
        match values {
            Values::Integer(v) => Some(v),
            _ => None,
        }
    }

    fn from_number(n: Number) -> Option<i64> {
        match n {
            Number::Integer(v) => Some(v),
            _ => None,
        }
    }
}

impl ScanValue for u64 {
    fn decode(ty: FieldType, src: &[u8], dst: &mut Vec<u64>) -> encoding::Result<bool> {
        if ty != FieldType::Unsigned {
            return Ok(false);
        }
        integer::decode_unsigned(src, dst)?;
        Ok(true)
    }

    fn from_values(values: Values) -> Option<Vec<u64>> {
        match values {
            Values::Unsigned(v) => Some(v),
            _ => None,
        }
    }

    fn from_number(n: Number) -> Option<u64> {
        match n {
            Number::Unsigned(v) => Some(v),
            _ => None,
        }
    }
}

/// Checks the CRC and the type byte of a block; returns its encoded
/// timestamps and its encoded values.
fn open_block<'a>(
    buf: &'a [u8],
    ty: FieldType,
    path: &Path,
    offset: u64,
) -> Result<(&'a [u8], &'a [u8])> {
    let bad = |m: String| TsmError::corrupt(path, offset, format!("block: {m}"));
    let mut c = Cursor::new(buf);
    let crc = c.u32().map_err(bad)?;
    if crc32fast::hash(&buf[4..]) != crc {
        return Err(TsmError::corrupt(path, offset, "block checksum mismatch"));
    }
    let code = c.u8().map_err(bad)?;
    if code != ty as u8 {
        return Err(bad(format!(
            "type {code} where the index says {}",
            ty.name()
        )));
    }
    let n = c.len(1).map_err(bad)?;
    let ts = c.take(n).map_err(bad)?;
    Ok((ts, &buf[c.pos()..]))
}

/// The error for a block whose columns differ in length.
fn check_lengths(times: usize, values: usize, path: &Path, offset: u64) -> Result<()> {
    if times == values {
        return Ok(());
    }
    Err(TsmError::corrupt(
        path,
        offset,
        format!("block: {times} timestamps but {values} values"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_and_detect_flips() {
        let p = Path::new("x.tsm");
        for values in [
            Values::Float(vec![1.5, -0.0, f64::NAN]),
            Values::Integer(vec![i64::MIN, 0, i64::MAX]),
            Values::Unsigned(vec![0, 7, u64::MAX]),
            Values::Boolean(vec![true, false, true]),
            Values::String(vec!["a".into(), "".into(), "ünï".into()]),
        ] {
            let mut b = Vec::new();
            encode_block(&[10, 20, 30], &values, &mut b).unwrap();
            let (t, v) = decode_block(&b, values.field_type(), p, 0).unwrap();
            assert_eq!(t, vec![10, 20, 30]);
            assert_eq!(format!("{v:?}"), format!("{values:?}"));
            let mut flipped = b.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            let err = decode_block(&flipped, values.field_type(), p, 77).unwrap_err();
            assert_eq!(
                err.to_string(),
                "corrupt file x.tsm at offset 77: block checksum mismatch"
            );
        }
    }
    #[test]
    fn f64_decoding_matches_typed_decoding_and_keeps_errors() {
        let p = Path::new("x.tsm");
        for values in [
            Values::Float(vec![1.5, -0.0, f64::NAN]),
            Values::Integer(vec![-7, 0, 9]),
            Values::Unsigned(vec![0, 7, u64::MAX]),
            Values::Boolean(vec![true, false, true]),
        ] {
            let mut b = Vec::new();
            encode_block(&[10, 20, 30], &values, &mut b).unwrap();
            let ty = values.field_type();
            // Appends after what is there.
            let (mut t, mut v) = (vec![1], vec![0.5]);
            decode_block_into(&b, ty, p, 0, &mut t, &mut v, &mut LastRun::default()).unwrap();
            assert_eq!(t, vec![1, 10, 20, 30]);
            let want = values.to_f64().unwrap();
            let bits = |x: &[f64]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&v[1..]), bits(&want), "{ty:?}");
            // A flipped bit: checksum error naming file and offset, vectors unchanged.
            let mut flipped = b.clone();
            flipped[6] ^= 0x10;
            let err =
                decode_block_into(&flipped, ty, p, 77, &mut t, &mut v, &mut LastRun::default())
                    .unwrap_err();
            assert_eq!(
                err.to_string(),
                "corrupt file x.tsm at offset 77: block checksum mismatch"
            );
            assert_eq!((t.len(), v.len()), (4, 4));
            // Truncated with a valid CRC: an error, never a panic.
            for cut in 0..b.len() {
                let mut short = b[..cut].to_vec();
                if short.len() >= 4 {
                    let crc = crc32fast::hash(&short[4..]);
                    short[..4].copy_from_slice(&crc.to_be_bytes());
                }
                let err =
                    decode_block_into(&short, ty, p, 5, &mut t, &mut v, &mut LastRun::default())
                        .unwrap_err();
                assert!(
                    err.to_string()
                        .starts_with("corrupt file x.tsm at offset 5: block"),
                    "{err}"
                );
                assert_eq!((t.len(), v.len()), (4, 4));
            }
        }
        // Wrong type, and a string block.
        let mut b = Vec::new();
        encode_block(&[1], &Values::Float(vec![2.0]), &mut b).unwrap();
        let err = decode_block_into(
            &b,
            FieldType::Integer,
            p,
            9,
            &mut vec![],
            &mut Vec::<f64>::new(),
            &mut LastRun::default(),
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "corrupt file x.tsm at offset 9: block: type 0 where the index says integer"
        );
        let mut b = Vec::new();
        encode_block(&[1], &Values::String(vec!["a".into()]), &mut b).unwrap();
        let err = decode_block_into(
            &b,
            FieldType::String,
            p,
            9,
            &mut vec![],
            &mut Vec::<f64>::new(),
            &mut LastRun::default(),
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "corrupt file x.tsm at offset 9: block: string values cannot be read as float"
        );
    }

    #[test]
    fn integer_blocks_decode_exactly_into_their_own_type_only() {
        let p = Path::new("x.tsm");
        let ints = vec![i64::MIN, 9_007_199_254_740_993, i64::MAX];
        let mut b = Vec::new();
        encode_block(&[1, 2, 3], &Values::Integer(ints.clone()), &mut b).unwrap();
        let (mut t, mut v) = (Vec::new(), Vec::<i64>::new());
        decode_block_into(
            &b,
            FieldType::Integer,
            p,
            0,
            &mut t,
            &mut v,
            &mut LastRun::default(),
        )
        .unwrap();
        assert_eq!((t, v), (vec![1, 2, 3], ints));
        let mut u = Vec::new();
        encode_block(&[1], &Values::Unsigned(vec![u64::MAX]), &mut u).unwrap();
        let (mut t, mut v) = (Vec::new(), Vec::<u64>::new());
        decode_block_into(
            &u,
            FieldType::Unsigned,
            p,
            0,
            &mut t,
            &mut v,
            &mut LastRun::default(),
        )
        .unwrap();
        assert_eq!(v, vec![u64::MAX]);
        // An unsigned block is not read as i64 (nor an integer one as u64).
        let err = decode_block_into(
            &u,
            FieldType::Unsigned,
            p,
            7,
            &mut t,
            &mut Vec::<i64>::new(),
            &mut LastRun::default(),
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "corrupt file x.tsm at offset 7: block: unsigned values cannot be read as integer"
        );
    }

    #[test]
    fn columns_of_different_lengths_are_an_error() {
        // Two timestamps but one float, CRC made valid by hand.
        let mut ts = Vec::new();
        timestamp::encode(&[1, 2], &mut ts).unwrap();
        let mut b = vec![0, 0, 0, 0, FieldType::Float as u8];
        put_uvarint(&mut b, ts.len() as u64);
        b.extend_from_slice(&ts);
        float::encode(&[3.0], &mut b).unwrap();
        let crc = crc32fast::hash(&b[4..]);
        b[..4].copy_from_slice(&crc.to_be_bytes());
        let p = Path::new("y.tsm");
        let want = "corrupt file y.tsm at offset 3: block: 2 timestamps but 1 values";
        let (mut t, mut v) = (Vec::new(), Vec::<f64>::new());
        let err = decode_block_into(
            &b,
            FieldType::Float,
            p,
            3,
            &mut t,
            &mut v,
            &mut LastRun::default(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), want);
        assert!(t.is_empty() && v.is_empty());
        let err = decode_block(&b, FieldType::Float, p, 3).unwrap_err();
        assert_eq!(err.to_string(), want);
    }
}
