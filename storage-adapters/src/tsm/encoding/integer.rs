//! Integer blocks (signed and unsigned): zigzag deltas packed with Simple-8b, run length when every
//! delta is equal, raw 8-byte values when a delta does not fit in 60 bits.
//!
//! Unsigned values travel the same path by their bits (deltas wrap), so both kinds share a layout;
//! the block does not record which kind it holds — the TSM block type does. Layouts are described
//! in the shared delta codec; the header's low four bits are always zero here.

use super::{decode_atomically, delta, Result};

const BLOCK: &str = "integer";

/// Appends the encoded block for `src` to `dst`.
pub fn encode(src: &[i64], dst: &mut Vec<u8>) -> Result<()> {
    delta::encode(BLOCK, src, false, dst)
}

/// Appends the integers held by the block `src` to `dst` (unchanged on error).
pub fn decode(src: &[u8], dst: &mut Vec<i64>) -> Result<()> {
    decode_atomically(dst, |dst| delta::decode(BLOCK, src, false, dst))
}

/// Appends the encoded block for the unsigned values `src` to `dst`.
pub fn encode_unsigned(src: &[u64], dst: &mut Vec<u8>) -> Result<()> {
    delta::encode(BLOCK, src, false, dst)
}

/// Appends the unsigned integers held by the block `src` to `dst` (unchanged on error).
pub fn decode_unsigned(src: &[u8], dst: &mut Vec<u64>) -> Result<()> {
    decode_atomically(dst, |dst| delta::decode(BLOCK, src, false, dst))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(src: &[i64]) -> Vec<u8> {
        let mut block = Vec::new();
        encode(src, &mut block).unwrap();
        let mut out = Vec::new();
        decode(&block, &mut out).unwrap();
        assert_eq!(out, src);
        block
    }

    #[test]
    fn small_deltas_pack_into_one_word() {
        // Values 10, 9, 12, 12: deltas -1, 3, 0 → zigzag 1, 6, 0; three codes → selector 13 (3 x 20 bits).
        let block = round_trip(&[10, 9, 12, 12]);
        let mut expected = vec![0x10];
        expected.extend_from_slice(&10i64.to_be_bytes());
        expected.extend_from_slice(&((13u64 << 60) | 1 | (6 << 20)).to_be_bytes());
        assert_eq!(block, expected);
    }

    #[test]
    fn constant_steps_are_run_length_encoded_without_scaling() {
        // Deltas all 100 (not scaled for integers): zigzag 200 = varint [0xc8, 0x01]; count 3.
        let block = round_trip(&[0, 100, 200]);
        let mut expected = vec![0x20];
        expected.extend_from_slice(&0i64.to_be_bytes());
        expected.extend_from_slice(&[0xc8, 0x01, 3]);
        assert_eq!(block, expected);
    }

    #[test]
    fn extremes_fall_back_to_raw() {
        let block = round_trip(&[i64::MAX, i64::MIN, 1, i64::MAX]);
        assert_eq!(block[0], 0x00);
        assert_eq!(round_trip(&[i64::MIN]).len(), 9);
        assert_eq!(round_trip(&[]), vec![0x00]);
    }

    #[test]
    fn unsigned_values_use_the_same_path() {
        let src = [u64::MAX, 0, 5, u64::MAX - 1];
        let mut block = Vec::new();
        encode_unsigned(&src, &mut block).unwrap();
        let mut out = Vec::new();
        decode_unsigned(&block, &mut out).unwrap();
        assert_eq!(out, src);
    }

    #[test]
    fn scale_bits_are_rejected_in_integer_blocks() {
        let mut block = vec![0x12];
        block.extend_from_slice(&[0; 8]);
        let err = decode(&block, &mut Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "integer block: unexpected scale bits in header 0x12 at byte 0 of 9"
        );
    }

    proptest! {
        #[test]
        fn round_trips_any_integers(src in proptest::collection::vec(
            prop_oneof![any::<i64>(), -100i64..100, Just(i64::MIN), Just(i64::MAX)], 0..300)) {
            round_trip(&src);
        }

        #[test]
        fn round_trips_any_unsigned(src in proptest::collection::vec(
            prop_oneof![any::<u64>(), 0u64..100, Just(u64::MAX)], 0..300)) {
            let mut block = Vec::new();
            encode_unsigned(&src, &mut block).unwrap();
            let mut out = Vec::new();
            decode_unsigned(&block, &mut out).unwrap();
            prop_assert_eq!(out, src);
        }
    }
}
