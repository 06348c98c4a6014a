//! Boolean blocks: a varint count followed by the values packed eight to a byte, first value in the
//! most significant bit, the last byte padded with zero bits.
//!
//! ```text
//! header 0x10 | uvarint count | ceil(count / 8) bytes of bits
//! ```

use super::bytes::{put_uvarint, ByteReader};
use super::{
    check_count, check_encode_len, decode_atomically, header_kind, read_header, EncodingError,
    Result,
};

const BLOCK: &str = "boolean";
/// Encoding type: bit-packed.
const BIT_PACKED: u8 = 1;

/// Appends the encoded block for `src` to `dst`.
pub fn encode(src: &[bool], dst: &mut Vec<u8>) -> Result<()> {
    check_encode_len(BLOCK, src.len())?;
    dst.push(BIT_PACKED << 4);
    put_uvarint(dst, src.len() as u64);
    dst.extend(src.chunks(8).map(|chunk| {
        chunk
            .iter()
            .enumerate()
            .fold(0u8, |byte, (i, &b)| byte | (u8::from(b) << (7 - i)))
    }));
    Ok(())
}

/// Appends the booleans held by the block `src` to `dst` (unchanged on error).
pub fn decode(src: &[u8], dst: &mut Vec<bool>) -> Result<()> {
    decode_atomically(dst, |dst| decode_block(src, dst))
}

fn decode_block(src: &[u8], dst: &mut Vec<bool>) -> Result<()> {
    let header = read_header(BLOCK, src)?;
    let kind = header_kind(header);
    if kind != BIT_PACKED || header & 0x0f != 0 {
        return Err(EncodingError::UnknownEncoding {
            block: BLOCK,
            kind,
            header,
        });
    }
    let mut r = ByteReader::new(BLOCK, src, 1);
    let count = r.read_uvarint()?;
    let body = r.rest();
    let needed = count.div_ceil(8);
    if (body.len() as u64) < needed {
        return Err(r.truncated(src.len()));
    }
    if body.len() as u64 > needed {
        return Err(r.corrupt(
            r.pos() + needed as usize,
            format!("{} trailing bytes", body.len() as u64 - needed),
        ));
    }
    let count = check_count(BLOCK, count, 1, src.len())?;
    let padding = needed as usize * 8 - count;
    if let Some(&last) = body.last() {
        if padding > 0 && last & ((1u8 << padding) - 1) != 0 {
            return Err(r.corrupt(src.len() - 1, "non-zero padding bits"));
        }
    }
    dst.reserve(count);
    dst.extend((0..count).map(|i| body[i / 8] & (0x80 >> (i % 8)) != 0));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(src: &[bool]) -> Vec<u8> {
        let mut block = Vec::new();
        encode(src, &mut block).unwrap();
        let mut out = Vec::new();
        decode(&block, &mut out).unwrap();
        assert_eq!(out, src);
        block
    }

    #[test]
    fn packs_most_significant_bit_first() {
        // t f t → 101 padded → 1010_0000 = 0xa0.
        assert_eq!(round_trip(&[true, false, true]), [0x10, 3, 0xa0]);
        // Nine values: 1111_1111, then 1 padded → 1000_0000.
        assert_eq!(round_trip(&[true; 9]), [0x10, 9, 0xff, 0x80]);
        assert_eq!(round_trip(&[]), [0x10, 0]);
    }

    #[test]
    fn corrupt_blocks_are_errors() {
        let mut out = vec![true];
        let err = decode(&[0x10, 9, 0xff], &mut out).unwrap_err();
        assert_eq!(err.to_string(), "boolean block: truncated at byte 3 of 3");
        let err = decode(&[0x10, 3, 0xa0, 0], &mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "boolean block: 1 trailing bytes at byte 3 of 4"
        );
        let err = decode(&[0x10, 3, 0xa1], &mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "boolean block: non-zero padding bits at byte 2 of 3"
        );
        // A count of 2^63 with no data is truncation, not a huge allocation.
        let huge = [
            0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
        ];
        assert!(decode(&huge, &mut out).is_err());
        let err = decode(&[0x00, 0], &mut out).unwrap_err();
        assert!(matches!(
            err,
            EncodingError::UnknownEncoding { kind: 0, .. }
        ));
        assert_eq!(out, vec![true]);
    }

    #[test]
    fn more_than_max_values_is_unencodable() {
        let too_many = vec![false; crate::tsm::encoding::MAX_VALUES + 1];
        let err = encode(&too_many, &mut Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "boolean encoding: 1048577 values exceed the per-block limit of 1048576"
        );
    }

    proptest! {
        #[test]
        fn round_trips_any_booleans(src in proptest::collection::vec(any::<bool>(), 0..300)) {
            round_trip(&src);
        }
    }
}
