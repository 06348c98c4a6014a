//! Stand-in for `tsm::encoding` until the `codecs` branch lands: the same
//! function signatures with uncompressed big-endian payloads (1-byte header 0).
//! Only block.rs calls it; it is removed when the real codecs are merged.

/// Decode error of the stand-in codecs.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EncodingError(String);

/// Result alias.
pub type Result<T> = std::result::Result<T, EncodingError>;

fn fixed<const N: usize>(src: &[u8]) -> Result<std::slice::ChunksExact<'_, u8>> {
    match src.split_first() {
        Some((0, rest)) if rest.len() % N == 0 => Ok(rest.chunks_exact(N)),
        _ => Err(EncodingError(format!(
            "raw block of {} bytes is malformed",
            src.len()
        ))),
    }
}

fn arr<const N: usize>(c: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(c);
    a
}

/// Timestamps.
pub mod timestamp {
    use super::*;
    /// Encodes.
    pub fn encode(src: &[i64], dst: &mut Vec<u8>) -> Result<()> {
        dst.push(0);
        src.iter()
            .for_each(|v| dst.extend_from_slice(&v.to_be_bytes()));
        Ok(())
    }
    /// Decodes.
    pub fn decode(src: &[u8], dst: &mut Vec<i64>) -> Result<()> {
        dst.extend(fixed::<8>(src)?.map(|c| i64::from_be_bytes(arr(c))));
        Ok(())
    }
}

/// Floats.
pub mod float {
    use super::*;
    /// Encodes.
    pub fn encode(src: &[f64], dst: &mut Vec<u8>) -> Result<()> {
        dst.push(0);
        src.iter()
            .for_each(|v| dst.extend_from_slice(&v.to_bits().to_be_bytes()));
        Ok(())
    }
    /// Decodes.
    pub fn decode(src: &[u8], dst: &mut Vec<f64>) -> Result<()> {
        dst.extend(fixed::<8>(src)?.map(|c| f64::from_bits(u64::from_be_bytes(arr(c)))));
        Ok(())
    }
}

/// Integers.
pub mod integer {
    use super::*;
    /// Encodes.
    pub fn encode(src: &[i64], dst: &mut Vec<u8>) -> Result<()> {
        super::timestamp::encode(src, dst)
    }
    /// Decodes.
    pub fn decode(src: &[u8], dst: &mut Vec<i64>) -> Result<()> {
        super::timestamp::decode(src, dst)
    }
    /// Encodes unsigned.
    pub fn encode_unsigned(src: &[u64], dst: &mut Vec<u8>) -> Result<()> {
        dst.push(0);
        src.iter()
            .for_each(|v| dst.extend_from_slice(&v.to_be_bytes()));
        Ok(())
    }
    /// Decodes unsigned.
    pub fn decode_unsigned(src: &[u8], dst: &mut Vec<u64>) -> Result<()> {
        dst.extend(fixed::<8>(src)?.map(|c| u64::from_be_bytes(arr(c))));
        Ok(())
    }
}

/// Booleans.
pub mod boolean {
    use super::*;
    /// Encodes.
    pub fn encode(src: &[bool], dst: &mut Vec<u8>) -> Result<()> {
        dst.push(0);
        dst.extend(src.iter().map(|&b| u8::from(b)));
        Ok(())
    }
    /// Decodes.
    pub fn decode(src: &[u8], dst: &mut Vec<bool>) -> Result<()> {
        dst.extend(fixed::<1>(src)?.map(|c| c[0] != 0));
        Ok(())
    }
}

/// Strings.
pub mod string {
    use super::*;
    /// Encodes.
    pub fn encode<S: AsRef<[u8]>>(src: &[S], dst: &mut Vec<u8>) -> Result<()> {
        dst.push(0);
        for s in src {
            let s = s.as_ref();
            dst.extend_from_slice(&(s.len() as u32).to_be_bytes());
            dst.extend_from_slice(s);
        }
        Ok(())
    }
    /// Decodes.
    pub fn decode(src: &[u8], dst: &mut Vec<Vec<u8>>) -> Result<()> {
        let mut c = crate::tsm::bytes::Cursor::new(src);
        let bad = |m: String| EncodingError(m);
        if c.u8().map_err(bad)? != 0 {
            return Err(EncodingError("bad raw string header".into()));
        }
        while !c.is_done() {
            let n = c.u32().map_err(bad)? as usize;
            dst.push(c.take(n).map_err(bad)?.to_vec());
        }
        Ok(())
    }
}
