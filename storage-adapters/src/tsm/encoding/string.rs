//! String blocks: every value as a uvarint length followed by its bytes, the whole concatenation
//! compressed with snappy (raw format). Values are byte strings; the line-protocol layer keeps them
//! UTF-8, but the codec does not require it.
//!
//! ```text
//! header 0x10 | snappy( uvarint len0 | bytes0 | uvarint len1 | bytes1 | ... )
//! ```
//! Snappy cannot expand data more than about 21x, so a block claiming a larger decompressed size is
//! rejected before anything is allocated.

use super::bytes::{put_uvarint, ByteReader};
use super::{
    check_encode_len, decode_atomically, header_kind, read_header, EncodingError, Result,
    MAX_VALUES,
};

const BLOCK: &str = "string";
/// Encoding type: snappy-compressed length-prefixed values.
const SNAPPY: u8 = 1;
/// Largest decompressed-to-compressed size ratio accepted (snappy's real bound is about 21.4).
const MAX_EXPANSION: usize = 24;

/// Appends the encoded block for `src` to `dst`.
pub fn encode<S: AsRef<[u8]>>(src: &[S], dst: &mut Vec<u8>) -> Result<()> {
    check_encode_len(BLOCK, src.len())?;
    let total: usize = src.iter().map(|s| s.as_ref().len() + 10).sum();
    let mut payload = Vec::with_capacity(total);
    for s in src {
        let s = s.as_ref();
        put_uvarint(&mut payload, s.len() as u64);
        payload.extend_from_slice(s);
    }
    let compressed = snap::raw::Encoder::new()
        .compress_vec(&payload)
        .map_err(|e| EncodingError::Unencodable {
            block: BLOCK,
            message: format!("snappy: {e}"),
        })?;
    dst.push(SNAPPY << 4);
    dst.extend_from_slice(&compressed);
    Ok(())
}

/// Appends the strings held by the block `src` to `dst` (unchanged on error).
pub fn decode(src: &[u8], dst: &mut Vec<Vec<u8>>) -> Result<()> {
    decode_atomically(dst, |dst| decode_block(src, dst))
}

fn decode_block(src: &[u8], dst: &mut Vec<Vec<u8>>) -> Result<()> {
    let header = read_header(BLOCK, src)?;
    let kind = header_kind(header);
    if kind != SNAPPY || header & 0x0f != 0 {
        return Err(EncodingError::UnknownEncoding {
            block: BLOCK,
            kind,
            header,
        });
    }
    let block = ByteReader::new(BLOCK, src, 1);
    let body = block.rest();
    let claimed = snap::raw::decompress_len(body)
        .map_err(|e| block.corrupt(1, format!("snappy header: {e}")))?;
    if claimed > body.len().saturating_mul(MAX_EXPANSION) {
        return Err(block.corrupt(
            1,
            format!(
                "snappy claims {claimed} bytes from {} compressed bytes",
                body.len()
            ),
        ));
    }
    let payload = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| block.corrupt(1, format!("snappy: {e}")))?;
    split_values(&payload, dst)
}

/// Splits the decompressed payload into its length-prefixed values.
fn split_values(payload: &[u8], dst: &mut Vec<Vec<u8>>) -> Result<()> {
    let mut r = ByteReader::new("string payload", payload, 0);
    let mut count = 0usize;
    while !r.rest().is_empty() {
        let at = r.pos();
        let len = r.read_uvarint()?;
        let rest = r.rest();
        if len > rest.len() as u64 {
            return Err(r.truncated(at));
        }
        count += 1;
        if count > MAX_VALUES {
            return Err(r.corrupt(at, format!("more than {MAX_VALUES} values")));
        }
        let len = len as usize;
        dst.push(rest[..len].to_vec());
        r = ByteReader::new("string payload", payload, r.pos() + len);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip<S: AsRef<[u8]>>(src: &[S]) -> Vec<u8> {
        let mut block = Vec::new();
        encode(src, &mut block).unwrap();
        let mut out = Vec::new();
        decode(&block, &mut out).unwrap();
        let expected: Vec<Vec<u8>> = src.iter().map(|s| s.as_ref().to_vec()).collect();
        assert_eq!(out, expected);
        block
    }

    #[test]
    fn small_block_is_a_snappy_literal() {
        // Payload 02 'h' 'i' 00 (4 bytes). Snappy raw: varint length 4, then a literal tag
        // (len - 1) << 2 = 0x0c, then the 4 bytes.
        let block = round_trip(&["hi", ""]);
        assert_eq!(block, [0x10, 0x04, 0x0c, 0x02, b'h', b'i', 0x00]);
        // No values: snappy of an empty payload is the single length byte 0.
        assert_eq!(round_trip::<&str>(&[]), [0x10, 0x00]);
    }

    #[test]
    fn repetitive_strings_compress() {
        let src = vec!["host=server-01,region=eu-west"; 1000];
        let block = round_trip(&src);
        assert!(block.len() < 2000, "{} bytes", block.len());
    }

    #[test]
    fn corrupt_blocks_are_errors() {
        let mut out = vec![b"keep".to_vec()];
        // Payload says a 5-byte value follows but only 2 bytes do.
        let err = decode(&[0x10, 0x03, 0x08, 0x05, b'a', b'b'], &mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "string payload block: truncated at byte 0 of 3"
        );
        // Claims 2^28 decompressed bytes from 5 compressed ones.
        let err = decode(&[0x10, 0x80, 0x80, 0x80, 0x80, 0x01], &mut out).unwrap_err();
        assert!(
            err.to_string().contains("snappy claims 268435456 bytes"),
            "{err}"
        );
        let err = decode(&[0x10, 0x04, 0x0c, 0x02], &mut out).unwrap_err();
        assert!(err.to_string().starts_with("string block: snappy"), "{err}");
        assert!(decode(&[0x20, 0], &mut out).is_err());
        assert_eq!(out, vec![b"keep".to_vec()]);
    }

    proptest! {
        #[test]
        fn round_trips_any_strings(src in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..40), 0..100)) {
            round_trip(&src);
        }
    }
}
